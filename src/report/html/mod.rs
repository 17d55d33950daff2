//! `report.html`: one self-contained page per results directory — charts as inline SVG, the
//! summary table, the scenario and the run facts. No scripts, no fonts, no network: it opens
//! from a file anywhere.
//!
//! Owns the page's sections, their order and wording, and HTML escaping. Every figure shown comes
//! from the [`Summary`] rows that `summary.csv` is written from, formatted as the stdout table
//! formats them; the curves come from the histograms `latency.csv` is made from. The charts
//! themselves are drawn by `svg`; the tables are in `tables`, the style sheet in `report.css`.

mod cost;
mod processes;
mod shards;
mod tables;
mod time;

use std::fmt::Write;

use super::bytes::{self, BytesRow};
use super::common::{Derived, escape};
use super::format::{NONE, duration_us, sig3};
use super::saturation;
use super::summary::{P50, P90, P99, P999, Summary};
use super::svg::{self, Bar, Series};
use super::table::column_label;

/// The kinds of wire bytes the bytes chart splits a delivery into, bottom of the stack first.
///
/// With the full metrics the overhead is split by kind as `bytes.csv` splits it; a directory
/// re-rendered from its `summary.csv` alone only tells payload from the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteCategory {
    /// Message bytes: published up, delivered down.
    Payload,
    /// WebSocket frame headers and control frames.
    WsFraming,
    /// The `raw` transport's length prefixes.
    LengthPrefix,
    /// HTTP request heads.
    HttpRequest,
    /// HTTP response heads, netstrings, chunk and SSE framing.
    HttpResponse,
    /// TLS records beyond the plain bytes.
    Tls,
    /// All overhead together (only when the split is not known).
    ProtocolOverhead,
}

impl ByteCategory {
    /// The split `bytes.csv` has.
    const SPLIT: [ByteCategory; 6] = [
        ByteCategory::Payload,
        ByteCategory::WsFraming,
        ByteCategory::LengthPrefix,
        ByteCategory::HttpRequest,
        ByteCategory::HttpResponse,
        ByteCategory::Tls,
    ];
    /// Payload and the rest, from the summary alone.
    const COARSE: [ByteCategory; 2] = [ByteCategory::Payload, ByteCategory::ProtocolOverhead];

    fn label(self) -> &'static str {
        match self {
            ByteCategory::Payload => "payload (message bytes published and delivered)",
            ByteCategory::WsFraming => "WebSocket framing",
            ByteCategory::LengthPrefix => "length prefixes (raw TCP)",
            ByteCategory::HttpRequest => "HTTP request heads",
            ByteCategory::HttpResponse => {
                "HTTP response heads and body framing (netstrings, chunks, SSE)"
            }
            ByteCategory::Tls => "TLS",
            ByteCategory::ProtocolOverhead => "protocol overhead (headers, framing, poll requests)",
        }
    }

    /// One word for the bar's note.
    fn short(self) -> &'static str {
        match self {
            ByteCategory::Payload => "payload",
            ByteCategory::WsFraming => "ws framing",
            ByteCategory::LengthPrefix => "prefixes",
            ByteCategory::HttpRequest => "requests",
            ByteCategory::HttpResponse => "responses",
            ByteCategory::Tls => "tls",
            ByteCategory::ProtocolOverhead => "overhead",
        }
    }

    /// Bytes per delivery in this category, from the summary's own figures (coarse split only).
    fn per_delivery(self, s: &Summary) -> Option<f64> {
        let wire = s.wire_bytes_per_delivery?;
        let overhead = s.overhead_bytes_per_delivery?;
        match self {
            ByteCategory::Payload => Some(wire - overhead),
            ByteCategory::ProtocolOverhead => Some(overhead),
            _ => None,
        }
    }

    /// Bytes per delivery in this category, from `bytes.csv`'s exact byte counts.
    fn per_delivery_split(self, b: &BytesRow) -> Option<f64> {
        let bytes = match self {
            ByteCategory::Payload => b.payload_bytes,
            ByteCategory::WsFraming => b.ws_framing_bytes,
            ByteCategory::LengthPrefix => b.length_prefix_bytes,
            ByteCategory::HttpRequest => b.http_request_bytes,
            ByteCategory::HttpResponse => b.http_response_bytes,
            ByteCategory::Tls => b.tls_bytes,
            ByteCategory::ProtocolOverhead => b.wire_bytes - b.payload_bytes,
        };
        (b.deliveries > 0).then(|| bytes as f64 / b.deliveries as f64)
    }
}
/// The page's style sheet: system fonts, no downloads.
pub(crate) const STYLE: &str = include_str!("report.css");

/// The whole page for one results directory.
pub fn render(d: &Derived<'_>) -> String {
    let name = scenario_name(d.scenario_toml).unwrap_or_else(|| d.facts.scenario_file.clone());
    let mut page = String::with_capacity(64 * 1024);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>wsbench: {name} ({started})</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>wsbench: {name}</h1>\n<p class=\"lead\">Started {started} · {cores} cores · \
         measured by wsbench {version}</p>\n",
        name = escape(&name),
        started = escape(&d.facts.started_utc),
        cores = d.facts.cores,
        version = escape(&d.facts.version),
    );
    if !d.facts.complete || d.rows.iter().any(|s| !s.complete) {
        page.push_str(
            "<p class=\"partial\"><strong>Partial run.</strong> The run was interrupted or a \
             server died: transports marked (partial) cover only what was measured, and \
             transports that never ran are missing.</p>\n",
        );
    }
    for note in d.notes {
        let _ = writeln!(page, "<p class=\"partial\">Note: {}.</p>", escape(note));
    }
    for warning in saturation::warnings(d.rows, d.facts.cores) {
        let text = warning.strip_prefix("warning: ").unwrap_or(&warning);
        let _ = writeln!(
            page,
            "<p class=\"partial\"><strong>Warning:</strong> {}.</p>",
            escape(text)
        );
    }
    page.push_str("<p class=\"chips\">");
    for (i, s) in d.rows.iter().enumerate() {
        let _ = write!(
            page,
            "<span><i style=\"background:{}\"></i>{}</span>",
            svg::colour(i),
            escape(&column_label(s))
        );
    }
    page.push_str("</p>\n");

    latency_section(&mut page, d);
    bytes_section(&mut page, d);
    cost::section(&mut page, d.rows);
    time::time_section(&mut page, d);
    connect_section(&mut page, d);
    tables::summary_section(&mut page, d.rows);
    shards::section(&mut page, d.metrics);
    processes::section(&mut page, d.metrics);
    let _ = write!(
        page,
        "<h2>Scenario</h2>\n<p class=\"note\">As the run used it: <code>{}</code> with \
         command-line overrides applied (<code>scenario.toml</code>).</p>\n<pre>{}</pre>\n",
        escape(&d.facts.scenario_file),
        escape(d.scenario_toml)
    );
    tables::run_section(&mut page, d.facts);
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

fn latency_section(page: &mut String, d: &Derived<'_>) {
    let series: Vec<Series<'_>> = d
        .rows
        .iter()
        .zip(d.histograms)
        .enumerate()
        .map(|(index, (s, h))| {
            let marks = [
                ("p50", P50, s.latency_p50_us),
                ("p90", P90, s.latency_p90_us),
                ("p99", P99, s.latency_p99_us),
                ("p99.9", P999, s.latency_p999_us),
                ("max", 1.0, s.latency_max_us),
            ];
            Series {
                label: column_label(s),
                index,
                histogram: h.latency_us,
                legend: format!(
                    "p50 {} · p99 {} · max {} ({} deliveries)",
                    us(s.latency_p50_us),
                    us(s.latency_p99_us),
                    us(s.latency_max_us),
                    sig3(s.deliveries as f64)
                ),
                marks: marks
                    .into_iter()
                    .filter_map(|(n, q, v)| v.map(|v| (n, q, v)))
                    .collect(),
            }
        })
        .collect();
    page.push_str(
        "<h2>Push latency by percentile</h2>\n<p class=\"note\">Time from a message's \
         intended send time to its arrival at a subscriber, for every delivery. Read a curve \
         left to right: at 99 %, 99 of 100 deliveries were at least this fast. Dots mark \
         p50, p90, p99, p99.9 and the maximum.</p>\n",
    );
    page.push_str(&svg::percentile_chart(
        "chart-latency",
        "Push latency by percentile, one line per transport",
        "push latency",
        &series,
    ));
    page.push('\n');
}

fn bytes_section(page: &mut String, d: &Derived<'_>) {
    let split = d.metrics.map(bytes::rows);
    // Kinds that are zero for every transport (TLS today) stay out of the legend.
    let categories: Vec<ByteCategory> = match &split {
        Some(rows) => ByteCategory::SPLIT
            .into_iter()
            .filter(|c| {
                *c == ByteCategory::Payload
                    || rows
                        .iter()
                        .any(|b| c.per_delivery_split(b).is_some_and(|v| v > 0.0))
            })
            .collect(),
        None => ByteCategory::COARSE.to_vec(),
    };
    let bars: Vec<Bar> = d
        .rows
        .iter()
        .enumerate()
        .map(|(index, s)| {
            let b = split.as_ref().and_then(|rows| rows.get(index));
            let segments: Option<Vec<f64>> = categories
                .iter()
                .map(|c| match b {
                    Some(b) => c.per_delivery_split(b),
                    None => c.per_delivery(s),
                })
                .collect();
            let note = match &segments {
                Some(parts) => {
                    let shown: Vec<String> = categories
                        .iter()
                        .zip(parts)
                        .filter(|(c, v)| **c == ByteCategory::Payload || **v > 0.0)
                        .map(|(c, v)| format!("{} {}", sig3(*v), c.short()))
                        .collect();
                    format!(
                        "{} B = {}",
                        sig3(s.wire_bytes_per_delivery.unwrap_or_default()),
                        shown.join(" + ")
                    )
                }
                None => NONE.to_owned(),
            };
            Bar {
                label: column_label(s),
                index,
                segments,
                note,
            }
        })
        .collect();
    page.push_str(
        "<h2>Wire bytes per delivery</h2>\n<p class=\"note\">TCP payload bytes the clients \
         sent and received in the measured phase and drain, both directions, divided by \
         deliveries. Payload is the messages themselves; the rest is what the protocol \
         costs, split by kind (<code>bytes.csv</code>). The table under the chart puts the \
         codec's byte model beside the measured overhead: <em>model</em> is what it predicts \
         for the part it covers.</p>\n",
    );
    let labels: Vec<&str> = categories.iter().map(|c| c.label()).collect();
    page.push_str(&svg::stacked_bars(
        "chart-bytes",
        "Wire bytes per delivery, payload and each kind of protocol overhead, one bar per transport",
        "bytes per delivery (B, both directions)",
        &labels,
        &bars,
    ));
    page.push('\n');
    if let Some(rows) = &split {
        tables::model_table(page, d.rows, rows);
    }
}

fn connect_section(page: &mut String, d: &Derived<'_>) {
    let series: Vec<Series<'_>> = d
        .rows
        .iter()
        .zip(d.histograms)
        .enumerate()
        .map(|(index, (s, h))| {
            let marks = [
                ("p50", P50, s.connect_p50_us),
                ("p99", P99, s.connect_p99_us),
            ];
            Series {
                label: column_label(s),
                index,
                histogram: h.connect_us,
                legend: format!(
                    "p50 {} · p99 {} ({} connections)",
                    us(s.connect_p50_us),
                    us(s.connect_p99_us),
                    sig3(h.connect_us.len() as f64)
                ),
                marks: marks
                    .into_iter()
                    .filter_map(|(n, q, v)| v.map(|v| (n, q, v)))
                    .collect(),
            }
        })
        .collect();
    page.push_str(
        "<h2>Connect time by percentile</h2>\n<p class=\"note\">Per client, during ramp-up: \
         TCP connect plus the transport's handshake or first round trip (WebSocket upgrade, \
         HTTP join or first request).</p>\n",
    );
    page.push_str(&svg::percentile_chart(
        "chart-connect",
        "Connect time by percentile, one line per transport",
        "connect time",
        &series,
    ));
    page.push('\n');
}
/// A time figure or [`NONE`].
fn us(v: Option<u64>) -> String {
    v.map_or_else(|| NONE.to_owned(), |v| duration_us(v as f64))
}
/// The scenario's `name`, if the stored TOML has one.
fn scenario_name(toml_text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(toml_text).ok()?;
    table.get("name")?.as_str().map(str::to_owned)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_split_adds_up_to_the_wire_figure() {
        let s = Summary {
            wire_bytes_per_delivery: Some(140.0),
            overhead_bytes_per_delivery: Some(63.2),
            ..Summary::default()
        };
        let parts: Vec<f64> = ByteCategory::COARSE
            .iter()
            .filter_map(|c| c.per_delivery(&s))
            .collect();
        assert!(
            (parts.iter().sum::<f64>() - 140.0).abs() < 1e-9,
            "{parts:?}"
        );
        assert_eq!(
            ByteCategory::Payload.per_delivery(&Summary::default()),
            None
        );
    }
}
