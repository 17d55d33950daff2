//! A run spread over processes by `wsbench run` itself reports each process: every generator
//! process and every server instance, with its CPU and memory, in `metrics.json` and in
//! `report.html`'s per-process panel. And `instances = "auto"` starts as many instances as the
//! open-file limit needs: lowered to 250 files, 300 connections need 2; and idle connections
//! spread over processes expect nothing. Small loads, loopback only.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use wsbench::metrics::{Sharding, TransportMetrics};
use wsbench::report::Summary;

/// `subscribers` on WebSocket, 3 of them publishing 15 messages per second in all, for 2 s
/// measured; `clients` and `ws` add keys to their tables.
fn scenario(subscribers: u32, clients: &str, ws: &str) -> String {
    format!(
        r#"name = "process-figures"
duration = "2s"
warmup = "1s"
drain = "3s"
[clients]
subscribers = {subscribers}
connect_rate = 1000
{clients}
[publish]
publishers = 3
rate = 15
payload_bytes = 64
[transports.ws]
{ws}
"#
    )
}

/// Runs `toml` with `wsbench run` under an open-file limit of `nofile` (soft and hard, as
/// `ulimit -n` sets them) if given; it must succeed. Returns its stderr, its summary rows, its
/// metrics and its results directory (kept with `dir`).
fn run(
    dir: &Path,
    toml: &str,
    nofile: Option<u32>,
) -> (String, Vec<Summary>, Vec<TransportMetrics>, PathBuf) {
    common::backplane::setup();
    let file = dir.join("scenario.toml");
    std::fs::write(&file, toml).unwrap();
    let out = dir.join("out");
    let limit = nofile.map_or(String::new(), |n| format!("ulimit -n {n} && "));
    let output = common::process::run_bounded(
        Command::new("sh")
            .arg("-c")
            .arg(format!("{limit}exec \"$0\" \"$@\""))
            .arg(common::wsbench_bin())
            .arg("run")
            .arg(&file)
            .arg("--out")
            .arg(&out),
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    let mut summary = csv::Reader::from_path(out.join("summary.csv")).unwrap();
    let rows = summary.deserialize().map(Result::unwrap).collect();
    let metrics = wsbench::report::stored::load_metrics(&out).unwrap();
    (stderr, rows, metrics, out)
}

#[test]
fn three_generator_processes_and_two_instances_are_each_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (stderr, rows, metrics, out) = run(
        dir.path(),
        &scenario(30, "processes = 3", "instances = 2"),
        None,
    );
    assert_eq!(rows.len(), 1, "{stderr}");
    // 15 msg/s for 2 s to 30 subscribers, through either instance and Redis to both.
    assert_eq!(
        (
            rows[0].deliveries,
            rows[0].deliveries_expected,
            rows[0].lost
        ),
        (900, 900, 0),
        "{stderr}"
    );
    let m = &metrics[0];
    let Some(Sharding::Merged(generators)) = &m.sharding else {
        panic!("not merged from generator processes: {stderr}");
    };
    assert_eq!(generators.len(), 3, "{stderr}");
    for g in generators {
        assert!(
            !g.client_cpu.is_zero(),
            "{}: no CPU",
            g.figures.slice.label()
        );
        assert!(g.client_peak_rss_kib > 0);
    }
    let connected: u32 = generators
        .iter()
        .map(|g| g.figures.subscribers_connected)
        .sum();
    assert_eq!(connected, 30);
    let instances = &m
        .instances
        .as_ref()
        .expect("the instances' figures")
        .instances;
    assert_eq!(instances.len(), 2, "{stderr}");
    for i in instances {
        let usage = i.usage.unwrap_or_else(|| panic!("{}: not sampled", i.addr));
        assert!(usage.cpu_ns > 0, "{}: no CPU", i.addr);
        assert!(usage.peak_rss_kib > 0);
        assert!(i.report.is_some(), "{}: no exit report", i.addr);
    }
    // Generator processes 0 and 2 load the first instance, 1 the second: 10 + 10 and 10.
    let accepted: Vec<u64> = instances
        .iter()
        .map(|i| i.report.unwrap().accepted)
        .collect();
    assert_eq!(accepted, [20, 10], "{stderr}");
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    let panel = page
        .split("<h2>Processes</h2>")
        .nth(1)
        .expect("report.html has the per-process panel");
    for i in 0..3 {
        assert!(panel.contains(&format!("generator {i}/3")), "{panel}");
    }
    for i in instances {
        assert!(panel.contains(&format!("instance {}", i.addr)), "{panel}");
    }
    assert!(panel.contains("redis-server"), "{panel}");
}

#[test]
fn instances_auto_starts_as_many_as_the_open_file_limit_needs() {
    let dir = tempfile::tempdir().unwrap();
    // 300 subscribers and 3 publishers (a run keeps a file for each) under 250 files less 64
    // spare: 2 generator processes and 2 instances, each with 150 subscribers.
    let (stderr, rows, metrics, _) = run(
        dir.path(),
        &scenario(300, "", "instances = \"auto\""),
        Some(250),
    );
    assert!(
        stderr.contains("[ws] instances = \"auto\": 2 for 303 connections at 186 a process"),
        "{stderr}"
    );
    assert_eq!(
        (
            rows[0].deliveries,
            rows[0].deliveries_expected,
            rows[0].lost
        ),
        (9_000, 9_000, 0),
        "{stderr}"
    );
    let Some(Sharding::Merged(generators)) = &metrics[0].sharding else {
        panic!("not spread over generator processes: {stderr}");
    };
    assert_eq!(generators.len(), 2, "{stderr}");
    let instances = &metrics[0].instances.as_ref().unwrap().instances;
    let accepted: Vec<u64> = instances
        .iter()
        .map(|i| i.report.unwrap().accepted)
        .collect();
    assert_eq!(accepted, [150, 150], "{stderr}");
}

#[test]
fn idle_connections_spread_over_processes_expect_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // 30 subscribers and 60 idle connections over 3 generator processes: the merged expected
    // deliveries are the subscribers' only, as in one process.
    let toml = scenario(30, "processes = 3\nidle = 60\nidle_phase = \"1s\"", "");
    let (stderr, rows, metrics, _) = run(dir.path(), &toml, None);
    assert_eq!(
        (
            rows[0].deliveries,
            rows[0].deliveries_expected,
            rows[0].lost
        ),
        (900, 900, 0),
        "{stderr}"
    );
    let Some(Sharding::Merged(generators)) = &metrics[0].sharding else {
        panic!("not merged: {stderr}");
    };
    let subscribers: u32 = generators
        .iter()
        .map(|g| g.figures.subscribers_connected)
        .sum();
    assert_eq!(subscribers, 30);
}
