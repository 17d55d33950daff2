//! Publisher bookkeeping: each publisher's schedule and counts, and the tally that tells every
//! subscriber how many in-window messages to expect once all publishers are done.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use tokio::sync::watch;
use tokio::time::Instant;

use super::schedule::{Cadence, Schedule, Timeline};
use crate::codec::envelope::Envelope;

/// Totals over all publishers of one transport run.
#[derive(Debug)]
pub struct PublishTally {
    in_window: AtomicU64,
    /// In-window messages the other shards of a sharded run are scheduled to publish: every
    /// subscriber expects them too (0 when not sharded).
    others: u64,
    remaining: AtomicU32,
    /// Set to the in-window total when the last publisher reports.
    finals: watch::Sender<Option<u64>>,
    /// The same total for readers on the hot path ([`UNKNOWN`] until then): a `watch` borrow
    /// takes a read lock, an atomic read-modify-write on a line every subscriber shares.
    total: AtomicU64,
}

/// [`PublishTally::total`] before every publisher has reported.
const UNKNOWN: u64 = u64::MAX;

impl PublishTally {
    /// A tally waiting for `publishers` reports; subscribers also expect `others` messages
    /// from other shards' publishers.
    pub fn new(publishers: u32, others: u64) -> Self {
        PublishTally {
            in_window: AtomicU64::new(0),
            others,
            remaining: AtomicU32::new(publishers),
            finals: watch::Sender::new((publishers == 0).then_some(others)),
            total: AtomicU64::new(if publishers == 0 { others } else { UNKNOWN }),
        }
    }

    /// In-window messages this process published so far (final once every publisher reported).
    pub fn in_window(&self) -> u64 {
        self.in_window.load(Ordering::SeqCst)
    }

    /// The in-window total each subscriber expects, once every publisher is done: this
    /// process's and the other shards' scheduled ones.
    pub fn total(&self) -> Option<u64> {
        Some(self.total.load(Ordering::Acquire)).filter(|&t| t != UNKNOWN)
    }

    /// A receiver that holds the in-window total once every publisher is done.
    pub fn finals(&self) -> watch::Receiver<Option<u64>> {
        self.finals.subscribe()
    }

    fn report(&self, in_window: u64) {
        let total = self.in_window.fetch_add(in_window, Ordering::SeqCst) + in_window + self.others;
        if self.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.total.store(total, Ordering::Release);
            self.finals.send_replace(Some(total));
        }
    }
}

/// One publisher's progress. Reports to the tally exactly once: when its schedule ends, or when
/// it is dropped (connection lost, run cancelled), so the subscribers never wait for it in vain.
#[derive(Debug)]
pub struct Publishing {
    publisher: u32,
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
        Publishing {
            publisher: ctx.plan.own_publishers().first + index,
            cadence: ctx.plan.cadence(),
            schedule: None,
            timeline: None,
            in_window: 0,
            tally: Some(ctx),
        }
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
                ctx.intervals
                    .record_published(usize::try_from(second).unwrap_or(usize::MAX));
            }
        }
    }

    /// Reports to the tally now (idempotent).
    pub fn finish(&mut self) {
        if let Some(ctx) = self.tally.take() {
            ctx.tally.report(self.in_window);
        }
    }
}

impl Drop for Publishing {
    fn drop(&mut self) {
        self.finish();
    }
}
