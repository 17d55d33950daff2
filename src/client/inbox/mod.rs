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
mod tests;
