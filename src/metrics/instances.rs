//! The serving side of a run with several server instances: each instance's use and report, the
//! backplane's (Redis) and the balancer's (HAProxy) use, and Redis's bytes.
//!
//! Unlike the rest of `metrics`, these types derive serde themselves: an [`InstanceReport`] is
//! first the line a `wsbench serve --stats` child prints at exit, and the group is stored in
//! `metrics.json` as it is, so one definition serves both.

use serde::{Deserialize, Serialize};

/// What one instance says about itself at exit (`wsbench serve --stats`, one JSON line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceReport {
    /// Connections it accepted (through the balancer, or from clients directly).
    pub accepted: u64,
    /// Messages its clients published that it appended to the shared log.
    pub appended: u64,
    /// Log entries it read into its hub.
    pub ingested: u64,
    /// Publish (on any instance) → in this instance's hub: count and percentiles, µs.
    pub hop: HopFigures,
}

/// A latency distribution in a few figures, microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HopFigures {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
}

impl HopFigures {
    /// The figures of `h` (microseconds).
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        HopFigures {
            count: h.len(),
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
        }
    }
}

/// One process's CPU and peak RSS, as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// CPU time over the measured phase, nanoseconds.
    pub cpu_ns: u64,
    /// Peak resident set, KiB.
    pub peak_rss_kib: u64,
}

impl From<super::ProcessUsage> for Usage {
    fn from(u: super::ProcessUsage) -> Self {
        Usage {
            cpu_ns: u64::try_from(u.cpu.as_nanos()).unwrap_or(u64::MAX),
            peak_rss_kib: u.peak_rss_kib,
        }
    }
}

/// One server instance of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceFigures {
    /// Where it listened.
    pub addr: String,
    /// Its use over the measured phase (up to its death if killed); `None` if never sampled.
    pub usage: Option<Usage>,
    /// Killed on purpose (`[faults] kill_instance_at`): its report is lost with it.
    pub killed: bool,
    /// Its exit report; `None` when it was killed or printed none.
    pub report: Option<InstanceReport>,
    /// Behind HAProxy: the client sessions HAProxy sent to it (health checks not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer_sessions: Option<u64>,
}

/// Everything on the serving side of a run with `instances > 1` (or a backplane).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceGroup {
    /// `client` or `haproxy`.
    pub balancer: String,
    /// Each instance, in start order.
    pub instances: Vec<InstanceFigures>,
    /// redis-server's use over the measured phase; `None` when unknown: an existing Redis
    /// whose pid was not given (`[backplane] redis_pid`).
    pub redis: Option<Usage>,
    /// The Redis was an existing one (`[backplane]`), not started for the run: its bytes count
    /// every client it had over the phase, not only this run's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub existing_redis: bool,
    /// Bytes Redis received and sent over the measured phase, by its own count.
    pub redis_bytes_in: u64,
    /// See `redis_bytes_in`.
    pub redis_bytes_out: u64,
    /// HAProxy's use over the measured phase; `None` without it.
    pub haproxy: Option<Usage>,
}

impl InstanceGroup {
    /// The hop latency over every instance: total count, the largest p50, p99 and max (a
    /// conservative merge: percentiles of parts do not add).
    pub fn hop(&self) -> HopFigures {
        self.instances
            .iter()
            .filter_map(|i| i.report.map(|r| r.hop))
            .fold(HopFigures::default(), |a, h| HopFigures {
                count: a.count + h.count,
                p50_us: a.p50_us.max(h.p50_us),
                p99_us: a.p99_us.max(h.p99_us),
                max_us: a.max_us.max(h.max_us),
            })
    }
}
