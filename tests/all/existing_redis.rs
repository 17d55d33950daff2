//! `[backplane] redis`: `wsbench run` puts the instances of every transport run on an existing
//! Redis instead of starting one. Each transport run keeps to its own keys (another run's log in
//! the same Redis is neither read nor touched), delivers everything, and deletes its keys at the
//! end — also when interrupted. The "existing" Redis is one each test starts itself on a free
//! loopback port; nothing here reaches any other address.
//!
//! `scripts/backplane/setup.sh` installs redis-server first (apt-get) when missing; a test that
//! still cannot find it fails, naming the script.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::backplane::{Redis, instance_tables, run as run_scenario, small_load};
use wsbench::metrics::TransportMetrics;
use wsbench::report::Summary;

/// A small run of `transports` (each `instances = 2`) on the Redis at `url`, plus `backplane`
/// keys.
fn scenario(duration: &str, transports: &[&str], url: &str, backplane: &str) -> String {
    small_load(duration, "")
        + &format!("[backplane]\nredis = \"{url}\"\n{backplane}\n")
        + &instance_tables(transports, 2, None)
}

/// Another user's log in the same Redis, under the key names `wsbench serve` uses by default:
/// five entries numbered 1 to 5, and its counter at 5. A run that read it would deliver them.
fn foreign_log(redis: &Redis) -> Vec<String> {
    let mut conn = redis.connection();
    for seq in 1..=5 {
        let _: String = redis::cmd("XADD")
            .arg("wsbench:room:0")
            .arg(format!("{seq}-0"))
            .arg(&["t", "1", "x", "0", "d", "not yours"])
            .query(&mut conn)
            .unwrap();
    }
    let _: () = redis::cmd("SET")
        .arg("wsbench:room:0:seq")
        .arg(5)
        .query(&mut conn)
        .unwrap();
    redis.keys()
}

/// The run's keys are gone and the foreign log is as it was (`before`): five entries, counter 5.
fn only_the_foreign_log_left(redis: &Redis, before: &[String]) {
    assert_eq!(redis.keys(), before);
    let mut conn = redis.connection();
    let len: u64 = redis::cmd("XLEN")
        .arg("wsbench:room:0")
        .query(&mut conn)
        .unwrap();
    let seq: u64 = redis::cmd("GET")
        .arg("wsbench:room:0:seq")
        .query(&mut conn)
        .unwrap();
    assert_eq!((len, seq), (5, 5));
}

/// Every transport exact, its two instances on the existing Redis and reading only its own log.
fn check_exact(rows: &[Summary], metrics: &[TransportMetrics], transports: &[&str]) {
    let names: Vec<&str> = rows.iter().map(|r| r.transport.as_str()).collect();
    assert_eq!(names, transports);
    for (row, m) in rows.iter().zip(metrics) {
        let t = &row.transport;
        assert!(row.deliveries > 0, "{t}");
        assert_eq!(row.deliveries, row.deliveries_expected, "{t}");
        assert_eq!((row.lost, row.duplicated, row.misrouted), (0, 0, 0), "{t}");
        assert!(row.complete, "{t}");
        let group = m.instances.as_ref().unwrap();
        assert!(group.existing_redis, "{t}");
        let reports: Vec<_> = group.instances.iter().map(|i| i.report.unwrap()).collect();
        assert_eq!(reports.len(), 2, "{t}");
        let appended: u64 = reports.iter().map(|r| r.appended).sum();
        assert!(appended >= m.messages_published, "{t}: {reports:?}");
        // Each instance read exactly what this transport run's instances appended: no entry of
        // the foreign log, nor of the other transport's.
        for r in &reports {
            assert_eq!(r.ingested, appended, "{t}: {reports:?}");
        }
        assert!(group.redis_bytes_in > 0, "{t}");
    }
}

#[test]
fn a_run_on_an_existing_redis_delivers_everything_and_deletes_only_its_keys() {
    let redis = Redis::start();
    let before = foreign_log(&redis);
    let (stderr, rows, metrics) = run_scenario(&scenario("2s", &["ws"], &redis.url(), ""));
    check_exact(&rows, &metrics, &["ws"]);
    // Without redis_pid its CPU and memory are unknown, not 0.
    let group = metrics[0].instances.as_ref().unwrap();
    assert_eq!(group.redis, None);
    assert!(
        stderr.contains(&format!("on the existing Redis {}", redis.url()))
            && stderr.contains("not sampled"),
        "{stderr}"
    );
    only_the_foreign_log_left(&redis, &before);
}

#[test]
fn two_transports_of_one_run_share_an_existing_redis_each_exactly() {
    let redis = Redis::start();
    let before = foreign_log(&redis);
    let pid = format!("redis_pid = {}", redis.pid());
    let transports = ["ws", "longpoll"];
    let (_, rows, metrics) = run_scenario(&scenario("2s", &transports, &redis.url(), &pid));
    check_exact(&rows, &metrics, &transports);
    // Given its pid, the existing Redis is sampled like our own.
    for m in &metrics {
        let group = m.instances.as_ref().unwrap();
        assert!(group.redis.is_some_and(|u| u.peak_rss_kib > 0), "{group:?}");
    }
    only_the_foreign_log_left(&redis, &before);
}

#[test]
fn an_interrupted_run_deletes_its_keys_from_an_existing_redis() {
    let redis = Redis::start();
    let before = foreign_log(&redis);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.toml");
    std::fs::write(&file, scenario("60s", &["sse"], &redis.url(), "")).unwrap();
    let mut child = Command::new(common::wsbench_bin())
        .args(["run", file.to_str().unwrap(), "--out"])
        .arg(dir.path().join("out"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (rest, code) = common::interrupt_when_measuring(&mut child, || {
        // The run's log is in Redis (its stream and counter) before it is interrupted.
        let start = Instant::now();
        while redis.keys().len() < before.len() + 2 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{:?}",
                redis.keys()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let made: Vec<String> = redis
            .keys()
            .into_iter()
            .filter(|k| !before.contains(k))
            .collect();
        assert!(made.iter().all(|k| k.contains(":sse:room:")), "{made:?}");
    });
    assert_eq!(code, Some(130), "{rest}");
    only_the_foreign_log_left(&redis, &before);
}

#[test]
fn a_redis_that_does_not_answer_fails_the_transport_clearly() {
    let redis = Redis::start();
    let url = redis.url();
    drop(redis);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gone.toml");
    std::fs::write(&file, scenario("2s", &["ws"], &url, "")).unwrap();
    let out = Command::new(common::wsbench_bin())
        .args(["run", file.to_str().unwrap(), "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "[ws] failed: redis at {}",
            &url["redis://".len()..]
        )),
        "{stderr}"
    );
}
