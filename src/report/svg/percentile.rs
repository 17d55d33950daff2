//! Percentile curves: x at log10(1/(1−q)), so 90 %, 99 %, 99.9 % … sit a step apart (the
//! HdrHistogram plot); y is the value on a log scale. One line per transport.

use std::fmt::Write;

use hdrhistogram::Histogram;

use super::{LEFT, LEGEND_LINE, LogScale, PLOT_HEIGHT, Plot, Swatch, c, colour};
use crate::report::common::escape;
use crate::report::common::percentile_distribution;
use crate::report::format::duration_us;

/// One transport's curve in a [`percentile_chart`].
pub(crate) struct Series<'a> {
    /// Transport label, `(partial)` included.
    pub label: String,
    /// Index in run order, for the colour.
    pub index: usize,
    /// The distribution to draw, in µs.
    pub histogram: &'a Histogram<u64>,
    /// Legend text after the label (the summary's figures for this transport).
    pub legend: String,
    /// Marked points: name, quantile (0–1), value in µs as the summary has it.
    pub marks: Vec<(&'static str, f64, u64)>,
}

/// Percentile curves: x at log10(1/(1−q)), so 90 %, 99 %, 99.9 % … are evenly spaced; y is the
/// value on a log scale. Each curve ends at the percentile its sample count can resolve.
pub(crate) fn percentile_chart(id: &str, title: &str, y_label: &str, series: &[Series]) -> String {
    let curves: Vec<Curve> = series
        .iter()
        .map(|s| {
            let end = (s.histogram.len().max(1) as f64).log10();
            let points = percentile_distribution(s.histogram)
                .into_iter()
                .map(|(p, v)| (percentile_x(p / 100.0, end), v.max(1) as f64))
                .collect();
            Curve {
                series: s,
                points,
                end,
            }
        })
        .collect();
    let x_max = curves.iter().map(|c| c.end).fold(2.0, f64::max).ceil();
    let values = || curves.iter().flat_map(|c| c.points.iter().map(|p| p.1));
    let (lo, hi) = (
        values().fold(f64::INFINITY, f64::min),
        values().fold(0.0, f64::max),
    );
    let (lo, hi) = if lo.is_finite() {
        (lo, hi)
    } else {
        (1.0, 10.0)
    };
    let y = LogScale::new(lo, hi);

    let top = 16.0 + LEGEND_LINE * series.len().max(1) as f64;
    let plot = Plot::new(top, PLOT_HEIGHT);
    let mut svg = plot.open(id, title);
    let to_x = |x: f64| LEFT + x / x_max * plot.width;
    let to_y = |v: f64| top + PLOT_HEIGHT - y.fraction(v) * PLOT_HEIGHT;

    for v in y.ticks() {
        plot.y_tick(&mut svg, to_y(v), &duration_us(v));
    }
    let mut ticks = vec![(0.0, "0 %".to_owned()), (2f64.log10(), "50 %".to_owned())];
    for k in 1..=(x_max as usize) {
        let decimals = k.saturating_sub(2);
        let p = 100.0 * (1.0 - 10f64.powi(-(k as i32)));
        ticks.push((k as f64, format!("{p:.decimals$} %")));
    }
    for (x, label) in &ticks {
        plot.x_tick(&mut svg, to_x(*x), label);
    }
    plot.axis_labels(
        &mut svg,
        "percentile (log scale: each step is ten times closer to 100 %)",
        &format!("{y_label} (log scale)"),
    );

    for (
        i,
        Curve {
            series: s,
            points,
            end,
        },
    ) in curves.iter().enumerate()
    {
        let colour = colour(s.index);
        let coords: Vec<String> = points
            .iter()
            .map(|(x, v)| format!("{},{}", c(to_x(*x)), c(to_y(*v))))
            .collect();
        let label = escape(&s.label);
        if !coords.is_empty() {
            let _ = write!(
                svg,
                r#"<polyline class="series" data-transport="{label}" fill="none" stroke="{colour}" stroke-width="2.5" stroke-linejoin="round" points="{}"/>"#,
                coords.join(" ")
            );
        }
        for (name, q, v) in &s.marks {
            let _ = write!(
                svg,
                r#"<circle class="mark" cx="{}" cy="{}" r="4" fill="{colour}"><title>{label} {name}: {}</title></circle>"#,
                c(to_x(percentile_x(*q, *end))),
                c(to_y((*v).max(1) as f64)),
                escape(&duration_us(*v as f64)),
            );
        }
        let legend = if points.is_empty() {
            "no samples".to_owned()
        } else {
            s.legend.clone()
        };
        plot.legend_entry(&mut svg, i, colour, &s.label, &legend, Swatch::Line);
    }
    svg.push_str("</svg>");
    svg
}

/// A series with its points placed: `(x, value)` with x in decades of 1/(1−q), and where its
/// x ends (log10 of its sample count: the finest percentile it resolves).
struct Curve<'a> {
    series: &'a Series<'a>,
    points: Vec<(f64, f64)>,
    end: f64,
}

/// The x position of quantile `q`: log10(1/(1−q)), at most `end` (where 100 % is drawn).
fn percentile_x(q: f64, end: f64) -> f64 {
    if q >= 1.0 {
        end
    } else {
        (-(1.0 - q).log10()).clamp(0.0, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_sit_a_decade_apart() {
        assert_eq!(percentile_x(0.0, 4.0), 0.0);
        assert!((percentile_x(0.9, 4.0) - 1.0).abs() < 1e-9);
        assert!((percentile_x(0.999, 4.0) - 3.0).abs() < 1e-9);
        assert_eq!(percentile_x(0.99999, 4.0), 4.0);
        assert_eq!(percentile_x(1.0, 2.5), 2.5);
    }
}
