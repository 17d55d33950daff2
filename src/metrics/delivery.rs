//! Delivery bookkeeping for one subscriber: which messages arrived, twice, or out of order.
//!
//! A message is identified by `(publisher, seq)`; each publisher numbers its messages 0, 1, 2, …
//! Lost messages cannot be seen arriving, so they are counted at the end as expected − delivered.
//!
//! The tracker is exact and small: tens of thousands of subscribers each keep one, for runs of any
//! length. Per publisher it keeps the lowest sequence number not yet seen, a 64-message window
//! above it, and the gaps the window left behind when it had to move past messages that had not
//! arrived (a loss, or a message overtaken by more than 64 others). In order, nothing allocates;
//! each gap costs one range until its messages arrive.

use std::ops::Range;

/// Publisher ids at or above this are not ours: a message claiming one is counted as foreign
/// rather than growing every subscriber's table (scenarios allow at most 1,000,000 publishers).
pub const MAX_PUBLISHERS: u32 = 1 << 20;

/// Delivery counts, summed over subscribers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// Distinct in-window messages received.
    pub delivered: u64,
    /// Messages received again after their first arrival.
    pub duplicated: u64,
    /// First arrivals of a message after a later message of the same publisher.
    pub reordered: u64,
    /// Expected in-window messages that never arrived (set by [`DeliveryTracker::finish`]).
    pub lost: u64,
}

impl DeliveryCounts {
    /// Adds another subscriber's counts.
    pub fn merge(&mut self, other: &DeliveryCounts) {
        self.delivered += other.delivered;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.lost += other.lost;
    }
}

/// What [`DeliveryTracker::observe`] concluded about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// First arrival, in order.
    New,
    /// First arrival, but a later message of the same publisher came first.
    Reordered,
    /// Seen before.
    Duplicate,
    /// The publisher id is beyond [`MAX_PUBLISHERS`]: not a message of this run.
    Foreign,
}

/// Per-subscriber record of seen messages, exact, in a few words per publisher.
#[derive(Debug, Clone, Default)]
pub struct DeliveryTracker {
    /// Publisher 0, inline: with one publisher (the usual fan-out test) a delivery touches no
    /// memory outside the subscriber's own task, which at 10,000 subscribers is a cache miss saved.
    first: PublisherSeen,
    /// Publishers 1, 2, …
    others: Vec<PublisherSeen>,
    counts: DeliveryCounts,
}

/// Width of the window of recent sequence numbers, in bits.
const WINDOW: u64 = 64;

/// The messages seen of one publisher: every `seq < base` except those in `gaps`, and
/// `base + i` for every bit `i` set in `window`.
#[derive(Debug, Clone, Default)]
struct PublisherSeen {
    /// The lowest sequence number at or above which the window starts; `base` itself is never
    /// seen (the window moves up past every leading seen message).
    base: u64,
    window: u64,
    /// Unseen sequence numbers below `base`: sorted, disjoint, non-adjacent ranges.
    gaps: Vec<Range<u64>>,
    /// Highest sequence number seen + 1; 0 before the first.
    top: u64,
}

impl PublisherSeen {
    /// Marks `seq` seen; `false` if it had been seen already.
    fn insert(&mut self, seq: u64) -> bool {
        if seq < self.base {
            return self.fill_gap(seq);
        }
        if seq - self.base >= WINDOW {
            self.slide_to(seq - (WINDOW - 1));
        }
        let bit = 1u64 << (seq - self.base);
        if self.window & bit != 0 {
            return false;
        }
        self.window |= bit;
        // Move past every leading seen message, so `base` is the first one still missing.
        let run = self.window.trailing_ones();
        self.base += u64::from(run);
        self.window = self.window.checked_shr(run).unwrap_or(0);
        true
    }

    /// A message below the window: new if it is in a gap (which then shrinks), else a duplicate.
    fn fill_gap(&mut self, seq: u64) -> bool {
        let i = self.gaps.partition_point(|g| g.end <= seq);
        let Some(gap) = self.gaps.get_mut(i).filter(|g| g.start <= seq) else {
            return false;
        };
        let after = seq + 1..gap.end;
        gap.end = seq;
        match (gap.is_empty(), after.is_empty()) {
            (true, true) => {
                self.gaps.remove(i);
            }
            (true, false) => *gap = after,
            (false, true) => {}
            (false, false) => self.gaps.insert(i + 1, after),
        }
        true
    }

    /// Moves the window up so that it starts at `new_base`; the unseen messages it leaves behind
    /// become gaps.
    fn slide_to(&mut self, new_base: u64) {
        let shift = new_base - self.base;
        let left = shift.min(WINDOW);
        let mut unseen_from = None;
        for i in 0..left {
            let seq = self.base + i;
            match ((self.window >> i) & 1 == 1, unseen_from) {
                (false, None) => unseen_from = Some(seq),
                (true, Some(start)) => {
                    self.add_gap(start..seq);
                    unseen_from = None;
                }
                _ => {}
            }
        }
        // Everything above the old window and below the new base was never seen.
        let start = unseen_from.unwrap_or(self.base + left);
        if start < new_base {
            self.add_gap(start..new_base);
        }
        self.window = self.window.checked_shr(left as u32).unwrap_or(0);
        self.base = new_base;
    }

    /// Whether `seq` was seen.
    fn contains(&self, seq: u64) -> bool {
        if seq < self.base {
            let i = self.gaps.partition_point(|g| g.end <= seq);
            return self.gaps.get(i).is_none_or(|g| g.start > seq);
        }
        seq - self.base < WINDOW && (self.window >> (seq - self.base)) & 1 == 1
    }

    /// Appends a gap; gaps only ever appear above every existing one.
    fn add_gap(&mut self, gap: Range<u64>) {
        match self.gaps.last_mut() {
            Some(last) if last.end == gap.start => last.end = gap.end,
            _ => self.gaps.push(gap),
        }
    }
}

impl DeliveryTracker {
    /// Notes the arrival of `(publisher, seq)`; `in_window` says whether it counts toward the figures.
    pub fn observe(&mut self, publisher: u32, seq: u64, in_window: bool) -> Arrival {
        if publisher >= MAX_PUBLISHERS {
            return Arrival::Foreign;
        }
        let seen = match (publisher as usize).checked_sub(1) {
            None => &mut self.first,
            Some(i) => {
                if self.others.len() <= i {
                    self.others.resize_with(i + 1, PublisherSeen::default);
                }
                &mut self.others[i]
            }
        };
        let arrival = if !seen.insert(seq) {
            Arrival::Duplicate
        } else if seen.top > seq + 1 {
            Arrival::Reordered
        } else {
            Arrival::New
        };
        seen.top = seen.top.max(seq.saturating_add(1));
        if in_window {
            match arrival {
                Arrival::New => self.counts.delivered += 1,
                Arrival::Reordered => {
                    self.counts.delivered += 1;
                    self.counts.reordered += 1;
                }
                Arrival::Duplicate => self.counts.duplicated += 1,
                Arrival::Foreign => {}
            }
        }
        arrival
    }

    /// Whether `(publisher, seq)` arrived here (in the window or not).
    pub fn seen(&self, publisher: u32, seq: u64) -> bool {
        let seen = match (publisher as usize).checked_sub(1) {
            None => Some(&self.first),
            Some(i) => self.others.get(i),
        };
        seen.is_some_and(|s| s.contains(seq))
    }

    /// One more than the highest sequence number of `publisher` seen so far (in the window or
    /// not): the next one it will send. 0 before its first.
    pub fn next_of(&self, publisher: u32) -> u64 {
        let seen = match (publisher as usize).checked_sub(1) {
            None => Some(&self.first),
            Some(i) => self.others.get(i),
        };
        seen.map_or(0, |s| s.top)
    }

    /// How many publishers' slots the tracker holds (every id below it may have been seen).
    pub fn publishers(&self) -> u32 {
        u32::try_from(self.others.len() + 1).unwrap_or(u32::MAX)
    }

    /// Distinct in-window messages seen so far.
    pub fn delivered(&self) -> u64 {
        self.counts.delivered
    }

    /// Final counts, given how many in-window messages were published in all.
    pub fn finish(&self, expected: u64) -> DeliveryCounts {
        DeliveryCounts {
            lost: expected.saturating_sub(self.counts.delivered),
            ..self.counts
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn counts_new_duplicate_reordered_and_lost() {
        let mut t = DeliveryTracker::default();
        assert_eq!(t.observe(0, 0, true), Arrival::New);
        assert_eq!(t.observe(0, 2, true), Arrival::New);
        assert_eq!(t.observe(0, 1, true), Arrival::Reordered);
        assert_eq!(t.observe(0, 2, true), Arrival::Duplicate);
        assert_eq!(t.observe(1, 0, true), Arrival::New);
        assert_eq!(t.observe(1, 500, false), Arrival::New);
        let c = t.finish(6);
        assert_eq!(
            c,
            DeliveryCounts {
                delivered: 4,
                duplicated: 1,
                reordered: 1,
                lost: 2
            }
        );
    }

    #[test]
    fn out_of_window_messages_do_not_count() {
        let mut t = DeliveryTracker::default();
        t.observe(3, 7, false);
        t.observe(3, 7, false);
        assert_eq!(t.finish(0), DeliveryCounts::default());
    }

    #[test]
    fn gaps_larger_than_the_window_stay_exact() {
        let mut t = DeliveryTracker::default();
        for seq in 0..10 {
            assert_eq!(t.observe(0, seq, true), Arrival::New);
        }
        // 10..1000 overtaken by far more than the window, then 5000 after a larger gap.
        assert_eq!(t.observe(0, 1000, true), Arrival::New);
        assert_eq!(t.observe(0, 5000, true), Arrival::New);
        assert_eq!(t.observe(0, 10, true), Arrival::Reordered);
        assert_eq!(t.observe(0, 10, true), Arrival::Duplicate);
        assert_eq!(t.observe(0, 999, true), Arrival::Reordered);
        assert_eq!(t.observe(0, 500, true), Arrival::Reordered);
        assert_eq!(t.observe(0, 500, true), Arrival::Duplicate);
        assert_eq!(t.observe(0, 1000, true), Arrival::Duplicate);
        assert_eq!(t.observe(0, 3000, true), Arrival::Reordered);
        assert_eq!(t.observe(0, 4999, true), Arrival::Reordered);
        assert_eq!(t.observe(0, 5000, true), Arrival::Duplicate);
        assert_eq!(t.observe(0, 5001, true), Arrival::New);
        assert_eq!(t.observe(0, 9, true), Arrival::Duplicate);
        let c = t.finish(6000);
        assert_eq!(c.delivered, 18);
        assert_eq!(c.duplicated, 5);
        assert_eq!(c.reordered, 5);
        assert_eq!(c.lost, 6000 - 18);
    }

    #[test]
    fn an_in_order_run_allocates_no_gaps() {
        let mut t = DeliveryTracker::default();
        for seq in 0..100_000 {
            assert_eq!(t.observe(0, seq, true), Arrival::New);
        }
        let seen = &t.first;
        assert_eq!(
            (seen.base, seen.window, seen.gaps.capacity()),
            (100_000, 0, 0)
        );
    }

    #[test]
    fn publisher_ids_beyond_the_limit_are_foreign() {
        let mut t = DeliveryTracker::default();
        assert_eq!(t.observe(MAX_PUBLISHERS, 0, true), Arrival::Foreign);
        assert_eq!(t.observe(u32::MAX, 0, true), Arrival::Foreign);
        assert!(t.others.is_empty());
        assert_eq!(t.finish(0), DeliveryCounts::default());
    }

    /// The compact tracker against a plain set, on pseudo-random arrival orders with duplicates,
    /// losses, short and long reorderings.
    #[test]
    fn agrees_with_a_set_on_shuffled_streams() {
        let mut rng = fastrand::Rng::with_seed(7);
        for round in 0..200 {
            let n = rng.u64(1..3000);
            let mut arrivals: Vec<u64> = (0..n).filter(|_| rng.u8(..100) >= 3).collect();
            // Local swaps (reordering within the window) and far moves (beyond it).
            for _ in 0..rng.usize(0..50) {
                let i = rng.usize(..arrivals.len().max(1));
                let j = (i + rng.usize(0..if round % 2 == 0 { 8 } else { 500 }))
                    .min(arrivals.len().saturating_sub(1));
                arrivals.swap(i, j);
            }
            for _ in 0..rng.usize(0..30) {
                if let Some(&seq) = arrivals.get(rng.usize(..arrivals.len().max(1))) {
                    let at = rng.usize(..=arrivals.len());
                    arrivals.insert(at, seq);
                }
            }
            let mut t = DeliveryTracker::default();
            let mut seen = HashSet::new();
            let mut highest = None;
            for &seq in &arrivals {
                let expected = if !seen.insert(seq) {
                    Arrival::Duplicate
                } else if highest.is_some_and(|h| h > seq) {
                    Arrival::Reordered
                } else {
                    Arrival::New
                };
                highest = highest.max(Some(seq));
                assert_eq!(
                    t.observe(round % 3, seq, true),
                    expected,
                    "round {round}, seq {seq}"
                );
            }
            assert_eq!(t.delivered(), seen.len() as u64);
        }
    }

    #[test]
    fn seen_agrees_with_a_set() {
        let mut rng = fastrand::Rng::with_seed(11);
        for round in 0..100 {
            let n = rng.u64(1..2000);
            let mut arrivals: Vec<u64> = (0..n).filter(|_| rng.u8(..100) >= 5).collect();
            for _ in 0..rng.usize(0..40) {
                let i = rng.usize(..arrivals.len().max(1));
                let j = (i + rng.usize(0..300)).min(arrivals.len().saturating_sub(1));
                arrivals.swap(i, j);
            }
            let mut t = DeliveryTracker::default();
            let publisher = round % 3;
            for &seq in &arrivals {
                t.observe(publisher, seq, false);
            }
            let set: HashSet<u64> = arrivals.iter().copied().collect();
            for seq in 0..n + 100 {
                assert_eq!(t.seen(publisher, seq), set.contains(&seq), "{round}: {seq}");
            }
            assert!(!t.seen(publisher + 1, 0));
        }
    }
}
