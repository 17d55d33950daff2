//! Socket.IO's connection-state recovery under the drop fault, against Socket.IO's own chat
//! server (socket.io 4.8, Node; `scripts/peers/socketio/start.sh`): with the server's recovery
//! on and the client asking for it (`recovery = true`) the same drops lose and duplicate nothing,
//! over WebSocket, over long-polling and after the upgrade (rooms restored with the session);
//! without it each reconnect is a fresh join and loses exactly what was emitted while away.
//!
//! Its own test binary, not a module of `tests/all`: whether a session is recovered depends on
//! the server noticing a lost client within its 300 ms ping timeout, and with the other suites'
//! runs beside it on a 2-core VM the server's event loop was slowed past it (two extra
//! reconnects, a publisher's emit sent twice). `cargo test` runs test binaries one at a time.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

#[path = "all/common/mod.rs"]
#[allow(dead_code)] // Helpers of the other suites.
mod common;

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use wsbench::metrics::TransportMetrics;
use wsbench::report::Summary;

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

/// One run at a time: whether a session is recovered depends on the server noticing a lost
/// client before it is back, and two runs at once on a small machine slow its event loop.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A run's phase, drop ticks and reconnect backoff, and the messages it publishes.
#[derive(Clone, Copy)]
struct Timing {
    duration: &'static str,
    every: &'static str,
    backoff: &'static str,
    published: u64,
}

/// 3 s, ticks at 1.03 s and 2.06 s, back within 30–200 ms. The ticks fall between the
/// publishers' sends (every 50 ms): a publisher reset with its emit's `POST` unanswered sends it
/// again once back, and if the server had read the first one every subscriber gets it twice.
/// That is the publisher's retry, not the subscribers' recovery under test.
const QUICKLY: Timing = Timing {
    duration: "3s",
    every: "1030ms",
    backoff: "{ initial = \"60ms\", max = \"200ms\" }",
    published: 120,
};

/// 5 s, ticks at 2.03 s and 4.06 s (between sends, as above), back after 0.75–1.5 s: later than the server (pinging every
/// 300 ms, waiting 300 ms for the pong) takes to notice a lost long-polling client. It sees no
/// reset when no request is in flight on the connection that goes, so the session lives on until
/// its ping timeout, and only then is it kept for recovery: a client back sooner is answered
/// with a new session (counted as `not_recovered`).
const AFTER_PING_TIMEOUT: Timing = Timing {
    duration: "5s",
    every: "2030ms",
    backoff: "{ initial = \"1500ms\", max = \"1500ms\" }",
    published: 200,
};

/// 40 subscribers, 2 publishers at 40 msg/s, a quarter of the subscribers reset at each tick
/// of the drop fault, over `transports`, asking for recovery or not.
fn scenario(port: u16, pid: u32, transports: &str, recovery: bool, timing: Timing) -> String {
    let Timing {
        duration,
        every,
        backoff,
        ..
    } = timing;
    format!(
        "duration = \"{duration}\"\ndrain = \"5s\"\n[clients]\nsubscribers = {SUBSCRIBERS}\n\
         connect_rate = 1000\nreconnect = {backoff}\n[publish]\npublishers = 2\nrate = 40\n\
         [faults]\ndrop = {{ every = \"{every}\", fraction = 0.25 }}\n[target]\n\
         socketio = {{ url = \"http://127.0.0.1:{port}\", transports = {transports}, \
         recovery = {recovery} }}\nserver_pid = {pid}\n"
    )
}

/// What recovery must show: each reset connection came back once and was recovered, and the
/// server replayed exactly what was emitted while it was away.
fn check_recovered(rows: &[Summary], metrics: &[TransportMetrics], timing: Timing) {
    assert_eq!(rows.len(), 1);
    for (row, m) in rows.iter().zip(metrics) {
        let t = &row.transport;
        // Two ticks, each resetting round(0.25 × 40) = 10; each came back once.
        assert_eq!(row.dropped, 20, "{t}");
        assert_eq!((row.reconnects, row.io_errors), (20, 0), "{t}");
        assert_eq!(m.clients.counts.not_recovered, 0, "{t}");
        assert_eq!((row.lost, row.duplicated, row.foreign), (0, 0, 0), "{t}");
        assert_eq!(row.messages_published, timing.published, "{t}");
        assert_eq!(row.deliveries, timing.published * SUBSCRIBERS, "{t}");
        assert_eq!(row.deliveries, row.deliveries_expected, "{t}");
        assert_eq!(row.delivered_pct, Some(100.0), "{t}");
    }
}

#[test]
fn recovery_over_websocket_loses_and_duplicates_nothing_under_drops() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let node = start(&dir.path().join("node.log"), &[("RECOVERY", "1")]);
    let toml = scenario(node.port, node.pid, "[\"websocket\"]", true, QUICKLY);
    let (_, rows, metrics) = common::run_scenario(&toml);
    check_recovered(&rows, &metrics, QUICKLY);
}

#[test]
fn recovery_over_polling_loses_and_duplicates_nothing_once_the_server_noticed() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let node = start(&dir.path().join("node.log"), &[("RECOVERY", "1")]);
    let toml = scenario(
        node.port,
        node.pid,
        "[\"polling\"]",
        true,
        AFTER_PING_TIMEOUT,
    );
    let (_, rows, metrics) = common::run_scenario(&toml);
    check_recovered(&rows, &metrics, AFTER_PING_TIMEOUT);
}

#[test]
fn a_recovered_session_keeps_its_room_after_an_upgrade() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let node = start(&dir.path().join("node.log"), &[("RECOVERY", "1")]);
    let toml = scenario(
        node.port,
        node.pid,
        "[\"upgrade\"], join_event = \"join\"",
        true,
        QUICKLY,
    )
    .replace("[faults]", "[rooms]\ncount = 2\n[faults]");
    let (_, rows, metrics) = common::run_scenario(&toml);
    let (row, m) = (&rows[0], &metrics[0]);
    assert_eq!((row.dropped, row.reconnects, row.io_errors), (20, 20, 0));
    assert_eq!(m.clients.counts.not_recovered, 0);
    assert_eq!(m.clients.counts.stayed_on_polling, 0);
    // Two rooms of 20, a publisher in each: the server replayed each its own room's messages.
    assert_eq!(row.deliveries, QUICKLY.published * SUBSCRIBERS / 2);
    assert_eq!(row.deliveries, row.deliveries_expected);
    assert_eq!((row.lost, row.duplicated, row.misrouted), (0, 0, 0));
}

#[test]
fn without_recovery_a_drop_loses_what_was_emitted_while_away_and_nothing_else() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = tempfile::tempdir().unwrap();
    let node = start(&dir.path().join("node.log"), &[]);
    let both = "[\"polling\", \"websocket\"]";
    let (_, rows, metrics) =
        common::run_scenario(&scenario(node.port, node.pid, both, false, QUICKLY));
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
