//! A network's round trip, emulated in the client's socket layer (`[network]`).
//!
//! On loopback every request/response, re-poll, publish and handshake costs nothing, which hides
//! exactly what separates polling from a pushed stream on a real network. The kernel's netem
//! would add the delay, but it needs root and a kernel module these machines lack, so
//! [`Delayed`] adds it here, above the byte counter (bytes are unchanged) and below every
//! protocol: bytes written leave half the round trip later, bytes that arrive become readable
//! half the round trip later, end of stream included. Order is kept.
//!
//! A [`Network`] may add jitter (a random extra per chunk, never reordering bytes: a chunk is
//! never due before the one ahead of it) and a bandwidth per connection and direction (a chunk
//! waits for the link to finish the chunks ahead of it, then takes its size ÷ bandwidth to cross;
//! with a bandwidth, writes and reads are cut into [`SEGMENT`]-byte pieces, so a large message
//! arrives piece by piece, as it would).
//!
//! What it does not emulate: TCP's own congestion window, slow start and loss recovery (nothing
//! is lost), and the server's view (the server sees the delayed bytes, not a delayed connection:
//! its accept and its ACKs are immediate; the clients pay the TCP handshake's round trip
//! themselves, see [`Network::round_trip`]). A queue holds at most [`QUEUE_LIMIT`] bytes each way;
//! past that, writes wait and reads stop pulling from the socket, so TCP's flow control still
//! applies.
//!
//! Bytes due to leave are sent whenever the connection is polled (read, write or flush) and a
//! timer wakes the task when they are due, so a task that always has a read pending — as every
//! wsbench client has — sends them on time. A flush returns once what is due is on the socket
//! (what is still on the path is in flight, as after a real socket's flush); a shutdown waits
//! until everything has crossed.

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

/// With a bandwidth, chunks cross in pieces of at most this many bytes (a typical TCP segment's
/// payload), each arriving once it is through.
pub const SEGMENT: usize = 1448;

/// The path between every client and the server: `[network]` in a scenario.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Network {
    /// The round-trip time: half of it each way.
    pub delay: Duration,
    /// A random extra per round trip, up to this much (each way, each chunk draws up to half
    /// of it), so a round trip takes `delay` to `delay + jitter`.
    pub jitter: Duration,
    /// Bytes per second each way, per connection; `None`: as fast as loopback.
    pub bandwidth: Option<u64>,
}

impl Network {
    /// Whether this path adds anything at all (if not, the clients' sockets are not wrapped).
    pub fn is_loopback(&self) -> bool {
        self.delay.is_zero() && self.jitter.is_zero() && self.bandwidth.is_none()
    }

    /// One round trip with its jitter: what a TCP handshake (SYN, SYN-ACK) costs before the
    /// client may send.
    pub fn round_trip(&self, seed: u64) -> Duration {
        let mut rng = fastrand::Rng::with_seed(seed);
        self.delay + extra(&mut rng, self.jitter) + extra(&mut rng, self.jitter)
    }
}

/// A random extra of up to half of `jitter`: one way's share.
fn extra(rng: &mut fastrand::Rng, jitter: Duration) -> Duration {
    let half = u64::try_from(jitter.as_nanos() / 2).unwrap_or(u64::MAX);
    if half == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rng.u64(0..half))
}

/// The pieces `bytes` crosses the link in: [`SEGMENT`]s when `segmented` (with a bandwidth),
/// else whole.
fn pieces(mut bytes: Bytes, segmented: bool) -> impl Iterator<Item = Bytes> {
    let size = if segmented { SEGMENT } else { usize::MAX };
    std::iter::from_fn(move || (!bytes.is_empty()).then(|| bytes.split_to(size.min(bytes.len()))))
}

/// One direction's emulated link: when its last chunk is due and when it is free again.
#[derive(Debug)]
struct Lane {
    /// When the last queued chunk is due: no later chunk is due before it (order is kept).
    last_due: Instant,
    /// When the link has finished sending every chunk given to it (with a bandwidth).
    free_at: Instant,
}

impl Lane {
    fn new(now: Instant) -> Self {
        Lane {
            last_due: now,
            free_at: now,
        }
    }

    /// When `len` bytes handed to the link at `now` are through it, at the far end.
    fn due(&mut self, net: &Network, rng: &mut fastrand::Rng, now: Instant, len: usize) -> Instant {
        let mut sent = now;
        if let Some(bytes_per_s) = net.bandwidth.filter(|&b| b > 0) {
            let ns = (len as u128 * 1_000_000_000).div_ceil(u128::from(bytes_per_s));
            sent =
                self.free_at.max(now) + Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX));
            self.free_at = sent;
        }
        let at = sent + net.delay / 2 + extra(rng, net.jitter);
        self.last_due = self.last_due.max(at);
        self.last_due
    }
}

/// A stream whose bytes take half a round trip to cross, each way. See the module doc.
#[derive(Debug)]
pub struct Delayed<S> {
    inner: S,
    net: Network,
    /// The jitter's draws (a load generator needs spread, not cryptography).
    rng: fastrand::Rng,
    /// Bytes that arrived, each readable from its instant on; `None` is the end of the stream.
    incoming: VecDeque<(Instant, Option<Bytes>)>,
    incoming_bytes: usize,
    down: Lane,
    /// An error the socket returned on read, given to the reader once what came before is read.
    read_error: Option<io::Error>,
    /// Bytes written, each leaving at its instant.
    outgoing: VecDeque<(Instant, Bytes)>,
    outgoing_bytes: usize,
    up: Lane,
    /// An error the socket returned on a delayed write, given to the next write or flush.
    write_error: Option<io::Error>,
    /// Wakes the task when the next queued bytes are due, either way.
    timer: Pin<Box<Sleep>>,
}

impl<S> Delayed<S> {
    /// `inner` behind `net`; `seed` seeds this connection's jitter.
    pub fn new(inner: S, net: Network, seed: u64) -> Self {
        let now = Instant::now();
        Delayed {
            inner,
            net,
            rng: fastrand::Rng::with_seed(seed),
            incoming: VecDeque::new(),
            incoming_bytes: 0,
            down: Lane::new(now),
            read_error: None,
            outgoing: VecDeque::new(),
            outgoing_bytes: 0,
            up: Lane::new(now),
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
                    let now = Instant::now();
                    if buf.filled().is_empty() {
                        let at = self.down.due(&self.net, &mut self.rng, now, 0);
                        self.incoming.push_back((at, None));
                    } else {
                        self.incoming_bytes += buf.filled().len();
                        let bytes = Bytes::copy_from_slice(buf.filled());
                        for piece in pieces(bytes, self.net.bandwidth.is_some()) {
                            let at = self.down.due(&self.net, &mut self.rng, now, piece.len());
                            self.incoming.push_back((at, Some(piece)));
                        }
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
        let now = Instant::now();
        let segmented = this.net.bandwidth.is_some();
        for piece in pieces(Bytes::copy_from_slice(&data[..n]), segmented) {
            let at = this.up.due(&this.net, &mut this.rng, now, piece.len());
            this.outgoing.push_back((at, piece));
        }
        this.outgoing_bytes += n;
        // Make sure the task is woken when these bytes are due, whatever it awaits next.
        let next = this.next_outgoing(Instant::now());
        let _ = this.sleep_until(cx, next);
        Poll::Ready(Ok(n))
    }

    /// Hands what is due to the socket, and no more: bytes still queued are on the emulated
    /// path, and a real socket's flush does not wait for its bytes to cross the network either
    /// (a client that flushed each publish and waited here would stop reading for half a round
    /// trip). The timer wakes the task when they are due.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(e) = this.write_error.take() {
            return Poll::Ready(Err(e));
        }
        ready!(this.send_due(cx));
        let next = this.next_outgoing(Instant::now());
        let _ = this.sleep_until(cx, next);
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    /// Waits until every queued byte has crossed, then shuts the socket's write side: the end of
    /// the stream arrives after the bytes before it.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if let Some(e) = this.write_error.take() {
                return Poll::Ready(Err(e));
            }
            ready!(this.send_due(cx));
            if this.outgoing.is_empty() {
                ready!(Pin::new(&mut this.inner).poll_flush(cx))?;
                return Pin::new(&mut this.inner).poll_shutdown(cx);
            }
            let next = this.next_outgoing(Instant::now());
            ready!(this.sleep_until(cx, next));
        }
    }
}

#[cfg(test)]
mod tests;
