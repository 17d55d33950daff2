//! The `raw` transport: the hub over bare TCP, the floor under every protocol. A client connects
//! and from then on receives every message published, each as a 4-byte big-endian length and its
//! bytes ([`crate::codec::raw`]); whatever it writes in the same framing is published to everyone,
//! sender included. No handshake, no heads, no masking, no authentication (a server started with
//! a token refuses to serve raw), no TLS.
//!
//! Rooms: a client that sends the 8-byte room preamble ([`crate::protocol::raw_room_preamble`]:
//! `ROOM` and the room id, big-endian) as the first bytes of its connection moves from room 0 to
//! that room (joining at its current end) and publishes into it; any other first bytes are a
//! message and the client stays in room 0. A room past the server's limit closes the connection.
//!
//! Resuming: a client that sends the 16-byte resume preamble instead
//! ([`crate::protocol::raw_resume_preamble`]: `SINC`, the room, the last message it read) is
//! answered with a cursor record ([`crate::protocol::raw_cursor_record`]) before any message: where
//! its stream starts, what the ring no longer held, and whether its cursor was ahead of a
//! restarted server, as a WebSocket 101's `x-cursor`, `x-missed` and `x-reset` say. Then the ring's
//! messages after that cursor, once each, then the live ones.
//!
//! It runs like the other transports so that a run can say what each protocol costs over TCP:
//! the same hub, the same pushes ([`super::push`]: frames encoded once, written into every
//! socket by the room's pusher), and the same bounds (message size, ring, idle time).

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::hub::{Hub, Room};
use super::push::{self, Membership, Outbox, Parts, Push, SharedTcp};
use super::relay::Codec;
use super::{Limits, ServerError};
use crate::codec::raw::{Decoder, PREFIX, Preamble, encode};
use crate::protocol::{RoomId, raw_cursor_record};

/// Bytes one read takes from a socket, into the thread's scratch buffer.
const READ_CHUNK: usize = 64 * 1024;

thread_local! {
    /// Reads land here and only an incomplete frame is kept by the connection, so an idle
    /// connection holds no read buffer (the server runs on one thread: one buffer in all).
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

#[derive(Debug)]
struct State {
    hub: Hub<Bytes>,
    limits: Limits,
    stop: CancellationToken,
    tasks: TaskTracker,
    push: Push<Bytes>,
}

impl State {
    /// What a room's pusher takes from the server ([`push::join`]).
    fn push_parts(&self) -> Parts<'_, Bytes> {
        Parts {
            push: &self.push,
            hub: &self.hub,
            tasks: &self.tasks,
            stop: &self.stop,
            max_batch: self.limits.max_batch,
        }
    }
}

/// Serves raw clients on `listener` until `shutdown` completes, then closes every connection and
/// waits for them.
///
/// Joined to a shared log (`backplane`), the log carries each message's payload, and each
/// instance frames it again on arrival.
pub async fn serve(
    listener: TcpListener,
    limits: Limits,
    backplane: Option<super::Instance>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let ring = limits.ring_capacity;
    let state = Arc::new(State {
        hub: limits.hub(Bytes::len),
        limits,
        stop: CancellationToken::new(),
        tasks: TaskTracker::new(),
        push: Push::default(),
    });
    let relayed = Codec {
        payload: |framed: &Bytes| framed.get(PREFIX..).unwrap_or_default(),
        text: |_| false,
        rebuild: |payload, _| encode(&payload),
    };
    let mut relay =
        super::joined::join_log(backplane.as_ref(), ring, relayed, &state, |s| &s.hub).await?;
    let result = super::joined::accept_while_joined(&listener, shutdown, relay.as_mut(), |tcp| {
        state.tasks.spawn(connection(tcp, state.clone()));
    })
    .await;
    super::drain::stop(listener, &state.stop, &state.tasks, relay).await;
    result
}

/// Why a connection ended, for nobody but the reader of this code: every case closes it.
enum End {
    Closed,
    Broken,
    /// The server is stopping: the connection is half-closed, then drained.
    Stopped,
}

/// One client until it hangs up, breaks a limit, idles out, or the server stops. A new client
/// joins at the current end of the stream.
async fn connection(tcp: TcpStream, state: Arc<State>) {
    let (hub, limits) = (&state.hub, &state.limits);
    let Ok(room) = hub.room(RoomId::LOBBY) else {
        return;
    };
    let tcp = Arc::new(tcp);
    let mut out = SharedTcp(tcp.clone());
    let mut member = Member::join(&state, room, &tcp);
    // Until the first bytes tell whether they are a room preamble.
    let mut first_bytes = true;
    let mut decoder = Decoder::new(limits.max_message_bytes);
    let stopped = state.stop.cancelled();
    let idle = sleep_until(Instant::now() + limits.idle_timeout);
    tokio::pin!(stopped, idle);
    loop {
        // Reads first: a publisher reads everything its client sent before it sends anything,
        // so a burst is published (and fanned out) together.
        let end = tokio::select! {
            biased;
            _ = &mut stopped => End::Stopped,
            readable = tcp.readable() => {
                if readable.is_err() {
                    End::Broken
                } else {
                    idle.as_mut().reset(Instant::now() + limits.idle_timeout);
                    match read_and_publish(&state, &tcp, &mut decoder, &mut member, &mut first_bytes) {
                        Ok(None) => continue,
                        Ok(Some(resume)) => match resumed(&state, &tcp, &mut out, &mut decoder, &mut member, resume).await {
                            Ok(()) => continue,
                            Err(end) => end,
                        },
                        Err(end) => end,
                    }
                }
            }
            () = member.outbox.handed_over() => {
                if member.outbox.send(&mut out, hub, &member.room, limits.max_batch).await.is_err() {
                    End::Broken
                } else {
                    continue;
                }
            }
            _ = &mut idle => End::Closed,
        };
        if matches!(end, End::Closed | End::Stopped)
            && member.outbox.take_over(&mut out).await.is_ok()
        {
            let _ = out.shutdown().await;
            if matches!(end, End::Stopped) {
                drain(&state, &tcp, &mut decoder, &mut member, &mut first_bytes).await;
            }
        }
        return;
    }
}

/// After the server's half-close: publishes what the client sent before it read the end of the
/// stream, until the client's own end (or a broken message), within [`DRAIN`](super::drain::DRAIN).
async fn drain(
    state: &Arc<State>,
    tcp: &Arc<TcpStream>,
    decoder: &mut Decoder,
    member: &mut Member,
    first_bytes: &mut bool,
) {
    let _ = tokio::time::timeout(super::drain::DRAIN, async {
        while tcp.readable().await.is_ok() {
            match read_and_publish(state, tcp, decoder, member, first_bytes) {
                Ok(None) => {}
                // A resume asked for after the end gets nothing: the server is going.
                Ok(Some(_)) | Err(_) => return,
            }
        }
    })
    .await;
}

/// A connection's place in the hub: its room, and its place in the room's pushes.
struct Member {
    room: Room,
    outbox: Arc<Outbox<Bytes>>,
    _membership: Membership<Bytes>,
}

impl Member {
    /// Joins `room` at its current end.
    fn join(state: &Arc<State>, room: Room, tcp: &Arc<TcpStream>) -> Member {
        let cursor = room.latest();
        Member::join_after(state, room, tcp, cursor)
    }

    /// Joins `room` after message `cursor`: the pushes start with the next one.
    fn join_after(state: &Arc<State>, room: Room, tcp: &Arc<TcpStream>, cursor: u64) -> Member {
        let outbox = Arc::new(Outbox::new(Some(tcp.clone()), cursor));
        let membership = push::join(state, State::push_parts, &room, outbox.clone());
        Member {
            room,
            outbox,
            _membership: membership,
        }
    }
}

/// A resume preamble's request: the room, and the last message the client read.
struct Resume {
    room: RoomId,
    since: Option<u64>,
}

/// Reads what the socket has (without waiting) and publishes every whole message in it into the
/// member's room; while `first_bytes`, a room preamble at the start moves the connection to its
/// room (joined before the messages after it are published, so the sender gets them too). A
/// resume preamble is handed back unserved, the messages after it still in the decoder: the
/// caller answers it ([`resumed`]).
fn read_and_publish(
    state: &Arc<State>,
    tcp: &Arc<TcpStream>,
    decoder: &mut Decoder,
    member: &mut Member,
    first_bytes: &mut bool,
) -> Result<Option<Resume>, End> {
    let hub = &state.hub;
    let read = SCRATCH.with_borrow_mut(|scratch| match tcp.try_read(scratch) {
        Ok(0) => Err(End::Closed),
        Ok(n) => {
            decoder.feed(&scratch[..n]);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
        Err(_) => Err(End::Broken),
    });
    read?;
    if *first_bytes {
        match decoder.room_preamble() {
            Preamble::NotYet => return Ok(None),
            Preamble::None => {}
            // A room past the limit: nothing to tell the client on this wire but the close.
            Preamble::Room(id) => {
                let room = hub.room(RoomId(id)).map_err(|_| End::Closed)?;
                *member = Member::join(state, room, tcp);
            }
            Preamble::Resume { room, since } => {
                *first_bytes = false;
                let room = RoomId(room);
                return Ok(Some(Resume { room, since }));
            }
        }
        *first_bytes = false;
    }
    publish_read(hub, decoder, member)?;
    Ok(None)
}

/// Publishes every whole message the decoder holds into the member's room.
fn publish_read(hub: &Hub<Bytes>, decoder: &mut Decoder, member: &Member) -> Result<(), End> {
    loop {
        match decoder.next_message() {
            Ok(Some(message)) => {
                hub.publish(&member.room, encode(message));
            }
            Ok(None) => break,
            // Over the size limit: the client is cut off, as a WebSocket one gets 1009.
            Err(_) => return Err(End::Broken),
        }
    }
    decoder.release_if_empty();
    Ok(())
}

/// Answers a resume preamble: takes the socket from the lobby's pusher, writes the cursor record
/// (where the stream starts, what the ring no longer held, whether the client's cursor was ahead
/// of a restarted server), joins the room after that cursor (the pusher then replays what the
/// ring holds from there), and publishes what the client sent after the preamble.
async fn resumed(
    state: &Arc<State>,
    tcp: &Arc<TcpStream>,
    out: &mut SharedTcp,
    decoder: &mut Decoder,
    member: &mut Member,
    resume: Resume,
) -> Result<(), End> {
    let hub = &state.hub;
    let room = hub.room(resume.room).map_err(|_| End::Closed)?;
    let (cursor, missed, reset) = match resume.since {
        None => (room.latest(), 0, false),
        Some(since) => {
            let span = hub.span(&room, since, 0);
            let cursor = if span.reset { 0 } else { since } + span.missed;
            (cursor, span.missed, span.reset)
        }
    };
    member
        .outbox
        .take_over(out)
        .await
        .map_err(|_| End::Broken)?;
    out.write_all(&raw_cursor_record(cursor, missed, reset))
        .await
        .map_err(|_| End::Broken)?;
    *member = Member::join_after(state, room, tcp, cursor);
    // The replay, and what was published since the record: the pusher sends only on news.
    if member.room.latest() > cursor {
        let max_batch = state.limits.max_batch;
        let sent = member.outbox.send(out, hub, &member.room, max_batch).await;
        sent.map_err(|_| End::Broken)?;
    }
    publish_read(hub, decoder, member)
}
