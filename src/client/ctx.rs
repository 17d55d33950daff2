//! What every client task shares with the conductor, and the steps they all take: the first
//! connection (timed, counted, reported), waiting for a slot, a slow reader's pause. The transport
//! modules depend on this and on [`super::plan`], never on the conductor.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use super::conn::HandshakeMeter;
use super::failure::ConnectError;
use super::inbox::Inbox;
use super::plan::{LoadPlan, Target};
use super::publishing::PublishTally;
use super::schedule::Timeline;
use super::signals::Signals;
use crate::metrics::{Counts, IntervalRecorder, SharedHistogram};
use crate::wire::WireMeter;

/// What client tasks tell the conductor.
#[derive(Debug)]
pub(super) enum Event {
    /// A connection attempt ended; `Err` carries the reason.
    Connected {
        /// A subscriber (true) or a publisher's own connection (false).
        subscriber: bool,
        /// What came of it.
        result: Result<(), ConnectError>,
    },
    /// A subscriber stopped receiving (complete, drain deadline, error or cancel).
    Finished,
}

/// Everything a client task shares with the conductor. Receivers are made per task from the senders.
#[derive(Debug)]
pub(super) struct Ctx {
    pub(super) plan: LoadPlan,
    pub(super) target: Target,
    pub(super) meter: Arc<WireMeter>,
    /// What every subscriber records per second; the sampler swaps it out.
    pub(super) intervals: Arc<IntervalRecorder>,
    /// Subscribers' connect times (at most one per subscriber, so one lock is plenty).
    pub(super) connect_us: SharedHistogram,
    /// Every reconnection's successful attempt (churn's rejoins and lost connections'), timed
    /// like a connect: the connect time under load.
    pub(super) reconnect_us: SharedHistogram,
    /// How late the publishers handed each in-window message to their socket (a few publishers
    /// at the rate of the schedule, so one lock is plenty).
    pub(super) publish_lag_us: SharedHistogram,
    /// With TLS: the plaintext bytes, counted above TLS.
    pub(super) above_tls: Arc<WireMeter>,
    pub(super) handshakes: HandshakeMeter,
    /// Connections made so far behind an emulated network: each one's number seeds its jitter.
    pub(super) dialed: AtomicU64,
    pub(super) timeline: watch::Sender<Option<Timeline>>,
    /// Wakes subscribers when the timeline, the tally's total or the stop changes.
    pub(super) signals: Signals,
    /// `[faults] drop`: every subscriber's open sockets, for the ticks to reset.
    pub(super) sockets: Option<super::drops::Sockets>,
    pub(super) tally: PublishTally,
    /// Subscribers that connected, per room the publishers publish into: the deliveries each
    /// message to the room is expected to make. Final once the ramp-up is over.
    pub(super) members: Box<[AtomicU64]>,
    /// Saturation mode's window, shared by the publishers and every subscriber's inbox.
    pub(super) window: Option<Arc<super::window::Window>>,
    pub(super) events: mpsc::UnboundedSender<Event>,
    /// The measured phase is over (set once, with a raise of the [`Signals`]).
    pub(super) measure_over: AtomicBool,
    /// Stop receiving and publishing (drain over, or cancelled).
    pub(super) stop: CancellationToken,
    /// Close connections: the measurement is over.
    pub(super) close: CancellationToken,
    /// WebSocket over HTTP/2: the connections clients share (`streams_per_connection`).
    pub(super) ws_h2: super::ws::over_h2::Pool,
    /// HTTP/3: the run's QUIC endpoint, one UDP socket for every client.
    pub(super) h3: super::h3::Lazy,
}

impl Ctx {
    /// A subscriber catching up with the run's state, at the top of its loop (after news, and
    /// once at the start: see [`Signals`]): learns the timeline and the in-window total if they
    /// are known now. `false`: stop receiving (the run stops, or every expected message came).
    pub(super) fn catch_up(&self, inbox: &mut Inbox, timeline: &mut Option<Timeline>) -> bool {
        if self.stop.is_cancelled() {
            return false;
        }
        self.learn_timeline(timeline);
        if !inbox.knows_expected() {
            inbox.set_expected(self.tally.total(inbox.room()));
        }
        if inbox.complete() {
            // Under churn a subscriber with every message stays connected, and can be churned,
            // until the measured phase is over: every close asked for is made.
            // So does an idle connection (a room nobody publishes into): it has nothing to wait
            // for, and its heartbeats through the measured phase are what it is there for.
            let stays = self.plan.shape.churn > 0 || inbox.room() >= self.plan.idle_room();
            return stays && !self.measure_over.load(Ordering::Acquire);
        }
        true
    }

    /// Fills in the timeline once it is fixed. Also called when a message arrives: it can come
    /// before the news of the timeline that its publisher read.
    pub(super) fn learn_timeline(&self, timeline: &mut Option<Timeline>) {
        if timeline.is_none() {
            *timeline = *self.timeline.borrow();
        }
    }

    /// Raises [`Signals`] whenever the timeline is fixed, the in-window total becomes known or the
    /// run stops, until it stops: one task waits on the shared channels so that no subscriber has to.
    pub(super) async fn relay(self: Arc<Self>) {
        let mut timeline = self.timeline.subscribe();
        let mut finals = self.tally.finals();
        // A receiver takes the value it starts with as seen. This task first runs when the
        // conductor first waits, which can be after the timeline is fixed (when every client
        // connected while the conductor was busy, the ramp's events were all ready and it never
        // waited): without this raise, no subscriber would learn the timeline, and no publisher
        // would start.
        self.signals.raise();
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => break,
                Ok(()) = timeline.changed() => self.signals.raise(),
                Ok(()) = finals.changed() => self.signals.raise(),
            }
        }
        self.signals.raise();
    }

    /// Subscribers of `room` that connected (0 for a room nobody publishes into).
    pub(super) fn members(&self, room: crate::protocol::RoomId) -> u64 {
        let n = self.members.get(room.0 as usize);
        n.map_or(0, |n| n.load(Ordering::Relaxed))
    }

    /// Tells the conductor.
    pub(super) fn send(&self, event: Event) {
        // The conductor outlives every task; if it is gone, nobody is left to tell.
        let _ = self.events.send(event);
    }
}

/// Who is connecting: a subscriber (its connect time is recorded) or a publisher's own connection.
pub(super) enum Joiner<'a> {
    /// A subscriber, whose inbox learns it connected.
    Subscriber(&'a mut Inbox),
    /// A publisher's own connection, with the publisher's counters.
    Publisher(&'a mut Counts),
}

/// A connection attempt on the heap. A client's task keeps its future for the whole run, and an
/// async fn's state is as large as its largest await: a TCP + TLS + handshake future held inline
/// would make every idle connection pay for it (tens of KiB each, measured). Boxed, it costs
/// memory only while it runs.
pub(super) type Attempt<'a, T> = Pin<Box<dyn Future<Output = Result<T, ConnectError>> + Send + 'a>>;

/// A client's first connection: `attempt`, bounded by the connect timeout and reported to the
/// conductor. A subscriber's success records its connect time; a failure is counted and gives `None`.
pub(super) async fn first_connect<T>(
    ctx: &Ctx,
    who: Joiner<'_>,
    attempt: Attempt<'_, T>,
) -> Option<T> {
    let started = Instant::now();
    let result = timeout(ctx.plan.connect_timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(ConnectError::timed_out()));
    let subscriber = matches!(who, Joiner::Subscriber(_));
    let counts = match who {
        Joiner::Subscriber(inbox) => {
            if result.is_ok() {
                ctx.connect_us.record(started.elapsed());
                if let Some(n) = ctx.members.get(inbox.room().0 as usize) {
                    n.fetch_add(1, Ordering::Relaxed);
                }
                inbox.connected = true;
                inbox.attach(ctx.intervals.clone(), ctx.window.clone());
            }
            &mut inbox.counts
        }
        Joiner::Publisher(counts) => counts,
    };
    let (value, reported) = match result {
        Ok(value) => (Some(value), Ok(())),
        Err(reason) => {
            counts.connect_errors.add(reason.kind);
            (None, Err(reason))
        }
    };
    ctx.send(Event::Connected {
        subscriber,
        result: reported,
    });
    value
}

/// A slow reader's pause after each read: the socket is left unread meanwhile, so the server's
/// slow-consumer policy meets it.
pub(super) async fn pause_if(slow: bool, ctx: &Ctx) {
    if slow {
        tokio::time::sleep(ctx.plan.slow_read_pause).await;
    }
}

/// Sleeps until `deadline`; false if cancelled first.
pub(super) async fn wait_until(deadline: Instant, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = sleep_until(deadline) => true,
    }
}
