//! Re-rendering a results directory (`wsbench report DIR`) reproduces what the run wrote, byte
//! for byte; directories from before `metrics.json` still render; damaged ones give errors that
//! name the file; `wsbench compare` puts two directories side by side.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, UNIX_EPOCH};

use wsbench::metrics::{
    DeliveryCounts, GeneratorHealth, IdleCost, LagFigures, ProcessUsage, Recorder,
    TransportMetrics, WireBytes,
};
use wsbench::report::stored::{load_metrics, read_summary};
use wsbench::report::{ReportError, RunInfo, Summary, SummarySource, compare, rerender, write_all};

const DERIVED: [&str; 6] = [
    "summary.csv",
    "latency.csv",
    "timeseries.csv",
    "bytes.csv",
    "metrics.prom",
    "report.html",
];

/// Figures with awkward values: nanosecond durations, ratios with long decimals, no server.
fn metrics(transport: &str, server: bool) -> TransportMetrics {
    let mut clients = Recorder::default();
    let latencies: Vec<Duration> = (1..=997u64)
        .map(|i| Duration::from_nanos(i * i * 3_331))
        .collect();
    for &d in &latencies {
        clients.record_latency(d);
    }
    for i in 1..=37u64 {
        clients.record_connect(Duration::from_micros(i * 113));
    }
    clients.counts.delivery = DeliveryCounts {
        delivered: 997,
        duplicated: 2,
        reordered: 1,
        lost: 3,
    };
    clients.counts.http_requests = 331;
    clients.counts.responses_with_messages = 300;
    clients.counts.messages_in_responses = 997;
    clients.counts.empty_polls = 31;
    clients.counts.io_errors = 1;
    let wire = WireBytes {
        up: 12_345,
        down: 98_765,
    };
    TransportMetrics {
        timeseries: common::series(&latencies, 300, 10, wire, 103),
        sharding: None,
        instances: None,
        faults: Vec::new(),
        transport: transport.to_owned(),
        subscribers: 100,
        publishers: 3,
        payload_bytes: 77,
        measured: Duration::new(3, 141_592_653),
        messages_published: 10,
        messages_scheduled: 11,
        deliveries_expected: 1_000,
        clients,
        wire: WireBytes {
            up: 12_345,
            down: 98_765,
        },
        connect_wire: WireBytes { up: 777, down: 555 },
        payload_wire: WireBytes {
            up: 770,
            down: 76_769,
        },
        tls: None,
        client_usage: ProcessUsage {
            cpu: Duration::from_nanos(123_456_789),
            peak_rss_kib: 12_000,
        },
        server_usage: server.then_some(ProcessUsage {
            cpu: Duration::from_nanos(98_765_432),
            peak_rss_kib: 6_000,
        }),
        // A stored idle phase reads back exactly, its server figures too.
        idle: server.then_some(IdleCost {
            connections: 12,
            span: Duration::from_nanos(30_000_000_123),
            wire: WireBytes { up: 480, down: 960 },
            server_cpu: Some(Duration::from_nanos(1_234_567)),
            server_rss_growth_kib: Some(240),
        }),
        connections: 12,
        connect_ramp: Duration::from_millis(250),
        client_watch: server.then_some(GeneratorHealth {
            span: Duration::from_nanos(2_345_678_901),
            cores: 2,
            lag: Some(LagFigures {
                p99_us: 321,
                max_us: 4_321,
                samples: 2_345,
            }),
        }),
        complete: server,
    }
}

fn run_info(scenario: &str) -> RunInfo {
    RunInfo {
        started: UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        cores: 2,
        complete: false,
        command: vec!["wsbench".into(), "run".into(), "x.toml".into()],
        scenario_path: PathBuf::from("x.toml"),
        scenario_toml: format!("name = \"{scenario}\"\n"),
    }
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn rerender_reproduces_every_derived_file_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let all = [metrics("ws", true), metrics("longpoll", false)];
    write_all(dir, &run_info("s"), &all).unwrap();
    let before: Vec<Vec<u8>> = DERIVED.iter().map(|f| read(dir, f)).collect();
    let stored = ["run.json", "metrics.json", "ws.hlog", "scenario.toml"].map(|f| read(dir, f));
    for file in DERIVED {
        fs::remove_file(dir.join(file)).unwrap();
    }

    let done = rerender(dir).unwrap();
    assert_eq!(done.summary, SummarySource::Recomputed);
    assert!(done.notes.is_empty());
    for (file, bytes) in DERIVED.iter().zip(&before) {
        assert!(
            read(dir, file) == *bytes,
            "{file} differs after re-rendering"
        );
    }
    let after = ["run.json", "metrics.json", "ws.hlog", "scenario.toml"].map(|f| read(dir, f));
    assert_eq!(stored, after, "stored inputs are never rewritten");
    assert_eq!(done.table, wsbench::report::table::render(&all));

    let loaded = load_metrics(dir).unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[1].measured, all[1].measured);
    assert_eq!(loaded[1].clients.latency_us, all[1].clients.latency_us);
    assert_eq!(Summary::new(&loaded[0]), Summary::new(&all[0]));
}

#[test]
fn a_directory_without_metrics_json_renders_from_its_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_all(dir, &run_info("old"), &[metrics("ws", true)]).unwrap();
    fs::remove_file(dir.join("metrics.json")).unwrap();
    fs::remove_file(dir.join("report.html")).unwrap();
    // An older wsbench wrote no `empty_polls` column.
    let summary = String::from_utf8(read(dir, "summary.csv")).unwrap();
    let index = summary
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == "empty_polls")
        .unwrap();
    let old: String = summary
        .lines()
        .map(|line| {
            let mut cells: Vec<&str> = line.split(',').collect();
            cells.remove(index);
            cells.join(",") + "\n"
        })
        .collect();
    fs::write(dir.join("summary.csv"), &old).unwrap();

    let done = rerender(dir).unwrap();
    assert_eq!(done.summary, SummarySource::Stored);
    assert!(
        done.notes.iter().any(|n| n.contains("empty_polls")),
        "{:?}",
        done.notes
    );
    assert_eq!(read(dir, "summary.csv"), old.as_bytes(), "left as stored");
    let html = String::from_utf8(read(dir, "report.html")).unwrap();
    assert!(html.contains("empty_polls: shown as 0 or empty"));
    assert!(html.contains("<polyline class=\"series\" data-transport=\"ws\""));
}

#[test]
fn metrics_json_without_connections_or_generator_health_still_loads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_all(dir, &run_info("old"), &[metrics("ws", true)]).unwrap();
    // As an older wsbench wrote it: neither key.
    let mut json: serde_json::Value = serde_json::from_slice(&read(dir, "metrics.json")).unwrap();
    for t in json["transports"].as_array_mut().unwrap() {
        let t = t.as_object_mut().unwrap();
        assert!(t.remove("connections").is_some() && t.remove("client_watch").is_some());
    }
    fs::write(dir.join("metrics.json"), json.to_string()).unwrap();

    let done = rerender(dir).unwrap();
    assert_eq!(done.summary, SummarySource::Recomputed);
    let row = read_summary(dir).unwrap().rows.remove(0);
    assert_eq!(row.client_peak_rss_kib, 12_000);
    assert_eq!(row.client_cpu_util, None);
    assert_eq!(row.client_lag_p99_us, None);
    assert_eq!(row.client_rss_per_connection_kib, None);
    assert_eq!(row.server_rss_per_connection_kib, None);
    // The stored figures, when present, come back as the same columns.
    write_all(dir, &run_info("new"), &[metrics("ws", true)]).unwrap();
    rerender(dir).unwrap();
    let row = read_summary(dir).unwrap().rows.remove(0);
    assert_eq!(row.client_cpu_util, Some(0.02632)); // 0.123 s / (2.346 s × 2)
    assert_eq!(row.client_lag_p99_us, Some(321));
    assert_eq!(row.client_rss_per_connection_kib, Some(1_000.0));
    assert_eq!(row.server_rss_per_connection_kib, Some(500.0));
}

#[test]
fn damaged_directories_are_errors_that_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let err = rerender(dir).unwrap_err();
    assert!(matches!(&err, ReportError::Read { path, .. } if path.ends_with("run.json")));

    write_all(dir, &run_info("s"), &[metrics("ws", true)]).unwrap();
    let json = String::from_utf8(read(dir, "metrics.json")).unwrap();
    fs::write(
        dir.join("metrics.json"),
        json.replace("\"format\": 1", "\"format\": 99"),
    )
    .unwrap();
    let err = rerender(dir).unwrap_err();
    assert!(
        matches!(err, ReportError::NewerFormat { format: 99, .. }),
        "{err}"
    );

    fs::write(
        dir.join("metrics.json"),
        json.replace("\"lost\"", "\"lots\""),
    )
    .unwrap();
    let err = rerender(dir).unwrap_err();
    assert!(matches!(&err, ReportError::ReadJson { path, .. } if path.ends_with("metrics.json")));

    fs::write(dir.join("metrics.json"), &json).unwrap();
    fs::write(dir.join("ws.hlog"), "Tag=latency,1.0,2.0,3.0,@@@@\n").unwrap();
    let err = rerender(dir).unwrap_err();
    assert!(matches!(&err, ReportError::ReadHlog { path, .. } if path.ends_with("ws.hlog")));
}

#[test]
fn compare_shows_a_b_and_the_ratio_per_shared_transport() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write_all(
        &a,
        &run_info("one"),
        &[metrics("ws", true), metrics("longpoll", true)],
    )
    .unwrap();
    let mut faster = metrics("ws", true);
    faster.wire.down /= 2;
    write_all(&b, &run_info("two"), &[faster, metrics("sse", true)]).unwrap();

    let text = compare(&a, &b).unwrap();
    assert!(text.contains("note: the scenarios differ"), "{text}");
    assert!(text.contains("only in A: longpoll"), "{text}");
    assert!(text.contains("only in B: sse"), "{text}");
    let wire = text
        .lines()
        .find(|l| l.contains("wire bytes / delivery"))
        .unwrap();
    // (12,345 + 49,382) / 997 vs (12,345 + 98,765) / 997.
    assert!(
        wire.contains("111 B") && wire.contains("61.9 B") && wire.contains("0.56×"),
        "{wire}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("lost") && l.contains("1.00×"))
    );
}

/// The rows of a CSV file as maps from column to cell.
fn csv_rows(dir: &Path, file: &str) -> Vec<std::collections::HashMap<String, String>> {
    csv::Reader::from_reader(read(dir, file).as_slice())
        .deserialize()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn num(row: &std::collections::HashMap<String, String>, column: &str) -> u64 {
    row[column]
        .parse()
        .unwrap_or_else(|e| panic!("{column}: {e}"))
}

/// A real run's `timeseries.csv` adds up to its `summary.csv`, second by second, and `bytes.csv`'s
/// parts add up to the wire bytes.
fn series_and_bytes_add_up(dir: &Path) {
    let series = String::from_utf8(read(dir, "timeseries.csv")).unwrap();
    assert_eq!(
        series.lines().next().unwrap(),
        "transport,t_s,published,deliveries,lost,latency_p50_us,latency_p99_us,latency_max_us,\
         bytes_up,bytes_down,connections"
    );
    let seconds = csv_rows(dir, "timeseries.csv");
    let bytes = csv_rows(dir, "bytes.csv");
    let summary = csv_rows(dir, "summary.csv");
    assert_eq!(summary.len(), 2);
    for (row, split) in summary.iter().zip(&bytes) {
        let transport = &row["transport"];
        let mine: Vec<_> = seconds
            .iter()
            .filter(|s| &s["transport"] == transport)
            .collect();
        // 1 s measured plus the drain: at least one row, numbered from 0.
        assert!(!mine.is_empty(), "{transport}");
        for (t, s) in mine.iter().enumerate() {
            assert_eq!(num(s, "t_s"), t as u64);
        }
        for (column, total) in [
            ("deliveries", "deliveries"),
            ("published", "messages_published"),
            ("lost", "lost"),
            ("bytes_up", "bytes_up"),
            ("bytes_down", "bytes_down"),
        ] {
            let sum: u64 = mine.iter().map(|s| num(s, column)).sum();
            assert_eq!(sum, num(row, total), "{transport} {column}");
        }
        assert!(num(row, "deliveries") > 0);
        // At most 20 subscribers and, over HTTP, the 2 publishers' own connections (a poll
        // subscriber that has every message closes its connection before the drain ends).
        let most = if transport == "ws" { 20 } else { 22 };
        assert!(
            mine.iter().all(|s| num(s, "connections") <= most),
            "{transport}"
        );
        assert!(num(mine[0], "connections") > 0, "{transport}");

        assert_eq!(&split["transport"], transport);
        assert_eq!(num(split, "deliveries"), num(row, "deliveries"));
        let wire = num(split, "wire_bytes");
        assert_eq!(wire, num(row, "bytes_up") + num(row, "bytes_down"));
        let parts: u64 = [
            "payload_bytes",
            "ws_framing_bytes",
            "http_request_bytes",
            "http_response_bytes",
            "tls_bytes",
        ]
        .iter()
        .map(|c| num(split, c))
        .sum();
        assert_eq!(parts, wire, "{transport}");
        assert_eq!(num(split, "payload_bytes"), num(row, "payload_bytes"));
    }
}

fn wsbench(args: &[&str]) -> Output {
    let output = Command::new(common::wsbench_bin())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stderr}");
    output
}

#[test]
fn report_and_compare_on_a_real_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("tiny");
    let d = dir.to_str().unwrap();
    let run = wsbench(&[
        "run",
        "scenarios/tiny.toml",
        "--quiet",
        "--out",
        d,
        "--subscribers",
        "20",
        "--publishers",
        "2",
        "--duration",
        "1s",
        "--transports",
        "ws,longpoll",
    ]);
    series_and_bytes_add_up(&dir);
    let before: Vec<Vec<u8>> = DERIVED.iter().map(|f| read(&dir, f)).collect();
    for file in DERIVED {
        fs::remove_file(dir.join(file)).unwrap();
    }

    let report = wsbench(&["report", d]);
    for (file, bytes) in DERIVED.iter().zip(&before) {
        assert!(
            read(&dir, file) == *bytes,
            "{file} differs after `wsbench report`"
        );
    }
    let table = String::from_utf8(report.stdout).unwrap();
    let run_stdout = String::from_utf8(run.stdout).unwrap();
    assert!(
        run_stdout.starts_with(table.trim_end()),
        "{table}\n{run_stdout}"
    );

    let compared = String::from_utf8(wsbench(&["compare", d, d]).stdout).unwrap();
    for transport in ["ws", "longpoll"] {
        assert!(compared.contains(&format!("│ {transport} ")), "{compared}");
    }
    let ratios: Vec<&str> = compared
        .lines()
        .filter(|l| l.contains('┆') && !l.contains("B/A"))
        .map(|l| l.rsplit('┆').next().unwrap().trim_end_matches('│').trim())
        .collect();
    assert!(!ratios.is_empty());
    assert!(
        ratios.iter().all(|r| ["1.00×", "=", "–"].contains(r)),
        "{compared}"
    );
}
