//! The latency histogram as `prometheus-client` encodes it: a metric of fixed buckets that takes
//! a whole second's counts at once (`prometheus-client`'s own `Histogram` observes one value at a
//! time, which for tens of thousands of deliveries a second would be as many calls).

use std::sync::{Mutex, PoisonError};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

use crate::metrics::{LATENCY_BOUNDS_US, LatencyBuckets};

/// A histogram over [`LATENCY_BOUNDS_US`] that takes a whole second's buckets at once
/// (`prometheus-client`'s own observes one value at a time).
#[derive(Debug, Default)]
pub(super) struct FixedHistogram(Mutex<LatencyBuckets>);

impl FixedHistogram {
    pub(super) fn buckets(&self) -> LatencyBuckets {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn add(&self, b: &LatencyBuckets) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).add(b);
    }

    /// Raises every bucket to at least `b`'s (a histogram's buckets are counters: never down).
    pub(super) fn raise_to(&self, b: &LatencyBuckets) {
        let mut mine = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (m, n) in mine.counts.iter_mut().zip(b.counts) {
            *m = (*m).max(n);
        }
        mine.sum_us = mine.sum_us.max(b.sum_us);
    }
}

impl TypedMetric for FixedHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for FixedHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let b = self.buckets();
        let bounds = LATENCY_BOUNDS_US
            .iter()
            .map(|&us| us as f64 / 1e6)
            .chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds.zip(b.counts).collect();
        encoder.encode_histogram::<NoLabelSet>(b.sum_us as f64 / 1e6, b.count(), &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}
