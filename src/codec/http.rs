//! The analytic model of HTTP framing bytes for the built-in HTTP transports: the long-poll
//! response head exactly as hyper 1.x writes it, the netstring batch body, HTTP/1.1 chunk
//! framing, and the SSE event and response head.
//!
//! Owns arithmetic (and one encoder, [`PollHead::write`], used by `benches/framing.rs` and the
//! tests to state the exact bytes). It does not read a clock: `date` values are passed in. The
//! header order and casing were captured from the real server (`tests/all/ws_codec.rs` checks them):
//! the handler's `x-` headers in insertion order, then hyper's `content-length` and `date`.
//! Request bytes are not modelled: they depend on the client.

use super::batch;

/// Length of an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7), always 29.
pub const DATE_LEN: usize = 29;

/// The status line of every non-empty answer.
pub const STATUS_OK: &str = "HTTP/1.1 200 OK\r\n";

/// The end of a chunked body: `0\r\n\r\n`.
pub const LAST_CHUNK_LEN: usize = 5;

/// Digits of `n` in base 10.
pub const fn decimal_len(mut n: u64) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// Digits of `n` in base 16.
pub const fn hex_len(mut n: u64) -> usize {
    let mut digits = 1;
    while n >= 16 {
        n /= 16;
        digits += 1;
    }
    digits
}

/// `name: value\r\n` with a decimal value.
const fn header_len(name: &str, value: u64) -> usize {
    name.len() + 2 + decimal_len(value) + 2
}

/// What varies in a long-poll response head (`200 OK` to `GET /poll`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollHead {
    /// `x-next-cursor`.
    pub next_cursor: u64,
    /// `x-missed`, sent only when non-zero.
    pub missed: u64,
    /// `x-reset: 1`, sent only when set.
    pub reset: bool,
    /// `content-length`: the batch body's bytes ([`poll_body_len`]).
    pub content_length: usize,
}

impl PollHead {
    /// Bytes of the head, blank line included.
    pub const fn encoded_len(&self) -> usize {
        let mut len = STATUS_OK.len() + header_len("x-next-cursor", self.next_cursor);
        if self.missed > 0 {
            len += header_len("x-missed", self.missed);
        }
        if self.reset {
            len += header_len("x-reset", 1);
        }
        len + header_len("content-length", self.content_length as u64)
            + "date: ".len()
            + DATE_LEN
            + 2
            + 2
    }

    /// Appends the head exactly as the built-in server (hyper) sends it.
    pub fn write(&self, out: &mut Vec<u8>, date: &[u8; DATE_LEN]) {
        out.extend_from_slice(STATUS_OK.as_bytes());
        push_header(out, b"x-next-cursor", self.next_cursor);
        if self.missed > 0 {
            push_header(out, b"x-missed", self.missed);
        }
        if self.reset {
            push_header(out, b"x-reset", 1);
        }
        push_header(out, b"content-length", self.content_length as u64);
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date);
        out.extend_from_slice(b"\r\n\r\n");
    }
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: u64) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

/// Bytes of a long-poll batch body carrying messages of these lengths (netstrings).
pub fn poll_body_len(message_lens: impl IntoIterator<Item = usize>) -> usize {
    message_lens
        .into_iter()
        .map(|len| len + batch::framing_len(len))
        .sum()
}

/// Bytes of a whole long-poll response carrying messages of these lengths, with no `x-missed`
/// or `x-reset`.
pub fn poll_response_len(next_cursor: u64, message_lens: &[usize]) -> usize {
    let body = poll_body_len(message_lens.iter().copied());
    PollHead {
        next_cursor,
        missed: 0,
        reset: false,
        content_length: body,
    }
    .encoded_len()
        + body
}

/// Framing bytes of one chunk of a chunked body: `<hex len>\r\n` before (hyper writes the
/// hex in upper case), `\r\n` after.
pub const fn chunk_overhead(chunk_len: usize) -> usize {
    hex_len(chunk_len as u64) + 4
}

/// Bytes of an SSE event beyond its data, for single-line data: `id: <id>\ndata: ` and `\n\n`
/// (the format of [`super::sse::push_event`]).
pub const fn sse_event_overhead(id: u64) -> usize {
    "id: \n".len() + decimal_len(id) + "data: \n".len() + 1
}

/// Bytes of the SSE response head (`GET /events`), sent once per stream.
pub const fn sse_head_len() -> usize {
    STATUS_OK.len()
        + "content-type: text/event-stream\r\n".len()
        + "cache-control: no-cache\r\n".len()
        + "transfer-encoding: chunked\r\n".len()
        + "date: \r\n".len()
        + DATE_LEN
        + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8; DATE_LEN] = b"Wed, 25 Nov 2026 11:45:44 GMT";

    #[test]
    fn poll_head_bytes() {
        let mut out = Vec::new();
        let head = PollHead {
            next_cursor: 1,
            missed: 0,
            reset: false,
            content_length: 8,
        };
        head.write(&mut out, DATE);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nx-next-cursor: 1\r\ncontent-length: 8\r\n\
              date: Wed, 25 Nov 2026 11:45:44 GMT\r\n\r\n"
        );
        assert_eq!(head.encoded_len(), out.len());
        let mut out = Vec::new();
        let head = PollHead {
            next_cursor: 18_446_744_073_709_551_615,
            missed: 12,
            reset: true,
            content_length: 0,
        };
        head.write(&mut out, DATE);
        assert!(out.starts_with(
            b"HTTP/1.1 200 OK\r\nx-next-cursor: 18446744073709551615\r\nx-missed: 12\r\nx-reset: 1\r\n"
        ));
        assert_eq!(head.encoded_len(), out.len());
        assert_eq!(poll_response_len(1, &[5]), 101);
    }

    #[test]
    fn chunk_and_sse_bytes() {
        assert_eq!(chunk_overhead(0xf), "f\r\n\r\n".len());
        assert_eq!(chunk_overhead(0x10), "10\r\n\r\n".len());
        assert_eq!(chunk_overhead(4096), "1000\r\n\r\n".len());
        for id in [0, 9, 10, 12345, u64::MAX] {
            let mut event = Vec::new();
            super::super::sse::push_event(&mut event, id, b"hello");
            assert_eq!(event.len(), 5 + sse_event_overhead(id), "{id}");
        }
        assert_eq!(
            sse_head_len(),
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
             transfer-encoding: chunked\r\ndate: Wed, 25 Nov 2026 11:45:45 GMT\r\n\r\n"
                .len()
        );
    }
}
