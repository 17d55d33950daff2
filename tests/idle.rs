//! The idle phase (`[clients] idle_phase`): every connection open and quiet before publishing
//! starts; its bytes are the heartbeats, counted exactly from what each protocol puts on the wire.
//!
//! Ten subscribers connect in a few milliseconds; the server's heartbeat timers start with each
//! connection, and the phase starts 50 ms after the last one connected, so over a 1 s idle phase
//! a 300 ms heartbeat beats at 300, 600 and 900 ms of every connection — three times each, with
//! 100 ms or more to spare at either end.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wsbench::client::{ClientOutcome, LoadPlan, Phase, Target, drive};
use wsbench::metrics::{IdleCost, WireBytes};
use wsbench::protocol::TransportKind;
use wsbench::scenario::{Transport, WsClient};
use wsbench::server::Limits;

const SUBSCRIBERS: u32 = 10;
const BEAT: Duration = Duration::from_millis(300);

fn plan(idle: Duration) -> LoadPlan {
    let mut plan = LoadPlan {
        subscribers: SUBSCRIBERS,
        publishers: 1,
        rate: 10.0,
        duration: Duration::from_millis(500),
        ..common::small_plan()
    };
    plan.shape.idle_phase = Some(idle);
    plan
}

/// Runs `plan` against the server at `addr` and returns the outcome and the phases seen.
async fn run(
    transport: Transport,
    addr: SocketAddr,
    plan: &LoadPlan,
) -> (ClientOutcome, Vec<Phase>) {
    let target = Target::new(transport, addr).unwrap();
    let mut phases = Vec::new();
    let outcome = drive(plan, &target, &CancellationToken::new(), &mut |p| {
        if !matches!(p, Phase::Tick(_) | Phase::ConnectProgress { .. }) {
            phases.push(p);
        }
    })
    .await
    .unwrap();
    (outcome, phases)
}

/// The idle phase's client figures, after checking the run around it went as usual.
fn idle_of(o: &ClientOutcome, phases: &[Phase]) -> IdleCost {
    let d = o.recorder.counts.delivery;
    assert_eq!(d.lost, 0);
    assert_eq!(d.delivered, o.messages_published * u64::from(SUBSCRIBERS));
    let idle = o.idle.unwrap();
    let at = |want: fn(&Phase) -> bool| phases.iter().position(want).unwrap();
    assert!(at(|p| matches!(p, Phase::Connected { .. })) < at(|p| matches!(p, Phase::Idle { .. })));
    assert!(at(|p| matches!(p, Phase::IdleOver)) < at(|p| matches!(p, Phase::Measuring)));
    assert!(idle.span >= Duration::from_secs(1));
    idle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_idle_bytes_are_the_pings_and_pongs() {
    let limits = Limits {
        ws_ping: Some(BEAT),
        ..Limits::default()
    };
    let (addr, stop) = common::start_server_with(TransportKind::Ws, limits).await;
    let ws = Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
    };
    let (o, phases) = run(ws, addr, &plan(Duration::from_secs(1))).await;
    stop.cancel();
    let idle = idle_of(&o, &phases);
    assert_eq!(idle.connections, SUBSCRIBERS);
    // RFC 6455: the server's empty ping is 2 bytes; the client's pong to it is masked: 2 + 4.
    let beats = 3 * u64::from(SUBSCRIBERS);
    assert_eq!(
        idle.wire,
        WireBytes {
            up: beats * 6,
            down: beats * 2
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_idle_bytes_are_the_keepalive_comments() {
    let limits = Limits {
        sse_keepalive: Some(BEAT),
        ..Limits::default()
    };
    let (addr, stop) = common::start_server_with(TransportKind::Sse, limits).await;
    let (o, phases) = run(Transport::Sse, addr, &plan(Duration::from_secs(1))).await;
    stop.cancel();
    let idle = idle_of(&o, &phases);
    // The subscribers, and the publisher's own keep-alive connection (quiet: no bytes).
    assert_eq!(idle.connections, SUBSCRIBERS + 1);
    // ":\n\n" in an HTTP/1.1 chunk: "3\r\n" + 3 bytes + "\r\n".
    let beats = 3 * u64::from(SUBSCRIBERS);
    assert_eq!(
        idle.wire,
        WireBytes {
            up: 0,
            down: beats * 8
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_heartbeats_an_idle_websocket_costs_nothing() {
    let (addr, stop) = common::start_server(TransportKind::Ws).await;
    let ws = Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
    };
    let (o, phases) = run(ws, addr, &plan(Duration::from_secs(1))).await;
    stop.cancel();
    assert_eq!(idle_of(&o, &phases).wire, WireBytes::default());
}

/// A held long-poll is answered empty at its hold and sent again: over 1 s with a 400 ms hold
/// every subscriber makes two such exchanges (at 400 and 800 ms), over 0.6 s one — the same
/// bytes each time (the cursor stays 0 while nothing is published), so exactly twice the bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_idle_bytes_are_one_empty_exchange_per_hold() {
    let (addr, stop) = common::start_longpoll_server(Duration::from_millis(400)).await;
    let longpoll = || Transport::LongPoll {
        hold: Duration::from_millis(400),
    };
    let (two, phases) = run(longpoll(), addr, &plan(Duration::from_secs(1))).await;
    let two = idle_of(&two, &phases);
    let (one, _) = run(longpoll(), addr, &plan(Duration::from_millis(600))).await;
    stop.cancel();
    let one = one.idle.unwrap();
    assert!(one.wire.up > 0 && one.wire.down > 0);
    assert_eq!(one.wire.up % u64::from(SUBSCRIBERS), 0);
    assert_eq!(one.wire.down % u64::from(SUBSCRIBERS), 0);
    assert_eq!(
        two.wire,
        WireBytes {
            up: 2 * one.wire.up,
            down: 2 * one.wire.down
        }
    );
}

/// Idle connections (`[clients] idle`) sit in a room nobody publishes into through the measured
/// phase: they receive nothing (nothing misrouted), add nothing to the expected deliveries, and
/// pay only the heartbeats — in the idle phase as every other connection, after it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_hear_only_heartbeats() {
    const IDLE: u32 = 6;
    for kind in [
        TransportKind::Ws,
        TransportKind::LongPoll,
        TransportKind::Sse,
    ] {
        let limits = Limits {
            ws_ping: Some(BEAT),
            sse_keepalive: Some(BEAT),
            ..Limits::default()
        };
        let (addr, stop) = common::start_server_with(kind, limits).await;
        let transport = match kind {
            TransportKind::Ws => Transport::Ws {
                ping_interval: None,
                client: WsClient::Wsbench,
            },
            TransportKind::Sse => Transport::Sse,
            _ => Transport::LongPoll {
                hold: Duration::from_secs(30),
            },
        };
        let mut plan = plan(Duration::from_secs(1));
        plan.shape.idle = IDLE;
        let (o, phases) = run(transport, addr, &plan).await;
        stop.cancel();
        let idle = idle_of(&o, &phases);
        let c = &o.recorder.counts;
        assert_eq!((c.misrouted, c.foreign, c.io_errors), (0, 0, 0), "{kind:?}");
        assert_eq!(o.subscribers_connected, SUBSCRIBERS + IDLE, "{kind:?}");
        let publisher_connections = u32::from(kind != TransportKind::Ws);
        assert_eq!(
            idle.connections,
            SUBSCRIBERS + IDLE + publisher_connections,
            "{kind:?}"
        );
        let beats = 3 * u64::from(SUBSCRIBERS + IDLE);
        let expected = match kind {
            TransportKind::Ws => WireBytes {
                up: beats * 6,
                down: beats * 2,
            },
            TransportKind::Sse => WireBytes {
                up: 0,
                down: beats * 8,
            },
            // Held for 30 s: nothing moves in a 1 s idle phase.
            _ => WireBytes::default(),
        };
        assert_eq!(idle.wire, expected, "{kind:?}");
    }
}
