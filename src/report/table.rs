//! The side-by-side table printed at the end of a run: one column per transport, one row per figure.
//!
//! Every figure comes from the same [`Summary`] rows as `summary.csv`, so the two cannot disagree;
//! this module only formats them for people (`12.3 ms`, `1,234`). No colours, so piping it to a
//! file or a CI log gives plain text.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use super::format::{duration_us, group, opt, sig3, us_int};
use super::summary::{Summary, summarize};
use crate::metrics::TransportMetrics;

/// One table row: its label and how to format it from a [`Summary`].
type Figure = (&'static str, fn(&Summary) -> String);

/// Headline figures first: did messages arrive, how fast, at what cost in bytes and CPU.
const FIGURES: &[Figure] = &[
    ("deliveries (of expected)", |s| {
        deliveries(s.deliveries, s.deliveries_expected)
    }),
    ("messages published (of scheduled)", |s| {
        format!(
            "{} of {}",
            group(s.messages_published),
            group(s.messages_scheduled)
        )
    }),
    ("lost / duplicated / reordered", |s| {
        format!(
            "{} / {} / {}",
            group(s.lost),
            group(s.duplicated),
            group(s.reordered)
        )
    }),
    ("replayed deliveries (p50 / p99)", |s| {
        format!(
            "{} ({} / {})",
            group(s.replay_deliveries),
            opt(s.replay_latency_p50_us, us_int),
            opt(s.replay_latency_p99_us, us_int)
        )
    }),
    ("recovery p50 / p95 / max", |s| {
        format!(
            "{} / {} / {}",
            opt(s.recovery_p50_us, us_int),
            opt(s.recovery_p95_us, us_int),
            opt(s.recovery_max_us, us_int)
        )
    }),
    ("dropped / reconnects", |s| {
        format!("{} / {}", group(s.dropped), group(s.reconnects))
    }),
    ("latency p50", |s| opt(s.latency_p50_us, us_int)),
    ("latency p90", |s| opt(s.latency_p90_us, us_int)),
    ("latency p99", |s| opt(s.latency_p99_us, us_int)),
    ("latency p99.9", |s| opt(s.latency_p999_us, us_int)),
    ("latency max", |s| opt(s.latency_max_us, us_int)),
    ("connect p50", |s| opt(s.connect_p50_us, us_int)),
    ("connect p99", |s| opt(s.connect_p99_us, us_int)),
    ("connects / s (ramp-up)", |s| opt(s.connects_per_s, sig3)),
    ("publish round trip p50 / p99", |s| {
        format!(
            "{} / {}",
            opt(s.publish_rtt_p50_us, us_int),
            opt(s.publish_rtt_p99_us, us_int)
        )
    }),
    ("TLS handshake (mean)", |s| {
        opt(s.tls_handshake_mean_us, duration_us)
    }),
    ("wire bytes / delivery", |s| {
        opt(s.wire_bytes_per_delivery, |b| format!("{} B", sig3(b)))
    }),
    ("overhead bytes / delivery", |s| {
        opt(s.overhead_bytes_per_delivery, |b| format!("{} B", sig3(b)))
    }),
    ("payload ÷ wire bytes", |s| opt(s.compression_ratio, sig3)),
    ("TLS bytes / delivery", |s| {
        opt(s.tls_overhead_bytes_per_delivery, |b| {
            format!("{} B", sig3(b))
        })
    }),
    ("HTTP requests / delivery", |s| {
        opt(s.http_requests_per_delivery, sig3)
    }),
    ("messages / response", |s| {
        opt(s.messages_per_response, sig3)
    }),
    ("deliveries / s", |s| opt(s.deliveries_per_s, sig3)),
    ("server CPU", |s| {
        opt(s.server_cpu_s, |c| duration_us(c * 1e6))
    }),
    ("server CPU / delivery", |s| {
        opt(s.server_cpu_us_per_delivery, duration_us)
    }),
    ("client CPU", |s| duration_us(s.client_cpu_s * 1e6)),
    ("client CPU / delivery", |s| {
        opt(s.client_cpu_us_per_delivery, duration_us)
    }),
    ("client CPU share of its cores", |s| {
        opt(s.client_cpu_util, |u| format!("{} %", sig3(u * 100.0)))
    }),
    ("client event-loop lag p99 / max", |s| {
        format!(
            "{} / {}",
            opt(s.client_lag_p99_us, us_int),
            opt(s.client_lag_max_us, us_int)
        )
    }),
    ("generator read delay p50 / p99", |s| {
        format!(
            "{} / {}",
            opt(s.generator_delay_p50_us, us_int),
            opt(s.generator_delay_p99_us, us_int)
        )
    }),
    ("publish lag p99", |s| opt(s.publish_lag_p99_us, us_int)),
    ("server peak RSS", |s| {
        opt(s.server_peak_rss_kib, |k| {
            format!("{} MiB", sig3(k as f64 / 1024.0))
        })
    }),
    ("client peak RSS", |s| {
        format!("{} MiB", sig3(s.client_peak_rss_kib as f64 / 1024.0))
    }),
    ("RSS / connection client / server", |s| {
        let kib = |k: f64| format!("{} KiB", sig3(k));
        format!(
            "{} / {}",
            opt(s.client_rss_per_connection_kib, kib),
            opt(s.server_rss_per_connection_kib, kib)
        )
    }),
    ("deliveries / server CPU-s", |s| {
        opt(s.deliveries_per_server_cpu_s, sig3)
    }),
    ("vs raw TCP: server CPU / bytes", |s| {
        let times = |x: f64| format!("{}×", sig3(x));
        match (s.server_cpu_vs_raw, s.wire_bytes_vs_raw) {
            (None, None) => opt(None::<f64>, times),
            (cpu, wire) => format!("{} / {}", opt(cpu, times), opt(wire, times)),
        }
    }),
    ("idle / connection: B/min · CPU/min · RSS", |s| {
        match s.idle_bytes_per_conn_min {
            None => opt(None::<f64>, sig3),
            Some(bytes) => format!(
                "{} B · {} · {}",
                sig3(bytes),
                opt(s.idle_server_cpu_us_per_conn_min, duration_us),
                opt(s.idle_server_kib_per_conn, |k| format!("{} KiB", sig3(k)))
            ),
        }
    }),
    ("connect / io errors", |s| {
        let kinds = crate::metrics::FailureCounts::parse(&s.connect_error_kinds)
            .filter(|k| k.total() > 0)
            .map_or_else(String::new, |k| format!(" ({k})"));
        format!(
            "{}{kinds} / {}",
            group(s.connect_errors),
            group(s.io_errors)
        )
    }),
];

/// Renders the table for `metrics`, one column per transport in run order.
pub fn render(metrics: &[TransportMetrics]) -> String {
    render_summaries(&summarize(metrics))
}

/// Renders the table from already computed rows (the same rows `summary.csv` is written from).
///
/// A transport whose run did not complete has `(partial)` after its label. When the columns
/// do not fit the terminal (at most [`MAX_WIDTH`]; off a terminal, [`MAX_WIDTH`]), the
/// transports are split over several tables, each with the row labels and as many columns as
/// fit (`summary.csv` keeps every transport on its row). No rows at all (every transport
/// failed) gives one line saying so, not an empty table.
pub fn render_summaries(rows: &[Summary]) -> String {
    let terminal = Table::new().width().map(usize::from);
    render_within(rows, terminal.map_or(MAX_WIDTH, |w| w.min(MAX_WIDTH)))
}

/// [`render_summaries`] for a terminal `max_width` characters wide.
fn render_within(rows: &[Summary], max_width: usize) -> String {
    if rows.is_empty() {
        return "no results: every transport run failed (the errors are above)".to_owned();
    }
    let mut blocks = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        // The most transports from `start` whose table fits; at least one.
        let mut end = start + 1;
        let mut text = render_block(&rows[start..end]);
        while end < rows.len() {
            let wider = render_block(&rows[start..=end]);
            if width(&wider) > max_width {
                break;
            }
            text = wider;
            end += 1;
        }
        blocks.push(text);
        start = end;
    }
    blocks.join("\n")
}

/// The widest the table may be, in characters: a 120-column terminal, also off a terminal (a
/// file or a CI log), so that what is stored does not depend on where it ran.
pub const MAX_WIDTH: usize = 120;

/// The widest line of `text`, in characters.
fn width(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// One table with a column for each of `rows`.
fn render_block(rows: &[Summary]) -> String {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    let mut header = vec!["".to_owned()];
    header.extend(rows.iter().map(column_label));
    table.set_header(header);
    for (label, cells) in figure_rows(rows) {
        let mut row = vec![label.to_owned()];
        row.extend(cells);
        table.add_row(row);
    }
    for i in 1..=rows.len() {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.to_string()
}

/// A transport's column heading: its label, with `(partial)` when its run did not complete.
pub(crate) fn column_label(s: &Summary) -> String {
    if s.complete {
        s.transport.clone()
    } else {
        format!("{} (partial)", s.transport)
    }
}

/// The table's rows as text: each figure's label and one formatted cell per transport, in the
/// order of `rows`. The HTML report shows these same cells.
pub(crate) fn figure_rows(rows: &[Summary]) -> Vec<(&'static str, Vec<String>)> {
    FIGURES
        .iter()
        .map(|(label, format)| (*label, rows.iter().map(format).collect()))
        .collect()
}

/// `4,990 of 5,000 (99.8 %)`; the share is rounded down so a loss never shows as 100 %.
fn deliveries(delivered: u64, expected: u64) -> String {
    if expected == 0 {
        return format!("{} of 0", group(delivered));
    }
    let permille = u128::from(delivered) * 1000 / u128::from(expected);
    format!(
        "{} of {} ({}.{} %)",
        group(delivered),
        group(expected),
        permille / 10,
        permille % 10
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::format::NONE;
    use crate::report::summary::tests::sample;

    #[test]
    fn deliveries_never_round_up_to_all() {
        assert_eq!(deliveries(50, 50), "50 of 50 (100.0 %)");
        assert_eq!(deliveries(9_999, 10_000), "9,999 of 10,000 (99.9 %)");
        assert_eq!(deliveries(0, 0), "0 of 0");
    }

    #[test]
    fn one_column_per_transport_with_partial_marked() {
        let mut longpoll = sample("longpoll");
        longpoll.complete = false;
        longpoll.server_usage = None;
        let text = render(&[sample("ws"), longpoll]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].contains("ws") && lines[1].contains("longpoll (partial)"));
        let row = |label: &str| {
            lines
                .iter()
                .find(|l| l.contains(label))
                .copied()
                .unwrap_or_else(|| panic!("no row {label} in\n{text}"))
        };
        assert!(row("deliveries (of expected)").contains("50 of 50 (100.0 %)"));
        assert!(row("latency p50").contains("50.0 ms"));
        assert!(row("connect p99").contains("200 µs"));
        assert!(row("wire bytes / delivery").contains("140 B"));
        assert!(row("overhead bytes / delivery").contains("63.2 B"));
        assert!(row("messages / response").contains("2.50"));
        assert!(row("server CPU / delivery").contains("100 µs"));
        assert!(row("server CPU / delivery").contains(NONE));
        assert!(row("server peak RSS").contains("10 MiB"));
        assert!(row("client peak RSS").contains("19.5 MiB"));
        assert!(row("client CPU share").contains("0.200 %"));
        assert!(row("lag p99 / max").contains("1.50 ms / 4 ms"));
        assert!(row("RSS / connection").contains("4,000 KiB / 2,048 KiB"));
        assert!(row("RSS / connection").contains("4,000 KiB / –"));
        assert!(row("deliveries / server CPU-s").contains("10,000"));
        assert_eq!(text.lines().count(), FIGURES.len() + 4, "{text}");
    }

    #[test]
    fn wide_tables_split_into_blocks_that_fit() {
        let labels = [
            "ws",
            "longpoll-h2-tls",
            "shortpoll-h2-tls",
            "sse-h2-tls",
            "raw",
        ];
        let metrics: Vec<TransportMetrics> = labels.iter().map(|l| sample(l)).collect();
        let rows = summarize(&metrics);
        let text = render_summaries(&rows);
        assert!(width(&text) <= MAX_WIDTH, "{text}");
        // Every transport is a column heading exactly once, in run order.
        let headings: Vec<usize> = labels
            .iter()
            .map(|l| {
                [format!(" {l} ┆"), format!(" {l} │")]
                    .iter()
                    .filter_map(|h| text.find(h.as_str()))
                    .min()
                    .unwrap_or_else(|| panic!("{l}\n{text}"))
            })
            .collect();
        assert!(headings.windows(2).all(|w| w[0] < w[1]), "{text}");
        let blocks = text.matches("deliveries (of expected)").count();
        assert!(blocks > 1, "five wide columns fit one table?\n{text}");
        assert_eq!(text.matches("latency p99 ").count(), blocks);
    }

    #[test]
    fn an_80_column_terminal_gets_one_transport_per_block() {
        let metrics: Vec<TransportMetrics> = ["ws", "sse"].iter().map(|l| sample(l)).collect();
        let rows = summarize(&metrics);
        assert_eq!(render_within(&rows, 120).matches("latency p99 ").count(), 1);
        let narrow = render_within(&rows, 80);
        assert!(width(&narrow) <= 80, "{narrow}");
        assert_eq!(narrow.matches("latency p99 ").count(), 2, "{narrow}");
    }

    #[test]
    fn no_rows_is_a_sentence_not_an_empty_table() {
        let text = render_summaries(&[]);
        assert!(text.starts_with("no results"), "{text}");
        assert!(!text.contains("latency"), "{text}");
    }
}
