//! `timeseries.csv`: each transport's run second by second, made from
//! [`TimeSeries`](crate::metrics::TimeSeries) (the counts stored in `metrics.json`, the latency
//! in the `.hlog` file's per-second intervals).
//!
//! Owns the row and how each column is derived; `results/README.md` documents them.

use serde::Serialize;

use super::summary::{P50, P99, quantile};
use crate::metrics::TransportMetrics;

/// One row of `timeseries.csv`: one second of one transport. The field order is the column
/// order, checked by `tests/all/csv_contract.rs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SecondRow {
    /// Transport label.
    pub transport: String,
    /// Start of this second, in whole seconds since the measured phase started (the drain
    /// follows the measured phase without a break).
    pub t_s: u64,
    /// In-window messages whose intended send time falls in this second.
    pub published: u64,
    /// In-window deliveries (first arrivals) that arrived in this second.
    pub deliveries: u64,
    /// Deliveries of the messages intended in this second that never arrived.
    pub lost: u64,
    /// Median push latency of this second's deliveries, µs; empty when there were none.
    pub latency_p50_us: Option<u64>,
    /// 99th percentile push latency of this second's deliveries, µs.
    pub latency_p99_us: Option<u64>,
    /// Largest push latency of this second's deliveries, µs.
    pub latency_max_us: Option<u64>,
    /// Client → server wire bytes in this second.
    pub bytes_up: u64,
    /// Server → client wire bytes in this second.
    pub bytes_down: u64,
    /// Client connections open at the end of this second.
    pub connections: u64,
}

/// The rows of every transport, in run order, then by second.
pub fn rows(metrics: &[TransportMetrics]) -> Vec<SecondRow> {
    metrics
        .iter()
        .flat_map(|m| {
            m.timeseries
                .seconds
                .iter()
                .enumerate()
                .map(|(t, s)| (t, s, s.latency_us.unpack()))
                .map(|(t, s, latency_us)| SecondRow {
                    transport: m.transport.clone(),
                    t_s: t as u64,
                    published: s.published,
                    deliveries: s.deliveries(),
                    lost: s.lost,
                    latency_p50_us: quantile(&latency_us, P50),
                    latency_p99_us: quantile(&latency_us, P99),
                    latency_max_us: quantile(&latency_us, 1.0),
                    bytes_up: s.wire.up,
                    bytes_down: s.wire.down,
                    connections: s.connections,
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::tests::sample;

    #[test]
    fn rows_add_up_to_the_summary() {
        let m = sample("ws");
        let rows = rows(std::slice::from_ref(&m));
        assert_eq!(rows.len(), 3);
        assert_eq!(rows.iter().map(|r| r.t_s).collect::<Vec<_>>(), [0, 1, 2]);
        let deliveries: u64 = rows.iter().map(|r| r.deliveries).sum();
        assert_eq!(deliveries, m.clients.latency_us.len());
        let published: u64 = rows.iter().map(|r| r.published).sum();
        assert_eq!(published, m.messages_published);
        let up: u64 = rows.iter().map(|r| r.bytes_up).sum();
        let down: u64 = rows.iter().map(|r| r.bytes_down).sum();
        assert_eq!((up, down), (m.wire.up, m.wire.down));
        assert_eq!(rows[2].latency_max_us, quantile(&m.clients.latency_us, 1.0));
    }
}
