//! WebSocket server: `GET /ws` upgrades; every text or binary message a client sends is broadcast
//! to every connected client, sender included, as the classic Node `ws` chat server does. Pings are
//! answered. `GET /ws?room=K` joins room K instead: the client then receives only what is
//! published into K and publishes into K (a bad room id gets 400, a new room past the server's
//! limit 503, both before any upgrade).
//!
//! The opening handshake goes through hyper, so a bad request gets a real HTTP answer (400 for an
//! upgrade without the right headers, 404 elsewhere, 431 for oversized headers) and slow headers
//! hit the header timeout. The upgraded connection then runs on our RFC 6455 codec
//! ([`crate::codec::ws`]): frames are read into the thread's scratch buffer and decoded there
//! (unmasked in place, UTF-8 checked, size-limited); protocol violations close the connection
//! with the RFC 6455 code (1002 protocol error, 1007 invalid UTF-8, 1009 message too big);
//! everyone else keeps being served.
//!
//! A browser cannot set `Authorization` on a WebSocket, so when a token is configured the upgrade
//! also accepts it as the subprotocol `wsbench.bearer.<token as hex>` (the way Kubernetes takes a
//! bearer token from browsers), and echoes that subprotocol in the 101 as RFC 6455 requires.
//!
//! A client may ask to be resumable (`?resume=1`): the 101 then says where its stream starts
//! (`x-cursor: N`, the number of the last message before its first frame), so it can count its
//! way along and, after a lost connection, come back with `?resume=1&since=N`. The server replays
//! what its ring (or, with instances, the shared log) still holds after `N`, then goes live, with
//! no gap and no duplicate; what was overwritten meanwhile is announced in the 101 as
//! `x-missed: K`, and a cursor ahead of a restarted server as `x-reset: 1` (the stream is then
//! read from its start), as long-poll answers say them. A plain client's bytes are unchanged.
//!
//! A published message is framed once ([`Framed`]: header and payload in one shared buffer). The
//! room's pusher ([`super::push`]) writes each connection's new frames straight into its socket,
//! one non-blocking vectored write per connection per batch of news, from the ring itself; the
//! connection's own task reads the client, and writes only what a full socket left (and, over
//! TLS, everything). A client that falls more than the ring behind skips what was overwritten
//! and sees the gap in the sequence numbers.
//!
//! permessage-deflate (RFC 7692) is negotiated and applied by [`super::deflate`]: compressed
//! once per broadcast without server context takeover, per connection with it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, UPGRADE,
};
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::time::{Instant, Interval, MissedTickBehavior, interval_at, sleep_until};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_util::either::Either;

use super::framed::Framed;
use super::hub::Room;
use super::push::{self, Outbox, SharedTcp};
use super::writer::Writer;
use super::{Limits, ServerError, State};
use crate::codec::ws::negotiate::Agreed;
use crate::codec::ws::{ControlOp, Decoder, Message, OpCode, encode_close, encode_frame};
use crate::protocol::{CURSOR, MISSED, RESET, RoomId, WS_PATH};
use crate::wire::scratch;

/// Close codes the server sends (RFC 6455 §7.4.1).
const NORMAL: u16 = 1000;
const GOING_AWAY: u16 = 1001;
const POLICY: u16 = 1008;

pub use super::bearer::BEARER_PROTOCOL;
use super::bearer::bearer_protocol;

/// Serves WebSocket clients on `listener` until `shutdown` completes (or the shared log, if
/// joined, is lost), then closes every connection with 1001 (going away) and waits for them.
pub async fn serve(
    listener: TcpListener,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    backplane: Option<super::Instance>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    // WebSocket clients join at the current end and never hold a poll.
    let hub = limits.hub(|m: &Framed| m.frame().len());
    let ring = limits.ring_capacity;
    let state = Arc::new(State::new(hub, std::time::Duration::ZERO, limits));
    let mut relay =
        super::joined::join_log(backplane.as_ref(), ring, Framed::RELAYED, &state, |s| {
            &s.hub
        })
        .await?;
    let result = super::joined::accept_while_joined(&listener, shutdown, relay.as_mut(), |tcp| {
        let (task_state, tls) = (state.clone(), tls.clone());
        state.tasks.spawn(async move {
            let within = task_state.limits.header_timeout;
            if let Some(conn) = super::secure(tcp, tls.as_ref(), within).await {
                handshake(conn, task_state).await;
            }
        });
    })
    .await;
    super::drain::stop(listener, &state.stop, &state.tasks, relay).await;
    result
}

/// Serves the HTTP side of one connection: the upgrade request, answered by [`upgrade`].
async fn handshake(conn: super::Conn, state: Arc<State<Framed>>) {
    let service = {
        let state = state.clone();
        service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(upgrade(req, state)) }
        })
    };
    // HTTP/1.1 upgrades, or HTTP/2 extended CONNECTs ([`super::ws_h2`]).
    super::ws_h2::serve_connection(conn, &state.limits, &state.stop, service).await;
}

/// Answers one request: 101 and a connection task for a valid upgrade on [`WS_PATH`] (200 for an
/// HTTP/2 extended CONNECT, RFC 8441), else an error status.
///
/// The client joins the stream at the hub's end as of this answer: whatever is published after
/// the 101 (which a client may take as its cue to publish) reaches it.
pub(crate) fn upgrade(
    mut req: Request<Incoming>,
    state: Arc<State<Framed>>,
) -> Response<Empty<Bytes>> {
    let status = |code: StatusCode| {
        let mut response = Response::new(Empty::new());
        *response.status_mut() = code;
        response
    };
    if req.uri().path() != WS_PATH {
        return status(StatusCode::NOT_FOUND);
    }
    let headers = req.headers();
    let bearer = bearer_protocol(headers);
    let token = state.limits.token.as_deref();
    let by_protocol = bearer
        .as_ref()
        .is_some_and(|(_, given)| Some(given.as_str()) == token);
    if !by_protocol && !super::authorized(headers, token) {
        return status(StatusCode::UNAUTHORIZED);
    }
    let has = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let key = headers
        .get(SEC_WEBSOCKET_KEY)
        .map(|k| derive_accept_key(k.as_bytes()));
    let version_ok = headers
        .get("sec-websocket-version")
        .is_some_and(|v| v.as_bytes() == b"13");
    // HTTP/2 (RFC 8441): an extended CONNECT, answered 200 with no accept key.
    let accept = if req.version() == Version::HTTP_2 {
        if !(super::ws_h2::is_extended_connect(&req) && version_ok) {
            return status(StatusCode::BAD_REQUEST);
        }
        None
    } else {
        let (Some(accept), true, true, true) = (
            key,
            req.method() == Method::GET,
            has(CONNECTION, "upgrade") && has(UPGRADE, "websocket"),
            version_ok,
        ) else {
            return status(StatusCode::BAD_REQUEST);
        };
        Some(accept)
    };
    let Some(room) = RoomId::from_query(req.uri().query()) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let Ok(room) = state.hub.room(room) else {
        return status(StatusCode::SERVICE_UNAVAILABLE);
    };
    let Some(resume) = Resume::from_query(req.uri().query()) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let deflate = super::deflate::negotiate(req.headers());
    let agreed = deflate.as_ref().map(|(agreed, _)| *agreed);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let (cursor, resumed) = match resume {
        Resume::Plain => (room.latest(), None),
        Resume::Fresh => (room.latest(), Some((room.latest(), 0, false))),
        Resume::After(since) => {
            // The gap or reset before the first message after `since`; nothing read yet.
            let span = state.hub.span(&room, since, 0);
            let cursor = if span.reset { 0 } else { since } + span.missed;
            (cursor, Some((cursor, span.missed, span.reset)))
        }
    };
    let task_state = state.clone();
    state.tasks.spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            upgraded_connection(upgraded, &task_state, (room, cursor, agreed)).await;
        }
    });
    let mut response = status(match accept {
        Some(_) => StatusCode::SWITCHING_PROTOCOLS,
        None => StatusCode::OK,
    });
    let h = response.headers_mut();
    if let Some(accept) = accept {
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            SEC_WEBSOCKET_ACCEPT,
            HeaderValue::from_str(&accept).expect("base64 is a valid header value"),
        );
    }
    if let Some((protocol, _)) = bearer {
        h.insert(SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    if let Some((_, answer)) = deflate {
        h.insert(SEC_WEBSOCKET_EXTENSIONS, answer);
    }
    if let Some((cursor, missed, reset)) = resumed {
        h.insert(CURSOR, HeaderValue::from(cursor));
        if missed > 0 {
            h.insert(MISSED, HeaderValue::from(missed));
        }
        if reset {
            h.insert(RESET, HeaderValue::from_static("1"));
        }
    }
    response
}

/// What an upgrade asks of the stream's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resume {
    /// No `resume`: the plain protocol, at the end of the stream, told nothing.
    Plain,
    /// `resume=1`: at the end of the stream, told where that is.
    Fresh,
    /// `resume=1&since=N`: after message `N`.
    After(u64),
}

impl Resume {
    /// The request's `resume` and `since` (anywhere among its pairs); `None` if either is not a
    /// number, or `since` comes without `resume=1`.
    fn from_query(query: Option<&str>) -> Option<Resume> {
        let (mut resume, mut since) = (false, None);
        for pair in query.unwrap_or_default().split('&') {
            if let Some(v) = pair.strip_prefix("resume=") {
                resume = v.parse::<u8>().ok()? == 1;
            } else if let Some(v) = pair.strip_prefix("since=") {
                since = Some(v.parse::<u64>().ok()?);
            }
        }
        match (resume, since) {
            (false, None) => Some(Resume::Plain),
            (false, Some(_)) => None,
            (true, None) => Some(Resume::Fresh),
            (true, Some(n)) => Some(Resume::After(n)),
        }
    }
}

/// How a connection's read ended.
enum Read {
    /// Bytes were read and every whole message in them handled; the connection goes on.
    More,
    /// The client closed (a close frame, answered, or the end of the stream), or broke the
    /// protocol and was sent the close code for it: the connection is over.
    Done,
}

/// Takes the connection out of hyper's upgraded stream: plain TCP is shared with the room's
/// pusher, which writes the news into it; TLS (only this task can encrypt) and a stream that is
/// not ours stay this task's to write, boxed. Not an async fn: one would keep room for the TLS
/// stream it moved out, and a plain connection's task would be 3.5 KiB instead of 0.9. `at`: the
/// room, the cursor and the deflate agreed.
fn upgraded_connection(
    upgraded: Upgraded,
    state: &Arc<State<Framed>>,
    at: (Room, u64, Option<Agreed>),
) -> Either<impl Future<Output = ()> + Send + '_, Pin<Box<dyn Future<Output = ()> + Send + '_>>> {
    // Ours, or one the page server's ([`super::all`]) `auto` builder wraps once more. Early bytes
    // are copied out: as `Bytes` they would hold hyper's 8 KiB read buffer as long as the connection.
    let parts = upgraded
        .downcast::<TokioIo<super::Conn>>()
        .map(|parts| (parts.io, parts.read_buf.to_vec()))
        .or_else(|upgraded| {
            auto::upgrade::downcast::<TokioIo<super::Conn>>(upgraded)
                .map(|parts| (parts.io, parts.read_buf.to_vec()))
        });
    match parts {
        Ok((io, early)) => match io.into_inner().into_inner() {
            Either::Left(tcp) => {
                let tcp = Arc::new(tcp);
                let io = SharedTcp(tcp.clone());
                Either::Left(connection(io, Some(tcp), early, state, at))
            }
            Either::Right(tls) => Either::Right(Box::pin(connection(tls, None, early, state, at))),
        },
        Err(up) => {
            let io = TokioIo::new(up);
            Either::Right(Box::pin(connection(io, None, Vec::new(), state, at)))
        }
    }
}

/// Runs one upgraded connection, which joined `room` after `cursor` (having `agreed` deflate), until
/// it closes, errs, idles out or the server stops. `early`: what the client sent after its upgrade.
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    socket: Option<Arc<tokio::net::TcpStream>>,
    early: Vec<u8>,
    state: &Arc<State<Framed>>,
    (room, cursor, agreed): (Room, u64, Option<Agreed>),
) {
    let (hub, limits, stop) = (&state.hub, &state.limits, &state.stop);
    let (io, socket, form) = super::deflate::hook(io, socket, agreed);
    let outbox = Arc::new(Outbox::new(socket, cursor).with_form(form));
    let _membership = push::join(state, State::push_parts, &room, outbox.clone());
    let mut out = Writer {
        io,
        outbox,
        hub,
        room: &room,
        max_batch: limits.max_batch,
    };
    // What was published between the 101 and joining the pushes would otherwise wait for the next.
    if room.latest() > cursor && out.news().await.is_err() {
        return;
    }
    let mut decoder = super::deflate::decoder(limits, agreed);
    decoder.feed(&early);
    drop(early);
    if matches!(handle(&mut out, &mut decoder).await, Read::Done) {
        return;
    }
    // Created once and reset, not re-created per message: a fresh `cancelled()` or `sleep` per
    // wake-up would register and drop a waiter or a timer entry each time.
    let stopped = stop.cancelled();
    let idle = sleep_until(Instant::now() + limits.idle_timeout);
    let mut heartbeat = limits.ws_ping.map(|every| {
        let mut beat = interval_at(Instant::now() + every, every);
        // A connection busy past a tick pings once late, not once per missed tick.
        beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        beat
    });
    tokio::pin!(stopped, idle);
    loop {
        // Reads first: a publisher reads everything its client sent before it sends anything,
        // so a burst is published (and fanned out) together.
        tokio::select! {
            biased;
            _ = &mut stopped => {
                out.last(&close_frame(GOING_AWAY, "server shutting down"), true).await;
                super::drain::websocket(&mut out.io, &mut decoder, hub, &room).await;
                return;
            }
            read = scratch::read_with(&mut out.io, |bytes| {
                decoder.feed(bytes);
                bytes.len()
            }) => {
                if !matches!(read, Ok(n) if n > 0) {
                    return;
                }
                idle.as_mut().reset(Instant::now() + limits.idle_timeout);
                if matches!(handle(&mut out, &mut decoder).await, Read::Done) {
                    return;
                }
            }
            () = out.outbox.handed_over() => {
                if out.news().await.is_err() {
                    return;
                }
            }
            _ = &mut idle => {
                out.last(&close_frame(POLICY, "idle timeout"), true).await;
                return;
            }
            _ = tick(heartbeat.as_mut()) => {
                // The server's heartbeat: an empty ping (RFC 6455 §5.5.2), two bytes.
                if out.own(&[0x89, 0x00]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The next tick of the heartbeat, or never without one.
async fn tick(heartbeat: Option<&mut Interval>) {
    match heartbeat {
        Some(h) => {
            h.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Publishes every whole message the decoder holds into `room` and answers pings and a close; an
/// error gets its close code.
async fn handle<S: AsyncWrite + Unpin>(out: &mut Writer<'_, S>, decoder: &mut Decoder) -> Read {
    let (hub, room) = (out.hub, out.room);
    let mut replies = Vec::new();
    let mut end = None;
    loop {
        match decoder.next_message() {
            Ok(Some(Message::Text(text))) => {
                hub.publish(room, Framed::new(text.as_bytes(), true));
            }
            Ok(Some(Message::Binary(bytes))) => {
                hub.publish(room, Framed::new(bytes, false));
            }
            Ok(Some(Message::Ping(payload))) => {
                // A ping's payload is at most 125 bytes (the decoder enforces it), so its pong encodes.
                let _ = encode_frame(
                    &mut replies,
                    OpCode::Control(ControlOp::Pong),
                    payload,
                    None,
                );
            }
            Ok(Some(Message::Pong(_))) => {}
            Ok(Some(Message::Close(frame))) => {
                // Echo the client's code (RFC 6455 §5.5.1), then the connection is over.
                let code = frame.map_or(NORMAL, |f| f.code);
                let _ = encode_close(&mut replies, code, "", None);
                end = Some(Read::Done);
                break;
            }
            Ok(None) => break,
            Err(e) => {
                let _ = encode_close(&mut replies, e.close_code(), "", None);
                // The close code tells the client what it did; nothing is logged (a hostile
                // client or a fuzzer would flood the log).
                end = Some(Read::Done);
                break;
            }
        }
    }
    decoder.release_if_empty();
    if let Some(end) = end {
        // A close (echoed or for an error) is the last frame: nothing is pushed after it.
        out.last(&replies, false).await;
        return end;
    }
    if !replies.is_empty() && out.own(&replies).await.is_err() {
        return Read::Done;
    }
    Read::More
}

/// A close frame with `code` and `reason`, which the server sends to end the connection.
fn close_frame(code: u16, reason: &'static str) -> Vec<u8> {
    let mut frame = Vec::new();
    let _ = encode_close(&mut frame, code, reason, None);
    frame
}
