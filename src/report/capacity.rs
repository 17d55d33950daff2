//! A capacity search's results: `capacity.csv` (one row per step) and its `report.html` (the
//! conclusion per transport, the p99-against-load chart, the steps). Takes the figures and the
//! verdicts already judged by [`crate::capacity`]; judges nothing itself.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::common::escape;
use super::format::{NONE, duration_us, sig3};
use super::html::STYLE;
use super::svg::{self, LoadLine};

/// One step of a capacity search: one row of `capacity.csv`. The field order is the column order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CapacityStep {
    /// Transport label.
    pub transport: String,
    /// What the load counts: `subscribers` or `rate` (messages per second).
    pub by: String,
    /// The load this step ran.
    pub load: u64,
    /// Push latency p50 in µs (empty: nothing delivered).
    pub latency_p50_us: Option<u64>,
    /// Push latency p99 in µs (empty: nothing delivered).
    pub latency_p99_us: Option<u64>,
    /// Deliveries expected and not made.
    pub lost: u64,
    /// In-window deliveries per second of the measured phase.
    pub deliveries_per_s: Option<f64>,
    /// The server's CPU seconds over the measured phase and drain (empty: not measured).
    pub server_cpu_s: Option<f64>,
    /// The load generator's CPU seconds over the same span.
    pub client_cpu_s: Option<f64>,
    /// The load generator's share of its cores (0–1), its self-check's first figure.
    pub client_cpu_util: Option<f64>,
    /// How the step was judged: `pass`, `p99 over limit`, `lost messages`, `connection errors`,
    /// `run failed` or `generator saturated`.
    pub verdict: String,
    /// The step's own results directory, relative to the search's.
    pub results: String,
}

/// Writes `capacity.csv` with every step so far (rewritten after each step, so an interrupted
/// search leaves what it measured).
pub fn write_csv(path: &Path, steps: &[CapacityStep]) -> io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    for step in steps {
        w.serialize(step)?;
    }
    w.flush()
}

/// What the page says about one transport's search.
#[derive(Debug, Clone)]
pub struct Conclusion {
    /// Transport label.
    pub transport: String,
    /// The search's conclusion, e.g. `capacity 5000 (passed; 5250 failed: p99 over limit)`.
    pub text: String,
}

/// The capacity search's `report.html`.
pub fn page(
    name: &str,
    by: &str,
    limit_us: u64,
    conclusions: &[Conclusion],
    steps: &[CapacityStep],
) -> String {
    let mut page = String::with_capacity(32 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>wsbench capacity: {name}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>wsbench capacity: {name}</h1>\n<p class=\"lead\">The most {by} each transport \
         carried with p99 push latency within {limit}, nothing lost and no connection errors: \
         the load doubled while every step passed, then bisected between the last pass and the \
         first failure. A step where the load generator was the bottleneck stops the search: its \
         figures are partly the generator's own.</p>\n<h2>Capacity</h2>\n<table>\n\
         <tr><th>transport</th><th>result</th></tr>\n",
        name = escape(name),
        by = escape(by),
        limit = escape(&duration_us(limit_us as f64)),
    );
    for c in conclusions {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(&c.transport),
            escape(&c.text)
        );
    }
    page.push_str("</table>\n");
    let lines: Vec<LoadLine> = conclusions
        .iter()
        .enumerate()
        .map(|(index, c)| LoadLine {
            label: c.transport.clone(),
            index,
            points: steps
                .iter()
                .filter(|s| s.transport == c.transport)
                .map(|s| {
                    let p99 = s.latency_p99_us.map(|v| v as f64);
                    (s.load as f64, p99, s.verdict == "pass")
                })
                .collect(),
            legend: c.text.clone(),
        })
        .collect();
    page.push_str(&svg::capacity_chart(
        "chart-capacity",
        "p99 push latency against load, per transport; the dashed line is the limit, hollow dots failed",
        by,
        limit_us as f64,
        &lines,
    ));
    page.push_str(
        "\n<h2>Steps</h2>\n<table>\n<tr><th>transport</th><th>load</th><th>p50</th>\
         <th>p99</th><th>lost</th><th>deliveries/s</th><th>server CPU s</th>\
         <th>generator CPU s</th><th>verdict</th><th>results</th></tr>\n",
    );
    let us = |v: Option<u64>| v.map_or(NONE.to_owned(), |v| duration_us(v as f64));
    let num = |v: Option<f64>| v.map_or(NONE.to_owned(), sig3);
    for s in steps {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(&s.transport),
            s.load,
            escape(&us(s.latency_p50_us)),
            escape(&us(s.latency_p99_us)),
            s.lost,
            escape(&num(s.deliveries_per_s)),
            escape(&num(s.server_cpu_s)),
            escape(&num(s.client_cpu_s)),
            escape(&s.verdict),
            escape(&s.results),
        );
    }
    page.push_str("</table>\n</main>\n</body>\n</html>\n");
    page
}
