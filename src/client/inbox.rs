//! What one subscriber does with each message it receives: identify it, place it in or out of the
//! measured window, record its latency and its delivery. Shared by every transport's client.

use tokio::time::Instant;

use super::schedule::Timeline;
use crate::codec::envelope::Envelope;
use crate::metrics::Recorder;
use crate::metrics::delivery::{Arrival, DeliveryTracker};

/// One subscriber's receive-side state; owned by its task, merged at the end.
#[derive(Debug, Default)]
pub struct Inbox {
    /// Latency, connect time and counters.
    pub recorder: Recorder,
    /// Whether the subscriber connected (only then is it expected to receive).
    pub connected: bool,
    tracker: DeliveryTracker,
    /// How many in-window messages were published in all, once the publishers are done.
    expected: Option<u64>,
}

impl Inbox {
    /// Handles one received message at `now`. Before the timeline is fixed nothing is in the window.
    pub fn receive(&mut self, message: &[u8], now: Instant, timeline: Option<&Timeline>) {
        let Some(envelope) = Envelope::find(message) else {
            self.recorder.foreign += 1;
            return;
        };
        let in_window = timeline.is_some_and(|t| t.in_window(envelope.intended_ns));
        let arrival = self
            .tracker
            .observe(envelope.publisher, envelope.seq, in_window);
        if let (true, Some(t)) = (in_window && arrival != Arrival::Duplicate, timeline) {
            self.recorder
                .record_latency(now.saturating_duration_since(t.at(envelope.intended_ns)));
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

    /// The final recorder, with losses counted against `expected`: the in-window messages the
    /// publishers sent in all (known to the caller even when the run was cut short).
    pub fn finish(mut self, expected: u64) -> Recorder {
        self.recorder.delivery = self.tracker.finish(expected);
        self.recorder
    }
}
