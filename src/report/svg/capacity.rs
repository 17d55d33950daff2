//! The capacity chart: p99 push latency against load, one line per transport, each step a dot
//! (filled when it passed, hollow when it did not), and the p99 limit as a dashed rule. x is
//! linear from 0 (the doubling steps spread out as they grow), y a latency on a log scale.

use std::fmt::Write;

use super::{LEFT, LEGEND_LINE, LogScale, PLOT_HEIGHT, Plot, Swatch, c, colour, linear_ticks};
use crate::report::common::escape;
use crate::report::format::{duration_us, sig3};

/// One transport's steps in a [`capacity_chart`].
pub(crate) struct LoadLine {
    /// Transport label.
    pub label: String,
    /// Index in run order, for the colour.
    pub index: usize,
    /// `(load, p99 in µs, passed)` per step, in any order; a step without a p99 is left out.
    pub points: Vec<(f64, Option<f64>, bool)>,
    /// Legend text after the label.
    pub legend: String,
}

/// p99 against load, with the limit `limit_us` drawn across.
pub(crate) fn capacity_chart(
    id: &str,
    title: &str,
    x_label: &str,
    limit_us: f64,
    lines: &[LoadLine],
) -> String {
    let values = || {
        lines
            .iter()
            .flat_map(|l| l.points.iter().filter_map(|p| p.1))
            .filter(|v| v.is_finite())
            .chain([limit_us])
    };
    let x_data = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let (x_max, x_step) = linear_ticks(x_data);
    let top = 16.0 + LEGEND_LINE * lines.len().max(1) as f64;
    let plot = Plot::new(top, PLOT_HEIGHT);
    let mut svg = plot.open(id, title);
    let to_x = |x: f64| LEFT + x / x_max * plot.width;
    let scale = LogScale::new(
        values().fold(f64::INFINITY, f64::min),
        values().fold(0.0, f64::max),
    );
    let to_y = |v: f64| top + PLOT_HEIGHT - scale.fraction(v.max(1.0)) * PLOT_HEIGHT;
    for v in scale.ticks() {
        plot.y_tick(&mut svg, to_y(v), &duration_us(v));
    }
    let mut x = 0.0;
    while x <= x_max * 1.000_001 {
        plot.x_tick(&mut svg, to_x(x), &sig3(x));
        x += x_step;
    }
    plot.axis_labels(&mut svg, x_label, "p99 push latency (log scale)");
    let _ = write!(
        svg,
        r##"<line class="limit" x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="#555" stroke-dasharray="6 4"/>"##,
        c(plot.left),
        c(plot.left + plot.width),
        y = c(to_y(limit_us)),
    );
    for (row, line) in lines.iter().enumerate() {
        let colour = colour(line.index);
        let label = escape(&line.label);
        let mut points: Vec<(f64, f64, bool)> = line
            .points
            .iter()
            .filter_map(|&(x, v, pass)| v.filter(|v| v.is_finite()).map(|v| (x, v, pass)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let coords: Vec<String> = points
            .iter()
            .map(|(x, v, _)| format!("{},{}", c(to_x(*x)), c(to_y(*v))))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline class="series" data-transport="{label}" fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            coords.join(" ")
        );
        for (x, v, pass) in &points {
            let fill = if *pass { colour } else { "#fff" };
            let _ = write!(
                svg,
                r#"<circle class="mark" cx="{}" cy="{}" r="4" fill="{fill}" stroke="{colour}" stroke-width="2"/>"#,
                c(to_x(*x)),
                c(to_y(*v)),
            );
        }
        plot.legend_entry(
            &mut svg,
            row,
            colour,
            &line.label,
            &line.legend,
            Swatch::Line,
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_a_dot_and_the_limit_a_rule() {
        let line = LoadLine {
            label: "ws".into(),
            index: 0,
            points: vec![
                (4.0, Some(900.0), true),
                (2.0, Some(800.0), true),
                (8.0, Some(70_000.0), false),
                (6.0, None, false),
            ],
            legend: "capacity 4".into(),
        };
        let svg = capacity_chart("c", "T", "subscribers", 50_000.0, &[line]);
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("fill=\"#fff\"").count(), 1);
        assert_eq!(svg.matches("class=\"limit\"").count(), 1);
        assert!(!svg.contains("NaN"));
    }
}
