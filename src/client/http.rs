//! What every HTTP client shares: a keep-alive connection over a counting socket, requests, and
//! the publisher (`POST /publish` on its own connection, for long-poll, short-poll and SSE alike).

use std::collections::VecDeque;
use std::sync::Arc;

use std::future::Future;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::Either;
use futures_util::stream::FuturesOrdered;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::time::{Instant, sleep_until};

use super::backoff::{Backoff, retry};
use super::ctx::{Ctx, Joiner, first_connect, wait_until};
use super::failure::ConnectError;
use super::h2exec::ConnectionExecutor;
use super::publishing::Publishing;
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
    ) -> impl Future<Output = hyper::Result<Response<Incoming>>> + Send + 'static + use<> {
        match self {
            Sender::Http1(s) => Either::Left(s.send_request(request)),
            Sender::Http2(s) => Either::Right(s.send_request(request)),
        }
    }
}

/// Bytes an HTTP/1.1 connection reads at a time. hyper's adaptive default never goes below
/// 8 KiB and keeps that much per connection; a poll answer or a few SSE events are hundreds of
/// bytes, so 4 KiB halves what an idle connection holds and costs a burst only more reads.
const READ_BUF_BYTES: usize = 4096;

/// Opens a connection to the target (TLS if it wants TLS; HTTP/2 if the scenario asks for it);
/// its driver task ends when the sender and every response body are dropped.
pub(super) async fn connect(ctx: &Ctx) -> Result<Sender, ConnectError> {
    let io = TokioIo::new(super::conn::connect(ctx).await?);
    let handshake = |e: hyper::Error| ConnectError::hyper("handshake", &e);
    if ctx.target.http2 {
        let (exec, driver) = ConnectionExecutor::new();
        let (sender, conn) = http2::handshake(exec.clone(), io)
            .await
            .map_err(handshake)?;
        hyper::rt::Executor::execute(&exec, async move {
            let _ = conn.await;
        });
        tokio::spawn(driver);
        Ok(Sender::Http2(sender))
    } else {
        let (sender, conn) = http1::Builder::new()
            .read_buf_exact_size(Some(READ_BUF_BYTES))
            .handshake(io)
            .await
            .map_err(handshake)?;
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

/// Most `POST /publish` streams one HTTP/2 publisher keeps open at once (the server allows 32).
///
/// Over HTTP/1.1 a connection carries one request at a time, so a publisher must wait for each
/// response. Over HTTP/2 it need not, and a page's `fetch()` calls do not: waiting would put the
/// whole POST round trip in the publishing budget (10 ms at 100 msg/s from one publisher), and in
/// hyper that round trip is several task hand-offs on each side (a task per stream), each queued
/// behind the hundreds of wake-ups every publish causes. Measured with 100 subscribers, it was
/// 3.7–11.7 ms at p50 (8 runs) against 0.4–2.3 ms over HTTP/1.1, so h2 publishers fell behind
/// their schedule and their backlog showed as hundreds of ms of push latency (README "Figures").
const H2_PUBLISHES_IN_FLIGHT: usize = 16;

/// Publisher `index` on its own keep-alive connection, connecting at `slot`. Sends on the fixed
/// schedule; a slow response delays the next send but not its intended time, so it shows as latency.
/// Over HTTP/1.1 one `POST` is in flight at a time; over HTTP/2 up to [`H2_PUBLISHES_IN_FLIGHT`],
/// each on its own stream, answered in order.
pub(super) async fn publisher(ctx: Arc<Ctx>, index: u32, slot: Instant) -> Recorder {
    let mut recorder = Recorder::default();
    let mut publishing = Publishing::new(ctx.clone(), index);
    if !wait_until(slot, &ctx.stop).await {
        return recorder;
    }
    let Some(mut sender) = first_connect(
        &ctx,
        Joiner::Publisher(&mut recorder.counts),
        Box::pin(connect(&ctx)),
    )
    .await
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
    let limit = if ctx.target.http2 {
        H2_PUBLISHES_IN_FLIGHT
    } else {
        1
    };
    let path = &ctx.target.paths.publish;
    let post = |sender: &mut Sender, message: &Bytes| {
        sender.send_request(request(&ctx, Method::POST, path, message.clone()))
    };
    // Messages sent and not yet answered (with their intended times), and their responses, in
    // the same order.
    let mut unanswered: VecDeque<(Bytes, Instant, Instant)> = VecDeque::new();
    let mut responses = FuturesOrdered::new();
    let mut backoff = Backoff::new(ctx.plan.reconnect, u64::from(index));
    loop {
        let due = if unanswered.len() < limit {
            publishing.next_due()
        } else {
            None
        };
        if due.is_none() && unanswered.is_empty() {
            break;
        }
        tokio::select! {
            _ = ctx.stop.cancelled() => break,
            _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                let Some((message, at)) = publishing.take(ctx.plan.payload_bytes) else {
                    continue;
                };
                let message = Bytes::from(message);
                responses.push_back(post(&mut sender, &message));
                unanswered.push_back((message, at, Instant::now()));
                recorder.counts.http_requests += 1;
            }
            Some(response) = responses.next() => match response {
                Ok(r) if r.status().is_success() => {
                    if let Some((_, at, posted)) = unanswered.pop_front() {
                        recorder.record_publish_rtt(posted.elapsed());
                        publishing.published(at);
                    }
                }
                // The server refused this message: not published, and retrying would not help.
                Ok(_) => {
                    recorder.counts.io_errors += 1;
                    break;
                }
                // The connection is gone: reconnect and send every unanswered message again
                // (each keeps its intended time, so the outage shows as latency).
                Err(_) => {
                    let lost_at = Instant::now();
                    responses = FuturesOrdered::new();
                    match retry(&ctx, &mut backoff, || connect(&ctx)).await {
                        Some(fresh) => {
                            sender = fresh;
                            recorder.counts.reconnects += 1;
                            recorder.counts.disconnected += lost_at.elapsed();
                            for (message, _, posted) in &mut unanswered {
                                *posted = Instant::now();
                                responses.push_back(post(&mut sender, message));
                                recorder.counts.http_requests += 1;
                            }
                        }
                        None => {
                            recorder.counts.io_errors += 1;
                            break;
                        }
                    }
                }
            },
        }
    }
    publishing.finish();
    ctx.close.cancelled().await;
    recorder
}
