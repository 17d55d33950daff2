//! `wsbench capacity` end to end, small: a search over 2 → 8 subscribers on loopback with short
//! steps writes `capacity.csv` with the documented columns, one row per step, each step's own
//! results directory, and a `report.html` with the capacity chart; and the loads it tried are
//! exactly the ones the stepping rule asks for given the verdicts. Never asserts speed: which
//! verdicts come depends on the machine, the rule's consistency does not.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::process::Command;

use wsbench::capacity::search::{Search, Verdict};

const SCENARIO: &str = r#"name = "cap"
duration = "300ms"
warmup = "0s"
drain = "2s"
[clients]
subscribers = 2
[publish]
publishers = 1
rate = 20
[transports.ws]
[transports.sse]
"#;

const COLUMNS: &str = "transport,by,load,latency_p50_us,latency_p99_us,lost,deliveries_per_s,\
server_cpu_s,client_cpu_s,client_cpu_util,verdict,results";

fn wsbench(args: &[&str]) -> std::process::Output {
    Command::new(common::wsbench_bin())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn a_small_search_follows_the_rule_and_writes_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("cap.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let out = dir.path().join("out");
    let output = wsbench(&[
        "capacity",
        scenario.to_str().unwrap(),
        "--p99",
        "10s",
        "--by",
        "subscribers",
        "--max",
        "8",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");

    let csv = std::fs::read_to_string(out.join("capacity.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), COLUMNS);
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    assert!(rows.iter().all(|r| r.len() == 12), "{csv}");
    for transport in ["ws", "sse"] {
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == transport).collect();
        assert!(!mine.is_empty(), "{transport}: {csv}");
        // Replaying the verdicts through the rule asks for exactly the loads tried, and stops
        // after the last one.
        let mut search = Search::new(2, 1, Some(8));
        for r in &mine {
            let load: u64 = r[2].parse().unwrap();
            assert_eq!(search.next(), Some(load), "{transport}: {csv}");
            assert_eq!(r[1], "subscribers");
            let verdict = Verdict::ALL
                .into_iter()
                .find(|v| v.label() == r[10])
                .unwrap_or_else(|| panic!("unknown verdict {:?}", r[10]));
            search.record(load, verdict);
            // Each step is a whole run of its own.
            let step = out.join(&r[11]);
            assert_eq!(r[11], format!("steps/{transport}-{load}"));
            assert!(step.join("summary.csv").is_file(), "{}", step.display());
            // What the row says is that run's figures: every subscriber, nothing lost (or the
            // verdict says otherwise).
            if verdict == Verdict::Pass {
                assert_eq!(r[5], "0", "{csv}");
            }
        }
        assert_eq!(
            search.next(),
            None,
            "{transport}: the search stopped early: {csv}"
        );
        let stop = search.stop().unwrap().to_string();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(&format!("capacity [{transport}] by subscribers: {stop}")),
            "{stdout}"
        );
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("id=\"chart-capacity\""));
    assert_eq!(html.matches("<circle").count(), rows.len());
}

#[test]
fn stepping_the_rate_of_a_window_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("w.toml");
    let text = SCENARIO.replace("rate = 20", "window = 4");
    std::fs::write(&scenario, text).unwrap();
    let output = wsbench(&[
        "capacity",
        scenario.to_str().unwrap(),
        "--p99",
        "50ms",
        "--by",
        "rate",
        "--out",
        dir.path().join("out").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--by rate") && stderr.contains("[publish] window"),
        "{stderr}"
    );
}
