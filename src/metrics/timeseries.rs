//! Per-second figures of one transport's run: the rows of `timeseries.csv` and the intervals of
//! the `.hlog` file.
//!
//! Owns the [`IntervalRecorder`] that every subscriber shares while the run goes, and the
//! [`Second`]s it is cut into. No client keeps a histogram of its own (tens of thousands of
//! them would be most of the generator's memory): deliveries go to one of [`SHARDS`] shared
//! histograms, picked by the caller (the client thread's lane), each behind its own mutex. Once a
//! second the sampler swaps them all out and merges them into that second's histogram, and the
//! whole run's histogram is the sum of the seconds: memory is `SHARDS` small histograms plus one
//! [`PackedHistogram`] per second of the run (a few KiB: a 1 h run of four transports keeps tens
//! of MiB, where plain histograms of 3 significant digits would take ~90 KiB a second), and a
//! delivery costs one uncontended lock. Like the rest of `metrics`: no async, no I/O,
//! no clock reading — callers say which second a message was intended in.
//!
//! ## What "lost" means per second
//! A loss cannot be seen arriving, so it is counted by the second the message was *intended* to
//! be sent in, once the run is over: `published × subscribers − distinct deliveries` of the
//! messages intended in that second. Summed over the seconds it is the summary's `lost`.
//! Deliveries and latency are counted by the second they *arrived* in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

use super::{WireBytes, new_histogram, record};

/// Shared histograms per transport run: enough that 2–16 worker threads rarely meet on one lock.
pub const SHARDS: usize = 32;

/// One shard: the latency of the deliveries since the last swap, and distinct deliveries by the
/// second their message was intended in (never swapped: the lost count needs the whole run).
#[derive(Debug)]
#[repr(align(64))]
struct Shard {
    latency_us: Histogram<u64>,
    by_intended: Vec<u64>,
}

/// What the clients of one transport run record together, second by second. Shared by
/// reference (an `Arc`) between the subscribers, the publishers and the sampler.
#[derive(Debug)]
pub struct IntervalRecorder {
    shards: Box<[Mutex<Shard>]>,
    /// Messages published, by the second of their intended send time.
    published: Box<[AtomicU64]>,
}

impl IntervalRecorder {
    /// A recorder for a measured phase of `seconds` seconds (rounded up).
    pub fn new(seconds: usize) -> Self {
        IntervalRecorder {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        latency_us: new_histogram(),
                        by_intended: vec![0; seconds],
                    })
                })
                .collect(),
            published: (0..seconds).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Seconds of the measured phase this recorder counts.
    pub fn seconds(&self) -> usize {
        self.published.len()
    }

    /// One in-window delivery (a message's first arrival at one subscriber), recorded in shard
    /// `shard` (any number; taken modulo [`SHARDS`]). `intended_second` is the second of the
    /// measured phase the message was intended in; beyond the phase it only counts as latency.
    pub fn record_delivery(&self, shard: usize, latency: Duration, intended_second: usize) {
        let mut s = self.shards[shard % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        record(&mut s.latency_us, latency);
        if let Some(n) = s.by_intended.get_mut(intended_second) {
            *n += 1;
        }
    }

    /// One in-window message published (handed to the socket), intended in `intended_second`.
    pub fn record_published(&self, intended_second: usize) {
        if let Some(n) = self.published.get(intended_second) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The latency of every delivery since the last call, merged; the shards start afresh.
    pub fn take_latency(&self) -> Histogram<u64> {
        let mut merged = new_histogram();
        for shard in self.shards.iter() {
            let taken = std::mem::replace(
                &mut shard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .latency_us,
                new_histogram(),
            );
            merged
                .add(&taken)
                .expect("auto-resizing histograms of equal precision always merge");
        }
        merged
    }

    /// Per second of the measured phase: `(published, distinct deliveries)` of the messages
    /// intended in it, so far.
    pub fn by_intended(&self) -> Vec<(u64, u64)> {
        let mut delivered = vec![0u64; self.seconds()];
        for shard in self.shards.iter() {
            let s = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for (sum, n) in delivered.iter_mut().zip(&s.by_intended) {
                *sum += n;
            }
        }
        self.published
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
            .zip(delivered)
            .collect()
    }

    /// Deliveries still missing, so far, of the messages intended in the first `seconds`
    /// seconds: published × `subscribers` − delivered. In flight or lost; lost once the run is over.
    pub fn missing(&self, seconds: usize, subscribers: u64) -> u64 {
        self.by_intended()
            .into_iter()
            .take(seconds)
            .map(|(published, delivered)| (published * subscribers).saturating_sub(delivered))
            .sum()
    }
}

/// A histogram kept small while it waits to be reported: HdrHistogram's V2 encoding, which
/// stores runs of empty buckets in a few bytes. Decoded with [`PackedHistogram::unpack`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedHistogram {
    encoded: Vec<u8>,
    len: u64,
}

impl PackedHistogram {
    /// Encodes `h`.
    pub fn pack(h: &Histogram<u64>) -> Self {
        let mut encoded = Vec::new();
        V2Serializer::new()
            .serialize(h, &mut encoded)
            .expect("a histogram of 3 significant digits always encodes into a Vec");
        PackedHistogram {
            encoded,
            len: h.len(),
        }
    }

    /// The histogram again, equal to the one packed.
    pub fn unpack(&self) -> Histogram<u64> {
        let mut h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut self.encoded.as_slice())
            .expect("bytes from PackedHistogram::pack always decode");
        h.auto(true);
        h
    }

    /// Samples in the histogram.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the histogram has no samples.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes kept.
    pub fn packed_bytes(&self) -> usize {
        self.encoded.len()
    }
}

/// What the sampler reads at the end of each second; [`TimeSeries::new`] adds the counts that are
/// only known once the run is over.
#[derive(Debug, Clone)]
pub struct Sample {
    /// How long this interval lasted (1 s, except the last).
    pub duration: Duration,
    /// Latency of the deliveries that arrived in the interval.
    pub latency_us: PackedHistogram,
    /// Client socket bytes in the interval.
    pub wire: WireBytes,
    /// Client connections open at the end of the interval.
    pub connections: u64,
}

/// One second of a transport's run, counted from the start of the measured phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Second {
    /// How long this interval lasted: 1 s, except the last one of the drain.
    pub duration: Duration,
    /// Latency of the in-window deliveries that arrived in this second; its count is the
    /// second's deliveries.
    pub latency_us: PackedHistogram,
    /// In-window messages whose intended send time falls in this second.
    pub published: u64,
    /// Deliveries of the messages intended in this second that never arrived (see the module doc).
    pub lost: u64,
    /// Client socket bytes in this second.
    pub wire: WireBytes,
    /// Client connections open at the end of this second (publishers' own included).
    pub connections: u64,
}

impl Second {
    /// Distinct in-window messages received in this second, over all subscribers.
    pub fn deliveries(&self) -> u64 {
        self.latency_us.len()
    }
}

/// A transport's run, second by second from the start of the measured phase to the end of the
/// drain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeSeries {
    /// Wall-clock start of the measured phase, since the Unix epoch (the `.hlog` timestamps).
    pub start_unix: Duration,
    /// The seconds, in order.
    pub seconds: Vec<Second>,
}

impl TimeSeries {
    /// The series from the sampler's `samples` and the per-intended-second `(published,
    /// delivered)` counts of the whole run, with `subscribers` expected to receive each message.
    pub fn new(
        start_unix: Duration,
        samples: Vec<Sample>,
        by_intended: &[(u64, u64)],
        subscribers: u64,
    ) -> Self {
        let seconds = samples
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let (published, delivered) = by_intended.get(i).copied().unwrap_or((0, 0));
                Second {
                    duration: s.duration,
                    latency_us: s.latency_us,
                    published,
                    lost: (published * subscribers).saturating_sub(delivered),
                    wire: s.wire,
                    connections: s.connections,
                }
            })
            .collect();
        TimeSeries {
            start_unix,
            seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_merge_and_start_afresh() {
        let r = IntervalRecorder::new(2);
        r.record_delivery(0, Duration::from_millis(5), 0);
        r.record_delivery(33, Duration::from_millis(7), 1);
        r.record_delivery(5, Duration::from_millis(9), 7);
        let first = r.take_latency();
        assert_eq!(first.len(), 3);
        assert!(first.equivalent(first.max(), 9_000));
        assert_eq!(r.take_latency().len(), 0);
        r.record_published(0);
        r.record_published(0);
        r.record_published(1);
        r.record_published(2);
        assert_eq!(r.by_intended(), vec![(2, 1), (1, 1)]);
        assert_eq!(r.missing(1, 3), 5);
        assert_eq!(r.missing(2, 3), 7);
    }

    #[test]
    fn packing_keeps_the_histogram_in_a_few_bytes() {
        let mut h = new_histogram();
        for us in (1..=50_000u64).map(|i| i * 11) {
            h.record(us).unwrap();
        }
        let packed = PackedHistogram::pack(&h);
        assert_eq!(packed.unpack(), h);
        assert_eq!(packed.len(), 50_000);
        // 11 µs – 550 ms at 3 significant digits: ~90 KiB of counts as a plain histogram.
        assert!(
            packed.packed_bytes() < 16 * 1024,
            "{}",
            packed.packed_bytes()
        );
        assert!(PackedHistogram::pack(&new_histogram()).is_empty());
    }

    #[test]
    fn lost_is_counted_by_intended_second() {
        let sample = |n: u64| {
            let mut latency_us = new_histogram();
            for _ in 0..n {
                latency_us.record(10).unwrap();
            }
            Sample {
                duration: Duration::from_secs(1),
                latency_us: PackedHistogram::pack(&latency_us),
                wire: WireBytes { up: n, down: 2 * n },
                connections: 4,
            }
        };
        let series = TimeSeries::new(
            Duration::from_secs(100),
            vec![sample(3), sample(5), sample(1)],
            &[(2, 3), (1, 2)],
            4,
        );
        let lost: Vec<u64> = series.seconds.iter().map(|s| s.lost).collect();
        assert_eq!(lost, [5, 2, 0]);
        let deliveries: Vec<u64> = series.seconds.iter().map(Second::deliveries).collect();
        assert_eq!(deliveries, [3, 5, 1]);
        assert_eq!(series.seconds[2].published, 0);
    }
}
