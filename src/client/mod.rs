//! The load generator: ramp-up, one task per simulated client, the publishers and the stop rules.
//!
//! [`drive`] runs one transport through its phases — connect (at `connect_rate`), warmup,
//! measure, drain — and returns what the clients recorded. Clients reach the server only over
//! sockets, each wrapped in a [`CountingStream`](crate::wire::CountingStream), so a server we did
//! not write is measured exactly like ours. Each client task owns its [`Inbox`]; they are merged
//! once at the end. Never prints or writes files: progress is reported through a callback.
//!
//! From the start of the measured phase to the end of the drain a 1 Hz sampler in the conductor
//! cuts the run into seconds: it swaps out the shared [`IntervalRecorder`]'s latency, reads the
//! [`WireMeter`], and reports each second as [`Phase::Tick`]; the seconds come back as the
//! outcome's [`TimeSeries`].

mod backoff;
pub mod conn;
mod failure;
mod h2exec;
mod http;
mod inbox;
pub mod longpoll;
mod publishing;
pub mod schedule;
pub mod source;
pub mod sse;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

pub use failure::ConnectError;
pub use inbox::Inbox;
use publishing::PublishTally;
pub use schedule::{Schedule, Timeline};

use crate::metrics::timeseries::Sample;
use crate::metrics::{
    FailureCounts, IntervalRecorder, PackedHistogram, Recorder, TimeSeries, WireBytes,
};
use crate::scenario::target::Endpoint;
use crate::scenario::{Scenario, Transport, TransportKind};
use crate::wire::WireMeter;
use longpoll::Pacing;

/// What the load looks like for one transport (the scenario's common fields).
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Receiving clients; publishers are among them.
    pub subscribers: u32,
    /// New connections per second during ramp-up.
    pub connect_rate: u32,
    /// Publishing clients.
    pub publishers: u32,
    /// Messages per second, all publishers together.
    pub rate: f64,
    /// Message size, envelope included.
    pub payload_bytes: usize,
    /// Publishing, not recorded.
    pub warmup: Duration,
    /// Publishing and recorded.
    pub duration: Duration,
    /// Longest wait for in-flight messages after the last publish.
    pub drain: Duration,
    /// Longest time one connection attempt (TCP + handshake or join) may take.
    pub connect_timeout: Duration,
    /// Waits between reconnection attempts after a connection is lost.
    pub reconnect: crate::scenario::Backoff,
    /// The last this-many subscribers pause after every read (slow consumers).
    pub slow_readers: u32,
    /// How long a slow reader pauses after each read.
    pub slow_read_pause: Duration,
}

impl LoadPlan {
    /// The plan a scenario describes.
    pub fn from_scenario(s: &Scenario) -> Self {
        LoadPlan {
            subscribers: s.clients.subscribers,
            connect_rate: s.clients.connect_rate,
            publishers: s.publish.publishers,
            rate: s.publish.rate,
            payload_bytes: s.publish.payload_bytes,
            warmup: s.warmup,
            duration: s.duration,
            drain: s.drain,
            connect_timeout: Duration::from_secs(10),
            reconnect: s.clients.reconnect,
            slow_readers: s.clients.slow_readers,
            slow_read_pause: s.clients.slow_read_pause,
        }
    }
}

/// Where the clients connect. Only loopback addresses are accepted: wsbench never aims load elsewhere.
#[derive(Debug, Clone)]
pub struct Target {
    /// Which protocol the clients speak, with its client-side options (e.g. short-poll interval).
    pub transport: Transport,
    /// The server's address.
    pub addr: SocketAddr,
    /// Where on the server each request goes.
    pub paths: Paths,
    /// Sent as `Authorization: Bearer <token>` on every request and upgrade, if the server wants one.
    pub token: Option<String>,
    /// HTTP transports: speak HTTP/2 (h2c with prior knowledge, or h2 by ALPN over TLS).
    pub http2: bool,
    /// Connect over TLS with this configuration (it trusts the server's certificate and offers
    /// the right ALPN protocol); `None`: plain TCP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The local addresses connections come from, in turn (shared: it counts what each made).
    pub sources: Arc<source::Sources>,
}

/// Request paths on the target server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// WebSocket upgrade.
    pub ws: String,
    /// Long- and short-poll reads.
    pub poll: String,
    /// HTTP publishing.
    pub publish: String,
    /// The SSE stream.
    pub events: String,
}

impl Default for Paths {
    /// The built-in servers' paths.
    fn default() -> Self {
        Paths {
            ws: crate::server::ws::PATH.into(),
            poll: "/poll".into(),
            publish: "/publish".into(),
            events: crate::server::sse::PATH.into(),
        }
    }
}

impl Target {
    /// A built-in server on a loopback address.
    pub fn new(transport: Transport, addr: SocketAddr) -> Result<Self, ClientError> {
        if !addr.ip().is_loopback() {
            return Err(ClientError::NotLoopback(addr));
        }
        Ok(Target {
            transport,
            addr,
            paths: Paths::default(),
            token: None,
            http2: false,
            tls: None,
            sources: Arc::default(),
        })
    }

    /// A server wsbench did not start, at a `[target]` endpoint (already known to be loopback).
    pub fn external(transport: Transport, endpoint: &Endpoint) -> Result<Self, ClientError> {
        let kind = transport.kind();
        let mut target = Target::new(transport, endpoint.addr)?;
        target.paths = Paths {
            ws: endpoint.path.clone(),
            poll: endpoint.http_path(kind, "poll"),
            publish: endpoint.http_path(kind, "publish"),
            events: endpoint.path.clone(),
        };
        Ok(target)
    }

    /// Which protocol the clients speak.
    pub fn kind(&self) -> TransportKind {
        self.transport.kind()
    }
}

/// Where a run stands; reported to the caller's callback at each change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Ramp-up started: `clients` connections will be opened.
    Connecting {
        /// Connections to open (subscribers plus separate publisher connections).
        clients: u32,
    },
    /// A connection attempt of the ramp-up ended (sent after each one).
    ConnectProgress {
        /// Connections that succeeded so far.
        ok: u32,
        /// Connections that failed or timed out so far.
        failed: u32,
    },
    /// Ramp-up ended.
    Connected {
        /// Connections that succeeded.
        ok: u32,
        /// Connections that failed or timed out.
        failed: u32,
    },
    /// Publishing, not recorded.
    Warmup,
    /// The measured phase started (sample resource usage now).
    Measuring,
    /// One more second of the measured phase or the drain (sent once a second).
    Tick(LiveStats),
    /// Publishing stopped; waiting for messages in flight.
    Draining,
    /// The measured window closed (sample resource usage now).
    Measured,
}

/// What the last second of the measured phase or drain looked like, for a live display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveStats {
    /// Time since the measured phase started.
    pub elapsed: Duration,
    /// In-window deliveries in the last second, per second.
    pub deliveries_per_s: f64,
    /// 99th percentile push latency of those deliveries, µs (`None` when there were none).
    pub latency_p99_us: Option<u64>,
    /// Deliveries still missing of the messages intended in the seconds that ended at least a
    /// second ago: published × subscribers − delivered. Late or lost; what is still missing after
    /// the drain is lost.
    pub missing: u64,
    /// Client connections open now.
    pub connections: u64,
}

/// Why a load run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The target is not on a loopback address; wsbench only loads 127.0.0.0/8 and ::1.
    #[error(
        "refusing to send load to {0}: only loopback addresses (127.0.0.0/8, [::1]) are allowed"
    )]
    NotLoopback(SocketAddr),
    /// No subscriber could connect: the server is down, refuses, or is not speaking this protocol.
    #[error(
        "no client could connect to {addr} ({failed} attempts: {kinds}); first error: {first_error}"
    )]
    NoneConnected {
        /// The target.
        addr: SocketAddr,
        /// Attempts made.
        failed: u32,
        /// The attempts by kind of failure.
        kinds: FailureCounts,
        /// What the first failure said.
        first_error: String,
    },
}

/// What the clients measured for one transport.
#[derive(Debug, Clone)]
pub struct ClientOutcome {
    /// All client recorders merged (subscribers and publishers).
    pub recorder: Recorder,
    /// Subscribers that connected (each was expected to receive every in-window message).
    pub subscribers_connected: u32,
    /// Messages published with an intended time inside the measured window.
    pub messages_published: u64,
    /// Publish slots inside the measured window: what the schedule asked for. More than
    /// `messages_published` when publishers could not keep up (the server stopped accepting).
    pub messages_scheduled: u64,
    /// How long the measured phase lasted.
    pub measured: Duration,
    /// Socket bytes from the start of the measured phase to the end of the drain.
    pub wire: WireBytes,
    /// Socket bytes during ramp-up.
    pub connect_wire: WireBytes,
    /// With TLS: the plaintext bytes above TLS over the same span as `wire`, so that
    /// `wire − wire_above_tls` is exactly what TLS added. `None` without TLS.
    pub wire_above_tls: Option<WireBytes>,
    /// TLS handshakes the clients made (ramp-up and reconnects, subscribers and publishers) and
    /// their summed duration; `(0, 0)` without TLS.
    pub tls_handshakes: (u64, Duration),
    /// Payload within `wire`: in-window messages published (up) and delivered (down).
    pub payload_wire: WireBytes,
    /// False when the run was cancelled before the drain ended.
    pub complete: bool,
    /// The measured phase and the drain, second by second.
    pub timeseries: TimeSeries,
}

/// What client tasks tell the conductor.
#[derive(Debug)]
enum Event {
    /// A connection attempt ended; `Err` carries the reason.
    Connected {
        /// A subscriber (true) or a publisher's own connection (false).
        subscriber: bool,
        /// What came of it.
        result: Result<(), ConnectError>,
    },
    /// A subscriber stopped receiving (complete, drain deadline, error or cancel).
    Finished,
}

/// Everything a client task shares with the conductor. Receivers are made per task from the senders.
#[derive(Debug)]
struct Ctx {
    plan: LoadPlan,
    target: Target,
    meter: Arc<WireMeter>,
    /// What every subscriber records per second; the sampler swaps it out.
    intervals: Arc<IntervalRecorder>,
    /// Round robin over the recorder's shards, one per connected subscriber.
    next_shard: AtomicUsize,
    /// With TLS: the plaintext bytes, counted above TLS.
    above_tls: Arc<WireMeter>,
    handshakes: conn::HandshakeMeter,
    timeline: watch::Sender<Option<Timeline>>,
    tally: PublishTally,
    events: mpsc::UnboundedSender<Event>,
    /// Stop receiving and publishing (drain over, or cancelled).
    stop: CancellationToken,
    /// Close connections: the measurement is over.
    close: CancellationToken,
}

impl Ctx {
    fn send(&self, event: Event) {
        // The conductor outlives every task; if it is gone, nobody is left to tell.
        let _ = self.events.send(event);
    }
}

/// Who is connecting: a subscriber (its connect time is recorded) or a publisher's own connection.
enum Joiner<'a> {
    Subscriber(&'a mut Inbox),
    Publisher(&'a mut Recorder),
}

/// A client's first connection: `attempt`, bounded by the connect timeout and reported to the
/// conductor. A subscriber's success records its connect time; a failure is counted and gives `None`.
async fn first_connect<T>(
    ctx: &Ctx,
    who: Joiner<'_>,
    attempt: impl std::future::Future<Output = Result<T, ConnectError>>,
) -> Option<T> {
    let started = Instant::now();
    let result = timeout(ctx.plan.connect_timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(ConnectError::timed_out()));
    let subscriber = matches!(who, Joiner::Subscriber(_));
    let recorder = match who {
        Joiner::Subscriber(inbox) => {
            if result.is_ok() {
                inbox.recorder.record_connect(started.elapsed());
                inbox.connected = true;
                let shard = ctx.next_shard.fetch_add(1, Ordering::Relaxed);
                inbox.attach(ctx.intervals.clone(), shard);
            }
            &mut inbox.recorder
        }
        Joiner::Publisher(recorder) => recorder,
    };
    let (value, reported) = match result {
        Ok(value) => (Some(value), Ok(())),
        Err(reason) => {
            recorder.connect_errors.add(reason.kind);
            (None, Err(reason))
        }
    };
    ctx.send(Event::Connected {
        subscriber,
        result: reported,
    });
    value
}

/// A slow reader's pause after each read: the socket is left unread meanwhile, so the server's
/// slow-consumer policy meets it.
async fn pause_if(slow: bool, ctx: &Ctx) {
    if slow {
        tokio::time::sleep(ctx.plan.slow_read_pause).await;
    }
}

/// Sleeps until `deadline`; false if cancelled first.
async fn wait_until(deadline: Instant, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = sleep_until(deadline) => true,
    }
}

/// Runs one transport's load from ramp-up to drain. `cancel` cuts it short (results are partial).
pub async fn drive(
    plan: &LoadPlan,
    target: &Target,
    cancel: &CancellationToken,
    on_phase: &mut dyn FnMut(Phase),
) -> Result<ClientOutcome, ClientError> {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let ctx = Arc::new(Ctx {
        plan: plan.clone(),
        target: target.clone(),
        meter: Arc::new(WireMeter::default()),
        intervals: Arc::new(IntervalRecorder::new(
            usize::try_from(plan.duration.as_nanos().div_ceil(1_000_000_000)).unwrap_or(0),
        )),
        next_shard: AtomicUsize::new(0),
        above_tls: Arc::new(WireMeter::default()),
        handshakes: conn::HandshakeMeter::default(),
        timeline: watch::Sender::new(None),
        tally: PublishTally::new(plan.publishers),
        events: events_tx,
        stop: cancel.child_token(),
        close: CancellationToken::new(),
    });
    let mut subscribers: JoinSet<Inbox> = JoinSet::new();
    let mut publishers: JoinSet<Recorder> = JoinSet::new();
    let ramp_start = Instant::now();
    let per_connection = Duration::from_secs_f64(1.0 / f64::from(plan.connect_rate));
    for i in 0..plan.subscribers {
        let slot = ramp_start + per_connection * i;
        let ctx = ctx.clone();
        let slow = i >= plan.subscribers - plan.slow_readers;
        match target.transport {
            Transport::Ws {
                ping_interval,
                client,
            } => subscribers.spawn(ws::subscriber(ctx, i, slot, ping_interval, client, slow)),
            Transport::LongPoll { .. } => subscribers.spawn(longpoll::subscriber(
                ctx,
                i.into(),
                slot,
                Pacing::Held,
                slow,
            )),
            Transport::ShortPoll { interval } => subscribers.spawn(longpoll::subscriber(
                ctx,
                i.into(),
                slot,
                Pacing::Every(interval),
                slow,
            )),
            Transport::Sse => subscribers.spawn(sse::subscriber(ctx, i.into(), slot, slow)),
        };
    }
    let mut connections = plan.subscribers;
    // Over HTTP every publisher has its own keep-alive connection for `POST /publish`; on
    // WebSocket a publisher sends on its subscriber connection.
    if target.kind() != TransportKind::Ws {
        for p in 0..plan.publishers {
            let slot = ramp_start + per_connection * p;
            publishers.spawn(http::publisher(ctx.clone(), p, slot));
        }
        connections += plan.publishers;
    }
    on_phase(Phase::Connecting {
        clients: connections,
    });

    let (mut ok, mut failed, mut first_error) = (0u32, 0u32, None);
    let mut kinds = FailureCounts::default();
    let mut subscribers_ok = 0u32;
    let mut finished = 0u32;
    while ok + failed < connections {
        let event = tokio::select! {
            _ = cancel.cancelled() => break,
            e = events.recv() => e,
        };
        match event {
            Some(Event::Connected { subscriber, result }) => {
                match result {
                    Ok(()) => {
                        ok += 1;
                        subscribers_ok += u32::from(subscriber);
                    }
                    Err(e) => {
                        failed += 1;
                        kinds.add(e.kind);
                        first_error.get_or_insert(e.message);
                    }
                }
                on_phase(Phase::ConnectProgress { ok, failed });
            }
            Some(Event::Finished) => finished += 1,
            None => break,
        }
    }
    on_phase(Phase::Connected { ok, failed });
    let connect_wire = ctx.meter.read();
    let connect_above = ctx.above_tls.read();
    if subscribers_ok == 0 && !cancel.is_cancelled() {
        ctx.stop.cancel();
        ctx.close.cancel();
        subscribers.shutdown().await;
        publishers.shutdown().await;
        return Err(ClientError::NoneConnected {
            addr: target.addr,
            failed,
            kinds,
            first_error: first_error.unwrap_or_else(|| "no attempt finished".into()),
        });
    }

    let publish_start = Instant::now() + Duration::from_millis(10);
    let measure_start = publish_start + plan.warmup;
    let timeline = Timeline {
        epoch: ramp_start,
        publish_start,
        measure_start,
        measure_end: measure_start + plan.duration,
    };
    ctx.timeline.send_replace(Some(timeline));
    if !plan.warmup.is_zero() {
        on_phase(Phase::Warmup);
    }
    let mut complete = wait_until(measure_start, cancel).await;
    // With no warmup the first publish slot is the window's first instant and would race this
    // reading; nothing is in flight before the timeline is fixed, so the ramp's end is exact.
    let (wire_start, above_start) = if plan.warmup.is_zero() {
        (connect_wire, connect_above)
    } else {
        (ctx.meter.read(), ctx.above_tls.read())
    };
    let mut sampler = Sampler::new(measure_start, wire_start, u64::from(subscribers_ok));
    on_phase(Phase::Measuring);
    complete = complete && {
        let end = timeline.measure_end;
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break false,
                _ = sleep_until(sampler.next) => on_phase(Phase::Tick(sampler.tick(&ctx))),
                _ = sleep_until(end) => break true,
            }
        }
    };
    let measured = Instant::now().min(timeline.measure_end) - measure_start.min(Instant::now());
    on_phase(Phase::Draining);

    // Drain: every connected subscriber reports Finished when it has all it expects, at the
    // deadline, or on error. Stop receiving everywhere at the deadline.
    let deadline = timeline.measure_end + plan.drain;
    while finished < subscribers_ok {
        tokio::select! {
            e = events.recv() => match e {
                Some(Event::Finished) => finished += 1,
                Some(Event::Connected { .. }) => {}
                None => break,
            },
            _ = ctx.stop.cancelled() => break,
            _ = sleep_until(deadline) => {
                ctx.stop.cancel();
            }
            _ = sleep_until(sampler.next) => on_phase(Phase::Tick(sampler.tick(&ctx))),
        }
    }
    ctx.stop.cancel();
    // Let the remaining subscribers notice the stop before the bytes are read.
    let settle = Instant::now() + Duration::from_secs(1);
    while finished < subscribers_ok {
        tokio::select! {
            e = events.recv() => match e {
                Some(Event::Finished) => finished += 1,
                Some(_) => {}
                None => break,
            },
            _ = sleep_until(settle) => break,
            _ = sleep_until(sampler.next) => on_phase(Phase::Tick(sampler.tick(&ctx))),
        }
    }
    let wire_end = ctx.meter.read();
    let wire = wire_end.since(wire_start);
    let above = ctx.above_tls.read().since(above_start);
    // The last second ends at the same reading, so the seconds' bytes add up to `wire` exactly.
    sampler.tick_at(&ctx, wire_end);
    on_phase(Phase::Measured);
    complete = complete && !cancel.is_cancelled();

    ctx.close.cancel();
    let (inboxes, recorders) = collect(subscribers, publishers).await;
    // Deliveries recorded after the last tick (a batch being handled at the stop) join the last second.
    let mut samples = sampler.samples;
    if let Some(last) = samples.last_mut() {
        let late = ctx.intervals.take_latency();
        if !late.is_empty() {
            let mut merged = last.latency_us.unpack();
            merged
                .add(late)
                .expect("auto-resizing histograms of equal precision always merge");
            last.latency_us = PackedHistogram::pack(&merged);
        }
    }
    let messages_published = ctx.tally.in_window();
    // The slots of the window as measured: an interrupted run asked for fewer.
    let measured_window = Timeline {
        measure_end: measure_start + measured,
        ..timeline
    };
    let messages_scheduled = (0..plan.publishers)
        .map(|p| {
            Schedule::new(p, plan.publishers, plan.rate, &measured_window)
                .in_window_slots(&measured_window)
        })
        .sum();
    let mut recorder = Recorder::default();
    let mut subscribers_connected = 0;
    for inbox in inboxes {
        // Only a connected subscriber was expected to receive anything.
        let expected = if inbox.connected {
            subscribers_connected += 1;
            messages_published
        } else {
            0
        };
        recorder.merge(&inbox.finish(expected));
    }
    for r in &recorders {
        recorder.merge(r);
    }
    let payload = plan.payload_bytes as u64;
    let timeseries = TimeSeries::new(
        sampler.start_unix,
        samples,
        &ctx.intervals.by_intended(),
        u64::from(subscribers_connected),
    );
    Ok(ClientOutcome {
        timeseries,
        payload_wire: WireBytes {
            up: messages_published * payload,
            down: recorder.delivery.delivered * payload,
        },
        recorder,
        subscribers_connected,
        messages_published,
        messages_scheduled,
        measured,
        wire,
        connect_wire,
        wire_above_tls: target.tls.is_some().then_some(above),
        tls_handshakes: ctx.handshakes.read(),
        complete,
    })
}

/// The 1 Hz sampler of the measured phase and the drain, run by the conductor between its waits.
#[derive(Debug)]
struct Sampler {
    /// Start of the measured phase.
    start: Instant,
    /// Wall-clock time of `start`, since the Unix epoch.
    start_unix: Duration,
    /// When the next second ends.
    next: Instant,
    /// When the last second ended, and the meter then.
    last_at: Instant,
    last_wire: WireBytes,
    /// Subscribers expected to receive every message.
    subscribers: u64,
    samples: Vec<Sample>,
}

impl Sampler {
    fn new(start: Instant, wire_start: WireBytes, subscribers: u64) -> Self {
        let since_start = Instant::now().saturating_duration_since(start);
        let start_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(since_start);
        Sampler {
            start,
            start_unix,
            next: start + Duration::from_secs(1),
            last_at: start,
            last_wire: wire_start,
            subscribers,
            samples: Vec::new(),
        }
    }

    /// Ends the current second now: swaps out its latency, reads the meter and the connections.
    fn tick(&mut self, ctx: &Ctx) -> LiveStats {
        self.tick_at(ctx, ctx.meter.read())
    }

    /// [`Sampler::tick`] with the meter's reading taken by the caller.
    fn tick_at(&mut self, ctx: &Ctx, wire: WireBytes) -> LiveStats {
        let now = Instant::now();
        let latency_us = ctx.intervals.take_latency();
        let duration = now.saturating_duration_since(self.last_at);
        let elapsed = now.saturating_duration_since(self.start);
        let connections = ctx.meter.open_streams();
        let stats = LiveStats {
            elapsed,
            deliveries_per_s: latency_us.len() as f64 / duration.as_secs_f64().max(1e-3),
            latency_p99_us: (!latency_us.is_empty()).then(|| latency_us.value_at_quantile(0.99)),
            // Seconds that ended at least a second ago.
            missing: ctx.intervals.missing(
                usize::try_from(elapsed.as_secs().saturating_sub(1)).unwrap_or(usize::MAX),
                self.subscribers,
            ),
            connections,
        };
        self.samples.push(Sample {
            duration,
            latency_us: PackedHistogram::pack(&latency_us),
            wire: wire.since(self.last_wire),
            connections,
        });
        self.last_at = now;
        self.last_wire = wire;
        while self.next <= now {
            self.next += Duration::from_secs(1);
        }
        stats
    }
}

/// Waits for every client task after `close`; a task still running after a grace period is
/// aborted (its figures are lost, which the caller sees as fewer subscribers).
async fn collect(
    mut subscribers: JoinSet<Inbox>,
    mut publishers: JoinSet<Recorder>,
) -> (Vec<Inbox>, Vec<Recorder>) {
    let grace = Instant::now() + Duration::from_secs(5);
    let mut inboxes = Vec::with_capacity(subscribers.len());
    while let Ok(Some(joined)) = tokio::time::timeout_at(grace, subscribers.join_next()).await {
        if let Ok(inbox) = joined {
            inboxes.push(inbox);
        }
    }
    subscribers.shutdown().await;
    let mut recorders = Vec::with_capacity(publishers.len());
    while let Ok(Some(joined)) = tokio::time::timeout_at(grace, publishers.join_next()).await {
        if let Ok(recorder) = joined {
            recorders.push(recorder);
        }
    }
    publishers.shutdown().await;
    (inboxes, recorders)
}
