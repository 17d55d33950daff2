//! A private `redis-server` for one run: on a free loopback port, persistence off (`--save ''
//! --appendonly no`), in its own process group, stopped and reaped at the end of the run (and
//! killed if its owner is dropped without stopping it).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use super::{BackplaneError, BackplaneUrl};
use crate::metrics::ProcessUsage;
use crate::os;

/// How long Redis may take to answer its first `PING`.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running `redis-server` of ours.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    pid: u32,
    /// Where it listens.
    pub url: BackplaneUrl,
}

/// Redis's own count of the bytes it received and sent (`INFO stats`), over every client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RedisBytes {
    /// `total_net_input_bytes`.
    pub input: u64,
    /// `total_net_output_bytes`.
    pub output: u64,
}

/// `program` as found on `PATH` or in the system directories Debian installs it to.
pub fn find_program(program: &'static str) -> Result<PathBuf, BackplaneError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or(BackplaneError::Program {
            program,
            reason: "not found on PATH, /usr/sbin or /usr/bin".into(),
        })
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port and waits until it answers.
    pub async fn start() -> Result<Self, BackplaneError> {
        let bin = find_program("redis-server")?;
        let failed = |reason: String| BackplaneError::Program {
            program: "redis-server",
            reason,
        };
        let port = os::free_loopback_port().map_err(|e| failed(format!("finding a port: {e}")))?;
        let child = Command::new(&bin)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .args([
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                "",
            ])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| failed(format!("starting {}: {e}", bin.display())))?;
        let pid = child.id().ok_or_else(|| failed("exited at once".into()))?;
        let mut server = RedisServer {
            child,
            pid,
            url: BackplaneUrl::loopback(port),
        };
        let start = Instant::now();
        loop {
            match server.ping().await {
                Ok(()) => return Ok(server),
                Err(e) if start.elapsed() > READY_WITHIN => {
                    return Err(failed(format!("not answering after {READY_WITHIN:?}: {e}")));
                }
                Err(_) => {}
            }
            if !matches!(server.child.try_wait(), Ok(None)) {
                return Err(failed(format!("exited before answering on port {port}")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process id, for sampling.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// CPU time so far and peak RSS; `None` once it is gone.
    pub fn usage(&self) -> Option<ProcessUsage> {
        os::process_usage(self.pid)
    }

    async fn ping(&self) -> Result<(), BackplaneError> {
        ping(&self.url).await
    }

    /// Stops it (SIGTERM, then SIGKILL after 5 s) and reaps it.
    pub async fn stop(mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGTERM);
            if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}

/// Whether the Redis at `url` answers a `PING` (within seconds).
pub async fn ping(url: &BackplaneUrl) -> Result<(), BackplaneError> {
    let mut conn = url.connect().await?;
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .map(drop)
        .map_err(|source| BackplaneError::Redis {
            addr: url.addr,
            source,
        })
}

/// The bytes Redis at `url` has received and sent so far, by its own count.
pub async fn bytes(url: &BackplaneUrl) -> Result<RedisBytes, BackplaneError> {
    let mut conn = url.connect().await?;
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut conn)
        .await
        .map_err(|source| BackplaneError::Redis {
            addr: url.addr,
            source,
        })?;
    Ok(parse_bytes(&info))
}

/// [`bytes`], blocking for at most about `within` (for a sampler that cannot await: a quick
/// `INFO` on loopback).
pub fn bytes_now(url: &BackplaneUrl, within: Duration) -> Result<RedisBytes, BackplaneError> {
    let redis_err = |source| BackplaneError::Redis {
        addr: url.addr,
        source,
    };
    let mut conn = url
        .client()?
        .get_connection_with_timeout(within)
        .map_err(redis_err)?;
    conn.set_read_timeout(Some(within)).map_err(redis_err)?;
    conn.set_write_timeout(Some(within)).map_err(redis_err)?;
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query(&mut conn)
        .map_err(redis_err)?;
    Ok(parse_bytes(&info))
}

fn parse_bytes(info: &str) -> RedisBytes {
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
            .unwrap_or(0)
    };
    RedisBytes {
        input: field("total_net_input_bytes"),
        output: field("total_net_output_bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_stats_give_the_byte_counts() {
        let info = "# Stats\r\ntotal_connections_received:3\r\ntotal_net_input_bytes:1234\r\ntotal_net_output_bytes:98765\r\n";
        assert_eq!(
            parse_bytes(info),
            RedisBytes {
                input: 1234,
                output: 98765
            }
        );
    }
}
