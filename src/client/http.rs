//! What every HTTP client shares: a keep-alive connection over a counting socket, requests, and
//! the publisher (`POST /publish` on its own connection, for long-poll, short-poll and SSE alike).

use std::sync::Arc;

use std::future::Future;

use bytes::Bytes;
use futures_util::future::Either;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::time::Instant;

use super::backoff::{Backoff, retry};
use super::failure::ConnectError;
use super::publishing::Publishing;
use super::{Ctx, Joiner, first_connect, wait_until};
use crate::metrics::Recorder;

/// One connection: a keep-alive HTTP/1.1 connection, or an HTTP/2 connection (one per client,
/// as a browser tab has; requests are its streams).
pub(super) enum Sender {
    /// HTTP/1.1: one request at a time.
    Http1(http1::SendRequest<Full<Bytes>>),
    /// HTTP/2.
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    /// Sends `request`; the returned future owns all it needs, so it can stay in flight.
    pub(super) fn send_request(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> impl Future<Output = hyper::Result<Response<Incoming>>> + Send + 'static {
        match self {
            Sender::Http1(s) => Either::Left(s.send_request(request)),
            Sender::Http2(s) => Either::Right(s.send_request(request)),
        }
    }
}

/// Opens a connection to the target (TLS if it wants TLS; HTTP/2 if the scenario asks for it);
/// its driver task ends when the sender and every response body are dropped.
pub(super) async fn connect(ctx: &Ctx) -> Result<Sender, ConnectError> {
    let io = TokioIo::new(super::conn::connect(ctx).await?);
    let handshake = |e: hyper::Error| ConnectError::hyper("handshake", &e);
    if ctx.target.http2 {
        let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(handshake)?;
        tokio::spawn(conn);
        Ok(Sender::Http2(sender))
    } else {
        let (sender, conn) = http1::handshake(io).await.map_err(handshake)?;
        tokio::spawn(conn);
        Ok(Sender::Http1(sender))
    }
}

/// A request with what it needs and nothing else: over HTTP/1.1 a path and the `Host` header;
/// over HTTP/2 the absolute URI, which becomes the `:scheme` and `:authority` pseudo-headers.
pub(super) fn request(
    ctx: &Ctx,
    method: Method,
    path_and_query: &str,
    body: Bytes,
) -> Request<Full<Bytes>> {
    let authority = ctx.target.addr.to_string();
    let mut request = Request::builder().method(method);
    request = if ctx.target.http2 {
        let scheme = if ctx.target.tls.is_some() {
            "https"
        } else {
            "http"
        };
        request.uri(format!("{scheme}://{authority}{path_and_query}"))
    } else {
        request
            .uri(path_and_query)
            .header(hyper::header::HOST, authority)
    };
    if let Some(token) = &ctx.target.token {
        request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request
        .body(Full::new(body))
        .expect("method, path, host and a printable token are always valid")
}

/// Publisher `index` on its own keep-alive connection, connecting at `slot`. Sends on the fixed
/// schedule; a slow response delays the next send but not its intended time, so it shows as latency.
pub(super) async fn publisher(ctx: Arc<Ctx>, index: u32, slot: Instant) -> Recorder {
    let mut recorder = Recorder::default();
    let mut publishing = Publishing::new(ctx.clone(), index);
    if !wait_until(slot, &ctx.stop).await {
        return recorder;
    }
    let Some(mut sender) =
        first_connect(&ctx, Joiner::Publisher(&mut recorder), connect(&ctx)).await
    else {
        return recorder;
    };
    let mut timeline_rx = ctx.timeline.subscribe();
    let timeline = tokio::select! {
        _ = ctx.stop.cancelled() => return recorder,
        t = timeline_rx.wait_for(Option::is_some) => match t {
            Ok(t) => (*t).expect("wait_for returned a timeline"),
            Err(_) => return recorder,
        },
    };
    publishing.start(&timeline);
    let mut backoff = Backoff::new(ctx.plan.reconnect, u64::from(index));
    while let Some(due) = publishing.next_due() {
        if !wait_until(due, &ctx.stop).await {
            break;
        }
        let Some(message) = publishing.next_message(ctx.plan.payload_bytes) else {
            break;
        };
        let path = &ctx.target.paths.publish;
        let sent = sender.send_request(request(&ctx, Method::POST, path, message.into()));
        recorder.http_requests += 1;
        let response = tokio::select! {
            _ = ctx.stop.cancelled() => break,
            response = sent => response,
        };
        match response {
            Ok(r) if r.status().is_success() => publishing.sent(),
            // The server refused this message: not published, and retrying would not help.
            Ok(_) => {
                recorder.io_errors += 1;
                break;
            }
            // The connection is gone: reconnect and send the same message again (it keeps its
            // intended time, so the outage shows as latency).
            Err(_) => {
                let lost_at = Instant::now();
                match retry(&ctx, &mut backoff, || connect(&ctx)).await {
                    Some(fresh) => {
                        sender = fresh;
                        recorder.reconnects += 1;
                        recorder.disconnected += lost_at.elapsed();
                    }
                    None => {
                        recorder.io_errors += 1;
                        break;
                    }
                }
            }
        }
    }
    publishing.finish();
    ctx.close.cancelled().await;
    recorder
}
