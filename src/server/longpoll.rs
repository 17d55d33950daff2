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
//! `Accept-Encoding` offers br or gzip gets the batch compressed (`Content-Encoding: br` or
//! `gzip`, br when both are offered at the same weight), also once per range and coding.
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
use crate::codec::coding::Coding;
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
/// in `coding` (the one the request accepts, [`accepted_coding`]).
pub async fn poll<M: Payload>(
    query: Option<&str>,
    state: &State<M>,
    room: &Room,
    coding: Coding,
) -> Response<Body> {
    let wire = Wire::poll(coding);
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
    if wire.coding() != Coding::Identity && !body.is_empty() {
        response = response.header(hyper::header::CONTENT_ENCODING, wire.coding().token());
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

/// The coding a request's `Accept-Encoding` (RFC 9110 §12.5.3) asks for, of br and gzip: the
/// higher weight wins and br a tie (it packs text smaller at a like cost, and browsers offer
/// both); a weight of 0 refuses a coding, `*` stands for one not named, and with neither
/// offered the answer goes uncompressed.
pub fn accepted_coding(headers: &hyper::HeaderMap) -> Coding {
    // Weights in thousandths, as `q` has at most three decimals.
    let (mut gzip, mut br, mut any) = (None, None, None);
    let codings = headers.get_all(hyper::header::ACCEPT_ENCODING);
    for element in codings
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = element.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let weight = parts
            .find_map(|p| {
                let (key, value) = p.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| qvalue(value.trim()))
            })
            .unwrap_or(1000);
        let slot = match name {
            "*" => &mut any,
            n if n.eq_ignore_ascii_case("gzip") => &mut gzip,
            n if n.eq_ignore_ascii_case("br") => &mut br,
            _ => continue,
        };
        *slot = Some(weight);
    }
    let (gzip, br) = (gzip.or(any).unwrap_or(0), br.or(any).unwrap_or(0));
    if br > 0 && br >= gzip {
        Coding::Br
    } else if gzip > 0 {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// A `q` value in thousandths (`0.5` is 500); one that does not parse refuses (0).
fn qvalue(value: &str) -> u16 {
    match value.parse::<f32>() {
        Ok(q) if (0.0..=1.0).contains(&q) => (q * 1000.0).round() as u16,
        _ => 0,
    }
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
    use super::{Coding, Query, accepted_coding, parse_query};

    #[test]
    fn the_higher_weight_wins_and_br_a_tie() {
        let accepted = |v: &'static str| {
            let mut h = hyper::HeaderMap::new();
            h.insert(
                "accept-encoding",
                hyper::header::HeaderValue::from_static(v),
            );
            accepted_coding(&h)
        };
        assert_eq!(accepted("gzip"), Coding::Gzip);
        assert_eq!(accepted("br"), Coding::Br);
        assert_eq!(accepted("gzip, deflate, br, zstd"), Coding::Br);
        assert_eq!(accepted("br;q=0.5, GZIP"), Coding::Gzip);
        assert_eq!(accepted("br, GZIP;q=0.5"), Coding::Br);
        assert_eq!(accepted("BR;Q=0.9, gzip;q=0.9"), Coding::Br);
        assert_eq!(accepted("*"), Coding::Br);
        assert_eq!(accepted("br;q=0, *"), Coding::Gzip);
        assert_eq!(accepted("gzip;q=0"), Coding::Identity);
        assert_eq!(accepted("gzip; q=0.000, br"), Coding::Br);
        assert_eq!(accepted("br;q=zero"), Coding::Identity);
        assert_eq!(accepted("identity"), Coding::Identity);
        assert_eq!(accepted_coding(&hyper::HeaderMap::new()), Coding::Identity);
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
