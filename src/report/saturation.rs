//! Was the load generator the bottleneck? A rule over one [`Summary`] row's figures, and the
//! warning printed under the table (and shown in `report.html`) when it was.
//!
//! Owns the thresholds and the warning's wording; reads figures, measures nothing.
//!
//! # The thresholds
//!
//! What the generator's own delay can still change depends on whose clock timed the deliveries.
//! With **user-space timestamps** (`[clients] timestamps = "user"`, or results stored before
//! kernel stamps) every delivery is timed when a subscriber task runs, so any delay in running it
//! is inside the latency. With **kernel timestamps** a delivery is timed when its bytes reached
//! the socket ([`crate::wire::stamp`]), so the read delay is out of the figures (it is reported
//! as `generator_delay_*`), and the warning fires only for what can still get in. The
//! generator is called saturated when any of these holds:
//!
//! - **CPU share ≥ [`CPU_UTIL_LIMIT`] (90 %) of its cores** (either clock). The share is an
//!   average over the measured phase and drain: at 90 % on average its busier seconds had no
//!   headroom at all, and a task woken on a thread that is busy 9 times in 10 usually waits
//!   behind others (in a queue, waits grow as ρ / (1 − ρ): 9 service times at 90 %). Then the
//!   publishers fall behind too, and reads grow long enough to merge messages (below).
//! - **User-space timestamps: event-loop lag p99 ≥ [`LAG_SHARE`] (10 %) of the push-latency
//!   p99, and ≥ [`LAG_FLOOR_US`] (1 ms).** The lag is added to the latencies measured; its p99 is
//!   about what the generator adds to the slowest deliveries. When that is a tenth of the latency
//!   p99 the figure is in good part the generator's own delay. Lag counts also when the cores are
//!   taken by another process (on a small machine, the server), which the CPU share does not
//!   see. Below 1 ms, lag is the cost of waking an idle thread on a busy machine, paid by any
//!   client however lean; with no latency figure (no deliveries) the floor alone decides.
//! - **Kernel timestamps: the read delay p99 reached the gap between one subscriber's messages**
//!   (subscribers ÷ deliveries per second). A read returns every byte the socket holds, and its
//!   stamp is that of the latest segment among them: a message read only after the next one
//!   arrived is stamped with the next one's arrival, so its latency grows by up to that gap.
//!   Below the gap each read holds one message and the read delay changes no figure.
//! - **Publishers late on their schedule: publish lag p99 ≥ [`LAG_SHARE`] of the push-latency
//!   p99, and ≥ [`PUBLISH_LAG_FLOOR_US`] (2 ms)** (either clock). A message's latency counts from
//!   its intended send time, and publishing runs on the user-space clock, so a publisher's
//!   lateness is in every latency figure; the kernel cannot take it out. Tokio's timers tick
//!   every millisecond, so a publisher that sleeps until its slot wakes up to a tick late at any
//!   load; the floor is two ticks.
//!
//! Rows without the figures (results stored before they were measured) are never flagged.

use super::format::us_int;
use super::summary::Summary;

/// The generator is saturated from this share of its cores on (0..1).
pub const CPU_UTIL_LIMIT: f64 = 0.9;
/// … or when its lag p99 (or its publishers' lateness p99) is at least this share of the
/// push-latency p99 …
pub const LAG_SHARE: f64 = 0.1;
/// … and its lag p99 at least this many µs …
pub const LAG_FLOOR_US: u64 = 1_000;
/// … or its publishers' lateness p99 at least this many µs.
pub const PUBLISH_LAG_FLOOR_US: u64 = 2_000;

/// Which of the generator's limits a run crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Saturation {
    /// Its CPU share reached [`CPU_UTIL_LIMIT`].
    pub cpu: bool,
    /// User-space timestamps: its lag p99 reached the lag threshold.
    pub lag: bool,
    /// Kernel timestamps: its read delay p99 reached the gap between a subscriber's messages.
    pub reads: bool,
    /// Its publishers' lateness p99 reached the publish-lag threshold.
    pub publish: bool,
}

impl Saturation {
    /// Whether any limit was crossed.
    pub fn any(self) -> bool {
        self.cpu || self.lag || self.reads || self.publish
    }
}

/// The lag p99 from which the generator counts as saturated, given the push-latency p99.
pub fn lag_limit_us(latency_p99_us: Option<u64>) -> u64 {
    share_us(latency_p99_us).max(LAG_FLOOR_US)
}

/// The publishers' lateness p99 from which the generator counts as saturated.
pub fn publish_lag_limit_us(latency_p99_us: Option<u64>) -> u64 {
    share_us(latency_p99_us).max(PUBLISH_LAG_FLOOR_US)
}

/// [`LAG_SHARE`] of the latency p99, in µs (0 without one).
fn share_us(latency_p99_us: Option<u64>) -> u64 {
    latency_p99_us.map_or(0, |p99| (p99 as f64 * LAG_SHARE).ceil() as u64)
}

/// The mean gap between two messages to one subscriber, in µs, if the row has deliveries.
pub fn message_gap_us(s: &Summary) -> Option<u64> {
    let per_s = s.deliveries_per_s.filter(|d| *d > 0.0)?;
    Some((f64::from(s.subscribers) / per_s * 1e6) as u64)
}

/// Applies the rule to one row's figures.
pub fn saturation(s: &Summary) -> Saturation {
    let kernel = s.generator_delay_p99_us.is_some();
    Saturation {
        cpu: s.client_cpu_util.is_some_and(|u| u >= CPU_UTIL_LIMIT),
        lag: !kernel
            && s.client_lag_p99_us
                .is_some_and(|lag| lag >= lag_limit_us(s.latency_p99_us)),
        reads: s
            .generator_delay_p99_us
            .zip(message_gap_us(s))
            .is_some_and(|(delay, gap)| delay >= gap),
        publish: s
            .publish_lag_p99_us
            .is_some_and(|lag| lag >= publish_lag_limit_us(s.latency_p99_us)),
    }
}

/// The warning for one row, or `None` when the generator had headroom. Over its CPU limit:
/// `warning: [ws] the load generator was saturated: CPU 97 % of 2 cores, lag p99 180 ms — latency
/// includes its own delay`. Over the lag limit only, the generator was not busy but still late,
/// and the warning says so: `… fell behind: lag p99 9.82 ms with CPU 23 % of 2 cores (the cores
/// were busy with other work, or one thread was) — …`. With kernel timestamps it names what can
/// still change a figure: reads that merged messages (`read messages after the next one came:
/// read delay p99 40.1 ms, a subscriber's messages 33.3 ms apart`), publishers late on their
/// schedule (`published late: publish lag p99 5 ms`). `cores` is the count `run.json` records
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
    // The event-loop lag is the figure with user-space timestamps, the read delay with the
    // kernel's.
    let lag = match s.generator_delay_p99_us {
        Some(delay) => Some(format!("read delay p99 {}", us_int(delay))),
        None => s
            .client_lag_p99_us
            .map(|lag| format!("lag p99 {}", us_int(lag))),
    };
    let mut causes = Vec::new();
    if saturation.cpu {
        let figures: Vec<String> = cpu.iter().cloned().chain(lag.clone()).collect();
        causes.push(format!("was saturated: {}", figures.join(", ")));
    } else if saturation.lag {
        let mut text = format!("fell behind: {}", lag.clone().unwrap_or_default());
        if let Some(cpu) = &cpu {
            text.push_str(&format!(
                " with {cpu} (the cores were busy with other work, or one thread was)"
            ));
        }
        causes.push(text);
    }
    if saturation.reads && !saturation.cpu {
        let gap = message_gap_us(s).map_or_else(String::new, |g| {
            format!(", a subscriber's messages {} apart", us_int(g))
        });
        causes.push(format!(
            "read messages after the next one came: {}{gap}",
            lag.unwrap_or_default()
        ));
    }
    if saturation.publish {
        let late = s.publish_lag_p99_us.map(us_int).unwrap_or_default();
        causes.push(format!("published late: publish lag p99 {late}"));
    }
    Some(format!(
        "warning: [{}] the load generator {} — latency includes its own delay",
        s.transport,
        causes.join("; ")
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
                ..Saturation::default()
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
                lag: true,
                ..Saturation::default()
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

    /// A kernel-timestamped row: `subscribers` receiving `per_s` messages a second each.
    fn stamped(
        subscribers: u32,
        per_s: f64,
        delay_p99_us: u64,
        publish_lag_p99_us: u64,
    ) -> Summary {
        Summary {
            transport: "ws".into(),
            subscribers,
            deliveries_per_s: Some(f64::from(subscribers) * per_s),
            client_cpu_util: Some(0.04),
            client_lag_p99_us: Some(2_300),
            generator_delay_p50_us: Some(300),
            generator_delay_p99_us: Some(delay_p99_us),
            publish_lag_p99_us: Some(publish_lag_p99_us),
            latency_p99_us: Some(3_100),
            ..Summary::default()
        }
    }

    #[test]
    fn with_kernel_stamps_trivial_loads_warn_of_nothing() {
        // 300 subscribers at 30 msg/s (CPU 4 %), 400 at 50 msg/s (CPU 8 %), 1,000 at chat's
        // load (CPU 41 %): an event-loop lag of 2.3 ms, which warned with user-space stamps.
        let mut rows = vec![
            stamped(300, 30.0, 2_300, 1_100),
            stamped(400, 50.0, 2_300, 1_400),
            stamped(1_000, 10.0, 2_300, 1_900),
        ];
        rows[1].client_cpu_util = Some(0.08);
        rows[2].client_cpu_util = Some(0.41);
        assert_eq!(warnings(&rows, 2), Vec::<String>::new());
        // The same rows with user-space stamps (no read delay figure) warn, as before.
        for row in &mut rows {
            row.generator_delay_p99_us = None;
            assert!(saturation(row).lag, "{row:?}");
        }
    }

    #[test]
    fn publishers_late_on_their_schedule_are_named() {
        let mut s = stamped(300, 30.0, 2_300, 5_000);
        s.latency_p99_us = Some(20_000);
        assert_eq!(
            saturation(&s),
            Saturation {
                publish: true,
                ..Saturation::default()
            }
        );
        assert_eq!(
            warning(&s, 2).as_deref(),
            Some(
                "warning: [ws] the load generator published late: publish lag p99 5 ms — \
                 latency includes its own delay"
            )
        );
        // Just under the limit (2 ms, or a tenth of the latency p99 when larger): none.
        assert_eq!(publish_lag_limit_us(Some(20_000)), 2_000);
        assert_eq!(publish_lag_limit_us(Some(50_000)), 5_000);
        s.publish_lag_p99_us = Some(1_999);
        assert_eq!(warning(&s, 2), None);
    }

    #[test]
    fn reads_that_merge_messages_are_named() {
        // 30 msg/s to each subscriber: 33.3 ms apart; a read delay p99 of 40 ms merges them.
        let s = stamped(300, 30.0, 40_100, 1_000);
        assert_eq!(message_gap_us(&s), Some(33_333));
        assert_eq!(
            saturation(&s),
            Saturation {
                reads: true,
                ..Saturation::default()
            }
        );
        assert_eq!(
            warning(&s, 2).as_deref(),
            Some(
                "warning: [ws] the load generator read messages after the next one came: \
                 read delay p99 40.1 ms, a subscriber's messages 33.3 ms apart — latency \
                 includes its own delay"
            )
        );
        assert!(!saturation(&stamped(300, 30.0, 33_332, 1_000)).any());
    }

    #[test]
    fn a_saturated_cpu_warns_with_either_clock() {
        let mut s = stamped(300, 30.0, 2_300, 1_000);
        s.client_cpu_util = Some(0.95);
        assert_eq!(
            warning(&s, 2).as_deref(),
            Some(
                "warning: [ws] the load generator was saturated: CPU 95 % of 2 cores, read \
                 delay p99 2.30 ms — latency includes its own delay"
            )
        );
    }
}
