//! Push latency in a few fixed buckets: the shape a live scrape (`--metrics`) and the
//! `metrics.prom` file publish, where a histogram of thousands of HdrHistogram buckets would be
//! too much to send every second. The bounds are fixed so that any two scrapes, seconds or runs
//! add up bucket by bucket.
//!
//! Owns the bounds and the counting from an HdrHistogram; knows nothing of the format they are
//! published in.

use hdrhistogram::Histogram;

/// Upper bounds of the buckets, µs: 100 µs to 10 s in 1–2.5–5 steps. A latency above the last
/// counts only in the final, unbounded bucket.
pub const LATENCY_BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// Deliveries per bucket (not cumulative), with their count and summed latency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencyBuckets {
    /// `counts[i]`: latencies above `LATENCY_BOUNDS_US[i - 1]` and at most `LATENCY_BOUNDS_US[i]`;
    /// the last one, above every bound.
    pub counts: [u64; LATENCY_BOUNDS_US.len() + 1],
    /// Sum of the latencies, µs (each taken at its HdrHistogram bucket's highest value).
    pub sum_us: u64,
}

impl LatencyBuckets {
    /// `h`'s samples (in µs), bucketed. A sample goes by its HdrHistogram bucket's lowest
    /// equivalent value, so a latency of exactly a bound counts at or below it; at 3
    /// significant digits a bound can take a sample up to 0.1 % above it.
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        let mut b = LatencyBuckets::default();
        for v in h.iter_recorded() {
            let value = v.value_iterated_to();
            let n = v.count_at_value();
            let i = LATENCY_BOUNDS_US.partition_point(|&bound| bound < h.lowest_equivalent(value));
            b.counts[i] += n;
            let us = h.median_equivalent(value);
            b.sum_us = b.sum_us.saturating_add(us.saturating_mul(n));
        }
        b
    }

    /// Deliveries counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds `other`'s deliveries to these.
    pub fn add(&mut self, other: &LatencyBuckets) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::new_histogram;

    #[test]
    fn samples_fall_in_the_bucket_of_their_bound() {
        let mut h = new_histogram();
        for us in [1, 100, 101, 250, 999, 20_000_000] {
            h.record(us).unwrap();
        }
        h.record_n(3_000, 4).unwrap();
        let b = LatencyBuckets::from_histogram(&h);
        assert_eq!(b.count(), 10);
        assert_eq!(&b.counts[..4], &[2, 2, 0, 1]);
        assert_eq!(b.counts[5], 4);
        assert_eq!(b.counts[16], 1);
        let mut twice = b;
        twice.add(&b);
        assert_eq!(twice.count(), 20);
        assert_eq!(twice.sum_us, 2 * b.sum_us);
    }
}
