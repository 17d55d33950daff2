//! Byte accounting at the TCP payload level.
//!
//! [`CountingStream`] wraps any `AsyncRead + AsyncWrite` (a `TcpStream` under hyper or tungstenite)
//! and adds every byte read or written to a shared [`WireMeter`]. Because it sits below the HTTP
//! and WebSocket libraries, the counts include request and response heads, chunking and frame
//! headers: everything the protocol puts on the socket. Knows bytes, not protocols. HTTP/3's
//! QUIC has no stream to wrap: [`udp::CountingUdp`] counts its datagrams' UDP payload instead.
//!
//! Below it, a client's socket is a [`stamp::StampedTcp`]: read with `recvmsg`, it keeps the
//! kernel's receive time of the bytes each read returns, so a delivery can be timed when its
//! bytes arrived rather than when a generator thread got to them ([`stamp`]).

pub mod cut;
pub mod delay;
pub(crate) mod scratch;
pub mod stamp;
pub mod udp;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::metrics::{WireBytes, thread_lane};

/// Running byte totals shared by every client socket of one transport run. Relaxed atomics: the
/// counts are read at phase boundaries and once a second only. Each thread adds into its own lane
/// (a cache line of its own, see [`thread_lane`]): one shared counter written by every read of
/// every socket would move between the cores on every add.
#[derive(Debug)]
pub struct WireMeter {
    lanes: Box<[Lane]>,
}

/// Lanes per meter; threads beyond this share lanes (still exact, only slower).
const LANES: usize = 16;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Lane {
    up: AtomicU64,
    down: AtomicU64,
    /// Streams made by [`CountingStream::new`] minus those dropped, on this lane (a stream may be
    /// dropped on another thread than it was made on, so a lane alone may go "negative").
    open: AtomicI64,
}

impl Default for WireMeter {
    fn default() -> Self {
        WireMeter {
            lanes: (0..LANES).map(|_| Lane::default()).collect(),
        }
    }
}

impl WireMeter {
    /// The totals so far.
    pub fn read(&self) -> WireBytes {
        let mut total = WireBytes::default();
        for lane in self.lanes.iter() {
            total.up += lane.up.load(Ordering::Relaxed);
            total.down += lane.down.load(Ordering::Relaxed);
        }
        total
    }

    /// Counted streams alive now: the client connections open (a stream is dropped when its
    /// connection closes or breaks).
    pub fn open_streams(&self) -> u64 {
        let open: i64 = self
            .lanes
            .iter()
            .map(|lane| lane.open.load(Ordering::Relaxed))
            .sum();
        u64::try_from(open).unwrap_or(0)
    }

    /// The calling thread's lane.
    fn lane(&self) -> &Lane {
        &self.lanes[thread_lane() % LANES]
    }
}

/// A stream that counts what passes through it: writes as `up`, reads as `down`.
#[derive(Debug)]
pub struct CountingStream<S> {
    inner: S,
    meter: Arc<WireMeter>,
}

impl<S> CountingStream<S> {
    /// Wraps `inner`, adding its traffic to `meter`.
    pub fn new(inner: S, meter: Arc<WireMeter>) -> Self {
        meter.lane().open.fetch_add(1, Ordering::Relaxed);
        CountingStream { inner, meter }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// Counting changes no byte, so the stamps are those of the stream below.
impl<S: stamp::Arrivals> stamp::Arrivals for CountingStream<S> {
    fn arrival(&self) -> Option<stamp::KernelStamp> {
        self.inner.arrival()
    }
}

impl<S> Drop for CountingStream<S> {
    fn drop(&mut self) {
        self.meter.lane().open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            let n = (buf.filled().len() - before) as u64;
            self.meter.lane().down.fetch_add(n, Ordering::Relaxed);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.meter.lane().up.fetch_add(n as u64, Ordering::Relaxed);
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll {
            self.meter.lane().up.fetch_add(n as u64, Ordering::Relaxed);
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_every_byte_both_ways() {
        let (a, mut b) = tokio::io::duplex(64);
        let meter = Arc::new(WireMeter::default());
        let mut counted = CountingStream::new(a, meter.clone());
        counted.write_all(b"hello world").await.unwrap();
        let mut got = [0u8; 11];
        b.read_exact(&mut got).await.unwrap();
        b.write_all(b"abc").await.unwrap();
        let mut back = [0u8; 3];
        counted.read_exact(&mut back).await.unwrap();
        assert_eq!(meter.read(), WireBytes { up: 11, down: 3 });
        assert_eq!(meter.open_streams(), 1);
        drop(counted);
        assert_eq!(meter.open_streams(), 0);
    }
}
