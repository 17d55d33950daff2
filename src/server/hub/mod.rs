//! The hub: the one delivery semantics every built-in transport shares.
//!
//! # Semantics
//! - Messages are published into a room ([`RoomId`]; a client that names none is in room 0, so
//!   a server without rooms is the one-room case). Rooms are created when first named, up to
//!   `max_rooms`; past that, naming a new room is refused ([`RoomError`]) and the transport says so
//!   on its wire (HTTP 503, no upgrade; raw: the connection is closed).
//! - Every message published into a room gets that room's next sequence number, starting at 1.
//!   Sequence 0 means "before everything", so a cursor of 0 asks for every message still kept.
//! - The hub keeps the most recent `capacity` messages and at most `max_bytes` of them **over all
//!   rooms together**: one memory bound however many rooms there are. Past either bound the
//!   oldest message of the whole hub goes, whichever room it is in (the newest always stays).
//!   A reader asks for everything after its cursor in its room ([`Hub::read_after`]); a
//!   transport only adapts that to its wire.
//! - A reader that falls behind what its room still keeps loses the oldest messages: the batch
//!   it gets reports how many were overwritten (`missed`), and the transport passes that on where
//!   its wire can (long-poll `x-missed`); a WebSocket client sees the gap in its own sequence
//!   numbers. Memory is bounded by the ring, never by a slow reader.
//! - A cursor from the future (a client that outlived a server restart) is answered with
//!   `reset = true` and read as if it were 0: everything the restarted room holds is new to that
//!   client, so it rejoins without waiting forever and without missing what came since.
//!   On a shared log (below) it is instead a cursor from an instance that has read further: the
//!   batch is empty until this hub catches up.
//! - New readers join at their room's current end (WebSocket) or say where they are (cursor).
//! - A room's readers are woken by its own publishes only ([`Room::subscribe`]).
//! - With a backplane (several instances, one shared log per room: [`crate::backplane`]), a
//!   publish is handed to the hub's outlet ([`Hub::forward_to`]) instead of the ring, and the
//!   message comes back through [`Hub::publish_at`] with the number the room's log gave it, so
//!   every instance numbers every message alike and a cursor from one instance is valid on another.
//!
//! The hub is generic over how a message is stored (`M`), so each transport keeps messages in
//! the form its wire needs and encodes them once, whatever the number of readers. It knows no
//! hyper or tungstenite types and does no I/O. A reader or publisher looks its room up once
//! ([`Hub::room`]) and keeps the [`Room`] handle: reading and publishing then index a vector,
//! never hash, so the one-room hot path costs what it did before rooms.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use tokio::sync::watch;

pub use crate::protocol::RoomId;

mod batch;
pub use batch::{Batch, Span};

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

/// Why a room cannot be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// The hub already has `limit` rooms: a new one would let clients grow the server's memory
    /// without bound. Existing rooms stay usable.
    #[error("the server already has its most rooms ({limit}); use an existing room")]
    TooMany {
        /// The most rooms the hub keeps.
        limit: usize,
    },
}

/// One room as its readers and publishers hold it: which ring is its, and its news signal.
/// Cheap to clone; valid for the hub that gave it.
#[derive(Debug, Clone)]
pub struct Room {
    id: RoomId,
    /// Index of the room's ring in the hub.
    slot: usize,
    /// Carries the room's latest sequence number; its readers wait on it instead of polling.
    latest: Arc<watch::Sender<u64>>,
}

impl Room {
    /// The room's id.
    pub fn id(&self) -> RoomId {
        self.id
    }

    /// The sequence number of the room's newest message (0 if none yet).
    pub fn latest(&self) -> u64 {
        *self.latest.borrow()
    }

    /// A receiver that changes whenever a message is published into this room.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }
}

/// One room's kept messages, as [`Hub::snapshot`] gives them and [`Hub::restore`] takes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomState<M> {
    /// The room.
    pub room: RoomId,
    /// Sequence number of `messages[0]` (or of the room's next message when empty).
    pub first_seq: u64,
    /// The kept messages, oldest first.
    pub messages: Vec<M>,
}

/// Shared state: every room's ring under one lock, and the one bound they share.
#[derive(Debug)]
pub struct Hub<M> {
    inner: Mutex<Inner<M>>,
    /// A message's size, for the bound in bytes.
    weigh: fn(&M) -> usize,
    /// Where [`Hub::publish`] sends messages when a shared log orders them; unset: the rings.
    outlet: OnceLock<Outlet<M>>,
    /// Told of every room the hub makes ([`Hub::on_new_room`]); unset: nobody.
    new_room: OnceLock<NewRoom>,
}

/// The hook of [`Hub::on_new_room`]; its own type only so the hub can still derive `Debug`.
struct NewRoom(Box<dyn Fn(&Room) + Send + Sync>);

impl std::fmt::Debug for NewRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewRoom")
    }
}

/// The hand-off of [`Hub::forward_to`]: the room, the message, and where to say that the log has
/// it (if the publisher waits for that). Its own type only so the hub can still derive `Debug`.
type OutletFn<M> = dyn Fn(RoomId, M, Option<Stored>) + Send + Sync;
struct Outlet<M>(Box<OutletFn<M>>);

/// Completed by a shared log once it holds a forwarded message ([`Hub::publish_stored`]).
pub type Stored = tokio::sync::oneshot::Sender<()>;

impl<M> std::fmt::Debug for Outlet<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outlet")
    }
}

#[derive(Debug)]
struct Inner<M> {
    /// Every room's ring, by slot (rooms are never removed, so a slot stays valid).
    rings: Vec<Ring<M>>,
    /// Each room's slot: looked up once per reader or publish request, never per message.
    slots: HashMap<RoomId, usize>,
    /// The slot of every kept message, oldest first: the oldest of the whole hub goes first.
    order: VecDeque<usize>,
    /// Messages kept over all rooms, and the most there may be.
    kept: usize,
    capacity: usize,
    /// Bytes the kept messages hold, and the most they may: the oldest go first past either bound.
    bytes: usize,
    max_bytes: usize,
    /// The most rooms there may be.
    max_rooms: usize,
}

#[derive(Debug)]
struct Ring<M> {
    messages: VecDeque<M>,
    /// Sequence number of `messages[0]` (or of the next message when empty).
    first_seq: u64,
    latest: Arc<watch::Sender<u64>>,
}

impl<M> Ring<M> {
    fn latest(&self) -> u64 {
        self.first_seq + self.messages.len() as u64 - 1
    }

    /// The range up to `max` messages after `cursor` covers, and the gap or reset before it. On
    /// a `shared_log` a cursor ahead of this ring comes from an instance further along: this one
    /// has not read that far yet, and the range is empty (no reset) until it has.
    fn span(&self, cursor: u64, max: usize, shared_log: bool) -> Span {
        let latest = self.latest();
        let reset = cursor > latest && !shared_log;
        let cursor = if reset { 0 } else { cursor };
        let first_seq = (cursor + 1).max(self.first_seq);
        let left = (latest + 1).saturating_sub(first_seq);
        let len = left.min(u64::try_from(max).unwrap_or(u64::MAX));
        Span {
            first_seq,
            missed: first_seq - (cursor + 1),
            next_cursor: first_seq + len - 1,
            reset,
        }
    }
}

impl<M> Inner<M> {
    /// Drops the oldest messages of the hub until both bounds hold; the newest always stays.
    fn trim(&mut self, weigh: fn(&M) -> usize) {
        while self.kept > 1 && (self.kept > self.capacity || self.bytes > self.max_bytes) {
            let Some(slot) = self.order.pop_front() else {
                break;
            };
            let ring = &mut self.rings[slot];
            if let Some(old) = ring.messages.pop_front() {
                self.bytes -= weigh(&old);
                self.kept -= 1;
                ring.first_seq += 1;
            }
        }
    }

    /// The room's slot, made if it is new and the limit allows.
    fn slot(&mut self, id: RoomId, first_seq: u64) -> Result<usize, RoomError> {
        if let Some(&slot) = self.slots.get(&id) {
            return Ok(slot);
        }
        if self.rings.len() >= self.max_rooms {
            return Err(RoomError::TooMany {
                limit: self.max_rooms,
            });
        }
        let slot = self.rings.len();
        self.rings.push(Ring {
            messages: VecDeque::new(),
            first_seq: first_seq.max(1),
            latest: Arc::new(watch::Sender::new(first_seq.max(1) - 1)),
        });
        self.slots.insert(id, slot);
        Ok(slot)
    }
}

/// Rooms a hub keeps unless told otherwise ([`Hub::with_max_rooms`]).
pub const DEFAULT_MAX_ROOMS: usize = 100_000;

impl<M: Clone> Hub<M> {
    /// A hub keeping at most `capacity` (≥ 1) recent messages, however large.
    pub fn new(capacity: usize) -> Self {
        Hub::bounded(capacity, usize::MAX, |_| 0)
    }

    /// A hub keeping at most `capacity` (≥ 1) recent messages and at most `max_bytes` of them as
    /// `weigh` counts, over all its rooms (the newest message is kept whatever its size): the
    /// memory bound holds for large messages too, not only for many, and for many rooms.
    pub fn bounded(capacity: usize, max_bytes: usize, weigh: fn(&M) -> usize) -> Self {
        Hub {
            inner: Mutex::new(Inner {
                rings: Vec::new(),
                slots: HashMap::new(),
                order: VecDeque::new(),
                kept: 0,
                capacity: capacity.max(1),
                bytes: 0,
                max_bytes,
                max_rooms: DEFAULT_MAX_ROOMS,
            }),
            weigh,
            outlet: OnceLock::new(),
            new_room: OnceLock::new(),
        }
    }

    /// This hub, keeping at most `max_rooms` (≥ 1) rooms.
    pub fn with_max_rooms(self, max_rooms: usize) -> Self {
        self.lock().max_rooms = max_rooms.max(1);
        self
    }

    /// The room `id`, made (empty) if it is new; refused if it is new and the hub has its most rooms.
    pub fn room(&self, id: RoomId) -> Result<Room, RoomError> {
        let (room, made) = {
            let mut inner = self.lock();
            let rooms = inner.rings.len();
            let slot = inner.slot(id, 1)?;
            let room = Room {
                id,
                slot,
                latest: inner.rings[slot].latest.clone(),
            };
            (room, inner.rings.len() > rooms)
        };
        if made && let Some(hook) = self.new_room.get() {
            (hook.0)(&room);
        }
        Ok(room)
    }

    /// From now on `hook` is told of every room the hub makes, before the room is handed to the
    /// reader or publisher that named it (a shared log starts the room's relay there). Rooms
    /// made before are not told. Set once; later calls are ignored.
    pub fn on_new_room(&self, hook: impl Fn(&Room) + Send + Sync + 'static) {
        let _ = self.new_room.set(NewRoom(Box::new(hook)));
    }

    /// The ids of every room the hub has.
    pub fn room_ids(&self) -> Vec<RoomId> {
        let mut ids: Vec<RoomId> = self.lock().slots.keys().copied().collect();
        ids.sort();
        ids
    }

    /// Rooms the hub has.
    pub fn rooms(&self) -> usize {
        self.lock().rings.len()
    }

    /// From now on [`Hub::publish`] hands every message to `outlet` (a shared log) with its room
    /// instead of the room's ring; the log delivers it back through [`Hub::publish_at`]. Set once;
    /// later calls are ignored.
    pub fn forward_to(&self, outlet: impl Fn(RoomId, M, Option<Stored>) + Send + Sync + 'static) {
        let _ = self.outlet.set(Outlet(Box::new(outlet)));
    }

    /// Appends a message to `room` and wakes the room's waiting readers. Returns its sequence
    /// number — or, when the hub forwards to a shared log ([`Hub::forward_to`]), hands the
    /// message on and returns 0: its number is the one the log gives it.
    pub fn publish(&self, room: &Room, message: M) -> u64 {
        if let Some(outlet) = self.outlet.get() {
            (outlet.0)(room.id, message, None);
            return 0;
        }
        self.append(room, message)
    }

    /// [`Hub::publish`], for a publisher that must not be told "done" before the message is
    /// safe: with a shared log, the receiver completes once the log holds it (and fails if the
    /// log could not take it), so an instance that dies right after cannot lose an acknowledged
    /// message. Without one, the ring holds it at once: `None`.
    pub fn publish_stored(
        &self,
        room: &Room,
        message: M,
    ) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let Some(outlet) = self.outlet.get() else {
            self.append(room, message);
            return None;
        };
        let (stored, done) = tokio::sync::oneshot::channel();
        (outlet.0)(room.id, message, Some(stored));
        Some(done)
    }

    /// Stores `message` as number `seq` of `room`'s shared log, whose numbers every instance's
    /// hub follows. A number already held is ignored (the log replayed it); a number past the
    /// next one means the log dropped what lies between (its own bound): the room's ring
    /// restarts at `seq` and readers see the gap as missed messages, as after an overflow.
    /// Returns whether it was stored. One task per room (the instance's ingest) calls this: the
    /// check and the append are two critical sections, not one.
    pub fn publish_at(&self, room: &Room, seq: u64, message: M) -> bool {
        {
            let mut inner = self.lock();
            let ring = &inner.rings[room.slot];
            let next = ring.first_seq + ring.messages.len() as u64;
            if seq < next {
                return false;
            }
            if seq > next {
                let weigh = self.weigh;
                let dropped: usize = ring.messages.iter().map(weigh).sum();
                let count = ring.messages.len();
                inner.order.retain(|&slot| slot != room.slot);
                inner.bytes -= dropped;
                inner.kept -= count;
                let ring = &mut inner.rings[room.slot];
                ring.messages.clear();
                ring.first_seq = seq;
            }
        }
        self.append(room, message);
        true
    }

    /// Appends to the room's ring and wakes its readers; returns the message's number.
    fn append(&self, room: &Room, message: M) -> u64 {
        let seq = {
            let mut inner = self.lock();
            inner.bytes += (self.weigh)(&message);
            inner.kept += 1;
            inner.order.push_back(room.slot);
            inner.rings[room.slot].messages.push_back(message);
            inner.trim(self.weigh);
            inner.rings[room.slot].latest()
        };
        room.latest.send_replace(seq);
        seq
    }

    /// Every room's kept messages, to carry the hub across a restart.
    pub fn snapshot(&self) -> Vec<RoomState<M>> {
        let inner = self.lock();
        let mut rooms: Vec<RoomState<M>> = inner
            .slots
            .iter()
            .map(|(&room, &slot)| {
                let ring = &inner.rings[slot];
                RoomState {
                    room,
                    first_seq: ring.first_seq,
                    messages: ring.messages.iter().cloned().collect(),
                }
            })
            .collect();
        rooms.sort_by_key(|r| r.room);
        rooms
    }

    /// A hub that continues a [`Hub::snapshot`]: same rooms, same sequence numbers, same kept
    /// messages (as many as `capacity` and `max_bytes` allow: past them the oldest go, the
    /// rooms taken in the order given).
    pub fn restore(
        capacity: usize,
        max_bytes: usize,
        weigh: fn(&M) -> usize,
        rooms: Vec<RoomState<M>>,
    ) -> Self {
        let hub = Hub::bounded(capacity, max_bytes, weigh);
        {
            let mut inner = hub.lock();
            // Every saved room comes back (it was made under the limit of its day); the caller's
            // limit ([`Hub::with_max_rooms`]) then holds for new ones.
            inner.max_rooms = usize::MAX;
            for state in rooms {
                let Ok(slot) = inner.slot(state.room, state.first_seq) else {
                    continue;
                };
                inner.bytes += state.messages.iter().map(weigh).sum::<usize>();
                inner.kept += state.messages.len();
                inner.order.extend(state.messages.iter().map(|_| slot));
                inner.rings[slot].messages.extend(state.messages);
            }
            inner.trim(weigh);
            inner.max_rooms = DEFAULT_MAX_ROOMS;
            for ring in &inner.rings {
                ring.latest.send_replace(ring.latest());
            }
        }
        hub
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<M>> {
        // A panic while holding the lock cannot leave the rings inconsistent (every update is a
        // single push/pop), so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests;
