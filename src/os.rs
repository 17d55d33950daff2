//! What the operating system tells us and lets us change: the open-file limit, and a process's CPU
//! time and peak memory from `/proc` (Linux). The rest of the crate never reads `/proc` itself.

use std::time::Duration;

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::metrics::ProcessUsage;

/// Why an OS query or change failed.
#[derive(Debug, thiserror::Error)]
pub enum OsError {
    /// More connections were asked for than the hard open-file limit allows.
    #[error(
        "{needed} open files are needed but the hard limit is {hard}; raise it (e.g. `ulimit -Hn {needed}` as root, or LimitNOFILE= in a systemd unit) or ask for fewer subscribers"
    )]
    TooFewFiles {
        /// File descriptors the run needs.
        needed: u64,
        /// The hard limit.
        hard: u64,
    },
    /// More client connections were asked for than there are ephemeral ports on loopback.
    #[error(
        "{needed} client connections are needed but only {available} local ports are available; widen net.ipv4.ip_local_port_range (e.g. `sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"` as root) or ask for fewer subscribers"
    )]
    TooFewPorts {
        /// Connections the run opens.
        needed: u64,
        /// Ports in the range.
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

/// Raises the soft open-file limit to at least `needed` (up to the hard limit). Returns the new soft limit.
pub fn raise_nofile(needed: u64) -> Result<u64, OsError> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|source| OsError::Sys {
        what: "getrlimit(RLIMIT_NOFILE)",
        source,
    })?;
    if needed > hard {
        return Err(OsError::TooFewFiles { needed, hard });
    }
    if soft >= needed {
        return Ok(soft);
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(|source| OsError::Sys {
        what: "setrlimit(RLIMIT_NOFILE)",
        source,
    })?;
    Ok(hard)
}

/// How many local ports the kernel hands out to outgoing connections
/// (`net.ipv4.ip_local_port_range`): every client connection to one server address needs its own.
pub fn ephemeral_ports() -> Result<u64, OsError> {
    let path = "/proc/sys/net/ipv4/ip_local_port_range";
    let text = read(path)?;
    let mut bounds = text.split_whitespace().map(str::parse::<u64>);
    match (bounds.next(), bounds.next()) {
        (Some(Ok(low)), Some(Ok(high))) if high >= low => Ok(high - low + 1),
        _ => Err(malformed(path)),
    }
}

/// Refuses a run that needs more client connections than there are local ports, with how to
/// allow more.
pub fn check_ports(needed: u64) -> Result<(), OsError> {
    let available = ephemeral_ports()?;
    if needed > available {
        return Err(OsError::TooFewPorts { needed, available });
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
    let path = proc_path(Some(pid), "stat");
    let text = read(&path)?;
    // Fields after the command name, which is in parentheses and may itself contain spaces.
    let after = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or_else(|| malformed(&path))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<u64, OsError> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| malformed(&path))
    };
    let total = ticks(11)? + ticks(12)?;
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&t| t > 0)
        .unwrap_or(100) as u64;
    Ok(Duration::from_nanos(total * 1_000_000_000 / per_second))
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

/// CPU time used so far and peak RSS of process `pid`; `None` if it is gone (or not readable).
pub fn process_usage(pid: u32) -> Option<ProcessUsage> {
    Some(ProcessUsage {
        cpu: cpu_time(Some(pid)).ok()?,
        peak_rss_kib: peak_rss_kib(Some(pid)).ok()?,
    })
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

    #[test]
    fn the_peak_rss_resets_to_the_current_rss() {
        // Touch 64 MiB, free it, reset: the peak falls back below the touched size.
        let touched = vec![1u8; 64 << 20];
        std::hint::black_box(&touched);
        let peak = peak_rss_kib(None).unwrap();
        drop(touched);
        reset_peak_rss().unwrap();
        let after = peak_rss_kib(None).unwrap();
        assert!(
            after + 32 * 1024 < peak,
            "peak {peak} KiB, after reset {after} KiB"
        );
    }

    #[test]
    fn knows_the_ephemeral_port_range() {
        let ports = ephemeral_ports().unwrap();
        assert!(ports > 0);
        assert!(check_ports(ports).is_ok());
        let err = check_ports(ports + 1).unwrap_err();
        assert!(err.to_string().contains("ip_local_port_range"), "{err}");
    }

    #[test]
    fn refuses_more_files_than_the_hard_limit() {
        let err = raise_nofile(u64::MAX).unwrap_err();
        assert!(err.to_string().contains("hard limit"), "{err}");
    }
}
