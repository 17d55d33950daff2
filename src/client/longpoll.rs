//! Long-poll client (hyper over a counting socket): subscribers that join and then poll with
//! their cursor, and publishers that `POST /publish` on their own keep-alive connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use super::inbox::Inbox;
use super::publishing::Publishing;
use super::{Ctx, Event, wait_until};
use crate::codec::batch;
use crate::metrics::Recorder;
use crate::server::longpoll::{MISSED, NEXT_CURSOR, RESET};
use crate::wire::CountingStream;

/// One poll's answer.
#[derive(Debug)]
struct Answer {
    messages: Vec<Bytes>,
    next_cursor: u64,
    missed: u64,
    received_at: Instant,
}

type Pending = Pin<Box<dyn Future<Output = Result<Answer, String>> + Send>>;

async fn connect(ctx: &Ctx) -> Result<SendRequest<Full<Bytes>>, String> {
    let tcp = TcpStream::connect(ctx.target.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true)
        .map_err(|e| format!("set_nodelay: {e}"))?;
    let io = TokioIo::new(CountingStream::new(tcp, ctx.meter.clone()));
    let (sender, conn) = http1::handshake(io)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    // The connection task ends when the sender is dropped or the server closes.
    tokio::spawn(conn);
    Ok(sender)
}

fn request(ctx: &Ctx, method: Method, path_and_query: &str, body: Bytes) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path_and_query)
        .header(hyper::header::HOST, ctx.target.addr.to_string())
        .body(Full::new(body))
        .expect("method, path and host are always valid")
}

/// Sends one poll; the returned future owns everything it needs, so it can stay in flight while
/// the caller waits on other events.
fn poll(sender: &mut SendRequest<Full<Bytes>>, ctx: &Ctx, cursor: Option<u64>) -> Pending {
    let path = match cursor {
        Some(c) => format!("/poll?cursor={c}"),
        None => "/poll".to_string(),
    };
    let response = sender.send_request(request(ctx, Method::GET, &path, Bytes::new()));
    Box::pin(async move {
        let response = response.await.map_err(|e| format!("poll: {e}"))?;
        if response.status() != StatusCode::OK {
            return Err(format!("poll: HTTP {}", response.status()));
        }
        let header = |name: &str| -> Option<u64> {
            response.headers().get(name)?.to_str().ok()?.parse().ok()
        };
        let next_cursor = header(NEXT_CURSOR).ok_or("poll: no valid x-next-cursor header")?;
        let missed = header(MISSED).unwrap_or(0);
        let _reset = header(RESET).is_some();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("poll body: {e}"))?
            .to_bytes();
        let received_at = Instant::now();
        let messages = batch::split(&body).map_err(|e| format!("poll body: {e}"))?;
        Ok(Answer {
            messages,
            next_cursor,
            missed,
            received_at,
        })
    })
}

/// Subscriber `index`: connects and joins at `slot` (the join's round trip is its connect time),
/// then polls with its cursor until it has every expected message or the run stops.
pub(super) async fn subscriber(ctx: Arc<Ctx>, _index: u32, slot: Instant) -> Inbox {
    let mut inbox = Inbox::default();
    if !wait_until(slot, &ctx.stop).await {
        return inbox;
    }
    let started = Instant::now();
    let joined = timeout(ctx.plan.connect_timeout, async {
        let mut sender = connect(&ctx).await?;
        let answer = poll(&mut sender, &ctx, None).await?;
        Ok::<_, String>((sender, answer.next_cursor))
    })
    .await
    .unwrap_or_else(|_| Err("connect timed out".to_string()));
    let (mut sender, mut cursor) = match joined {
        Ok(joined) => joined,
        Err(reason) => {
            inbox.recorder.connect_errors += 1;
            ctx.send(Event::Connected {
                subscriber: true,
                result: Err(reason),
            });
            return inbox;
        }
    };
    inbox.recorder.http_requests += 1;
    inbox.recorder.record_connect(started.elapsed());
    inbox.connected = true;
    ctx.send(Event::Connected {
        subscriber: true,
        result: Ok(()),
    });

    let mut timeline_rx = ctx.timeline.subscribe();
    let mut timeline = *timeline_rx.borrow_and_update();
    let mut finals = ctx.tally.finals();
    inbox.set_expected(*finals.borrow_and_update());
    let mut pending = poll(&mut sender, &ctx, Some(cursor));
    let stopped = ctx.stop.cancelled();
    tokio::pin!(stopped);
    while !inbox.complete() {
        tokio::select! {
            biased;
            _ = &mut stopped => break,
            changed = timeline_rx.changed(), if timeline.is_none() => {
                if changed.is_err() { break; }
                timeline = *timeline_rx.borrow_and_update();
            }
            changed = finals.changed(), if !inbox.knows_expected() => {
                if changed.is_err() { break; }
                inbox.set_expected(*finals.borrow_and_update());
            }
            answer = &mut pending => {
                inbox.recorder.http_requests += 1;
                let answer = match answer {
                    Ok(answer) => answer,
                    Err(_) => {
                        if !ctx.stop.is_cancelled() {
                            inbox.recorder.io_errors += 1;
                        }
                        break;
                    }
                };
                inbox.recorder.missed_reported += answer.missed;
                if answer.messages.is_empty() {
                    inbox.recorder.empty_polls += 1;
                } else {
                    inbox.recorder.responses_with_messages += 1;
                    inbox.recorder.messages_in_responses += answer.messages.len() as u64;
                }
                for message in &answer.messages {
                    inbox.receive(message, answer.received_at, timeline.as_ref());
                }
                cursor = answer.next_cursor;
                if inbox.complete() {
                    break;
                }
                pending = poll(&mut sender, &ctx, Some(cursor));
            }
        }
    }
    drop(pending);
    ctx.send(Event::Finished);
    ctx.close.cancelled().await;
    inbox
}

/// Publisher `index` on its own keep-alive connection, connecting at `slot`. Sends on the fixed
/// schedule; a slow response delays the next send but not its intended time, so it shows as latency.
pub(super) async fn publisher(ctx: Arc<Ctx>, index: u32, slot: Instant) -> Recorder {
    let mut recorder = Recorder::default();
    let mut publishing = Publishing::new(ctx.clone(), index);
    if !wait_until(slot, &ctx.stop).await {
        return recorder;
    }
    let mut sender = match timeout(ctx.plan.connect_timeout, connect(&ctx)).await {
        Ok(Ok(sender)) => sender,
        failure => {
            let reason = match failure {
                Ok(Err(e)) => e,
                _ => "connect timed out".to_string(),
            };
            recorder.connect_errors += 1;
            ctx.send(Event::Connected {
                subscriber: false,
                result: Err(reason),
            });
            return recorder;
        }
    };
    ctx.send(Event::Connected {
        subscriber: false,
        result: Ok(()),
    });
    let mut timeline_rx = ctx.timeline.subscribe();
    let timeline = tokio::select! {
        _ = ctx.stop.cancelled() => return recorder,
        t = timeline_rx.wait_for(Option::is_some) => match t {
            Ok(t) => (*t).expect("wait_for returned a timeline"),
            Err(_) => return recorder,
        },
    };
    publishing.start(&timeline);
    while let Some(due) = publishing.next_due() {
        if !wait_until(due, &ctx.stop).await {
            break;
        }
        let Some(message) = publishing.next_message(ctx.plan.payload_bytes) else {
            break;
        };
        let sent = sender.send_request(request(&ctx, Method::POST, "/publish", message.into()));
        recorder.http_requests += 1;
        let ok = tokio::select! {
            _ = ctx.stop.cancelled() => break,
            response = sent => matches!(response, Ok(r) if r.status().is_success()),
        };
        if !ok {
            recorder.io_errors += 1;
            break;
        }
        publishing.sent();
    }
    publishing.finish();
    ctx.close.cancelled().await;
    recorder
}
