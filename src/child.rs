//! The built-in server as a child process (`wsbench serve`), so its CPU time and memory are
//! measured apart from the load generator's and transports never run at the same time.
//!
//! The child runs in its own process group (a Ctrl-C reaches only us; we stop it), exits when its
//! stdin closes (so it cannot outlive us even if we are killed), and is always reaped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;

use crate::metrics::ProcessUsage;
use crate::os;
use crate::scenario::TransportKind;

/// Why the server child could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    /// The executable could not be started.
    #[error("starting {bin}: {source}")]
    Spawn {
        /// The executable.
        bin: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The child did not print its address on the first line of stdout in time.
    #[error("the {transport} server did not report its address: {reason}")]
    NoAddress {
        /// Which server.
        transport: TransportKind,
        /// What happened instead.
        reason: String,
    },
}

/// A running `wsbench serve` child.
#[derive(Debug)]
pub struct ServerChild {
    child: Child,
    pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Held open: the child exits when it closes.
    _stdin: Option<ChildStdin>,
    /// Held open so a late write by the child never meets a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl ServerChild {
    /// Starts `bin serve --transport <kind> --addr 127.0.0.1:0 <extra>` and waits for its address.
    pub async fn spawn(
        bin: &Path,
        transport: TransportKind,
        extra: &[String],
    ) -> Result<Self, ChildError> {
        let mut child = Command::new(bin)
            .args([
                "serve",
                "--transport",
                transport.label(),
                "--addr",
                "127.0.0.1:0",
                "--exit-on-stdin-eof",
            ])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| ChildError::Spawn {
                bin: bin.display().to_string(),
                source,
            })?;
        let no_address = |reason: String| ChildError::NoAddress { transport, reason };
        let pid = child
            .id()
            .ok_or_else(|| no_address("exited at once".into()))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| no_address("no stdout pipe".into()))?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        match timeout(Duration::from_secs(10), stdout.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) => return Err(no_address("exited before printing its address".into())),
            Ok(Err(e)) => return Err(no_address(e.to_string())),
            Err(_) => return Err(no_address("nothing printed within 10 s".into())),
        }
        let addr = line
            .trim()
            .parse()
            .map_err(|_| no_address(format!("first line was {:?}", line.trim())))?;
        Ok(ServerChild {
            child,
            pid,
            addr,
            _stdin: stdin,
            _stdout: stdout,
        })
    }

    /// CPU time used so far and peak RSS; `None` once the process is gone.
    pub fn usage(&self) -> Option<ProcessUsage> {
        os::process_usage(self.pid)
    }

    /// Whether the server is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Asks the server to stop (SIGTERM), waits up to 5 s, then kills it; always reaps it.
    pub async fn stop(mut self) {
        if self.alive() {
            let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGTERM);
            if timeout(Duration::from_secs(5), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}
