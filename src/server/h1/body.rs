//! A connection's bytes in ([`Wire`]) and the request bodies read from them: `Content-Length` or
//! chunked, kept up to a limit (a publish) or read past and dropped (any other request's body),
//! so the next request on the connection starts where it should.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::head::BodyKind;

/// Bytes asked of the socket per read: a request head or a small body fits in one.
const READ_BYTES: usize = 512;

/// The longest chunk-size or trailer line of a chunked body.
const MAX_LINE_BYTES: usize = 4096;

/// A connection and the bytes read from it that no request has used yet. Between requests the
/// buffer is released ([`Wire::release`]): an idle connection holds none.
#[derive(Debug)]
pub(crate) struct Wire<S> {
    pub io: S,
    pub buf: Vec<u8>,
}

impl<S: AsyncRead + Unpin> Wire<S> {
    /// Reads more into the buffer; `Ok(0)` at the end of the stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        self.buf.reserve(READ_BYTES);
        self.io.read_buf(&mut self.buf).await
    }

    /// Like [`Wire::fill`], but the end of the stream is an error: more was promised.
    async fn more(&mut self) -> Result<(), BodyError> {
        match self.fill().await {
            Ok(0) => Err(BodyError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => Ok(()),
            Err(e) => Err(BodyError::Io(e)),
        }
    }

    /// Drops the buffer if it holds nothing unread.
    pub fn release(&mut self) {
        if self.buf.is_empty() {
            self.buf = Vec::new();
        }
    }

    /// Takes up to `n` bytes, reading if none are buffered.
    async fn take(&mut self, n: u64) -> Result<Vec<u8>, BodyError> {
        if self.buf.is_empty() {
            self.more().await?;
        }
        let n = usize::try_from(n).unwrap_or(usize::MAX).min(self.buf.len());
        Ok(self.buf.drain(..n).collect())
    }

    /// One line (through its LF), without its line ending.
    async fn line(&mut self) -> Result<Vec<u8>, BodyError> {
        loop {
            if let Some(end) = memchr::memchr(b'\n', &self.buf) {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE_BYTES {
                return Err(BodyError::Bad);
            }
            self.more().await?;
        }
    }
}

/// Why a body was not had.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Longer than the limit; it was read to its end, so the connection can go on.
    TooLarge,
    /// Not a valid chunked body: the connection cannot go on.
    Bad,
    /// The connection failed or ended mid-body.
    Io(io::Error),
}

/// Reads a body framed as `kind`: its bytes if at most `limit`, else [`BodyError::TooLarge`]
/// once it has all been read past.
pub(crate) async fn read<S: AsyncRead + Unpin>(
    wire: &mut Wire<S>,
    kind: BodyKind,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    let mut over = false;
    let mut keep = |piece: Vec<u8>, body: &mut Vec<u8>| {
        over |= body.len() + piece.len() > limit;
        if !over {
            body.extend_from_slice(&piece);
        }
    };
    match kind {
        BodyKind::Length(mut left) => {
            while left > 0 {
                let piece = wire.take(left).await?;
                left -= piece.len() as u64;
                keep(piece, &mut body);
            }
        }
        BodyKind::Chunked => loop {
            let line = wire.line().await?;
            let size = line.split(|&b| b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size)
                .ok()
                .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
                .ok_or(BodyError::Bad)?;
            if size == 0 {
                // Trailers, if any, up to the blank line.
                while !wire.line().await?.is_empty() {}
                break;
            }
            let mut left = size;
            while left > 0 {
                let piece = wire.take(left).await?;
                left -= piece.len() as u64;
                keep(piece, &mut body);
            }
            if !wire.line().await?.is_empty() {
                return Err(BodyError::Bad);
            }
        },
    }
    if over {
        return Err(BodyError::TooLarge);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(bytes: &'static [u8], kind: BodyKind, limit: usize) -> (String, Vec<u8>) {
        let mut wire = Wire {
            io: bytes,
            buf: Vec::new(),
        };
        let got = match read(&mut wire, kind, limit).await {
            Ok(body) => String::from_utf8(body).unwrap(),
            Err(e) => format!("{e:?}"),
        };
        (got, wire.buf)
    }

    #[tokio::test]
    async fn a_length_body_stops_at_its_length() {
        let (body, rest) = read_all(b"hiGET /", BodyKind::Length(2), 10).await;
        assert_eq!(body, "hi");
        assert_eq!(rest, b"GET /");
    }

    #[tokio::test]
    async fn a_chunked_body_is_joined() {
        let bytes = b"2\r\nhi\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\nnext";
        let (body, rest) = read_all(bytes, BodyKind::Chunked, 10).await;
        assert_eq!(body, "hiabc");
        assert_eq!(rest, b"next");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_read_past() {
        let (body, rest) = read_all(b"0123456789GET", BodyKind::Length(10), 9).await;
        assert_eq!(body, "TooLarge");
        assert_eq!(rest, b"GET");
        let (body, rest) = read_all(b"5\r\n01234\r\n0\r\n\r\nGET", BodyKind::Chunked, 4).await;
        assert_eq!(body, "TooLarge");
        assert_eq!(rest, b"GET");
    }

    #[tokio::test]
    async fn bad_chunks_and_short_bodies_fail() {
        assert_eq!(read_all(b"zz\r\n", BodyKind::Chunked, 9).await.0, "Bad");
        assert_eq!(
            read_all(b"2\r\nhiX\r\n", BodyKind::Chunked, 9).await.0,
            "Bad"
        );
        assert!(
            read_all(b"h", BodyKind::Length(2), 9)
                .await
                .0
                .starts_with("Io")
        );
    }
}
