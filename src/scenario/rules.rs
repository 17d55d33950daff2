//! The scenario's one validation: from the mirror ([`ScenarioFile`]) to a [`Scenario`].
//!
//! Owns every rule a scenario must satisfy, in the order they are checked: each value of the mirror
//! read (or its default taken when the key is absent), then the range checks and the rules between
//! fields, each failing as a [`ScenarioError::Invalid`] that names the file line or the flag its
//! value came from; and building the [`Scenario`] once they all hold. The functions that read a
//! value and refuse one are [`fields`](super::fields)'. Does not own the schema, TOML's own errors
//! or the overrides ([`file`](super::file), [`locate`](super::locate),
//! [`overrides`](super::overrides)), nor the validated types or how an error's location is written
//! ([`scenario`](super)). Reads no files, and knows neither TOML syntax nor how flags are parsed.

use std::path::Path;
use std::time::Duration;

use super::fields::{Field, blame, unwritten};
use super::file::ScenarioFile;
use super::sources::{self, SourceAddresses};
use super::thresholds;
use super::{
    Backoff, Clients, DEFAULT_BACKOFF, DEFAULT_HOLD, DEFAULT_INTERVAL, Faults, Heartbeats,
    MAX_MESSAGES, MAX_WINDOW, Network, Origin, Pattern, Publish, Scenario, ScenarioError, Targets,
    Transport,
};
use crate::codec::envelope::MAX_HEADER_LEN;
use crate::protocol::TransportKind;

/// Where a mirror came from: the path names it in errors, the text turns spans into lines. A
/// mirror of a validated [`Scenario`] has neither (its values are written nowhere).
pub(super) struct Rules<'a> {
    /// The scenario file; also the default `name` (its stem).
    pub(super) path: Option<&'a Path>,
    /// The file's text, as parsed.
    pub(super) text: &'a str,
}

const WARMUP_WHY: &str =
    ": a longer warmup is not sensible, since connections, caches and queues settle in seconds";

impl Rules<'_> {
    /// The scenario `file` describes, if every value reads and every range and every rule between
    /// fields holds; else the first broken one, naming where its value came from.
    pub(super) fn validate(&self, file: ScenarioFile) -> Result<Scenario, ScenarioError> {
        let (ms, s) = (Duration::from_millis, Duration::from_secs);
        let ScenarioFile {
            name,
            duration,
            warmup,
            drain,
            clients,
            publish,
            transports,
            target,
            faults,
            thresholds,
            seed,
            network,
            rooms,
            backplane,
        } = file;
        // First every value read; one that cannot be read fails here, naming its line.
        let thresholds = thresholds::from_table(&thresholds.unwrap_or_default())
            .map_err(|(at, message)| self.invalid(self.origin(&at), "[thresholds]", message))?;
        let mut target = target.unwrap_or_default();
        let endpoints = self.endpoints(&mut target)?;
        let picked = transports.value.stack_order.as_deref();
        let stacks = self.stacks(&mut target, rooms.is_some(), picked)?;
        let name = match name {
            Some(name) => self.field(name),
            None => {
                let stem = self.path.and_then(Path::file_stem).unwrap_or_default();
                unwritten(stem.to_string_lossy().into_owned())
            }
        };
        let t = transports.value;
        let kinds = Field {
            value: t.run_order.clone().unwrap_or_else(|| t.configured()),
            origin: self.origin(&transports.source),
        };
        let variants = self.variants(&t)?;
        let scaling = self.scaling(&t)?;
        let ws = t.ws.unwrap_or_default();
        let ws_client = self.ws_client(ws.client)?;
        let source_addresses = match clients.source_addresses {
            None => unwritten(SourceAddresses::Auto),
            Some(v) => {
                let origin = self.origin(&v.source);
                let field = "[clients] source_addresses";
                match sources::parse(&v.value) {
                    Ok(value) => Field { value, origin },
                    Err(message) => return Err(self.invalid(origin, field, message)),
                }
            }
        };
        let duration = self.duration("duration", Some(duration), Duration::ZERO)?;
        let warmup = self.duration("warmup", warmup, Duration::ZERO)?;
        let drain = self.duration("drain", drain, s(5))?;
        let slow_read_pause = self.duration(
            "[clients] slow_read_pause",
            clients.slow_read_pause,
            ms(100),
        )?;
        let reconnect = clients.reconnect.unwrap_or_default();
        let initial = self.duration(
            "[clients] reconnect.initial",
            reconnect.initial,
            DEFAULT_BACKOFF.initial,
        )?;
        let max = self.duration(
            "[clients] reconnect.max",
            reconnect.max,
            DEFAULT_BACKOFF.max,
        )?;
        let (restart, kill) =
            faults.map_or((None, None), |f| (f.restart_server_at, f.kill_instance_at));
        let restart = self.written_duration("[faults] restart_server_at", restart)?;
        let kill = self.written_duration("[faults] kill_instance_at", kill)?;
        let hold = t.longpoll.and_then(|l| l.hold);
        let hold = self.duration("[transports.longpoll] hold", hold, DEFAULT_HOLD)?;
        let ping = self.written_duration("[transports.ws] ping_interval", ws.ping_interval)?;
        let server_ping = self.written_duration("[transports.ws] server_ping", ws.server_ping)?;
        let keepalive = t.sse.as_ref().and_then(|s| s.keepalive.clone());
        let keepalive = self.written_duration("[transports.sse] keepalive", keepalive)?;
        let interval = t.shortpoll.and_then(|s| s.interval);
        let interval = self.duration(
            "[transports.shortpoll] interval",
            interval,
            DEFAULT_INTERVAL,
        )?;
        let subscribers = self.field(clients.subscribers);
        let connect_rate = self.or(clients.connect_rate, 1000);
        let slow_readers = self.or(clients.slow_readers, 0);
        let churn = self.or(clients.churn, 0);
        let (idle, idle_phase) = self.idle(clients.idle, clients.idle_phase)?;
        let seed = self.or(seed, 1);
        let pattern = self.pattern(publish.pattern)?;
        let network = network.unwrap_or_default();
        let delay = self.duration("[network] delay", network.delay, Duration::ZERO)?;
        let jitter = self.duration("[network] jitter", network.jitter, Duration::ZERO)?;
        let bandwidth = self.bandwidth(network.bandwidth)?;
        let publishers = self.or(publish.publishers, 1);
        let window = publish.window.map(|w| self.field(w));
        let rate = match (publish.rate, &window) {
            (Some(rate), None) => self.field(rate),
            (None, Some(_)) => unwritten(0.0),
            (Some(rate), Some(window)) => {
                let rate = self.field(rate);
                let origin = blame(&[&window.origin, &rate.origin]);
                return Err(self.invalid(origin.clone(), "[publish] window", {
                    "[publish] rate and window exclude each other: rate publishes on a schedule \
                     (open loop), window as fast as the messages in flight allow (closed loop); \
                     keep one"
                        .into()
                }));
            }
            (None, None) => {
                let origin = self.table_origin("[publish]");
                return Err(self.invalid(origin, "[publish] rate", {
                    "[publish] needs rate (messages per second) or window (messages in flight, \
                     saturation mode)"
                        .into()
                }));
            }
        };
        let payload = self.or(publish.payload_bytes, 64);
        let server_pid = target.server_pid.map(|p| self.field(p));
        let token = target.token.map(|t| self.field(t));

        // Then the ranges, and the rules between fields.
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
        self.duration_in(&duration, "duration", ms(100)..=s(3600), "")?;
        self.duration_in(&warmup, "warmup", s(0)..=s(600), WARMUP_WHY)?;
        self.duration_in(&drain, "drain", s(0)..=s(60), "")?;
        self.int_in(&subscribers, "[clients] subscribers", 1..=1_000_000)?;
        self.int_in(&connect_rate, "[clients] connect_rate", 1..=100_000)?;
        self.int_in(&churn, "[clients] churn", 0..=100_000)?;
        self.int_in(&seed, "seed", 0..=i64::MAX)?;
        self.duration_in(&delay, "[network] delay", s(0)..=s(10), "")?;
        self.duration_in(&jitter, "[network] jitter", s(0)..=s(10), "")?;
        self.duration_in(&initial, "[clients] reconnect.initial", ms(1)..=s(60), "")?;
        self.duration_in(&max, "[clients] reconnect.max", ms(1)..=s(300), "")?;
        let field = "[clients] slow_read_pause";
        self.duration_in(&slow_read_pause, field, ms(1)..=s(60), "")?;
        let (slow, subs) = (&slow_readers, &subscribers);
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
        self.check(
            max.value >= initial.value,
            blame(&[&max.origin, &initial.origin]),
            "[clients] reconnect",
            || "[clients] reconnect.max must be at least reconnect.initial".into(),
        )?;
        for (beat, field) in [
            (&ping, "[transports.ws] ping_interval"),
            (&server_ping, "[transports.ws] server_ping"),
            (&keepalive, "[transports.sse] keepalive"),
        ] {
            if let Some(beat) = beat {
                self.duration_in(beat, field, ms(100)..=s(3600), "")?;
            }
        }
        if let Some(restart) = &restart {
            self.check(
                !restart.value.is_zero() && restart.value < duration.value,
                blame(&[&restart.origin, &duration.origin]),
                "[faults] restart_server_at",
                || {
                    format!(
                        "[faults] restart_server_at must fall inside the measured phase (0s < at < {})",
                        humantime::format_duration(duration.value)
                    )
                },
            )?;
        }
        let rooms = self.rooms(rooms, &subscribers)?;
        let (p, sub) = (&publishers, &subscribers);
        self.int_in(p, "[publish] publishers", 1..=i64::MAX)?;
        let origin = blame(&[&p.origin, &sub.origin]);
        self.check(p.value <= sub.value, origin, "[publish] publishers", || {
            format!(
                "[publish] publishers ({}) must be at most [clients] subscribers ({}), \
                 since every publisher is also a subscriber",
                p.value, sub.value
            )
        })?;
        if let Some(window) = &window {
            self.int_in(window, "[publish] window", 1..=MAX_WINDOW)?;
            self.check(rooms.is_none(), &window.origin, "[publish] window", || {
                "[publish] window does not run with [rooms] yet: the window waits for every \
                 subscriber, and a room's message reaches only its members; use rate"
                    .into()
            })?;
            self.check(
                pattern.value == Pattern::Steady,
                blame(&[&pattern.origin, &window.origin]),
                "[publish] pattern",
                || {
                    "[publish] pattern spaces a rate's send times; with window the sends \
                     follow the deliveries: remove one"
                        .into()
                },
            )?;
        }
        let rated = window.is_none();
        self.check(
            !rated || rate.value > 0.0,
            &rate.origin,
            "[publish] rate",
            || format!("[publish] rate must be > 0 (got {})", rate.value),
        )?;
        self.check(rate.value <= 1e6, &rate.origin, "[publish] rate", || {
            format!(
                "[publish] rate must be at most 1000000 (got {})",
                rate.value
            )
        })?;
        let header = i64::try_from(MAX_HEADER_LEN).unwrap_or(0);
        let field = "[publish] payload_bytes";
        self.check(payload.value >= header, &payload.origin, field, || {
            format!(
                "{field} must be at least {header} (got {}): \
                 payload too small for the message header ({header} bytes)",
                payload.value
            )
        })?;
        self.int_in(&payload, field, header..=65536)?;
        if let Pattern::Bursts { burst, every } = pattern.value {
            let takes = f64::from(burst) / rate.value;
            let origin = blame(&[&pattern.origin, &rate.origin]);
            self.check(
                takes <= every.as_secs_f64(),
                origin,
                "[publish] pattern",
                || {
                    format!(
                        "[publish] pattern: a burst of {burst} at {} msg/s takes {takes}s, longer \
                     than every ({}); raise the rate, shrink the burst or lengthen every",
                        rate.value,
                        humantime::format_duration(every)
                    )
                },
            )?;
        }
        let run = warmup.value + duration.value;
        // Bursts send `burst / every` on average: the rate is only their speed.
        let average = pattern.value.average_rate(rate.value);
        // With a window the publishers stop at the cap instead (`client::window`).
        let messages = if rated {
            average * run.as_secs_f64()
        } else {
            0.0
        };
        let origin = blame(&[&rate.origin, &duration.origin, &warmup.origin]);
        self.check(messages <= MAX_MESSAGES, origin, "[publish] rate", || {
            let what = match pattern.value {
                Pattern::Bursts { .. } => "burst ÷ every",
                _ => "[publish] rate",
            };
            format!(
                "{what} × (warmup + duration) = {average} × {} = {messages:.0} messages, \
                 more than the {MAX_MESSAGES} a run may send per transport; \
                 lower the rate or shorten the run",
                humantime::format_duration(run)
            )
        })?;
        self.check(
            !kinds.value.is_empty() || !stacks.runs.is_empty(),
            &kinds.origin,
            "[transports]",
            || match kinds.origin {
                // No `[transports]` at all: a newcomer's first file. Say what one looks like.
                Origin::Default => {
                    let kinds: Vec<&str> = TransportKind::ALL.iter().map(|k| k.label()).collect();
                    format!(
                        "no transport to run: add a `[transports.ws]` table (one per transport \
                         to run; these exist: {}), or a [target] socketio or nchan",
                        kinds.join(", ")
                    )
                }
                _ => "[transports] needs at least one of [transports.ws], [transports.longpoll], \
                      [transports.shortpoll] or [transports.sse]"
                    .into(),
            },
        )?;
        let dup = (1..kinds.value.len()).find(|&i| kinds.value[..i].contains(&kinds.value[i]));
        self.check(dup.is_none(), &kinds.origin, "[transports]", || {
            let kind = dup.map(|i| kinds.value[i].label()).unwrap_or_default();
            format!("[transports] lists {kind} twice; each transport runs at most once")
        })?;
        self.duration_in(&hold, "[transports.longpoll] hold", ms(1)..=s(600), "")?;
        for e in &endpoints {
            let (kind, _) = &e.value;
            let runs = kinds.value.contains(kind);
            // A flag may run fewer transports than the file targets; the file itself must agree.
            let flagged = matches!(kinds.origin, Origin::Flag(_));
            self.check(runs || flagged, &e.origin, "[target]", || {
                format!(
                    "[target] {0} is set but [transports.{0}] is not: add the table to run it",
                    kind.label()
                )
            })?;
        }
        for v in &variants {
            let (kind, variants) = &v.value;
            let external = endpoints.iter().any(|e| e.value.0 == *kind);
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
        self.scaling_rules(&scaling, &variants, &endpoints)?;
        self.kill_rules(
            kill.as_ref(),
            restart.is_some(),
            &duration,
            &kinds,
            &scaling,
        )?;
        let backplane = self.backplane(backplane, &kinds, &scaling)?;
        // Every transport's clients connect from these addresses, to its [target] or to a
        // built-in server, which always listens on 127.0.0.1.
        let sources = &source_addresses;
        for kind in &kinds.value {
            let target = endpoints.iter().find(|e| e.value.0 == *kind);
            let ip = target.map_or(std::net::Ipv4Addr::LOCALHOST.into(), |e| {
                e.value.1.addr.ip()
            });
            let origin = match target {
                Some(e) => blame(&[&sources.origin, &e.origin]),
                None => &sources.origin,
            };
            if let Err(why) = sources.value.fits(ip) {
                let message = match target {
                    Some(_) => format!("{why} ([target] {})", kind.label()),
                    None => format!("{why} (the built-in {kind} server listens on 127.0.0.1)"),
                };
                return Err(self.invalid(origin.clone(), "[clients] source_addresses", message));
            }
        }
        if let Some(token) = &token {
            let t = &token.value;
            let printable = !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic());
            self.check(printable, &token.origin, "[target] token", || {
                "[target] token must be non-empty printable ASCII without spaces".into()
            })?;
        }
        let server_pid = self.pid(server_pid.as_ref(), "server_pid", "[target] server_pid")?;
        let field = "[transports.shortpoll] interval";
        self.duration_in(&interval, field, ms(10)..=s(3600), "")?;

        // Every value fits its type now.
        let fits = "validated to be in range";
        let count = |f: Field<i64>| u32::try_from(f.value).expect(fits);
        let transports = kinds.value.iter().map(|kind| match kind {
            TransportKind::Ws => Transport::Ws {
                ping_interval: ping.as_ref().map(|p| p.value),
                client: ws_client,
            },
            TransportKind::LongPoll => Transport::LongPoll { hold: hold.value },
            TransportKind::ShortPoll => Transport::ShortPoll {
                interval: interval.value,
            },
            TransportKind::Sse => Transport::Sse,
            TransportKind::Raw => Transport::Raw,
            TransportKind::SocketIo | TransportKind::Nchan => Transport::default_for(*kind),
        });
        // Other stacks' runs come after the built-in transports, in the order of their modes.
        let transports = transports.chain(stacks.runs);
        Ok(Scenario {
            name: name.value,
            duration: duration.value,
            warmup: warmup.value,
            drain: drain.value,
            clients: Clients {
                subscribers: count(subscribers),
                connect_rate: count(connect_rate),
                reconnect: Backoff {
                    initial: initial.value,
                    max: max.value,
                },
                slow_readers: count(slow_readers),
                slow_read_pause: slow_read_pause.value,
                source_addresses: source_addresses.value,
                churn: count(churn),
                idle_phase,
                idle,
            },
            publish: Publish {
                publishers: count(publishers),
                rate: rate.value,
                window: window.map(|w| u32::try_from(w.value).expect(fits)),
                payload_bytes: usize::try_from(payload.value).expect(fits),
                pattern: pattern.value,
            },
            transports: transports.collect(),
            variants: variants
                .into_iter()
                .map(|v| v.value)
                .filter(|(kind, _)| kinds.value.contains(kind))
                .collect(),
            targets: Targets {
                // Only those of transports that run: the rest would not load back.
                endpoints: endpoints
                    .into_iter()
                    .map(|e| e.value)
                    .filter(|(kind, _)| kinds.value.contains(kind))
                    .chain(stacks.endpoints)
                    .collect(),
                server_pid,
                token: token.map(|t| t.value),
            },
            thresholds,
            faults: Faults {
                restart_server_at: restart.map(|r| r.value),
                kill_instance_at: kill.map(|k| k.value),
            },
            scaling: scaling
                .into_iter()
                .map(|s| s.value)
                .filter(|(kind, s)| kinds.value.contains(kind) && !s.is_default())
                .collect(),
            seed: u64::try_from(seed.value).expect(fits),
            rooms,
            backplane,
            heartbeats: Heartbeats {
                ws_ping: server_ping.map(|p| p.value),
                sse_keepalive: keepalive.map(|k| k.value),
            },
            network: Network {
                delay: delay.value,
                jitter: jitter.value,
                bandwidth: bandwidth.map(|b| b.value),
            },
        })
    }
}
