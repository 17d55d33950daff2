//! A timerfd as tokio's reactor takes it: the event-loop watch's ticks and the publishers' slots
//! wait on one, because tokio's own timer rounds every deadline up to a whole millisecond.

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A non-blocking `CLOCK_MONOTONIC` timer file descriptor.
#[derive(Debug)]
pub(super) struct Timer(TimerFd);

impl AsRawFd for Timer {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl Timer {
    /// A disarmed timer.
    pub(super) fn new() -> std::io::Result<Timer> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        Ok(Timer(fd))
    }

    /// Sets the one expiry pending to `due`, on [`monotonic`]'s clock.
    pub(super) fn set_at(&self, due: Duration) -> std::io::Result<()> {
        self.0.set(
            Expiration::OneShot(TimeSpec::from(due)),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME,
        )?;
        Ok(())
    }

    /// Reads (and so clears) the timer's expiry count; `WouldBlock` if it has not expired.
    pub(super) fn expired(&self) -> std::io::Result<u64> {
        let mut count = [0u8; 8];
        nix::unistd::read(self.0.as_fd(), &mut count)?;
        Ok(u64::from_ne_bytes(count))
    }

    /// Registers the timer with the current runtime's I/O driver, for readability.
    #[allow(unsafe_code)]
    pub(super) fn register(self) -> std::io::Result<AsyncFd<Timer>> {
        // SAFETY: `register_with_interest` asks that the descriptor stay open, refer to the same
        // file and be the one `as_raw_fd` returns for the `AsyncFd`'s whole life. `TimerFd` owns
        // its descriptor and closes it only when dropped, which the `AsyncFd` owning it does
        // last; its descriptor never changes. (tokio's safe constructors for this are
        // deprecated, tokio-rs/tokio#8587, because other `AsRawFd` types cannot promise as much.)
        let registered = unsafe { AsyncFd::register_with_interest(self, Interest::READABLE) };
        registered.map_err(std::io::Error::from)
    }
}

/// `CLOCK_MONOTONIC` now, the timer's clock.
pub(super) fn monotonic() -> std::io::Result<Duration> {
    Ok(nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)?.into())
}
