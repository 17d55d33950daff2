//! What a newcomer meets first: every shipped scenario passes `wsbench check`, the errors they
//! are likely to hit say what to do, and the product's text (docs, scripts, scenarios, sources,
//! the READMEs) speaks of the product only — no issue or session numbers, no agents or helpers
//! of whoever built it, no "this machine" as if the reader shared it.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn wsbench(args: &[&str]) -> std::process::Output {
    Command::new(common::wsbench_bin())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn shipped_scenarios() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_scenario_passes_check_with_a_plan_per_run() {
    let files = shipped_scenarios();
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let output = wsbench(&["check", file.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {stderr}", file.display());
        assert!(stdout.contains(": ok, "), "{stdout}");
        for field in [
            "connections",
            "processes",
            "expected deliveries",
            "open files",
        ] {
            assert!(
                stdout.contains(field),
                "{}: no {field}\n{stdout}",
                file.display()
            );
        }
    }
}

#[test]
fn check_prints_tiny_toml_plan_exactly() {
    // 50 subscribers, 5 publishers at 50 msg/s for 2 s: 100 messages, each to all 50.
    let output = wsbench(&["check", "scenarios/tiny.toml", "--transports", "ws,sse"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let block = |label: &str| {
        let start = stdout.find(&format!("\n{label}:\n")).unwrap();
        stdout[start + 1..]
            .lines()
            .skip(1)
            .take(7)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let ws = block("ws");
    assert!(ws.contains("connections          50\n"), "{ws}");
    assert!(ws.contains("messages             100\n"), "{ws}");
    assert!(ws.contains("expected deliveries  5,000\n"), "{ws}");
    assert!(
        ws.contains("processes            2 (1 built-in server)"),
        "{ws}"
    );
    // Files as `run` reserves them: every subscriber and publisher, and 64 spare.
    assert!(ws.contains("open files           119 per process"), "{ws}");
    // An HTTP publisher POSTs on a connection of its own.
    assert!(
        block("sse").contains("connections          55\n"),
        "{stdout}"
    );
    assert!(!stdout.contains("longpoll"), "{stdout}");

    // A transport the file has no table for runs with the table's defaults, and says so.
    let output = wsbench(&["check", "scenarios/tiny.toml", "--transports", "ws,raw"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("\nws:\n"), "{stdout}");
    assert!(
        stdout.contains("\nraw: (not in the file: its table's defaults)\n"),
        "{stdout}"
    );
}

#[test]
fn check_refuses_like_run_with_exit_code_2() {
    let output = wsbench(&["check", "scenarios/tiny.toml", "--rate", "-5"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "error: --rate: [publish] rate must be > 0 (got -5)"
    );
    let output = wsbench(&["check", "scenarios/tiny.toml", "--subscribers", "-5"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--subscribers: [clients] subscribers"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_file_without_transports_is_told_which_tables_exist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("first.toml");
    std::fs::write(
        &path,
        "duration = \"1s\"\n[clients]\nsubscribers = 2\n[publish]\nrate = 1\n",
    )
    .unwrap();
    let output = wsbench(&["check", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "no transport to run: add a `[transports.ws]` table (one per transport to run; these \
             exist: ws, longpoll, shortpoll, sse, raw), or a [target] socketio or nchan"
        ),
        "{stderr}"
    );
}

#[test]
fn every_transport_failing_prints_a_sentence_not_an_empty_table() {
    // A loopback port nobody listens on: every connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dead.toml");
    std::fs::write(
        &path,
        format!(
            "duration = \"1s\"\n[clients]\nsubscribers = 2\n[publish]\nrate = 1\n\
             [transports.ws]\n[target]\nws = \"ws://127.0.0.1:{port}/ws\"\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let output = wsbench(&[
        "run",
        path.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("no results: every transport run failed"),
        "{stdout}"
    );
    assert!(
        !stdout.contains('┌') && !stdout.contains("deliveries (of"),
        "{stdout}"
    );
}

#[test]
fn serve_refuses_a_bad_backplane_before_printing_an_address() {
    for url in ["redis://host:6379", "redis://192.0.2.1:6379"] {
        let output = wsbench(&["serve", "--transport", "ws", "--backplane", url]);
        assert_eq!(output.status.code(), Some(2), "{url}");
        assert!(output.stdout.is_empty(), "{url}: printed an address first");
        assert!(String::from_utf8_lossy(&output.stderr).contains(url));
    }
}

#[test]
fn capacity_takes_the_same_quiet_flag_as_run() {
    // A bad axis ends the search before any step: the flags themselves were accepted.
    let output = wsbench(&[
        "capacity",
        "scenarios/saturated.toml",
        "--p99",
        "50ms",
        "--by",
        "rate",
        "--quiet",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--by rate"), "{stderr}");
}

/// The trees whose text is the product's.
const TREES: &[&str] = &[
    "docs",
    "scripts",
    "scenarios",
    "src",
    "README.md",
    "results/README.md",
];

/// Words of whoever built the product, with the line they are on: issue and session numbers,
/// agents and helpers (a "helper program" is ours: redis-server, HAProxy), and a machine the
/// reader is assumed to share.
fn workshop_words(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let lower = line.to_lowercase();
        let hit = numbered(&lower, "issue")
            || numbered(&lower, "session")
            || words(&lower, "agent").next().is_some()
            || words(&lower, "helper").any(|rest| !rest.starts_with(" program"))
            || lower.contains("this machine")
            || lower.contains("the machine here");
        if hit {
            found.push(line.trim().to_owned());
        }
    }
    found
}

/// Whether `word` (or its plural) is followed by a number: `issue 14`, `session-6`, `issue #3`.
fn numbered(line: &str, word: &str) -> bool {
    words(line, word).any(|rest| {
        let rest = rest.trim_start_matches(['s', '\'']);
        rest.trim_start_matches([' ', '#', '-'])
            .starts_with(|c: char| c.is_ascii_digit())
            && rest.starts_with([' ', '#', '-'])
    })
}

/// What follows each whole-word `word` (plural and possessive allowed) in `line`.
fn words<'a>(line: &'a str, word: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    line.match_indices(word).filter_map(move |(at, _)| {
        let before = line[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return None;
        }
        let rest = &line[at + word.len()..];
        let tail = rest.trim_start_matches(['s', '\'']);
        let after = tail.chars().next();
        (!after.is_some_and(|c| c.is_alphanumeric() || c == '_')).then_some(tail)
    })
}

fn text_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        // Installed packages are not ours: npm's, and a Python virtualenv's.
        if path
            .file_name()
            .is_some_and(|n| n == "node_modules" || n == ".venv")
        {
            return;
        }
        for entry in std::fs::read_dir(path).unwrap() {
            text_files(&entry.unwrap().path(), out);
        }
    } else {
        out.push(path.to_path_buf());
    }
}

#[test]
fn the_workshop_words_are_recognised() {
    let planted = [
        "the sharded runs of issue 14",
        "since session 6's run",
        "Session-7 measured",
        "while another agent's tests ran",
        "the last helper ran it",
        "On this machine it takes 3 µs",
        "as on the machine here",
        "see issues #12",
    ];
    for line in planted {
        assert_eq!(workshop_words(line), vec![line.to_owned()], "{line}");
    }
    let fine = [
        "a helper program (redis-server, HAProxy)",
        "the sessions of a user agentless client",
        "an issue with the ring",
        "tissue 5",
        "sessionId 3",
    ];
    for line in fine {
        assert!(workshop_words(line).is_empty(), "{line}");
    }
}

#[test]
fn the_product_speaks_of_the_product_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for tree in TREES {
        text_files(&root.join(tree), &mut files);
    }
    assert!(files.len() > 100, "{} files", files.len());
    let mut offences = Vec::new();
    for file in files {
        // Images and other binary files have no words.
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for line in workshop_words(&text) {
            let name = file.strip_prefix(root).unwrap_or(&file).display();
            offences.push(format!("{name}: {line}"));
        }
    }
    assert!(
        offences.is_empty(),
        "the workshop's words in the product:\n{}",
        offences.join("\n")
    );
}
