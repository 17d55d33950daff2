//! gzip (RFC 1952) for HTTP bodies: `Content-Encoding: gzip` on long-poll and short-poll answers.
//!
//! Owns compressing a body and inflating one within a limit, so a body that inflates without end
//! is refused instead of filling the reader's memory. Which answers are compressed, and when, is
//! the server's and the client's business.

use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

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
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(3).min(max));
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    GzDecoder::new(compressed)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|_| GunzipError::Corrupt)?;
    if out.len() > max {
        return Err(GunzipError::TooLarge { max });
    }
    Ok(out)
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
}
