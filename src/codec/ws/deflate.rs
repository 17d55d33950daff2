//! permessage-deflate (RFC 7692): a message's payload compressed with raw DEFLATE, the frame's
//! RSV1 bit set, and the `00 00 ff ff` that ends every sync flush left off the wire (the receiver
//! appends it again before inflating).
//!
//! Owns compressing one message ([`Deflater`]), inflating one, bounded ([`Inflater`]), and the
//! frame that carries a compressed message ([`encode_deflated_frame`]). Which parameters a
//! connection uses is [`super::negotiate`]'s; when to compress is the caller's.
//!
//! Context takeover decides both cost and ratio: with it, each message may refer back to the
//! earlier ones (a better ratio; the context lives as long as the connection, one per recipient);
//! without it, the compressor starts afresh per message, so a server can compress a broadcast once
//! and send the same bytes to everyone.
//!
//! The backend is zlib-rs (through flate2): window bits below 15 need it (miniz_oxide has no
//! window-bits setting). zlib cannot deflate with an 8-bit window, so 9 is the least this codec
//! compresses with; it inflates with a 15-bit window, which reads every smaller one.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::header::{FrameHeader, MAX_HEADER_LEN};
use super::mask::apply_mask;
use super::opcode::{DataOp, OpCode};

/// What a sync flush ends with, left off the wire (RFC 7692 §7.2.1).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// RSV1 in [`FrameHeader::with_rsv`]'s bits: "this message is compressed".
pub const RSV1: u8 = 0b100;

/// Least and most window bits this codec compresses with.
pub const WINDOW_BITS: std::ops::RangeInclusive<u8> = 9..=15;

/// Inflated bytes made per step, so a bomb is stopped within this much of the limit.
const INFLATE_STEP: usize = 16 * 1024;

/// Compresses the messages one end sends.
pub struct Deflater {
    compress: Compress,
    takeover: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater")
            .field("takeover", &self.takeover)
            .finish_non_exhaustive()
    }
}

impl Deflater {
    /// A compressor with a `window_bits` window (clamped to [`WINDOW_BITS`]) that keeps its
    /// context from message to message if `takeover`.
    pub fn new(window_bits: u8, takeover: bool) -> Deflater {
        let bits = window_bits.clamp(*WINDOW_BITS.start(), *WINDOW_BITS.end());
        Deflater {
            compress: Compress::new_with_window_bits(Compression::default(), false, bits),
            takeover,
        }
    }

    /// Appends `payload` compressed, without the [`TAIL`], to `out`.
    pub fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let start_in = self.compress.total_in();
        let start = out.len();
        loop {
            out.reserve(payload.len() / 2 + 64);
            let done = (self.compress.total_in() - start_in) as usize;
            // Raw deflate into spare capacity cannot fail: its only errors are for a stream
            // used after its end, which a sync flush never reaches.
            let _ = self
                .compress
                .compress_vec(&payload[done..], out, FlushCompress::Sync);
            let consumed = (self.compress.total_in() - start_in) as usize;
            if consumed == payload.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out.len() >= start + TAIL.len() && out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        // A sync flush right after another, with nothing new, makes no block at all (zlib's
        // "no progress"); the receiver would then read its appended tail as the start of a
        // block and lose its place in the stream. RFC 7692 §7.2.3.6: an empty message is one
        // 0x00 byte.
        if out.len() == start {
            out.push(0x00);
        }
        if !self.takeover {
            self.compress.reset();
        }
    }

    /// Appends one unfragmented frame carrying `payload` compressed (RSV1 set) to `out`, masked
    /// with `mask` if given.
    pub fn encode_frame(
        &mut self,
        out: &mut Vec<u8>,
        op: DataOp,
        payload: &[u8],
        mask: Option<[u8; 4]>,
    ) {
        let mut compressed = Vec::with_capacity(payload.len() / 2 + 16);
        self.compress(payload, &mut compressed);
        encode_deflated_frame(out, op, &compressed, mask);
    }
}

/// Appends a frame with RSV1 set carrying `compressed` (a message already deflated) to `out`.
pub fn encode_deflated_frame(
    out: &mut Vec<u8>,
    op: DataOp,
    compressed: &[u8],
    mask: Option<[u8; 4]>,
) {
    let header = FrameHeader::new(OpCode::Data(op), true, compressed.len() as u64, mask)
        .map(|h| h.with_rsv(RSV1));
    // A data frame's header always encodes: only control frames are bounded.
    let Ok(header) = header else { return };
    let mut head = [0u8; MAX_HEADER_LEN];
    let len = header.encode(&mut head);
    out.reserve(len + compressed.len());
    out.extend_from_slice(&head[..len]);
    let start = out.len();
    out.extend_from_slice(compressed);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key);
    }
}

/// Why a compressed message could not be read. Either fails the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    /// It inflates to more than the limit (close with 1009).
    #[error("compressed message inflates past the limit of {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// It is not a raw DEFLATE stream (close with 1002, a protocol error).
    #[error("compressed message is not valid DEFLATE data")]
    Corrupt,
}

/// Inflates the messages one end receives. Its state (about 7 KiB, and the window once a
/// message needs it) is made on the first compressed message: a subscriber's server side never
/// receives one.
pub struct Inflater {
    decompress: Option<Box<Decompress>>,
    takeover: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("takeover", &self.takeover)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    /// An inflater that keeps the sender's context from message to message if `takeover`.
    pub fn new(takeover: bool) -> Inflater {
        Inflater {
            decompress: None,
            takeover,
        }
    }

    /// Appends the message `compressed` holds (without its [`TAIL`]) to `out`, refusing to make
    /// `out` longer than `max` bytes: a compressed bomb stops within [`INFLATE_STEP`] of it.
    pub fn inflate(
        &mut self,
        compressed: &[u8],
        out: &mut Vec<u8>,
        max: usize,
    ) -> Result<(), InflateError> {
        // No block at all (a peer that sent an empty message as nothing, where RFC 7692 asks
        // for 0x00): an empty message. Inflated, the tail alone would start a block the next
        // message's bytes then end, and every message after it would come out wrong.
        if compressed.is_empty() {
            return Ok(());
        }
        let d = self
            .decompress
            .get_or_insert_with(|| Box::new(Decompress::new_with_window_bits(false, 15)));
        let result = feed(d, compressed, out, max).and_then(|end| {
            if end {
                Ok(true)
            } else {
                feed(d, &TAIL, out, max)
            }
        });
        match result {
            // A final block ends the sender's stream: the next message starts a new one.
            Ok(ended) if ended || !self.takeover => {
                d.reset(false);
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => {
                d.reset(false);
                Err(e)
            }
        }
    }
}

/// Inflates all of `input` into `out` with `d`; `true` if the stream ended (a final block).
fn feed(
    d: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    max: usize,
) -> Result<bool, InflateError> {
    let mut pos = 0;
    loop {
        let len = out.len();
        let step = (max + 1).saturating_sub(len).min(INFLATE_STEP);
        if step == 0 {
            return Err(InflateError::TooLarge { max });
        }
        out.resize(len + step, 0);
        let (in0, out0) = (d.total_in(), d.total_out());
        let status = d.decompress(&input[pos..], &mut out[len..], FlushDecompress::Sync);
        let made = (d.total_out() - out0) as usize;
        pos += (d.total_in() - in0) as usize;
        out.truncate(len + made);
        if out.len() > max {
            return Err(InflateError::TooLarge { max });
        }
        match status {
            Ok(Status::StreamEnd) => return Ok(true),
            Ok(_) if pos >= input.len() && made < step => return Ok(false),
            Ok(_) if made == 0 && pos >= input.len() => return Ok(false),
            Ok(_) => {}
            Err(_) => return Err(InflateError::Corrupt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_compresses_to_rfc_7692s_example() {
        // RFC 7692 §7.2.3.1: "Hello" in one compressed text frame, no context takeover.
        let mut frame = Vec::new();
        Deflater::new(15, false).encode_frame(&mut frame, DataOp::Text, b"Hello", None);
        assert_eq!(
            frame,
            [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
        let mut out = Vec::new();
        Inflater::new(false)
            .inflate(&frame[2..], &mut out, 100)
            .unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn empty_messages_between_others_round_trip_with_and_without_takeover() {
        // Found by the inflate fuzz target: with takeover, a second empty message in a row
        // compressed to nothing, and the one after it inflated to the tail's bytes.
        let messages: [&[u8]; 5] = [&[255, 255, 33, 255, 255, 255], &[], &[], b"after", &[]];
        for takeover in [true, false] {
            let (mut deflater, mut inflater) =
                (Deflater::new(12, takeover), Inflater::new(takeover));
            for message in messages {
                let mut compressed = Vec::new();
                deflater.compress(message, &mut compressed);
                assert!(!compressed.is_empty(), "takeover {takeover}: {message:?}");
                let mut out = Vec::new();
                inflater.inflate(&compressed, &mut out, 1 << 20).unwrap();
                assert_eq!(out, message, "takeover {takeover}");
            }
        }
        // An empty payload from a peer is an empty message, and the stream goes on.
        let mut inflater = Inflater::new(true);
        let mut out = Vec::new();
        inflater.inflate(&[], &mut out, 100).unwrap();
        inflater.inflate(&[], &mut out, 100).unwrap();
        inflater
            .inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn takeover_shrinks_a_repeated_message_and_inflates_in_order() {
        // §7.2.3.2: the second "Hello" with the context kept is 5 bytes.
        let mut d = Deflater::new(15, true);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        d.compress(b"Hello", &mut a);
        d.compress(b"Hello", &mut b);
        assert_eq!(a, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        assert_eq!(b, [0xf2, 0x00, 0x11, 0x00, 0x00]);
        let mut i = Inflater::new(true);
        for m in [&a, &b] {
            let mut out = Vec::new();
            i.inflate(m, &mut out, 100).unwrap();
            assert_eq!(out, b"Hello");
        }
        // Without the context the second cannot be read as "Hello".
        let mut out = Vec::new();
        let fresh = Inflater::new(false).inflate(&b, &mut out, 100);
        assert!(fresh.is_err() || out != b"Hello");
    }

    #[test]
    fn every_window_size_round_trips() {
        let text: Vec<u8> = (0..20_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for bits in WINDOW_BITS {
            for takeover in [false, true] {
                let mut d = Deflater::new(bits, takeover);
                let mut i = Inflater::new(takeover);
                for _ in 0..3 {
                    let mut c = Vec::new();
                    d.compress(&text, &mut c);
                    let mut out = Vec::new();
                    i.inflate(&c, &mut out, 1 << 20).unwrap();
                    assert_eq!(out, text, "bits {bits}, takeover {takeover}");
                }
            }
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit_and_garbage_is_refused() {
        let mut c = Vec::new();
        Deflater::new(15, false).compress(&vec![0u8; 10 << 20], &mut c);
        assert!(c.len() < 20_000, "{}", c.len());
        let mut out = Vec::new();
        let mut i = Inflater::new(false);
        assert_eq!(
            i.inflate(&c, &mut out, 1 << 20),
            Err(InflateError::TooLarge { max: 1 << 20 })
        );
        assert!(out.len() <= (1 << 20) + 1);
        let mut out = Vec::new();
        assert_eq!(
            i.inflate(&[0xff, 0xff, 0xff], &mut out, 100),
            Err(InflateError::Corrupt)
        );
        // The inflater is usable again after an error.
        let mut out = Vec::new();
        i.inflate(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], &mut out, 100)
            .unwrap();
        assert_eq!(out, b"Hello");
    }
}
