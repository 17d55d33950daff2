//! The validated scenario: what one `wsbench run` does, per transport.
//!
//! Owns reading one TOML file into a [`Scenario`] whose values are known to be sensible, with errors
//! that name the file, the line and the field. A scenario has two shapes, as ripgrep's flags have
//! (low-level args, then a validated high-level config):
//!
//! 1. [`file::ScenarioFile`], the serde mirror of the TOML. It rejects unknown keys and keeps where
//!    each value was written. Command-line [`Overrides`] are written over it, each value then
//!    naming its flag instead of a line.
//! 2. [`Scenario`], made from the mirror by the one validation ([`Scenario::from_file`], in the
//!    private `rules` module): defaults, durations, ranges and the rules that span fields.
//!
//! The way back is the mirror too: [`Scenario::to_toml`] turns a scenario into a mirror and writes
//! it with serde, and [`Scenario::with_overrides`] validates that mirror again with flags written
//! over it. So adding a key touches the mirror (and its way back from a `Scenario`), its rule, and
//! `Scenario`, and a per-transport setting also [`TransportPlan`]. Opens no sockets and writes no
//! files. Of clap it knows only the override flags' definition ([`Overrides`], which the `cli`
//! module flattens into its commands), so each flag is written once, beside the field it replaces.
//!
//! This file holds the validated types, [`ScenarioError`] and the entry points; TOML's own errors
//! are placed by the private `locate` module.

mod compression;
mod endpoints;
pub mod faults;
mod fields;
pub mod file;
mod http3;
mod idle;
mod locate;
mod overrides;
pub mod plan;
pub mod processes;
mod readers;
pub mod rooms;
mod rules;
pub mod scaling;
mod scaling_rules;
pub mod shape;
pub mod sourced;
pub mod sources;
pub mod stack;
pub mod target;
pub mod template;
pub mod thresholds;
mod transport;
mod transport_tables;
pub mod variant;
mod ws_http2;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::protocol::TransportKind;
pub use crate::wire::delay::Network;
pub use faults::{Deploy, DeployMode, DropFault, Faults};
use fields::Rules;
use file::ScenarioFile;
pub use overrides::Overrides;
pub use plan::TransportPlan;
pub use rooms::Rooms;
use scaling::Scaling;
pub use shape::Pattern;
use sources::SourceAddresses;
pub use stack::{Nchan, NchanMode, RunPick, SocketIo, SocketIoMode};
pub use transport::{Transport, WsClient};
use variant::{Variant, Variants};

/// A validated scenario. Every field is in range; see the README's scenario reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Names the results directory (`results/<name>-<UTC>/`).
    pub name: String,
    /// Length of the measured phase, per transport.
    pub duration: Duration,
    /// Clients connected and publishing, nothing recorded: lets caches, buffers and queues settle.
    pub warmup: Duration,
    /// Longest wait after the last publish for messages still in flight before they count as lost.
    pub drain: Duration,
    /// Who connects, and how fast.
    pub clients: Clients,
    /// Who publishes, how often and how much.
    pub publish: Publish,
    /// The transports to run, in run order, each at most once.
    pub transports: Vec<Transport>,
    /// The `http2`/`tls` variants a transport table asks for; a transport not listed runs once,
    /// plain. See [`Scenario::runs`].
    pub variants: Vec<(TransportKind, Variants)>,
    /// The `instances`/`balancer` of each transport table that sets them; a transport not
    /// listed runs one server, reached directly.
    pub scaling: Vec<(TransportKind, Scaling)>,
    /// `[target]`: servers wsbench did not start. A transport with a target starts no built-in server.
    pub targets: Targets,
    /// `[thresholds]`: limits the results must keep, or the run exits non-zero.
    pub thresholds: Vec<thresholds::Threshold>,
    /// `[faults]`: trouble caused on purpose.
    pub faults: Faults,
    /// Seeds every random choice of the load (Poisson send times, which connections churn,
    /// network jitter), so a rerun makes the same choices.
    pub seed: u64,
    /// What the built-in servers send on quiet connections. External servers send what they send.
    pub heartbeats: Heartbeats,
    /// `[network]`: the path between every client and the server, emulated in the clients'
    /// sockets ([`crate::wire::delay`]); loopback as it is when the table is absent.
    pub network: Network,
    /// `[rooms]`: the subscribers split into rooms (topics); `None` without the table: one
    /// stream for everyone, and no room on the wire.
    pub rooms: Option<Rooms>,
    /// `[backplane]`: the existing Redis that transports with `instances` share; `None`: each
    /// such transport run starts a private redis-server.
    pub backplane: Option<scaling::ExistingRedis>,
}

/// The built-in servers' heartbeats, as real servers send them to keep proxies and NATs from
/// dropping a quiet connection: what idleness costs on the wire depends on them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Heartbeats {
    /// `[transports.ws] server_ping`: the server pings every WebSocket client this often (the
    /// client answers with a pong). `None`: never.
    pub ws_ping: Option<Duration>,
    /// `[transports.sse] keepalive`: the server sends a comment on an event stream quiet for this
    /// long. `None`: never.
    pub sse_keepalive: Option<Duration>,
}

/// `[target]`
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// External endpoints, per transport.
    pub endpoints: Vec<(TransportKind, target::Endpoint)>,
    /// A process to sample for CPU time and memory, as wsbench samples its own servers.
    pub server_pid: Option<u32>,
    /// Sent as `Authorization: Bearer <token>` to the external servers.
    pub token: Option<String>,
}

impl Targets {
    /// The external endpoint for `kind`, if it has one.
    pub fn endpoint(&self, kind: TransportKind) -> Option<&target::Endpoint> {
        self.endpoints
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, e)| e)
    }
}

/// `[clients]`
#[derive(Debug, Clone, PartialEq)]
pub struct Clients {
    /// Receiving clients per transport (publishers are among them).
    pub subscribers: u32,
    /// New connections per second during ramp-up.
    pub connect_rate: u32,
    /// How long clients wait between reconnection attempts.
    pub reconnect: Backoff,
    /// Subscribers (the last ones) that pause after every read, to exercise the servers'
    /// slow-consumer policy.
    pub slow_readers: u32,
    /// How long a slow reader pauses after each read.
    pub slow_read_pause: Duration,
    /// Which loopback addresses the clients connect from: past one address's ephemeral ports,
    /// more of 127.0.0.0/8 (see [`sources`]).
    pub source_addresses: SourceAddresses,
    /// Connections per second, chosen at random, that close and rejoin during the measured
    /// phase, each the way its transport rejoins; 0: none.
    pub churn: u32,
    /// After every connection is up and before publishing starts, all of them stay quiet this
    /// long (heartbeats only), and the run reports what idleness costs: wire bytes, server CPU
    /// and server memory per connection. `None`: no idle phase.
    pub idle_phase: Option<Duration>,
    /// Connections beyond the subscribers, each in a room nobody publishes into, open through
    /// the measured phase: what a mobile or IoT fleet looks like. With any, the idle phase
    /// defaults to [`DEFAULT_IDLE_PHASE`], so what they cost is reported.
    pub idle: u32,
    /// Whose clock says when a message arrived: the kernel's receive stamp (the default where
    /// the platform has one) or the user-space read ([`crate::wire::stamp`]).
    pub timestamps: crate::wire::stamp::Clock,
    /// How many generator processes the clients are spread over (`"auto"`: as many as their
    /// descriptors need).
    pub processes: processes::Processes,
}

/// The idle phase when `[clients] idle` asks for idle connections and `idle_phase` is not given.
pub const DEFAULT_IDLE_PHASE: Duration = Duration::from_secs(30);

/// Exponential backoff with jitter: the first wait is about `initial`, each next one twice the
/// last, never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

/// Default `[clients] reconnect`.
pub const DEFAULT_BACKOFF: Backoff = Backoff {
    initial: Duration::from_millis(100),
    max: Duration::from_secs(5),
};

/// `[publish]`
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    /// Publishing clients; each is also one of the subscribers.
    pub publishers: u32,
    /// Messages per second, all publishers together, on a fixed schedule (within a burst, with
    /// a [`Pattern::Bursts`] pattern). 0 in saturation mode (`window` set).
    pub rate: f64,
    /// Saturation mode: instead of a rate, at most this many messages published and not yet
    /// delivered to every subscriber, sent as fast as that allows (closed loop).
    pub window: Option<u32>,
    /// Size of each application message, envelope included.
    pub payload_bytes: usize,
    /// How the intended send times are spaced.
    pub pattern: Pattern,
    /// What fills each message around its envelope.
    pub payload: crate::codec::payload::PayloadModel,
}

/// Default `[transports.shortpoll] interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Default `[transports.longpoll] hold`.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(30);

/// Most messages one transport may be asked to carry, `rate × (warmup + duration)`: a bound on the
/// load generator's work and memory, and on how long a mistyped rate can keep a machine busy.
pub const MAX_MESSAGES: f64 = 100_000_000.0;

/// Largest `[publish] window`: messages in flight the load generator tracks at once.
pub const MAX_WINDOW: i64 = 65_536;

/// Reads and validates the scenario file at `path`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with(path, &Overrides::default())
}

/// Reads the scenario file at `path`, writes `overrides` over it and validates the result once:
/// an error names the flag of a value it gave, or else the file's line.
pub fn load_with(path: &Path, overrides: &Overrides) -> Result<Scenario, ScenarioError> {
    let bytes = std::fs::read(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_with(path, &locate::decode(path, bytes)?, overrides)
}

/// Parses and validates scenario `text`; `path` is used only in messages and for the default name.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    parse_with(path, text, &Overrides::default())
}

fn parse_with(path: &Path, text: &str, overrides: &Overrides) -> Result<Scenario, ScenarioError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut file = ScenarioFile::from_toml(path, text)?;
    file.override_with(overrides);
    Scenario::from_file(file, Some(path), text)
}

/// Why a scenario could not be loaded or overridden. Every message is one line that names the file
/// (or the flag), the line where known, and the field.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read: it is missing, unreadable or a directory. Check the path.
    #[error("{}: cannot read the scenario file", .path.display())]
    Read {
        /// The scenario file.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The file is not UTF-8 text: it is binary or saved in another encoding. Save it as UTF-8.
    #[error("{}:{line}:{col}: not UTF-8 text; a scenario file is a UTF-8 TOML file", .path.display())]
    NotUtf8 {
        /// The scenario file.
        path: PathBuf,
        /// 1-based line of the first byte that is not UTF-8.
        line: usize,
        /// 1-based column (in characters) of that byte.
        col: usize,
    },
    /// The file is not valid TOML, or does not match the schema: an unknown key or table, a value
    /// of the wrong type, a missing required key or table. Fix the key named; `scenarios/chat.toml`
    /// shows every key.
    #[error("{}", locate::toml_message(.path, *.at, .table.as_deref(), .key.as_deref(), .message))]
    Toml {
        /// The scenario file.
        path: PathBuf,
        /// 1-based line and column (in characters), when TOML gave a position.
        at: Option<(usize, usize)>,
        /// The `[table]` the error is in (`None` at the top level).
        table: Option<String>,
        /// The key the error is about, when one is named on the line.
        key: Option<String>,
        /// TOML's own one-line message.
        message: String,
    },
    /// A value is out of range, or breaks a rule between fields (e.g. more publishers than
    /// subscribers). The message says what is allowed; change the value in the file, or the flag.
    #[error("{}: {message}", location(.path.as_deref(), .origin))]
    Invalid {
        /// The scenario file, when known (flag overrides are checked without it).
        path: Option<PathBuf>,
        /// Where the offending value came from.
        origin: Origin,
        /// The field, as written in the file: `duration`, `[publish] rate`.
        field: &'static str,
        /// What is wrong and what is allowed, starting with the field.
        message: String,
    },
}

/// Where a value came from, so that an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Written in the scenario file at this 1-based line and column.
    File {
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        col: usize,
    },
    /// Given by this command-line flag, e.g. `--rate`.
    Flag(&'static str),
    /// Written nowhere: a default, or a value of an already validated [`Scenario`].
    Default,
}

/// `path:line`, `--flag` or `path`: where an [`ScenarioError::Invalid`] points.
fn location(path: Option<&Path>, origin: &Origin) -> String {
    let path = path.map_or_else(|| "scenario".to_string(), |p| p.display().to_string());
    match origin {
        Origin::File { line, .. } => format!("{path}:{line}"),
        Origin::Flag(flag) => (*flag).to_string(),
        Origin::Default => path,
    }
}

impl Scenario {
    /// The one validation: the scenario `file` describes, with defaults filled in and durations
    /// parsed, if every range and every rule between fields holds. `path` names the file in errors
    /// (its stem is the default name) and `text` is its text, to turn spans into lines; both are
    /// absent for a mirror of a validated scenario.
    pub fn from_file(
        file: ScenarioFile,
        path: Option<&Path>,
        text: &str,
    ) -> Result<Scenario, ScenarioError> {
        Rules { path, text }.validate(file)
    }

    /// This scenario with the values `o` gives, validated by the same rules as the file; an error
    /// names the flag. `--transports` picks and orders the transports; one the scenario does not
    /// run gets [`Transport::default_for`].
    pub fn with_overrides(&self, o: &Overrides) -> Result<Scenario, ScenarioError> {
        let mut file = ScenarioFile::from(self);
        file.override_with(o);
        Scenario::from_file(file, None, "")
    }

    /// The variants `kind` runs in (plain only, unless its table says otherwise).
    pub fn variants_of(&self, kind: TransportKind) -> Variants {
        self.variants
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// How many instances serve `kind`, behind what (one, directly, unless its table says).
    pub fn scaling_of(&self, kind: TransportKind) -> Scaling {
        self.scaling
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or_else(Scaling::default, |(_, s)| *s)
    }

    /// Settles every `instances = "auto"` for `connections` client connections when one process
    /// may hold `per_process` of them ([`scaling::auto_instances`]), and to at least what the
    /// faults need ([`Faults::instances_needed`]); returns the transports settled, with their
    /// counts, for the run to say.
    pub fn settle_instances(
        &mut self,
        connections: u64,
        per_process: u64,
    ) -> Vec<(TransportKind, u32)> {
        let mut settled = Vec::new();
        let at_least = self.faults.instances_needed();
        for (kind, scaling) in &mut self.scaling {
            if scaling.auto {
                *scaling = scaling.settled(connections, per_process, at_least);
                settled.push((*kind, scaling.instances));
            }
        }
        settled
    }

    /// Every transport run, in run order: each transport in turn, and within it each variant
    /// (plain, `-h2`, `-tls`, `-h2-tls`). Each is a separate run with its own label.
    pub fn runs(&self) -> Vec<(Transport, Variant)> {
        self.plans()
            .into_iter()
            .flat_map(|plan| {
                let TransportPlan {
                    options, variants, ..
                } = plan;
                variants.into_iter().map(move |v| (options.clone(), v))
            })
            .collect()
    }

    /// The scenario as run, in the file's schema, every default written out: parses back to an
    /// equal `Scenario`, except that a file always runs its transports in [`TransportKind::ALL`]
    /// order (the order run is noted in a comment).
    pub fn to_toml(&self) -> String {
        let order: Vec<&str> = self.transports.iter().map(|t| t.kind().label()).collect();
        let body = toml::to_string(&ScenarioFile::from(self))
            .expect("the mirror holds only TOML values: strings, integers, finite floats, tables");
        format!(
            "# The scenario as run: defaults filled in, command-line overrides applied.\n\
             # Transports run in this order: {}.\n{body}",
            order.join(", ")
        )
    }
}
