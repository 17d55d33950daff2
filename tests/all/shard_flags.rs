//! The flags of a sharded run as a user types them: bad `--shard` and `--start-at` values and
//! broken rules exit with code 2 and say why; `--allow-remote` is parsed, and without it a remote
//! target is refused before anything is sent.
//!
//! No test sends anything off loopback: the remote address below (192.0.2.0/24, reserved for
//! documentation) is only ever parsed or refused.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

use clap::Parser;
use wsbench::cli::{Cli, Command as Sub};
use wsbench::protocol::TransportKind;

const LOAD: &str =
    "duration = \"1s\"\n[clients]\nsubscribers = 6\n[publish]\npublishers = 3\nrate = 30\n";

fn wsbench(args: &[&str]) -> Output {
    Command::new(common::wsbench_bin())
        .args(args)
        .output()
        .unwrap()
}

fn scenario_file(dir: &Path, text: &str) -> String {
    let path = dir.join("s.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Exit code 2 and a stderr that contains `want`.
fn bad_input(output: &Output, want: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(want), "wanted {want:?} in: {stderr}");
}

#[test]
fn bad_shard_values_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario_file(
        tmp.path(),
        &format!("{LOAD}[transports.ws]\n[target]\nws = \"ws://127.0.0.1:9/\"\n"),
    );
    let at = ["--start-at", "2030-01-01T00:00:00Z"];
    bad_input(
        &wsbench(&["run", &s, "--shard", "3/2", at[0], at[1]]),
        "below the shard count",
    );
    bad_input(&wsbench(&["run", &s, "--shard", "one/3"]), "is not I/N");
    bad_input(
        &wsbench(&["run", &s, "--shard", "0/2", "--start-at", "soon"]),
        "RFC 3339",
    );
    bad_input(
        &wsbench(&["run", &s, "--shard", "0/2"]),
        "--shard needs --start-at",
    );
    bad_input(
        &wsbench(&["run", &s, "--shard", "0/7", at[0], at[1]]),
        "6 subscribers cannot be cut into 7 shards",
    );
    // Several transports: one start lines up one transport.
    let several = scenario_file(
        tmp.path(),
        &format!(
            "{LOAD}[transports.ws]\n[transports.sse]\n[target]\nws = \"ws://127.0.0.1:9/\"\n\
             sse = \"http://127.0.0.1:9/events\"\n"
        ),
    );
    bad_input(
        &wsbench(&["run", &several, "--shard", "0/2", at[0], at[1]]),
        "one transport at a time, but this run has ws, sse",
    );
    // A built-in server per shard would not be one run.
    let built_in = scenario_file(tmp.path(), &format!("{LOAD}[transports.ws]\n"));
    bad_input(
        &wsbench(&["run", &built_in, "--shard", "0/2", at[0], at[1]]),
        "--shard needs one server that every shard loads: set [target] ws",
    );
}

#[test]
fn a_remote_target_is_refused_without_allow_remote() {
    let tmp = tempfile::tempdir().unwrap();
    let s = scenario_file(
        tmp.path(),
        &format!("{LOAD}[transports.ws]\n[target]\nws = \"ws://192.0.2.7:8080/ws\"\n"),
    );
    let out = tmp.path().join("never");
    let output = wsbench(&["run", &s, "--quiet", "--out", out.to_str().unwrap()]);
    // Refused while reading the scenario: before any socket, server or results directory.
    bad_input(
        &output,
        "[target] ws: \"ws://192.0.2.7:8080/ws\": only loopback targets are allowed",
    );
    assert!(!out.exists());
}

#[test]
fn allow_remote_is_parsed_and_explained() {
    let cli = Cli::try_parse_from([
        "wsbench",
        "run",
        "s.toml",
        "--allow-remote",
        "--shard",
        "2/3",
        "--start-at",
        "@/results/start",
    ])
    .unwrap();
    let Sub::Run(args) = cli.command else {
        panic!("not a run")
    };
    assert!(args.allow_remote);
    assert_eq!(args.shard.map(|s| (s.index, s.count)), Some((2, 3)));
    let plain = Cli::try_parse_from(["wsbench", "run", "s.toml"]).unwrap();
    let Sub::Run(plain) = plain.command else {
        panic!("not a run")
    };
    assert!(!plain.allow_remote);

    // With the flag the scenario loader accepts the address, marked as allowed; nothing connects.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("remote.toml");
    std::fs::write(
        &path,
        format!("{LOAD}[transports.ws]\n[target]\nws = \"ws://192.0.2.7:8080/ws\"\n"),
    )
    .unwrap();
    let s = wsbench::scenario::load_with(&path, &remote()).unwrap();
    let e = s.targets.endpoint(TransportKind::Ws).unwrap();
    assert_eq!(e.addr, "192.0.2.7:8080".parse().unwrap());
    assert!(e.remote_allowed);
    assert!(wsbench::scenario::load(&path).is_err());
    // The way back keeps the permission: the scenario as run validates again with other flags.
    let again = s
        .with_overrides(&wsbench::scenario::Overrides {
            rate: Some(7.0),
            ..Default::default()
        })
        .unwrap();
    assert!(
        again
            .targets
            .endpoint(TransportKind::Ws)
            .unwrap()
            .remote_allowed
    );

    let help = wsbench(&["run", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--allow-remote") && text.contains("Service address"),
        "{text}"
    );
}

/// `--start-at` alone (no shards) holds publishing until that time; a start already past, by
/// more than the warmup can absorb, is refused after the ramp-up.
#[test]
fn start_at_holds_publishing_until_the_time() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tiny.toml");
    let common = [
        "run",
        scenario.to_str().unwrap(),
        "--quiet",
        "--transports",
        "ws",
        "--subscribers",
        "5",
        "--publishers",
        "1",
        "--duration",
        "1s",
    ];

    // A start long past: refused once the ramp-up is done. How long that took (process start,
    // built-in server, ramp-up) sets the lead of the held run below.
    let mut late = common.to_vec();
    let past = tmp.path().join("past");
    late.extend([
        "--out",
        past.to_str().unwrap(),
        "--start-at",
        "2020-01-01T00:00:00Z",
    ]);
    let started = std::time::Instant::now();
    let output = wsbench(&late);
    let ramp_up = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("after the common start"), "{stderr}");

    // Held: the start is three times that (at least 2 s) ahead, so the ramp-up is over well
    // before it, however loaded the machine.
    let lead = (3 * ramp_up).max(std::time::Duration::from_secs(2));
    let out = tmp.path().join("held");
    // The start as the flag carries it (to the millisecond), and as wsbench reads it.
    let start = humantime::format_rfc3339_millis(std::time::SystemTime::now() + lead).to_string();
    let at = humantime::parse_rfc3339(&start).unwrap();
    let mut args = common.to_vec();
    args.extend(["--out", out.to_str().unwrap(), "--start-at", &start]);
    let output = wsbench(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let m = wsbench::report::stored::load_metrics(&out)
        .unwrap()
        .remove(0);
    // No warmup: the measured phase began at the start, on the same clock: not before it (the
    // timer may round up by a millisecond, never down by more), and not a lead later.
    let began = std::time::UNIX_EPOCH + m.timeseries.start_unix;
    let early = at.duration_since(began).unwrap_or_default();
    assert!(
        early <= std::time::Duration::from_millis(1),
        "began {early:?} early"
    );
    let late_by = began.duration_since(at).unwrap_or_default();
    assert!(
        late_by < lead,
        "began {late_by:?} after the start, lead {lead:?}"
    );
    assert_eq!(m.clients.counts.delivery.delivered, 50 * 5);
}

/// The overrides `--allow-remote` gives.
fn remote() -> wsbench::scenario::Overrides {
    wsbench::scenario::Overrides {
        allow_remote: true,
        ..Default::default()
    }
}
