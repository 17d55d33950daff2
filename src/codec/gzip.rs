//! gzip (RFC 1952) for HTTP bodies: `Content-Encoding: gzip` on long-poll and short-poll answers.
//!
//! Owns compressing a body and inflating one within a limit, so a body that inflates without end
//! is refused instead of filling the reader's memory. Which answers are compressed, and when, is
//! the server's and the client's business.

use std::io::Write;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::{GzDecoder as GzStreamDecoder, GzEncoder};

use super::bounded::{Bounded, read_to_end};

/// Why a gzip body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GunzipError {
    /// It inflates to more than the limit.
    #[error("gzip body inflates past the limit of {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// It is not gzip data.
    #[error("body is not valid gzip data")]
    Corrupt,
}

/// `body` gzip-compressed at the default level (zlib's 6, what web servers use).
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(body.len() / 2 + 32),
        Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// The body `compressed` holds, at most `max` bytes.
pub fn gunzip(compressed: &[u8], max: usize) -> Result<Vec<u8>, GunzipError> {
    read_to_end(GzDecoder::new(compressed), compressed.len(), max).map_err(|e| match e {
        Bounded::TooLarge => GunzipError::TooLarge { max },
        Bounded::Corrupt => GunzipError::Corrupt,
    })
}

/// One gzip stream written a piece at a time, each piece flushed so the reader can inflate it at
/// once: an SSE stream's events, a compressor per stream (its context lives as long as the
/// stream, and so does its memory).
pub struct GzipWriter {
    encoder: GzEncoder<Vec<u8>>,
}

impl std::fmt::Debug for GzipWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GzipWriter").finish_non_exhaustive()
    }
}

impl Default for GzipWriter {
    fn default() -> Self {
        GzipWriter {
            encoder: GzEncoder::new(Vec::new(), Compression::default()),
        }
    }
}

impl GzipWriter {
    /// `piece` compressed and sync-flushed: the bytes to send now (the first call's start with
    /// the gzip header).
    pub fn piece(&mut self, piece: &[u8]) -> Vec<u8> {
        // Writing to a Vec cannot fail.
        let _ = self.encoder.write_all(piece);
        let _ = self.encoder.flush();
        std::mem::take(self.encoder.get_mut())
    }
}

/// One gzip stream read a piece at a time (an SSE stream's body chunks), each piece inflated
/// as far as it goes, the whole bounded per piece.
pub struct GunzipReader {
    decoder: GzStreamDecoder<Vec<u8>>,
    max: usize,
}

impl std::fmt::Debug for GunzipReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GunzipReader").finish_non_exhaustive()
    }
}

/// Compressed bytes inflated per step, so a bomb is stopped soon after the limit.
const STEP: usize = 1024;

impl GunzipReader {
    /// A reader whose every piece inflates to at most `max` bytes.
    pub fn new(max: usize) -> Self {
        GunzipReader {
            decoder: GzStreamDecoder::new(Vec::new()),
            max,
        }
    }

    /// What `piece` adds to the stream, inflated.
    pub fn piece(&mut self, piece: &[u8]) -> Result<Vec<u8>, GunzipError> {
        for step in piece.chunks(STEP) {
            self.decoder
                .write_all(step)
                .and_then(|()| self.decoder.flush())
                .map_err(|_| GunzipError::Corrupt)?;
            if self.decoder.get_ref().len() > self.max {
                return Err(GunzipError::TooLarge { max: self.max });
            }
        }
        Ok(std::mem::take(self.decoder.get_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_and_a_bomb_is_refused() {
        let body = "5:hello,2:hi,".repeat(100);
        let packed = gzip(body.as_bytes());
        assert_eq!(&packed[..2], [0x1f, 0x8b]);
        assert!(packed.len() < body.len() / 10);
        assert_eq!(gunzip(&packed, 1 << 20).unwrap(), body.as_bytes());
        let bomb = gzip(&vec![0u8; 8 << 20]);
        assert_eq!(
            gunzip(&bomb, 1 << 20),
            Err(GunzipError::TooLarge { max: 1 << 20 })
        );
        assert_eq!(gunzip(b"not gzip", 100), Err(GunzipError::Corrupt));
        assert!(!gzip(b"").is_empty());
    }

    #[test]
    fn a_stream_inflates_piece_by_piece() {
        let (mut w, mut r) = (GzipWriter::default(), GunzipReader::new(1 << 16));
        for event in ["id: 1\ndata: hello\n\n", "id: 2\ndata: 你好\n\n", ""] {
            let packed = w.piece(event.as_bytes());
            assert_eq!(r.piece(&packed).unwrap(), event.as_bytes());
        }
        let mut bomb = GzipWriter::default().piece(&vec![0u8; 1 << 20]);
        bomb.truncate(bomb.len() - 1);
        assert_eq!(
            GunzipReader::new(1 << 16).piece(&bomb),
            Err(GunzipError::TooLarge { max: 1 << 16 })
        );
    }
}
