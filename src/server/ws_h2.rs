//! WebSocket over HTTP/2 (RFC 8441) in the built-in WebSocket server: the connection builder
//! that speaks HTTP/1.1 and HTTP/2 on one listener, and the check of an extended CONNECT.
//!
//! Every connection to the WebSocket server is served by hyper-util's `auto` builder: HTTP/1.1
//! upgrades as before, and HTTP/2, h2c with prior knowledge on plain TCP (the connection preface
//! tells them apart) or h2 chosen by ALPN over TLS. The HTTP/2 side advertises
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL`, so a client may open a WebSocket as a stream:
//! `:method CONNECT`, `:protocol websocket`, `:path /ws?…` with the same query (room, resume,
//! since) and headers (token, deflate) as an HTTP/1.1 upgrade. [`super::ws::upgrade`] answers
//! both, 200 instead of 101 here, and the stream then runs the same connection logic on the same
//! hub, within the same bounds.
//!
//! A stream has no socket of its own, so the room's pusher cannot write into it: it hands the
//! news to the connection's task, which writes it into the stream, as for TLS. hyper's HTTP/2
//! connection task carries every stream's bytes, so it runs until the last of its WebSockets is
//! closed: when the server stops, it sends GOAWAY and waits (a bounded time) for them to close
//! (going away) through it. Owns none of the WebSocket protocol; knows nothing of the hub.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio_util::sync::CancellationToken;

use super::{Conn, Limits};
use crate::protocol::WS_H2_MAX_STREAMS;

/// How long a stopping server's HTTP/2 connection keeps carrying its WebSockets' closing frames.
const DRAIN: Duration = Duration::from_secs(2);

/// The `:protocol` of a WebSocket's extended CONNECT (RFC 8441 §4).
const WEBSOCKET: &str = "websocket";

/// Serves one connection's HTTP side with `service` (which answers upgrades, [`super::ws`])
/// until it ends or `stop` is cancelled; an HTTP/2 connection then closes gracefully, carrying
/// its streams' last frames.
pub(super) async fn serve_connection<S>(
    conn: Conn,
    limits: &Limits,
    stop: &CancellationToken,
    service: S,
) where
    S: Service<Request<Incoming>, Response = Response<Empty<Bytes>>, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let builder = builder(limits);
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(conn), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(DRAIN, conn).await;
}

/// HTTP/1.1 as the WebSocket server always spoke it, and HTTP/2 with the connect protocol.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(16 * 1024)
        // The 101 carries only what RFC 6455 asks for, as tungstenite's own handshake does.
        .auto_date_header(false);
    // No HTTP/2 keep-alive pings: a WebSocket has its own heartbeat (`ws_ping`) and idle timeout,
    // and pings of the HTTP/2 layer would be bytes no WebSocket server over HTTP/1.1 sends.
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol()
        .max_concurrent_streams(WS_H2_MAX_STREAMS)
        .max_header_list_size(limits.h2_max_header_list_bytes)
        .auto_date_header(false);
    builder
}

/// Whether `req` opens a WebSocket by extended CONNECT: `:method CONNECT` and
/// `:protocol websocket` (the path and the RFC 6455 headers are the caller's to check).
pub(super) fn is_extended_connect<B>(req: &Request<B>) -> bool {
    req.method() == Method::CONNECT
        && req
            .extensions()
            .get::<hyper::ext::Protocol>()
            .is_some_and(|p| p.as_str().eq_ignore_ascii_case(WEBSOCKET))
}
