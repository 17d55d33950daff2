//! The publishers' schedules and the measured window: pure arithmetic on instants.
//!
//! The publishers together send at `rate`, spaced by the scenario's [`Pattern`]:
//! - steady: publisher `i` of `P` sends its `k`-th message at `start + (k·P + i) / rate`, evenly
//!   spaced slots;
//! - bursts of `b` every `e`: the same global slots `g = k·P + i`, with slot `g` at
//!   `start + ⌊g / b⌋·e + (g mod b) / rate` (each burst at `rate`, one burst every `e`);
//! - poisson: each publisher sends as a Poisson process of its own at `rate / P` (exponential
//!   gaps drawn from the scenario's seed and the publisher's index), and together they are a
//!   Poisson process at `rate`: the same times on every rerun with the same seed.
//!
//! A schedule never slips: a message sent late keeps its slot time as its intended time (open
//! model, as wrk2 does), so a stall or a burst that outruns a transport shows up as latency
//! instead of being hidden by fewer sends.
//!
//! Slots are offsets from the first one, so whether a message is in the measured window depends
//! on its publisher, its sequence number and the scenario only: the shards of a run, on machines
//! whose clocks differ, agree on it exactly (a Poisson publisher's draws depend on its global
//! id, so they agree on those too).

use std::ops::Range;
use std::time::Duration;

use tokio::time::Instant;

use crate::scenario::Pattern;

/// What every publisher's schedule is made from: the scenario's publishing timing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cadence {
    /// Publishing clients.
    pub publishers: u32,
    /// Messages per second, all publishers together (within a burst, for bursts).
    pub rate: f64,
    /// How the send times are spaced.
    pub pattern: Pattern,
    /// Seeds the Poisson pattern's draws.
    pub seed: u64,
}

/// When the run publishes and when it measures, fixed once every subscriber has connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeline {
    /// The run's clock origin: envelope times are nanoseconds since this instant.
    pub epoch: Instant,
    /// First publish slot (the warmup starts here).
    pub publish_start: Instant,
    /// Start of the measured phase: messages intended from here on count.
    pub measure_start: Instant,
    /// End of the measured phase: no message is intended at or after it.
    pub measure_end: Instant,
    /// The publishers whose envelope times count from `epoch`: this process's. A message of
    /// another shard's publisher carries a time on that shard's clock, so it gives no latency.
    pub own: PublisherIds,
}

/// A range of publisher ids, `first..end` (a `Range` that is `Copy`, as [`Timeline`] is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublisherIds {
    /// The first id.
    pub first: u32,
    /// One past the last id.
    pub end: u32,
}

impl PublisherIds {
    /// Whether publisher `id` is one of these.
    pub fn contains(&self, id: u32) -> bool {
        (self.first..self.end).contains(&id)
    }
}

impl From<Range<u32>> for PublisherIds {
    fn from(r: Range<u32>) -> Self {
        PublisherIds {
            first: r.start,
            end: r.end,
        }
    }
}

impl Timeline {
    /// Nanoseconds since the epoch of an instant at or after it.
    pub fn ns(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant `ns` nanoseconds after the epoch.
    pub fn at(&self, ns: u64) -> Instant {
        self.epoch + Duration::from_nanos(ns)
    }

    /// Whether a message intended at `intended_ns` belongs to the measured phase.
    pub fn in_window(&self, intended_ns: u64) -> bool {
        let t = self.at(intended_ns);
        t >= self.measure_start && t < self.measure_end
    }
}

/// One publisher's slots, in order, ending before the measured phase ends.
#[derive(Debug, Clone)]
pub struct Schedule {
    publisher: u32,
    cadence: Cadence,
    start: Instant,
    end: Instant,
    next_seq: u64,
    /// Poisson only: the next send's offset from `start` in seconds, and the draws to come.
    poisson: Option<(f64, fastrand::Rng)>,
}

impl Schedule {
    /// The schedule of publisher `publisher` (0-based) of `cadence.publishers`.
    pub fn new(publisher: u32, cadence: &Cadence, timeline: &Timeline) -> Self {
        let poisson = (cadence.pattern == Pattern::Poisson).then(|| {
            let mut rng = fastrand::Rng::with_seed(mix(cadence.seed, publisher));
            (gap(&mut rng, cadence), rng)
        });
        Schedule {
            publisher,
            cadence: *cadence,
            start: timeline.publish_start,
            end: timeline.measure_end,
            next_seq: 0,
            poisson,
        }
    }

    /// The next slot without consuming it: `(seq, intended send time)`, or `None` when done.
    pub fn peek(&self) -> Option<(u64, Instant)> {
        let Cadence {
            publishers, rate, ..
        } = self.cadence;
        // The publishers' slots interleave: this publisher's k-th is the (k·P + i)-th of all.
        let slot = self.next_seq as f64 * f64::from(publishers) + f64::from(self.publisher);
        let ns = match (self.cadence.pattern, &self.poisson) {
            (_, Some((offset_s, _))) => offset_s * 1e9,
            (Pattern::Bursts { burst, every }, _) => {
                let (n, j) = ((slot / f64::from(burst)).floor(), slot % f64::from(burst));
                n * every.as_nanos() as f64 + j * 1e9 / rate
            }
            _ => slot * 1e9 / rate,
        };
        // Rounded to whole nanoseconds so slots are exact for rates that divide a second evenly.
        let at = self.start + Duration::from_nanos(ns.round() as u64);
        (at < self.end).then_some((self.next_seq, at))
    }

    /// How many of this schedule's slots fall in the measured window (iterates; bounded by the
    /// scenario's message cap).
    pub fn in_window_slots(&self, timeline: &Timeline) -> u64 {
        let mut s = self.clone();
        let mut n = 0;
        while let Some((_, at)) = s.peek() {
            n += u64::from(at >= timeline.measure_start);
            s.advance();
        }
        n
    }

    /// Moves past the slot returned by [`Schedule::peek`].
    pub fn advance(&mut self) {
        self.next_seq += 1;
        if let Some((offset_s, rng)) = &mut self.poisson {
            *offset_s += gap(rng, &self.cadence);
        }
    }
}

/// One publisher's next Poisson gap, in seconds: exponential with mean `publishers / rate`.
fn gap(rng: &mut fastrand::Rng, cadence: &Cadence) -> f64 {
    // 1 − u is in (0, 1], so the logarithm is finite.
    let u = 1.0 - rng.f64();
    -u.ln() * f64::from(cadence.publishers) / cadence.rate
}

/// A seed of its own for each publisher (splitmix64's finalizer over seed and index).
fn mix(seed: u64, publisher: u32) -> u64 {
    let mut z = seed ^ (u64::from(publisher) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The in-window slots of publishers `ids` on `cadence`, by second of the measured
/// phase (`seconds` of them): what the other shards of a run are scheduled to publish. Depends
/// on the timeline's offsets only, so any timeline with the run's warmup and duration gives the
/// same counts. Iterates every slot (bounded by the scenario's message cap).
pub fn window_slots_by_second(
    ids: impl Iterator<Item = u32>,
    cadence: &Cadence,
    timeline: &Timeline,
    seconds: usize,
) -> Vec<u64> {
    let mut by_second = vec![0u64; seconds];
    for id in ids {
        let mut s = Schedule::new(id, cadence, timeline);
        while let Some((_, at)) = s.peek() {
            if at >= timeline.measure_start {
                let second = (at - timeline.measure_start).as_secs();
                if let Some(n) = usize::try_from(second)
                    .ok()
                    .and_then(|i| by_second.get_mut(i))
                {
                    *n += 1;
                }
            }
            s.advance();
        }
    }
    by_second
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(warmup_ms: u64, duration_ms: u64) -> Timeline {
        let epoch = Instant::now();
        let publish_start = epoch + Duration::from_millis(100);
        let measure_start = publish_start + Duration::from_millis(warmup_ms);
        Timeline {
            epoch,
            publish_start,
            measure_start,
            measure_end: measure_start + Duration::from_millis(duration_ms),
            own: (0..u32::MAX).into(),
        }
    }

    fn cadence(publishers: u32, rate: f64, pattern: Pattern) -> Cadence {
        Cadence {
            publishers,
            rate,
            pattern,
            seed: 1,
        }
    }

    fn steady(publishers: u32, rate: f64) -> Cadence {
        cadence(publishers, rate, Pattern::Steady)
    }

    fn slots(mut s: Schedule) -> Vec<(u64, Instant)> {
        let mut out = Vec::new();
        while let Some(slot) = s.peek() {
            out.push(slot);
            s.advance();
        }
        out
    }

    #[test]
    fn publishers_interleave_at_the_total_rate() {
        let t = timeline(0, 1000);
        let all: Vec<_> = (0..4)
            .map(|i| slots(Schedule::new(i, &steady(4, 100.0), &t)))
            .collect();
        assert!(all.iter().all(|s| s.len() == 25));
        assert_eq!(all[1][0].1 - t.publish_start, Duration::from_millis(10));
        assert_eq!(all[0][1].1 - t.publish_start, Duration::from_millis(40));
        assert_eq!(all[3][24].0, 24);
    }

    #[test]
    fn window_excludes_warmup_messages() {
        let t = timeline(500, 1000);
        let s = slots(Schedule::new(0, &steady(1, 10.0), &t));
        assert_eq!(s.len(), 15);
        let counted = s.iter().filter(|(_, at)| t.in_window(t.ns(*at))).count();
        assert_eq!(counted, 10);
        assert_eq!(
            Schedule::new(0, &steady(1, 10.0), &t).in_window_slots(&t),
            10
        );
    }

    /// Offsets from the first publish slot, in ms, of one publisher's slots.
    fn offsets_ms(s: Schedule, t: &Timeline) -> Vec<f64> {
        slots(s)
            .iter()
            .map(|(_, at)| (*at - t.publish_start).as_micros() as f64 / 1e3)
            .collect()
    }

    #[test]
    fn bursts_send_at_the_rate_then_wait_for_the_next_burst() {
        // Bursts of 5 at 100/s (10 ms apart) every 500 ms, from 2 publishers, for 1.2 s.
        let t = timeline(0, 1200);
        let c = cadence(
            2,
            100.0,
            Pattern::Bursts {
                burst: 5,
                every: Duration::from_millis(500),
            },
        );
        let zero = offsets_ms(Schedule::new(0, &c, &t), &t);
        let one = offsets_ms(Schedule::new(1, &c, &t), &t);
        // Slots 0..5 at 0–40 ms, 5..10 at 500–540 ms, 10..15 at 1000–1040 ms; interleaved.
        assert_eq!(
            zero,
            [0.0, 20.0, 40.0, 510.0, 530.0, 1000.0, 1020.0, 1040.0]
        );
        assert_eq!(one, [10.0, 30.0, 500.0, 520.0, 540.0, 1010.0, 1030.0]);
        let n = |i| Schedule::new(i, &c, &t).in_window_slots(&t);
        assert_eq!(n(0) + n(1), 15);
    }

    #[test]
    fn poisson_times_are_random_reproducible_and_average_the_rate() {
        // 4 publishers at 1,000/s together for 20 s.
        let t = timeline(0, 20_000);
        let c = cadence(4, 1000.0, Pattern::Poisson);
        let all: Vec<Vec<f64>> = (0..4)
            .map(|i| offsets_ms(Schedule::new(i, &c, &t), &t))
            .collect();
        // The same seed gives the same times; another seed, others.
        assert_eq!(offsets_ms(Schedule::new(2, &c, &t), &t), all[2]);
        let other = Cadence { seed: 2, ..c };
        assert_ne!(offsets_ms(Schedule::new(2, &other, &t), &t), all[2]);
        assert_ne!(all[0], all[1]);
        let total: usize = all.iter().map(Vec::len).sum();
        // 20,000 expected; a Poisson count's standard deviation is √20,000 ≈ 141.
        assert!((19_500..=20_500).contains(&total), "{total} messages");
        for times in &all {
            assert!(times.windows(2).all(|w| w[0] <= w[1]));
            assert!(times.iter().all(|&ms| (0.0..20_000.0).contains(&ms)));
            // Exponential gaps: the standard deviation equals the mean (4 ms here).
            let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
            let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
            let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
            assert!((3.8..4.2).contains(&mean), "mean gap {mean} ms");
            assert!(
                (3.6..4.4).contains(&var.sqrt()),
                "gap deviation {} ms",
                var.sqrt()
            );
        }
        let n: u64 = (0..4)
            .map(|i| Schedule::new(i, &c, &t).in_window_slots(&t))
            .sum();
        assert_eq!(n, total as u64);
    }

    #[test]
    fn other_publishers_slots_by_second() {
        // 4 publishers at 40/s, 500 ms warmup, 2.5 s window: 10 slots per publisher per second.
        let t = timeline(500, 2_500);
        let c = steady(4, 40.0);
        let by_second = window_slots_by_second(1..3, &c, &t, 3);
        assert_eq!(by_second, [20, 20, 10]);
        let total: u64 = (1..3)
            .map(|p| Schedule::new(p, &c, &t).in_window_slots(&t))
            .sum();
        assert_eq!(by_second.iter().sum::<u64>(), total);
    }
}
