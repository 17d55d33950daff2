//! The idle phase (`[clients] idle_phase`): every connection open and quiet before publishing
//! starts; its bytes are the heartbeats, counted exactly from what each protocol puts on the wire.
//!
//! The server's heartbeat timer starts with each connection; the phase starts 50 ms after the
//! last one connected. How many beats of a connection fall in the phase follows from the phase's
//! recorded length and from when the connection was made relative to the phase's start, which
//! the test brackets with its own marks on the same clock (when it called the run, when every
//! connection was up, when the phase began). With a 1 s phase and a 300 ms beat that is three
//! beats per connection on an idle machine; a loaded one may stretch the phase, and then the
//! exact count the recorded figures allow is what is asserted. The tests take turns (they would
//! otherwise load the machine five at a time).

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;
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

/// One test at a time: each runs its own server and clients on real timers.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// When, on the run's clock, the test called the run, saw every connection up, and saw the
/// idle phase begin: a connection's timer started between the first two.
#[derive(Debug, Clone, Copy)]
struct Marks {
    called: Instant,
    connected: Instant,
    idle: Instant,
}

impl Marks {
    /// The fewest and most beats (or held polls answered) of period `every` that one connection
    /// can have had in a phase of `span`. A connection made `d` before the phase began has its
    /// beats at `k × every − d` from the start of the phase; `d` lies between `idle − connected`
    /// and `idle − called`.
    fn beats(&self, span: Duration, every: Duration) -> (u64, u64) {
        let (lo, hi) = (self.idle - self.connected, self.idle - self.called);
        let count = |d: Duration| {
            let per = every.as_micros();
            ((span + d).as_micros() / per - d.as_micros() / per) as u64
        };
        let mut d = lo;
        let (mut fewest, mut most) = (count(hi), count(hi));
        while d < hi {
            fewest = fewest.min(count(d));
            most = most.max(count(d));
            d += Duration::from_micros(100);
        }
        (fewest, most)
    }
}

/// Runs `plan` against the server at `addr` and returns the outcome, the phases seen and the
/// test's marks.
async fn run(
    transport: Transport,
    addr: SocketAddr,
    plan: &LoadPlan,
) -> (ClientOutcome, Vec<Phase>, Marks) {
    let target = Target::new(transport, addr).unwrap();
    let mut phases = Vec::new();
    let called = Instant::now();
    let mut marks = Marks {
        called,
        connected: called,
        idle: called,
    };
    let outcome = drive(plan, &target, &CancellationToken::new(), &mut |p| {
        match p {
            Phase::Connected { .. } => marks.connected = Instant::now(),
            Phase::Idle { .. } => marks.idle = Instant::now(),
            _ => {}
        }
        if !matches!(p, Phase::Tick(_) | Phase::ConnectProgress { .. }) {
            phases.push(p);
        }
    })
    .await
    .unwrap();
    (outcome, phases, marks)
}

/// `connections` each beat `fewest..=most` times (from [`Marks::beats`]): the phase's `wire`
/// must be a whole number of beats in that range, each `up` bytes up and `down` bytes down.
fn assert_beats(wire: WireBytes, (fewest, most): (u64, u64), connections: u32, up: u64, down: u64) {
    let n = u64::from(connections);
    let beats = wire.down / down;
    eprintln!("{connections} connections × {fewest}..={most} beats allowed, {beats} counted");
    assert_eq!(wire.down % down, 0, "{wire:?}");
    assert!(
        (n * fewest..=n * most).contains(&beats),
        "{beats} beats, {connections} connections × {fewest}..={most}: {wire:?}"
    );
    // Each ping is answered by its pong as soon as it is read.
    assert_eq!(wire.up, beats * up, "{wire:?}");
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
    let _turn = TURN.lock().await;
    let limits = Limits {
        ws_ping: Some(BEAT),
        ..Limits::default()
    };
    let (addr, stop) = common::start_server_with(TransportKind::Ws, limits).await;
    let ws = Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
        resume: false,
    };
    let (o, phases, marks) = run(ws, addr, &plan(Duration::from_secs(1))).await;
    stop.cancel();
    let idle = idle_of(&o, &phases);
    assert_eq!(idle.connections, SUBSCRIBERS);
    // RFC 6455: the server's empty ping is 2 bytes; the client's pong to it is masked: 2 + 4.
    let beats = marks.beats(idle.span, BEAT);
    assert_beats(idle.wire, beats, SUBSCRIBERS, 6, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_idle_bytes_are_the_keepalive_comments() {
    let _turn = TURN.lock().await;
    let limits = Limits {
        sse_keepalive: Some(BEAT),
        ..Limits::default()
    };
    let (addr, stop) = common::start_server_with(TransportKind::Sse, limits).await;
    let (o, phases, marks) = run(Transport::Sse, addr, &plan(Duration::from_secs(1))).await;
    stop.cancel();
    let idle = idle_of(&o, &phases);
    // The subscribers, and the publisher's own keep-alive connection (quiet: no bytes).
    assert_eq!(idle.connections, SUBSCRIBERS + 1);
    // ":\n\n" in an HTTP/1.1 chunk: "3\r\n" + 3 bytes + "\r\n"; nothing goes up.
    let beats = marks.beats(idle.span, BEAT);
    assert_beats(idle.wire, beats, SUBSCRIBERS, 0, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_heartbeats_an_idle_websocket_costs_nothing() {
    let _turn = TURN.lock().await;
    let (addr, stop) = common::start_server(TransportKind::Ws).await;
    let ws = Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
        resume: false,
    };
    let (o, phases, _) = run(ws, addr, &plan(Duration::from_secs(1))).await;
    stop.cancel();
    assert_eq!(idle_of(&o, &phases).wire, WireBytes::default());
}

/// A held long-poll is answered empty at its hold and sent again: over 1 s with a 400 ms hold
/// every subscriber makes two such exchanges (at 400 and 800 ms), over 0.6 s one — the same
/// bytes each time (the cursor stays 0 while nothing is published). How many each run had
/// follows from its recorded phase as the heartbeats do; the bytes must be that many times one
/// exchange's, the same exchange in both runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_idle_bytes_are_one_empty_exchange_per_hold() {
    let _turn = TURN.lock().await;
    let hold = Duration::from_millis(400);
    let (addr, stop) = common::start_longpoll_server(hold).await;
    let longpoll = || Transport::LongPoll { hold };
    let (two, phases, marks_two) = run(longpoll(), addr, &plan(Duration::from_secs(1))).await;
    let two = idle_of(&two, &phases);
    let (one, _, marks_one) = run(longpoll(), addr, &plan(Duration::from_millis(600))).await;
    stop.cancel();
    let one = one.idle.unwrap();
    let n = u64::from(SUBSCRIBERS);
    let (fewest_one, most_one) = marks_one.beats(one.span, hold);
    let (fewest_two, most_two) = marks_two.beats(two.span, hold);
    let exchange = (n * fewest_one..=n * most_one)
        .filter(|&e| e > 0 && one.wire.up % e == 0 && one.wire.down % e == 0)
        .map(|e| (one.wire.up / e, one.wire.down / e))
        .find(|&(up, down)| {
            (n * fewest_two..=n * most_two).any(|e| {
                two.wire
                    == WireBytes {
                        up: e * up,
                        down: e * down,
                    }
            })
        });
    eprintln!(
        "exchanges per subscriber allowed: {fewest_one}..={most_one} in 0.6 s, \
         {fewest_two}..={most_two} in 1 s"
    );
    let Some((up, down)) = exchange else {
        panic!(
            "0.6 s: {:?} over {}..={} exchanges each, 1 s: {:?} over {}..={}",
            one.wire, fewest_one, most_one, two.wire, fewest_two, most_two
        );
    };
    assert!(up > 0 && down > 0);
}

/// Idle connections (`[clients] idle`) sit in a room nobody publishes into through the measured
/// phase: they receive nothing (nothing misrouted), add nothing to the expected deliveries, and
/// pay only the heartbeats — in the idle phase as every other connection, after it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_hear_only_heartbeats() {
    let _turn = TURN.lock().await;
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
                resume: false,
            },
            TransportKind::Sse => Transport::Sse,
            _ => Transport::LongPoll {
                hold: Duration::from_secs(30),
            },
        };
        let mut plan = plan(Duration::from_secs(1));
        plan.shape.idle = IDLE;
        let (o, phases, marks) = run(transport, addr, &plan).await;
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
        let beats = marks.beats(idle.span, BEAT);
        match kind {
            TransportKind::Ws => assert_beats(idle.wire, beats, SUBSCRIBERS + IDLE, 6, 2),
            TransportKind::Sse => assert_beats(idle.wire, beats, SUBSCRIBERS + IDLE, 0, 8),
            // Held for 30 s: nothing moves in a 1 s idle phase.
            _ => assert_eq!(idle.wire, WireBytes::default(), "{kind:?}"),
        }
    }
}
