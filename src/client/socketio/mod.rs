//! Socket.IO clients (Engine.IO v4, Socket.IO v5), as socket.io-client speaks to a server: over
//! HTTP long-polling, over WebSocket, or starting on polling and upgrading to WebSocket.
//!
//! Each is a [`Connection`] the WebSocket subscriber loop drives ([`super::ws::session`]): it
//! publishes by emitting the scenario's event with the envelope as its argument, hands every
//! event of its namespace to the inbox (which finds the envelope inside the JSON), answers the
//! server's pings with pongs, and takes a server silent for its announced ping interval and
//! timeout for dead. A session that breaks is a fresh join, as the official client's reconnect
//! is without connection-state recovery; with `recovery = true` it asks the server to recover it
//! ([`Recovery`]).
//!
//! # Layout
//! - [`polling`]: a session over long-polling (a `GET` always in flight, `POST`s for what the
//!   client sends, one at a time as Engine.IO requires).
//! - [`websocket`]: a session over WebSocket, opened directly or upgraded from polling.

mod polling;
mod websocket;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::ctx::Ctx;
use super::failure::ConnectError;
use super::inbox::Inbox;
use super::ws::{Connection, Dial, Received, Resuming, StackCursor, WsError};
use crate::codec::engineio::{self, Handshake};
use crate::metrics::{Counts, FailureKind};
use crate::protocol::RoomId;
use crate::scenario::{SocketIo, SocketIoMode, Transport};

/// Subscriber `index` in `room`, connecting at `slot`; publishes too if `index < publishers`.
pub(super) async fn subscriber(
    ctx: Arc<Ctx>,
    index: u32,
    room: RoomId,
    slot: Instant,
    slow: bool,
) -> Inbox {
    super::ws::session::<Session>(ctx, index, room, slot, None, slow).await
}

/// A session on either carrier.
pub(in crate::client) enum Session {
    /// Long-polling (by choice, or an upgrade whose probe failed).
    Polling(Box<polling::Polling>),
    /// WebSocket (directly, or upgraded).
    WebSocket(Box<websocket::OverWs>),
}

/// The Socket.IO options of the run's target; a target of another protocol is a bug upstream,
/// reported as a failed connect rather than a panic.
fn options(ctx: &Ctx) -> Result<&SocketIo, ConnectError> {
    match &ctx.target.transport {
        Transport::SocketIo(options) => Ok(options),
        _ => Err(ConnectError::new(
            FailureKind::Other,
            "not a Socket.IO target",
        )),
    }
}

/// The Engine.IO URL path for `transport` (`polling` or `websocket`), in session `sid` if any.
fn engine_path(options: &SocketIo, transport: &str, sid: Option<&str>) -> String {
    let mut path = format!("{}?EIO=4&transport={transport}", options.path);
    if let Some(sid) = sid {
        path.push_str("&sid=");
        path.push_str(sid);
    }
    path
}

/// How long a session may go without a packet from the server before it is taken for dead: the
/// server pings every interval and gives up after the timeout, so a healthy one is never quieter.
fn silence_limit(h: &Handshake) -> Duration {
    h.ping_interval + h.ping_timeout
}

/// A protocol failure on an established session.
fn broken(what: impl std::fmt::Display) -> WsError {
    WsError::Stack(ConnectError::new(
        FailureKind::Protocol,
        format!("socket.io: {what}"),
    ))
}

/// Connection-state recovery as socket.io-client does it (`recovery = true`): the session id the
/// server's connect answer gives (`pid`) and the offset of the last event read (the server
/// appends it to every event as the last argument) go into the next session's connect; the
/// server then restores the session, its rooms too, replays what was emitted since that offset
/// and answers with the same `pid`. An answer with another `pid` is a session not recovered,
/// counted: what was emitted while away is lost, as on a fresh join.
#[derive(Debug, Default)]
struct Recovery {
    /// The scenario asked for it; otherwise nothing is kept and the connect asks nothing.
    on: bool,
    /// The session asked to recover on this connect, then the one the server answered with.
    pid: Option<String>,
    /// The offset of the last event handed on.
    offset: Option<String>,
    /// Connects answered with a new session since the last tally.
    refused: u64,
}

impl Recovery {
    /// For a session that resumes as `resuming` says (where the previous one stood, if anywhere).
    fn new(options: &SocketIo, resuming: &Resuming) -> Recovery {
        let mut recovery = Recovery {
            on: options.recovery,
            ..Recovery::default()
        };
        if let (true, Resuming::Stack(cursor)) = (recovery.on, resuming) {
            recovery.pid = Some(cursor.session.clone());
            recovery.offset = Some(cursor.offset.clone());
        }
        recovery
    }

    /// The namespace connect: `40`, or `40{"pid":…,"offset":…}` when there is a session to
    /// recover.
    fn connect(&self, namespace: &str) -> Vec<u8> {
        match (&self.pid, &self.offset) {
            (Some(pid), Some(offset)) => engineio::connect_recovering(namespace, pid, offset),
            _ => engineio::connect(namespace),
        }
    }

    /// The server's connect answer (its JSON): the session to recover next time.
    fn connected(&mut self, json: &[u8]) {
        if !self.on {
            return;
        }
        let pid = engineio::connect_pid(json);
        let asked = self.pid.is_some() && self.offset.is_some();
        if asked && pid != self.pid {
            self.refused += 1;
            self.offset = None;
        }
        self.pid = pid;
    }

    /// An event packet handed on: the place to recover after.
    fn read(&mut self, packet: &[u8], namespace: &str) {
        if !self.on {
            return;
        }
        let Ok(engineio::Packet::Message(m)) = engineio::packet(packet) else {
            return;
        };
        let engineio::SocketIo::Event(json) = engineio::socketio(m, namespace) else {
            return;
        };
        if let Some(offset) = engineio::event_offset(json) {
            let kept = self.offset.get_or_insert_with(String::new);
            kept.clear();
            kept.push_str(offset);
        }
    }

    /// Where the session stands, once it has both a session id and an offset.
    fn cursor(&self) -> Option<StackCursor> {
        Some(StackCursor {
            session: self.pid.clone()?,
            offset: self.offset.clone()?,
        })
    }

    /// Moves the count of sessions not recovered into the run's.
    fn tally(&mut self, counts: &mut Counts) {
        counts.not_recovered += std::mem::take(&mut self.refused);
    }
}

/// The packets the session hands on, and what they told it, for one batch of received packets.
#[derive(Debug, Default)]
struct Seen {
    /// Events of our namespace (handed to the inbox).
    events: u64,
    /// Pings to answer.
    pings: u32,
    /// The server closed the session or left the namespace.
    closed: bool,
}

/// Reads one Engine.IO packet of an established session: events go to `on_data` whole (the
/// envelope is inside the JSON), pings are counted to be answered.
fn take_packet(
    bytes: &[u8],
    namespace: &str,
    seen: &mut Seen,
    recovery: &mut Recovery,
    on_data: &mut impl FnMut(&[u8]),
) -> Result<(), WsError> {
    match engineio::packet(bytes).map_err(broken)? {
        engineio::Packet::Ping(_) => seen.pings += 1,
        engineio::Packet::Close => seen.closed = true,
        engineio::Packet::Message(m) => match engineio::socketio(m, namespace) {
            engineio::SocketIo::Event(_) => {
                on_data(bytes);
                recovery.read(bytes, namespace);
                seen.events += 1;
            }
            engineio::SocketIo::Disconnect => seen.closed = true,
            engineio::SocketIo::ConnectError(why) => {
                return Err(broken(format_args!(
                    "the server refused the namespace: {}",
                    String::from_utf8_lossy(why)
                )));
            }
            engineio::SocketIo::Connect(_) | engineio::SocketIo::Other => {}
        },
        engineio::Packet::Open(_)
        | engineio::Packet::Pong(_)
        | engineio::Packet::Upgrade
        | engineio::Packet::Noop => {}
    }
    Ok(())
}

/// Socket.IO resumes by its own protocol (connection-state recovery), not by ours: only a
/// [`Resuming::Stack`] cursor is used, and only when the scenario asks for recovery.
impl Dial for Session {
    async fn dial(ctx: &Arc<Ctx>, room: RoomId, resuming: Resuming) -> Result<Self, ConnectError> {
        let options = options(ctx)?;
        let recovery = Recovery::new(options, &resuming);
        match options.mode {
            SocketIoMode::Polling => Ok(Session::Polling(Box::new(
                polling::Polling::dial(ctx, options, room, recovery).await?,
            ))),
            SocketIoMode::WebSocket => Ok(Session::WebSocket(Box::new(
                websocket::OverWs::dial(ctx, options, room, recovery).await?,
            ))),
            SocketIoMode::Upgrade => {
                let polled = polling::Polling::dial(ctx, options, room, recovery).await?;
                websocket::OverWs::upgrade(ctx, options, polled).await
            }
        }
    }
}

impl Connection for Session {
    async fn send_text(&mut self, text: Vec<u8>) -> Result<(), WsError> {
        match self {
            Session::Polling(p) => p.send_text(text).await,
            Session::WebSocket(w) => w.send_text(text).await,
        }
    }

    async fn ping(&mut self) -> Result<(), WsError> {
        // Engine.IO v4 clients do not ping: the server does, and the session answers.
        Ok(())
    }

    async fn next(&mut self, on_data: impl FnMut(&[u8]) + Send) -> Result<Received, WsError> {
        match self {
            Session::Polling(p) => p.next(on_data).await,
            Session::WebSocket(w) => w.next(on_data).await,
        }
    }

    async fn close(&mut self) {
        match self {
            Session::Polling(p) => p.close().await,
            Session::WebSocket(w) => w.close().await,
        }
    }

    fn tally(&mut self, counts: &mut Counts) {
        match self {
            Session::Polling(p) => p.tally(counts),
            Session::WebSocket(w) => w.tally(counts),
        }
    }

    fn stack_cursor(&self) -> Option<StackCursor> {
        match self {
            Session::Polling(p) => p.recovery.cursor(),
            Session::WebSocket(w) => w.recovery.cursor(),
        }
    }
}
