//! The scenario's one validation: from the mirror ([`ScenarioFile`]) to a [`Scenario`].
//!
//! Owns every rule a scenario must satisfy, in the order they are checked: each table read by its
//! own reader ([`readers`](super::readers): values, defaults, the table's own ranges), then the
//! rules between tables, each failing as a [`ScenarioError::Invalid`] that names the file line or
//! the flag its value came from; and building the [`Scenario`] once they all hold. The functions
//! that read a value and refuse one are [`fields`](super::fields)'. Does not own the schema, TOML's own errors
//! or the overrides ([`file`](super::file), [`locate`](super::locate),
//! [`overrides`](super::overrides)), nor the validated types or how an error's location is written
//! ([`scenario`](super)). Reads no files, and knows neither TOML syntax nor how flags are parsed.

use super::faults::FaultsRead;
use super::fields::{Field, Rules, blame};
use super::file::{RoomsTable, ScenarioFile, Sourced};
use super::readers::{ClientsRead, PublishRead, TargetRead, Top, TransportsRead};
use super::thresholds;
use super::{
    Backoff, Clients, Heartbeats, MAX_MESSAGES, Network, Origin, Pattern, Publish, Rooms, Scenario,
    ScenarioError, Targets, Transport,
};
use crate::protocol::TransportKind;

impl Rules<'_> {
    /// The scenario `file` describes, if every value reads and every range and every rule between
    /// fields holds; else the first broken one, naming where its value came from.
    pub(super) fn validate(&self, file: ScenarioFile) -> Result<Scenario, ScenarioError> {
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
        // First each table on its own, by its reader.
        let picked = transports.value.stack_order.clone();
        let target = self.read_target(target, rooms.is_some(), picked.as_deref())?;
        let templates: Vec<String> = (target.stacks.runs.iter())
            .filter_map(|r| match r {
                Transport::Template(t) => Some(t.name.clone()),
                _ => None,
            })
            .collect();
        let thresholds = thresholds::from_table(&thresholds.unwrap_or_default(), &templates)
            .map_err(|(at, message)| self.invalid(self.origin(&at), "[thresholds]", message))?;
        let top = self.read_top(name, duration, warmup, drain, seed)?;
        let stacks = !target.stacks.runs.is_empty();
        let transports = self.read_transports(transports, stacks)?;
        let clients = self.read_clients(clients)?;
        let faults = self.read_faults(faults)?;
        let publish = self.read_publish(publish)?;
        let network = self.read_network(network)?;
        // Then the rules between tables.
        let rooms = self.load_rules(&top, &clients, &publish, &faults, rooms)?;
        self.transport_rules(&transports, &target)?;
        self.scaling_rules(&transports.scaling, &transports.variants, &target.endpoints)?;
        let kill = faults.kill.as_ref();
        let restart = faults.restart.is_some();
        let (kinds, scaling) = (&transports.kinds, &transports.scaling);
        self.kill_rules(kill, restart, &top.duration, kinds, scaling)?;
        self.deploy_rules(faults.deploy.as_ref(), kinds, scaling)?;
        let backplane = self.backplane(backplane, kinds, scaling)?;
        self.source_rules(&clients.source_addresses, &transports.kinds, &target)?;
        Ok(build(
            Read {
                top,
                clients,
                publish,
                transports,
                target,
                faults,
                network,
            },
            thresholds,
            rooms,
            backplane,
        ))
    }

    /// The rules between the load's tables: the restart inside the measured phase, rooms for
    /// the subscribers, publishers among the subscribers, a window without rooms or pattern, and
    /// at most [`MAX_MESSAGES`] per transport.
    fn load_rules(
        &self,
        top: &Top,
        clients: &ClientsRead,
        publish: &PublishRead,
        faults: &FaultsRead,
        rooms: Option<Sourced<RoomsTable>>,
    ) -> Result<Option<Rooms>, ScenarioError> {
        let duration = &top.duration;
        self.fault_rules(faults, duration)?;
        let rooms = self.rooms(rooms, &clients.subscribers)?;
        let (p, sub) = (&publish.publishers, &clients.subscribers);
        let origin = blame(&[&p.origin, &sub.origin]);
        self.check(p.value <= sub.value, origin, "[publish] publishers", || {
            format!(
                "[publish] publishers ({}) must be at most [clients] subscribers ({}), \
                 since every publisher is also a subscriber",
                p.value, sub.value
            )
        })?;
        if let Some(window) = &publish.window {
            self.check(rooms.is_none(), &window.origin, "[publish] window", || {
                "[publish] window does not run with [rooms] yet: the window waits for every \
                 subscriber, and a room's message reaches only its members; use rate"
                    .into()
            })?;
            self.check(
                publish.pattern.value == Pattern::Steady,
                blame(&[&publish.pattern.origin, &window.origin]),
                "[publish] pattern",
                || {
                    "[publish] pattern spaces a rate's send times; with window the sends \
                     follow the deliveries: remove one"
                        .into()
                },
            )?;
        }
        self.message_cap(top, publish)?;
        Ok(rooms)
    }

    /// At most [`MAX_MESSAGES`] per transport over warmup and duration.
    fn message_cap(&self, top: &Top, publish: &PublishRead) -> Result<(), ScenarioError> {
        let (rate, pattern) = (&publish.rate, &publish.pattern);
        let run = top.warmup.value + top.duration.value;
        // Bursts send `burst / every` on average: the rate is only their speed.
        let average = pattern.value.average_rate(rate.value);
        // With a window the publishers stop at the cap instead (`client::window`).
        let messages = if publish.window.is_none() {
            average * run.as_secs_f64()
        } else {
            0.0
        };
        let origin = blame(&[&rate.origin, &top.duration.origin, &top.warmup.origin]);
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
        })
    }

    /// `[target]` only for transports that run (unless a flag chose fewer), and no TLS run
    /// against an external server.
    fn transport_rules(
        &self,
        transports: &TransportsRead,
        target: &TargetRead,
    ) -> Result<(), ScenarioError> {
        let kinds = &transports.kinds;
        for e in &target.endpoints {
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
        for v in &transports.variants {
            let (kind, variants) = &v.value;
            let external = target.endpoints.iter().any(|e| e.value.0 == *kind);
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
            self.check(
                !(external && variants.http3.contains(&true)),
                &v.origin,
                "http3",
                || {
                    format!(
                        "[transports.{0}] http3 needs the built-in server (QUIC is always TLS,                          and wsbench cannot trust an external server's certificate), but                          [target] {0} points at an external one; remove one of them",
                        kind.label()
                    )
                },
            )?;
        }
        Ok(())
    }

    /// Every transport's clients connect from the source addresses to its `[target]` or to a
    /// built-in server, which always listens on 127.0.0.1: each must reach it.
    fn source_rules(
        &self,
        sources: &Field<super::sources::SourceAddresses>,
        kinds: &Field<Vec<TransportKind>>,
        target: &TargetRead,
    ) -> Result<(), ScenarioError> {
        for kind in &kinds.value {
            let endpoint = target.endpoints.iter().find(|e| e.value.0 == *kind);
            let ip = endpoint.map_or(std::net::Ipv4Addr::LOCALHOST.into(), |e| {
                e.value.1.addr.ip()
            });
            let origin = match endpoint {
                Some(e) => blame(&[&sources.origin, &e.origin]),
                None => &sources.origin,
            };
            if let Err(why) = sources.value.fits(ip) {
                let message = match endpoint {
                    Some(_) => format!("{why} ([target] {})", kind.label()),
                    None => format!("{why} (the built-in {kind} server listens on 127.0.0.1)"),
                };
                return Err(self.invalid(origin.clone(), "[clients] source_addresses", message));
            }
        }
        Ok(())
    }
}

/// Every table as read, once every rule holds.
struct Read {
    top: Top,
    clients: ClientsRead,
    publish: PublishRead,
    transports: TransportsRead,
    target: TargetRead,
    faults: FaultsRead,
    network: Network,
}

/// The [`Scenario`]: every value fits its type now.
fn build(
    read: Read,
    thresholds: Vec<thresholds::Threshold>,
    rooms: Option<Rooms>,
    backplane: Option<super::scaling::ExistingRedis>,
) -> Scenario {
    let Read {
        top,
        clients,
        publish,
        transports: t,
        target,
        faults,
        network,
    } = read;
    let fits = "validated to be in range";
    let count = |f: Field<i64>| u32::try_from(f.value).expect(fits);
    let kinds = t.kinds.value;
    let runs = |kind: &TransportKind| kinds.contains(kind);
    let transports = kinds.iter().filter_map(|kind| {
        Some(match kind {
            TransportKind::Ws => Transport::Ws {
                ping_interval: t.ping.as_ref().map(|p| p.value),
                client: t.ws_client,
                resume: t.ws_resume,
            },
            TransportKind::LongPoll => Transport::LongPoll { hold: t.hold.value },
            TransportKind::ShortPoll => Transport::ShortPoll {
                interval: t.interval.value,
            },
            TransportKind::Sse => Transport::Sse,
            TransportKind::Raw => Transport::Raw {
                resume: t.raw_resume,
            },
            TransportKind::SocketIo | TransportKind::Nchan | TransportKind::Template => {
                return Transport::default_for(*kind);
            }
        })
    });
    // Other stacks' runs come after the built-in transports, in the order of their modes.
    let transports = transports.chain(target.stacks.runs);
    Scenario {
        name: top.name.value,
        duration: top.duration.value,
        warmup: top.warmup.value,
        drain: top.drain.value,
        clients: Clients {
            subscribers: count(clients.subscribers),
            connect_rate: count(clients.connect_rate),
            reconnect: Backoff {
                initial: clients.initial.value,
                max: clients.max.value,
            },
            slow_readers: count(clients.slow_readers),
            slow_read_pause: clients.slow_read_pause.value,
            source_addresses: clients.source_addresses.value,
            churn: count(clients.churn),
            idle_phase: clients.idle_phase,
            idle: clients.idle,
            timestamps: clients.timestamps,
            processes: clients.processes,
        },
        publish: Publish {
            publishers: count(publish.publishers),
            rate: publish.rate.value,
            window: publish.window.map(|w| u32::try_from(w.value).expect(fits)),
            payload_bytes: usize::try_from(publish.payload.value).expect(fits),
            pattern: publish.pattern.value,
            payload: publish.model.value,
        },
        transports: transports.collect(),
        variants: t
            .variants
            .into_iter()
            .map(|v| v.value)
            .filter(|(kind, _)| runs(kind))
            .collect(),
        targets: Targets {
            // Only those of transports that run: the rest would not load back.
            endpoints: target
                .endpoints
                .into_iter()
                .map(|e| e.value)
                .filter(|(kind, _)| runs(kind))
                .chain(target.stacks.endpoints)
                .collect(),
            server_pid: target.server_pid,
            token: target.token.map(|t| t.value),
        },
        thresholds,
        faults: faults.faults(),
        scaling: t
            .scaling
            .into_iter()
            .map(|s| s.value)
            .filter(|(kind, s)| runs(kind) && !s.is_default())
            .collect(),
        seed: u64::try_from(top.seed.value).expect(fits),
        rooms,
        backplane,
        heartbeats: Heartbeats {
            ws_ping: t.server_ping.map(|p| p.value),
            sse_keepalive: t.keepalive.map(|k| k.value),
        },
        network,
    }
}
