//! `--metrics` against a real Prometheus: Debian's `prometheus`, on loopback with its own data
//! directory, scrapes a short `wsbench run` every second; its HTTP API must then answer each
//! transport's total deliveries, messages published and losses exactly as `summary.csv` has
//! them. The text itself — a scrape taken mid-run and the `metrics.prom` file — must parse with
//! the reference parser (the Python `prometheus_client`'s OpenMetrics parser) and the file's
//! counters equal `summary.csv`'s.
//!
//! `scripts/prometheus/setup.sh` installs what is missing first (prometheus with apt-get, the
//! parser with pip in a virtualenv), so a plain `cargo test` on a clean clone runs it.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wsbench::report::Summary;

/// The columns compared, and the counter each one is.
const COUNTERS: [(&str, &str); 3] = [
    ("wsbench_deliveries_total", "deliveries"),
    ("wsbench_published_total", "messages_published"),
    ("wsbench_lost_total", "lost"),
];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on `addr` (HTTP/1.0, so the body ends with the connection): status and body.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(tcp, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    tcp.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

/// `s` percent-encoded for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn setup() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/prometheus/setup.sh");
    let setup = common::process::run_bounded(&mut Command::new(script), Duration::from_secs(900));
    assert!(
        setup.status.success(),
        "scripts/prometheus/setup.sh failed:\n{}",
        String::from_utf8_lossy(&setup.stderr)
    );
}

/// Prometheus on loopback, scraping `target` every second, with its data in `dir`.
fn start_prometheus(dir: &Path, target: SocketAddr) -> (common::process::Stopped, SocketAddr) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: wsbench\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let prometheus = common::process::Stopped(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(get(addr, "/-/ready"), Ok((200, _))) {
        assert!(
            Instant::now() < deadline,
            "prometheus not ready within 30 s:\n{}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Static targets are taken up a few seconds after start: wait for ours, so no second of
    // the run goes unscraped.
    while !matches!(get(addr, "/api/v1/targets"), Ok((200, body)) if body.contains(&target.to_string()))
    {
        assert!(
            Instant::now() < deadline,
            "prometheus never took up {target}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (prometheus, addr)
}

/// Every transport's value of `counter` as Prometheus stored it: the largest it scraped (the
/// series went stale when the run ended, so an instant query at "now" finds nothing).
fn stored(prometheus: SocketAddr, counter: &str) -> BTreeMap<String, u64> {
    let query = encode(&format!("max_over_time({counter}[10m])"));
    let (status, body) = get(prometheus, &format!("/api/v1/query?query={query}")).unwrap();
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    answer["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let transport = r["metric"]["transport"].as_str().unwrap().to_string();
            let value: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
            (transport, value as u64)
        })
        .collect()
}

/// Every transport's `column` of `rows`.
fn column(rows: &[Summary], column: &str) -> BTreeMap<String, u64> {
    rows.iter()
        .map(|r| {
            let v = match column {
                "deliveries" => r.deliveries,
                "messages_published" => r.messages_published,
                "lost" => r.lost,
                other => panic!("no column {other}"),
            };
            (r.transport.clone(), v)
        })
        .collect()
}

/// The samples of `file` as the reference parser reads them: (name, transport label) → value.
fn parse_with_reference(file: &Path) -> BTreeMap<(String, String), f64> {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/prometheus");
    let out = common::process::run_bounded(
        Command::new(scripts.join(".venv/bin/python"))
            .arg(scripts.join("parse.py"))
            .arg(file),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "{} does not parse:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|s| s["labels"]["phase"].is_null() && s["labels"]["kind"].is_null())
        .filter(|s| s["labels"]["side"].is_null())
        .map(|s| {
            let key = (
                s["name"].as_str().unwrap().to_string(),
                s["labels"]["transport"].as_str().unwrap_or("").to_string(),
            );
            (key, s["value"].as_f64().unwrap())
        })
        .collect()
}

#[test]
fn prometheus_stores_the_totals_of_summary_csv() {
    setup();
    let dir = tempfile::tempdir().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let (_prometheus, prometheus) = start_prometheus(dir.path(), metrics);

    // One scrape of our own while the run goes, the first with deliveries (parsed below); then
    // this stops, so the scrape the end of the run waits for is Prometheus's.
    let running = Arc::new(AtomicBool::new(true));
    let mid_run = Arc::new(Mutex::new(None::<String>));
    let poller = {
        let (running, mid_run) = (running.clone(), mid_run.clone());
        std::thread::spawn(move || {
            while running.load(Ordering::Relaxed) {
                if let Ok((200, text)) = get(metrics, "/metrics") {
                    if text.contains("wsbench_deliveries_total{transport=\"ws\"} ")
                        && !text.contains("wsbench_deliveries_total{transport=\"ws\"} 0\n")
                    {
                        *mid_run.lock().unwrap() = Some(text);
                        return;
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let out: PathBuf = dir.path().join("results");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tiny.toml");
    let run = common::process::run_bounded(
        Command::new(common::wsbench_bin())
            .arg("run")
            .arg(&scenario)
            .args(["--transports", "ws,sse", "--quiet"])
            .arg(format!("--metrics={metrics}"))
            .args(["--metrics-linger", "10s", "--out"])
            .arg(&out),
        Duration::from_secs(120),
    );
    running.store(false, Ordering::Relaxed);
    poller.join().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("metrics: http://{metrics}/metrics")),
        "{stderr}"
    );
    let rows: Vec<Summary> = csv::Reader::from_path(out.join("summary.csv"))
        .unwrap()
        .deserialize()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.deliveries > 0), "{rows:?}");

    for (counter, col) in COUNTERS {
        assert_eq!(
            stored(prometheus, counter),
            column(&rows, col),
            "{counter} in Prometheus vs summary.csv's {col}"
        );
    }

    let file = parse_with_reference(&out.join("metrics.prom"));
    for (counter, col) in COUNTERS {
        let parsed: BTreeMap<String, u64> = file
            .iter()
            .filter(|((name, _), _)| name == counter)
            .map(|((_, t), v)| (t.clone(), *v as u64))
            .collect();
        assert_eq!(parsed, column(&rows, col), "metrics.prom's {counter}");
    }
    let text = mid_run
        .lock()
        .unwrap()
        .clone()
        .expect("a scrape during the run saw deliveries");
    let scraped = dir.path().join("scrape.txt");
    std::fs::write(&scraped, text).unwrap();
    let parsed = parse_with_reference(&scraped);
    assert!(
        parsed.contains_key(&("wsbench_connections".to_string(), "ws".to_string())),
        "{parsed:?}"
    );
}
