//! permessage-deflate in the built-in WebSocket server: what an upgrade agrees
//! ([`negotiate`]), and how a connection's frames are then compressed.
//!
//! The server does what the client asks (RFC 7692 lets either end restrict the other):
//! - `server_no_context_takeover` offered: every message is compressed once, by the first
//!   connection the room's pusher writes it to, and that frame goes to every connection that
//!   agreed the same window ([`Form::Deflated`], kept beside the plain frame in
//!   [`Framed`](super::framed::Framed)). The pusher writes these connections like any other.
//! - takeover (a browser's default offer): each connection keeps its own context, so each
//!   message is compressed once per recipient, by [`Deflating`] on the connection's own task;
//!   the pusher hands such a connection its news instead of writing them.
//!
//! What a client sends is inflated by the connection's decoder, bounded by the server's message
//! limit (a compressed bomb gets 1009 and the server goes on).

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use hyper::HeaderMap;
use hyper::header::{HeaderValue, SEC_WEBSOCKET_EXTENSIONS};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::Limits;
use super::fanout::Form;
use crate::codec::ws::deflate::{Deflater, Inflater, WINDOW_BITS, encode_deflated_frame};
use crate::codec::ws::negotiate::{self, Agreed};
use crate::codec::ws::{Config, DataOp, Decoder, FrameHeader, OpCode, Role};

/// The extension an upgrade request offers that the server accepts, and the header answering it.
pub(crate) fn negotiate(headers: &HeaderMap) -> Option<(Agreed, HeaderValue)> {
    let values = headers.get_all(SEC_WEBSOCKET_EXTENSIONS);
    let (agreed, answer) = negotiate::answer(values.iter().filter_map(|v| v.to_str().ok()))?;
    Some((agreed, HeaderValue::from_str(&answer).ok()?))
}

/// One connection's decoder: masked frames only, messages bounded by the server's limit (also
/// once inflated), compressed messages accepted if the extension was agreed.
pub(crate) fn decoder(limits: &Limits, agreed: Option<Agreed>) -> Decoder {
    let mut decoder = Decoder::new(Config {
        role: Role::Server,
        max_frame_bytes: limits.max_message_bytes,
        max_message_bytes: limits.max_message_bytes,
        read_chunk_bytes: 4096,
    });
    if let Some(a) = agreed {
        decoder.set_inflater(Inflater::new(!a.client_no_context_takeover));
    }
    decoder
}

/// How a connection that agreed `agreed` is written: its stream (compressing per connection
/// with takeover), the socket the room's pusher may write to (none with takeover: only the
/// connection's task can compress its frames), and which bytes of each message it is sent.
pub(crate) fn hook<S>(
    io: S,
    socket: Option<Arc<TcpStream>>,
    agreed: Option<Agreed>,
) -> (Deflating<S>, Option<Arc<TcpStream>>, Form) {
    match agreed {
        None => (Deflating::plain(io), socket, Form::Plain),
        Some(a) if a.server_no_context_takeover => (
            Deflating::plain(io),
            socket,
            Form::Deflated(a.server_max_window_bits),
        ),
        Some(a) => {
            let deflater = Deflater::new(a.server_max_window_bits, true);
            (Deflating::with(io, deflater), None, Form::Plain)
        }
    }
}

thread_local! {
    /// A context-free compressor per window size, reset after every message, so sharing a
    /// compressed frame costs no allocation of a compressor per message.
    static SHARED: RefCell<Vec<(u8, Deflater)>> = const { RefCell::new(Vec::new()) };
}

/// The frame (RSV1 set) of `payload` compressed without context with `bits` window bits.
pub(crate) fn shared_frame(payload: &[u8], text: bool, bits: u8) -> Bytes {
    let bits = bits.clamp(*WINDOW_BITS.start(), *WINDOW_BITS.end());
    let mut compressed = Vec::with_capacity(payload.len() / 2 + 16);
    SHARED.with_borrow_mut(|all| {
        let at = match all.iter().position(|(b, _)| *b == bits) {
            Some(at) => at,
            None => {
                all.push((bits, Deflater::new(bits, false)));
                all.len() - 1
            }
        };
        all[at].1.compress(payload, &mut compressed);
    });
    let op = if text { DataOp::Text } else { DataOp::Binary };
    let mut frame = Vec::with_capacity(compressed.len() + 10);
    encode_deflated_frame(&mut frame, op, &compressed, None);
    Bytes::from(frame)
}

/// Compressed frames beyond this many bytes not yet taken by the socket make a write wait.
const HIGH_WATER: usize = 64 * 1024;

/// A connection's stream that, given a per-connection compressor, compresses every data frame
/// the server writes through it (the server's own well-formed, unfragmented frames) and passes
/// control frames as they are; without one, it is the stream itself.
#[derive(Debug)]
pub(crate) struct Deflating<S> {
    inner: S,
    deflater: Option<Box<Deflater>>,
    /// Plain frames written but not yet whole.
    plain: Vec<u8>,
    /// Frames to go to `inner`, from `at`.
    out: Vec<u8>,
    at: usize,
}

impl<S> Deflating<S> {
    fn plain(inner: S) -> Self {
        Deflating {
            inner,
            deflater: None,
            plain: Vec::new(),
            out: Vec::new(),
            at: 0,
        }
    }

    fn with(inner: S, deflater: Deflater) -> Self {
        Deflating {
            deflater: Some(Box::new(deflater)),
            ..Deflating::plain(inner)
        }
    }

    /// Moves every whole frame of `plain` to `out`, data frames compressed.
    fn transform(&mut self) {
        let Some(deflater) = self.deflater.as_mut() else {
            return;
        };
        let mut pos = 0;
        while let Ok(Some((header, head))) = FrameHeader::decode(&self.plain[pos..]) {
            let end = pos + head + header.payload_len() as usize;
            if end > self.plain.len() {
                break;
            }
            match header.opcode() {
                OpCode::Data(op) if header.fin() && op != DataOp::Continuation => {
                    deflater.encode_frame(&mut self.out, op, &self.plain[pos + head..end], None);
                }
                _ => self.out.extend_from_slice(&self.plain[pos..end]),
            }
            pos = end;
        }
        self.plain.drain(..pos);
    }
}

impl<S: AsyncWrite + Unpin> Deflating<S> {
    /// Writes `out` to the stream until at most `left` bytes of it remain.
    fn drain(&mut self, cx: &mut Context<'_>, left: usize) -> Poll<io::Result<()>> {
        while self.out.len() - self.at > left {
            match ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.at..])) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.at += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        if self.at == self.out.len() {
            self.out.clear();
            self.at = 0;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deflating<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deflating<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.deflater.is_none() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        ready!(this.drain(cx, HIGH_WATER))?;
        this.plain.extend_from_slice(buf);
        this.transform();
        // What the socket takes now goes now; the rest waits for the next write or flush.
        if let Poll::Ready(Err(e)) = this.drain(cx, 0) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.deflater.is_none() {
            return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        }
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
        self.poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        self.deflater.is_none() && self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx, 0))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx, 0))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ws::deflate::Inflater;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_connection_with_takeover_compresses_data_frames_and_passes_control_frames() {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let mut w = Deflating::with(a, Deflater::new(15, true));
        // Two "Hello" text frames and a ping, written in awkward pieces.
        let bytes = [&b"\x81\x05Hello"[..], b"\x81\x05Hello", b"\x89\x00"].concat();
        for piece in bytes.chunks(3) {
            w.write_all(piece).await.unwrap();
        }
        w.flush().await.unwrap();
        drop(w);
        let mut got = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut b, &mut got)
            .await
            .unwrap();
        // RFC 7692 §7.2.3.2: the second message refers back to the first.
        assert_eq!(
            got,
            [
                &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00][..],
                &[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00],
                &[0x89, 0x00],
            ]
            .concat()
        );
    }

    #[test]
    fn a_shared_frame_inflates_to_the_message() {
        let frame = shared_frame("你好, hello hello hello".as_bytes(), true, 10);
        assert_eq!(frame[0], 0xc1);
        let mut out = Vec::new();
        Inflater::new(false)
            .inflate(&frame[2..], &mut out, 1000)
            .unwrap();
        assert_eq!(out, "你好, hello hello hello".as_bytes());
    }
}
