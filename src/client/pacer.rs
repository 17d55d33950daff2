//! A publisher's wait for its next slot, on a timer as precise as the kernel's.
//!
//! tokio's timer wheel ticks in whole milliseconds and rounds a deadline up to the next tick, so
//! a publisher woken by `sleep_until` sends up to a millisecond after its slot even on an idle
//! machine, and that lateness is part of every latency it causes (a message's latency counts
//! from its slot). A timerfd armed for the slot wakes the runtime's reactor at the deadline
//! itself. The reactor is polled whenever a worker has nothing to run, and between runs of tasks
//! otherwise, so what is left is the wait for a worker, not the wheel's rounding.
//!
//! Where a timerfd cannot be had (out of descriptors) the wait falls back to `sleep_until`.

use tokio::io::unix::AsyncFd;
use tokio::time::{Instant, sleep_until};

use super::timerfd::{Timer, monotonic};

/// One publisher's timer: a timerfd in the runtime's reactor, and the deadline it is armed for.
pub(super) struct Pacer {
    timer: Option<AsyncFd<Timer>>,
    armed: Option<Instant>,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("timerfd", &self.timer.is_some())
            .field("armed", &self.armed)
            .finish()
    }
}

impl Pacer {
    /// A timer for a publisher; must be made inside the runtime that will wait on it.
    pub(super) fn new() -> Self {
        let timer = Timer::new().and_then(Timer::register).ok();
        Pacer { timer, armed: None }
    }

    /// Completes at `at` (at once if it has passed). Cancel-safe: a wait dropped and begun again
    /// for the same deadline keeps the timer armed as it was.
    pub(super) async fn until(&mut self, at: Instant) {
        let Some(timer) = &self.timer else {
            return sleep_until(at).await;
        };
        let left = at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        if self.armed != Some(at) {
            let armed = monotonic().and_then(|now| timer.get_ref().set_at(now + left));
            if armed.is_err() {
                return sleep_until(at).await;
            }
            self.armed = Some(at);
        }
        loop {
            let Ok(mut ready) = timer.readable().await else {
                return sleep_until(at).await;
            };
            // The expiry count: 8 bytes once the timer fired, EAGAIN before (a spurious wake).
            let read = ready.try_io(|timer| timer.get_ref().expired());
            match read {
                Ok(Ok(_)) => break,
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Ok(Err(_)) => return sleep_until(at).await,
                Err(_would_block) => {}
            }
        }
        self.armed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_wait_never_ends_before_its_deadline_and_survives_being_dropped() {
        let mut pacer = Pacer::new();
        assert!(pacer.timer.is_some());
        let at = Instant::now() + Duration::from_millis(30);
        // Dropped halfway, as a publisher's `select!` drops it when a message arrives first.
        let early = tokio::time::timeout(Duration::from_millis(10), pacer.until(at)).await;
        assert!(early.is_err());
        assert_eq!(pacer.armed, Some(at));
        pacer.until(at).await;
        assert!(Instant::now() >= at);
        assert_eq!(pacer.armed, None);
        // A deadline already past returns at once, and the next one is armed anew.
        pacer.until(at).await;
        let next = Instant::now() + Duration::from_millis(5);
        pacer.until(next).await;
        assert!(Instant::now() >= next);
    }
}
