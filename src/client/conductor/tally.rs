//! The conductor's last step: stop and collect every client task, and add up what the phases
//! found and the tasks measured into the [`ClientOutcome`].

use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

use super::Clients;
use super::phases::{Drained, Ramped};
use crate::client::inbox::Inbox;
use crate::client::outcome::ClientOutcome;
use crate::client::schedule::{Schedule, Timeline};
use crate::metrics::timeseries::Sample;
use crate::metrics::{
    IdleCost, PackedHistogram, Recorder, RoomFigures, ShardFigures, TimeSeries, WireBytes,
    new_histogram,
};
use crate::protocol::RoomId;

/// Closes every connection, collects the tasks' figures and adds everything up.
pub(super) async fn outcome(
    mut clients: Clients,
    ramped: Ramped,
    drained: Drained,
    idle: Option<IdleCost>,
    start_wall: SystemTime,
) -> ClientOutcome {
    let ctx = clients.ctx.clone();
    ctx.close.cancel();
    let (inboxes, recorders) = clients.collect().await;
    let quic_udp = ctx.h3.settle(&ctx.meter).await;
    let Drained {
        measured,
        wire,
        above,
        lag,
    } = drained;
    let mut samples = measured.sampler.samples;
    // Deliveries recorded after the last tick (a batch being handled at the stop) join the last second.
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
    // A window has no schedule: what it let through is what was asked for.
    let messages_scheduled = match ctx.window {
        Some(_) => messages_published,
        None => scheduled(&clients, measured.timeline, measured.measured),
    };
    // The whole run's latency is the sum of its seconds: no subscriber keeps a histogram.
    let mut recorder = Recorder {
        latency_us: sum_seconds(&samples),
        connect_us: ctx.connect_us.take(),
        reconnect_us: ctx.reconnect_us.take(),
        generator_delay_us: ctx.intervals.generator_delay(),
        publish_lag_us: ctx.publish_lag_us.take(),
        replay_us: ctx.intervals.outages.replay(),
        recovery_us: ctx.intervals.outages.recovery(),
        ..Recorder::default()
    };
    let Connected {
        connections: subscribers_connected,
        subscribers: expecting,
        expected: deliveries_expected,
        by_room: connected_by_room,
    } = add_inboxes(&clients, inboxes, &mut recorder);
    for r in &recorders {
        recorder.merge(r);
    }
    recorder.counts.dropped = ctx.sockets.as_ref().map_or(0, |s| s.dropped());
    let payload = ctx.plan.payload_bytes as u64;
    let intended = ctx.intervals.by_intended();
    let timeseries = TimeSeries::new(
        measured.sampler.start_unix,
        samples,
        &intended,
        u64::from(subscribers_connected),
    );
    let shard = ctx.plan.shard.clone().map(|slice| ShardFigures {
        slice,
        start_unix: start_wall.duration_since(UNIX_EPOCH).unwrap_or_default(),
        // What the merge multiplies every shard's messages by: idle connections expect none.
        subscribers_connected: expecting,
        others_scheduled: clients.others_total,
        delivered_by_intended: intended.iter().map(|s| s.delivered).collect(),
        sources: ctx.target.sources.used(),
        rooms: ctx.plan.rooms.map(|_| RoomFigures {
            published: (0..ctx.plan.room_count())
                .map(|r| ctx.tally.in_room(RoomId(r)))
                .collect(),
            connected: connected_by_room.clone(),
        }),
    });
    ClientOutcome {
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
        measured: measured.measured,
        ramp: ramped.ramp,
        wire,
        connect_wire: ramped.connect_wire,
        idle,
        // QUIC's own plaintext is not counted: an HTTP/3 run's split is payload against the rest.
        wire_above_tls: (ctx.target.tls.is_some() && !ctx.target.http3).then_some(above),
        quic_udp,
        tls_handshakes: ctx.handshakes.read(),
        lag,
        window: ctx.window.as_ref().map(|w| w.figures()),
        complete: measured.complete,
    }
}

/// The in-window slots of this process's publishers over the measured phase as it ran (an
/// interrupted run asked for fewer).
fn scheduled(clients: &Clients, timeline: Timeline, measured: std::time::Duration) -> u64 {
    let measured_window = Timeline {
        measure_end: timeline.measure_start + measured,
        ..timeline
    };
    let own = clients.ctx.plan.own_publishers();
    let cadence = clients.ctx.plan.cadence();
    (own.first..own.end)
        .map(|p| Schedule::new(p, &cadence, &measured_window).in_window_slots(&measured_window))
        .sum()
}

/// Adds every subscriber's counts into `recorder`; returns how many had connected and the
/// deliveries they were expected to make. Only a connected subscriber was expected to receive
/// anything: every message this process published into its room, and (sharded) the other
/// shards' as scheduled.
fn add_inboxes(clients: &Clients, inboxes: Vec<Inbox>, recorder: &mut Recorder) -> Connected {
    let (mut connected, mut subscribed, mut expected_total) = (0, 0, 0);
    let mut by_room = vec![0u64; clients.ctx.plan.room_count() as usize];
    // Idle connections are in a room nobody publishes into: they expect nothing, from this
    // process or another shard, and are not among the subscribers a merge multiplies by.
    let idle_room = clients.ctx.plan.idle_room();
    for inbox in inboxes {
        let expected = match (inbox.connected, inbox.room() == idle_room) {
            (false, _) => 0,
            (true, true) => {
                connected += 1;
                0
            }
            (true, false) => {
                connected += 1;
                subscribed += 1;
                let room = inbox.room();
                if let Some(n) = by_room.get_mut(room.0 as usize) {
                    *n += 1;
                }
                clients.ctx.tally.in_room(room) + clients.ctx.tally.others_in(room)
            }
        };
        expected_total += expected;
        recorder.counts.merge(&inbox.finish(expected));
    }
    Connected {
        connections: connected,
        subscribers: subscribed,
        expected: expected_total,
        by_room,
    }
}

/// What the subscriber connections add up to at the end.
struct Connected {
    /// Connected subscriber connections, idle ones included.
    connections: u32,
    /// Connected subscribers that expect messages (idle connections do not).
    subscribers: u32,
    /// Deliveries they expected.
    expected: u64,
    /// Connected subscribers that expect messages, per room the publishers publish into.
    by_room: Vec<u64>,
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
