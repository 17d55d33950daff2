//! WebSocket server (tokio-tungstenite): `GET /ws` upgrades; every text or binary message a client
//! sends is broadcast to every connected client, sender included, as the classic Node `ws` chat
//! server does. Pings are answered.
//!
//! The opening handshake goes through hyper, so a bad request gets a real HTTP answer (400 for an
//! upgrade without the right headers, 404 elsewhere, 431 for oversized headers) and slow headers
//! hit the header timeout; the upgraded connection is then handed to tungstenite. Protocol
//! violations close the connection with the RFC 6455 code (1002 protocol error, 1007 invalid
//! UTF-8, 1009 message too big); everyone else keeps being served.
//!
//! A browser cannot set `Authorization` on a WebSocket, so when a token is configured the upgrade
//! also accepts it as the subprotocol `wsbench.bearer.<token as hex>` (the way Kubernetes takes a
//! bearer token from browsers), and echoes that subprotocol in the 101 as RFC 6455 requires.
//!
//! One task per connection reads the client and, when the hub has news, feeds every new message
//! into tungstenite's write buffer and flushes once: whatever queued up for a connection leaves in
//! one write. Messages are kept in the hub as tungstenite `Message`s, so the payload is shared,
//! not copied, across connections. A client that falls more than the ring behind skips what was
//! overwritten and sees the gap in the sequence numbers.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    UPGRADE,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

use super::hub::{Hub, Payload};
use super::{Limits, ServerError, State};
use crate::protocol::WS_PATH;

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The prefix of the subprotocol that carries a bearer token from a browser (see the module doc).
pub const BEARER_PROTOCOL: &str = "wsbench.bearer.";

/// Messages are kept as they arrived, text or binary, and broadcast with the same opcode. A
/// `POST /publish` body (on a server with every transport) becomes text when it is UTF-8, so a
/// browser gets a string whichever transport its sender used; anything else stays binary.
impl Payload for Message {
    fn from_body(body: Bytes) -> Self {
        match tungstenite::Utf8Bytes::try_from(body.clone()) {
            Ok(text) => Message::Text(text),
            Err(_) => Message::Binary(body),
        }
    }

    fn payload(&self) -> &[u8] {
        match self {
            Message::Text(text) => text.as_ref(),
            Message::Binary(bytes) => bytes,
            // The hub holds only the data messages a client sent or a body became.
            _ => &[],
        }
    }
}

/// Serves WebSocket clients on `listener` until `shutdown` completes, then closes every connection
/// with 1001 (going away) and waits for them.
pub async fn serve(
    listener: TcpListener,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    // WebSocket clients join at the current end and never hold a poll.
    let hub = Hub::new(limits.ring_capacity);
    let state = Arc::new(State::new(hub, std::time::Duration::ZERO, limits));
    let result = super::accept_until(&listener, shutdown, |tcp| {
        let (task_state, tls) = (state.clone(), tls.clone());
        state.tasks.spawn(async move {
            let within = task_state.limits.header_timeout;
            if let Some(conn) = super::secure(tcp, tls.as_ref(), within).await {
                handshake(conn, task_state).await;
            }
        });
    })
    .await;
    state.stop.cancel();
    state.tasks.close();
    state.tasks.wait().await;
    result
}

/// tungstenite settings for a server with thousands of mostly idle connections: a small read
/// buffer (tungstenite zero-fills the whole buffer on every read attempt, and the connection task
/// attempts a read each time it wakes to send) and bounded messages and writes.
pub fn config(limits: &Limits) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(64 * 1024 + 2 * limits.max_message_bytes)
        .max_message_size(Some(limits.max_message_bytes))
        .max_frame_size(Some(limits.max_message_bytes))
}

/// Serves the HTTP side of one connection: the upgrade request, answered by [`upgrade`].
async fn handshake(conn: super::Conn, state: Arc<State<Message>>) {
    let service = {
        let state = state.clone();
        service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(upgrade(req, state)) }
        })
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(state.limits.header_timeout)
        .max_buf_size(16 * 1024)
        // The 101 carries only what RFC 6455 asks for, as tungstenite's own handshake does.
        .auto_date_header(false)
        .serve_connection(TokioIo::new(conn), service)
        .with_upgrades();
    tokio::select! {
        _ = conn => {}
        _ = state.stop.cancelled() => {}
    }
}

/// Answers one request: 101 and a connection task for a valid upgrade on [`WS_PATH`], else an error status.
///
/// The client joins the stream at the hub's end as of this answer: whatever is published after
/// the 101 (which a client may take as its cue to publish) reaches it.
pub(crate) fn upgrade(
    mut req: Request<Incoming>,
    state: Arc<State<Message>>,
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
    let (Some(accept), true, true, true) = (
        key,
        req.method() == Method::GET,
        has(CONNECTION, "upgrade") && has(UPGRADE, "websocket"),
        version_ok,
    ) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let cursor = state.hub.latest();
    let task_state = state.clone();
    state.tasks.spawn(async move {
        if let Ok(upgraded) = on_upgrade.await {
            let config = config(&task_state.limits);
            let ws = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            connection(ws, &task_state, cursor).await;
        }
    });
    let mut response = status(StatusCode::SWITCHING_PROTOCOLS);
    let h = response.headers_mut();
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is a valid header value"),
    );
    if let Some((protocol, _)) = bearer {
        h.insert(SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    response
}

/// The `wsbench.bearer.<hex>` subprotocol a client offered, if any: the value to echo and the
/// token it carries. A client that offers it gets it back whether or not the server checks a
/// token, since a browser fails a connection whose offered subprotocol is not answered.
fn bearer_protocol(headers: &hyper::HeaderMap) -> Option<(HeaderValue, String)> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|offered| {
            let token = decode_hex(offered.strip_prefix(BEARER_PROTOCOL)?)?;
            Some((HeaderValue::from_str(offered).ok()?, token))
        })
}

/// The UTF-8 text that `hex` (two lowercase or uppercase digits per byte) spells, if it does.
fn decode_hex(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// The close code RFC 6455 §7.4.1 gives for an error reading from the client.
fn close_code(error: &tungstenite::Error) -> Option<CloseCode> {
    use tungstenite::Error;
    match error {
        Error::Capacity(_) => Some(CloseCode::Size),
        Error::Protocol(_) => Some(CloseCode::Protocol),
        Error::Utf8(_) => Some(CloseCode::Invalid),
        _ => None,
    }
}

/// Runs one upgraded connection, which joined the stream after `cursor`, until it closes, errs,
/// idles out or the server stops.
async fn connection(mut ws: Socket, state: &State<Message>, mut cursor: u64) {
    let (hub, limits, stop) = (&state.hub, &state.limits, &state.stop);
    let mut news = hub.subscribe();
    news.borrow_and_update();
    // What was published between the 101 and this subscription would otherwise wait for the next.
    if hub.latest() > cursor
        && send_news(&mut ws, hub, &mut cursor, limits.max_batch)
            .await
            .is_err()
    {
        return;
    }
    // Created once and reset, not re-created per message: a fresh `cancelled()` or `sleep` per
    // wake-up would register and drop a waiter or a timer entry each time.
    let stopped = stop.cancelled();
    let idle = sleep_until(Instant::now() + limits.idle_timeout);
    tokio::pin!(stopped, idle);
    loop {
        // News first: a wake-up for a broadcast then sends without also attempting a read.
        tokio::select! {
            biased;
            _ = &mut stopped => {
                close(&mut ws, CloseCode::Away, "server shutting down").await;
                return;
            }
            changed = news.changed() => {
                if changed.is_err() || send_news(&mut ws, hub, &mut cursor, limits.max_batch).await.is_err() {
                    return;
                }
            }
            incoming = ws.next() => {
                idle.as_mut().reset(Instant::now() + limits.idle_timeout);
                match incoming {
                    Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                        hub.publish(m);
                    }
                    // tungstenite queued the pong; send it now rather than with the next message.
                    Some(Ok(Message::Ping(_))) => {
                        if ws.flush().await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        if let Some(code) = close_code(&e) {
                            close(&mut ws, code, "").await;
                        }
                        return;
                    }
                    None => return,
                }
            }
            _ = &mut idle => {
                close(&mut ws, CloseCode::Policy, "idle timeout").await;
                return;
            }
        }
    }
}

/// Feeds everything after `cursor` into the write buffer and flushes once.
async fn send_news(
    ws: &mut Socket,
    hub: &Hub<Message>,
    cursor: &mut u64,
    max_batch: usize,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    loop {
        let batch = hub.read_after(*cursor, max_batch);
        *cursor = batch.next_cursor;
        if batch.messages.is_empty() {
            break;
        }
        for message in batch.messages {
            ws.feed(message).await?;
        }
        if *cursor >= hub.latest() {
            break;
        }
    }
    ws.flush().await
}

async fn close(ws: &mut Socket, code: CloseCode, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = timeout(std::time::Duration::from_secs(1), ws.close(Some(frame))).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_subprotocol_carries_the_token_as_hex() {
        assert_eq!(decode_hex("74306b2f656e").as_deref(), Some("t0k/en"));
        assert_eq!(decode_hex("E5AF86").as_deref(), Some("密"));
        for bad in ["7", "zz", "ff", "é1"] {
            assert_eq!(decode_hex(bad), None, "{bad}");
        }
        let mut headers = hyper::HeaderMap::new();
        headers.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("chat, wsbench.bearer.6869"),
        );
        let (echo, token) = bearer_protocol(&headers).unwrap();
        assert_eq!(
            (echo.to_str().unwrap(), token.as_str()),
            ("wsbench.bearer.6869", "hi")
        );
        headers.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("chat"));
        assert!(bearer_protocol(&headers).is_none());
    }
}
