//! Connections that break and come back, on every built-in transport: `[faults] drop` resets a
//! seeded share of the subscribers' connections (RST) at each tick, `restart_instances_at`
//! deploys every instance behind the balancer, one by one or all at once. Resuming transports
//! lose nothing and duplicate nothing; the counts of resets are exact; what was published during
//! each outage is counted as replayed, and each break's recovery is timed.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use wsbench::report::Summary;

/// 40 subscribers in one room, 2 publishers at 40 msg/s, 3 s measured; the clients come back
/// quickly (20–200 ms backoff).
const LOAD: &str = r#"duration = "3s"
drain = "5s"
[clients]
subscribers = 40
connect_rate = 1000
reconnect = { initial = "60ms", max = "200ms" }
[publish]
publishers = 2
rate = 40
"#;

#[test]
fn drops_lose_nothing_on_a_transport_that_resumes_and_the_resets_are_exact() {
    let (stderr, rows, _) = common::run_scenario(
        &(LOAD.to_string()
            + r#"[transports.ws]
[transports.raw]
[transports.longpoll]
[transports.shortpoll]
interval = "200ms"
[transports.sse]
[faults]
drop = { every = "1s", fraction = 0.25 }
"#),
    );
    assert_eq!(rows.len(), 5);
    // Ticks at 1 s and 2 s of the 3 s phase, each resetting round(0.25 × 40) = 10.
    assert_eq!(
        stderr.matches("fault: drop reset 10 connections").count(),
        10,
        "{stderr}"
    );
    for row in &rows {
        let t = &row.transport;
        assert_eq!(row.dropped, 20, "{t}");
        // Each reset connection came back once, and nothing else broke.
        assert_eq!((row.reconnects, row.io_errors), (20, 0), "{t}");
        assert_eq!((row.lost, row.duplicated, row.lost_away), (0, 0, 0), "{t}");
        assert_eq!(row.deliveries, row.deliveries_expected, "{t}");
        assert_eq!(row.delivered_pct, Some(100.0), "{t}");
        // Every break ended in a live delivery (the room gets 40 messages a second).
        assert!(row.recovery_max_us.is_some(), "{t}");
        assert!(row.recovery_p50_us <= row.recovery_p95_us, "{t}");
        assert!(row.recovery_p95_us <= row.recovery_max_us, "{t}");
        assert!(row.replay_deliveries <= row.deliveries, "{t}");
    }
}

#[test]
fn without_resume_a_drop_loses_what_was_published_while_away_and_nothing_else() {
    let (_, rows, _) = common::run_scenario(
        &(LOAD.to_string()
            + r#"[transports.ws]
resume = false
[transports.raw]
resume = false
[faults]
drop = { every = "1s", fraction = 0.25 }
"#),
    );
    for row in &rows {
        let t = &row.transport;
        assert_eq!((row.dropped, row.reconnects), (20, 20), "{t}");
        // A fresh join after each reset: exactly the messages published between each reset and
        // the rejoin are lost (a backoff of at least 30 ms at 40 msg/s misses some), counted
        // from each publisher's sequence numbers on each side of the outage; nothing else is
        // lost, and the rest arrive once.
        assert!(row.lost > 0, "{t}");
        assert_eq!(row.lost_away, row.lost, "{t}");
        assert_eq!(row.deliveries + row.lost, row.deliveries_expected, "{t}");
        assert_eq!(row.duplicated, 0, "{t}");
        assert!(row.delivered_pct < Some(100.0), "{t}");
    }
}

#[test]
fn a_rolling_deploy_and_an_all_at_once_one_lose_nothing_on_a_cursor() {
    // Clients spreading themselves over the instances, and HAProxy, which answers 503 while
    // every instance is down: an HTTP publisher sends its message again.
    let spread = "instances = 3\n";
    let haproxy = "instances = 3\nbalancer = \"haproxy\"\n";
    for (mode, transports) in [
        (
            "rolling",
            format!("[transports.ws]\n{spread}[transports.raw]\n{spread}"),
        ),
        (
            "all",
            format!("[transports.longpoll]\n{haproxy}[transports.sse]\n{haproxy}"),
        ),
    ] {
        let (stderr, rows, metrics) = common::run_scenario(
            &(LOAD.to_string()
                + &transports
                + "[faults]\nrestart_instances_at = \"1s\"\nmode = \""
                + mode
                + "\"\n"),
        );
        assert_eq!(
            stderr
                .matches(&format!("fault: deployed every instance ({mode})"))
                .count(),
            2,
            "{stderr}"
        );
        for (row, m) in rows.iter().zip(&metrics) {
            check_deploy(row, mode);
            // Every instance served again after the deploy, and none was counted as killed.
            let group = m.instances.as_ref().unwrap();
            assert_eq!(group.instances.len(), 3);
            assert!(group.instances.iter().all(|i| !i.killed));
        }
    }
}

/// What a deploy must show on a transport: every client came back, nothing duplicated, nothing
/// lost. HTTP publishers send a failed POST again; a stopping WebSocket or raw instance reads
/// what its publishers sent before they saw it go, and hands it to the log before it exits.
fn check_deploy(row: &Summary, mode: &str) {
    let t = format!("{} ({mode})", row.transport);
    assert!(row.reconnects >= 40, "{t}: {} reconnects", row.reconnects);
    assert_eq!((row.io_errors, row.duplicated), (0, 0), "{t}");
    assert_eq!(row.lost, 0, "{t}");
    assert_eq!(row.deliveries, row.deliveries_expected, "{t}");
    assert!(row.recovery_p95_us.is_some(), "{t}");
}
