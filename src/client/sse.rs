//! SSE subscriber (our HTTP/1.1 client, or hyper's HTTP/2, over a counting socket): `GET /events`, parse the event stream, and
//! when the stream ends or breaks (or churn closes it), reconnect with `Last-Event-ID` so nothing
//! still in the server's ring is missed.

use std::sync::Arc;

use bytes::Bytes;

use tokio::time::Instant;

use super::backoff::{Backoff, Start, reconnect};
use super::ctx::{Ctx, Event, Joiner, first_connect, pause_if, wait_until};
use super::failure::ConnectError;
use super::http::{BodyStream, Outgoing, connect, expect_ok};
use super::inbox::Inbox;
use super::signals::News;
use crate::codec::coding::{Coding, StreamDecoder};
use crate::codec::sse::{Item, Parser};
use crate::metrics::FailureKind;
use crate::protocol::{RoomId, in_room};
use crate::wire::stamp::KernelStamp;

/// Opens the stream of `room` (resuming after `last_id` if given) and returns its body once the
/// response head has arrived; the body keeps its connection open as long as it is read. With
/// a coding asked for (`compress = "gzip"` or `"br"`), a stream in that coding is decoded as it
/// arrives.
async fn open(ctx: &Ctx, room: RoomId, last_id: Option<Bytes>) -> Result<Events, ConnectError> {
    let asked = ctx.target.compress;
    let compressed = asked != Coding::Identity;
    let fields: &'static [&'static str] = match compressed {
        true => &["content-encoding"],
        false => &[],
    };
    let sender = connect(ctx, fields).await?;
    let request = Outgoing {
        event_stream: true,
        last_event_id: last_id,
        headers: match asked {
            Coding::Identity => Arc::from([]),
            coding => Arc::from([("accept-encoding".to_string(), coding.token().to_string())]),
        },
        ..Outgoing::get(in_room(&ctx.target.paths.events, ctx.plan.on_wire(room)))
    };
    let (head, body) = sender.open_stream(ctx, request, "events").await?;
    expect_ok(&head, "events")?;
    let decoder = match head.get("content-encoding") {
        None => None,
        Some(c) if compressed && Coding::from_token(c) == Some(asked) => {
            StreamDecoder::new(asked, MAX_PIECE)
        }
        Some(other) => {
            let message = format!("events: unrequested content-encoding {other:?}");
            return Err(ConnectError::new(FailureKind::Protocol, message));
        }
    };
    Ok(Events { body, decoder })
}

/// The most one read of a compressed stream may decode to.
const MAX_PIECE: usize = 16 << 20;

/// An event stream's body, decoded as it arrives if the server compressed it.
struct Events {
    body: BodyStream,
    decoder: Option<StreamDecoder>,
}

impl Events {
    /// [`BodyStream::arrival`].
    fn arrival(&self) -> Option<KernelStamp> {
        self.body.arrival()
    }

    /// [`BodyStream::part`], decoded; a body that is not in its coding (or decodes past
    /// [`MAX_PIECE`]) fails the stream. Cancel-safe as the body's is.
    async fn part(
        &mut self,
        step: &str,
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<bool, ConnectError> {
        let Events { body, decoder } = self;
        let mut failed = None;
        let more = body
            .part(step, |data| match decoder.as_mut() {
                None => on_data(data),
                Some(d) => match d.piece(data) {
                    Ok(decoded) => on_data(&decoded),
                    Err(e) => failed = Some(e),
                },
            })
            .await?;
        match failed {
            Some(e) => Err(ConnectError::new(
                FailureKind::Protocol,
                format!("{step}: {e}"),
            )),
            None => Ok(more),
        }
    }
}

/// Subscriber in `room` connecting at `slot`; its connect time is TCP connect + the response head.
pub(super) async fn subscriber(
    ctx: Arc<Ctx>,
    index: u32,
    room: RoomId,
    slot: Instant,
    slow: bool,
) -> Inbox {
    let mut inbox = Inbox::new(ctx.plan.run, room, ctx.plan.room_count());
    if !wait_until(slot, &ctx.stop).await {
        return inbox;
    }
    let Some(first) = first_connect(
        &ctx,
        Joiner::Subscriber(&mut inbox),
        Box::pin(open(&ctx, room, None)),
    )
    .await
    else {
        return inbox;
    };
    inbox.counts.http_requests += 1;

    let mut news = ctx.signals.listener(index as usize);
    let mut timeline = None;
    let mut parser = Parser::default();
    let mut items = Vec::new();
    let mut malformed = false;
    let mut backoff = Backoff::new(ctx.plan.reconnect, u64::from(index));
    // The stream; `None` only between a close and the resumed stream.
    let mut body = Some(first);
    while let Some(stream) = body.as_mut() {
        // How the stream is to be resumed, if churn closes it (a kick is looked for first: data
        // ready on every wake-up would otherwise starve it), or it ended or broke.
        let resume = if news.take_kick() {
            Some(Start::Now)
        } else if !ctx.catch_up(&mut inbox, &mut timeline) {
            // Done; a kick that came meanwhile is still served.
            if !news.close() {
                break;
            }
            Some(Start::Now)
        } else {
            tokio::select! {
            biased;
            part = stream.part("events", |data| {
                if parser.feed(data, &mut items).is_err() {
                    malformed = true;
                }
            }) => {
                // What this read completed counts even if the stream broke right after it: the
                // resume point is past it, so the server will not send it again.
                // Every event this read completed arrived with its bytes.
                let (now, arrival) = (Instant::now(), stream.arrival());
                ctx.learn_timeline(&mut timeline);
                for item in items.drain(..) {
                    match item {
                        Item::Event { data, .. } => {
                            inbox.receive_stamped(&data, now, arrival, timeline.as_ref());
                        }
                        Item::Missed(k) => inbox.counts.missed_reported += k,
                    }
                }
                if malformed {
                    inbox.counts.io_errors += 1;
                    break;
                }
                if matches!(part, Ok(true)) {
                    pause_if(slow, &ctx).await;
                    None
                } else {
                    Some(Start::AfterBackoff)
                }
            }
            heard = news.news() => (heard == News::Churn).then_some(Start::Now),
            }
        };
        let Some(start) = resume else { continue };
        // Resume after the last complete event: a partial one is dropped (the server sends it
        // again). Churn closes the stream first, as a page's `EventSource.close()` would.
        inbox.counts.churned += u64::from(start == Start::Now);
        drop(body.take());
        inbox.away();
        let last_id = parser.last_id().cloned();
        parser = Parser::with_last_id(last_id.clone());
        let counts = &mut inbox.counts;
        body = reconnect(&ctx, &mut backoff, start, counts, || {
            open(&ctx, room, last_id.clone())
        })
        .await;
        match body {
            Some(_) => {
                inbox.counts.http_requests += 1;
                inbox.back();
            }
            None if start == Start::AfterBackoff && !ctx.stop.is_cancelled() => {
                inbox.counts.io_errors += 1;
            }
            None => {}
        }
    }
    drop(news);
    drop(body);
    ctx.send(Event::Finished);
    ctx.close.cancelled().await;
    inbox
}
