//! The page's per-process panel: for a transport spread over processes (generator processes,
//! server instances), one small table of what each process used, so a reader sees at a glance
//! whether the load was shared evenly and which process ran hot. Nothing for a run of one
//! generator against one server: the summary table already says it all.
//!
//! Owns the panel's wording; the figures are `metrics.json`'s (`sharding` and `instances`).

use std::fmt::Write;

use super::escape;
use crate::metrics::instances::{InstanceGroup, Usage};
use crate::metrics::{ShardSummary, Sharding, TransportMetrics};
use crate::report::format::{group, sig3};

/// One row: a process, its CPU seconds and peak RSS over the measured phase (`None`: not
/// sampled), and the connections it held.
struct Row {
    process: String,
    cpu_s: Option<f64>,
    peak_rss_kib: Option<u64>,
    connections: String,
}

/// The panel, or nothing when no transport ran in more than one generator or server process.
pub(super) fn section(page: &mut String, metrics: Option<&[TransportMetrics]>) {
    let spread: Vec<(&str, Vec<Row>)> = metrics
        .unwrap_or_default()
        .iter()
        .map(|m| (m.transport.as_str(), rows(m)))
        .filter(|(_, rows)| !rows.is_empty())
        .collect();
    if spread.is_empty() {
        return;
    }
    page.push_str(
        "<h2>Processes</h2>\n<p class=\"note\">Each process of a run spread over several: \
         generator processes (CPU and peak memory over the measured phase, subscribers \
         connected), server instances (CPU over the measured phase, peak memory, connections \
         accepted) and what served beside them. The summary table's client and server columns \
         are these rows' sums.</p>\n",
    );
    for (transport, rows) in spread {
        let _ = write!(
            page,
            "<h3>{}</h3>\n<table class=\"columns processes\">\n<tr><th>process</th>\
             <th class=\"num\">CPU</th><th class=\"num\">peak RSS</th>\
             <th class=\"num\">connections</th></tr>\n",
            escape(transport)
        );
        for r in rows {
            let cpu = r
                .cpu_s
                .map_or("?".into(), |s| format!("{}&nbsp;s", sig3(s)));
            let rss = r.peak_rss_kib.map_or("?".into(), |k| {
                format!("{}&nbsp;MiB", sig3(k as f64 / 1024.0))
            });
            let _ = writeln!(
                page,
                "<tr><th>{}</th><td class=\"num\">{cpu}</td><td class=\"num\">{rss}</td>\
                 <td class=\"num\">{}</td></tr>",
                escape(&r.process),
                escape(&r.connections),
            );
        }
        page.push_str("</table>\n");
    }
}

/// `m`'s processes: its generator processes when merged from several, then its server
/// instances and their Redis and HAProxy when there are several.
fn rows(m: &TransportMetrics) -> Vec<Row> {
    let mut rows = Vec::new();
    if let Some(Sharding::Merged(shards)) = &m.sharding {
        rows.extend(shards.iter().map(generator));
    }
    if let Some(g) = &m.instances {
        rows.extend(serving(g));
    }
    rows
}

fn generator(s: &ShardSummary) -> Row {
    Row {
        process: format!("generator {}", s.figures.slice.label()),
        cpu_s: Some(s.client_cpu.as_secs_f64()),
        peak_rss_kib: Some(s.client_peak_rss_kib),
        connections: format!(
            "{} subscribers",
            group(u64::from(s.figures.subscribers_connected))
        ),
    }
}

fn serving(g: &InstanceGroup) -> Vec<Row> {
    let cpu = |u: Option<Usage>| u.map(|u| u.cpu_ns as f64 / 1e9);
    let rss = |u: Option<Usage>| u.map(|u| u.peak_rss_kib);
    let mut rows: Vec<Row> = g
        .instances
        .iter()
        .map(|i| Row {
            process: format!("instance {}", i.addr),
            cpu_s: cpu(i.usage),
            peak_rss_kib: rss(i.usage),
            connections: match (i.killed, i.report) {
                (true, _) => "killed".into(),
                (false, Some(r)) => format!("{} accepted", group(r.accepted)),
                (false, None) => "?".into(),
            },
        })
        .collect();
    let beside = [("redis-server", g.redis), ("haproxy", g.haproxy)];
    for (name, usage) in beside {
        if usage.is_some() || (name == "redis-server" && !g.existing_redis) {
            rows.push(Row {
                process: name.into(),
                cpu_s: cpu(usage),
                peak_rss_kib: rss(usage),
                connections: String::new(),
            });
        }
    }
    rows
}
