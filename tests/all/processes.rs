//! `[clients] processes`: `wsbench run` spreads a transport's clients over generator children
//! itself (shards of the run against the one server it started), and merges them into the run's
//! results. Forced to 3 processes with a small load: the merged counts equal one process's; a
//! child that dies fails the run by name; Ctrl-C stops every child and still writes the merged
//! partial results. Everything stays on loopback.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use wsbench::metrics::Sharding;
use wsbench::report::Summary;

/// 30 subscribers, 3 of them publishing 15 messages per second in all, for 2 s measured.
fn scenario(processes: u32, duration: &str) -> String {
    format!(
        r#"name = "processes"
duration = "{duration}"
warmup = "1s"
drain = "3s"
[clients]
subscribers = 30
connect_rate = 1000
processes = {processes}
[publish]
publishers = 3
rate = 15
payload_bytes = 64
[transports.ws]
[transports.longpoll]
hold = "30s"
[transports.sse]
"#
    )
}

fn summary(out: &Path) -> Vec<Summary> {
    let mut summary = csv::Reader::from_path(out.join("summary.csv")).unwrap();
    summary.deserialize().map(Result::unwrap).collect()
}

/// Starts `wsbench run` on `toml` into `out`, its stderr piped.
fn start(dir: &Path, toml: &str, out: &Path) -> Child {
    let file = dir.join("scenario.toml");
    std::fs::write(&file, toml).unwrap();
    Command::new(common::wsbench_bin())
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads `child`'s stderr until the generator processes have started and their measured window
/// has begun; returns every line read and the children's pids, by shard index.
fn until_measuring(child: &mut Child) -> (BufReader<std::process::ChildStderr>, String, Vec<i32>) {
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let (mut seen, mut pids) = (String::new(), Vec::new());
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "run ended early:\n{seen}"
        );
        seen.push_str(&line);
        if let Some(list) = line.split("started ").nth(1) {
            pids = list
                .split(", ")
                .map(|each| each.rsplit(' ').next().unwrap().trim().parse().unwrap())
                .collect();
        }
        if line.contains("measuring") {
            return (stderr, seen, pids);
        }
    }
}

fn alive(pid: i32) -> bool {
    // Signal 0 only checks: a reaped process is gone.
    kill(Pid::from_raw(pid), None).is_ok()
}

#[test]
fn three_generator_processes_deliver_what_one_process_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let run = |processes: u32| {
        let out = dir.path().join(format!("p{processes}"));
        let mut child = start(dir.path(), &scenario(processes, "2s"), &out);
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(child.wait().unwrap().success(), "{stderr}");
        (summary(&out), stderr, out)
    };
    let (one, _, _) = run(1);
    let (three, stderr, out) = run(3);
    assert_eq!(one.len(), 3);
    assert_eq!(three.len(), 3, "{stderr}");
    for (a, b) in one.iter().zip(&three) {
        assert_eq!(a.transport, b.transport);
        // 15 msg/s for 2 s, to 30 subscribers each.
        assert_eq!(b.messages_published, 30, "{}", b.transport);
        assert_eq!(b.deliveries_expected, 900, "{}", b.transport);
        assert_eq!(
            (a.messages_published, a.deliveries_expected, a.deliveries),
            (b.messages_published, b.deliveries_expected, b.deliveries),
            "{}",
            b.transport
        );
        assert_eq!(
            (b.lost, b.duplicated, b.reordered),
            (0, 0, 0),
            "{}",
            b.transport
        );
        assert_eq!((b.subscribers, b.publishers), (30, 3), "{}", b.transport);
    }
    // Each transport's row is the three shards' sum, each shard kept with its own directory.
    for m in wsbench::report::stored::load_metrics(&out).unwrap() {
        let Some(Sharding::Merged(shards)) = &m.sharding else {
            panic!("{}: not merged", m.transport);
        };
        assert_eq!(shards.len(), 3, "{}", m.transport);
        let subscribers: u32 = shards.iter().map(|s| s.figures.subscribers_connected).sum();
        assert_eq!(subscribers, 30, "{}", m.transport);
        for (i, s) in shards.iter().enumerate() {
            assert!(
                s.dir
                    .ends_with(&format!("processes/{}/shard-{i}", m.transport)),
                "{}",
                s.dir
            );
        }
    }
}

#[test]
fn a_generator_process_that_dies_fails_the_run_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let toml = scenario(3, "30s").replace(
        "[transports.longpoll]\nhold = \"30s\"\n[transports.sse]\n",
        "",
    );
    let mut child = start(dir.path(), &toml, &dir.path().join("out"));
    let (mut stderr, mut seen, pids) = until_measuring(&mut child);
    assert_eq!(pids.len(), 3, "{seen}");
    kill(Pid::from_raw(pids[1]), Signal::SIGKILL).unwrap();
    stderr.read_to_string(&mut seen).unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(1), "{seen}");
    assert!(
        seen.contains(&format!("generator 1/3 (pid {}) signal: 9", pids[1])),
        "{seen}"
    );
    for pid in pids {
        assert!(!alive(pid), "generator pid {pid} outlived the run:\n{seen}");
    }
}

#[test]
fn ctrl_c_stops_every_generator_process_and_writes_merged_partial_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let toml = scenario(3, "60s").replace(
        "[transports.longpoll]\nhold = \"30s\"\n[transports.sse]\n",
        "",
    );
    let mut child = start(dir.path(), &toml, &out);
    let (mut stderr, mut seen, pids) = until_measuring(&mut child);
    assert_eq!(pids.len(), 3, "{seen}");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    stderr.read_to_string(&mut seen).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130), "{seen}");
    for pid in &pids {
        assert!(
            !alive(*pid),
            "generator pid {pid} outlived the run:\n{seen}"
        );
    }
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["complete"], false);
    let rows = summary(&out);
    assert_eq!(rows.len(), 1, "{seen}");
    assert_eq!(rows[0].transport, "ws");
    assert!(!rows[0].complete);
    assert_eq!(rows[0].subscribers, 30);
    // Only the part measured before the interrupt was due (60 s at 15 msg/s were asked for).
    assert!(
        rows[0].messages_scheduled < 15 * 60,
        "{}",
        rows[0].messages_scheduled
    );
    // Every message published before the interrupt was due to every subscriber of every shard.
    assert!(rows[0].messages_published > 0, "{seen}");
    assert_eq!(
        rows[0].deliveries_expected,
        30 * rows[0].messages_published,
        "{seen}"
    );
}

#[test]
fn two_generator_processes_each_load_their_own_instance_of_a_fleet() {
    common::backplane::setup();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let toml = scenario(2, "2s").replace(
        "[transports.ws]\n[transports.longpoll]\nhold = \"30s\"\n[transports.sse]\n",
        "[transports.ws]\ninstances = 2\n",
    );
    let mut child = start(dir.path(), &toml, &out);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{stderr}");
    let rows = summary(&out);
    assert_eq!(rows.len(), 1, "{stderr}");
    // Messages published through either instance reach the subscribers of both, through Redis.
    assert_eq!(rows[0].messages_published, 30);
    assert_eq!(rows[0].deliveries, 900, "{stderr}");
    assert_eq!(rows[0].lost, 0);
    let m = wsbench::report::stored::load_metrics(&out)
        .unwrap()
        .remove(0);
    let Some(Sharding::Merged(shards)) = &m.sharding else {
        panic!("not merged");
    };
    let targets: Vec<&str> = shards.iter().filter_map(|s| s.target.as_deref()).collect();
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert_ne!(targets[0], targets[1]);
    assert!(
        targets.iter().all(|t| t.contains("server_pid")),
        "{targets:?}"
    );
}
