//! The load generator watches its own event loop: a 1 ms ticker whose lateness is the delay any
//! task of the generator (a subscriber whose socket just became readable) waits for a worker.
//!
//! Owns the ticker (a clock thread and one task on the runtime) between [`LagWatch::start`] and
//! [`LagWatch::finish`]. Records into a [`LagRecorder`]; judges nothing and prints nothing.
//!
//! # What is measured, and why this way
//!
//! A clock thread outside the runtime posts a tick every millisecond, stamped with the instant it
//! posts it, and wakes the ticker task. When that task runs, it first puts itself at the **back**
//! of its worker's run queue (a self-wake, which tokio schedules as a yield), and only when it
//! runs again takes the tick: lag = now − stamp. So a tick waits for a free worker, then behind
//! every task already queued on that worker, which is what a subscriber woken at that moment
//! waits before its message is read and timed. Two choices follow from how tokio schedules:
//!
//! - Not tokio's own timer: it fires on a 1 ms wheel, so a ticker on it reads up to 1 ms late on
//!   an idle runtime, as large as the push latencies measured on loopback.
//! - Not measured at the first poll: a task woken by the runtime's driver takes the worker's LIFO
//!   slot and runs *before* the queue, so it would report an idle loop while the subscribers
//!   woken in the same batch queue behind. The self-wake skips that shortcut.
//!
//! One ticker, not one per worker: tokio cannot pin a task to a worker, and tasks go to the worker
//! that woke them or is free to steal them, as the subscribers' do, so one ticker samples the
//! workers as the subscribers meet them. It costs 1,000 wake-ups a second (thread and task), a
//! few ms of CPU per second at most, and runs only while the caller keeps it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::metrics::{LagFigures, LagRecorder};

/// How often the clock thread posts a tick.
pub const TICK: Duration = Duration::from_millis(1);

/// State the clock thread and the ticker task share.
#[derive(Debug)]
struct Shared {
    /// The instant stamps count from.
    base: Instant,
    /// The pending tick's stamp, ns since `base` + 1; 0 when none is pending. The clock thread
    /// posts only into an empty slot, so a stalled ticker finds its oldest missed tick here.
    posted: AtomicU64,
    /// Set to end the ticker and the clock thread.
    stop: AtomicBool,
    /// Wakes the ticker task for a posted tick or the stop.
    wake: Notify,
}

impl Shared {
    fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// A running ticker. Dropping it stops it (both threads exit within a tick) and discards what
/// it recorded; [`LagWatch::finish`] stops it and returns the figures.
#[derive(Debug)]
pub struct LagWatch {
    shared: Arc<Shared>,
    clock: Option<std::thread::JoinHandle<()>>,
    task: Option<tokio::task::JoinHandle<LagRecorder>>,
}

impl LagWatch {
    /// Starts the clock thread and the ticker task on the current tokio runtime.
    ///
    /// Must be called from within a tokio runtime. Fails only if the OS refuses a thread.
    pub fn start() -> std::io::Result<LagWatch> {
        let shared = Arc::new(Shared {
            base: Instant::now(),
            posted: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            wake: Notify::new(),
        });
        let clock = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("wsbench-lag-clock".into())
                .spawn(move || clock(&shared))?
        };
        let task = tokio::spawn(ticker(shared.clone()));
        Ok(LagWatch {
            shared,
            clock: Some(clock),
            task: Some(task),
        })
    }

    /// Stops ticking now; what was recorded until now is kept for [`LagWatch::finish`].
    pub fn stop(&self) {
        self.shared.stop();
    }

    /// Stops ticking (if [`LagWatch::stop`] was not called) and returns the figures; `None` if no
    /// tick was served.
    pub async fn finish(mut self) -> Option<LagFigures> {
        self.shared.stop();
        let recorder = self.task.take()?.await.ok()?;
        if let Some(clock) = self.clock.take() {
            // It sees the stop within one tick: a join of at most a millisecond.
            let _ = clock.join();
        }
        recorder.figures()
    }
}

impl Drop for LagWatch {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

/// The clock thread: posts a stamped tick every [`TICK`] until stopped.
fn clock(shared: &Shared) {
    while !shared.stop.load(Ordering::Acquire) {
        std::thread::sleep(TICK);
        let stamp = u64::try_from(shared.base.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1;
        if shared
            .posted
            .compare_exchange(0, stamp, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            shared.wake.notify_one();
        }
    }
}

/// The ticker task: serves each posted tick from the back of its worker's queue, records how late.
async fn ticker(shared: Arc<Shared>) -> LagRecorder {
    let mut recorder = LagRecorder::new(TICK);
    loop {
        shared.wake.notified().await;
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        to_the_back_of_the_queue().await;
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let stamp = shared.posted.swap(0, Ordering::AcqRel);
        if stamp == 0 {
            continue;
        }
        let now = u64::try_from(shared.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        recorder.record(Duration::from_nanos(now.saturating_sub(stamp - 1)));
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
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_runtime_serves_ticks_promptly() {
        let watch = LagWatch::start().unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let f = watch.finish().await.unwrap();
        // Ticks came (the count depends on the machine's timer slack, not asserted further).
        assert!(f.samples > 0 && f.max_us >= f.p99_us, "{f:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_blocked_worker_shows_as_lag() {
        let watch = LagWatch::start().unwrap();
        // Block both workers for 30 ms: every tick posted meanwhile waits for them.
        let hogs: Vec<_> = (0..2)
            .map(|_| {
                tokio::spawn(async {
                    std::thread::sleep(Duration::from_millis(30));
                })
            })
            .collect();
        for hog in hogs {
            hog.await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        let f = watch.finish().await.unwrap();
        assert!(f.max_us >= 10_000, "{f:?}");
    }

    #[tokio::test]
    async fn a_watch_stopped_before_any_tick_has_no_figures() {
        let watch = LagWatch::start().unwrap();
        watch.stop();
        assert_eq!(watch.finish().await, None);
    }
}
