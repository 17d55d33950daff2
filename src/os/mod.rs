//! What the operating system tells us and lets us change: the open-file limit (raised as far as
//! this process may), the ephemeral port range and the listen backlog cap, and a process's CPU
//! time and peak memory from `/proc` (Linux). The rest of the crate never reads `/proc` itself.

use std::time::Duration;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::metrics::ProcessUsage;

pub mod tree;

/// Why an OS query or change failed.
#[derive(Debug, thiserror::Error)]
pub enum OsError {
    /// More descriptors are needed than the hard open-file limit allows, and this process may
    /// not raise it (no CAP_SYS_RESOURCE). Raise it before the run, or ask for fewer connections.
    #[error(
        "{needed} open files are needed (one per connection, plus spare, here and again in the \
         built-in server, which inherits this limit) but the hard limit is {hard}, and only root \
         with CAP_SYS_RESOURCE may raise it; raise it before the run (e.g. `ulimit -Hn {needed}` \
         as root, or LimitNOFILE={needed} in a systemd unit) or ask for fewer subscribers; where \
         it cannot be raised, the load must come from several processes (`wsbench run --shard`)"
    )]
    TooFewFiles {
        /// File descriptors the run needs.
        needed: u64,
        /// The hard limit.
        hard: u64,
    },
    /// More descriptors are needed than the kernel lets any process have (`fs.nr_open`).
    #[error(
        "{needed} open files are needed but the kernel allows a process at most {nr_open} \
         (fs.nr_open); raise it as root (`sysctl -w fs.nr_open={needed}`), or let several \
         processes share the load (`wsbench run --shard`), or ask for fewer subscribers"
    )]
    AboveNrOpen {
        /// File descriptors the run needs.
        needed: u64,
        /// `/proc/sys/fs/nr_open`.
        nr_open: u64,
    },
    /// More client connections were asked for than the source addresses have ephemeral ports.
    #[error(
        "{needed} client connections are needed but {addresses} source address(es) × {ports} \
         local ports allow only {available}; connect from more loopback addresses \
         ([clients] source_addresses, or leave it out to choose automatically), widen \
         net.ipv4.ip_local_port_range (e.g. `sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"` \
         as root) or ask for fewer subscribers"
    )]
    TooFewPorts {
        /// Connections the run opens.
        needed: u64,
        /// Ports in the range, per source address.
        ports: u64,
        /// Source addresses the clients connect from.
        addresses: u64,
        /// `ports × addresses`.
        available: u64,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: &'static str,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// A `/proc` file could not be read or parsed (the process may have exited).
    #[error("reading {path}: {reason}")]
    Proc {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// What to do about the open-file limit, decided by [`nofile_step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NofileStep {
    /// The soft limit already allows enough.
    Unchanged,
    /// Raise the soft limit to the hard one (this value): any process may.
    RaiseSoft(u64),
    /// Raise both limits to this value (`fs.nr_open`): a process with CAP_SYS_RESOURCE may.
    RaiseHard(u64),
}

/// Bit of CAP_SYS_RESOURCE in the capability sets (`linux/capability.h`).
const CAP_SYS_RESOURCE: u32 = 24;

/// The rule for `needed` descriptors under limits `soft`/`hard`, the kernel's ceiling `nr_open`,
/// and whether this process `may_raise_hard` (holds CAP_SYS_RESOURCE).
///
/// Past the hard limit, a permitted process raises the hard limit all the way to `nr_open`, not
/// just to `needed`: the built-in server children inherit it and raise their soft limit to it
/// (they cannot know the client count), and there is no cost in a higher ceiling.
pub fn nofile_step(
    needed: u64,
    soft: u64,
    hard: u64,
    nr_open: u64,
    may_raise_hard: bool,
) -> Result<NofileStep, OsError> {
    if needed <= soft {
        Ok(NofileStep::Unchanged)
    } else if needed <= hard {
        Ok(NofileStep::RaiseSoft(hard))
    } else if !may_raise_hard {
        Err(OsError::TooFewFiles { needed, hard })
    } else if needed > nr_open {
        Err(OsError::AboveNrOpen { needed, nr_open })
    } else {
        Ok(NofileStep::RaiseHard(nr_open))
    }
}

/// Raises the open-file limit to allow `needed` descriptors, by [`nofile_step`]'s rule. Returns
/// the new soft limit. Child processes started afterwards (the built-in servers) inherit it.
pub fn raise_nofile(needed: u64) -> Result<u64, OsError> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|source| OsError::Sys {
        what: "getrlimit(RLIMIT_NOFILE)",
        source,
    })?;
    // Unknown ceilings leave the hard limit where it is.
    let nr_open = nr_open().unwrap_or(hard);
    let step = nofile_step(needed, soft, hard, nr_open, may_raise_hard_limit())?;
    let to = match step {
        NofileStep::Unchanged => return Ok(soft),
        NofileStep::RaiseSoft(to) | NofileStep::RaiseHard(to) => to,
    };
    match setrlimit(Resource::RLIMIT_NOFILE, to, to) {
        Ok(()) => Ok(to),
        // The capability said yes but something above us (a user namespace, a seccomp policy)
        // says no: that is the same refusal.
        Err(nix::Error::EPERM) => Err(OsError::TooFewFiles { needed, hard }),
        Err(source) => Err(OsError::Sys {
            what: "setrlimit(RLIMIT_NOFILE)",
            source,
        }),
    }
}

/// The most descriptors this process can have: its hard open-file limit, or `fs.nr_open` when
/// it may raise the hard limit (as [`raise_nofile`] would).
pub fn nofile_ceiling() -> Result<u64, OsError> {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|source| OsError::Sys {
        what: "getrlimit(RLIMIT_NOFILE)",
        source,
    })?;
    if may_raise_hard_limit() {
        Ok(nr_open().unwrap_or(hard).max(hard))
    } else {
        Ok(hard)
    }
}

/// Whether this process may raise its hard open-file limit: CAP_SYS_RESOURCE is in its effective
/// set (`CapEff` in `/proc/self/status`). Unreadable means no.
pub fn may_raise_hard_limit() -> bool {
    read("/proc/self/status")
        .ok()
        .and_then(|status| has_capability(&status, CAP_SYS_RESOURCE))
        .unwrap_or(false)
}

/// Whether capability `bit` is in the `CapEff` mask of a `/proc/<pid>/status` text.
fn has_capability(status: &str, bit: u32) -> Option<bool> {
    let mask = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    let mask = u64::from_str_radix(mask.trim(), 16).ok()?;
    Some(mask >> bit & 1 == 1)
}

/// The most descriptors the kernel lets one process have (`/proc/sys/fs/nr_open`).
pub fn nr_open() -> Result<u64, OsError> {
    read_number("/proc/sys/fs/nr_open")
}

/// The kernel's cap on a listen backlog (`net.core.somaxconn`): a listener asking for more gets this.
pub fn somaxconn() -> Result<u64, OsError> {
    read_number("/proc/sys/net/core/somaxconn")
}

/// How many local ports the kernel hands out to outgoing connections
/// (`net.ipv4.ip_local_port_range`): every client connection from one source address to one
/// server address needs its own.
pub fn ephemeral_ports() -> Result<u64, OsError> {
    let path = "/proc/sys/net/ipv4/ip_local_port_range";
    let text = read(path)?;
    let mut bounds = text.split_whitespace().map(str::parse::<u64>);
    match (bounds.next(), bounds.next()) {
        (Some(Ok(low)), Some(Ok(high))) if high >= low => Ok(high - low + 1),
        _ => Err(malformed(path)),
    }
}

/// Refuses a run that needs more client connections than `addresses` source addresses with
/// `ports` local ports each can make, with how to allow more.
pub fn check_ports(needed: u64, ports: u64, addresses: u64) -> Result<(), OsError> {
    let available = ports.saturating_mul(addresses);
    if needed > available {
        return Err(OsError::TooFewPorts {
            needed,
            ports,
            addresses,
            available,
        });
    }
    Ok(())
}

/// Raises the soft open-file limit to the hard limit, for a server that cannot know its client count.
pub fn raise_nofile_to_hard() -> Result<u64, OsError> {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|source| OsError::Sys {
        what: "getrlimit(RLIMIT_NOFILE)",
        source,
    })?;
    raise_nofile(hard)
}

/// CPU time (user + system, all threads) a process has used so far. `None` means this process.
///
/// This process's own time comes from `CLOCK_PROCESS_CPUTIME_ID`, exact to the nanosecond;
/// `/proc/<pid>/stat` (another process) counts in clock ticks (10 ms), too coarse to tell a
/// light generator's share of its cores over a short measured phase.
pub fn cpu_time(pid: Option<u32>) -> Result<Duration, OsError> {
    let Some(pid) = pid else {
        let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID).map_err(
            |source| OsError::Sys {
                what: "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)",
                source,
            },
        )?;
        return Ok(Duration::from(t));
    };
    Ok(tree::ticks_to_duration(tree::stat(pid)?.own_ticks))
}

/// Peak resident set size (`VmHWM`) in KiB. `None` means this process.
pub fn peak_rss_kib(pid: Option<u32>) -> Result<u64, OsError> {
    let path = proc_path(pid, "status");
    let text = read(&path)?;
    text.lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| malformed(&path))
}

/// Resets this process's peak RSS (`VmHWM`) to its current RSS, by writing `5` to
/// `/proc/self/clear_refs` (Linux 4.0+; needs no capability for the process itself).
///
/// `wsbench run` runs its transports one after another in one process, and `VmHWM` only grows:
/// without a reset, each transport's client peak would include every transport before it.
pub fn reset_peak_rss() -> Result<(), OsError> {
    let path = "/proc/self/clear_refs";
    std::fs::write(path, "5").map_err(|e| OsError::Proc {
        path: path.to_string(),
        reason: e.to_string(),
    })
}

/// CPU time used so far and peak RSS of process `pid` and every process below it (a server's
/// master and workers are one server: [`tree`]); `None` if it is gone (or not readable).
pub fn process_usage(pid: u32) -> Option<ProcessUsage> {
    tree::tree_usage(pid)
}

/// A loopback TCP port free right now, for a helper program (Redis, HAProxy) that must be told
/// its port: the kernel picks it, and it is released at once for the program to bind.
pub fn free_loopback_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Logical CPUs available to this process.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn proc_path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

fn read(path: &str) -> Result<String, OsError> {
    std::fs::read_to_string(path).map_err(|e| OsError::Proc {
        path: path.to_string(),
        reason: e.to_string(),
    })
}

fn read_number(path: &str) -> Result<u64, OsError> {
    read(path)?.trim().parse().map_err(|_| malformed(path))
}

fn malformed(path: &str) -> OsError {
    OsError::Proc {
        path: path.to_string(),
        reason: "unexpected format".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_and_memory() {
        // Burn CPU until the kernel has accounted at least one tick, however slow the machine.
        let mut x = 0u64;
        while cpu_time(None).unwrap() == Duration::ZERO {
            for i in 0..1_000_000 {
                x = std::hint::black_box(x.wrapping_add(i));
            }
        }
        assert!(peak_rss_kib(None).unwrap() > 0);
        assert!(peak_rss_kib(Some(u32::MAX)).is_err());
    }

    #[test]
    fn own_cpu_time_is_finer_than_a_clock_tick() {
        let before = cpu_time(None).unwrap();
        let mut x = 0u64;
        // About a millisecond of work: well under one 10 ms tick, yet it must show.
        for i in 0..1_000_000 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        assert!(cpu_time(None).unwrap() > before);
    }

    /// The peak is process-wide, and the other tests of this binary allocate on their threads at
    /// the same time: the measurement runs in a child process of this test binary that runs
    /// nothing else (`WSBENCH_TEST_RSS_ALONE` set, only this test selected).
    #[test]
    fn the_peak_rss_resets_to_the_current_rss() {
        const ALONE: &str = "WSBENCH_TEST_RSS_ALONE";
        const NAME: &str = "os::tests::the_peak_rss_resets_to_the_current_rss";
        if std::env::var_os(ALONE).is_none() {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", NAME, "--test-threads=1", "--nocapture"])
                .env(ALONE, "1")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{text}");
            assert!(text.contains("1 passed"), "{text}");
            return;
        }
        // Touch 64 MiB, free it, reset: the peak falls back below the touched size.
        let touched = vec![1u8; 64 << 20];
        std::hint::black_box(&touched);
        let peak = peak_rss_kib(None).unwrap();
        drop(touched);
        reset_peak_rss().unwrap();
        let after = peak_rss_kib(None).unwrap();
        eprintln!("peak {peak} KiB, after reset {after} KiB");
        assert!(
            after + 32 * 1024 < peak,
            "peak {peak} KiB, after reset {after} KiB"
        );
    }

    #[test]
    fn knows_the_ephemeral_port_range() {
        let ports = ephemeral_ports().unwrap();
        assert!(ports > 0);
        assert!(check_ports(ports, ports, 1).is_ok());
        let err = check_ports(ports + 1, ports, 1).unwrap_err();
        assert!(err.to_string().contains("ip_local_port_range"), "{err}");
        assert!(err.to_string().contains("source_addresses"), "{err}");
    }

    #[test]
    fn the_port_check_counts_every_source_address() {
        assert!(check_ports(84_696, 28_232, 3).is_ok());
        let err = check_ports(84_697, 28_232, 3).unwrap_err();
        assert_eq!(
            err.to_string().split(';').next().unwrap(),
            "84697 client connections are needed but 3 source address(es) × 28232 local ports allow only 84696"
        );
    }

    #[test]
    fn refuses_more_files_than_the_hard_limit() {
        let err = raise_nofile(u64::MAX).unwrap_err();
        assert!(err.to_string().contains("open files are needed"), "{err}");
    }

    #[test]
    fn reads_the_kernel_ceilings() {
        assert!(nr_open().unwrap() >= 1024);
        assert!(somaxconn().unwrap() >= 128);
    }

    #[test]
    fn the_file_limit_rule() {
        use NofileStep::*;
        let (soft, hard, nr_open) = (1024, 20_000, 1_048_576);
        // Enough already, capability or not.
        assert_eq!(
            nofile_step(1024, soft, hard, nr_open, false).unwrap(),
            Unchanged
        );
        assert_eq!(
            nofile_step(10, soft, hard, nr_open, true).unwrap(),
            Unchanged
        );
        // Up to the hard limit any process may go, and goes all the way.
        assert_eq!(
            nofile_step(1025, soft, hard, nr_open, false).unwrap(),
            RaiseSoft(hard)
        );
        assert_eq!(
            nofile_step(20_000, soft, hard, nr_open, true).unwrap(),
            RaiseSoft(hard)
        );
        // Past it: raised to the kernel's ceiling when permitted ...
        assert_eq!(
            nofile_step(20_001, soft, hard, nr_open, true).unwrap(),
            RaiseHard(nr_open)
        );
        assert_eq!(
            nofile_step(nr_open, soft, hard, nr_open, true).unwrap(),
            RaiseHard(nr_open)
        );
        // ... refused when not, saying how to raise it and what to do where it cannot be.
        let err = nofile_step(25_064, soft, hard, nr_open, false).unwrap_err();
        assert!(matches!(
            err,
            OsError::TooFewFiles {
                needed: 25_064,
                hard: 20_000
            }
        ));
        let text = err.to_string();
        for hint in [
            "hard limit is 20000",
            "CAP_SYS_RESOURCE",
            "ulimit -Hn 25064",
            "LimitNOFILE=25064",
            "several processes",
        ] {
            assert!(text.contains(hint), "{hint}: {text}");
        }
        // ... and refused past the ceiling even when permitted.
        let err = nofile_step(nr_open + 1, soft, hard, nr_open, true).unwrap_err();
        assert!(matches!(
            err,
            OsError::AboveNrOpen {
                nr_open: 1_048_576,
                ..
            }
        ));
        assert!(err.to_string().contains("fs.nr_open"), "{err}");
    }

    #[test]
    fn reads_the_effective_capabilities() {
        // A process without CAP_SYS_RESOURCE: everything but bit 24.
        let status = "Name:\tx\nCapPrm:\t000001ffffffffff\nCapEff:\t000001fffeffffff\n";
        assert_eq!(has_capability(status, CAP_SYS_RESOURCE), Some(false));
        assert_eq!(has_capability(status, 23), Some(true));
        let root = "CapEff:\t000001ffffffffff\n";
        assert_eq!(has_capability(root, CAP_SYS_RESOURCE), Some(true));
        assert_eq!(
            has_capability("CapEff:\t0000000000000000\n", CAP_SYS_RESOURCE),
            Some(false)
        );
        assert_eq!(has_capability("Name:\tx\n", CAP_SYS_RESOURCE), None);
    }
}
