//! What a person watching `wsbench run` sees on stderr while it goes.
//!
//! On a terminal: one live line per transport (indicatif) with the phase — connecting k/N at the
//! ramp rate, warmup, measuring with the time left, draining — and, once a second, the last
//! second's deliveries/s and p99 push latency, the deliveries still missing, and the open
//! connections. When stderr is not a terminal (CI logs, a pipe): one plain line per phase change
//! and nothing redrawn. With `--quiet`: nothing. Owns the display only; the figures come from the
//! client's [`Phase`] reports, and nothing here is written to the results.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::client::{LiveStats, LoadPlan, Phase};

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nothing (`--quiet`).
    Quiet,
    /// One plain line per phase change (stderr is not a terminal).
    Lines,
    /// A live line redrawn in place (stderr is a terminal).
    Live,
}

impl Mode {
    /// `Live` on a terminal, `Lines` otherwise, `Quiet` when asked.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Live
        } else {
            Mode::Lines
        }
    }
}

/// The progress display of one transport's run. Shared by reference: every method takes `&self`.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    label: String,
    plan: LoadPlan,
    bar: RefCell<Option<ProgressBar>>,
}

impl Progress {
    /// The display for transport `label` running `plan`.
    pub fn new(mode: Mode, label: &str, plan: &LoadPlan) -> Self {
        Progress {
            mode,
            label: label.to_owned(),
            plan: plan.clone(),
            bar: RefCell::new(None),
        }
    }

    /// A line that stays (printed above the live line, if any).
    pub fn note(&self, line: &str) {
        let text = format!("[{}] {line}", self.label);
        match (self.mode, self.bar.borrow().as_ref()) {
            (Mode::Quiet, _) => {}
            (Mode::Live, Some(bar)) => bar.println(text),
            _ => eprintln!("{text}"),
        }
    }

    /// Shows a phase change or a second's figures.
    pub fn phase(&self, phase: Phase) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Lines => {
                if let Some(line) = self.line(phase) {
                    self.note(&line);
                }
            }
            Mode::Live => self.live(phase),
        }
    }

    /// The plain line for a phase change; `None` for the frequent reports (progress, ticks).
    fn line(&self, phase: Phase) -> Option<String> {
        let plan = &self.plan;
        Some(match phase {
            Phase::Connecting { clients } => {
                format!("connecting {clients} clients at {}/s", plan.connect_rate)
            }
            Phase::Connected { ok, failed } => format!("connected {ok}, failed {failed}"),
            Phase::Idle { span } => format!(
                "idle {}: every connection quiet, heartbeats only",
                humantime::format_duration(span)
            ),
            Phase::IdleOver => return None,
            Phase::Warmup => format!("warmup {}", humantime::format_duration(plan.warmup)),
            Phase::Measuring => match plan.shape.window {
                None => format!(
                    "measuring {} at {} msg/s",
                    humantime::format_duration(plan.duration),
                    plan.rate
                ),
                Some(n) => format!(
                    "measuring {} with {n} messages in flight",
                    humantime::format_duration(plan.duration)
                ),
            },
            Phase::Draining => format!(
                "draining (up to {})",
                humantime::format_duration(plan.drain)
            ),
            Phase::Measured => "done".to_owned(),
            Phase::Dropped(reset) => format!("fault: drop reset {reset} connections"),
            Phase::ConnectProgress { .. } | Phase::Tick(_) => return None,
        })
    }

    fn live(&self, phase: Phase) {
        let prefix = format!("[{}]", self.label);
        let mut slot = self.bar.borrow_mut();
        match phase {
            Phase::Connecting { clients } => {
                let bar = ProgressBar::with_draw_target(
                    Some(u64::from(clients)),
                    ProgressDrawTarget::stderr(),
                );
                bar.set_style(style(&format!(
                    "{{prefix}} connecting {{pos}}/{{len}} at {}/s [{{bar:30}}] {{msg}}",
                    self.plan.connect_rate
                )));
                bar.set_prefix(prefix);
                *slot = Some(bar);
            }
            Phase::ConnectProgress { ok, failed } => {
                if let Some(bar) = slot.as_ref() {
                    bar.set_position(u64::from(ok + failed));
                    if failed > 0 {
                        bar.set_message(format!("{failed} failed"));
                    }
                }
            }
            Phase::Dropped(_) => {
                drop(slot);
                if let Some(line) = self.line(phase) {
                    self.note(&line);
                }
            }
            Phase::Connected { .. } | Phase::Measured => {
                if let Some(bar) = slot.take() {
                    bar.finish_and_clear();
                }
                drop(slot);
                if let Some(line) = self.line(phase) {
                    self.note(&line);
                }
            }
            Phase::Idle { span } => {
                let bar = spinner(&prefix, "idle");
                bar.set_message(format!(
                    "{} (heartbeats only) ",
                    humantime::format_duration(span)
                ));
                *slot = Some(bar);
            }
            Phase::IdleOver => {
                if let Some(old) = slot.take() {
                    old.finish_and_clear();
                }
            }
            Phase::Warmup => {
                if let Some(old) = slot.take() {
                    old.finish_and_clear();
                }
                let bar = spinner(&prefix, "warmup");
                bar.set_message(format!("{} ", humantime::format_duration(self.plan.warmup)));
                *slot = Some(bar);
            }
            Phase::Measuring => {
                if let Some(old) = slot.take() {
                    old.finish_and_clear();
                }
                let bar = ProgressBar::with_draw_target(
                    Some(millis(self.plan.duration)),
                    ProgressDrawTarget::stderr(),
                );
                bar.set_style(style("{prefix} measuring [{bar:30}] {msg}"));
                bar.set_prefix(prefix);
                bar.set_message(format!(
                    "{} left",
                    humantime::format_duration(self.plan.duration)
                ));
                *slot = Some(bar);
            }
            Phase::Tick(stats) => {
                if let Some(bar) = slot.as_ref() {
                    let measuring = stats.elapsed < self.plan.duration;
                    let left = if measuring {
                        let left = self.plan.duration - stats.elapsed;
                        bar.set_position(millis(stats.elapsed));
                        format!("{}s left · ", left.as_secs_f64().ceil())
                    } else {
                        "· ".to_owned()
                    };
                    bar.set_message(format!("{left}{}", live_figures(&stats)));
                }
            }
            Phase::Draining => {
                if let Some(old) = slot.take() {
                    old.finish_and_clear();
                }
                let bar = spinner(&prefix, "draining");
                bar.set_message(format!(
                    "(up to {})",
                    humantime::format_duration(self.plan.drain)
                ));
                *slot = Some(bar);
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.get_mut().take() {
            bar.finish_and_clear();
        }
    }
}

/// `9.8k deliveries/s · p99 21.0 ms · missing 0 · 1010 connections`
fn live_figures(s: &LiveStats) -> String {
    let rate = if s.deliveries_per_s >= 10_000.0 {
        format!("{:.1}k", s.deliveries_per_s / 1000.0)
    } else {
        format!("{:.0}", s.deliveries_per_s)
    };
    let p99 = s.latency_p99_us.map_or_else(
        || "–".to_owned(),
        |us| match us {
            0..1_000 => format!("{us} µs"),
            1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
            _ => format!("{:.2} s", us as f64 / 1e6),
        },
    );
    format!(
        "{rate} deliveries/s · p99 {p99} · missing {} · {} connections",
        s.missing, s.connections
    )
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the templates are fixed and valid")
        .progress_chars("=> ")
}

/// A spinner line for a phase without a fixed end: `[ws] ⠋ draining <msg>`.
fn spinner(prefix: &str, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!("{{prefix}} {{spinner}} {what} {{msg}}"))
            .expect("the templates are fixed and valid"),
    );
    bar.set_prefix(prefix.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::WireBytes;

    #[test]
    fn live_figures_read_well() {
        let s = LiveStats {
            elapsed: Duration::from_secs(3),
            deliveries_per_s: 98_765.0,
            latency_p99_us: Some(21_040),
            missing: 12,
            connections: 1010,
            deliveries: 98_765,
            latency_p50_us: Some(9_000),
            latency_buckets: None,
            published: 1_000,
            wire: WireBytes::default(),
        };
        assert_eq!(
            live_figures(&s),
            "98.8k deliveries/s · p99 21.0 ms · missing 12 · 1010 connections"
        );
        let idle = LiveStats {
            deliveries_per_s: 0.0,
            latency_p99_us: None,
            ..s
        };
        assert!(live_figures(&idle).starts_with("0 deliveries/s · p99 –"));
        let slow = LiveStats {
            latency_p99_us: Some(2_834_400),
            ..s
        };
        assert!(live_figures(&slow).contains("p99 2.83 s"));
        let fast = LiveStats {
            latency_p99_us: Some(870),
            ..s
        };
        assert!(live_figures(&fast).contains("p99 870 µs"));
    }
}
