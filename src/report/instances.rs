//! What the serving side of a run with several instances cost, printed under the table: one line
//! per transport that ran several instances (nothing for one server). The table's server CPU and
//! memory are the instances' sums; this line adds what sat beside them — Redis (the shared log)
//! and HAProxy — and how clients were spread.
//!
//! Owns the wording; the figures come from `metrics.json`'s `instances`.

use super::format::group;
use crate::metrics::TransportMetrics;
use crate::metrics::instances::{InstanceGroup, Usage};

/// The notes for `metrics`, in run order.
pub fn notes(metrics: &[TransportMetrics]) -> Vec<String> {
    metrics
        .iter()
        .filter_map(|m| {
            Some(note(
                &m.transport,
                m.instances.as_ref()?,
                m.clients.counts.delivery.delivered,
            ))
        })
        .collect()
}

fn cpu_ms(u: Option<Usage>) -> String {
    u.map_or("?".into(), |u| format!("{} ms", u.cpu_ns / 1_000_000))
}

fn rss_mib(u: Option<Usage>) -> String {
    u.map_or("?".into(), |u| {
        format!("{:.1} MiB", u.peak_rss_kib as f64 / 1024.0)
    })
}

fn note(transport: &str, g: &InstanceGroup, deliveries: u64) -> String {
    let per: Vec<String> = g
        .instances
        .iter()
        .map(|i| {
            let conns = match (i.balancer_sessions, i.report) {
                (Some(s), _) => format!("{} sessions", group(s)),
                (None, Some(r)) => format!("{} conns", group(r.accepted)),
                (None, None) => "killed".into(),
            };
            format!("{} {conns}", cpu_ms(i.usage))
        })
        .collect();
    let side: u64 = g
        .instances
        .iter()
        .filter_map(|i| i.usage)
        .map(|u| u.cpu_ns)
        .sum::<u64>()
        + g.redis.map_or(0, |u| u.cpu_ns)
        + g.haproxy.map_or(0, |u| u.cpu_ns);
    let per_delivery = if deliveries > 0 {
        format!("{:.1} µs", side as f64 / 1000.0 / deliveries as f64)
    } else {
        "-".into()
    };
    let hop = g.hop();
    let redis = if g.existing_redis {
        "existing redis (bytes from every client it had)"
    } else {
        "redis-server"
    };
    let mut line = format!(
        "[{transport}] {} instances, balancer {}: instances {}; {redis} {} CPU, {} peak, \
         {} B in / {} B out; publish → instance hop p50 {} µs, p99 {} µs ({} samples)",
        g.instances.len(),
        g.balancer,
        per.join(", "),
        cpu_ms(g.redis),
        rss_mib(g.redis),
        group(g.redis_bytes_in),
        group(g.redis_bytes_out),
        group(hop.p50_us),
        group(hop.p99_us),
        group(hop.count),
    );
    if g.haproxy.is_some() {
        line += &format!(
            "; haproxy {} CPU, {} peak (two descriptors per connection)",
            cpu_ms(g.haproxy),
            rss_mib(g.haproxy)
        );
    }
    // Redis unknown is left out of the sum, and the label says so: never counted as 0.
    let parts = if g.redis.is_some() {
        "instances + redis + haproxy"
    } else {
        "instances + haproxy; redis not sampled"
    };
    line + &format!("; serving-side CPU per delivery {per_delivery} ({parts})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::instances::{HopFigures, InstanceFigures, InstanceReport};

    #[test]
    fn one_line_names_every_process_of_the_serving_side() {
        let instance = |cpu_ms: u64, report: Option<InstanceReport>| InstanceFigures {
            addr: "127.0.0.1:1".into(),
            usage: Some(Usage {
                cpu_ns: cpu_ms * 1_000_000,
                peak_rss_kib: 2048,
            }),
            killed: report.is_none(),
            report,
            balancer_sessions: None,
        };
        let report = InstanceReport {
            accepted: 1200,
            appended: 5,
            ingested: 9,
            hop: HopFigures {
                count: 9,
                p50_us: 800,
                p99_us: 1500,
                max_us: 1600,
            },
        };
        let g = InstanceGroup {
            balancer: "client".into(),
            instances: vec![instance(10, Some(report)), instance(20, None)],
            redis: Some(Usage {
                cpu_ns: 30_000_000,
                peak_rss_kib: 10240,
            }),
            existing_redis: false,
            redis_bytes_in: 5000,
            redis_bytes_out: 12000,
            haproxy: None,
        };
        assert_eq!(
            note("ws", &g, 60_000),
            "[ws] 2 instances, balancer client: instances 10 ms 1,200 conns, 20 ms killed; \
             redis-server 30 ms CPU, 10.0 MiB peak, 5,000 B in / 12,000 B out; publish → \
             instance hop p50 800 µs, p99 1,500 µs (9 samples); serving-side CPU per delivery \
             1.0 µs (instances + redis + haproxy)"
        );
        let existing = InstanceGroup {
            redis: None,
            existing_redis: true,
            ..g
        };
        assert_eq!(
            note("ws", &existing, 60_000),
            "[ws] 2 instances, balancer client: instances 10 ms 1,200 conns, 20 ms killed; \
             existing redis (bytes from every client it had) ? CPU, ? peak, 5,000 B in / 12,000 \
             B out; publish → instance hop p50 800 µs, p99 1,500 µs (9 samples); serving-side \
             CPU per delivery 0.5 µs (instances + haproxy; redis not sampled)"
        );
    }
}
