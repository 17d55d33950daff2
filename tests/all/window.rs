//! Saturation mode (`[publish] window = N`): the publishers keep at most N messages in flight
//! (published, not yet at every subscriber) by the generator's own count, fill the window under
//! load, and nothing is lost or given up on, over every kind of push.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wsbench::client::shard::{self, ShardError};
use wsbench::client::{ClientOutcome, LoadPlan, Target, drive};
use wsbench::scenario::{Transport, WsClient, parse};

/// Messages in flight at most.
const WINDOW: u32 = 4;

/// 20 subscribers, 4 of them publishing, as fast as a window of [`WINDOW`] allows for 1 s.
fn plan() -> LoadPlan {
    let mut plan = LoadPlan {
        subscribers: 20,
        publishers: 4,
        rate: 0.0,
        duration: Duration::from_secs(1),
        ..common::small_plan()
    };
    plan.shape.window = Some(WINDOW);
    plan
}

async fn run(transport: Transport) -> ClientOutcome {
    run_on(transport, false).await
}

async fn run_on(transport: Transport, http2: bool) -> ClientOutcome {
    let label = transport.kind().label();
    let (addr, stop) = common::start_server(transport.kind()).await;
    let mut target = Target::new(transport, addr).unwrap();
    target.http2 = http2;
    let o = drive(&plan(), &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    stop.cancel();
    let w = o.window.unwrap();
    // Never more than N in flight, and N reached: the publishers waited on the window.
    assert_eq!(w.max_in_flight, WINDOW, "{label}: {w:?}");
    assert_eq!(w.size, WINDOW, "{label}");
    // Every message reached every subscriber: none given up on, none left over.
    assert_eq!((w.expired, w.in_flight), (0, 0), "{label}: {w:?}");
    assert_eq!(w.done, w.entered, "{label}: {w:?}");
    // No warmup: every message is in the measured window.
    assert_eq!(w.entered, o.messages_published, "{label}: {w:?}");
    assert!(o.messages_published > u64::from(WINDOW), "{label}: {w:?}");
    assert_eq!(o.messages_scheduled, o.messages_published, "{label}");
    let d = o.recorder.counts.delivery;
    assert_eq!(o.subscribers_connected, 20, "{label}");
    let expected = 20 * o.messages_published;
    assert_eq!((d.delivered, d.lost), (expected, 0), "{label}: {d:?}");
    assert_eq!(d.duplicated, 0, "{label}");
    assert!(o.complete, "{label}");
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_keeps_the_window() {
    run(Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
        resume: false,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_keeps_the_window() {
    run(Transport::LongPoll {
        hold: Duration::from_secs(30),
    })
    .await;
}

/// Over HTTP/2 a publisher keeps several POSTs unanswered: the ones still unanswered when the
/// window closes are counted once answered, before the publisher reports its total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_over_http2_keeps_the_window() {
    let hold = Duration::from_secs(30);
    run_on(Transport::LongPoll { hold }, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_keeps_the_window() {
    run(Transport::Sse).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_keeps_the_window() {
    run(Transport::Raw { resume: false }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_poll_keeps_the_window() {
    run(Transport::ShortPoll {
        interval: Duration::from_millis(20),
    })
    .await;
}

/// WebSocket connections closed by churn rejoin fresh and miss what was in flight and what was
/// published while they were away: the window stops waiting for them meanwhile, so nothing is
/// given up on, and their later arrivals of those messages are not counted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connections_do_not_stall_the_window() {
    let mut plan = LoadPlan {
        duration: Duration::from_secs(2),
        // The bound on a message in flight: the drain, at least 1 s.
        drain: Duration::from_secs(1),
        ..plan()
    };
    plan.shape.churn = 4;
    let (addr, stop) = common::start_server(wsbench::protocol::TransportKind::Ws).await;
    let transport = Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
        resume: false,
    };
    let target = Target::new(transport, addr).unwrap();
    let o = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    stop.cancel();
    let w = o.window.unwrap();
    let c = &o.recorder.counts;
    assert_eq!(c.churned, 8, "{w:?}");
    assert!(w.max_in_flight <= WINDOW, "{w:?}");
    // Every message reached every subscriber connected while it was in flight: none waited for
    // one that was away, so none was given up on.
    assert_eq!((w.done, w.expired, w.in_flight), (w.entered, 0, 0), "{w:?}");
    assert_eq!(w.entered, o.messages_published, "{w:?}");
    // The rejoined connections did miss messages, counted as lost as always.
    assert!(c.delivery.lost > 0, "{c:?}");
    // The window kept going: more messages went than it holds.
    assert!(o.messages_published > u64::from(WINDOW), "{w:?}");
    assert!(o.complete);
}

/// A sharded run cannot keep one window: refused, naming the window.
#[test]
fn sharded_runs_refuse_a_window() {
    let scenario = parse(
        std::path::Path::new("w.toml"),
        "duration = \"1s\"\n[clients]\nsubscribers = 4\n[publish]\nwindow = 8\n\
         [transports.ws]\n[target]\nws = \"ws://127.0.0.1:9/ws\"\n",
    )
    .unwrap();
    let spec = "0/2".parse().unwrap();
    let start = "2030-01-01T00:00:00Z".parse().unwrap();
    let e = shard::plan(spec, Some(&start), &scenario).unwrap_err();
    assert!(matches!(e, ShardError::Window(8)), "{e}");
    assert!(e.to_string().contains("[publish] window = 8"), "{e}");
}
