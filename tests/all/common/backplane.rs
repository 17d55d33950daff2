//! Helpers of the tests that run several instances on a Redis backplane (`tests/all/backplane.rs`,
//! `tests/all/instances.rs`, `tests/all/existing_redis.rs`): installing redis-server and haproxy, a
//! private Redis per test and what it holds, and small scenarios with instances run by
//! `wsbench run`.

use std::process::Command;

use wsbench::metrics::TransportMetrics;
use wsbench::program::redis_server::RedisServer;
use wsbench::report::Summary;

/// Runs `scripts/backplane/setup.sh` once per test binary; both programs must then be findable,
/// or the test fails naming the script (it never skips).
pub fn setup() {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/backplane/setup.sh");
        let out = Command::new(script).output().unwrap();
        assert!(
            out.status.success(),
            "scripts/backplane/setup.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for program in ["redis-server", "haproxy"] {
            if let Err(e) = wsbench::program::find(program) {
                panic!("after scripts/backplane/setup.sh: {e}");
            }
        }
    });
}

/// A private Redis for one test, on a free loopback port and a runtime of its own; stopped when
/// dropped.
pub struct Redis {
    runtime: tokio::runtime::Runtime,
    server: Option<RedisServer>,
}

impl Redis {
    pub fn start() -> Redis {
        setup();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(RedisServer::start()).unwrap();
        Redis {
            runtime,
            server: Some(server),
        }
    }

    fn server(&self) -> &RedisServer {
        self.server.as_ref().unwrap()
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.server().url.to_string()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.server().pid()
    }

    /// A connection for a few commands.
    pub fn connection(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).unwrap();
        client
            .get_connection_with_timeout(std::time::Duration::from_secs(5))
            .unwrap()
    }

    /// Every key it holds, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query(&mut self.connection())
            .unwrap();
        keys.sort();
        keys
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.stop());
        }
    }
}

/// [`super::run_scenario`] once redis-server and haproxy are installed.
pub fn run(toml: &str) -> (String, Vec<Summary>, Vec<TransportMetrics>) {
    setup();
    super::run_scenario(toml)
}

/// The small load of these runs, for `duration` with 10 s to drain: 12 subscribers (with
/// `clients`, more `[clients]` keys), 3 publishers at 30 msg/s. Tables follow.
pub fn small_load(duration: &str, clients: &str) -> String {
    format!(
        r#"duration = "{duration}"
drain = "10s"
[clients]
subscribers = 12
connect_rate = 1000
{clients}
[publish]
publishers = 3
rate = 30
"#
    )
}

/// A table for each of `transports` with `instances` and (if given) `balancer`; short-poll
/// polls every 100 ms.
pub fn instance_tables(transports: &[&str], instances: u32, balancer: Option<&str>) -> String {
    let mut toml = String::new();
    for t in transports {
        toml += &format!("[transports.{t}]\ninstances = {instances}\n");
        if *t == "shortpoll" {
            toml += "interval = \"100ms\"\n";
        }
        if let Some(b) = balancer {
            toml += &format!("balancer = \"{b}\"\n");
        }
    }
    toml
}
