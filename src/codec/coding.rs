//! The HTTP content codings wsbench speaks (RFC 9110 §8.4.1): none, gzip ([`super::gzip`]) and br
//! ([`super::br`]), chosen by a transport's `compress` key, named in `Accept-Encoding` and
//! `Content-Encoding`.
//!
//! Owns the name of each coding and the dispatch to its encoder and bounded decoder, for a whole
//! body and for a stream read a piece at a time. Which coding a request asks for and an answer
//! gets is the client's and the server's business.

use super::br::{BrError, BrReader, BrWriter};
use super::gzip::{GunzipError, GunzipReader, GzipWriter};

/// A content coding. The order is the scenario's run order: uncompressed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Coding {
    /// No compression (`compress = "none"`).
    #[default]
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// brotli (RFC 7932).
    Br,
}

/// Why a compressed body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A gzip body was corrupt or too large.
    #[error(transparent)]
    Gzip(#[from] GunzipError),
    /// A brotli body was corrupt or too large.
    #[error(transparent)]
    Br(#[from] BrError),
}

impl Coding {
    /// Every coding, in run order.
    pub const ALL: [Coding; 3] = [Coding::Identity, Coding::Gzip, Coding::Br];

    /// The coding's name in `Accept-Encoding` and `Content-Encoding`, and in a scenario's
    /// `compress` (where no compression is `"none"`).
    pub fn token(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Gzip => "gzip",
            Coding::Br => "br",
        }
    }

    /// The coding a `Content-Encoding` value names (case-insensitive), if it is one of ours.
    pub fn from_token(token: &str) -> Option<Coding> {
        Coding::ALL
            .into_iter()
            .find(|c| c.token().eq_ignore_ascii_case(token.trim()))
    }

    /// `body` in this coding.
    pub fn encode(self, body: &[u8]) -> Vec<u8> {
        match self {
            Coding::Identity => body.to_vec(),
            Coding::Gzip => super::gzip::gzip(body),
            Coding::Br => super::br::br(body),
        }
    }

    /// The body `encoded` holds in this coding, at most `max` bytes (an identity body is taken
    /// as it is).
    pub fn decode(self, encoded: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
        Ok(match self {
            Coding::Identity => encoded.to_vec(),
            Coding::Gzip => super::gzip::gunzip(encoded, max)?,
            Coding::Br => super::br::unbr(encoded, max)?,
        })
    }
}

/// One compressed stream written a piece at a time, each piece flushed: an SSE stream's encoder.
/// Each variant holds its state on the heap, so the value is a pointer's size whichever it is.
#[derive(Debug)]
pub enum StreamEncoder {
    /// gzip, sync-flushed per piece.
    Gzip(Box<GzipWriter>),
    /// brotli, flushed per piece.
    Br(BrWriter),
}

impl StreamEncoder {
    /// An encoder for `coding`; `None` for no compression.
    pub fn new(coding: Coding) -> Option<Self> {
        match coding {
            Coding::Identity => None,
            Coding::Gzip => Some(StreamEncoder::Gzip(Box::default())),
            Coding::Br => Some(StreamEncoder::Br(BrWriter::default())),
        }
    }

    /// `piece` compressed and flushed: the bytes to send now.
    pub fn piece(&mut self, piece: &[u8]) -> Vec<u8> {
        match self {
            StreamEncoder::Gzip(w) => w.piece(piece),
            StreamEncoder::Br(w) => w.piece(piece),
        }
    }
}

/// One compressed stream read a piece at a time, each piece decoded as far as it goes and
/// bounded: an SSE stream's decoder. Its state is on the heap, as [`StreamEncoder`]'s.
#[derive(Debug)]
pub enum StreamDecoder {
    /// gzip.
    Gzip(Box<GunzipReader>),
    /// brotli.
    Br(BrReader),
}

impl StreamDecoder {
    /// A decoder for `coding` whose every piece decodes to at most `max` bytes; `None` for no
    /// compression.
    pub fn new(coding: Coding, max: usize) -> Option<Self> {
        match coding {
            Coding::Identity => None,
            Coding::Gzip => Some(StreamDecoder::Gzip(Box::new(GunzipReader::new(max)))),
            Coding::Br => Some(StreamDecoder::Br(BrReader::new(max))),
        }
    }

    /// What `piece` adds to the stream, decoded.
    pub fn piece(&mut self, piece: &[u8]) -> Result<Vec<u8>, DecodeError> {
        Ok(match self {
            StreamDecoder::Gzip(r) => r.piece(piece)?,
            StreamDecoder::Br(r) => r.piece(piece)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_each_coding_and_round_trip() {
        for c in Coding::ALL {
            assert_eq!(Coding::from_token(c.token()), Some(c));
            let body = b"id: 1\ndata: hello hello hello\n\n";
            assert_eq!(c.decode(&c.encode(body), 1 << 10).unwrap(), body);
        }
        assert_eq!(Coding::from_token(" BR "), Some(Coding::Br));
        assert_eq!(Coding::from_token("deflate"), None);
        assert!(StreamEncoder::new(Coding::Identity).is_none());
        let mut e = StreamEncoder::new(Coding::Br).unwrap();
        let mut d = StreamDecoder::new(Coding::Br, 1 << 10).unwrap();
        assert_eq!(d.piece(&e.piece(b"one")).unwrap(), b"one");
        assert!(matches!(
            Coding::Br.decode(&Coding::Gzip.encode(b"x"), 10),
            Err(DecodeError::Br(BrError::Corrupt))
        ));
    }
}
