//! The binary as a user runs it: `wsbench run` on a tiny scenario writes every result file with
//! the documented columns; bad input exits with code 2 and names the file, line and field.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::process::Command;

fn wsbench(args: &[&str]) -> std::process::Output {
    Command::new(common::wsbench_bin())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn run_writes_every_result_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny");
    let output = wsbench(&[
        "run",
        "scenarios/tiny.toml",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--subscribers",
        "20",
        "--publishers",
        "2",
        "--duration",
        "1s",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        ["ws", "longpoll", "shortpoll", "sse"]
            .iter()
            .all(|t| stdout.contains(t)),
        "{stdout}"
    );
    for file in [
        "summary.csv",
        "latency.csv",
        "run.json",
        "scenario.toml",
        "ws.hlog",
        "longpoll.hlog",
        "shortpoll.hlog",
        "sse.hlog",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }

    let mut summary = csv::Reader::from_path(out.join("summary.csv")).unwrap();
    let rows: Vec<wsbench::report::Summary> = summary.deserialize().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        // 50 msg/s for 1 s to 20 subscribers.
        assert_eq!(row.subscribers, 20);
        assert_eq!(row.messages_published, 50);
        assert_eq!(row.deliveries_expected, 1000);
        assert_eq!(row.deliveries, 1000, "{}", row.transport);
        assert_eq!(row.lost, 0);
        assert!(row.complete);
        // The generator watched itself: present and in range, whatever the machine's speed.
        let util = row.client_cpu_util.unwrap();
        assert!(util > 0.0 && util <= 1.0, "{}: {util}", row.transport);
        assert!(row.client_lag_p99_us.unwrap() > 0, "{}", row.transport);
        assert!(row.client_lag_max_us >= row.client_lag_p99_us);
        assert!(row.client_rss_per_connection_kib.unwrap() > 0.0);
        assert!(row.server_rss_per_connection_kib.unwrap() > 0.0);
    }

    let resolved = std::fs::read_to_string(out.join("scenario.toml")).unwrap();
    let reparsed =
        wsbench::scenario::parse(std::path::Path::new("scenario.toml"), &resolved).unwrap();
    assert_eq!(reparsed.clients.subscribers, 20);
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["complete"], true);
}

#[test]
fn tls_and_h2_variants_run_as_labelled_transports() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("v.toml");
    std::fs::write(
        &scenario,
        "duration = \"1s\"\ndrain = \"10s\"\n[clients]\nsubscribers = 10\n[publish]\n\
         publishers = 2\nrate = 20\n[transports.ws]\ntls = true\n[transports.sse]\n\
         http2 = [false, true]\ntls = [false, true]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let output = wsbench(&[
        "run",
        scenario.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    let read_rows = || {
        let mut summary = csv::Reader::from_path(out.join("summary.csv")).unwrap();
        summary
            .deserialize()
            .map(Result::unwrap)
            .collect::<Vec<wsbench::report::Summary>>()
    };
    let rows = read_rows();
    let labels: Vec<&str> = rows.iter().map(|r| r.transport.as_str()).collect();
    assert_eq!(labels, ["ws-tls", "sse", "sse-h2", "sse-tls", "sse-h2-tls"]);
    for row in &rows {
        assert_eq!((row.deliveries, row.lost), (200, 0), "{}", row.transport);
        let tls = row.transport.ends_with("-tls");
        let overhead = row.tls_overhead_bytes_per_delivery.unwrap();
        assert_eq!(overhead > 0.0, tls, "{}: {overhead}", row.transport);
        assert_eq!(overhead == 0.0, !tls, "{}: {overhead}", row.transport);
        assert_eq!(
            row.tls_handshake_mean_us.is_some(),
            tls,
            "{}",
            row.transport
        );
        assert!(
            out.join(format!("{}.hlog", row.transport)).is_file(),
            "{}",
            row.transport
        );
    }
    // The stored metrics keep the TLS figures: a re-rendered summary is the same.
    let before = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let output = wsbench(&["report", out.to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("summary.csv")).unwrap(),
        before
    );
}

#[test]
fn a_bad_scenario_exits_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "duration = \"2s\"\n[clients]\nsubscribers = 0\n[publish]\nrate = 1\n[transports.ws]\n",
    )
    .unwrap();
    let output = wsbench(&["run", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.toml:3"), "{stderr}");
    assert!(stderr.contains("subscribers"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_missing_scenario_file_is_a_clear_error() {
    let output = wsbench(&["run", "scenarios/does-not-exist.toml"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does-not-exist.toml"), "{stderr}");
}

#[test]
fn serve_prints_its_address_first() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(common::wsbench_bin())
        .args(["serve", "--transport", "longpoll", "--exit-on-stdin-eof"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: std::net::SocketAddr = line.trim().parse().unwrap();
    assert!(addr.ip().is_loopback());
    // Closing stdin is how `wsbench run` makes sure a server never outlives it.
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
}

#[test]
fn an_interrupted_run_still_writes_partial_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("partial");
    let mut child = Command::new(common::wsbench_bin())
        .args([
            "run",
            "scenarios/tiny.toml",
            "--duration",
            "60s",
            "--transports",
            "ws,longpoll",
        ])
        .args(["--out", out.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (rest, code) = common::interrupt_when_measuring(&mut child, || {});
    assert_eq!(code, Some(130), "{rest}");
    assert!(rest.contains("partial results"), "{rest}");

    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["complete"], false);
    let mut summary = csv::Reader::from_path(out.join("summary.csv")).unwrap();
    let rows: Vec<wsbench::report::Summary> = summary.deserialize().map(Result::unwrap).collect();
    // The interrupted transport is reported as partial; the next one never started.
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].transport, "ws");
    assert!(!rows[0].complete);
    // Only the slots of the part that was measured were due (60 s at 50 msg/s were asked for).
    assert!(
        rows[0].messages_scheduled < 50 * 60,
        "{}",
        rows[0].messages_scheduled
    );
}

#[test]
fn thresholds_pass_and_fail_and_set_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("gate.toml");
    let base = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tiny.toml"),
    )
    .unwrap();
    let run = |thresholds: &str| {
        std::fs::write(&scenario, format!("{base}\n{thresholds}")).unwrap();
        wsbench(&[
            "run",
            scenario.to_str().unwrap(),
            "--quiet",
            "--transports",
            "ws",
            "--subscribers",
            "10",
            "--duration",
            "1s",
            "--out",
            dir.path().join("out").to_str().unwrap(),
        ])
    };
    // Exact counts hold whatever the machine's speed.
    let ok = run("[thresholds]\nlost = 0\nduplicated = 0\n");
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{stdout}");
    assert!(
        stdout.contains("ok   ws         lost = 0 (limit lost <= 0)"),
        "{stdout}"
    );

    let failed = run("[thresholds]\nlost = 0\n[thresholds.ws]\ndeliveries = \">= 1000000\"\n");
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert_eq!(failed.status.code(), Some(99), "{stdout}");
    assert!(
        stdout.contains("FAIL ws         deliveries = 500"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&failed.stderr).contains("1 threshold(s) failed"));
    // The results were written all the same.
    assert!(dir.path().join("out/summary.csv").is_file());
}

/// Runs `wsbench args` with a hard open-file limit of at most 20,000 (lowering a limit needs no
/// privilege) and without CAP_SYS_RESOURCE, so that the refusal path runs wherever the tests do.
/// As root, `setpriv` drops the capability from the bounding and inheritable sets before the
/// exec, so the binary neither holds it nor gains it back (a capability-holding test process
/// would otherwise raise the limit and really open its connections).
fn wsbench_under_20k_files(args: &[&str]) -> std::process::Output {
    let script = "h=$(ulimit -Hn); if [ \"$h\" = unlimited ] || [ \"$h\" -gt 20000 ]; then \
                  ulimit -Sn 1024 && ulimit -Hn 20000 || exit 111; fi; \
                  e=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status); \
                  [ $(( 0x$e >> 24 & 1 )) -eq 0 ] || exit 112; exec \"$@\"";
    let holds = wsbench::os::may_raise_hard_limit();
    // `/proc/self` belongs to the process's effective user.
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0;
    eprintln!(
        "CAP_SYS_RESOURCE held by the test: {holds}; root: {root}; wsbench runs without it{}",
        if root { " (dropped by setpriv)" } else { "" }
    );
    let mut command = if root {
        let mut setpriv = Command::new("setpriv");
        setpriv.args([
            "--bounding-set=-sys_resource",
            "--inh-caps=-sys_resource",
            "--",
            "sh",
        ]);
        setpriv
    } else {
        Command::new("sh")
    };
    let output = command
        .args(["-c", script, "sh", common::wsbench_bin()])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_ne!(output.status.code(), Some(111), "could not lower the limit");
    assert_ne!(
        output.status.code(),
        Some(112),
        "CAP_SYS_RESOURCE is still held"
    );
    output
}

#[test]
fn more_clients_than_the_machine_allows_are_refused_with_how_to_raise_the_limit() {
    let output =
        wsbench_under_20k_files(&["run", "scenarios/tiny.toml", "--subscribers", "1000000"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ulimit -Hn"), "{stderr}");
}

#[test]
fn past_the_hard_file_limit_the_run_is_refused_before_any_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("refused");
    // 25,000 subscribers + 5 publishers + 64 spare = 25,069 descriptors, over 20,000: past one
    // generator process, and past what one built-in server may hold.
    let output = wsbench_under_20k_files(&[
        "run",
        "scenarios/tiny.toml",
        "--subscribers",
        "25000",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // The clients would spread over 2 generator processes by themselves; the server cannot.
    for hint in [
        "25005 connections need 2 generator processes",
        "[transports.ws] instances = 2",
        "CAP_SYS_RESOURCE",
        "ulimit -Hn 25069",
        "LimitNOFILE=25069",
    ] {
        assert!(stderr.contains(hint), "{hint}: {stderr}");
    }
    assert!(!out.exists(), "nothing ran, so nothing was written");
}

#[test]
fn the_server_child_takes_the_whole_hard_limit_it_inherits() {
    use std::io::{BufRead, BufReader};
    let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap()
        .1;
    let mut child = Command::new(common::wsbench_bin())
        .args(["serve", "--transport", "ws", "--exit-on-stdin-eof"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once it has printed its address it has set its limits.
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let files: Vec<u64> = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .unwrap()
        .split_whitespace()
        .take(2)
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(files, [hard, hard], "{limits}");
}
