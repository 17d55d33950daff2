//! `wsbench run`: load the scenario, then for each transport start its server as a child
//! process, drive the clients, sample both processes' resource use around the measured phase, and
//! write every result file — also after Ctrl-C or a server that died, marked partial.
//!
//! The only module that knows both the servers/clients and the report.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::child::{ServeOptions, ServerProcess};
use crate::cli::RunArgs;
use crate::client::source::{self, Sources};
use crate::client::{self, ClientOutcome, LoadPlan, Phase, Target, shard};
use crate::metrics::{
    GeneratorHealth, IdleCost, ProcessUsage, Sharding, Slice, TlsFigures, TransportMetrics,
};
use crate::os;
use crate::progress::{self, Progress};
use crate::protocol::TransportKind;
use crate::report::{self, RunInfo};
use crate::scenario::variant::Variant;
use crate::scenario::{self, Scenario, Transport};
use crate::tls;

/// File descriptors kept free for everything that is not a client socket. The built-in server
/// needs fewer besides its connections (listener, stdio, epoll, a state file), so the same count
/// covers it.
const SPARE_FILES: u64 = 64;

/// Runs a scenario end to end; returns the results directory.
pub async fn run(args: RunArgs) -> anyhow::Result<PathBuf> {
    let overrides = scenario::Overrides {
        allow_remote: args.allow_remote,
        ..args.overrides.clone().into()
    };
    let scenario = scenario::load_with(&args.scenario, &overrides)?;
    let slice = args
        .shard
        .map(|spec| shard::plan(spec, args.start_at.as_ref(), &scenario))
        .transpose()?;
    let mut plan = LoadPlan::from_scenario(&scenario);
    if let Some(slice) = &slice {
        plan = plan.sliced(slice.clone());
    }
    plan.start_at = args.start_at.clone();
    let connections = u64::from(plan.subscribing() + plan.publishers);
    // The built-in server holds as many connections as the clients do. It is our child: it
    // inherits the limit set here and raises its soft limit to this hard one, so one check
    // refuses early for both, before any server starts.
    os::raise_nofile(connections + SPARE_FILES)
        .context("raising the open-file limit for the clients and the built-in server")?;
    let ports = os::ephemeral_ports().context("reading the loopback port range")?;
    let sources = source_plans(&scenario, connections, ports, slice.as_ref())?;
    let server_bin = match &args.server_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe().context("finding the wsbench executable to serve with")?,
    };
    let started = SystemTime::now();
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_dir(&scenario, started, slice.as_ref()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let cancel = CancellationToken::new();
    tokio::spawn(interrupt_watch(cancel.clone(), args.quiet));

    let runs = scenario.runs();
    // One self-signed certificate for every TLS run, in a private directory removed at the end.
    let cert = if runs.iter().any(|(_, v)| v.tls) {
        Some(tls::RunCert::new().context("making the TLS certificate")?)
    } else {
        None
    };
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for (transport, variant) in &runs {
        if cancel.is_cancelled() {
            break;
        }
        let label = variant.label(transport.kind());
        let run = TransportRun {
            scenario: &scenario,
            plan: &plan,
            transport,
            variant: *variant,
            label: &label,
            cert: cert.as_ref(),
            sources: sources
                .iter()
                .find(|(kind, _)| *kind == transport.kind())
                .map_or(&[], |(_, a)| a.as_slice()),
        };
        match run_transport(run, &server_bin, &cancel, args.quiet).await {
            Ok(metrics) => results.push(metrics),
            Err(e) => {
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
    for note in report::sharded::notes(&results) {
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

/// The source addresses each transport's clients connect from, checked against the port range
/// (`ports` per address) for `connections` connections. A built-in server listens on 127.0.0.1
/// ([`ServerProcess::start`]); an external one where its `[target]` says.
fn source_plans(
    scenario: &Scenario,
    connections: u64,
    ports: u64,
    slice: Option<&Slice>,
) -> anyhow::Result<Vec<(TransportKind, Vec<IpAddr>)>> {
    let mut plans = Vec::new();
    for transport in &scenario.transports {
        let kind = transport.kind();
        let target = scenario
            .targets
            .endpoint(kind)
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
        plans.push((kind, addresses));
    }
    Ok(plans)
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
    transport: &'a Transport,
    variant: Variant,
    label: &'a str,
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
) -> anyhow::Result<TransportMetrics> {
    let scenario = run.scenario;
    let options = serve_options(&run)?;
    let (server, target) = start_server(&run, &options, server_bin).await?;
    let plan = run.plan;
    let progress = Progress::new(progress::Mode::detect(quiet), run.label, plan);
    progress.note(&describe(&server, &target));
    // Each transport's client peak RSS starts from here, not from the process's start.
    if let Err(e) = os::reset_peak_rss() {
        progress.note(&format!(
            "cannot reset the peak RSS ({e}): the client's peak includes the transports run before"
        ));
    }

    let server = RefCell::new(server);
    let mut marks = Vec::new();
    let mut idle_marks = Vec::new();
    let measuring = Notify::new();
    let mut on_phase = |phase: Phase| {
        if matches!(phase, Phase::Measuring | Phase::Measured) {
            marks.push(Mark::now(&server.borrow()));
        }
        if matches!(
            phase,
            Phase::Connecting { .. } | Phase::Idle { .. } | Phase::IdleOver
        ) {
            idle_marks.push(Mark::now(&server.borrow()));
        }
        if phase == Phase::Measuring {
            measuring.notify_one();
        }
        progress.phase(phase);
    };
    // `[faults] restart_server_at`, counted from the start of the measured phase.
    let fault = async {
        if let Some(at) = scenario.faults.restart_server_at {
            measuring.notified().await;
            tokio::time::sleep(at).await;
            progress.note(&format!("fault: {}", ServerProcess::restart(&server).await));
        }
        std::future::pending::<Infallible>().await
    };
    let outcome = tokio::select! {
        outcome = client::drive(plan, &target, cancel, &mut on_phase) => outcome,
        never = fault => match never {},
    };
    let mut server = server.into_inner();
    let server_alive = server.alive();
    server.stop().await;
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
    let mut metrics = transport_metrics(&run, outcome, &marks, server_alive);
    metrics.idle = metrics.idle.map(|idle| with_server(idle, &idle_marks));
    Ok(metrics)
}

/// The idle phase with the server's share: its CPU between the phase's marks, and its memory
/// growth from before the first connection to the phase's end (marks: connecting, idle, over).
fn with_server(idle: IdleCost, marks: &[Mark]) -> IdleCost {
    let [before, start, end] = marks else {
        return idle;
    };
    let usage = |m: &Mark| m.server;
    IdleCost {
        server_cpu: usage(start)
            .zip(usage(end))
            .map(|(a, b)| b.cpu.saturating_sub(a.cpu)),
        server_rss_growth_kib: usage(before)
            .zip(usage(end))
            .map(|(a, b)| b.peak_rss_kib.saturating_sub(a.peak_rss_kib)),
        ..idle
    }
}

/// How the built-in server for `run` is started (an external target ignores this, except for the
/// TLS certificate the clients trust).
fn serve_options(run: &TransportRun<'_>) -> anyhow::Result<ServeOptions> {
    let kind = run.transport.kind();
    let tls = match (run.variant.tls, run.cert) {
        (true, Some(cert)) => Some(cert.files.clone()),
        (true, None) => anyhow::bail!("a TLS run needs the run's certificate"),
        (false, _) => None,
    };
    let hold = match run.transport {
        Transport::LongPoll { hold } => Some(*hold),
        _ => None,
    };
    // A restart fault keeps the HTTP hub in a file, so the restarted server continues the stream.
    let state_file = (run.scenario.faults.restart_server_at.is_some()
        && !matches!(kind, TransportKind::Ws | TransportKind::Raw))
    .then(|| {
        std::env::temp_dir().join(format!("wsbench-{}-{}.hub", std::process::id(), run.label))
    });
    if let Some(path) = &state_file {
        let _ = std::fs::remove_file(path);
    }
    let beats = run.scenario.heartbeats;
    let heartbeat = match kind {
        TransportKind::Ws => beats.ws_ping,
        TransportKind::Sse => beats.sse_keepalive,
        _ => None,
    };
    Ok(ServeOptions {
        transport: kind,
        hold,
        heartbeat,
        state_file,
        tls,
    })
}

/// Starts the built-in server (unless `[target]` names an external one) and says how the clients
/// reach it.
async fn start_server(
    run: &TransportRun<'_>,
    options: &ServeOptions,
    server_bin: &Path,
) -> anyhow::Result<(ServerProcess, Target)> {
    let (scenario, variant) = (run.scenario, run.variant);
    let (server, target) = match scenario.targets.endpoint(run.transport.kind()) {
        Some(endpoint) => (
            ServerProcess::External(scenario.targets.server_pid),
            Target {
                token: scenario.targets.token.clone(),
                ..Target::external(run.transport.clone(), endpoint)?
            },
        ),
        None => {
            let server = ServerProcess::start(server_bin, options).await?;
            let ServerProcess::Child(child) = &server else {
                anyhow::bail!("the built-in server did not start as a child process");
            };
            let target = Target::new(run.transport.clone(), child.addr)?;
            (server, target)
        }
    };
    let tls = match (variant.tls, run.cert) {
        (true, Some(cert)) => Some(cert.client_config(variant.http2)?),
        _ => None,
    };
    let target = Target {
        http2: variant.http2,
        tls,
        sources: Arc::new(Sources::new(run.sources.to_vec())?),
        ..target
    };
    Ok((server, target))
}

/// The progress note that says what the clients load and from where.
fn describe(server: &ServerProcess, target: &Target) -> String {
    let mut note = format!("target {} ({}", target.addr, server.describe());
    if matches!(server, ServerProcess::Child(_)) {
        // The server asks for the most; the kernel gives it net.core.somaxconn.
        if let Ok(backlog) = os::somaxconn() {
            note += &format!(", listen backlog {backlog} = net.core.somaxconn");
        }
    }
    note.push(')');
    if let Some(from) = target.sources.describe() {
        note += &format!("; clients connect from {from}");
    }
    note
}

/// Both processes' resource use at a phase boundary (the start and the end of the measured phase).
struct Mark {
    server: Option<ProcessUsage>,
    client_cpu: Option<Duration>,
    at: Instant,
}

impl Mark {
    fn now(server: &ServerProcess) -> Mark {
        Mark {
            server: server.usage(),
            client_cpu: os::cpu_time(None).ok(),
            at: Instant::now(),
        }
    }
}

/// The clients' outcome and the two processes' use over the measured phase, as the report takes them.
fn transport_metrics(
    run: &TransportRun<'_>,
    outcome: ClientOutcome,
    marks: &[Mark],
    server_alive: bool,
) -> TransportMetrics {
    let (server_usage, client_cpu, client_watch) = match marks {
        [start, end] => (
            start.server.zip(end.server).map(|(a, b)| ProcessUsage {
                cpu: b.cpu.saturating_sub(a.cpu),
                peak_rss_kib: b.peak_rss_kib,
            }),
            start
                .client_cpu
                .zip(end.client_cpu)
                .map(|(a, b)| b.saturating_sub(a))
                .unwrap_or_default(),
            Some(GeneratorHealth {
                span: end.at.saturating_duration_since(start.at),
                cores: u32::try_from(os::cores()).unwrap_or(u32::MAX),
                lag: outcome.lag,
            }),
        ),
        _ => (None, Duration::ZERO, None),
    };
    let deliveries_expected = outcome.deliveries_expected;
    TransportMetrics {
        transport: run.label.to_string(),
        subscribers: run.plan.subscribers,
        publishers: run.plan.publishers,
        payload_bytes: run.scenario.publish.payload_bytes,
        measured: outcome.measured,
        messages_published: outcome.messages_published,
        messages_scheduled: outcome.messages_scheduled,
        deliveries_expected,
        clients: outcome.recorder,
        wire: outcome.wire,
        connect_wire: outcome.connect_wire,
        payload_wire: outcome.payload_wire,
        tls: outcome.wire_above_tls.map(|plaintext| TlsFigures {
            plaintext,
            handshakes: outcome.tls_handshakes.0,
            handshake_total: outcome.tls_handshakes.1,
        }),
        client_usage: ProcessUsage {
            cpu: client_cpu,
            peak_rss_kib: os::peak_rss_kib(None).unwrap_or(0),
        },
        server_usage,
        idle: outcome.idle,
        connections: outcome.ramp.connected,
        connect_ramp: outcome.ramp.took,
        client_watch,
        complete: outcome.complete && server_alive,
        timeseries: outcome.timeseries,
        sharding: outcome.shard.map(Sharding::Part),
    }
}
