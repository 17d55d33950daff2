//! One reader per scenario table, as [`Rules::validate`](super::rules) calls them: each reads its
//! table's values from the mirror (or takes the default of an absent key), checks the ranges and
//! rules that concern that table alone, and hands back a typed summary of it. The rules between
//! tables come after, in [`rules`](super::rules).

use std::path::Path;
use std::time::Duration;

use super::fields::Rules;
use super::fields::{Field, blame, unwritten};
use super::file::{ClientsTable, NetworkTable, PublishTable, TargetTable};
use super::processes::{self, Processes};
use super::scaling::Scaling;
use super::sources::{self, SourceAddresses};
use super::target::Endpoint;
use super::transport_tables::TransportsTable;
use super::variant::Variants;
use super::{
    DEFAULT_BACKOFF, DEFAULT_HOLD, DEFAULT_INTERVAL, MAX_WINDOW, Network, Origin, Pattern,
    ScenarioError, WsClient,
};
use crate::codec::envelope::MAX_HEADER_LEN;
use crate::codec::payload::PayloadModel;
use crate::protocol::TransportKind;
use crate::wire::stamp::Clock;

const WARMUP_WHY: &str =
    ": a longer warmup is not sensible, since connections, caches and queues settle in seconds";

/// The top-level keys: `name`, `duration`, `warmup`, `drain`, `seed`.
pub(super) struct Top {
    pub name: Field<String>,
    pub duration: Field<Duration>,
    pub warmup: Field<Duration>,
    pub drain: Field<Duration>,
    pub seed: Field<i64>,
}

/// `[clients]`.
pub(super) struct ClientsRead {
    pub subscribers: Field<i64>,
    pub connect_rate: Field<i64>,
    pub slow_readers: Field<i64>,
    pub slow_read_pause: Field<Duration>,
    pub churn: Field<i64>,
    pub initial: Field<Duration>,
    pub max: Field<Duration>,
    pub source_addresses: Field<SourceAddresses>,
    pub idle: u32,
    pub idle_phase: Option<Duration>,
    pub timestamps: Clock,
    pub processes: Processes,
}

/// `[publish]`.
pub(super) struct PublishRead {
    pub publishers: Field<i64>,
    pub window: Option<Field<i64>>,
    /// 0 with a window (saturation mode has no rate).
    pub rate: Field<f64>,
    pub payload: Field<i64>,
    pub pattern: Field<Pattern>,
    /// `[publish] payload`, the model.
    pub model: Field<PayloadModel>,
}

/// `[transports]` and its tables.
pub(super) struct TransportsRead {
    /// Which run, in order.
    pub kinds: Field<Vec<TransportKind>>,
    pub variants: Vec<Field<(TransportKind, Variants)>>,
    pub scaling: Vec<Field<(TransportKind, Scaling)>>,
    pub ws_client: WsClient,
    /// `[transports.ws] resume`.
    pub ws_resume: bool,
    /// `[transports.raw] resume`.
    pub raw_resume: bool,
    pub ping: Option<Field<Duration>>,
    pub server_ping: Option<Field<Duration>>,
    pub keepalive: Option<Field<Duration>>,
    pub hold: Field<Duration>,
    pub interval: Field<Duration>,
}

/// `[target]`.
pub(super) struct TargetRead {
    pub endpoints: Vec<Field<(TransportKind, Endpoint)>>,
    /// Other stacks' endpoints and runs (`socketio`, `nchan`), those `--transports` picked.
    pub stacks: super::fields::StackRuns,
    pub server_pid: Option<u32>,
    pub token: Option<Field<String>>,
}

impl Rules<'_> {
    /// The top-level keys; `name` defaults to the file's stem.
    pub(super) fn read_top(
        &self,
        name: Option<super::file::Sourced<String>>,
        duration: super::file::Sourced<String>,
        warmup: Option<super::file::Sourced<String>>,
        drain: Option<super::file::Sourced<String>>,
        seed: Option<super::file::Sourced<i64>>,
    ) -> Result<Top, ScenarioError> {
        let (ms, s) = (Duration::from_millis, Duration::from_secs);
        let name = match name {
            Some(name) => self.field(name),
            None => {
                let stem = self.path.and_then(Path::file_stem).unwrap_or_default();
                unwritten(stem.to_string_lossy().into_owned())
            }
        };
        let duration = self.duration("duration", Some(duration), Duration::ZERO)?;
        let warmup = self.duration("warmup", warmup, Duration::ZERO)?;
        let drain = self.duration("drain", drain, s(5))?;
        let seed = self.or(seed, 1);
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
        self.int_in(&seed, "seed", 0..=i64::MAX)?;
        Ok(Top {
            name,
            duration,
            warmup,
            drain,
            seed,
        })
    }

    /// `[clients]`: counts in range, slow readers among the subscribers, a backoff that grows.
    pub(super) fn read_clients(&self, clients: ClientsTable) -> Result<ClientsRead, ScenarioError> {
        let (ms, s) = (Duration::from_millis, Duration::from_secs);
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
        let pause = "[clients] slow_read_pause";
        let slow_read_pause = self.duration(pause, clients.slow_read_pause, ms(100))?;
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
        let subscribers = self.field(clients.subscribers);
        let connect_rate = self.or(clients.connect_rate, 1000);
        let slow_readers = self.or(clients.slow_readers, 0);
        let churn = self.or(clients.churn, 0);
        let (idle, idle_phase) = self.idle(clients.idle, clients.idle_phase)?;
        let timestamps = self.timestamps(clients.timestamps, Clock::kernel_available())?;
        let processes = match clients.processes {
            None => Processes::Auto,
            Some(v) => processes::parse(&v.value).map_err(|message| {
                self.invalid(self.origin(&v.source), "[clients] processes", message)
            })?,
        };
        self.int_in(&subscribers, "[clients] subscribers", 1..=1_000_000)?;
        self.int_in(&connect_rate, "[clients] connect_rate", 1..=100_000)?;
        self.int_in(&churn, "[clients] churn", 0..=100_000)?;
        self.duration_in(&initial, "[clients] reconnect.initial", ms(1)..=s(60), "")?;
        self.duration_in(&max, "[clients] reconnect.max", ms(1)..=s(300), "")?;
        self.duration_in(&slow_read_pause, pause, ms(1)..=s(60), "")?;
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
        Ok(ClientsRead {
            subscribers,
            connect_rate,
            slow_readers,
            slow_read_pause,
            churn,
            initial,
            max,
            source_addresses,
            idle,
            idle_phase,
            timestamps,
            processes,
        })
    }

    /// `[publish]`: a rate or a window (not both), publishers, a payload that holds the header,
    /// and a pattern whose bursts fit their period.
    pub(super) fn read_publish(&self, publish: PublishTable) -> Result<PublishRead, ScenarioError> {
        let pattern = self.pattern(publish.pattern)?;
        let model = self.payload_model(publish.payload)?;
        let publishers = self.or(publish.publishers, 1);
        let window = publish.window.map(|w| self.field(w));
        let rate = self.rate_or_window(publish.rate, window.as_ref())?;
        let payload = self.or(publish.payload_bytes, 64);
        self.int_in(&publishers, "[publish] publishers", 1..=i64::MAX)?;
        if let Some(window) = &window {
            self.int_in(window, "[publish] window", 1..=MAX_WINDOW)?;
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
        let least = model.value.min_bytes();
        let origin = blame(&[&payload.origin, &model.origin]);
        self.check(
            usize::try_from(payload.value).is_ok_and(|n| n >= least),
            origin,
            field,
            || {
                format!(
                    "{field} must be at least {least} for [publish] payload = \"{}\" (got {}): \
                     a message holds the envelope and every field at its widest",
                    model.value.name(),
                    payload.value
                )
            },
        )?;
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
        Ok(PublishRead {
            publishers,
            window,
            rate,
            payload,
            pattern,
            model,
        })
    }

    /// `[publish] rate`, or 0 with a window; exactly one of them.
    fn rate_or_window(
        &self,
        rate: Option<super::file::Sourced<f64>>,
        window: Option<&Field<i64>>,
    ) -> Result<Field<f64>, ScenarioError> {
        match (rate, window) {
            (Some(rate), None) => Ok(self.field(rate)),
            (None, Some(_)) => Ok(unwritten(0.0)),
            (Some(rate), Some(window)) => {
                let rate = self.field(rate);
                let origin = blame(&[&window.origin, &rate.origin]);
                Err(self.invalid(origin.clone(), "[publish] window", {
                    "[publish] rate and window exclude each other: rate publishes on a schedule \
                     (open loop), window as fast as the messages in flight allow (closed loop); \
                     keep one"
                        .into()
                }))
            }
            (None, None) => {
                let origin = self.table_origin("[publish]");
                Err(self.invalid(origin, "[publish] rate", {
                    "[publish] needs rate (messages per second) or window (messages in flight, \
                     saturation mode)"
                        .into()
                }))
            }
        }
    }

    /// `[transports]`: which run, in which order (at least one, none twice), each table's
    /// variants, scaling, heartbeats and timings.
    pub(super) fn read_transports(
        &self,
        transports: super::file::Sourced<TransportsTable>,
        stacks: bool,
    ) -> Result<TransportsRead, ScenarioError> {
        let (ms, s) = (Duration::from_millis, Duration::from_secs);
        let t = transports.value;
        let kinds = Field {
            value: t.run_order.clone().unwrap_or_else(|| t.configured()),
            origin: self.origin(&transports.source),
        };
        let mut variants = self.variants(&t)?;
        let scaling = self.scaling(&t)?;
        let ws = t.ws.unwrap_or_default();
        let ws_client = self.ws_client(ws.client)?;
        self.ws_deflate(ws.deflate, ws_client, &mut variants)?;
        self.ws_http2(
            ws.http2.as_ref(),
            ws.streams_per_connection,
            ws_client,
            &mut variants,
        )?;
        let longpoll_compress = t.longpoll.as_ref().and_then(|l| l.compress.clone());
        self.compress(TransportKind::LongPoll, longpoll_compress, &mut variants)?;
        let shortpoll_compress = t.shortpoll.as_ref().and_then(|s| s.compress.clone());
        self.compress(TransportKind::ShortPoll, shortpoll_compress, &mut variants)?;
        let sse_compress = t.sse.as_ref().and_then(|s| s.compress.clone());
        self.compress(TransportKind::Sse, sse_compress, &mut variants)?;
        let h3 = (t.longpoll.as_ref(), t.shortpoll.as_ref(), t.sse.as_ref());
        self.http3_keys(h3, &mut variants)?;
        let ws_resume = self.ws_resume(ws.resume, ws_client)?;
        let raw_resume = t.raw.as_ref().and_then(|r| r.resume.as_ref());
        let raw_resume = raw_resume.is_none_or(|r| r.value);
        let hold = t.longpoll.and_then(|l| l.hold);
        let hold = self.duration("[transports.longpoll] hold", hold, DEFAULT_HOLD)?;
        let ping = self.written_duration("[transports.ws] ping_interval", ws.ping_interval)?;
        let server_ping = self.written_duration("[transports.ws] server_ping", ws.server_ping)?;
        let keepalive = t.sse.as_ref().and_then(|s| s.keepalive.clone());
        let keepalive = self.written_duration("[transports.sse] keepalive", keepalive)?;
        let interval = t.shortpoll.and_then(|s| s.interval);
        let field = "[transports.shortpoll] interval";
        let interval = self.duration(field, interval, DEFAULT_INTERVAL)?;
        for (beat, field) in [
            (&ping, "[transports.ws] ping_interval"),
            (&server_ping, "[transports.ws] server_ping"),
            (&keepalive, "[transports.sse] keepalive"),
        ] {
            if let Some(beat) = beat {
                self.duration_in(beat, field, ms(100)..=s(3600), "")?;
            }
        }
        self.check(
            !kinds.value.is_empty() || stacks,
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
        self.duration_in(&interval, field, ms(10)..=s(3600), "")?;
        Ok(TransportsRead {
            kinds,
            variants,
            scaling,
            ws_client,
            ws_resume,
            raw_resume,
            ping,
            server_ping,
            keepalive,
            hold,
            interval,
        })
    }

    /// `[network]`: delay and jitter of at most 10 s, a bandwidth.
    pub(super) fn read_network(
        &self,
        network: Option<NetworkTable>,
    ) -> Result<Network, ScenarioError> {
        let s = Duration::from_secs;
        let network = network.unwrap_or_default();
        let delay = self.duration("[network] delay", network.delay, Duration::ZERO)?;
        let jitter = self.duration("[network] jitter", network.jitter, Duration::ZERO)?;
        let bandwidth = self.bandwidth(network.bandwidth)?;
        self.duration_in(&delay, "[network] delay", s(0)..=s(10), "")?;
        self.duration_in(&jitter, "[network] jitter", s(0)..=s(10), "")?;
        Ok(Network {
            delay: delay.value,
            jitter: jitter.value,
            bandwidth: bandwidth.map(|b| b.value),
        })
    }

    /// `[target]`: each URL on loopback (or allowed off it), a printable token, a process id.
    pub(super) fn read_target(
        &self,
        target: Option<TargetTable>,
        rooms: bool,
        picked: Option<&[String]>,
    ) -> Result<TargetRead, ScenarioError> {
        let mut target = target.unwrap_or_default();
        let endpoints = self.endpoints(&mut target)?;
        let stacks = self.stacks(&mut target, rooms, picked)?;
        let server_pid = target.server_pid.map(|p| self.field(p));
        let token = target.token.map(|t| self.field(t));
        if let Some(token) = &token {
            let t = &token.value;
            let printable = !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic());
            self.check(printable, &token.origin, "[target] token", || {
                "[target] token must be non-empty printable ASCII without spaces".into()
            })?;
        }
        let server_pid = self.pid(server_pid.as_ref(), "server_pid", "[target] server_pid")?;
        Ok(TargetRead {
            endpoints,
            stacks,
            server_pid,
            token,
        })
    }
}
