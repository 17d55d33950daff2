//! Byte accounting for QUIC: a UDP socket that counts the datagrams' payload bytes, and delays
//! them behind an emulated network.
//!
//! [`CountingUdp`] wraps the socket quinn would use (`quinn::AsyncUdpSocket`) and adds each
//! datagram's UDP payload to a [`WireMeter`]: what is handed to the kernel as `up`, what quinn
//! reads as `down`. QUIC encrypts its own framing, so these are the only bytes of an HTTP/3
//! connection that can be counted from outside it: packet headers, frames, the handshake,
//! acknowledgements and the AEAD tags are all in them (UDP and IP headers are not, as TCP's
//! headers are not in [`super::CountingStream`]'s counts).
//!
//! With a `[network]` delay, each datagram leaves half the round trip after quinn sends it, and
//! each datagram that arrives is handed to quinn half the round trip later, plus up to half the
//! jitter each way, never overtaking the one ahead of it: the QUIC handshake pays its round
//! trip as TCP's and TLS's do behind [`super::delay::Delayed`]. A bandwidth is the socket's, each
//! way: a datagram first waits for those ahead of it to cross, then takes its size ÷ bandwidth
//! (a client that wants it per connection gives each connection a socket of its own). Knows
//! datagrams, not QUIC.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future as _;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use tokio::time::{Instant, Sleep};

use super::WireMeter;
use super::delay::Network;

/// A UDP socket for quinn that counts every datagram's payload (and delays it, with a network).
pub struct CountingUdp {
    inner: Arc<dyn AsyncUdpSocket>,
    meter: Arc<WireMeter>,
    /// `None` on loopback: datagrams pass at once.
    path: Option<Arc<Path>>,
}

/// The emulated path's queues, each way.
struct Path {
    network: Network,
    state: Mutex<PathState>,
    /// Wakes the sender task when a datagram is queued.
    queued: tokio::sync::Notify,
}

struct PathState {
    rng: fastrand::Rng,
    /// Datagrams quinn sent, with when they leave.
    out: VecDeque<(Instant, Owned)>,
    /// The way out.
    up: Way,
    /// Datagrams read from the socket, with when quinn may have them.
    arrived: VecDeque<(Instant, RecvMeta, Vec<u8>)>,
    /// The way in.
    down: Way,
    /// Wakes the reader when the head of `arrived` is due.
    timer: Option<Pin<Box<Sleep>>>,
}

/// One direction of the path.
#[derive(Debug, Clone, Copy)]
struct Way {
    /// With a bandwidth: when the link has carried every datagram queued so far.
    link_free: Instant,
    /// When the last datagram queued is due: none may be due before it.
    last: Instant,
}

impl Way {
    fn new(now: Instant) -> Self {
        Way {
            link_free: now,
            last: now,
        }
    }
}

/// When a datagram of `bytes` that enters `way` at `now` comes out: after the datagrams ahead
/// of it have crossed the link and it has (`bytes` ÷ bandwidth), then half the round trip and up
/// to half the jitter later, and never before the one ahead of it.
fn due(
    network: &Network,
    rng: &mut fastrand::Rng,
    way: &mut Way,
    bytes: usize,
    now: Instant,
) -> Instant {
    let mut crossed = now;
    if let Some(per_s) = network.bandwidth.filter(|b| *b > 0) {
        let ns = (bytes as u128 * 1_000_000_000 / u128::from(per_s)).min(u128::from(u64::MAX));
        way.link_free = way.link_free.max(now) + Duration::from_nanos(ns as u64);
        crossed = way.link_free;
    }
    let jitter_ns = u64::try_from(network.jitter.as_nanos() / 2).unwrap_or(u64::MAX);
    let extra = Duration::from_nanos(if jitter_ns == 0 {
        0
    } else {
        rng.u64(0..=jitter_ns)
    });
    let at = (crossed + network.delay / 2 + extra).max(way.last);
    way.last = at;
    at
}

/// A datagram (or a GSO batch) quinn sent, kept until it leaves.
struct Owned {
    destination: SocketAddr,
    ecn: Option<quinn::udp::EcnCodepoint>,
    contents: Vec<u8>,
    segment_size: Option<usize>,
    src_ip: Option<std::net::IpAddr>,
}

impl fmt::Debug for CountingUdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingUdp")
            .field("inner", &self.inner)
            .field("delayed", &self.path.is_some())
            .finish()
    }
}

impl CountingUdp {
    /// Wraps `inner`, counting into `meter`; behind `network` unless it is loopback. With a
    /// network, a task of its own sends the delayed datagrams (it ends when the socket is
    /// dropped).
    pub fn new(
        inner: Arc<dyn AsyncUdpSocket>,
        meter: Arc<WireMeter>,
        network: Network,
        seed: u64,
    ) -> Arc<Self> {
        let now = Instant::now();
        let path = (!network.is_loopback()).then(|| {
            Arc::new(Path {
                network,
                state: Mutex::new(PathState {
                    rng: fastrand::Rng::with_seed(seed),
                    out: VecDeque::new(),
                    up: Way::new(now),
                    arrived: VecDeque::new(),
                    down: Way::new(now),
                    timer: None,
                }),
                queued: tokio::sync::Notify::new(),
            })
        });
        let socket = Arc::new(CountingUdp { inner, meter, path });
        if let Some(path) = &socket.path {
            let alive = Arc::downgrade(&socket);
            tokio::spawn(send_when_due(path.clone(), socket.inner.clone(), alive));
        }
        socket
    }
}

impl Path {
    fn lock(&self) -> std::sync::MutexGuard<'_, PathState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sends each delayed datagram when it is due, while the socket lives.
async fn send_when_due(
    path: Arc<Path>,
    inner: Arc<dyn AsyncUdpSocket>,
    alive: std::sync::Weak<CountingUdp>,
) {
    while alive.strong_count() > 0 {
        let head = path.lock().out.front().map(|(due, _)| *due);
        match head {
            None => {
                // Bounded, so the task notices a dropped socket.
                let queued = path.queued.notified();
                let _ = tokio::time::timeout(Duration::from_millis(200), queued).await;
            }
            Some(due) if due > Instant::now() => tokio::time::sleep_until(due).await,
            Some(_) => {
                let Some((_, d)) = path.lock().out.pop_front() else {
                    continue;
                };
                let transmit = Transmit {
                    destination: d.destination,
                    ecn: d.ecn,
                    contents: &d.contents,
                    segment_size: d.segment_size,
                    src_ip: d.src_ip,
                };
                // A full socket buffer drops the datagram, as a full queue on a path would:
                // QUIC retransmits it.
                let _ = inner.try_send(&transmit);
            }
        }
    }
}

impl AsyncUdpSocket for CountingUdp {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.inner.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        let Some(path) = &self.path else {
            self.inner.try_send(transmit)?;
            self.meter
                .lane()
                .up
                .fetch_add(transmit.contents.len() as u64, Ordering::Relaxed);
            return Ok(());
        };
        let mut state = path.lock();
        let PathState { rng, up, .. } = &mut *state;
        let due = due(
            &path.network,
            rng,
            up,
            transmit.contents.len(),
            Instant::now(),
        );
        state.out.push_back((
            due,
            Owned {
                destination: transmit.destination,
                ecn: transmit.ecn,
                contents: transmit.contents.to_vec(),
                segment_size: transmit.segment_size,
                src_ip: transmit.src_ip,
            },
        ));
        drop(state);
        path.queued.notify_one();
        self.meter
            .lane()
            .up
            .fetch_add(transmit.contents.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let Some(path) = &self.path else {
            let poll = self.inner.poll_recv(cx, bufs, meta);
            if let Poll::Ready(Ok(n)) = poll {
                let bytes: usize = meta[..n].iter().map(|m| m.len).sum();
                self.meter
                    .lane()
                    .down
                    .fetch_add(bytes as u64, Ordering::Relaxed);
            }
            return poll;
        };
        let mut state = path.lock();
        // Take in whatever the socket has, each with its due time.
        loop {
            // The largest UDP payload: the socket may coalesce datagrams (GRO).
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = [RecvMeta::default()];
            let poll = {
                let mut slices = [IoSliceMut::new(&mut buf)];
                self.inner.poll_recv(cx, &mut slices, &mut got)
            };
            match poll {
                Poll::Ready(Ok(n)) if n > 0 => {
                    let stride = got[0].stride.max(1);
                    for datagram in buf[..got[0].len].chunks(stride) {
                        let PathState { rng, down, .. } = &mut *state;
                        let due = due(&path.network, rng, down, datagram.len(), Instant::now());
                        let one = RecvMeta {
                            len: datagram.len(),
                            stride: datagram.len(),
                            ..got[0]
                        };
                        state.arrived.push_back((due, one, datagram.to_vec()));
                    }
                }
                Poll::Ready(Ok(_)) | Poll::Pending => break,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            }
        }
        let Some(&(due, _, _)) = state.arrived.front() else {
            return Poll::Pending;
        };
        if due > Instant::now() {
            let timer = state
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
            timer.as_mut().reset(due);
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let Some((_, got, data)) = state.arrived.pop_front() else {
            return Poll::Pending;
        };
        let n = data.len().min(bufs[0].len());
        bufs[0][..n].copy_from_slice(&data[..n]);
        meta[0] = RecvMeta { len: n, ..got };
        if !state.arrived.is_empty() {
            // More may be due already: come back for them.
            cx.waker().wake_by_ref();
        }
        self.meter
            .lane()
            .down
            .fetch_add(n as u64, Ordering::Relaxed);
        Poll::Ready(Ok(1))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        match self.path {
            None => self.inner.max_receive_segments(),
            Some(_) => 1,
        }
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_datagram_crosses_the_link_after_those_ahead_then_half_the_round_trip() {
        let network = Network {
            delay: ms(100),
            jitter: Duration::ZERO,
            bandwidth: Some(1000),
        };
        let now = Instant::now();
        let mut way = Way::new(now);
        let mut rng = fastrand::Rng::with_seed(1);
        // 500 bytes at 1000 B/s: 500 ms on the link, then half the round trip.
        assert_eq!(due(&network, &mut rng, &mut way, 500, now), now + ms(550));
        // The next one waits for the first to cross.
        assert_eq!(due(&network, &mut rng, &mut way, 100, now), now + ms(650));
        // An idle link carries the next at once.
        let later = now + ms(2000);
        assert_eq!(
            due(&network, &mut rng, &mut way, 100, later),
            later + ms(150)
        );
    }

    #[test]
    fn jitter_delays_within_half_of_it_and_never_reorders() {
        let network = Network {
            delay: ms(100),
            jitter: ms(50),
            bandwidth: None,
        };
        let now = Instant::now();
        let mut way = Way::new(now);
        let mut rng = fastrand::Rng::with_seed(7);
        let mut last = now;
        for _ in 0..200 {
            let at = due(&network, &mut rng, &mut way, 1200, now);
            assert!(at >= last && at >= now + ms(50) && at <= now + ms(75));
            last = at;
        }
        assert!(last > now + ms(50), "no jitter was drawn");
    }
}
