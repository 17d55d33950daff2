//! The `sharding` entry of a transport in `metrics.json`: a shard's part of a sharded run, or
//! the shards a merged run was added up from (serde mirrors of [`crate::metrics::shard`]).
//!
//! Kept apart from `metrics_json` only for size; the same rules hold: every struct destructures
//! what it copies, durations are whole nanoseconds.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::{RoomFigures, ShardFigures, ShardSummary, Sharding, Slice};

/// [`Sharding`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(super) enum StoredSharding {
    /// [`Sharding::Part`].
    Part(StoredFigures),
    /// [`Sharding::Merged`].
    Merged(Vec<StoredSummary>),
}

/// [`ShardFigures`], its slice inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoredFigures {
    index: u32,
    count: u32,
    subscribers: [u32; 2],
    subscribers_total: u32,
    publishers: [u32; 2],
    publishers_total: u32,
    start_unix_ns: u64,
    subscribers_connected: u32,
    others_scheduled: u64,
    delivered_by_intended: Vec<u64>,
    /// `address`, connections made from it.
    sources: Vec<(IpAddr, u64)>,
    /// With `[rooms]`: per room, this shard's published and connected (absent without rooms,
    /// and in shards written before rooms could be sharded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rooms: Option<StoredRooms>,
}

/// [`RoomFigures`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoredRooms {
    published: Vec<u64>,
    connected: Vec<u64>,
}

/// [`ShardSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StoredSummary {
    figures: StoredFigures,
    dir: String,
    messages_published: u64,
    deliveries: u64,
    latency_samples: u64,
    latency_p50_us: Option<u64>,
    latency_p99_us: Option<u64>,
    latency_max_us: Option<u64>,
    client_cpu_ns: u64,
    client_peak_rss_kib: u64,
    measure_start_unix_ns: u64,
    complete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl From<&Sharding> for StoredSharding {
    fn from(s: &Sharding) -> Self {
        match s {
            Sharding::Part(f) => StoredSharding::Part(f.into()),
            Sharding::Merged(shards) => {
                StoredSharding::Merged(shards.iter().map(Into::into).collect())
            }
        }
    }
}

impl From<StoredSharding> for Sharding {
    fn from(s: StoredSharding) -> Self {
        match s {
            StoredSharding::Part(f) => Sharding::Part(f.into()),
            StoredSharding::Merged(shards) => {
                Sharding::Merged(shards.into_iter().map(Into::into).collect())
            }
        }
    }
}

impl From<&ShardFigures> for StoredFigures {
    fn from(f: &ShardFigures) -> Self {
        let ShardFigures {
            slice:
                Slice {
                    index,
                    count,
                    subscribers,
                    subscribers_total,
                    publishers,
                    publishers_total,
                },
            start_unix,
            subscribers_connected,
            others_scheduled,
            delivered_by_intended,
            sources,
            rooms,
        } = f;
        StoredFigures {
            index: *index,
            count: *count,
            subscribers: [subscribers.start, subscribers.end],
            subscribers_total: *subscribers_total,
            publishers: [publishers.start, publishers.end],
            publishers_total: *publishers_total,
            start_unix_ns: nanos(*start_unix),
            subscribers_connected: *subscribers_connected,
            others_scheduled: *others_scheduled,
            delivered_by_intended: delivered_by_intended.clone(),
            sources: sources.clone(),
            rooms: rooms.as_ref().map(|r| {
                let RoomFigures {
                    published,
                    connected,
                } = r;
                StoredRooms {
                    published: published.clone(),
                    connected: connected.clone(),
                }
            }),
        }
    }
}

impl From<StoredFigures> for ShardFigures {
    fn from(f: StoredFigures) -> Self {
        ShardFigures {
            slice: Slice {
                index: f.index,
                count: f.count,
                subscribers: f.subscribers[0]..f.subscribers[1],
                subscribers_total: f.subscribers_total,
                publishers: f.publishers[0]..f.publishers[1],
                publishers_total: f.publishers_total,
            },
            start_unix: Duration::from_nanos(f.start_unix_ns),
            subscribers_connected: f.subscribers_connected,
            others_scheduled: f.others_scheduled,
            delivered_by_intended: f.delivered_by_intended,
            sources: f.sources,
            rooms: f.rooms.map(|r| RoomFigures {
                published: r.published,
                connected: r.connected,
            }),
        }
    }
}

impl From<&ShardSummary> for StoredSummary {
    fn from(s: &ShardSummary) -> Self {
        let ShardSummary {
            figures,
            dir,
            messages_published,
            deliveries,
            latency_samples,
            latency_p50_us,
            latency_p99_us,
            latency_max_us,
            client_cpu,
            client_peak_rss_kib,
            measure_start_unix,
            complete,
            target,
        } = s;
        StoredSummary {
            figures: figures.into(),
            dir: dir.clone(),
            messages_published: *messages_published,
            deliveries: *deliveries,
            latency_samples: *latency_samples,
            latency_p50_us: *latency_p50_us,
            latency_p99_us: *latency_p99_us,
            latency_max_us: *latency_max_us,
            client_cpu_ns: nanos(*client_cpu),
            client_peak_rss_kib: *client_peak_rss_kib,
            measure_start_unix_ns: nanos(*measure_start_unix),
            complete: *complete,
            target: target.clone(),
        }
    }
}

impl From<StoredSummary> for ShardSummary {
    fn from(s: StoredSummary) -> Self {
        ShardSummary {
            figures: s.figures.into(),
            dir: s.dir,
            messages_published: s.messages_published,
            deliveries: s.deliveries,
            latency_samples: s.latency_samples,
            latency_p50_us: s.latency_p50_us,
            latency_p99_us: s.latency_p99_us,
            latency_max_us: s.latency_max_us,
            client_cpu: Duration::from_nanos(s.client_cpu_ns),
            client_peak_rss_kib: s.client_peak_rss_kib,
            measure_start_unix: Duration::from_nanos(s.measure_start_unix_ns),
            complete: s.complete,
            target: s.target,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn figures() -> ShardFigures {
        ShardFigures {
            slice: Slice::new(1, 3, 30, 3).unwrap(),
            start_unix: Duration::new(1_700_000_000, 5),
            subscribers_connected: 9,
            others_scheduled: 40,
            delivered_by_intended: vec![100, 200, 3],
            sources: vec![("127.0.1.1".parse().unwrap(), 10)],
            rooms: Some(RoomFigures {
                published: vec![20, 0],
                connected: vec![5, 4],
            }),
        }
    }

    #[test]
    fn both_kinds_survive_json() {
        for sharding in [
            Sharding::Part(figures()),
            Sharding::Merged(vec![ShardSummary {
                figures: figures(),
                dir: "shard-1".into(),
                messages_published: 20,
                deliveries: 540,
                latency_samples: 180,
                latency_p50_us: Some(300),
                latency_p99_us: None,
                latency_max_us: Some(9_000),
                client_cpu: Duration::from_millis(12),
                client_peak_rss_kib: 4_096,
                measure_start_unix: Duration::new(1_700_000_000, 700),
                complete: true,
                target: Some("ws = \"ws://127.0.0.1:9000/ws\"".into()),
            }]),
        ] {
            let json = serde_json::to_string(&StoredSharding::from(&sharding)).unwrap();
            let back: StoredSharding = serde_json::from_str(&json).unwrap();
            assert_eq!(Sharding::from(back), sharding, "{json}");
        }
    }
}
