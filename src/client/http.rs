//! What every HTTP client shares: a keep-alive connection over a counting socket, requests, and
//! the publisher (`POST /publish` on its own connection, for long-poll, short-poll and SSE alike).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::backoff::{Backoff, retry};
use super::publishing::Publishing;
use super::{Ctx, Joiner, first_connect, wait_until};
use crate::metrics::Recorder;
use crate::wire::CountingStream;

/// One keep-alive HTTP/1.1 connection.
pub(super) type Sender = SendRequest<Full<Bytes>>;

/// Opens a connection to the target; its driver task ends when the sender is dropped.
pub(super) async fn connect(ctx: &Ctx) -> Result<Sender, String> {
    let tcp = TcpStream::connect(ctx.target.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true)
        .map_err(|e| format!("set_nodelay: {e}"))?;
    let io = TokioIo::new(CountingStream::new(tcp, ctx.meter.clone()));
    let (sender, conn) = http1::handshake(io)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(sender)
}

/// A request with the `Host` header every HTTP/1.1 request needs and nothing else.
pub(super) fn request(
    ctx: &Ctx,
    method: Method,
    path_and_query: &str,
    body: Bytes,
) -> Request<Full<Bytes>> {
    let mut request = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header(hyper::header::HOST, ctx.target.addr.to_string());
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
