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

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::TransportRun;
use super::owner::Processes;
use super::server::{describe, serve_options, start_server};
use crate::merge;
use crate::metrics::TransportMetrics;
use crate::os;
use crate::protocol::TransportKind;
use crate::scenario::Scenario;
use crate::scenario::scaling::Balancer;

/// Lines of a failed child's stderr quoted in the run's error.
const LAST_LINES: usize = 10;

/// How long children get to write their partial results once told to stop, before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(60);

/// Exit codes of a child whose results were written: done, or done with thresholds failed
/// (which the merged run checks again).
const WROTE_RESULTS: [i32; 2] = [0, 99];

/// Why a run cannot be spread over processes as asked. Bad input: exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ProcessesError {
    /// The built-in server is one process and would need more descriptors than one may have.
    #[error(
        "{connections} connections need {processes} generator processes (one may open {per_process} \
         files), and the built-in {kind} server, one process too, cannot hold them all: set \
         [transports.{kind}] instances = {instances} (instances on a shared Redis, each loaded by \
         its own generator processes), or [target] {kind} to servers of your own, or raise the \
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
    if scenario.rooms.is_some() {
        return Err(unsupported(
            "a run with [rooms] stays in one process for now (its publishers ride subscriber \
             connections that shards do not line up); drop [rooms] or ask for fewer connections",
        ));
    }
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
/// of them (its descriptor ceiling less the spare files).
pub(super) fn instances_for(connections: u64, per_process: u64) -> u32 {
    u32::try_from(connections.div_ceil(per_process.max(1)).max(1)).unwrap_or(u32::MAX)
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
    let ended = children.wait(cancel, measuring, &note).await;
    owner.stop().await;
    let dirs = ended?;
    let merged = merge::sum_dirs(&dirs).context("adding up the generator processes' results")?;
    merged
        .into_iter()
        .next()
        .context("the generator processes reported no transport")
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

/// The generator children of one transport run.
struct Children {
    /// Each child's name, pid, results directory and stderr file, by shard index.
    each: Vec<(String, u32, PathBuf, PathBuf)>,
    /// Which of them have been reaped (their pids may be another process's by now).
    reaped: Vec<bool>,
    /// Their exits, as (index, status).
    exits: JoinSet<(usize, std::io::Result<ExitStatus>)>,
}

impl Children {
    /// Starts `count` children, child i running `scenarios[i % scenarios.len()]` (one per
    /// server instance), their files under `base`.
    fn start(
        scenarios: &[PathBuf],
        base: &Path,
        count: u32,
        at: SystemTime,
    ) -> anyhow::Result<Self> {
        let bin = std::env::current_exe().context("finding the wsbench executable")?;
        let at = humantime::format_rfc3339_nanos(at).to_string();
        let mut children = Children {
            each: Vec::new(),
            reaped: Vec::new(),
            exits: JoinSet::new(),
        };
        for i in 0..count {
            let name = format!("generator {i}/{count}");
            let out = base.join(format!("shard-{i}"));
            let stderr = base.join(format!("shard-{i}.stderr"));
            let stdout = base.join(format!("shard-{i}.stdout"));
            let file = |p: &Path| {
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))
            };
            let scenario = &scenarios[i as usize % scenarios.len()];
            let mut child = Command::new(&bin)
                .arg("run")
                .arg(scenario)
                .args([
                    "--quiet",
                    "--shard",
                    &format!("{i}/{count}"),
                    "--start-at",
                    &at,
                ])
                .arg("--out")
                .arg(&out)
                .stdin(Stdio::null())
                .stdout(file(&stdout)?)
                .stderr(file(&stderr)?)
                // A Ctrl-C reaches only us: we pass it on once (twice would stop a child at once).
                .process_group(0)
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {name} ({})", bin.display()))?;
            let pid = child.id().unwrap_or_default();
            children.each.push((name, pid, out, stderr));
            children.reaped.push(false);
            let index = i as usize;
            children
                .exits
                .spawn(async move { (index, child.wait().await) });
        }
        Ok(children)
    }

    /// Waits for every child. A Ctrl-C (`cancel`) is passed on to each; a child that fails stops
    /// the others and fails the run with its name and last lines. Returns the children's results
    /// directories.
    async fn wait(
        mut self,
        cancel: &CancellationToken,
        measuring: SystemTime,
        note: &dyn Fn(&str),
    ) -> anyhow::Result<Vec<PathBuf>> {
        let mut failed: Option<anyhow::Error> = None;
        let mut stopping = false;
        let mut left = self.each.len();
        let deadline = tokio::time::sleep(Duration::MAX / 4);
        let until = measuring
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let measured = tokio::time::sleep(until);
        let mut told = false;
        tokio::pin!(deadline, measured);
        while left > 0 {
            tokio::select! {
                () = &mut measured, if !told => {
                    told = true;
                    note("measuring: the generator processes' common window has begun");
                }
                () = cancel.cancelled(), if !stopping => {
                    stopping = true;
                    self.signal(Signal::SIGINT);
                    deadline.as_mut().reset(tokio::time::Instant::now() + STOP_GRACE);
                }
                () = &mut deadline => {
                    self.signal(Signal::SIGKILL);
                    deadline.as_mut().reset(tokio::time::Instant::now() + STOP_GRACE);
                }
                exit = self.exits.join_next() => {
                    let Some(Ok((index, status))) = exit else { break };
                    left -= 1;
                    self.reaped[index] = true;
                    let (name, pid, _, stderr) = &self.each[index];
                    let code = status.as_ref().ok().and_then(ExitStatus::code);
                    // Interrupted, a child's own end is no failure: whatever it wrote is merged.
                    let fine = cancel.is_cancelled()
                        || code.is_some_and(|c| WROTE_RESULTS.contains(&c));
                    if fine {
                        note(&format!("{name} (pid {pid}) finished"));
                        continue;
                    }
                    if failed.is_none() {
                        let how = match &status {
                            Ok(s) => s.to_string(),
                            Err(e) => format!("could not be waited for: {e}"),
                        };
                        failed = Some(anyhow::anyhow!(
                            "{name} (pid {pid}) {how}; its last lines:\n{}",
                            last_lines(stderr)
                        ));
                        if !stopping {
                            stopping = true;
                            self.signal(Signal::SIGINT);
                            deadline.as_mut().reset(tokio::time::Instant::now() + STOP_GRACE);
                        }
                    }
                }
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(self.each.into_iter().map(|(_, _, dir, _)| dir).collect()),
        }
    }

    /// Each child's name and pid, for the progress note.
    fn describe(&self) -> String {
        let each: Vec<String> = self
            .each
            .iter()
            .map(|(name, pid, _, _)| format!("{name} pid {pid}"))
            .collect();
        format!("started {}", each.join(", "))
    }

    /// Sends `signal` to every child not yet reaped (one that exited but is not reaped yet is
    /// a zombie, which ignores it).
    fn signal(&self, signal: Signal) {
        for ((_, pid, _, _), _) in self.each.iter().zip(&self.reaped).filter(|(_, r)| !**r) {
            if let Ok(pid) = i32::try_from(*pid) {
                let _ = kill(Pid::from_raw(pid), signal);
            }
        }
    }
}

/// The last [`LAST_LINES`] lines of the file at `path`, indented; or why there are none.
fn last_lines(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => {
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(LAST_LINES);
            lines[from..]
                .iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Ok(_) => "  (nothing on stderr)".into(),
        Err(e) => format!("  ({}: {e})", path.display()),
    }
}

/// What one process may open besides its spare files: the open-file ceiling this process can
/// reach ([`os::nofile_ceiling`]) less `spare`.
pub(super) fn per_process(spare: u64) -> anyhow::Result<u64> {
    let ceiling = os::nofile_ceiling().context("reading the open-file limit")?;
    Ok(ceiling.saturating_sub(spare).max(1))
}

#[cfg(test)]
mod tests;
