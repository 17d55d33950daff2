//! The validated scenario: what one `wsbench run` does, per transport.
//!
//! Owns reading one TOML file into a [`Scenario`] whose values are known to be sensible, with errors
//! that name the file, the line and the field. Parsing happens in two stages (ripgrep's Low/Hi split):
//! [`file::ScenarioFile`] mirrors the TOML 1:1 and rejects unknown keys; [`Scenario::from_file`]
//! then checks ranges and rules that span fields. [`Scenario::with_overrides`] applies command-line
//! flags and re-runs the same checks, so an error names the flag instead of a line. Opens no
//! sockets and writes no files; [`Scenario::to_toml`] gives the text of the scenario as run.

pub mod file;

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::cli::Overrides;
use crate::codec::envelope::MAX_HEADER_LEN;
use file::ScenarioFile;

/// A transport that wsbench can serve and drive, in the order a run visits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// WebSocket (RFC 6455): `GET /ws` upgrades; every message sent is broadcast to all.
    Ws,
    /// HTTP/1.1 long-poll: `POST /publish`, `GET /poll?cursor=N` held until news or `hold`.
    #[value(name = "longpoll")]
    LongPoll,
}

impl TransportKind {
    /// Every transport, in run order.
    pub const ALL: [TransportKind; 2] = [TransportKind::Ws, TransportKind::LongPoll];

    /// The label used in tables, CSV rows and file names.
    pub fn label(self) -> &'static str {
        match self {
            TransportKind::Ws => "ws",
            TransportKind::LongPoll => "longpoll",
        }
    }
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

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
}

/// `[clients]`
#[derive(Debug, Clone, PartialEq)]
pub struct Clients {
    /// Receiving clients per transport (publishers are among them).
    pub subscribers: u32,
    /// New connections per second during ramp-up.
    pub connect_rate: u32,
}

/// `[publish]`
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    /// Publishing clients; each is also one of the subscribers.
    pub publishers: u32,
    /// Messages per second, all publishers together, on a fixed schedule.
    pub rate: f64,
    /// Size of each application message, envelope included.
    pub payload_bytes: usize,
}

/// One `[transports.<kind>]` table.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// `[transports.ws]`
    Ws,
    /// `[transports.longpoll]`
    LongPoll {
        /// How long the server holds a poll that has nothing to answer with.
        hold: Duration,
    },
}

impl Transport {
    /// Which transport this table configures.
    pub fn kind(&self) -> TransportKind {
        match self {
            Transport::Ws => TransportKind::Ws,
            Transport::LongPoll { .. } => TransportKind::LongPoll,
        }
    }

    /// The table a scenario gets when a transport is asked for (e.g. by `--transports`) but not configured.
    pub fn default_for(kind: TransportKind) -> Transport {
        match kind {
            TransportKind::Ws => Transport::Ws,
            TransportKind::LongPoll => Transport::LongPoll { hold: DEFAULT_HOLD },
        }
    }
}

/// Default `[transports.longpoll] hold`.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(30);

/// Most messages one transport may be asked to carry, `rate × (warmup + duration)`: a bound on the
/// load generator's work and memory, and on how long a mistyped rate can keep a machine busy.
pub const MAX_MESSAGES: f64 = 100_000_000.0;

/// Reads and validates the scenario file at `path`.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let bytes = std::fs::read(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &file::decode(path, bytes)?)
}

/// Parses and validates scenario `text`; `path` is used only in messages and for the default name.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    Scenario::from_file(ScenarioFile::from_toml(path, text)?, path, text)
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
    #[error("{}", file::toml_message(.path, *.at, .table.as_deref(), .key.as_deref(), .message))]
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
    /// Validates a parsed file (stage 2): fills in defaults, parses durations, checks every range
    /// and every rule between fields. `text` is the file's text, used to turn spans into lines.
    pub fn from_file(
        file: ScenarioFile,
        path: &Path,
        text: &str,
    ) -> Result<Scenario, ScenarioError> {
        file.into_draft(path, text)?.validate()
    }

    /// This scenario with the flags in `o` applied, validated by the same rules as the file; an
    /// error names the flag. `--transports` picks and orders the transports; one the file does not
    /// configure gets [`Transport::default_for`].
    pub fn with_overrides(self, o: &Overrides) -> Result<Scenario, ScenarioError> {
        let mut d = Draft::from_scenario(&self);
        d.subscribers
            .set(o.subscribers.map(i128::from), "--subscribers");
        d.publishers
            .set(o.publishers.map(i128::from), "--publishers");
        let payload = o
            .payload_bytes
            .map(|p| i128::try_from(p).unwrap_or(i128::MAX));
        d.payload_bytes.set(payload, "--payload-bytes");
        d.rate.set(o.rate, "--rate");
        d.duration.set(o.duration, "--duration");
        d.warmup.set(o.warmup, "--warmup");
        d.transports.set(o.transports.clone(), "--transports");
        d.validate()
    }

    /// The scenario as run, in the file's schema, every default written out: parses back to an
    /// equal `Scenario`, except that a file always runs its transports in [`TransportKind::ALL`]
    /// order (the order run is noted in a comment).
    pub fn to_toml(&self) -> String {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        let order: Vec<&str> = self.transports.iter().map(|t| t.kind().label()).collect();
        let mut s = format!(
            "# The scenario as run: defaults filled in, command-line overrides applied.\n\
             # Transports run in this order: {}.\n\
             name = {}\nduration = \"{}\"\nwarmup = \"{}\"\ndrain = \"{}\"\n\n\
             [clients]\nsubscribers = {}\nconnect_rate = {}\n\n\
             [publish]\npublishers = {}\nrate = {}\npayload_bytes = {}\n",
            order.join(", "),
            toml::Value::String(self.name.clone()),
            d(self.duration),
            d(self.warmup),
            d(self.drain),
            self.clients.subscribers,
            self.clients.connect_rate,
            self.publish.publishers,
            self.publish.rate,
            self.publish.payload_bytes,
        );
        for t in &self.transports {
            match t {
                Transport::Ws => s += "\n[transports.ws]\n",
                Transport::LongPoll { hold } => {
                    s += &format!("\n[transports.longpoll]\nhold = \"{}\"\n", d(*hold));
                }
            }
        }
        s
    }
}

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
    pub(super) publishers: Field<i128>,
    pub(super) rate: Field<f64>,
    pub(super) payload_bytes: Field<i128>,
    pub(super) transports: Field<Vec<TransportKind>>,
    /// `[transports.longpoll] hold`, whether or not long-poll runs.
    pub(super) hold: Field<Duration>,
}

const WARMUP_WHY: &str =
    ": a longer warmup is not sensible, since connections, caches and queues settle in seconds";

impl Draft {
    fn from_scenario(s: &Scenario) -> Draft {
        let hold = s.transports.iter().find_map(|t| match t {
            Transport::LongPoll { hold } => Some(*hold),
            Transport::Ws => None,
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
            publishers: Field::unwritten(s.publish.publishers.into()),
            rate: Field::unwritten(s.publish.rate),
            payload_bytes: Field::unwritten(payload_bytes),
            transports: Field::unwritten(s.transports.iter().map(Transport::kind).collect()),
            hold: Field::unwritten(hold.unwrap_or(DEFAULT_HOLD)),
        }
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

    fn validate(self) -> Result<Scenario, ScenarioError> {
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
            || "[transports] needs at least one of [transports.ws] or [transports.longpoll]".into(),
        )?;
        let dup = (1..kinds.value.len()).find(|&i| kinds.value[..i].contains(&kinds.value[i]));
        self.check(dup.is_none(), &kinds.origin, "[transports]", || {
            let kind = dup.map(|i| kinds.value[i].label()).unwrap_or_default();
            format!("[transports] lists {kind} twice; each transport runs at most once")
        })?;
        self.duration_in(&self.hold, "[transports.longpoll] hold", ms(1)..=s(600), "")?;
        Ok(self.into_scenario())
    }

    /// The scenario, once [`Draft::validate`] has checked every value fits its type.
    fn into_scenario(self) -> Scenario {
        let fits = "validated to be in range";
        let hold = self.hold.value;
        Scenario {
            name: self.name.value,
            duration: self.duration.value,
            warmup: self.warmup.value,
            drain: self.drain.value,
            clients: Clients {
                subscribers: u32::try_from(self.subscribers.value).expect(fits),
                connect_rate: u32::try_from(self.connect_rate.value).expect(fits),
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
                    TransportKind::Ws => Transport::Ws,
                    TransportKind::LongPoll => Transport::LongPoll { hold },
                })
                .collect(),
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
