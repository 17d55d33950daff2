//! SSE subscriber (hyper over a counting socket): `GET /events`, parse the event stream, and
//! when the stream ends or breaks, reconnect with `Last-Event-ID` so nothing still in the
//! server's ring is missed.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, StatusCode};
use tokio::time::Instant;

use super::backoff::{Backoff, retry};
use super::ctx::{Ctx, Event, Joiner, first_connect, pause_if, wait_until};
use super::failure::ConnectError;
use super::http::{Sender, connect, request};
use super::inbox::Inbox;
use crate::codec::sse::{Item, Parser};
use crate::server::sse::LAST_EVENT_ID;

/// Opens the stream (resuming after `last_id` if given) and returns its body once the response
/// head has arrived, with the connection's sender, kept as long as the body is read (an HTTP/2
/// connection starts closing once every sender is dropped).
async fn open(ctx: &Ctx, last_id: Option<u64>) -> Result<(Sender, Incoming), ConnectError> {
    let mut sender = connect(ctx).await?;
    let mut req = request(ctx, Method::GET, &ctx.target.paths.events, Bytes::new());
    if let Some(id) = last_id {
        req.headers_mut().insert(LAST_EVENT_ID, id.into());
    }
    let response = sender
        .send_request(req)
        .await
        .map_err(|e| ConnectError::hyper("events", &e))?;
    if response.status() != StatusCode::OK {
        return Err(ConnectError::status("events", response.status()));
    }
    Ok((sender, response.into_body()))
}

/// Subscriber connecting at `slot`; its connect time is TCP connect + the response head.
pub(super) async fn subscriber(ctx: Arc<Ctx>, seed: u64, slot: Instant, slow: bool) -> Inbox {
    let mut inbox = Inbox::default();
    if !wait_until(slot, &ctx.stop).await {
        return inbox;
    }
    let Some((mut sender, mut body)) = first_connect(
        &ctx,
        Joiner::Subscriber(&mut inbox),
        Box::pin(open(&ctx, None)),
    )
    .await
    else {
        return inbox;
    };
    inbox.counts.http_requests += 1;

    let mut timeline_rx = ctx.timeline.subscribe();
    let mut timeline = *timeline_rx.borrow_and_update();
    let mut finals = ctx.tally.finals();
    inbox.set_expected(*finals.borrow_and_update());
    let mut parser = Parser::default();
    let mut items = Vec::new();
    let mut backoff = Backoff::new(ctx.plan.reconnect, seed);
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
            frame = body.frame() => {
                let chunk = match frame {
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => data,
                        Err(_) => continue, // trailers carry no events
                    },
                    // The stream ended or broke: resume after the last complete event. A partial
                    // event from the broken stream is dropped: the server sends it again.
                    _ => {
                        let lost_at = Instant::now();
                        let last_id = parser.last_id();
                        parser = Parser::with_last_id(last_id);
                        match retry(&ctx, &mut backoff, || open(&ctx, last_id)).await {
                            Some(resumed) => {
                                (sender, body) = resumed;
                                inbox.counts.http_requests += 1;
                                inbox.counts.reconnects += 1;
                                inbox.counts.disconnected += lost_at.elapsed();
                                continue;
                            }
                            None => {
                                if !ctx.stop.is_cancelled() {
                                    inbox.counts.io_errors += 1;
                                }
                                break;
                            }
                        }
                    }
                };
                let now = Instant::now();
                if parser.feed(&chunk, &mut items).is_err() {
                    inbox.counts.io_errors += 1;
                    break;
                }
                for item in items.drain(..) {
                    match item {
                        Item::Event { data, .. } => inbox.receive(&data, now, timeline.as_ref()),
                        Item::Missed(k) => inbox.counts.missed_reported += k,
                    }
                }
                pause_if(slow, &ctx).await;
            }
        }
    }
    drop((sender, body));
    ctx.send(Event::Finished);
    ctx.close.cancelled().await;
    inbox
}
