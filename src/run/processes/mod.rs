//! `[clients] processes`: one transport run's clients spread over generator children, each a
//! `wsbench run --shard I/N` of the same scenario against the one server this process started,
//! from its own loopback addresses, with its own results directory under the run's and one
//! agreed start time; their results are then added up as `wsbench merge` does.
//!
//! Why children and not threads: a process may hold only so many descriptors (the open-file
//! limit, at most `fs.nr_open`), and every client connection is one. The shard mode already
//! makes the sum exact, so this module only starts, watches and stops the children:
//! - they run in their own process group, so a Ctrl-C reaches only us; we pass it on once, and
//!   each child writes its partial results, which are merged as the run's;
//! - a child that dies fails the run with its name and the last lines it wrote to stderr, and
//!   the others are stopped;
//! - every child is reaped, and killed after a bounded wait.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::TransportRun;
use super::owner::{Finished, Processes};
use super::server::{describe, serve_options, start_server};
use super::usage::Mark;
use crate::fleet;
use crate::merge;
use crate::metrics::TransportMetrics;
use crate::os;
use crate::protocol::TransportKind;
use crate::scenario::Scenario;
use crate::scenario::scaling::Balancer;

/// Why a run cannot be spread over processes as asked. Bad input: exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ProcessesError {
    /// The built-in server is one process and would need more descriptors than one may have.
    #[error(
        "{connections} connections need {processes} generator processes (one may open {per_process} \
         files), and the built-in {kind} server, one process too, cannot hold them all: set \
         [transports.{kind}] instances = {instances} or \"auto\" (instances on a shared Redis, \
         each loaded by its own generator processes), or [target] {kind} to servers of your own, or raise the \
         open-file limit to {needed} (`ulimit -Hn {needed}` as root, CAP_SYS_RESOURCE, or \
         LimitNOFILE={needed} in a systemd unit)"
    )]
    ServerTooSmall {
        /// The transport.
        kind: TransportKind,
        /// Client connections of the run.
        connections: u64,
        /// Generator processes they need.
        processes: u32,
        /// Connections one process may open.
        per_process: u64,
        /// Server instances that would hold them.
        instances: u32,
        /// Open files one process would need to hold them all.
        needed: u64,
    },
    /// Something a sharded run cannot do, asked of a run in several processes.
    #[error("[clients] processes = {processes}: {reason}")]
    Unsupported {
        /// The count asked for or computed.
        processes: u32,
        /// What stands in the way, and what to do.
        reason: String,
    },
}

/// How many generator processes the run takes: 1 for a shard (already one of several), else the
/// scenario's `[clients] processes` for `connections` when one process may open `per_process`.
/// Past 1, checks what a sharded run needs of the scenario.
pub(super) fn count(
    scenario: &Scenario,
    connections: u64,
    per_process: u64,
    sharded: bool,
) -> Result<u32, ProcessesError> {
    if sharded {
        return Ok(1);
    }
    let processes = scenario.clients.processes.count(connections, per_process);
    if processes <= 1 {
        return Ok(1);
    }
    let unsupported = |reason: &str| ProcessesError::Unsupported {
        processes,
        reason: reason.into(),
    };
    if scenario.publish.window.is_some() {
        return Err(unsupported(
            "saturation mode ([publish] window) measures one process's subscribers; use [publish] rate",
        ));
    }
    for plan in scenario.plans() {
        let kind = plan.kind();
        if plan.target.is_some() {
            continue;
        }
        if plan.scaling.balancer == Balancer::Haproxy {
            return Err(unsupported(&format!(
                "HAProxy is one process too, holding two descriptors per connection; use \
                 [transports.{kind}] balancer = \"client\", each generator process then loads \
                 its own instance"
            )));
        }
        let instances = plan.scaling.instances;
        // Generator process i loads instance i % instances.
        let per_instance =
            connections.div_ceil(u64::from(processes)) * u64::from(processes.div_ceil(instances));
        if per_instance > per_process {
            return Err(ProcessesError::ServerTooSmall {
                kind,
                connections,
                processes,
                per_process,
                instances: instances_for(connections, per_process),
                needed: connections + super::SPARE_FILES,
            });
        }
    }
    Ok(processes)
}

/// The built-in server instances `connections` need when one process may hold `per_process`
/// of them (its descriptor ceiling less the spare files): what `instances = "auto"` starts.
pub(super) fn instances_for(connections: u64, per_process: u64) -> u32 {
    crate::scenario::scaling::auto_instances(connections, per_process)
}

/// Runs `run` as `processes` generator children against one server started here; returns their
/// results added up. `dir` is the run's results directory: each child's goes under it.
pub(super) async fn run_transport(
    run: TransportRun<'_>,
    processes: u32,
    server_bin: &Path,
    cancel: &CancellationToken,
    quiet: bool,
    dir: &Path,
) -> anyhow::Result<TransportMetrics> {
    if run.variant.tls || run.variant.http2 {
        anyhow::bail!(
            "[clients] processes = {processes}: TLS and HTTP/2 variants run in one process for now"
        );
    }
    let options = serve_options(&run)?;
    let (server, target) = start_server(&run, &options, server_bin).await?;
    let note = |text: &str| {
        if !quiet {
            eprintln!("[{}] {text}", run.label);
        }
    };
    note(&describe(&server, &target));
    let (owner, serving) = server.spawn_owner();
    // Where each generator process aims, with the pid it samples: a fleet's instances in turn.
    let aims: Vec<(std::net::SocketAddr, Option<u32>)> = match &*serving.borrow() {
        Processes::Ours { pid, .. } | Processes::External(pid) => vec![(target.addr, *pid)],
        Processes::Fleet(fleet) => {
            let spread = target.spread.addrs().iter().copied();
            spread.zip(fleet.instance_pids()).collect()
        }
    };
    let kind = run.transport.kind();
    let base = dir.join("processes").join(run.label);
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    let mut scenarios = Vec::new();
    for (i, (addr, pid)) in aims.iter().enumerate() {
        let file = base.join(format!("scenario-{i}.toml"));
        let text = child_scenario(run.scenario, kind, &url(kind, *addr), *pid)?;
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
        scenarios.push(file);
    }
    let start = start_time(run.scenario);
    note(&format!(
        "{processes} generator processes, each a shard of the clients from its own loopback \
         addresses, publishing from {}; results under {}",
        humantime::format_rfc3339_seconds(start),
        base.display()
    ));
    let children = Children::start(&scenarios, &base, processes, start)?;
    note(&children.describe());
    let measuring = start + run.scenario.warmup;
    let window = (measuring, measuring + run.scenario.duration);
    let sample = || Mark::now(&serving.borrow().clone());
    let (ended, marks) = children.wait(cancel, window, &note, &sample).await;
    let Finished {
        layout, stopped, ..
    } = owner.stop().await;
    let dirs = ended?;
    let merged = merge::sum_dirs(&dirs).context("adding up the generator processes' results")?;
    let mut metrics = merged
        .into_iter()
        .next()
        .context("the generator processes reported no transport")?;
    // The instances are ours: each one's use and report over the common window, as a run in
    // one process keeps them (the children saw one server each).
    let fleet_marks: Vec<_> = marks.iter().filter_map(|m| m.fleet.as_ref()).collect();
    metrics.instances = layout.and_then(|l| fleet::measured(&l, &fleet_marks, &stopped));
    Ok(metrics)
}

/// The URL of the built-in server at `addr` for `kind`, as `[target]` takes it.
fn url(kind: TransportKind, addr: std::net::SocketAddr) -> String {
    match kind {
        TransportKind::Ws => format!("ws://{addr}/ws"),
        TransportKind::Raw => format!("tcp://{addr}"),
        TransportKind::Sse => format!("http://{addr}/events"),
        _ => format!("http://{addr}"),
    }
}

/// The scenario every child runs: `scenario` as resolved, its one transport `kind` only,
/// pointed at `url` (the server's `pid` sampled by every child), in one process each.
fn child_scenario(
    scenario: &Scenario,
    kind: TransportKind,
    url: &str,
    pid: Option<u32>,
) -> anyhow::Result<String> {
    let mut table: toml::Table = scenario
        .to_toml()
        .parse()
        .context("reading back the resolved scenario")?;
    let label = kind.label();
    if let Some(toml::Value::Table(transports)) = table.get_mut("transports") {
        transports.retain(|name, _| name == label);
        // The instances are this process's to run; each child sees one server.
        if let Some(toml::Value::Table(own)) = transports.get_mut(label) {
            own.remove("instances");
            own.remove("balancer");
        }
    }
    table.remove("variants");
    table.remove("backplane");
    let mut target = toml::Table::new();
    target.insert(label.into(), url.into());
    if let Some(pid) = pid {
        target.insert("server_pid".into(), i64::from(pid).into());
    }
    table.insert("target".into(), target.into());
    if let Some(toml::Value::Table(clients)) = table.get_mut("clients") {
        clients.insert("processes".into(), 1.into());
    }
    Ok(toml::to_string(&table)?)
}

/// When every child starts publishing: after starting, connecting every client (at the
/// scenario's rate, shared by the children) and the idle phase, with room to spare, since a
/// child that is later than its warmup is refused.
fn start_time(scenario: &Scenario) -> SystemTime {
    let c = &scenario.clients;
    let connections = f64::from(c.subscribers + c.idle + scenario.publish.publishers);
    let ramp = Duration::from_secs_f64(connections / f64::from(c.connect_rate.max(1)));
    SystemTime::now() + Duration::from_secs(3) + ramp * 2 + c.idle_phase.unwrap_or_default()
}

/// What one process may open besides its spare files: the open-file ceiling this process can
/// reach ([`os::nofile_ceiling`]) less `spare`.
pub(super) fn per_process(spare: u64) -> anyhow::Result<u64> {
    let ceiling = os::nofile_ceiling().context("reading the open-file limit")?;
    Ok(ceiling.saturating_sub(spare).max(1))
}

mod children;
use children::Children;
#[cfg(test)]
mod tests;
