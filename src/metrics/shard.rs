//! Sharded runs as data: which slice of the subscribers and publishers one process ran
//! ([`Slice`]), what `wsbench merge` needs from each shard beyond the usual figures
//! ([`ShardFigures`]), and what a merged run keeps of each shard ([`ShardSummary`]).
//!
//! Owns the slicing arithmetic, so every process of a run computes the same slices from the
//! same `(index, count)`. Like the rest of `metrics`: no I/O, no clock; adding shards up is
//! `crate::merge`'s job, reading flags is the client's.

use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

/// The most shards a run may be split into: shard `i` connects from its own /24 of 127.0.0.0/8
/// (see `client::shard`), and there are 65,536 of them.
pub const MAX_SHARDS: u32 = 1 << 16;

/// One process's slice of a sharded run: the subscribers and publishers it runs, by their ids in
/// the whole run. Publisher ids are unique across shards, so every subscriber tells every
/// publisher apart, whichever process it ran in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// 0-based index of this shard.
    pub index: u32,
    /// Shards in the run.
    pub count: u32,
    /// Subscriber ids of this shard: `total × index / count` up to `total × (index + 1) / count`.
    pub subscribers: Range<u32>,
    /// Subscribers of the whole run.
    pub subscribers_total: u32,
    /// Publisher ids of this shard, cut like the subscribers.
    pub publishers: Range<u32>,
    /// Publishers of the whole run: the schedule's `P` (publisher `i` of `P` sends at
    /// `(k·P + i) / rate`), so the shards' publishers together keep the one-process schedule.
    pub publishers_total: u32,
}

/// Why a run cannot be cut into the slices asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SliceError {
    /// `--shard I/N` with `I ≥ N`, `N = 0` or `N` above [`MAX_SHARDS`].
    #[error(
        "--shard {index}/{count}: the index counts from 0 and must be below the shard count (1 to {MAX_SHARDS})"
    )]
    OutOfRange {
        /// The index asked for.
        index: u32,
        /// The shard count asked for.
        count: u32,
    },
    /// More shards than subscribers: some shard would have none. Use fewer shards.
    #[error(
        "--shard {index}/{count}: {subscribers} subscribers cannot be cut into {count} shards (each needs one); use at most {subscribers} shards"
    )]
    TooFewSubscribers {
        /// The index asked for.
        index: u32,
        /// The shard count asked for.
        count: u32,
        /// Subscribers of the whole run.
        subscribers: u32,
    },
    /// The slice holds more publishers than subscribers, and publishers are among the
    /// subscribers. Change the shard count or the publisher count.
    #[error(
        "--shard {index}/{count}: this slice holds publishers {publishers:?} but only subscribers {subscribers:?}, and every publisher is one of its shard's subscribers; choose another shard count"
    )]
    PublishersOutnumber {
        /// The index asked for.
        index: u32,
        /// The shard count asked for.
        count: u32,
        /// The slice's publisher ids.
        publishers: Range<u32>,
        /// The slice's subscriber ids.
        subscribers: Range<u32>,
    },
}

impl Slice {
    /// Slice `index` of `count` of a run of `subscribers` and `publishers`.
    pub fn new(
        index: u32,
        count: u32,
        subscribers: u32,
        publishers: u32,
    ) -> Result<Slice, SliceError> {
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(SliceError::OutOfRange { index, count });
        }
        if subscribers < count {
            return Err(SliceError::TooFewSubscribers {
                index,
                count,
                subscribers,
            });
        }
        let slice = Slice {
            index,
            count,
            subscribers: cut(subscribers, index, count),
            subscribers_total: subscribers,
            publishers: cut(publishers, index, count),
            publishers_total: publishers,
        };
        if slice.publishers.len() > slice.subscribers.len() {
            return Err(SliceError::PublishersOutnumber {
                index,
                count,
                publishers: slice.publishers,
                subscribers: slice.subscribers,
            });
        }
        Ok(slice)
    }

    /// This slice with the publishers of its own subscribers instead of an even cut of them:
    /// publisher `p` runs in the slice that holds subscriber `p`, as in one process, where it
    /// rides subscriber `p`'s connection (WebSocket, raw) and publishes into its room. A run with
    /// `[rooms]` cuts its publishers so: every room's publishers then exist once across the
    /// shards, each in the shard of the subscriber it rides. The cost is balance: with fewer
    /// publishers than subscribers the sends gather in the first shards (the deliveries, a room's
    /// members per send, stay evenly cut).
    pub fn with_publishers_of_subscribers(self) -> Slice {
        let p = self.publishers_total;
        Slice {
            publishers: self.subscribers.start.min(p)..self.subscribers.end.min(p),
            ..self
        }
    }

    /// Subscribers in this slice.
    pub fn subscribers_here(&self) -> u32 {
        self.subscribers.end - self.subscribers.start
    }

    /// Publishers in this slice.
    pub fn publishers_here(&self) -> u32 {
        self.publishers.end - self.publishers.start
    }

    /// Of the run's last `slow` subscribers (the slow readers), how many are in this slice: they
    /// are the slice's last ones.
    pub fn slow_here(&self, slow: u32) -> u32 {
        let first_slow = self.subscribers_total.saturating_sub(slow);
        self.subscribers
            .end
            .saturating_sub(first_slow.max(self.subscribers.start))
    }

    /// `index/count`, as the flag is written.
    pub fn label(&self) -> String {
        format!("{}/{}", self.index, self.count)
    }
}

/// Ids `total × index / count` up to `total × (index + 1) / count`: every id in exactly one slice,
/// slices differing in size by at most one.
fn cut(total: u32, index: u32, count: u32) -> Range<u32> {
    let at = |i: u32| {
        u32::try_from(u64::from(total) * u64::from(i) / u64::from(count))
            .expect("a share of a u32 fits a u32")
    };
    at(index)..at(index + 1)
}

/// What one shard's run stores beyond the usual figures, so that `wsbench merge` can add the
/// shards up exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardFigures {
    /// Which slice this shard ran.
    pub slice: Slice,
    /// The common start every shard was given (`--start-at`): the first publish slot, on this
    /// shard's wall clock, since the Unix epoch.
    pub start_unix: Duration,
    /// Subscribers of this shard that connected: each expected every message of every shard.
    pub subscribers_connected: u32,
    /// In-window slots of the other shards' publishers. A shard cannot know how many of them were
    /// published, so its own `deliveries_expected` and `lost` count them as scheduled; the merge
    /// replaces them by what the other shards published.
    pub others_scheduled: u64,
    /// Per second of the measured phase, by intended send time: distinct deliveries of that
    /// second's messages (from every shard's publishers) to this shard's subscribers.
    pub delivered_by_intended: Vec<u64>,
    /// The source addresses this shard connected from, with the connections made from each
    /// (empty when the kernel chose).
    pub sources: Vec<(IpAddr, u64)>,
    /// With `[rooms]`, per room: what the merge needs to count each room's expected deliveries
    /// (its messages × its members, over every shard). `None` without rooms.
    pub rooms: Option<RoomFigures>,
}

/// One shard's part of every room, indexed by room: the merge adds the shards' vectors and
/// multiplies them room by room, so a message is expected only by the members of its room.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomFigures {
    /// In-window messages this shard's publishers published into each room.
    pub published: Vec<u64>,
    /// This shard's subscribers that connected, in each room.
    pub connected: Vec<u64>,
}

impl RoomFigures {
    /// Deliveries the rooms expect when every shard's figures are added up: Σ over rooms of
    /// (messages published into the room) × (its members that connected).
    pub fn expected<'a>(shards: impl Iterator<Item = &'a RoomFigures> + Clone) -> u64 {
        let rooms = shards
            .clone()
            .map(|r| r.published.len().max(r.connected.len()))
            .max()
            .unwrap_or(0);
        let sum = |pick: fn(&RoomFigures) -> &Vec<u64>, room: usize| -> u64 {
            shards
                .clone()
                .map(|r| pick(r).get(room).copied().unwrap_or(0))
                .sum()
        };
        (0..rooms)
            .map(|room| sum(|r| &r.published, room) * sum(|r| &r.connected, room))
            .sum()
    }
}

/// One shard, as a merged run keeps it for its per-shard report section.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardSummary {
    /// The shard's own figures.
    pub figures: ShardFigures,
    /// The results directory it was merged from, as given.
    pub dir: String,
    /// Messages its publishers published in the window.
    pub messages_published: u64,
    /// Distinct in-window deliveries to its subscribers, from every shard's publishers.
    pub deliveries: u64,
    /// Of those, the ones with a latency sample: from its own publishers.
    pub latency_samples: u64,
    /// Median latency of those samples, µs.
    pub latency_p50_us: Option<u64>,
    /// 99th percentile, µs.
    pub latency_p99_us: Option<u64>,
    /// Largest, µs.
    pub latency_max_us: Option<u64>,
    /// The shard process's CPU over its measured phase.
    pub client_cpu: Duration,
    /// Its peak resident set size, KiB.
    pub client_peak_rss_kib: u64,
    /// Its measured phase's start on its wall clock, since the Unix epoch: beside
    /// [`ShardFigures::start_unix`] it shows how the shards' windows lined up.
    pub measure_start_unix: Duration,
    /// Whether its run completed.
    pub complete: bool,
    /// What it was pointed at (its scenario's `[target]`, as `key = value` pairs), when the
    /// shards of a fleet each loaded their own server; `None` when every shard loaded the same.
    pub target: Option<String>,
}

/// How a transport's figures relate to a sharded run; `None` in [`super::TransportMetrics`] for
/// a run in one process.
#[derive(Debug, Clone, PartialEq)]
pub enum Sharding {
    /// One shard's part of a run, as the shard measured it.
    Part(ShardFigures),
    /// Every shard added up by `wsbench merge`; one entry per shard, in index order.
    Merged(Vec<ShardSummary>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_every_id_once() {
        for (s, p, n) in [
            (3000, 3, 3),
            (10, 4, 3),
            (7, 0, 7),
            (5, 5, 2),
            (100_000, 999, 64),
        ] {
            let slices: Vec<Slice> = (0..n).map(|i| Slice::new(i, n, s, p).unwrap()).collect();
            assert_eq!(slices[0].subscribers.start, 0);
            assert_eq!(slices[0].publishers.start, 0);
            for w in slices.windows(2) {
                assert_eq!(w[0].subscribers.end, w[1].subscribers.start);
                assert_eq!(w[0].publishers.end, w[1].publishers.start);
            }
            let last = slices.last().unwrap();
            assert_eq!((last.subscribers.end, last.publishers.end), (s, p));
        }
        let s = Slice::new(1, 3, 3000, 3).unwrap();
        assert_eq!(s.label(), "1/3");
        assert_eq!((s.subscribers, s.publishers), (1000..2000, 1..2));
    }

    #[test]
    fn with_rooms_each_publisher_is_in_its_subscriber_s_slice() {
        // 10 subscribers in 3: 0..3, 3..6, 6..10; publishers 0..4 follow subscribers 0..4.
        let cut: Vec<Slice> = (0..3)
            .map(|i| {
                Slice::new(i, 3, 10, 4)
                    .unwrap()
                    .with_publishers_of_subscribers()
            })
            .collect();
        let publishers: Vec<Range<u32>> = cut.iter().map(|s| s.publishers.clone()).collect();
        assert_eq!(publishers, [0..3, 3..4, 4..4]);
        for s in &cut {
            for p in s.publishers.clone() {
                assert!(s.subscribers.contains(&p));
            }
        }
    }

    #[test]
    fn rooms_expect_their_messages_times_their_members() {
        // Room 0: 5 messages (3 + 2) to 4 members (1 + 3); room 1: 1 message to 2 members.
        let a = RoomFigures {
            published: vec![3, 1],
            connected: vec![1, 2],
        };
        let b = RoomFigures {
            published: vec![2],
            connected: vec![3, 0],
        };
        assert_eq!(RoomFigures::expected([&a, &b].into_iter()), 5 * 4 + 2);
        assert_eq!(RoomFigures::expected(std::iter::empty()), 0);
    }

    #[test]
    fn slow_readers_are_the_last_of_the_whole_run() {
        // 30 subscribers, the last 12 slow: none in 0..10, 2 in 10..20, 10 in 20..30.
        let slow: Vec<u32> = (0..3)
            .map(|i| Slice::new(i, 3, 30, 3).unwrap().slow_here(12))
            .collect();
        assert_eq!(slow, [0, 2, 10]);
        assert_eq!(Slice::new(0, 1, 30, 3).unwrap().slow_here(30), 30);
    }

    #[test]
    fn impossible_slices_are_refused() {
        assert!(matches!(
            Slice::new(3, 2, 10, 1),
            Err(SliceError::OutOfRange { .. })
        ));
        assert!(matches!(
            Slice::new(0, 0, 10, 1),
            Err(SliceError::OutOfRange { .. })
        ));
        assert!(matches!(
            Slice::new(0, 4, 3, 1),
            Err(SliceError::TooFewSubscribers { .. })
        ));
        let e = Slice::new(3, 4, 4, 4).unwrap();
        assert_eq!((e.subscribers, e.publishers), (3..4, 3..4));
        // 5 subscribers and 5 publishers in 2: 0..2 and 2..5 both ways; 4 of 3 never happens
        // with publishers ≤ subscribers here, but a hand-made count can.
        assert!(Slice::new(1, 2, 5, 5).is_ok());
        assert!(matches!(
            Slice::new(0, 2, 2, 4),
            Err(SliceError::PublishersOutnumber { .. })
        ));
    }
}
