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
use crate::metrics::{
    Counts, DeliveryCounts, FailureCounts, FailureKind, GeneratorHealth, LagFigures,
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

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl From<&TransportMetrics> for StoredTransport {
    fn from(m: &TransportMetrics) -> Self {
        let TransportMetrics {
            transport,
            subscribers,
            publishers,
            payload_bytes,
            measured,
            messages_published,
            messages_scheduled,
            deliveries_expected,
            clients,
            wire,
            connect_wire,
            payload_wire,
            tls,
            client_usage,
            server_usage,
            connections,
            connect_ramp,
            client_watch,
            complete,
            timeseries,
            sharding,
        } = m;
        StoredTransport {
            transport: transport.clone(),
            subscribers: *subscribers,
            publishers: *publishers,
            payload_bytes: *payload_bytes,
            measured_ns: nanos(*measured),
            messages_published: *messages_published,
            messages_scheduled: *messages_scheduled,
            deliveries_expected: *deliveries_expected,
            clients: StoredRecorder::from(clients),
            wire: (*wire).into(),
            connect_wire: (*connect_wire).into(),
            payload_wire: (*payload_wire).into(),
            tls: tls.map(
                |TlsFigures {
                     plaintext,
                     handshakes,
                     handshake_total,
                 }| StoredTls {
                    plaintext: plaintext.into(),
                    handshakes,
                    handshake_total_ns: nanos(handshake_total),
                },
            ),
            client_usage: (*client_usage).into(),
            server_usage: server_usage.map(Into::into),
            connections: *connections,
            connect_ramp_ns: nanos(*connect_ramp),
            client_watch: client_watch.map(Into::into),
            complete: *complete,
            timeseries_start_unix_ns: nanos(timeseries.start_unix),
            seconds: timeseries.seconds.iter().map(StoredSecond::from).collect(),
            sharding: sharding.as_ref().map(Into::into),
        }
    }
}

impl From<&Second> for StoredSecond {
    fn from(s: &Second) -> Self {
        let Second {
            duration,
            latency_us: _,
            unclocked,
            published,
            lost,
            wire,
            connections,
        } = s;
        StoredSecond {
            duration_ns: nanos(*duration),
            unclocked: *unclocked,
            published: *published,
            lost: *lost,
            bytes_up: wire.up,
            bytes_down: wire.down,
            connections: *connections,
        }
    }
}

impl StoredSecond {
    fn into_second(self, latency_us: PackedHistogram) -> Second {
        Second {
            duration: Duration::from_nanos(self.duration_ns),
            latency_us,
            unclocked: self.unclocked,
            published: self.published,
            lost: self.lost,
            wire: WireBytes {
                up: self.bytes_up,
                down: self.bytes_down,
            },
            connections: self.connections,
        }
    }
}

impl From<&Recorder> for StoredRecorder {
    fn from(r: &Recorder) -> Self {
        let Counts {
            delivery:
                DeliveryCounts {
                    delivered,
                    duplicated,
                    reordered,
                    lost,
                },
            http_requests,
            responses_with_messages,
            messages_in_responses,
            empty_polls,
            missed_reported,
            foreign,
            connect_errors,
            io_errors,
            reconnects,
            disconnected,
        } = r.counts;
        StoredRecorder {
            delivered,
            duplicated,
            reordered,
            lost,
            http_requests,
            responses_with_messages,
            messages_in_responses,
            empty_polls,
            missed_reported,
            foreign,
            connect_errors: connect_errors.total(),
            connect_error_kinds: connect_errors.to_field(),
            io_errors,
            reconnects,
            disconnected_ns: nanos(disconnected),
        }
    }
}

/// The counts by kind as stored; failures the file does not tell apart (older files, or a
/// field this version cannot read) count as `other`, so the total is always the stored one.
fn stored_failures(total: u64, kinds: &str) -> FailureCounts {
    let mut counts = FailureCounts::parse(kinds).unwrap_or_default();
    counts.add_n(FailureKind::Other, total.saturating_sub(counts.total()));
    counts
}

impl From<WireBytes> for StoredBytes {
    fn from(WireBytes { up, down }: WireBytes) -> Self {
        StoredBytes { up, down }
    }
}

impl From<StoredBytes> for WireBytes {
    fn from(StoredBytes { up, down }: StoredBytes) -> Self {
        WireBytes { up, down }
    }
}

impl From<GeneratorHealth> for StoredWatch {
    fn from(GeneratorHealth { span, cores, lag }: GeneratorHealth) -> Self {
        StoredWatch {
            span_ns: nanos(span),
            cores,
            lag: lag.map(
                |LagFigures {
                     p99_us,
                     max_us,
                     samples,
                 }| StoredLag {
                    p99_us,
                    max_us,
                    samples,
                },
            ),
        }
    }
}

impl From<StoredWatch> for GeneratorHealth {
    fn from(
        StoredWatch {
            span_ns,
            cores,
            lag,
        }: StoredWatch,
    ) -> Self {
        GeneratorHealth {
            span: Duration::from_nanos(span_ns),
            cores,
            lag: lag.map(|l| LagFigures {
                p99_us: l.p99_us,
                max_us: l.max_us,
                samples: l.samples,
            }),
        }
    }
}

impl From<ProcessUsage> for StoredUsage {
    fn from(ProcessUsage { cpu, peak_rss_kib }: ProcessUsage) -> Self {
        StoredUsage {
            cpu_ns: nanos(cpu),
            peak_rss_kib,
        }
    }
}

impl From<StoredUsage> for ProcessUsage {
    fn from(
        StoredUsage {
            cpu_ns,
            peak_rss_kib,
        }: StoredUsage,
    ) -> Self {
        ProcessUsage {
            cpu: Duration::from_nanos(cpu_ns),
            peak_rss_kib,
        }
    }
}

impl StoredTransport {
    /// The metrics again, with the histograms read from the `.hlog` file.
    fn into_metrics(self, histograms: StoredHistograms) -> TransportMetrics {
        let c = self.clients;
        TransportMetrics {
            transport: self.transport,
            subscribers: self.subscribers,
            publishers: self.publishers,
            payload_bytes: self.payload_bytes,
            measured: Duration::from_nanos(self.measured_ns),
            messages_published: self.messages_published,
            messages_scheduled: self.messages_scheduled,
            deliveries_expected: self.deliveries_expected,
            clients: Recorder {
                latency_us: histograms.latency_us,
                connect_us: histograms.connect_us,
                publish_rtt_us: histograms.publish_rtt_us,
                counts: Counts {
                    delivery: DeliveryCounts {
                        delivered: c.delivered,
                        duplicated: c.duplicated,
                        reordered: c.reordered,
                        lost: c.lost,
                    },
                    http_requests: c.http_requests,
                    responses_with_messages: c.responses_with_messages,
                    messages_in_responses: c.messages_in_responses,
                    empty_polls: c.empty_polls,
                    missed_reported: c.missed_reported,
                    foreign: c.foreign,
                    connect_errors: stored_failures(c.connect_errors, &c.connect_error_kinds),
                    io_errors: c.io_errors,
                    reconnects: c.reconnects,
                    disconnected: Duration::from_nanos(c.disconnected_ns),
                },
            },
            wire: self.wire.into(),
            connect_wire: self.connect_wire.into(),
            payload_wire: self.payload_wire.into(),
            tls: self.tls.map(|t| TlsFigures {
                plaintext: t.plaintext.into(),
                handshakes: t.handshakes,
                handshake_total: Duration::from_nanos(t.handshake_total_ns),
            }),
            client_usage: self.client_usage.into(),
            server_usage: self.server_usage.map(Into::into),
            connections: self.connections,
            connect_ramp: Duration::from_nanos(self.connect_ramp_ns),
            client_watch: self.client_watch.map(Into::into),
            complete: self.complete,
            timeseries: TimeSeries {
                start_unix: Duration::from_nanos(self.timeseries_start_unix_ns),
                seconds: self
                    .seconds
                    .into_iter()
                    .zip(histograms.seconds)
                    .map(|(s, h)| s.into_second(h))
                    .collect(),
            },
            sharding: self.sharding.map(Into::into),
        }
    }
}

#[cfg(test)]
mod tests;
