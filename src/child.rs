//! The built-in server as a child process (`wsbench serve`), so its CPU time and memory are
//! measured apart from the load generator's and transports never run at the same time.
//!
//! The child runs in its own process group (a Ctrl-C reaches only us; we stop it), exits when its
//! stdin closes (so it cannot outlive us even if we are killed), and is always reaped.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::time::timeout;

use crate::backplane::{BackplaneUrl, Keys};
use crate::metrics::ProcessUsage;
use crate::metrics::instances::InstanceReport;
use crate::os;
use crate::protocol::TransportKind;
use crate::tls::CertFiles;

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

/// How a built-in server is started: the options of `wsbench serve` as a value, which renders its
/// own flags, so a restart starts the same server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Which transport to serve.
    pub transport: TransportKind,
    /// Long-poll: `--hold`.
    pub hold: Option<Duration>,
    /// `--ws-ping` (WebSocket) or `--sse-keepalive` (SSE): the server's heartbeat.
    pub heartbeat: Option<Duration>,
    /// HTTP transports: `--state`, the file the hub is kept in across a restart.
    pub state_file: Option<PathBuf>,
    /// `--tls-cert`/`--tls-key`: the run's certificate.
    pub tls: Option<CertFiles>,
    /// `--backplane` (and `--stats`): one of several instances sharing this Redis.
    pub backplane: Option<BackplaneUrl>,
    /// `--key-prefix`, with `backplane`: the names of the shared log's keys.
    pub keys: Keys,
}

impl ServeOptions {
    /// The arguments of `wsbench serve` for these options, listening on `addr` (a free loopback
    /// port when `None`).
    fn args(&self, addr: Option<SocketAddr>) -> Vec<OsString> {
        let addr = addr.map_or_else(|| "127.0.0.1:0".to_string(), |a| a.to_string());
        let mut args: Vec<OsString> = ["serve", "--transport", self.transport.label()]
            .into_iter()
            .chain(["--addr", &addr, "--exit-on-stdin-eof"])
            .map(OsString::from)
            .collect();
        if let Some(hold) = self.hold {
            args.push("--hold".into());
            args.push(humantime::format_duration(hold).to_string().into());
        }
        let heartbeat_flag = match self.transport {
            TransportKind::Ws => Some("--ws-ping"),
            TransportKind::Sse => Some("--sse-keepalive"),
            _ => None,
        };
        if let (Some(flag), Some(every)) = (heartbeat_flag, self.heartbeat) {
            args.push(flag.into());
            args.push(humantime::format_duration(every).to_string().into());
        }
        if let Some(path) = &self.state_file {
            args.push("--state".into());
            args.push(path.into());
        }
        if let Some(url) = &self.backplane {
            args.push("--backplane".into());
            args.push(url.to_string().into());
            args.push("--key-prefix".into());
            args.push(self.keys.prefix().into());
            args.push("--stats".into());
            // An existing Redis off loopback was allowed for the run (`--allow-remote`).
            if !url.addr.ip().is_loopback() {
                args.push("--allow-remote".into());
            }
        }
        if let Some(files) = &self.tls {
            args.push("--tls-cert".into());
            args.push((&files.cert).into());
            args.push("--tls-key".into());
            args.push((&files.key).into());
        }
        args
    }
}

/// A running `wsbench serve` child.
#[derive(Debug)]
pub struct ServerChild {
    child: Child,
    pid: u32,
    /// The executable and the options it was started with, to start it again the same way.
    bin: PathBuf,
    options: ServeOptions,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Held open: the child exits when it closes.
    _stdin: Option<ChildStdin>,
    /// Held open so a late write by the child never meets a closed pipe; its last line is the
    /// `--stats` report.
    stdout: BufReader<ChildStdout>,
}

impl ServerChild {
    /// Starts `bin serve` with `options` on `addr` (a free loopback port when `None`) and waits
    /// for its address.
    pub async fn spawn(
        bin: &Path,
        options: &ServeOptions,
        addr: Option<SocketAddr>,
    ) -> Result<Self, ChildError> {
        let transport = options.transport;
        let mut child = crate::program::command(bin)
            .args(options.args(addr))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
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
            bin: bin.to_owned(),
            options: options.clone(),
            addr,
            _stdin: stdin,
            stdout,
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
    pub async fn stop(self) {
        self.stop_with_report().await;
    }

    /// [`ServerChild::stop`], then reads the report a `--stats` server prints at exit; `None` if
    /// it printed none (killed, or started without `--stats`).
    pub async fn stop_with_report(mut self) -> Option<InstanceReport> {
        crate::program::stop(&mut self.child, self.pid).await;
        let mut line = String::new();
        match timeout(Duration::from_secs(1), self.stdout.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => serde_json::from_str(line.trim()).ok(),
            _ => None,
        }
    }

    /// Kills the server at once (SIGKILL, as a crashed machine loses it) and reaps it.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Stops the server (SIGTERM, as a supervisor's restart does; SIGKILL after 5 s) and starts
    /// it again with the same options on the same address. What survives is what the server
    /// keeps: the HTTP server saves its hub when given `--state` and continues the same stream;
    /// the WebSocket server keeps nothing (its clients rejoin at the current end). Fails with
    /// the last reason the new process could not start.
    pub async fn restart(self) -> Result<ServerChild, String> {
        let again = self.again();
        self.stop().await;
        again.start().await
    }

    /// How to start this server again on its address, once it is stopped.
    pub fn again(&self) -> Again {
        Again {
            addr: self.addr,
            bin: self.bin.clone(),
            options: self.options.clone(),
        }
    }
}

/// A stopped server's way back: its binary, options and address ([`ServerChild::again`]).
#[derive(Debug, Clone)]
pub struct Again {
    addr: SocketAddr,
    bin: std::path::PathBuf,
    options: ServeOptions,
}

impl Again {
    /// Starts the server on its old address. The port is free once the old process has closed
    /// it; retried briefly (bounded) if not yet. Fails with the last reason it could not start.
    pub async fn start(self) -> Result<ServerChild, String> {
        let mut last_error = String::new();
        for _ in 0..40 {
            match ServerChild::spawn(&self.bin, &self.options, Some(self.addr)).await {
                Ok(next) => return Ok(next),
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rendering only: nothing here connects to these addresses.
    #[test]
    fn an_instance_gets_the_backplane_its_keys_and_allow_remote_only_off_loopback() {
        let options = |url: &str| ServeOptions {
            transport: TransportKind::Sse,
            hold: None,
            heartbeat: None,
            state_file: None,
            tls: None,
            backplane: Some(BackplaneUrl::parse(url, true).unwrap()),
            keys: Keys::new("wsbench:1-2:sse").unwrap(),
        };
        let args = |url: &str| -> Vec<String> {
            options(url)
                .args(None)
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        let local = args("redis://127.0.0.1:6379");
        let tail = ["--backplane", "redis://127.0.0.1:6379"];
        assert!(local.windows(2).any(|w| w == tail), "{local:?}");
        let prefix = ["--key-prefix", "wsbench:1-2:sse"];
        assert!(local.windows(2).any(|w| w == prefix), "{local:?}");
        assert!(!local.iter().any(|a| a == "--allow-remote"), "{local:?}");
        let remote = args("redis://192.0.2.3:6379");
        assert!(remote.iter().any(|a| a == "--allow-remote"), "{remote:?}");
    }
}
