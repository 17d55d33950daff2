//! `[rooms]` across processes: rooms line up across shards (a subscriber's room follows from its
//! id in the whole run, and each publisher runs in the shard of the subscriber it rides), so a
//! rooms run spread over generator processes (`[clients] processes = 3`) or cut by hand into
//! `--shard I/3` and merged delivers, expects and loses exactly what it does in one process, on
//! one server or on three instances sharing a private Redis. Everything stays on loopback.
//!
//! The load: 30 subscribers in 4 rooms (round robin: 8, 8, 7 and 7 members), 15 publishers, 1
//! message a second each, publisher `p` into room `p mod 4`: rooms 0, 1 and 2 have 4 publishers,
//! room 3 has 3. Over 2 s measured that is 30 messages: 8, 8, 8 and 6 per room, so the rooms
//! expect 8×8 + 8×8 + 8×7 + 6×7 = 226 deliveries. Cut in 3, the subscribers are 0..10, 10..20
//! and 20..30 and the publishers 0..10 and 10..15 (those of the first two slices' subscribers);
//! a shard that placed its subscribers by their index in the shard instead of in the run would
//! put 10..20 in rooms of other sizes, and expect 228.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use wsbench::metrics::{Sharding, TransportMetrics};
use wsbench::report::Summary;
use wsbench::report::stored::load_metrics;

/// Messages in the measured window: 15 publishers × 1 msg/s × 2 s.
const PUBLISHED: u64 = 30;
/// Deliveries the rooms expect (see the module doc).
const EXPECTED: u64 = 8 * 8 + 8 * 8 + 8 * 7 + 6 * 7;

/// The load of the module doc, on `transports` (TOML tables), with `clients` added to
/// `[clients]` and `tail` at the end.
fn scenario(clients: &str, transports: &str, tail: &str) -> String {
    format!(
        "name = \"rooms-shards\"\nduration = \"2s\"\nwarmup = \"1s\"\ndrain = \"5s\"\n\
         [clients]\nsubscribers = 30\nconnect_rate = 1000\n{clients}\n\
         [publish]\npublishers = 15\nrate = 15\npayload_bytes = 64\n\
         [rooms]\ncount = 4\n{transports}{tail}"
    )
}

fn summary(dir: &Path) -> Vec<Summary> {
    let mut reader = csv::Reader::from_path(dir.join("summary.csv")).unwrap();
    reader.deserialize().map(Result::unwrap).collect()
}

fn assert_ok(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: {}\nstdout: {}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
}

/// `wsbench run` of `text` (written to `dir/name.toml`) into `dir/name`; its results directory.
fn run(dir: &Path, name: &str, text: &str, extra: &[&str]) -> PathBuf {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    let out = dir.join(name);
    let output = Command::new(common::wsbench_bin())
        .arg("run")
        .arg(&file)
        .arg("--quiet")
        .arg("--out")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    assert_ok(&output, name);
    out
}

/// What must be equal between one process and several: published, expected, delivered, lost,
/// duplicated, reordered.
fn counts(row: &Summary) -> [u64; 6] {
    [
        row.messages_published,
        row.deliveries_expected,
        row.deliveries,
        row.lost,
        row.duplicated,
        row.reordered,
    ]
}

#[test]
fn rooms_in_three_generator_processes_deliver_what_one_process_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let transports = "[transports.ws]\n[transports.longpoll]\nhold = \"30s\"\n[transports.sse]\n";
    let one = run(
        dir.path(),
        "one",
        &scenario("processes = 1", transports, ""),
        &[],
    );
    let three = run(
        dir.path(),
        "three",
        &scenario("processes = 3", transports, ""),
        &[],
    );
    let (one, three_rows) = (summary(&one), summary(&three));
    assert_eq!(one.len(), 3);
    assert_eq!(three_rows.len(), 3);
    for (a, b) in one.iter().zip(&three_rows) {
        assert_eq!(a.transport, b.transport);
        let t = &b.transport;
        assert_eq!(
            counts(b),
            [PUBLISHED, EXPECTED, EXPECTED, 0, 0, 0],
            "{t}: three processes"
        );
        assert_eq!(counts(a), counts(b), "{t}: one process against three");
        assert_eq!((b.subscribers, b.publishers), (30, 15), "{t}");
    }
    for m in load_metrics(&three).unwrap() {
        let Some(Sharding::Merged(shards)) = &m.sharding else {
            panic!("{}: not merged", m.transport);
        };
        assert_eq!(shards.len(), 3, "{}", m.transport);
        rooms_line_up(&m, shards.iter().map(|s| &s.figures));
    }
}

/// Three generator processes against three instances on a private Redis (generator process i
/// loads instance i): a room's members spread over every instance, and each message reaches them
/// all through Redis, exactly once.
#[test]
fn rooms_in_three_generator_processes_on_three_instances_deliver_what_one_process_delivers() {
    common::backplane::setup();
    let dir = tempfile::tempdir().unwrap();
    let three = run(
        dir.path(),
        "fleet",
        &scenario("processes = 3", "[transports.ws]\ninstances = 3\n", ""),
        &[],
    );
    let row = summary(&three).remove(0);
    assert_eq!(counts(&row), [PUBLISHED, EXPECTED, EXPECTED, 0, 0, 0]);
    assert_eq!(row.misrouted, 0);
    let m = load_metrics(&three).unwrap().remove(0);
    let Some(Sharding::Merged(shards)) = &m.sharding else {
        panic!("not merged");
    };
    rooms_line_up(&m, shards.iter().map(|s| &s.figures));
    assert_eq!(m.instances.as_ref().map(|i| i.instances.len()), Some(3));
}

/// Each shard's rooms: its subscribers in the rooms of their ids in the run, its publishers
/// those of its subscribers, and per second the merged lost adds up to the summary's.
fn rooms_line_up<'a>(
    m: &TransportMetrics,
    shards: impl Iterator<Item = &'a wsbench::metrics::ShardFigures>,
) {
    let t = &m.transport;
    let mut published = [0u64; 4];
    let mut connected = [0u64; 4];
    let mut publishers = Vec::new();
    for f in shards {
        let rooms = f.rooms.as_ref().expect("a rooms shard keeps its rooms");
        let mut members = [0u64; 4];
        for i in f.slice.subscribers.clone() {
            members[(i % 4) as usize] += 1;
        }
        assert_eq!(rooms.connected, members, "{t}: shard {}", f.slice.label());
        for (sum, n) in published.iter_mut().zip(&rooms.published) {
            *sum += n;
        }
        for (sum, n) in connected.iter_mut().zip(&rooms.connected) {
            *sum += n;
        }
        publishers.push(f.slice.publishers.clone());
    }
    assert_eq!(publishers, [0..10, 10..15, 15..15], "{t}");
    assert_eq!(published, [8, 8, 8, 6], "{t}");
    assert_eq!(connected, [8, 8, 7, 7], "{t}");
    let lost: u64 = m.timeseries.seconds.iter().map(|s| s.lost).sum();
    assert_eq!(lost, m.clients.counts.delivery.lost, "{t}");
}

/// A `wsbench serve` child on 127.0.0.1, stopped when dropped.
struct Served(Child, String);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(transport: &str) -> Served {
    let mut child = Command::new(common::wsbench_bin())
        .args(["serve", "--transport", transport, "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Served(child, line.trim().to_string())
}

#[test]
fn rooms_cut_into_shards_by_hand_merge_into_what_one_process_delivers() {
    let server = serve("ws");
    let dir = tempfile::tempdir().unwrap();
    let target = format!("[target]\nws = \"ws://{}/ws\"\n", server.1);
    let text = scenario("", "[transports.ws]\n", &target);
    let scenario_file = dir.path().join("shards.toml");
    std::fs::write(&scenario_file, &text).unwrap();
    // Long enough for three processes to start and connect on a busy two-core machine; the
    // one-second warmup absorbs a late one.
    let start_at =
        humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(4)).to_string();
    let shards: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("shard-{i}")))
        .collect();
    let children: Vec<Child> = shards
        .iter()
        .enumerate()
        .map(|(i, out)| {
            Command::new(common::wsbench_bin())
                .arg("run")
                .arg(&scenario_file)
                .args(["--shard", &format!("{i}/3"), "--start-at", &start_at])
                .arg("--quiet")
                .arg("--out")
                .arg(out)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        assert_ok(&child.wait_with_output().unwrap(), &format!("shard {i}"));
    }
    let merged = dir.path().join("merged");
    let output = Command::new(common::wsbench_bin())
        .arg("merge")
        .arg(&merged)
        .args(&shards)
        .output()
        .unwrap();
    assert_ok(&output, "merge");

    // Each shard's own figures add up: its subscribers expected their rooms' messages.
    let rows: Vec<Summary> = shards.iter().map(|d| summary(d).remove(0)).collect();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(
            (row.lost, row.deliveries),
            (0, row.deliveries_expected),
            "shard {i}"
        );
    }
    let sum = |f: fn(&Summary) -> u64| rows.iter().map(f).sum::<u64>();
    assert_eq!(sum(|r| r.deliveries_expected), EXPECTED);
    assert_eq!(sum(|r| r.messages_published), PUBLISHED);

    let merged_row = summary(&merged).remove(0);
    assert_eq!(
        counts(&merged_row),
        [PUBLISHED, EXPECTED, EXPECTED, 0, 0, 0]
    );
    let mut metrics = load_metrics(&merged).unwrap();
    let m = metrics.remove(0);
    let Some(Sharding::Merged(parts)) = &m.sharding else {
        panic!("not merged");
    };
    rooms_line_up(&m, parts.iter().map(|s| &s.figures));

    // The same load in one process: the same counts.
    let single = run(dir.path(), "single", &text, &[]);
    assert_eq!(counts(&summary(&single).remove(0)), counts(&merged_row));
}
