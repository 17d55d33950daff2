//! Adding one transport's shards up into the figures of the whole run: pure arithmetic on
//! [`TransportMetrics`], checked by the caller to be the complete, non-overlapping shards of
//! one run.
//!
//! What is exact, and how:
//! - counts, bytes and CPU time are sums; histograms are added (HdrHistogram adds exactly);
//! - expected is every shard's published messages × every shard's connected subscribers, and
//!   lost is expected − delivered: each subscriber expected every message of the run, and a
//!   subscriber cannot deliver more distinct in-window messages than were published, so the
//!   difference equals the sum of each subscriber's own losses;
//! - with `[rooms]` the same holds room by room: expected is Σ over rooms of the messages every
//!   shard published into the room × the room's members that connected in every shard
//!   ([`RoomFigures::expected`]). Per second, lost is the shards' own per-second lost added up:
//!   each shard counted the other shards' messages as scheduled, which is what they published
//!   when every publisher kept its schedule (a complete run); the totals are exact either way;
//! - per second, latency, bytes and connections are aligned by wall-clock time (the seconds
//!   each shard started its measured phase, rounded to whole seconds: with a common start they
//!   coincide); published and lost are aligned by intended second, which every shard counts from
//!   the same first slot, whatever its clock.
//!
//! Not sums, said where they are used: the server's figures (every shard samples the same
//! process over the same window: the largest is kept; a fleet's shards that each targeted their
//! own instance are summed over the instances), the ramp's length and the measured
//! phase's (the longest), and the generator's lag (the worst shard's).

use std::time::Duration;

use crate::metrics::{
    FaultMark, GeneratorHealth, LagFigures, PackedHistogram, ProcessUsage, Recorder, RoomFigures,
    Second, ShardFigures, ShardSummary, Sharding, TimeSeries, TlsFigures, TransportMetrics,
    WireBytes, new_histogram,
};
use crate::report::summary::quantile;

/// One shard of one transport: where it was read from and what it measured.
#[derive(Debug, Clone, Copy)]
pub(super) struct Part<'a> {
    /// The shard's results directory, as given.
    pub(super) dir: &'a str,
    /// Its metrics.
    pub(super) metrics: &'a TransportMetrics,
    /// Its shard figures (from `metrics.sharding`).
    pub(super) figures: &'a ShardFigures,
    /// What it was pointed at, when the shards' targets differ.
    pub(super) target: Option<&'a str>,
}

/// The whole run from its shards, in index order.
pub(super) fn add(parts: &[Part<'_>]) -> TransportMetrics {
    let ms = || parts.iter().map(|p| p.metrics);
    let connected: u64 = parts
        .iter()
        .map(|p| u64::from(p.figures.subscribers_connected))
        .sum();
    let published: u64 = ms().map(|m| m.messages_published).sum();
    let rooms: Option<Vec<&RoomFigures>> = parts.iter().map(|p| p.figures.rooms.as_ref()).collect();
    let expected = match &rooms {
        Some(rooms) => RoomFigures::expected(rooms.iter().copied()),
        None => published * connected,
    };

    let mut clients = Recorder::default();
    for m in ms() {
        clients.merge(&m.clients);
    }
    let delivered = clients.counts.delivery.delivered;
    clients.counts.delivery.lost = expected.saturating_sub(delivered);

    let tls = ms().filter_map(|m| m.tls).reduce(|a, b| TlsFigures {
        plaintext: sum_bytes(a.plaintext, b.plaintext),
        handshakes: a.handshakes + b.handshakes,
        handshake_total: a.handshake_total + b.handshake_total,
    });
    let server_usage = server_usage(parts);
    let idle = ms().filter_map(|m| m.idle).reduce(|mut a, b| {
        a.merge(&b);
        a
    });
    let client_watch = ms()
        .filter_map(|m| m.client_watch)
        .reduce(|a, b| GeneratorHealth {
            span: a.span.max(b.span),
            cores: a.cores + b.cores,
            lag: match (a.lag, b.lag) {
                (Some(x), Some(y)) => Some(LagFigures {
                    p99_us: x.p99_us.max(y.p99_us),
                    max_us: x.max_us.max(y.max_us),
                    samples: x.samples + y.samples,
                }),
                (x, y) => x.or(y),
            },
        });
    let first = parts.first().map(|p| p.metrics);
    TransportMetrics {
        transport: first.map(|m| m.transport.clone()).unwrap_or_default(),
        subscribers: ms().map(|m| m.subscribers).sum(),
        publishers: ms().map(|m| m.publishers).sum(),
        payload_bytes: first.map_or(0, |m| m.payload_bytes),
        measured: ms().map(|m| m.measured).max().unwrap_or_default(),
        messages_published: published,
        messages_scheduled: ms().map(|m| m.messages_scheduled).sum(),
        deliveries_expected: expected,
        clients,
        wire: ms().map(|m| m.wire).fold(WireBytes::default(), sum_bytes),
        connect_wire: ms()
            .map(|m| m.connect_wire)
            .fold(WireBytes::default(), sum_bytes),
        payload_wire: ms()
            .map(|m| m.payload_wire)
            .fold(WireBytes::default(), sum_bytes),
        tls,
        client_usage: ProcessUsage {
            cpu: ms().map(|m| m.client_usage.cpu).sum(),
            peak_rss_kib: ms().map(|m| m.client_usage.peak_rss_kib).sum(),
        },
        server_usage,
        idle,
        connections: ms().map(|m| m.connections).sum(),
        connect_ramp: ms().map(|m| m.connect_ramp).max().unwrap_or_default(),
        client_watch,
        complete: ms().all(|m| m.complete),
        timeseries: add_series(
            parts,
            published_by_second(parts),
            match rooms {
                Some(_) => Lost::ShardsOwn,
                None => Lost::Against(connected),
            },
        ),
        sharding: Some(Sharding::Merged(parts.iter().map(summary).collect())),
        instances: None,
        faults: shard_faults(parts),
    }
}

/// Every shard's faults, in time order, each named by its shard (shards start together, so
/// their clocks from the measured phase's start agree).
fn shard_faults(parts: &[Part<'_>]) -> Vec<FaultMark> {
    let mut faults: Vec<FaultMark> = parts
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            p.metrics.faults.iter().map(move |f| FaultMark {
                at_s: f.at_s,
                what: format!("shard {i}: {}", f.what),
            })
        })
        .collect();
    faults.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    faults
}

fn sum_bytes(a: WireBytes, b: WireBytes) -> WireBytes {
    WireBytes {
        up: a.up + b.up,
        down: a.down + b.down,
    }
}

/// Messages published per intended second, over every shard.
fn published_by_second(parts: &[Part<'_>]) -> Vec<u64> {
    let mut published = Vec::new();
    for p in parts {
        for (i, s) in p.metrics.timeseries.seconds.iter().enumerate() {
            if published.len() <= i {
                published.resize(i + 1, 0);
            }
            published[i] += s.published;
        }
    }
    published
}

/// How a merged second's lost is counted.
#[derive(Debug, Clone, Copy)]
enum Lost {
    /// Every message expected by this many subscribers (a run without rooms).
    Against(u64),
    /// The shards' own per-second lost added up (a run with rooms; see the module doc).
    ShardsOwn,
}

/// The shards' seconds added up (see the module doc for the two alignments), with each
/// second's lost counted as `lost` says.
fn add_series(parts: &[Part<'_>], published: Vec<u64>, lost: Lost) -> TimeSeries {
    let with_seconds = || {
        parts
            .iter()
            .filter(|p| !p.metrics.timeseries.seconds.is_empty())
    };
    let Some(base) = with_seconds()
        .map(|p| p.metrics.timeseries.start_unix)
        .min()
    else {
        return TimeSeries::default();
    };
    let offset = |p: &Part<'_>| -> usize {
        let ahead = p.metrics.timeseries.start_unix.saturating_sub(base);
        // Whole seconds; a shard's window never starts a half second from the others' when
        // their clocks agree to better than that.
        ahead.as_secs_f64().round() as usize
    };
    let len = with_seconds()
        .map(|p| offset(p) + p.metrics.timeseries.seconds.len())
        .max()
        .unwrap_or(0)
        .max(published.len());
    let mut delivered = vec![0u64; len];
    let mut shards_lost = vec![0u64; len];
    for p in parts {
        for (sum, n) in delivered.iter_mut().zip(&p.figures.delivered_by_intended) {
            *sum += n;
        }
        // By intended second, as published: every shard counts them from the same first slot.
        for (sum, s) in shards_lost.iter_mut().zip(&p.metrics.timeseries.seconds) {
            *sum += s.lost;
        }
    }
    let mut seconds: Vec<(Duration, hdrhistogram::Histogram<u64>, Second)> = (0..len)
        .map(|i| {
            let published = published.get(i).copied().unwrap_or(0);
            (
                Duration::ZERO,
                new_histogram(),
                Second {
                    duration: Duration::ZERO,
                    latency_us: PackedHistogram::pack(&new_histogram()),
                    unclocked: 0,
                    published,
                    lost: match lost {
                        Lost::Against(connected) => {
                            (published * connected).saturating_sub(delivered[i])
                        }
                        Lost::ShardsOwn => shards_lost[i],
                    },
                    wire: WireBytes::default(),
                    connections: 0,
                },
            )
        })
        .collect();
    for p in with_seconds() {
        let k = offset(p);
        for (j, s) in p.metrics.timeseries.seconds.iter().enumerate() {
            let (duration, latency, sum) = &mut seconds[k + j];
            *duration = (*duration).max(s.duration);
            latency
                .add(s.latency_us.unpack())
                .expect("auto-resizing histograms of equal precision always merge");
            sum.unclocked += s.unclocked;
            sum.wire = sum_bytes(sum.wire, s.wire);
            sum.connections += s.connections;
        }
    }
    TimeSeries {
        start_unix: base,
        seconds: seconds
            .into_iter()
            .map(|(duration, latency, second)| Second {
                duration: if duration.is_zero() {
                    Duration::from_secs(1)
                } else {
                    duration
                },
                latency_us: PackedHistogram::pack(&latency),
                ..second
            })
            .collect(),
    }
}

/// What the merged run keeps of one shard, for its per-shard section.
/// The server's use: per target the largest any shard sampled (shards of one server sample the
/// same process), summed over the targets (a fleet's instances, one per shard group).
fn server_usage(parts: &[Part<'_>]) -> Option<ProcessUsage> {
    let mut by_target: Vec<(Option<&str>, ProcessUsage)> = Vec::new();
    for p in parts {
        let Some(u) = p.metrics.server_usage else {
            continue;
        };
        match by_target.iter_mut().find(|(t, _)| *t == p.target) {
            Some((_, kept)) if u.cpu > kept.cpu => *kept = u,
            Some(_) => {}
            None => by_target.push((p.target, u)),
        }
    }
    by_target
        .into_iter()
        .map(|(_, u)| u)
        .reduce(|a, b| ProcessUsage {
            cpu: a.cpu + b.cpu,
            peak_rss_kib: a.peak_rss_kib + b.peak_rss_kib,
        })
}

fn summary(p: &Part<'_>) -> ShardSummary {
    let m = p.metrics;
    let latency = &m.clients.latency_us;
    ShardSummary {
        figures: p.figures.clone(),
        dir: p.dir.to_owned(),
        messages_published: m.messages_published,
        deliveries: m.clients.counts.delivery.delivered,
        latency_samples: latency.len(),
        latency_p50_us: quantile(latency, 0.5),
        latency_p99_us: quantile(latency, 0.99),
        latency_max_us: quantile(latency, 1.0),
        client_cpu: m.client_usage.cpu,
        client_peak_rss_kib: m.client_usage.peak_rss_kib,
        measure_start_unix: m.timeseries.start_unix,
        complete: m.complete,
        target: p.target.map(str::to_owned),
    }
}
