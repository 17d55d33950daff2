use std::time::Duration;

use super::*;
use crate::metrics::{
    DeliveryCounts, GeneratorHealth, LagFigures, PackedHistogram, ProcessUsage, Recorder, Second,
    TimeSeries, TlsFigures, TransportMetrics, WireBytes, new_histogram,
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
    // The generator's read delay 20..=1000 µs (step 20), publish lag 100..=1000 µs (step 100).
    for i in 1..=50 {
        clients.generator_delay_us.record(i * 20).unwrap();
    }
    for i in 1..=10 {
        clients.publish_lag_us.record(i * 100).unwrap();
    }
    // Replays 10..=200 ms (step 10), recoveries 1..=20 ms (step 1).
    for i in 1..=20 {
        clients.replay_us.record(i * 10_000).unwrap();
        clients.recovery_us.record(i * 1_000).unwrap();
    }
    clients.counts.dropped = 4;
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
        idle: None,
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
        instances: None,
        faults: Vec::new(),
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
    assert_eq!(
        (s.generator_delay_p50_us, s.generator_delay_p99_us),
        (Some(500), Some(1_000))
    );
    assert_eq!(s.publish_lag_p99_us, Some(1_000));
    assert_eq!(s.replay_deliveries, 20);
    let replay = (s.replay_latency_p50_us, s.replay_latency_p99_us);
    assert_eq!(replay, (Some(100_031), Some(200_063)));
    let recovery = (s.recovery_p50_us, s.recovery_p95_us, s.recovery_max_us);
    assert_eq!(recovery, (Some(10_007), Some(19_007), Some(20_015)));
    assert_eq!(s.dropped, 4);
    // 50 of the 50 expected.
    assert_eq!(s.delivered_pct, Some(100.0));
    assert_eq!(super::delivered_pct(1, 1_000_000), Some(99.99));
    assert_eq!(super::delivered_pct(0, 0), None);
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
