//! nginx + nchan (Debian's `libnginx-mod-nchan`, installed and started by
//! `scripts/peers/nchan/start.sh`) as an external `[target]`: its EventSource and WebSocket
//! pub/sub, with wsbench's own clients. What the counts guard: the SSE client asks for
//! `text/event-stream` (nchan answers a subscriber without it as a long-poll one), keeps nchan's
//! `<time>:<n>` event ids as opaque strings, and nchan's master is sampled with its worker.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::path::Path;

/// nginx + nchan with its own prefix under `prefix`.
fn start(prefix: &Path) -> common::peers::Peer {
    common::peers::start("nchan", &[prefix.to_str().unwrap()], &[])
}

#[test]
fn nchan_eventsource_and_websocket_deliver_every_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = start(&dir.path().join("nginx"));
    let port = nginx.port;
    let scenario = format!(
        "duration = \"1s\"\n[clients]\nsubscribers = 20\n[publish]\npublishers = 2\nrate = 40\n\
         [transports.ws]\n[transports.sse]\n\
         [target]\nws = \"ws://127.0.0.1:{port}/ws\"\nsse = \"http://127.0.0.1:{port}/events\"\n\
         server_pid = {}\n",
        nginx.pid
    );
    let (_, rows, _) = common::run_scenario(&scenario);
    let master_alone = wsbench::os::peak_rss_kib(Some(nginx.pid)).unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let t = &row.transport;
        assert_eq!(row.messages_published, 40, "{t}");
        assert_eq!(row.deliveries, 800, "{t}");
        assert_eq!((row.lost, row.duplicated, row.foreign), (0, 0, 0), "{t}");
        assert_eq!(row.reconnects, 0, "{t}");
        assert!(row.complete, "{t}");
        // The worker holds the connections; the master alone is not the server.
        assert!(row.server_peak_rss_kib.unwrap() > master_alone, "{t}");
    }
}

/// A server that replays its buffer to new subscribers (nchan's default) hands a second run the
/// first run's messages, with the same publishers and sequence numbers: each subscriber gets
/// every one of them at connect, counted as stale, and the second run's own are delivered once.
#[test]
fn a_replayed_history_is_stale_never_delivered_or_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = start(&dir.path().join("nginx"));
    let port = nginx.port;
    let scenario = format!(
        "duration = \"1s\"\nwarmup = \"0s\"\n[clients]\nsubscribers = 20\n[publish]\n\
         publishers = 2\nrate = 40\n[transports.ws]\n[transports.sse]\n[target]\n\
         ws = \"ws://127.0.0.1:{port}/replay/ws\"\n\
         sse = \"http://127.0.0.1:{port}/replay/events\"\nserver_pid = {}\n",
        nginx.pid
    );
    let (_, first, _) = common::run_scenario(&scenario);
    let (stderr, second, _) = common::run_scenario(&scenario);
    assert_eq!(second.len(), 2);
    assert!(
        stderr.contains("800 messages of an earlier run"),
        "{stderr}"
    );
    for (before, row) in first.iter().zip(&second) {
        let t = &row.transport;
        assert_eq!(before.stale, 0, "{t}: the first run on a fresh server");
        assert_eq!(before.deliveries, 800, "{t}");
        // Nothing is published outside the measured phase (no warmup): the buffer holds the
        // first run's 40 messages, and each of the 20 subscribers is handed all of them.
        assert_eq!(before.messages_published, 40, "{t}");
        assert_eq!(row.stale, 20 * 40, "{t}");
        assert_eq!(row.deliveries, 800, "{t}");
        assert_eq!((row.lost, row.duplicated, row.reordered), (0, 0, 0), "{t}");
        assert_eq!(row.foreign, 0, "{t}");
    }
}

/// nchan's own protocol and layout (`[target] nchan`): long-poll (`If-Modified-Since` and
/// `If-None-Match` from each answer's `Last-Modified` and `Etag`), EventSource and WebSocket
/// subscribers at `/sub/{room}`, publishers `POST`ing to `/pub/{room}`; two rooms, each its own
/// channel.
#[test]
fn nchan_longpoll_eventsource_and_websocket_in_rooms_deliver_every_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let nginx = start(&dir.path().join("nginx"));
    let port = nginx.port;
    let scenario = format!(
        "duration = \"1s\"\n[clients]\nsubscribers = 20\n[publish]\npublishers = 2\nrate = 40\n\
         [rooms]\ncount = 2\n\
         [target]\nnchan = {{ url = \"http://127.0.0.1:{port}\" }}\nserver_pid = {}\n",
        nginx.pid
    );
    let (_, rows, _) = common::run_scenario(&scenario);
    let labels: Vec<&str> = rows.iter().map(|r| r.transport.as_str()).collect();
    assert_eq!(labels, ["nchan-longpoll", "nchan-sse", "nchan-ws"]);
    for row in &rows {
        let t = &row.transport;
        assert_eq!(row.messages_published, 40, "{t}");
        // A publisher in each room of ten.
        assert_eq!(row.deliveries, 400, "{t}");
        assert_eq!(row.deliveries_expected, 400, "{t}");
        assert_eq!((row.lost, row.duplicated, row.misrouted), (0, 0, 0), "{t}");
        assert_eq!((row.reconnects, row.connect_errors), (0, 0), "{t}");
    }
    // nchan's long-poll answers one message per request.
    assert_eq!(rows[0].messages_per_response, Some(1.0));
}
