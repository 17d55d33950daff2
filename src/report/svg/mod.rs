//! The charts of `report.html`, drawn as inline SVG text: percentile curves on HdrHistogram's
//! log percentile axis ([`percentile`]), horizontal stacked bars ([`bars`]), lines over time
//! ([`timeline`]) and p99 against load for a capacity search ([`capacity`]).
//!
//! Owns geometry, scales, axes, legends and the transport palette. Takes figures already
//! computed (histogram distributions, [`Summary`](super::Summary) values) and computes none of
//! its own; knows nothing of files or of the page around a chart. Every text is escaped and every
//! coordinate is finite. This file holds what both kinds of chart share: the frame, ticks,
//! legend entries and scales.

mod bars;
mod capacity;
mod percentile;
mod timeline;

use std::fmt::Write;

use super::common::escape;

pub(crate) use bars::{Bar, stacked_bars};
pub(crate) use capacity::{LoadLine, capacity_chart};
pub(crate) use percentile::{Series, percentile_chart};
pub(crate) use timeline::{TimeLine, YAxis, time_chart};

/// One colour per transport, by run order: the Okabe–Ito palette, readable with colour blindness,
/// then Paul Tol's muted one, so every transport of a full variants run (14) has its own.
const PALETTE: [&str; 14] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#332288",
    "#882255", "#117733", "#AA4499", "#999933", "#44AA99", "#CC6677",
];

/// Width of every chart's coordinate system; the page scales it to the screen.
const WIDTH: f64 = 960.0;
/// Room for the y tick labels and the rotated y axis label.
const LEFT: f64 = 96.0;
const RIGHT: f64 = 56.0;
/// Height of one legend line above the plot.
const LEGEND_LINE: f64 = 24.0;
/// Room under the plot for x tick labels and the x axis label.
const BOTTOM: f64 = 62.0;
const PLOT_HEIGHT: f64 = 340.0;

/// The colour of the transport at `index` in run order, the same in every chart.
pub(crate) fn colour(index: usize) -> &'static str {
    PALETTE[index % PALETTE.len()]
}

/// A coordinate, one decimal; never NaN or infinite (a non-finite value would be a bug upstream
/// and is drawn at 0 rather than breaking the page).
fn c(x: f64) -> String {
    let x = if x.is_finite() { x } else { 0.0 };
    format!("{x:.1}")
}

/// A round upper bound for `max` and a tick step giving 4 to 10 ticks: 1, 2 or 5 × 10^k.
fn linear_ticks(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.2);
    }
    let magnitude = 10f64.powf(max.log10().floor());
    let step = [0.1, 0.2, 0.5, 1.0, 2.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| max / s <= 8.0)
        .unwrap_or(2.0 * magnitude);
    ((max / step).ceil() * step, step)
}

/// A log scale between 1–2–5 bounds around the data.
struct LogScale {
    lo: f64,
    hi: f64,
}

impl LogScale {
    fn new(lo: f64, hi: f64) -> LogScale {
        let lo = one_two_five(lo.max(1.0), Round::Down);
        let mut hi = one_two_five(hi.max(lo), Round::Up);
        if hi <= lo {
            hi = one_two_five(lo * 1.5, Round::Up);
        }
        LogScale { lo, hi }
    }

    /// Where `v` lies between the bounds, 0–1 in log space.
    fn fraction(&self, v: f64) -> f64 {
        (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
    }

    /// 1–2–5 ticks within the bounds; decades only when they span more than three.
    fn ticks(&self) -> Vec<f64> {
        let wide = self.hi / self.lo > 1000.0;
        let mut ticks = Vec::new();
        for k in (self.lo.log10().floor() as i32)..=(self.hi.log10().ceil() as i32) {
            for m in [1.0, 2.0, 5.0] {
                let v = m * 10f64.powi(k);
                let inside = v >= self.lo * 0.999 && v <= self.hi * 1.001;
                if inside && (!wide || m == 1.0) {
                    ticks.push(v);
                }
            }
        }
        ticks
    }
}

/// Which way [`one_two_five`] rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Round {
    Down,
    Up,
}

/// The nearest value of the 1–2–5 series (…, 1, 2, 5, 10, 20, …) at or below / above `v`.
fn one_two_five(v: f64, round: Round) -> f64 {
    let mut series = (-1..=16).flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)));
    match round {
        Round::Down => series.filter(|&s| s <= v * 1.000_001).fold(0.1, f64::max),
        Round::Up => series.find(|&s| s >= v * 0.999_999).unwrap_or(1e16),
    }
}

/// The plot area of one chart and the drawing of its frame, ticks, labels and legend.
struct Plot {
    left: f64,
    top: f64,
    width: f64,
    height: f64,
}

/// What a legend entry shows beside its text.
enum Swatch {
    Line,
    Fill(String),
}

impl Plot {
    fn new(top: f64, height: f64) -> Plot {
        Plot {
            left: LEFT,
            top,
            width: WIDTH - LEFT - RIGHT,
            height,
        }
    }

    fn bottom(&self) -> f64 {
        self.top + self.height
    }

    /// The `<svg>` start tag, its title and the plot's frame.
    fn open(&self, id: &str, title: &str) -> String {
        format!(
            r#"<svg id="{id}" class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{id}-title"><title id="{id}-title">{}</title><rect class="plot" x="{}" y="{}" width="{}" height="{}"/>"#,
            c(WIDTH),
            c(self.bottom() + BOTTOM),
            escape(title),
            c(self.left),
            c(self.top),
            c(self.width),
            c(self.height),
        )
    }

    fn y_tick(&self, svg: &mut String, y: f64, label: &str) {
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{}" y1="{y}" x2="{}" y2="{y}"/><text class="tick" x="{}" y="{}" text-anchor="end">{}</text>"#,
            c(self.left),
            c(self.left + self.width),
            c(self.left - 8.0),
            c(y + 4.5),
            escape(label),
            y = c(y),
        );
    }

    fn x_tick(&self, svg: &mut String, x: f64, label: &str) {
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{x}" y1="{}" x2="{x}" y2="{}"/><text class="tick" x="{x}" y="{}" text-anchor="middle">{}</text>"#,
            c(self.top),
            c(self.bottom()),
            c(self.bottom() + 20.0),
            escape(label),
            x = c(x),
        );
    }

    /// The x axis label under the ticks and, unless empty, the y axis label turned upright.
    fn axis_labels(&self, svg: &mut String, x_label: &str, y_label: &str) {
        let _ = write!(
            svg,
            r#"<text class="axis-label" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            c(self.left + self.width / 2.0),
            c(self.bottom() + 48.0),
            escape(x_label)
        );
        if !y_label.is_empty() {
            let (x, y) = (c(22.0), c(self.top + self.height / 2.0));
            let _ = write!(
                svg,
                r#"<text class="axis-label" x="{x}" y="{y}" text-anchor="middle" transform="rotate(-90 {x} {y})">{}</text>"#,
                escape(y_label)
            );
        }
    }

    /// Legend line `row` above the plot: a swatch, the label in bold, then `text`.
    fn legend_entry(
        &self,
        svg: &mut String,
        row: usize,
        colour: &str,
        label: &str,
        text: &str,
        swatch: Swatch,
    ) {
        let y = 12.0 + LEGEND_LINE * row as f64;
        let x = self.left;
        match swatch {
            Swatch::Line => {
                let _ = write!(
                    svg,
                    r#"<line class="swatch" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{colour}" stroke-width="4"/>"#,
                    c(x),
                    c(y + 8.0),
                    c(x + 28.0),
                    c(y + 8.0)
                );
            }
            Swatch::Fill(fill) => {
                let _ = write!(
                    svg,
                    r#"<rect class="swatch" x="{}" y="{}" width="28" height="14" fill="{fill}" stroke="{colour}"/>"#,
                    c(x),
                    c(y + 1.0)
                );
            }
        }
        let _ = write!(
            svg,
            r#"<text class="legend" x="{}" y="{}"><tspan class="legend-label">{}</tspan> {}</text>"#,
            c(x + 38.0),
            c(y + 13.0),
            escape(label),
            escape(text)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_scale_has_one_two_five_bounds_and_ticks() {
        let s = LogScale::new(2_710.0, 12_300.0);
        assert_eq!((s.lo, s.hi), (2_000.0, 20_000.0));
        assert_eq!(s.ticks(), [2_000.0, 5_000.0, 10_000.0, 20_000.0]);
        let wide = LogScale::new(3.0, 4_000_000.0);
        assert_eq!(wide.ticks(), [10.0, 100.0, 1e3, 1e4, 1e5, 1e6]);
        let flat = LogScale::new(100.0, 100.0);
        assert!(flat.hi > flat.lo);
        assert!(flat.fraction(100.0).is_finite());
    }

    #[test]
    fn linear_ticks_are_round() {
        assert_eq!(linear_ticks(221.0), (250.0, 50.0));
        assert_eq!(linear_ticks(67.4), (70.0, 10.0));
        assert_eq!(linear_ticks(0.0), (1.0, 0.2));
    }

    #[test]
    fn coordinates_are_always_finite() {
        assert_eq!(c(f64::NAN), "0.0");
        assert_eq!(c(f64::INFINITY), "0.0");
        assert_eq!(c(12.345), "12.3");
    }
}
