//! Poll subscribers (hyper over a counting socket): join, then poll with the cursor — held by the
//! server (long-poll) or answered at once every `interval` (short-poll), as a polling page does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use tokio::time::{Instant, sleep_until};

use super::backoff::{Backoff, retry};
use super::ctx::{Ctx, Event, Joiner, first_connect, pause_if, wait_until};
use super::failure::ConnectError;
use super::http::{Sender, connect, request};
use super::inbox::Inbox;
use crate::codec::batch;
use crate::metrics::FailureKind;
use crate::server::longpoll::{MISSED, NEXT_CURSOR};

/// How a subscriber paces its polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Long-poll: the next poll goes out as soon as an answer arrives; the server holds it.
    Held,
    /// Short-poll: one poll per interval, answered at once (`wait=0`), empty or not.
    Every(Duration),
}

/// One poll's answer.
#[derive(Debug)]
struct Answer {
    messages: Vec<Bytes>,
    next_cursor: u64,
    missed: u64,
    received_at: Instant,
}

type Pending = Pin<Box<dyn Future<Output = Result<Answer, ConnectError>> + Send>>;

/// Sends one poll; the returned future owns everything it needs, so it can stay in flight while
/// the caller waits on other events.
fn poll(sender: &mut Sender, ctx: &Ctx, cursor: Option<u64>, pacing: Pacing) -> Pending {
    let poll = &ctx.target.paths.poll;
    let path = match (cursor, pacing) {
        (None, _) => poll.clone(),
        (Some(c), Pacing::Held) => format!("{poll}?cursor={c}"),
        (Some(c), Pacing::Every(_)) => format!("{poll}?cursor={c}&wait=0"),
    };
    let response = sender.send_request(request(ctx, Method::GET, &path, Bytes::new()));
    Box::pin(async move {
        let response = response
            .await
            .map_err(|e| ConnectError::hyper("poll", &e))?;
        if response.status() != StatusCode::OK {
            return Err(ConnectError::status("poll", response.status()));
        }
        let header = |name: &str| -> Option<u64> {
            response.headers().get(name)?.to_str().ok()?.parse().ok()
        };
        let next_cursor = header(NEXT_CURSOR).ok_or_else(|| {
            ConnectError::new(FailureKind::Protocol, "poll: no valid x-next-cursor header")
        })?;
        let missed = header(MISSED).unwrap_or(0);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ConnectError::hyper("poll body", &e))?
            .to_bytes();
        let received_at = Instant::now();
        let messages = batch::split(&body)
            .map_err(|e| ConnectError::new(FailureKind::Protocol, format!("poll body: {e}")))?;
        Ok(Answer {
            messages,
            next_cursor,
            missed,
            received_at,
        })
    })
}

/// A poll in flight, or the time the next one is due (short-poll).
enum Next {
    InFlight(Pending),
    Due(Instant),
}

/// Subscriber connecting at `slot`: joins (the join's round trip is its connect time), then polls
/// with its cursor until it has every expected message or the run stops.
pub(super) async fn subscriber(
    ctx: Arc<Ctx>,
    seed: u64,
    slot: Instant,
    pacing: Pacing,
    slow: bool,
) -> Inbox {
    let mut inbox = Inbox::default();
    if !wait_until(slot, &ctx.stop).await {
        return inbox;
    }
    let join = async {
        let mut sender = connect(&ctx).await?;
        let answer = poll(&mut sender, &ctx, None, pacing).await?;
        Ok::<_, ConnectError>((sender, answer.next_cursor))
    };
    let Some((mut sender, mut cursor)) =
        first_connect(&ctx, Joiner::Subscriber(&mut inbox), Box::pin(join)).await
    else {
        return inbox;
    };
    inbox.counts.http_requests += 1;

    let mut timeline_rx = ctx.timeline.subscribe();
    let mut timeline = *timeline_rx.borrow_and_update();
    let mut finals = ctx.tally.finals();
    inbox.set_expected(*finals.borrow_and_update());
    // Short-poll slots: every interval from the join, like a page's timer. A poll still in flight
    // at its next slot makes the client skip that slot (one request at a time per connection).
    let mut slot = Instant::now();
    let mut next = match pacing {
        Pacing::Held => Next::InFlight(poll(&mut sender, &ctx, Some(cursor), pacing)),
        Pacing::Every(interval) => {
            slot += interval;
            Next::Due(slot)
        }
    };
    let mut backoff = Backoff::new(ctx.plan.reconnect, seed);
    let stopped = ctx.stop.cancelled();
    tokio::pin!(stopped);
    while !inbox.complete() {
        let due = match &next {
            Next::Due(at) => Some(*at),
            Next::InFlight(_) => None,
        };
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
            _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                next = Next::InFlight(poll(&mut sender, &ctx, Some(cursor), pacing));
            }
            answer = async {
                match &mut next {
                    Next::InFlight(pending) => pending.await,
                    Next::Due(_) => std::future::pending().await,
                }
            } => {
                inbox.counts.http_requests += 1;
                let Ok(answer) = answer else {
                    if ctx.stop.is_cancelled() {
                        break;
                    }
                    // Lost the connection: reconnect and poll on from the cursor, so nothing
                    // still in the server's ring is missed.
                    let lost_at = Instant::now();
                    match retry(&ctx, &mut backoff, || connect(&ctx)).await {
                        Some(fresh) => {
                            sender = fresh;
                            inbox.counts.reconnects += 1;
                            inbox.counts.disconnected += lost_at.elapsed();
                            next = Next::InFlight(poll(&mut sender, &ctx, Some(cursor), pacing));
                            continue;
                        }
                        None => {
                            inbox.counts.io_errors += 1;
                            break;
                        }
                    }
                };
                inbox.counts.missed_reported += answer.missed;
                if answer.messages.is_empty() {
                    inbox.counts.empty_polls += 1;
                } else {
                    inbox.counts.responses_with_messages += 1;
                    inbox.counts.messages_in_responses += answer.messages.len() as u64;
                }
                for message in &answer.messages {
                    inbox.receive(message, answer.received_at, timeline.as_ref());
                }
                cursor = answer.next_cursor;
                pause_if(slow, &ctx).await;
                next = match pacing {
                    Pacing::Held => Next::InFlight(poll(&mut sender, &ctx, Some(cursor), pacing)),
                    Pacing::Every(interval) => {
                        let now = Instant::now();
                        while slot <= now {
                            slot += interval;
                        }
                        Next::Due(slot)
                    }
                };
            }
        }
    }
    drop(next);
    ctx.send(Event::Finished);
    ctx.close.cancelled().await;
    inbox
}
