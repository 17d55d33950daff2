//! The `raw` transport's framing: each message as a 4-byte big-endian length and its bytes, over
//! bare TCP. No handshake, no masking, no heads: the floor that every other protocol's cost is
//! measured against (what a push costs over TCP before any protocol adds to it).

use bytes::{BufMut, Bytes, BytesMut};

/// Bytes of the length prefix.
pub const PREFIX: usize = 4;

/// A message larger than the reader accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {len}-byte message is over the {max}-byte limit")]
pub struct TooLarge {
    /// The length the prefix announced.
    pub len: usize,
    /// The most the reader accepts.
    pub max: usize,
}

/// One message framed for the wire: its length prefix and its bytes, in one buffer (encoded once
/// and shared by every connection that sends it).
pub fn encode(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(PREFIX + message.len());
    // A message over 4 GiB cannot be framed; every reader's limit is far below that.
    out.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    out.put_slice(message);
    out.freeze()
}

/// What the first bytes of a raw connection say about its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preamble {
    /// Too few bytes yet to tell.
    NotYet,
    /// No preamble: the connection is in room 0, and its bytes are messages.
    None,
    /// The connection joins this room; the 8 preamble bytes are consumed.
    Room(u32),
    /// The connection joins this room after message `since` (`None`: at the end, and tell it
    /// where that is); the 16 preamble bytes are consumed.
    Resume {
        /// The room.
        room: u32,
        /// The last message the client read.
        since: Option<u64>,
    },
}

/// What the next bytes of a resuming client's stream are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorRead {
    /// Too few bytes yet to tell.
    NotYet,
    /// A message, sent before the server read the preamble (from the room every connection
    /// starts in): the caller reads it and drops it.
    Message,
    /// The cursor record, consumed.
    Record(CursorRecord),
}

/// Where a resumed stream starts, as the server's cursor record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorRecord {
    /// The number of the last message before the first one sent.
    pub cursor: u64,
    /// Messages after the client's cursor the server no longer held.
    pub missed: u64,
    /// The client's cursor was ahead of the stream; it is read from its start.
    pub reset: bool,
}

/// Splits a byte stream into messages. Keeps only an incomplete frame between reads, and no
/// buffer at all when there is none (an idle connection holds nothing).
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out.
    consumed: usize,
    max: usize,
}

impl Decoder {
    /// A decoder refusing messages over `max` bytes.
    pub fn new(max: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            consumed: 0,
            max,
        }
    }

    /// Appends bytes read from the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.consumed > 0 {
            self.buf.drain(..self.consumed);
            self.consumed = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, `None` until one is complete, or an error for a length over the
    /// limit (checked as soon as the prefix is in, before its bytes are waited for).
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, TooLarge> {
        let rest = &self.buf[self.consumed..];
        let Some(prefix) = rest.first_chunk::<PREFIX>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > self.max {
            return Err(TooLarge { len, max: self.max });
        }
        if rest.len() < PREFIX + len {
            return Ok(None);
        }
        let start = self.consumed + PREFIX;
        self.consumed = start + len;
        Ok(Some(&self.buf[start..start + len]))
    }

    /// Frees the buffer if every byte in it was handed out.
    pub fn release_if_empty(&mut self) {
        if self.consumed == self.buf.len() {
            self.buf = Vec::new();
            self.consumed = 0;
        }
    }

    /// Takes the room preamble ([`crate::protocol::RAW_ROOM_MAGIC`] and a 4-byte big-endian
    /// room id) if the buffered bytes start with one: call it before the first message only.
    pub fn room_preamble(&mut self) -> Preamble {
        use crate::protocol::{RAW_FRESH, RAW_RESUME_MAGIC, RAW_ROOM_MAGIC};
        let rest = &self.buf[self.consumed..];
        let seen = rest.len().min(4);
        let room = |whole: &[u8]| u32::from_be_bytes([whole[4], whole[5], whole[6], whole[7]]);
        if rest[..seen] == RAW_ROOM_MAGIC[..seen] {
            let Some(whole) = rest.first_chunk::<8>() else {
                return Preamble::NotYet;
            };
            let room = room(whole);
            self.consumed += 8;
            return Preamble::Room(room);
        }
        if rest[..seen] == RAW_RESUME_MAGIC[..seen] {
            let Some(whole) = rest.first_chunk::<16>() else {
                return Preamble::NotYet;
            };
            let room = room(whole);
            let since = u64::from_be_bytes(*whole[8..].first_chunk::<8>().unwrap_or(&[0; 8]));
            self.consumed += 16;
            let since = (since != RAW_FRESH).then_some(since);
            return Preamble::Resume { room, since };
        }
        Preamble::None
    }

    /// Takes the server's cursor record if the buffered bytes start with one: a resuming client
    /// calls this until it comes.
    pub fn cursor_record(&mut self) -> CursorRead {
        use crate::protocol::{RAW_CURSOR_LEN, RAW_CURSOR_MAGIC};
        let rest = &self.buf[self.consumed..];
        let seen = rest.len().min(4);
        if rest[..seen] != RAW_CURSOR_MAGIC[..seen] {
            return CursorRead::Message;
        }
        let Some(whole) = rest.first_chunk::<RAW_CURSOR_LEN>() else {
            return CursorRead::NotYet;
        };
        let number =
            |at: usize| u64::from_be_bytes(*whole[at..].first_chunk::<8>().unwrap_or(&[0; 8]));
        let record = CursorRecord {
            cursor: number(4),
            missed: number(12),
            reset: whole[20] == 1,
        };
        self.consumed += RAW_CURSOR_LEN;
        CursorRead::Record(record)
    }

    /// Bytes held for a frame not yet complete.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.consumed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_its_length_and_its_bytes() {
        assert_eq!(&encode(b"hi")[..], &[0, 0, 0, 2, b'h', b'i']);
        assert_eq!(&encode(b"")[..], &[0, 0, 0, 0]);
    }

    #[test]
    fn any_split_of_the_stream_gives_the_same_messages() {
        let messages: Vec<Vec<u8>> = (0..20).map(|i| vec![i as u8; i * 7]).collect();
        let wire: Vec<u8> = messages.iter().flat_map(|m| encode(m).to_vec()).collect();
        for step in [1, 2, 3, 5, 64, wire.len()] {
            let mut decoder = Decoder::new(1024);
            let mut got = Vec::new();
            for chunk in wire.chunks(step) {
                decoder.feed(chunk);
                while let Some(m) = decoder.next_message().unwrap() {
                    got.push(m.to_vec());
                }
                decoder.release_if_empty();
            }
            assert_eq!(got, messages, "reads of {step} bytes");
            assert_eq!(decoder.pending(), 0);
        }
    }

    #[test]
    fn a_length_over_the_limit_is_refused_before_its_bytes_arrive() {
        let mut decoder = Decoder::new(100);
        decoder.feed(&[0, 0, 0, 101]);
        assert_eq!(decoder.next_message(), Err(TooLarge { len: 101, max: 100 }));
        let mut decoder = Decoder::new(100);
        decoder.feed(&encode(&[1; 100]));
        assert_eq!(decoder.next_message().unwrap().map(<[u8]>::len), Some(100));
    }
}
