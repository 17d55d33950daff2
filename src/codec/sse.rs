//! Server-sent events framing (the WHATWG `text/event-stream` format), as far as wsbench uses it:
//! `id:` and `data:` fields, comments, and the blank line that ends an event.
//!
//! A message becomes `id: <seq>\ndata: <line>\n…\n` — one `data:` line per line of the message,
//! so a message is never split wrongly; carriage returns in messages are not supported (they
//! end a line in SSE). A comment `: missed <K>` tells the client that `K` messages were
//! overwritten before it could read them.
//!
//! Event ids are opaque to a reader: the format allows any string (nchan sends `1796654930:0`,
//! Mercure a URN), and a client only echoes the last one in `Last-Event-ID`. wsbench's servers
//! happen to send sequence numbers.

use bytes::{Bytes, BytesMut};

/// Appends one event carrying `data` with id `id`.
pub fn push_event(out: &mut Vec<u8>, id: u64, data: &[u8]) {
    out.extend_from_slice(b"id: ");
    out.extend_from_slice(id.to_string().as_bytes());
    out.push(b'\n');
    for line in data.split(|&b| b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// A keep-alive: an empty comment and the blank line that ends it (3 bytes). Clients ignore it.
pub const KEEPALIVE: &[u8] = b":\n\n";

/// Appends a comment line reporting `missed` overwritten messages.
pub fn push_missed(out: &mut Vec<u8>, missed: u64) {
    out.extend_from_slice(format!(": missed {missed}\n\n").as_bytes());
}

/// One parsed event or notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// An event with data. `id` is the last event id seen on the stream.
    Event {
        /// The stream's last event id after this event.
        id: Option<Bytes>,
        /// The data lines joined with `\n`.
        data: Bytes,
    },
    /// A `: missed K` comment.
    Missed(u64),
}

/// Incremental parser: feed it body chunks as they arrive, take the items it completes.
#[derive(Debug, Default)]
pub struct Parser {
    buffer: BytesMut,
    data: Vec<u8>,
    has_data: bool,
    /// The `id:` of the event being read; it becomes `last_id` when the event ends.
    pending_id: Option<Bytes>,
    last_id: Option<Bytes>,
}

/// Longest line accepted: a stream that never ends a line is not SSE.
const MAX_LINE: usize = 1 << 20;

/// The stream is not `text/event-stream` as wsbench speaks it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event stream line longer than {MAX_LINE} bytes")]
pub struct LineTooLong;

impl Parser {
    /// A parser for a resumed stream: it remembers the id it resumed after.
    pub fn with_last_id(last_id: Option<Bytes>) -> Self {
        Parser {
            pending_id: last_id.clone(),
            last_id,
            ..Parser::default()
        }
    }

    /// The id of the last complete event (what to send as `Last-Event-ID` when resuming): an
    /// event cut off by a broken stream does not count, so the server sends it again.
    pub fn last_id(&self) -> Option<&Bytes> {
        self.last_id.as_ref()
    }

    /// Feeds a chunk and appends every item it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Item>) -> Result<(), LineTooLong> {
        self.buffer.extend_from_slice(chunk);
        while let Some(end) = memchr::memchr(b'\n', &self.buffer) {
            let line = self.buffer.split_to(end + 1);
            self.line(&line[..end], out);
        }
        if self.buffer.len() > MAX_LINE {
            return Err(LineTooLong);
        }
        // Every line was complete: give the memory back, so that an idle stream (tens of
        // thousands of them in a large run) keeps no buffer between events.
        if self.buffer.is_empty() {
            self.buffer = BytesMut::new();
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<Item>) {
        if line.is_empty() {
            self.last_id.clone_from(&self.pending_id);
            if self.has_data {
                out.push(Item::Event {
                    id: self.last_id.clone(),
                    data: Bytes::from(std::mem::take(&mut self.data)),
                });
                self.has_data = false;
            }
            return;
        }
        if let Some(comment) = line.strip_prefix(b":") {
            let text = std::str::from_utf8(comment).unwrap_or_default().trim();
            if let Some(k) = text.strip_prefix("missed ").and_then(|k| k.parse().ok()) {
                out.push(Item::Missed(k));
            }
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            // The format ignores an id holding NUL; one holding another control byte could
            // not be sent back as a header value, so it is ignored too. An empty id resets.
            b"id" if is_header_safe(value) => {
                self.pending_id = (!value.is_empty()).then(|| Bytes::copy_from_slice(value));
            }
            _ => {}
        }
    }
}

/// Whether `value` can be sent as an HTTP field value (visible ASCII, spaces, tabs and
/// non-ASCII bytes; no control bytes).
fn is_header_safe(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_events_byte_for_byte() {
        let mut out = Vec::new();
        push_event(&mut out, 7, b"hello");
        push_event(&mut out, 8, b"a\nb");
        push_missed(&mut out, 3);
        assert_eq!(
            out,
            b"id: 7\ndata: hello\n\nid: 8\ndata: a\ndata: b\n\n: missed 3\n\n".to_vec()
        );
        assert_eq!(
            crate::codec::http::sse_event_overhead(7),
            "id: 7\ndata: \n\n".len()
        );
    }

    #[test]
    fn parses_across_arbitrary_chunk_boundaries() {
        let mut stream = Vec::new();
        push_event(&mut stream, 41, b"first");
        push_missed(&mut stream, 2);
        push_event(&mut stream, 44, b"x\ny");
        stream.extend_from_slice(b": keep-alive\n\nevent: other\nretry: 10\n\n");
        for split in 0..stream.len() {
            let mut p = Parser::default();
            let mut items = Vec::new();
            p.feed(&stream[..split], &mut items).unwrap();
            p.feed(&stream[split..], &mut items).unwrap();
            assert_eq!(
                items,
                vec![
                    Item::Event {
                        id: Some(Bytes::from_static(b"41")),
                        data: Bytes::from_static(b"first")
                    },
                    Item::Missed(2),
                    Item::Event {
                        id: Some(Bytes::from_static(b"44")),
                        data: Bytes::from_static(b"x\ny")
                    },
                ],
                "split at {split}"
            );
            assert_eq!(p.last_id().map(|b| &b[..]), Some(&b"44"[..]));
        }
    }

    #[test]
    fn an_unfinished_event_does_not_move_the_resume_point() {
        let mut p = Parser::default();
        let mut items = Vec::new();
        p.feed(
            b"id: 5
data: done

id: 6
data: half",
            &mut items,
        )
        .unwrap();
        assert_eq!(p.last_id().map(|b| &b[..]), Some(&b"5"[..]));
        assert_eq!(items.len(), 1);
    }

    #[test]
    fn ids_are_opaque_strings_and_unsendable_ones_are_ignored() {
        let mut p = Parser::default();
        let mut items = Vec::new();
        p.feed(b"id: 1796654930:0\ndata: a\n\n", &mut items)
            .unwrap();
        assert_eq!(p.last_id().map(|b| &b[..]), Some(&b"1796654930:0"[..]));
        p.feed(b"id: urn:uuid:9\x01x\ndata: b\n\n", &mut items)
            .unwrap();
        assert_eq!(p.last_id().map(|b| &b[..]), Some(&b"1796654930:0"[..]));
        p.feed(b"id\ndata: c\n\n", &mut items).unwrap();
        assert_eq!(p.last_id(), None, "an empty id resets the resume point");
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn refuses_endless_lines() {
        let mut p = Parser::default();
        let mut items = Vec::new();
        assert_eq!(
            p.feed(&vec![b'x'; MAX_LINE + 1], &mut items),
            Err(LineTooLong)
        );
    }
}
