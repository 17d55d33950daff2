//! Socket.IO as a `[target]`: Socket.IO's own getting-started chat server (socket.io 4.8, Node;
//! installed and started by `scripts/peers/socketio/start.sh`) measured over long-polling,
//! WebSocket and the upgrade, with exact counts. The server pings every 300 ms and gives up on a
//! client after 300 ms more, so a session that did not answer its pings would break within the
//! run: none reconnects.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::path::Path;

/// Socket.IO's chat server, pinging every 300 ms and giving up 300 ms later, with `env` (e.g.
/// `TRANSPORTS=polling`).
fn start(log: &Path, env: &[(&str, &str)]) -> common::peers::Peer {
    let mut all = vec![
        ("LOG", log.to_str().unwrap()),
        ("PING_INTERVAL", "300"),
        ("PING_TIMEOUT", "300"),
    ];
    all.extend_from_slice(env);
    common::peers::start("socketio", &[], &all)
}

const SUBSCRIBERS: u64 = 20;

fn scenario(port: u16, pid: u32, target: &str, extra: &str) -> String {
    format!(
        "duration = \"2s\"\n[clients]\nsubscribers = {SUBSCRIBERS}\n[publish]\npublishers = 2\n\
         rate = 40\n{extra}[target]\nsocketio = {{ url = \"http://127.0.0.1:{port}\"{target} }}\n\
         server_pid = {pid}\n"
    )
}

#[test]
fn polling_websocket_and_the_upgrade_deliver_every_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(&dir.path().join("node.log"), &[]);
    let port = node.port;
    let (_, rows, metrics) = common::run_scenario(&scenario(port, node.pid, "", ""));
    let labels: Vec<&str> = rows.iter().map(|r| r.transport.as_str()).collect();
    assert_eq!(
        labels,
        ["socketio-polling", "socketio-websocket", "socketio-upgrade"]
    );
    for row in &rows {
        let t = &row.transport;
        assert_eq!(row.messages_published, 80, "{t}");
        assert_eq!(row.deliveries, 80 * SUBSCRIBERS, "{t}");
        assert_eq!((row.lost, row.duplicated, row.foreign), (0, 0, 0), "{t}");
        // Every ping answered: no session broke.
        assert_eq!((row.reconnects, row.io_errors), (0, 0), "{t}");
        assert!(row.complete, "{t}");
    }
    let requests = |i: usize| metrics[i].clients.counts.http_requests;
    // Polling: at least one GET per delivery batch, a POST per publish, the three of the
    // connect (handshake GET, namespace POST, its answer's GET).
    assert!(requests(0) >= 3 * SUBSCRIBERS + 80, "{}", requests(0));
    // WebSocket: no HTTP request at all (the upgrade request is the connect).
    assert_eq!(requests(1), 0);
    // The upgrade: the connect's three requests and the GET the probe ended, per subscriber;
    // every message then came in a WebSocket frame. A ping inside the connect may add a GET.
    assert!(
        (4 * SUBSCRIBERS..=5 * SUBSCRIBERS).contains(&requests(2)),
        "{}",
        requests(2)
    );
    assert_eq!(metrics[2].clients.counts.stayed_on_polling, 0);
    // Frames after the upgrade cost what the WebSocket mode's cost, to the byte per delivery.
    let overhead = |i: usize| rows[i].overhead_bytes_per_delivery.unwrap();
    assert!(
        overhead(0) > 4.0 * overhead(1),
        "{} vs {}",
        overhead(0),
        overhead(1)
    );
}

#[test]
fn an_upgrade_the_server_does_not_offer_stays_on_polling_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(&dir.path().join("node.log"), &[("TRANSPORTS", "polling")]);
    let port = node.port;
    let target = ", transports = [\"upgrade\"]";
    let (_, rows, metrics) = common::run_scenario(&scenario(port, node.pid, target, ""));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].transport, "socketio-upgrade");
    assert_eq!(rows[0].deliveries, 80 * SUBSCRIBERS);
    assert_eq!(rows[0].lost, 0);
    assert_eq!(metrics[0].clients.counts.stayed_on_polling, SUBSCRIBERS);
}

#[test]
fn rooms_are_joined_by_an_event_and_hear_only_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let node = start(&dir.path().join("node.log"), &[]);
    let port = node.port;
    let target = ", transports = [\"polling\", \"websocket\"], join_event = \"join\"";
    let rooms = "[rooms]\ncount = 2\n";
    let (_, rows, _) = common::run_scenario(&scenario(port, node.pid, target, rooms));
    for row in &rows {
        let t = &row.transport;
        // Two rooms of ten, a publisher in each: every message reaches its room's ten.
        assert_eq!(row.deliveries, row.deliveries_expected, "{t}");
        assert_eq!(row.deliveries, 80 * SUBSCRIBERS / 2, "{t}");
        assert_eq!((row.lost, row.misrouted), (0, 0), "{t}");
    }
}
