//! The generator's threads: one single-threaded tokio runtime per core, each driving its share of
//! the clients from start to end.
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

    /// One worker per core this process may run on.
    pub fn per_core() -> io::Result<Workers> {
        Workers::start(std::thread::available_parallelism().map_or(1, usize::from))
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
