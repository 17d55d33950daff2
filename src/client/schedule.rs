//! The publishers' fixed schedule and the measured window: pure arithmetic on instants.
//!
//! Publisher `i` of `P` sends its `k`-th message at `start + (k·P + i) / rate`, so the publishers
//! together send at `rate` with evenly spaced slots. The schedule never slips: a message sent late
//! keeps its slot time as its intended time (open model, as wrk2 does), so a stall shows up as
//! latency instead of being hidden by fewer sends.
//!
//! Slots are offsets from the first one, so whether a message is in the measured window depends
//! on its publisher, its sequence number and the scenario only: the shards of a run, on machines
//! whose clocks differ, agree on it exactly.

use std::ops::Range;
use std::time::Duration;

use tokio::time::Instant;

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
    publishers: u32,
    rate: f64,
    start: Instant,
    end: Instant,
    next_seq: u64,
}

impl Schedule {
    /// The schedule of publisher `publisher` (0-based) of `publishers`, sending together at `rate` per second.
    pub fn new(publisher: u32, publishers: u32, rate: f64, timeline: &Timeline) -> Self {
        Schedule {
            publisher,
            publishers,
            rate,
            start: timeline.publish_start,
            end: timeline.measure_end,
            next_seq: 0,
        }
    }

    /// The next slot without consuming it: `(seq, intended send time)`, or `None` when done.
    pub fn peek(&self) -> Option<(u64, Instant)> {
        let slot = self.next_seq as f64 * f64::from(self.publishers) + f64::from(self.publisher);
        // Rounded to whole nanoseconds so slots are exact for rates that divide a second evenly.
        let at = self.start + Duration::from_nanos((slot * 1e9 / self.rate).round() as u64);
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
    }
}

/// The in-window slots of publishers `ids` of `publishers` at `rate`, by second of the measured
/// phase (`seconds` of them): what the other shards of a run are scheduled to publish. Depends
/// on the timeline's offsets only, so any timeline with the run's warmup and duration gives the
/// same counts. Iterates every slot (bounded by the scenario's message cap).
pub fn window_slots_by_second(
    ids: impl Iterator<Item = u32>,
    publishers: u32,
    rate: f64,
    timeline: &Timeline,
    seconds: usize,
) -> Vec<u64> {
    let mut by_second = vec![0u64; seconds];
    for id in ids {
        let mut s = Schedule::new(id, publishers, rate, timeline);
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
            .map(|i| slots(Schedule::new(i, 4, 100.0, &t)))
            .collect();
        assert!(all.iter().all(|s| s.len() == 25));
        assert_eq!(all[1][0].1 - t.publish_start, Duration::from_millis(10));
        assert_eq!(all[0][1].1 - t.publish_start, Duration::from_millis(40));
        assert_eq!(all[3][24].0, 24);
    }

    #[test]
    fn window_excludes_warmup_messages() {
        let t = timeline(500, 1000);
        let s = slots(Schedule::new(0, 1, 10.0, &t));
        assert_eq!(s.len(), 15);
        let counted = s.iter().filter(|(_, at)| t.in_window(t.ns(*at))).count();
        assert_eq!(counted, 10);
        assert_eq!(Schedule::new(0, 1, 10.0, &t).in_window_slots(&t), 10);
    }

    #[test]
    fn other_publishers_slots_by_second() {
        // 4 publishers at 40/s, 500 ms warmup, 2.5 s window: 10 slots per publisher per second.
        let t = timeline(500, 2_500);
        let by_second = window_slots_by_second(1..3, 4, 40.0, &t, 3);
        assert_eq!(by_second, [20, 20, 10]);
        let total: u64 = (1..3)
            .map(|p| Schedule::new(p, 4, 40.0, &t).in_window_slots(&t))
            .sum();
        assert_eq!(by_second.iter().sum::<u64>(), total);
    }
}
