//! A client's byte stream: TCP, or TLS over TCP, counted below TLS and above it, behind the
//! scenario's emulated network if it has one.
//!
//! Every client (WebSocket, poll, SSE, publisher) connects through [`connect`], which returns a
//! [`Stream`] that any protocol library can use (`AsyncRead + AsyncWrite`). The wire meter always
//! sits right on the TCP socket, so the wire figures include TLS records and handshakes; with TLS
//! a second meter sits on the plaintext side, so TLS's own cost is `below − above`, exactly. The
//! TLS handshake's duration is added to a [`HandshakeMeter`] (it is also inside the connect time,
//! which the caller measures around the whole connection attempt). The TCP connection comes from
//! the target's [`Sources`](super::source::Sources), which pick the local address.
//!
//! With a `[network]`, a [`Delayed`] sits between the meter and everything that speaks a
//! protocol (TLS included, so its handshake pays the round trips too), and the TCP handshake's
//! own round trip is waited out before the first byte may leave. Without one, the socket is not
//! wrapped at all: a plain connection costs what it did.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use super::ctx::Ctx;
use super::failure::ConnectError;
use crate::metrics::FailureKind;
use crate::wire::CountingStream;
use crate::wire::delay::Delayed;
use crate::wire::stamp::{Clock, StampedTcp};

/// A connected client socket: a counted [`Link`], or counted plaintext over TLS over it. The TLS
/// side is boxed: rustls's connection state is about a kilobyte, and a plain connection should
/// not carry that much unused room in every client's task.
pub type Stream = Either<Link, Box<CountingStream<TlsStream<Link>>>>;

/// Counted TCP, as it is on loopback or behind the emulated network. The delayed side is boxed
/// (its queues and timer), so a connection without a `[network]` is no larger than before.
pub type Link = Either<CountingStream<StampedTcp>, Box<Delayed<CountingStream<StampedTcp>>>>;

/// TLS handshakes made and their summed duration, over every client of one transport run.
#[derive(Debug, Default)]
pub struct HandshakeMeter {
    count: AtomicU64,
    total_ns: AtomicU64,
}

impl HandshakeMeter {
    pub(super) fn add(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Handshakes so far, and their summed duration.
    pub fn read(&self) -> (u64, Duration) {
        (
            self.count.load(Ordering::Relaxed),
            Duration::from_nanos(self.total_ns.load(Ordering::Relaxed)),
        )
    }
}

/// Connects to the target: TCP (no Nagle), then a TLS handshake if the target wants TLS, which
/// must agree on `h2` by ALPN when the client speaks HTTP/2 over TLS.
pub(super) async fn connect(ctx: &Ctx) -> Result<Stream, ConnectError> {
    let tcp = ctx
        .target
        .sources
        .connect(ctx.target.dial_addr())
        .await
        .map_err(|e| ConnectError::io("connect", &e))?;
    tcp.set_nodelay(true)
        .map_err(|e| ConnectError::io("set_nodelay", &e))?;
    let network = ctx.plan.shape.network;
    // Behind an emulated network the bytes' arrival is the emulation's, in user space (see
    // `Arrivals for Delayed`): the kernel's stamps would only be read and thrown away.
    let clock = match network.is_loopback() {
        true => ctx.plan.shape.timestamps,
        false => Clock::User,
    };
    let fd = tcp.as_raw_fd();
    let mut tcp = StampedTcp::new(tcp, clock).map_err(|e| {
        ConnectError::new(
            FailureKind::Other,
            format!("[clients] timestamps = \"kernel\": {e}"),
        )
    })?;
    // `[faults] drop`: a subscriber's socket may be reset from outside.
    if let Some(cut) = ctx.sockets.as_ref().and_then(|s| s.register(fd)) {
        tcp = tcp.with_cut(cut);
    }
    let counted = CountingStream::new(tcp, ctx.meter.clone());
    let link = if network.is_loopback() {
        Either::Left(counted)
    } else {
        // Each connection its own jitter draws, from the run's seed and the connection's number.
        let n = ctx.dialed.fetch_add(1, Ordering::Relaxed);
        let seed = ctx.plan.shape.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // SYN, SYN-ACK: on a real network the first byte may leave a round trip after the
        // connect began (the loopback handshake took next to nothing).
        tokio::time::sleep(network.round_trip(seed)).await;
        Either::Right(Box::new(Delayed::new(counted, network, seed)))
    };
    let Some(config) = &ctx.target.tls else {
        return Ok(Either::Left(link));
    };
    let name = ServerName::IpAddress(ctx.target.addr.ip().into());
    let started = Instant::now();
    let tls = TlsConnector::from(config.clone())
        .connect(name, link)
        .await
        .map_err(|e| tls_failure(&e))?;
    ctx.handshakes.add(started.elapsed());
    if ctx.target.http2 && tls.get_ref().1.alpn_protocol() != Some(crate::tls::ALPN_H2) {
        return Err(ConnectError::new(
            FailureKind::Tls,
            "TLS: the server did not agree to h2 by ALPN",
        ));
    }
    Ok(Either::Right(Box::new(CountingStream::new(
        tls,
        ctx.above_tls.clone(),
    ))))
}

/// A failed TLS handshake: rustls reports its own failures (certificate, protocol, ALPN) as
/// `InvalidData`; anything else is the socket's.
fn tls_failure(e: &std::io::Error) -> ConnectError {
    let mut failure = ConnectError::io("TLS handshake", e);
    if matches!(failure.kind, FailureKind::Other) {
        failure.kind = FailureKind::Tls;
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every idle client keeps its stream for the whole run: the TLS and the delayed variants are
    /// boxed so that a plain connection pays nothing for them, not even a wider enum.
    #[test]
    fn a_plain_stream_is_no_larger_than_its_counted_socket() {
        assert_eq!(
            std::mem::size_of::<Stream>(),
            std::mem::size_of::<CountingStream<StampedTcp>>()
        );
    }
}
