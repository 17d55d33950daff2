//! Receive timestamps: when the kernel saw the bytes a read returns, not when a generator thread
//! got round to reading them.
//!
//! A load generator reads thousands of sockets on a few threads. When a server writes one
//! broadcast to a thousand sockets in one burst, the threads read them one after another, and the
//! last is stamped milliseconds after its bytes arrived; a real fleet of clients reads them in
//! parallel. Linux stamps every packet as it is received (`SO_TIMESTAMPING` with
//! `SOF_TIMESTAMPING_RX_SOFTWARE`), and for TCP `recvmsg` returns, in an `SCM_TIMESTAMPING`
//! control message, the software stamp of the last segment whose data the call returned. So a
//! [`StampedTcp`] reads with one `recvmsg` where it would have read with one `read`, and keeps
//! that stamp until its next read.
//!
//! # What a message's stamp is
//! The client that decodes messages asks for the stamp ([`Arrivals::arrival`]) right after the
//! read that completed a message, so a message's arrival is the arrival of the **latest segment
//! among the bytes of the read that completed it**:
//! - a message spread over several segments gets the time of the segment that completed it (the
//!   earlier segments only made it incomplete; it could not be delivered before its last byte);
//! - when one read returns the end of one message and bytes after it, the stamp is that of the
//!   read's latest segment: no later than those bytes, which arrived while the message waited to
//!   be read (`report::saturation` says when that can change a figure);
//! - over TLS the plaintext of a record comes out once the whole record is in, so the stamp is
//!   that of the socket read that completed the record holding the message's last byte (with the
//!   same caveat for bytes read ahead of it).
//!
//! Linux turns receive stamping on for the whole system a moment after the first socket asks
//! for it (a deferred work item), and off again after the last one closes: the first segments
//! after that can come without a stamp. Their messages are timed in user space, as without
//! kernel stamps, and give no read delay. A run's sockets are connected during the ramp-up,
//! long before its measured phase.
//!
//! The stamp is on `CLOCK_REALTIME`; [`KernelStamp::delay`] turns it into how long ago the bytes
//! arrived, by reading the same clock, so that callers can move their own monotonic receive time
//! back by that much (latency stays one monotonic clock read twice; see `client::inbox`).
//!
//! Owns the socket option and the read; knows bytes, not protocols.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::cut::Cut;

/// When the kernel received the bytes of a read: its software receive stamp, on the realtime clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelStamp {
    /// Since the Unix epoch.
    pub since_epoch: Duration,
}

impl KernelStamp {
    /// How long before `now` (on the same realtime clock) the bytes arrived; zero if the clock
    /// was stepped back meanwhile.
    pub fn delay_at(self, now: SystemTime) -> Duration {
        now.duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(self.since_epoch)
    }

    /// How long ago the bytes arrived.
    pub fn delay(self) -> Duration {
        self.delay_at(SystemTime::now())
    }
}

/// Streams that can tell when the bytes of their last read arrived.
pub trait Arrivals {
    /// The kernel's arrival time of the latest segment among the bytes the last read returned;
    /// `None` when the stream has no such stamps (user-space timestamps, an emulated network, a
    /// test's in-memory stream), or the last read's data carried none.
    fn arrival(&self) -> Option<KernelStamp>;
}

/// Why kernel receive timestamps cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum StampError {
    /// The platform has no software receive timestamps for TCP (only Linux is supported).
    #[error("receive timestamps need Linux's SO_TIMESTAMPING; this platform has none")]
    Unsupported,
    /// The kernel refused the socket option.
    #[error("SO_TIMESTAMPING refused: {0}")]
    Refused(io::Error),
}

/// How a client socket is read: with the kernel's receive stamps, or with plain reads (the
/// receive time is then the user-space clock when the data was decoded). The default is the
/// kernel's where the platform has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// `recvmsg` with `SCM_TIMESTAMPING`.
    Kernel,
    /// `read`, as without timestamps.
    User,
}

impl Default for Clock {
    fn default() -> Self {
        if Clock::kernel_available() {
            Clock::Kernel
        } else {
            Clock::User
        }
    }
}

impl Clock {
    /// Both, as the scenario spells them.
    pub const ALL: [Clock; 2] = [Clock::Kernel, Clock::User];

    /// The one `label` spells.
    pub fn from_label(label: &str) -> Option<Clock> {
        Clock::ALL.into_iter().find(|c| c.label() == label)
    }

    /// The scenario's spelling (`[clients] timestamps`).
    pub fn label(self) -> &'static str {
        match self {
            Clock::Kernel => "kernel",
            Clock::User => "user",
        }
    }

    /// Whether this platform can give kernel receive stamps at all.
    pub fn kernel_available() -> bool {
        cfg!(target_os = "linux")
    }
}

/// A client's TCP socket, read with or without the kernel's receive stamps.
#[derive(Debug)]
pub struct StampedTcp {
    tcp: TcpStream,
    /// Read with `recvmsg` and keep stamps.
    kernel: bool,
    /// The last read's stamp (`None`: none came with it, or not reading for them).
    last: Option<KernelStamp>,
    /// Told before the socket closes, when something outside may reset it (`[faults] drop`).
    cut: Option<Arc<Cut>>,
}

impl StampedTcp {
    /// `tcp`, read as `clock` says. With [`Clock::Kernel`] the socket option is set now, and a
    /// platform or socket without it is an error (never a silent fall back to user time).
    pub fn new(tcp: TcpStream, clock: Clock) -> Result<Self, StampError> {
        let kernel = clock == Clock::Kernel;
        if kernel {
            sys::enable(&tcp)?;
        }
        Ok(StampedTcp {
            tcp,
            kernel,
            last: None,
            cut: None,
        })
    }

    /// This socket, resettable from outside through `cut` until it closes ([`Cut`]).
    pub fn with_cut(mut self, cut: Arc<Cut>) -> Self {
        self.cut = Some(cut);
        self
    }

    /// The socket.
    pub fn get_ref(&self) -> &TcpStream {
        &self.tcp
    }
}

impl Drop for StampedTcp {
    fn drop(&mut self) {
        // Before the descriptor closes (the fields drop after this).
        if let Some(cut) = &self.cut {
            cut.closed();
        }
    }
}

impl Arrivals for StampedTcp {
    fn arrival(&self) -> Option<KernelStamp> {
        self.last
    }
}

impl AsyncRead for StampedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.kernel {
            return Pin::new(&mut this.tcp).poll_read(cx, buf);
        }
        loop {
            std::task::ready!(this.tcp.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let len = unfilled.len();
            let mut got = None;
            let read = this.tcp.try_io(tokio::io::Interest::READABLE, || {
                let (n, stamp) = sys::recv(&this.tcp, unfilled)?;
                got = Some((n, stamp));
                // A short read drained the socket, and epoll is edge-triggered: readiness is
                // cleared now (by reporting "would block" to `try_io`, the bytes kept aside), as
                // tokio's own read does, so the next read waits for the next segment instead of
                // spending a system call to learn that nothing is there.
                if n > 0 && n < len {
                    Err(io::ErrorKind::WouldBlock.into())
                } else {
                    Ok(())
                }
            });
            match (got, read) {
                (Some((n, stamp)), _) => {
                    this.last = stamp;
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness was stale; `try_io` cleared it, so the next poll waits.
                (None, Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                (None, Err(e)) => return Poll::Ready(Err(e)),
                (None, Ok(())) => {}
            }
        }
    }
}

impl AsyncWrite for StampedTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

impl<S: Arrivals> Arrivals for Box<S> {
    fn arrival(&self) -> Option<KernelStamp> {
        (**self).arrival()
    }
}

impl<L: Arrivals, R: Arrivals> Arrivals for tokio_util::either::Either<L, R> {
    fn arrival(&self) -> Option<KernelStamp> {
        match self {
            tokio_util::either::Either::Left(l) => l.arrival(),
            tokio_util::either::Either::Right(r) => r.arrival(),
        }
    }
}

/// Plaintext comes out of TLS once its record is complete: the socket's last read completed it.
impl<S: Arrivals> Arrivals for tokio_rustls::client::TlsStream<S> {
    fn arrival(&self) -> Option<KernelStamp> {
        self.get_ref().0.arrival()
    }
}

/// Behind an emulated network (`[network]`) bytes become readable later than the kernel received
/// them, by the emulated path's delay; the kernel's stamp would take that delay out again, so the
/// receive time stays the user-space one there.
impl<S> Arrivals for super::delay::Delayed<S> {
    fn arrival(&self) -> Option<KernelStamp> {
        None
    }
}

/// An in-memory stream (tests) has no kernel.
impl Arrivals for tokio::io::DuplexStream {
    fn arrival(&self) -> Option<KernelStamp> {
        None
    }
}

#[cfg(target_os = "linux")]
mod sys {
    //! Linux: `SO_TIMESTAMPING` and one `recvmsg` per read.

    use std::io::{self, IoSliceMut};
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use nix::sys::socket::{
        ControlMessageOwned, MsgFlags, TimestampingFlag, Timestamps, recvmsg, setsockopt,
        sockopt::Timestamping,
    };
    use tokio::net::TcpStream;

    use super::{KernelStamp, StampError};

    #[cfg(test)]
    thread_local! {
        /// `recvmsg` calls made on this thread, for the tests that count them.
        pub(super) static RECVS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// Room for one `SCM_TIMESTAMPING` message (`CMSG_SPACE` of three timespecs: 64 bytes on
    /// 64-bit Linux) with slack, aligned for the `cmsghdr` the kernel writes at its start.
    #[repr(C, align(8))]
    struct ControlBuffer([u8; 128]);

    /// Asks the kernel to stamp received packets in software and to report the stamps.
    pub(super) fn enable(tcp: &TcpStream) -> Result<(), StampError> {
        let flags = TimestampingFlag::SOF_TIMESTAMPING_RX_SOFTWARE
            | TimestampingFlag::SOF_TIMESTAMPING_SOFTWARE;
        setsockopt(tcp, Timestamping, &flags).map_err(|e| StampError::Refused(e.into()))
    }

    /// One `recvmsg` into `buf`: the bytes read and the software stamp of the last segment they
    /// came from, if the kernel gave one. The control buffer lives on the stack: nothing is
    /// allocated per read.
    pub(super) fn recv(
        tcp: &TcpStream,
        buf: &mut [u8],
    ) -> io::Result<(usize, Option<KernelStamp>)> {
        #[cfg(test)]
        RECVS.with(|n| n.set(n.get() + 1));
        let mut control = ControlBuffer([0; 128]);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<()>(
            tcp.as_raw_fd(),
            &mut iov,
            Some(&mut control.0),
            MsgFlags::empty(),
        )?;
        let mut stamp = None;
        // A truncated control area (it cannot be: the buffer holds the one message) only loses
        // the stamp, never the bytes.
        if let Ok(cmsgs) = msg.cmsgs() {
            for cmsg in cmsgs {
                if let ControlMessageOwned::ScmTimestampsns(Timestamps { system, .. }) = cmsg {
                    let since_epoch = Duration::new(
                        u64::try_from(system.tv_sec()).unwrap_or(0),
                        u32::try_from(system.tv_nsec()).unwrap_or(0),
                    );
                    if !since_epoch.is_zero() {
                        stamp = Some(KernelStamp { since_epoch });
                    }
                }
            }
        }
        Ok((msg.bytes, stamp))
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    //! Elsewhere: no software receive stamps for TCP.

    use std::io;

    use tokio::net::TcpStream;

    use super::{KernelStamp, StampError};

    pub(super) fn enable(_: &TcpStream) -> Result<(), StampError> {
        Err(StampError::Unsupported)
    }

    pub(super) fn recv(_: &TcpStream, _: &mut [u8]) -> io::Result<(usize, Option<KernelStamp>)> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests;
