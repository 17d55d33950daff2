//! Golden test of the results directory: the exact CSV headers (a contract with every script and
//! chart that reads them), `run.json`'s keys and `.hlog` files that HdrHistogram reads back.

use crate::common;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use wsbench::metrics::{
    DeliveryCounts, GeneratorHealth, LagFigures, ProcessUsage, Recorder, TransportMetrics,
    WireBytes, new_histogram,
};
use wsbench::report::{RunInfo, Summary, table, write_all};

const SUMMARY_HEADER: &str = "transport,subscribers,publishers,duration_s,messages_published,messages_scheduled,\
deliveries_expected,deliveries,lost,delivered_pct,duplicated,reordered,foreign,misrouted,stale,stayed_on_polling,latency_p50_us,latency_p90_us,\
latency_p99_us,latency_p999_us,latency_max_us,latency_mean_us,connect_p50_us,connect_p99_us,\
publish_rtt_p50_us,publish_rtt_p99_us,\
bytes_up,bytes_down,payload_bytes,compression_ratio,overhead_bytes_per_delivery,wire_bytes_per_delivery,\
http_requests,http_requests_per_delivery,messages_per_response,empty_polls,deliveries_per_s,client_cpu_s,\
server_cpu_s,client_cpu_us_per_delivery,server_cpu_us_per_delivery,server_peak_rss_kib,\
deliveries_per_server_cpu_s,server_cpu_vs_raw,wire_bytes_vs_raw,client_cpu_util,client_lag_p99_us,client_lag_max_us,generator_delay_p50_us,generator_delay_p99_us,publish_lag_p99_us,client_peak_rss_kib,\
client_rss_per_connection_kib,server_rss_per_connection_kib,connects_per_s,connect_bytes,tls_overhead_bytes_per_delivery,tls_handshake_mean_us,connect_errors,connect_error_kinds,io_errors,reconnects,disconnected_s,churned,reconnect_p50_us,reconnect_p99_us,dropped,lost_away,replay_deliveries,replay_latency_p50_us,replay_latency_p99_us,recovery_p50_us,recovery_p95_us,recovery_max_us,idle_connections,idle_bytes_per_conn_min,\
idle_server_cpu_us_per_conn_min,idle_server_kib_per_conn,complete";

const LATENCY_HEADER: &str = "transport,percentile,latency_us";

const TIMESERIES_HEADER: &str = "transport,t_s,published,deliveries,lost,latency_p50_us,\
latency_p99_us,latency_max_us,bytes_up,bytes_down,connections";

const BYTES_HEADER: &str = "transport,deliveries,wire_bytes,payload_bytes,ws_framing_bytes,length_prefix_bytes,\
http_request_bytes,http_response_bytes,tls_bytes,wire_per_delivery,payload_per_delivery,\
ws_framing_per_delivery,length_prefix_per_delivery,http_request_per_delivery,http_response_per_delivery,tls_per_delivery,\
model_overhead_per_delivery,model_covers";

fn metrics(transport: &str, server: Option<ProcessUsage>) -> TransportMetrics {
    let mut clients = Recorder::default();
    for us in [150, 300, 450, 2_000, 40_000] {
        clients
            .latency_us
            .record(us)
            .expect("auto-resizing histogram");
    }
    clients
        .connect_us
        .record(900)
        .expect("auto-resizing histogram");
    clients.record_publish_rtt(Duration::from_micros(700));
    clients.counts.delivery = DeliveryCounts {
        delivered: 5,
        duplicated: 0,
        reordered: 0,
        lost: 1,
    };
    TransportMetrics {
        transport: transport.to_owned(),
        subscribers: 2,
        publishers: 1,
        payload_bytes: 64,
        measured: Duration::from_millis(1_500),
        messages_published: 3,
        messages_scheduled: 3,
        deliveries_expected: 6,
        clients,
        wire: WireBytes { up: 10, down: 900 },
        connect_wire: WireBytes { up: 200, down: 150 },
        payload_wire: WireBytes { up: 0, down: 320 },
        tls: None,
        client_usage: ProcessUsage {
            cpu: Duration::from_millis(3),
            peak_rss_kib: 8_000,
        },
        server_usage: server,
        idle: None,
        connections: 2,
        connect_ramp: Duration::from_millis(250),
        client_watch: Some(GeneratorHealth {
            span: Duration::from_secs(2),
            cores: 2,
            lag: Some(LagFigures {
                p99_us: 250,
                max_us: 900,
                samples: 2_000,
            }),
        }),
        complete: true,
        timeseries: common::series(
            &[150, 300, 450, 2_000, 40_000].map(Duration::from_micros),
            3,
            3,
            WireBytes { up: 10, down: 900 },
            3,
        ),
        sharding: None,
        instances: None,
        faults: Vec::new(),
    }
}

fn run_info() -> RunInfo {
    RunInfo {
        started: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        cores: 8,
        complete: false,
        command: vec!["wsbench".into(), "run".into(), "scenarios/chat.toml".into()],
        scenario_path: PathBuf::from("scenarios/chat.toml"),
        scenario_toml: "name = \"chat\"\n".into(),
    }
}

fn header(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

#[test]
fn results_directory_keeps_its_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("chat-20231114T221320Z");
    let ws = metrics("ws", None);
    let mut longpoll = metrics(
        "longpoll",
        Some(ProcessUsage {
            cpu: Duration::from_millis(7),
            peak_rss_kib: 4_096,
        }),
    );
    longpoll.clients.connect_us = new_histogram();
    let all = [ws, longpoll];
    write_all(&dir, &run_info(), &all).unwrap();

    let summary = fs::read_to_string(dir.join("summary.csv")).unwrap();
    assert_eq!(header(&summary), SUMMARY_HEADER);
    let mut reader = csv::Reader::from_reader(summary.as_bytes());
    let rows: Vec<Summary> = reader.deserialize().collect::<Result<_, _>>().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], Summary::new(&all[0]));
    assert_eq!(rows[1].transport, "longpoll");
    assert_eq!(rows[0].server_cpu_s, None, "no server measured: empty cell");
    assert_eq!(rows[1].connect_p50_us, None, "empty histogram: empty cell");
    assert_eq!(rows[1].server_peak_rss_kib, Some(4_096));
    assert_eq!(rows[1].server_rss_per_connection_kib, Some(2_048.0));
    assert_eq!(rows[0].server_rss_per_connection_kib, None);
    assert_eq!(rows[0].client_rss_per_connection_kib, Some(4_000.0));
    assert_eq!(rows[0].client_cpu_util, Some(0.00075)); // 3 ms / (2 s × 2 cores)
    assert!(!summary.contains("NaN") && !summary.contains("inf"));

    let latency = fs::read_to_string(dir.join("latency.csv")).unwrap();
    assert_eq!(header(&latency), LATENCY_HEADER);
    let body: Vec<&str> = latency.lines().skip(1).collect();
    assert!(
        body.first().unwrap().starts_with("longpoll,0.0,"),
        "sorted by transport"
    );
    assert!(body.contains(&"ws,99.9,40031"), "{latency}");
    assert!(body.last().unwrap().starts_with("ws,100.0,"));

    let run: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["tool"], "wsbench");
    assert_eq!(run["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(run["started_utc"], "2023-11-14T22:13:20Z");
    assert_eq!(run["cores"], 8);
    assert_eq!(run["complete"], false);
    assert_eq!(run["command"][2], "scenarios/chat.toml");
    assert_eq!(run["transports"], serde_json::json!(["ws", "longpoll"]));
    assert_eq!(run["scenario_file"], "scenarios/chat.toml");
    assert_eq!(
        fs::read_to_string(dir.join("scenario.toml")).unwrap(),
        "name = \"chat\"\n"
    );

    for m in &all {
        let log = fs::read(dir.join(format!("{}.hlog", m.transport))).unwrap();
        assert!(String::from_utf8_lossy(&log).contains("microseconds (µs)"));
        let read = read_hlog(&log);
        assert_eq!(read.len(), 8 + m.timeseries.seconds.len());
        assert_eq!(read[0].0.as_deref(), Some("latency"));
        assert_eq!(read[0].1, m.clients.latency_us);
        assert_eq!(read[0].1.len(), 5);
        assert_eq!(read[0].2, Duration::from_secs(1_700_000_000));
        assert_eq!(read[1].0.as_deref(), Some("connect"));
        assert_eq!(read[1].1, m.clients.connect_us);
        assert_eq!(read[2].0.as_deref(), Some("publish_rtt"));
        assert_eq!(read[2].1, m.clients.publish_rtt_us);
        assert_eq!(read[2].1.len(), 1);
        assert_eq!(read[3].0.as_deref(), Some("reconnect"));
        assert_eq!(read[3].1, m.clients.reconnect_us);
        assert_eq!(read[4].0.as_deref(), Some("generator_delay"));
        assert_eq!(read[4].1, m.clients.generator_delay_us);
        assert_eq!(read[5].0.as_deref(), Some("publish_lag"));
        assert_eq!(read[5].1, m.clients.publish_lag_us);
        assert_eq!(read[6].0.as_deref(), Some("replay"));
        assert_eq!(read[6].1, m.clients.replay_us);
        assert_eq!(read[7].0.as_deref(), Some("recovery"));
        assert_eq!(read[7].1, m.clients.recovery_us);
        // One untagged interval per second, in order, each at its own start time.
        for (i, second) in m.timeseries.seconds.iter().enumerate() {
            let (tag, h, start) = &read[8 + i];
            assert_eq!(*tag, None);
            assert_eq!(*h, second.latency_us.unpack());
            assert_eq!(
                *start,
                m.timeseries.start_unix + Duration::from_secs(i as u64)
            );
        }
    }

    let series = fs::read_to_string(dir.join("timeseries.csv")).unwrap();
    assert_eq!(header(&series), TIMESERIES_HEADER);
    let rows: Vec<&str> = series.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "two seconds per transport: {series}");
    assert_eq!(rows[0], "ws,0,3,3,0,300,450,450,5,450,3");
    assert_eq!(rows[1], "ws,1,0,2,0,2000,40031,40031,5,450,3");
    assert!(rows[2].starts_with("longpoll,0,"));

    let bytes = fs::read_to_string(dir.join("bytes.csv")).unwrap();
    assert_eq!(header(&bytes), BYTES_HEADER);
    // 910 wire bytes, 320 of them payload; 590 of WebSocket framing over 5 deliveries.
    let ws = bytes.lines().nth(1).unwrap();
    assert!(
        ws.starts_with("ws,5,910,320,590,0,0,0,0,182.0,64.0,118.0,0.0,0.0,0.0,0.0,"),
        "{ws}"
    );
    let longpoll = bytes.lines().nth(2).unwrap();
    assert!(
        longpoll.starts_with("longpoll,5,910,320,0,0,10,580,0,182.0,64.0,0.0,0.0,2.0,116.0,0.0,"),
        "{longpoll}"
    );
}

#[test]
fn no_transports_still_gives_headers() {
    let tmp = tempfile::tempdir().unwrap();
    write_all(tmp.path(), &run_info(), &[]).unwrap();
    let summary = fs::read_to_string(tmp.path().join("summary.csv")).unwrap();
    assert_eq!(summary, format!("{SUMMARY_HEADER}\n"));
    let latency = fs::read_to_string(tmp.path().join("latency.csv")).unwrap();
    assert_eq!(latency, format!("{LATENCY_HEADER}\n"));
    let series = fs::read_to_string(tmp.path().join("timeseries.csv")).unwrap();
    assert_eq!(series, format!("{TIMESERIES_HEADER}\n"));
    let bytes = fs::read_to_string(tmp.path().join("bytes.csv")).unwrap();
    assert_eq!(bytes, format!("{BYTES_HEADER}\n"));
}

#[test]
fn table_and_csv_show_the_same_row() {
    let m = metrics("ws", None);
    let text = table::render(std::slice::from_ref(&m));
    assert_eq!(Summary::new(&m).latency_p50_us, Some(450));
    assert!(text.contains("450 µs"), "{text}");
}

/// `(tag, histogram, start timestamp)` of each interval in an interval log.
fn read_hlog(log: &[u8]) -> Vec<(Option<String>, Histogram<u64>, Duration)> {
    IntervalLogIterator::new(log)
        .filter_map(
            |entry| match entry.expect("a well-formed interval log line") {
                LogEntry::Interval(i) => Some(i),
                _ => None,
            },
        )
        .map(|i| {
            let bytes = base64_decode(i.encoded_histogram());
            let h: Histogram<u64> = Deserializer::new()
                .deserialize(&mut bytes.as_slice())
                .expect("a V2 deflate histogram");
            (
                i.tag().map(|t| t.as_str().to_owned()),
                h,
                i.start_timestamp(),
            )
        })
        .collect()
}

/// Standard base64 with padding (the crate has no base64 dependency of its own to use here).
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .expect("a base64 character") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
