//! Server-sent events: the hub as a `text/event-stream` (`GET /events`).
//!
//! A new stream starts at the current end of the hub, or after `Last-Event-ID` when the client
//! resumes, so a client that reconnects misses nothing still in the ring. Every message is one
//! event whose `id` is its sequence number; whatever queued up while the connection was busy
//! leaves in one body chunk, encoded once for every stream at the same cursor
//! ([`super::shared`]). Messages already overwritten are announced with a `: missed K`
//! comment. Publishing is `POST /publish`, as for long-poll. `GET /events?room=K` streams room K
//! (room 0 without it); event ids are the room's sequence numbers, so `Last-Event-ID` resumes
//! within the room.
//! With a keep-alive interval, a stream that carried nothing for that long gets an empty comment
//! ([`sse::KEEPALIVE`]), as servers send to keep proxies from closing a quiet response.
//! A request whose `Accept-Encoding` offers br or gzip gets the stream compressed
//! ([`super::longpoll::accepted_coding`] chooses), an encoder per stream, each chunk flushed so
//! it can be read at once.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::{Request, Response, StatusCode};

use tokio::time::{Instant, sleep_until};

use super::State;
use super::http::Body;
use super::hub::{Payload, Room};
use super::shared::Wire;
use crate::codec::coding::StreamEncoder;
use crate::codec::sse;
use crate::protocol::LAST_EVENT_ID;

/// Answers `GET /events` in `room`: response headers at once, then events as they are published.
pub fn events<B, M: Payload>(req: &Request<B>, state: Arc<State<M>>, room: Room) -> Response<Body> {
    let resume = req
        .headers()
        .get(LAST_EVENT_ID)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let cursor = resume.unwrap_or_else(|| room.latest());
    let mut news = room.subscribe();
    news.borrow_and_update();
    let events_left = state.limits.sse_max_events.unwrap_or(u64::MAX);
    let keepalive = state.limits.sse_keepalive;
    let quiet_until = keepalive.map(|every| Instant::now() + every);
    let coding = super::longpoll::accepted_coding(req.headers());
    let chunks = stream::unfold(
        (state, room, news, cursor, events_left, quiet_until),
        move |(state, room, mut news, mut cursor, mut events_left, mut quiet_until)| async move {
            loop {
                if events_left == 0 || state.stop.is_cancelled() {
                    return None;
                }
                let max = state
                    .limits
                    .max_batch
                    .min(usize::try_from(events_left).unwrap_or(usize::MAX));
                let (span, chunk) = state
                    .shared
                    .answer(&state.hub, &room, Wire::Sse, cursor, max);
                cursor = span.next_cursor;
                if !chunk.is_empty() {
                    events_left -= span.len() as u64;
                    quiet_until = keepalive.map(|every| Instant::now() + every);
                    let frame = Ok::<_, Infallible>(Frame::data(chunk));
                    return Some((frame, (state, room, news, cursor, events_left, quiet_until)));
                }
                let quiet = async {
                    match quiet_until {
                        Some(at) => sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    changed = news.changed() => if changed.is_err() { return None },
                    _ = state.stop.cancelled() => return None,
                    () = quiet => {
                        quiet_until = keepalive.map(|every| Instant::now() + every);
                        let frame = Ok::<_, Infallible>(Frame::data(Bytes::from_static(sse::KEEPALIVE)));
                        return Some((frame, (state, room, news, cursor, events_left, quiet_until)));
                    }
                }
            }
        },
    );
    let response = Response::builder()
        .status(StatusCode::OK)
        .header(hyper::header::CONTENT_TYPE, "text/event-stream")
        .header(hyper::header::CACHE_CONTROL, "no-cache");
    let Some(mut encoder) = StreamEncoder::new(coding) else {
        return response
            .body(BodyExt::boxed(StreamBody::new(chunks)))
            .expect("static headers are always valid");
    };
    // An encoder per stream, flushed per chunk: a stream's context is its own, so the shared
    // chunk is compressed once per reader.
    let compressed = futures_util::StreamExt::map(chunks, move |frame| {
        frame.map(|f| match f.into_data() {
            Ok(data) => Frame::data(Bytes::from(encoder.piece(&data))),
            Err(other) => other,
        })
    });
    response
        .header(hyper::header::CONTENT_ENCODING, coding.token())
        .body(BodyExt::boxed(StreamBody::new(compressed)))
        .expect("static headers are always valid")
}
