//! `[faults]`: trouble wsbench causes on purpose, to see how each transport copes and what
//! recovering costs. Owns the keys' meaning, their defaults and ranges; where a fault falls in
//! the run against the other tables is checked here too, except `kill_instance_at`'s need for
//! instances, which is the scaling rules'.

use std::time::Duration;

use super::ScenarioError;
use super::fields::{Field, Rules, blame};
use super::file::FaultsTable;
use super::scaling::Scaling;
use crate::protocol::TransportKind;

/// Default `[faults] drop` tick.
pub const DEFAULT_DROP_EVERY: Duration = Duration::from_secs(15);
/// Default `[faults] drop` fraction.
pub const DEFAULT_DROP_FRACTION: f64 = 0.1;

/// `[faults]`
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Kill the built-in server this far into the measured phase and start it again on the same port.
    pub restart_server_at: Option<Duration>,
    /// With several instances: SIGKILL one of them this far into the measured phase; its
    /// clients reconnect to the others.
    pub kill_instance_at: Option<Duration>,
    /// Reset a fraction of the client connections at every tick (`drop`).
    pub drop: Option<DropFault>,
    /// A deploy: every instance restarted (`restart_instances_at`, `mode`).
    pub deploy: Option<Deploy>,
}

impl Faults {
    /// The fewest server instances these faults need of a transport that runs: 2 to lose one
    /// (`kill_instance_at`: the others must survive it) or to deploy (`restart_instances_at`:
    /// clients move to the instances not restarting), else 1. What `instances = "auto"` comes to
    /// at least.
    pub fn instances_needed(&self) -> u32 {
        if self.kill_instance_at.is_some() || self.deploy.is_some() {
            2
        } else {
            1
        }
    }
}

/// `[faults] drop = { every = "15s", fraction = 0.1 }`: at each tick of the measured phase
/// (`every`, `2 × every`, … before its end), `fraction` of the subscribers' connections, picked by
/// the seed, are reset abortively, as a lost network path looks to the server; each reconnects
/// with the configured backoff.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropFault {
    /// Time between ticks, the first one tick into the measured phase.
    pub every: Duration,
    /// Of the connections, the share reset at each tick: `round(fraction × connections)` picks.
    pub fraction: f64,
}

impl DropFault {
    /// Connections picked at each tick among `connections`: `fraction × connections` rounded
    /// to the nearest whole (halves up), so 10 % of 25 is 3 and 1 % of 40 is 0.
    pub fn per_tick(&self, connections: u32) -> u32 {
        (self.fraction * f64::from(connections)).round() as u32
    }

    /// How far into the measured phase of length `measured` each tick falls.
    pub fn ticks(&self, measured: Duration) -> impl Iterator<Item = Duration> {
        let every = self.every;
        (1u32..)
            .map(move |k| every.saturating_mul(k))
            .take_while(move |at| *at < measured)
    }
}

/// `[faults] restart_instances_at = "5s"` with `mode`: a deploy of every server instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deploy {
    /// How far into the measured phase the deploy starts.
    pub at: Duration,
    /// One after another, or all at once.
    pub mode: DeployMode,
}

/// `[faults] mode`: how a deploy restarts the instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployMode {
    /// `"rolling"`: one instance at a time, the next once the last listens again.
    Rolling,
    /// `"all"`: every instance stopped at once, then all started: the reconnect avalanche.
    All,
}

impl DeployMode {
    /// As written in a scenario.
    pub fn label(self) -> &'static str {
        match self {
            DeployMode::Rolling => "rolling",
            DeployMode::All => "all",
        }
    }
}

/// `[faults]`, read: each key with where it came from, for the rules between tables.
pub(super) struct FaultsRead {
    pub restart: Option<Field<Duration>>,
    pub kill: Option<Field<Duration>>,
    pub drop: Option<Field<DropFault>>,
    pub deploy: Option<Field<Deploy>>,
}

impl FaultsRead {
    /// The faults as the scenario keeps them.
    pub(super) fn faults(&self) -> Faults {
        Faults {
            restart_server_at: self.restart.as_ref().map(|r| r.value),
            kill_instance_at: self.kill.as_ref().map(|k| k.value),
            drop: self.drop.as_ref().map(|d| d.value),
            deploy: self.deploy.as_ref().map(|d| d.value),
        }
    }
}

impl Rules<'_> {
    /// `[faults]`: the instants as written (their place in the run is a rule between tables), the
    /// drop's tick and fraction, a deploy's mode.
    pub(super) fn read_faults(
        &self,
        faults: Option<FaultsTable>,
    ) -> Result<FaultsRead, ScenarioError> {
        let faults = faults.unwrap_or_default();
        let restart = "[faults] restart_server_at";
        let restart = self.written_duration(restart, faults.restart_server_at)?;
        let kill = self.written_duration("[faults] kill_instance_at", faults.kill_instance_at)?;
        let drop = match faults.drop {
            None => None,
            Some(table) => {
                let field = "[faults] drop.every";
                let every = self.duration(field, table.every, DEFAULT_DROP_EVERY)?;
                self.duration_in(
                    &every,
                    field,
                    Duration::from_millis(100)..=Duration::MAX,
                    "",
                )?;
                let fraction = self.or(table.fraction, DEFAULT_DROP_FRACTION);
                let ok = fraction.value > 0.0 && fraction.value <= 1.0;
                self.check(ok, &fraction.origin, "[faults] drop.fraction", || {
                    format!(
                        "[faults] drop.fraction must be above 0 and at most 1 (the share of \
                         connections reset at each tick), not {}",
                        fraction.value
                    )
                })?;
                let origin = blame(&[&every.origin, &fraction.origin]).clone();
                let value = DropFault {
                    every: every.value,
                    fraction: fraction.value,
                };
                Some(Field { value, origin })
            }
        };
        let at = "[faults] restart_instances_at";
        let at = self.written_duration(at, faults.restart_instances_at)?;
        let mode = match faults.mode {
            None => None,
            Some(m) => {
                let mode = self.field(m);
                let value = match mode.value.as_str() {
                    "rolling" => DeployMode::Rolling,
                    "all" => DeployMode::All,
                    other => {
                        let message = format!(
                            "[faults] mode must be \"rolling\" or \"all\" (how \
                             restart_instances_at restarts the instances), not {other:?}"
                        );
                        return Err(self.invalid(mode.origin, "[faults] mode", message));
                    }
                };
                Some(Field {
                    value,
                    origin: mode.origin,
                })
            }
        };
        let deploy = match (at, mode) {
            (None, None) => None,
            (None, Some(mode)) => {
                let message = "[faults] mode says how restart_instances_at restarts the \
                               instances: set restart_instances_at too"
                    .to_owned();
                return Err(self.invalid(mode.origin, "[faults] mode", message));
            }
            (Some(at), mode) => Some(Field {
                value: Deploy {
                    at: at.value,
                    mode: mode.map_or(DeployMode::Rolling, |m| m.value),
                },
                origin: at.origin,
            }),
        };
        Ok(FaultsRead {
            restart,
            kill,
            drop,
            deploy,
        })
    }

    /// The faults against the measured phase of length `duration`: the instants inside it, a
    /// drop tick inside it, and at most one fault that stops servers.
    pub(super) fn fault_rules(
        &self,
        faults: &FaultsRead,
        duration: &Field<Duration>,
    ) -> Result<(), ScenarioError> {
        let inside = |at: &Field<Duration>, field: &'static str| {
            self.check(
                !at.value.is_zero() && at.value < duration.value,
                blame(&[&at.origin, &duration.origin]),
                field,
                || {
                    format!(
                        "{field} must fall inside the measured phase (0s < at < {})",
                        humantime::format_duration(duration.value)
                    )
                },
            )
        };
        if let Some(restart) = &faults.restart {
            inside(restart, "[faults] restart_server_at")?;
        }
        if let Some(deploy) = &faults.deploy {
            let at = Field {
                value: deploy.value.at,
                origin: deploy.origin.clone(),
            };
            inside(&at, "[faults] restart_instances_at")?;
            let alone = faults.restart.is_none() && faults.kill.is_none();
            self.check(
                alone,
                &deploy.origin,
                "[faults] restart_instances_at",
                || {
                    "[faults] restart_instances_at cannot be combined with restart_server_at or \
                 kill_instance_at; run them as separate scenarios"
                        .into()
                },
            )?;
        }
        if let Some(drop) = &faults.drop {
            let every = drop.value.every;
            self.check(
                every < duration.value,
                blame(&[&drop.origin, &duration.origin]),
                "[faults] drop.every",
                || {
                    format!(
                        "[faults] drop.every ({}) must be shorter than the measured phase ({}): \
                         the first tick falls one period into it",
                        humantime::format_duration(every),
                        humantime::format_duration(duration.value)
                    )
                },
            )?;
        }
        Ok(())
    }

    /// A deploy restarts instances: every transport that runs must have several, behind a
    /// balancer, so that its clients have somewhere to go (and come back to).
    pub(super) fn deploy_rules(
        &self,
        deploy: Option<&Field<Deploy>>,
        kinds: &Field<Vec<TransportKind>>,
        scaling: &[Field<(TransportKind, Scaling)>],
    ) -> Result<(), ScenarioError> {
        let Some(deploy) = deploy else {
            return Ok(());
        };
        let several = kinds.value.iter().all(|k| {
            scaling
                .iter()
                .any(|s| s.value.0 == *k && s.value.1.several())
        });
        self.check(several, &deploy.origin, "[faults] restart_instances_at", || {
            "[faults] restart_instances_at needs instances = 2 or more (or \"auto\") in every \
             transport table that runs (a deploy restarts the instances behind a balancer; for one built-in \
             server use restart_server_at)"
                .into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_picks_the_rounded_fraction_and_ticks_stay_inside_the_phase() {
        let drop = DropFault {
            every: Duration::from_secs(15),
            fraction: 0.1,
        };
        assert_eq!(drop.per_tick(10_000), 1_000);
        assert_eq!(drop.per_tick(25), 3);
        assert_eq!(drop.per_tick(4), 0);
        let ticks: Vec<_> = drop.ticks(Duration::from_secs(60)).collect();
        assert_eq!(ticks, [15, 30, 45].map(Duration::from_secs));
        let ticks: Vec<_> = drop.ticks(Duration::from_secs(61)).collect();
        assert_eq!(ticks, [15, 30, 45, 60].map(Duration::from_secs));
    }
}
