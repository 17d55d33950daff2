//! Pushing a room's news to its WebSocket and raw connections: one task per room writes every
//! connection's new frames straight into its socket, and a connection's own task writes only
//! when its socket is full (or is TLS, which only that task can encrypt).
//!
//! Why not a task per connection, woken per message: a wake-up costs the runtime a task poll
//! and the connection's cold state (its future, its read registration, its timers) on top of
//! the write itself. At low rates nothing coalesces, so that is paid once per delivery, and it
//! was most of the server's user time (3.6 µs of user CPU per delivery at 20 msg/s against the
//! reference server's 1 µs, the kernel's share equal). A room's pusher instead wakes once per
//! batch of news and makes one non-blocking vectored write per connection, from the ring itself.
//!
//! Each connection's [`Outbox`] holds its cursor: the last message written whole. Whoever writes
//! (the pusher, or the connection's task once it has taken the socket over) moves it, under the
//! outbox's lock; a write the socket cut short leaves the rest of its frames in the outbox (cheap
//! copies: shared buffers) for the connection's task, which then holds the socket until it has
//! caught up, so frames never interleave. The task takes the socket over the same way to send
//! its own frames (pongs, pings, the close).

use std::collections::HashMap;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::fanout::{Form, OnWire, write_frames, write_in_place};
use super::hub::{Hub, Room};
use crate::protocol::RoomId;

/// Connections one turn of a pusher serves before it lets the runtime run anything else: the
/// publisher's next reads (whose messages then ride the same writes to the connections after
/// them), accepts, timers. Measured saturated (yardstick client, 1000 subscribers, window 8): 8
/// to 32 gave ~8 messages per write, 128 gave 6.9, one turn for all 4.9.
const TURN: usize = 32;

/// Every room's members, of one server.
#[derive(Debug)]
pub(crate) struct Push<M> {
    rooms: Mutex<HashMap<RoomId, Arc<Members<M>>>>,
}

impl<M> Default for Push<M> {
    fn default() -> Self {
        Push {
            rooms: Mutex::new(HashMap::new()),
        }
    }
}

/// One room's connections, in slots that keep their index while they are taken, so a pusher's
/// round that lets go of the lock between turns still visits every connection present
/// throughout it exactly once.
#[derive(Debug)]
struct Members<M> {
    slots: Mutex<Slots<M>>,
}

#[derive(Debug)]
struct Slots<M> {
    taken: Vec<Option<Arc<Outbox<M>>>>,
    free: Vec<usize>,
}

/// A connection's place in its room's pushes; leaves the room when dropped.
#[derive(Debug)]
pub(crate) struct Membership<M> {
    members: Arc<Members<M>>,
    slot: usize,
}

impl<M> Drop for Membership<M> {
    fn drop(&mut self) {
        let mut slots = lock(&self.members.slots);
        slots.taken[self.slot] = None;
        slots.free.push(self.slot);
    }
}

/// A room's pusher, to be spawned by the server ([`Pusher::run`]) when the room gets its first
/// connection.
#[derive(Debug)]
pub(crate) struct Pusher<M> {
    room: Room,
    members: Arc<Members<M>>,
    /// Subscribed when the room's members were made, so nothing published after a connection
    /// joined can slip past the pusher's first wait.
    news: watch::Receiver<u64>,
}

impl<M> Push<M> {
    /// Puts `outbox` among `room`'s connections. The pusher comes back for a room that had none
    /// yet: the caller spawns it.
    fn enter(&self, room: &Room, outbox: Arc<Outbox<M>>) -> (Membership<M>, Option<Pusher<M>>) {
        let mut rooms = lock(&self.rooms);
        let mut pusher = None;
        let members = rooms.entry(room.id()).or_insert_with(|| {
            let members = Arc::new(Members {
                slots: Mutex::new(Slots {
                    taken: Vec::new(),
                    free: Vec::new(),
                }),
            });
            let mut news = room.subscribe();
            news.borrow_and_update();
            pusher = Some(Pusher {
                room: room.clone(),
                members: members.clone(),
                news,
            });
            members
        });
        let slot = {
            let mut slots = lock(&members.slots);
            match slots.free.pop() {
                Some(slot) => {
                    slots.taken[slot] = Some(outbox);
                    slot
                }
                None => {
                    slots.taken.push(Some(outbox));
                    slots.taken.len() - 1
                }
            }
        };
        let membership = Membership {
            members: members.clone(),
            slot,
        };
        (membership, pusher)
    }
}

/// What starting a room's pusher takes from the server that holds it.
pub(crate) struct Parts<'a, M> {
    pub push: &'a Push<M>,
    pub hub: &'a Hub<M>,
    pub tasks: &'a TaskTracker,
    pub stop: &'a CancellationToken,
    pub max_batch: usize,
}

/// Puts `outbox` among `room`'s connections in the server `holder` (its [`Parts`] reached with
/// `parts`) and, for the room's first connection, starts the room's pusher.
pub(crate) fn join<H, M>(
    holder: &Arc<H>,
    parts: for<'a> fn(&'a H) -> Parts<'a, M>,
    room: &Room,
    outbox: Arc<Outbox<M>>,
) -> Membership<M>
where
    H: Send + Sync + 'static,
    M: OnWire + Send + Sync + 'static,
{
    let server = parts(holder);
    let (membership, pusher) = server.push.enter(room, outbox);
    if let Some(pusher) = pusher {
        let holder = holder.clone();
        server.tasks.spawn(async move {
            let server = parts(&holder);
            pusher.run(server.hub, server.max_batch, server.stop).await;
        });
    }
    membership
}

impl<M: OnWire> Pusher<M> {
    /// Writes the room's news to its connections until the server stops: a round per change,
    /// after letting the runtime run once (what publishers read meanwhile rides the same writes).
    pub(crate) async fn run(mut self, hub: &Hub<M>, max_batch: usize, stop: &CancellationToken) {
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                changed = self.news.changed() => if changed.is_err() { return },
            }
            tokio::task::yield_now().await;
            self.news.borrow_and_update();
            let mut next = 0;
            loop {
                let done = {
                    let slots = lock(&self.members.slots);
                    let end = (next + TURN).min(slots.taken.len());
                    for outbox in slots.taken[next..end].iter().flatten() {
                        outbox.offer(hub, &self.room, max_batch);
                    }
                    next = end;
                    next >= slots.taken.len()
                };
                if done {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
    }
}

/// One connection's sending side, shared by its room's pusher and its own task.
#[derive(Debug)]
pub(crate) struct Outbox<M> {
    /// The socket the pusher writes to; `None` (TLS): only the connection's task writes.
    socket: Option<Arc<TcpStream>>,
    sending: Mutex<Sending<M>>,
    /// Tells the connection's task that the socket is its to write: the pusher left frames, or
    /// found it broken.
    wake: Notify,
    /// Which bytes of each message the connection is sent.
    form: Form,
}

#[derive(Debug)]
struct Sending<M> {
    /// The last message written whole (or taken into `unsent`).
    cursor: u64,
    /// Frames taken from the ring that the socket has not taken whole, the first `offset` bytes
    /// of the first one written.
    unsent: Vec<M>,
    offset: usize,
    /// The connection's task has the socket: the pusher leaves it alone.
    held: bool,
    /// A write failed: the connection is over.
    broken: bool,
}

impl<M: OnWire> Outbox<M> {
    /// The outbox of a connection that has been sent everything up to `cursor`.
    pub(crate) fn new(socket: Option<Arc<TcpStream>>, cursor: u64) -> Self {
        Outbox {
            socket,
            sending: Mutex::new(Sending {
                cursor,
                unsent: Vec::new(),
                offset: 0,
                held: false,
                broken: false,
            }),
            wake: Notify::new(),
            form: Form::Plain,
        }
    }

    /// The same outbox, sending each message's `form`.
    pub(crate) fn with_form(self, form: Form) -> Self {
        Outbox { form, ..self }
    }

    /// Waits until the pusher hands the socket to the connection's task ([`Outbox::send`] then).
    pub(crate) async fn handed_over(&self) {
        self.wake.notified().await;
    }

    /// The pusher's turn at this connection: every frame after its cursor, written without
    /// waiting; what the socket does not take goes to the connection's task.
    fn offer(&self, hub: &Hub<M>, room: &Room, max_batch: usize) {
        let mut sending = lock(&self.sending);
        if sending.held || sending.broken || sending.cursor >= room.latest() {
            return;
        }
        let Some(socket) = &self.socket else {
            sending.held = true;
            drop(sending);
            self.wake.notify_one();
            return;
        };
        loop {
            let cursor = sending.cursor;
            let (next, written) =
                hub.read_in_place(room, cursor, max_batch, |span, older, newer| {
                    let write = |slices: &[IoSlice<'_>]| attempt(socket.try_write_vectored(slices));
                    (
                        span.next_cursor,
                        write_in_place(write, older, newer, self.form),
                    )
                });
            sending.cursor = next;
            match written {
                Ok((unsent, _)) if unsent.is_empty() => {
                    if next == cursor || next >= room.latest() {
                        return;
                    }
                }
                Ok((unsent, offset)) => {
                    (sending.unsent, sending.offset, sending.held) = (unsent, offset, true);
                    break;
                }
                Err(_) => {
                    sending.broken = true;
                    break;
                }
            }
        }
        drop(sending);
        self.wake.notify_one();
    }

    /// The connection's task writes what the pusher left and every frame after the cursor, until
    /// it has caught up with the room; then the socket is the pusher's again.
    pub(crate) async fn send<W: AsyncWrite + Unpin>(
        &self,
        out: &mut W,
        hub: &Hub<M>,
        room: &Room,
        max_batch: usize,
    ) -> io::Result<()> {
        self.write_own(out, &[], hub, room, max_batch).await
    }

    /// [`Outbox::send`], with `own` (the connection's own frames: a pong, a ping) written first
    /// after what the pusher left, so no frame is cut by another.
    pub(crate) async fn write_own<W: AsyncWrite + Unpin>(
        &self,
        out: &mut W,
        own: &[u8],
        hub: &Hub<M>,
        room: &Room,
        max_batch: usize,
    ) -> io::Result<()> {
        self.take_over(out).await?;
        if !own.is_empty() {
            out.write_all(own).await?;
        }
        loop {
            let (read, unsent) = if out.is_write_vectored() {
                // Written from the ring itself while the socket takes it; only what it leaves is copied.
                std::future::poll_fn(|cx| {
                    let mut sending = lock(&self.sending);
                    let cursor = sending.cursor;
                    Poll::Ready(
                        hub.read_in_place(room, cursor, max_batch, |span, older, newer| {
                            sending.cursor = span.next_cursor;
                            let write = |slices: &[IoSlice<'_>]| {
                                Pin::new(&mut *out).poll_write_vectored(cx, slices)
                            };
                            (
                                older.len() + newer.len(),
                                write_in_place(write, older, newer, self.form),
                            )
                        }),
                    )
                })
                .await
            } else {
                let mut sending = lock(&self.sending);
                let batch = hub.read_after(room, sending.cursor, max_batch);
                sending.cursor = batch.next_cursor;
                (batch.messages.len(), Ok((batch.messages, 0)))
            };
            let (frames, offset) = unsent?;
            write_frames(out, &frames, offset, self.form).await?;
            if read > 0 && lock(&self.sending).cursor < room.latest() {
                continue;
            }
            out.flush().await?;
            // Checked again under the lock: a publish during the flush found the socket held, and
            // its pusher round has passed this connection by.
            let mut sending = lock(&self.sending);
            if sending.cursor >= room.latest() {
                sending.held = false;
                return Ok(());
            }
        }
    }

    /// Takes the socket from the pusher and writes whatever it left. Nothing more is pushed until
    /// [`Outbox::write_own`] hands it back; a connection that is closing never does.
    pub(crate) async fn take_over<W: AsyncWrite + Unpin>(&self, out: &mut W) -> io::Result<()> {
        loop {
            let (frames, offset) = {
                let mut sending = lock(&self.sending);
                if sending.broken {
                    return Err(io::ErrorKind::BrokenPipe.into());
                }
                sending.held = true;
                (
                    std::mem::take(&mut sending.unsent),
                    std::mem::take(&mut sending.offset),
                )
            };
            if frames.is_empty() {
                return Ok(());
            }
            write_frames(out, &frames, offset, self.form).await?;
        }
    }
}

/// A TCP socket shared with a room's pusher, as the connection's task reads and writes it.
#[derive(Debug, Clone)]
pub(crate) struct SharedTcp(pub Arc<TcpStream>);

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// One write attempt as a poll: `Pending` when the socket would block (its readiness is then
/// cleared, so waiting for it again waits for room).
fn attempt(done: io::Result<usize>) -> Poll<io::Result<usize>> {
    match done {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
        done => Poll::Ready(done),
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            if let Poll::Ready(done) = attempt(self.0.try_write_vectored(bufs)) {
                return Poll::Ready(done);
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Ends the sending direction (a FIN after what was written), as `TcpStream`'s own does.
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        use std::os::fd::AsFd;
        let shut = nix::sys::socket::shutdown(
            std::os::fd::AsRawFd::as_raw_fd(&self.0.as_fd()),
            nix::sys::socket::Shutdown::Write,
        );
        Poll::Ready(shut.map_err(io::Error::from))
    }
}

/// The lock, also after a panic elsewhere: every update under it is a plain assignment, so the
/// state it guards stays whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
