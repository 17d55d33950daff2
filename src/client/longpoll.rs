//! Poll subscribers (our HTTP/1.1 client, or hyper's HTTP/2, over a counting socket): join, then poll with the cursor — held by the
//! server (long-poll) or answered at once every `interval` (short-poll), as a polling page does.
//!
//! Against nchan the cursor is nchan's own: the last answer's `Last-Modified` and `Etag`, sent
//! back as `If-Modified-Since` and `If-None-Match`; each answer carries one message. There is no
//! join request: the first poll carries no cursor, and nchan holds it for the next message
//! published (`nchan_subscriber_first_message newest`). A first poll that named a message before
//! the channel's first (a cursor from the second before) crashed nchan 1.3.6's workers
//! (`spool_fetch_msg` assertion) under a few dozen subscribers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, sleep_until};

use super::backoff::{Backoff, Start, reconnect};
use super::ctx::{Ctx, Event, Joiner, first_connect, pause_if, wait_until};
use super::failure::ConnectError;
use super::http::{Outgoing, Sender, connect, expect_ok};
use super::inbox::Inbox;
use super::signals::News;
use crate::codec::batch;
use crate::codec::coding::Coding;
use crate::codec::envelope::MARKER;
use crate::codec::h1::Head;
use crate::metrics::FailureKind;
use crate::protocol::{MISSED, NEXT_CURSOR, RoomId, in_room};
use crate::scenario::Transport;
use crate::scenario::template::CursorFrom;
use crate::wire::stamp::KernelStamp;

/// How a subscriber paces its polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pacing {
    /// Long-poll: the next poll goes out as soon as an answer arrives; the server holds it.
    Held,
    /// Short-poll: one poll per interval, answered at once (`wait=0`), empty or not.
    Every(Duration),
}

/// Where a subscriber polls on from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cursor {
    /// wsbench's protocol: the sequence number of the last message read.
    Seq(u64),
    /// nchan's first poll: no cursor, so the next message published.
    NchanNewest,
    /// nchan's: the last answer's `Last-Modified` and `Etag`.
    Nchan {
        /// An HTTP date.
        modified: String,
        /// nchan's tag within that second.
        etag: String,
    },
    /// A template's: the value for `{cursor}`, as the last answer gave it.
    Template(String),
}

/// One poll's answer.
#[derive(Debug)]
struct Answer {
    messages: Vec<Bytes>,
    next_cursor: Cursor,
    missed: u64,
    received_at: Instant,
    /// The kernel's arrival time of the bytes that completed the answer, over HTTP/1.1.
    arrival: Option<KernelStamp>,
}

/// The answer's fields a poll reads.
const FIELDS: &[&str] = &[NEXT_CURSOR, MISSED, "content-encoding"];
/// The most a compressed answer may decode to: a batch of the most messages at the largest size,
/// and then some.
const MAX_BODY: usize = 64 << 20;

/// The answer's fields an nchan poll reads.
const NCHAN_FIELDS: &[&str] = &["last-modified", "etag"];

/// The fields this target's answers carry the cursor in.
fn fields(ctx: &Ctx) -> &'static [&'static str] {
    match &ctx.target.transport {
        Transport::Nchan(_) => NCHAN_FIELDS,
        Transport::Template(t) => match t.cursor.as_ref().map(|c| &c.from) {
            Some(CursorFrom::Header(names)) => names,
            _ => &[],
        },
        _ => FIELDS,
    }
}

/// Where the first poll starts, for a target that needs no join poll: nchan's newest message, a
/// template's `first` cursor.
fn first_cursor(ctx: &Ctx) -> Option<Cursor> {
    match &ctx.target.transport {
        Transport::Nchan(_) => Some(Cursor::NchanNewest),
        Transport::Template(t) => t.cursor.as_ref().map(|c| Cursor::Template(c.first.clone())),
        _ => None,
    }
}

/// A poll in flight: it owns the connection and gives it back with the answer.
type Pending = Pin<Box<dyn Future<Output = Result<(Sender, Answer), ConnectError>> + Send>>;

/// Sends one poll in `room` on `sender`; the returned future owns the connection, so it can stay
/// in flight while the caller waits on other events (dropping it loses the connection, never
/// part of an answer). With rooms the room comes first: `/poll?room=K&cursor=N`.
fn poll(
    sender: Sender,
    ctx: &Ctx,
    room: RoomId,
    cursor: Option<&Cursor>,
    pacing: Pacing,
) -> Pending {
    let poll = in_room(&ctx.target.paths.poll, ctx.plan.on_wire(room));
    let sep = if poll.contains('?') { '&' } else { '?' };
    let request = match (cursor, pacing) {
        (Some(Cursor::Template(c)), _) => {
            let target = poll.replace("{cursor}", &percent_encoded(c));
            let exchange = sender.exchange(ctx, Outgoing::get(target), "poll");
            let from = match &ctx.target.transport {
                Transport::Template(t) => t.cursor.as_ref().map(|c| c.from.clone()),
                _ => None,
            };
            return template_answer(exchange, c.clone(), from);
        }
        (Some(Cursor::NchanNewest), _) => {
            return nchan_answer(sender.exchange(ctx, Outgoing::get(poll), "poll"), None);
        }
        (Some(Cursor::Nchan { modified, etag }), _) => {
            let request = Outgoing::get(poll);
            let exchange = sender.exchange(
                ctx,
                Outgoing {
                    conditional: Some((modified.clone(), etag.clone())),
                    ..request
                },
                "poll",
            );
            return nchan_answer(exchange, cursor.cloned());
        }
        (None, _) => Outgoing::get(poll),
        (Some(Cursor::Seq(c)), Pacing::Held) => Outgoing::get(format!("{poll}{sep}cursor={c}")),
        (Some(Cursor::Seq(c)), Pacing::Every(_)) => {
            Outgoing::get(format!("{poll}{sep}cursor={c}&wait=0"))
        }
    };
    let request = match ctx.target.compress {
        Coding::Identity => request,
        coding => Outgoing {
            headers: Arc::from([("accept-encoding".to_string(), coding.token().to_string())]),
            ..request
        },
    };
    let asked = ctx.target.compress;
    let exchange = sender.exchange(ctx, request, "poll");
    Box::pin(async move {
        let (sender, head, body) = exchange.await?;
        let (received_at, arrival) = (Instant::now(), sender.arrival());
        expect_ok(&head, "poll")?;
        let header = |name: &str| -> Option<u64> { head.get(name)?.trim().parse().ok() };
        let next_cursor = header(NEXT_CURSOR).map(Cursor::Seq).ok_or_else(|| {
            ConnectError::new(FailureKind::Protocol, "poll: no valid x-next-cursor header")
        })?;
        let missed = header(MISSED).unwrap_or(0);
        let body = match head.get("content-encoding") {
            None => body,
            Some(c) if asked != Coding::Identity && Coding::from_token(c) == Some(asked) => asked
                .decode(&body, MAX_BODY)
                .map(Bytes::from)
                .map_err(|e| ConnectError::new(FailureKind::Protocol, format!("poll body: {e}")))?,
            Some(other) => {
                let message = format!("poll: unrequested content-encoding {other:?}");
                return Err(ConnectError::new(FailureKind::Protocol, message));
            }
        };
        let messages = batch::split(&body)
            .map_err(|e| ConnectError::new(FailureKind::Protocol, format!("poll body: {e}")))?;
        let answer = Answer {
            messages,
            next_cursor,
            missed,
            received_at,
            arrival,
        };
        Ok((sender, answer))
    })
}

/// An nchan poll's answer: one message and the cursor after it (`200`), nothing new (`304`, or
/// `408` when nchan's subscriber timeout ends a held poll), anything else a failure.
fn nchan_answer(
    exchange: impl Future<Output = Result<(Sender, Head, Bytes), ConnectError>> + Send + 'static,
    cursor: Option<Cursor>,
) -> Pending {
    Box::pin(async move {
        let (sender, head, body) = exchange.await?;
        let (received_at, arrival) = (Instant::now(), sender.arrival());
        let (messages, next_cursor) = match head.status {
            200 => {
                let field = |name: &str| head.get(name).map(|v| v.trim().to_string());
                let next = match (field("last-modified"), field("etag")) {
                    (Some(modified), Some(etag)) => Cursor::Nchan { modified, etag },
                    _ => {
                        return Err(ConnectError::new(
                            FailureKind::Protocol,
                            "poll: an nchan answer without Last-Modified and Etag",
                        ));
                    }
                };
                (vec![body], next)
            }
            304 | 408 => (Vec::new(), cursor.unwrap_or(Cursor::NchanNewest)),
            status => {
                return Err(ConnectError::new(
                    FailureKind::Rejected,
                    format!("poll: HTTP {status}"),
                ));
            }
        };
        let answer = Answer {
            messages,
            next_cursor,
            missed: 0,
            received_at,
            arrival,
        };
        Ok((sender, answer))
    })
}

/// A template poll's answer: every envelope in the body is a message, and the next cursor comes
/// from the named header or JSON field (`200`); nothing new keeps the cursor (`204`, `304`,
/// `408`); anything else is a failure.
fn template_answer(
    exchange: impl Future<Output = Result<(Sender, Head, Bytes), ConnectError>> + Send + 'static,
    cursor: String,
    from: Option<CursorFrom>,
) -> Pending {
    Box::pin(async move {
        let (sender, head, body) = exchange.await?;
        let (received_at, arrival) = (Instant::now(), sender.arrival());
        let broken = |what: &str| ConnectError::new(FailureKind::Protocol, format!("poll: {what}"));
        let (messages, next) = match head.status {
            200 => {
                let next = match &from {
                    Some(CursorFrom::Header(names)) => names
                        .first()
                        .and_then(|name| head.get(name))
                        .map(|v| v.trim().to_string()),
                    Some(CursorFrom::Field(field)) => {
                        serde_json::from_slice::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| match v.get(field)? {
                                serde_json::Value::String(s) => Some(s.clone()),
                                serde_json::Value::Number(n) => Some(n.to_string()),
                                _ => None,
                            })
                    }
                    None => None,
                };
                let next = next.ok_or_else(|| broken("an answer without the template's cursor"))?;
                (envelopes(&body), next)
            }
            204 | 304 | 408 => (Vec::new(), cursor),
            status => {
                return Err(ConnectError::new(
                    FailureKind::Rejected,
                    format!("poll: HTTP {status}"),
                ));
            }
        };
        let answer = Answer {
            messages,
            next_cursor: Cursor::Template(next),
            missed: 0,
            received_at,
            arrival,
        };
        Ok((sender, answer))
    })
}

/// The messages in a template's answer: from each envelope's marker to the next one's (a body
/// is JSON or text around them, so each slice holds one envelope and some of its wrapping).
fn envelopes(body: &Bytes) -> Vec<Bytes> {
    let starts: Vec<usize> = memchr::memmem::find_iter(body, MARKER).collect();
    let ends = starts.iter().skip(1).copied().chain([body.len()]);
    starts
        .iter()
        .zip(ends)
        .map(|(&a, b)| body.slice(a..b))
        .collect()
}

/// `value` with everything but RFC 3986's unreserved characters percent-encoded, for a query.
fn percent_encoded(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A poll in flight, or the time the next one is due (short-poll) and the idle connection.
enum Next {
    InFlight(Pending),
    Due(Instant, Sender),
    /// No connection: churn closed it and the subscriber is rejoining.
    Closed,
}

/// Subscriber in `room` connecting at `slot`: joins (the join's round trip is its connect time),
/// then polls with its cursor until it has every expected message or the run stops.
pub(super) async fn subscriber(
    ctx: Arc<Ctx>,
    index: u32,
    room: RoomId,
    slot: Instant,
    pacing: Pacing,
    slow: bool,
) -> Inbox {
    let mut inbox = Inbox::new(ctx.plan.run, room, ctx.plan.room_count());
    if !wait_until(slot, &ctx.stop).await {
        return inbox;
    }
    let first = first_cursor(&ctx);
    let no_join_poll = first.is_some();
    let join = async {
        let sender = connect(&ctx, fields(&ctx)).await?;
        if let Some(first) = first {
            return Ok((sender, first));
        }
        let (sender, answer) = poll(sender, &ctx, room, None, pacing).await?;
        Ok::<_, ConnectError>((sender, answer.next_cursor))
    };
    let Some((sender, mut cursor)) =
        first_connect(&ctx, Joiner::Subscriber(&mut inbox), Box::pin(join)).await
    else {
        return inbox;
    };
    inbox.counts.http_requests += u64::from(!no_join_poll);

    let mut news = ctx.signals.listener(index as usize);
    let mut timeline = None;
    // Short-poll slots: every interval from the join, like a page's timer. A poll still in flight
    // at its next slot makes the client skip that slot (one request at a time per connection).
    let mut slot = Instant::now();
    let mut next = match pacing {
        Pacing::Held => Next::InFlight(poll(sender, &ctx, room, Some(&cursor), pacing)),
        Pacing::Every(interval) => {
            slot += interval;
            Next::Due(slot, sender)
        }
    };
    let mut backoff = Backoff::new(ctx.plan.reconnect, u64::from(index));
    loop {
        // A kick first: data ready on every wake-up would otherwise starve it.
        let mut kicked = news.take_kick();
        if !kicked && !ctx.catch_up(&mut inbox, &mut timeline) {
            // Done; a kick that came meanwhile is still served.
            kicked = news.close();
            if !kicked {
                break;
            }
        }
        let due = match &next {
            Next::Due(at, _) => Some(*at),
            Next::InFlight(_) | Next::Closed => None,
        };
        // Kicked already: no need to wait for anything.
        if !kicked {
            tokio::select! {
                biased;
                _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    next = match next {
                        Next::Due(_, sender) => Next::InFlight(poll(sender, &ctx, room, Some(&cursor), pacing)),
                        in_flight => in_flight,
                    };
                }
                answer = async {
                    match &mut next {
                        Next::InFlight(pending) => pending.await,
                        Next::Due(..) | Next::Closed => std::future::pending().await,
                    }
                } => {
                    inbox.counts.http_requests += 1;
                    let Ok((sender, answer)) = answer else {
                        if ctx.stop.is_cancelled() {
                            break;
                        }
                        // Lost the connection: reconnect and poll on from the cursor, so nothing
                        // still in the server's ring is missed.
                        inbox.away();
                        let counts = &mut inbox.counts;
                        let start = Start::AfterBackoff;
                        match reconnect(&ctx, &mut backoff, start, counts, || connect(&ctx, fields(&ctx))).await {
                            Some(fresh) => {
                                inbox.back();
                                next = Next::InFlight(poll(fresh, &ctx, room, Some(&cursor), pacing));
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
                    ctx.learn_timeline(&mut timeline);
                    // Every message of the answer arrived with its last bytes.
                    for message in &answer.messages {
                        let (at, arrival) = (answer.received_at, answer.arrival);
                        inbox.receive_stamped(message, at, arrival, timeline.as_ref());
                    }
                    cursor = answer.next_cursor;
                    pause_if(slow, &ctx).await;
                    next = match pacing {
                        Pacing::Held => Next::InFlight(poll(sender, &ctx, room, Some(&cursor), pacing)),
                        Pacing::Every(interval) => {
                            let now = Instant::now();
                            while slot <= now {
                                slot += interval;
                            }
                            Next::Due(slot, sender)
                        }
                    };
                }
                heard = news.news() => kicked = heard == News::Churn,
            }
        }
        if kicked {
            // Churn: close the connection (with any poll in flight, which was sent) and rejoin
            // at once, polling on from the cursor as after a loss.
            inbox.counts.churned += 1;
            inbox.counts.http_requests += u64::from(matches!(next, Next::InFlight(_)));
            next = Next::Closed;
            inbox.away();
            let counts = &mut inbox.counts;
            match reconnect(&ctx, &mut backoff, Start::Now, counts, || {
                connect(&ctx, fields(&ctx))
            })
            .await
            {
                Some(fresh) => {
                    inbox.back();
                    next = Next::InFlight(poll(fresh, &ctx, room, Some(&cursor), pacing))
                }
                None => break,
            }
        }
    }
    drop(news);
    drop(next);
    ctx.send(Event::Finished);
    ctx.close.cancelled().await;
    inbox
}
