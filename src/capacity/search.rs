//! The capacity search's stepping rule, pure: which load to try next given the verdicts so far,
//! and why the search stopped. Runs nothing and measures nothing; [`super`] runs each step.
//!
//! The rule, per transport:
//! 1. Start at the scenario's load (clamped into `min..=max`).
//! 2. While every step passes, double the load (capped at `max`); a pass at `max` stops the
//!    search ([`Stop::MaxReached`]): the server carries at least that.
//! 3. Once a step fails on the server's side (p99 over the limit, a message lost, errors),
//!    bisect between the highest load that passed and the lowest that failed, until they are
//!    within [`resolution`] of each other ([`Stop::Found`]). If nothing has passed yet, halve
//!    instead (down to `min`; failing there is [`Stop::NoneFits`]).
//! 4. A step where the load generator itself was saturated stops the search at once
//!    ([`Stop::GeneratorBound`]): its latency and losses are partly the generator's, so it says
//!    nothing about the server, and a larger load would only be more so.

/// How one step ended, judged from its summary row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the p99 limit, nothing lost, no errors.
    Pass,
    /// The p99 push latency was over the limit (or nothing was delivered to measure).
    P99Over,
    /// At least one message was lost.
    Lost,
    /// Connections failed or broke.
    Errors,
    /// The run itself failed (e.g. no client could connect): the server did not carry the load.
    Failed,
    /// The load generator's self-check says it was the bottleneck.
    GeneratorSaturated,
}

impl Verdict {
    /// Every verdict.
    pub const ALL: [Verdict; 6] = [
        Verdict::Pass,
        Verdict::P99Over,
        Verdict::Lost,
        Verdict::Errors,
        Verdict::Failed,
        Verdict::GeneratorSaturated,
    ];

    /// The word `capacity.csv` and the tables use.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::P99Over => "p99 over limit",
            Verdict::Lost => "lost messages",
            Verdict::Errors => "connection errors",
            Verdict::Failed => "run failed",
            Verdict::GeneratorSaturated => "generator saturated",
        }
    }
}

/// Why a search stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `capacity` passed and `failed_at` failed (for `why`), within [`resolution`] of each other.
    Found {
        /// The highest load that passed: the capacity.
        capacity: u64,
        /// The lowest load that failed.
        failed_at: u64,
        /// Why it failed.
        why: Verdict,
    },
    /// The `--max` load passed: the capacity is at least that.
    MaxReached {
        /// The cap.
        max: u64,
    },
    /// The generator was the bottleneck at load `at`; the server carried `passed` (if any step
    /// passed) and its capacity is unknown above that, and below `failed` if a higher load had
    /// already failed on the server's own account (the search was bisecting).
    GeneratorBound {
        /// The load at which the generator saturated.
        at: u64,
        /// The highest load that passed before.
        passed: Option<u64>,
        /// The lowest load that failed before, and why.
        failed: Option<(u64, Verdict)>,
    },
    /// Even the smallest load failed.
    NoneFits {
        /// The smallest load.
        min: u64,
        /// Why it failed.
        why: Verdict,
    },
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Stop::Found {
                capacity,
                failed_at,
                why,
            } => write!(
                f,
                "capacity {capacity} (passed; {failed_at} failed: {})",
                why.label()
            ),
            Stop::MaxReached { max } => write!(f, "at least {max} (passed at --max)"),
            Stop::GeneratorBound { at, passed, failed } => {
                write!(f, "unknown: the load generator was the bottleneck at {at}")?;
                match (passed, failed) {
                    (Some(p), Some((failed, why))) => write!(
                        f,
                        " (the server carried {p}; {failed} failed: {})",
                        why.label()
                    )?,
                    (Some(p), None) => write!(f, " (the server carried {p})")?,
                    (None, _) => {}
                }
                write!(f, "; not a server capacity")
            }
            Stop::NoneFits { min, why } => {
                write!(f, "below {min}: the smallest load failed ({})", why.label())
            }
        }
    }
}

/// How close the highest pass and the lowest fail must be for the search to stop: within a
/// sixteenth of the failing load (about 6 %), and at least 1.
pub fn resolution(failed_at: u64) -> u64 {
    (failed_at / 16).max(1)
}

/// One transport's search.
#[derive(Debug, Clone)]
pub struct Search {
    min: u64,
    max: u64,
    next: Option<u64>,
    passed: Option<u64>,
    failed: Option<(u64, Verdict)>,
    stop: Option<Stop>,
}

impl Search {
    /// A search starting at `start`, never below `min` nor above `max` (no cap: `None`).
    pub fn new(start: u64, min: u64, max: Option<u64>) -> Search {
        let min = min.max(1);
        let max = max.unwrap_or(u64::MAX).max(min);
        Search {
            min,
            max,
            next: Some(start.clamp(min, max)),
            passed: None,
            failed: None,
            stop: None,
        }
    }

    /// The load to run next; `None` once stopped.
    pub fn next(&self) -> Option<u64> {
        self.next
    }

    /// Why the search stopped, once it has.
    pub fn stop(&self) -> Option<Stop> {
        self.stop
    }

    /// The verdict of the step run at `load`; moves to the next load or stops.
    pub fn record(&mut self, load: u64, verdict: Verdict) {
        self.next = None;
        match verdict {
            Verdict::GeneratorSaturated => {
                self.stop = Some(Stop::GeneratorBound {
                    at: load,
                    passed: self.passed,
                    failed: self.failed,
                });
                return;
            }
            Verdict::Pass => self.passed = Some(self.passed.map_or(load, |p| p.max(load))),
            why => {
                if self.failed.is_none_or(|(f, _)| load < f) {
                    self.failed = Some((load, why));
                }
            }
        }
        match (self.passed, self.failed) {
            (Some(passed), None) if passed >= self.max => {
                self.stop = Some(Stop::MaxReached { max: self.max });
            }
            (Some(passed), None) => self.next = Some(passed.saturating_mul(2).min(self.max)),
            (None, Some((failed, why))) if failed <= self.min => {
                self.stop = Some(Stop::NoneFits { min: self.min, why });
            }
            (None, Some((failed, _))) => self.next = Some((failed / 2).max(self.min)),
            (Some(passed), Some((failed, why))) => {
                if failed.saturating_sub(passed) <= resolution(failed) {
                    self.stop = Some(Stop::Found {
                        capacity: passed,
                        failed_at: failed,
                        why,
                    });
                } else {
                    self.next = Some(passed + (failed - passed) / 2);
                }
            }
            (None, None) => unreachable!("a verdict was recorded"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search against a server that passes up to `limit` (and fails above with `why`),
    /// returning the loads tried and the stop.
    fn against(mut search: Search, verdict: impl Fn(u64) -> Verdict) -> (Vec<u64>, Stop) {
        let mut tried = Vec::new();
        while let Some(load) = search.next() {
            tried.push(load);
            assert!(tried.len() < 100, "the search must end: {tried:?}");
            search.record(load, verdict(load));
        }
        (tried, search.stop().unwrap())
    }

    fn up_to(limit: u64) -> impl Fn(u64) -> Verdict {
        move |load| {
            if load <= limit {
                Verdict::Pass
            } else {
                Verdict::P99Over
            }
        }
    }

    #[test]
    fn doubles_while_passing_then_bisects_to_the_resolution() {
        let (tried, stop) = against(Search::new(1000, 1, None), up_to(5000));
        // Doubling: 1000, 2000, 4000, 8000 (fail); bisecting between 4000 and 8000.
        assert_eq!(tried[..4], [1000, 2000, 4000, 8000]);
        assert_eq!(tried[4..], [6000, 5000, 5500, 5250]);
        let Stop::Found {
            capacity,
            failed_at,
            why,
        } = stop
        else {
            panic!("{stop:?}")
        };
        assert_eq!((capacity, why), (5000, Verdict::P99Over));
        assert!(failed_at - capacity <= resolution(failed_at));
        assert_eq!(failed_at, 5250);
    }

    #[test]
    fn bisects_to_the_unit_at_small_loads() {
        let (tried, stop) = against(Search::new(2, 2, None), up_to(5));
        assert_eq!(tried, [2, 4, 8, 6, 5]);
        assert_eq!(
            stop,
            Stop::Found {
                capacity: 5,
                failed_at: 6,
                why: Verdict::P99Over
            }
        );
    }

    #[test]
    fn a_pass_at_max_stops() {
        let (tried, stop) = against(Search::new(3, 1, Some(10)), up_to(100));
        assert_eq!(tried, [3, 6, 10]);
        assert_eq!(stop, Stop::MaxReached { max: 10 });
        // A start above the cap starts at the cap.
        let (tried, _) = against(Search::new(50, 1, Some(10)), up_to(100));
        assert_eq!(tried, [10]);
    }

    #[test]
    fn a_loss_stops_the_doubling_like_a_slow_p99() {
        let verdict = |load| {
            if load < 300 {
                Verdict::Pass
            } else {
                Verdict::Lost
            }
        };
        let (tried, stop) = against(Search::new(100, 1, None), verdict);
        assert_eq!(tried[..3], [100, 200, 400]);
        let Stop::Found {
            capacity,
            failed_at,
            why: Verdict::Lost,
        } = stop
        else {
            panic!("{stop:?}")
        };
        assert!(capacity < 300 && failed_at >= 300, "{stop:?}");
        assert!(failed_at - capacity <= resolution(failed_at), "{stop:?}");
    }

    #[test]
    fn a_saturated_generator_stops_the_search_at_once() {
        let verdict = |load| {
            if load < 400 {
                Verdict::Pass
            } else {
                Verdict::GeneratorSaturated
            }
        };
        let (tried, stop) = against(Search::new(100, 1, None), verdict);
        assert_eq!(tried, [100, 200, 400]);
        assert_eq!(
            stop,
            Stop::GeneratorBound {
                at: 400,
                passed: Some(200),
                failed: None,
            }
        );
        // While bisecting: what failed above says where the answer lies.
        let verdict = |load| match load {
            ..=400 => Verdict::Pass,
            401..=799 => Verdict::GeneratorSaturated,
            _ => Verdict::P99Over,
        };
        let (tried, stop) = against(Search::new(100, 1, None), verdict);
        assert_eq!(tried, [100, 200, 400, 800, 600]);
        assert_eq!(
            stop.to_string(),
            "unknown: the load generator was the bottleneck at 600 (the server carried 400; \
             800 failed: p99 over limit); not a server capacity"
        );
        // With nothing passed yet.
        let (_, stop) = against(Search::new(100, 1, None), |_| Verdict::GeneratorSaturated);
        assert_eq!(
            stop,
            Stop::GeneratorBound {
                at: 100,
                passed: None,
                failed: None,
            }
        );
        assert!(stop.to_string().contains("not a server capacity"));
    }

    #[test]
    fn a_failing_start_halves_down_to_min() {
        let (tried, stop) = against(Search::new(100, 1, None), up_to(30));
        assert_eq!(tried[..3], [100, 50, 25]);
        assert!(matches!(stop, Stop::Found { capacity: 30.., .. }));
        let (tried, stop) = against(Search::new(40, 5, None), |_| Verdict::Errors);
        assert_eq!(tried, [40, 20, 10, 5]);
        assert_eq!(
            stop,
            Stop::NoneFits {
                min: 5,
                why: Verdict::Errors
            }
        );
    }

    #[test]
    fn every_bisection_step_lies_strictly_between_the_last_pass_and_the_first_fail() {
        for limit in [1, 7, 99, 1_000, 12_345] {
            let mut search = Search::new(10, 1, None);
            let (mut passed, mut failed) = (0u64, u64::MAX);
            while let Some(load) = search.next() {
                assert!(load > passed && load < failed, "{limit}: {load}");
                let v = up_to(limit)(load);
                if v == Verdict::Pass {
                    passed = load;
                } else {
                    failed = failed.min(load);
                }
                search.record(load, v);
            }
            match search.stop().unwrap() {
                Stop::Found { capacity, .. } => assert!(capacity <= limit.max(10)),
                other => panic!("{other:?}"),
            }
        }
    }
}
