//! wsbench: how much better is WebSocket than HTTP polling for server push, on your workload?
//!
//! `wsbench run scenario.toml` starts matched broadcast servers (one shared hub, one adapter per
//! transport), drives simulated clients against each transport in turn, and reports push latency,
//! delivery, connect time and exact bytes on the wire.
//!
//! # Layout
//! Each module owns one thing and imports only modules listed below it (`tests/all/module_map.rs`
//! checks this list against the `crate::` paths of every file; `docs/layout.md` says the same
//! in files):
//! - [`capacity`]: `wsbench capacity` — steps of `run` with the load overridden, until the p99
//!   limit, a loss or the generator's own limit; `capacity.csv` and its `report.html`.
//! - [`check`]: `wsbench check` — a scenario validated with its overrides, and what a run of it
//!   would need per transport, without starting anything.
//! - [`run`]: `wsbench run` — per transport, start the server (`run::server`) and give it to one
//!   owner task (`run::owner`: samples read a `watch`, faults are commands), drive the clients,
//!   sample both processes (`run::usage`), write every result file (also after Ctrl-C, partial).
//! - [`merge`]: `wsbench merge` — a sharded run's results directories added up into one.
//! - [`serve`]: `wsbench serve` — one built-in server as its own process.
//! - [`live`]: watching a run while it goes — the live page fed over SSE (`--live`) and the
//!   Prometheus endpoint (`--metrics`), served by this process.
//! - [`cli`]: flags (clap), and the overrides they carry into a scenario.
//! - [`progress`]: the live progress line on stderr during a run.
//! - [`fleet`]: several built-in instances on a shared Redis, maybe behind HAProxy, started,
//!   sampled and stopped together.
//! - [`child`]: our built-in server as a child process (`wsbench serve`), started, restarted,
//!   stopped.
//! - [`program`]: the helper programs' processes (redis-server, HAProxy) and how every child is
//!   stopped.
//! - [`report`]: table, CSV, histogram logs, `metrics.json`, `report.html`, thresholds, the model
//!   line; `wsbench report`/`compare`.
//! - [`export`]: a run's figures as Prometheus metrics in the OpenMetrics text format
//!   (`/metrics`, `metrics.prom`).
//! - [`client`]: the load generator — ramp-up, client tasks per transport, publishers, phases.
//! - [`server`]: the hub and one adapter per transport, the backplane relay; [`server::all`]
//!   serves them all on one port with the chat page ([`server::page`]).
//! - [`scenario`]: one TOML file into a validated [`scenario::Scenario`] and one
//!   [`scenario::TransportPlan`] per transport, errors with file:line and field.
//! - [`wire`]: byte counting below HTTP and WebSocket (and below and above TLS), and the
//!   kernel's receive timestamp of the bytes each client read returns.
//! - [`tls`]: the self-signed certificate a run makes, server and client rustls configurations.
//! - [`os`]: open-file limit, port range, listen backlog cap, CPU time and memory from `/proc`.
//! - [`codec`]: the bytes of every protocol, pure: the message envelope, the poll batch body, SSE
//!   framing, our RFC 6455 codec (`codec::ws`), HTTP/1.1 request heads and response decoding
//!   (`codec::h1`), byte models.
//! - [`metrics`]: histograms, exact delivery tracking, per-second recording, wire totals, the
//!   summary row derived from them; pure.
//! - [`backplane`]: the shared log's vocabulary — its URL, key names, entry format, and the
//!   commands a run sends to a Redis (the relay is in `server`, the processes in `program`).
//! - [`protocol`]: the shared vocabulary — transports, paths, header names.

pub mod backplane;
pub mod capacity;
pub mod check;
pub mod child;
pub mod cli;
pub mod client;
pub mod codec;
pub mod export;
pub mod fleet;
pub mod live;
pub mod merge;
pub mod metrics;
pub mod os;
pub mod program;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod run;
pub mod scenario;
pub mod serve;
pub mod server;
pub mod tls;
pub mod wire;

use std::process::ExitCode;

use anyhow::Context;

use cli::{Cli, Command};

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
        Command::Check(args) => {
            let overrides = scenario::Overrides {
                allow_remote: args.allow_remote,
                ..args.overrides
            };
            let plans = check::check(&args.scenario, &overrides)?;
            print!("{}", check::render(&args.scenario, &plans));
            Ok(ExitCode::SUCCESS)
        }
        Command::Capacity(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let quiet = args.quiet;
            let dir = runtime.block_on(capacity::capacity(args))?;
            if !quiet {
                eprintln!("capacity: {}", dir.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => {
            // One thread: on two cores shared with the load generator it beats a thread pool.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            let served = runtime.block_on(serve::serve(args));
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
        Command::Merge { out, dirs } => {
            let merged = merge::merge(&out, &dirs)?;
            println!("{}", merged.table);
            eprintln!("merged: {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Exit code for an error: 2 for bad input (scenario or flags, more connections than the
/// machine's file or port limits allow, source addresses that cannot reach the target, a
/// sharded run's rules, shards that cannot be merged, a capacity search's axis that does not
/// apply, `serve` flags refused before binding), 130 for an interrupted run (partial results were written), 99 when `[thresholds]` failed (as k6
/// does), 1 for anything else.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    let bad_shards = error
        .downcast_ref::<merge::MergeError>()
        .is_some_and(merge::MergeError::is_bad_input);
    let bad_search = error.downcast_ref::<capacity::CapacityError>().is_some();
    let bad_serve = error.downcast_ref::<serve::BadFlags>().is_some();
    if run::is_bad_input(error) || bad_shards || bad_search || bad_serve {
        2
    } else if error.downcast_ref::<run::Interrupted>().is_some() {
        130
    } else if error.downcast_ref::<run::ThresholdsFailed>().is_some() {
        99
    } else {
        1
    }
}
