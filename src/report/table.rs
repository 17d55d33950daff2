//! The side-by-side table printed at the end of a run: one column per transport, one row per figure.
//!
//! Every figure comes from the same [`Summary`] rows as `summary.csv`, so the two cannot disagree;
//! this module only formats them for people (`12.3 ms`, `1,234`). No colours, so piping it to a
//! file or a CI log gives plain text.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use super::summary::{Summary, summarize};
use crate::metrics::TransportMetrics;

/// Shown for a figure that does not apply or has a zero denominator (an empty CSV cell).
const NONE: &str = "–";

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
    ("latency p50", |s| opt(s.latency_p50_us, us_int)),
    ("latency p90", |s| opt(s.latency_p90_us, us_int)),
    ("latency p99", |s| opt(s.latency_p99_us, us_int)),
    ("latency p99.9", |s| opt(s.latency_p999_us, us_int)),
    ("latency max", |s| opt(s.latency_max_us, us_int)),
    ("connect p50", |s| opt(s.connect_p50_us, us_int)),
    ("connect p99", |s| opt(s.connect_p99_us, us_int)),
    ("wire bytes / delivery", |s| {
        opt(s.wire_bytes_per_delivery, |b| format!("{} B", sig3(b)))
    }),
    ("overhead bytes / delivery", |s| {
        opt(s.overhead_bytes_per_delivery, |b| format!("{} B", sig3(b)))
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
    ("server peak RSS", |s| {
        opt(s.server_peak_rss_kib, |k| {
            format!("{} MiB", sig3(k as f64 / 1024.0))
        })
    }),
    ("deliveries / server CPU-s", |s| {
        opt(s.deliveries_per_server_cpu_s, sig3)
    }),
    ("connect / io errors", |s| {
        format!("{} / {}", group(s.connect_errors), group(s.io_errors))
    }),
];

/// Renders the table for `metrics`, one column per transport in run order.
pub fn render(metrics: &[TransportMetrics]) -> String {
    render_summaries(&summarize(metrics))
}

/// Renders the table from already computed rows (the same rows `summary.csv` is written from).
///
/// A transport whose run did not complete has `(partial)` after its label.
pub fn render_summaries(rows: &[Summary]) -> String {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    let mut header = vec!["".to_owned()];
    header.extend(rows.iter().map(|s| {
        if s.complete {
            s.transport.clone()
        } else {
            format!("{} (partial)", s.transport)
        }
    }));
    table.set_header(header);
    for (label, format) in FIGURES {
        let mut row = vec![(*label).to_owned()];
        row.extend(rows.iter().map(format));
        table.add_row(row);
    }
    for i in 1..=rows.len() {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    table.to_string()
}

fn opt<T>(value: Option<T>, format: impl Fn(T) -> String) -> String {
    value.map_or_else(|| NONE.to_owned(), format)
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

fn us_int(us: u64) -> String {
    duration_us(us as f64)
}

/// A time given in µs, in the largest unit below it: `842 µs`, `12.3 ms`, `1.20 s`.
fn duration_us(us: f64) -> String {
    if us.abs() < 999.5 {
        format!("{} µs", sig3(us))
    } else if us.abs() < 999_500.0 {
        format!("{} ms", sig3(us / 1e3))
    } else {
        format!("{} s", sig3(us / 1e6))
    }
}

/// Three significant digits (`0.0123`, `1.20`, `63.2`); whole numbers and numbers from 1000 up
/// print as integers with thousands separators (`140`, `12,346`).
fn sig3(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x.fract() == 0.0 || x.abs() >= 999.5 {
        return group_f64(x);
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (2 - magnitude).max(0) as usize;
    let text = format!("{x:.decimals$}");
    // Rounding up can add a digit (9.996 → "10.00"); drop a decimal to stay at three.
    match text.parse::<f64>() {
        Ok(r) if r.abs() >= 10f64.powi(magnitude + 1) && decimals > 0 => {
            format!("{x:.prec$}", prec = decimals - 1)
        }
        _ => text,
    }
}

fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn group_f64(x: f64) -> String {
    let rounded = x.round();
    let sign = if rounded < 0.0 { "-" } else { "" };
    format!("{sign}{}", group(rounded.abs() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::tests::sample;

    #[test]
    fn formats_durations_in_three_significant_digits() {
        assert_eq!(duration_us(842.0), "842 µs");
        assert_eq!(duration_us(5.0), "5 µs");
        assert_eq!(duration_us(12.34), "12.3 µs");
        assert_eq!(duration_us(12_300.0), "12.3 ms");
        assert_eq!(duration_us(999.7), "1.00 ms");
        assert_eq!(duration_us(1_200_000.0), "1.20 s");
        assert_eq!(duration_us(75_000_000.0), "75 s");
    }

    #[test]
    fn formats_numbers_in_three_significant_digits() {
        assert_eq!(sig3(0.0), "0");
        assert_eq!(sig3(0.5), "0.500");
        assert_eq!(sig3(0.01234), "0.0123");
        assert_eq!(sig3(63.24), "63.2");
        assert_eq!(sig3(9.996), "10.0");
        assert_eq!(sig3(140.0), "140");
        assert_eq!(sig3(12_345.6), "12,346");
        assert_eq!(sig3(-63.24), "-63.2");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(999), "999");
    }

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
        assert!(row("deliveries / server CPU-s").contains("10,000"));
        assert_eq!(text.lines().count(), FIGURES.len() + 4, "{text}");
    }
}
