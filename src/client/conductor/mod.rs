//! The conductor: one transport's load from ramp-up to drain. It spawns one task per simulated
//! client (subscribers, and the HTTP publishers' own connections) at its connect slot, counts the
//! connections as they report, fixes the timeline, runs the 1 Hz [`Sampler`](super::sampler::Sampler) through the measured
//! phase and the drain, then stops and collects every task and adds up what they measured.
//!
//! [`drive`] reads as the phases in order, each a function that hands the next a typed summary
//! of what it did: [`launch`] → [`Clients`], `phases::ramp` → `Ramped`, `phases::measure` →
//! `Measured`, `phases::drain` → `Drained`, and `tally::outcome` adds them up into the
//! [`ClientOutcome`].
//!
//! In a sharded run (the plan holds a slice) the timeline starts at the common start instead of
//! right after the ramp-up, its epoch is that start (so every shard's envelope times count from
//! the same first slot), and subscribers also expect the other shards' scheduled messages.

mod others;
mod phases;
mod tally;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::conn::HandshakeMeter;
use super::ctx::{Ctx, Event};
use super::drops::{self, as_subscriber};
use super::inbox::Inbox;
use super::longpoll::{self, Pacing};
use super::outcome::{ClientError, ClientOutcome, Phase};
use super::plan::{LoadPlan, Target};
use super::publishing::PublishTally;
use super::signals::Signals;
use super::template::TemplateWs;
use super::window::Window;
use super::workers::Workers;
use super::{idle, poster, raw, socketio, sse, ws};
use crate::metrics::{IntervalRecorder, Recorder, SharedHistogram};
use crate::scenario::template::TemplateMode;
use crate::scenario::{Nchan, NchanMode, Transport, WsClient};
use crate::wire::WireMeter;

/// Runs one transport's load from ramp-up to drain. `cancel` cuts it short (results are partial).
pub async fn drive(
    plan: &LoadPlan,
    target: &Target,
    cancel: &CancellationToken,
    on_phase: &mut dyn FnMut(Phase),
) -> Result<ClientOutcome, ClientError> {
    let mut clients = launch(plan, target, cancel)?;
    on_phase(Phase::Connecting {
        clients: clients.connections,
    });
    let ramped = phases::ramp(&mut clients, cancel, on_phase).await?;
    // With rooms, the other shards' messages are expected by their rooms' members, now known.
    let ctx = &clients.ctx;
    ctx.intervals
        .expect_other_deliveries(others::expected_by_second(
            plan,
            ctx.intervals.seconds(),
            |room| ctx.members(room),
        ));
    let idle = match plan.shape.idle_phase {
        Some(span) => {
            Some(idle::phase(&clients.ctx, span, ramped.ramp.connected, cancel, on_phase).await)
        }
        None => None,
    };
    let (timeline, start_wall) = match phases::timeline(plan, clients.ramp_start, cancel).await {
        Ok(fixed) => fixed,
        Err(e) => {
            clients.abandon().await;
            return Err(e);
        }
    };
    let measured = phases::measure(&clients, &ramped, timeline, cancel, on_phase).await;
    let drained = phases::drain(&mut clients, &ramped, measured, cancel, on_phase).await;
    Ok(tally::outcome(clients, ramped, drained, idle, start_wall).await)
}

/// Every client task of one transport run, and what they share with the conductor.
struct Clients {
    ctx: Arc<Ctx>,
    /// The client threads; they live as long as the run.
    workers: Workers,
    events: mpsc::UnboundedReceiver<Event>,
    subscribers: JoinSet<Inbox>,
    publishers: JoinSet<Recorder>,
    ramp_start: Instant,
    /// Connections the ramp-up waits for: subscribers, idle ones, and HTTP publishers' own.
    connections: u32,
    /// In a sharded run, the other shards' in-window messages every subscriber here expects.
    others_total: u64,
}

/// Starts the client threads and one task per connection, each waiting for its connect slot.
fn launch(
    plan: &LoadPlan,
    target: &Target,
    cancel: &CancellationToken,
) -> Result<Clients, ClientError> {
    // Every subscriber receives every message (and publishers send theirs); saturation mode
    // takes what the cores give.
    let deliveries_per_s = match plan.shape.window {
        Some(_) => f64::MAX,
        None => plan.rate * f64::from(plan.subscribers + plan.publishers),
    };
    let workers = Workers::for_load(deliveries_per_s).map_err(ClientError::Workers)?;
    let (events_tx, events) = mpsc::unbounded_channel();
    let seconds = usize::try_from(plan.duration.as_nanos().div_ceil(1_000_000_000)).unwrap_or(0);
    let others = others::scheduled(plan, seconds);
    let others_total = others.total();
    let ctx = Arc::new(Ctx {
        plan: plan.clone(),
        target: target.clone(),
        meter: Arc::new(WireMeter::default()),
        intervals: Arc::new(IntervalRecorder::new(seconds).expect_others(others.by_second)),
        connect_us: SharedHistogram::default(),
        reconnect_us: SharedHistogram::default(),
        publish_lag_us: SharedHistogram::default(),
        above_tls: Arc::new(WireMeter::default()),
        handshakes: HandshakeMeter::default(),
        dialed: AtomicU64::new(0),
        timeline: watch::Sender::new(None),
        signals: Signals::new(plan.subscribing() as usize),
        sockets: plan
            .shape
            .drop
            .map(|_| drops::Sockets::new(plan.subscribing())),
        tally: PublishTally::new(plan.publishers, others.by_room, plan.room_count()),
        members: (0..plan.room_count()).map(|_| AtomicU64::new(0)).collect(),
        window: plan
            .shape
            .window
            .map(|n| Arc::new(Window::new(n, plan.drain))),
        events: events_tx,
        measure_over: AtomicBool::new(false),
        stop: cancel.child_token(),
        close: CancellationToken::new(),
        ws_h2: Default::default(),
        h3: Default::default(),
    });
    tokio::spawn(ctx.clone().relay());
    let mut clients = Clients {
        ctx,
        workers,
        events,
        subscribers: JoinSet::new(),
        publishers: JoinSet::new(),
        ramp_start: Instant::now(),
        connections: 0,
        others_total,
    };
    clients.spawn_all();
    Ok(clients)
}

impl Clients {
    /// The subscribers, then the idle connections (`[clients] idle`) in their own room, then
    /// over HTTP the publishers' own keep-alive connections for `POST /publish` (on WebSocket
    /// and raw a publisher sends on its subscriber connection).
    fn spawn_all(&mut self) {
        let ctx = self.ctx.clone();
        let plan = &ctx.plan;
        let per_connection = Duration::from_secs_f64(1.0 / f64::from(plan.connect_rate));
        for i in 0..plan.subscribing() {
            let slot = self.ramp_start + per_connection * i;
            self.spawn_subscriber(i, slot);
        }
        self.connections = plan.subscribing();
        // Over HTTP (and to nchan) every publisher has its own keep-alive connection for its
        // `POST`s; on WebSocket, raw and Socket.IO it sends on its subscriber connection.
        if !self.ctx.target.publishes_on_subscriber() {
            for p in 0..plan.publishers {
                let slot = self.ramp_start + per_connection * p;
                self.publishers.spawn_on(
                    poster::publisher(self.ctx.clone(), p, slot),
                    self.workers.handle(p as usize),
                );
            }
            self.connections += plan.publishers;
        }
    }

    /// Subscriber `i`'s task on its client thread, connecting at `slot`.
    fn spawn_subscriber(&mut self, i: u32, slot: Instant) {
        let ctx = self.ctx.clone();
        let plan = &self.ctx.plan;
        let slow = (plan.subscribers - plan.slow_readers..plan.subscribers).contains(&i);
        let room = plan.connection_room(i);
        let on = self.workers.handle(i as usize);
        // Only a drop fault needs to know whose socket is whose.
        let track = self.ctx.sockets.is_some().then_some(i);
        match self.ctx.target.transport {
            Transport::Ws {
                ping_interval,
                client,
                ..
            } => self.subscribers.spawn_on(
                as_subscriber(
                    track,
                    ws::subscriber(ctx, i, room, slot, ping_interval, client, slow),
                ),
                on,
            ),
            Transport::LongPoll { .. } => self.subscribers.spawn_on(
                as_subscriber(
                    track,
                    longpoll::subscriber(ctx, i, room, slot, Pacing::Held, slow),
                ),
                on,
            ),
            Transport::ShortPoll { interval } => self.subscribers.spawn_on(
                as_subscriber(
                    track,
                    longpoll::subscriber(ctx, i, room, slot, Pacing::Every(interval), slow),
                ),
                on,
            ),
            Transport::Sse => self.subscribers.spawn_on(
                as_subscriber(track, sse::subscriber(ctx, i, room, slot, slow)),
                on,
            ),
            Transport::Raw { .. } => self.subscribers.spawn_on(
                as_subscriber(track, raw::subscriber(ctx, i, room, slot, slow)),
                on,
            ),
            Transport::SocketIo(_) => self.subscribers.spawn_on(
                as_subscriber(track, socketio::subscriber(ctx, i, room, slot, slow)),
                on,
            ),
            Transport::Nchan(Nchan { mode, .. }) => match mode {
                NchanMode::LongPoll => self.subscribers.spawn_on(
                    as_subscriber(
                        track,
                        longpoll::subscriber(ctx, i, room, slot, Pacing::Held, slow),
                    ),
                    on,
                ),
                NchanMode::Sse => self.subscribers.spawn_on(
                    as_subscriber(track, sse::subscriber(ctx, i, room, slot, slow)),
                    on,
                ),
                NchanMode::Ws => self.subscribers.spawn_on(
                    as_subscriber(
                        track,
                        ws::subscriber(ctx, i, room, slot, None, WsClient::Wsbench, slow),
                    ),
                    on,
                ),
            },
            Transport::Template(ref t) => match t.mode {
                TemplateMode::Ws => self.subscribers.spawn_on(
                    as_subscriber(
                        track,
                        ws::session::<TemplateWs>(ctx, i, room, slot, None, slow),
                    ),
                    on,
                ),
                TemplateMode::Sse => self.subscribers.spawn_on(
                    as_subscriber(track, sse::subscriber(ctx, i, room, slot, slow)),
                    on,
                ),
                TemplateMode::LongPoll => self.subscribers.spawn_on(
                    as_subscriber(
                        track,
                        longpoll::subscriber(ctx, i, room, slot, Pacing::Held, slow),
                    ),
                    on,
                ),
            },
        };
    }

    /// Stops every client task before any message was published (the run cannot go on).
    async fn abandon(&mut self) {
        self.ctx.stop.cancel();
        self.ctx.close.cancel();
        self.subscribers.shutdown().await;
        self.publishers.shutdown().await;
    }

    /// Waits for every client task after `close`; a task still running after a grace period is
    /// aborted (its figures are lost, which the caller sees as fewer subscribers).
    async fn collect(&mut self) -> (Vec<Inbox>, Vec<Recorder>) {
        let grace = Instant::now() + Duration::from_secs(5);
        let mut inboxes = Vec::with_capacity(self.subscribers.len());
        while let Ok(Some(joined)) =
            tokio::time::timeout_at(grace, self.subscribers.join_next()).await
        {
            if let Ok(inbox) = joined {
                inboxes.push(inbox);
            }
        }
        self.subscribers.shutdown().await;
        let mut recorders = Vec::with_capacity(self.publishers.len());
        while let Ok(Some(joined)) =
            tokio::time::timeout_at(grace, self.publishers.join_next()).await
        {
            if let Ok(recorder) = joined {
                recorders.push(recorder);
            }
        }
        self.publishers.shutdown().await;
        (inboxes, recorders)
    }
}
