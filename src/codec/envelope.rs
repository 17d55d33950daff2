//! The envelope: what a wsbench message carries so that a subscriber can tell who sent it, which
//! one it is, and when it was meant to be sent.
//!
//! Format (ASCII, so it survives text frames, HTTP bodies and servers that rewrite messages):
//!
//! ```text
//! ~wsb:<run>:<publisher>:<seq>:<intended_ns>~<padding '.' up to payload_bytes>
//! ```
//!
//! `run` is the [`RunTag`] of one transport's run, 8 lowercase hex digits: a server that replays
//! its history to new subscribers (nchan's default, Socket.IO's connection-state recovery, a
//! backplane stream) hands a second run the first run's messages, which carry the same publisher
//! ids and sequence numbers; with the tag they are told apart (`stale`), never deliveries,
//! duplicates or losses.
//!
//! `intended_ns` is the publisher's *intended* send time in nanoseconds since the run's epoch on the
//! load generator's monotonic clock, so latency is measured from the schedule (no coordinated
//! omission) and only one clock is ever read. A subscriber finds the marker anywhere in a received
//! message, so a server that adds a prefix (the classic Node chat server sends
//! `服务器收到了：<message>`) still delivers an identifiable message.

use std::io::Write;

/// Marker that opens every envelope.
pub const MARKER: &[u8] = b"~wsb:";

/// Digits of the run tag.
const RUN_DIGITS: usize = 8;
/// Most digits of a sequence number: 10^14 messages from one publisher, far above the run's cap.
const SEQ_DIGITS: usize = 14;
/// Most digits of an intended send time: 10^17 ns is over three years after the run's epoch.
const TIME_DIGITS: usize = 17;

/// The longest possible envelope header: marker, run tag, u32 publisher, sequence number and
/// nanoseconds at their widest, four separators. A payload must be at least this long so every
/// message has the same size.
pub const MAX_HEADER_LEN: usize =
    MARKER.len() + RUN_DIGITS + 1 + 10 + 1 + SEQ_DIGITS + 1 + TIME_DIGITS + 1;

/// Which run a message belongs to: one transport's run of one `wsbench run` (every shard of a
/// sharded run derives the same tag). Random per run otherwise, so two runs against one server
/// differ but for a 1 in 2^32 chance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RunTag(pub u32);

impl RunTag {
    /// A tag no other run is likely to have.
    pub fn fresh() -> RunTag {
        RunTag(fastrand::u32(..))
    }

    /// The tag every process that agrees on `parts` derives (FNV-1a over them): the shards of
    /// one run agree on its common start and on each transport's label.
    pub fn derive(parts: &[&str]) -> RunTag {
        let mut hash: u32 = 0x811c_9dc5;
        for part in parts {
            for &b in part.as_bytes().iter().chain(&[0]) {
                hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
        }
        RunTag(hash)
    }
}

impl std::fmt::Display for RunTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// The identity and schedule of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    /// The run it belongs to.
    pub run: RunTag,
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
            "~wsb:{}:{}:{}:{}~",
            self.run, self.publisher, self.seq, self.intended_ns
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
        let run = parse_run(fields.next()?)?;
        let publisher = parse_u64(fields.next()?, 10)?;
        let seq = parse_u64(fields.next()?, SEQ_DIGITS)?;
        let intended_ns = parse_u64(fields.next()?, TIME_DIGITS)?;
        if fields.next().is_some() {
            return None;
        }
        Some(Envelope {
            run,
            publisher: u32::try_from(publisher).ok()?,
            seq,
            intended_ns,
        })
    }
}

fn parse_run(digits: &[u8]) -> Option<RunTag> {
    if digits.len() != RUN_DIGITS {
        return None;
    }
    digits
        .iter()
        .try_fold(0u32, |acc, &d| {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                _ => return None,
            };
            Some(acc << 4 | u32::from(v))
        })
        .map(RunTag)
}

fn parse_u64(digits: &[u8], most: usize) -> Option<u64> {
    if digits.is_empty() || digits.len() > most {
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
            run: RunTag(0xbeef),
            publisher: 3,
            seq: 42,
            intended_ns: 1_234_567,
        };
        let bytes = e.encode(64);
        assert_eq!(bytes.len(), 64);
        assert!(bytes.starts_with(b"~wsb:0000beef:3:42:1234567~...."));
        assert_eq!(Envelope::find(&bytes), Some(e));
    }

    #[test]
    fn largest_values_fit_the_max_header() {
        let e = Envelope {
            run: RunTag(u32::MAX),
            publisher: u32::MAX,
            seq: 10u64.pow(SEQ_DIGITS as u32) - 1,
            intended_ns: 10u64.pow(TIME_DIGITS as u32) - 1,
        };
        assert_eq!(e.encode(0).len(), MAX_HEADER_LEN);
        assert_eq!(Envelope::find(&e.encode(MAX_HEADER_LEN)), Some(e));
    }

    #[test]
    fn found_behind_a_prefix_added_by_the_server() {
        let e = Envelope {
            run: RunTag(1),
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
        assert_eq!(Envelope::find(b"~wsb:00000001:1:2~"), None);
        assert_eq!(Envelope::find(b"~wsb:00000001:1:x:3~"), None);
        assert_eq!(Envelope::find(b"~wsb:00000001:1:2:3"), None);
        assert_eq!(Envelope::find(b"~wsb:00000001:99999999999:2:3~"), None);
        // The run tag is exactly eight lowercase hex digits; the envelope of old had none.
        assert_eq!(Envelope::find(b"~wsb:1:2:3~"), None);
        assert_eq!(Envelope::find(b"~wsb:0000001:1:2:3~"), None);
        assert_eq!(Envelope::find(b"~wsb:0000000A:1:2:3~"), None);
        assert_eq!(Envelope::find(b"~wsb:00000001:1:123456789012345:3~"), None);
    }

    #[test]
    fn run_tags_derive_alike_and_differ_by_part() {
        let a = RunTag::derive(&["2026-12-01T10:00:00Z", "ws"]);
        assert_eq!(a, RunTag::derive(&["2026-12-01T10:00:00Z", "ws"]));
        assert_ne!(a, RunTag::derive(&["2026-12-01T10:00:00Z", "sse"]));
        assert_ne!(a, RunTag::derive(&["2026-12-01T10:00:00Zw", "s"]));
        assert_eq!(RunTag(0xab).to_string(), "000000ab");
    }
}
