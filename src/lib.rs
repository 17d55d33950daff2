//! wsbench: how much better is WebSocket than HTTP polling for server push, on your workload?
//!
//! `wsbench run scenario.toml` starts matched broadcast servers (one shared hub, one adapter per
//! transport), drives simulated clients against each transport in turn, and reports push latency,
//! delivery, connect time and exact bytes on the wire.
//!
//! # Layout
//! - [`cli`]: flags, and how they override a scenario.
//! - [`run`]: the orchestrator — phases, Ctrl-C, per-transport loop, partial results.
//! - [`scenario`]: one TOML file into a validated [`scenario::Scenario`], errors with file:line and field.
//! - [`server`]: the hub and one adapter per transport ([`server::ws`], [`server::longpoll`]).
//! - [`child`]: a built-in server as a child process, measured from `/proc`.
//! - [`client`]: ramp-up, client tasks, publishers, stop rules.
//! - [`wire`]: byte counting below HTTP and WebSocket (and below and above TLS).
//! - [`tls`]: the self-signed certificate a run makes, server and client rustls configurations.
//! - [`codec`]: the message envelope and the long-poll batch body; pure.
//! - [`metrics`]: histograms, delivery counts, wire totals; pure.
//! - [`report`]: table, CSV, histogram logs, run metadata, `report.html`; `wsbench report`/`compare`.
//! - [`progress`]: the live progress line on stderr during a run.
//! - [`os`]: open-file limit, port range, listen backlog cap, CPU time and memory from `/proc`.

pub mod child;
pub mod cli;
pub mod client;
pub mod codec;
pub mod metrics;
pub mod os;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod run;
pub mod scenario;
pub mod server;
pub mod tls;
pub mod wire;

use std::process::ExitCode;

use anyhow::Context;

use cli::{Cli, Command, ServeArgs};

/// Runs one command to completion on a runtime suited to it. The binary's whole job.
pub fn main_with(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => {
            // One thread for the conductor (phases, the 1 Hz sampler, the server child); the
            // clients run on threads of their own, one per core (`client::workers`).
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(run::run(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            // One thread: on two cores shared with the load generator it beats a thread pool.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let served = runtime.block_on(serve(args));
            // The stdin watch sits in a blocking read that only the parent's exit would end;
            // don't let it hold the process after the server has stopped.
            runtime.shutdown_timeout(std::time::Duration::from_millis(100));
            served?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { dir } => {
            let done = report::rerender(&dir)
                .with_context(|| format!("re-rendering {}", dir.display()))?;
            for note in &done.notes {
                eprintln!("note: {note}");
            }
            println!("{}", done.table);
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare { a, b } => {
            print!("{}", report::compare(&a, &b)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Exit code for an error: 2 for bad input (scenario or flags, more connections than the
/// machine's file or port limits allow, or source addresses that cannot reach the target), 130
/// for an interrupted run (partial results were written), 99 when `[thresholds]` failed (as k6
/// does), 1 for anything else.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    let beyond_the_machine = matches!(
        error.downcast_ref::<os::OsError>(),
        Some(
            os::OsError::TooFewFiles { .. }
                | os::OsError::AboveNrOpen { .. }
                | os::OsError::TooFewPorts { .. }
        )
    ) || error
        .downcast_ref::<client::source::SourceError>()
        .is_some();
    if error.downcast_ref::<scenario::ScenarioError>().is_some() || beyond_the_machine {
        2
    } else if error.downcast_ref::<run::Interrupted>().is_some() {
        130
    } else if error.downcast_ref::<run::ThresholdsFailed>().is_some() {
        99
    } else {
        1
    }
}

/// The TLS configuration `--tls-cert`/`--tls-key` ask for: HTTP offers `h2` and `http/1.1` by
/// ALPN, WebSocket only `http/1.1` (its upgrade is an HTTP/1.1 request).
fn serve_tls(args: &ServeArgs) -> anyhow::Result<Option<std::sync::Arc<rustls::ServerConfig>>> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let files = tls::CertFiles {
        cert: cert.clone(),
        key: key.clone(),
    };
    let alpn: &[&[u8]] = match args.transport {
        protocol::TransportKind::Ws => &[tls::ALPN_HTTP1],
        _ => &[tls::ALPN_H2, tls::ALPN_HTTP1],
    };
    Ok(Some(tls::server_config(&files, alpn)?))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    use std::io::Write;
    // Each connection is a file descriptor; take what the hard limit allows.
    os::raise_nofile_to_hard().context("raising the open-file limit")?;
    // Before binding: a bad certificate fails the server before it reports an address.
    let tls = serve_tls(&args)?;
    let listener = server::listen(args.addr)
        .and_then(|l| {
            l.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(l)
        })
        .with_context(|| format!("binding {}", args.addr))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "{addr}")
        .and_then(|()| stdout.flush())
        .context("printing the address")?;
    let config = server::ServerConfig {
        transport: args.transport,
        hold: args.hold,
        limits: server::Limits {
            ring_capacity: args.ring,
            max_message_bytes: args.max_message_bytes,
            token: args.token,
            ..server::Limits::default()
        },
        state_file: args.state,
        tls,
    };
    server::serve(listener, config, shutdown_signal(args.exit_on_stdin_eof))
        .await
        .with_context(|| format!("{} server on {addr}", args.transport))
}

/// Completes on Ctrl-C, SIGTERM, or (when asked) when stdin closes because the parent is gone.
async fn shutdown_signal(watch_stdin: bool) {
    use tokio::io::AsyncReadExt;
    use tokio::signal::unix::{SignalKind, signal};
    let stdin_closed = async {
        if !watch_stdin {
            return std::future::pending::<()>().await;
        }
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
        _ = stdin_closed => {}
    }
}
