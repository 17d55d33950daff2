//! The chat page in a real browser: Debian's headless Chromium, driven by Playwright
//! (`scripts/browser/chat-test.mjs`), opens three pages on one `wsbench serve --transport all`
//! guarded by a token, on WebSocket, long-poll and SSE, sends from each, switches each to
//! another transport and sends again; every page must show every message in the same order with
//! its text intact, count bytes, and log no error. On WebSocket the browser and the built-in
//! server agree permessage-deflate (the browser's offer: context takeover, so the server
//! compresses per connection), and every message still arrives.
//!
//! Over TLS the browser loads the page over HTTP/2 (ALPN h2), and since the server's SETTINGS
//! offer the extended CONNECT, it opens the page's WebSocket as a stream of that same connection
//! (RFC 8441): each of the three people costs the server exactly one accepted connection, for
//! the page, its polls, its event stream and its WebSocket together. Without the offer it was 5.
//!
//! `scripts/browser/setup.sh` installs what is missing first (chromium with apt-get, the pinned
//! playwright-core with npm ci), so a plain `cargo test` on a clean clone runs it; everything
//! the browser loads comes from the server on 127.0.0.1.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `chat-test.mjs` against a fresh `wsbench serve --transport all` given `extra` flags;
/// returns the server's `--stats` line once it stopped.
fn chat_test(extra: &[&str]) -> serde_json::Value {
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

    let mut child = Command::new(common::wsbench_bin())
        .args(["serve", "--transport", "all", "--token", "t0k/en"])
        .args(["--stats", "--exit-on-stdin-eof"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let served = common::process::Stopped(child);
    let (mut addr, mut url) = (String::new(), String::new());
    stdout.read_line(&mut addr).unwrap();
    stdout.read_line(&mut url).unwrap();
    let scheme = if extra.is_empty() { "http" } else { "https" };
    assert!(url.starts_with(&format!("{scheme}://127.0.0.1:")), "{url}");

    let start = Instant::now();
    let test = common::process::run_bounded(
        Command::new("node")
            .arg(scripts.join("chat-test.mjs"))
            .arg(url.trim()),
        Duration::from_secs(120),
    );
    let (out, err) = (
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr),
    );
    eprintln!("chat-test.mjs ({:.1?}):\n{out}{err}", start.elapsed());
    assert!(
        test.status.success(),
        "the page failed in the browser:\n{err}"
    );
    assert!(out.trim_end().ends_with("chat-test: ok"), "{out}");

    // Its stdin closed, the server stops and prints what it counted.
    drop(stdin);
    let mut stats = String::new();
    stdout.read_line(&mut stats).unwrap();
    drop(served);
    serde_json::from_str(&stats).unwrap()
}

#[test]
fn every_page_sees_every_message_over_every_transport() {
    chat_test(&[]);
}

#[test]
fn over_tls_each_page_and_its_websocket_share_one_http2_connection() {
    let dir = tempfile::tempdir().unwrap();
    let files = wsbench::tls::SelfSigned::generate()
        .unwrap()
        .write(dir.path())
        .unwrap();
    let stats = chat_test(&[
        "--tls-cert",
        files.cert.to_str().unwrap(),
        "--tls-key",
        files.key.to_str().unwrap(),
    ]);
    // Three browser contexts (three connection pools), one connection each.
    assert_eq!(stats["accepted"], 3, "{stats}");
}
