//! Publisher bookkeeping: each publisher's schedule and counts, and the tally that tells every
//! subscriber how many in-window messages to expect once all publishers are done: per room, since
//! a subscriber expects only what was published into its own.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::watch;
use tokio::time::Instant;

use super::schedule::{Cadence, Schedule, Timeline};
use crate::codec::envelope::Envelope;
use crate::protocol::RoomId;

/// Totals over all publishers of one transport run.
#[derive(Debug)]
pub struct PublishTally {
    in_window: AtomicU64,
    /// In-window messages published into each room (one entry without rooms).
    by_room: Box<[AtomicU64]>,
    /// In-window messages the other shards of a sharded run are scheduled to publish: every
    /// subscriber expects them too (0 when not sharded).
    others: u64,
    remaining: AtomicU32,
    /// Set to the in-window total when the last publisher reports.
    finals: watch::Sender<Option<u64>>,
    /// Each room's final total (with `others`), for readers on the hot path once set: a `watch`
    /// borrow takes a read lock, an atomic read-modify-write on a line every subscriber shares.
    totals: OnceLock<Box<[u64]>>,
}

impl PublishTally {
    /// A tally waiting for `publishers` reports, of publishers publishing into `rooms` rooms;
    /// subscribers also expect `others` messages from other shards' publishers.
    pub fn new(publishers: u32, others: u64, rooms: u32) -> Self {
        let tally = PublishTally {
            in_window: AtomicU64::new(0),
            by_room: (0..rooms.max(1)).map(|_| AtomicU64::new(0)).collect(),
            others,
            remaining: AtomicU32::new(publishers),
            finals: watch::Sender::new((publishers == 0).then_some(others)),
            totals: OnceLock::new(),
        };
        if publishers == 0 {
            tally.settle();
        }
        tally
    }

    /// In-window messages published into `room` so far (final once every publisher reported);
    /// 0 for a room nobody publishes into.
    pub fn in_room(&self, room: RoomId) -> u64 {
        let n = self.by_room.get(room.0 as usize);
        n.map_or(0, |n| n.load(Ordering::SeqCst))
    }

    /// In-window messages this process published so far (final once every publisher reported).
    pub fn in_window(&self) -> u64 {
        self.in_window.load(Ordering::SeqCst)
    }

    /// The in-window total a subscriber of `room` expects, once every publisher is done: this
    /// process's published into the room and the other shards' scheduled ones.
    pub fn total(&self, room: RoomId) -> Option<u64> {
        let totals = self.totals.get()?;
        Some(totals.get(room.0 as usize).copied().unwrap_or(0))
    }

    /// A receiver that holds the in-window total once every publisher is done.
    pub fn finals(&self) -> watch::Receiver<Option<u64>> {
        self.finals.subscribe()
    }

    fn report(&self, room: RoomId, in_window: u64) {
        if let Some(n) = self.by_room.get(room.0 as usize) {
            n.fetch_add(in_window, Ordering::SeqCst);
        }
        let total = self.in_window.fetch_add(in_window, Ordering::SeqCst) + in_window + self.others;
        if self.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.settle();
            self.finals.send_replace(Some(total));
        }
    }

    /// Fixes every room's total: every publisher has reported.
    fn settle(&self) {
        let totals = self
            .by_room
            .iter()
            .map(|n| n.load(Ordering::SeqCst) + self.others)
            .collect();
        let _ = self.totals.set(totals);
    }
}

/// One publisher's progress. Reports to the tally exactly once: when its schedule ends, or when
/// it is dropped (connection lost, run cancelled), so the subscribers never wait for it in vain.
#[derive(Debug)]
pub struct Publishing {
    publisher: u32,
    /// The room it publishes into.
    room: RoomId,
    cadence: Cadence,
    schedule: Option<Schedule>,
    timeline: Option<Timeline>,
    in_window: u64,
    tally: Option<Arc<super::ctx::Ctx>>,
}

impl Publishing {
    /// This process's publisher `index`, reporting to `ctx`'s tally. It sends as the run's
    /// publisher `first + index` of all (see [`LoadPlan::own_publishers`](super::LoadPlan::own_publishers)).
    pub(super) fn new(ctx: Arc<super::ctx::Ctx>, index: u32) -> Self {
        let publisher = ctx.plan.own_publishers().first + index;
        Publishing {
            publisher,
            room: ctx.plan.publisher_room(publisher),
            cadence: ctx.plan.cadence(),
            schedule: None,
            timeline: None,
            in_window: 0,
            tally: Some(ctx),
        }
    }

    /// The room it publishes into.
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// Starts the schedule once the timeline is fixed.
    pub fn start(&mut self, timeline: &Timeline) {
        if self.schedule.is_none() {
            let schedule = Schedule::new(self.publisher, &self.cadence, timeline);
            let empty = schedule.peek().is_none();
            self.schedule = Some(schedule);
            self.timeline = Some(*timeline);
            if empty {
                self.finish();
            }
        }
    }

    /// When the next message is due, if any (also `None` before the start).
    pub fn next_due(&self) -> Option<Instant> {
        self.schedule.as_ref()?.peek().map(|(_, at)| at)
    }

    /// The next message, padded to `payload_bytes`; call [`Publishing::sent`] once it is out.
    pub fn next_message(&self, payload_bytes: usize) -> Option<Vec<u8>> {
        let (seq, at) = self.schedule.as_ref()?.peek()?;
        let timeline = self.timeline.as_ref()?;
        Some(
            Envelope {
                publisher: self.publisher,
                seq,
                intended_ns: timeline.ns(at),
            }
            .encode(payload_bytes),
        )
    }

    /// The message from [`Publishing::next_message`] was handed to the socket.
    pub fn sent(&mut self) {
        if let Some((_, at)) = self.schedule.as_ref().and_then(Schedule::peek) {
            self.count(at);
            if let Some(schedule) = self.schedule.as_mut() {
                schedule.advance();
            }
        }
        if self.next_due().is_none() {
            self.finish();
        }
    }

    /// The next message, padded to `payload_bytes`, with its intended send time, and moves the
    /// schedule past it without counting it: for a publisher that keeps several messages in
    /// flight and counts each by [`Publishing::published`] once the server took it.
    pub fn take(&mut self, payload_bytes: usize) -> Option<(Vec<u8>, Instant)> {
        let message = self.next_message(payload_bytes)?;
        let schedule = self.schedule.as_mut()?;
        let (_, at) = schedule.peek()?;
        schedule.advance();
        Some((message, at))
    }

    /// The server took a message from [`Publishing::take`] that was meant for `at`. The caller
    /// reports with [`Publishing::finish`] once nothing is left in flight.
    pub fn published(&mut self, at: Instant) {
        self.count(at);
    }

    fn count(&mut self, at: Instant) {
        let Some(timeline) = self.timeline.as_ref() else {
            return;
        };
        if at >= timeline.measure_start {
            self.in_window += 1;
            if let Some(ctx) = &self.tally {
                let second = (at - timeline.measure_start).as_secs();
                // Every member of the room is to receive it.
                ctx.intervals.record_published(
                    usize::try_from(second).unwrap_or(usize::MAX),
                    ctx.members(self.room),
                );
            }
        }
    }

    /// Reports to the tally now (idempotent).
    pub fn finish(&mut self) {
        if let Some(ctx) = self.tally.take() {
            ctx.tally.report(self.room, self.in_window);
        }
    }
}

impl Drop for Publishing {
    fn drop(&mut self) {
        self.finish();
    }
}
