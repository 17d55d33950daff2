//! A process and its descendants, as one server: nginx's master and its workers, a Node cluster,
//! a `wsbench serve` behind a shell. Sampling only the process a user names would report a
//! master that forwards every connection to its workers as almost free.
//!
//! The tree is read from the kernel's children lists (`CONFIG_PROC_CHILDREN`), or where it keeps
//! none, from `/proc/<pid>/stat` of every process (the parent is field 4). CPU counts each live member's own time plus
//! the time of the children it has already reaped (`cutime`, `cstime`), so a worker that exits and
//! is waited for keeps its seconds in the sum. Memory is the sum of each member's peak RSS: pages a
//! forked worker still shares with its master are counted in both, so it is an upper bound.

use std::collections::HashMap;
use std::time::Duration;

use super::{OsError, malformed, read};
use crate::metrics::ProcessUsage;

/// What one `/proc/<pid>/stat` line says that the tree needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatLine {
    /// The process.
    pub pid: u32,
    /// Its parent.
    pub ppid: u32,
    /// `utime + stime`, in clock ticks.
    pub own_ticks: u64,
    /// `cutime + cstime`, in clock ticks: children it has waited for.
    pub reaped_ticks: u64,
}

/// Parses a `/proc/<pid>/stat` line. The command name is in parentheses and may itself hold
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<StatLine> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the name: state (3), ppid (4), … utime (14), stime (15), cutime (16), cstime (17);
    // the slice starts at field 3.
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(StatLine {
        pid,
        ppid: u32::try_from(field(4)?).ok()?,
        own_ticks: field(14)? + field(15)?,
        reaped_ticks: field(16)? + field(17)?,
    })
}

/// `root` and every process below it in `table` (root first). A root not in the table gives an
/// empty list: the process is gone.
pub fn members(table: &[StatLine], root: u32) -> Vec<StatLine> {
    let mut children: HashMap<u32, Vec<&StatLine>> = HashMap::new();
    for line in table {
        if line.pid != line.ppid {
            children.entry(line.ppid).or_default().push(line);
        }
    }
    let Some(first) = table.iter().find(|l| l.pid == root) else {
        return Vec::new();
    };
    let mut out = vec![*first];
    let mut next = 0;
    while next < out.len() {
        let pid = out[next].pid;
        next += 1;
        for child in children.get(&pid).into_iter().flatten() {
            // A pid seen twice would be a cycle in a torn read: stop there.
            if out.iter().all(|m| m.pid != child.pid) {
                out.push(**child);
            }
        }
    }
    out
}

/// CPU ticks of a tree's members: each one's own time and what it reaped.
pub fn tree_ticks(members: &[StatLine]) -> u64 {
    members.iter().map(|m| m.own_ticks + m.reaped_ticks).sum()
}

/// Every process's stat line now; processes that exit while they are read are skipped.
fn table() -> Result<Vec<StatLine>, OsError> {
    let dir = std::fs::read_dir("/proc").map_err(|e| OsError::Proc {
        path: "/proc".to_string(),
        reason: e.to_string(),
    })?;
    Ok(dir
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(is_pid))
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|text| parse_stat(&text))
        .collect())
}

fn is_pid(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit())
}

/// The children of `pid` as the kernel lists them per thread (`/proc/<pid>/task/<tid>/children`,
/// `CONFIG_PROC_CHILDREN`); `None` where the kernel has no such file.
fn children(pid: u32) -> Option<Vec<u32>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut out = Vec::new();
    for task in tasks.filter_map(Result::ok) {
        let text = std::fs::read_to_string(task.path().join("children")).ok()?;
        out.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    Some(out)
}

/// `pid` and its descendants, root first: from the kernel's children lists, a few reads for a
/// process without children (sampled every second, on the thread that runs the phases), or from
/// every process's stat line where the kernel keeps no such lists.
fn tree(pid: u32) -> Option<Vec<StatLine>> {
    let root = stat(pid).ok()?;
    let mut out = vec![root];
    let mut next = 0;
    while next < out.len() {
        let Some(kids) = children(out[next].pid) else {
            return Some(members(&table().ok()?, pid));
        };
        next += 1;
        for kid in kids {
            if out.iter().all(|m| m.pid != kid) {
                // A child that exited meanwhile is no longer part of the tree.
                if let Ok(line) = stat(kid) {
                    out.push(line);
                }
            }
        }
    }
    Some(out)
}

/// CPU time so far and summed peak RSS of `pid` and its descendants; `None` if `pid` is gone.
pub fn tree_usage(pid: u32) -> Option<ProcessUsage> {
    let members = tree(pid)?;
    if members.is_empty() {
        return None;
    }
    let peak_rss_kib = members
        .iter()
        .filter_map(|m| super::peak_rss_kib(Some(m.pid)).ok())
        .sum();
    Some(ProcessUsage {
        cpu: ticks_to_duration(tree_ticks(&members)),
        peak_rss_kib,
    })
}

/// Clock ticks (`CLK_TCK`, 100 on Linux) as a duration.
pub fn ticks_to_duration(ticks: u64) -> Duration {
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&t| t > 0)
        .unwrap_or(100) as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / per_second)
}

/// One process's stat line, for a caller that needs no tree.
pub fn stat(pid: u32) -> Result<StatLine, OsError> {
    let path = format!("/proc/{pid}/stat");
    parse_stat(&read(&path)?).ok_or_else(|| malformed(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(pid: u32, ppid: u32, own: u64, reaped: u64) -> StatLine {
        StatLine {
            pid,
            ppid,
            own_ticks: own,
            reaped_ticks: reaped,
        }
    }

    #[test]
    fn parses_a_stat_line_whose_name_holds_spaces_and_parentheses() {
        let text = "4242 (nginx: worker (x) 1) S 4241 4241 4241 0 -1 4194624 10 0 0 0 \
                    7 3 5 1 20 0 1 0 100 1000 200 18446744073709551615";
        let got = parse_stat(text);
        assert_eq!(got, Some(line(4242, 4241, 10, 6)));
    }

    #[test]
    fn a_tree_is_its_root_and_every_descendant_and_nothing_else() {
        let table = [
            line(1, 0, 1000, 0),
            line(10, 1, 5, 2),   // the root: nginx's master
            line(11, 10, 40, 0), // a worker
            line(12, 10, 30, 0), // another
            line(13, 12, 4, 0),  // a worker's child
            line(20, 1, 99, 0),  // a stranger
        ];
        let pids: Vec<u32> = members(&table, 10).iter().map(|m| m.pid).collect();
        assert_eq!(pids, [10, 11, 12, 13]);
        assert_eq!(tree_ticks(&members(&table, 10)), 5 + 2 + 40 + 30 + 4);
        assert!(members(&table, 99).is_empty());
    }

    #[test]
    fn reads_this_process_as_a_tree_of_at_least_itself() {
        let own = std::process::id();
        let usage = tree_usage(own).expect("this process is alive");
        assert!(usage.peak_rss_kib > 0);
        assert_eq!(stat(own).expect("own stat").pid, own);
    }

    /// A parent shell with two children that each burn CPU and then sleep: the tree's CPU is the
    /// three processes' sum, and each child's share is in it.
    #[test]
    fn a_parent_and_two_busy_children_are_summed() {
        let busy = r#"i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; exec sleep 30"#;
        let script = format!("sh -c '{busy}' & sh -c '{busy}' & wait");
        let mut parent = std::process::Command::new("sh")
            .args(["-c", &script])
            .spawn()
            .expect("sh starts");
        let root = parent.id();
        // Wait (bounded) until both children are done burning and asleep: their CPU is then fixed.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let asleep = loop {
            let table = table().expect("/proc");
            let kids: Vec<StatLine> = members(&table, root).into_iter().skip(1).collect();
            let sleeping = kids.iter().filter(|k| {
                std::fs::read_to_string(format!("/proc/{}/comm", k.pid))
                    .is_ok_and(|c| c.trim() == "sleep")
            });
            if sleeping.count() == 2 {
                break kids;
            }
            assert!(std::time::Instant::now() < deadline, "children never slept");
            std::thread::sleep(Duration::from_millis(20));
        };
        let each: u64 = [root, asleep[0].pid, asleep[1].pid]
            .iter()
            .map(|&pid| {
                let l = stat(pid).expect("alive");
                l.own_ticks + l.reaped_ticks
            })
            .sum();
        let usage = tree_usage(root).expect("alive");
        let sorted = |lines: Vec<StatLine>| {
            let mut pids: Vec<u32> = lines.iter().map(|m| m.pid).collect();
            pids.sort_unstable();
            pids
        };
        let by_lists = sorted(tree(root).expect("alive"));
        let by_scan = sorted(members(&table().expect("/proc"), root));
        assert_eq!(by_lists, by_scan);
        assert_eq!(by_lists.len(), 3);
        let kids_ticks: u64 = asleep.iter().map(|k| k.own_ticks).sum();
        eprintln!("tree: {} ticks, children {kids_ticks}", each);
        for pid in [asleep[0].pid, asleep[1].pid] {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = parent.wait();
        assert!(asleep.iter().all(|k| k.own_ticks > 0), "{asleep:?}");
        assert_eq!(usage.cpu, ticks_to_duration(each));
        assert!(usage.cpu >= ticks_to_duration(kids_ticks));
    }
}
