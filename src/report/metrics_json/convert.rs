//! Conversions between the measured types and their stored mirrors, both ways: what a run writes
//! into `metrics.json` and what `wsbench report` rebuilds from it.

use super::*;
use crate::metrics::summary::{P50, P99, quantile};

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
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
            idle,
            connections,
            connect_ramp,
            client_watch,
            complete,
            timeseries,
            sharding,
            instances,
            faults,
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
            idle: idle.map(Into::into),
            connections: *connections,
            connect_ramp_ns: nanos(*connect_ramp),
            client_watch: client_watch.map(Into::into),
            complete: *complete,
            timeseries_start_unix_ns: nanos(timeseries.start_unix),
            seconds: timeseries.seconds.iter().map(StoredSecond::from).collect(),
            sharding: sharding.as_ref().map(Into::into),
            instances: instances.clone(),
            faults: faults.clone(),
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
            churned,
            misrouted,
            stale,
            stayed_on_polling,
            not_recovered,
            dropped,
            lost_away,
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
            churned,
            misrouted,
            stale,
            stayed_on_polling,
            not_recovered,
            dropped,
            lost_away,
            generator_delay_p50_us: quantile(&r.generator_delay_us, P50),
            generator_delay_p99_us: quantile(&r.generator_delay_us, P99),
            publish_lag_p99_us: quantile(&r.publish_lag_us, P99),
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

impl From<IdleCost> for StoredIdle {
    fn from(i: IdleCost) -> Self {
        let IdleCost {
            connections,
            span,
            wire,
            server_cpu,
            server_rss_growth_kib,
        } = i;
        StoredIdle {
            connections,
            span_ns: nanos(span),
            wire: wire.into(),
            server_cpu_ns: server_cpu.map(nanos),
            server_rss_growth_kib,
        }
    }
}

impl From<StoredIdle> for IdleCost {
    fn from(s: StoredIdle) -> Self {
        IdleCost {
            connections: s.connections,
            span: Duration::from_nanos(s.span_ns),
            wire: s.wire.into(),
            server_cpu: s.server_cpu_ns.map(Duration::from_nanos),
            server_rss_growth_kib: s.server_rss_growth_kib,
        }
    }
}

impl StoredTransport {
    /// The metrics again, with the histograms read from the `.hlog` file.
    pub(super) fn into_metrics(self, histograms: StoredHistograms) -> TransportMetrics {
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
                reconnect_us: histograms.reconnect_us,
                generator_delay_us: histograms.generator_delay_us,
                publish_lag_us: histograms.publish_lag_us,
                replay_us: histograms.replay_us,
                recovery_us: histograms.recovery_us,
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
                    churned: c.churned,
                    misrouted: c.misrouted,
                    stale: c.stale,
                    stayed_on_polling: c.stayed_on_polling,
                    not_recovered: c.not_recovered,
                    dropped: c.dropped,
                    lost_away: c.lost_away,
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
            idle: self.idle.map(Into::into),
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
            instances: self.instances,
            faults: self.faults,
        }
    }
}
