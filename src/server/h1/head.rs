//! A request head, read from the bytes a client sent: parsed with `httparse` under the limits
//! hyper's HTTP/1.1 server applied (a 16 KiB head, 100 header fields), into the `Request<()>` the
//! routes read, with what the connection needs to know besides (body framing, keep-alive).
//!
//! Pure: no I/O, so every refusal is tested on bytes.

use hyper::header::{
    CONNECTION, CONTENT_LENGTH, EXPECT, HeaderName, HeaderValue, TRANSFER_ENCODING,
};
use hyper::{Method, Request, StatusCode, Uri, Version};

/// The largest request head, in bytes: what hyper's read buffer (`max_buf_size`) held.
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The most header fields a request may have, as hyper allowed.
const MAX_HEADERS: usize = 100;

/// The start of the HTTP/2 connection preface (RFC 9113 §3.4), which no HTTP/1.1 request starts
/// with: a client speaking h2c with prior knowledge, or h2 chosen by ALPN.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the bytes read so far hold.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// Not a whole head yet: read more.
    Partial,
    /// An HTTP/2 connection: hand it, with the bytes read, to the HTTP/2 server.
    Http2,
    /// A request head that cannot be served, and the status that says so (400 or 431); the
    /// connection is closed after it.
    Refused(StatusCode),
    /// A whole request head.
    Request(Box<Head>),
}

/// A request head and how its connection goes on.
#[derive(Debug)]
pub(crate) struct Head {
    /// Method, target, version and headers, as the routes read them.
    pub request: Request<()>,
    /// Bytes of the head (through its blank line).
    pub len: usize,
    /// How the body that follows is framed.
    pub body: BodyKind,
    /// The connection closes after the answer (HTTP/1.0, or `Connection: close`).
    pub close: bool,
    /// The client waits for `100 Continue` before it sends its body.
    pub expect_continue: bool,
}

/// How a request body is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// `Content-Length` bytes (0: no body).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Parses the head at the start of `buf`.
pub(crate) fn parse(buf: &[u8]) -> Parsed {
    if buf.starts_with(PREFACE) {
        return Parsed::Http2;
    }
    if PREFACE.starts_with(buf) {
        return Parsed::Partial;
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD_BYTES => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => return Parsed::Partial,
        Ok(_) | Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Refused(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        Err(_) => return Parsed::Refused(StatusCode::BAD_REQUEST),
    };
    match build(&req) {
        Some(request) => head(request, len),
        None => Parsed::Refused(StatusCode::BAD_REQUEST),
    }
}

/// The `Request<()>` of a parsed head; `None` if a part is not valid HTTP.
fn build(req: &httparse::Request<'_, '_>) -> Option<Request<()>> {
    let method = Method::from_bytes(req.method?.as_bytes()).ok()?;
    let uri = Uri::try_from(req.path?).ok()?;
    let version = match req.version? {
        0 => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    let headers = request.headers_mut();
    headers.reserve(req.headers.len());
    for field in req.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).ok()?;
        headers.append(name, HeaderValue::from_bytes(field.value).ok()?);
    }
    Some(request)
}

fn head(request: Request<()>, len: usize) -> Parsed {
    let headers = request.headers();
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let close = request.version() == Version::HTTP_10 || has_token(CONNECTION, "close");
    let expect_continue = headers
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let body = if let Some(coding) = headers.get_all(TRANSFER_ENCODING).iter().next_back() {
        // Chunked must be the last coding; any other framing cannot be read (RFC 9112 §6.3).
        let last = coding.to_str().ok().and_then(|v| v.rsplit(',').next());
        if !last.is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked")) {
            return Parsed::Refused(StatusCode::BAD_REQUEST);
        }
        BodyKind::Chunked
    } else {
        let mut lengths = headers.get_all(CONTENT_LENGTH).iter().map(|v| {
            v.to_str()
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
        });
        match lengths.next() {
            None => BodyKind::Length(0),
            Some(Some(n)) if lengths.all(|other| other == Some(n)) => BodyKind::Length(n),
            Some(_) => return Parsed::Refused(StatusCode::BAD_REQUEST),
        }
    };
    Parsed::Request(Box::new(Head {
        request,
        len,
        body,
        close,
        expect_continue,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(bytes: &[u8]) -> Box<Head> {
        match parse(bytes) {
            Parsed::Request(head) => head,
            other => panic!("{other:?}"),
        }
    }

    fn refused(bytes: &[u8]) -> Option<StatusCode> {
        match parse(bytes) {
            Parsed::Refused(code) => Some(code),
            _ => None,
        }
    }

    #[test]
    fn a_whole_head_is_a_request() {
        let bytes = b"GET /poll?cursor=3 HTTP/1.1\r\nHost: x\r\nAccept: a\r\nAccept: b\r\n\r\nrest";
        let head = request(bytes);
        assert_eq!(head.len, bytes.len() - 4);
        assert_eq!(head.request.method(), Method::GET);
        assert_eq!(head.request.uri().path(), "/poll");
        assert_eq!(head.request.uri().query(), Some("cursor=3"));
        assert_eq!(head.request.headers().get_all("accept").iter().count(), 2);
        assert_eq!(head.body, BodyKind::Length(0));
        assert!(!head.close && !head.expect_continue);
    }

    #[test]
    fn keep_alive_and_body_framing() {
        assert!(request(b"GET / HTTP/1.0\r\n\r\n").close);
        assert!(request(b"GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n").close);
        let post = b"POST /publish HTTP/1.1\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\n";
        let head = request(post);
        assert_eq!(head.body, BodyKind::Length(12));
        assert!(head.expect_continue);
        let chunked = b"POST /publish HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(request(chunked).body, BodyKind::Chunked);
    }

    #[test]
    fn partial_heads_wait_for_more() {
        for bytes in [
            &b""[..],
            b"GET /po",
            b"GET /poll HTTP/1.1\r\nHost: x\r\n",
            b"PRI * HT",
        ] {
            assert!(matches!(parse(bytes), Parsed::Partial), "{bytes:?}");
        }
    }

    #[test]
    fn the_http2_preface_goes_to_http2() {
        assert!(matches!(parse(PREFACE), Parsed::Http2));
    }

    #[test]
    fn bad_heads_are_refused_with_hypers_status() {
        let bad = Some(StatusCode::BAD_REQUEST);
        assert_eq!(refused(b"GARBAGE\r\n\r\n"), bad);
        assert_eq!(refused(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), bad);
        assert_eq!(
            refused(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            bad
        );
        assert_eq!(
            refused(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            bad
        );
        let too_large = Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let mut big = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        big.resize(MAX_HEAD_BYTES, b'y');
        assert_eq!(refused(&big), too_large);
        big.truncate(MAX_HEAD_BYTES - 1);
        assert!(matches!(parse(&big), Parsed::Partial));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("h{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(refused(&many), too_large);
    }
}
