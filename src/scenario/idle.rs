//! `[clients] idle` and `idle_phase`: connections that only keep alive, and the quiet phase that
//! measures what idleness costs (see `client::idle` and docs/protocols.md).

use std::time::Duration;

use super::fields::Rules;
use super::file::Sourced;
use super::{DEFAULT_IDLE_PHASE, ScenarioError};

impl Rules<'_> {
    /// The idle connections asked for (0 without `idle`) and the idle phase: as written, else
    /// [`DEFAULT_IDLE_PHASE`] when there are idle connections (their cost is what they are for),
    /// else none.
    pub(super) fn idle(
        &self,
        idle: Option<Sourced<i64>>,
        phase: Option<Sourced<String>>,
    ) -> Result<(u32, Option<Duration>), ScenarioError> {
        let phase = self.written_duration("[clients] idle_phase", phase)?;
        if let Some(phase) = &phase {
            let range = Duration::from_secs(1)..=Duration::from_secs(3600);
            self.duration_in(phase, "[clients] idle_phase", range, "")?;
        }
        let idle = self.or(idle, 0);
        self.int_in(&idle, "[clients] idle", 0..=1_000_000)?;
        let idle = u32::try_from(idle.value).expect("validated to be in range");
        let phase = phase.map(|p| p.value);
        Ok((idle, phase.or((idle > 0).then_some(DEFAULT_IDLE_PHASE))))
    }
}
