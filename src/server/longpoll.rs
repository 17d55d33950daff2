//! Long-poll and short-poll: the hub read through `GET /poll`.
//!
//! # Protocol
//! - `GET /poll` — join: answered at once, empty, with the current end of the stream in
//!   `x-next-cursor`.
//! - `GET /poll?cursor=N` — every message after `N`, at most `max_batch`, as a netstring batch
//!   ([`crate::codec::batch`]); if there is none yet, the request is held until one is published or
//!   `hold` passes, then answered (possibly empty). With `&wait=0` (short-poll) it is answered at
//!   once. Headers: `x-next-cursor` (ask with it next time), `x-missed: K` when K messages after
//!   `N` were already overwritten in the ring, and `x-reset: 1` when `N` is ahead of the server
//!   (it restarted without its state): the answer reads the restarted stream from its start, so
//!   the client misses nothing published since. No message falls between two polls:
//!   that is what the cursor is for.
//! - `&room=K` (anywhere in the query) reads room K instead of room 0; cursors are per room.
//!
//! The body for a range is encoded once and shared by every poller asking for it
//! ([`super::shared`]): after a publish nearly all of them are at the same cursor. A poll whose
//! `Accept-Encoding` names gzip gets the batch gzip-compressed (`Content-Encoding: gzip`), also
//! once per range.
//!
//! Responses carry only what the protocol needs (`content-length`, hyper's `date`, the `x-`
//! headers), so the byte counts are HTTP's best case, not an inflated one.

use bytes::Bytes;
use hyper::{Response, StatusCode};
use tokio::time::{Instant, timeout_at};

use super::State;
use super::http::{Body, full, status};
use super::hub::{Payload, Room, Span};
use super::shared::Wire;
use crate::protocol::{MISSED, NEXT_CURSOR, RESET};

/// What a `GET /poll` query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Query {
    /// `None` joins at the current end.
    cursor: Option<u64>,
    /// `false` for short-poll (`wait=0`): answer at once even if empty.
    hold: bool,
}

/// Answers `GET /poll?<query>` in `room` (which the caller read from the same query), the body
/// gzip-compressed if `gzip` (the request accepts it).
pub async fn poll<M: Payload>(
    query: Option<&str>,
    state: &State<M>,
    room: &Room,
    gzip: bool,
) -> Response<Body> {
    let wire = if gzip { Wire::PollGzip } else { Wire::Poll };
    match parse_query(query) {
        Ok(Query { cursor: None, .. }) => {
            respond(state.hub.span(room, room.latest(), 0), Bytes::new(), wire)
        }
        Ok(Query {
            cursor: Some(cursor),
            hold,
        }) => read(cursor, hold, state, room, wire).await,
        Err(()) => status(
            StatusCode::BAD_REQUEST,
            "cursor and wait must be non-negative integers\n",
        ),
    }
}

/// Answers at once if there is anything after `cursor` (or if not holding), else holds until
/// news, `hold` or shutdown.
async fn read<M: Payload>(
    cursor: u64,
    hold: bool,
    state: &State<M>,
    room: &Room,
    wire: Wire,
) -> Response<Body> {
    let deadline = Instant::now() + state.hold;
    let mut news = room.subscribe();
    loop {
        news.borrow_and_update();
        let max = state.limits.max_batch;
        let (span, body) = state.shared.answer(&state.hub, room, wire, cursor, max);
        if !hold || !span.is_empty() || span.missed > 0 || span.reset {
            return respond(span, body, wire);
        }
        tokio::select! {
            changed = timeout_at(deadline, news.changed()) => {
                if !matches!(changed, Ok(Ok(()))) {
                    return respond(span, body, wire);
                }
            }
            _ = state.stop.cancelled() => return respond(span, body, wire),
        }
    }
}

/// The answer for `span` with its `body`: the netstring batch every poller at that cursor shares
/// (an empty one goes uncompressed).
fn respond(span: Span, body: Bytes, wire: Wire) -> Response<Body> {
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(NEXT_CURSOR, span.next_cursor);
    if wire == Wire::PollGzip && !body.is_empty() {
        response = response.header(hyper::header::CONTENT_ENCODING, "gzip");
    }
    if span.missed > 0 {
        response = response.header(MISSED, span.missed);
    }
    if span.reset {
        response = response.header(RESET, 1);
    }
    response
        .body(full(body))
        .expect("status and integer headers are always valid")
}

/// Whether a request's `Accept-Encoding` names gzip (with a weight above 0, RFC 9110 §12.5.3).
pub fn accepts_gzip(headers: &hyper::HeaderMap) -> bool {
    let codings = headers.get_all(hyper::header::ACCEPT_ENCODING);
    codings.iter().filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let zero = parts.any(|p| {
                p.replace(' ', "").starts_with("q=0")
                    && !p.contains(['1', '2', '3', '4', '5', '6', '7', '8', '9'])
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !zero
        })
    })
}

fn parse_query(query: Option<&str>) -> Result<Query, ()> {
    let mut q = Query {
        cursor: None,
        hold: true,
    };
    for pair in query.unwrap_or_default().split('&') {
        if let Some(value) = pair.strip_prefix("cursor=") {
            q.cursor = Some(value.parse().map_err(|_| ())?);
        } else if let Some(value) = pair.strip_prefix("wait=") {
            q.hold = value.parse::<u64>().map_err(|_| ())? != 0;
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::{Query, accepts_gzip, parse_query};

    #[test]
    fn gzip_is_accepted_unless_weighted_zero() {
        let accepts = |v: &'static str| {
            let mut h = hyper::HeaderMap::new();
            h.insert(
                "accept-encoding",
                hyper::header::HeaderValue::from_static(v),
            );
            accepts_gzip(&h)
        };
        assert!(accepts("gzip"));
        assert!(accepts("br, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip; q=0.000, br"));
        assert!(!accepts("identity"));
        assert!(!accepts_gzip(&hyper::HeaderMap::new()));
    }

    #[test]
    fn poll_query() {
        let q = |cursor, hold| Ok(Query { cursor, hold });
        assert_eq!(parse_query(None), q(None, true));
        assert_eq!(parse_query(Some("cursor=12")), q(Some(12), true));
        assert_eq!(parse_query(Some("x=1&cursor=0")), q(Some(0), true));
        assert_eq!(parse_query(Some("cursor=5&wait=0")), q(Some(5), false));
        assert_eq!(parse_query(Some("cursor=-1")), Err(()));
        assert_eq!(parse_query(Some("cursor=1&wait=x")), Err(()));
    }
}
