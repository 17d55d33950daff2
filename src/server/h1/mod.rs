//! The lean HTTP/1.1 path of the HTTP transports' server: one small task per connection that
//! reads request heads with `httparse` and writes the answers hyper wrote, byte for byte.
//!
//! Why not hyper for these connections: its HTTP/1.1 connection keeps a read buffer of at least
//! 8 KiB (`max_buf_size` has that floor) and a write buffer for its whole life, beside the
//! service future and the body channel: ~21 KiB per held long-poll, SSE stream or idle
//! keep-alive connection, where a push server's idle connection should cost a few KiB. Here a
//! connection holds bytes only while a request head or body is coming in ([`body::Wire`]):
//! a held poll holds its hub subscription, an SSE stream its body's state, an idle keep-alive
//! connection a pending read.
//!
//! What it answers is what [`super::http::route_head`] routes to (the same long-poll, SSE and
//! publish handlers hyper's path calls), under the same limits: a 16 KiB head of at most 100
//! fields (431 beyond), 400 for what is not HTTP/1.1, the header timeout (from the connection's
//! start for its first request, from the end of the last answer for the next one, so an idle
//! keep-alive connection is closed after it, as hyper did), the body limit on publishes (413,
//! the body read past so the connection goes on). A connection that starts with the HTTP/2
//! preface (h2c with prior knowledge, or h2 chosen by ALPN over TLS) is handed, preface and
//! all, to hyper ([`super::http::connection`]). Upgrades are not served here: `wsbench serve
//! --transport all`, whose `/ws` upgrades, stays on hyper.
//!
//! At shutdown a held poll is answered, a stream ended (its last chunk written), an idle
//! connection closed; a connection still busy gets two seconds, as hyper's graceful shutdown did.

mod body;
mod head;
mod response;
mod rewind;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use hyper::{Method, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};
use tokio_util::either::Either;

use super::http::{self, Body, Routed};
use super::hub::Payload;
use super::{Conn, State};
use body::{BodyError, Wire};
use head::{Head, Parsed};
use response::{Framing, Length};

/// How long a connection still busy at shutdown may take to finish its answer.
const GRACE: Duration = Duration::from_secs(2);

/// Serves one connection: HTTP/1.1 requests until the client closes, asks to close, breaks a
/// limit or the server stops; HTTP/2 through hyper.
///
/// Not an `async fn`: a plain connection's task is sized for a `TcpStream`, and a TLS one's
/// stream and state are boxed, so a plain connection does not carry room for a TLS stream it
/// never has. The header timeout covers a client that sends nothing at all.
pub(crate) fn connection<M: Payload>(
    io: Conn,
    state: Arc<State<M>>,
) -> Either<impl Future<Output = ()> + Send, Pin<Box<dyn Future<Output = ()> + Send>>> {
    match io.into_inner() {
        Either::Left(tcp) => Either::Left(serve(tcp, state)),
        Either::Right(tls) => Either::Right(Box::pin(serve(tls, state))),
    }
}

async fn serve<M, S>(io: S, state: Arc<State<M>>)
where
    M: Payload,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let wire = Wire {
        io,
        buf: Vec::new(),
    };
    let serving = requests(wire, state.clone());
    tokio::pin!(serving);
    tokio::select! {
        () = &mut serving => {}
        () = state.stop.cancelled() => {
            let _ = tokio::time::timeout(GRACE, serving).await;
        }
    }
}

/// What comes next on a connection.
enum Next {
    Request(Box<Head>),
    Http2,
    Refused(hyper::StatusCode),
    Closed,
}

async fn requests<M, S>(mut wire: Wire<S>, state: Arc<State<M>>)
where
    M: Payload,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    loop {
        // As hyper's header timeout: from the connection's start for its first request, from
        // the end of the last answer for the next, so an idle keep-alive connection is closed
        // after it too.
        let deadline = Instant::now() + state.limits.header_timeout;
        let head = match next(&mut wire, &state, deadline).await {
            Next::Request(head) => head,
            Next::Http2 => {
                let Wire { io, buf } = wire;
                let io = rewind::Rewind::new(buf, io);
                // Boxed: the HTTP/2 connection's state is large and rare.
                Box::pin(http::connection(
                    io,
                    state,
                    http::route,
                    http::Websockets::Http1Only,
                ))
                .await;
                return;
            }
            Next::Refused(status) => {
                let _ = write_all(&mut wire.io, Bytes::from(response::refusal(status))).await;
                let _ = wire.io.shutdown().await;
                return;
            }
            Next::Closed => return,
        };
        // Boxed: a request's state (a held poll, a stream) lives only while it is answered, and
        // a connection waiting for its next request should not carry room for it.
        match Box::pin(answer(&mut wire, *head, &state)).await {
            Ok(true) if !state.stop.is_cancelled() => {}
            _ => {
                let _ = wire.io.shutdown().await;
                return;
            }
        }
    }
}

/// Reads until a whole request head (or the HTTP/2 preface, or a head that cannot be served),
/// by `deadline`. Waiting for a new request, the connection holds no buffer and gives way to
/// shutdown.
async fn next<M, S>(wire: &mut Wire<S>, state: &State<M>, deadline: Instant) -> Next
where
    S: AsyncRead + Unpin,
{
    loop {
        if !wire.buf.is_empty() {
            match head::parse(&wire.buf) {
                Parsed::Partial => {}
                Parsed::Http2 => return Next::Http2,
                Parsed::Refused(status) => return Next::Refused(status),
                Parsed::Request(head) => {
                    wire.buf.drain(..head.len);
                    return Next::Request(head);
                }
            }
        }
        let idle = wire.buf.is_empty();
        let read = tokio::select! {
            read = timeout_at(deadline, wire.fill()) => match read {
                Ok(read) => read,
                Err(_) => return Next::Closed,
            },
            () = state.stop.cancelled(), if idle => return Next::Closed,
        };
        if !matches!(read, Ok(n) if n > 0) {
            return Next::Closed;
        }
    }
}

/// Answers one request. `Ok(true)`: the connection may carry another.
async fn answer<M, S>(wire: &mut Wire<S>, head: Head, state: &Arc<State<M>>) -> io::Result<bool>
where
    M: Payload,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Head {
        request,
        body: body_kind,
        close,
        expect_continue,
        ..
    } = head;
    let framing = |length, close| Framing {
        version: request.version(),
        length,
        close,
        head_request: request.method() == Method::HEAD,
    };
    let routed = http::route_head(&request, state);
    let limit = match routed {
        Routed::Publish(_) => state.limits.max_message_bytes,
        _ => 0,
    };
    if expect_continue && matches!(routed, Routed::Publish(_)) {
        write_all(&mut wire.io, Bytes::from_static(response::CONTINUE)).await?;
    }
    // Any other request's body is read past and dropped, as hyper did.
    let body = body::read(wire, body_kind, limit).await;
    wire.release();
    let response = match (routed, body) {
        (_, Err(BodyError::Io(e))) => return Err(e),
        (_, Err(BodyError::Bad)) => {
            write_all(
                &mut wire.io,
                Bytes::from(response::refusal(hyper::StatusCode::BAD_REQUEST)),
            )
            .await?;
            return Ok(false);
        }
        (Routed::Publish(_), Err(BodyError::TooLarge)) => http::too_large(),
        (Routed::Publish(room), Ok(body)) => {
            http::publish_body(state, &room, Bytes::from(body)).await
        }
        (Routed::Answer(response), _) => response,
        (Routed::Poll { room, coding }, _) => {
            let poll = super::longpoll::poll(request.uri().query(), state, &room, coding);
            match watched(wire, poll).await {
                Some(response) => response,
                None => return Ok(false),
            }
        }
        (Routed::Events(room), _) => super::sse::events(&request, state.clone(), room),
    };
    // An answer at shutdown says nothing of the close that follows it, as hyper's did not.
    let (parts, body) = response.into_parts();
    let mut out = Vec::with_capacity(192);
    match body.size_hint().exact() {
        Some(_) => {
            let whole = body
                .collect()
                .await
                .map_or_else(|e| match e {}, |c| c.to_bytes());
            response::encode_head(&mut out, &parts, framing(Length::Known(whole.len()), close));
            let whole = if request.method() == Method::HEAD {
                Bytes::new()
            } else {
                whole
            };
            write_all(&mut wire.io, Bytes::from(out).chain(whole)).await?;
            Ok(!close)
        }
        None if request.version() == Version::HTTP_10 => {
            response::encode_head(&mut out, &parts, framing(Length::UntilClose, true));
            write_all(&mut wire.io, Bytes::from(out)).await?;
            stream(wire, body, false).await?;
            Ok(false)
        }
        None => {
            response::encode_head(&mut out, &parts, framing(Length::Chunked, close));
            write_all(&mut wire.io, Bytes::from(out)).await?;
            stream(wire, body, true).await?;
            Ok(!close)
        }
    }
}

/// Writes a streamed body (SSE) as it comes: each piece as one chunk (`chunked`), or bare on a
/// connection its end will close. A client that closes meanwhile ends it.
async fn stream<S>(wire: &mut Wire<S>, mut body: Body, chunked: bool) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let Some(frame) = watched(wire, body.frame()).await else {
            return Err(io::ErrorKind::BrokenPipe.into());
        };
        let data = match frame {
            None => break,
            Some(Err(never)) => match never {},
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
        };
        if !chunked {
            write_all(&mut wire.io, data).await?;
            continue;
        }
        let line = Bytes::from(response::chunk_line(data.len()));
        let end = Bytes::from_static(response::CHUNK_END);
        write_all(&mut wire.io, line.chain(data).chain(end)).await?;
    }
    if chunked {
        write_all(&mut wire.io, Bytes::from_static(response::LAST_CHUNK)).await?;
    }
    Ok(())
}

/// Waits for `answer` (a held poll, a stream's next piece) while watching the connection:
/// `None` if the client closes first. What it sends meanwhile (a pipelined request) is kept,
/// up to a head's worth; more than that ends the connection too. Reads a few bytes at a time
/// into the task itself, so a waiting connection holds no buffer.
async fn watched<S, T>(wire: &mut Wire<S>, answer: impl Future<Output = T>) -> Option<T>
where
    S: AsyncRead + Unpin,
{
    tokio::pin!(answer);
    let mut probe = [0u8; 16];
    loop {
        tokio::select! {
            done = &mut answer => return Some(done),
            read = wire.io.read(&mut probe) => match read {
                Ok(n) if n > 0 && wire.buf.len() < head::MAX_HEAD_BYTES => {
                    wire.buf.extend_from_slice(&probe[..n]);
                }
                _ => return None,
            },
        }
    }
}

/// Writes all of `bytes` (vectored where the stream can) and flushes.
async fn write_all<S: AsyncWrite + Unpin>(io: &mut S, mut bytes: impl Buf) -> io::Result<()> {
    io.write_all_buf(&mut bytes).await?;
    io.flush().await
}

#[cfg(test)]
mod tests;
