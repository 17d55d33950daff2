//! WebSocket over HTTP/2 (RFC 8441) for our client: each WebSocket is a stream opened by an
//! extended CONNECT (`:protocol websocket`) on an HTTP/2 connection, and our frames
//! ([`super::ours`]) travel in its DATA frames.
//!
//! A connection is TCP (or TLS with ALPN `h2`) from [`crate::client::conn`], counted below
//! HTTP/2, so every HTTP/2 frame head, SETTINGS, WINDOW_UPDATE and HEADERS frame is in the wire
//! figures as overhead. The h2 crate's connection task runs on its own; a [`Pool`] hands each
//! dialing client a stream on the newest connection until `streams_per_connection` clients have
//! taken one, then opens the next connection (1, the default: a connection per client, as a
//! browser tab has). Connect time is what the dialing client waited: TCP, TLS, the HTTP/2
//! preface and the server's SETTINGS, then CONNECT to 200 (only the last for a client that joins
//! a connection another opened). Owns the stream adapter, the pool and the CONNECT; the
//! WebSocket protocol on the stream is [`super::ours`]'s.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes};
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use hyper::header::{AUTHORIZATION, HeaderValue, SEC_WEBSOCKET_EXTENSIONS};
use hyper::{HeaderMap, Method, Request, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::handshake::{HandshakeError, ResumePoint, Upgrade};
use super::ours;
use crate::client::ctx::Ctx;
use crate::client::failure::ConnectError;
use crate::codec::ws::negotiate::Agreed;
use crate::metrics::FailureKind;
use crate::wire::stamp::{Arrivals, KernelStamp};

/// How long a new connection waits for the server's SETTINGS to allow extended CONNECT.
const SETTINGS_WITHIN: Duration = Duration::from_secs(10);

/// One WebSocket's HTTP/2 stream as a byte stream: what is written goes out in DATA frames (one
/// per write, as flow control allows), what arrives is read in order, its flow-control window
/// given back as it is read.
#[derive(Debug)]
pub struct H2Stream {
    send: SendStream<Bytes>,
    recv: RecvStream,
    /// What is left of the last DATA frame after a short read.
    pending: Bytes,
}

impl AsyncRead for H2Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        while self.pending.is_empty() {
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => self.pending = data,
                Some(Err(e)) => return Poll::Ready(Err(io_error(e))),
                // The server ended the stream: the end of the WebSocket's bytes.
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = buf.remaining().min(self.pending.len());
        buf.put_slice(&self.pending[..n]);
        self.pending.advance(n);
        // Read bytes leave the window to the server again; h2 batches the WINDOW_UPDATEs.
        let _ = self.recv.flow_control().release_capacity(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.send.reserve_capacity(buf.len());
        match ready!(self.send.poll_capacity(cx)) {
            Some(Ok(n)) => {
                let n = n.min(buf.len());
                self.send
                    .send_data(Bytes::copy_from_slice(&buf[..n]), false)
                    .map_err(io_error)?;
                Poll::Ready(Ok(n))
            }
            Some(Err(e)) => Poll::Ready(Err(io_error(e))),
            None => Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // The connection's task writes what was sent.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // An empty DATA frame with END_STREAM: our half of the stream is closed.
        let _ = self.send.send_data(Bytes::new(), true);
        Poll::Ready(Ok(()))
    }
}

impl Arrivals for H2Stream {
    /// Bytes come through the h2 connection's task: the kernel's stamps stay below it.
    fn arrival(&self) -> Option<KernelStamp> {
        None
    }
}

/// An h2 error as the I/O error our client reports.
fn io_error(e: h2::Error) -> std::io::Error {
    if e.is_io() {
        return e
            .into_io()
            .unwrap_or_else(|| std::io::ErrorKind::Other.into());
    }
    std::io::Error::other(e)
}

/// The HTTP/2 connections of one transport run's clients, for `streams_per_connection` > 1:
/// the newest connection and how many clients took a stream on it.
#[derive(Debug, Default)]
pub(in crate::client) struct Pool {
    newest: Mutex<Option<(SendRequest<Bytes>, u32)>>,
}

impl Pool {
    /// A connection with room for one more client's stream: the newest one, or a new one.
    async fn sender(&self, ctx: &Ctx) -> Result<SendRequest<Bytes>, ConnectError> {
        let per = ctx.target.streams_per_connection;
        if per <= 1 {
            return connect(ctx).await;
        }
        // Held while a new connection is made: the clients that will share it wait for it.
        let mut newest = self.newest.lock().await;
        if let Some((sender, taken)) = newest.as_mut()
            && *taken < per
            && let Ok(ready) = sender.clone().ready().await
        {
            *taken += 1;
            return Ok(ready);
        }
        let sender = connect(ctx).await?;
        *newest = Some((sender.clone(), 1));
        Ok(sender)
    }
}

/// A new HTTP/2 connection to the target, once the server's SETTINGS allow extended CONNECT.
async fn connect(ctx: &Ctx) -> Result<SendRequest<Bytes>, ConnectError> {
    let stream = crate::client::conn::connect(ctx).await?;
    let (sender, connection) = h2::client::handshake(stream)
        .await
        .map_err(|e| ConnectError::new(FailureKind::Protocol, format!("HTTP/2: {e}")))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut sender = sender
        .ready()
        .await
        .map_err(|e| ConnectError::new(FailureKind::Reset, format!("HTTP/2: {e}")))?;
    // RFC 8441 §3: no extended CONNECT before the server's SETTINGS enabled it.
    let deadline = Instant::now() + SETTINGS_WITHIN;
    while !sender.is_extended_connect_protocol_enabled() {
        if Instant::now() >= deadline {
            return Err(ConnectError::new(
                FailureKind::Protocol,
                "HTTP/2: the server did not enable extended CONNECT (RFC 8441) in its SETTINGS",
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        sender = sender
            .ready()
            .await
            .map_err(|e| ConnectError::new(FailureKind::Reset, format!("HTTP/2: {e}")))?;
    }
    Ok(sender)
}

/// Opens a WebSocket as a stream on one of `ctx`'s HTTP/2 connections, upgrading as `upgrade`
/// says: the extended CONNECT, its 200, and our client on the stream.
pub(super) async fn dial(
    ctx: &Arc<Ctx>,
    pool: &Pool,
    upgrade: &Upgrade,
) -> Result<ours::Client<H2Stream>, ConnectError> {
    let failed = |e: HandshakeError| ConnectError::new(e.kind(), format!("handshake: {e}"));
    let mut sender = pool.sender(ctx).await?;
    let request = request(ctx, upgrade).map_err(|e| ConnectError::new(FailureKind::Other, e))?;
    let reset = |e: h2::Error| failed(HandshakeError::Io(io_error(e)));
    let (response, send) = sender.send_request(request, false).map_err(reset)?;
    let response = response.await.map_err(reset)?;
    if response.status() != StatusCode::OK {
        return Err(failed(HandshakeError::Status(response.status().as_u16())));
    }
    let (head, recv) = response.into_parts();
    let agreed = agreed(&head.headers, upgrade).map_err(failed)?;
    let stream = H2Stream {
        send,
        recv,
        pending: Bytes::new(),
    };
    Ok(ours::Client::opened(
        stream,
        resume_point(&head.headers),
        agreed,
    ))
}

/// The extended CONNECT for `upgrade`: `:protocol websocket`, the path and query of an
/// HTTP/1.1 upgrade, `sec-websocket-version: 13`, the token and the deflate offer.
fn request(ctx: &Ctx, upgrade: &Upgrade) -> Result<Request<()>, String> {
    let scheme = if ctx.target.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let uri = format!("{scheme}://{}{}", upgrade.host, upgrade.path);
    let mut request = Request::builder()
        .method(Method::CONNECT)
        .uri(uri)
        .header("sec-websocket-version", "13")
        .body(())
        .map_err(|e| format!("the CONNECT request: {e}"))?;
    request
        .extensions_mut()
        .insert(h2::ext::Protocol::from_static("websocket"));
    let headers = request.headers_mut();
    if let Some(token) = &upgrade.token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the token is not a valid header value".to_string())?;
        headers.insert(AUTHORIZATION, value);
    }
    if let Some(offer) = &upgrade.deflate {
        let value = HeaderValue::from_str(&offer.header())
            .map_err(|_| "the deflate offer is not a valid header value".to_string())?;
        headers.insert(SEC_WEBSOCKET_EXTENSIONS, value);
    }
    Ok(request)
}

/// The permessage-deflate the 200 agreed of what `upgrade` offered, as over HTTP/1.1.
fn agreed(headers: &HeaderMap, upgrade: &Upgrade) -> Result<Option<Agreed>, HandshakeError> {
    let values: Vec<&str> = headers
        .get_all(SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let answer = (!values.is_empty()).then(|| values.join(", "));
    match upgrade.deflate {
        Some(offer) => offer
            .accepted(answer.as_deref())
            .map_err(HandshakeError::Extension),
        None => match answer {
            Some(a) => Err(HandshakeError::Extension(format!("{a:?} was not offered"))),
            None => Ok(None),
        },
    }
}

/// Where a resumable stream starts, as the 200 said (`x-cursor`, `x-missed`, `x-reset`).
fn resume_point(headers: &HeaderMap) -> Option<ResumePoint> {
    let number =
        |name: &str| -> Option<u64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    Some(ResumePoint {
        cursor: number(crate::protocol::CURSOR)?,
        missed: number(crate::protocol::MISSED).unwrap_or(0),
        reset: number(crate::protocol::RESET) == Some(1),
    })
}
