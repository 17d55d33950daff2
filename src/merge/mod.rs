//! `wsbench merge OUT DIR...`: the results directories of a sharded run (`wsbench run --shard
//! I/N`) added up into one results directory, exactly, that `wsbench report` and `compare`
//! read like any other. The shards share one scenario, all but its `[target]`: a fleet's
//! shards may each have loaded their own server instance, and each keeps what it targeted.
//!
//! Owns reading the shards back (through [`report::stored`](crate::report::stored), as `wsbench
//! report` does), the checks that they are the complete, non-overlapping shards of one run, and
//! writing the sum through the same [`report::write_all`] a run uses. The arithmetic is in `sum`.

mod sum;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::metrics::{ShardFigures, Sharding, TransportMetrics};
use crate::report::files::{RUN_JSON, SCENARIO_TOML};
use crate::report::stored::{load_metrics, read_json, read_text};
use crate::report::{self, ReportError, RunFacts, RunInfo};
use sum::Part;

/// Why shards could not be merged. Every variant but [`MergeError::Write`] is bad input (exit
/// code 2): name the right directories.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A shard's directory could not be read: not a results directory, or damaged.
    #[error("{}: cannot read the shard's results", .dir.display())]
    Read {
        /// The directory.
        dir: PathBuf,
        /// What failed.
        source: ReportError,
    },
    /// A directory holds a run in one process (no `--shard`), or an already merged run.
    #[error("{}: {transport} is not one shard's results (run it with --shard I/N)", .dir.display())]
    NotAShard {
        /// The directory.
        dir: PathBuf,
        /// The transport label.
        transport: String,
    },
    /// Two shards ran different scenarios (loads, transports or targets): they are not one run.
    #[error(
        "{} and {} ran different scenarios (scenario.toml line {line}: {a_line:?} vs {b_line:?}): shards of one run share one scenario, all but its [target]",
        .a.display(), .b.display()
    )]
    ScenarioDiffers {
        /// The first shard's directory.
        a: PathBuf,
        /// The other.
        b: PathBuf,
        /// First line that differs, 1-based.
        line: usize,
        /// That line in `a`.
        a_line: String,
        /// That line in `b`.
        b_line: String,
    },
    /// Two shards' slices share subscribers or publishers: the same shard given twice, or
    /// shards of differently split runs.
    #[error("{a} and {b} overlap: give each shard of one run once")]
    Overlap {
        /// One directory, its shard and subscriber ids: `DIR (shard I/N: subscribers A..B)`.
        a: String,
        /// The other, alike.
        b: String,
    },
    /// Shards of runs split into different counts.
    #[error("{a} but {b}: shards of one run share one count")]
    CountDiffers {
        /// One directory and its shard: `DIR is shard I/N`.
        a: String,
        /// The other, alike.
        b: String,
    },
    /// Not every shard was given: the run's expected and lost need all of them.
    #[error("shards missing: {}; give every shard of the run", .0.join(", "))]
    Missing(Vec<String>),
    /// The shards were given different common starts, so their windows did not coincide.
    #[error("{a} and {b} started at different times: shards of one run share one --start-at")]
    StartDiffers {
        /// One directory and its start: `DIR (start TIME)`.
        a: String,
        /// The other, alike.
        b: String,
    },
    /// OUT is one of the shards' directories: the merge would overwrite a shard.
    #[error("{}: the merged directory must not be one of the shards'", .0.display())]
    OutIsAShard(PathBuf),
    /// Writing the merged directory failed.
    #[error("writing the merged results to {}", .dir.display())]
    Write {
        /// The merged directory.
        dir: PathBuf,
        /// What failed.
        source: ReportError,
    },
}

impl MergeError {
    /// Whether this is bad input (the directories given) rather than a failure to write.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, MergeError::Write { .. })
    }
}

/// What [`merge`] did.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The merged table, as `wsbench run` prints it, with the notes under it.
    pub table: String,
    /// The transports merged, each with its shard count.
    pub transports: Vec<(String, u32)>,
}

/// One shard's results directory, read back.
struct Shard {
    dir: PathBuf,
    /// `dir` as given, for the per-shard section.
    label: String,
    facts: RunFacts,
    scenario_toml: String,
    /// Its scenario's `[target]`, as `key = value` pairs.
    target: String,
    metrics: Vec<TransportMetrics>,
}

/// Merges the shards' results directories `dirs` into `out` (created if needed).
pub fn merge(out: &Path, dirs: &[PathBuf]) -> Result<Merged, MergeError> {
    let shards = dirs
        .iter()
        .map(|d| read(d))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(same) = dirs.iter().find(|d| same_dir(d, out)) {
        return Err(MergeError::OutIsAShard(same.clone()));
    }
    let (first, merged) = add_up(&shards)?;
    let transports = merged
        .iter()
        .map(|m| (m.transport.clone(), shard_count(m)))
        .collect();
    let started = shards
        .iter()
        .filter_map(|s| humantime::parse_rfc3339(&s.facts.started_utc).ok())
        .min()
        .unwrap_or(UNIX_EPOCH);
    let run = RunInfo {
        started,
        cores: shards.iter().map(|s| s.facts.cores).sum(),
        complete: shards.iter().all(|s| s.facts.complete),
        command: std::env::args().collect(),
        scenario_path: PathBuf::from(&first.facts.scenario_file),
        scenario_toml: first.scenario_toml.clone(),
    };
    report::write_all(out, &run, &merged).map_err(|source| MergeError::Write {
        dir: out.to_owned(),
        source,
    })?;
    let rows = report::summarize(&merged);
    let mut table = report::table::render_summaries(&rows);
    for line in report::sharded::notes(&merged)
        .into_iter()
        .chain(report::saturation::warnings(&rows, run.cores))
    {
        table.push('\n');
        table.push_str(&line);
    }
    Ok(Merged { table, transports })
}

/// The shards' results directories `dirs` added up, one entry per transport, without writing
/// anything: what `wsbench run` does with the results of the generator processes it started.
pub fn sum_dirs(dirs: &[PathBuf]) -> Result<Vec<TransportMetrics>, MergeError> {
    let shards = dirs
        .iter()
        .map(|d| read(d))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(add_up(&shards)?.1)
}

/// Checks that `shards` are one run's and adds them up per transport; with the first shard.
fn add_up(shards: &[Shard]) -> Result<(&Shard, Vec<TransportMetrics>), MergeError> {
    let targets_differ = check_scenarios(shards)?;
    let Some(first) = shards.first() else {
        return Err(MergeError::Missing(vec!["every shard (none given)".into()]));
    };
    let mut merged = Vec::new();
    for m in &first.metrics {
        let parts = parts_of(shards, &m.transport, targets_differ)?;
        merged.push(sum::add(&parts));
    }
    Ok((first, merged))
}

/// How many shards a merged transport was added up from.
fn shard_count(m: &TransportMetrics) -> u32 {
    match &m.sharding {
        Some(Sharding::Merged(shards)) => shards.len() as u32,
        _ => 1,
    }
}

fn read(dir: &Path) -> Result<Shard, MergeError> {
    let err = |source| MergeError::Read {
        dir: dir.to_owned(),
        source,
    };
    let facts: RunFacts = read_json(&dir.join(RUN_JSON)).map_err(err)?;
    let scenario_toml = read_text(&dir.join(SCENARIO_TOML)).map_err(err)?;
    let metrics = load_metrics(dir).map_err(err)?;
    for m in &metrics {
        if !matches!(m.sharding, Some(Sharding::Part(_))) {
            return Err(MergeError::NotAShard {
                dir: dir.to_owned(),
                transport: m.transport.clone(),
            });
        }
    }
    Ok(Shard {
        dir: dir.to_owned(),
        label: dir.display().to_string(),
        facts,
        target: target_of(&scenario_toml),
        scenario_toml,
        metrics,
    })
}

/// Whether `a` and `b` name one directory (`b` may not exist yet).
fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Every shard ran the first one's scenario (the resolved `scenario.toml`, flags applied),
/// hence its transports and load; only their `[target]` may differ (a fleet's shards, each
/// pointed at its own server instance). Returns whether the targets differ.
fn check_scenarios(shards: &[Shard]) -> Result<bool, MergeError> {
    let Some(first) = shards.first() else {
        return Ok(false);
    };
    let mut targets_differ = false;
    for other in &shards[1..] {
        if other.scenario_toml == first.scenario_toml {
            continue;
        }
        let mut a = load_lines(&first.scenario_toml);
        let mut b = load_lines(&other.scenario_toml);
        loop {
            match (a.next(), b.next()) {
                (Some((_, x)), Some((_, y))) if x == y => {}
                (None, None) => break,
                (x, y) => {
                    let line = x.or(y).map_or(1, |(n, _)| n);
                    return Err(MergeError::ScenarioDiffers {
                        a: first.dir.clone(),
                        b: other.dir.clone(),
                        line,
                        a_line: x.map_or("(end of file)", |(_, l)| l).to_owned(),
                        b_line: y.map_or("(end of file)", |(_, l)| l).to_owned(),
                    });
                }
            }
        }
        targets_differ = true;
    }
    Ok(targets_differ)
}

/// The lines of a resolved `scenario.toml` that say what load ran, with their 1-based numbers:
/// every line but those of its `[target]` table (what a shard was pointed at).
fn load_lines(toml: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut in_target = false;
    toml.lines()
        .enumerate()
        .filter(move |(_, line)| {
            let line = line.trim();
            if line.starts_with('[') {
                in_target = line == "[target]";
            }
            !in_target
        })
        .map(|(i, line)| (i + 1, line))
}

/// A shard's `[target]` table as one line of `key = value` pairs.
fn target_of(toml: &str) -> String {
    let mut in_target = false;
    let mut pairs = Vec::new();
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_target = line == "[target]";
        } else if in_target && !line.is_empty() && !line.starts_with('#') {
            pairs.push(line);
        }
    }
    pairs.join(", ")
}

/// The shards of `transport`, in index order, checked to be all of one run's, each once.
fn parts_of<'a>(
    shards: &'a [Shard],
    transport: &str,
    targets_differ: bool,
) -> Result<Vec<Part<'a>>, MergeError> {
    let mut parts: Vec<(&'a Path, Part<'a>)> = Vec::new();
    for shard in shards {
        // Same scenario, same transports: every shard has this one.
        let Some(metrics) = shard.metrics.iter().find(|m| m.transport == transport) else {
            return Err(MergeError::NotAShard {
                dir: shard.dir.clone(),
                transport: transport.to_owned(),
            });
        };
        let figures: &ShardFigures = match &metrics.sharding {
            Some(Sharding::Part(f)) => f,
            _ => {
                return Err(MergeError::NotAShard {
                    dir: shard.dir.clone(),
                    transport: transport.to_owned(),
                });
            }
        };
        parts.push((
            &shard.dir,
            Part {
                dir: &shard.label,
                metrics,
                figures,
                target: targets_differ.then_some(shard.target.as_str()),
            },
        ));
    }
    parts.sort_by_key(|(_, p)| (p.figures.slice.subscribers.start, p.figures.slice.index));
    let slice = |dir: &Path, p: &Part<'_>| {
        let s = &p.figures.slice;
        format!(
            "{} (shard {}: subscribers {}..{})",
            dir.display(),
            s.label(),
            s.subscribers.start,
            s.subscribers.end
        )
    };
    let shard = |dir: &Path, p: &Part<'_>| {
        format!("{} is shard {}", dir.display(), p.figures.slice.label())
    };
    let start = |dir: &Path, p: &Part<'_>| {
        let at = SystemTime::UNIX_EPOCH + p.figures.start_unix;
        format!(
            "{} (start {})",
            dir.display(),
            humantime::format_rfc3339_nanos(at)
        )
    };
    for w in parts.windows(2) {
        let ((da, a), (db, b)) = (&w[0], &w[1]);
        let (sa, sb) = (&a.figures.slice, &b.figures.slice);
        if sa.subscribers.end > sb.subscribers.start || sa.publishers.end > sb.publishers.start {
            return Err(MergeError::Overlap {
                a: slice(da, a),
                b: slice(db, b),
            });
        }
        if sa.count != sb.count {
            return Err(MergeError::CountDiffers {
                a: shard(da, a),
                b: shard(db, b),
            });
        }
        if a.figures.start_unix != b.figures.start_unix {
            return Err(MergeError::StartDiffers {
                a: start(da, a),
                b: start(db, b),
            });
        }
    }
    let count = parts.first().map_or(0, |(_, p)| p.figures.slice.count);
    let present: Vec<u32> = parts.iter().map(|(_, p)| p.figures.slice.index).collect();
    let missing: Vec<String> = (0..count)
        .filter(|i| !present.contains(i))
        .map(|i| format!("{i}/{count} of {transport}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing(missing));
    }
    Ok(parts.into_iter().map(|(_, p)| p).collect())
}
