//! The data a run measures, and how per-client recorders merge into one figure per transport.
//!
//! Owns HdrHistograms (push latency, connect time), delivery counts and wire-byte totals. Does no
//! I/O, no async and reads no clock: callers hand it durations and counts. Each client task owns one
//! [`Recorder`]; recorders are merged once at the end ([`Recorder::merge`]), so the hot path takes
//! no locks. The figures derived from one transport's metrics, one [`summary::Summary`] row each,
//! are computed here too (pure, like the rest), so the scenario can check `[thresholds]` names
//! against the row's columns without reaching up into the report.

pub mod buckets;
pub mod delivery;
pub mod failures;
pub mod health;
pub mod idle;
pub mod instances;
pub mod outages;
pub mod shard;
pub mod summary;
pub mod timeseries;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

pub use buckets::{LATENCY_BOUNDS_US, LatencyBuckets};
pub use delivery::{DeliveryCounts, DeliveryTracker};
pub use failures::{FailureCounts, FailureKind};
pub use health::{GeneratorHealth, LagFigures, LagRecorder};
pub use idle::IdleCost;
pub use shard::{RoomFigures, ShardFigures, ShardSummary, Sharding, Slice};
pub use timeseries::{IntendedSecond, IntervalRecorder, PackedHistogram, Second, TimeSeries};

/// A small number fixed for the calling thread, handed out in turn: which lane of a sharded
/// counter or recorder the thread uses. Client tasks stay on their worker thread, so with one lane
/// per thread no two threads write the same cache line on the hot path (an atomic add on a line
/// the other core wrote last costs a cache miss every time).
pub fn thread_lane() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static LANE: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    LANE.with(|lane| *lane)
}

/// Significant digits kept by every histogram: 0.1 % resolution at any magnitude.
pub const SIGFIGS: u8 = 3;

/// A fresh histogram in microseconds. It starts small and grows to whatever range it sees, so a
/// thousand per-client histograms cost little memory at the usual millisecond latencies.
pub fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new(SIGFIGS).expect("3 significant digits is a valid histogram setting");
    h.auto(true);
    h
}

/// Records `d` in µs (at least 1). The histogram grows to fit; only a value beyond what any
/// histogram can hold is clamped (`saturating_record` alone would clamp to the current size).
fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
    if h.record(us).is_err() {
        h.saturating_record(us);
    }
}

/// A client's counters: what each subscriber task keeps for itself while the run goes (a few
/// hundred bytes; its latency and connect time go straight into shared histograms, see
/// [`IntervalRecorder`]), merged once at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// Delivery counts (in-window messages only).
    pub delivery: DeliveryCounts,
    /// HTTP requests this client made (0 for WebSocket).
    pub http_requests: u64,
    /// Poll responses that carried at least one message (long-poll), for messages per response.
    pub responses_with_messages: u64,
    /// Messages carried by those responses (any window), for messages per response.
    pub messages_in_responses: u64,
    /// Poll responses that carried no message (in the measured phase and drain).
    pub empty_polls: u64,
    /// Gaps the server reported (long-poll `x-missed`): messages overwritten before this client read them.
    pub missed_reported: u64,
    /// Received messages that carried no wsbench envelope (e.g. a server's welcome text).
    pub foreign: u64,
    /// Clients that failed to connect, by why.
    pub connect_errors: FailureCounts,
    /// Connections that broke after connecting (before the run asked them to stop).
    pub io_errors: u64,
    /// Times a client reconnected after losing its connection.
    pub reconnects: u64,
    /// Time clients spent disconnected (lost or closed connection → reconnected), summed.
    pub disconnected: Duration,
    /// Connections the generator closed on purpose (`[clients] churn`); each rejoin is also
    /// among `reconnects`, and none is an `io_error`.
    pub churned: u64,
    /// Received messages from a publisher of another room than the subscriber's: the server
    /// delivered outside the room. Never a delivery; must be 0. 0 without rooms.
    pub misrouted: u64,
    /// Received messages of another run (a server's replayed history, carrying another run's
    /// tag): counted apart, never deliveries, duplicates or losses.
    pub stale: u64,
    /// Socket.IO sessions in `upgrade` mode whose WebSocket probe failed: they stayed on polling.
    pub stayed_on_polling: u64,
    /// Socket.IO reconnects that asked for connection-state recovery and were answered with a
    /// new session (the server no longer held the old one, or not the offset asked after):
    /// what was published while away is lost.
    pub not_recovered: u64,
    /// Subscribers whose connection the drop fault reset (`[faults] drop`); each is also an
    /// `io_error` only if it never got back.
    pub dropped: u64,
    /// Of `lost`, the messages a subscriber missed while it was away: published between a break
    /// of its connection in the measured phase and its next delivery of that publisher's
    /// messages (a fresh rejoin starts at the stream's end; a resume replays them, and misses
    /// none). Counted from sequence numbers, so it is exact, and 0 on a transport that resumes.
    pub lost_away: u64,
}

impl Counts {
    /// Adds another client's counters.
    pub fn merge(&mut self, other: &Counts) {
        self.delivery.merge(&other.delivery);
        self.http_requests += other.http_requests;
        self.responses_with_messages += other.responses_with_messages;
        self.messages_in_responses += other.messages_in_responses;
        self.empty_polls += other.empty_polls;
        self.missed_reported += other.missed_reported;
        self.foreign += other.foreign;
        self.connect_errors.merge(&other.connect_errors);
        self.io_errors += other.io_errors;
        self.reconnects += other.reconnects;
        self.disconnected += other.disconnected;
        self.churned += other.churned;
        self.misrouted += other.misrouted;
        self.stale += other.stale;
        self.stayed_on_polling += other.stayed_on_polling;
        self.not_recovered += other.not_recovered;
        self.dropped += other.dropped;
        self.lost_away += other.lost_away;
    }
}

/// The clients' measurements for one transport run: histograms and counters. Subscribers do not
/// own one (three histograms are ~48 KiB even before they grow, ruinous at tens of thousands of
/// connections); they keep [`Counts`] and record into shared histograms. The few HTTP publishers
/// each own one for their publish round trips.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Push latency of each in-window delivery: receive time − intended send time, in µs.
    pub latency_us: Histogram<u64>,
    /// Time to connect (TCP + handshake or join round trip), in µs; at most one sample per client.
    pub connect_us: Histogram<u64>,
    /// HTTP publishers: each `POST /publish` from its send to its answer, in µs. The publishing
    /// budget is `publishers / rate`; a round trip longer than that makes an HTTP/1.1 publisher
    /// (one request in flight) fall behind its schedule. Empty for WebSocket (nothing answers).
    pub publish_rtt_us: Histogram<u64>,
    /// Each reconnection's successful attempt (TCP + handshake, TLS, any emulated round trips),
    /// in µs: the connect time under load, churn's rejoins included.
    pub reconnect_us: Histogram<u64>,
    /// With kernel timestamps, per in-window delivery: the user-space receive time − the
    /// kernel's arrival time of its bytes, in µs: the generator's own delay in reading it, taken
    /// out of `latency_us`. Empty with user-space timestamps.
    pub generator_delay_us: Histogram<u64>,
    /// Per in-window message published: how long after its intended send time the publisher
    /// handed it to its socket, in µs. Publishing runs on the user-space clock, so this part of
    /// the generator's delay stays in `latency_us`.
    pub publish_lag_us: Histogram<u64>,
    /// Deliveries of messages published while their subscriber was disconnected (after a loss,
    /// churn or a drop; replayed by a server that resumes), in µs: their latency, replay
    /// included. They are in `latency_us` too.
    pub replay_us: Histogram<u64>,
    /// Per broken connection, in µs: from the break to its first live delivery (of a message
    /// published after it was back).
    pub recovery_us: Histogram<u64>,
    /// Counters, summed over clients.
    pub counts: Counts,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            latency_us: new_histogram(),
            connect_us: new_histogram(),
            publish_rtt_us: new_histogram(),
            reconnect_us: new_histogram(),
            generator_delay_us: new_histogram(),
            publish_lag_us: new_histogram(),
            replay_us: new_histogram(),
            recovery_us: new_histogram(),
            counts: Counts::default(),
        }
    }
}

impl Recorder {
    /// Records one latency sample.
    pub fn record_latency(&mut self, latency: Duration) {
        record(&mut self.latency_us, latency);
    }

    /// Records one connect-time sample.
    pub fn record_connect(&mut self, elapsed: Duration) {
        record(&mut self.connect_us, elapsed);
    }

    /// Records one publish round trip.
    pub fn record_publish_rtt(&mut self, elapsed: Duration) {
        record(&mut self.publish_rtt_us, elapsed);
    }

    /// Adds another client's figures into this one.
    pub fn merge(&mut self, other: &Recorder) {
        // Auto-resizing histograms with equal precision always accept each other's values.
        self.latency_us
            .add(&other.latency_us)
            .expect("auto-resizing histograms of equal precision always merge");
        self.connect_us
            .add(&other.connect_us)
            .expect("auto-resizing histograms of equal precision always merge");
        self.publish_rtt_us
            .add(&other.publish_rtt_us)
            .expect("auto-resizing histograms of equal precision always merge");
        self.reconnect_us
            .add(&other.reconnect_us)
            .expect("auto-resizing histograms of equal precision always merge");
        self.generator_delay_us
            .add(&other.generator_delay_us)
            .expect("auto-resizing histograms of equal precision always merge");
        self.publish_lag_us
            .add(&other.publish_lag_us)
            .expect("auto-resizing histograms of equal precision always merge");
        self.replay_us
            .add(&other.replay_us)
            .expect("auto-resizing histograms of equal precision always merge");
        self.recovery_us
            .add(&other.recovery_us)
            .expect("auto-resizing histograms of equal precision always merge");
        self.counts.merge(&other.counts);
    }
}

/// A histogram that many tasks record into, behind one lock. For connect times: at most one
/// sample per connection, so the lock is never contended enough to matter.
#[derive(Debug)]
pub struct SharedHistogram(Mutex<Histogram<u64>>);

impl Default for SharedHistogram {
    fn default() -> Self {
        SharedHistogram(Mutex::new(new_histogram()))
    }
}

impl SharedHistogram {
    /// Records `d` in µs.
    pub fn record(&self, d: Duration) {
        record(
            &mut self.0.lock().unwrap_or_else(PoisonError::into_inner),
            d,
        );
    }

    /// What was recorded; the histogram starts afresh.
    pub fn take(&self) -> Histogram<u64> {
        std::mem::replace(
            &mut self.0.lock().unwrap_or_else(PoisonError::into_inner),
            new_histogram(),
        )
    }
}

/// Bytes at the TCP payload level (what the client sockets read and wrote).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WireBytes {
    /// Client → server.
    pub up: u64,
    /// Server → client.
    pub down: u64,
}

impl WireBytes {
    /// Both directions together.
    pub fn total(self) -> u64 {
        self.up + self.down
    }

    /// The bytes that moved between two readings of a counter.
    pub fn since(self, earlier: WireBytes) -> WireBytes {
        WireBytes {
            up: self.up - earlier.up,
            down: self.down - earlier.down,
        }
    }
}

/// What TLS cost one transport run: with it, the plaintext above TLS is counted too, so the TLS
/// bytes are exactly `wire − plaintext`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsFigures {
    /// Plaintext bytes above TLS over the same span as [`TransportMetrics::wire`].
    pub plaintext: WireBytes,
    /// TLS handshakes the clients made (connects and reconnects, subscribers and publishers).
    pub handshakes: u64,
    /// Their summed duration (each is also inside that client's connect time).
    pub handshake_total: Duration,
}

/// CPU time and memory of one process over the measured phase.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessUsage {
    /// User + system CPU time spent during the measured phase.
    pub cpu: Duration,
    /// Peak resident set size over the process's life, in KiB (Linux `VmHWM`).
    pub peak_rss_kib: u64,
}

impl ProcessUsage {
    /// This process's use followed by `next`'s, which replaced it: CPU adds up, the peak is the
    /// higher of the two (they never ran at once).
    pub fn plus(self, next: ProcessUsage) -> ProcessUsage {
        ProcessUsage {
            cpu: self.cpu + next.cpu,
            peak_rss_kib: self.peak_rss_kib.max(next.peak_rss_kib),
        }
    }
}

/// Everything measured for one transport in one run: the input of every report.
#[derive(Debug, Clone)]
pub struct TransportMetrics {
    /// Transport label (`ws`, `longpoll`).
    pub transport: String,
    /// Subscribers asked for.
    pub subscribers: u32,
    /// Publishers asked for.
    pub publishers: u32,
    /// Size of each message, envelope included.
    pub payload_bytes: usize,
    /// How long the measured phase ran (shorter than asked if interrupted).
    pub measured: Duration,
    /// Messages published with an intended send time inside the measured phase.
    pub messages_published: u64,
    /// Publish slots inside the measured phase (more than published if publishers fell behind).
    pub messages_scheduled: u64,
    /// Per room, the messages published into it × its subscribers that connected, summed
    /// (without rooms: `messages_published` × subscribers that connected).
    pub deliveries_expected: u64,
    /// Merged client recorders.
    pub clients: Recorder,
    /// Client socket bytes from the start of the measured phase to the end of the drain.
    pub wire: WireBytes,
    /// Client socket bytes during ramp-up (TCP payload of handshakes and joins).
    pub connect_wire: WireBytes,
    /// Payload bytes in `wire`: messages published in the window (up) and delivered (down).
    pub payload_wire: WireBytes,
    /// TLS figures; `None` for a run without TLS.
    pub tls: Option<TlsFigures>,
    /// The load generator's own CPU over the measured phase; its peak RSS since this transport's
    /// run started (the peak is reset before each transport where Linux allows, see
    /// [`crate::os::reset_peak_rss`]), so it includes the process's baseline.
    pub client_usage: ProcessUsage,
    /// Client connections open after ramp-up: subscribers that connected plus the HTTP
    /// publishers' own connections (a WebSocket publisher sends on its subscriber connection).
    /// The divisor of memory per connection; 0 in results stored before it was recorded.
    pub connections: u32,
    /// From the ramp-up's first connection slot to its last attempt's end: `connections` over
    /// this is the connect rate achieved. Zero in results stored before it was recorded.
    pub connect_ramp: Duration,
    /// How busy and how late the generator was over the span of `client_usage.cpu`; `None` in
    /// results stored before it was measured.
    pub client_watch: Option<GeneratorHealth>,
    /// The server process's CPU over the measured phase; `None` for a server we did not start.
    pub server_usage: Option<ProcessUsage>,
    /// What the idle phase cost, if the scenario has one (`[clients] idle_phase`).
    pub idle: Option<IdleCost>,
    /// False when the run was interrupted or the server died: figures cover what was measured.
    pub complete: bool,
    /// The measured phase and drain second by second (empty for results stored before it existed).
    pub timeseries: TimeSeries,
    /// One shard's part of a sharded run, or the shards a merged run was added up from; `None`
    /// for a run in one process.
    pub sharding: Option<Sharding>,
    /// Several server instances on a shared Redis (and maybe HAProxy): each one's figures and
    /// the backplane's; `None` for one server. `server_usage` is then the instances' sum.
    pub instances: Option<instances::InstanceGroup>,
    /// The faults injected during the run (`[faults]`), in order: the report marks them on its
    /// time charts. Empty without faults.
    pub faults: Vec<FaultMark>,
}

/// A fault as it happened: when, counted from the start of the measured phase (a figure the
/// time charts share), and what, as the progress line said it. Stored as measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaultMark {
    /// Seconds since the measured phase started.
    pub at_s: f64,
    /// What happened (`drop reset 10 connections`, `deployed every instance (rolling) in 505ms`).
    pub what: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_merges_real_magnitudes() {
        let mut a = Recorder::default();
        a.record_latency(Duration::from_millis(50));
        a.record_latency(Duration::from_nanos(10));
        let mut b = Recorder::default();
        b.record_latency(Duration::from_secs(3));
        b.record_connect(Duration::from_micros(1500));
        a.merge(&b);
        assert_eq!(a.latency_us.len(), 3);
        assert_eq!(a.latency_us.min(), 1);
        assert!(
            a.latency_us
                .equivalent(a.latency_us.value_at_quantile(0.5), 50_000)
        );
        assert!(a.latency_us.equivalent(a.latency_us.max(), 3_000_000));
        assert!(a.connect_us.equivalent(a.connect_us.max(), 1500));
    }
}
