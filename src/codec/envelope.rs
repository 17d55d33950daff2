//! The envelope: what a wsbench message carries so that a subscriber can tell who sent it, which
//! one it is, and when it was meant to be sent.
//!
//! Format (ASCII, so it survives text frames, HTTP bodies and servers that rewrite messages):
//!
//! ```text
//! ~wsb:<publisher>:<seq>:<intended_ns>~<padding '.' up to payload_bytes>
//! ```
//!
//! `intended_ns` is the publisher's *intended* send time in nanoseconds since the run's epoch on the
//! load generator's monotonic clock, so latency is measured from the schedule (no coordinated
//! omission) and only one clock is ever read. A subscriber finds the marker anywhere in a received
//! message, so a server that adds a prefix (the classic Node chat server sends
//! `服务器收到了：<message>`) still delivers an identifiable message.

use std::io::Write;

/// Marker that opens every envelope.
pub const MARKER: &[u8] = b"~wsb:";

/// The longest possible envelope header: marker, u32 publisher, u64 seq, u64 nanoseconds, three
/// separators. A payload must be at least this long so every message has the same size.
pub const MAX_HEADER_LEN: usize = MARKER.len() + 10 + 1 + 20 + 1 + 20 + 1;

/// The identity and schedule of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    /// Which publisher sent it (0-based).
    pub publisher: u32,
    /// The publisher's own sequence number (0-based, no gaps).
    pub seq: u64,
    /// Intended send time, nanoseconds since the run's epoch.
    pub intended_ns: u64,
}

impl Envelope {
    /// Writes the envelope padded with `.` to exactly `payload_bytes` (at least [`MAX_HEADER_LEN`]).
    pub fn encode(&self, payload_bytes: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(payload_bytes.max(MAX_HEADER_LEN));
        write!(
            out,
            "~wsb:{}:{}:{}~",
            self.publisher, self.seq, self.intended_ns
        )
        .expect("writing to a Vec cannot fail");
        if out.len() < payload_bytes {
            out.resize(payload_bytes, b'.');
        }
        out
    }

    /// Finds and parses the first envelope anywhere in `message`; `None` if it carries none.
    pub fn find(message: &[u8]) -> Option<Envelope> {
        let start = if message.starts_with(MARKER) {
            0
        } else {
            memchr::memmem::find(message, MARKER)?
        };
        let rest = &message[start + MARKER.len()..];
        let end = memchr::memchr(b'~', rest)?;
        let mut fields = rest[..end].split(|&b| b == b':');
        let publisher = parse_u64(fields.next()?)?;
        let seq = parse_u64(fields.next()?)?;
        let intended_ns = parse_u64(fields.next()?)?;
        if fields.next().is_some() {
            return None;
        }
        Some(Envelope {
            publisher: u32::try_from(publisher).ok()?,
            seq,
            intended_ns,
        })
    }
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        if d.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_to_exact_size_and_round_trips() {
        let e = Envelope {
            publisher: 3,
            seq: 42,
            intended_ns: 1_234_567,
        };
        let bytes = e.encode(64);
        assert_eq!(bytes.len(), 64);
        assert!(bytes.starts_with(b"~wsb:3:42:1234567~...."));
        assert_eq!(Envelope::find(&bytes), Some(e));
    }

    #[test]
    fn largest_values_fit_the_max_header() {
        let e = Envelope {
            publisher: u32::MAX,
            seq: u64::MAX,
            intended_ns: u64::MAX,
        };
        assert_eq!(e.encode(0).len(), MAX_HEADER_LEN);
        assert_eq!(Envelope::find(&e.encode(MAX_HEADER_LEN)), Some(e));
    }

    #[test]
    fn found_behind_a_prefix_added_by_the_server() {
        let e = Envelope {
            publisher: 0,
            seq: 7,
            intended_ns: 9,
        };
        let mut msg = "服务器收到了：".as_bytes().to_vec();
        msg.extend(e.encode(64));
        assert_eq!(Envelope::find(&msg), Some(e));
    }

    #[test]
    fn rejects_messages_without_a_valid_envelope() {
        assert_eq!(Envelope::find("欢迎连接WebSocket服务器！".as_bytes()), None);
        assert_eq!(Envelope::find(b"~wsb:1:2~"), None);
        assert_eq!(Envelope::find(b"~wsb:1:x:3~"), None);
        assert_eq!(Envelope::find(b"~wsb:1:2:3"), None);
        assert_eq!(Envelope::find(b"~wsb:99999999999:2:3~"), None);
    }
}
