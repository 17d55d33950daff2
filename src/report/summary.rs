//! One [`Summary`] row per transport: the figures of `summary.csv` and of the stdout table.
//!
//! Every derived number (percentiles, ratios, CPU per delivery) is computed here, once, so the CSV
//! and the table print the same values. A ratio whose denominator is zero is `None` (an empty CSV
//! cell), never NaN or infinity.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::metrics::TransportMetrics;

/// The figures of one transport's run: one row of `summary.csv`.
///
/// The field order *is* the CSV column order, a contract checked by `tests/csv_contract.rs`;
/// `results/README.md` documents every column. `None` is written as an empty cell: the figure
/// does not apply (no server process measured) or its denominator was zero (no deliveries).
/// Floats are rounded by [`round_figure`]; latencies are whole microseconds. `Default` is an
/// all-zero row with every optional cell empty.
///
/// Reading a `summary.csv` written by an older wsbench, a column it lacks reads as its default
/// (0 or empty); [`Summary::columns`] tells which columns a file lacks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    /// Transport label (`ws`, `longpoll`, …).
    pub transport: String,
    /// Subscribers asked for.
    pub subscribers: u32,
    /// Publishers asked for.
    pub publishers: u32,
    /// Length of the measured phase, in seconds.
    pub duration_s: f64,
    /// Messages published with an intended send time inside the measured phase.
    pub messages_published: u64,
    /// Publish slots inside the measured phase; more than `messages_published` when the
    /// publishers could not keep up (the server stopped accepting in time).
    pub messages_scheduled: u64,
    /// `messages_published` × subscribers that connected.
    pub deliveries_expected: u64,
    /// Distinct in-window messages received, summed over subscribers.
    pub deliveries: u64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// Messages received again after their first arrival.
    pub duplicated: u64,
    /// First arrivals that came after a later message of the same publisher.
    pub reordered: u64,
    /// Received messages without a wsbench envelope.
    pub foreign: u64,
    /// Median push latency (receive − intended send), in µs.
    pub latency_p50_us: Option<u64>,
    /// 90th percentile push latency, in µs.
    pub latency_p90_us: Option<u64>,
    /// 99th percentile push latency, in µs.
    pub latency_p99_us: Option<u64>,
    /// 99.9th percentile push latency, in µs.
    pub latency_p999_us: Option<u64>,
    /// Largest push latency, in µs.
    pub latency_max_us: Option<u64>,
    /// Mean push latency, in µs (one decimal).
    pub latency_mean_us: Option<f64>,
    /// Median connect time (TCP + handshake or join), in µs.
    pub connect_p50_us: Option<u64>,
    /// 99th percentile connect time, in µs.
    pub connect_p99_us: Option<u64>,
    /// Median round trip of an HTTP publisher's `POST /publish`, in µs; empty for WebSocket.
    pub publish_rtt_p50_us: Option<u64>,
    /// 99th percentile publish round trip, in µs.
    pub publish_rtt_p99_us: Option<u64>,
    /// Client → server TCP payload bytes in the measured phase and drain.
    pub bytes_up: u64,
    /// Server → client TCP payload bytes in the measured phase and drain.
    pub bytes_down: u64,
    /// Message payload bytes inside `bytes_up + bytes_down` (published up + delivered down).
    pub payload_bytes: u64,
    /// Non-payload wire bytes (framing, headers, requests) per delivery.
    pub overhead_bytes_per_delivery: Option<f64>,
    /// All wire bytes, both directions, per delivery.
    pub wire_bytes_per_delivery: Option<f64>,
    /// HTTP requests the clients made (0 for WebSocket).
    pub http_requests: u64,
    /// HTTP requests per delivery.
    pub http_requests_per_delivery: Option<f64>,
    /// Messages per poll response that carried any (empty when no response carried one).
    pub messages_per_response: Option<f64>,
    /// Poll responses that carried no message (a held poll that timed out, or a short poll too early).
    pub empty_polls: u64,
    /// Deliveries per second of the measured phase.
    pub deliveries_per_s: Option<f64>,
    /// Load generator CPU time (user + system) in the measured phase, in seconds.
    pub client_cpu_s: f64,
    /// Server process CPU time (user + system) in the measured phase, in seconds.
    pub server_cpu_s: Option<f64>,
    /// Load generator CPU per delivery, in µs.
    pub client_cpu_us_per_delivery: Option<f64>,
    /// Server CPU per delivery, in µs.
    pub server_cpu_us_per_delivery: Option<f64>,
    /// Server process peak resident set size, in KiB.
    pub server_peak_rss_kib: Option<u64>,
    /// Deliveries per second of server CPU time.
    pub deliveries_per_server_cpu_s: Option<f64>,
    /// Share of its cores the load generator used over the measured phase and drain, 0..1:
    /// `client_cpu_s` / (that wall time × cores available to the process).
    pub client_cpu_util: Option<f64>,
    /// 99th percentile event-loop lag of the load generator, in µs: how long a task woken over
    /// the measured phase and drain waited before its client thread ran it (`client::watch`).
    pub client_lag_p99_us: Option<u64>,
    /// Largest event-loop lag of the load generator, in µs.
    pub client_lag_max_us: Option<u64>,
    /// Load generator peak resident set size during this transport's run, in KiB (baseline
    /// included).
    pub client_peak_rss_kib: u64,
    /// `client_peak_rss_kib` per client connection: an upper bound, the process's baseline
    /// included.
    pub client_rss_per_connection_kib: Option<f64>,
    /// `server_peak_rss_kib` per client connection: an upper bound, the server's baseline included.
    pub server_rss_per_connection_kib: Option<f64>,
    /// Connections per second the ramp-up achieved: client connections made / the time from its
    /// first slot to its last attempt's end (at most `connect_rate`).
    pub connects_per_s: Option<f64>,
    /// Client socket bytes (both directions) during ramp-up: handshakes and joins.
    pub connect_bytes: u64,
    /// Bytes TLS added (records and any handshakes in the window: wire − plaintext above TLS)
    /// per delivery; 0 without TLS.
    pub tls_overhead_bytes_per_delivery: Option<f64>,
    /// Mean TLS handshake time, in µs; empty without TLS.
    pub tls_handshake_mean_us: Option<f64>,
    /// Clients that failed to connect.
    pub connect_errors: u64,
    /// `connect_errors` by kind: `refused:950 timed_out:50` (kinds: refused, reset, timed_out,
    /// local_limit, tls, rejected, protocol, other); empty when none failed.
    pub connect_error_kinds: String,
    /// Connections that broke after connecting.
    pub io_errors: u64,
    /// Times clients reconnected after losing their connection.
    pub reconnects: u64,
    /// Time clients spent disconnected, summed over clients, in seconds.
    pub disconnected_s: f64,
    /// False when the run was interrupted or the server died.
    pub complete: bool,
}

/// Quantiles of the latency columns, shared with `latency.csv` so both files agree.
pub(crate) const P50: f64 = 0.5;
pub(crate) const P90: f64 = 0.9;
pub(crate) const P99: f64 = 0.99;
pub(crate) const P999: f64 = 0.999;

impl Summary {
    /// The CSV column names, in order (the field names, as the CSV writer emits them).
    pub fn columns() -> Vec<String> {
        let mut wtr = csv::Writer::from_writer(Vec::new());
        let header = wtr
            .serialize(Summary::default())
            .ok()
            .and_then(|()| wtr.into_inner().ok())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&header);
        let first = text.lines().next().unwrap_or_default();
        first.split(',').map(str::to_owned).collect()
    }

    /// Derives the row for one transport. Reads `m`, changes nothing.
    pub fn new(m: &TransportMetrics) -> Summary {
        let rec = &m.clients;
        let deliveries = rec.counts.delivery.delivered;
        let per_delivery = |x: f64| ratio(x, deliveries as f64);
        let seconds = m.measured.as_secs_f64();
        let client_cpu = m.client_usage.cpu.as_secs_f64();
        let server_cpu = m.server_usage.map(|u| u.cpu.as_secs_f64());
        let wire = m.wire.total() as f64;
        let payload = m.payload_wire.total();
        let lag = m.client_watch.and_then(|w| w.lag);
        let per_connection = |kib: u64| ratio(kib as f64, f64::from(m.connections));
        Summary {
            transport: m.transport.clone(),
            subscribers: m.subscribers,
            publishers: m.publishers,
            duration_s: round_figure(seconds),
            messages_published: m.messages_published,
            messages_scheduled: m.messages_scheduled,
            deliveries_expected: m.deliveries_expected,
            deliveries,
            lost: rec.counts.delivery.lost,
            duplicated: rec.counts.delivery.duplicated,
            reordered: rec.counts.delivery.reordered,
            foreign: rec.counts.foreign,
            latency_p50_us: quantile(&rec.latency_us, P50),
            latency_p90_us: quantile(&rec.latency_us, P90),
            latency_p99_us: quantile(&rec.latency_us, P99),
            latency_p999_us: quantile(&rec.latency_us, P999),
            latency_max_us: quantile(&rec.latency_us, 1.0),
            latency_mean_us: (!rec.latency_us.is_empty())
                .then(|| (rec.latency_us.mean() * 10.0).round() / 10.0),
            connect_p50_us: quantile(&rec.connect_us, P50),
            connect_p99_us: quantile(&rec.connect_us, P99),
            publish_rtt_p50_us: quantile(&rec.publish_rtt_us, P50),
            publish_rtt_p99_us: quantile(&rec.publish_rtt_us, P99),
            bytes_up: m.wire.up,
            bytes_down: m.wire.down,
            payload_bytes: payload,
            // A signed difference: should payload ever exceed the wire total, the bug shows.
            overhead_bytes_per_delivery: per_delivery(wire - payload as f64),
            wire_bytes_per_delivery: per_delivery(wire),
            http_requests: rec.counts.http_requests,
            http_requests_per_delivery: per_delivery(rec.counts.http_requests as f64),
            messages_per_response: ratio(
                rec.counts.messages_in_responses as f64,
                rec.counts.responses_with_messages as f64,
            ),
            empty_polls: rec.counts.empty_polls,
            deliveries_per_s: ratio(deliveries as f64, seconds),
            client_cpu_s: round_figure(client_cpu),
            server_cpu_s: server_cpu.map(round_figure),
            client_cpu_us_per_delivery: per_delivery(client_cpu * 1e6),
            server_cpu_us_per_delivery: server_cpu.and_then(|s| per_delivery(s * 1e6)),
            server_peak_rss_kib: m.server_usage.map(|u| u.peak_rss_kib),
            deliveries_per_server_cpu_s: server_cpu.and_then(|s| ratio(deliveries as f64, s)),
            client_cpu_util: m
                .client_watch
                .and_then(|w| w.cpu_util(m.client_usage.cpu))
                .map(round_figure),
            client_lag_p99_us: lag.map(|l| l.p99_us),
            client_lag_max_us: lag.map(|l| l.max_us),
            client_peak_rss_kib: m.client_usage.peak_rss_kib,
            client_rss_per_connection_kib: per_connection(m.client_usage.peak_rss_kib),
            connects_per_s: (!m.connect_ramp.is_zero())
                .then(|| ratio(f64::from(m.connections), m.connect_ramp.as_secs_f64()))
                .flatten()
                .map(round_figure),
            server_rss_per_connection_kib: m
                .server_usage
                .and_then(|u| per_connection(u.peak_rss_kib)),
            connect_bytes: m.connect_wire.total(),
            tls_overhead_bytes_per_delivery: match m.tls {
                Some(t) => per_delivery(wire - t.plaintext.total() as f64),
                None => per_delivery(0.0),
            },
            tls_handshake_mean_us: m
                .tls
                .and_then(|t| ratio(t.handshake_total.as_secs_f64() * 1e6, t.handshakes as f64)),
            connect_errors: rec.counts.connect_errors.total(),
            connect_error_kinds: rec.counts.connect_errors.to_field(),
            io_errors: rec.counts.io_errors,
            reconnects: rec.counts.reconnects,
            disconnected_s: round_figure(rec.counts.disconnected.as_secs_f64()),
            complete: m.complete,
        }
    }
}

impl From<&TransportMetrics> for Summary {
    fn from(m: &TransportMetrics) -> Summary {
        Summary::new(m)
    }
}

/// One [`Summary`] per transport, in run order.
pub fn summarize(metrics: &[TransportMetrics]) -> Vec<Summary> {
    metrics.iter().map(Summary::new).collect()
}

/// The value at `q` (0.0–1.0), or `None` for an empty histogram.
pub(crate) fn quantile(h: &Histogram<u64>, q: f64) -> Option<u64> {
    (!h.is_empty()).then(|| h.value_at_quantile(q))
}

/// `num / den`, rounded by [`round_figure`]; `None` when `den` is zero or the result not finite.
fn ratio(num: f64, den: f64) -> Option<f64> {
    let r = num / den;
    (den != 0.0 && r.is_finite()).then(|| round_figure(r))
}

/// Rounds a float figure for the CSV: 3 decimals, or 4 significant digits below 1, so small ratios
/// such as HTTP requests per delivery (`0.01234`) keep their precision instead of showing `0.012`.
pub fn round_figure(x: f64) -> f64 {
    let decimals = if x == 0.0 || x.abs() >= 1.0 {
        3
    } else {
        // |x| < 1: log10 is negative; 0.0123 → floor −2 → 5 decimals → 4 significant digits.
        (3 - x.abs().log10().floor() as i32).min(12)
    };
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{
        DeliveryCounts, GeneratorHealth, LagFigures, PackedHistogram, ProcessUsage, Recorder,
        Second, TimeSeries, TlsFigures, TransportMetrics, WireBytes, new_histogram,
    };

    /// 10 messages of 64 B published by one publisher to 5 subscribers over 2 s: 50 deliveries,
    /// 7000 wire bytes. Latencies 1..=100 ms (one sample per ms), connect times 100 and 200 µs.
    /// 5 connections; the generator used 10 ms of CPU in 2.5 s on 2 cores, lag p99 1.5 ms.
    pub(crate) fn sample(transport: &str) -> TransportMetrics {
        let mut clients = Recorder::default();
        // `record`, not `Recorder::record_latency`: these tests check the report, not recording.
        for ms in 1..=100 {
            clients.latency_us.record(ms * 1_000).unwrap();
        }
        clients.connect_us.record(100).unwrap();
        clients.connect_us.record(200).unwrap();
        clients.counts.delivery = DeliveryCounts {
            delivered: 50,
            duplicated: 1,
            reordered: 2,
            lost: 0,
        };
        clients.counts.http_requests = 25;
        clients.counts.responses_with_messages = 20;
        clients.counts.messages_in_responses = 50;
        TransportMetrics {
            transport: transport.to_owned(),
            subscribers: 5,
            publishers: 1,
            payload_bytes: 64,
            measured: Duration::from_secs(2),
            messages_published: 10,
            messages_scheduled: 10,
            deliveries_expected: 50,
            clients,
            wire: WireBytes {
                up: 2000,
                down: 5000,
            },
            connect_wire: WireBytes { up: 300, down: 200 },
            payload_wire: WireBytes {
                up: 640,
                down: 3200,
            },
            tls: Some(TlsFigures {
                plaintext: WireBytes {
                    up: 1800,
                    down: 4700,
                },
                handshakes: 6,
                handshake_total: Duration::from_micros(9000),
            }),
            client_usage: ProcessUsage {
                cpu: Duration::from_millis(10),
                peak_rss_kib: 20_000,
            },
            server_usage: Some(ProcessUsage {
                cpu: Duration::from_millis(5),
                peak_rss_kib: 10_240,
            }),
            connections: 5,
            connect_ramp: Duration::from_millis(250),
            client_watch: Some(GeneratorHealth {
                span: Duration::from_millis(2_500),
                cores: 2,
                lag: Some(LagFigures {
                    p99_us: 1_500,
                    max_us: 4_000,
                    samples: 2_500,
                }),
            }),
            complete: true,
            timeseries: sample_series(),
            sharding: None,
        }
    }

    /// The same run second by second: 40, 50 and 10 of the deliveries (in latency order), the
    /// wire bytes split alike, 5 + 5 messages published, the last second a half second of drain.
    fn sample_series() -> TimeSeries {
        let seconds = [(1..=40, 5, 6), (41..=90, 5, 6), (91..=100, 0, 0)]
            .into_iter()
            .map(|(ms, published, connections)| {
                let mut latency_us = new_histogram();
                let n = ms.clone().count() as u64;
                for ms in ms {
                    latency_us.record(ms * 1_000).unwrap();
                }
                Second {
                    duration: if published > 0 {
                        Duration::from_secs(1)
                    } else {
                        Duration::from_millis(500)
                    },
                    latency_us: PackedHistogram::pack(&latency_us),
                    unclocked: 0,
                    published,
                    lost: 0,
                    wire: WireBytes {
                        up: 20 * n,
                        down: 50 * n,
                    },
                    connections,
                }
            })
            .collect();
        TimeSeries {
            start_unix: Duration::from_secs(1_700_000_001),
            seconds,
        }
    }

    #[test]
    fn derives_every_figure_from_known_metrics() {
        let s = Summary::new(&sample("longpoll"));
        assert_eq!(s.transport, "longpoll");
        assert_eq!((s.subscribers, s.publishers), (5, 1));
        assert_eq!(s.duration_s, 2.0);
        assert_eq!((s.messages_published, s.deliveries_expected), (10, 50));
        assert_eq!(
            (s.deliveries, s.lost, s.duplicated, s.reordered),
            (50, 0, 1, 2)
        );
        // 3 significant digits: 50 ms and 100 ms are exact bucket edges only within 0.1 %.
        assert_eq!(s.latency_p50_us, Some(50_015));
        assert_eq!(s.latency_p90_us, Some(90_047));
        assert_eq!(s.latency_p99_us, Some(99_007));
        assert_eq!(s.latency_p999_us, Some(100_031));
        assert_eq!(s.latency_max_us, Some(100_031));
        // HdrHistogram's mean uses each bucket's midpoint: 50 500 µs + 3.62 µs of bucket width.
        assert_eq!(s.latency_mean_us, Some(50_503.6));
        assert_eq!(s.connect_p50_us, Some(100));
        assert_eq!(s.connect_p99_us, Some(200));
        assert_eq!(
            (s.bytes_up, s.bytes_down, s.payload_bytes),
            (2000, 5000, 3840)
        );
        assert_eq!(s.wire_bytes_per_delivery, Some(140.0));
        assert_eq!(s.overhead_bytes_per_delivery, Some(63.2));
        assert_eq!(s.http_requests, 25);
        assert_eq!(s.http_requests_per_delivery, Some(0.5));
        assert_eq!(s.messages_per_response, Some(2.5));
        assert_eq!(s.deliveries_per_s, Some(25.0));
        assert_eq!(s.client_cpu_s, 0.01);
        assert_eq!(s.server_cpu_s, Some(0.005));
        assert_eq!(s.client_cpu_us_per_delivery, Some(200.0));
        assert_eq!(s.server_cpu_us_per_delivery, Some(100.0));
        assert_eq!(s.server_peak_rss_kib, Some(10_240));
        assert_eq!(s.deliveries_per_server_cpu_s, Some(10_000.0));
        assert_eq!(s.client_cpu_util, Some(0.002)); // 0.01 s / (2.5 s × 2 cores)
        assert_eq!(
            (s.client_lag_p99_us, s.client_lag_max_us),
            (Some(1_500), Some(4_000))
        );
        assert_eq!(s.client_peak_rss_kib, 20_000);
        assert_eq!(s.client_rss_per_connection_kib, Some(4_000.0));
        assert_eq!(s.server_rss_per_connection_kib, Some(2_048.0));
        assert_eq!(s.connect_bytes, 500);
        assert_eq!(s.tls_overhead_bytes_per_delivery, Some(10.0)); // (7000 - 6500) / 50
        assert_eq!(s.tls_handshake_mean_us, Some(1500.0));
        assert_eq!((s.connect_errors, s.io_errors, s.complete), (0, 0, true));
    }

    #[test]
    fn zero_denominators_and_empty_histograms_give_empty_cells() {
        let mut m = sample("ws");
        m.clients.latency_us = new_histogram();
        m.clients.connect_us = new_histogram();
        m.clients.counts.delivery = DeliveryCounts::default();
        m.clients.counts.http_requests = 0;
        m.clients.counts.responses_with_messages = 0;
        m.measured = Duration::ZERO;
        m.server_usage = Some(ProcessUsage::default());
        let s = Summary::new(&m);
        assert_eq!(s.latency_p50_us, None);
        assert_eq!(s.latency_max_us, None);
        assert_eq!(s.latency_mean_us, None);
        assert_eq!(s.connect_p99_us, None);
        assert_eq!(s.wire_bytes_per_delivery, None);
        assert_eq!(s.overhead_bytes_per_delivery, None);
        assert_eq!(s.http_requests_per_delivery, None);
        assert_eq!(s.messages_per_response, None);
        assert_eq!(s.deliveries_per_s, None);
        assert_eq!(s.client_cpu_us_per_delivery, None);
        assert_eq!(s.server_cpu_s, Some(0.0));
        assert_eq!(s.server_cpu_us_per_delivery, None);
        assert_eq!(s.deliveries_per_server_cpu_s, None);
    }

    #[test]
    fn websocket_without_requests_has_zero_requests_and_no_messages_per_response() {
        let mut m = sample("ws");
        m.clients.counts.http_requests = 0;
        m.clients.counts.responses_with_messages = 0;
        m.clients.counts.messages_in_responses = 0;
        let s = Summary::new(&m);
        assert_eq!(s.http_requests_per_delivery, Some(0.0));
        assert_eq!(s.messages_per_response, None);
    }

    #[test]
    fn server_columns_are_empty_without_a_measured_server() {
        let mut m = sample("ws");
        m.server_usage = None;
        let s = Summary::new(&m);
        assert_eq!(s.server_cpu_s, None);
        assert_eq!(s.server_cpu_us_per_delivery, None);
        assert_eq!(s.server_peak_rss_kib, None);
        assert_eq!(s.deliveries_per_server_cpu_s, None);
        assert_eq!(s.client_cpu_s, 0.01);
    }

    #[test]
    fn generator_columns_are_empty_without_the_figures() {
        // Results stored before connections and the generator's health were recorded.
        let mut m = sample("ws");
        m.connections = 0;
        m.client_watch = None;
        let s = Summary::new(&m);
        assert_eq!(s.client_cpu_util, None);
        assert_eq!((s.client_lag_p99_us, s.client_lag_max_us), (None, None));
        assert_eq!(s.client_peak_rss_kib, 20_000);
        assert_eq!(s.client_rss_per_connection_kib, None);
        assert_eq!(s.server_rss_per_connection_kib, None);
        // A watch whose ticker recorded nothing still gives the CPU share.
        m.client_watch = Some(GeneratorHealth {
            span: Duration::from_secs(1),
            cores: 1,
            lag: None,
        });
        let s = Summary::new(&m);
        assert_eq!((s.client_cpu_util, s.client_lag_p99_us), (Some(0.01), None));
    }

    #[test]
    fn columns_are_the_field_names_in_order() {
        let columns = Summary::columns();
        assert_eq!(columns.first().map(String::as_str), Some("transport"));
        assert_eq!(columns.last().map(String::as_str), Some("complete"));
        assert!(columns.iter().any(|c| c == "latency_p99_us"));
    }

    #[test]
    fn a_missing_column_reads_as_its_default() {
        let text = "transport,deliveries,latency_p99_us,complete\nws,5,900,true\n";
        let row: Summary = csv::Reader::from_reader(text.as_bytes())
            .deserialize()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(row.deliveries, 5);
        assert_eq!(row.latency_p99_us, Some(900));
        assert_eq!(row.messages_scheduled, 0);
        assert_eq!(row.latency_p50_us, None);
        assert_eq!(row.client_peak_rss_kib, 0);
        assert_eq!(row.client_cpu_util, None);
        assert_eq!(row.client_rss_per_connection_kib, None);
    }

    #[test]
    fn rounds_to_three_decimals_or_four_significant_digits() {
        assert_eq!(round_figure(140.0), 140.0);
        assert_eq!(round_figure(63.23456), 63.235);
        assert_eq!(round_figure(1.0), 1.0);
        assert_eq!(round_figure(0.0123456), 0.01235);
        assert_eq!(round_figure(0.5), 0.5);
        assert_eq!(round_figure(-0.0123456), -0.01235);
        assert_eq!(round_figure(0.0), 0.0);
        assert_eq!(round_figure(1e-300), 0.0);
    }
}
