//! A run's figures as Prometheus metrics, in the OpenMetrics text format: what `--metrics`
//! serves on `/metrics` while the run goes, and `metrics.prom` (for a push gateway) at the end.
//!
//! Owns the metric names, labels and types, and the text, made with `prometheus-client` (the
//! Prometheus project's Rust client) rather than by hand. Every name starts `wsbench_`; every
//! series has a `transport` label with the run's label (`ws`, `sse+tls`, …). Counters count
//! from the start of the measured phase, like `summary.csv`; a transport's counters end at its
//! `summary.csv` row exactly ([`RunMetrics::finish`]), so whatever scraped last agrees with the
//! file. Knows nothing of sockets or of how the figures were measured: it is handed them.
//!
//! The latency histogram has fixed buckets ([`crate::metrics::LATENCY_BOUNDS_US`]) and a `phase`
//! label: `measured` for the seconds of the measured phase, `drain` for the seconds after it.

mod histogram;
mod sorted;
#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::metrics::summary::Summary;
use crate::metrics::{LatencyBuckets, TimeSeries, TransportMetrics};
use histogram::FixedHistogram;
use sorted::sort_series;

/// The `phase` label of a latency observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyPhase {
    /// Arrived during the measured phase.
    Measured,
    /// Arrived during the drain, after the last message was published.
    Drain,
}

impl LatencyPhase {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            LatencyPhase::Measured => "measured",
            LatencyPhase::Drain => "drain",
        }
    }

    /// The phase of second `index` (0-based) of a transport's series whose measured phase
    /// lasted `measured`: a second is the measured phase's while it ends no later than half a
    /// second after the phase did (the sampler's tick at the phase's end lands a little after it).
    pub fn of_second(index: usize, measured: Duration) -> Self {
        if index as f64 + 0.5 < measured.as_secs_f64() {
            LatencyPhase::Measured
        } else {
            LatencyPhase::Drain
        }
    }
}

/// What one second of a running transport adds (the live figures of `wsbench run`'s sampler).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SecondFigures {
    /// In-window deliveries in the second.
    pub deliveries: u64,
    /// In-window messages published so far.
    pub published: u64,
    /// Client socket bytes so far, up and down.
    pub bytes_up: u64,
    /// See `bytes_up`.
    pub bytes_down: u64,
    /// Client connections open now.
    pub connections: u64,
    /// Deliveries still missing of the seconds that ended at least a second ago.
    pub missing: u64,
    /// The second's latency, bucketed.
    pub latency: LatencyBuckets,
}

/// One process's use at a tick: CPU cores busy over the last second, and peak RSS.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SideUsage {
    /// CPU time over wall time since the last tick (1.0: one core busy).
    pub cpu_cores: f64,
    /// Peak resident set size, bytes.
    pub peak_rss_bytes: u64,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabels {
    transport: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    transport: String,
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SideLabels {
    transport: String,
    side: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    transport: String,
    phase: String,
}

/// Every metric of a run, registered once; updated second by second and at each transport's end.
#[derive(Debug)]
pub struct RunMetrics {
    registry: Registry,
    published: Family<TransportLabels, Counter>,
    deliveries: Family<TransportLabels, Counter>,
    lost: Family<TransportLabels, Counter>,
    duplicated: Family<TransportLabels, Counter>,
    bytes: Family<KindLabels, Counter>,
    connects: Family<TransportLabels, Counter>,
    errors: Family<KindLabels, Counter>,
    connections: Family<TransportLabels, Gauge>,
    missing: Family<TransportLabels, Gauge>,
    cpu: Family<SideLabels, Gauge<f64, AtomicU64>>,
    rss: Family<SideLabels, Gauge>,
    latency: Family<PhaseLabels, FixedHistogram>,
}

impl Default for RunMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl RunMetrics {
    /// Every metric registered, none with a series yet.
    pub fn new() -> Self {
        let mut m = RunMetrics {
            registry: Registry::with_prefix("wsbench"),
            published: Family::default(),
            deliveries: Family::default(),
            lost: Family::default(),
            duplicated: Family::default(),
            bytes: Family::default(),
            connects: Family::default(),
            errors: Family::default(),
            connections: Family::default(),
            missing: Family::default(),
            cpu: Family::default(),
            rss: Family::default(),
            latency: Family::default(),
        };
        let r = &mut m.registry;
        r.register(
            "published",
            "In-window messages published",
            m.published.clone(),
        );
        r.register(
            "deliveries",
            "In-window deliveries: a message's first arrival at one subscriber",
            m.deliveries.clone(),
        );
        r.register(
            "lost",
            "Expected deliveries that never arrived (known once the transport's drain is over)",
            m.lost.clone(),
        );
        r.register(
            "duplicated",
            "Deliveries of a message a subscriber already had (known at the transport's end)",
            m.duplicated.clone(),
        );
        r.register_with_unit(
            "wire",
            "Bytes by kind: client socket bytes up and down over the measured phase and drain, \
             the payload of the deliveries, and the ramp-up's handshakes (connect)",
            Unit::Bytes,
            m.bytes.clone(),
        );
        r.register(
            "connects",
            "Connections that succeeded, reconnections included",
            m.connects.clone(),
        );
        r.register(
            "errors",
            "Failed connection attempts (kind=connect) and connections lost to an I/O error (kind=io)",
            m.errors.clone(),
        );
        r.register(
            "connections",
            "Client connections open",
            m.connections.clone(),
        );
        r.register(
            "missing",
            "Deliveries still missing of the seconds that ended at least a second ago",
            m.missing.clone(),
        );
        r.register(
            "cpu_cores",
            "CPU time over wall time in the last second, server and generator (side label)",
            m.cpu.clone(),
        );
        r.register_with_unit(
            "peak_rss",
            "Peak resident set size, server and generator (side label)",
            Unit::Bytes,
            m.rss.clone(),
        );
        r.register_with_unit(
            "latency",
            "Push latency of in-window deliveries, by the phase they arrived in",
            Unit::Seconds,
            m.latency.clone(),
        );
        m
    }

    /// The whole text of a scrape: every series, then `# EOF`. Within each metric the series
    /// come sorted by their labels (the registry keeps them in a hash map), so the same figures
    /// always give the same bytes.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing into a String cannot fail");
        sort_series(&text)
    }

    /// Shows `transport` from now on, every counter at 0 (a scrape sees it before its first second).
    pub fn start(&self, transport: &str) {
        let t = labels(transport);
        for family in [
            &self.published,
            &self.deliveries,
            &self.lost,
            &self.duplicated,
            &self.connects,
        ] {
            drop(family.get_or_create(&t));
        }
        drop(self.connections.get_or_create(&t));
    }

    /// Connections that succeeded so far in the ramp-up.
    pub fn connected(&self, transport: &str, ok: u64, failed: u64) {
        raise(&self.connects.get_or_create(&labels(transport)), ok);
        raise(
            &self.errors.get_or_create(&kind(transport, "connect")),
            failed,
        );
    }

    /// One second of `transport`'s run, in `phase`.
    pub fn second(&self, transport: &str, phase: LatencyPhase, s: &SecondFigures) {
        let t = labels(transport);
        self.deliveries.get_or_create(&t).inc_by(s.deliveries);
        raise(&self.published.get_or_create(&t), s.published);
        raise(
            &self.bytes.get_or_create(&kind(transport, "up")),
            s.bytes_up,
        );
        raise(
            &self.bytes.get_or_create(&kind(transport, "down")),
            s.bytes_down,
        );
        self.connections
            .get_or_create(&t)
            .set(i64::try_from(s.connections).unwrap_or(i64::MAX));
        self.missing
            .get_or_create(&t)
            .set(i64::try_from(s.missing).unwrap_or(i64::MAX));
        self.latency
            .get_or_create(&PhaseLabels {
                transport: transport.to_string(),
                phase: phase.label().to_string(),
            })
            .add(&s.latency);
    }

    /// Both processes' use at a tick; `None`: not known (an external server without a pid).
    pub fn usage(&self, transport: &str, server: Option<SideUsage>, generator: SideUsage) {
        for (name, usage) in [("server", server), ("generator", Some(generator))] {
            let Some(u) = usage else { continue };
            let side = SideLabels {
                transport: transport.to_string(),
                side: name.to_string(),
            };
            self.cpu.get_or_create(&side).set(u.cpu_cores);
            self.rss
                .get_or_create(&side)
                .set(i64::try_from(u.peak_rss_bytes).unwrap_or(i64::MAX));
        }
    }

    /// A transport is over, shown as `transport` (its label, or a capacity step's): every counter
    /// raised to its `summary.csv` row (the exact figures), the latency histogram to its whole
    /// series, connections and missing to 0.
    pub fn finish(&self, transport: &str, m: &TransportMetrics) {
        let row = Summary::new(m);
        let t = labels(transport);
        raise(&self.published.get_or_create(&t), row.messages_published);
        raise(&self.deliveries.get_or_create(&t), row.deliveries);
        raise(&self.lost.get_or_create(&t), row.lost);
        raise(&self.duplicated.get_or_create(&t), row.duplicated);
        for (k, v) in [
            ("up", row.bytes_up),
            ("down", row.bytes_down),
            ("payload", row.payload_bytes),
            ("connect", row.connect_bytes),
        ] {
            raise(&self.bytes.get_or_create(&kind(transport, k)), v);
        }
        raise(
            &self.connects.get_or_create(&t),
            u64::from(m.connections) + row.reconnects,
        );
        raise(
            &self.errors.get_or_create(&kind(transport, "connect")),
            row.connect_errors,
        );
        raise(
            &self.errors.get_or_create(&kind(transport, "io")),
            row.io_errors,
        );
        self.connections.get_or_create(&t).set(0);
        self.missing.get_or_create(&t).set(0);
        for (phase, buckets) in series_buckets(&m.timeseries, m.measured) {
            self.latency
                .get_or_create(&PhaseLabels {
                    transport: transport.to_string(),
                    phase: phase.label().to_string(),
                })
                .raise_to(&buckets);
        }
    }

    /// The final metrics of finished transports alone (`metrics.prom`): what a scrape at the end
    /// of the run reads, less the gauges of use (a push gateway keeps a gauge forever).
    pub fn of_finished(metrics: &[TransportMetrics]) -> String {
        let run = RunMetrics::new();
        for m in metrics {
            run.start(&m.transport);
            run.finish(&m.transport, m);
        }
        run.encode()
    }
}

/// Each phase's latency over a whole series.
fn series_buckets(series: &TimeSeries, measured: Duration) -> Vec<(LatencyPhase, LatencyBuckets)> {
    let mut measured_b = LatencyBuckets::default();
    let mut drain_b = LatencyBuckets::default();
    for (i, second) in series.seconds.iter().enumerate() {
        let b = LatencyBuckets::from_histogram(&second.latency_us.unpack());
        match LatencyPhase::of_second(i, measured) {
            LatencyPhase::Measured => measured_b.add(&b),
            LatencyPhase::Drain => drain_b.add(&b),
        }
    }
    vec![
        (LatencyPhase::Measured, measured_b),
        (LatencyPhase::Drain, drain_b),
    ]
}

fn labels(transport: &str) -> TransportLabels {
    TransportLabels {
        transport: transport.to_string(),
    }
}

fn kind(transport: &str, kind: &str) -> KindLabels {
    KindLabels {
        transport: transport.to_string(),
        kind: kind.to_string(),
    }
}

/// Raises counter `c` to `to` (a counter only goes up; a lower value leaves it as it is).
fn raise(c: &Counter, to: u64) {
    c.inc_by(to.saturating_sub(c.get()));
}
