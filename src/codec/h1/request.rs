//! The request head our HTTP/1.1 client writes: the bytes hyper's client wrote before it, so
//! byte figures stay comparable across versions: lower-case field names, `host` first, then
//! `authorization`, the event-stream fields a browser's `EventSource` sends (`accept`,
//! `cache-control`; a server such as nchan tells an SSE subscriber from a long-poll one by them),
//! `last-event-id`, and `content-length` on a request with a body.

use std::io::Write;
use std::net::SocketAddr;

/// The methods wsbench sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Poll and stream reads.
    Get,
    /// Publishing.
    Post,
}

impl Method {
    /// The method's token on the request line.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One request's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// The method.
    pub method: Method,
    /// The request target: path and query (`/poll?cursor=7`).
    pub target: &'a str,
    /// The server's address, sent as `host`.
    pub host: SocketAddr,
    /// Sent as `authorization: Bearer <token>`.
    pub token: Option<&'a str>,
    /// Opens an event stream: sent with `accept: text/event-stream` and `cache-control: no-cache`.
    pub event_stream: bool,
    /// Sent as `last-event-id` (resuming an event stream): the opaque id the server sent.
    pub last_event_id: Option<&'a [u8]>,
    /// Sent as `if-modified-since` and `if-none-match`: where an nchan long-poll reads on from
    /// (its last answer's `Last-Modified` and `Etag`).
    pub conditional: Option<(&'a str, &'a str)>,
    /// Further fields as given (a template's `content-type`, an API key), after the others.
    pub headers: &'a [(String, String)],
    /// The body's length, sent as `content-length` when the method carries a body (`POST`).
    pub body_bytes: usize,
}

impl Request<'_> {
    /// Appends the head, blank line included.
    pub fn write(&self, out: &mut Vec<u8>) {
        // Writing into a `Vec` cannot fail.
        let _ = write!(
            out,
            "{} {} HTTP/1.1\r\nhost: {}\r\n",
            self.method.as_str(),
            self.target,
            self.host
        );
        if let Some(token) = self.token {
            let _ = write!(out, "authorization: Bearer {token}\r\n");
        }
        if self.event_stream {
            out.extend_from_slice(b"accept: text/event-stream\r\ncache-control: no-cache\r\n");
        }
        if let Some(id) = self.last_event_id {
            out.extend_from_slice(b"last-event-id: ");
            out.extend_from_slice(id);
            out.extend_from_slice(b"\r\n");
        }
        if let Some((modified, etag)) = self.conditional {
            let _ = write!(
                out,
                "if-modified-since: {modified}\r\nif-none-match: {etag}\r\n"
            );
        }
        for (name, value) in self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        if self.method == Method::Post {
            let _ = write!(out, "content-length: {}\r\n", self.body_bytes);
        }
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_are_what_hyper_wrote_byte_for_byte() {
        let host: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let get = Request {
            method: Method::Get,
            target: "/poll?cursor=7",
            host,
            token: None,
            event_stream: false,
            last_event_id: None,
            conditional: None,
            headers: &[],
            body_bytes: 0,
        };
        let mut out = Vec::new();
        get.write(&mut out);
        assert_eq!(
            out,
            b"GET /poll?cursor=7 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n\r\n"
        );
        let mut out = Vec::new();
        Request {
            target: "/events",
            token: Some("s3cret"),
            event_stream: true,
            last_event_id: Some(b"41"),
            ..get
        }
        .write(&mut out);
        assert_eq!(
            out,
            b"GET /events HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nauthorization: Bearer s3cret\r\naccept: text/event-stream\r\ncache-control: no-cache\r\nlast-event-id: 41\r\n\r\n"
        );
        let mut out = Vec::new();
        Request {
            method: Method::Post,
            target: "/publish",
            token: Some("t"),
            body_bytes: 1000,
            ..get
        }
        .write(&mut out);
        assert_eq!(
            out,
            b"POST /publish HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nauthorization: Bearer t\r\ncontent-length: 1000\r\n\r\n"
        );
        let mut out = Vec::new();
        let fields = [("content-type".to_string(), "application/json".to_string())];
        Request {
            method: Method::Post,
            target: "/api",
            headers: &fields,
            body_bytes: 2,
            ..get
        }
        .write(&mut out);
        assert_eq!(
            out,
            b"POST /api HTTP/1.1\r\nhost: 127.0.0.1:8080\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"
        );
    }
}
