//! The drop fault (`[faults] drop = { every, fraction }`): at each tick of the measured phase a
//! seeded pick of the subscribers have their connections reset abortively, as a lost network
//! path looks to the server, and each reconnects the way its transport does after a loss (with
//! the configured backoff, resuming where it can).
//!
//! Owns whom each tick picks and the register of the sockets each subscriber holds. The socket
//! is reset below every protocol library ([`Cut`]), so the transports need no part in it: they
//! read the reset as they would a real one. A subscriber's task runs inside
//! [`as_subscriber`], which is how [`Sockets::register`], called where every client connects,
//! knows whose socket it is; publishers' own connections are never picked.

use std::future::Future;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::Either;
use tokio::time::Instant;

use super::schedule::Timeline;
use crate::scenario::DropFault;
use crate::wire::cut::Cut;

tokio::task_local! {
    /// The subscriber whose task this is.
    static SUBSCRIBER: u32;
}

/// Runs `task` as subscriber `index`'s: the sockets it opens are registered as its own. With
/// `None` (no drop fault) the task runs as it is, without a task-local to set on every poll.
pub(super) fn as_subscriber<F: Future>(
    index: Option<u32>,
    task: F,
) -> impl Future<Output = F::Output> {
    match index {
        Some(index) => Either::Left(SUBSCRIBER.scope(index, task)),
        None => Either::Right(task),
    }
}

/// The open sockets of every subscriber, and the resets made so far.
#[derive(Debug)]
pub(super) struct Sockets {
    slots: Box<[Mutex<Vec<Arc<Cut>>>]>,
    dropped: AtomicU64,
}

impl Sockets {
    /// A register for `subscribers` subscribers.
    pub(super) fn new(subscribers: u32) -> Self {
        Sockets {
            slots: (0..subscribers).map(|_| Mutex::default()).collect(),
            dropped: AtomicU64::new(0),
        }
    }

    /// The cut of socket `fd` if the calling task is a subscriber's (see [`as_subscriber`]),
    /// registered as one of its sockets; `None` for a publisher's own connection.
    pub(super) fn register(&self, fd: RawFd) -> Option<Arc<Cut>> {
        let index = SUBSCRIBER.try_with(|i| *i).ok()?;
        let slot = self.slots.get(index as usize)?;
        let cut = Arc::new(Cut::new(fd));
        let mut open = slot.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|c| c.is_open());
        open.push(cut.clone());
        Some(cut)
    }

    /// Resets every open socket of subscriber `index`; whether any was.
    fn reset(&self, index: u32) -> bool {
        let Some(slot) = self.slots.get(index as usize) else {
            return false;
        };
        let open = slot.lock().unwrap_or_else(PoisonError::into_inner);
        // Every socket is reset, not just the first: `|` does not short-circuit.
        open.iter().fold(false, |any, cut| cut.reset() | any)
    }

    /// Subscribers whose connection a tick reset, so far (`dropped`).
    pub(super) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The measured phase's ticks: when the next is due and whom it picks.
#[derive(Debug)]
pub(super) struct DropTicks {
    fault: DropFault,
    ticks: Vec<Instant>,
    done: usize,
    subscribers: u32,
    rng: fastrand::Rng,
}

impl DropTicks {
    /// The ticks of `fault` over the measured phase of `timeline`, picking among `subscribers`
    /// from `seed`; `None` without the fault.
    pub(super) fn new(
        fault: Option<DropFault>,
        subscribers: u32,
        timeline: &Timeline,
        seed: u64,
    ) -> Option<Self> {
        let fault = fault?;
        let measured: Duration = timeline.measure_end - timeline.measure_start;
        let ticks = fault
            .ticks(measured)
            .map(|at| timeline.measure_start + at)
            .collect();
        Some(DropTicks {
            fault,
            ticks,
            done: 0,
            subscribers,
            rng: fastrand::Rng::with_seed(seed),
        })
    }

    /// When the next tick is due; `None` once every tick is done.
    pub(super) fn next(&self) -> Option<Instant> {
        self.ticks.get(self.done).copied()
    }

    /// One tick: picks `round(fraction × subscribers)` distinct subscribers and resets their
    /// sockets. Returns the subscribers reset (a pick between connections has none to reset).
    pub(super) fn tick(&mut self, sockets: &Sockets) -> u64 {
        self.done += 1;
        let picks = self.fault.per_tick(self.subscribers) as usize;
        let picked = self.rng.choose_multiple(0..self.subscribers, picks);
        let reset = picked.into_iter().filter(|i| sockets.reset(*i)).count() as u64;
        sockets.dropped.fetch_add(reset, Ordering::Relaxed);
        reset
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    #[tokio::test]
    async fn a_tick_resets_the_seeded_fraction_and_only_subscribers_sockets() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let sockets = Arc::new(Sockets::new(20));
        let mut clients = Vec::new();
        let mut accepted = Vec::new();
        for i in 0..20 {
            let (client, server) = tokio::join!(TcpStream::connect(addr), listener.accept());
            let client = client.unwrap();
            let cut = as_subscriber(Some(i), async { sockets.register(client.as_raw_fd()) }).await;
            assert!(cut.is_some());
            clients.push((client, cut));
            accepted.push(server.unwrap().0);
        }
        // Outside a subscriber's task nothing is registered.
        assert!(sockets.register(clients[0].0.as_raw_fd()).is_none());

        let start = Instant::now();
        let timeline = Timeline {
            epoch: start,
            publish_start: start,
            measure_start: start,
            measure_end: start + Duration::from_secs(31),
            own: (0..1).into(),
        };
        let fault = DropFault {
            every: Duration::from_secs(10),
            fraction: 0.25,
        };
        let mut ticks = DropTicks::new(Some(fault), 20, &timeline, 7).unwrap();
        assert_eq!(ticks.next(), Some(start + Duration::from_secs(10)));
        assert_eq!(ticks.tick(&sockets), 5);
        assert_eq!(sockets.dropped(), 5);

        // Exactly the five picked see a reset; the others still read nothing.
        let mut reset = 0;
        for server in &mut accepted {
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_millis(50), server.read(&mut byte));
            if let Ok(Err(e)) = read.await {
                assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
                reset += 1;
            }
        }
        assert_eq!(reset, 5);

        // A reset socket is closed to later ticks: each counts once.
        let closed = clients
            .iter()
            .filter(|(_, cut)| !cut.as_ref().unwrap().is_open());
        assert_eq!(closed.count(), 5);
        assert_eq!(ticks.next(), Some(start + Duration::from_secs(20)));
        ticks.tick(&sockets);
        ticks.tick(&sockets);
        assert_eq!(ticks.next(), None);
    }
}
