//! The report's time charts: each second's deliveries and p99, and with faults the connections
//! open, the faults marked where they happened.

use super::super::common::Derived;
use super::super::format::{duration_us, sig3};
use super::super::summary::{P99, quantile};
use super::super::svg::{self, TimeLine, YAxis};
use super::super::table::column_label;
use crate::metrics::TransportMetrics;

pub(super) fn time_section(page: &mut String, d: &Derived<'_>) {
    page.push_str("<h2>Deliveries per second and p99 latency over time</h2>\n");
    let known = d
        .metrics
        .filter(|m| m.iter().any(|m| !m.timeseries.seconds.is_empty()));
    let Some(metrics) = known else {
        page.push_str(
            "<p class=\"note\">Not available: this directory was written before wsbench \
             recorded each second (<code>timeseries.csv</code>).</p>\n",
        );
        return;
    };
    page.push_str(
        "<p class=\"note\">Second by second from the start of the measured phase through the \
         drain (<code>timeseries.csv</code>): in-window deliveries that arrived in each second, \
         and the 99th percentile push latency of those deliveries. Each point sits in the \
         middle of its second.</p>\n",
    );
    let points = |m: &TransportMetrics, value: &dyn Fn(&crate::metrics::Second) -> Option<f64>| {
        let mut start = 0.0;
        m.timeseries
            .seconds
            .iter()
            .map(|s| {
                let d = s.duration.as_secs_f64();
                let point = (start + d / 2.0, value(s));
                start += d;
                point
            })
            .collect::<Vec<_>>()
    };
    let label = |i: usize| d.rows.get(i).map_or_else(String::new, column_label);
    let rate = |s: &crate::metrics::Second| {
        let d = s.duration.as_secs_f64();
        (d > 0.0).then(|| s.deliveries() as f64 / d)
    };
    let p99 = |s: &crate::metrics::Second| quantile(&s.latency_us.unpack(), P99).map(|v| v as f64);
    let rates: Vec<TimeLine> = metrics
        .iter()
        .enumerate()
        .map(|(index, m)| {
            let points = points(m, &rate);
            let peak = points.iter().filter_map(|p| p.1).fold(0.0, f64::max);
            TimeLine {
                label: label(index),
                index,
                legend: format!("peak {}/s", sig3(peak)),
                points,
            }
        })
        .collect();
    let latencies: Vec<TimeLine> = metrics
        .iter()
        .enumerate()
        .map(|(index, m)| {
            let points = points(m, &p99);
            let values = || points.iter().filter_map(|p| p.1);
            let (lo, hi) = (
                values().fold(f64::INFINITY, f64::min),
                values().fold(0.0, f64::max),
            );
            TimeLine {
                label: label(index),
                index,
                legend: if lo.is_finite() {
                    format!(
                        "p99 of each second from {} to {}",
                        duration_us(lo),
                        duration_us(hi)
                    )
                } else {
                    String::new()
                },
                points,
            }
        })
        .collect();
    let measured_s = d
        .rows
        .iter()
        .map(|s| s.duration_s)
        .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
    // Each transport's faults, at their offset into its own measured phase like its lines.
    let faults: Vec<(f64, String)> = metrics
        .iter()
        .enumerate()
        .flat_map(|(index, m)| {
            let label = label(index);
            m.faults
                .iter()
                .map(move |f| (f.at_s, format!("{label}: {}", f.what)))
        })
        .collect();
    page.push_str(&svg::time_chart(
        "chart-rate",
        "In-window deliveries per second over time, one line per transport",
        "deliveries per second (1/s)",
        YAxis::Rate,
        measured_s,
        &faults,
        &rates,
    ));
    if !faults.is_empty() {
        // Where the faults broke connections, how fast they came back.
        let connections: Vec<TimeLine> = metrics
            .iter()
            .enumerate()
            .map(|(index, m)| {
                let points = points(m, &|s: &crate::metrics::Second| Some(s.connections as f64));
                let low = points
                    .iter()
                    .filter_map(|p| p.1)
                    .fold(f64::INFINITY, f64::min);
                TimeLine {
                    label: label(index),
                    index,
                    legend: if low.is_finite() {
                        format!("fewest open {}", sig3(low))
                    } else {
                        String::new()
                    },
                    points,
                }
            })
            .collect();
        page.push('\n');
        page.push_str(&svg::time_chart(
            "chart-connections",
            "Client connections open at the end of each second, faults marked",
            "connections open",
            YAxis::Rate,
            measured_s,
            &faults,
            &connections,
        ));
    }
    page.push('\n');
    page.push_str(&svg::time_chart(
        "chart-p99",
        "99th percentile push latency of each second over time, one line per transport",
        "p99 push latency",
        YAxis::LatencyUs,
        measured_s,
        &faults,
        &latencies,
    ));
    page.push('\n');
}
