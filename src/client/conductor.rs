//! The conductor: one transport's load from ramp-up to drain. It spawns one task per simulated
//! client (subscribers, and the HTTP publishers' own connections) at its connect slot, counts the
//! connections as they report, fixes the timeline, runs the 1 Hz [`Sampler`] through the measured
//! phase and the drain, then stops and collects every task and adds up what they measured.
//!
//! In a sharded run (the plan holds a slice) the timeline starts at the common start instead of
//! right after the ramp-up, its epoch is that start (so every shard's envelope times count from
//! the same first slot), and subscribers also expect the other shards' scheduled messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::churn::Churn;
use super::conn::HandshakeMeter;
use super::ctx::{Ctx, Event, wait_until};
use super::inbox::Inbox;
use super::longpoll::{self, Pacing};
use super::outcome::{ClientError, ClientOutcome, Phase, Ramp};
use super::plan::{LoadPlan, Target};
use super::publishing::PublishTally;
use super::sampler::Sampler;
use super::schedule::{Schedule, Timeline, window_slots_by_second};
use super::shard::START_FILE_WAIT;
use super::signals::Signals;
use super::watch::LagWatch;
use super::window::Window;
use super::workers::Workers;
use super::{http, idle, raw, socketio, sse, ws};
use crate::metrics::timeseries::Sample;
use crate::metrics::{
    FailureCounts, IntervalRecorder, PackedHistogram, Recorder, ShardFigures, SharedHistogram,
    TimeSeries, WireBytes, new_histogram,
};
use crate::scenario::{Nchan, NchanMode, Transport, WsClient};
use crate::wire::WireMeter;

/// Runs one transport's load from ramp-up to drain. `cancel` cuts it short (results are partial).
pub async fn drive(
    plan: &LoadPlan,
    target: &Target,
    cancel: &CancellationToken,
    on_phase: &mut dyn FnMut(Phase),
) -> Result<ClientOutcome, ClientError> {
    // Every subscriber receives every message (and publishers send theirs); saturation mode
    // takes what the cores give.
    let deliveries_per_s = match plan.shape.window {
        Some(_) => f64::MAX,
        None => plan.rate * f64::from(plan.subscribers + plan.publishers),
    };
    let workers = Workers::for_load(deliveries_per_s).map_err(ClientError::Workers)?;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let seconds = usize::try_from(plan.duration.as_nanos().div_ceil(1_000_000_000)).unwrap_or(0);
    let others = others_scheduled(plan, seconds);
    let others_total = others.iter().sum();
    let ctx = Arc::new(Ctx {
        plan: plan.clone(),
        target: target.clone(),
        meter: Arc::new(WireMeter::default()),
        intervals: Arc::new(IntervalRecorder::new(seconds).expect_others(others)),
        connect_us: SharedHistogram::default(),
        reconnect_us: SharedHistogram::default(),
        above_tls: Arc::new(WireMeter::default()),
        handshakes: HandshakeMeter::default(),
        dialed: AtomicU64::new(0),
        timeline: watch::Sender::new(None),
        signals: Signals::new(plan.subscribing() as usize),
        tally: PublishTally::new(plan.publishers, others_total, plan.room_count()),
        members: (0..plan.room_count()).map(|_| AtomicU64::new(0)).collect(),
        window: plan
            .shape
            .window
            .map(|n| Arc::new(Window::new(n, plan.drain))),
        events: events_tx,
        measure_over: AtomicBool::new(false),
        stop: cancel.child_token(),
        close: CancellationToken::new(),
    });
    tokio::spawn(ctx.clone().relay());
    let mut subscribers: JoinSet<Inbox> = JoinSet::new();
    let mut publishers: JoinSet<Recorder> = JoinSet::new();
    let ramp_start = Instant::now();
    let per_connection = Duration::from_secs_f64(1.0 / f64::from(plan.connect_rate));
    // The subscribers, then the idle connections (`[clients] idle`) in their own room.
    for i in 0..plan.subscribing() {
        let slot = ramp_start + per_connection * i;
        let ctx = ctx.clone();
        let slow = (plan.subscribers - plan.slow_readers..plan.subscribers).contains(&i);
        let room = plan.connection_room(i);
        match target.transport {
            Transport::Ws {
                ping_interval,
                client,
            } => subscribers.spawn_on(
                ws::subscriber(ctx, i, room, slot, ping_interval, client, slow),
                workers.handle(i as usize),
            ),
            Transport::LongPoll { .. } => subscribers.spawn_on(
                longpoll::subscriber(ctx, i, room, slot, Pacing::Held, slow),
                workers.handle(i as usize),
            ),
            Transport::ShortPoll { interval } => subscribers.spawn_on(
                longpoll::subscriber(ctx, i, room, slot, Pacing::Every(interval), slow),
                workers.handle(i as usize),
            ),
            Transport::Sse => subscribers.spawn_on(
                sse::subscriber(ctx, i, room, slot, slow),
                workers.handle(i as usize),
            ),
            Transport::Raw => subscribers.spawn_on(
                raw::subscriber(ctx, i, room, slot, slow),
                workers.handle(i as usize),
            ),
            Transport::SocketIo(_) => subscribers.spawn_on(
                socketio::subscriber(ctx, i, room, slot, slow),
                workers.handle(i as usize),
            ),
            Transport::Nchan(Nchan { mode, .. }) => match mode {
                NchanMode::LongPoll => subscribers.spawn_on(
                    longpoll::subscriber(ctx, i, room, slot, Pacing::Held, slow),
                    workers.handle(i as usize),
                ),
                NchanMode::Sse => subscribers.spawn_on(
                    sse::subscriber(ctx, i, room, slot, slow),
                    workers.handle(i as usize),
                ),
                NchanMode::Ws => subscribers.spawn_on(
                    ws::subscriber(ctx, i, room, slot, None, WsClient::Wsbench, slow),
                    workers.handle(i as usize),
                ),
            },
        };
    }
    let mut connections = plan.subscribing();
    // Over HTTP every publisher has its own keep-alive connection for `POST /publish`; on
    // WebSocket, raw and Socket.IO a publisher sends on its subscriber connection (it emits).
    if !target.publishes_on_subscriber() {
        for p in 0..plan.publishers {
            let slot = ramp_start + per_connection * p;
            publishers.spawn_on(
                http::publisher(ctx.clone(), p, slot),
                workers.handle(p as usize),
            );
        }
        connections += plan.publishers;
    }
    on_phase(Phase::Connecting {
        clients: connections,
    });

    let (mut ok, mut failed, mut first_error) = (0u32, 0u32, None);
    let mut kinds = FailureCounts::default();
    let mut subscribers_ok = 0u32;
    let mut finished = 0u32;
    while ok + failed < connections {
        let event = tokio::select! {
            _ = cancel.cancelled() => break,
            e = events.recv() => e,
        };
        match event {
            Some(Event::Connected { subscriber, result }) => {
                match result {
                    Ok(()) => {
                        ok += 1;
                        subscribers_ok += u32::from(subscriber);
                    }
                    Err(e) => {
                        failed += 1;
                        kinds.add(e.kind);
                        first_error.get_or_insert(e.message);
                    }
                }
                on_phase(Phase::ConnectProgress { ok, failed });
            }
            Some(Event::Finished) => finished += 1,
            None => break,
        }
    }
    on_phase(Phase::Connected { ok, failed });
    let ramp = Ramp {
        connected: ok,
        took: ramp_start.elapsed(),
    };
    let connect_wire = ctx.meter.read();
    let connect_above = ctx.above_tls.read();
    if subscribers_ok == 0 && !cancel.is_cancelled() {
        abandon(&ctx, subscribers, publishers).await;
        return Err(ClientError::NoneConnected {
            addr: target.addr,
            failed,
            kinds,
            first_error: first_error.unwrap_or_else(|| "no attempt finished".into()),
        });
    }

    let idle = match plan.shape.idle_phase {
        Some(span) => Some(idle::phase(&ctx, span, ok, cancel, on_phase).await),
        None => None,
    };
    let (epoch, publish_start, start_wall) = match start(plan, cancel).await {
        Ok(Some((at, wall))) => (at, at, wall),
        Ok(None) => {
            let at = Instant::now() + Duration::from_millis(10);
            (
                ramp_start,
                at,
                SystemTime::now() + Duration::from_millis(10),
            )
        }
        Err(e) => {
            abandon(&ctx, subscribers, publishers).await;
            return Err(e);
        }
    };
    let measure_start = publish_start + plan.warmup;
    let timeline = Timeline {
        epoch,
        publish_start,
        measure_start,
        measure_end: measure_start + plan.duration,
        own: plan.own_publishers(),
    };
    if let Some(window) = &ctx.window {
        window.set_recipients(subscribers_ok);
    }
    ctx.timeline.send_replace(Some(timeline));
    if !plan.warmup.is_zero() {
        on_phase(Phase::Warmup);
    }
    let mut complete = wait_until(measure_start, cancel).await;
    // With no warmup the first publish slot is the window's first instant and would race this
    // reading; nothing is in flight before the timeline is fixed, so the ramp's end is exact.
    let (wire_start, above_start) = if plan.warmup.is_zero() {
        (connect_wire, connect_above)
    } else {
        (ctx.meter.read(), ctx.above_tls.read())
    };
    let mut sampler = Sampler::new(measure_start, wire_start, u64::from(subscribers_ok));
    on_phase(Phase::Measuring);
    // How late the client threads run their tasks, from here to `Phase::Measured`: the span the
    // caller samples the generator's CPU over. Without a timer (the OS refused one), no figures.
    let lag_watch = LagWatch::start(workers.handles()).ok();
    // Churn: connections closed on purpose through the measured phase, each seeded apart from
    // the publishers' draws.
    let mut churn = Churn::new(
        plan.shape.churn,
        plan.subscribers,
        &timeline,
        plan.shape.seed
            ^ u64::from_be_bytes(*b"churn\0\0\0")
            ^ u64::from(plan.shard.as_ref().map_or(0, |s| s.index)),
    );
    complete = complete && {
        let end = timeline.measure_end;
        loop {
            let close_at = churn.as_ref().and_then(Churn::next);
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break false,
                _ = sleep_until(sampler.next) => on_phase(Phase::Tick(sampler.tick(&ctx))),
                _ = sleep_until(close_at.unwrap_or(end)), if close_at.is_some() => {
                    if let Some(churn) = churn.as_mut() {
                        churn.close_one(&ctx.signals);
                    }
                }
                _ = sleep_until(end) => break true,
            }
        }
    };
    let measured = Instant::now().min(timeline.measure_end) - measure_start.min(Instant::now());
    // Every close churn asked for is made by now: subscribers that have every message may go
    // (without churn they went as soon as they had it, see `Ctx::catch_up`).
    ctx.measure_over.store(true, Ordering::Release);
    if plan.shape.churn > 0 || plan.shape.idle > 0 {
        ctx.signals.raise();
    }
    on_phase(Phase::Draining);

    // Drain: every connected subscriber reports Finished when it has all it expects, at the
    // deadline, or on error. Stop receiving everywhere at the deadline.
    let deadline = timeline.measure_end + plan.drain;
    while finished < subscribers_ok {
        tokio::select! {
            e = events.recv() => match e {
                Some(Event::Finished) => finished += 1,
                Some(Event::Connected { .. }) => {}
                None => break,
            },
            _ = ctx.stop.cancelled() => break,
            _ = sleep_until(deadline) => {
                ctx.stop.cancel();
            }
            _ = sleep_until(sampler.next) => on_phase(Phase::Tick(sampler.tick(&ctx))),
        }
    }
    ctx.stop.cancel();
    // Let the remaining subscribers notice the stop before the bytes are read.
    let settle = Instant::now() + Duration::from_secs(1);
    while finished < subscribers_ok {
        tokio::select! {
            e = events.recv() => match e {
                Some(Event::Finished) => finished += 1,
                Some(_) => {}
                None => break,
            },
            _ = sleep_until(settle) => break,
            _ = sleep_until(sampler.next) => on_phase(Phase::Tick(sampler.tick(&ctx))),
        }
    }
    let wire_end = ctx.meter.read();
    let wire = wire_end.since(wire_start);
    let above = ctx.above_tls.read().since(above_start);
    // The last second ends at the same reading, so the seconds' bytes add up to `wire` exactly.
    sampler.tick_at(&ctx, wire_end);
    on_phase(Phase::Measured);
    // Before the workers stop: their tickers' samples go with them.
    let lag = match lag_watch {
        Some(watch) => watch.finish().await,
        None => None,
    };
    complete = complete && !cancel.is_cancelled();

    ctx.close.cancel();
    let (inboxes, recorders) = collect(subscribers, publishers).await;
    // Deliveries recorded after the last tick (a batch being handled at the stop) join the last second.
    let mut samples = sampler.samples;
    if let Some(last) = samples.last_mut() {
        let (late, late_unclocked) = ctx.intervals.take_latency();
        last.unclocked += late_unclocked;
        if !late.is_empty() {
            let mut merged = last.latency_us.unpack();
            merged
                .add(late)
                .expect("auto-resizing histograms of equal precision always merge");
            last.latency_us = PackedHistogram::pack(&merged);
        }
    }
    let messages_published = ctx.tally.in_window();
    // The slots of the window as measured: an interrupted run asked for fewer.
    let measured_window = Timeline {
        measure_end: measure_start + measured,
        ..timeline
    };
    let own = plan.own_publishers();
    let cadence = plan.cadence();
    // A window has no schedule: what it let through is what was asked for.
    let messages_scheduled = match ctx.window {
        Some(_) => messages_published,
        None => (own.first..own.end)
            .map(|p| Schedule::new(p, &cadence, &measured_window).in_window_slots(&measured_window))
            .sum(),
    };
    // The whole run's latency is the sum of its seconds: no subscriber keeps a histogram.
    let mut recorder = Recorder {
        latency_us: sum_seconds(&samples),
        connect_us: ctx.connect_us.take(),
        reconnect_us: ctx.reconnect_us.take(),
        ..Recorder::default()
    };
    let (mut subscribers_connected, mut deliveries_expected) = (0, 0);
    for inbox in inboxes {
        // Only a connected subscriber was expected to receive anything: every message this
        // process published into its room, and (sharded) the other shards' as scheduled.
        let expected = if inbox.connected {
            subscribers_connected += 1;
            ctx.tally.in_room(inbox.room()) + others_total
        } else {
            0
        };
        deliveries_expected += expected;
        recorder.counts.merge(&inbox.finish(expected));
    }
    for r in &recorders {
        recorder.merge(r);
    }
    let payload = plan.payload_bytes as u64;
    let intended = ctx.intervals.by_intended();
    let timeseries = TimeSeries::new(
        sampler.start_unix,
        samples,
        &intended,
        u64::from(subscribers_connected),
    );
    let shard = plan.shard.clone().map(|slice| ShardFigures {
        slice,
        start_unix: start_wall.duration_since(UNIX_EPOCH).unwrap_or_default(),
        subscribers_connected,
        others_scheduled: others_total,
        delivered_by_intended: intended.iter().map(|s| s.delivered).collect(),
        sources: target.sources.used(),
    });
    Ok(ClientOutcome {
        shard,
        timeseries,
        payload_wire: WireBytes {
            up: messages_published * payload,
            down: recorder.counts.delivery.delivered * payload,
        },
        recorder,
        subscribers_connected,
        deliveries_expected,
        messages_published,
        messages_scheduled,
        measured,
        ramp,
        wire,
        connect_wire,
        idle,
        wire_above_tls: target.tls.is_some().then_some(above),
        tls_handshakes: ctx.handshakes.read(),
        lag,
        window: ctx.window.as_ref().map(|w| w.figures()),
        complete,
    })
}

/// In a sharded run, the other shards' publishers' in-window slots by second of the measured
/// phase (empty otherwise): every subscriber here expects them. Slots are offsets from the first
/// one, so a timeline made up now counts them as the real one will.
fn others_scheduled(plan: &LoadPlan, seconds: usize) -> Vec<u64> {
    let Some(slice) = &plan.shard else {
        return Vec::new();
    };
    let now = Instant::now();
    let timeline = Timeline {
        epoch: now,
        publish_start: now,
        measure_start: now + plan.warmup,
        measure_end: now + plan.warmup + plan.duration,
        own: plan.own_publishers(),
    };
    let others = (0..slice.publishers_total).filter(|p| !slice.publishers.contains(p));
    window_slots_by_second(others, &plan.cadence(), &timeline, seconds)
}

/// The common start (`--start-at`) as an instant on this process's clock, with its wall-clock
/// time; `None` without one. A start already past is taken if the warmup absorbs the delay (the
/// overdue warmup slots go out at once, as late messages); beyond that the run is refused.
async fn start(
    plan: &LoadPlan,
    cancel: &CancellationToken,
) -> Result<Option<(Instant, SystemTime)>, ClientError> {
    let Some(start_at) = &plan.start_at else {
        return Ok(None);
    };
    let wall = start_at.resolve(START_FILE_WAIT, cancel).await?;
    let (now, now_wall) = (Instant::now(), SystemTime::now());
    let at = match wall.duration_since(now_wall) {
        Ok(ahead) => now + ahead,
        Err(past) => {
            let late = past.duration();
            if late > plan.warmup {
                return Err(ClientError::LateForStart {
                    late,
                    warmup: plan.warmup,
                });
            }
            now.checked_sub(late).unwrap_or(now)
        }
    };
    Ok(Some((at, wall)))
}

/// Stops every client task before any message was published (the run cannot go on).
async fn abandon(ctx: &Ctx, mut subscribers: JoinSet<Inbox>, mut publishers: JoinSet<Recorder>) {
    ctx.stop.cancel();
    ctx.close.cancel();
    subscribers.shutdown().await;
    publishers.shutdown().await;
}

/// The whole run's latency: every second's deliveries added up.
fn sum_seconds(samples: &[Sample]) -> Histogram<u64> {
    let mut sum = new_histogram();
    for sample in samples {
        sum.add(sample.latency_us.unpack())
            .expect("auto-resizing histograms of equal precision always merge");
    }
    sum
}

/// Waits for every client task after `close`; a task still running after a grace period is
/// aborted (its figures are lost, which the caller sees as fewer subscribers).
async fn collect(
    mut subscribers: JoinSet<Inbox>,
    mut publishers: JoinSet<Recorder>,
) -> (Vec<Inbox>, Vec<Recorder>) {
    let grace = Instant::now() + Duration::from_secs(5);
    let mut inboxes = Vec::with_capacity(subscribers.len());
    while let Ok(Some(joined)) = tokio::time::timeout_at(grace, subscribers.join_next()).await {
        if let Ok(inbox) = joined {
            inboxes.push(inbox);
        }
    }
    subscribers.shutdown().await;
    let mut recorders = Vec::with_capacity(publishers.len());
    while let Ok(Some(joined)) = tokio::time::timeout_at(grace, publishers.join_next()).await {
        if let Ok(recorder) = joined {
            recorders.push(recorder);
        }
    }
    publishers.shutdown().await;
    (inboxes, recorders)
}
