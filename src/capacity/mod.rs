//! `wsbench capacity`: the most load each transport carries within a p99 limit, nothing lost.
//!
//! Each step is an ordinary bounded `wsbench run` of the scenario ([`crate::run::run`]) for one
//! transport with the stepped load (`--by subscribers` or `--by rate`) overridden, into its own
//! results directory; its `summary.csv` row is judged ([`judge`]) and the verdict handed to the
//! stepping rule ([`search`]), which picks the next load or stops. `capacity.csv` is rewritten
//! after every step, so an interrupted search keeps what it measured; `report.html` draws p99
//! against load at the end.
//!
//! The generator's self-check ([`crate::report::saturation`]) is part of every verdict: a step
//! where the generator was the bottleneck stops the search with that said, instead of a server
//! capacity that is partly the generator's.

pub mod search;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;

use crate::cli::{CapacityArgs, LoadAxis, OverrideFlags, RunArgs, WatchFlags};
use crate::live::Outlets;
use crate::report::capacity::{self, CapacityStep, Conclusion};
use crate::report::files::REPORT_HTML;
use crate::report::saturation::saturation;
use crate::report::stored::read_summary;
use crate::report::summary::Summary;
use crate::run::{Interrupted, ThresholdsFailed};
use crate::scenario::{self, RunPick, Scenario, Transport};
use search::{Search, Verdict};

/// The file of every step's figures and verdict.
pub const CAPACITY_CSV: &str = "capacity.csv";

/// Why a search cannot start. Bad input: exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    /// `--by rate` with `[publish] window`: saturation mode has no rate to step.
    #[error(
        "--by rate steps [publish] rate, but {0} sets [publish] window (saturation mode, no rate): use --by subscribers, or a scenario with a rate"
    )]
    RateWithWindow(PathBuf),
}

/// Runs the search for every transport of the scenario; returns the results directory. With
/// `--live` or `--metrics`, one page and one endpoint show every step.
pub async fn capacity(args: CapacityArgs) -> anyhow::Result<PathBuf> {
    let outlets = Outlets::start(&args.watch).await?;
    let result = search_all(args, &outlets).await;
    outlets.finish(result.as_deref().ok()).await;
    result
}

async fn search_all(args: CapacityArgs, outlets: &Outlets) -> anyhow::Result<PathBuf> {
    let overrides = scenario::Overrides {
        allow_remote: args.allow_remote,
        ..args.overrides.clone()
    };
    let scenario = scenario::load_with(&args.scenario, &overrides)?;
    if args.by == LoadAxis::Rate && scenario.publish.window.is_some() {
        return Err(CapacityError::RateWithWindow(args.scenario.clone()).into());
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| default_dir(&scenario, SystemTime::now()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let limit_us = u64::try_from(args.p99.as_micros()).unwrap_or(u64::MAX);
    // A built-in transport is searched once, its variants inside each step; a stack's run
    // (`socketio-polling`) on its own.
    let mut picks: Vec<(String, RunPick)> = Vec::new();
    for t in &scenario.transports {
        let (label, pick) = match t {
            Transport::SocketIo(_) | Transport::Nchan(_) | Transport::Template(_) => {
                let label = t.label(Default::default());
                (label.clone(), RunPick::Stack(label))
            }
            other => (
                other.kind().label().to_string(),
                RunPick::Transport(other.kind()),
            ),
        };
        if picks.iter().all(|(l, _)| *l != label) {
            picks.push((label, pick));
        }
    }
    let (start, min) = match args.by {
        LoadAxis::Subscribers => (
            u64::from(scenario.clients.subscribers),
            u64::from(scenario.publish.publishers),
        ),
        LoadAxis::Rate => (scenario.publish.rate.ceil() as u64, 1),
    };
    let mut steps: Vec<CapacityStep> = Vec::new();
    let mut conclusions = Vec::new();
    for (label, pick) in picks {
        let label = label.as_str();
        let mut search = Search::new(start, min, args.max);
        while let Some(load) = search.next() {
            let results = format!("steps/{label}-{load}");
            let (verdict, row) = match step(&args, &pick, load, &dir.join(&results), outlets).await
            {
                Ok(step) => step,
                Err(e) => {
                    finish(&dir, &args, &scenario, limit_us, &conclusions, &steps)?;
                    return Err(e);
                }
            };
            if !args.quiet {
                eprintln!(
                    "capacity [{label}] {} {load}: {}",
                    args.by.label(),
                    verdict.label()
                );
            }
            search.record(load, verdict);
            steps.push(figures(
                label,
                args.by,
                load,
                row.as_ref(),
                verdict,
                results,
            ));
            capacity::write_csv(&dir.join(CAPACITY_CSV), &steps)
                .with_context(|| format!("writing {}", dir.join(CAPACITY_CSV).display()))?;
        }
        let text = search.stop().map_or_else(String::new, |s| s.to_string());
        println!("capacity [{label}] by {}: {text}", args.by.label());
        conclusions.push(Conclusion {
            transport: label.to_owned(),
            text,
        });
    }
    finish(&dir, &args, &scenario, limit_us, &conclusions, &steps)?;
    Ok(dir)
}

/// One step: the scenario for `kind` with the stepped load set to `load`, into `out`; its
/// verdict and summary row (none if the run failed before writing one). Bad input and the
/// machine's limits (exit code 2) and an interruption end the search with their error.
async fn step(
    args: &CapacityArgs,
    pick: &RunPick,
    load: u64,
    out: &Path,
    outlets: &Outlets,
) -> anyhow::Result<(Verdict, Option<Summary>)> {
    let mut overrides = OverrideFlags {
        transports: Some(vec![pick.clone()]),
        ..args.overrides.clone()
    };
    match args.by {
        LoadAxis::Subscribers => overrides.subscribers = Some(i64::try_from(load)?),
        LoadAxis::Rate => overrides.rate = Some(load as f64),
    }
    let run = RunArgs {
        scenario: args.scenario.clone(),
        out: Some(out.to_path_buf()),
        quiet: true,
        server_bin: args.server_bin.clone(),
        shard: None,
        start_at: None,
        allow_remote: args.allow_remote,
        watch: WatchFlags::default(),
        overrides,
    };
    let tag = format!("@{load}");
    if let Err(e) = crate::run::run_with(run, outlets, &tag).await {
        let judged = e.downcast_ref::<ThresholdsFailed>().is_some();
        if !judged && (e.downcast_ref::<Interrupted>().is_some() || crate::run::is_bad_input(&e)) {
            return Err(e);
        }
    }
    // With variants the plain run's row is judged, else the first variant's.
    let row = read_summary(out).ok().and_then(|s| {
        let label = match pick {
            RunPick::Transport(kind) => kind.label(),
            RunPick::Stack(label) => label.as_str(),
        };
        let plain = s.rows.iter().position(|r| r.transport == label);
        s.rows.into_iter().nth(plain.unwrap_or(0))
    });
    let limit_us = u64::try_from(args.p99.as_micros()).unwrap_or(u64::MAX);
    // A run that failed without a row (none connected, the server would not start) did not
    // carry the load; `run` printed why.
    let verdict = row.as_ref().map_or(Verdict::Failed, |r| judge(r, limit_us));
    Ok((verdict, row))
}

/// A step's verdict from its summary row, with the generator's self-check.
///
/// A generator out of CPU could not even make the load as scheduled: every figure is partly its
/// own, whatever they say. A generator that was only late (its lag p99 over its share of the
/// latency p99, CPU to spare) adds about its lag p99 to the slowest deliveries, and nothing
/// else: that can turn a pass into a fail, never a fail into a pass or a loss into none. So
/// lateness decides only a step over the p99 limit by less than the lag. With kernel
/// timestamps the read delay is out of the figures, and the lateness that decides is the
/// publishers'. (A server that
/// answers a broadcast with a thousand writes at once makes the generator's threads late by the
/// time they take to read them all, ~2–4 ms at 1000 subscribers on two cores; with the rule
/// applied to every step, each such search stopped at its first step.)
pub fn judge(row: &Summary, limit_us: u64) -> Verdict {
    let saturated = saturation(row);
    if saturated.cpu {
        return Verdict::GeneratorSaturated;
    }
    let verdict = judge_server(row, limit_us);
    // What lateness is still in the figures: the event-loop lag with user-space timestamps;
    // with the kernel's (a read delay figure), only the publishers' (see `docs/latency.md`).
    let (late, lag) = match row.generator_delay_p99_us {
        None => (saturated.lag, row.client_lag_p99_us),
        Some(_) => (saturated.publish, row.publish_lag_p99_us),
    };
    let lag = lag.unwrap_or(0);
    let within_lag = row
        .latency_p99_us
        .is_some_and(|p99| p99.saturating_sub(lag) <= limit_us);
    if late && verdict == Verdict::P99Over && within_lag {
        Verdict::GeneratorSaturated
    } else {
        verdict
    }
}

/// The verdict on the server alone.
fn judge_server(row: &Summary, limit_us: u64) -> Verdict {
    if !row.complete {
        Verdict::Failed
    } else if row.connect_errors > 0 || row.io_errors > 0 {
        Verdict::Errors
    } else if row.lost > 0 {
        Verdict::Lost
    } else if row.latency_p99_us.is_none_or(|p99| p99 > limit_us) {
        Verdict::P99Over
    } else {
        Verdict::Pass
    }
}

fn figures(
    label: &str,
    by: LoadAxis,
    load: u64,
    row: Option<&Summary>,
    verdict: Verdict,
    results: String,
) -> CapacityStep {
    CapacityStep {
        transport: label.to_owned(),
        by: by.label().to_owned(),
        load,
        latency_p50_us: row.and_then(|r| r.latency_p50_us),
        latency_p99_us: row.and_then(|r| r.latency_p99_us),
        lost: row.map_or(0, |r| r.lost),
        deliveries_per_s: row.and_then(|r| r.deliveries_per_s),
        server_cpu_s: row.and_then(|r| r.server_cpu_s),
        client_cpu_s: row.map(|r| r.client_cpu_s),
        client_cpu_util: row.and_then(|r| r.client_cpu_util),
        verdict: verdict.label().to_owned(),
        results,
    }
}

/// Writes `capacity.csv` and `report.html` with what was measured.
fn finish(
    dir: &Path,
    args: &CapacityArgs,
    scenario: &Scenario,
    limit_us: u64,
    conclusions: &[Conclusion],
    steps: &[CapacityStep],
) -> anyhow::Result<()> {
    let csv = dir.join(CAPACITY_CSV);
    capacity::write_csv(&csv, steps).with_context(|| format!("writing {}", csv.display()))?;
    let html = capacity::page(
        &scenario.name,
        args.by.label(),
        limit_us,
        conclusions,
        steps,
    );
    let path = dir.join(REPORT_HTML);
    std::fs::write(&path, html).with_context(|| format!("writing {}", path.display()))
}

fn default_dir(scenario: &Scenario, started: SystemTime) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(started)
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    Path::new("results").join(format!("{}-capacity-{stamp}", scenario.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(p99_ms: u64) -> Summary {
        Summary {
            transport: "ws".into(),
            latency_p99_us: Some(p99_ms * 1000),
            complete: true,
            ..Summary::default()
        }
    }

    #[test]
    fn judging_puts_the_generator_first() {
        assert_eq!(judge(&row(10), 50_000), Verdict::Pass);
        assert_eq!(judge(&row(60), 50_000), Verdict::P99Over);
        let lost = Summary { lost: 1, ..row(10) };
        assert_eq!(judge(&lost, 50_000), Verdict::Lost);
        let errors = Summary {
            connect_errors: 2,
            ..lost.clone()
        };
        assert_eq!(judge(&errors, 50_000), Verdict::Errors);
        let saturated = Summary {
            client_cpu_util: Some(0.95),
            ..errors
        };
        assert_eq!(judge(&saturated, 50_000), Verdict::GeneratorSaturated);
        // Late but not busy (6 ms of lag, over a tenth of every p99 below): a pass stays a pass
        // and a loss a loss; lateness decides a fail only when the p99 less the lag is within
        // the limit.
        let late = |p99_ms: u64| Summary {
            client_lag_p99_us: Some(6_000),
            client_cpu_util: Some(0.4),
            ..row(p99_ms)
        };
        assert_eq!(judge(&late(13), 50_000), Verdict::Pass);
        let late_lost = Summary {
            lost: 1,
            ..late(13)
        };
        assert_eq!(judge(&late_lost, 50_000), Verdict::Lost);
        assert_eq!(judge(&late(55), 50_000), Verdict::GeneratorSaturated);
        assert_eq!(judge(&late(57), 50_000), Verdict::P99Over);
        // With kernel timestamps the lag is out of the figures; late publishers are not.
        let stamped = |p99_ms: u64, publish_lag_us: u64| Summary {
            generator_delay_p99_us: Some(1_000),
            publish_lag_p99_us: Some(publish_lag_us),
            ..late(p99_ms)
        };
        assert_eq!(judge(&stamped(55, 0), 50_000), Verdict::P99Over);
        assert_eq!(
            judge(&stamped(55, 6_000), 50_000),
            Verdict::GeneratorSaturated
        );
        assert_eq!(judge(&stamped(57, 6_000), 50_000), Verdict::P99Over);
        let nothing = Summary {
            latency_p99_us: None,
            ..row(0)
        };
        assert_eq!(judge(&nothing, 50_000), Verdict::P99Over);
    }
}
