//! Publisher bookkeeping: each publisher's schedule and counts, and the tally that tells every
//! subscriber how many in-window messages to expect once all publishers are done: per room, since
//! a subscriber expects only what was published into its own.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::schedule::{Cadence, Schedule, Timeline};
use super::window::Window;
use crate::codec::envelope::Envelope;
use crate::codec::payload::{PayloadModel, Slot};
use crate::protocol::RoomId;
use crate::scenario::MAX_MESSAGES;

/// Totals over all publishers of one transport run.
#[derive(Debug)]
pub struct PublishTally {
    in_window: AtomicU64,
    /// In-window messages published into each room (one entry without rooms).
    by_room: Box<[AtomicU64]>,
    /// In-window messages the other shards of a sharded run are scheduled to publish into each
    /// room: every subscriber of the room expects them too (0 when not sharded).
    others: Box<[u64]>,
    remaining: AtomicU32,
    /// Set to the in-window total when the last publisher reports.
    finals: watch::Sender<Option<u64>>,
    /// Each room's final total (with `others`), for readers on the hot path once set: a `watch`
    /// borrow takes a read lock, an atomic read-modify-write on a line every subscriber shares.
    totals: OnceLock<Box<[u64]>>,
}

impl PublishTally {
    /// A tally waiting for `publishers` reports, of publishers publishing into `rooms` rooms;
    /// subscribers of room `r` also expect `others[r]` messages from other shards' publishers
    /// (missing entries: none).
    pub fn new(publishers: u32, others: Vec<u64>, rooms: u32) -> Self {
        let mut others = others;
        others.resize(rooms.max(1) as usize, 0);
        let others_total = others.iter().sum();
        let tally = PublishTally {
            in_window: AtomicU64::new(0),
            by_room: (0..rooms.max(1)).map(|_| AtomicU64::new(0)).collect(),
            others: others.into_boxed_slice(),
            remaining: AtomicU32::new(publishers),
            finals: watch::Sender::new((publishers == 0).then_some(others_total)),
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

    /// In-window messages the other shards are scheduled to publish into `room` (0 when not
    /// sharded, and for a room nobody publishes into).
    pub fn others_in(&self, room: RoomId) -> u64 {
        self.others.get(room.0 as usize).copied().unwrap_or(0)
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
        let total = self.in_window.fetch_add(in_window, Ordering::SeqCst)
            + in_window
            + self.others.iter().sum::<u64>();
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
            .zip(self.others.iter())
            .map(|(n, others)| n.load(Ordering::SeqCst) + others)
            .collect();
        let _ = self.totals.set(totals);
    }
}

/// One publisher's progress. Reports to the tally exactly once: when its schedule ends, or when
/// it is dropped (connection lost, run cancelled), so the subscribers never wait for it in vain.
///
/// In saturation mode (a [`Window`]) there is no schedule: the next message goes as soon as the
/// window has a place for it, its intended time is when it took the place, and the publisher
/// stops at the end of the measured phase (or at its share of [`MAX_MESSAGES`]).
#[derive(Debug)]
pub struct Publishing {
    /// The run's tag, carried by every message.
    run: crate::codec::envelope::RunTag,
    publisher: u32,
    /// The room it publishes into.
    room: RoomId,
    /// What fills its messages around their envelopes.
    model: PayloadModel,
    cadence: Cadence,
    schedule: Option<Schedule>,
    timeline: Option<Timeline>,
    in_window: u64,
    tally: Option<Arc<super::ctx::Ctx>>,
    window: Option<Arc<Window>>,
    /// Saturation mode: the next message's sequence number, and the time it took its place.
    next_seq: u64,
    placed: Option<Instant>,
    /// Saturation mode: no more messages (the measured phase ended, or the cap was reached).
    closed: bool,
    /// The wait for each slot, made on the first one (inside the runtime that waits on it).
    pacer: Option<super::pacer::Pacer>,
}

impl Publishing {
    /// This process's publisher `index`, reporting to `ctx`'s tally. It sends as the run's
    /// publisher `first + index` of all (see [`LoadPlan::own_publishers`](super::LoadPlan::own_publishers)).
    pub(super) fn new(ctx: Arc<super::ctx::Ctx>, index: u32) -> Self {
        let publisher = ctx.plan.own_publishers().first + index;
        Publishing {
            run: ctx.plan.run,
            publisher,
            room: ctx.plan.publisher_room(publisher),
            model: ctx.plan.payload.clone(),
            cadence: ctx.plan.cadence(),
            schedule: None,
            timeline: None,
            in_window: 0,
            window: ctx.window.clone(),
            tally: Some(ctx),
            next_seq: 0,
            placed: None,
            closed: false,
            pacer: None,
        }
    }

    /// Whether another message is to come (false before the start).
    pub fn has_next(&self) -> bool {
        match &self.window {
            Some(_) => self.timeline.is_some() && !self.closed,
            None => self.next_due().is_some(),
        }
    }

    /// Waits until the next message may go: its slot on the schedule, or (saturation mode) a
    /// place in the window, taken for it. `false`: no more messages (the window closed with the
    /// measured phase); the caller reports with [`Publishing::finish`] once none of its messages
    /// is unanswered. Cancel-safe.
    pub async fn ready(&mut self) -> bool {
        let Some(window) = self.window.clone() else {
            return match self.next_due() {
                Some(at) => {
                    self.pacer
                        .get_or_insert_with(super::pacer::Pacer::new)
                        .until(at)
                        .await;
                    true
                }
                None => false,
            };
        };
        if self.placed.is_some() {
            return true;
        }
        let Some(timeline) = self.timeline.filter(|_| !self.closed) else {
            return false;
        };
        let cap = MAX_MESSAGES as u64 / u64::from(self.cadence.publishers.max(1));
        // Nothing goes before the first slot: the warmup starts there.
        sleep_until(timeline.publish_start).await;
        if self.next_seq < cap {
            tokio::select! {
                () = window.enter(self.publisher, self.next_seq) => {
                    let now = Instant::now();
                    if now < timeline.measure_end {
                        self.placed = Some(now);
                        return true;
                    }
                    window.withdraw(self.publisher, self.next_seq);
                }
                () = sleep_until(timeline.measure_end) => {}
            }
        }
        self.closed = true;
        false
    }

    /// The next message's sequence number and intended time, if it is known now.
    fn peek(&self) -> Option<(u64, Instant)> {
        match &self.window {
            Some(_) => self.placed.map(|at| (self.next_seq, at)),
            None => self.schedule.as_ref()?.peek(),
        }
    }

    /// Moves past the message [`Publishing::peek`] gave.
    fn advance(&mut self) {
        if self.window.is_some() {
            self.next_seq += 1;
            self.placed = None;
        } else if let Some(schedule) = self.schedule.as_mut() {
            schedule.advance();
        }
    }

    /// The room it publishes into.
    pub fn room(&self) -> RoomId {
        self.room
    }

    /// Starts the schedule once the timeline is fixed.
    pub fn start(&mut self, timeline: &Timeline) {
        if self.window.is_some() {
            self.timeline.get_or_insert(*timeline);
        } else if self.schedule.is_none() {
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

    /// The next message, `payload_bytes` long as the payload model fills it; call
    /// [`Publishing::sent`] once it is out.
    pub fn next_message(&self, payload_bytes: usize) -> Option<Vec<u8>> {
        let (seq, at) = self.peek()?;
        let timeline = self.timeline.as_ref()?;
        let slot = Slot {
            envelope: Envelope {
                run: self.run,
                publisher: self.publisher,
                seq,
                intended_ns: timeline.ns(at),
            },
            room: self.room.0,
            seed: self.cadence.seed,
        };
        Some(self.model.message(&slot, payload_bytes))
    }

    /// The message from [`Publishing::next_message`] was handed to the socket.
    pub fn sent(&mut self) {
        if let Some((_, at)) = self.peek() {
            self.lateness(at);
            self.count(at);
            self.advance();
        }
        if !self.has_next() {
            self.finish();
        }
    }

    /// The next message, padded to `payload_bytes`, with its intended send time, and moves the
    /// schedule past it without counting it: for a publisher that keeps several messages in
    /// flight and counts each by [`Publishing::published`] once the server took it.
    pub fn take(&mut self, payload_bytes: usize) -> Option<(Vec<u8>, Instant)> {
        let message = self.next_message(payload_bytes)?;
        let (_, at) = self.peek()?;
        self.lateness(at);
        self.advance();
        Some((message, at))
    }

    /// Records how late the message intended for `at` goes out: now, when it is handed to the
    /// socket (sent, or taken to be sent), if it is in the measured window.
    fn lateness(&self, at: Instant) {
        let (Some(timeline), Some(ctx)) = (self.timeline.as_ref(), &self.tally) else {
            return;
        };
        if at >= timeline.measure_start && at < timeline.measure_end {
            ctx.publish_lag_us
                .record(Instant::now().saturating_duration_since(at));
        }
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
