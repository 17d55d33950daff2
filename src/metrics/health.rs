//! The load generator's own health over the measured phase: how busy its cores were and how late
//! its event loop answered. A load tool's figures are only as good as its headroom; these say
//! whether the latency measured is the server's or partly the generator's own delay.
//!
//! Owns the figures and the lag histogram's recording rule. Reads no clock and starts nothing:
//! the tickers that feed [`LagRecorder`]s live in `client::watch`.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::new_histogram;

/// The generator's health over the span its CPU time was sampled (the measured phase and drain,
/// the span of [`TransportMetrics::client_usage`](super::TransportMetrics::client_usage)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeneratorHealth {
    /// Wall time between the two CPU samples: the denominator of the CPU share, with `cores`.
    pub span: Duration,
    /// Cores available to the generator process (its CPU affinity and quota).
    pub cores: u32,
    /// How late the lag ticker ran; `None` if it recorded nothing (a span shorter than a tick).
    pub lag: Option<LagFigures>,
}

impl GeneratorHealth {
    /// Share of the available cores the generator used: `cpu / (span × cores)`, 0..1 (a little
    /// above 1 only by sampling error). `None` for an empty span.
    pub fn cpu_util(&self, cpu: Duration) -> Option<f64> {
        let capacity = self.span.as_secs_f64() * f64::from(self.cores);
        (capacity > 0.0).then(|| cpu.as_secs_f64() / capacity)
    }
}

/// What the lag histogram said, reduced to the figures reports use. The histogram itself is not
/// kept: it is the generator's, not the server's, and these figures are all a reader needs to
/// judge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LagFigures {
    /// 99th percentile lag, µs.
    pub p99_us: u64,
    /// Largest lag, µs.
    pub max_us: u64,
    /// Samples in the histogram (ticks, plus the ticks a stall stood for).
    pub samples: u64,
}

/// Records how late each tick of a fixed-interval ticker was served.
///
/// A tick served `late` after it was due, when `late` is several intervals, stood in for the
/// ticks that could not come meanwhile (the ticker has one tick pending at a time). Those are
/// recorded too, each one interval less late (HdrHistogram's `record_correct`): with 10 ms ticks
/// a 100 ms stall counts as the 10 ticks it held up, 100, 90, … 10 ms late, as tasks woken at
/// moments of it would have waited, not as one sample among thousands. Without this the p99
/// would hide stalls.
#[derive(Debug, Clone)]
pub struct LagRecorder {
    lag_us: Histogram<u64>,
    interval_us: u64,
}

impl LagRecorder {
    /// A recorder for a ticker posting every `interval` (at least 1 µs).
    pub fn new(interval: Duration) -> LagRecorder {
        LagRecorder {
            lag_us: new_histogram(),
            interval_us: u64::try_from(interval.as_micros())
                .unwrap_or(u64::MAX)
                .max(1),
        }
    }

    /// Records one tick served `late` after it was posted, with the ticks it stood in for.
    pub fn record(&mut self, late: Duration) {
        let us = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        if self.lag_us.record_correct(us, self.interval_us).is_err() {
            self.lag_us.saturating_record(us);
        }
    }

    /// Adds another recorder's ticks (another thread's) into this one.
    pub fn merge(&mut self, other: &LagRecorder) {
        self.lag_us
            .add(&other.lag_us)
            .expect("auto-resizing histograms of equal precision always merge");
    }

    /// The figures so far; `None` before the first tick.
    pub fn figures(&self) -> Option<LagFigures> {
        let h = &self.lag_us;
        (!h.is_empty()).then(|| LagFigures {
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
            samples: h.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_ticks_no_figures() {
        assert_eq!(LagRecorder::new(Duration::from_millis(1)).figures(), None);
    }

    #[test]
    fn a_stall_counts_as_the_ticks_it_held_up() {
        let mut r = LagRecorder::new(Duration::from_millis(1));
        for _ in 0..980 {
            r.record(Duration::from_micros(50));
        }
        // One 20 ms stall stood for ticks 19, 18, … 1 ms late as well: 20 samples in all.
        r.record(Duration::from_millis(20));
        let f = r.figures().unwrap();
        assert_eq!(f.samples, 1000);
        // The 990th of 1000 samples is the 10th of the stall's, 10 ms (as one sample it would
        // have left the p99 at 50 µs). Values are exact to 3 significant digits.
        assert_eq!(f.p99_us, 10_007);
        assert_eq!(f.max_us, 20_015);
    }

    #[test]
    fn prompt_ticks_are_recorded_once() {
        let mut r = LagRecorder::new(Duration::from_millis(1));
        for us in [10, 999, 0] {
            r.record(Duration::from_micros(us));
        }
        let f = r.figures().unwrap();
        assert_eq!((f.samples, f.max_us), (3, 999));
    }

    #[test]
    fn threads_merge_into_one_distribution() {
        let mut a = LagRecorder::new(Duration::from_millis(10));
        let mut b = LagRecorder::new(Duration::from_millis(10));
        a.record(Duration::from_micros(100));
        b.record(Duration::from_micros(300));
        b.record(Duration::from_millis(25)); // stood for the ticks 25 and 15 ms late
        a.merge(&b);
        let f = a.figures().unwrap();
        assert_eq!((f.samples, f.max_us), (4, 25_007));
    }

    #[test]
    fn cpu_util_is_cpu_over_span_times_cores() {
        let h = GeneratorHealth {
            span: Duration::from_secs(4),
            cores: 2,
            lag: None,
        };
        assert_eq!(h.cpu_util(Duration::from_secs(2)), Some(0.25));
        let empty = GeneratorHealth {
            span: Duration::ZERO,
            ..h
        };
        assert_eq!(empty.cpu_util(Duration::from_secs(1)), None);
    }
}
