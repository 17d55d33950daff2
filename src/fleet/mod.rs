//! The serving side of a transport run with several instances: N `wsbench serve` children that
//! share one Redis ([`crate::backplane`]) — a private one, or an existing one (`[backplane]`) —
//! reached directly by the clients in turn (`balancer = "client"`) or through one HAProxy
//! (`balancer = "haproxy"`).
//!
//! Every process here is ours and is stopped and reaped at the end: the instances first (each
//! prints its report), then HAProxy, then our Redis. An existing Redis is left running, less the
//! keys the run made (its own prefix, [`Keys`]). Each process is sampled like the single server
//! ([`crate::os::process_usage`]), an existing Redis only if its pid was given; Redis's bytes
//! come from its own counters.

mod deploy;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::backplane::probe::{self, RedisBytes};
use crate::backplane::{BackplaneUrl, Keys, keys};
use crate::child::{ServeOptions, ServerChild};
use crate::client::spread::Spread;
use crate::client::{ClientError, LoadPlan, Target};
use crate::metrics::ProcessUsage;
use crate::metrics::instances::{InstanceFigures, InstanceGroup, InstanceReport, Usage};
use crate::os;
use crate::program::haproxy::Haproxy;
use crate::program::redis_server::RedisServer;
use crate::scenario::Transport;
use crate::scenario::scaling::{Balancer, ExistingRedis, Scaling};

/// One instance: running, or killed on purpose (then what it had used when it died).
#[derive(Debug)]
struct Slot {
    child: Option<ServerChild>,
    addr: SocketAddr,
    /// Sampled just before it was killed; `Some` once it has been.
    at_death: Option<ProcessUsage>,
    /// What the processes a deploy replaced in this slot used, as last sampled.
    earlier: ProcessUsage,
}

impl Slot {
    /// Records what the running process used so far, before a deploy stops it.
    fn retire(&mut self) {
        if let Some(now) = self.child.as_ref().and_then(ServerChild::usage) {
            self.earlier = self.earlier.plus(now);
        }
    }
}

/// The Redis a fleet shares: ours, or an existing one (`[backplane]`).
#[derive(Debug)]
enum Redis {
    /// Started for this run, stopped at its end.
    Ours(Box<RedisServer>),
    /// Not ours: left running; sampled only if its pid was given.
    Existing(ExistingRedis),
}

impl Redis {
    fn url(&self) -> &BackplaneUrl {
        match self {
            Redis::Ours(server) => &server.url,
            Redis::Existing(existing) => &existing.url,
        }
    }

    /// The process to sample; `None` for an existing Redis whose pid was not given.
    fn pid(&self) -> Option<u32> {
        match self {
            Redis::Ours(server) => Some(server.pid()),
            Redis::Existing(existing) => existing.pid,
        }
    }

    /// Whether it still runs; an existing Redis without a pid is taken on trust.
    fn alive(&self) -> bool {
        match self {
            Redis::Ours(server) => server.usage().is_some(),
            Redis::Existing(existing) => existing
                .pid
                .is_none_or(|pid| os::process_usage(pid).is_some()),
        }
    }
}

/// The instances, their Redis and their balancer.
#[derive(Debug)]
pub struct Fleet {
    balancer: Balancer,
    slots: Vec<Slot>,
    redis: Redis,
    /// The names of this run's keys in Redis.
    keys: Keys,
    haproxy: Option<Haproxy>,
}

/// The processes of a fleet, by pid, as they are now: what the phases sample without touching
/// the fleet itself (its owner publishes a new one whenever an instance is killed).
#[derive(Debug, Clone)]
pub struct FleetProcesses {
    /// Per instance: its pid while it runs (with what the processes a deploy replaced used),
    /// or what it had used when it was killed.
    instances: Vec<Result<(u32, ProcessUsage), ProcessUsage>>,
    redis: Option<u32>,
    haproxy: Option<u32>,
    redis_url: BackplaneUrl,
}

impl FleetProcesses {
    fn instance_usage(
        instance: &Result<(u32, ProcessUsage), ProcessUsage>,
    ) -> Option<ProcessUsage> {
        match instance {
            Ok((pid, earlier)) => os::process_usage(*pid).map(|now| earlier.plus(now)),
            Err(at_death) => Some(*at_death),
        }
    }

    /// The instances' CPU and peak RSS, summed (a killed one as it was when killed).
    pub fn usage(&self) -> Option<ProcessUsage> {
        self.instances
            .iter()
            .map(FleetProcesses::instance_usage)
            .try_fold(ProcessUsage::default(), |sum, u| {
                let u = u?;
                Some(ProcessUsage {
                    cpu: sum.cpu + u.cpu,
                    peak_rss_kib: sum.peak_rss_kib + u.peak_rss_kib,
                })
            })
    }

    /// Each instance's pid, in order; `None` for one killed.
    pub fn instance_pids(&self) -> Vec<Option<u32>> {
        self.instances
            .iter()
            .map(|i| i.as_ref().ok().map(|(pid, _)| *pid))
            .collect()
    }

    /// Every process's use now, and Redis's bytes (a quick `INFO` on loopback).
    pub fn mark(&self) -> FleetMark {
        FleetMark {
            instances: self
                .instances
                .iter()
                .map(FleetProcesses::instance_usage)
                .collect(),
            redis: self.redis.and_then(os::process_usage),
            haproxy: self.haproxy.and_then(os::process_usage),
            redis_bytes: probe::bytes_now(&self.redis_url, Duration::from_secs(1)).ok(),
        }
    }
}

/// Every serving process's use (and Redis's bytes) at one moment.
#[derive(Debug, Clone)]
pub struct FleetMark {
    instances: Vec<Option<ProcessUsage>>,
    redis: Option<ProcessUsage>,
    haproxy: Option<ProcessUsage>,
    redis_bytes: Option<RedisBytes>,
}

impl Fleet {
    /// Starts Redis (unless `existing` is given), then `scaling.instances` servers with
    /// `options` on it, their log's keys named by `keys`, then HAProxy if asked. If a step
    /// fails, what was started is stopped, and the keys made in an existing Redis deleted.
    pub async fn start(
        bin: &Path,
        options: &ServeOptions,
        scaling: Scaling,
        plan: &LoadPlan,
        existing: Option<&ExistingRedis>,
        keys: Keys,
    ) -> anyhow::Result<Fleet> {
        let redis = match existing {
            Some(existing) => {
                // Refused or silent now: say so, rather than start instances that cannot join.
                probe::ping(&existing.url).await?;
                Redis::Existing(existing.clone())
            }
            None => Redis::Ours(Box::new(RedisServer::start().await?)),
        };
        let mut fleet = Fleet {
            balancer: scaling.balancer,
            slots: Vec::new(),
            redis,
            keys,
            haproxy: None,
        };
        match fleet.start_servers(bin, options, scaling, plan).await {
            Ok(()) => Ok(fleet),
            Err(e) => {
                let stopped = fleet.stop().await;
                Err(match stopped.cleanup_error {
                    Some(cleanup) => e.context(cleanup),
                    None => e,
                })
            }
        }
    }

    /// The instances on this fleet's Redis, then HAProxy if asked.
    async fn start_servers(
        &mut self,
        bin: &Path,
        options: &ServeOptions,
        scaling: Scaling,
        plan: &LoadPlan,
    ) -> anyhow::Result<()> {
        let options = ServeOptions {
            backplane: Some(self.redis.url().clone()),
            keys: self.keys.clone(),
            ..options.clone()
        };
        for _ in 0..scaling.instances {
            let child = ServerChild::spawn(bin, &options, None).await?;
            self.slots.push(Slot {
                addr: child.addr,
                child: Some(child),
                at_death: None,
                earlier: ProcessUsage::default(),
            });
        }
        if scaling.balancer == Balancer::Haproxy {
            // HAProxy's limit: every client connection, and room for health checks.
            let maxconn = u64::from(plan.subscribers + plan.publishers) + 64;
            let addrs: Vec<SocketAddr> = self.slots.iter().map(|s| s.addr).collect();
            self.haproxy = Some(Haproxy::start(options.transport, &addrs, maxconn).await?);
        }
        Ok(())
    }

    /// Where the clients connect: HAProxy, or (clients spreading themselves) the first instance.
    pub fn addr(&self) -> SocketAddr {
        self.haproxy
            .as_ref()
            .map_or(self.slots[0].addr, Haproxy::addr)
    }

    /// Where the clients of `transport` connect: HAProxy, or every instance in turn.
    pub fn target(&self, transport: Transport) -> Result<Target, ClientError> {
        let spread = match self.balancer {
            Balancer::Client => self.slots.iter().map(|s| s.addr).collect(),
            Balancer::Haproxy => Vec::new(),
        };
        Ok(Target {
            spread: Arc::new(Spread::new(spread)),
            ..Target::new(transport, self.addr())?
        })
    }

    /// How the progress line names it.
    pub fn describe(&self) -> String {
        let addrs: Vec<String> = self.slots.iter().map(|s| s.addr.to_string()).collect();
        let redis = match &self.redis {
            Redis::Ours(server) => format!("redis-server {}", server.url),
            Redis::Existing(existing) => format!(
                "the existing Redis {} (keys {}:room:*{})",
                existing.url,
                self.keys.prefix(),
                if existing.pid.is_some() {
                    ""
                } else {
                    ", not sampled"
                }
            ),
        };
        format!(
            "{} built-in instances ({}) on {redis}, balancer {}",
            self.slots.len(),
            addrs.join(", "),
            self.balancer.label()
        )
    }

    /// Its processes as they are now, to be sampled by others ([`FleetProcesses`]).
    pub fn processes(&self) -> FleetProcesses {
        FleetProcesses {
            instances: self
                .slots
                .iter()
                .map(|slot| match (&slot.child, slot.at_death) {
                    (Some(child), _) => Ok((child.pid(), slot.earlier)),
                    (None, at_death) => Err(at_death.unwrap_or(slot.earlier)),
                })
                .collect(),
            redis: self.redis.pid(),
            haproxy: self.haproxy.as_ref().map(Haproxy::pid),
            redis_url: self.redis.url().clone(),
        }
    }

    /// Whether every instance not killed on purpose, Redis and HAProxy still run.
    pub fn alive(&mut self) -> bool {
        let instances = self
            .slots
            .iter_mut()
            .all(|s| s.at_death.is_some() || s.child.as_mut().is_some_and(ServerChild::alive));
        instances && self.redis.alive() && self.haproxy.as_ref().is_none_or(|h| h.usage().is_some())
    }

    /// `[faults] kill_instance_at`: SIGKILLs the last running instance, its use recorded first;
    /// none if only one is left. Returns what happened, for the progress line.
    pub async fn kill_one(&mut self) -> String {
        let running = self.slots.iter().filter(|s| s.child.is_some()).count();
        let victim = (running >= 2)
            .then(|| self.slots.iter_mut().rev().find(|s| s.child.is_some()))
            .flatten()
            .and_then(|slot| {
                let child = slot.child.take()?;
                slot.at_death = Some(child.usage().unwrap_or_default());
                Some(child)
            });
        let Some(child) = victim else {
            return "only one instance left running: none killed".into();
        };
        let addr = child.addr;
        child.kill().await;
        format!("killed the instance on {addr} (SIGKILL)")
    }

    /// Stops HAProxy (after reading how many sessions it sent to each instance), then every
    /// instance (collecting its report), then our Redis; from an existing one, deletes the keys
    /// of this run.
    pub async fn stop(self) -> Stopped {
        let sessions = self
            .haproxy
            .as_ref()
            .and_then(|h| h.sessions(self.slots.len()));
        // HAProxy first: instances going away under it would each be logged as DOWN.
        if let Some(haproxy) = self.haproxy {
            haproxy.stop().await;
        }
        let mut reports = Vec::new();
        for slot in self.slots {
            reports.push(match slot.child {
                Some(child) => child.stop_with_report().await,
                None => None,
            });
        }
        let cleanup_error =
            match self.redis {
                Redis::Ours(server) => {
                    server.stop().await;
                    None
                }
                Redis::Existing(existing) => keys::delete(&existing.url, &self.keys)
                    .await
                    .err()
                    .map(|e| {
                        format!(
                            "deleting this run's keys {}:room:* from {}: {e}",
                            self.keys.prefix(),
                            existing.url
                        )
                    }),
            };
        Stopped {
            reports,
            sessions,
            cleanup_error,
        }
    }
}

/// What a fleet says as it stops: each instance's exit report, and behind HAProxy the
/// sessions it sent to each.
#[derive(Debug, Clone, Default)]
pub struct Stopped {
    /// In instance order; `None` for a killed instance.
    pub reports: Vec<Option<InstanceReport>>,
    /// In instance order; `None` without HAProxy (or if its stats did not answer).
    pub sessions: Option<Vec<u64>>,
    /// Why the run's keys could not be deleted from an existing Redis, if they could not.
    pub cleanup_error: Option<String>,
}

/// Which instances a fleet had, behind what, and which were killed: read before it stops.
#[derive(Debug, Clone)]
pub struct Layout {
    balancer: Balancer,
    /// The Redis was an existing one, not ours.
    existing_redis: bool,
    addrs: Vec<SocketAddr>,
    killed: Vec<bool>,
}

/// The serving side over the measured phase from its two marks (none if either is missing).
pub fn measured(layout: &Layout, marks: &[&FleetMark], stopped: &Stopped) -> Option<InstanceGroup> {
    match marks {
        [start, end] => Some(group(layout, start, end, stopped)),
        _ => None,
    }
}

/// The serving side over the measured phase: the `start` and `end` marks of the fleet laid out
/// as `layout`, and its instances' exit reports.
pub fn group(
    layout: &Layout,
    start: &FleetMark,
    end: &FleetMark,
    stopped: &Stopped,
) -> InstanceGroup {
    let over = |a: Option<ProcessUsage>, b: Option<ProcessUsage>| {
        let (a, b) = (a?, b?);
        Some(Usage::from(ProcessUsage {
            cpu: b.cpu.saturating_sub(a.cpu),
            peak_rss_kib: b.peak_rss_kib,
        }))
    };
    let instances = layout
        .addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| InstanceFigures {
            addr: addr.to_string(),
            usage: over(
                start.instances.get(i).copied().flatten(),
                end.instances.get(i).copied().flatten(),
            ),
            killed: layout.killed.get(i).copied().unwrap_or(false),
            report: stopped.reports.get(i).copied().flatten(),
            balancer_sessions: stopped.sessions.as_ref().and_then(|s| s.get(i).copied()),
        })
        .collect();
    let bytes = start.redis_bytes.zip(end.redis_bytes);
    InstanceGroup {
        balancer: layout.balancer.label().to_string(),
        instances,
        redis: over(start.redis, end.redis),
        existing_redis: layout.existing_redis,
        redis_bytes_in: bytes.map_or(0, |(a, b)| b.input.saturating_sub(a.input)),
        redis_bytes_out: bytes.map_or(0, |(a, b)| b.output.saturating_sub(a.output)),
        haproxy: over(start.haproxy, end.haproxy),
    }
}

impl Fleet {
    /// The balancer, instance addresses and which were killed, for [`group`].
    pub fn layout(&self) -> Layout {
        Layout {
            balancer: self.balancer,
            existing_redis: matches!(self.redis, Redis::Existing(_)),
            addrs: self.slots.iter().map(|s| s.addr).collect(),
            killed: self.slots.iter().map(|s| s.at_death.is_some()).collect(),
        }
    }
}
