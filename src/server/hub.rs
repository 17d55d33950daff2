//! The hub: the one delivery semantics every built-in transport shares.
//!
//! # Semantics
//! - Every published message gets the next global sequence number, starting at 1. Sequence 0
//!   means "before everything", so a cursor of 0 asks for every message still kept.
//! - The hub keeps the most recent `capacity` messages in a ring. A reader asks for everything
//!   after its cursor ([`Hub::read_after`]); a transport only adapts that to its wire.
//! - A reader that falls more than `capacity` messages behind loses the oldest ones: the batch it
//!   gets reports how many were overwritten (`missed`), and the transport passes that on where
//!   its wire can (long-poll `x-missed`); a WebSocket client sees the gap in its own sequence
//!   numbers. Memory is bounded by the ring, never by a slow reader.
//! - A cursor from the future (a client that outlived a server restart) is answered with
//!   `reset = true` and read as if it were 0: everything the restarted hub holds is new to that
//!   client, so it rejoins without waiting forever and without missing what came since. On a
//!   shared log (below) it is instead a cursor from an instance that has read further: the batch
//!   is empty until this hub catches up.
//! - New readers join at the current end (WebSocket) or say where they are (long-poll cursor).
//!
//! - With a backplane (several instances, one shared log: [`crate::backplane`]), a publish is
//!   handed to the hub's outlet ([`Hub::forward_to`]) instead of the ring, and the message comes
//!   back through [`Hub::publish_at`] with the number the shared log gave it, so every instance
//!   numbers every message alike and a cursor from one instance is valid on another.
//!
//! The hub is generic over how a message is stored (`M`), so each transport keeps messages in
//! the form its wire needs and encodes them once, whatever the number of readers. It knows no
//! hyper or tungstenite types and does no I/O.

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use tokio::sync::watch;

/// A stored message that the HTTP transports can read as bytes and publish from a request body,
/// so one hub can serve HTTP readers next to WebSocket ones (`wsbench serve --transport all`).
///
/// `from_body` runs once per publish and copies the body (see the `Bytes` impl); `payload` runs
/// once per delivery and must not copy.
pub trait Payload: Clone + Send + Sync + 'static {
    /// The message a `POST /publish` body becomes.
    fn from_body(body: Bytes) -> Self;
    /// The message's bytes, as a poll batch or an SSE event carries them.
    fn payload(&self) -> &[u8];
}

/// Copied out of the request body: a slice of it would keep hyper's whole read buffer alive (a
/// few KiB per 64-byte message) for as long as the ring keeps the message.
impl Payload for Bytes {
    fn from_body(body: Bytes) -> Self {
        Bytes::copy_from_slice(&body)
    }

    fn payload(&self) -> &[u8] {
        self
    }
}

/// Shared state: the ring of recent messages and a signal that news arrived.
#[derive(Debug)]
pub struct Hub<M> {
    ring: Mutex<Ring<M>>,
    /// Carries the latest sequence number; readers wait on it instead of polling.
    latest: watch::Sender<u64>,
    /// A message's size, for the ring's bound in bytes.
    weigh: fn(&M) -> usize,
    /// Where [`Hub::publish`] sends messages when a shared log orders them; unset: the ring.
    outlet: OnceLock<Outlet<M>>,
}

/// The hand-off of [`Hub::forward_to`]: the message, and where to say that the log has it (if
/// the publisher waits for that). Its own type only so the hub can still derive `Debug`.
struct Outlet<M>(Box<dyn Fn(M, Option<Stored>) + Send + Sync>);

/// Completed by a shared log once it holds a forwarded message ([`Hub::publish_stored`]).
pub type Stored = tokio::sync::oneshot::Sender<()>;

impl<M> std::fmt::Debug for Outlet<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outlet")
    }
}

#[derive(Debug)]
struct Ring<M> {
    messages: VecDeque<M>,
    /// Sequence number of `messages[0]` (or of the next message when empty).
    first_seq: u64,
    capacity: usize,
    /// Bytes the kept messages hold, and the most they may: the oldest go first past either bound.
    bytes: usize,
    max_bytes: usize,
}

impl<M> Ring<M> {
    /// Drops the oldest messages until both bounds hold; the newest message always stays.
    fn trim(&mut self, weigh: fn(&M) -> usize) {
        while self.messages.len() > 1
            && (self.messages.len() > self.capacity || self.bytes > self.max_bytes)
        {
            if let Some(old) = self.messages.pop_front() {
                self.bytes -= weigh(&old);
                self.first_seq += 1;
            }
        }
    }
}

/// What a reader gets from [`Hub::read_after`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<M> {
    /// Messages after the cursor, oldest first.
    pub messages: Vec<M>,
    /// Sequence number of `messages[0]` (meaningful when non-empty).
    pub first_seq: u64,
    /// Messages after the cursor that the ring had already overwritten.
    pub missed: u64,
    /// The cursor to ask with next time: the last sequence number covered by this batch.
    pub next_cursor: u64,
    /// The cursor was ahead of the hub (e.g. the server restarted); the batch reads from the start.
    pub reset: bool,
}

impl<M: Clone> Hub<M> {
    /// A hub keeping at most `capacity` (≥ 1) recent messages, however large.
    pub fn new(capacity: usize) -> Self {
        Hub::bounded(capacity, usize::MAX, |_| 0)
    }

    /// A hub keeping at most `capacity` (≥ 1) recent messages and at most `max_bytes` of them as
    /// `weigh` counts (the newest message is kept whatever its size): the memory bound holds for
    /// large messages too, not only for many.
    pub fn bounded(capacity: usize, max_bytes: usize, weigh: fn(&M) -> usize) -> Self {
        Hub {
            ring: Mutex::new(Ring {
                messages: VecDeque::with_capacity(capacity.clamp(1, 1 << 16)),
                first_seq: 1,
                capacity: capacity.max(1),
                bytes: 0,
                max_bytes,
            }),
            latest: watch::Sender::new(0),
            weigh,
            outlet: OnceLock::new(),
        }
    }

    /// From now on [`Hub::publish`] hands every message to `outlet` (a shared log) instead of
    /// the ring; the log delivers it back through [`Hub::publish_at`]. Set once; later calls
    /// are ignored.
    pub fn forward_to(&self, outlet: impl Fn(M, Option<Stored>) + Send + Sync + 'static) {
        let _ = self.outlet.set(Outlet(Box::new(outlet)));
    }

    /// Appends a message and wakes every waiting reader. Returns its sequence number — or, when
    /// the hub forwards to a shared log ([`Hub::forward_to`]), hands the message on and returns
    /// 0: its number is the one the log gives it.
    pub fn publish(&self, message: M) -> u64 {
        if let Some(outlet) = self.outlet.get() {
            (outlet.0)(message, None);
            return 0;
        }
        self.append(message)
    }

    /// [`Hub::publish`], for a publisher that must not be told "done" before the message is
    /// safe: with a shared log, the receiver completes once the log holds it (and fails if the
    /// log could not take it), so an instance that dies right after cannot lose an acknowledged
    /// message. Without one, the ring holds it at once: `None`.
    pub fn publish_stored(&self, message: M) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let Some(outlet) = self.outlet.get() else {
            self.append(message);
            return None;
        };
        let (stored, done) = tokio::sync::oneshot::channel();
        (outlet.0)(message, Some(stored));
        Some(done)
    }

    /// Stores `message` as number `seq` of a shared log, whose numbers every instance's hub
    /// follows. A number already held is ignored (the log replayed it); a number past the next
    /// one means the log dropped what lies between (its own bound): the ring restarts at `seq`
    /// and readers see the gap as missed messages, as after a ring overflow. Returns whether it
    /// was stored. One task (the instance's ingest) calls this: the check and the append are
    /// two critical sections, not one.
    pub fn publish_at(&self, seq: u64, message: M) -> bool {
        {
            let mut ring = self.lock();
            let next = ring.first_seq + ring.messages.len() as u64;
            if seq < next {
                return false;
            }
            if seq > next {
                ring.messages.clear();
                ring.bytes = 0;
                ring.first_seq = seq;
            }
        }
        self.append(message);
        true
    }

    /// Appends to the ring and wakes readers; returns the message's number.
    fn append(&self, message: M) -> u64 {
        let seq = {
            let mut ring = self.lock();
            ring.bytes += (self.weigh)(&message);
            ring.messages.push_back(message);
            ring.trim(self.weigh);
            ring.first_seq + ring.messages.len() as u64 - 1
        };
        self.latest.send_replace(seq);
        seq
    }

    /// The sequence number of the newest message (0 if none yet).
    pub fn latest(&self) -> u64 {
        *self.latest.borrow()
    }

    /// The kept messages and the sequence number of the first, to carry the hub across a restart.
    pub fn snapshot(&self) -> (u64, Vec<M>) {
        let ring = self.lock();
        (ring.first_seq, ring.messages.iter().cloned().collect())
    }

    /// A hub that continues a [`Hub::snapshot`]: same sequence numbers, same kept messages (as
    /// many of the newest as `capacity` and `max_bytes` allow).
    pub fn restore(
        capacity: usize,
        max_bytes: usize,
        weigh: fn(&M) -> usize,
        first_seq: u64,
        messages: Vec<M>,
    ) -> Self {
        let hub = Hub::bounded(capacity, max_bytes, weigh);
        let latest = {
            let mut ring = hub.lock();
            ring.first_seq = first_seq.max(1);
            ring.bytes = messages.iter().map(weigh).sum();
            ring.messages.extend(messages);
            ring.trim(weigh);
            ring.first_seq + ring.messages.len() as u64 - 1
        };
        hub.latest.send_replace(latest);
        hub
    }

    /// A receiver that changes whenever a message is published.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// Up to `max` messages after `cursor`, and what the reader should know about the gap or reset.
    pub fn read_after(&self, cursor: u64, max: usize) -> Batch<M> {
        let ring = self.lock();
        let latest = ring.first_seq + ring.messages.len() as u64 - 1;
        // On a shared log a cursor ahead of this hub comes from an instance further along: this
        // one has not read that far yet, and the batch is empty until it has.
        let reset = cursor > latest && self.outlet.get().is_none();
        let cursor = if reset { 0 } else { cursor };
        let start = (cursor + 1).max(ring.first_seq);
        let missed = start - (cursor + 1);
        let skip = (start - ring.first_seq) as usize;
        let messages: Vec<M> = ring.messages.iter().skip(skip).take(max).cloned().collect();
        let next_cursor = start + messages.len() as u64 - 1;
        Batch {
            messages,
            first_seq: start,
            missed,
            next_cursor,
            reset,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring<M>> {
        // A panic while holding the lock cannot leave the ring inconsistent (every update is a
        // single push/pop), so a poisoned lock is still safe to use.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_reads_everything_after_it_once() {
        let hub = Hub::new(8);
        assert_eq!(hub.publish("a"), 1);
        assert_eq!(hub.publish("b"), 2);
        let b = hub.read_after(0, 100);
        assert_eq!(
            (b.messages, b.first_seq, b.missed, b.next_cursor),
            (vec!["a", "b"], 1, 0, 2)
        );
        let b = hub.read_after(2, 100);
        assert!(b.messages.is_empty());
        assert_eq!((b.next_cursor, b.missed, b.reset), (2, 0, false));
        hub.publish("c");
        let b = hub.read_after(2, 100);
        assert_eq!((b.messages, b.first_seq, b.next_cursor), (vec!["c"], 3, 3));
    }

    #[test]
    fn batches_are_bounded_and_resume_where_they_stopped() {
        let hub = Hub::new(8);
        for m in 0..5 {
            hub.publish(m);
        }
        let b = hub.read_after(0, 2);
        assert_eq!((b.messages, b.next_cursor), (vec![0, 1], 2));
        let b = hub.read_after(2, 2);
        assert_eq!((b.messages, b.next_cursor), (vec![2, 3], 4));
        let b = hub.read_after(4, 2);
        assert_eq!((b.messages, b.next_cursor), (vec![4], 5));
    }

    #[test]
    fn ring_overflow_is_reported_as_a_gap() {
        let hub = Hub::new(3);
        for m in 1..=10 {
            hub.publish(m);
        }
        let b = hub.read_after(2, 100);
        assert_eq!(b.messages, vec![8, 9, 10]);
        assert_eq!((b.first_seq, b.missed, b.next_cursor), (8, 5, 10));
        let b = hub.read_after(7, 100);
        assert_eq!(b.missed, 0);
    }

    #[test]
    fn a_cursor_from_the_future_reads_from_the_start() {
        let hub = Hub::new(3);
        hub.publish(1);
        hub.publish(2);
        let b = hub.read_after(500, 100);
        assert!(b.reset);
        assert_eq!((b.messages, b.first_seq, b.next_cursor), (vec![1, 2], 1, 2));
        let empty: Hub<u8> = Hub::new(3);
        let b = empty.read_after(0, 10);
        assert_eq!((b.next_cursor, b.reset, b.missed), (0, false, 0));
    }

    #[test]
    fn a_restored_hub_continues_the_sequence() {
        let hub = Hub::new(3);
        for m in 1..=5 {
            hub.publish(m);
        }
        let (first, kept) = hub.snapshot();
        assert_eq!((first, kept.clone()), (3, vec![3, 4, 5]));
        let again = Hub::restore(3, usize::MAX, |_| 0, first, kept);
        assert_eq!(again.latest(), 5);
        assert_eq!(again.read_after(3, 10).messages, vec![4, 5]);
        assert_eq!(again.publish(6), 6);
        let empty: Hub<u8> = Hub::restore(3, usize::MAX, |_| 0, 1, Vec::new());
        assert_eq!((empty.latest(), empty.publish(9)), (0, 1));
    }

    #[test]
    fn the_ring_is_bounded_in_bytes_too_and_keeps_the_newest() {
        let hub: Hub<Vec<u8>> = Hub::bounded(100, 10, Vec::len);
        for size in [4, 4, 4] {
            hub.publish(vec![0; size]);
        }
        // 12 bytes > 10: the oldest went.
        let b = hub.read_after(0, 100);
        assert_eq!((b.first_seq, b.missed, b.messages.len()), (2, 1, 2));
        // A message over the bound alone is still kept (the newest always is).
        hub.publish(vec![0; 30]);
        let b = hub.read_after(0, 100);
        assert_eq!((b.first_seq, b.messages.len()), (4, 1));
        let (first, kept) = hub.snapshot();
        let again = Hub::restore(100, 10, Vec::len, first, kept);
        assert_eq!(
            (again.latest(), again.read_after(0, 9).messages.len()),
            (4, 1)
        );
    }

    #[test]
    fn a_shared_log_numbers_the_ring() {
        let hub = Hub::new(4);
        let forwarded = std::sync::Arc::new(Mutex::new(Vec::new()));
        let sink = forwarded.clone();
        hub.forward_to(move |m, stored: Option<Stored>| {
            sink.lock().unwrap().push(m);
            if let Some(stored) = stored {
                let _ = stored.send(());
            }
        });
        assert_eq!(hub.publish("a"), 0);
        let mut done = hub.publish_stored("b").unwrap();
        assert_eq!(done.try_recv(), Ok(()));
        forwarded.lock().unwrap().pop();
        assert_eq!(*forwarded.lock().unwrap(), vec!["a"]);
        assert_eq!(hub.latest(), 0);
        // The log's numbering: a late joiner starts where the log's retained part starts.
        assert!(hub.publish_at(7, "a"));
        assert!(hub.publish_at(8, "b"));
        assert!(!hub.publish_at(8, "b"), "a replay is ignored");
        let b = hub.read_after(6, 10);
        assert_eq!((b.messages, b.first_seq, b.missed), (vec!["a", "b"], 7, 0));
        // A gap in the log reads as missed messages.
        assert!(hub.publish_at(11, "e"));
        let b = hub.read_after(8, 10);
        assert_eq!((b.messages, b.first_seq, b.missed), (vec!["e"], 11, 2));
        assert_eq!(hub.latest(), 11);
        // A cursor from a faster instance waits for this one to catch up: no reset, no replay.
        let b = hub.read_after(13, 10);
        assert_eq!((b.messages.len(), b.next_cursor, b.reset), (0, 13, false));
        hub.publish_at(12, "f");
        hub.publish_at(13, "g");
        hub.publish_at(14, "h");
        assert_eq!(hub.read_after(13, 10).messages, vec!["h"]);
    }

    #[tokio::test]
    async fn readers_are_woken_by_publish() {
        let hub = std::sync::Arc::new(Hub::new(4));
        let mut rx = hub.subscribe();
        let h = hub.clone();
        tokio::spawn(async move { h.publish(7u8) });
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow(), 1);
    }
}
