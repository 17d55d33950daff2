//! `[network] delay`: every client's bytes cross an emulated round trip, so every transport pays
//! what it would on a real network — push latency at least the round trip (the publisher's half
//! and the subscriber's half), connect time at least the handshake's round trips — while the
//! bytes on the wire stay exactly what they were on loopback.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wsbench::client::{ClientOutcome, LoadPlan, Target, drive};
use wsbench::scenario::{Network, Transport, WsClient};

const RTT: Duration = Duration::from_millis(100);

/// 10 subscribers (2 publishing) at 10 msg/s for 1 s: 10 messages, 100 deliveries. Each HTTP
/// publisher sends every 200 ms, more than its POST's round trip.
fn plan(delay: Duration) -> LoadPlan {
    let mut plan = LoadPlan {
        subscribers: 10,
        publishers: 2,
        rate: 10.0,
        duration: Duration::from_secs(1),
        ..common::small_plan()
    };
    plan.shape.network = Network {
        delay,
        ..Network::default()
    };
    plan
}

async fn run(transport: Transport, plan: &LoadPlan) -> ClientOutcome {
    let (addr, stop) = common::start_server(transport.kind()).await;
    let target = Target::new(transport, addr).unwrap();
    let o = drive(plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    stop.cancel();
    let d = o.recorder.counts.delivery;
    assert_eq!((o.messages_published, d.delivered, d.lost), (10, 100, 0));
    o
}

/// The figures every transport must show behind a 100 ms round trip.
fn assert_pays_the_round_trip(o: &ClientOutcome, label: &str) {
    // The publisher's bytes take half the round trip to the server, the subscriber's the other half.
    let min_latency = o.recorder.latency_us.min();
    assert!(
        min_latency >= 100_000,
        "{label}: min latency {min_latency} µs"
    );
    // TCP's handshake, then the upgrade, the join poll or the stream's head: two round trips.
    let min_connect = o.recorder.connect_us.min();
    assert!(
        min_connect >= 200_000,
        "{label}: min connect {min_connect} µs"
    );
    if !o.recorder.publish_rtt_us.is_empty() {
        let min_post = o.recorder.publish_rtt_us.min();
        assert!(
            min_post >= 100_000,
            "{label}: min POST round trip {min_post} µs"
        );
    }
}

fn ws() -> Transport {
    Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
        resume: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_pays_the_round_trip_with_the_same_bytes() {
    let delayed = run(ws(), &plan(RTT)).await;
    assert_pays_the_round_trip(&delayed, "ws");
    // The same run on loopback as it is: the very same bytes (one frame per message, however
    // the two runs were timed).
    let plain = run(ws(), &plan(Duration::ZERO)).await;
    assert_eq!(delayed.wire, plain.wire);
    assert_eq!(delayed.connect_wire, plain.connect_wire);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_pays_the_round_trip_with_the_same_bytes() {
    let delayed = run(Transport::Sse, &plan(RTT)).await;
    assert_pays_the_round_trip(&delayed, "sse");
    let plain = run(Transport::Sse, &plan(Duration::ZERO)).await;
    assert_eq!(delayed.connect_wire, plain.connect_wire);
    assert_eq!(delayed.wire.up, plain.wire.up);
    // Down, the events are the same bytes, but the server sends the events it finds pending
    // together in one HTTP/1.1 chunk, and how many were pending at once depends on timing: the
    // two runs may differ by chunk framing only, at most "FFF\r\n" + "\r\n" (7 bytes) per
    // delivery.
    let framing = 7 * delayed.recorder.counts.delivery.delivered;
    assert!(
        delayed.wire.down.abs_diff(plain.wire.down) <= framing,
        "down: {} with the delay, {} without",
        delayed.wire.down,
        plain.wire.down
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_pays_the_round_trip() {
    let hold = Duration::from_secs(30);
    let o = run(Transport::LongPoll { hold }, &plan(RTT)).await;
    assert_pays_the_round_trip(&o, "longpoll");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_poll_pays_the_round_trip() {
    let interval = Duration::from_millis(200);
    let o = run(Transport::ShortPoll { interval }, &plan(RTT)).await;
    assert_pays_the_round_trip(&o, "shortpoll");
}
