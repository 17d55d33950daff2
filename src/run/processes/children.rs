//! The generator children of one transport run: started in their own process group, watched,
//! told to stop once on Ctrl-C, killed after a bounded wait, every one reaped. Owns the
//! processes and their exits; what they run and how their results are added up is the parent
//! module's.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Lines of a failed child's stderr quoted in the run's error.
const LAST_LINES: usize = 10;

/// How long children get to write their partial results once told to stop, before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(60);

/// Exit codes of a child whose results were written: done, or done with thresholds failed
/// (which the merged run checks again).
const WROTE_RESULTS: [i32; 2] = [0, 99];

/// The generator children of one transport run.
pub(super) struct Children {
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
    pub(super) fn start(
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
    /// `window` is the common measured phase: `sample` is taken as it begins and ends (or
    /// when the children end, if sooner), and the samples are returned with the directories.
    pub(super) async fn wait<S>(
        mut self,
        cancel: &CancellationToken,
        window: (SystemTime, SystemTime),
        note: &dyn Fn(&str),
        sample: &dyn Fn() -> S,
    ) -> (anyhow::Result<Vec<PathBuf>>, Vec<S>) {
        let mut failed: Option<anyhow::Error> = None;
        let mut stopping = false;
        let mut left = self.each.len();
        let deadline = tokio::time::sleep(Duration::MAX / 4);
        let until = |at: SystemTime| at.duration_since(SystemTime::now()).unwrap_or_default();
        let measured = tokio::time::sleep(until(window.0));
        let over = tokio::time::sleep(until(window.1));
        let mut samples = Vec::new();
        tokio::pin!(deadline, measured, over);
        while left > 0 {
            tokio::select! {
                () = &mut measured, if samples.is_empty() => {
                    samples.push(sample());
                    note("measuring: the generator processes' common window has begun");
                }
                () = &mut over, if samples.len() == 1 => samples.push(sample()),
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
        if samples.len() == 1 {
            samples.push(sample());
        }
        let dirs = match failed {
            Some(e) => Err(e),
            None => Ok(self.each.into_iter().map(|(_, _, dir, _)| dir).collect()),
        };
        (dirs, samples)
    }

    /// Each child's name and pid, for the progress note.
    pub(super) fn describe(&self) -> String {
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
