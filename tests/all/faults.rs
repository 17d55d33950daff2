//! Faults on purpose: `[faults] restart_server_at` stops each built-in server mid-run and starts it
//! again on the same port. Every transport's clients reconnect; long-poll, short-poll, SSE and a
//! resumable WebSocket resume from where they were (the hub is kept across the restart) and lose
//! nothing. And
//! the quiet case: idle long-polls expire after `hold` and are polled again.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use wsbench::report::Summary;

#[test]
fn a_server_restart_mid_run_is_survived() {
    let (stderr, rows) = restart_mid_run(
        r#"[transports.ws]
[transports.longpoll]
[transports.shortpoll]
interval = "200ms"
[transports.sse]
"#,
    );
    assert_eq!(
        stderr
            .matches("fault: stopped the server and started it again")
            .count(),
        4,
        "{stderr}"
    );
    assert_eq!(rows.len(), 4);
    // Resumable (the default): each client came back after the last message it read, and the
    // restarted server replayed the rest from the hub it kept. What a publisher had sent into
    // the stopping server unread is lost to every subscriber alike (a WebSocket send has no
    // answer to retry on): whole messages only, at most one per publisher, never some
    // subscribers' share (that would be a resume gone wrong).
    let ws = &rows[0];
    assert_eq!(ws.transport, "ws");
    assert_eq!(ws.lost % 20, 0, "{}", ws.lost);
    assert!(ws.lost <= 2 * 20, "{}", ws.lost);
    assert_eq!(ws.deliveries + ws.lost, ws.deliveries_expected);
}

/// The same fault met by the tokio-tungstenite client (the test above runs ours, the default).
#[test]
fn the_tungstenite_client_survives_a_server_restart_too() {
    let (_, rows) = restart_mid_run("[transports.ws]\nclient = \"tungstenite\"\n");
    assert_eq!(rows.len(), 1);
}

/// Runs `transports` with the server restarted 1 s into the measured phase; checks what every
/// transport must show and returns stderr and the summary rows.
fn restart_mid_run(transports: &str) -> (String, Vec<Summary>) {
    let (stderr, rows) = run_scenario(
        &(r#"duration = "2s"
drain = "5s"
[clients]
subscribers = 20
connect_rate = 1000
reconnect = { initial = "20ms", max = "200ms" }
[publish]
publishers = 2
rate = 40
[faults]
restart_server_at = "1s"
"#
        .to_string()
            + transports),
    );
    for row in &rows {
        // Every connection was cut once; every client came back.
        assert!(
            row.reconnects >= 20,
            "{}: {} reconnects",
            row.transport,
            row.reconnects
        );
        assert_eq!((row.io_errors, row.duplicated), (0, 0), "{}", row.transport);
        assert_eq!(
            row.messages_published, row.messages_scheduled,
            "{}",
            row.transport
        );
        assert!(row.complete);
        if row.transport != "ws" {
            // Cursors and Last-Event-ID stay valid: the restarted hub continues the stream.
            assert_eq!(row.lost, 0, "{}", row.transport);
            assert_eq!(row.deliveries, row.deliveries_expected, "{}", row.transport);
        }
    }
    (stderr, rows)
}

/// Heartbeat of long-poll: an empty poll is answered after `hold` and the client polls again on
/// the same keep-alive connection, so a quiet stream costs requests, not connections or messages.
#[test]
fn idle_long_polls_are_answered_after_hold_and_polled_again() {
    // One message every 500 ms against a 50 ms hold: most polls find nothing and expire.
    let (_, rows) = run_scenario(
        r#"duration = "2s"
drain = "5s"
[clients]
subscribers = 10
connect_rate = 1000
[publish]
publishers = 1
rate = 2
[transports.longpoll]
hold = "50ms"
"#,
    );
    let row = &rows[0];
    assert_eq!(row.transport, "longpoll");
    assert_eq!(row.messages_published, 4);
    assert_eq!(row.deliveries, 40);
    assert_eq!((row.lost, row.duplicated), (0, 0));
    // Each subscriber's polls between two messages expired empty at least once...
    assert!(row.empty_polls >= 10, "{} empty polls", row.empty_polls);
    // ...and were polled again on the same connection: none broke, none reconnected.
    assert_eq!(
        (row.io_errors, row.reconnects, row.connect_errors),
        (0, 0, 0)
    );
}

/// Runs the scenario `toml` with `wsbench run`, which must succeed; returns its stderr and the
/// rows of its summary.csv.
fn run_scenario(toml: &str) -> (String, Vec<Summary>) {
    let (stderr, rows, _) = common::run_scenario(toml);
    (stderr, rows)
}
