//! Saturation mode (`[publish] window = N`): at most N messages published and not yet delivered
//! to every subscriber, so the publishers send as fast as the transport carries them away.
//!
//! The generator sees both ends, so it counts exactly: a message's recipients are the
//! subscribers connected when publishing began (fixed by then: every client's first connection
//! has ended, and a subscriber whose first connection failed never receives), and each of them
//! reports its first arrival of the message once (a duplicate is not an arrival). A message is
//! *done* when all of them have it, and leaves the window.
//!
//! A message may never reach everyone: a subscriber lost its connection (a rejoin is a fresh join
//! and does not get what it missed), a slow consumer skipped what the server's ring overwrote, or
//! the server dropped it. So the window never waits forever, a message still short of its
//! recipients after [`Window::give_up`] is given up on: it leaves the window and is counted as
//! expired ([`WindowFigures::expired`]); its missing deliveries count as lost in the run's delivery
//! figures as always. The bound is the scenario's drain (at least [`MIN_GIVE_UP`]): the longest a
//! message may take to arrive anywhere in a run.
//!
//! One lock over a map of at most N entries: one short critical section per delivery and per
//! publish, cheap next to the socket reads each delivery costs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

/// The shortest time a message may take before it is given up on, whatever the drain.
pub const MIN_GIVE_UP: Duration = Duration::from_secs(1);

/// The window of one transport run, shared by its publishers and subscribers.
#[derive(Debug)]
pub struct Window {
    size: usize,
    give_up: Duration,
    /// Recipients of each message: the subscribers connected when publishing began.
    recipients: AtomicU32,
    state: Mutex<State>,
    /// Raised when a message leaves the window.
    freed: Notify,
}

/// What the window saw over a run: the generator's own count of messages in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowFigures {
    /// The window's size, N.
    pub size: u32,
    /// The most messages in flight at once (never above `size`).
    pub max_in_flight: u32,
    /// Messages that entered the window.
    pub entered: u64,
    /// Messages that reached every recipient.
    pub done: u64,
    /// Messages given up on after [`Window::give_up`] (some recipient never got them).
    pub expired: u64,
    /// Messages still in flight when the figures were read.
    pub in_flight: u32,
}

impl std::fmt::Display for WindowFigures {
    /// `window 8: at most 8 in flight; 10412 messages reached every subscriber, 0 given up on`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "window {}: at most {} in flight; {} messages reached every subscriber, {} given up on",
            self.size, self.max_in_flight, self.done, self.expired
        )?;
        if self.in_flight > 0 {
            write!(f, ", {} still in flight at the end", self.in_flight)?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct State {
    /// `(publisher, seq)` → recipients still to report, and when the message is given up on.
    in_flight: HashMap<(u32, u64), (u32, Instant)>,
    max_in_flight: usize,
    entered: u64,
    done: u64,
    expired: u64,
}

impl State {
    /// Gives up on every message past its deadline; the earliest deadline left, if any.
    fn expire(&mut self, now: Instant) -> Option<Instant> {
        let before = self.in_flight.len();
        self.in_flight.retain(|_, (_, deadline)| *deadline > now);
        self.expired += (before - self.in_flight.len()) as u64;
        self.in_flight.values().map(|(_, deadline)| *deadline).min()
    }
}

impl Window {
    /// A window of `size` messages that gives up on a message after `give_up` (at least
    /// [`MIN_GIVE_UP`]).
    pub fn new(size: u32, give_up: Duration) -> Self {
        Window {
            size: size.max(1) as usize,
            give_up: give_up.max(MIN_GIVE_UP),
            recipients: AtomicU32::new(0),
            state: Mutex::default(),
            freed: Notify::new(),
        }
    }

    /// How long a message may take to reach every recipient before it is given up on.
    pub fn give_up(&self) -> Duration {
        self.give_up
    }

    /// Sets each message's recipients: the subscribers connected when publishing begins.
    pub fn set_recipients(&self, subscribers: u32) {
        self.recipients.store(subscribers, Ordering::Release);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere under the lock leaves counts that are still counts.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for a place in the window and takes it for `publisher`'s message `seq`, before the
    /// message is sent (an arrival can come before the send returns). Cancel-safe: the place is
    /// taken only in the poll that returns.
    pub async fn enter(&self, publisher: u32, seq: u64) {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let next_deadline = {
                let mut state = self.lock();
                let now = Instant::now();
                let next_deadline = state.expire(now);
                if state.in_flight.len() < self.size {
                    let recipients = self.recipients.load(Ordering::Acquire);
                    state.entered += 1;
                    if recipients == 0 {
                        state.done += 1;
                    } else {
                        state
                            .in_flight
                            .insert((publisher, seq), (recipients, now + self.give_up));
                        state.max_in_flight = state.max_in_flight.max(state.in_flight.len());
                    }
                    return;
                }
                next_deadline
            };
            match next_deadline {
                Some(at) => tokio::select! {
                    _ = &mut freed => {}
                    _ = sleep_until(at) => {}
                },
                None => freed.await,
            }
        }
    }

    /// A recipient's first arrival of `publisher`'s message `seq`. A message no longer in the
    /// window (done, given up on, or sent before it) is ignored.
    pub fn arrived(&self, publisher: u32, seq: u64) {
        let mut state = self.lock();
        let Some((left, _)) = state.in_flight.get_mut(&(publisher, seq)) else {
            return;
        };
        *left -= 1;
        if *left == 0 {
            state.in_flight.remove(&(publisher, seq));
            state.done += 1;
            drop(state);
            self.freed.notify_waiters();
        }
    }

    /// Gives back the place taken for a message that will not be sent after all (the measured
    /// phase ended while it waited).
    pub fn withdraw(&self, publisher: u32, seq: u64) {
        let mut state = self.lock();
        if state.in_flight.remove(&(publisher, seq)).is_some() {
            state.entered -= 1;
            drop(state);
            self.freed.notify_waiters();
        }
    }

    /// The figures so far.
    pub fn figures(&self) -> WindowFigures {
        let state = self.lock();
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        WindowFigures {
            size: count(self.size),
            max_in_flight: count(state.max_in_flight),
            entered: state.entered,
            done: state.done,
            expired: state.expired,
            in_flight: count(state.in_flight.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_message_leaves_when_every_recipient_has_it() {
        let window = Window::new(2, Duration::from_secs(5));
        window.set_recipients(3);
        window.enter(0, 0).await;
        window.enter(1, 0).await;
        // Full: a third waits.
        let third = tokio::time::timeout(Duration::from_millis(100), window.enter(0, 1));
        assert!(third.await.is_err());
        window.arrived(0, 0);
        window.arrived(0, 0);
        assert_eq!(window.figures().in_flight, 2);
        window.arrived(0, 0);
        // Unknown messages are ignored.
        window.arrived(7, 7);
        window.enter(0, 1).await;
        let f = window.figures();
        assert_eq!(
            f,
            WindowFigures {
                size: 2,
                max_in_flight: 2,
                entered: 3,
                done: 1,
                expired: 0,
                in_flight: 2,
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_short_of_a_recipient_is_given_up_on_after_the_bound() {
        let window = Window::new(1, Duration::from_secs(2));
        window.set_recipients(2);
        window.enter(0, 0).await;
        window.arrived(0, 0);
        let started = Instant::now();
        // The second recipient never reports: the next message waits for the bound, no longer.
        window.enter(0, 1).await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        // A late arrival of the expired message changes nothing.
        window.arrived(0, 0);
        let f = window.figures();
        assert_eq!((f.entered, f.done, f.expired, f.in_flight), (2, 0, 1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn the_bound_is_at_least_a_second() {
        assert_eq!(Window::new(1, Duration::ZERO).give_up(), MIN_GIVE_UP);
    }
}
