//! Socket.IO's connection-state recovery under the drop fault, against Socket.IO's own chat
//! server (socket.io 4.8, Node; `scripts/peers/socketio/start.sh`): the same drops with the
//! server's recovery on and the client asking for it (`recovery = true`) lose and duplicate
//! nothing, over WebSocket and over long-polling; without it each reconnect is a fresh join and
//! loses exactly what was emitted while away.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use std::path::Path;

/// Socket.IO's chat server (pinging every 300 ms, giving up 300 ms later) with `env`.
fn start(log: &Path, env: &[(&str, &str)]) -> common::peers::Peer {
    let mut all = vec![
        ("LOG", log.to_str().unwrap()),
        ("PING_INTERVAL", "300"),
        ("PING_TIMEOUT", "300"),
    ];
    all.extend_from_slice(env);
    common::peers::start("socketio", &[], &all)
}

const SUBSCRIBERS: u64 = 40;

/// 40 subscribers, 2 publishers at 40 msg/s for 3 s, a quarter of the subscribers reset at 1 s
/// and 2 s; they come back after 60–200 ms.
fn scenario(port: u16, pid: u32, recovery: bool) -> String {
    format!(
        "duration = \"3s\"\ndrain = \"5s\"\n[clients]\nsubscribers = {SUBSCRIBERS}\n\
         connect_rate = 1000\nreconnect = {{ initial = \"60ms\", max = \"200ms\" }}\n\
         [publish]\npublishers = 2\nrate = 40\n\
         [faults]\ndrop = {{ every = \"1s\", fraction = 0.25 }}\n\
         [target]\nsocketio = {{ url = \"http://127.0.0.1:{port}\", \
         transports = [\"polling\", \"websocket\"], recovery = {recovery} }}\nserver_pid = {pid}\n"
    )
}

#[test]
fn recovery_loses_and_duplicates_nothing_under_drops() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(&dir.path().join("node.log"), &[("RECOVERY", "1")]);
    let (_, rows, metrics) = common::run_scenario(&scenario(node.port, node.pid, true));
    let labels: Vec<&str> = rows.iter().map(|r| r.transport.as_str()).collect();
    assert_eq!(labels, ["socketio-polling", "socketio-websocket"]);
    for (row, m) in rows.iter().zip(&metrics) {
        let t = &row.transport;
        // Ticks at 1 s and 2 s, each resetting round(0.25 × 40) = 10; each came back once.
        assert_eq!(row.dropped, 20, "{t}");
        assert_eq!((row.reconnects, row.io_errors), (20, 0), "{t}");
        // Every reconnect was recovered: the server replayed what was emitted while away.
        assert_eq!(m.clients.counts.not_recovered, 0, "{t}");
        assert_eq!((row.lost, row.duplicated, row.foreign), (0, 0, 0), "{t}");
        assert_eq!(row.messages_published, 120, "{t}");
        assert_eq!(row.deliveries, 120 * SUBSCRIBERS, "{t}");
        assert_eq!(row.deliveries, row.deliveries_expected, "{t}");
        assert_eq!(row.delivered_pct, Some(100.0), "{t}");
    }
}

#[test]
fn without_recovery_a_drop_loses_what_was_emitted_while_away_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(&dir.path().join("node.log"), &[]);
    let (_, rows, metrics) = common::run_scenario(&scenario(node.port, node.pid, false));
    assert_eq!(rows.len(), 2);
    for (row, m) in rows.iter().zip(&metrics) {
        let t = &row.transport;
        assert_eq!(
            (row.dropped, row.reconnects, row.io_errors),
            (20, 20, 0),
            "{t}"
        );
        // A fresh join after each reset: at 40 msg/s a backoff of at least 30 ms misses some.
        assert!(row.lost > 0, "{t}");
        assert_eq!(row.deliveries + row.lost, row.deliveries_expected, "{t}");
        assert_eq!(row.duplicated, 0, "{t}");
        // Nothing was asked, so nothing was refused.
        assert_eq!(m.clients.counts.not_recovered, 0, "{t}");
    }
}
