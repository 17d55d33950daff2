//! What one subscriber does with each message it receives: identify it, place it in or out of the
//! measured window, record its latency and its delivery. Shared by every transport's client.
//!
//! A subscriber keeps only counters and its [`DeliveryTracker`] (a few words per publisher): each
//! in-window delivery's latency goes to the run's shared [`IntervalRecorder`] (the current second,
//! swapped out by the sampler; the whole run's histogram is the sum of the seconds), so memory per
//! subscriber does not grow with the latencies it sees, and the receive loops of the transports
//! need no hook of their own.
//!
//! In a sharded run a message from another shard's publisher carries a send time on that
//! shard's clock: it counts for delivery, loss, duplicates and order like any other, but gives
//! no latency ([`Timeline::own`]).

use std::sync::Arc;

use tokio::time::Instant;

use super::schedule::Timeline;
use super::window::Window;
use crate::codec::envelope::Envelope;
use crate::metrics::delivery::{Arrival, DeliveryTracker};
use crate::metrics::{Counts, IntervalRecorder, thread_lane};

/// One subscriber's receive-side state; owned by its task, merged at the end.
#[derive(Debug, Default)]
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
}

impl Inbox {
    /// Handles one received message at `now`. Before the timeline is fixed nothing is in the window.
    pub fn receive(&mut self, message: &[u8], now: Instant, timeline: Option<&Timeline>) {
        let Some(envelope) = Envelope::find(message) else {
            self.counts.foreign += 1;
            return;
        };
        let in_window = timeline.is_some_and(|t| t.in_window(envelope.intended_ns));
        let arrival = self
            .tracker
            .observe(envelope.publisher, envelope.seq, in_window);
        if arrival == Arrival::Foreign {
            self.counts.foreign += 1;
            return;
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
                    let latency = now.saturating_duration_since(intended);
                    intervals.record_delivery(thread_lane(), latency, second);
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

    /// The connection closed and the next one (if any) is a fresh join: the window stops waiting
    /// for this subscriber until [`Inbox::rejoined`].
    pub(super) fn left(&self) {
        if let Some((window, seat)) = &self.window {
            window.leave(*seat, |p, s| self.tracker.seen(p, s));
        }
    }

    /// Connected again after [`Inbox::left`].
    pub(super) fn rejoined(&self) {
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
