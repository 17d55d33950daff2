//! Was the load generator the bottleneck? A rule over one [`Summary`] row's figures, and the
//! warning printed under the table (and shown in `report.html`) when it was.
//!
//! Owns the thresholds and the warning's wording; reads figures, measures nothing.
//!
//! # The thresholds
//!
//! The generator is called saturated when either holds:
//!
//! - **CPU share ≥ [`CPU_UTIL_LIMIT`] (90 %) of its cores.** The share is an average over the
//!   measured phase and drain: at 90 % on average its busier seconds had no headroom at all, and
//!   a task woken on a thread that is busy 9 times in 10 usually waits behind others (in a
//!   queue, waits grow as ρ / (1 − ρ): 9 service times at 90 %).
//! - **Event-loop lag p99 ≥ [`LAG_SHARE`] (10 %) of the push-latency p99, and ≥ [`LAG_FLOOR_US`]
//!   (1 ms).** Each delivery is timed by a subscriber task when its thread runs it, so the lag is
//!   added to the latencies measured; its p99 is about what the generator adds to the slowest
//!   deliveries. When that is a tenth of the latency p99 the figure is in good part the
//!   generator's own delay. Lag counts also when the cores are taken by another process (on a
//!   small machine, the server), which the CPU share does not see. Below 1 ms, lag is the cost
//!   of waking an idle thread on a busy machine, paid by any client however lean, not a sign of
//!   a generator out of headroom; with no latency figure (no deliveries) the floor alone
//!   decides.
//!
//! Rows without the figures (results stored before they were measured) are never flagged.

use super::format::us_int;
use super::summary::Summary;

/// The generator is saturated from this share of its cores on (0..1).
pub const CPU_UTIL_LIMIT: f64 = 0.9;
/// … or when its lag p99 is at least this share of the push-latency p99 …
pub const LAG_SHARE: f64 = 0.1;
/// … and at least this many µs.
pub const LAG_FLOOR_US: u64 = 1_000;

/// Which of the generator's limits a run crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Saturation {
    /// Its CPU share reached [`CPU_UTIL_LIMIT`].
    pub cpu: bool,
    /// Its lag p99 reached the lag threshold.
    pub lag: bool,
}

impl Saturation {
    /// Whether any limit was crossed.
    pub fn any(self) -> bool {
        self.cpu || self.lag
    }
}

/// The lag p99 from which the generator counts as saturated, given the push-latency p99.
pub fn lag_limit_us(latency_p99_us: Option<u64>) -> u64 {
    let share = latency_p99_us.map_or(0, |p99| (p99 as f64 * LAG_SHARE).ceil() as u64);
    share.max(LAG_FLOOR_US)
}

/// Applies the rule to one row's figures.
pub fn saturation(s: &Summary) -> Saturation {
    Saturation {
        cpu: s.client_cpu_util.is_some_and(|u| u >= CPU_UTIL_LIMIT),
        lag: s
            .client_lag_p99_us
            .is_some_and(|lag| lag >= lag_limit_us(s.latency_p99_us)),
    }
}

/// The warning for one row, or `None` when the generator had headroom. Over its CPU limit:
/// `warning: [ws] the load generator was saturated: CPU 97 % of 2 cores, lag p99 180 ms — latency
/// includes its own delay`. Over the lag limit only, the generator was not busy but still late,
/// and the warning says so: `… fell behind: lag p99 9.82 ms with CPU 23 % of 2 cores (the cores
/// were busy with other work, or one thread was) — …`. `cores` is the count `run.json` records
/// (the share's denominator).
pub fn warning(s: &Summary, cores: usize) -> Option<String> {
    let saturation = saturation(s);
    if !saturation.any() {
        return None;
    }
    let plural = if cores == 1 { "" } else { "s" };
    let cpu = s
        .client_cpu_util
        .map(|util| format!("CPU {:.0} % of {cores} core{plural}", util * 100.0));
    let lag = s
        .client_lag_p99_us
        .map(|lag| format!("lag p99 {}", us_int(lag)));
    let what = if saturation.cpu {
        let figures: Vec<String> = cpu.into_iter().chain(lag).collect();
        format!("was saturated: {}", figures.join(", "))
    } else {
        let mut text = format!("fell behind: {}", lag.unwrap_or_default());
        if let Some(cpu) = cpu {
            text.push_str(&format!(
                " with {cpu} (the cores were busy with other work, or one thread was)"
            ));
        }
        text
    };
    Some(format!(
        "warning: [{}] the load generator {what} — latency includes its own delay",
        s.transport
    ))
}

/// The warnings for every row that needs one, in row order.
pub fn warnings(rows: &[Summary], cores: usize) -> Vec<String> {
    rows.iter().filter_map(|s| warning(s, cores)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(util: Option<f64>, lag_p99_us: Option<u64>, latency_p99_us: Option<u64>) -> Summary {
        Summary {
            transport: "ws".into(),
            client_cpu_util: util,
            client_lag_p99_us: lag_p99_us,
            latency_p99_us,
            ..Summary::default()
        }
    }

    #[test]
    fn cpu_share_saturates_from_ninety_percent() {
        assert!(!saturation(&row(Some(0.899), Some(10), Some(5_000))).any());
        let s = saturation(&row(Some(0.9), Some(10), Some(5_000)));
        assert_eq!(
            s,
            Saturation {
                cpu: true,
                lag: false
            }
        );
    }

    #[test]
    fn lag_saturates_from_a_tenth_of_the_latency_p99() {
        // Latency p99 50 ms: the limit is 5 ms.
        assert_eq!(lag_limit_us(Some(50_000)), 5_000);
        assert!(!saturation(&row(Some(0.2), Some(4_999), Some(50_000))).any());
        let s = saturation(&row(Some(0.2), Some(5_000), Some(50_000)));
        assert_eq!(
            s,
            Saturation {
                cpu: false,
                lag: true
            }
        );
    }

    #[test]
    fn lag_below_a_millisecond_never_saturates() {
        // Latency p99 2 ms: a tenth is 200 µs, but the floor is 1 ms.
        assert_eq!(lag_limit_us(Some(2_000)), 1_000);
        assert!(!saturation(&row(Some(0.2), Some(999), Some(2_000))).any());
        assert!(saturation(&row(Some(0.2), Some(1_000), Some(2_000))).lag);
        // No deliveries, no latency: the floor alone.
        assert_eq!(lag_limit_us(None), 1_000);
        assert!(saturation(&row(None, Some(1_000), None)).lag);
    }

    #[test]
    fn rows_without_the_figures_are_never_flagged() {
        assert!(!saturation(&row(None, None, Some(1))).any());
        assert_eq!(warning(&row(None, None, None), 2), None);
    }

    #[test]
    fn the_warning_names_the_transport_and_both_figures() {
        let s = row(Some(0.97), Some(180_000), Some(900_000));
        assert_eq!(
            warning(&s, 2).as_deref(),
            Some(
                "warning: [ws] the load generator was saturated: CPU 97 % of 2 cores, \
                 lag p99 180 ms — latency includes its own delay"
            )
        );
        let calm = row(Some(0.3), Some(200), Some(900));
        assert_eq!(warnings(&[calm, s.clone()], 1).len(), 1);
        assert!(warning(&s, 1).unwrap().contains("of 1 core,"));
    }

    #[test]
    fn a_late_generator_with_idle_cores_is_told_apart() {
        let s = row(Some(0.23), Some(9_820), Some(16_200));
        assert_eq!(
            warning(&s, 2).as_deref(),
            Some(
                "warning: [ws] the load generator fell behind: lag p99 9.82 ms with CPU 23 % of \
                 2 cores (the cores were busy with other work, or one thread was) — latency \
                 includes its own delay"
            )
        );
    }
}
