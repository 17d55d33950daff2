//! The load generator watches its own event loop: a ticker whose lateness is the delay any task
//! of the generator (a subscriber whose socket just became readable) waits for a worker.
//!
//! Owns the ticker (one task on the runtime and a timer file descriptor) between
//! [`LagWatch::start`] and [`LagWatch::finish`]. Records into a [`LagRecorder`]; judges nothing
//! and prints nothing.
//!
//! # What is measured, and why this way
//!
//! A Linux `timerfd` expires at absolute `CLOCK_MONOTONIC` times (nanosecond precision), every
//! [`TICK`] on average. Its readiness reaches the ticker task through the runtime's I/O driver,
//! the path a subscriber's readable socket takes. When woken, the task first puts itself at the
//! **back** of its worker's run queue (a self-wake, which tokio schedules as a yield), and only
//! when it runs again reads the clock: lag = now − the expiry. So a tick waits for the driver to be
//! polled, for a worker, then behind every task already queued on that worker: what a subscriber
//! woken at that moment waits before its message is read and timed. The choices, and why:
//!
//! - **Not tokio's own timer**: it fires on a 1 ms wheel, so a ticker on it reads up to 1 ms late
//!   on an idle runtime, as large as the push latencies measured on loopback.
//! - **Not a clock thread waking the task**: on a busy machine its own wake-up adds a scheduling
//!   delay no subscriber pays, and it costs more CPU than the timer.
//! - **Not measured at the first poll**: a task woken by the driver takes the worker's LIFO slot
//!   and runs *before* the queue, so it would report an idle loop while the subscribers woken in
//!   the same batch queue behind it. The self-wake skips that shortcut.
//! - **Every 10 ms on average, not every 1 ms**: each tick that finds the workers idle costs a
//!   timer interrupt and a worker's wake-up, ~15–30 µs on this project's KVM guest. Measured
//!   (release, a light fan-out load of ~12 % of a core, medians of 5): a 1 ms ticker added ~27 %
//!   to the generator's CPU, which would show in `client_cpu_us_per_delivery`; this one adds
//!   ~3 %, and less under load, when the workers are awake anyway. Fewer samples estimate the same
//!   distribution: each tick samples the wait at a moment, and 100 a second give a p99 from 1,000
//!   samples in 10 s.
//! - **Jittered (5–15 ms)**: loads are periodic (100 msg/s fans out every 10 ms); a fixed period
//!   would sample the same phase of that cycle every time, always in a burst or always between.
//! - **One ticker, not one per worker**: tokio cannot pin a task to a worker, and tasks go to the
//!   worker that polled the driver or is free to steal them, as the subscribers' do, so one ticker
//!   samples the workers as the subscribers meet them.
//!
//! A stall loses no weight: the ticks that would have fallen in it are recorded by
//! [`LagRecorder`] from the one late tick.

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::task::Poll;
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio_util::sync::CancellationToken;

use crate::metrics::{LagFigures, LagRecorder};

/// The mean time between ticks; each interval is drawn uniformly from half to 1.5 times it.
pub const TICK: Duration = Duration::from_millis(10);

/// A running ticker. Dropping it stops it and discards what it recorded; [`LagWatch::finish`]
/// stops it and returns the figures.
#[derive(Debug)]
pub struct LagWatch {
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<LagRecorder>>,
}

impl LagWatch {
    /// Arms the timer and spawns the ticker task on the current tokio runtime (which must have
    /// its I/O driver enabled). Fails only if the OS refuses a timer file descriptor.
    pub fn start() -> std::io::Result<LagWatch> {
        let timer = Timer(TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?);
        let due = timer.arm(monotonic()?)?;
        let timer = register(timer)?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(ticker(timer, due, stop.clone()));
        Ok(LagWatch {
            stop,
            task: Some(task),
        })
    }

    /// Stops ticking now; what was recorded until now is kept for [`LagWatch::finish`].
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Stops ticking (if [`LagWatch::stop`] was not called) and returns the figures; `None` if no
    /// tick was served.
    pub async fn finish(mut self) -> Option<LagFigures> {
        self.stop.cancel();
        self.task.take()?.await.ok()?.figures()
    }
}

impl Drop for LagWatch {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The timer file descriptor, as the runtime's I/O driver takes it.
#[derive(Debug)]
struct Timer(TimerFd);

impl AsRawFd for Timer {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl Timer {
    /// Sets the one expiry pending to a jittered [`TICK`] after `now`; returns it.
    fn arm(&self, now: Duration) -> std::io::Result<Duration> {
        let half = u64::try_from(TICK.as_nanos() / 2).unwrap_or(u64::MAX);
        let due = now + Duration::from_nanos(half + fastrand::u64(0..=2 * half));
        self.0.set(
            Expiration::OneShot(TimeSpec::from(due)),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME,
        )?;
        Ok(due)
    }

    /// Reads (and so clears) the timer's expiry count; `WouldBlock` if it has not expired.
    fn expired(&self) -> std::io::Result<u64> {
        let mut count = [0u8; 8];
        nix::unistd::read(self.0.as_fd(), &mut count)?;
        Ok(u64::from_ne_bytes(count))
    }
}

/// Registers the timer with the runtime's I/O driver, for readability.
#[allow(unsafe_code)]
fn register(timer: Timer) -> std::io::Result<AsyncFd<Timer>> {
    // SAFETY: `register_with_interest` asks that the descriptor stay open, refer to the same
    // file and be the one `as_raw_fd` returns for the `AsyncFd`'s whole life. `TimerFd` owns its
    // descriptor and closes it only when dropped, which the `AsyncFd` owning it does last; its
    // descriptor never changes. (tokio's safe constructors for this are deprecated,
    // tokio-rs/tokio#8587, because other `AsRawFd` types cannot promise as much.)
    let registered = unsafe { AsyncFd::register_with_interest(timer, Interest::READABLE) };
    registered.map_err(std::io::Error::from)
}

/// `CLOCK_MONOTONIC` now, the timer's clock.
fn monotonic() -> std::io::Result<Duration> {
    Ok(nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)?.into())
}

/// The ticker task: serves each expiry from the back of its worker's queue, records how late it
/// was, arms the next. Ends at the stop, or if the timer fails (figures so far are kept).
async fn ticker(timer: AsyncFd<Timer>, mut due: Duration, stop: CancellationToken) -> LagRecorder {
    let mut recorder = LagRecorder::new(TICK);
    loop {
        let mut ready = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            ready = timer.readable() => match ready {
                Ok(ready) => ready,
                Err(_) => break,
            },
        };
        to_the_back_of_the_queue().await;
        if stop.is_cancelled() {
            break;
        }
        let Ok(now) = monotonic() else { break };
        match ready.try_io(|timer| timer.get_ref().expired()) {
            Ok(Ok(_)) => {
                recorder.record(now.saturating_sub(due));
                match ready.get_inner().arm(now) {
                    Ok(next) => due = next,
                    Err(_) => break,
                }
                // Read to empty: wait for the next expiry's edge (one that came since the
                // readiness was seen keeps it set).
                ready.clear_ready();
            }
            Ok(Err(_)) => break,
            // A spurious wake; `try_io` cleared the readiness.
            Err(_) => {}
        }
    }
    recorder
}

/// Returns `Pending` once after waking itself. Tokio schedules a task woken during its own poll
/// as a yield, at the back of the worker's run queue (not in the LIFO slot, and unlike
/// `tokio::task::yield_now`, which defers the wake to the driver's next turn).
async fn to_the_back_of_the_queue() {
    let mut woke = false;
    std::future::poll_fn(|cx| {
        if woke {
            Poll::Ready(())
        } else {
            woke = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_runtime_serves_ticks() {
        let watch = LagWatch::start().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let f = watch.finish().await.unwrap();
        // Ticks came; how many and how late depends on the machine, not asserted.
        assert!(f.samples > 0 && f.max_us >= f.p99_us, "{f:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn blocked_workers_show_as_lag() {
        let watch = LagWatch::start().unwrap();
        // Both workers blocked at once for 60 ms: the tick due in that time (one is due every
        // 15 ms at most) waits at least the rest of it, 45 ms.
        let together = Arc::new(Barrier::new(3));
        let hogs: Vec<_> = (0..2)
            .map(|_| {
                let together = together.clone();
                tokio::spawn(async move {
                    together.wait();
                    std::thread::sleep(Duration::from_millis(60));
                })
            })
            .collect();
        together.wait();
        for hog in hogs {
            hog.await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let f = watch.finish().await.unwrap();
        assert!(f.max_us >= 45_000, "{f:?}");
    }

    #[tokio::test]
    async fn a_watch_stopped_before_any_tick_has_no_figures() {
        // On this single-threaded runtime the ticker first runs inside `finish`, after the stop.
        let watch = LagWatch::start().unwrap();
        watch.stop();
        assert_eq!(watch.finish().await, None);
    }
}
