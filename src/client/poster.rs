//! The HTTP publisher: `POST /publish` (or a template's `POST`) on its own keep-alive
//! connection, for long-poll, short-poll and SSE alike, on the fixed schedule.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use tokio::time::Instant;

use super::backoff::{Backoff, Start, reconnect};
use super::ctx::{Ctx, Joiner, first_connect, wait_until};
use super::http::{Outgoing, Sender, connect};
use super::publishing::Publishing;
use crate::codec::h1::Method;
use crate::metrics::Recorder;
use crate::protocol::in_room;

/// What a publisher's `POST` carries: the message as its body (wsbench's protocol, nchan), or a
/// template's body with the message and room in place, and its header fields.
struct PublishShape {
    template: Option<crate::scenario::template::Pattern>,
    room: u32,
    headers: Arc<[(String, String)]>,
}

impl PublishShape {
    fn of(ctx: &Ctx, room: crate::protocol::RoomId) -> Self {
        use crate::scenario::template::PublishRule;
        match &ctx.target.transport {
            crate::scenario::Transport::Template(t) => match &t.publish {
                PublishRule::Post { body, headers, .. } => PublishShape {
                    template: Some(body.clone()),
                    room: room.0,
                    headers: Arc::from(headers.as_slice()),
                },
                PublishRule::Frame(_) => PublishShape::plain(),
            },
            _ => PublishShape::plain(),
        }
    }

    fn plain() -> Self {
        PublishShape {
            template: None,
            room: 0,
            headers: Arc::from([]),
        }
    }

    fn body(&self, message: &Bytes) -> Bytes {
        match &self.template {
            Some(t) => Bytes::from(t.render(message, self.room)),
            None => message.clone(),
        }
    }
}

/// Most `POST /publish` streams one HTTP/2 publisher keeps open at once (the server allows 32).
///
/// Over HTTP/1.1 a connection carries one request at a time, so a publisher must wait for each
/// response. Over HTTP/2 it need not, and a page's `fetch()` calls do not: waiting would put the
/// whole POST round trip in the publishing budget (10 ms at 100 msg/s from one publisher), and in
/// hyper that round trip is several task hand-offs on each side (a task per stream), each queued
/// behind the hundreds of wake-ups every publish causes. Measured with 100 subscribers, it was
/// 3.7–11.7 ms at p50 (8 runs) against 0.4–2.3 ms over HTTP/1.1, so h2 publishers fell behind
/// their schedule and their backlog showed as hundreds of ms of push latency (docs/findings.md, "Long-poll over HTTP/2").
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
    let Some(first) = first_connect(
        &ctx,
        Joiner::Publisher(&mut recorder.counts),
        Box::pin(connect(&ctx, &[])),
    )
    .await
    else {
        return recorder;
    };
    // The connection while no request holds it all (HTTP/1.1: none in flight; over HTTP/2 it
    // stays here, and each request takes a handle on it).
    let mut sender = Some(first);
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
    let path = &in_room(
        &ctx.target.paths.publish,
        ctx.plan.on_wire(publishing.room()),
    );
    let shape = PublishShape::of(&ctx, publishing.room());
    let post = |sender: &mut Option<Sender>, message: &Bytes| {
        let conn = match sender {
            Some(s @ Sender::Http2 { .. }) => s.h2_handle(),
            _ => sender.take(),
        }
        .expect("HTTP/1.1 sends only once its one request in flight is answered");
        let request = Outgoing {
            method: Method::Post,
            target: path.clone(),
            event_stream: false,
            last_event_id: None,
            conditional: None,
            headers: shape.headers.clone(),
            body: shape.body(message),
        };
        conn.exchange(&ctx, request, "publish")
    };
    // Messages sent and not yet answered (with their intended times), and their responses, in
    // the same order.
    let mut unanswered: VecDeque<(Bytes, Instant, Instant)> = VecDeque::new();
    let mut responses = FuturesOrdered::new();
    let mut backoff = Backoff::new(ctx.plan.reconnect, u64::from(index));
    loop {
        let more = publishing.has_next();
        if !more && unanswered.is_empty() {
            break;
        }
        let may_send = more && unanswered.len() < limit;
        tokio::select! {
            _ = ctx.stop.cancelled() => break,
            ready = publishing.ready(), if may_send => {
                let Some((message, at)) = publishing.take(ctx.plan.payload_bytes).filter(|_| ready) else {
                    continue;
                };
                let message = Bytes::from(message);
                responses.push_back(post(&mut sender, &message));
                unanswered.push_back((message, at, Instant::now()));
                recorder.counts.http_requests += 1;
            }
            Some(response) = responses.next() => match response {
                Ok((back, head, _)) if (200..300).contains(&head.status) => {
                    sender.get_or_insert(back);
                    if let Some((_, at, posted)) = unanswered.pop_front() {
                        recorder.record_publish_rtt(posted.elapsed());
                        publishing.published(at);
                    }
                }
                // The server refused this message: not published, and retrying would not help.
                // A gateway's 502, 503 or 504 is another matter (a balancer with no instance up,
                // as during a deploy): retried below, as a lost connection is.
                Ok((_, head, _)) if !(502..=504).contains(&head.status) => {
                    recorder.counts.io_errors += 1;
                    break;
                }
                // The connection is gone, or the gateway had nowhere to send the message:
                // reconnect and send every unanswered message again (each keeps its intended
                // time, so the outage shows as latency).
                _ => {
                    responses = FuturesOrdered::new();
                    let counts = &mut recorder.counts;
                    match reconnect(&ctx, &mut backoff, Start::AfterBackoff, counts, || {
                        connect(&ctx, &[])
                    })
                    .await
                    {
                        Some(fresh) => {
                            sender = Some(fresh);
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
