//! `metrics.json`: every figure of each [`TransportMetrics`] that is not a histogram, as a serde
//! mirror, so `metrics` stays free of serde and the file's layout is a choice made here.
//!
//! The mirror destructures every struct it copies, so a field added to the metrics fails to
//! compile here until it is stored too. The histograms live in the `.hlog` files
//! ([`super::hlog`]); [`MetricsFile::into_metrics`] joins the two.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ReportError;
use super::hlog::StoredHistograms;
use super::shard_json::StoredSharding;
use crate::metrics::FaultMark;
use crate::metrics::instances::InstanceGroup;
use crate::metrics::{
    Counts, DeliveryCounts, FailureCounts, FailureKind, GeneratorHealth, IdleCost, LagFigures,
    PackedHistogram, ProcessUsage, Recorder, Second, TimeSeries, TlsFigures, TransportMetrics,
    WireBytes,
};

/// Version of `metrics.json`'s layout. Fields added later get `#[serde(default)]`, so older
/// files still load; a change that cannot be read that way bumps this number.
const METRICS_FORMAT: u32 = 1;

/// The shape of `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MetricsFile {
    /// [`METRICS_FORMAT`] of the writer.
    format: u32,
    /// One entry per transport, in run order.
    transports: Vec<StoredTransport>,
}

/// [`TransportMetrics`] without its histograms. Durations are whole nanoseconds, so they read
/// back exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredTransport {
    transport: String,
    subscribers: u32,
    publishers: u32,
    payload_bytes: usize,
    measured_ns: u64,
    messages_published: u64,
    messages_scheduled: u64,
    deliveries_expected: u64,
    clients: StoredRecorder,
    wire: StoredBytes,
    connect_wire: StoredBytes,
    payload_wire: StoredBytes,
    /// Absent in files written before TLS runs, and for runs without TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls: Option<StoredTls>,
    client_usage: StoredUsage,
    server_usage: Option<StoredUsage>,
    /// The idle phase; absent for a run without one (and in files written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idle: Option<StoredIdle>,
    /// Client connections after ramp-up; absent (0) in files written before it was recorded.
    #[serde(default)]
    connections: u32,
    /// Nanoseconds the ramp-up took; absent (0) in files written before it was recorded.
    #[serde(default)]
    connect_ramp_ns: u64,
    /// The generator's health; absent in files written before it was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_watch: Option<StoredWatch>,
    complete: bool,
    /// Wall-clock start of the measured phase, ns since the Unix epoch; absent in older files.
    #[serde(default)]
    timeseries_start_unix_ns: u64,
    /// The seconds of the time series without their latency (the `.hlog`'s untagged intervals);
    /// absent in older files.
    #[serde(default)]
    seconds: Vec<StoredSecond>,
    /// A shard's part of a sharded run, or a merged run's shards; absent for a run in one process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sharding: Option<StoredSharding>,
    /// Several server instances: each one's figures, Redis's and HAProxy's; absent for one
    /// server (and in files written before instances existed). Stored as measured: the type
    /// derives serde itself (see [`crate::metrics::instances`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    instances: Option<InstanceGroup>,
    /// The faults injected, in order; absent without faults (and in older files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    faults: Vec<FaultMark>,
}

/// [`Second`] without its histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredSecond {
    duration_ns: u64,
    /// Deliveries without a latency sample (another shard's publisher); absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    unclocked: u64,
    published: u64,
    lost: u64,
    bytes_up: u64,
    bytes_down: u64,
    connections: u64,
}

/// [`IdleCost`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredIdle {
    connections: u32,
    span_ns: u64,
    wire: StoredBytes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server_cpu_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server_rss_growth_kib: Option<u64>,
}

/// [`TlsFigures`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredTls {
    plaintext: StoredBytes,
    handshakes: u64,
    handshake_total_ns: u64,
}

/// [`Recorder`] without its histograms; the delivery counts inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRecorder {
    delivered: u64,
    duplicated: u64,
    reordered: u64,
    lost: u64,
    http_requests: u64,
    responses_with_messages: u64,
    messages_in_responses: u64,
    empty_polls: u64,
    missed_reported: u64,
    foreign: u64,
    connect_errors: u64,
    /// `connect_errors` by kind (`refused:3 timed_out:1`); absent in files written before
    /// failures were told apart, which load as kind `other`.
    #[serde(default)]
    connect_error_kinds: String,
    io_errors: u64,
    reconnects: u64,
    /// Absent in files written before clients reconnected.
    #[serde(default)]
    disconnected_ns: u64,
    /// Connections closed on purpose (churn); absent in files written before churn.
    #[serde(default)]
    churned: u64,
    /// Messages delivered outside their room; absent in files written before rooms.
    #[serde(default)]
    misrouted: u64,
    /// Messages of another run (a replayed history); absent in files written before run tags.
    #[serde(default)]
    stale: u64,
    /// Socket.IO sessions left on polling by a failed upgrade; absent in files written before
    /// Socket.IO targets.
    #[serde(default)]
    stayed_on_polling: u64,
    /// Socket.IO reconnects the server did not recover; absent in files written before
    /// connection-state recovery.
    #[serde(default)]
    not_recovered: u64,
    /// Subscribers whose connection the drop fault reset; absent in files written before it.
    #[serde(default)]
    dropped: u64,
    /// Of `lost`, what subscribers missed while away; absent in files written before it.
    #[serde(default)]
    lost_away: u64,
    /// Median and 99th percentile of the generator's read delay (user-space − kernel receive
    /// time), µs: copies of the `.hlog`'s `generator_delay` interval for readers of this file
    /// alone (`wsbench report` reads the histogram); absent with user-space timestamps and in
    /// older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generator_delay_p50_us: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generator_delay_p99_us: Option<u64>,
    /// 99th percentile of the publishers' lateness behind their schedule, µs: a copy of the
    /// `.hlog`'s `publish_lag` interval, as above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    publish_lag_p99_us: Option<u64>,
}

/// [`WireBytes`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredBytes {
    up: u64,
    down: u64,
}

/// [`GeneratorHealth`], its lag figures inline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredWatch {
    span_ns: u64,
    cores: u32,
    /// Absent when the ticker recorded nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lag: Option<StoredLag>,
}

/// [`LagFigures`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredLag {
    p99_us: u64,
    max_us: u64,
    samples: u64,
}

/// [`ProcessUsage`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredUsage {
    cpu_ns: u64,
    peak_rss_kib: u64,
}

impl MetricsFile {
    /// The file for `metrics`.
    pub(crate) fn new(metrics: &[TransportMetrics]) -> MetricsFile {
        MetricsFile {
            format: METRICS_FORMAT,
            transports: metrics.iter().map(StoredTransport::from).collect(),
        }
    }

    /// The metrics again, each with the histograms `histograms(transport)` returns. `path` is
    /// the file this was read from, for the error when it is a newer format than this build's.
    pub(crate) fn into_metrics(
        self,
        path: &Path,
        mut histograms: impl FnMut(&str) -> Result<StoredHistograms, ReportError>,
    ) -> Result<Vec<TransportMetrics>, ReportError> {
        if self.format > METRICS_FORMAT {
            return Err(ReportError::NewerFormat {
                path: path.to_owned(),
                format: self.format,
                supported: METRICS_FORMAT,
            });
        }
        self.transports
            .into_iter()
            .map(|t| {
                let h = histograms(&t.transport)?;
                if h.seconds.len() != t.seconds.len() {
                    return Err(ReportError::Inconsistent {
                        path: path.to_owned(),
                        reason: format!(
                            "{} lists {} seconds for {}, its .hlog file has {}",
                            path.display(),
                            t.seconds.len(),
                            t.transport,
                            h.seconds.len()
                        ),
                    });
                }
                Ok(t.into_metrics(h))
            })
            .collect()
    }
}

mod convert;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests;
