//! Reconnecting: exponential backoff with jitter, bounded by the run's stop signal, and the
//! counting every reconnection shares (reconnects, time disconnected, reconnect time).
//!
//! The n-th wait is `initial · 2ⁿ`, capped at `max`, scaled by a random factor in [½, 1) so that
//! a thousand clients dropped at once do not come back at once. Attempts go on until one succeeds
//! or the run stops (the drain deadline at the latest), so every retry loop ends by itself.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep, timeout};

use super::ctx::Ctx;
use crate::metrics::Counts;
use crate::scenario::Backoff as Config;

/// One client's backoff state.
#[derive(Debug, Clone)]
pub(super) struct Backoff {
    config: Config,
    attempt: u32,
    /// xorshift state for the jitter: a load generator needs spread, not cryptography.
    rng: u64,
}

impl Backoff {
    /// Backoff for client number `seed` (different clients get different jitter).
    pub(super) fn new(config: Config, seed: u64) -> Self {
        Backoff {
            config,
            attempt: 0,
            rng: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        }
    }

    /// The wait before the next attempt.
    pub(super) fn next_delay(&mut self) -> Duration {
        let base = self
            .config
            .initial
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.config.max);
        self.attempt += 1;
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let factor = 0.5 + (self.rng >> 11) as f64 / (1u64 << 53) as f64 / 2.0;
        base.mul_f64(factor)
    }

    /// A success: the next failure starts from `initial` again.
    pub(super) fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// When a reconnection makes its first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// After a backoff wait: the connection was lost, and the server may be down.
    AfterBackoff,
    /// At once: the client closed the connection itself (churn) and rejoins as a page would;
    /// only a failed attempt waits before the next.
    Now,
}

/// Reconnects: tries `attempt` (each try bounded by the connect timeout) until it succeeds,
/// waiting between tries, and counts the reconnection in `counts` (with the time from this
/// call to the success as time disconnected) and the successful attempt's duration in the run's
/// reconnect times. `None` once the run stops.
pub(super) async fn reconnect<T, F, Fut>(
    ctx: &Ctx,
    backoff: &mut Backoff,
    start: Start,
    counts: &mut Counts,
    mut attempt: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, super::failure::ConnectError>>,
{
    let closed_at = Instant::now();
    let mut wait = start == Start::AfterBackoff;
    loop {
        if wait {
            let wait = backoff.next_delay();
            tokio::select! {
                _ = ctx.stop.cancelled() => return None,
                _ = sleep(wait) => {}
            }
        }
        wait = true;
        let tried_at = Instant::now();
        let tried = tokio::select! {
            _ = ctx.stop.cancelled() => return None,
            // Boxed for the reason given at [`super::ctx::Attempt`].
            tried = timeout(ctx.plan.connect_timeout, Box::pin(attempt())) => tried,
        };
        if let Ok(Ok(value)) = tried {
            backoff.reset();
            ctx.reconnect_us.record(tried_at.elapsed());
            counts.reconnects += 1;
            counts.disconnected += closed_at.elapsed();
            return Some(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_and_resets() {
        let config = Config {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let mut b = Backoff::new(config, 7);
        let waits: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        let caps = [100, 200, 400, 800, 1000, 1000].map(Duration::from_millis);
        for (w, cap) in waits.iter().zip(caps) {
            assert!(
                *w >= cap / 2 && *w < cap,
                "{w:?} not in [{:?}, {cap:?})",
                cap / 2
            );
        }
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(100));
        let other: Vec<Duration> = {
            let mut c = Backoff::new(config, 8);
            (0..6).map(|_| c.next_delay()).collect()
        };
        assert_ne!(waits, other, "clients must not retry in lockstep");
    }
}
