//! brotli (RFC 7932) for HTTP bodies: `Content-Encoding: br` on long-poll and short-poll answers
//! and SSE streams.
//!
//! Owns compressing a body (whole, or a stream a piece at a time) and decoding one within a limit,
//! so a body that decodes without end is refused instead of filling the reader's memory. Which
//! answers are compressed, and when, is the server's and the client's business.
//!
//! One [`QUALITY`] and [`LGWIN`] serve both shapes, chosen for the SSE stream, which holds its
//! encoder for its whole life, so its tables and window are memory paid per connection. Quality
//! 3 is the last of brotli's small hash tables (quality 4's is twice as large, 5 and up switch to
//! tables of megabytes) and packs a chat stream nearly as small as 4 does; a 16 KiB window
//! (`lgwin` 14) holds some sixty 256-byte messages, where a stream's names, rooms and words
//! repeat, for some 100 KB less per stream than 16 bits. `docs/compression.md` gives the bytes.

use std::io::Write;

use brotli::enc::BrotliEncoderParams;

use super::bounded::{Bounded, read_to_end};

/// The encoder's quality, 0 (fastest) to 11.
pub const QUALITY: u32 = 3;
/// The encoder's window: 2^14 bytes of history (brotli allows 10 to 24).
pub const LGWIN: u32 = 14;
/// The encoder's output buffer, in bytes.
const BUFFER: usize = 4096;

/// Why a brotli body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BrError {
    /// It decodes to more than the limit.
    #[error("brotli body decodes past the limit of {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// It is not brotli data.
    #[error("body is not valid brotli data")]
    Corrupt,
}

/// The encoder settings: [`QUALITY`], [`LGWIN`], and the input's size when known (brotli
/// picks smaller tables for small inputs).
fn params(size_hint: usize) -> BrotliEncoderParams {
    BrotliEncoderParams {
        quality: QUALITY as i32,
        lgwin: LGWIN as i32,
        size_hint,
        ..BrotliEncoderParams::default()
    }
}

/// `body` brotli-compressed at [`QUALITY`] and [`LGWIN`].
pub fn br(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 2 + 16);
    let mut encoder = brotli::CompressorWriter::with_params(&mut out, BUFFER, &params(body.len()));
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    drop(encoder);
    out
}

/// The body `compressed` holds, at most `max` bytes.
pub fn unbr(compressed: &[u8], max: usize) -> Result<Vec<u8>, BrError> {
    let decoder = brotli::Decompressor::new(compressed, BUFFER);
    read_to_end(decoder, compressed.len(), max).map_err(|e| match e {
        Bounded::TooLarge => BrError::TooLarge { max },
        Bounded::Corrupt => BrError::Corrupt,
    })
}

/// One brotli stream written a piece at a time, each piece flushed so the reader can decode it at
/// once: an SSE stream's events, an encoder per stream (its window and tables live as long as
/// the stream, and so does their memory).
pub struct BrWriter {
    /// Boxed: brotli's state is some 5.6 KB inline, which would otherwise make every value that
    /// holds a stream's encoder that large.
    encoder: Box<brotli::CompressorWriter<Vec<u8>>>,
}

impl std::fmt::Debug for BrWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrWriter").finish_non_exhaustive()
    }
}

impl Default for BrWriter {
    fn default() -> Self {
        BrWriter {
            encoder: Box::new(brotli::CompressorWriter::with_params(
                Vec::new(),
                BUFFER,
                &params(0),
            )),
        }
    }
}

impl BrWriter {
    /// `piece` compressed and flushed (brotli's `BROTLI_OPERATION_FLUSH`, which ends the
    /// meta-block and pads it to a byte): the bytes to send now.
    pub fn piece(&mut self, piece: &[u8]) -> Vec<u8> {
        // Writing to a Vec cannot fail.
        let _ = self.encoder.write_all(piece);
        let _ = self.encoder.flush();
        std::mem::take(self.encoder.get_mut())
    }
}

/// A `Vec` that refuses to grow past `max` bytes: the decoder's output, so a bomb stops at the
/// limit (plus one output buffer), not at the end of the heap.
#[derive(Debug)]
struct Capped {
    out: Vec<u8>,
    max: usize,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + buf.len() > self.max {
            self.over = true;
            return Err(std::io::Error::other("past the limit"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One brotli stream read a piece at a time (an SSE stream's body chunks), each piece decoded
/// as far as it goes, the output of each bounded.
pub struct BrReader {
    /// Boxed, as [`BrWriter`]'s encoder is: some 3.6 KB inline.
    decoder: Box<brotli::DecompressorWriter<Capped>>,
}

impl std::fmt::Debug for BrReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrReader").finish_non_exhaustive()
    }
}

impl BrReader {
    /// A reader whose every piece decodes to at most `max` bytes.
    pub fn new(max: usize) -> Self {
        let out = Capped {
            out: Vec::new(),
            max,
            over: false,
        };
        BrReader {
            decoder: Box::new(brotli::DecompressorWriter::new(out, BUFFER)),
        }
    }

    /// What `piece` adds to the stream, decoded.
    pub fn piece(&mut self, piece: &[u8]) -> Result<Vec<u8>, BrError> {
        let written = self.decoder.write_all(piece);
        let capped = self.decoder.get_mut();
        if capped.over {
            return Err(BrError::TooLarge { max: capped.max });
        }
        written.map_err(|_| BrError::Corrupt)?;
        Ok(std::mem::take(&mut capped.out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_a_bomb_is_refused() {
        let body = "5:hello,2:hi,".repeat(100);
        let packed = br(body.as_bytes());
        assert!(packed.len() < body.len() / 10);
        assert_eq!(unbr(&packed, 1 << 20).unwrap(), body.as_bytes());
        let bomb = br(&vec![0u8; 8 << 20]);
        assert!(bomb.len() < 8 << 10, "{}", bomb.len());
        assert_eq!(
            unbr(&bomb, 1 << 20),
            Err(BrError::TooLarge { max: 1 << 20 })
        );
        assert_eq!(unbr(b"not brotli", 100), Err(BrError::Corrupt));
        assert_eq!(unbr(&br(b""), 100).unwrap(), b"");
    }

    #[test]
    fn a_stream_decodes_piece_by_piece() {
        let (mut w, mut r) = (BrWriter::default(), BrReader::new(1 << 16));
        for event in ["id: 1\ndata: hello\n\n", "id: 2\ndata: 你好\n\n", ""] {
            let packed = w.piece(event.as_bytes());
            assert_eq!(r.piece(&packed).unwrap(), event.as_bytes());
        }
        // The whole bomb in one piece: its output stops at the limit.
        let bomb = BrWriter::default().piece(&vec![0u8; 1 << 20]);
        assert_eq!(
            BrReader::new(1 << 16).piece(&bomb),
            Err(BrError::TooLarge { max: 1 << 16 })
        );
        assert_eq!(
            BrReader::new(100).piece(b"not brotli at all"),
            Err(BrError::Corrupt)
        );
    }
}
