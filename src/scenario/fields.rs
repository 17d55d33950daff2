//! The mirror's values on their way into a [`Scenario`](super::Scenario), for the
//! [`rules`](super::rules).
//!
//! Owns [`Rules`] (where a mirror came from: the path and text every origin is read against),
//! [`Field`], a value with the [`Origin`] it came from (a file line, a flag, or nowhere),
//! reading a mirror value into one (spans into lines, a default for an absent key, durations,
//! `http2`/`tls` lists, the WebSocket client; `[target]`'s are `endpoints`'), and the checks that refuse a field
//! with a [`ScenarioError::Invalid`] naming its origin. Holds no rule of its own: which range or
//! rule applies to which field is [`rules`](super::rules)'.

use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use super::file::{Source, Sourced, TransportsTable};
use super::scaling::{Balancer, MAX_INSTANCES, Scaling};
use super::shape::{self, Pattern};
use super::target::Endpoint;
use super::variant::{Variants, parse_bools};
use super::{Origin, ScenarioError, WsClient, locate};
use crate::protocol::TransportKind;
use crate::wire::stamp::Clock;

/// Where a mirror came from: the path names it in errors, the text turns spans into lines. A
/// mirror of a validated [`Scenario`] has neither (its values are written nowhere).
pub(super) struct Rules<'a> {
    /// The scenario file; also the default `name` (its stem).
    pub(super) path: Option<&'a Path>,
    /// The file's text, as parsed.
    pub(super) text: &'a str,
}

/// Other stacks' `[target]` endpoints and their runs, one per mode.
#[derive(Debug, Default)]
pub(super) struct StackRuns {
    pub(super) endpoints: Vec<(TransportKind, Endpoint)>,
    pub(super) runs: Vec<super::Transport>,
}

/// A value on its way into a [`Scenario`](super::Scenario), and where it came from.
#[derive(Debug, Clone)]
pub(super) struct Field<T> {
    pub(super) value: T,
    pub(super) origin: Origin,
}

impl Rules<'_> {
    /// Where `source` points: a file line, a flag, or nowhere.
    pub(super) fn origin(&self, source: &Source) -> Origin {
        match source {
            Source::Span(span) => {
                let (line, col) = locate::line_col(self.text, span.start);
                Origin::File { line, col }
            }
            Source::Flag(flag) => Origin::Flag(flag),
            Source::Scenario => Origin::Default,
        }
    }

    /// The line of a table's header (`[publish]`), for a rule about keys it lacks; nowhere if
    /// the text has no such line.
    pub(super) fn table_origin(&self, header: &str) -> Origin {
        let line = self.text.lines().position(|l| l.trim() == header);
        line.map_or(Origin::Default, |i| Origin::File {
            line: i + 1,
            col: 1,
        })
    }

    /// A written value, and where.
    pub(super) fn field<T>(&self, v: Sourced<T>) -> Field<T> {
        Field {
            origin: self.origin(&v.source),
            value: v.value,
        }
    }

    /// The value of a key, or `default` if it is absent.
    pub(super) fn or<T>(&self, v: Option<Sourced<T>>, default: T) -> Field<T> {
        v.map_or_else(|| unwritten(default), |v| self.field(v))
    }

    /// A duration key's value, or `default` if it is absent.
    pub(super) fn duration(
        &self,
        field: &'static str,
        v: Option<Sourced<String>>,
        default: Duration,
    ) -> Result<Field<Duration>, ScenarioError> {
        Ok(self
            .written_duration(field, v)?
            .unwrap_or_else(|| unwritten(default)))
    }

    /// A duration key's value, if it is written.
    pub(super) fn written_duration(
        &self,
        field: &'static str,
        v: Option<Sourced<String>>,
    ) -> Result<Option<Field<Duration>>, ScenarioError> {
        let Some(v) = v else { return Ok(None) };
        let origin = self.origin(&v.source);
        match humantime::parse_duration(&v.value) {
            Ok(value) => Ok(Some(Field { value, origin })),
            Err(e) => {
                let message = format!("{field}: invalid duration {:?}: {e}", v.value);
                Err(self.invalid(origin, field, message))
            }
        }
    }

    /// The `http2`/`tls` lists of each transport table that has either.
    pub(super) fn variants(
        &self,
        t: &TransportsTable,
    ) -> Result<Vec<Field<(TransportKind, Variants)>>, ScenarioError> {
        let mut out = Vec::new();
        for kind in TransportKind::ALL {
            let Some((http2, tls)) = t.variant_keys(kind) else {
                continue;
            };
            if http2.is_none() && tls.is_none() {
                continue;
            }
            let table = format!("[transports.{}]", kind.label());
            let read = |key: &'static str, v: &Option<Sourced<toml::Value>>| {
                let Some(v) = v else {
                    return Ok((vec![false], None));
                };
                let origin = self.origin(&v.source);
                if kind == TransportKind::Raw && parse_bools(&v.value).is_ok_and(|b| b != [false]) {
                    let message = format!(
                        "{table} {key}: raw is bare TCP, the floor under every protocol; \
                         it has no HTTP/2 or TLS variant"
                    );
                    return Err(self.invalid(origin, key, message));
                }
                match parse_bools(&v.value) {
                    Ok(values) => Ok((values, Some(origin))),
                    Err(e) => Err(self.invalid(origin, key, format!("{table} {key}: {e}"))),
                }
            };
            let (http2, http2_at) = read("http2", http2)?;
            let (tls, tls_at) = read("tls", tls)?;
            out.push(Field {
                value: (kind, Variants::of(http2, tls)),
                origin: tls_at.or(http2_at).unwrap_or(Origin::Default),
            });
        }
        Ok(out)
    }

    /// The `instances`/`balancer` of each transport table that sets either.
    pub(super) fn scaling(
        &self,
        t: &TransportsTable,
    ) -> Result<Vec<Field<(TransportKind, Scaling)>>, ScenarioError> {
        let mut out = Vec::new();
        for kind in TransportKind::ALL {
            let Some((instances, balancer)) = t.scaling_keys(kind) else {
                continue;
            };
            if instances.is_none() && balancer.is_none() {
                continue;
            }
            let table = format!("[transports.{}]", kind.label());
            let mut scaling = Scaling::default();
            let mut origin = Origin::Default;
            if let Some(n) = instances {
                origin = self.origin(&n.source);
                let max = i64::from(MAX_INSTANCES);
                match &n.value {
                    toml::Value::Integer(count) if (1..=max).contains(count) => {
                        scaling.instances = u32::try_from(*count).unwrap_or(1);
                    }
                    toml::Value::String(auto) if auto == "auto" => scaling.auto = true,
                    other => {
                        let message = format!(
                            "{table} instances must be 1 to {max}, got {other} (or \"auto\": as \
                             many as the open-file limit needs)"
                        );
                        return Err(self.invalid(origin, "instances", message));
                    }
                }
            }
            if let Some(b) = balancer {
                let at = self.origin(&b.source);
                scaling.balancer = Balancer::parse(&b.value).map_err(|e| {
                    self.invalid(at.clone(), "balancer", format!("{table} balancer: {e}"))
                })?;
                origin = at;
            }
            out.push(Field {
                value: (kind, scaling),
                origin,
            });
        }
        Ok(out)
    }

    /// `[transports.ws] client`, known to name a client.
    /// `[transports.ws] resume`: true by default with the wsbench client; tungstenite's client
    /// keeps no response head, so it cannot learn where its stream starts.
    pub(super) fn ws_resume(
        &self,
        v: Option<Sourced<bool>>,
        client: WsClient,
    ) -> Result<bool, ScenarioError> {
        let Some(v) = v else {
            return Ok(client == WsClient::Wsbench);
        };
        if v.value && client != WsClient::Wsbench {
            let origin = self.origin(&v.source);
            return Err(self.invalid(
                origin,
                "[transports.ws] resume",
                "[transports.ws] resume = true needs client = \"wsbench\" (tungstenite's client \
                 keeps no response head to learn where its stream starts)"
                    .into(),
            ));
        }
        Ok(v.value)
    }

    pub(super) fn ws_client(&self, v: Option<Sourced<String>>) -> Result<WsClient, ScenarioError> {
        let Some(v) = v else {
            return Ok(WsClient::default());
        };
        WsClient::from_label(&v.value).ok_or_else(|| {
            let field = "[transports.ws] client";
            let names: Vec<String> = WsClient::ALL
                .iter()
                .map(|c| format!("{:?}", c.label()))
                .collect();
            let message = format!("{field} must be {} (got {:?})", names.join(" or "), v.value);
            self.invalid(self.origin(&v.source), field, message)
        })
    }

    /// `[clients] timestamps`, known to name a clock, and `"kernel"` only where the platform
    /// has kernel receive stamps (`kernel_available`): asked for and not to be had is an error,
    /// never a silent fall back. Absent: the kernel's where available, else the user's.
    pub(super) fn timestamps(
        &self,
        v: Option<Sourced<String>>,
        kernel_available: bool,
    ) -> Result<Clock, ScenarioError> {
        let Some(v) = v else {
            return Ok(if kernel_available {
                Clock::Kernel
            } else {
                Clock::User
            });
        };
        let field = "[clients] timestamps";
        let origin = self.origin(&v.source);
        match Clock::from_label(&v.value) {
            Some(Clock::Kernel) if !kernel_available => {
                let message = format!(
                    "{field} = \"kernel\" needs the kernel's receive timestamps \
                     (Linux SO_TIMESTAMPING), which this platform lacks; use \"user\""
                );
                Err(self.invalid(origin, field, message))
            }
            Some(clock) => Ok(clock),
            None => {
                let message = format!("{field} must be \"kernel\" or \"user\" (got {:?})", v.value);
                Err(self.invalid(origin, field, message))
            }
        }
    }

    /// `[publish] pattern`, steady when absent.
    pub(super) fn pattern(
        &self,
        v: Option<Sourced<toml::Value>>,
    ) -> Result<Field<Pattern>, ScenarioError> {
        let Some(v) = v else {
            return Ok(unwritten(Pattern::Steady));
        };
        let origin = self.origin(&v.source);
        match shape::parse_pattern(&v.value) {
            Ok(value) => Ok(Field { value, origin }),
            Err(e) => {
                let field = "[publish] pattern";
                Err(self.invalid(origin, field, format!("{field}: {e}")))
            }
        }
    }

    /// `[network] bandwidth` in bytes per second, if written.
    pub(super) fn bandwidth(
        &self,
        v: Option<Sourced<toml::Value>>,
    ) -> Result<Option<Field<u64>>, ScenarioError> {
        let Some(v) = v else { return Ok(None) };
        let origin = self.origin(&v.source);
        match shape::parse_bandwidth(&v.value) {
            Ok(value) => Ok(Some(Field { value, origin })),
            Err(e) => {
                let field = "[network] bandwidth";
                Err(self.invalid(origin, field, format!("{field} {e}")))
            }
        }
    }

    pub(super) fn invalid(
        &self,
        origin: Origin,
        field: &'static str,
        message: String,
    ) -> ScenarioError {
        ScenarioError::Invalid {
            path: self.path.map(Path::to_path_buf),
            origin,
            field,
            message,
        }
    }

    /// A process id key's value (`[target] server_pid`, `[backplane] redis_pid`), refused
    /// unless it is 1 to `u32::MAX`; `name` starts the message.
    pub(super) fn pid(
        &self,
        pid: Option<&Field<i64>>,
        field: &'static str,
        name: &str,
    ) -> Result<Option<u32>, ScenarioError> {
        let Some(pid) = pid else { return Ok(None) };
        let v = pid.value;
        let message = || format!("{name} must be a process id (got {v})");
        self.check(
            u32::try_from(v).is_ok_and(|p| p > 0),
            &pid.origin,
            field,
            message,
        )?;
        Ok(u32::try_from(v).ok())
    }

    /// `Err` naming `origin` and `field` with `message()` unless `ok`.
    pub(super) fn check(
        &self,
        ok: bool,
        origin: &Origin,
        field: &'static str,
        message: impl FnOnce() -> String,
    ) -> Result<(), ScenarioError> {
        if ok {
            return Ok(());
        }
        Err(self.invalid(origin.clone(), field, message()))
    }

    pub(super) fn int_in(
        &self,
        f: &Field<i64>,
        field: &'static str,
        range: RangeInclusive<i64>,
    ) -> Result<(), ScenarioError> {
        let (v, min, max) = (f.value, *range.start(), *range.end());
        let bound = if v < min {
            format!("at least {min}")
        } else {
            format!("at most {max}")
        };
        self.check(range.contains(&v), &f.origin, field, || {
            format!("{field} must be {bound} (got {v})")
        })
    }

    pub(super) fn duration_in(
        &self,
        f: &Field<Duration>,
        field: &'static str,
        range: RangeInclusive<Duration>,
        why: &str,
    ) -> Result<(), ScenarioError> {
        let d = |d: &Duration| humantime::format_duration(*d).to_string();
        let (min, max) = (range.start(), range.end());
        let allowed = if min.is_zero() {
            format!("at most {}", d(max))
        } else {
            format!("between {} and {}", d(min), d(max))
        };
        let message = || format!("{field} must be {allowed} (got {}){why}", d(&f.value));
        self.check(range.contains(&f.value), &f.origin, field, message)
    }
}

/// A value written nowhere: a default.
pub(super) fn unwritten<T>(value: T) -> Field<T> {
    Field {
        value,
        origin: Origin::Default,
    }
}

/// The origin to name when a rule between fields breaks: the first flag among them (the user's
/// latest word), else the first field's.
pub(super) fn blame<'a>(origins: &[&'a Origin]) -> &'a Origin {
    let flag = origins.iter().find(|o| matches!(o, Origin::Flag(_)));
    flag.or(origins.first())
        .copied()
        .unwrap_or(&Origin::Default)
}
