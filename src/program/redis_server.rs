//! A private `redis-server` for one run: on a free loopback port, persistence off (`--save ''
//! --appendonly no`), in its own process group, stopped and reaped at the end of the run (and
//! killed if its owner is dropped without stopping it).

use std::ffi::OsString;
use std::time::Duration;

use super::{Program, ProgramError};
use crate::backplane::BackplaneUrl;
use crate::backplane::probe::ping;
use crate::metrics::ProcessUsage;
use crate::os;

/// How long Redis may take to answer its first `PING`.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running `redis-server` of ours.
#[derive(Debug)]
pub struct RedisServer {
    program: Program,
    /// Where it listens.
    pub url: BackplaneUrl,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port and waits until it answers.
    pub async fn start() -> Result<Self, ProgramError> {
        let port = os::free_loopback_port().map_err(|e| ProgramError {
            program: "redis-server",
            reason: format!("finding a port: {e}"),
        })?;
        let url = BackplaneUrl::loopback(port);
        let port_arg = port.to_string();
        // Persistence off (nothing on disk), in the foreground, logging to our stderr.
        let mut args: Vec<OsString> = [
            "--bind",
            "127.0.0.1",
            "--port",
            &port_arg,
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            "",
            "--dir",
        ]
        .map(OsString::from)
        .into();
        args.push(std::env::temp_dir().into());
        let mut program = Program::spawn("redis-server", args)?;
        program
            .wait_ready(url.addr, READY_WITHIN, || ping(&url))
            .await?;
        Ok(RedisServer { program, url })
    }

    /// The process id, for sampling.
    pub fn pid(&self) -> u32 {
        self.program.pid()
    }

    /// CPU time so far and peak RSS; `None` once it is gone.
    pub fn usage(&self) -> Option<ProcessUsage> {
        self.program.usage()
    }

    /// Stops it (SIGTERM, then SIGKILL after 5 s) and reaps it.
    pub async fn stop(self) {
        self.program.stop().await;
    }
}
