//! Response heads and chunk framing, byte for byte as hyper's HTTP/1.1 server wrote them, so
//! the lean path's answers are the ones clients (and the byte counts of every run) knew: the
//! status line, the response's own headers in order, `connection: close` when the connection
//! ends with this answer, the body's length or chunked framing, then `date`.
//!
//! Pure: no I/O.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::http::response::Parts;
use hyper::{StatusCode, Version};

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Length {
    /// A whole body of this many bytes: `content-length`.
    Known(usize),
    /// A stream on HTTP/1.1: `transfer-encoding: chunked`.
    Chunked,
    /// A stream on HTTP/1.0: ended by closing the connection.
    UntilClose,
}

/// What a response head says besides the response's own parts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    /// The request's version: the status line answers in it.
    pub version: Version,
    /// How the body is delimited.
    pub length: Length,
    /// The connection closes after this answer.
    pub close: bool,
    /// The request was `HEAD`: an empty body's length goes unsaid.
    pub head_request: bool,
}

/// Appends the head of a response with `parts`, framed as `framing` says.
pub(crate) fn encode_head(out: &mut Vec<u8>, parts: &Parts, framing: Framing) {
    let status = parts.status;
    out.extend_from_slice(match framing.version {
        Version::HTTP_10 => b"HTTP/1.0 ",
        _ => b"HTTP/1.1 ",
    });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        push_field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if framing.close && framing.version != Version::HTTP_10 {
        push_field(out, b"connection", b"close");
    }
    match framing.length {
        Length::Known(n) if has_length(status, n, framing.head_request) => {
            push_field(out, b"content-length", n.to_string().as_bytes());
        }
        Length::Chunked => push_field(out, b"transfer-encoding", b"chunked"),
        Length::Known(_) | Length::UntilClose => {}
    }
    DATE.with(|date| push_field(out, b"date", date.borrow_mut().now()));
    out.extend_from_slice(b"\r\n");
}

/// The head of a refusal that ends the connection (a head too large or not HTTP): no body.
pub(crate) fn refusal(status: StatusCode) -> Vec<u8> {
    let (parts, ()) = hyper::Response::builder()
        .status(status)
        .body(())
        .expect("a status alone is always a valid response")
        .into_parts();
    let mut out = Vec::with_capacity(128);
    let framing = Framing {
        version: Version::HTTP_11,
        length: Length::Known(0),
        close: true,
        head_request: false,
    };
    encode_head(&mut out, &parts, framing);
    out
}

/// The line before a chunk of `len` bytes: the length in upper-case hex, CRLF. The chunk's data
/// and [`CHUNK_END`] follow it.
pub(crate) fn chunk_line(len: usize) -> Vec<u8> {
    format!("{len:X}\r\n").into_bytes()
}

/// What ends each chunk's data.
pub(crate) const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk of a chunked body, with no trailers.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// `100 Continue`, for a client that waits for it before sending its body.
pub(crate) const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Whether a whole body's length is written: not for statuses that have no body, and not for
/// an empty answer to `HEAD` (as hyper did).
fn has_length(status: StatusCode, n: usize, head_request: bool) -> bool {
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    !(bodiless || (head_request && n == 0))
}

fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

thread_local! {
    /// The `date` value, formatted once a second per thread rather than once per response.
    static DATE: RefCell<CachedDate> = const { RefCell::new(CachedDate { second: u64::MAX, text: Vec::new() }) };
}

struct CachedDate {
    second: u64,
    text: Vec<u8>,
}

impl CachedDate {
    fn now(&mut self) -> &[u8] {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second {
            self.second = second;
            self.text = httpdate::fmt_http_date(now).into_bytes();
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head with its `date` value replaced by `D`.
    fn head(response: hyper::Response<()>, framing: Framing) -> String {
        let (parts, ()) = response.into_parts();
        let mut out = Vec::new();
        encode_head(&mut out, &parts, framing);
        let text = String::from_utf8(out).unwrap();
        let (before, after) = text.split_once("date: ").unwrap();
        format!("{before}date: D{}", &after[29..])
    }

    fn framing(length: Length) -> Framing {
        Framing {
            version: Version::HTTP_11,
            length,
            close: false,
            head_request: false,
        }
    }

    #[test]
    fn heads_are_hypers_bytes() {
        let poll = hyper::Response::builder()
            .header("x-next-cursor", 2)
            .header("content-encoding", "gzip")
            .body(())
            .unwrap();
        assert_eq!(
            head(poll, framing(Length::Known(27))),
            "HTTP/1.1 200 OK\r\nx-next-cursor: 2\r\ncontent-encoding: gzip\r\ncontent-length: 27\r\ndate: D\r\n\r\n"
        );
        let events = hyper::Response::builder()
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .body(())
            .unwrap();
        assert_eq!(
            head(events, framing(Length::Chunked)),
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\ndate: D\r\n\r\n"
        );
        let published = hyper::Response::builder().status(204).body(()).unwrap();
        assert_eq!(
            head(published, framing(Length::Known(0))),
            "HTTP/1.1 204 No Content\r\ndate: D\r\n\r\n"
        );
        let closing = hyper::Response::builder()
            .header("x-next-cursor", 0)
            .body(())
            .unwrap();
        let last = Framing {
            close: true,
            ..framing(Length::Known(0))
        };
        assert_eq!(
            head(closing, last),
            "HTTP/1.1 200 OK\r\nx-next-cursor: 0\r\nconnection: close\r\ncontent-length: 0\r\ndate: D\r\n\r\n"
        );
        let old = hyper::Response::builder()
            .header("x-next-cursor", 0)
            .body(())
            .unwrap();
        let http10 = Framing {
            version: Version::HTTP_10,
            close: true,
            ..framing(Length::Known(0))
        };
        assert_eq!(
            head(old, http10),
            "HTTP/1.0 200 OK\r\nx-next-cursor: 0\r\ncontent-length: 0\r\ndate: D\r\n\r\n"
        );
        let refused = hyper::Response::builder().status(405).body(()).unwrap();
        let head_request = Framing {
            head_request: true,
            ..framing(Length::Known(0))
        };
        assert_eq!(
            head(refused, head_request),
            "HTTP/1.1 405 Method Not Allowed\r\ndate: D\r\n\r\n"
        );
    }

    #[test]
    fn refusals_close() {
        let text = String::from_utf8(refusal(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)).unwrap();
        assert!(text.starts_with(
            "HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: "
        ));
        assert!(text.ends_with(" GMT\r\n\r\n"));
    }

    #[test]
    fn chunks_are_upper_case_hex() {
        assert_eq!(chunk_line(32), b"20\r\n");
        assert_eq!(chunk_line(0x2a), b"2A\r\n");
        assert_eq!(chunk_line(0x1000), b"1000\r\n");
    }
}
