//! HTTP/1.1 long-poll server (hyper): the hub adapted to request/response.
//!
//! # Protocol
//! - `POST /publish` — the body is one message (at most `max_message_bytes`, else 413). Answer:
//!   `204 No Content`.
//! - `GET /poll` — join: answered at once, empty, with the current end of the stream in
//!   `x-next-cursor`.
//! - `GET /poll?cursor=N` — every message after `N`, at most `max_batch`, as a netstring batch
//!   ([`crate::codec::batch`]); if there is none yet, the request is held until one is published or
//!   `hold` passes, then answered (possibly empty). Headers: `x-next-cursor` (ask with it next
//!   time), `x-missed: K` when K messages after `N` were already overwritten in the ring, and
//!   `x-reset: 1` when `N` is ahead of the server (it restarted): the client rejoins at the cursor
//!   given. No message falls between two polls: that is what the cursor is for.
//! - Anything else: 404 (unknown path) or 405 (wrong method).
//!
//! Responses carry only what the protocol needs (`content-length`, hyper's `date`, the `x-`
//! headers), so the byte counts are HTTP's best case, not an inflated one.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::hub::Hub;
use super::{Limits, ServerError};
use crate::codec::batch;

/// Response header: the cursor to poll with next.
pub const NEXT_CURSOR: &str = "x-next-cursor";
/// Response header: messages after the cursor that the ring had already overwritten.
pub const MISSED: &str = "x-missed";
/// Response header: the cursor was ahead of the server; rejoin at `x-next-cursor`.
pub const RESET: &str = "x-reset";

struct State {
    hub: Hub<Bytes>,
    hold: Duration,
    limits: Limits,
    stop: CancellationToken,
}

/// Serves long-poll clients on `listener` until `shutdown` completes; held polls are then
/// answered at once and connections closed gracefully.
pub async fn serve(
    listener: TcpListener,
    hold: Duration,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let state = Arc::new(State {
        hub: Hub::new(limits.ring_capacity),
        hold,
        limits,
        stop: CancellationToken::new(),
    });
    let tasks = TaskTracker::new();
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            accepted = super::accept(&listener) => match accepted {
                Ok(tcp) => {
                    tasks.spawn(connection(TokioIo::new(tcp), state.clone()));
                }
                Err(e) => break Err(e),
            },
        }
    };
    state.stop.cancel();
    tasks.close();
    tasks.wait().await;
    result
}

async fn connection(io: TokioIo<tokio::net::TcpStream>, state: Arc<State>) {
    let service = {
        let state = state.clone();
        service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(handle(req, &state).await) }
        })
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(state.limits.header_timeout)
        .max_buf_size(16 * 1024)
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = state.stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
}

async fn handle(req: Request<Incoming>, state: &State) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::POST, "/publish") => publish(req, state).await,
        (&Method::GET, "/poll") => match parse_cursor(req.uri().query()) {
            Ok(None) => respond_batch(state.hub.read_after(state.hub.latest(), 0)),
            Ok(Some(cursor)) => poll(cursor, state).await,
            Err(()) => status(
                StatusCode::BAD_REQUEST,
                "cursor must be a non-negative integer\n",
            ),
        },
        (_, "/publish" | "/poll") => status(StatusCode::METHOD_NOT_ALLOWED, ""),
        _ => status(StatusCode::NOT_FOUND, ""),
    }
}

async fn publish(req: Request<Incoming>, state: &State) -> Response<Full<Bytes>> {
    let body = Limited::new(req.into_body(), state.limits.max_message_bytes);
    match body.collect().await {
        Ok(collected) => {
            state.hub.publish(collected.to_bytes());
            status(StatusCode::NO_CONTENT, "")
        }
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            status(StatusCode::PAYLOAD_TOO_LARGE, "message too large\n")
        }
        Err(_) => status(StatusCode::BAD_REQUEST, ""),
    }
}

/// Answers at once if there is anything after `cursor`, else holds until news, `hold` or shutdown.
async fn poll(cursor: u64, state: &State) -> Response<Full<Bytes>> {
    let deadline = Instant::now() + state.hold;
    let mut news = state.hub.subscribe();
    loop {
        news.borrow_and_update();
        let batch = state.hub.read_after(cursor, state.limits.max_batch);
        if !batch.messages.is_empty() || batch.missed > 0 || batch.reset {
            return respond_batch(batch);
        }
        tokio::select! {
            changed = timeout_at(deadline, news.changed()) => {
                if !matches!(changed, Ok(Ok(()))) {
                    return respond_batch(batch);
                }
            }
            _ = state.stop.cancelled() => return respond_batch(batch),
        }
    }
}

fn respond_batch(b: crate::server::hub::Batch<Bytes>) -> Response<Full<Bytes>> {
    let mut body = Vec::with_capacity(b.messages.iter().map(|m| m.len() + 8).sum());
    for m in &b.messages {
        batch::push(&mut body, m);
    }
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(NEXT_CURSOR, b.next_cursor);
    if b.missed > 0 {
        response = response.header(MISSED, b.missed);
    }
    if b.reset {
        response = response.header(RESET, 1);
    }
    response
        .body(Full::new(Bytes::from(body)))
        .expect("status and integer headers are always valid")
}

fn status(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = code;
    response
}

/// `None` for a join (no `cursor`), `Err` for a cursor that is not a u64.
fn parse_cursor(query: Option<&str>) -> Result<Option<u64>, ()> {
    let Some(query) = query else { return Ok(None) };
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("cursor=") {
            return value.parse().map(Some).map_err(|_| ());
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursor_query() {
        assert_eq!(parse_cursor(None), Ok(None));
        assert_eq!(parse_cursor(Some("cursor=12")), Ok(Some(12)));
        assert_eq!(parse_cursor(Some("x=1&cursor=0")), Ok(Some(0)));
        assert_eq!(parse_cursor(Some("cursor=-1")), Err(()));
        assert_eq!(parse_cursor(Some("wait=0")), Ok(None));
    }
}
