//! Stage 2 of reading a scenario: the rules a [`Scenario`] must satisfy.
//!
//! Owns [`Draft`], every field of a scenario before validation with the [`Origin`] it came from;
//! applying command-line [`Overrides`] to a validated scenario; the range checks and the rules
//! between fields, each failing as a [`ScenarioError::Invalid`] that names the file line or flag;
//! and building the [`Scenario`] once they all hold. Does not own parsing TOML, turning spans into
//! lines, defaults for absent keys or parsing durations (that is [`file`](super::file)), nor the
//! validated types, the error type or how an error's location is written (that is
//! [`scenario`](super)). Reads no files, and knows neither TOML syntax nor how flags are parsed.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use super::sources::SourceAddresses;
use super::target::Endpoint;
use super::thresholds::Threshold;
use super::variant::Variants;
use super::{
    Backoff, Clients, DEFAULT_HOLD, DEFAULT_INTERVAL, Faults, MAX_MESSAGES, Origin, Publish,
    Scenario, ScenarioError, Targets, Transport, WsClient,
};
use crate::cli::Overrides;
use crate::codec::envelope::MAX_HEADER_LEN;
use crate::protocol::TransportKind;

/// A value on its way to validation, and where it came from.
#[derive(Debug, Clone)]
pub(super) struct Field<T> {
    value: T,
    origin: Origin,
}

impl<T> Field<T> {
    pub(super) fn new(value: T, origin: Origin) -> Field<T> {
        Field { value, origin }
    }

    /// A value written nowhere: a default, or one of an already validated [`Scenario`].
    pub(super) fn unwritten(value: T) -> Field<T> {
        Field::new(value, Origin::Default)
    }

    /// Replaces the value with a flag's, if the flag was given.
    fn set(&mut self, value: Option<T>, flag: &'static str) {
        if let Some(value) = value {
            *self = Field::new(value, Origin::Flag(flag));
        }
    }
}

/// Every field of a scenario before validation, from a file or a [`Scenario`], flags applied.
/// Integers are `i128` so that any TOML integer or flag value reaches a range message intact.
pub(super) struct Draft {
    pub(super) path: Option<PathBuf>,
    pub(super) name: Field<String>,
    pub(super) duration: Field<Duration>,
    pub(super) warmup: Field<Duration>,
    pub(super) drain: Field<Duration>,
    pub(super) subscribers: Field<i128>,
    pub(super) connect_rate: Field<i128>,
    pub(super) reconnect_initial: Field<Duration>,
    pub(super) reconnect_max: Field<Duration>,
    pub(super) slow_readers: Field<i128>,
    pub(super) slow_read_pause: Field<Duration>,
    /// `[clients] source_addresses`, already parsed: each address known to be on loopback.
    pub(super) source_addresses: Field<SourceAddresses>,
    /// Zero when not written: no restart.
    pub(super) restart_server_at: Field<Duration>,
    pub(super) publishers: Field<i128>,
    pub(super) rate: Field<f64>,
    pub(super) payload_bytes: Field<i128>,
    pub(super) transports: Field<Vec<TransportKind>>,
    /// `http2`/`tls` of each transport table that has either, already parsed.
    pub(super) variants: Vec<Field<(TransportKind, Variants)>>,
    /// `[transports.longpoll] hold`, whether or not long-poll runs.
    pub(super) hold: Field<Duration>,
    /// `[transports.shortpoll] interval`, whether or not short-poll runs.
    pub(super) interval: Field<Duration>,
    /// `[target]` endpoints, already parsed and known to be on loopback.
    pub(super) targets: Vec<Field<(TransportKind, Endpoint)>>,
    /// `[target] server_pid` or `--server-pid`.
    pub(super) server_pid: Field<Option<i128>>,
    /// `[target] token`.
    pub(super) token: Field<Option<String>>,
    /// `[transports.ws] ping_interval`; zero when not written (no heartbeat).
    pub(super) ping_interval: Field<Duration>,
    /// `[transports.ws] client`, already known to name a client.
    pub(super) ws_client: Field<WsClient>,
    /// `[thresholds]`, already parsed and known to name numeric columns.
    pub(super) thresholds: Vec<Field<Threshold>>,
}

const WARMUP_WHY: &str =
    ": a longer warmup is not sensible, since connections, caches and queues settle in seconds";

impl Draft {
    /// The fields of an already validated scenario, each written nowhere: the start for overrides.
    pub(super) fn from_scenario(s: &Scenario) -> Draft {
        let hold = s.transports.iter().find_map(|t| match t {
            Transport::LongPoll { hold } => Some(*hold),
            _ => None,
        });
        let interval = s.transports.iter().find_map(|t| match t {
            Transport::ShortPoll { interval } => Some(*interval),
            _ => None,
        });
        let payload_bytes = i128::try_from(s.publish.payload_bytes).unwrap_or(i128::MAX);
        Draft {
            path: None,
            name: Field::unwritten(s.name.clone()),
            duration: Field::unwritten(s.duration),
            warmup: Field::unwritten(s.warmup),
            drain: Field::unwritten(s.drain),
            subscribers: Field::unwritten(s.clients.subscribers.into()),
            connect_rate: Field::unwritten(s.clients.connect_rate.into()),
            reconnect_initial: Field::unwritten(s.clients.reconnect.initial),
            reconnect_max: Field::unwritten(s.clients.reconnect.max),
            slow_readers: Field::unwritten(s.clients.slow_readers.into()),
            slow_read_pause: Field::unwritten(s.clients.slow_read_pause),
            source_addresses: Field::unwritten(s.clients.source_addresses.clone()),
            restart_server_at: Field::unwritten(s.faults.restart_server_at.unwrap_or_default()),
            publishers: Field::unwritten(s.publish.publishers.into()),
            rate: Field::unwritten(s.publish.rate),
            payload_bytes: Field::unwritten(payload_bytes),
            transports: Field::unwritten(s.transports.iter().map(Transport::kind).collect()),
            variants: s.variants.iter().cloned().map(Field::unwritten).collect(),
            hold: Field::unwritten(hold.unwrap_or(DEFAULT_HOLD)),
            interval: Field::unwritten(interval.unwrap_or(DEFAULT_INTERVAL)),
            targets: s
                .targets
                .endpoints
                .iter()
                .cloned()
                .map(Field::unwritten)
                .collect(),
            server_pid: Field::unwritten(s.targets.server_pid.map(i128::from)),
            token: Field::unwritten(s.targets.token.clone()),
            thresholds: s.thresholds.iter().cloned().map(Field::unwritten).collect(),
            ping_interval: Field::unwritten(
                s.transports
                    .iter()
                    .find_map(|t| match t {
                        Transport::Ws { ping_interval, .. } => *ping_interval,
                        _ => None,
                    })
                    .unwrap_or_default(),
            ),
            ws_client: Field::unwritten(
                s.transports
                    .iter()
                    .find_map(|t| match t {
                        Transport::Ws { client, .. } => Some(*client),
                        _ => None,
                    })
                    .unwrap_or_default(),
            ),
        }
    }

    /// These fields with the flags in `o` applied, each then naming its flag. `--transports`
    /// replaces the list; long-poll, kept or added, runs with the scenario's `hold`, or
    /// [`DEFAULT_HOLD`] if it had none.
    pub(super) fn with_overrides(mut self, o: &Overrides) -> Draft {
        self.subscribers
            .set(o.subscribers.map(i128::from), "--subscribers");
        self.publishers
            .set(o.publishers.map(i128::from), "--publishers");
        let payload = o
            .payload_bytes
            .map(|p| i128::try_from(p).unwrap_or(i128::MAX));
        self.payload_bytes.set(payload, "--payload-bytes");
        self.rate.set(o.rate, "--rate");
        self.duration.set(o.duration, "--duration");
        self.warmup.set(o.warmup, "--warmup");
        self.transports.set(o.transports.clone(), "--transports");
        self.server_pid
            .set(o.server_pid.map(|p| Some(i128::from(p))), "--server-pid");
        self
    }

    /// `Err` naming `origin` and `field` with `message()` unless `ok`.
    fn check(
        &self,
        ok: bool,
        origin: &Origin,
        field: &'static str,
        message: impl FnOnce() -> String,
    ) -> Result<(), ScenarioError> {
        if ok {
            return Ok(());
        }
        Err(ScenarioError::Invalid {
            path: self.path.clone(),
            origin: origin.clone(),
            field,
            message: message(),
        })
    }

    fn int_in(
        &self,
        f: &Field<i128>,
        field: &'static str,
        range: RangeInclusive<i128>,
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

    fn duration_in(
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

    /// The scenario, if every range and every rule between fields holds; else the first broken
    /// one, naming where its value came from.
    pub(super) fn validate(self) -> Result<Scenario, ScenarioError> {
        let (ms, s) = (Duration::from_millis, Duration::from_secs);
        let name = &self.name;
        let name_ok = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        let hint = match name.origin {
            Origin::Default => " (it defaults to the file name; set `name` in the file)",
            _ => "",
        };
        let ok = (1..=64).contains(&name.value.len()) && name.value.chars().all(name_ok);
        self.check(ok, &name.origin, "name", || {
            let got = &name.value;
            format!(
                "name must be 1 to 64 characters from A-Z a-z 0-9 . _ - \
                 since it names the results directory (got {got:?}){hint}"
            )
        })?;
        self.duration_in(&self.duration, "duration", ms(100)..=s(3600), "")?;
        self.duration_in(&self.warmup, "warmup", s(0)..=s(600), WARMUP_WHY)?;
        self.duration_in(&self.drain, "drain", s(0)..=s(60), "")?;
        self.int_in(&self.subscribers, "[clients] subscribers", 1..=1_000_000)?;
        self.int_in(&self.connect_rate, "[clients] connect_rate", 1..=100_000)?;
        self.duration_in(
            &self.reconnect_initial,
            "[clients] reconnect.initial",
            ms(1)..=s(60),
            "",
        )?;
        self.duration_in(
            &self.reconnect_max,
            "[clients] reconnect.max",
            ms(1)..=s(300),
            "",
        )?;
        self.duration_in(
            &self.slow_read_pause,
            "[clients] slow_read_pause",
            ms(1)..=s(60),
            "",
        )?;
        let (slow, subs) = (&self.slow_readers, &self.subscribers);
        self.check(
            (0..=subs.value).contains(&slow.value),
            blame(&[&slow.origin, &subs.origin]),
            "[clients] slow_readers",
            || {
                format!(
                    "[clients] slow_readers must be between 0 and subscribers (got {})",
                    slow.value
                )
            },
        )?;
        let (initial, max) = (&self.reconnect_initial, &self.reconnect_max);
        self.check(
            max.value >= initial.value,
            blame(&[&max.origin, &initial.origin]),
            "[clients] reconnect",
            || "[clients] reconnect.max must be at least reconnect.initial".into(),
        )?;
        if !matches!(self.ping_interval.origin, Origin::Default) {
            self.duration_in(
                &self.ping_interval,
                "[transports.ws] ping_interval",
                ms(100)..=s(3600),
                "",
            )?;
        }
        let restart = &self.restart_server_at;
        if !matches!(restart.origin, Origin::Default) {
            self.check(
                !restart.value.is_zero() && restart.value < self.duration.value,
                blame(&[&restart.origin, &self.duration.origin]),
                "[faults] restart_server_at",
                || {
                    format!(
                        "[faults] restart_server_at must fall inside the measured phase (0s < at < {})",
                        humantime::format_duration(self.duration.value)
                    )
                },
            )?;
        }
        let (p, sub) = (&self.publishers, &self.subscribers);
        self.int_in(p, "[publish] publishers", 1..=i128::MAX)?;
        let origin = blame(&[&p.origin, &sub.origin]);
        self.check(p.value <= sub.value, origin, "[publish] publishers", || {
            format!(
                "[publish] publishers ({}) must be at most [clients] subscribers ({}), \
                 since every publisher is also a subscriber",
                p.value, sub.value
            )
        })?;
        let rate = &self.rate;
        self.check(rate.value > 0.0, &rate.origin, "[publish] rate", || {
            format!("[publish] rate must be > 0 (got {})", rate.value)
        })?;
        self.check(rate.value <= 1e6, &rate.origin, "[publish] rate", || {
            format!(
                "[publish] rate must be at most 1000000 (got {})",
                rate.value
            )
        })?;
        let payload = &self.payload_bytes;
        let header = i128::try_from(MAX_HEADER_LEN).unwrap_or(0);
        let field = "[publish] payload_bytes";
        self.check(payload.value >= header, &payload.origin, field, || {
            format!(
                "{field} must be at least {header} (got {}): \
                 payload too small for the message header ({header} bytes)",
                payload.value
            )
        })?;
        self.int_in(payload, field, header..=65536)?;
        let run = self.warmup.value + self.duration.value;
        let messages = rate.value * run.as_secs_f64();
        let origin = blame(&[&rate.origin, &self.duration.origin, &self.warmup.origin]);
        self.check(messages <= MAX_MESSAGES, origin, "[publish] rate", || {
            format!(
                "[publish] rate × (warmup + duration) = {} × {} = {messages:.0} messages, \
                 more than the {MAX_MESSAGES} a run may send per transport; \
                 lower the rate or shorten the run",
                rate.value,
                humantime::format_duration(run)
            )
        })?;
        let kinds = &self.transports;
        self.check(
            !kinds.value.is_empty(),
            &kinds.origin,
            "[transports]",
            || {
                "[transports] needs at least one of [transports.ws], [transports.longpoll], \
                 [transports.shortpoll] or [transports.sse]"
                    .into()
            },
        )?;
        let dup = (1..kinds.value.len()).find(|&i| kinds.value[..i].contains(&kinds.value[i]));
        self.check(dup.is_none(), &kinds.origin, "[transports]", || {
            let kind = dup.map(|i| kinds.value[i].label()).unwrap_or_default();
            format!("[transports] lists {kind} twice; each transport runs at most once")
        })?;
        self.duration_in(&self.hold, "[transports.longpoll] hold", ms(1)..=s(600), "")?;
        for t in &self.targets {
            let (kind, _) = &t.value;
            let runs = self.transports.value.contains(kind);
            // A flag may run fewer transports than the file targets; the file itself must agree.
            let flagged = matches!(self.transports.origin, Origin::Flag(_));
            self.check(runs || flagged, &t.origin, "[target]", || {
                format!(
                    "[target] {0} is set but [transports.{0}] is not: add the table to run it",
                    kind.label()
                )
            })?;
        }
        for v in &self.variants {
            let (kind, variants) = &v.value;
            let external = self.targets.iter().any(|t| t.value.0 == *kind);
            self.check(
                !(external && variants.tls.contains(&true)),
                &v.origin,
                "tls",
                || {
                    format!(
                        "[transports.{0}] tls = true needs the built-in server, but [target] {0} \
                         points at an external one (wsbench cannot trust its certificate); \
                         remove one of them",
                        kind.label()
                    )
                },
            )?;
        }
        // Every transport's clients connect from these addresses, to its [target] or to a
        // built-in server, which always listens on 127.0.0.1.
        let sources = &self.source_addresses;
        for kind in &self.transports.value {
            let target = self.targets.iter().find(|t| t.value.0 == *kind);
            let ip = target.map_or(std::net::Ipv4Addr::LOCALHOST.into(), |t| {
                t.value.1.addr.ip()
            });
            let origin = match target {
                Some(t) => blame(&[&sources.origin, &t.origin]),
                None => &sources.origin,
            };
            if let Err(why) = sources.value.fits(ip) {
                return Err(ScenarioError::Invalid {
                    path: self.path.clone(),
                    origin: origin.clone(),
                    field: "[clients] source_addresses",
                    message: match target {
                        Some(_) => format!("{why} ([target] {})", kind.label()),
                        None => format!("{why} (the built-in {kind} server listens on 127.0.0.1)"),
                    },
                });
            }
        }
        if let Some(token) = &self.token.value {
            let printable = !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic());
            self.check(printable, &self.token.origin, "[target] token", || {
                "[target] token must be non-empty printable ASCII without spaces".into()
            })?;
        }
        if let Some(pid) = self.server_pid.value {
            self.check(
                (1..=i128::from(u32::MAX)).contains(&pid),
                &self.server_pid.origin,
                "server_pid",
                || format!("[target] server_pid must be a process id (got {pid})"),
            )?;
        }
        self.duration_in(
            &self.interval,
            "[transports.shortpoll] interval",
            ms(10)..=s(3600),
            "",
        )?;
        Ok(self.into_scenario())
    }

    /// The scenario, once [`Draft::validate`] has checked every value fits its type.
    fn into_scenario(self) -> Scenario {
        let fits = "validated to be in range";
        let hold = self.hold.value;
        let interval = self.interval.value;
        let ping_interval = self.ping_interval.value;
        let ws_client = self.ws_client.value;
        let kinds = self.transports.value.clone();
        let targets = Targets {
            endpoints: self.targets.into_iter().map(|t| t.value).collect(),
            server_pid: self.server_pid.value.map(|p| u32::try_from(p).expect(fits)),
            token: self.token.value,
        };
        Scenario {
            name: self.name.value,
            duration: self.duration.value,
            warmup: self.warmup.value,
            drain: self.drain.value,
            clients: Clients {
                subscribers: u32::try_from(self.subscribers.value).expect(fits),
                connect_rate: u32::try_from(self.connect_rate.value).expect(fits),
                slow_readers: u32::try_from(self.slow_readers.value).expect(fits),
                slow_read_pause: self.slow_read_pause.value,
                source_addresses: self.source_addresses.value,
                reconnect: Backoff {
                    initial: self.reconnect_initial.value,
                    max: self.reconnect_max.value,
                },
            },
            publish: Publish {
                publishers: u32::try_from(self.publishers.value).expect(fits),
                rate: self.rate.value,
                payload_bytes: usize::try_from(self.payload_bytes.value).expect(fits),
            },
            transports: self
                .transports
                .value
                .into_iter()
                .map(|k| match k {
                    TransportKind::Ws => Transport::Ws {
                        ping_interval: (!ping_interval.is_zero()).then_some(ping_interval),
                        client: ws_client,
                    },
                    TransportKind::LongPoll => Transport::LongPoll { hold },
                    TransportKind::ShortPoll => Transport::ShortPoll { interval },
                    TransportKind::Sse => Transport::Sse,
                })
                .collect(),
            variants: self
                .variants
                .into_iter()
                .map(|v| v.value)
                .filter(|(kind, _)| kinds.contains(kind))
                .collect(),
            targets,
            thresholds: self.thresholds.into_iter().map(|t| t.value).collect(),
            faults: Faults {
                restart_server_at: (!self.restart_server_at.value.is_zero())
                    .then_some(self.restart_server_at.value),
            },
        }
    }
}

/// The origin to name when a rule between fields breaks: the first flag among them (the user's
/// latest word), else the first field's.
fn blame<'a>(origins: &[&'a Origin]) -> &'a Origin {
    let flag = origins.iter().find(|o| matches!(o, Origin::Flag(_)));
    flag.or(origins.first())
        .copied()
        .unwrap_or(&Origin::Default)
}
