//! The scenario's first shape: a serde mirror of the TOML, one struct per table.
//!
//! Owns the schema (which keys and tables exist, and their TOML types), reading TOML text into a
//! [`ScenarioFile`], and the way back: [`ScenarioFile::from`] a validated [`Scenario`], which serde
//! writes out as the scenario as run. Every struct denies unknown fields and none uses
//! `#[serde(flatten)]`, which would silently turn that off (serde#1600). Every value is a
//! [`Sourced`]: it keeps where it came from (a byte span of the file, or the flag that
//! [`Overrides`](super::Overrides) wrote over it) so that validation can name the line or the flag
//! of a bad value. Checks no ranges, fills in no defaults and parses no durations: that is the one
//! validation, [`Scenario::from_file`](super::Scenario::from_file). Turning TOML's own errors into
//! one line is the private `locate` module's.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use super::sourced::{Opt, Source, Sourced};
pub use super::transport_tables::*;
use super::variant::Variants;
use super::{Faults, Scenario, ScenarioError, Targets, Transport, locate};
use crate::codec::payload::PayloadModel;
use crate::protocol::TransportKind;

/// The whole file. Integers are `i64` (TOML's own integer type) so that a negative or oversized
/// count reaches validation and gets a range message rather than a serde type error.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a scenario table")]
pub struct ScenarioFile {
    /// `name`; the file stem when absent.
    pub name: Opt<String>,
    /// `duration`, a humantime string such as `"20s"`.
    pub duration: Sourced<String>,
    /// `warmup`, a humantime string.
    pub warmup: Opt<String>,
    /// `drain`, a humantime string.
    pub drain: Opt<String>,
    /// `seed`: seeds every random choice of the load (Poisson send times, which connections
    /// churn, network jitter).
    pub seed: Opt<i64>,
    /// `[clients]`
    pub clients: ClientsTable,
    /// `[publish]`
    pub publish: PublishTable,
    /// `[transports]`; its source is where the table is named (or `--transports`), for "no
    /// transports" errors.
    #[serde(default)]
    pub transports: Sourced<TransportsTable>,
    /// `[target]`
    pub target: Option<TargetTable>,
    /// `[faults]`
    pub faults: Option<FaultsTable>,
    /// `[network]`
    pub network: Option<NetworkTable>,
    /// `[rooms]`; its source is where the table is named, for "needs count or members".
    pub rooms: Option<Sourced<RoomsTable>>,
    /// `[backplane]`; its source is where the table is named, for "no transport uses it".
    pub backplane: Option<Sourced<BackplaneTable>>,
    /// `[thresholds]`: column = limit, or `[thresholds.<transport>]` tables of them.
    pub thresholds: Option<BTreeMap<Sourced<String>, Sourced<toml::Value>>>,
}

/// `[target]`: URLs of servers wsbench did not start, and a process to sample.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a [target] table")]
pub struct TargetTable {
    /// `ws`, a `ws://` URL.
    pub ws: Opt<String>,
    /// `longpoll`, an `http://` base URL.
    pub longpoll: Opt<String>,
    /// `shortpoll`, an `http://` base URL.
    pub shortpoll: Opt<String>,
    /// `sse`, the `http://` URL of the event stream.
    pub sse: Opt<String>,
    /// `raw`, a `tcp://` address.
    pub raw: Opt<String>,
    /// `socketio`, a Socket.IO server and the modes to run against it.
    pub socketio: Opt<super::stack::SocketIoTable>,
    /// `nchan`, an nchan server, its locations and the modes to run against it.
    pub nchan: Opt<super::stack::NchanTable>,
    /// `template`, servers described by templates, by name (each name labels its run).
    pub template: Opt<BTreeMap<String, Sourced<super::template::TemplateTable>>>,
    /// `server_pid`, the external server's process id.
    pub server_pid: Opt<i64>,
    /// `token`, sent as a bearer token.
    pub token: Opt<String>,
    /// Whether the URLs may name addresses off loopback: never written in a file, only given by
    /// `--allow-remote` ([`Overrides::allow_remote`](super::Overrides::allow_remote)).
    #[serde(skip)]
    pub allow_remote: bool,
}

impl TargetTable {
    /// The key holding `kind`'s URL; `None` for a stack whose key is a table (`socketio`).
    pub fn url_mut(&mut self, kind: TransportKind) -> Option<&mut Opt<String>> {
        match kind {
            TransportKind::Ws => Some(&mut self.ws),
            TransportKind::LongPoll => Some(&mut self.longpoll),
            TransportKind::ShortPoll => Some(&mut self.shortpoll),
            TransportKind::Sse => Some(&mut self.sse),
            TransportKind::Raw => Some(&mut self.raw),
            TransportKind::SocketIo | TransportKind::Nchan | TransportKind::Template => None,
        }
    }
}

/// `[clients]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a [clients] table")]
pub struct ClientsTable {
    /// `subscribers`
    pub subscribers: Sourced<i64>,
    /// `connect_rate`, connections per second.
    pub connect_rate: Opt<i64>,
    /// `reconnect = { initial = "100ms", max = "5s" }`
    pub reconnect: Option<ReconnectTable>,
    /// `slow_readers`: how many subscribers read slowly.
    pub slow_readers: Opt<i64>,
    /// `slow_read_pause`: how long a slow reader pauses after each read, a humantime string.
    pub slow_read_pause: Opt<String>,
    /// `source_addresses`: a count, `"auto"`, or loopback addresses to connect from.
    pub source_addresses: Opt<toml::Value>,
    /// `churn`: connections per second that close and rejoin during the measured phase.
    pub churn: Opt<i64>,
    /// `idle_phase`: how long every connection stays quiet before publishing starts, a humantime
    /// string.
    pub idle_phase: Opt<String>,
    /// `idle`: connections beyond the subscribers, in a room nobody publishes into.
    pub idle: Opt<i64>,
    /// `timestamps`: `"kernel"` or `"user"`, whose clock says when a message arrived.
    pub timestamps: Opt<String>,
    /// `processes`: `"auto"` or how many generator processes share the clients.
    pub processes: Opt<toml::Value>,
}

/// `[clients] reconnect`: exponential backoff with jitter between reconnection attempts.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a reconnect table")]
pub struct ReconnectTable {
    /// `initial`, the first wait, a humantime string.
    pub initial: Opt<String>,
    /// `max`, the longest wait, a humantime string.
    pub max: Opt<String>,
}

/// `[faults]`: trouble wsbench causes on purpose, to see how each transport copes.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a [faults] table")]
pub struct FaultsTable {
    /// `restart_server_at`: how far into the measured phase the built-in server is killed and restarted.
    pub restart_server_at: Opt<String>,
    /// `kill_instance_at`: how far into the measured phase one of several instances is killed.
    pub kill_instance_at: Opt<String>,
    /// `drop = { every = "15s", fraction = 0.1 }`: client connections reset at every tick.
    pub drop: Option<DropTable>,
    /// `restart_instances_at`: how far into the measured phase every instance is restarted.
    pub restart_instances_at: Opt<String>,
    /// `mode`: `"rolling"` or `"all"`, how `restart_instances_at` restarts them.
    pub mode: Opt<String>,
}

/// `[faults] drop`: a tick and the share of connections reset at each.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a drop table")]
pub struct DropTable {
    /// `every`, the time between ticks, a humantime string.
    pub every: Opt<String>,
    /// `fraction`: of the connections, the share reset at each tick.
    pub fraction: Opt<f64>,
}

/// `[network]`: the path between every client and the server, emulated in the clients' sockets.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a [network] table")]
pub struct NetworkTable {
    /// `delay`: the round-trip time, a humantime string.
    pub delay: Opt<String>,
    /// `jitter`: a random extra per round trip, up to this much, a humantime string.
    pub jitter: Opt<String>,
    /// `bandwidth`: bytes per second (an integer) or a rate string such as `"10Mbit/s"`.
    pub bandwidth: Opt<toml::Value>,
}

/// `[backplane]`: an existing Redis for the transports with `instances` to share, instead of a
/// redis-server wsbench starts for each.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a [backplane] table")]
pub struct BackplaneTable {
    /// `redis`: `redis://IP:PORT[/DB]`.
    pub redis: Opt<String>,
    /// `redis_pid`: the redis-server's process id, to sample its CPU and memory.
    pub redis_pid: Opt<i64>,
    /// Whether `redis` may name an address off loopback: only given by `--allow-remote`, as for
    /// [`TargetTable`].
    #[serde(skip)]
    pub allow_remote: bool,
}

/// `[rooms]`: the subscribers split into rooms (topics).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a [rooms] table")]
pub struct RoomsTable {
    /// `count`: how many rooms.
    pub count: Opt<i64>,
    /// `members`: subscribers per room (the count follows).
    pub members: Opt<i64>,
}

/// `[publish]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a [publish] table")]
pub struct PublishTable {
    /// `publishers`
    pub publishers: Opt<i64>,
    /// `rate`, messages per second; a TOML integer is accepted too. Exactly one of `rate` and
    /// `window` is set.
    pub rate: Opt<f64>,
    /// `window`: saturation mode, at most this many messages in flight (instead of `rate`).
    pub window: Opt<i64>,
    /// `payload_bytes`
    pub payload_bytes: Opt<i64>,
    /// `pattern`: `"steady"`, `"poisson"` or `{ burst = 20, every = "5s" }`.
    pub pattern: Opt<toml::Value>,
    /// `payload`: `"padding"`, `"chat"`, `"random"` or `{ file = "…" }`.
    pub payload: Opt<toml::Value>,
}

impl ScenarioFile {
    /// Parses `text` (the contents of `path`; the path is used only in messages).
    pub fn from_toml(path: &Path, text: &str) -> Result<ScenarioFile, ScenarioError> {
        toml::from_str(text).map_err(|e| locate::toml_error(path, text, &e))
    }
}

impl From<&Scenario> for ScenarioFile {
    /// The scenario in the file's schema, every default written out and every value sourced to
    /// the scenario: written out with serde, it is the scenario as run; validated again (after
    /// overrides), it gives back the same scenario.
    fn from(s: &Scenario) -> ScenarioFile {
        fn v<T>(value: T) -> Sourced<T> {
            Sourced::scenario(value)
        }
        let d = |d: Duration| Some(v(humantime::format_duration(d).to_string()));
        let int = |n: u32| Some(v(i64::from(n)));
        let mut transports = TransportsTable {
            run_order: Some(
                s.transports
                    .iter()
                    .filter(|t| {
                        !matches!(
                            t,
                            Transport::SocketIo(_) | Transport::Nchan(_) | Transport::Template(_)
                        )
                    })
                    .map(Transport::kind)
                    .collect(),
            ),
            ..TransportsTable::default()
        };
        for t in &s.transports {
            let variants = s.variants_of(t.kind());
            let write =
                |values: &[bool]| (values != [false]).then(|| v(Variants::toml_value(values)));
            let (http2, tls) = (write(&variants.http2), write(&variants.tls));
            let compress = (variants.compress != [crate::codec::coding::Coding::Identity])
                .then(|| v(super::variant::compress_toml_value(&variants.compress)));
            let http3 = write(&variants.http3);
            let scaling = s.scaling_of(t.kind());
            let (instances, balancer) = if scaling.is_default() {
                (None, None)
            } else {
                let instances = match scaling.auto {
                    true => toml::Value::String("auto".into()),
                    false => toml::Value::Integer(i64::from(scaling.instances)),
                };
                (
                    Some(v(instances)),
                    Some(v(scaling.balancer.label().to_string())),
                )
            };
            match t {
                Transport::Ws {
                    ping_interval,
                    client,
                    resume,
                } => {
                    transports.ws = Some(WsTable {
                        ping_interval: ping_interval.and_then(d),
                        server_ping: s.heartbeats.ws_ping.and_then(d),
                        client: Some(v(client.label().to_string())),
                        resume: Some(v(*resume)),
                        http2,
                        tls,
                        instances,
                        balancer,
                        deflate: (variants.deflate != [None])
                            .then(|| v(super::variant::deflate_toml_value(&variants.deflate))),
                        streams_per_connection: (variants.streams_per_connection != 1)
                            .then(|| v(i64::from(variants.streams_per_connection))),
                    });
                }
                Transport::LongPoll { hold } => {
                    let hold = d(*hold);
                    transports.longpoll = Some(LongPollTable {
                        hold,
                        http2,
                        tls,
                        instances,
                        balancer,
                        compress,
                        http3,
                    });
                }
                Transport::ShortPoll { interval } => {
                    let interval = d(*interval);
                    transports.shortpoll = Some(ShortPollTable {
                        interval,
                        http2,
                        tls,
                        instances,
                        balancer,
                        compress,
                        http3,
                    });
                }
                Transport::Sse => {
                    transports.sse = Some(SseTable {
                        keepalive: s.heartbeats.sse_keepalive.and_then(d),
                        http2,
                        tls,
                        instances,
                        balancer,
                        compress,
                        http3,
                    });
                }
                // A stack's runs are written back with its `[target]` key.
                Transport::SocketIo(_) | Transport::Nchan(_) | Transport::Template(_) => {}
                Transport::Raw { resume } => {
                    transports.raw = Some(RawTable {
                        http2,
                        tls,
                        instances,
                        balancer,
                        resume: Some(v(*resume)),
                    });
                }
            }
        }
        let mut target = TargetTable {
            server_pid: s.targets.server_pid.map(|p| v(i64::from(p))),
            token: s.targets.token.clone().map(v),
            // A remote target was allowed once: the way back allows it again.
            allow_remote: s.targets.endpoints.iter().any(|(_, e)| e.remote_allowed),
            ..TargetTable::default()
        };
        for (kind, endpoint) in &s.targets.endpoints {
            match target.url_mut(*kind) {
                Some(url) => *url = Some(v(endpoint.url.clone())),
                None if *kind == TransportKind::SocketIo => {
                    let runs = stack_runs(s, |t| match t {
                        Transport::SocketIo(io) => Some(io),
                        _ => None,
                    });
                    target.socketio = super::stack::socketio_table(&endpoint.url, &runs).map(v);
                }
                None if *kind == TransportKind::Nchan => {
                    let runs = stack_runs(s, |t| match t {
                        Transport::Nchan(n) => Some(n),
                        _ => None,
                    });
                    target.nchan = super::stack::nchan_table(&endpoint.url, &runs).map(v);
                }
                None => {
                    let runs = stack_runs(s, |t| match t {
                        Transport::Template(t) => Some(t),
                        _ => None,
                    });
                    let tables = runs
                        .iter()
                        .map(|t| (t.name.clone(), v(super::template::template_table(t))))
                        .collect();
                    target.template = Some(v(tables));
                }
            }
        }
        let has_target = s.targets != Targets::default();
        let mut thresholds = BTreeMap::new();
        for t in &s.thresholds {
            let limit = t.toml_value();
            match &t.transport {
                None => {
                    thresholds.insert(v(t.metric.clone()), v(limit));
                }
                Some(label) => {
                    let table = thresholds
                        .entry(v(label.clone()))
                        .or_insert_with(|| v(toml::Value::Table(toml::Table::new())));
                    if let toml::Value::Table(table) = &mut table.value {
                        table.insert(t.metric.clone(), limit);
                    }
                }
            }
        }
        ScenarioFile {
            name: Some(v(s.name.clone())),
            duration: v(humantime::format_duration(s.duration).to_string()),
            warmup: d(s.warmup),
            drain: d(s.drain),
            seed: Some(v(i64::try_from(s.seed).unwrap_or(i64::MAX))),
            clients: ClientsTable {
                subscribers: v(i64::from(s.clients.subscribers)),
                connect_rate: int(s.clients.connect_rate),
                reconnect: Some(ReconnectTable {
                    initial: d(s.clients.reconnect.initial),
                    max: d(s.clients.reconnect.max),
                }),
                slow_readers: int(s.clients.slow_readers),
                slow_read_pause: d(s.clients.slow_read_pause),
                source_addresses: Some(v(s.clients.source_addresses.toml_value())),
                churn: int(s.clients.churn),
                idle_phase: s.clients.idle_phase.and_then(d),
                idle: (s.clients.idle > 0).then(|| v(i64::from(s.clients.idle))),
                timestamps: Some(v(s.clients.timestamps.label().to_owned())),
                processes: Some(v(s.clients.processes.toml_value())),
            },
            publish: PublishTable {
                publishers: int(s.publish.publishers),
                rate: s.publish.window.is_none().then(|| v(s.publish.rate)),
                window: s.publish.window.map(|w| v(i64::from(w))),
                payload_bytes: Some(v(i64::try_from(s.publish.payload_bytes).unwrap_or(i64::MAX))),
                pattern: Some(v(s.publish.pattern.toml_value())),
                payload: (s.publish.payload != PayloadModel::Padding)
                    .then(|| v(s.publish.payload.toml_value())),
            },
            transports: v(transports),
            target: has_target.then_some(target),
            faults: (s.faults != Faults::default()).then(|| FaultsTable {
                restart_server_at: s.faults.restart_server_at.and_then(d),
                kill_instance_at: s.faults.kill_instance_at.and_then(d),
                drop: s.faults.drop.map(|f| DropTable {
                    every: d(f.every),
                    fraction: Some(v(f.fraction)),
                }),
                restart_instances_at: s.faults.deploy.and_then(|f| d(f.at)),
                mode: s.faults.deploy.map(|f| v(f.mode.label().to_owned())),
            }),
            thresholds: (!thresholds.is_empty()).then_some(thresholds),
            network: (!s.network.is_loopback()).then(|| NetworkTable {
                delay: d(s.network.delay),
                jitter: d(s.network.jitter),
                bandwidth: s
                    .network
                    .bandwidth
                    .map(|b| v(toml::Value::Integer(i64::try_from(b).unwrap_or(i64::MAX)))),
            }),
            rooms: s.rooms.map(|r| {
                v(RoomsTable {
                    count: int(r.count),
                    members: None,
                })
            }),
            backplane: s.backplane.as_ref().map(|b| {
                v(BackplaneTable {
                    redis: Some(v(b.url.to_string())),
                    redis_pid: b.pid.map(|p| v(i64::from(p))),
                    // A remote Redis was allowed once: the way back allows it again.
                    allow_remote: !b.url.addr.ip().is_loopback(),
                })
            }),
        }
    }
}

/// The runs of one `[target]` stack among the scenario's transports, in run order.
fn stack_runs<'a, T>(s: &'a Scenario, pick: impl Fn(&'a Transport) -> Option<&'a T>) -> Vec<&'a T> {
    s.transports.iter().filter_map(pick).collect()
}
