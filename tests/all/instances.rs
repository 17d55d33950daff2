//! Several built-in server instances per transport (`instances = 3`) on one private Redis, with
//! clients spread over them (`balancer = "client"`) or behind HAProxy (`balancer = "haproxy"`):
//! every transport delivers every message to every subscriber, whichever instance it was
//! published on, and every instance holds some of the connections.
//!
//! `scripts/backplane/setup.sh` installs redis-server and haproxy first (apt-get) when missing;
//! a test that still cannot find them fails, naming the script.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use common::backplane::{instance_tables, run as run_scenario, small_load};
use wsbench::metrics::TransportMetrics;
use wsbench::report::Summary;

/// Every transport, three instances behind `balancer`.
fn every_transport(balancer: &str) -> String {
    let all = ["ws", "longpoll", "shortpoll", "sse", "raw"];
    small_load("2s", "") + &instance_tables(&all, 3, Some(balancer))
}

/// What every run with three healthy instances must show.
fn check_spread(rows: &[Summary], metrics: &[TransportMetrics]) {
    assert_eq!(rows.len(), 5);
    for (row, m) in rows.iter().zip(metrics) {
        let t = &row.transport;
        assert_eq!(row.deliveries, row.deliveries_expected, "{t}");
        assert!(row.deliveries > 0, "{t}");
        assert_eq!((row.lost, row.duplicated), (0, 0), "{t}");
        assert!(row.complete, "{t}");
        let group = m
            .instances
            .as_ref()
            .unwrap_or_else(|| panic!("{t}: no instances"));
        assert_eq!(group.instances.len(), 3, "{t}");
        let reports: Vec<_> = group.instances.iter().map(|i| i.report.unwrap()).collect();
        // Connections went to every instance.
        for (i, r) in reports.iter().enumerate() {
            assert!(
                r.accepted > 0,
                "{t}: instance {i} accepted none: {reports:?}"
            );
        }
        // Messages were published on more than one instance, and every instance read every
        // message of the shared log: what was published on one reached the others.
        let appended: u64 = reports.iter().map(|r| r.appended).sum();
        assert!(
            reports.iter().filter(|r| r.appended > 0).count() >= 2,
            "{t}: {reports:?}"
        );
        assert!(appended >= m.messages_published, "{t}");
        for r in &reports {
            assert_eq!(r.ingested, appended, "{t}: {reports:?}");
        }
        // The server side is measured: each instance, summed, and Redis.
        assert!(group.instances.iter().all(|i| i.usage.is_some()), "{t}");
        assert!(group.redis.is_some() && group.redis_bytes_in > 0, "{t}");
        assert!(m.server_usage.is_some(), "{t}");
    }
}

#[test]
fn three_instances_with_clients_spreading_themselves_deliver_everything() {
    let (_, rows, metrics) = run_scenario(&every_transport("client"));
    check_spread(&rows, &metrics);
    for m in &metrics {
        let group = m.instances.as_ref().unwrap();
        assert_eq!((group.balancer.as_str(), group.haproxy), ("client", None));
    }
}

#[test]
fn three_instances_behind_haproxy_deliver_everything() {
    let (_, rows, metrics) = run_scenario(&every_transport("haproxy"));
    check_spread(&rows, &metrics);
    for m in &metrics {
        let group = m.instances.as_ref().unwrap();
        assert_eq!(group.balancer, "haproxy");
        // HAProxy was sampled; its figures are its own, apart from the instances'.
        assert!(
            group.haproxy.is_some_and(|u| u.peak_rss_kib > 0),
            "{}",
            m.transport
        );
    }
}

#[test]
fn rooms_over_instances_reach_their_members_only() {
    // Two instances, three rooms of four: each room's messages cross instances through the
    // room's own stream, and reach that room's members only.
    let toml = every_transport("client").replace("instances = 3", "instances = 2")
        + "[rooms]\ncount = 3\n";
    let (_, rows, metrics) = run_scenario(&toml);
    assert_eq!(rows.len(), 5);
    for (row, m) in rows.iter().zip(&metrics) {
        let t = &row.transport;
        assert!(row.deliveries > 0, "{t}: {row:?}");
        assert_eq!(row.deliveries, row.deliveries_expected, "{t}");
        assert_eq!((row.lost, row.duplicated, row.misrouted), (0, 0, 0), "{t}");
        assert!(row.complete, "{t}");
        let group = m.instances.as_ref().unwrap();
        let reports: Vec<_> = group.instances.iter().map(|i| i.report.unwrap()).collect();
        assert_eq!(reports.len(), 2, "{t}");
        let appended: u64 = reports.iter().map(|r| r.appended).sum();
        assert!(appended >= m.messages_published, "{t}: {reports:?}");
        // An instance reads only the rooms its clients are in: never more than the log holds.
        assert!(
            reports.iter().all(|r| r.ingested <= appended),
            "{t}: {reports:?}"
        );
    }
}

/// Three instances of every transport, one killed (SIGKILL) 1 s into the measured phase.
fn instance_loss(balancer: &str) -> String {
    let reconnect = "reconnect = { initial = \"20ms\", max = \"200ms\" }";
    let cut = ["ws", "longpoll", "shortpoll", "sse", "raw"];
    small_load("3s", reconnect)
        + "[faults]\nkill_instance_at = \"1s\"\n"
        + &instance_tables(&cut, 3, Some(balancer))
}

/// What an instance loss must show, whatever the balancer: every transport loses nothing (a
/// resumable WebSocket, the default, comes back after the last message it read; the plain
/// protocol's exact per-client loss is `tests/all/backplane.rs`), and the killed instance is marked
/// so.
fn check_loss(stderr: &str, rows: &[Summary], metrics: &[TransportMetrics]) {
    assert_eq!(
        stderr.matches("fault: killed the instance on").count(),
        5,
        "{stderr}"
    );
    for (row, m) in rows.iter().zip(metrics) {
        let t = &row.transport;
        assert_eq!(row.messages_published, row.messages_scheduled, "{t}");
        // An HTTP publish the killed instance had stored but not yet answered is sent again
        // (through another instance): the log then holds it twice, and every subscriber gets
        // both copies. So duplicates come whole, one per subscriber, at most one message per
        // publisher; never to some subscribers only (that would be a cursor gone wrong).
        assert_eq!(row.duplicated % 12, 0, "{t}");
        assert!(row.duplicated <= 12 * 3, "{t}: {}", row.duplicated);
        if t == "ws" || t == "raw" {
            assert_eq!(row.duplicated, 0, "{t}");
        }
        if t == "ws" || t == "raw" {
            // Each client of the killed instance reconnected to another one, and resumed after
            // the last message it read (`since`, or raw's preamble, on the shared log). What a publisher had sent
            // into the killed instance unread is lost to every subscriber alike (a WebSocket
            // send has no answer to retry on): whole messages only, at most one per publisher.
            assert!(row.reconnects >= 1, "{t}: {} reconnects", row.reconnects);
            assert_eq!(row.lost % 12, 0, "{t}: {}", row.lost);
            assert!(row.lost <= 12 * 3, "{t}: {}", row.lost);
            assert_eq!(row.deliveries + row.lost, row.deliveries_expected, "{t}");
        } else {
            // Cursor and Last-Event-ID on the shared log: nothing lost, nothing twice.
            assert_eq!(
                (row.lost, row.deliveries),
                (0, row.deliveries_expected),
                "{t}"
            );
        }
        let group = m.instances.as_ref().unwrap();
        let killed: Vec<bool> = group.instances.iter().map(|i| i.killed).collect();
        assert_eq!(killed, [false, false, true], "{t}");
        for i in &group.instances {
            assert_eq!(i.report.is_some(), !i.killed, "{t}: {i:?}");
            assert!(i.usage.is_some(), "{t}: {i:?}");
        }
    }
}

#[test]
fn losing_an_instance_loses_nothing_on_a_cursor_with_clients_spread() {
    let (stderr, rows, metrics) = run_scenario(&instance_loss("client"));
    check_loss(&stderr, &rows, &metrics);
    // Every client of the killed instance came back (a WebSocket and an SSE stream each once).
    for row in rows
        .iter()
        .filter(|r| r.transport == "ws" || r.transport == "sse")
    {
        assert!(
            row.reconnects >= 4,
            "{}: {} reconnects",
            row.transport,
            row.reconnects
        );
    }
}

#[test]
fn losing_an_instance_behind_haproxy_loses_nothing_on_a_cursor() {
    let (stderr, rows, metrics) = run_scenario(&instance_loss("haproxy"));
    check_loss(&stderr, &rows, &metrics);
}
