//! What one subscriber does with each message it receives: identify it, place it in or out of the
//! measured window, record its latency and its delivery. Shared by every transport's client.
//!
//! A subscriber keeps only counters and its [`DeliveryTracker`] (a few words per publisher): each
//! in-window delivery's latency goes to the run's shared [`IntervalRecorder`] (the current second,
//! swapped out by the sampler; the whole run's histogram is the sum of the seconds), so memory per
//! subscriber does not grow with the latencies it sees, and the receive loops of the transports
//! need no hook of their own.
//!
//! With rooms a subscriber knows its room and the run's room count, so it knows every
//! publisher's room ([`crate::client::LoadPlan::publisher_room`]): a message from a publisher of
//! another room is `misrouted` (the server broke the room's isolation), counted apart and never a
//! delivery. Its tracker counts publishers by their index within the room, so it stays a few
//! words per publisher of its own room however many rooms there are.
//!
//! With kernel timestamps ([`crate::wire::stamp`]) a delivery's receive time is when its bytes
//! reached the socket, not when this task read them ([`Inbox::receive_stamped`]).
//!
//! In a sharded run a message from another shard's publisher carries a send time on that
//! shard's clock: it counts for delivery, loss, duplicates and order like any other, but gives
//! no latency ([`Timeline::own`]).

use std::sync::Arc;

use tokio::time::Instant;

use super::schedule::Timeline;
use super::window::Window;
use crate::codec::envelope::{Envelope, RunTag};
use crate::metrics::delivery::{Arrival, DeliveryTracker};
use crate::metrics::{Counts, IntervalRecorder, thread_lane};
use crate::protocol::RoomId;
use crate::wire::stamp::KernelStamp;

/// One subscriber's receive-side state; owned by its task, merged at the end.
#[derive(Debug)]
pub struct Inbox {
    /// Counters (deliveries are filled in by [`Inbox::finish`]).
    pub counts: Counts,
    /// Whether the subscriber connected (only then is it expected to receive).
    pub connected: bool,
    tracker: DeliveryTracker,
    /// How many in-window messages were published in all, once the publishers are done.
    expected: Option<u64>,
    /// The run's per-second recorder, once connected.
    intervals: Option<Arc<IntervalRecorder>>,
    /// Saturation mode: told of each message's first arrival here, with this subscriber's seat.
    window: Option<(Arc<Window>, u32)>,
    /// The subscriber's room, and how many rooms the publishers publish into (publisher `p` is
    /// in room `p % rooms`; 1 without rooms).
    room: RoomId,
    rooms: u32,
    /// The run's tag: a message carrying another is `stale`.
    run: RunTag,
    /// The last break of the connection, until its first live delivery after it.
    outage: Option<Outage>,
    /// Where each publisher's messages stood at the last break, until each is heard from again.
    away: Option<Box<Away>>,
}

/// Where each publisher's messages stood when the connection broke, until the subscriber hears
/// from that publisher again: the sequence numbers it skipped meanwhile were published while it
/// was away and never reached it ([`Counts::lost_away`](crate::metrics::Counts::lost_away)).
/// Boxed and kept only through a break: a connected subscriber holds none.
#[derive(Debug)]
struct Away {
    /// The first break not yet settled.
    from: Instant,
    /// Per publisher of the room: the next sequence number it would send as of the break;
    /// `None` once heard from again, or if it had never been heard from (nothing to compare).
    next: Vec<Option<u64>>,
}

impl Away {
    /// Hearing `seq` from `publisher`: how many of its messages were skipped since the break
    /// (0 once already heard from, or for a replay, which starts where the break left off).
    fn heard(&mut self, publisher: u32, seq: u64) -> u64 {
        self.next
            .get_mut(publisher as usize)
            .and_then(Option::take)
            .map_or(0, |next| seq.saturating_sub(next))
    }

    /// Whether every publisher has been heard from again.
    fn settled(&self) -> bool {
        self.next.iter().all(Option::is_none)
    }
}

/// A broken connection, from the break until the first delivery of a message published after
/// it was back: messages intended in between were published while the subscriber was away
/// (a replay, if they arrive), and that first live delivery ends its recovery.
#[derive(Debug, Clone, Copy)]
struct Outage {
    /// When the subscriber saw the connection break (or closed it, under churn).
    from: Instant,
    /// When it was connected again; `None` while it is away.
    back: Option<Instant>,
}

impl Inbox {
    /// The inbox of a subscriber of run `run` in `room`, of a run whose publishers publish into
    /// `rooms` rooms.
    pub fn new(run: RunTag, room: RoomId, rooms: u32) -> Self {
        Inbox {
            run,
            counts: Counts::default(),
            connected: false,
            tracker: DeliveryTracker::default(),
            expected: None,
            intervals: None,
            window: None,
            room,
            rooms: rooms.max(1),
            outage: None,
            away: None,
        }
    }

    /// The subscriber's room.
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// Handles one received message at `now`. Before the timeline is fixed nothing is in the window.
    pub fn receive(&mut self, message: &[u8], now: Instant, timeline: Option<&Timeline>) {
        self.receive_stamped(message, now, None, timeline);
    }

    /// [`Inbox::receive`] of a message whose bytes the kernel stamped on arrival (`stamp`,
    /// realtime). The receive time is then `now` moved back by how long ago that was: the
    /// latency stays the monotonic clock read twice (intended send time, receive time), and
    /// what the move took away, this task's wait to read the bytes, is the generator's delay,
    /// recorded on its own. Without a stamp the receive time is `now`.
    pub fn receive_stamped(
        &mut self,
        message: &[u8],
        now: Instant,
        stamp: Option<KernelStamp>,
        timeline: Option<&Timeline>,
    ) {
        let Some(envelope) = Envelope::find(message) else {
            self.counts.foreign += 1;
            return;
        };
        if envelope.run != self.run {
            self.counts.stale += 1;
            return;
        }
        // Publisher `p` publishes into room `p % rooms` and is the `p / rooms`-th of its room.
        let mut local = envelope.publisher;
        if self.rooms > 1 || self.room != RoomId::LOBBY {
            if envelope.publisher % self.rooms != self.room.0 {
                self.counts.misrouted += 1;
                return;
            }
            local = envelope.publisher / self.rooms;
        }
        let in_window = timeline.is_some_and(|t| t.in_window(envelope.intended_ns));
        let arrival = self.tracker.observe(local, envelope.seq, in_window);
        if arrival == Arrival::Foreign {
            self.counts.foreign += 1;
            return;
        }
        if let Some(away) = self.away.as_deref_mut() {
            let missed = away.heard(local, envelope.seq);
            // Only a break in the measured phase, and a message of the window: what it skipped
            // lies between the two, so it is in the window too.
            if in_window && timeline.is_some_and(|t| away.from >= t.measure_start) {
                self.counts.lost_away += missed;
            }
            if away.settled() {
                self.away = None;
            }
        }
        if let (Some((window, seat)), false) = (&self.window, arrival == Arrival::Duplicate) {
            window.arrived(*seat, envelope.publisher, envelope.seq);
        }
        if let (true, Some(t)) = (in_window && arrival != Arrival::Duplicate, timeline) {
            let intended = t.at(envelope.intended_ns);
            if let Some(intervals) = &self.intervals {
                let second = intended
                    .saturating_duration_since(t.measure_start)
                    .as_secs();
                let second = usize::try_from(second).unwrap_or(usize::MAX);
                // The worker thread's own lane: the lock's line stays on this core.
                if t.own.contains(envelope.publisher) {
                    // Read only for a delivery that is recorded: one clock read per delivery.
                    let delay = stamp.map(KernelStamp::delay);
                    let received = delay.map_or(now, |d| now.checked_sub(d).unwrap_or(now));
                    let latency = received.saturating_duration_since(intended);
                    intervals.record_stamped_delivery(thread_lane(), latency, delay, second);
                    if let Some(outage) = self.outage {
                        self.outage = outage.delivered(intended, received, latency, intervals);
                    }
                } else {
                    intervals.record_unclocked_delivery(thread_lane(), second);
                }
            }
        }
    }

    /// Records from now on into the run's per-second recorder (and tells the window, if any).
    pub(super) fn attach(&mut self, intervals: Arc<IntervalRecorder>, window: Option<Arc<Window>>) {
        self.intervals = Some(intervals);
        self.window = window.map(|w| {
            let seat = w.seat();
            (w, seat)
        });
    }

    /// The connection closed (broke, or churn closed it): the outage starts now, for the
    /// replay and recovery figures. A transport that resumes calls this; one whose next
    /// connection is a fresh join calls [`Inbox::left`].
    pub(super) fn away(&mut self) {
        let now = Instant::now();
        self.outage = Some(Outage {
            from: now,
            back: None,
        });
        // A publisher not yet heard from since an earlier break keeps that break's position.
        let earlier = self.away.take();
        let next = (0..self.tracker.publishers())
            .map(|p| {
                let kept = earlier
                    .as_ref()
                    .and_then(|a| a.next.get(p as usize).copied());
                kept.flatten()
                    .or_else(|| Some(self.tracker.next_of(p)).filter(|&n| n > 0))
            })
            .collect();
        self.away = Some(Box::new(Away {
            from: earlier.map_or(now, |a| a.from),
            next,
        }));
    }

    /// Connected again after [`Inbox::away`].
    pub(super) fn back(&mut self) {
        if let Some(outage) = self.outage.as_mut() {
            outage.back = Some(Instant::now());
        }
    }

    /// [`Inbox::away`], and the next connection is a fresh join: the window stops waiting for
    /// this subscriber until [`Inbox::rejoined`].
    pub(super) fn left(&mut self) {
        self.away();
        if let Some((window, seat)) = &self.window {
            window.leave(*seat, |p, s| self.tracker.seen(p, s));
        }
    }

    /// Connected again after [`Inbox::left`].
    pub(super) fn rejoined(&mut self) {
        self.back();
        if let Some((window, seat)) = &self.window {
            window.rejoin(*seat);
        }
    }

    /// Tells the inbox how many in-window messages to expect, once known.
    pub fn set_expected(&mut self, expected: Option<u64>) {
        if self.expected.is_none() {
            self.expected = expected;
        }
    }

    /// Whether the in-window total is known yet.
    pub fn knows_expected(&self) -> bool {
        self.expected.is_some()
    }

    /// Whether every expected message has arrived (false while the total is unknown).
    pub fn complete(&self) -> bool {
        self.expected
            .is_some_and(|expected| self.tracker.delivered() >= expected)
    }

    /// The final counts, with losses counted against `expected`: the in-window messages the
    /// publishers sent in all (known to the caller even when the run was cut short).
    pub fn finish(mut self, expected: u64) -> Counts {
        self.counts.delivery = self.tracker.finish(expected);
        self.counts
    }
}

impl Outage {
    /// A delivery of a message intended at `intended`, received at `received`: recorded as a
    /// replay if it was published during the outage, or as the end of the recovery if it was
    /// published after. The outage as it stands afterwards (`None` once recovered).
    fn delivered(
        self,
        intended: Instant,
        received: Instant,
        latency: std::time::Duration,
        intervals: &IntervalRecorder,
    ) -> Option<Outage> {
        let Some(back) = self.back else {
            return Some(self);
        };
        if intended >= back {
            intervals
                .outages
                .record_recovery(received.saturating_duration_since(self.from));
            return None;
        }
        if intended >= self.from {
            intervals.outages.record_replay(latency);
        }
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: RunTag = RunTag(7);

    fn message(publisher: u32, seq: u64) -> Vec<u8> {
        tagged(RUN, publisher, seq)
    }

    fn tagged(run: RunTag, publisher: u32, seq: u64) -> Vec<u8> {
        Envelope {
            run,
            publisher,
            seq,
            intended_ns: 0,
        }
        .encode(64)
    }

    #[test]
    fn a_message_from_another_room_is_misrouted_and_never_a_delivery() {
        let now = Instant::now();
        let timeline = Timeline {
            epoch: now,
            publish_start: now,
            measure_start: now,
            measure_end: now + std::time::Duration::from_secs(10),
            own: (0..10).into(),
        };
        // Room 1 of 3: publishers 1, 4, 7, … are its own.
        let mut inbox = Inbox::new(RUN, RoomId(1), 3);
        for (publisher, seq) in [(1, 0), (4, 0), (1, 1), (2, 0), (3, 5), (4, 0)] {
            inbox.receive(&message(publisher, seq), now, Some(&timeline));
        }
        assert_eq!(inbox.counts.misrouted, 2);
        // Three of its room's messages were expected: all came, one of them twice.
        let counts = inbox.finish(3);
        assert_eq!(counts.misrouted, 2);
        let d = counts.delivery;
        assert_eq!((d.delivered, d.duplicated, d.lost), (3, 1, 0));
        // A subscriber placed in a room nobody publishes into (past the run's rooms) expects
        // nothing, and anything it gets is misrouted.
        let mut idle = Inbox::new(RUN, RoomId(5), 1);
        idle.receive(&message(0, 0), now, Some(&timeline));
        assert_eq!(idle.finish(0).misrouted, 1);
        // Without rooms every publisher is the subscriber's.
        let mut one = Inbox::new(RUN, RoomId::LOBBY, 1);
        one.receive(&message(2, 0), now, Some(&timeline));
        let counts = one.finish(1);
        assert_eq!((counts.misrouted, counts.delivery.delivered), (0, 1));
    }

    /// A server that replays its history hands a new run the last run's messages: same
    /// publishers, same sequence numbers. They are stale, and neither deliveries nor duplicates
    /// nor a reason to count this run's own messages as reordered.
    #[test]
    fn another_runs_messages_are_stale_and_change_nothing_else() {
        let now = Instant::now();
        let timeline = Timeline {
            epoch: now,
            publish_start: now,
            measure_start: now,
            measure_end: now + std::time::Duration::from_secs(10),
            own: (0..2).into(),
        };
        let mut inbox = Inbox::new(RUN, RoomId::LOBBY, 1);
        for seq in [5, 6, 7] {
            inbox.receive(&tagged(RunTag(8), 0, seq), now, Some(&timeline));
        }
        for seq in [0, 1] {
            inbox.receive(&message(0, seq), now, Some(&timeline));
        }
        inbox.receive(&tagged(RunTag(8), 1, 0), now, Some(&timeline));
        inbox.receive(&message(1, 0), now, Some(&timeline));
        let counts = inbox.finish(3);
        assert_eq!(counts.stale, 4);
        let d = counts.delivery;
        assert_eq!(
            (d.delivered, d.duplicated, d.reordered, d.lost),
            (3, 0, 0, 0)
        );
        assert_eq!(counts.foreign, 0);
    }

    /// Intended 100 ms before `now`, its bytes stamped by the kernel 60 ms before: the latency
    /// is the 40 ms up to the arrival, and the 60 ms (or the few µs more that passed before the
    /// inbox read the clock) are the generator's delay. Without the stamp, all 100 ms.
    #[test]
    fn a_kernel_stamp_moves_the_receive_time_back_to_the_arrival() {
        use std::time::{Duration, SystemTime};
        let now = Instant::now();
        let epoch = now - Duration::from_millis(100);
        let timeline = Timeline {
            epoch,
            publish_start: epoch,
            measure_start: epoch,
            measure_end: epoch + Duration::from_secs(10),
            own: (0..10).into(),
        };
        let intervals = Arc::new(IntervalRecorder::new(10));
        let since_epoch = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            - Duration::from_millis(60);
        let stamp = KernelStamp { since_epoch };
        let mut stamped = Inbox::new(RUN, RoomId::LOBBY, 1);
        stamped.attach(intervals.clone(), None);
        stamped.receive_stamped(&message(0, 0), now, Some(stamp), Some(&timeline));
        let (latency, _) = intervals.take_latency();
        let delay = intervals.generator_delay();
        assert_eq!((latency.len(), delay.len()), (1, 1));
        // Histograms keep 3 significant digits: 40 ms is recorded as 40,000 ± 40 µs.
        assert!(latency.max() <= 40_040, "{}", latency.max());
        assert!(delay.min() >= 59_960, "{}", delay.min());
        let mut plain = Inbox::new(RUN, RoomId::LOBBY, 1);
        plain.attach(intervals.clone(), None);
        plain.receive(&message(0, 0), now, Some(&timeline));
        let (latency, _) = intervals.take_latency();
        assert!(latency.min() >= 99_900, "{}", latency.min());
        assert_eq!(
            intervals.generator_delay().len(),
            1,
            "no delay without a stamp"
        );
    }

    /// Away from 10 s to 12 s of the phase: the messages intended in between are replays when
    /// they come (once each, a duplicate is not), the first one intended after the return ends
    /// the recovery (2.5 s after the break, when it arrived), and later ones are live.
    #[tokio::test(start_paused = true)]
    async fn an_outage_counts_its_replays_once_and_times_its_recovery() {
        use std::time::Duration;
        let epoch = Instant::now();
        let timeline = Timeline {
            epoch,
            publish_start: epoch,
            measure_start: epoch,
            measure_end: epoch + Duration::from_secs(100),
            own: (0..1).into(),
        };
        let intervals = Arc::new(IntervalRecorder::new(100));
        let mut inbox = Inbox::new(RUN, RoomId::LOBBY, 1);
        inbox.attach(intervals.clone(), None);
        let at_second = |seq: u64| {
            Envelope {
                run: RUN,
                publisher: 0,
                seq,
                intended_ns: seq * 1_000_000_000,
            }
            .encode(64)
        };
        tokio::time::advance(Duration::from_secs(10)).await;
        inbox.away();
        tokio::time::advance(Duration::from_secs(2)).await;
        inbox.back();
        tokio::time::advance(Duration::from_millis(500)).await;
        let now = Instant::now();
        for seq in [9, 10, 11, 10, 12, 13] {
            inbox.receive(&at_second(seq), now, Some(&timeline));
        }
        assert_eq!(intervals.outages.replay().len(), 2);
        let recovery = intervals.outages.recovery();
        assert_eq!(recovery.len(), 1);
        // 2.5 s, to the histogram's 3 significant digits.
        assert!(recovery.value_at_quantile(1.0).abs_diff(2_500_000) <= 2_500);
        // A second outage with nothing published during it: no replay, one more recovery.
        inbox.away();
        tokio::time::advance(Duration::from_secs(1)).await;
        inbox.back();
        let now = Instant::now();
        inbox.receive(&at_second(15), now, Some(&timeline));
        assert_eq!(
            (
                intervals.outages.replay().len(),
                intervals.outages.recovery().len()
            ),
            (2, 2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn what_a_fresh_rejoin_skipped_is_lost_away_per_publisher_and_a_replay_skips_nothing() {
        use std::time::Duration;
        let epoch = Instant::now();
        let timeline = Timeline {
            epoch,
            publish_start: epoch,
            measure_start: epoch + Duration::from_secs(1),
            measure_end: epoch + Duration::from_secs(100),
            own: (0..2).into(),
        };
        let at = |publisher: u32, seq: u64| {
            Envelope {
                run: RUN,
                publisher,
                seq,
                intended_ns: 2_000_000_000 + seq * 1_000_000,
            }
            .encode(64)
        };
        let mut inbox = Inbox::new(RUN, RoomId::LOBBY, 1);
        let receive = |inbox: &mut Inbox, publisher, seqs: &[u64]| {
            for &seq in seqs {
                inbox.receive(&at(publisher, seq), Instant::now(), Some(&timeline));
            }
        };
        // A break before the measured phase counts nothing.
        receive(&mut inbox, 0, &[0, 1]);
        inbox.left();
        receive(&mut inbox, 0, &[5]);
        assert_eq!(inbox.counts.lost_away, 0);
        tokio::time::advance(Duration::from_secs(2)).await;
        receive(&mut inbox, 0, &[6, 7]);
        receive(&mut inbox, 1, &[0, 1, 2]);
        inbox.left();
        // Publisher 0 skipped 8 and 9; a second break before publisher 1 is heard from keeps
        // where publisher 1 stood at the first (3), and takes publisher 0's place anew (11).
        receive(&mut inbox, 0, &[10]);
        inbox.left();
        receive(&mut inbox, 1, &[7, 8]);
        receive(&mut inbox, 0, &[11, 12]);
        assert_eq!(inbox.counts.lost_away, 2 + 4);
        // A resume replays from where the break left off: nothing skipped, nothing counted.
        inbox.away();
        receive(&mut inbox, 0, &[13, 14]);
        receive(&mut inbox, 1, &[9]);
        assert_eq!(inbox.counts.lost_away, 6);
        assert!(inbox.away.is_none());
    }
}
