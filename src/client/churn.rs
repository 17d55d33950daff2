//! Churn (`[clients] churn`): during the measured phase the generator closes connections on
//! purpose, `per_s` a second at evenly spaced instants, each time one subscriber chosen at random,
//! and each rejoins the way its transport does (WebSocket fresh, long-poll from its cursor, SSE
//! with `Last-Event-ID`), so loss is what each transport really loses and reconnects are timed
//! under load.
//!
//! Owns when the closes happen and whom they pick; asking a subscriber is
//! [`Signals::kick`](super::signals::Signals::kick)'s, and the close and rejoin the transports'.

use std::time::Duration;

use tokio::time::Instant;

use super::schedule::Timeline;
use super::signals::Signals;

/// Random picks tried per close before giving up on it (a pick is refused when that subscriber
/// is not connected or has not heard its last kick yet).
const PICKS: u32 = 64;

/// The measured phase's closes: when the next is due and how many are left.
#[derive(Debug)]
pub(super) struct Churn {
    every: Duration,
    first: Instant,
    done: u64,
    total: u64,
    subscribers: u32,
    rng: fastrand::Rng,
}

impl Churn {
    /// `per_s` closes a second over the measured phase of `timeline`, picking among
    /// `subscribers` from `seed`; `None` without churn.
    pub(super) fn new(
        per_s: u32,
        subscribers: u32,
        timeline: &Timeline,
        seed: u64,
    ) -> Option<Self> {
        if per_s == 0 || subscribers == 0 {
            return None;
        }
        let every = Duration::from_secs(1) / per_s;
        let window = timeline.measure_end - timeline.measure_start;
        // The k-th close falls in the middle of its slot: `per_s × duration` closes in all.
        let total = (window.as_secs_f64() * f64::from(per_s)).round() as u64;
        Some(Churn {
            every,
            first: timeline.measure_start + every / 2,
            done: 0,
            total,
            subscribers,
            rng: fastrand::Rng::with_seed(seed),
        })
    }

    /// When the next close is due; `None` once every close is done.
    pub(super) fn next(&self) -> Option<Instant> {
        let k = u32::try_from(self.done).ok()?;
        (self.done < self.total).then(|| self.first + self.every * k)
    }

    /// Closes one connection: asks a random subscriber that can be asked. `false` when no pick
    /// of [`PICKS`] could be (almost none connected).
    pub(super) fn close_one(&mut self, signals: &Signals) -> bool {
        self.done += 1;
        (0..PICKS).any(|_| signals.kick(self.rng.usize(..self.subscribers as usize)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::signals::News;
    use futures_util::FutureExt;

    #[tokio::test]
    async fn closes_per_second_times_the_phase_at_evenly_spaced_instants() {
        let start = Instant::now();
        let timeline = Timeline {
            epoch: start,
            publish_start: start,
            measure_start: start + Duration::from_secs(1),
            measure_end: start + Duration::from_secs(3),
            own: (0..1).into(),
        };
        let signals = Signals::new(4);
        let mut listeners: Vec<_> = (0..4).map(|i| signals.listener(i)).collect();
        let mut churn = Churn::new(10, 4, &timeline, 1).unwrap();
        let mut at = Vec::new();
        while let Some(next) = churn.next() {
            at.push(next - timeline.measure_start);
            // Every kick is heard at once here, so each may be kicked again.
            assert!(churn.close_one(&signals));
            let heard = listeners
                .iter_mut()
                .map(|l| l.news().now_or_never())
                .filter(|heard| *heard == Some(News::Churn))
                .count();
            assert_eq!(heard, 1);
        }
        assert_eq!(at.len(), 20);
        assert_eq!(at[0], Duration::from_millis(50));
        assert_eq!(at[19], Duration::from_millis(1_950));
        assert!(Churn::new(0, 4, &timeline, 1).is_none());
    }
}
