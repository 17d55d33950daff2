//! `wsbench compare A B`: two results directories side by side, for before/after comparisons —
//! per transport present in both, each headline figure for A and for B and the ratio B/A.
//!
//! Reads only what the directories store (`summary.csv`, plus `run.json` and `scenario.toml` for
//! the headings) and derives nothing but the ratios: each figure is the one its `summary.csv`
//! holds, formatted as the stdout table formats it.

use std::fmt::Write;
use std::path::Path;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use super::ReportError;
use super::common::RunFacts;
use super::files::{RUN_JSON, SCENARIO_TOML};
use super::format::{NONE, duration_us, group_f64, sig3};
use super::stored::{read_json, read_summary, read_text};
use super::summary::Summary;

/// One compared figure: its label, its value in a row, and how to print the value.
type Headline = (&'static str, fn(&Summary) -> Option<f64>, fn(f64) -> String);

fn count(x: f64) -> String {
    group_f64(x)
}

fn bytes(x: f64) -> String {
    format!("{} B", sig3(x))
}

fn mib(kib: f64) -> String {
    format!("{} MiB", sig3(kib / 1024.0))
}

fn kib(x: f64) -> String {
    format!("{} KiB", sig3(x))
}

fn share(x: f64) -> String {
    format!("{} %", sig3(x * 100.0))
}

/// Latencies as µs in f64 (exact: the values are far below 2^53).
fn lat(v: Option<u64>) -> Option<f64> {
    v.map(|v| v as f64)
}

/// The figures a before/after comparison is about, in the stdout table's order.
const HEADLINES: &[Headline] = &[
    ("deliveries", |s| Some(s.deliveries as f64), count),
    ("lost", |s| Some(s.lost as f64), count),
    ("latency p50", |s| lat(s.latency_p50_us), duration_us),
    ("latency p90", |s| lat(s.latency_p90_us), duration_us),
    ("latency p99", |s| lat(s.latency_p99_us), duration_us),
    ("latency p99.9", |s| lat(s.latency_p999_us), duration_us),
    ("latency max", |s| lat(s.latency_max_us), duration_us),
    ("connect p50", |s| lat(s.connect_p50_us), duration_us),
    ("connect p99", |s| lat(s.connect_p99_us), duration_us),
    (
        "publish round trip p50",
        |s| lat(s.publish_rtt_p50_us),
        duration_us,
    ),
    (
        "publish round trip p99",
        |s| lat(s.publish_rtt_p99_us),
        duration_us,
    ),
    (
        "wire bytes / delivery",
        |s| s.wire_bytes_per_delivery,
        bytes,
    ),
    (
        "overhead bytes / delivery",
        |s| s.overhead_bytes_per_delivery,
        bytes,
    ),
    (
        "TLS bytes / delivery",
        |s| s.tls_overhead_bytes_per_delivery,
        bytes,
    ),
    (
        "TLS handshake (mean)",
        |s| s.tls_handshake_mean_us,
        duration_us,
    ),
    (
        "HTTP requests / delivery",
        |s| s.http_requests_per_delivery,
        sig3,
    ),
    ("deliveries / s", |s| s.deliveries_per_s, sig3),
    (
        "server CPU / delivery",
        |s| s.server_cpu_us_per_delivery,
        duration_us,
    ),
    (
        "client CPU / delivery",
        |s| s.client_cpu_us_per_delivery,
        duration_us,
    ),
    (
        "server peak RSS",
        |s| s.server_peak_rss_kib.map(|k| k as f64),
        mib,
    ),
    (
        "deliveries / server CPU-s",
        |s| s.deliveries_per_server_cpu_s,
        sig3,
    ),
    (
        "client CPU share of its cores",
        |s| s.client_cpu_util,
        share,
    ),
    (
        "client event-loop lag p99",
        |s| lat(s.client_lag_p99_us),
        duration_us,
    ),
    (
        "client RSS / connection",
        |s| s.client_rss_per_connection_kib,
        kib,
    ),
    (
        "server RSS / connection",
        |s| s.server_rss_per_connection_kib,
        kib,
    ),
];

/// Compares results directories `a` (before) and `b` (after); returns the text to print: a
/// heading naming both runs, a note when their scenarios differ, then one table per transport
/// present in both (figure, A, B, B/A) and the transports found in only one.
pub fn compare(a: &Path, b: &Path) -> Result<String, ReportError> {
    let stored_a = read_summary(a)?;
    let stored_b = read_summary(b)?;
    let mut out = String::new();
    for (name, dir, stored) in [("A", a, &stored_a), ("B", b, &stored_b)] {
        let _ = write!(out, "{name}: {}", dir.display());
        if let Ok(facts) = read_json::<RunFacts>(&dir.join(RUN_JSON)) {
            let _ = write!(
                out,
                " (started {}, wsbench {}{})",
                facts.started_utc,
                facts.version,
                if facts.complete { "" } else { ", partial" }
            );
        }
        out.push('\n');
        if !stored.missing_columns.is_empty() {
            let _ = writeln!(
                out,
                "note: {name}'s summary.csv lacks {} (older wsbench): shown as 0 or –",
                stored.missing_columns.join(", ")
            );
        }
    }
    let (rows_a, rows_b) = (stored_a.rows, stored_b.rows);
    let scenario = |dir: &Path| read_text(&dir.join(SCENARIO_TOML)).ok();
    if scenario(a) != scenario(b) {
        out.push_str("note: the scenarios differ (scenario.toml): the runs had different loads\n");
    }
    for ra in &rows_a {
        let Some(rb) = rows_b.iter().find(|r| r.transport == ra.transport) else {
            continue;
        };
        out.push('\n');
        out.push_str(&transport_table(ra, rb));
        out.push('\n');
    }
    for (name, only, other) in [("A", &rows_a, &rows_b), ("B", &rows_b, &rows_a)] {
        let missing: Vec<&str> = only
            .iter()
            .filter(|r| other.iter().all(|o| o.transport != r.transport))
            .map(|r| r.transport.as_str())
            .collect();
        if !missing.is_empty() {
            let _ = writeln!(out, "only in {name}: {}", missing.join(", "));
        }
    }
    Ok(out)
}

fn transport_table(a: &Summary, b: &Summary) -> String {
    let mut heading = a.transport.clone();
    for (name, s) in [("A", a), ("B", b)] {
        if !s.complete {
            let _ = write!(heading, " ({name} partial)");
        }
    }
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.set_header(vec![heading, "A".into(), "B".into(), "B/A".into()]);
    for (label, value, show) in HEADLINES {
        let (va, vb) = (value(a), value(b));
        let cell = |v: Option<f64>| v.map_or_else(|| NONE.to_owned(), show);
        table.add_row(vec![(*label).to_owned(), cell(va), cell(vb), ratio(va, vb)]);
    }
    for i in 1..=3 {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.to_string()
}

/// `b / a` as `0.85×`; `=` when both are zero, `–` when A is zero or either is missing.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a == 0.0 && b == 0.0 => "=".to_owned(),
        (Some(a), Some(b)) if a != 0.0 => {
            let r = b / a;
            if r.abs() < 10.0 {
                format!("{r:.2}×")
            } else {
                format!("{}×", sig3(r))
            }
        }
        _ => NONE.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_b_over_a() {
        assert_eq!(ratio(Some(2.0), Some(1.0)), "0.50×");
        assert_eq!(ratio(Some(1.0), Some(1.0)), "1.00×");
        assert_eq!(ratio(Some(1.0), Some(123.0)), "123×");
        assert_eq!(ratio(Some(0.0), Some(0.0)), "=");
        assert_eq!(ratio(Some(0.0), Some(3.0)), NONE);
        assert_eq!(ratio(None, Some(3.0)), NONE);
    }

    #[test]
    fn one_row_per_headline_with_partial_marked() {
        let a = Summary {
            transport: "ws".into(),
            complete: true,
            latency_p99_us: Some(2_000),
            ..Summary::default()
        };
        let b = Summary {
            complete: false,
            latency_p99_us: Some(3_000),
            ..a.clone()
        };
        let text = transport_table(&a, &b);
        assert!(text.contains("ws (B partial)"), "{text}");
        let p99 = text.lines().find(|l| l.contains("latency p99 ")).unwrap();
        assert!(p99.contains("2 ms") && p99.contains("3 ms") && p99.contains("1.50×"));
        assert_eq!(text.lines().count(), HEADLINES.len() + 4, "{text}");
    }
}
