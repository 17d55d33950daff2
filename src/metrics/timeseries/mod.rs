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
//! be sent in, once the run is over: `deliveries expected − distinct deliveries` of the
//! messages intended in that second, where each message published is expected by every
//! subscriber of its room (all subscribers without rooms). Summed over the seconds it is the summary's `lost`.
//! Deliveries and latency are counted by the second they *arrived* in.
//!
//! ## Deliveries without a latency
//! In a sharded run (`wsbench run --shard`) a subscriber receives messages from publishers in
//! other processes, perhaps on other machines, whose send times are on another clock. Those
//! deliveries count ([`Second::unclocked`]) but give no latency sample: latency is only ever one
//! clock read twice. And a shard cannot know how many messages the other shards published, so
//! it expects their scheduled slots ([`IntervalRecorder::expect_others`]); `wsbench merge` replaces
//! them by what was published.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

use super::outages::Outages;
use super::{WireBytes, new_histogram, record};

/// Shared histograms per transport run: enough that 2–16 worker threads rarely meet on one lock.
pub const SHARDS: usize = 32;

/// One shard: the latency of the deliveries since the last swap, the deliveries without a
/// latency since then, and distinct deliveries by the second their message was intended in (never
/// swapped: the lost count needs the whole run).
#[derive(Debug)]
#[repr(align(64))]
struct Shard {
    latency_us: Histogram<u64>,
    unclocked: u64,
    by_intended: Vec<u64>,
    /// Kernel-stamped deliveries: user-space receive time − kernel arrival time (the whole run;
    /// never swapped).
    generator_delay_us: Histogram<u64>,
}

/// What the clients of one transport run record together, second by second. Shared by
/// reference (an `Arc`) between the subscribers, the publishers and the sampler.
#[derive(Debug)]
pub struct IntervalRecorder {
    shards: Box<[Mutex<Shard>]>,
    /// Messages published, by the second of their intended send time.
    published: Box<[AtomicU64]>,
    /// Deliveries those messages are expected to make (each: its room's connected subscribers).
    expected: Box<[AtomicU64]>,
    /// Messages other processes of a sharded run were scheduled to publish, by intended second:
    /// expected too, though not published here. Empty when not sharded.
    others: Box<[u64]>,
    /// With rooms in a sharded run: deliveries expected of the other processes' scheduled
    /// messages, by intended second (each message to its room's members here, known once the
    /// ramp-up is over). Unset otherwise.
    other_deliveries: OnceLock<Box<[u64]>>,
    /// What broken connections cost: replays and recoveries.
    pub outages: Outages,
}

/// One second of the measured phase, by the intended send time of its messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntendedSecond {
    /// Messages published by this process.
    pub published: u64,
    /// Deliveries expected of them: for each, the subscribers of its room that connected.
    pub expected: u64,
    /// Messages other shards were scheduled to publish (0 when not sharded).
    pub others: u64,
    /// Distinct deliveries of the second's messages, from any publisher, over all subscribers.
    pub delivered: u64,
}

impl IntendedSecond {
    /// Deliveries still missing: this process's expected, and the other shards' messages ×
    /// `subscribers`, − delivered.
    pub fn missing(&self, subscribers: u64) -> u64 {
        (self.expected + self.others * subscribers).saturating_sub(self.delivered)
    }
}

impl IntervalRecorder {
    /// A recorder for a measured phase of `seconds` seconds (rounded up).
    pub fn new(seconds: usize) -> Self {
        IntervalRecorder {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        latency_us: new_histogram(),
                        unclocked: 0,
                        by_intended: vec![0; seconds],
                        generator_delay_us: new_histogram(),
                    })
                })
                .collect(),
            published: (0..seconds).map(|_| AtomicU64::new(0)).collect(),
            expected: (0..seconds).map(|_| AtomicU64::new(0)).collect(),
            others: Box::default(),
            other_deliveries: OnceLock::new(),
            outages: Outages::default(),
        }
    }

    /// This recorder, also expecting `others[i]` messages intended in second `i` from publishers
    /// of other shards (their schedule's slots; see the module doc).
    pub fn expect_others(mut self, others: Vec<u64>) -> Self {
        self.others = others.into_boxed_slice();
        self
    }

    /// Also expects `by_second[i]` deliveries of messages intended in second `i` from publishers
    /// of other shards: with rooms, where each such message is expected by its room's members
    /// only. Set once (later calls change nothing).
    pub fn expect_other_deliveries(&self, by_second: Vec<u64>) {
        let _ = self.other_deliveries.set(by_second.into_boxed_slice());
    }

    /// Seconds of the measured phase this recorder counts.
    pub fn seconds(&self) -> usize {
        self.published.len()
    }

    /// One in-window delivery (a message's first arrival at one subscriber), recorded in shard
    /// `shard` (any number; taken modulo [`SHARDS`]). `intended_second` is the second of the
    /// measured phase the message was intended in; beyond the phase it only counts as latency.
    pub fn record_delivery(&self, shard: usize, latency: Duration, intended_second: usize) {
        self.record_stamped_delivery(shard, latency, None, intended_second);
    }

    /// [`IntervalRecorder::record_delivery`] with the generator's own delay in reading it, if
    /// known (kernel timestamps), under the same lock.
    pub fn record_stamped_delivery(
        &self,
        shard: usize,
        latency: Duration,
        generator_delay: Option<Duration>,
        intended_second: usize,
    ) {
        let mut s = self.shards[shard % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        record(&mut s.latency_us, latency);
        if let Some(delay) = generator_delay {
            record(&mut s.generator_delay_us, delay);
        }
        if let Some(n) = s.by_intended.get_mut(intended_second) {
            *n += 1;
        }
    }

    /// The generator's read delay over every kernel-stamped delivery so far.
    pub fn generator_delay(&self) -> Histogram<u64> {
        let mut delay = new_histogram();
        for shard in self.shards.iter() {
            let s = shard.lock().unwrap_or_else(PoisonError::into_inner);
            delay
                .add(&s.generator_delay_us)
                .expect("auto-resizing histograms of equal precision always merge");
        }
        delay
    }

    /// One in-window delivery whose latency cannot be measured: its publisher is in another
    /// shard, on another clock. Counted like [`IntervalRecorder::record_delivery`], without a sample.
    pub fn record_unclocked_delivery(&self, shard: usize, intended_second: usize) {
        let mut s = self.shards[shard % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s.unclocked += 1;
        if let Some(n) = s.by_intended.get_mut(intended_second) {
            *n += 1;
        }
    }

    /// One in-window message published (handed to the socket), intended in `intended_second`,
    /// that `deliveries` subscribers (its room's) are to receive.
    pub fn record_published(&self, intended_second: usize, deliveries: u64) {
        if let Some(n) = self.published.get(intended_second) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(n) = self.expected.get(intended_second) {
            n.fetch_add(deliveries, Ordering::Relaxed);
        }
    }

    /// The latency of every delivery since the last call, merged, and the deliveries without a
    /// latency since then; the shards start afresh.
    pub fn take_latency(&self) -> (Histogram<u64>, u64) {
        let mut merged = new_histogram();
        let mut unclocked = 0;
        for shard in self.shards.iter() {
            let mut s = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let taken = std::mem::replace(&mut s.latency_us, new_histogram());
            unclocked += std::mem::take(&mut s.unclocked);
            drop(s);
            merged
                .add(&taken)
                .expect("auto-resizing histograms of equal precision always merge");
        }
        (merged, unclocked)
    }

    /// Per second of the measured phase: what was published, expected from other shards, and
    /// delivered of the messages intended in it, so far.
    pub fn by_intended(&self) -> Vec<IntendedSecond> {
        let mut delivered = vec![0u64; self.seconds()];
        for shard in self.shards.iter() {
            let s = shard.lock().unwrap_or_else(PoisonError::into_inner);
            for (sum, n) in delivered.iter_mut().zip(&s.by_intended) {
                *sum += n;
            }
        }
        self.published
            .iter()
            .zip(delivered)
            .enumerate()
            .map(|(i, (p, delivered))| IntendedSecond {
                published: p.load(Ordering::Relaxed),
                expected: self.expected[i].load(Ordering::Relaxed)
                    + self
                        .other_deliveries
                        .get()
                        .and_then(|d| d.get(i))
                        .copied()
                        .unwrap_or(0),
                others: self.others.get(i).copied().unwrap_or(0),
                delivered,
            })
            .collect()
    }

    /// Deliveries still missing, so far, of the messages intended in the first `seconds`
    /// seconds: expected × `subscribers` − delivered. In flight or lost; lost once the run is over.
    pub fn missing(&self, seconds: usize, subscribers: u64) -> u64 {
        self.by_intended()
            .into_iter()
            .take(seconds)
            .map(|s| s.missing(subscribers))
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
    /// Deliveries that arrived in the interval without a latency (another shard's publisher).
    pub unclocked: u64,
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
    /// Latency of the in-window deliveries that arrived in this second whose publisher ran on
    /// this process's clock: all of them, except in a sharded run.
    pub latency_us: PackedHistogram,
    /// In-window deliveries that arrived in this second with no latency measured: their
    /// publisher was in another shard, on another clock (0 when not sharded).
    pub unclocked: u64,
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
        self.latency_us.len() + self.unclocked
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
    /// The series from the sampler's `samples` and the per-intended-second counts of the whole
    /// run, with `subscribers` expected to receive each message.
    pub fn new(
        start_unix: Duration,
        samples: Vec<Sample>,
        by_intended: &[IntendedSecond],
        subscribers: u64,
    ) -> Self {
        let seconds = samples
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let intended = by_intended.get(i).copied().unwrap_or_default();
                Second {
                    duration: s.duration,
                    latency_us: s.latency_us,
                    unclocked: s.unclocked,
                    published: intended.published,
                    lost: intended.missing(subscribers),
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
mod tests;
