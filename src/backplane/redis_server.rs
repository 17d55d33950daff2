//! A private `redis-server` for one run: on a free loopback port, persistence off (`--save ''
//! --appendonly no`), in its own process group, stopped and reaped at the end of the run (and
//! killed if its owner is dropped without stopping it).

use std::ffi::OsString;
use std::time::Duration;

use super::{BackplaneError, BackplaneUrl};
use crate::metrics::ProcessUsage;
use crate::os;
use crate::program::{Program, ProgramError};

/// How long Redis may take to answer its first `PING`.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// A running `redis-server` of ours.
#[derive(Debug)]
pub struct RedisServer {
    program: Program,
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

impl RedisServer {
    /// Starts `redis-server` on a free loopback port and waits until it answers.
    pub async fn start() -> Result<Self, BackplaneError> {
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
