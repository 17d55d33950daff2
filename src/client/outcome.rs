//! What a load run tells its caller: the phases as they pass (with live figures once a second),
//! the outcome at the end, or why it could not go on.

use std::net::SocketAddr;
use std::time::Duration;

use super::shard::StartError;
use crate::metrics::{
    FailureCounts, IdleCost, LagFigures, LatencyBuckets, Recorder, ShardFigures, TimeSeries,
    WireBytes,
};

/// Where a run stands; reported to the caller's callback at each change.
// `Tick` carries a second's latency buckets (~250 bytes): a copy a second and a few per phase
// change, never stored in bulk, so a box would cost more than it saves.
#[allow(clippy::large_enum_variant)]
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
    /// Every connection is up and quiet for the idle phase (sample resource usage now).
    Idle {
        /// How long it lasts.
        span: Duration,
    },
    /// The idle phase ended (sample resource usage now).
    IdleOver,
    /// Publishing, not recorded.
    Warmup,
    /// The measured phase started (sample resource usage now).
    Measuring,
    /// One more second of the measured phase or the drain (sent once a second).
    Tick(LiveStats),
    /// A `[faults] drop` tick reset this many subscribers' connections.
    Dropped(u64),
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
    /// In-window deliveries in the last second.
    pub deliveries: u64,
    /// Median push latency of those deliveries, µs (`None` when there were none).
    pub latency_p50_us: Option<u64>,
    /// Their latency in the fixed buckets of a live scrape; only when the plan asks for them
    /// ([`super::LoadPlan::live_buckets`]), else `None` and never computed.
    pub latency_buckets: Option<LatencyBuckets>,
    /// In-window messages published so far.
    pub published: u64,
    /// Client socket bytes since the measured phase started.
    pub wire: WireBytes,
}

/// Why a load run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The generator's worker threads could not be started.
    #[error("starting the load generator's threads: {0}")]
    Workers(#[source] std::io::Error),
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
    /// The common start (`--start-at`) could not be had: its file never held a time.
    #[error("waiting for the common start: {0}")]
    Start(#[from] StartError),
    /// The ramp-up ended after the common start, later than the warmup can absorb: messages of
    /// the measured window would have been sent late. Give the shards a later start.
    #[error(
        "the ramp-up ended {} after the common start (--start-at), more than the warmup ({}) can absorb: choose a later start",
        humantime::format_duration(*late),
        humantime::format_duration(*warmup)
    )]
    LateForStart {
        /// How late.
        late: Duration,
        /// The warmup.
        warmup: Duration,
    },
}

/// What the clients measured for one transport.
#[derive(Debug, Clone)]
pub struct ClientOutcome {
    /// All client recorders merged (subscribers and publishers).
    pub recorder: Recorder,
    /// Subscribers that connected (each was expected to receive every in-window message of its room).
    pub subscribers_connected: u32,
    /// Deliveries expected: per connected subscriber, the in-window messages published into its
    /// room. In a sharded run "every message" counts the other shards' messages as scheduled
    /// (see [`ShardFigures`]).
    pub deliveries_expected: u64,
    /// Messages published with an intended time inside the measured window.
    pub messages_published: u64,
    /// Publish slots inside the measured window: what the schedule asked for. More than
    /// `messages_published` when publishers could not keep up (the server stopped accepting).
    pub messages_scheduled: u64,
    /// How long the measured phase lasted.
    pub measured: Duration,
    /// How the ramp-up went.
    pub ramp: Ramp,
    /// Socket bytes from the start of the measured phase to the end of the drain.
    pub wire: WireBytes,
    /// Socket bytes during ramp-up.
    pub connect_wire: WireBytes,
    /// The idle phase's client figures (the server's are added by the caller, who samples it).
    pub idle: Option<IdleCost>,
    /// With TLS: the plaintext bytes above TLS over the same span as `wire`, so that
    /// `wire − wire_above_tls` is exactly what TLS added. `None` without TLS.
    pub wire_above_tls: Option<WireBytes>,
    /// HTTP/3: the QUIC endpoint's UDP payload bytes once every connection closed, as its
    /// socket counted them and as quinn did; `None` without HTTP/3.
    pub quic_udp: Option<super::h3::QuicBytes>,
    /// TLS handshakes the clients made (ramp-up and reconnects, subscribers and publishers) and
    /// their summed duration; `(0, 0)` without TLS.
    pub tls_handshakes: (u64, Duration),
    /// Payload within `wire`: in-window messages published (up) and delivered (down).
    pub payload_wire: WireBytes,
    /// How late the client threads ran their tasks from [`Phase::Measuring`] to
    /// [`Phase::Measured`] (see `watch`); `None` if no tick was served or no timer could be made.
    pub lag: Option<LagFigures>,
    /// Saturation mode: the window's own count of messages in flight.
    pub window: Option<crate::client::window::WindowFigures>,
    /// False when the run was cancelled before the drain ended.
    pub complete: bool,
    /// The measured phase and the drain, second by second.
    pub timeseries: TimeSeries,
    /// In a sharded run: what the merge needs beyond the figures above.
    pub shard: Option<ShardFigures>,
}

/// The ramp-up: connections made (subscribers and publishers' own) and how long it took from the
/// first connection slot to the last attempt's end. Its rate is what the clients and the server
/// achieved together, at most the scenario's `connect_rate`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ramp {
    /// Connections that succeeded.
    pub connected: u32,
    /// From the first slot to the last attempt's end.
    pub took: Duration,
}

impl Ramp {
    /// Connections per second achieved; `None` if nothing connected.
    pub fn rate(&self) -> Option<f64> {
        (self.connected > 0).then(|| f64::from(self.connected) / self.took.as_secs_f64().max(1e-6))
    }
}
