//! One framed connection's byte plumbing, shared by our WebSocket client ([`super::ws`]'s `ours`)
//! and raw ([`super::raw`]): only their frames differ.
//!
//! Frames to send wait in `out` with a count of what was written, so a write cut short by a
//! cancelled call resumes where it stopped; reads go from the socket through the worker thread's
//! scratch buffer ([`scratch`]) straight into the decoder, which keeps no buffer while the
//! connection is idle. Every `.await` here is cancel-safe.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::codec;
use crate::wire::scratch;

/// A decoder the bytes read are fed to.
pub(super) trait Feed {
    /// Takes bytes as they came off the socket.
    fn feed(&mut self, bytes: &[u8]);
    /// Drops its buffer if everything fed has been decoded.
    fn release_if_empty(&mut self);
}

impl Feed for codec::raw::Decoder {
    fn feed(&mut self, bytes: &[u8]) {
        codec::raw::Decoder::feed(self, bytes);
    }

    fn release_if_empty(&mut self) {
        codec::raw::Decoder::release_if_empty(self);
    }
}

impl Feed for codec::ws::Decoder {
    fn feed(&mut self, bytes: &[u8]) {
        codec::ws::Decoder::feed(self, bytes);
    }

    fn release_if_empty(&mut self) {
        codec::ws::Decoder::release_if_empty(self);
    }
}

/// A byte stream, its decoder and its queue of frames to send.
#[derive(Debug)]
pub(super) struct Framed<S, D> {
    pub(super) stream: S,
    pub(super) decoder: D,
    /// Frames queued to send; `out[written..]` is not on the socket yet.
    pub(super) out: Vec<u8>,
    written: usize,
    /// Bytes were written since the stream was last flushed.
    unflushed: bool,
}

impl<S, D> Framed<S, D> {
    /// `stream` read through `decoder`, nothing queued.
    pub(super) fn new(stream: S, decoder: D) -> Self {
        Framed {
            stream,
            decoder,
            out: Vec::new(),
            written: 0,
            unflushed: false,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin, D: Feed> Framed<S, D> {
    /// Writes every queued frame and flushes the stream (only if something was written).
    pub(super) async fn flush(&mut self) -> io::Result<()> {
        while self.written < self.out.len() {
            let n = self.stream.write(&self.out[self.written..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.written += n;
            self.unflushed = true;
        }
        self.out.clear();
        self.written = 0;
        if self.unflushed {
            self.stream.flush().await?;
            self.unflushed = false;
        }
        Ok(())
    }

    /// Reads what the socket has into the decoder, its buffer released first if everything was
    /// decoded (an idle connection keeps none); `false` at the end of the stream.
    pub(super) async fn fill(&mut self) -> io::Result<bool> {
        self.decoder.release_if_empty();
        let decoder = &mut self.decoder;
        let read = scratch::read_with(&mut self.stream, |bytes| {
            decoder.feed(bytes);
            bytes.len()
        });
        Ok(read.await? > 0)
    }

    /// Sends what is queued (a peer that cannot take it changes nothing measured), then shuts
    /// the stream's write side.
    pub(super) async fn close(&mut self) {
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }
}
