//! Delivery bookkeeping for one subscriber: which messages arrived, twice, or out of order.
//!
//! A message is identified by `(publisher, seq)`; each publisher numbers its messages 0, 1, 2, …
//! Lost messages cannot be seen arriving, so they are counted at the end as expected − delivered.

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
}

/// Per-subscriber record of seen messages: a bitset per publisher, so memory is one bit per message.
#[derive(Debug, Clone, Default)]
pub struct DeliveryTracker {
    publishers: Vec<PublisherSeen>,
    counts: DeliveryCounts,
}

#[derive(Debug, Clone, Default)]
struct PublisherSeen {
    bits: Vec<u64>,
    highest: Option<u64>,
}

impl DeliveryTracker {
    /// Notes the arrival of `(publisher, seq)`; `in_window` says whether it counts toward the figures.
    pub fn observe(&mut self, publisher: u32, seq: u64, in_window: bool) -> Arrival {
        let p = publisher as usize;
        if self.publishers.len() <= p {
            self.publishers.resize_with(p + 1, PublisherSeen::default);
        }
        let seen = &mut self.publishers[p];
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if seen.bits.len() <= word {
            seen.bits.resize(word + 1, 0);
        }
        let arrival = if seen.bits[word] & (1 << bit) != 0 {
            Arrival::Duplicate
        } else {
            seen.bits[word] |= 1 << bit;
            match seen.highest {
                Some(h) if h > seq => Arrival::Reordered,
                _ => Arrival::New,
            }
        };
        seen.highest = Some(seen.highest.map_or(seq, |h| h.max(seq)));
        if in_window {
            match arrival {
                Arrival::New => self.counts.delivered += 1,
                Arrival::Reordered => {
                    self.counts.delivered += 1;
                    self.counts.reordered += 1;
                }
                Arrival::Duplicate => self.counts.duplicated += 1,
            }
        }
        arrival
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
}
