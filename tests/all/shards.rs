//! Sharded runs end to end: three `wsbench run --shard I/3` processes started as a Kubernetes
//! Indexed Job starts them (`JOB_COMPLETION_INDEX` = 0, 1, 2, through a shell), each from its
//! own loopback source addresses, against one `wsbench serve` on 127.0.0.1; then `wsbench merge`
//! adds them up, exactly, and the same load run as one process delivers the same counts.
//! Everything stays on loopback.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use wsbench::metrics::{ShardFigures, Sharding, TransportMetrics};
use wsbench::report::Summary;
use wsbench::report::stored::load_metrics;

/// A `wsbench serve` child on 127.0.0.1, stopped when dropped.
struct Served(Child, String);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(transport: &str, extra: &[&str]) -> Served {
    let mut child = Command::new(common::wsbench_bin())
        .args(["serve", "--transport", transport, "--addr", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Served(child, line.trim().to_string())
}

/// 60 subscribers (3 publishing, 60 msg/s) for 2 s after a 1 s warmup: 120 messages in the
/// window, 7,200 deliveries; each shard has 20 subscribers and 1 publisher.
fn scenario(transport: &str, addr: &str, clients_extra: &str) -> String {
    let target = match transport {
        "ws" => format!("ws = \"ws://{addr}/ws\""),
        "sse" => format!("sse = \"http://{addr}/events\""),
        other => format!("{other} = \"http://{addr}\""),
    };
    format!(
        "name = \"shards\"\nduration = \"2s\"\nwarmup = \"1s\"\ndrain = \"10s\"\n\
         [clients]\nsubscribers = 60\nconnect_rate = 3000\n{clients_extra}\n\
         [publish]\npublishers = 3\nrate = 60\npayload_bytes = 64\n\
         [transports.{transport}]\n[target]\n{target}\n"
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

/// Starts shard `index` of 3 as an Indexed Job's pod would: a shell expands
/// `$JOB_COMPLETION_INDEX` into `--shard`, as in `scripts/k8s/job.yaml`.
fn start_shard(index: u32, scenario: &Path, start_at: &str, out: &Path) -> Child {
    Command::new("sh")
        .args([
            "-c",
            "exec \"$WSBENCH\" run \"$SCENARIO\" --shard \"$JOB_COMPLETION_INDEX/3\" \
             --start-at \"$START_AT\" --out \"$OUT/shard-$JOB_COMPLETION_INDEX\" --quiet",
        ])
        .env("WSBENCH", common::wsbench_bin())
        .env("SCENARIO", scenario)
        .env("START_AT", start_at)
        .env("OUT", out)
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A common start `lead` from now, as RFC 3339.
fn start_in(lead: Duration) -> String {
    humantime::format_rfc3339_millis(SystemTime::now() + lead).to_string()
}

/// The tests here take turns starting their shards: three processes at a time against a common
/// start, not twelve, which on a loaded two-core machine could miss even a generous lead.
static ONE_SET_OF_SHARDS_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs three shards of `scenario_text` and merges them; returns the shard directories and the
/// merged one.
fn run_shards(tmp: &Path, scenario_text: &str) -> (Vec<PathBuf>, PathBuf) {
    let turn = ONE_SET_OF_SHARDS_AT_A_TIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let scenario = tmp.join("scenario.toml");
    std::fs::write(&scenario, scenario_text).unwrap();
    // Long enough for three processes to start and connect on a busy two-core machine; the
    // one-second warmup absorbs a late one.
    let start_at = start_in(Duration::from_secs(4));
    let children: Vec<Child> = (0..3)
        .map(|i| start_shard(i, &scenario, &start_at, tmp))
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect();
    drop(turn);
    for (i, output) in outputs.iter().enumerate() {
        assert_ok(output, &format!("shard {i}"));
    }
    let shards: Vec<PathBuf> = (0..3).map(|i| tmp.join(format!("shard-{i}"))).collect();
    let merged = tmp.join("merged");
    let mut args = vec!["merge".into(), merged.clone().into_os_string()];
    args.extend(shards.iter().map(|d| d.clone().into_os_string()));
    let output = Command::new(common::wsbench_bin())
        .args(&args)
        .output()
        .unwrap();
    assert_ok(&output, "merge");
    (shards, merged)
}

fn only(dir: &Path) -> TransportMetrics {
    let mut metrics = load_metrics(dir).unwrap();
    assert_eq!(metrics.len(), 1, "{}", dir.display());
    metrics.remove(0)
}

fn figures(m: &TransportMetrics) -> &ShardFigures {
    match &m.sharding {
        Some(Sharding::Part(f)) => f,
        other => panic!("not a shard: {other:?}"),
    }
}

/// Three shards, their merge, and the same load in one process, for `transport`.
fn shards_add_up_exactly(transport: &str) {
    let server = serve(transport, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let text = scenario(transport, &server.1, "");
    let (shard_dirs, merged_dir) = run_shards(tmp.path(), &text);

    let shards: Vec<TransportMetrics> = shard_dirs.iter().map(|d| only(d)).collect();
    let rows: Vec<Summary> = shard_dirs.iter().map(|d| summary(d).remove(0)).collect();
    let merged = summary(&merged_dir).remove(0);
    let sum = |f: fn(&Summary) -> u64| rows.iter().map(f).sum::<u64>();

    // Counts: the merge is the shards' sum, and nothing was lost.
    assert_eq!(merged.messages_published, 120, "{transport}");
    assert_eq!(merged.subscribers, 60);
    assert_eq!(merged.publishers, 3);
    assert_eq!(merged.deliveries_expected, 120 * 60, "{transport}");
    assert_eq!(merged.deliveries, sum(|r| r.deliveries), "{transport}");
    assert_eq!(merged.deliveries_expected, sum(|r| r.deliveries_expected));
    assert_eq!(merged.lost, 0, "{transport}");
    assert_eq!(sum(|r| r.lost), 0, "{transport}");
    assert_eq!(merged.duplicated, sum(|r| r.duplicated));
    assert_eq!(merged.reordered, sum(|r| r.reordered));
    assert_eq!(merged.deliveries, 7_200, "{transport}");
    assert!(merged.complete);

    // Each shard ran its slice, from addresses of its own /24, publishing as its own ids.
    for (i, (m, row)) in shards.iter().zip(&rows).enumerate() {
        let f = figures(m);
        let i = i as u32;
        assert_eq!(f.slice.index, i);
        assert_eq!(f.slice.subscribers, i * 20..(i + 1) * 20);
        assert_eq!(f.slice.publishers, i..i + 1);
        assert_eq!(f.subscribers_connected, 20);
        assert_eq!(row.messages_published, 40, "shard {i}");
        assert!(!f.sources.is_empty(), "shard {i}");
        for (address, _) in &f.sources {
            let IpAddr::V4(v4) = address else {
                panic!("{address}")
            };
            assert_eq!(v4.octets()[..3], [127, 0, i as u8], "shard {i}: {address}");
        }
        let connected: u64 = f.sources.iter().map(|(_, n)| n).sum();
        assert!(connected >= 20, "shard {i}: {:?}", f.sources);
        // Latency only from its own publisher: 40 messages × 20 subscribers.
        assert_eq!(m.clients.latency_us.len(), 40 * 20, "shard {i}");
        // Per second, every delivery is there, timed or not.
        let per_second: u64 = m
            .timeseries
            .seconds
            .iter()
            .map(|s| s.latency_us.len() + s.unclocked)
            .sum();
        assert_eq!(per_second, row.deliveries, "shard {i}");
    }

    // Histograms: the merged one holds every shard's same-shard samples, and its percentiles are
    // those of one histogram built from all of them.
    let merged_metrics = only(&merged_dir);
    let h = &merged_metrics.clients.latency_us;
    let samples: u64 = shards.iter().map(|m| m.clients.latency_us.len()).sum();
    assert_eq!(h.len(), samples);
    assert_eq!(h.len(), 3 * 40 * 20);
    let mut all = Histogram::<u64>::new(3).unwrap();
    all.auto(true);
    for m in &shards {
        for v in m.clients.latency_us.iter_recorded() {
            all.record_n(v.value_iterated_to(), v.count_at_value())
                .unwrap();
        }
    }
    for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
        assert_eq!(h.value_at_quantile(q), all.value_at_quantile(q), "q {q}");
    }
    assert_eq!(merged.latency_p50_us, Some(all.value_at_quantile(0.5)));
    assert_eq!(merged.latency_p99_us, Some(all.value_at_quantile(0.99)));
    // The time series adds up to the summary, second by second.
    let seconds = &merged_metrics.timeseries.seconds;
    assert_eq!(
        seconds.iter().map(|s| s.deliveries()).sum::<u64>(),
        merged.deliveries
    );
    assert_eq!(seconds.iter().map(|s| s.published).sum::<u64>(), 120);
    assert_eq!(seconds.iter().map(|s| s.lost).sum::<u64>(), 0);
    let html = std::fs::read_to_string(merged_dir.join("report.html")).unwrap();
    assert!(html.contains("<h2>Shards</h2>"), "no per-shard section");

    // `wsbench report` and `compare` take the merged directory like any other.
    let report = Command::new(common::wsbench_bin())
        .args(["report", merged_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_ok(&report, "report");
    let table = String::from_utf8_lossy(&report.stdout);
    assert!(table.contains("merged from 3 shards"), "{table}");
    assert_eq!(summary(&merged_dir).remove(0), merged);
    assert!(
        std::fs::read_to_string(merged_dir.join("report.html"))
            .unwrap()
            .contains("<h2>Shards</h2>")
    );

    // The same load in one process: the same delivery counts.
    let single_dir = tmp.path().join("single");
    let output = Command::new(common::wsbench_bin())
        .args([
            "run",
            tmp.path().join("scenario.toml").to_str().unwrap(),
            "--quiet",
            "--out",
            single_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_ok(&output, "single process");
    let single = summary(&single_dir).remove(0);
    assert_eq!(
        (
            single.messages_published,
            single.deliveries_expected,
            single.deliveries,
            single.lost,
            single.duplicated
        ),
        (
            merged.messages_published,
            merged.deliveries_expected,
            merged.deliveries,
            merged.lost,
            merged.duplicated
        ),
        "{transport}"
    );
    let compare = Command::new(common::wsbench_bin())
        .args([
            "compare",
            single_dir.to_str().unwrap(),
            merged_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_ok(&compare, "compare");
}

#[test]
fn websocket_shards_add_up_exactly() {
    shards_add_up_exactly("ws");
}

#[test]
fn long_poll_shards_add_up_exactly() {
    shards_add_up_exactly("longpoll");
}

#[test]
fn sse_shards_add_up_exactly() {
    shards_add_up_exactly("sse");
}

/// Slow readers (the run's last 4 subscribers, all in shard 2) fall behind a ring of 8: shard 2
/// loses, the others do not, and the merge loses exactly what shard 2 lost.
#[test]
fn a_lossy_shard_stays_lossy_in_the_merge() {
    let server = serve("longpoll", &["--ring", "8"]);
    let tmp = tempfile::tempdir().unwrap();
    let text = scenario(
        "longpoll",
        &server.1,
        "slow_readers = 4\nslow_read_pause = \"500ms\"",
    )
    .replace("drain = \"10s\"", "drain = \"3s\"");
    let (shard_dirs, merged_dir) = run_shards(tmp.path(), &text);
    let rows: Vec<Summary> = shard_dirs.iter().map(|d| summary(d).remove(0)).collect();
    let merged = summary(&merged_dir).remove(0);
    assert_eq!((rows[0].lost, rows[1].lost), (0, 0));
    assert!(rows[2].lost > 0, "the slow readers kept up");
    assert_eq!(merged.messages_published, 120);
    assert_eq!(merged.lost, rows[2].lost);
    assert_eq!(
        rows[2].deliveries + rows[2].lost,
        rows[2].deliveries_expected
    );
    assert_eq!(
        merged.deliveries,
        rows.iter().map(|r| r.deliveries).sum::<u64>()
    );
    assert_eq!(merged.deliveries + merged.lost, merged.deliveries_expected);
    // Counted by the second each message was intended in, the merged losses add up the same.
    let lost: u64 = only(&merged_dir)
        .timeseries
        .seconds
        .iter()
        .map(|s| s.lost)
        .sum();
    assert_eq!(lost, merged.lost);
}
