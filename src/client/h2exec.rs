//! One task per HTTP/2 client connection: the executor hyper's h2 client spawns into.
//!
//! hyper's HTTP/2 client spawns several futures per connection: the connection itself, one per
//! response, and one per request body (a body cannot go out with the request's HEADERS, because
//! h2 assigns no send window to a stream until its HEADERS are written, so every `POST` gets its
//! own body-pipe task). On a multi-threaded runtime each of those is its own task: each hand-off
//! between them is a trip through the scheduler, and two `POST` bodies in flight on one
//! connection can be written in either order by tasks racing on two workers, so a publisher that
//! pipelines its messages sees them published out of order. Here every future of one connection
//! runs inside one task, polled in the order they were woken: hand-offs stay within one poll,
//! and bodies go out in the order their streams were opened.

use std::future::Future;
use std::pin::Pin;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs what hyper spawns for one connection inside that connection's own task.
#[derive(Clone, Debug)]
pub(super) struct ConnectionExecutor {
    jobs: mpsc::UnboundedSender<Job>,
}

impl ConnectionExecutor {
    /// An executor and the task that runs everything given to it; the task ends once every
    /// clone of the executor is dropped and everything it was given has finished.
    pub(super) fn new() -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (jobs, rx) = mpsc::unbounded_channel();
        (ConnectionExecutor { jobs }, run(rx))
    }
}

impl<F: Future<Output = ()> + Send + 'static> hyper::rt::Executor<F> for ConnectionExecutor {
    fn execute(&self, fut: F) {
        // The receiver lives as long as any future it runs, and those hold the executor's
        // clones, so it is only gone when nothing could use the future anyway.
        let _ = self.jobs.send(Box::pin(fut));
    }
}

async fn run(mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut running = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            Some(job) = jobs.recv() => running.push(job),
            Some(()) = running.next(), if !running.is_empty() => {}
            else => break,
        }
    }
}
