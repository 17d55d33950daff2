//! What a reader gets from the hub: a [`Batch`] of messages after its cursor, or only the range
//! it covers (a [`Span`]), which is enough to find an answer already encoded for that range.

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
