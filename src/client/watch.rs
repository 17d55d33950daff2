//! The load generator watches its own event loops: on each client thread a ticker whose lateness
//! is the delay a task of that thread (a subscriber whose socket just became readable) waits
//! before it runs.
//!
//! Owns the tickers (one task and one timer file descriptor per client runtime) between
//! [`LagWatch::start`] and [`LagWatch::finish`]. Records into [`LagRecorder`]s, merged at the
//! end; judges nothing and prints nothing.
//!
//! # What is measured, and why this way
//!
//! Each client thread is one single-threaded runtime (`super::workers`): one event loop that
//! runs its ready tasks in the order they were woken. On each, a Linux `timerfd` expires at an
//! absolute `CLOCK_MONOTONIC` time (nanosecond precision), every [`TICK`] on average. Its
//! readiness reaches the ticker task through that runtime's I/O driver, in the same epoll set and
//! the same way as a subscriber's readable socket, so the task is queued behind everything woken
//! before it, as a subscriber whose message arrived at the expiry would be. Lag = when the task
//! runs − the expiry: the time for the loop to poll its driver and work through its queue. The
//! choices, and why:
//!
//! - **One ticker per client thread**: a subscriber waits only for its own thread, so each
//!   thread's loop is sampled; the samples are merged, as the subscribers' latencies are.
//! - **Not tokio's own timer**: it fires on a 1 ms wheel, so a ticker on it reads up to 1 ms late
//!   on an idle loop, as large as the push latencies measured on loopback.
//! - **Every 25 ms on average, not every 1 ms**: each tick that finds a thread idle costs a timer
//!   interrupt and the thread's wake-up, tens of µs on this project's KVM guest. Measured
//!   (release, two single-threaded runtimes under a light fan-out load of ~11 % of a core,
//!   medians of 5 runs): 1 ms tickers added 36 % to the process's CPU (41 ms a second), which
//!   would show in `client_cpu_us_per_delivery`; 10 ms ones 7 % (8 ms a second), less under
//!   load, when the threads are awake anyway — still most of the generator's excess over a lean
//!   client at 1,000 subscribers and 2 msg/s (`scripts/scale.sh`), hence 25 ms (~3 ms a second).
//!   Fewer samples estimate the same distribution: each tick samples the wait at a moment, 40 a
//!   second per thread, 1,600 over a 20 s phase on two threads.
//! - **Jittered (12.5–37.5 ms)**: loads are periodic (100 msg/s fans out every 10 ms); a fixed
//!   period would sample the same phase of that cycle every time, always in a burst or always
//!   between.
//!
//! A stall loses no weight: the ticks that would have fallen in it are recorded by
//! [`LagRecorder`] from the one late tick.

use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::timerfd::{Timer, monotonic};
use crate::metrics::{LagFigures, LagRecorder};

/// The mean time between ticks; each interval is drawn uniformly from half to 1.5 times it.
pub const TICK: Duration = Duration::from_millis(25);

/// Running tickers. Dropping this stops them and discards what they recorded;
/// [`LagWatch::finish`] stops them and returns the figures. Finish before the runtimes stop: a
/// ticker dropped with its runtime takes its samples along.
#[derive(Debug)]
pub struct LagWatch {
    stop: CancellationToken,
    tickers: Vec<JoinHandle<LagRecorder>>,
}

impl LagWatch {
    /// Arms one timer on each of `runtimes` (which must have their I/O driver enabled) and
    /// spawns its ticker there. Fails only if the OS refuses a timer file descriptor.
    pub fn start(runtimes: &[Handle]) -> std::io::Result<LagWatch> {
        let mut watch = LagWatch {
            stop: CancellationToken::new(),
            tickers: Vec::with_capacity(runtimes.len()),
        };
        for runtime in runtimes {
            // The descriptor joins the epoll set of the runtime entered here.
            let _entered = runtime.enter();
            let timer = Timer::new()?;
            let due = arm(&timer, monotonic()?)?;
            let timer = timer.register()?;
            let ticker = runtime.spawn(ticker(timer, due, watch.stop.clone()));
            watch.tickers.push(ticker);
        }
        Ok(watch)
    }

    /// Stops the tickers and returns their merged figures; `None` if no tick was served.
    pub async fn finish(mut self) -> Option<LagFigures> {
        self.stop.cancel();
        let mut all = LagRecorder::new(TICK);
        for ticker in self.tickers.drain(..) {
            if let Ok(recorder) = ticker.await {
                all.merge(&recorder);
            }
        }
        all.figures()
    }
}

impl Drop for LagWatch {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Sets `timer`'s one expiry pending to a jittered [`TICK`] after `now`; returns it.
fn arm(timer: &Timer, now: Duration) -> std::io::Result<Duration> {
    let half = u64::try_from(TICK.as_nanos() / 2).unwrap_or(u64::MAX);
    let due = now + Duration::from_nanos(half + fastrand::u64(0..=2 * half));
    timer.set_at(due)?;
    Ok(due)
}

/// A ticker task: records how late each expiry is served, arms the next. Ends at the stop, or if
/// the timer fails (the figures so far are kept).
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
        let Ok(now) = monotonic() else { break };
        match ready.try_io(|timer| timer.get_ref().expired()) {
            Ok(Ok(_)) => {
                recorder.record(now.saturating_sub(due));
                match arm(ready.get_inner(), now) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::workers::Workers;

    #[tokio::test]
    async fn every_client_thread_serves_ticks() {
        let workers = Workers::start(2).unwrap();
        let watch = LagWatch::start(workers.handles()).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let f = watch.finish().await.unwrap();
        // Ticks came; how many and how late depends on the machine, not asserted.
        assert!(f.samples > 0 && f.max_us >= f.p99_us, "{f:?}");
    }

    #[tokio::test]
    async fn a_blocked_loop_shows_as_lag() {
        let watch = LagWatch::start(&[Handle::current()]).unwrap();
        // This test's one thread is the loop: blocked for 100 ms, the tick due in that time (one
        // is due at most 1.5 × TICK = 37.5 ms after the last) is served at least 62.5 ms late.
        std::thread::sleep(Duration::from_millis(100));
        tokio::time::sleep(Duration::from_millis(20)).await;
        let f = watch.finish().await.unwrap();
        assert!(f.max_us >= 60_000, "{f:?}");
    }

    #[tokio::test]
    async fn a_watch_finished_before_any_tick_has_no_figures() {
        // On this single-threaded runtime the ticker first runs inside `finish`, after the stop.
        let watch = LagWatch::start(&[Handle::current()]).unwrap();
        assert_eq!(watch.finish().await, None);
    }
}
