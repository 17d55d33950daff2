//! The live page of `wsbench run --live` in a real browser: Debian's headless Chromium, driven by
//! Playwright (`scripts/browser/live-test.mjs`), opens the page while a short run goes and stays
//! to its end. Every chart must have filled for every transport, the page must log no error and
//! ask for nothing off loopback, and the final figures it shows must be `summary.csv`'s, to the
//! character.
//!
//! `scripts/browser/setup.sh` installs what is missing first (chromium with apt-get, the pinned
//! playwright-core with npm ci), so a plain `cargo test` on a clean clone runs it.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The page's final columns compared with `summary.csv`'s (the whole numbers and the flag: a
/// float is shown as JavaScript prints it).
const COLUMNS: [&str; 7] = [
    "deliveries",
    "lost",
    "duplicated",
    "messages_published",
    "latency_p50_us",
    "latency_p99_us",
    "complete",
];

/// `summary.csv` as text: transport → column → the cell as written.
fn summary_cells(path: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let cells: BTreeMap<String, String> = headers
                .iter()
                .zip(r.iter())
                .filter(|(h, _)| COLUMNS.contains(h))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect();
            (r[0].to_string(), cells)
        })
        .collect()
}

#[test]
fn the_live_page_fills_and_ends_with_summary_csv() {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/browser");
    let setup = common::process::run_bounded(
        &mut Command::new(scripts.join("setup.sh")),
        Duration::from_secs(900),
    );
    assert!(
        setup.status.success(),
        "scripts/browser/setup.sh failed:\n{}",
        String::from_utf8_lossy(&setup.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tiny.toml");
    let start = Instant::now();
    let test = common::process::run_bounded(
        Command::new("node")
            .arg(scripts.join("live-test.mjs"))
            .arg("--")
            .arg(common::wsbench_bin())
            .arg("run")
            .arg(&scenario)
            .args([
                "--transports",
                "ws,sse",
                "--duration",
                "3s",
                "--quiet",
                "--live",
            ])
            .arg("--out")
            .arg(&out),
        Duration::from_secs(150),
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr),
    );
    eprintln!("live-test.mjs ({:.1?}):\n{stdout}{stderr}", start.elapsed());
    assert!(test.status.success(), "the live page failed:\n{stderr}");
    assert!(stdout.trim_end().ends_with("live-test: ok"), "{stdout}");

    let finals = stdout
        .lines()
        .find_map(|l| l.strip_prefix("finals: "))
        .expect("the page's final figures");
    let page: BTreeMap<String, BTreeMap<String, String>> = serde_json::from_str(finals).unwrap();
    let page: BTreeMap<String, BTreeMap<String, String>> = page
        .into_iter()
        .map(|(t, cells)| {
            let kept = cells
                .into_iter()
                .filter(|(c, _)| COLUMNS.contains(&c.as_str()))
                .collect();
            (t, kept)
        })
        .collect();
    // One point a second for every row of timeseries.csv: the page is fed by the same sampler.
    let charts: BTreeMap<String, Vec<(String, usize)>> = serde_json::from_str(
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("charts: "))
            .expect("the page's charts"),
    )
    .unwrap();
    let mut seconds: BTreeMap<String, usize> = BTreeMap::new();
    for row in csv::Reader::from_path(out.join("timeseries.csv"))
        .unwrap()
        .records()
    {
        *seconds.entry(row.unwrap()[0].to_string()).or_default() += 1;
    }
    let points: BTreeMap<String, usize> = charts["chart-deliveries"].iter().cloned().collect();
    assert_eq!(points, seconds, "deliveries chart vs timeseries.csv rows");
    let summary = summary_cells(&out.join("summary.csv"));
    assert_eq!(summary.len(), 2, "{summary:?}");
    assert!(
        summary.values().all(|c| c["deliveries"] != "0"),
        "{summary:?}"
    );
    assert_eq!(page, summary);
}
