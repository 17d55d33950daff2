//! Saturation mode (`[publish] window = N`): at most N messages published and not yet delivered
//! to every subscriber, so the publishers send as fast as the transport carries them away.
//!
//! The generator sees both ends, so it counts exactly: a message's recipients are the
//! subscribers connected when publishing began (fixed by then: every client's first connection
//! has ended, and a subscriber whose first connection failed never receives), and each of them
//! reports its first arrival of the message once (a duplicate is not an arrival). A message is
//! *done* when all of them have it, and leaves the window.
//!
//! A WebSocket or raw connection that closes rejoins fresh: it never gets what was in flight when
//! it left, nor what was published while it was away. So a subscriber that leaves tells the window
//! ([`Window::leave`]): every message in flight that it has not received stops waiting for it, and
//! so does every message that enters while it is away, until it is back ([`Window::rejoin`]). Its
//! arrivals of those messages (one published before it left can still reach its new connection)
//! are not counted again.
//!
//! A message may still never reach everyone: a slow consumer skipped what the server's ring
//! overwrote, the server dropped it, or it was broadcast in the moment between a raw client's
//! connect and the server's taking it in. So the window never waits forever, a message still short
//! of its recipients after [`Window::give_up`] is given up on: it leaves the window and is counted
//! as expired ([`WindowFigures::expired`]); its missing deliveries count as lost in the run's
//! delivery figures as always. The bound is the scenario's drain (at least [`MIN_GIVE_UP`]): the
//! longest a message may take to arrive anywhere in a run.
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
    /// Seats handed out so far: each subscriber's number in the window.
    seats: AtomicU32,
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
    /// Seats of subscribers away (left, not yet back): messages entering do not wait for them.
    away: Vec<u32>,
    /// `(seat, publisher, seq)`: a message in flight that stopped waiting for a seat; that
    /// seat's arrival of it is not counted. Emptied as the messages leave.
    excused: Vec<(u32, u32, u64)>,
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
        if self.in_flight.len() < before {
            self.expired += (before - self.in_flight.len()) as u64;
            self.forget_excuses();
        }
        self.in_flight.values().map(|(_, deadline)| *deadline).min()
    }

    /// Drops the excuses of messages no longer in flight.
    fn forget_excuses(&mut self) {
        let in_flight = &self.in_flight;
        self.excused
            .retain(|(_, p, s)| in_flight.contains_key(&(*p, *s)));
    }

    /// `key` reached one more of its recipients (or stopped waiting for one); `true` if it is
    /// done now and left the window.
    fn one_less(&mut self, key: (u32, u64)) -> bool {
        let Some((left, _)) = self.in_flight.get_mut(&key) else {
            return false;
        };
        *left = left.saturating_sub(1);
        if *left > 0 {
            return false;
        }
        self.in_flight.remove(&key);
        self.done += 1;
        true
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
            seats: AtomicU32::new(0),
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

    /// A subscriber's seat: its number in the window, for [`Window::arrived`], [`Window::leave`]
    /// and [`Window::rejoin`].
    pub fn seat(&self) -> u32 {
        self.seats.fetch_add(1, Ordering::Relaxed)
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
                    let away = u32::try_from(state.away.len()).unwrap_or(u32::MAX);
                    let recipients = self.recipients.load(Ordering::Acquire).saturating_sub(away);
                    let excuses: Vec<_> = state.away.iter().map(|&s| (s, publisher, seq)).collect();
                    state.excused.extend(excuses);
                    state.entered += 1;
                    if recipients == 0 {
                        state.done += 1;
                        state.forget_excuses();
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

    /// Seat `seat`'s first arrival of `publisher`'s message `seq`. A message no longer in the
    /// window (done, given up on, or sent before it), or one that stopped waiting for this seat,
    /// is ignored.
    pub fn arrived(&self, seat: u32, publisher: u32, seq: u64) {
        let mut state = self.lock();
        if !state.in_flight.contains_key(&(publisher, seq))
            || state.excused.contains(&(seat, publisher, seq))
        {
            return;
        }
        if state.one_less((publisher, seq)) {
            state.forget_excuses();
            drop(state);
            self.freed.notify_waiters();
        }
    }

    /// Seat `seat` lost its connection and will rejoin fresh (or not at all): the messages in
    /// flight it has not received (`seen` says which it has) stop waiting for it, and so do the
    /// ones that enter until it is back.
    pub fn leave(&self, seat: u32, seen: impl Fn(u32, u64) -> bool) {
        let mut state = self.lock();
        if state.away.contains(&seat) {
            return;
        }
        state.away.push(seat);
        let missing: Vec<(u32, u64)> = state
            .in_flight
            .keys()
            .copied()
            .filter(|&(p, s)| !seen(p, s))
            .collect();
        let mut freed = false;
        for (p, s) in missing {
            state.excused.push((seat, p, s));
            freed |= state.one_less((p, s));
        }
        if freed {
            state.forget_excuses();
            drop(state);
            self.freed.notify_waiters();
        }
    }

    /// Seat `seat` is connected again: messages entering from now on wait for it.
    pub fn rejoin(&self, seat: u32) {
        self.lock().away.retain(|&s| s != seat);
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
        window.arrived(0, 0, 0);
        window.arrived(1, 0, 0);
        assert_eq!(window.figures().in_flight, 2);
        window.arrived(2, 0, 0);
        // Unknown messages are ignored.
        window.arrived(0, 7, 7);
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
        window.arrived(0, 0, 0);
        let started = Instant::now();
        // The second recipient never reports: the next message waits for the bound, no longer.
        window.enter(0, 1).await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        // A late arrival of the expired message changes nothing.
        window.arrived(1, 0, 0);
        let f = window.figures();
        assert_eq!((f.entered, f.done, f.expired, f.in_flight), (2, 0, 1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_subscriber_away_is_not_waited_for_nor_counted_twice() {
        let window = Window::new(4, Duration::from_secs(5));
        window.set_recipients(3);
        let (a, b, c) = (window.seat(), window.seat(), window.seat());
        window.enter(0, 0).await;
        window.enter(0, 1).await;
        window.arrived(a, 0, 0);
        window.arrived(b, 0, 1);
        // b leaves having had (0, 1) but not (0, 0): (0, 0) stops waiting for it.
        window.leave(b, |p, s| (p, s) == (0, 1));
        window.enter(0, 2).await;
        window.rejoin(b);
        window.enter(0, 3).await;
        // (0, 0) and (0, 2) reaching b's new connection do not count; (0, 3) does.
        for seq in [0, 2, 3] {
            window.arrived(b, 0, seq);
        }
        window.arrived(c, 0, 0);
        assert_eq!(window.figures().done, 1, "(0, 0): a, c, and b excused");
        for seq in [1, 2, 3] {
            window.arrived(a, 0, seq);
            window.arrived(c, 0, seq);
        }
        let f = window.figures();
        assert_eq!((f.entered, f.done, f.expired, f.in_flight), (4, 4, 0, 0));
        assert!(window.lock().excused.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn leaving_can_complete_a_message() {
        let window = Window::new(1, Duration::from_secs(5));
        window.set_recipients(2);
        let (a, b) = (window.seat(), window.seat());
        window.enter(0, 0).await;
        window.arrived(a, 0, 0);
        window.leave(b, |_, _| false);
        // The place is free at once, without waiting for the bound.
        let started = Instant::now();
        window.enter(0, 1).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert_eq!(window.figures().done, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_bound_is_at_least_a_second() {
        assert_eq!(Window::new(1, Duration::ZERO).give_up(), MIN_GIVE_UP);
    }
}
