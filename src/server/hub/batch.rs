//! What a reader gets from the hub: a [`Batch`] of messages after its cursor, the messages lent
//! in place, or only the range they cover (a [`Span`]), which is enough to find an answer already
//! encoded for that range.

use super::{Hub, Room};

/// What a reader gets from [`super::Hub::read_after`].
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
    /// The cursor was ahead of the room (e.g. the server restarted); the batch reads from the start.
    pub reset: bool,
}

/// A [`Batch`] without its messages. Two reads of one room with equal spans carry the same bytes
/// (a sequence number names one message for good), so a span can key an answer encoded once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// Sequence number of the first message covered (meaningful when `len() > 0`).
    pub first_seq: u64,
    /// Messages before `first_seq` that the ring had already overwritten.
    pub missed: u64,
    /// The last sequence number covered: the reader's next cursor.
    pub next_cursor: u64,
    /// The cursor was ahead of the room; the span reads from the start.
    pub reset: bool,
}

impl Span {
    /// Messages covered.
    pub fn len(&self) -> usize {
        usize::try_from(self.next_cursor + 1 - self.first_seq).unwrap_or(usize::MAX)
    }

    /// No message covered (there may still be a gap or reset to tell).
    pub fn is_empty(&self) -> bool {
        self.next_cursor < self.first_seq
    }
}

impl<M> Batch<M> {
    /// The batch without its messages.
    pub fn span(&self) -> Span {
        Span {
            first_seq: self.first_seq,
            missed: self.missed,
            next_cursor: self.next_cursor,
            reset: self.reset,
        }
    }
}

impl<M: Clone> Hub<M> {
    /// Up to `max` messages of `room` after `cursor`, and what the reader should know about the
    /// gap or reset.
    pub fn read_after(&self, room: &Room, cursor: u64, max: usize) -> Batch<M> {
        self.read_in_place(room, cursor, max, |span, older, newer| Batch {
            messages: older.iter().chain(newer).cloned().collect(),
            first_seq: span.first_seq,
            missed: span.missed,
            next_cursor: span.next_cursor,
            reset: span.reset,
        })
    }

    /// What [`Hub::read_after`] would answer, lent to `read` in place under the hub's lock: the
    /// messages come as two slices, oldest first (the ring is a deque). A reader that can use
    /// them at once, such as a non-blocking write, copies nothing and touches no reference count;
    /// that is most of a fan-out's user time. `read` must not block or call into the hub.
    pub fn read_in_place<R>(
        &self,
        room: &Room,
        cursor: u64,
        max: usize,
        read: impl FnOnce(Span, &[M], &[M]) -> R,
    ) -> R {
        let inner = self.lock();
        let ring = &inner.rings[room.slot];
        let span = ring.span(cursor, max, self.outlet.get().is_some());
        if span.is_empty() {
            return read(span, &[], &[]);
        }
        let (front, back) = ring.messages.as_slices();
        let skip = (span.first_seq - ring.first_seq) as usize;
        let len = span.len();
        let (older, newer) = match front.get(skip..) {
            Some(rest) if !rest.is_empty() => {
                let from_front = len.min(rest.len());
                (&rest[..from_front], &back[..len - from_front])
            }
            _ => (&front[..0], &back[skip - front.len()..][..len]),
        };
        read(span, older, newer)
    }

    /// What [`Hub::read_after`] would answer, without the messages: enough for a reader whose
    /// answer for that range was already encoded (see [`super::super::shared`]) to skip copying them.
    pub fn span(&self, room: &Room, cursor: u64, max: usize) -> Span {
        let shared_log = self.outlet.get().is_some();
        self.lock().rings[room.slot].span(cursor, max, shared_log)
    }
}
