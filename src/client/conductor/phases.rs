//! The conductor's phases after the launch, each handing the next what it found: the ramp-up
//! ([`Ramped`]), the timeline, the warmup and measured phase ([`Measured`]), the drain
//! ([`Drained`]).

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::Clients;
use crate::client::churn::Churn;
use crate::client::ctx::{Event, wait_until};
use crate::client::drops::DropTicks;
use crate::client::outcome::{ClientError, Phase, Ramp};
use crate::client::plan::LoadPlan;
use crate::client::sampler::Sampler;
use crate::client::schedule::Timeline;
use crate::client::shard::START_FILE_WAIT;
use crate::client::watch::LagWatch;
use crate::metrics::{FailureCounts, LagFigures, WireBytes};

/// What the ramp-up ended with.
pub(super) struct Ramped {
    pub ramp: Ramp,
    /// Subscribers that connected: the ones the drain waits for.
    pub subscribers_ok: u32,
    /// Subscribers that already stopped receiving during the ramp-up.
    pub finished: u32,
    /// The bytes of the ramp-up (handshakes), below and above TLS.
    pub connect_wire: WireBytes,
    pub connect_above: WireBytes,
}

/// What the warmup and the measured phase ended with.
pub(super) struct Measured {
    pub timeline: Timeline,
    /// How long the measured phase lasted (shorter when interrupted).
    pub measured: Duration,
    /// Neither interrupted nor cut short.
    pub complete: bool,
    pub sampler: Sampler,
    /// The wire's readings where the measured phase's bytes count from.
    pub wire_start: WireBytes,
    pub above_start: WireBytes,
    /// How late the client threads run their tasks, from the measured phase to the drain's end.
    pub lag_watch: Option<LagWatch>,
}

/// What the drain ended with: the run's bytes and lag, and its seconds.
pub(super) struct Drained {
    pub measured: Measured,
    pub wire: WireBytes,
    pub above: WireBytes,
    pub lag: Option<LagFigures>,
}

/// Counts the connections as they report until all have (or the run is cancelled). Fails, with
/// every task stopped, if no subscriber connected.
pub(super) async fn ramp(
    clients: &mut Clients,
    cancel: &CancellationToken,
    on_phase: &mut dyn FnMut(Phase),
) -> Result<Ramped, ClientError> {
    let (mut ok, mut failed, mut first_error) = (0u32, 0u32, None);
    let mut kinds = FailureCounts::default();
    let (mut subscribers_ok, mut finished) = (0u32, 0u32);
    while ok + failed < clients.connections {
        let event = tokio::select! {
            _ = cancel.cancelled() => break,
            e = clients.events.recv() => e,
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
    let ramped = Ramped {
        ramp: Ramp {
            connected: ok,
            took: clients.ramp_start.elapsed(),
        },
        subscribers_ok,
        finished,
        connect_wire: clients.ctx.meter.read(),
        connect_above: clients.ctx.above_tls.read(),
    };
    if subscribers_ok == 0 && !cancel.is_cancelled() {
        clients.abandon().await;
        return Err(ClientError::NoneConnected {
            addr: clients.ctx.target.addr,
            failed,
            kinds,
            first_error: first_error.unwrap_or_else(|| "no attempt finished".into()),
        });
    }
    Ok(ramped)
}

/// The run's timeline, and the wall-clock time of its start: from the common start
/// (`--start-at`) when there is one, else from just after the ramp-up (its epoch the ramp's
/// start).
pub(super) async fn timeline(
    plan: &LoadPlan,
    ramp_start: Instant,
    cancel: &CancellationToken,
) -> Result<(Timeline, SystemTime), ClientError> {
    let (epoch, publish_start, start_wall) = match start(plan, cancel).await? {
        Some((at, wall)) => (at, at, wall),
        None => (
            ramp_start,
            Instant::now() + Duration::from_millis(10),
            SystemTime::now() + Duration::from_millis(10),
        ),
    };
    let measure_start = publish_start + plan.warmup;
    let timeline = Timeline {
        epoch,
        publish_start,
        measure_start,
        measure_end: measure_start + plan.duration,
        own: plan.own_publishers(),
    };
    Ok((timeline, start_wall))
}

/// Publishes the timeline, waits out the warmup, then runs the measured phase: the sampler's
/// ticks and churn's closes until its end. Ends with the subscribers told it is over.
pub(super) async fn measure(
    clients: &Clients,
    ramped: &Ramped,
    timeline: Timeline,
    cancel: &CancellationToken,
    on_phase: &mut dyn FnMut(Phase),
) -> Measured {
    let (ctx, plan) = (&clients.ctx, &clients.ctx.plan);
    if let Some(window) = &ctx.window {
        window.set_recipients(ramped.subscribers_ok);
    }
    ctx.timeline.send_replace(Some(timeline));
    if !plan.warmup.is_zero() {
        on_phase(Phase::Warmup);
    }
    let measure_start = timeline.measure_start;
    let mut complete = wait_until(measure_start, cancel).await;
    // With no warmup the first publish slot is the window's first instant and would race this
    // reading; nothing is in flight before the timeline is fixed, so the ramp's end is exact.
    let (wire_start, above_start) = if plan.warmup.is_zero() {
        (ramped.connect_wire, ramped.connect_above)
    } else {
        (ctx.meter.read(), ctx.above_tls.read())
    };
    let mut sampler = Sampler::new(measure_start, wire_start, u64::from(ramped.subscribers_ok));
    on_phase(Phase::Measuring);
    // How late the client threads run their tasks, from here to `Phase::Measured`: the span the
    // caller samples the generator's CPU over. Without a timer (the OS refused one), no figures.
    let lag_watch = LagWatch::start(clients.workers.handles()).ok();
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
    // `[faults] drop`: its ticks pick from a seed of their own.
    let mut drops = DropTicks::new(
        plan.shape.drop,
        plan.subscribing(),
        &timeline,
        plan.shape.seed
            ^ u64::from_be_bytes(*b"drops\0\0\0")
            ^ u64::from(plan.shard.as_ref().map_or(0, |s| s.index)),
    );
    complete = complete && {
        let end = timeline.measure_end;
        loop {
            let close_at = churn.as_ref().and_then(Churn::next);
            let drop_at = drops.as_ref().and_then(DropTicks::next);
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break false,
                _ = sleep_until(sampler.next) => on_phase(Phase::Tick(sampler.tick(ctx))),
                _ = sleep_until(drop_at.unwrap_or(end)), if drop_at.is_some() => {
                    if let (Some(drops), Some(sockets)) = (drops.as_mut(), ctx.sockets.as_ref()) {
                        let reset = drops.tick(sockets);
                        on_phase(Phase::Dropped(reset));
                    }
                }
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
    Measured {
        timeline,
        measured,
        complete,
        sampler,
        wire_start,
        above_start,
        lag_watch,
    }
}

/// The drain: every connected subscriber reports Finished when it has all it expects, at the
/// deadline, or on error; receiving stops everywhere at the deadline, and the rest get a second
/// to notice before the bytes are read.
pub(super) async fn drain(
    clients: &mut Clients,
    ramped: &Ramped,
    mut measured: Measured,
    cancel: &CancellationToken,
    on_phase: &mut dyn FnMut(Phase),
) -> Drained {
    on_phase(Phase::Draining);
    let ctx = clients.ctx.clone();
    let sampler = &mut measured.sampler;
    let (expected, mut finished) = (ramped.subscribers_ok, ramped.finished);
    let deadline = measured.timeline.measure_end + ctx.plan.drain;
    while finished < expected {
        tokio::select! {
            e = clients.events.recv() => match e {
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
    let settle = Instant::now() + Duration::from_secs(1);
    while finished < expected {
        tokio::select! {
            e = clients.events.recv() => match e {
                Some(Event::Finished) => finished += 1,
                Some(_) => {}
                None => break,
            },
            _ = sleep_until(settle) => break,
            _ = sleep_until(sampler.next) => on_phase(Phase::Tick(sampler.tick(&ctx))),
        }
    }
    let wire_end = ctx.meter.read();
    let wire = wire_end.since(measured.wire_start);
    let above = ctx.above_tls.read().since(measured.above_start);
    // The last second ends at the same reading, so the seconds' bytes add up to `wire` exactly;
    // a live view gets it like any other (the last row of `timeseries.csv`).
    let last = sampler.tick_at(&ctx, wire_end);
    on_phase(Phase::Tick(last));
    on_phase(Phase::Measured);
    // Before the workers stop: their tickers' samples go with them.
    let lag = match measured.lag_watch.take() {
        Some(watch) => watch.finish().await,
        None => None,
    };
    measured.complete = measured.complete && !cancel.is_cancelled();
    Drained {
        measured,
        wire,
        above,
        lag,
    }
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
