//! Sharded runs from the client's side: reading `--shard I/N` and `--start-at`, the rules a
//! sharded run must keep, which loopback addresses each shard connects from, and waiting for the
//! common start.
//!
//! A run outgrows one process (one process may hold at most so many descriptors) or one machine:
//! then N processes each run a slice of the subscribers and publishers against one server, and
//! `wsbench merge` adds their results up. For the sum to be exact the shards
//! - give their publishers ids unique across the run and keep the one-process schedule
//!   ([`Slice`](crate::metrics::Slice)), so every subscriber tells every message apart;
//! - start publishing at one wall-clock time ([`StartAt`]), so their measured windows coincide;
//!   which messages fall in the window is decided by schedule offsets, not clocks, so shards on
//!   machines whose clocks differ still agree on every message;
//! - record latency only for their own publishers' messages (one clock read twice), and count
//!   every other message for delivery, loss, duplicates and order;
//! - with `[rooms]`, derive the same rooms: subscriber `i` of the whole run is in room
//!   `i mod rooms` whichever shard runs it, and publisher `p` runs in the shard that holds
//!   subscriber `p` (on WebSocket and raw it rides that subscriber's connection), publishing into
//!   room `p mod rooms` as in one process. Each room's publishers then exist once across the
//!   shards, at the run's rate in total, and a shard's subscribers expect their own room's
//!   messages only: its own publishers' as published, the other shards' as scheduled.
//!
//! Owns the flags' values and their rules; the slicing arithmetic is `metrics::shard`'s, and the
//! conductor applies the plan.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::metrics::shard::{Slice, SliceError};
use crate::protocol::TransportKind;
use crate::scenario::Scenario;
use crate::scenario::sources::SourceAddresses;

/// Longest wait for a `--start-at @FILE` file to appear and hold a time. Bounded so a shard
/// whose coordinator never writes the file ends, instead of holding its connections forever.
pub const START_FILE_WAIT: Duration = Duration::from_secs(30 * 60);

/// How often the start file is looked for.
const START_FILE_POLL: Duration = Duration::from_millis(100);

/// `--shard I/N`: run slice `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    /// 0-based index of this shard (an Indexed Job's `JOB_COMPLETION_INDEX`).
    pub index: u32,
    /// Shards in the run.
    pub count: u32,
}

impl FromStr for ShardSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "{s:?} is not I/N: the 0-based shard index, a slash, the shard count (e.g. 1/3)"
            )
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(format!(
                "{s:?}: the index counts from 0 and must be below the shard count (0/{count} to {}/{count})",
                count.saturating_sub(1)
            ));
        }
        Ok(ShardSpec { index, count })
    }
}

/// `--start-at`: when every shard starts publishing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAt {
    /// An RFC 3339 time, e.g. `2026-12-01T10:00:00Z`.
    Time(SystemTime),
    /// `@FILE`: wait for FILE to appear, then read the RFC 3339 time it holds. Lets a coordinator
    /// pick the time once every shard is up (the Kubernetes recipe writes it into a shared volume).
    /// Write it whole (to a temporary name, then rename): a partial time is read again until it
    /// parses.
    File(PathBuf),
}

impl FromStr for StartAt {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix('@') {
            if path.is_empty() {
                return Err("@FILE needs a file name after the @".into());
            }
            return Ok(StartAt::File(PathBuf::from(path)));
        }
        parse_time(s).map(StartAt::Time)
    }
}

/// As written on the command line (the time in RFC 3339 with nanoseconds): every shard of a
/// run reads the same, so the run's message tags are derived from it.
impl std::fmt::Display for StartAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartAt::Time(t) => humantime::format_rfc3339_nanos(*t).fmt(f),
            StartAt::File(path) => write!(f, "@{}", path.display()),
        }
    }
}

/// An RFC 3339 time (`2026-12-01T10:00:00Z`, fractions allowed, UTC).
fn parse_time(s: &str) -> Result<SystemTime, String> {
    humantime::parse_rfc3339(s.trim()).map_err(|e| {
        format!("{s:?} is not an RFC 3339 UTC time such as 2026-12-01T10:00:00Z, nor @FILE ({e})")
    })
}

/// Why the common start could not be had.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The `--start-at @FILE` file did not appear, or never held a time, within [`START_FILE_WAIT`].
    #[error("{}: no start time appeared within {} ({last})", .path.display(), humantime::format_duration(*.waited))]
    NoStartFile {
        /// The file waited for.
        path: PathBuf,
        /// How long.
        waited: Duration,
        /// What was last seen: missing, or what it held.
        last: String,
    },
    /// The run was cancelled while waiting.
    #[error("cancelled while waiting for the start time")]
    Cancelled,
}

impl StartAt {
    /// The start time: at once for a time, or once the file holds one (polled, bounded by
    /// `wait`; `cancel` ends the wait early).
    pub async fn resolve(
        &self,
        wait: Duration,
        cancel: &CancellationToken,
    ) -> Result<SystemTime, StartError> {
        let path = match self {
            StartAt::Time(t) => return Ok(*t),
            StartAt::File(path) => path,
        };
        let deadline = Instant::now() + wait;
        loop {
            let last = match std::fs::read_to_string(path) {
                Ok(text) => match parse_time(&text) {
                    Ok(t) => return Ok(t),
                    Err(_) => format!("it holds {:?}", text.trim()),
                },
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(StartError::NoStartFile {
                    path: path.clone(),
                    waited: wait,
                    last,
                });
            }
            tokio::select! {
                _ = cancel.cancelled() => return Err(StartError::Cancelled),
                _ = tokio::time::sleep(START_FILE_POLL) => {}
            }
        }
    }
}

/// Why a sharded run cannot go ahead as asked. Bad input: exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// The slice cannot be cut.
    #[error(transparent)]
    Slice(#[from] SliceError),
    /// `--shard` without `--start-at`: the shards' measured windows would not coincide.
    #[error(
        "--shard needs --start-at (an RFC 3339 time, or @FILE that will hold one): every shard must start publishing at the same time"
    )]
    NoStart,
    /// A sharded run runs one transport (and variant), so that one start time lines them all up.
    #[error(
        "--shard runs one transport at a time, but this run has {}: pick one with --transports, and run the shards again for the next",
        .0.join(", ")
    )]
    SeveralRuns(Vec<String>),
    /// The transport has no `[target]`: each shard would start a built-in server of its own.
    #[error(
        "--shard needs one server that every shard loads: set [target] {0} (start it with `wsbench serve --transport {0}`)"
    )]
    NoTarget(TransportKind),
    /// Saturation mode with shards: a shard's window sees only its own subscribers, so it would
    /// let messages go before the other shards' had them, and the merge's exact expected counts
    /// rest on the publishers' schedules, which a window does not have.
    #[error(
        "--shard cannot run [publish] window = {0} (saturation mode): each shard would see only its own subscribers' deliveries, and the merge counts expected deliveries from the publishers' schedules; use [publish] rate for sharded runs"
    )]
    Window(u32),
}

/// Checks a sharded run's rules and cuts its slice: the scenario (flags applied) runs one
/// transport against an external target, and a start time is given.
pub fn plan(
    spec: ShardSpec,
    start_at: Option<&StartAt>,
    scenario: &Scenario,
) -> Result<Slice, ShardError> {
    let slice = Slice::new(
        spec.index,
        spec.count,
        scenario.clients.subscribers,
        scenario.publish.publishers,
    )?;
    // Rooms line up across shards: a subscriber's room follows from its id in the whole run
    // (`LoadPlan::subscriber_room`), and each publisher runs in its subscriber's shard.
    let slice = match scenario.rooms {
        Some(_) => slice.with_publishers_of_subscribers(),
        None => slice,
    };
    if start_at.is_none() {
        return Err(ShardError::NoStart);
    }
    if let Some(window) = scenario.publish.window {
        return Err(ShardError::Window(window));
    }
    let runs = scenario.runs();
    if runs.len() != 1 {
        return Err(ShardError::SeveralRuns(
            runs.iter().map(|(t, v)| t.label(*v)).collect(),
        ));
    }
    let kind = runs[0].0.kind();
    if scenario.targets.endpoint(kind).is_none() {
        return Err(ShardError::NoTarget(kind));
    }
    Ok(slice)
}

/// The loopback source addresses of shard `index`, so that shards on one machine never share a
/// source address (nor its ephemeral ports): shard `i` takes 127.`i / 256`.`i % 256`.k where shard
/// 0 takes 127.0.0.k. `planned` is what the one-process rule planned (127.0.0.1 to 127.0.0.n, or
/// none when one address suffices): the same count, moved to the shard's /24. An IPv6 target
/// (one loopback address) and an explicit list (`[clients] source_addresses = [...]`, used as
/// written by every shard) are left alone.
pub fn sources(
    index: u32,
    setting: &SourceAddresses,
    target: IpAddr,
    planned: Vec<IpAddr>,
) -> Vec<IpAddr> {
    if matches!(setting, SourceAddresses::List(_)) || !target.is_loopback() || target.is_ipv6() {
        return planned;
    }
    let base = u32::from(Ipv4Addr::new(127, 0, 0, 0)) | ((index & 0xffff) << 8);
    let last_octets: Vec<u32> = if planned.is_empty() {
        vec![1]
    } else {
        planned
            .iter()
            .map(|a| match a {
                IpAddr::V4(v4) => u32::from(*v4) & 0xff,
                IpAddr::V6(_) => 1,
            })
            .collect()
    };
    last_octets
        .into_iter()
        .map(|k| IpAddr::V4(Ipv4Addr::from(base | k)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn shard_flags_parse() {
        assert_eq!(
            "1/3".parse::<ShardSpec>(),
            Ok(ShardSpec { index: 1, count: 3 })
        );
        assert!("3/2".parse::<ShardSpec>().unwrap_err().contains("below"));
        assert!("0/0".parse::<ShardSpec>().is_err());
        assert!("1".parse::<ShardSpec>().unwrap_err().contains("I/N"));
        assert!("-1/3".parse::<ShardSpec>().is_err());
        assert_eq!(
            "2026-12-01T10:00:00Z".parse::<StartAt>(),
            Ok(StartAt::Time(
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_119_200)
            ))
        );
        assert_eq!(
            "@/shared/start".parse::<StartAt>(),
            Ok(StartAt::File("/shared/start".into()))
        );
        assert!(
            "tomorrow"
                .parse::<StartAt>()
                .unwrap_err()
                .contains("RFC 3339")
        );
        assert!("@".parse::<StartAt>().is_err());
    }

    #[test]
    fn each_shard_connects_from_its_own_addresses() {
        let v4 = ip("127.0.0.1");
        let auto = SourceAddresses::Auto;
        assert_eq!(sources(0, &auto, v4, vec![]), [ip("127.0.0.1")]);
        assert_eq!(sources(1, &auto, v4, vec![]), [ip("127.0.1.1")]);
        assert_eq!(
            sources(2, &auto, v4, vec![ip("127.0.0.1"), ip("127.0.0.2")]),
            [ip("127.0.2.1"), ip("127.0.2.2")]
        );
        assert_eq!(sources(258, &auto, v4, vec![]), [ip("127.1.2.1")]);
        assert_eq!(
            sources(
                1,
                &SourceAddresses::Count(2),
                v4,
                vec![ip("127.0.0.1"), ip("127.0.0.2")]
            ),
            [ip("127.0.1.1"), ip("127.0.1.2")]
        );
        let list = SourceAddresses::List(vec![ip("127.0.0.9")]);
        assert_eq!(
            sources(1, &list, v4, vec![ip("127.0.0.9")]),
            [ip("127.0.0.9")]
        );
        assert_eq!(sources(1, &auto, ip("::1"), vec![]), Vec::<IpAddr>::new());
        assert_eq!(
            sources(1, &auto, ip("192.0.2.1"), vec![]),
            Vec::<IpAddr>::new()
        );
    }

    #[tokio::test]
    async fn a_start_file_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("start");
        let start = StartAt::File(path.clone());
        let cancel = CancellationToken::new();
        let missing = start.resolve(Duration::ZERO, &cancel).await.unwrap_err();
        assert!(
            missing.to_string().contains("no start time appeared"),
            "{missing}"
        );
        std::fs::write(&path, "2026-12-01T10:00:00.5Z\n").unwrap();
        let at = start.resolve(Duration::ZERO, &cancel).await.unwrap();
        assert_eq!(
            at,
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_119_200_500)
        );
        std::fs::write(&path, "2026-12").unwrap();
        let partial = start.resolve(Duration::ZERO, &cancel).await.unwrap_err();
        assert!(partial.to_string().contains("\"2026-12\""), "{partial}");
    }
}
