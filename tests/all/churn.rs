//! `[clients] churn`: connections closed on purpose during the measured phase rejoin the way
//! their transport does. Long-poll, short-poll and SSE resume where they were and lose nothing;
//! so does a resumable WebSocket (`resume = true`, the default), and a plain one rejoins fresh. Every close asked for is made and rejoined, none counts as an error,
//! and each rejoin's connect time is recorded.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wsbench::client::{ClientOutcome, LoadPlan, Target, drive};
use wsbench::scenario::{Transport, WsClient};

/// Closes per second asked for, over the 2 s measured phase: 20 closes.
const CHURN: u32 = 10;

/// 20 subscribers (2 publishing) at 20 msg/s for 2 s: 40 messages, 800 deliveries.
fn plan() -> LoadPlan {
    let mut plan = LoadPlan {
        subscribers: 20,
        publishers: 2,
        rate: 20.0,
        duration: Duration::from_secs(2),
        ..common::small_plan()
    };
    plan.shape.churn = CHURN;
    plan
}

/// Runs `transport` under churn and checks what every transport must show.
async fn run(transport: Transport, plan: &LoadPlan) -> ClientOutcome {
    let label = transport.kind().label();
    let (addr, stop) = common::start_server(transport.kind()).await;
    let target = Target::new(transport, addr).unwrap();
    let o = drive(plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    stop.cancel();
    let c = &o.recorder.counts;
    let asked = u64::from(CHURN) * 2;
    assert_eq!((c.churned, c.reconnects), (asked, asked), "{label}");
    assert_eq!((c.io_errors, c.connect_errors.total()), (0, 0), "{label}");
    assert_eq!(o.recorder.reconnect_us.len(), asked, "{label}");
    assert_eq!(o.messages_published, 40, "{label}");
    assert_eq!(c.delivery.duplicated, 0, "{label}");
    assert!(o.complete, "{label}");
    o
}

/// Resuming from a cursor or an event id, nothing is lost.
fn assert_nothing_lost(o: &ClientOutcome) {
    let d = o.recorder.counts.delivery;
    assert_eq!((d.delivered, d.lost), (800, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_loses_nothing_under_churn() {
    let hold = Duration::from_secs(30);
    assert_nothing_lost(&run(Transport::LongPoll { hold }, &plan()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_poll_loses_nothing_under_churn() {
    let interval = Duration::from_millis(100);
    assert_nothing_lost(&run(Transport::ShortPoll { interval }, &plan()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_loses_nothing_under_churn() {
    assert_nothing_lost(&run(Transport::Sse, &plan()).await);
}

/// A resumable WebSocket client comes back after the last message it read, and the server
/// replays what it missed: nothing lost, nothing twice, though every rejoin crossed a 200 ms
/// round trip while messages went out every 50 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumable_websocket_loses_nothing_under_churn() {
    let mut plan = plan();
    plan.shape.network.delay = Duration::from_millis(200);
    let ws = Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
        resume: true,
    };
    let o = run(ws, &plan).await;
    assert_nothing_lost(&o);
    // Nothing was overwritten in the ring meanwhile: no gap announced.
    assert_eq!(o.recorder.counts.missed_reported, 0);
}

/// A WebSocket client rejoins fresh: what was broadcast while it was away is lost, and counted.
/// A 200 ms emulated round trip makes every rejoin take at least that long, so each close during
/// publishing (one message every 50 ms) misses messages: losses cannot be zero by luck of timing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_rejoins_fresh_under_churn() {
    let rtt = Duration::from_millis(200);
    // What was lost never comes: a short drain (past the close handshake and the round trip of
    // the last deliveries).
    let mut plan = LoadPlan {
        drain: Duration::from_secs(2),
        ..plan()
    };
    plan.shape.network.delay = rtt;
    for client in [WsClient::Wsbench, WsClient::Tungstenite] {
        let ws = Transport::Ws {
            ping_interval: None,
            client,
            resume: false,
        };
        let o = run(ws, &plan).await;
        let d = o.recorder.counts.delivery;
        // Every rejoin crossed the round trip (the histogram's buckets are within 0.1 %).
        let rejoins = &o.recorder.reconnect_us;
        assert!(
            rejoins.min() >= rtt.as_micros() as u64 * 999 / 1000,
            "{client:?}: a rejoin took {} µs",
            rejoins.min()
        );
        assert!(d.lost > 0, "{client:?}: {d:?}");
        assert_eq!(d.delivered + d.lost, 800, "{client:?}");
    }
}

/// The three new shapes through `wsbench run`, from the scenario file to `summary.csv`: churn,
/// a Poisson pattern and a network delay together.
#[test]
fn a_scenario_with_churn_poisson_and_delay_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("shapes.toml");
    std::fs::write(
        &scenario,
        r#"duration = "2s"
drain = "5s"
seed = 3
[clients]
subscribers = 20
churn = 10
[publish]
publishers = 2
rate = 20
pattern = "poisson"
[transports.longpoll]
[transports.sse]
[network]
delay = "20ms"
"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let output = std::process::Command::new(common::wsbench_bin())
        .args(["run", scenario.to_str().unwrap(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let rows: Vec<wsbench::report::Summary> = csv::Reader::from_path(out.join("summary.csv"))
        .unwrap()
        .deserialize()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let t = &row.transport;
        assert_eq!(
            (row.churned, row.reconnects, row.io_errors),
            (20, 20, 0),
            "{t}"
        );
        assert!(row.reconnect_p50_us.is_some(), "{t}");
        assert_eq!((row.lost, row.duplicated), (0, 0), "{t}");
        assert_eq!(row.deliveries, row.deliveries_expected, "{t}");
        assert_eq!(row.messages_published, row.messages_scheduled, "{t}");
        // A Poisson count: 40 on average.
        assert!(
            (15..=70).contains(&row.messages_published),
            "{t}: {}",
            row.messages_published
        );
        assert!(row.latency_p50_us.unwrap() >= 20_000, "{t}");
        assert!(row.connect_p50_us.unwrap() >= 40_000, "{t}");
    }
    let as_run = std::fs::read_to_string(out.join("scenario.toml")).unwrap();
    assert!(
        as_run.contains("pattern = \"poisson\"") && as_run.contains("churn = 10"),
        "{as_run}"
    );
}
