//! A helper program of a run (`redis-server`, `haproxy`): found where Debian installs it, started
//! in its own process group (a Ctrl-C reaches only wsbench, which stops it), waited for until it
//! is ready, and stopped and reaped at the end — killed if its owner is dropped without stopping
//! it. [`stop`] is also how the built-in server's child ([`crate::child`]) is stopped.
//!
//! [`Program`] knows nothing of what the programs do: the caller gives the arguments and the
//! readiness check. The two programs a backplane run needs are beside it: [`redis_server`] (a
//! private Redis) and [`haproxy`] (the load balancer in front of the instances).

pub mod haproxy;
pub mod redis_server;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::metrics::ProcessUsage;
use crate::os;

/// How long a stopped program may take to exit after SIGTERM before it is killed.
const STOP_WITHIN: Duration = Duration::from_secs(5);

/// A helper program is missing or failed to start; the message names the script that installs it.
#[derive(Debug, thiserror::Error)]
#[error("{program}: {reason} (scripts/backplane/setup.sh installs it)")]
pub struct ProgramError {
    /// Which program.
    pub program: &'static str,
    /// What happened.
    pub reason: String,
}

/// `program` as found on `PATH` or in the system directories Debian installs it to.
pub fn find(program: &'static str) -> Result<PathBuf, ProgramError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or(ProgramError {
            program,
            reason: "not found on PATH, /usr/sbin or /usr/bin".into(),
        })
}

/// A running helper program of ours.
#[derive(Debug)]
pub struct Program {
    program: &'static str,
    child: Child,
    pid: u32,
}

impl Program {
    /// Starts `program` with `args`, stdin and stdout closed and stderr ours, in its own
    /// process group.
    pub fn spawn<I, S>(program: &'static str, args: I) -> Result<Program, ProgramError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let bin = find(program)?;
        let failed = |reason: String| ProgramError { program, reason };
        let child = command(&bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| failed(format!("starting {}: {e}", bin.display())))?;
        let pid = child.id().ok_or_else(|| failed("exited at once".into()))?;
        Ok(Program {
            program,
            child,
            pid,
        })
    }

    /// An error about this program.
    pub fn failed(&self, reason: String) -> ProgramError {
        ProgramError {
            program: self.program,
            reason,
        }
    }

    /// Waits until `ready` succeeds (tried every 20 ms) on `addr`, where it was told to listen;
    /// fails if the program exits first, or is not ready `within`.
    pub async fn wait_ready<F, T, E>(
        &mut self,
        addr: SocketAddr,
        within: Duration,
        mut ready: impl FnMut() -> F,
    ) -> Result<(), ProgramError>
    where
        F: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let start = Instant::now();
        loop {
            let e = match ready().await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if !matches!(self.child.try_wait(), Ok(None)) {
                let reason =
                    format!("exited before it was ready on {addr} (see its message above)");
                return Err(self.failed(reason));
            }
            if start.elapsed() > within {
                return Err(self.failed(format!("not ready on {addr} after {within:?}: {e}")));
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

    /// Stops it ([`stop`]).
    pub async fn stop(mut self) {
        stop(&mut self.child, self.pid).await;
    }
}

/// A command for `bin` as every child of wsbench runs: in its own process group (a Ctrl-C
/// reaches only wsbench, which stops it), its stderr ours, killed if dropped unstopped.
pub fn command(bin: &Path) -> Command {
    let mut command = Command::new(bin);
    command
        .stderr(Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true);
    command
}

/// Stops `child` (process `pid`): SIGTERM, then SIGKILL if it has not exited within 5 s; always
/// reaps it.
pub async fn stop(child: &mut Child, pid: u32) {
    if matches!(child.try_wait(), Ok(None)) {
        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        if tokio::time::timeout(STOP_WITHIN, child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_names_the_script_that_installs_it() {
        let e = Program::spawn("wsbench-no-such-program", ["x"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "wsbench-no-such-program: not found on PATH, /usr/sbin or /usr/bin \
             (scripts/backplane/setup.sh installs it)"
        );
    }

    #[tokio::test]
    async fn a_program_that_exits_before_it_is_ready_is_an_error() {
        let addr = SocketAddr::from(([127, 0, 0, 1], 9));
        let mut program = Program::spawn("true", std::iter::empty::<&str>()).unwrap();
        let e = program
            .wait_ready(addr, Duration::from_secs(10), || async {
                Err::<(), _>("not yet")
            })
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "true: exited before it was ready on 127.0.0.1:9 (see its message above) \
             (scripts/backplane/setup.sh installs it)"
        );
        program.stop().await;
    }

    #[tokio::test]
    async fn a_stopped_program_is_gone_and_reaped() {
        let mut program = Program::spawn("sleep", ["30"]).unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], 9));
        let ready = || async { Ok::<(), String>(()) };
        program
            .wait_ready(addr, Duration::ZERO, ready)
            .await
            .unwrap();
        let pid = program.pid();
        assert!(program.usage().is_some());
        program.stop().await;
        // Reaped, not a zombie: /proc has no entry left.
        assert!(os::process_usage(pid).is_none());
    }
}
