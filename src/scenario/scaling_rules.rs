//! The rules of a transport table's `instances` and `balancer` keys, of `[faults]
//! kill_instance_at` and of `[backplane]`: what several instances, a balancer, losing one and an
//! existing Redis may be combined with.
//! Split from [`rules`](super::rules), whose validation calls them once every value is read.

use std::time::Duration;

use super::fields::Rules;
use super::fields::{Field, blame};
use super::file::{BackplaneTable, Sourced};
use super::scaling::{Balancer, ExistingRedis, Scaling};
use super::target::Endpoint;
use super::variant::Variants;
use super::{Origin, ScenarioError};
use crate::backplane::BackplaneUrl;
use crate::protocol::TransportKind;

impl Rules<'_> {
    /// Several instances or a balancer need a built-in server, and HAProxy a plain table (no
    /// TLS, no HTTP/2).
    pub(super) fn scaling_rules(
        &self,
        scaling: &[Field<(TransportKind, Scaling)>],
        variants: &[Field<(TransportKind, Variants)>],
        endpoints: &[Field<(TransportKind, Endpoint)>],
    ) -> Result<(), ScenarioError> {
        for sc in scaling {
            let (kind, scaling) = &sc.value;
            let table = format!("[transports.{}]", kind.label());
            let external = endpoints.iter().any(|e| e.value.0 == *kind);
            self.check(!external, &sc.origin, "instances", || {
                format!(
                    "{table} instances and balancer apply to built-in servers, but [target] {} \
                     points at an external one; remove one of them",
                    kind.label()
                )
            })?;
            let v = variants.iter().find(|v| v.value.0 == *kind);
            let wrapped = v.is_some_and(|v| {
                let v = &v.value.1;
                v.tls.contains(&true) || v.http2.contains(&true) || v.http3.contains(&true)
            });
            let haproxy = scaling.balancer == Balancer::Haproxy;
            self.check(!(haproxy && wrapped), &sc.origin, "balancer", || {
                format!(
                    "{table} balancer = \"haproxy\" runs plain HTTP/1.1 and WebSocket only: \
                     remove tls/http2/http3 from the table or use balancer = \"client\""
                )
            })?;
        }
        Ok(())
    }

    /// `kill_instance_at` falls inside the measured phase, every transport that runs has
    /// instances to spare, and no restart fault runs with it.
    pub(super) fn kill_rules(
        &self,
        kill: Option<&Field<Duration>>,
        restart: bool,
        duration: &Field<Duration>,
        kinds: &Field<Vec<TransportKind>>,
        scaling: &[Field<(TransportKind, Scaling)>],
    ) -> Result<(), ScenarioError> {
        if let Some(kill) = kill {
            self.check(
                !kill.value.is_zero() && kill.value < duration.value,
                blame(&[&kill.origin, &duration.origin]),
                "[faults] kill_instance_at",
                || {
                    format!(
                        "[faults] kill_instance_at must fall inside the measured phase (0s < at < {})",
                        humantime::format_duration(duration.value)
                    )
                },
            )?;
            let several = kinds.value.iter().all(|k| {
                scaling
                    .iter()
                    .any(|s| s.value.0 == *k && s.value.1.several())
            });
            self.check(several, &kill.origin, "[faults] kill_instance_at", || {
                "[faults] kill_instance_at needs instances = 2 or more (or \"auto\") in every \
                 transport table that runs (the others must survive the loss)"
                    .into()
            })?;
            self.check(!restart, &kill.origin, "[faults] kill_instance_at", || {
                "[faults] kill_instance_at and restart_server_at cannot be combined; \
                 run them as two scenarios"
                    .into()
            })?;
        }
        Ok(())
    }

    /// `[backplane]`: an IP address (on loopback unless `--allow-remote`), a process id, and a
    /// transport that runs several instances to use it.
    pub(super) fn backplane(
        &self,
        table: Option<Sourced<BackplaneTable>>,
        kinds: &Field<Vec<TransportKind>>,
        scaling: &[Field<(TransportKind, Scaling)>],
    ) -> Result<Option<ExistingRedis>, ScenarioError> {
        let Some(table) = table else { return Ok(None) };
        let (at, table) = (self.origin(&table.source), table.value);
        let pid = table.redis_pid.map(|p| self.field(p));
        let Some(redis) = table.redis.map(|r| self.field(r)) else {
            let origin = pid.as_ref().map_or(at, |p| p.origin.clone());
            return Err(self.invalid(origin, "[backplane] redis", {
                "[backplane] needs redis = \"redis://IP:PORT\", the existing Redis to share".into()
            }));
        };
        let url = BackplaneUrl::parse(&redis.value, table.allow_remote).map_err(|e| {
            self.invalid(
                redis.origin.clone(),
                "[backplane] redis",
                format!("[backplane] redis: {e}"),
            )
        })?;
        let pid = self.pid(
            pid.as_ref(),
            "[backplane] redis_pid",
            "[backplane] redis_pid",
        )?;
        // A flag may run fewer transports than the file has; the file itself must use it.
        let used = kinds.value.iter().any(|k| {
            scaling
                .iter()
                .any(|s| s.value.0 == *k && s.value.1.several())
        });
        let flagged = matches!(kinds.origin, Origin::Flag(_));
        self.check(used || flagged, &redis.origin, "[backplane] redis", || {
            "[backplane] redis is shared by transports with instances = 2 or more (or \"auto\"), and none \
             that runs has them; add instances to a transport table or remove [backplane]"
                .into()
        })?;
        Ok(Some(ExistingRedis { url, pid }))
    }
}
