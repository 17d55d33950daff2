//! Answers encoded once per range and shared by every HTTP reader of it.
//!
//! After a publish nearly every SSE stream and long-poll of a room wakes at the same cursor and
//! reads the same range of the hub. Encoding that range (SSE events with their ids, or a netstring
//! batch) once per stream made the server's per-delivery CPU grow with copies nobody needed: here
//! the first reader of a range encodes it and every later one gets the same `Bytes` (a reference
//! count, not a copy), so a stream's chunk and a poll's body are what they were, byte for byte.
//!
//! A [`Span`] names a range's bytes for good (a sequence number names one message of its room
//! forever), so an entry is never stale, only superseded: a publish makes readers ask for a new
//! span, which replaces the room's oldest entry. Each room keeps its last [`PER_ROOM`] spans per
//! wire (readers a publish or two behind still hit), and all entries together hold at most
//! `max_bytes`: past that the cache starts over empty, so its memory is bounded however many rooms
//! and readers there are.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;

use super::hub::{Batch, Hub, Payload, Room, RoomId, Span};
use crate::codec::coding::Coding;
use crate::codec::{batch, sse};

/// Spans a room keeps per wire: the newest, and a few behind it for readers a publish late.
pub const PER_ROOM: usize = 4;

/// How a range is encoded: each wire has its own entries, so one hub can serve both
/// (`wsbench serve --transport all`, or one HTTP server's `/events` next to its `/poll`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wire {
    /// One body chunk of `text/event-stream`: `: missed K` if any, then one event per message.
    Sse,
    /// A long-poll body: the messages as netstrings ([`crate::codec::batch`]).
    Poll,
    /// The long-poll body gzip-compressed (`Content-Encoding: gzip`), once per range like the
    /// plain one, for every poller that accepts it.
    PollGzip,
    /// The long-poll body brotli-compressed (`Content-Encoding: br`), shared the same way.
    PollBr,
}

impl Wire {
    /// The long-poll wire whose bodies are in `coding`.
    pub fn poll(coding: Coding) -> Wire {
        match coding {
            Coding::Identity => Wire::Poll,
            Coding::Gzip => Wire::PollGzip,
            Coding::Br => Wire::PollBr,
        }
    }

    /// The content coding of this wire's (non-empty) bodies.
    pub fn coding(self) -> Coding {
        match self {
            Wire::Sse | Wire::Poll => Coding::Identity,
            Wire::PollGzip => Coding::Gzip,
            Wire::PollBr => Coding::Br,
        }
    }

    /// `batch` as this wire carries it.
    pub fn encode<M: Payload>(self, b: &Batch<M>) -> Bytes {
        let payload_bytes: usize = b.messages.iter().map(|m| m.payload().len()).sum();
        match self {
            Wire::Sse => {
                let mut body = Vec::with_capacity(payload_bytes + 32 * b.messages.len() + 24);
                if b.missed > 0 {
                    sse::push_missed(&mut body, b.missed);
                }
                for (seq, m) in (b.first_seq..).zip(&b.messages) {
                    sse::push_event(&mut body, seq, m.payload());
                }
                Bytes::from(body)
            }
            Wire::Poll | Wire::PollGzip | Wire::PollBr => {
                let mut body = Vec::with_capacity(payload_bytes + 8 * b.messages.len());
                for m in &b.messages {
                    batch::push(&mut body, m.payload());
                }
                if self != Wire::Poll && !body.is_empty() {
                    return Bytes::from(self.coding().encode(&body));
                }
                Bytes::from(body)
            }
        }
    }
}

/// The encoded answers of the recent spans of every room, bounded in bytes.
#[derive(Debug)]
pub struct Shared {
    inner: Mutex<Entries>,
}

#[derive(Debug)]
struct Entries {
    /// Newest first, at most [`PER_ROOM`] per room and wire.
    by_room: HashMap<(RoomId, Wire), VecDeque<(Span, Bytes)>>,
    /// Bytes the kept answers hold, and the most they may.
    bytes: usize,
    max_bytes: usize,
}

impl Shared {
    /// A cache whose answers hold at most `max_bytes` together.
    pub fn new(max_bytes: usize) -> Self {
        Shared {
            inner: Mutex::new(Entries {
                by_room: HashMap::new(),
                bytes: 0,
                max_bytes,
            }),
        }
    }

    /// The answer to "`max` messages of `room` after `cursor`" on `wire`, and the span it covers
    /// (the reader's next cursor, gap and reset): encoded by the first reader of that span and
    /// shared with every later one. An empty answer (nothing to say) is not kept.
    pub fn answer<M: Payload>(
        &self,
        hub: &Hub<M>,
        room: &Room,
        wire: Wire,
        cursor: u64,
        max: usize,
    ) -> (Span, Bytes) {
        let span = hub.span(room, cursor, max);
        if span.is_empty() && (wire != Wire::Sse || span.missed == 0) {
            return (span, Bytes::new());
        }
        if let Some(bytes) = self.get(room.id(), wire, span) {
            return (span, bytes);
        }
        // A publish may land between the two reads: the batch's own span is what was encoded.
        let batch = hub.read_after(room, cursor, max);
        let span = batch.span();
        let bytes = wire.encode(&batch);
        if !bytes.is_empty() {
            self.put(room.id(), wire, span, bytes.clone());
        }
        (span, bytes)
    }

    /// Bytes the kept answers hold.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn get(&self, room: RoomId, wire: Wire, span: Span) -> Option<Bytes> {
        let entries = self.lock();
        let kept = entries.by_room.get(&(room, wire))?;
        kept.iter()
            .find(|(s, _)| *s == span)
            .map(|(_, b)| b.clone())
    }

    fn put(&self, room: RoomId, wire: Wire, span: Span, bytes: Bytes) {
        let mut guard = self.lock();
        let e = &mut *guard;
        if bytes.len() > e.max_bytes {
            return;
        }
        let known = e.by_room.get(&(room, wire));
        if known.is_some_and(|kept| kept.iter().any(|(s, _)| *s == span)) {
            // Two readers of a new span raced: the first one's answer stays.
            return;
        }
        if e.bytes + bytes.len() > e.max_bytes {
            e.by_room.clear();
            e.bytes = 0;
        }
        e.bytes += bytes.len();
        let kept = e.by_room.entry((room, wire)).or_default();
        kept.push_front((span, bytes));
        if kept.len() > PER_ROOM {
            e.bytes -= kept.pop_back().map_or(0, |(_, b)| b.len());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Every update leaves the map and its byte count consistent before it can panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
