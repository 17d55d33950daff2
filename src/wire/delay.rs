//! A network's round trip, emulated in the client's socket layer.
//!
//! On loopback every request/response, re-poll, publish and handshake costs nothing, which hides
//! exactly what separates polling from a pushed stream on a real network. The kernel's netem
//! would add the delay, but it needs root and a kernel module these machines lack, so
//! [`Delayed`] adds it here, above the byte counter (bytes are unchanged) and below every
//! protocol: bytes written leave `one_way` later, bytes that arrive become readable `one_way`
//! later (a round trip is twice that), end of stream included. Order is kept.
//!
//! What it does not emulate: TCP's own congestion window, slow start and loss recovery, and the
//! server's view (the server sees the delayed bytes, not a delayed connection: its accept and its
//! ACKs are immediate). A queue holds at most [`QUEUE_LIMIT`] bytes each way; past that, writes
//! wait and reads stop pulling from the socket, so TCP's flow control still applies.
//!
//! Bytes due to leave are sent whenever the connection is polled (read, write or flush) and a
//! timer wakes the task when they are due, so a task that always has a read pending — as every
//! wsbench client has — sends them on time.

use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Bytes in flight each way, at most; a window's worth for a busy connection.
pub const QUEUE_LIMIT: usize = 256 * 1024;

/// Bytes read from the socket in one go.
const READ_CHUNK: usize = 16 * 1024;

/// A stream whose bytes take `one_way` to cross, each way. See the module doc.
#[derive(Debug)]
pub struct Delayed<S> {
    inner: S,
    one_way: Duration,
    /// Bytes that arrived, each readable from its instant on; `None` is the end of the stream.
    incoming: VecDeque<(Instant, Option<Bytes>)>,
    incoming_bytes: usize,
    /// An error the socket returned on read, given to the reader once what came before is read.
    read_error: Option<io::Error>,
    /// Bytes written, each leaving at its instant.
    outgoing: VecDeque<(Instant, Bytes)>,
    outgoing_bytes: usize,
    /// An error the socket returned on a delayed write, given to the next write or flush.
    write_error: Option<io::Error>,
    /// Wakes the task when the next queued bytes are due, either way.
    timer: Pin<Box<Sleep>>,
}

impl<S> Delayed<S> {
    /// `inner` with `rtt` of round-trip time (half each way).
    pub fn new(inner: S, rtt: Duration) -> Self {
        Delayed {
            inner,
            one_way: rtt / 2,
            incoming: VecDeque::new(),
            incoming_bytes: 0,
            read_error: None,
            outgoing: VecDeque::new(),
            outgoing_bytes: 0,
            write_error: None,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The first queued outgoing instant still to come (bytes already due wait on the socket,
    /// whose waker is registered).
    fn next_outgoing(&self, now: Instant) -> Option<Instant> {
        self.outgoing.iter().map(|(at, _)| *at).find(|at| *at > now)
    }

    /// Arms the timer for `at` and registers the task with it; `Ready` once `at` has passed,
    /// `Pending` with no timer when there is nothing to wait for.
    fn sleep_until(&mut self, cx: &mut Context<'_>, at: Option<Instant>) -> Poll<()> {
        let Some(at) = at else {
            return Poll::Pending;
        };
        if self.timer.deadline() != at || self.timer.is_elapsed() {
            self.timer.as_mut().reset(at);
        }
        self.timer.as_mut().poll(cx)
    }
}

impl<S: AsyncWrite + Unpin> Delayed<S> {
    /// Writes every queued byte that is due; `Pending` while due bytes wait for the socket.
    fn send_due(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let now = Instant::now();
        while let Some((at, chunk)) = self.outgoing.front_mut() {
            if *at > now {
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, chunk) {
                Poll::Ready(Ok(0)) => {
                    self.write_error = Some(io::ErrorKind::WriteZero.into());
                    self.drop_outgoing();
                }
                Poll::Ready(Ok(n)) => {
                    chunk.advance(n);
                    self.outgoing_bytes -= n;
                    if chunk.is_empty() {
                        self.outgoing.pop_front();
                    }
                }
                Poll::Ready(Err(e)) => {
                    self.write_error = Some(e);
                    self.drop_outgoing();
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(())
    }

    fn drop_outgoing(&mut self) {
        self.outgoing.clear();
        self.outgoing_bytes = 0;
    }
}

impl<S: AsyncRead + Unpin> Delayed<S> {
    /// Moves whatever the socket has into the incoming queue, stamped with when it may be read.
    fn pull(&mut self, cx: &mut Context<'_>) {
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        while self.incoming_bytes < QUEUE_LIMIT
            && self.read_error.is_none()
            && !matches!(self.incoming.back(), Some((_, None)))
        {
            let mut buf = ReadBuf::uninit(&mut chunk);
            match Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) => {
                    let at = Instant::now() + self.one_way;
                    if buf.filled().is_empty() {
                        self.incoming.push_back((at, None));
                    } else {
                        self.incoming_bytes += buf.filled().len();
                        let bytes = Bytes::copy_from_slice(buf.filled());
                        self.incoming.push_back((at, Some(bytes)));
                    }
                }
                Poll::Ready(Err(e)) => self.read_error = Some(e),
                Poll::Pending => return,
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Delayed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Reading is what every client does all the time: send what is due on the way.
        let _ = this.send_due(cx);
        this.pull(cx);
        loop {
            let now = Instant::now();
            match this.incoming.front_mut() {
                Some((at, Some(chunk))) if *at <= now => {
                    let n = chunk.len().min(buf.remaining());
                    buf.put_slice(&chunk[..n]);
                    chunk.advance(n);
                    this.incoming_bytes -= n;
                    if chunk.is_empty() {
                        this.incoming.pop_front();
                    }
                    return Poll::Ready(Ok(()));
                }
                Some((at, None)) if *at <= now => return Poll::Ready(Ok(())),
                None => {
                    if let Some(e) = this.read_error.take() {
                        return Poll::Ready(Err(e));
                    }
                    // Nothing queued: the socket's waker (from `pull`) and the timer for any
                    // outgoing bytes wake us.
                    let next = this.next_outgoing(now);
                    if this.sleep_until(cx, next).is_ready() {
                        let _ = this.send_due(cx);
                        continue;
                    }
                    return Poll::Pending;
                }
                Some((at, _)) => {
                    let next = Some(*at).into_iter().chain(this.next_outgoing(now)).min();
                    if this.sleep_until(cx, next).is_pending() {
                        return Poll::Pending;
                    }
                    // Due meanwhile: go round again.
                    let _ = this.send_due(cx);
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Delayed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(e) = this.write_error.take() {
            return Poll::Ready(Err(e));
        }
        let _ = this.send_due(cx);
        while this.outgoing_bytes >= QUEUE_LIMIT {
            let next = this.next_outgoing(Instant::now());
            ready!(this.sleep_until(cx, next));
            ready!(this.send_due(cx));
        }
        let n = data.len().min(QUEUE_LIMIT - this.outgoing_bytes);
        let at = Instant::now() + this.one_way;
        this.outgoing
            .push_back((at, Bytes::copy_from_slice(&data[..n])));
        this.outgoing_bytes += n;
        // Make sure the task is woken when these bytes are due, whatever it awaits next.
        let next = this.next_outgoing(Instant::now());
        let _ = this.sleep_until(cx, next);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if let Some(e) = this.write_error.take() {
                return Poll::Ready(Err(e));
            }
            ready!(this.send_due(cx));
            if this.outgoing.is_empty() {
                return Pin::new(&mut this.inner).poll_flush(cx);
            }
            let next = this.next_outgoing(Instant::now());
            ready!(this.sleep_until(cx, next));
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    const RTT: Duration = Duration::from_millis(100);

    #[tokio::test(start_paused = true)]
    async fn bytes_written_leave_half_a_round_trip_later() {
        let (near, mut far) = duplex(1 << 20);
        let mut delayed = Delayed::new(near, RTT);
        let start = Instant::now();
        delayed.write_all(b"hello").await.unwrap();
        delayed.flush().await.unwrap();
        let mut got = [0u8; 5];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
        assert_eq!(start.elapsed(), RTT / 2);
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_that_arrive_are_readable_half_a_round_trip_later() {
        let (near, mut far) = duplex(1 << 20);
        let mut delayed = Delayed::new(near, RTT);
        let start = Instant::now();
        far.write_all(b"news").await.unwrap();
        let mut got = [0u8; 4];
        delayed.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"news");
        assert_eq!(start.elapsed(), RTT / 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_and_its_answer_take_one_round_trip_and_keep_their_bytes() {
        let (near, mut far) = duplex(1 << 20);
        let echo = tokio::spawn(async move {
            let mut buf = vec![0u8; 3000];
            far.read_exact(&mut buf).await.unwrap();
            far.write_all(&buf).await.unwrap();
            far.shutdown().await.unwrap();
        });
        let mut delayed = Delayed::new(near, RTT);
        let request: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let start = Instant::now();
        delayed.write_all(&request).await.unwrap();
        let mut answer = Vec::new();
        delayed.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, request);
        // The end of the stream is delayed like the bytes before it.
        assert_eq!(start.elapsed(), RTT);
        echo.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn later_writes_keep_their_order_and_their_own_delay() {
        let (near, mut far) = duplex(1 << 20);
        let mut delayed = Delayed::new(near, RTT);
        let start = Instant::now();
        delayed.write_all(b"a").await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        delayed.write_all(b"b").await.unwrap();
        delayed.flush().await.unwrap();
        assert_eq!(start.elapsed(), Duration::from_millis(60));
        let mut got = [0u8; 2];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ab");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reader_alone_sends_what_was_written_without_a_flush() {
        let (near, mut far) = duplex(1 << 20);
        let mut delayed = Delayed::new(near, RTT);
        delayed.write_all(b"ping").await.unwrap();
        let server = tokio::spawn(async move {
            let mut got = [0u8; 4];
            far.read_exact(&mut got).await.unwrap();
            far.write_all(b"pong").await.unwrap();
            far
        });
        let start = Instant::now();
        let mut got = [0u8; 4];
        delayed.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"pong");
        assert_eq!(start.elapsed(), RTT);
        drop(server.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_makes_the_writer_wait() {
        let (near, _far) = duplex(QUEUE_LIMIT * 4);
        let mut delayed = Delayed::new(near, RTT);
        let big = vec![7u8; QUEUE_LIMIT];
        let start = Instant::now();
        delayed.write_all(&big).await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO);
        // The queue is full until the first bytes leave, half a round trip later.
        delayed.write_all(b"x").await.unwrap();
        assert_eq!(start.elapsed(), RTT / 2);
    }
}
