//! External-target mode: `[target]` points transports at servers wsbench did not start — our
//! own `wsbench serve` run by hand, and the classic Node `ws` chat server (installed with npm by
//! `scripts/peers/node-ws/start.sh`). Same clients, same counts, same files.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use wsbench::report::Summary;

/// A `wsbench serve` child, stopped when dropped.
struct Served(Child, String);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(transport: &str) -> Served {
    let mut child = Command::new(common::wsbench_bin())
        .args(["serve", "--transport", transport, "--token", "t0ken"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Served(child, line.trim().to_string())
}

fn run(scenario: &str, out: &Path) -> Vec<Summary> {
    let path = out.with_extension("toml");
    std::fs::write(&path, scenario).unwrap();
    let output = Command::new(common::wsbench_bin())
        .args([
            "run",
            path.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    let mut summary = csv::Reader::from_path(out.join("summary.csv")).unwrap();
    summary.deserialize().map(Result::unwrap).collect()
}

const LOAD: &str = r#"duration = "1s"
[clients]
subscribers = 20
connect_rate = 1000
[publish]
publishers = 2
rate = 40
payload_bytes = 64
"#;

/// Our servers run by hand, guarded by a bearer token the scenario's `[target] token` supplies.
#[test]
fn our_own_servers_started_by_hand() {
    let ws = serve("ws");
    let http = serve("longpoll");
    let pid = ws.0.id();
    let scenario = format!(
        "{LOAD}[transports.ws]\n[transports.longpoll]\nhold = \"30s\"\n[transports.sse]\n\
         [target]\nws = \"ws://{}/ws\"\nlongpoll = \"http://{}\"\nsse = \"http://{}/events\"\n\
         server_pid = {pid}\ntoken = \"t0ken\"\n",
        ws.1, http.1, http.1
    );
    let dir = tempfile::tempdir().unwrap();
    let rows = run(&scenario, &dir.path().join("own"));
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_eq!(row.messages_published, 40, "{}", row.transport);
        assert_eq!(row.deliveries, 800, "{}", row.transport);
        assert_eq!((row.lost, row.foreign), (0, 0), "{}", row.transport);
        assert!(row.complete);
    }
    // The pid is sampled for every transport that has a target (here: the ws server's).
    assert!(rows.iter().all(|r| r.server_peak_rss_kib.is_some()));
}

#[test]
fn the_classic_node_chat_server() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("node.log");
    let node = common::peers::start("node-ws", &[], &[("LOG", log.to_str().unwrap())]);
    let (port, pid) = (node.port, node.pid);

    // Both WebSocket clients, the same counts.
    for client in ["wsbench", "tungstenite"] {
        let scenario = format!(
            "{LOAD}[transports.ws]\nclient = \"{client}\"\n\
             [target]\nws = \"ws://127.0.0.1:{port}/\"\nserver_pid = {pid}\n"
        );
        let rows = run(&scenario, &dir.path().join(format!("node-{client}")));
        let ws = &rows[0];
        assert_eq!(ws.messages_published, 40, "{client}");
        assert_eq!(ws.deliveries, ws.deliveries_expected, "{client}");
        assert_eq!(ws.deliveries, 800, "{client}");
        assert_eq!(ws.lost, 0, "{client}");
        // Each subscriber got the welcome text, which carries no envelope.
        assert_eq!(ws.foreign, 20, "{client}");
        // Every delivery carries the server's 21-byte prefix ("服务器收到了：") on top of the
        // 2-byte frame header: the counted bytes show it.
        assert!(ws.overhead_bytes_per_delivery.unwrap() > 23.0, "{client}");
        assert!(ws.server_cpu_s.is_some(), "{client}");
    }
}
