//! News for every subscriber — the timeline is fixed, the in-window total is known, stop — without
//! a shared lock on every wake-up.
//!
//! A subscriber `select!`s on its socket and on the run's state. Waiting on the state through
//! tokio's `watch` or a `CancellationToken` means a `Notified` future per wait, and polling or
//! dropping one takes its `Notify`'s mutex: one mutex shared by every subscriber, locked several
//! times per delivery. At 10,000 subscribers that was ~12 % of the generator's CPU (`perf`:
//! `drop_notified`, `poll_notified`, `watch::Receiver::changed`), with two worker threads
//! fighting over one cache line. Here each subscriber has its own waker slot, written only when
//! it registers after news, and reads a version number; a change wakes every slot once. A subscriber that hears news reads the state
//! itself (`ctx.stop.is_cancelled()`, the timeline, the tally).
//!
//! The same slots carry churn (`[clients] churn`): [`Signals::kick`] asks one subscriber to close
//! its connection and rejoin, and its listener hears [`News::Churn`]. A kick bumps a second
//! counter, so a listener looks at its own slot only after some subscriber was kicked.

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{Poll, Waker};

/// One waker slot per subscriber and a version number that every change bumps.
#[derive(Debug)]
pub(super) struct Signals {
    version: AtomicU64,
    /// Kicks so far, over every slot.
    kicks: AtomicU64,
    slots: Box<[Slot]>,
}

/// What a listener heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum News {
    /// The run's state changed: read it.
    Changed,
    /// Close the connection and rejoin (churn).
    Churn,
}

/// One subscriber's waker and the version it was left at, alone on its cache line (neighbouring
/// subscribers run on other threads). Locked only to register after news, or by a raise.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot(Mutex<Registered>);

#[derive(Debug, Default)]
struct Registered {
    waker: Option<Waker>,
    /// The version the subscriber had seen when it registered: a raise takes only wakers left
    /// before it, so a subscriber that already heard the news keeps its registration.
    at: u64,
    /// A listener exists: the subscriber is connected (or rejoining) and will hear a kick.
    open: bool,
    /// A kick the subscriber has not heard yet.
    kicked: bool,
}

impl Signals {
    /// Slots for `subscribers` subscribers (0..subscribers).
    pub(super) fn new(subscribers: usize) -> Self {
        Signals {
            version: AtomicU64::new(0),
            kicks: AtomicU64::new(0),
            slots: (0..subscribers).map(|_| Slot::default()).collect(),
        }
    }

    /// Asks subscriber `slot` to close its connection and rejoin. `false` (nothing asked) when it
    /// has no listener (not connected, or finished) or has a kick it has not heard yet.
    pub(super) fn kick(&self, slot: usize) -> bool {
        let Some(slot) = self.slots.get(slot) else {
            return false;
        };
        let waker = {
            let mut registered = slot.0.lock().unwrap_or_else(PoisonError::into_inner);
            if !registered.open || registered.kicked {
                return false;
            }
            registered.kicked = true;
            registered.waker.take()
        };
        // Before the wake: the woken listener must see the count changed.
        self.kicks.fetch_add(1, Ordering::SeqCst);
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    /// Something changed (the caller changed it first): wake every subscriber once.
    pub(super) fn raise(&self) {
        let version = self.version.fetch_add(1, Ordering::SeqCst) + 1;
        for slot in self.slots.iter() {
            let waker = {
                let mut registered = slot.0.lock().unwrap_or_else(PoisonError::into_inner);
                if registered.at < version {
                    registered.waker.take()
                } else {
                    None
                }
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Subscriber `slot`'s view, having seen nothing yet. From now until it is dropped the
    /// subscriber can be kicked.
    pub(super) fn listener(&self, slot: usize) -> Listener<'_> {
        if let Some(s) = self.slots.get(slot) {
            s.0.lock().unwrap_or_else(PoisonError::into_inner).open = true;
        }
        Listener {
            signals: self,
            slot,
            seen: 0,
            kicks_seen: 0,
            registered: None,
        }
    }
}

/// What one subscriber has heard so far.
#[derive(Debug)]
pub(super) struct Listener<'a> {
    signals: &'a Signals,
    slot: usize,
    seen: u64,
    /// The waker left in the slot at version `seen`, if any. A task's waker does not change from
    /// one wake-up to the next, and only a raise (which changes the version) takes it out, so
    /// while both hold the slot — another cache line, cold at 10,000 subscribers — is not touched.
    registered: Option<Waker>,
    /// [`Signals::kicks`] when this listener last looked at its slot for a kick.
    kicks_seen: u64,
}

impl Drop for Listener<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.signals.slots.get(self.slot) {
            let mut registered = slot.0.lock().unwrap_or_else(PoisonError::into_inner);
            registered.open = false;
            registered.kicked = false;
        }
    }
}

impl Listener<'_> {
    /// Whether this subscriber was kicked since it last heard a kick (and hears it now). Cheap
    /// unless some subscriber was kicked since the last look: a loop that finds data ready on
    /// every wake-up calls this first, so that a kick is not starved by its data.
    pub(super) fn take_kick(&mut self) -> bool {
        let kicks = self.signals.kicks.load(Ordering::SeqCst);
        if kicks == self.kicks_seen {
            return false;
        }
        self.kicks_seen = kicks;
        let Some(slot) = self.signals.slots.get(self.slot) else {
            return false;
        };
        let mut registered = slot.0.lock().unwrap_or_else(PoisonError::into_inner);
        let kicked = std::mem::take(&mut registered.kicked);
        if kicked {
            // The kick took the waker: register again next time.
            self.registered = None;
        }
        kicked
    }

    /// The subscriber is done: no kick is accepted from now on. `true` if one came before this
    /// (it must still be served, or a close the run asked for would go unmade); a kick after
    /// this is refused, and the conductor picks another subscriber.
    pub(super) fn close(&mut self) -> bool {
        let Some(slot) = self.signals.slots.get(self.slot) else {
            return false;
        };
        let mut registered = slot.0.lock().unwrap_or_else(PoisonError::into_inner);
        registered.open = false;
        std::mem::take(&mut registered.kicked)
    }

    /// Waits until something changed since the last time this returned, or this subscriber was
    /// kicked. Cancel-safe, and cheap to create and drop: nothing is registered anywhere but the
    /// subscriber's own slot.
    pub(super) async fn news(&mut self) -> News {
        let Some(slot) = self.signals.slots.get(self.slot) else {
            return std::future::pending().await;
        };
        poll_fn(|cx| {
            if self.take_kick() {
                return Poll::Ready(News::Churn);
            }
            let now = self.signals.version.load(Ordering::SeqCst);
            if now != self.seen {
                self.seen = now;
                self.registered = None;
                return Poll::Ready(News::Changed);
            }
            if self
                .registered
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                return Poll::Pending;
            }
            {
                let mut registered = slot.0.lock().unwrap_or_else(PoisonError::into_inner);
                if std::mem::take(&mut registered.kicked) {
                    // Kicked after the count was read above (the kick took any waker).
                    self.registered = None;
                    return Poll::Ready(News::Churn);
                }
                registered.waker = Some(cx.waker().clone());
                registered.at = now;
            }
            self.registered = Some(cx.waker().clone());
            // A raise that bumped the version before the registration may have passed the slot.
            let now = self.signals.version.load(Ordering::SeqCst);
            if now != self.seen {
                self.seen = now;
                self.registered = None;
                Poll::Ready(News::Changed)
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn every_listener_hears_each_change_once() {
        let signals = Arc::new(Signals::new(3));
        let waiting: Vec<_> = (0..3)
            .map(|i| {
                let signals = signals.clone();
                tokio::spawn(async move {
                    let mut listener = signals.listener(i);
                    listener.news().await;
                    listener.seen
                })
            })
            .collect();
        tokio::task::yield_now().await;
        signals.raise();
        for task in waiting {
            assert_eq!(task.await.unwrap(), 1);
        }
        // A change made before the wait is heard at once; nothing is heard twice.
        let mut listener = signals.listener(0);
        signals.raise();
        listener.news().await;
        assert_eq!(listener.seen, 2);
        let again = tokio::time::timeout(std::time::Duration::from_millis(20), listener.news());
        assert!(again.await.is_err());
    }

    /// A kick reaches only its subscriber, once, and only while it listens.
    #[tokio::test]
    async fn a_kick_is_heard_by_its_subscriber_alone() {
        let signals = Signals::new(2);
        assert!(!signals.kick(0), "nobody listens yet");
        let mut zero = signals.listener(0);
        let mut one = signals.listener(1);
        assert!(signals.kick(1));
        assert!(!signals.kick(1), "the first kick is not heard yet");
        assert_eq!(one.news().await, News::Churn);
        async fn quiet(l: &mut Listener<'_>) -> bool {
            let wait = tokio::time::timeout(std::time::Duration::from_millis(20), l.news());
            wait.await.is_err()
        }
        assert!(quiet(&mut zero).await);
        assert!(quiet(&mut one).await);
        assert!(signals.kick(1));
        signals.raise();
        // Both are heard, the kick first.
        assert_eq!(one.news().await, News::Churn);
        assert_eq!(one.news().await, News::Changed);
        // A kick that comes just as the subscriber finishes is handed to it; none after.
        assert!(signals.kick(1));
        assert!(one.close());
        assert!(!signals.kick(1), "a subscriber that finished is not kicked");
        assert!(!one.close());
        drop(one);
        assert!(!signals.kick(1));
    }

    /// One task hears raise after raise: after each piece of news it registers again, and a
    /// registration made after a raise's version is not taken by that raise.
    #[tokio::test]
    async fn a_listener_hears_every_later_raise() {
        let signals = Arc::new(Signals::new(1));
        let (heard_tx, mut heard) = tokio::sync::mpsc::unbounded_channel();
        let task = {
            let signals = signals.clone();
            tokio::spawn(async move {
                let mut listener = signals.listener(0);
                for _ in 0..5 {
                    listener.news().await;
                    heard_tx.send(listener.seen).unwrap();
                }
            })
        };
        for round in 1..=5 {
            tokio::task::yield_now().await;
            signals.raise();
            assert_eq!(heard.recv().await, Some(round));
        }
        task.await.unwrap();
    }
}
