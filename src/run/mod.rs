//! `wsbench run`: load the scenario, then for each transport start its server as a child
//! process, drive the clients, sample both processes' resource use around the measured phase, and
//! write every result file — also after Ctrl-C or a server that died, marked partial.
//!
//! The only module that knows both the servers/clients and the report.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::client::source;
use crate::client::{self, LoadPlan, Phase, shard};
use crate::codec::envelope::RunTag;
use crate::fleet;
use crate::live::{Outlets, Tap};
use crate::metrics::{FaultMark, Slice, TransportMetrics};
use crate::os;
use crate::progress::{self, Progress};
use crate::report::{self, RunInfo};
use crate::scenario::variant::Variant;
use crate::scenario::{self, Scenario, TransportPlan};
use crate::tls;

mod owner;
mod processes;
mod server;
mod usage;

use owner::{Fault, Finished};
use server::{describe, serve_options, start_server};
use usage::{Mark, counted_apart, transport_metrics, with_server};

/// File descriptors kept free for everything that is not a client socket. The built-in server
/// needs fewer besides its connections (listener, stdio, epoll, a state file), so the same count
/// covers it.
const SPARE_FILES: u64 = 64;

/// Runs a scenario end to end; returns the results directory. With `--live` or `--metrics`,
/// serves them from the start to after the results are written.
pub async fn run(args: RunArgs) -> anyhow::Result<PathBuf> {
    let outlets = Outlets::start(&args.watch).await?;
    let result = run_with(args, &outlets, "").await;
    outlets.finish(result.as_deref().ok()).await;
    result
}

/// [`run`], showing each transport on `outlets` (which the caller started and finishes) under
/// its label followed by `tag` (a capacity step's load).
pub async fn run_with(args: RunArgs, outlets: &Outlets, tag: &str) -> anyhow::Result<PathBuf> {
    let overrides = scenario::Overrides {
        allow_remote: args.allow_remote,
        ..args.overrides.clone()
    };
    let mut scenario = scenario::load_with(&args.scenario, &overrides)?;
    let slice = args
        .shard
        .map(|spec| shard::plan(spec, args.start_at.as_ref(), &scenario))
        .transpose()?;
    let mut plan = LoadPlan::from_scenario(&scenario);
    if let Some(slice) = &slice {
        plan = plan.sliced(slice.clone());
    }
    plan.start_at = args.start_at.clone();
    plan.live_buckets = outlets.wants_buckets();
    let connections = u64::from(plan.subscribing() + plan.publishers);
    let per_process = processes::per_process(SPARE_FILES)?;
    for (kind, count) in scenario.settle_instances(connections, per_process) {
        if !args.quiet {
            eprintln!(
                "[{kind}] instances = \"auto\": {count} for {connections} connections at \
                 {per_process} a process"
            );
        }
    }
    let processes = processes::count(&scenario, connections, per_process, slice.is_some())?;
    // The built-in server holds as many connections as the clients do. It is our child: it
    // inherits the limit set here and raises its soft limit to this hard one, so one check
    // refuses early for both, before any server starts. Generator children raise their own.
    // Spread over processes, every server instance was checked to fit under the ceiling.
    let needed = if processes == 1 {
        connections
    } else {
        per_process
    };
    os::raise_nofile(needed + SPARE_FILES)
        .context("raising the open-file limit for the clients and the built-in server")?;
    let ports = os::ephemeral_ports().context("reading the loopback port range")?;
    let plans = scenario.plans();
    let sources = source_plans(&scenario, &plans, connections, ports, slice.as_ref())?;
    let server_bin = match &args.server_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe().context("finding the wsbench executable to serve with")?,
    };
    let started = SystemTime::now();
    let run_id = run_id(started);
    let tag_base = match (&args.shard, &args.start_at) {
        (Some(_), Some(at)) => at.to_string(),
        _ => run_id.clone(),
    };
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_dir(&scenario, started, slice.as_ref()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let cancel = CancellationToken::new();
    tokio::spawn(interrupt_watch(cancel.clone(), args.quiet));

    let runs: Vec<(&TransportPlan, &[IpAddr], Variant)> = plans
        .iter()
        .zip(&sources)
        .flat_map(|(plan, sources)| plan.variants.iter().map(move |v| (plan, &sources[..], *v)))
        .collect();
    // One self-signed certificate for every TLS run, in a private directory removed at the end.
    let cert = if runs.iter().any(|(_, _, v)| v.tls) {
        Some(tls::RunCert::new().context("making the TLS certificate")?)
    } else {
        None
    };
    let labels: Vec<String> = runs
        .iter()
        .map(|(t, _, v)| format!("{}{tag}", t.label(*v)))
        .collect();
    outlets.run_started(&scenario.name, &labels);
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for &(transport, sources, variant) in &runs {
        if cancel.is_cancelled() {
            break;
        }
        let label = transport.label(variant);
        let run = TransportRun {
            scenario: &scenario,
            plan: &plan,
            transport,
            variant,
            label: &label,
            run_id: &run_id,
            tag_base: &tag_base,
            cert: cert.as_ref(),
            sources,
        };
        let tap = outlets.transport(&format!("{label}{tag}"));
        let measured = if processes > 1 {
            processes::run_transport(run, processes, &server_bin, &cancel, args.quiet, &dir).await
        } else {
            run_transport(run, &server_bin, &cancel, args.quiet, tap.as_ref()).await
        };
        match measured {
            Ok(metrics) => {
                if let Some(tap) = &tap {
                    tap.finished(&metrics);
                }
                results.push(metrics);
            }
            Err(e) => {
                if let Some(tap) = &tap {
                    tap.failed(&format!("{e:#}"));
                }
                eprintln!("[{label}] failed: {e:#}");
                failures.push(format!("{label}: {e:#}"));
            }
        }
    }

    let complete =
        !cancel.is_cancelled() && failures.is_empty() && results.iter().all(|m| m.complete);
    let run = RunInfo {
        started,
        cores: os::cores(),
        complete,
        command: std::env::args().collect(),
        scenario_path: args.scenario.clone(),
        scenario_toml: scenario.to_toml(),
    };
    let rows = report::write_all(&dir, &run, &results)
        .with_context(|| format!("writing results to {}", dir.display()))?;
    println!("{}", report::table::render_summaries(&rows));
    for note in report::notes_under_table(&results) {
        println!("{note}");
    }
    for warning in report::saturation::warnings(&rows, run.cores) {
        println!("{warning}");
    }
    println!("{}", report::model::model(&scenario));
    let thresholds = report::thresholds::check(&scenario.thresholds, &rows);
    for line in &thresholds.lines {
        println!("{line}");
    }
    if !args.quiet {
        eprintln!("results: {}", dir.display());
    }
    if cancel.is_cancelled() {
        return Err(Interrupted { dir }.into());
    }
    if thresholds.failed > 0 {
        return Err(ThresholdsFailed(thresholds.failed).into());
    }
    if !failures.is_empty() {
        anyhow::bail!(
            "{} transport(s) failed: {}",
            failures.len(),
            failures.join("; ")
        );
    }
    Ok(dir)
}

/// The source addresses each transport's clients connect from (in the order of `plans`),
/// checked against the port range (`ports` per address) for `connections` connections. A
/// built-in server listens on 127.0.0.1 (`child::ServerChild::spawn`); an external one where
/// its `[target]` says.
fn source_plans(
    scenario: &Scenario,
    plans: &[TransportPlan],
    connections: u64,
    ports: u64,
    slice: Option<&Slice>,
) -> anyhow::Result<Vec<Vec<IpAddr>>> {
    let mut sources = Vec::new();
    for plan in plans {
        let kind = plan.kind();
        let target = plan
            .target
            .as_ref()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |e| e.addr.ip());
        let addresses = source::plan(
            &scenario.clients.source_addresses,
            target,
            connections,
            ports,
        )
        .with_context(|| format!("[{kind}] choosing the clients' source addresses"))?;
        // Shards on one machine each connect from their own addresses (and ports).
        let addresses = match slice {
            Some(s) => shard::sources(
                s.index,
                &scenario.clients.source_addresses,
                target,
                addresses,
            ),
            None => addresses,
        };
        let count = addresses.len().max(1) as u64;
        os::check_ports(connections, ports, count)
            .with_context(|| format!("[{kind}] checking the loopback port range"))?;
        sources.push(addresses);
    }
    Ok(sources)
}

/// Whether `error`, from [`run`], is the input's fault rather than the run's: the scenario or
/// flags, more connections than the machine's file or port limits allow, source addresses that
/// cannot reach the target, a sharded run's rules. (`wsbench` exits with 2 for these.)
pub fn is_bad_input(error: &anyhow::Error) -> bool {
    let beyond_the_machine = matches!(
        error.downcast_ref::<os::OsError>(),
        Some(
            os::OsError::TooFewFiles { .. }
                | os::OsError::AboveNrOpen { .. }
                | os::OsError::TooFewPorts { .. }
        )
    );
    beyond_the_machine
        || error.downcast_ref::<source::SourceError>().is_some()
        || error.downcast_ref::<shard::ShardError>().is_some()
        || error.downcast_ref::<processes::ProcessesError>().is_some()
        || error.downcast_ref::<scenario::ScenarioError>().is_some()
}

/// The run was stopped by Ctrl-C or SIGTERM; what was measured is in `dir`, marked partial.
#[derive(Debug, thiserror::Error)]
#[error("interrupted: partial results written to {}", dir.display())]
pub struct Interrupted {
    /// The results directory.
    pub dir: PathBuf,
}

/// Some `[thresholds]` did not hold; the results were written. Exit code 99, as k6 uses.
#[derive(Debug, thiserror::Error)]
#[error("{0} threshold(s) failed")]
pub struct ThresholdsFailed(pub usize);

fn default_dir(scenario: &Scenario, started: SystemTime, slice: Option<&Slice>) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(started)
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    // Shards started together on one machine must not share a directory.
    let shard = slice.map_or(String::new(), |s| format!("-shard{}of{}", s.index, s.count));
    Path::new("results").join(format!("{}{shard}-{stamp}", scenario.name))
}

/// This process and the time it started the run (hex): what keeps its keys apart from every
/// other run's in a Redis they share.
fn run_id(started: SystemTime) -> String {
    let nanos = started
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}-{nanos:x}", std::process::id())
}

/// First Ctrl-C or SIGTERM: stop measuring, write what was measured. Second: exit at once.
async fn interrupt_watch(cancel: CancellationToken, quiet: bool) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return;
    };
    for round in 0..2 {
        tokio::select! {
            r = tokio::signal::ctrl_c() => if r.is_err() { return },
            _ = term.recv() => {}
        }
        if round == 0 {
            if !quiet {
                eprintln!(
                    "interrupted: stopping and writing partial results (again to quit at once)"
                );
            }
            cancel.cancel();
        } else {
            std::process::exit(130);
        }
    }
}

/// One transport run: which transport, carried how, under which label.
struct TransportRun<'a> {
    scenario: &'a Scenario,
    /// The load: the scenario's, or a shard's slice of it.
    plan: &'a LoadPlan,
    /// The transport's settings.
    transport: &'a TransportPlan,
    variant: Variant,
    label: &'a str,
    /// Names this run apart from any other sharing an existing Redis ([`run_id`]).
    run_id: &'a str,
    /// What this transport's [`RunTag`] is derived from with its label: the common start's text
    /// in a sharded run, so every shard tags alike; else [`run_id`].
    tag_base: &'a str,
    /// The run's certificate, present when any run uses TLS.
    cert: Option<&'a tls::RunCert>,
    /// The clients' source addresses; empty: the kernel chooses.
    sources: &'a [IpAddr],
}

async fn run_transport(
    run: TransportRun<'_>,
    server_bin: &Path,
    cancel: &CancellationToken,
    quiet: bool,
    tap: Option<&Tap>,
) -> anyhow::Result<TransportMetrics> {
    let scenario = run.scenario;
    let options = serve_options(&run)?;
    let (server, target) = start_server(&run, &options, server_bin).await?;
    let plan = &LoadPlan {
        run: RunTag::derive(&[run.tag_base, run.label]),
        ..run.plan.clone()
    };
    let progress = Progress::new(progress::Mode::detect(quiet), run.label, plan);
    progress.note(&describe(&server, &target));
    // Each transport's client peak RSS starts from here, not from the process's start.
    if let Err(e) = os::reset_peak_rss() {
        progress.note(&format!(
            "cannot reset the peak RSS ({e}): the client's peak includes the transports run before"
        ));
    }

    let (owner, processes) = server.spawn_owner();
    let sample = || Mark::now(&processes.borrow().clone());
    let mut marks = Vec::new();
    let mut idle_marks = Vec::new();
    let measuring = Notify::new();
    // Each fault, timed from the start of the measured phase, for the report's time charts.
    let measure_start = Cell::new(None::<Instant>);
    let faults = RefCell::new(Vec::new());
    let mark = |text: &str| {
        let at_s = measure_start
            .get()
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        let what = text.strip_prefix("fault: ").unwrap_or(text).to_owned();
        faults.borrow_mut().push(FaultMark { at_s, what });
    };
    let mut on_phase = |phase: Phase| {
        if phase == Phase::Measuring {
            measure_start.set(Some(Instant::now()));
        }
        if let Phase::Dropped(reset) = phase {
            mark(&format!("drop reset {reset} connections"));
        }
        if matches!(phase, Phase::Measuring | Phase::Measured) {
            marks.push(sample());
        }
        if matches!(
            phase,
            Phase::Connecting { .. } | Phase::Idle { .. } | Phase::IdleOver
        ) {
            idle_marks.push(sample());
        }
        if phase == Phase::Measuring {
            measuring.notify_one();
        }
        if let Some(tap) = tap {
            tap.phase(&phase, || processes.borrow().usage());
        }
        progress.phase(phase);
    };
    // The fault that stops servers, if any (the rules allow one at most), counted from the start
    // of the measured phase.
    let planned = [
        (scenario.faults.restart_server_at).map(|at| (at, Fault::Restart)),
        (scenario.faults.kill_instance_at).map(|at| (at, Fault::KillInstance)),
        (scenario.faults.deploy).map(|d| (d.at, Fault::Deploy(d.mode))),
    ]
    .into_iter()
    .flatten()
    .next();
    let fault = async {
        if let Some((at, fault)) = planned {
            measuring.notified().await;
            tokio::time::sleep(at).await;
            let text = format!("fault: {}", owner.inject(fault).await);
            mark(&text);
            if let Some(tap) = tap {
                tap.fault(&text);
            }
            progress.note(&text);
        }
        std::future::pending::<Infallible>().await
    };
    let outcome = tokio::select! {
        outcome = client::drive(plan, &target, cancel, &mut on_phase) => outcome,
        never = fault => match never {},
    };
    let Finished {
        alive: server_alive,
        layout,
        stopped,
    } = owner.stop().await;
    if let Some(e) = &stopped.cleanup_error {
        progress.note(e);
    }
    let fleet_marks: Vec<_> = marks.iter().filter_map(|m| m.fleet.as_ref()).collect();
    let instances = layout.and_then(|l| fleet::measured(&l, &fleet_marks, &stopped));
    if let Some(path) = &options.state_file {
        let _ = std::fs::remove_file(path);
    }
    let outcome = outcome?;
    if let Some(window) = &outcome.window {
        progress.note(&window.to_string());
    }
    if !server_alive {
        progress.note("the server exited during the run: results are partial");
    }
    let mut metrics = transport_metrics(&run, outcome, &marks, server_alive, instances);
    metrics.faults = faults.into_inner();
    metrics.idle = metrics.idle.map(|idle| with_server(idle, &idle_marks));
    for note in counted_apart(&metrics.clients.counts) {
        progress.note(&note);
    }
    Ok(metrics)
}
