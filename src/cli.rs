//! Command-line flags, and which scenario fields they override.
//!
//! Opens no files or sockets: the override flags become a plain [`scenario::Overrides`], which
//! `run` hands to [`scenario::load_with`] to be written over the file before its one validation.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::client::shard::{ShardSpec, StartAt};
use crate::scenario;

/// wsbench: how much better is WebSocket than HTTP polling for server push, on your workload?
#[derive(Debug, Parser)]
#[command(name = "wsbench", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario against matched built-in servers, one transport at a time.
    Run(RunArgs),
    /// Load and validate a scenario with the same flags as `run`, and print what a run would
    /// need per transport (connections, processes, messages, expected deliveries, open files,
    /// ports) without starting anything. Exits 0, or 2 with the error `run` would give.
    Check(CheckArgs),
    /// Find each transport's capacity: the most load it carries within a p99 limit with nothing
    /// lost. Runs the scenario again and again with the load overridden (doubling, then
    /// bisecting) and writes capacity.csv and report.html.
    Capacity(CapacityArgs),
    /// Run one built-in server by hand; prints its bound address on the first line of stdout
    /// (and, with `--transport all`, the chat page's URL on the second).
    Serve(ServeArgs),
    /// Re-render a results directory (summary.csv, latency.csv, report.html and the table) from
    /// its stored metrics.json and .hlog files, with this version's code.
    Report {
        /// The results directory, e.g. `results/chat-20260101T120000Z`.
        dir: PathBuf,
    },
    /// Compare two results directories: each headline figure per transport, A, B and B/A.
    Compare {
        /// The "before" results directory.
        a: PathBuf,
        /// The "after" results directory.
        b: PathBuf,
    },
    /// Merge the results directories of a sharded run (`wsbench run --shard I/N`) into one
    /// results directory, exactly: counts and histograms added, expected and lost recomputed from
    /// every shard's published messages and connected subscribers.
    Merge {
        /// The merged results directory to write.
        out: PathBuf,
        /// Every shard's results directory (one per shard, any order).
        #[arg(required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
    },
}

/// `wsbench run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (TOML), e.g. `scenarios/chat.toml`.
    pub scenario: PathBuf,
    /// Results directory (default `results/<name>-<UTC timestamp>/`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print only the summary table: no progress on stderr (neither the live line shown on a
    /// terminal nor the phase lines printed otherwise).
    #[arg(long)]
    pub quiet: bool,
    /// The `wsbench` executable that serves each transport as a child process (default: this one).
    #[arg(long, value_name = "PATH", hide = true)]
    pub server_bin: Option<PathBuf>,
    /// Run only slice I of N (0-based, e.g. `1/3`) of the subscribers and publishers, against the
    /// scenario's `[target]`, one transport per run; merge the shards' results directories with
    /// `wsbench merge`. Needs `--start-at`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<ShardSpec>,
    /// Start publishing at this wall-clock time (RFC 3339, e.g. `2026-12-01T10:00:00Z`) instead
    /// of right after the ramp-up, or at the time the file FILE holds once it appears (`@FILE`):
    /// how the shards of a run line up their measured windows.
    #[arg(long, value_name = "TIME|@FILE")]
    pub start_at: Option<StartAt>,
    /// Accept `[target]` addresses (and a `[backplane] redis`) off loopback. For sharded runs
    /// in a cluster, where each pod reaches the server through a Service address; wsbench never
    /// sends load off loopback without it. The address must be an IP (no name lookups).
    #[arg(long)]
    pub allow_remote: bool,
    /// The live page and the Prometheus endpoint.
    #[command(flatten)]
    pub watch: WatchFlags,
    /// Overrides of the scenario's common fields.
    #[command(flatten)]
    pub overrides: OverrideFlags,
}

/// Watching a run while it goes (`run` and `capacity`): both off unless asked for, and then
/// served from this process, on loopback unless told otherwise.
#[derive(Debug, Clone, Default, Args)]
pub struct WatchFlags {
    /// Serve a live page of the run at ADDR (default: a free loopback port), fed once a second
    /// over SSE; its URL is printed at the start. Give an address as `--live=127.0.0.1:8000`.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = true,
          default_missing_value = "127.0.0.1:0")]
    pub live: Option<SocketAddr>,
    /// Serve Prometheus metrics (OpenMetrics text) at `http://ADDR/metrics` during the run
    /// (default: a free loopback port), printed at the start. `metrics.prom` is written anyway.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = true,
          default_missing_value = "127.0.0.1:0")]
    pub metrics: Option<SocketAddr>,
    /// With `--metrics`: after the results are written, keep `/metrics` up until it is scraped
    /// once more (so the final counts reach Prometheus), at most this long.
    #[arg(long, value_name = "DURATION", default_value = "5s",
          value_parser = humantime::parse_duration)]
    pub metrics_linger: Duration,
}

/// `wsbench check`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The scenario file (TOML), e.g. `scenarios/chat.toml`.
    pub scenario: PathBuf,
    /// As for `run`: accept `[target]` addresses (and a `[backplane] redis`) off loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// Overrides of the scenario's common fields, as for `run`.
    #[command(flatten)]
    pub overrides: OverrideFlags,
}

/// `wsbench capacity`
#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// The scenario file (TOML). Its load is the first step; its durations are every step's
    /// (shorten them with --duration and --warmup).
    pub scenario: PathBuf,
    /// A step passes while its p99 push latency is at most this (e.g. `50ms`), nothing is lost
    /// and no connection fails.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub p99: Duration,
    /// Which load to step: the subscribers, or the publish rate (messages per second).
    #[arg(long, value_enum, default_value_t = LoadAxis::Subscribers)]
    pub by: LoadAxis,
    /// The largest load to try; a pass there ends the search.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,
    /// Results directory (default `results/<name>-capacity-<UTC timestamp>/`); each step's own
    /// results go to `steps/<transport>-<load>/` in it.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print only each transport's conclusion: no line per step on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// As for `run`: accept `[target]` addresses (and a `[backplane] redis`) off loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// The `wsbench` executable that serves each transport as a child process (default: this one).
    #[arg(long, value_name = "PATH", hide = true)]
    pub server_bin: Option<PathBuf>,
    /// The live page and the Prometheus endpoint, over every step (each step's transport shown
    /// as `<transport>@<load>`).
    #[command(flatten)]
    pub watch: WatchFlags,
    /// Overrides of the scenario's common fields (the stepped one is set by each step).
    #[command(flatten)]
    pub overrides: OverrideFlags,
}

/// What a capacity search steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadAxis {
    /// `[clients] subscribers`
    Subscribers,
    /// `[publish] rate`
    Rate,
}

impl LoadAxis {
    /// The word for it in files and tables.
    pub fn label(self) -> &'static str {
        match self {
            LoadAxis::Subscribers => "subscribers",
            LoadAxis::Rate => "rate",
        }
    }
}

/// Flags that override the scenario file: defined once, with the fields they replace, in
/// [`scenario::Overrides`].
pub type OverrideFlags = scenario::Overrides;

/// `wsbench serve`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Which transport to serve, or `all` of them on one port with the chat page at `/`.
    #[arg(long, value_enum)]
    pub transport: crate::server::Serving,
    /// Address to bind; loopback by default. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// Long-poll: how long to hold a poll that has nothing to answer with.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub hold: Duration,
    /// Messages the hub keeps for clients that fall behind (the ring size).
    #[arg(long, default_value_t = crate::server::Limits::default().ring_capacity)]
    pub ring: usize,
    /// Bytes of messages the hub keeps at most (the ring's memory bound, whatever the sizes).
    #[arg(long, default_value_t = crate::server::Limits::default().ring_bytes)]
    pub ring_bytes: usize,
    /// Rooms the hub keeps at most; a request for a new room past this is refused (HTTP 503).
    #[arg(long, default_value_t = crate::server::Limits::default().max_rooms)]
    pub max_rooms: usize,
    /// WebSocket: ping every client this often (an empty ping; the client's pong keeps it alive).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub ws_ping: Option<Duration>,
    /// SSE: send a keep-alive comment on a stream that has carried nothing for this long.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub sse_keepalive: Option<Duration>,
    /// Largest message accepted from a client, in bytes.
    #[arg(long, default_value_t = crate::server::Limits::default().max_message_bytes)]
    pub max_message_bytes: usize,
    /// Require `Authorization: Bearer <TOKEN>` on every publish and subscribe request (else 401).
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// HTTP transports: keep the hub in this file across restarts (loaded at start, saved at shutdown).
    #[arg(long, value_name = "FILE")]
    pub state: Option<std::path::PathBuf>,
    /// Serve TLS (wss/https) with this certificate chain (PEM); needs `--tls-key`. `wsbench run`
    /// passes the self-signed certificate it made for the run.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of `--tls-cert`.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Share one ordered log with other `serve` instances through this Redis
    /// (`redis://IP:PORT[/DB]`): a message published on any instance reaches the subscribers of
    /// all, numbered alike, so a long-poll cursor or SSE `Last-Event-ID` resumes on any of them.
    #[arg(long, value_name = "URL")]
    pub backplane: Option<String>,
    /// Accept a `--backplane` Redis off loopback (wsbench sends nothing off loopback without it).
    #[arg(long, requires = "backplane")]
    pub allow_remote: bool,
    /// Name the log's keys in Redis `PREFIX:room:K` (and `PREFIX:room:K:seq`): instances share
    /// a log only under the same prefix. `wsbench run` gives each transport run its own.
    #[arg(long, value_name = "PREFIX", requires = "backplane")]
    pub key_prefix: Option<String>,
    /// Exit when stdin closes (used by `wsbench run`, so a server never outlives its parent).
    #[arg(long, hide = true)]
    pub exit_on_stdin_eof: bool,
    /// At exit, print one JSON line on stdout: connections accepted and what the backplane relay
    /// did (used by `wsbench run` for each instance).
    #[arg(long, hide = true)]
    pub stats: bool,
}
