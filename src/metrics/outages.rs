//! What broken connections cost, shared by every subscriber of a transport run: the latency of
//! the deliveries a subscriber was away for (replays), and each break's recovery. Rare next to
//! live deliveries (only after a break), so one lock each serves. No clock reading: the inbox
//! says what it measured.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::{new_histogram, record};

/// Replays and recoveries so far.
#[derive(Debug)]
pub struct Outages {
    replay_us: Mutex<Histogram<u64>>,
    recovery_us: Mutex<Histogram<u64>>,
}

impl Default for Outages {
    fn default() -> Self {
        Outages {
            replay_us: Mutex::new(new_histogram()),
            recovery_us: Mutex::new(new_histogram()),
        }
    }
}

impl Outages {
    /// A delivery (recorded as any other, too) of a message published while its subscriber was
    /// disconnected: its latency, the outage included.
    pub fn record_replay(&self, latency: Duration) {
        record(&mut lock(&self.replay_us), latency);
    }

    /// A broken connection's recovery: from the break to its first live delivery.
    pub fn record_recovery(&self, took: Duration) {
        record(&mut lock(&self.recovery_us), took);
    }

    /// Every replayed delivery's latency so far.
    pub fn replay(&self) -> Histogram<u64> {
        lock(&self.replay_us).clone()
    }

    /// Every recovery so far.
    pub fn recovery(&self) -> Histogram<u64> {
        lock(&self.recovery_us).clone()
    }
}

fn lock(h: &Mutex<Histogram<u64>>) -> std::sync::MutexGuard<'_, Histogram<u64>> {
    h.lock().unwrap_or_else(PoisonError::into_inner)
}
