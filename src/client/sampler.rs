//! The conductor's 1 Hz sampler: from the start of the measured phase to the end of the drain it
//! cuts the run into seconds — the latency the subscribers recorded in the shared
//! [`IntervalRecorder`](crate::metrics::IntervalRecorder), the [`WireMeter`](crate::wire::WireMeter)'s
//! bytes, the open connections — and gives the live figures of each second.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::ctx::Ctx;
use super::outcome::LiveStats;
use crate::metrics::timeseries::Sample;
use crate::metrics::{LatencyBuckets, PackedHistogram, WireBytes};

/// The 1 Hz sampler of the measured phase and the drain, run by the conductor between its waits.
#[derive(Debug)]
pub(super) struct Sampler {
    /// Start of the measured phase.
    start: Instant,
    /// Wall-clock time of `start`, since the Unix epoch.
    pub(super) start_unix: Duration,
    /// When the next second ends.
    pub(super) next: Instant,
    /// When the last second ended, and the meter then.
    last_at: Instant,
    last_wire: WireBytes,
    /// The meter at `start`: the live figures count bytes from there.
    wire_start: WireBytes,
    /// Subscribers expected to receive every message.
    subscribers: u64,
    pub(super) samples: Vec<Sample>,
}

impl Sampler {
    pub(super) fn new(start: Instant, wire_start: WireBytes, subscribers: u64) -> Self {
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
            wire_start,
            subscribers,
            samples: Vec::new(),
        }
    }

    /// Ends the current second now: swaps out its latency, reads the meter and the connections.
    pub(super) fn tick(&mut self, ctx: &Ctx) -> LiveStats {
        self.tick_at(ctx, ctx.meter.read())
    }

    /// [`Sampler::tick`] with the meter's reading taken by the caller.
    pub(super) fn tick_at(&mut self, ctx: &Ctx, wire: WireBytes) -> LiveStats {
        let now = Instant::now();
        let (latency_us, unclocked) = ctx.intervals.take_latency();
        let duration = now.saturating_duration_since(self.last_at);
        let elapsed = now.saturating_duration_since(self.start);
        // HTTP/3 connections share one socket: the endpoint counts them.
        let quic: u64 = ctx.h3.made().iter().map(|e| e.open_connections()).sum();
        let connections = ctx.meter.open_streams() + quic;
        let stats = LiveStats {
            elapsed,
            deliveries_per_s: (latency_us.len() + unclocked) as f64
                / duration.as_secs_f64().max(1e-3),
            latency_p99_us: (!latency_us.is_empty()).then(|| latency_us.value_at_quantile(0.99)),
            // Seconds that ended at least a second ago.
            missing: ctx.intervals.missing(
                usize::try_from(elapsed.as_secs().saturating_sub(1)).unwrap_or(usize::MAX),
                self.subscribers,
            ),
            connections,
            deliveries: latency_us.len() + unclocked,
            latency_p50_us: (!latency_us.is_empty()).then(|| latency_us.value_at_quantile(0.5)),
            latency_buckets: ctx
                .plan
                .live_buckets
                .then(|| LatencyBuckets::from_histogram(&latency_us)),
            published: ctx.tally.in_window(),
            wire: wire.since(self.wire_start),
        };
        self.samples.push(Sample {
            duration,
            latency_us: PackedHistogram::pack(&latency_us),
            unclocked,
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
