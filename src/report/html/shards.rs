//! The page's per-shard section, for a results directory merged from shards (`wsbench merge`):
//! one table per transport, one row per shard, so a reader sees each slice, how its window lined
//! up with the common start, and what it measured on its own clock.

use std::fmt::Write;

use super::escape;
use crate::metrics::{ShardSummary, Sharding, TransportMetrics};
use crate::report::format::{group, opt, sig3, us_int};

/// The section, or nothing when no transport was merged from shards.
pub(super) fn section(page: &mut String, metrics: Option<&[TransportMetrics]>) {
    let merged: Vec<(&str, &[ShardSummary])> = metrics
        .unwrap_or_default()
        .iter()
        .filter_map(|m| match &m.sharding {
            Some(Sharding::Merged(shards)) => Some((m.transport.as_str(), shards.as_slice())),
            _ => None,
        })
        .collect();
    if merged.is_empty() {
        return;
    }
    page.push_str(
        "<h2>Shards</h2>\n<p class=\"note\">This run was split over processes \
         (<code>wsbench run --shard I/N</code>) and added up by <code>wsbench merge</code>. \
         Counts, bytes and histograms are sums; expected and lost are recomputed from every \
         shard's published messages and connected subscribers. A shard records latency only for \
         its own publishers' messages (one clock read twice); the others' count for delivery, \
         loss, duplicates and order. <em>Window start</em> is when the shard's measured phase \
         began on its own clock, after the common start plus the warmup: the shards' windows \
         coincide as closely as their clocks agree, while which messages fall in the window \
         is decided by the schedule, exactly.</p>\n",
    );
    for (transport, shards) in merged {
        let _ = write!(
            page,
            "<h3>{}</h3>\n<div class=\"scroll\"><table class=\"columns\">\n<tr><th>shard</th>\
             <th class=\"num\">subscribers</th><th class=\"num\">publishers</th>\
             <th class=\"num\">connected</th><th class=\"num\">published</th>\
             <th class=\"num\">deliveries</th><th class=\"num\">timed here</th>\
             <th class=\"num\">p50</th><th class=\"num\">p99</th><th class=\"num\">max</th>\
             <th class=\"num\">client CPU</th><th class=\"num\">window start</th>\
             <th>source addresses</th><th>directory</th></tr>\n",
            escape(transport)
        );
        let first_start = shards
            .iter()
            .map(|s| s.measure_start_unix)
            .min()
            .unwrap_or_default();
        for s in shards {
            let f = &s.figures;
            let offset_ms = s
                .measure_start_unix
                .saturating_sub(first_start)
                .as_secs_f64()
                * 1e3;
            let sources = if f.sources.is_empty() {
                "chosen by the kernel".to_owned()
            } else {
                f.sources
                    .iter()
                    .map(|(a, n)| format!("{a} ({})", group(*n)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                page,
                "<tr><th>{}{}</th><td class=\"num\">{}..{}</td><td class=\"num\">{}..{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}&nbsp;s</td>\
                 <td class=\"num\">+{}&nbsp;ms</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&f.slice.label()),
                if s.complete { "" } else { " (partial)" },
                f.slice.subscribers.start,
                f.slice.subscribers.end,
                f.slice.publishers.start,
                f.slice.publishers.end,
                group(u64::from(f.subscribers_connected)),
                group(s.messages_published),
                group(s.deliveries),
                group(s.latency_samples),
                opt(s.latency_p50_us, us_int),
                opt(s.latency_p99_us, us_int),
                opt(s.latency_max_us, us_int),
                sig3(s.client_cpu.as_secs_f64()),
                sig3(offset_ms),
                escape(&sources),
                escape(&s.dir),
            );
        }
        page.push_str("</table></div>\n");
    }
}
