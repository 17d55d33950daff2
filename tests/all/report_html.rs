//! `report.html` as `write_all` writes it, checked structurally: every chart is there, one line
//! and one bar per transport, coordinates are finite numbers, tags balance, nothing is fetched
//! from anywhere, every text is escaped, and the numbers are the ones `summary.csv` holds.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use wsbench::metrics::{
    DeliveryCounts, GeneratorHealth, LagFigures, ProcessUsage, Recorder, TransportMetrics,
    WireBytes, new_histogram,
};
use wsbench::report::{RunInfo, Summary, write_all};

/// A transport with `n` latency samples spread over 1–50 ms and `n / 10` connect samples.
fn metrics(transport: &str, n: u64, complete: bool) -> TransportMetrics {
    let mut clients = Recorder::default();
    let latencies: Vec<Duration> = (0..n)
        .map(|i| Duration::from_micros(1_000 + i * 49_000 / n.max(1)))
        .collect();
    for &d in &latencies {
        clients.record_latency(d);
    }
    for i in 0..n / 10 {
        clients.record_connect(Duration::from_micros(200 + i * 7));
    }
    clients.counts.delivery = DeliveryCounts {
        delivered: n,
        ..DeliveryCounts::default()
    };
    TransportMetrics {
        transport: transport.to_owned(),
        subscribers: 10,
        publishers: 1,
        payload_bytes: 64,
        measured: Duration::from_millis(2_500),
        messages_published: n / 10,
        messages_scheduled: n / 10,
        deliveries_expected: n,
        clients,
        wire: WireBytes {
            up: 1_000 + n * 7,
            down: n * 90,
        },
        connect_wire: WireBytes { up: 500, down: 400 },
        payload_wire: WireBytes {
            up: n / 10 * 64,
            down: n * 64,
        },
        tls: None,
        client_usage: ProcessUsage {
            cpu: Duration::from_millis(30),
            peak_rss_kib: 9_000,
        },
        idle: None,
        server_usage: Some(ProcessUsage {
            cpu: Duration::from_millis(12),
            peak_rss_kib: 5_000,
        }),
        connections: 11,
        connect_ramp: Duration::from_millis(250),
        client_watch: None,
        complete,
        timeseries: common::series(
            &latencies,
            (n as usize).div_ceil(3),
            n / 10,
            WireBytes {
                up: 1_000 + n * 7,
                down: n * 90,
            },
            11,
        ),
        sharding: None,
        instances: None,
        faults: Vec::new(),
    }
}

fn run_info(scenario_toml: &str, complete: bool) -> RunInfo {
    RunInfo {
        started: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        cores: 2,
        complete,
        command: vec!["wsbench".into(), "run".into(), "<img src=x>".into()],
        scenario_path: PathBuf::from("scenarios/t.toml"),
        scenario_toml: scenario_toml.to_owned(),
    }
}

/// `ws`, `longpoll` (partial) and a transport that delivered nothing, written to a fresh dir.
fn written() -> (tempfile::TempDir, String, Vec<Summary>) {
    let tmp = tempfile::tempdir().unwrap();
    let mut empty = metrics("sse", 0, true);
    empty.clients.latency_us = new_histogram();
    let all = [
        metrics("ws", 5_000, true),
        metrics("longpoll", 800, false),
        empty,
    ];
    let scenario = "name = \"t</title><script>alert(1)</script>\"\n# 'quoted' & <b>\n";
    write_all(tmp.path(), &run_info(scenario, false), &all).unwrap();
    let html = fs::read_to_string(tmp.path().join("report.html")).unwrap();
    let mut reader = csv::Reader::from_path(tmp.path().join("summary.csv")).unwrap();
    let rows = reader.deserialize().map(Result::unwrap).collect();
    (tmp, html, rows)
}

/// The text of the `<svg>` element with this id.
fn chart<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<svg id=\"{id}\""))
        .unwrap_or_else(|| panic!("no chart {id}"));
    let end = html[start..].find("</svg>").unwrap() + start;
    &html[start..end]
}

#[test]
fn every_chart_is_drawn_with_one_line_or_bar_per_transport() {
    let (_tmp, html, _) = written();
    assert_eq!(html.matches("<svg ").count(), 5, "five charts");
    let latency = chart(&html, "chart-latency");
    let connect = chart(&html, "chart-connect");
    let bytes = chart(&html, "chart-bytes");
    let rate = chart(&html, "chart-rate");
    let p99 = chart(&html, "chart-p99");
    for (transport, samples) in [("ws", true), ("longpoll (partial)", true), ("sse", false)] {
        let line = format!("<polyline class=\"series\" data-transport=\"{transport}\"");
        let expected = usize::from(samples);
        assert_eq!(latency.matches(&line).count(), expected, "{transport}");
        assert_eq!(connect.matches(&line).count(), expected, "{transport}");
        // Payload, WebSocket framing, HTTP requests and HTTP responses (TLS is 0 everywhere and
        // left out), or none when nothing was delivered.
        let segment = format!("<rect class=\"segment\" data-transport=\"{transport}\"");
        assert_eq!(bytes.matches(&segment).count(), 4 * expected, "{transport}");
        // Three seconds, each with deliveries: one unbroken line over time per chart.
        assert_eq!(rate.matches(&line).count(), expected, "{transport}");
        assert_eq!(p99.matches(&line).count(), expected, "{transport}");
    }
    for label in [
        "deliveries per second (1/s)",
        "p99 push latency (log scale)",
        "2 s<",
    ] {
        assert!(
            rate.contains(label) || p99.contains(label),
            "time axes lack {label}"
        );
    }
    assert!(rate.contains("class=\"phase-end\""), "the drain is marked");
    for part in [
        "WebSocket framing",
        "HTTP request heads",
        "HTTP response heads",
    ] {
        assert!(bytes.contains(part), "bytes legend lacks {part}");
    }
    assert!(
        !bytes.contains(">TLS<"),
        "an all-zero kind stays out of the legend"
    );
    assert!(
        latency.contains("no samples"),
        "the empty transport says so"
    );
    assert!(bytes.contains("no deliveries"));
    for label in ["99 %", "99.9 %", "push latency (log scale)", " ms<"] {
        assert!(latency.contains(label), "latency axis lacks {label}");
    }
    assert!(html.contains("over time"));
    assert!(
        html.contains("the model covers"),
        "the model is shown beside the measured bytes"
    );
    assert!(html.contains("Partial run."));
}

#[test]
fn coordinates_are_finite_numbers() {
    let (_tmp, html, _) = written();
    let mut checked = 0;
    for attr in [
        "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "width", "height", "points", "viewBox",
    ] {
        let key = format!(" {attr}=\"");
        for (at, _) in html.match_indices(&key) {
            let value = &html[at + key.len()..];
            let value = &value[..value.find('"').unwrap()];
            for number in value.split([' ', ',']).filter(|s| !s.is_empty()) {
                let x: f64 = number
                    .parse()
                    .unwrap_or_else(|_| panic!("{attr}=\"{value}\" is not numeric"));
                assert!(x.is_finite(), "{attr}=\"{value}\"");
                checked += 1;
            }
        }
    }
    assert!(checked > 500, "only {checked} numbers found");
}

#[test]
fn tags_balance_and_nothing_is_fetched() {
    let (_tmp, html, _) = written();
    assert!(html.starts_with("<!DOCTYPE html>"));
    let lower = html.to_ascii_lowercase();
    // Escaped text cannot hold `"`, so an attribute match is a real attribute.
    for banned in [
        "http:", "https:", "<script", "<link", "<img", "@import", " src=\"", " href=\"",
    ] {
        assert!(!lower.contains(banned), "{banned} in the page");
    }
    for (at, _) in html.match_indices("url(") {
        assert_eq!(&html[at + 4..at + 5], "#", "only in-page references");
    }
    const VOID: [&str; 2] = ["meta", "br"];
    let mut open: Vec<&str> = Vec::new();
    let mut rest = html.as_str();
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').unwrap() + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        let name = tag
            .trim_start_matches('/')
            .split([' ', '\n'])
            .next()
            .unwrap();
        if VOID.contains(&name) {
            continue;
        }
        if tag.starts_with('/') {
            assert_eq!(open.pop(), Some(name), "unbalanced </{name}>");
        } else {
            open.push(name);
        }
    }
    assert!(open.is_empty(), "unclosed: {open:?}");
}

#[test]
fn every_text_is_escaped() {
    let (_tmp, html, _) = written();
    assert!(html.contains("t&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("# &#39;quoted&#39; &amp; &lt;b&gt;"));
    assert!(html.contains("&lt;img src=x&gt;"));
}

#[test]
fn figures_are_the_ones_in_summary_csv() {
    let (tmp, html, rows) = written();
    let summary = fs::read_to_string(tmp.path().join("summary.csv")).unwrap();
    let mut lines = summary.lines();
    let columns: Vec<&str> = lines.next().unwrap().split(',').collect();
    let records: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // The page's "All columns" table: one row per column, the cells exactly as in the CSV.
    for (i, column) in columns.iter().enumerate() {
        let mut row = format!("<tr><th>{column}</th>");
        for record in &records {
            row.push_str(&format!("<td class=\"num\">{}</td>", record[i]));
        }
        assert!(html.contains(&row), "{row}");
    }
    // The headline table and the legend show the summary's p99, formatted like the stdout table.
    let ws = &rows[0];
    let p99 = ws.latency_p99_us.unwrap() as f64 / 1000.0;
    let shown = format!("p99 {p99:.1} ms");
    assert!(html.contains(&shown), "{shown}");

    // timeseries.csv adds up to the summary; the legend's peak is the highest rate of any second.
    let series = fs::read_to_string(tmp.path().join("timeseries.csv")).unwrap();
    let ws_seconds: Vec<u64> = series
        .lines()
        .filter(|l| l.starts_with("ws,"))
        .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
        .collect();
    assert_eq!(ws_seconds.iter().sum::<u64>(), ws.deliveries);
    assert_eq!(ws_seconds, [1667, 1667, 1666]);
    // The last second lasted 0.4 s: 1666 deliveries in it is 4165 per second.
    assert!(html.contains("peak 4,165/s"), "peak rate");
}

#[test]
fn a_saturated_generator_is_flagged_at_the_top() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ws = metrics("ws", 100, true);
    // 4.5 s of CPU over 2.5 s on 2 cores: 90 % of them.
    ws.client_usage.cpu = Duration::from_millis(4_500);
    ws.client_watch = Some(GeneratorHealth {
        span: Duration::from_millis(2_500),
        cores: 2,
        lag: Some(LagFigures {
            p99_us: 180_000,
            max_us: 300_000,
            samples: 2_500,
        }),
    });
    write_all(
        tmp.path(),
        &run_info("", true),
        &[ws, metrics("sse", 100, true)],
    )
    .unwrap();
    let html = fs::read_to_string(tmp.path().join("report.html")).unwrap();
    let warning = "<p class=\"partial\"><strong>Warning:</strong> [ws] the load generator was \
                   saturated: CPU 90 % of 2 cores, lag p99 180 ms — latency includes its own delay.</p>";
    assert!(html.contains(warning), "{html}");
    assert_eq!(html.matches("<strong>Warning:</strong>").count(), 1);
}

/// Faults are marked where they happened on every time chart, each with what it was, and the
/// connections open each second get their own chart; without faults, neither.
#[test]
fn faults_are_marked_on_the_time_charts_with_the_connections_open() {
    let tmp = tempfile::tempdir().unwrap();
    let mut ws = metrics("ws", 5_000, true);
    ws.faults = vec![
        wsbench::metrics::FaultMark {
            at_s: 1.0,
            what: "drop reset 10 connections".into(),
        },
        wsbench::metrics::FaultMark {
            at_s: 2.0,
            what: "drop reset 9 connections".into(),
        },
    ];
    write_all(tmp.path(), &run_info("", true), &[ws]).unwrap();
    let html = fs::read_to_string(tmp.path().join("report.html")).unwrap();
    for id in ["chart-rate", "chart-p99", "chart-connections"] {
        let svg = chart(&html, id);
        assert_eq!(svg.matches("<line class=\"fault\"").count(), 2, "{id}");
        assert!(
            svg.contains("<title>1 s: ws: drop reset 10 connections</title>"),
            "{id}"
        );
    }
    let (_tmp, plain, _) = written();
    assert!(!plain.contains("class=\"fault\""));
    assert!(!plain.contains("chart-connections"));
}
