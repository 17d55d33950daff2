//! `wsbench merge` on hand-made shard directories: the sum when the shards' clocks differ, and
//! every refusal (different scenarios, overlapping, missing or differently split shards,
//! different starts, a run that was not sharded), with exit code 2.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use wsbench::merge::{MergeError, merge};
use wsbench::metrics::{
    DeliveryCounts, PackedHistogram, ProcessUsage, Recorder, Second, ShardFigures, Sharding, Slice,
    TimeSeries, TransportMetrics, WireBytes, new_histogram,
};
use wsbench::report::stored::load_metrics;
use wsbench::report::{RunInfo, Summary, write_all};

const SCENARIO: &str = "name = \"m\"\nduration = \"2s\"\n";
/// The common start every shard was given.
const START: Duration = Duration::from_secs(1_800_000_000);

/// Shard `index` of `count` of a run of 10 subscribers and 2 publishers at 10 msg/s for 2 s:
/// every subscriber got all 20 messages; latency for its own publisher's. Its measured phase
/// began `skew` after the others' by its clock.
fn shard(index: u32, count: u32, skew: Duration) -> TransportMetrics {
    let slice = Slice::new(index, count, 10, 2).unwrap();
    let subs = u64::from(slice.subscribers_here());
    let own = 10 * u64::from(slice.publishers_here());
    let mut clients = Recorder::default();
    let mut seconds = Vec::new();
    for second in 0..2u64 {
        let mut h = new_histogram();
        for i in 0..own / 2 * subs {
            h.record(100 + 37 * i + 1_000 * u64::from(index) + second)
                .unwrap();
        }
        clients.latency_us.add(&h).unwrap();
        seconds.push(Second {
            duration: Duration::from_secs(1),
            unclocked: (10 - own / 2) * subs,
            latency_us: PackedHistogram::pack(&h),
            published: own / 2,
            lost: 0,
            wire: WireBytes { up: 10, down: 100 },
            connections: subs,
        });
    }
    clients.counts.delivery = DeliveryCounts {
        delivered: 20 * subs,
        ..DeliveryCounts::default()
    };
    // Counts the merge only adds up: it must keep every one.
    clients.counts.misrouted = u64::from(index) + 1;
    TransportMetrics {
        transport: "ws".into(),
        subscribers: slice.subscribers_here(),
        publishers: slice.publishers_here(),
        payload_bytes: 64,
        measured: Duration::from_secs(2),
        messages_published: own,
        messages_scheduled: own,
        deliveries_expected: 20 * subs,
        clients,
        wire: WireBytes { up: 20, down: 200 },
        connect_wire: WireBytes::default(),
        payload_wire: WireBytes {
            up: own * 64,
            down: 20 * subs * 64,
        },
        tls: None,
        client_usage: ProcessUsage {
            cpu: Duration::from_millis(10),
            peak_rss_kib: 1_000,
        },
        server_usage: None,
        idle: None,
        connections: slice.subscribers_here(),
        connect_ramp: Duration::from_millis(5),
        client_watch: None,
        complete: true,
        timeseries: TimeSeries {
            start_unix: START + Duration::from_secs(1) + skew,
            seconds,
        },
        sharding: Some(Sharding::Part(ShardFigures {
            start_unix: START,
            subscribers_connected: slice.subscribers_here(),
            others_scheduled: 20 - own,
            delivered_by_intended: vec![10 * subs, 10 * subs],
            sources: vec![(format!("127.0.{index}.1").parse().unwrap(), subs)],
            rooms: None,
            slice,
        })),
        instances: None,
        faults: Vec::new(),
    }
}

fn write(dir: &Path, scenario: &str, m: TransportMetrics) -> PathBuf {
    let run = RunInfo {
        started: UNIX_EPOCH + START,
        cores: 2,
        complete: true,
        command: vec!["wsbench".into()],
        scenario_path: PathBuf::from("m.toml"),
        scenario_toml: scenario.into(),
    };
    write_all(dir, &run, &[m]).unwrap();
    dir.to_owned()
}

fn summary(dir: &Path) -> Summary {
    let mut reader = csv::Reader::from_path(dir.join("summary.csv")).unwrap();
    reader.deserialize().next().unwrap().unwrap()
}

#[test]
fn shards_whose_clocks_differ_add_up_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    // Shard 1's clock runs 2 s ahead: its measured seconds land two seconds later.
    let a = write(&tmp.path().join("a"), SCENARIO, shard(0, 2, Duration::ZERO));
    let b = write(
        &tmp.path().join("b"),
        SCENARIO,
        shard(1, 2, Duration::from_millis(2_100)),
    );
    let out = tmp.path().join("merged");
    let merged = merge(&out, &[b.clone(), a.clone()]).unwrap();
    assert_eq!(merged.transports, [("ws".to_string(), 2)]);
    assert!(
        merged.table.contains("merged from 2 shards"),
        "{}",
        merged.table
    );

    let s = summary(&out);
    assert_eq!((s.subscribers, s.publishers), (10, 2));
    assert_eq!(s.messages_published, 20);
    assert_eq!(s.deliveries_expected, 200);
    assert_eq!((s.deliveries, s.lost), (200, 0));
    assert_eq!(s.misrouted, 1 + 2);
    let m = load_metrics(&out).unwrap().remove(0);
    let (ma, mb) = (
        load_metrics(&a).unwrap().remove(0),
        load_metrics(&b).unwrap().remove(0),
    );
    assert_eq!(
        m.clients.latency_us.len(),
        ma.clients.latency_us.len() + mb.clients.latency_us.len()
    );
    // Arrivals by wall clock, two seconds apart; published and lost by intended second.
    let per_second: Vec<(u64, u64, u64)> = m
        .timeseries
        .seconds
        .iter()
        .map(|s| (s.deliveries(), s.published, s.lost))
        .collect();
    assert_eq!(
        per_second,
        [(50, 10, 0), (50, 10, 0), (50, 0, 0), (50, 0, 0)]
    );
    assert_eq!(m.timeseries.start_unix, ma.timeseries.start_unix);
    match &m.sharding {
        Some(Sharding::Merged(shards)) => {
            assert_eq!(shards.len(), 2);
            assert_eq!(shards[0].figures.slice.index, 0);
            assert_eq!(shards[1].latency_samples, 50);
            assert_eq!(shards[1].dir, b.display().to_string());
        }
        other => panic!("{other:?}"),
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2>Shards</h2>") && html.contains("127.0.1.1 (5)"));
}

#[test]
fn a_lost_message_is_lost_in_the_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write(&tmp.path().join("a"), SCENARIO, shard(0, 2, Duration::ZERO));
    let mut lossy = shard(1, 2, Duration::ZERO);
    // One subscriber of shard 1 missed 3 messages intended in second 1.
    lossy.clients.counts.delivery.delivered -= 3;
    lossy.clients.counts.delivery.lost = 3;
    if let Some(Sharding::Part(f)) = &mut lossy.sharding {
        f.delivered_by_intended[1] -= 3;
    }
    let b = write(&tmp.path().join("b"), SCENARIO, lossy);
    let out = tmp.path().join("merged");
    merge(&out, &[a, b]).unwrap();
    let s = summary(&out);
    assert_eq!((s.deliveries, s.lost, s.deliveries_expected), (197, 3, 200));
    let lost: Vec<u64> = load_metrics(&out).unwrap()[0]
        .timeseries
        .seconds
        .iter()
        .map(|s| s.lost)
        .collect();
    assert_eq!(lost, [0, 3]);
}

fn refused(dirs: &[PathBuf], out: &Path) -> MergeError {
    let e = merge(out, dirs).unwrap_err();
    assert!(e.is_bad_input(), "{e}");
    e
}

#[test]
fn merging_refuses_what_is_not_one_runs_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name);
    let out = dir("out");
    let a = write(&dir("a"), SCENARIO, shard(0, 2, Duration::ZERO));
    let b = write(&dir("b"), SCENARIO, shard(1, 2, Duration::ZERO));

    let other = write(
        &dir("other"),
        "name = \"m\"\nduration = \"3s\"\n",
        shard(1, 2, Duration::ZERO),
    );
    let e = refused(&[a.clone(), other.clone()], &out);
    assert!(
        matches!(&e, MergeError::ScenarioDiffers { line: 2, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("ran different scenarios"), "{e}");

    let again = write(&dir("again"), SCENARIO, shard(0, 2, Duration::ZERO));
    let e = refused(&[a.clone(), b.clone(), again], &out);
    assert!(matches!(e, MergeError::Overlap { .. }), "{e}");
    assert!(e.to_string().contains("overlap"), "{e}");

    let e = refused(std::slice::from_ref(&a), &out);
    assert_eq!(
        e.to_string(),
        "shards missing: 1/2 of ws; give every shard of the run"
    );

    // 0/2 holds subscribers 0..5, 2/3 holds 6..10: no overlap, but not one split.
    let thirds = write(&dir("thirds"), SCENARIO, shard(2, 3, Duration::ZERO));
    let e = refused(&[a.clone(), thirds], &out);
    assert!(matches!(e, MergeError::CountDiffers { .. }), "{e}");

    let mut late = shard(1, 2, Duration::ZERO);
    if let Some(Sharding::Part(f)) = &mut late.sharding {
        f.start_unix += Duration::from_secs(60);
    }
    let late = write(&dir("late"), SCENARIO, late);
    let e = refused(&[a.clone(), late], &out);
    assert!(matches!(e, MergeError::StartDiffers { .. }), "{e}");

    let mut whole = shard(0, 1, Duration::ZERO);
    whole.sharding = None;
    let whole = write(&dir("whole"), SCENARIO, whole);
    let e = refused(&[whole, b.clone()], &out);
    assert!(matches!(e, MergeError::NotAShard { .. }), "{e}");

    let e = refused(&[a.clone(), b.clone()], &a);
    assert!(matches!(e, MergeError::OutIsAShard(_)), "{e}");
    assert!(!out.exists(), "a refused merge wrote nothing");

    // From the command line: the reason, and exit code 2 like any bad input.
    let output = Command::new(common::wsbench_bin())
        .args([
            "merge",
            out.to_str().unwrap(),
            a.to_str().unwrap(),
            other.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("ran different scenarios"),
        "{stderr}"
    );
}

#[test]
fn a_fleets_shards_merge_with_what_each_targeted_and_other_loads_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |name: &str| tmp.path().join(name);
    // Each shard loaded its own server instance: only `[target]` differs.
    let aimed = |port: u16, pid: u32, rate: u32| {
        format!(
            "{SCENARIO}\n[publish]\nrate = {rate}\n\n[target]\nws = \"ws://127.0.0.1:{port}/ws\"\nserver_pid = {pid}\n"
        )
    };
    let a = write(&dir("a"), &aimed(9001, 11, 10), shard(0, 2, Duration::ZERO));
    let b = write(&dir("b"), &aimed(9002, 12, 10), shard(1, 2, Duration::ZERO));
    let out = dir("merged");
    let merged = merge(&out, &[a.clone(), b.clone()]).unwrap();
    assert_eq!(merged.transports, [("ws".to_string(), 2)]);
    // One line under the table names each process, and what it targeted.
    let per = merged.table.split("Per process: ").nth(1).unwrap();
    assert!(per.starts_with("0/2 "), "{per}");
    assert!(per.contains(" at ws = \"ws://127.0.0.1:9002/ws\""), "{per}");
    let m = load_metrics(&out).unwrap().remove(0);
    let Some(Sharding::Merged(shards)) = &m.sharding else {
        panic!("not merged: {:?}", m.sharding);
    };
    let targets: Vec<Option<&str>> = shards.iter().map(|s| s.target.as_deref()).collect();
    assert_eq!(
        targets,
        [
            Some("ws = \"ws://127.0.0.1:9001/ws\", server_pid = 11"),
            Some("ws = \"ws://127.0.0.1:9002/ws\", server_pid = 12"),
        ]
    );
    assert_eq!(summary(&out).deliveries, 10 * 20);

    // Shards of one server record no target of their own.
    let same = write(
        &dir("same"),
        &aimed(9001, 11, 10),
        shard(1, 2, Duration::ZERO),
    );
    merge(&dir("merged-same"), &[a.clone(), same]).unwrap();
    let m = load_metrics(&dir("merged-same")).unwrap().remove(0);
    let Some(Sharding::Merged(shards)) = &m.sharding else {
        panic!("not merged");
    };
    assert!(shards.iter().all(|s| s.target.is_none()));

    // A different load is refused, wherever it sits beside a different target.
    let faster = write(
        &dir("faster"),
        &aimed(9002, 12, 20),
        shard(1, 2, Duration::ZERO),
    );
    let e = refused(&[a, faster], &dir("merged-faster"));
    assert!(
        matches!(&e, MergeError::ScenarioDiffers { line: 5, .. }),
        "{e}"
    );
    assert!(
        e.to_string().contains("\"rate = 10\" vs \"rate = 20\""),
        "{e}"
    );
}
