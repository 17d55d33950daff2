//! Helpers of the tests that run several instances on a Redis backplane: installing
//! redis-server and haproxy, a private Redis per test, running a scenario with `wsbench run`, and
//! reading what a Redis holds.

use std::path::Path;
use std::process::Command;

use wsbench::backplane::redis_server::RedisServer;
use wsbench::metrics::TransportMetrics;
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

/// Runs `toml` with `wsbench run`, which must succeed: its stderr, summary rows and metrics.
pub fn run_scenario(toml: &str) -> (String, Vec<Summary>, Vec<TransportMetrics>) {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(&scenario, toml).unwrap();
    let out = dir.path().join("out");
    let output = Command::new(super::wsbench_bin())
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    let mut summary = csv::Reader::from_path(out.join("summary.csv")).unwrap();
    let rows = summary.deserialize().map(Result::unwrap).collect();
    let metrics = wsbench::report::stored::load_metrics(Path::new(&out)).unwrap();
    (stderr, rows, metrics)
}
