//! Horizontal stacked bars: one bar per transport in its colour, split into categories told
//! apart by fill pattern (solid, hatched, dotted, cross-hatched, banded).

use std::fmt::Write;

use super::{LEGEND_LINE, Plot, Swatch, WIDTH, c, colour, linear_ticks};
use crate::report::common::escape;
use crate::report::format::sig3;

/// How a bar segment is filled; one per category of a [`stacked_bars`] chart, in order.
const FILLS: [Fill; 5] = [
    Fill::Solid,
    Fill::Hatch,
    Fill::Dots,
    Fill::Cross,
    Fill::Bands,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fill {
    Solid,
    Hatch,
    Dots,
    Cross,
    Bands,
}

/// One transport's bar in a [`stacked_bars`] chart.
pub(crate) struct Bar {
    /// Transport label, `(partial)` included.
    pub label: String,
    /// Index in run order, for the colour.
    pub index: usize,
    /// One value per category, in category order; `None` draws "no data" instead of a bar.
    pub segments: Option<Vec<f64>>,
    /// Text at the end of the bar (the summary's total and split).
    pub note: String,
}

/// Horizontal bars, one per transport in its colour, each split into `categories` (name shown
/// in the legend) told apart by fill pattern; `x_label` names the quantity and its unit.
pub(crate) fn stacked_bars(
    id: &str,
    title: &str,
    x_label: &str,
    categories: &[&str],
    bars: &[Bar],
) -> String {
    const BAR: f64 = 34.0;
    const GAP: f64 = 20.0;
    // Room right of the longest possible bar for the longest note (13 px text: ~7 px a
    // character), so no note runs off the chart; at most half the width goes to notes.
    let longest_note = bars.iter().map(|b| b.note.chars().count()).max();
    let note_room = (longest_note.unwrap_or(0) as f64 * 7.0 + 16.0).clamp(160.0, WIDTH / 2.0);
    let top = 16.0 + LEGEND_LINE * categories.len() as f64;
    let height = GAP + bars.len().max(1) as f64 * (BAR + GAP);
    let plot = Plot {
        left: 150.0,
        width: WIDTH - 150.0 - note_room,
        ..Plot::new(top, height)
    };
    let max = bars
        .iter()
        .filter_map(|b| b.segments.as_ref())
        .map(|s| s.iter().map(|v| v.max(0.0)).sum::<f64>())
        .fold(0.0, f64::max);
    let (x_max, step) = linear_ticks(max);
    let to_x = |v: f64| plot.left + v / x_max * plot.width;

    let mut svg = plot.open(id, title);
    svg.push_str("<defs>");
    for bar in bars {
        for (k, fill) in FILLS
            .iter()
            .enumerate()
            .skip(1)
            .take(categories.len().saturating_sub(1))
        {
            svg.push_str(&pattern(
                &pattern_id(id, bar.index, k),
                *fill,
                colour(bar.index),
            ));
        }
    }
    for (k, fill) in FILLS.iter().enumerate().take(categories.len()) {
        svg.push_str(&pattern(&pattern_id(id, usize::MAX, k), *fill, "#555555"));
    }
    svg.push_str("</defs>");
    let mut v = 0.0;
    while v <= x_max + step / 2.0 {
        plot.x_tick(&mut svg, to_x(v), &sig3(v));
        v += step;
    }
    plot.axis_labels(&mut svg, x_label, "");

    for (i, bar) in bars.iter().enumerate() {
        let y = top + GAP + i as f64 * (BAR + GAP);
        let _ = write!(
            svg,
            r#"<text class="bar-label" x="{}" y="{}" text-anchor="end">{}</text>"#,
            c(plot.left - 10.0),
            c(y + BAR / 2.0 + 5.0),
            escape(&bar.label)
        );
        let mut x = 0.0;
        let segments = bar.segments.as_deref().unwrap_or_default();
        for (k, value) in segments.iter().enumerate() {
            let w = value.max(0.0);
            let fill = match FILLS.get(k) {
                Some(Fill::Solid) | None => colour(bar.index).to_owned(),
                Some(_) => format!("url(#{})", pattern_id(id, bar.index, k)),
            };
            let _ = write!(
                svg,
                r#"<rect class="segment" data-transport="{}" x="{}" y="{}" width="{}" height="{BAR}" fill="{fill}" stroke="{}"><title>{}: {} B</title></rect>"#,
                escape(&bar.label),
                c(to_x(x)),
                c(y),
                c(to_x(x + w) - to_x(x)),
                colour(bar.index),
                escape(categories.get(k).copied().unwrap_or_default()),
                sig3(*value),
            );
            x += w;
        }
        let note = if bar.segments.is_some() {
            bar.note.as_str()
        } else {
            "no deliveries"
        };
        let _ = write!(
            svg,
            r#"<text class="bar-note" x="{}" y="{}">{}</text>"#,
            c(to_x(x) + 8.0),
            c(y + BAR / 2.0 + 5.0),
            escape(note)
        );
    }
    for (k, name) in categories.iter().enumerate() {
        let swatch = Swatch::Fill(match FILLS.get(k) {
            Some(Fill::Solid) | None => "#555555".to_owned(),
            Some(_) => format!("url(#{})", pattern_id(id, usize::MAX, k)),
        });
        plot.legend_entry(&mut svg, k, "#555555", name, "", swatch);
    }
    svg.push_str("</svg>");
    svg
}

/// `id-fill-<transport>-<category>`; `usize::MAX` is the grey legend swatch.
fn pattern_id(id: &str, transport: usize, category: usize) -> String {
    if transport == usize::MAX {
        format!("{id}-fill-legend-{category}")
    } else {
        format!("{id}-fill-{transport}-{category}")
    }
}

fn pattern(pattern_id: &str, fill: Fill, colour: &str) -> String {
    let marks = match fill {
        Fill::Solid => format!(r#"<rect width="8" height="8" fill="{colour}"/>"#),
        Fill::Hatch => format!(r#"<rect width="3" height="8" fill="{colour}"/>"#),
        Fill::Dots => format!(r#"<circle cx="4" cy="4" r="1.8" fill="{colour}"/>"#),
        Fill::Cross => format!(
            r#"<rect width="2" height="8" fill="{colour}"/><rect width="8" height="2" fill="{colour}"/>"#
        ),
        Fill::Bands => format!(r#"<rect width="8" height="4" fill="{colour}"/>"#),
    };
    let rotate = if matches!(fill, Fill::Dots | Fill::Bands) {
        0
    } else {
        45
    };
    format!(
        r#"<pattern id="{pattern_id}" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate({rotate})"><rect width="8" height="8" fill="{colour}" fill-opacity="0.15"/>{marks}</pattern>"#
    )
}
