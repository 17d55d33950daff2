//! The generator's threads: single-threaded tokio runtimes, one per core the load needs, each
//! driving its share of the clients from start to end.
//!
//! A work-stealing pool moves tasks between threads and wakes idle workers through the kernel:
//! measured at 10,000 WebSocket subscribers, ~10 % of the generator's CPU was the kernel switching
//! tasks and threads (`finish_task_switch`), and every wake-up paid for atomics that a task owned
//! by one thread does not need. Here a client task lives on one thread, with its socket registered
//! in that thread's own epoll set and its timers in that thread's own wheel, as in a lean
//! single-threaded client — and there is one such thread per core, so the last subscriber of a
//! message is not read a whole fan-out after the first.

use std::io;
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// Running worker threads; dropping this stops them (after their tasks were collected).
#[derive(Debug)]
pub struct Workers {
    handles: Vec<Handle>,
    threads: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Workers {
    /// Starts `count` worker threads (at least one).
    pub fn start(count: usize) -> io::Result<Workers> {
        let mut workers = Workers {
            handles: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..count.max(1) {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            workers.handles.push(runtime.handle().clone());
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("wsbench-client-{i}"))
                .spawn(move || {
                    // Runs the thread's tasks until told to stop; tasks still there are dropped.
                    let _ = runtime.block_on(stopped);
                })?;
            workers.threads.push((stop, thread));
        }
        Ok(workers)
    }

    /// Enough workers for `deliveries_per_s`, at most one per core this process may run on
    /// (see [`threads_for`]).
    pub fn for_load(deliveries_per_s: f64) -> io::Result<Workers> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Workers::start(threads_for(deliveries_per_s, cores))
    }

    /// The runtime of the worker that client `index` runs on (round robin).
    pub fn handle(&self, index: usize) -> &Handle {
        &self.handles[index % self.handles.len()]
    }

    /// Every worker's runtime.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }
}

/// Deliveries a second one worker thread is given before another is added: half a core at the
/// ~10 µs of CPU a delivery costs the generator at scale (`docs/scale.md`). A thread that is
/// mostly idle pays for every wake-up with few deliveries to share it: at 1,000 subscribers and
/// 2 msg/s two threads took 45 µs of CPU per wake-up against a one-thread client's 19 µs, and
/// 1.9× its CPU per delivery. Busier, a second thread halves how long a fan-out burst takes to
/// read, which is latency measured.
pub const DELIVERIES_PER_THREAD: f64 = 50_000.0;

/// Worker threads for a load of `deliveries_per_s`: one per [`DELIVERIES_PER_THREAD`], at least
/// one and at most `cores`.
pub fn threads_for(deliveries_per_s: f64, cores: usize) -> usize {
    let wanted = (deliveries_per_s / DELIVERIES_PER_THREAD).ceil();
    if wanted.is_finite() && wanted >= 1.0 {
        (wanted as usize).clamp(1, cores.max(1))
    } else {
        1
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for (stop, thread) in self.threads.drain(..) {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_follow_the_delivery_rate() {
        assert_eq!(threads_for(2_000.0, 2), 1);
        assert_eq!(threads_for(50_000.0, 2), 1);
        assert_eq!(threads_for(50_001.0, 2), 2);
        assert_eq!(threads_for(1e9, 2), 2);
        assert_eq!(threads_for(1e9, 0), 1);
        assert_eq!(threads_for(0.0, 8), 1);
        assert_eq!(threads_for(f64::NAN, 8), 1);
    }

    #[tokio::test]
    async fn tasks_run_on_their_worker_thread() {
        let workers = Workers::start(2).unwrap();
        let mut names = Vec::new();
        for i in 0..4 {
            let name = workers
                .handle(i)
                .spawn(async { std::thread::current().name().map(String::from) })
                .await
                .unwrap();
            names.push(name.unwrap());
        }
        assert_eq!(
            names,
            [
                "wsbench-client-0",
                "wsbench-client-1",
                "wsbench-client-0",
                "wsbench-client-1"
            ]
        );
    }
}
