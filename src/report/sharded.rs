//! What a reader of a sharded run's table must know, printed under it: whose latency it shows
//! and how exact each figure is. One line per transport that was sharded or merged; nothing for
//! a run in one process.
//!
//! Owns the wording; the figures come from the metrics. The page's per-shard section is
//! `html::shards`'.

use super::format::group;
use crate::metrics::{ShardSummary, Sharding, TransportMetrics};

/// The notes for `metrics`, in run order.
pub fn notes(metrics: &[TransportMetrics]) -> Vec<String> {
    metrics.iter().filter_map(note).collect()
}

fn note(m: &TransportMetrics) -> Option<String> {
    let timed = m.clients.latency_us.len();
    let delivered = m.clients.counts.delivery.delivered;
    Some(match m.sharding.as_ref()? {
        Sharding::Part(f) => {
            let s = &f.slice;
            format!(
                "shard {} of {}: subscribers {}..{} of {}, publishers {}..{} of {}. Latency is from \
                 this shard's own publishers only ({} of {} deliveries: one clock read twice); \
                 every delivery counts for delivery, loss, duplicates and order. Expected and lost \
                 count the other shards' {} messages as scheduled: `wsbench merge` makes them exact.",
                s.label(),
                m.transport,
                s.subscribers.start,
                s.subscribers.end,
                s.subscribers_total,
                s.publishers.start,
                s.publishers.end,
                s.publishers_total,
                group(timed),
                group(delivered),
                group(f.others_scheduled),
            )
        }
        Sharding::Merged(shards) => format!(
            "{}: merged from {} shards. Latency is from same-shard deliveries only ({} of {}: each \
             shard timed its own publishers' messages, on its own clock); delivery, loss, \
             duplicates and order count every delivery of every shard. Per process: {}.",
            m.transport,
            shards.len(),
            group(timed),
            group(delivered),
            per_process(shards),
        ),
    })
}

/// Each shard's process in a few words: its slice, its CPU and peak memory, what it targeted.
fn per_process(shards: &[ShardSummary]) -> String {
    let each: Vec<String> = shards
        .iter()
        .map(|s| {
            let aimed = s
                .target
                .as_deref()
                .and_then(|t| t.split(", ").next())
                .map_or(String::new(), |t| format!(" at {t}"));
            format!(
                "{} {:.2} s CPU, {:.0} MiB peak{aimed}",
                s.figures.slice.label(),
                s.client_cpu.as_secs_f64(),
                s.client_peak_rss_kib as f64 / 1024.0
            )
        })
        .collect();
    each.join("; ")
}
