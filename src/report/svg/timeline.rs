//! A figure over time: x is seconds since the measured phase started (linear), y a rate on a
//! linear scale or a latency on a log scale. One line per transport; a second with no value (no
//! deliveries, so no latency) breaks the line instead of bridging it. A dashed rule marks where
//! the measured phase ended and the drain began; a dotted red rule marks each fault injected
//! (`[faults]`), with what it was as its tooltip.

use std::fmt::Write;

use super::{LEFT, LEGEND_LINE, LogScale, PLOT_HEIGHT, Plot, Swatch, c, colour, linear_ticks};
use crate::report::common::escape;
use crate::report::format::{duration_us, sig3};

/// One transport's line in a [`time_chart`].
pub(crate) struct TimeLine {
    /// Transport label, `(partial)` included.
    pub label: String,
    /// Index in run order, for the colour.
    pub index: usize,
    /// `(seconds since the measured phase started, value)`; `None` leaves a gap.
    pub points: Vec<(f64, Option<f64>)>,
    /// Legend text after the label.
    pub legend: String,
}

/// How the y axis is scaled and labelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum YAxis {
    /// A count per second from 0, ticks as plain numbers.
    Rate,
    /// A latency in µs on a log scale, ticks as durations.
    LatencyUs,
}

/// Lines over time. `measured_s` draws the end of the measured phase, when known; `faults` the
/// faults injected, as `(seconds since the measured phase started, what)`.
pub(crate) fn time_chart(
    id: &str,
    title: &str,
    y_label: &str,
    axis: YAxis,
    measured_s: Option<f64>,
    faults: &[(f64, String)],
    lines: &[TimeLine],
) -> String {
    let values = || {
        lines
            .iter()
            .flat_map(|l| l.points.iter().filter_map(|p| p.1))
            .filter(|v| v.is_finite())
    };
    let x_data = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .chain(measured_s)
        .fold(1.0, f64::max);
    let (x_max, x_step) = linear_ticks(x_data);
    let top = 16.0 + LEGEND_LINE * lines.len().max(1) as f64;
    let plot = Plot::new(top, PLOT_HEIGHT);
    let mut svg = plot.open(id, title);
    let to_x = |x: f64| LEFT + x / x_max * plot.width;

    let to_y: Box<dyn Fn(f64) -> f64> = match axis {
        YAxis::Rate => {
            let (y_max, y_step) = linear_ticks(values().fold(0.0, f64::max));
            let mut v = 0.0;
            while v <= y_max * 1.000_001 {
                let y = top + PLOT_HEIGHT - v / y_max * PLOT_HEIGHT;
                plot.y_tick(&mut svg, y, &sig3(v));
                v += y_step;
            }
            Box::new(move |v| top + PLOT_HEIGHT - v / y_max * PLOT_HEIGHT)
        }
        YAxis::LatencyUs => {
            let lo = values().fold(f64::INFINITY, f64::min);
            let hi = values().fold(0.0, f64::max);
            let scale = if lo.is_finite() {
                LogScale::new(lo, hi)
            } else {
                LogScale::new(1.0, 10.0)
            };
            for v in scale.ticks() {
                let y = top + PLOT_HEIGHT - scale.fraction(v) * PLOT_HEIGHT;
                plot.y_tick(&mut svg, y, &duration_us(v));
            }
            Box::new(move |v| top + PLOT_HEIGHT - scale.fraction(v.max(1.0)) * PLOT_HEIGHT)
        }
    };
    let mut x = 0.0;
    while x <= x_max * 1.000_001 {
        plot.x_tick(&mut svg, to_x(x), &format!("{} s", sig3(x)));
        x += x_step;
    }
    let y_text = match axis {
        YAxis::Rate => y_label.to_owned(),
        YAxis::LatencyUs => format!("{y_label} (log scale)"),
    };
    plot.axis_labels(
        &mut svg,
        "time since the measured phase started (s); the drain follows the dashed line",
        &y_text,
    );
    if let Some(end) = measured_s {
        let _ = write!(
            svg,
            r##"<line class="phase-end" x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#555" stroke-dasharray="6 4"/>"##,
            c(plot.top),
            c(plot.bottom()),
            x = c(to_x(end)),
        );
    }

    for (at, what) in faults {
        let _ = write!(
            svg,
            r##"<line class="fault" x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="2 3"><title>{}</title></line>"##,
            c(plot.top),
            c(plot.bottom()),
            escape(&format!("{} s: {what}", sig3(*at))),
            x = c(to_x(*at)),
        );
    }

    for (row, line) in lines.iter().enumerate() {
        let colour = colour(line.index);
        let label = escape(&line.label);
        let mut drawn = false;
        for run in line.points.split(|p| p.1.is_none_or(|v| !v.is_finite())) {
            if run.is_empty() {
                continue;
            }
            let coords: Vec<String> = run
                .iter()
                .map(|(x, v)| format!("{},{}", c(to_x(*x)), c(to_y(v.unwrap_or_default()))))
                .collect();
            let _ = write!(
                svg,
                r#"<polyline class="series" data-transport="{label}" fill="none" stroke="{colour}" stroke-width="2.5" stroke-linejoin="round" points="{}"/>"#,
                coords.join(" ")
            );
            // A lone second would draw nothing as a line.
            if let [(x, Some(v))] = run {
                let _ = write!(
                    svg,
                    r#"<circle class="mark" cx="{}" cy="{}" r="3" fill="{colour}"/>"#,
                    c(to_x(*x)),
                    c(to_y(*v)),
                );
            }
            drawn = true;
        }
        let legend = if drawn {
            line.legend.clone()
        } else {
            "no samples".to_owned()
        };
        plot.legend_entry(&mut svg, row, colour, &line.label, &legend, Swatch::Line);
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_break_the_line() {
        let line = TimeLine {
            label: "ws".into(),
            index: 0,
            points: vec![
                (0.5, Some(10.0)),
                (1.5, Some(20.0)),
                (2.5, None),
                (3.2, Some(5.0)),
            ],
            legend: "x".into(),
        };
        let svg = time_chart("t", "T", "p99", YAxis::LatencyUs, Some(3.0), &[], &[line]);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(
            svg.matches("<circle").count(),
            1,
            "the lone second is a dot"
        );
        assert!(svg.contains("class=\"phase-end\""));
        assert!(svg.contains("(log scale)"));
        let empty = TimeLine {
            label: "sse".into(),
            index: 1,
            points: vec![(0.5, None)],
            legend: "x".into(),
        };
        let svg = time_chart("t", "T", "deliveries/s", YAxis::Rate, None, &[], &[empty]);
        assert!(svg.contains("no samples"));
        assert!(!svg.contains("NaN"));
    }
}
