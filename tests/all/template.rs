//! A server described by a template (`[target.template.NAME]`), against a small pub/sub server of
//! this test's own with a JSON protocol of its own: a subscriber sends `{"subscribe":"room-K"}`
//! after the handshake and hears nothing before; the server pings with `{"type":"ping"}` every
//! 100 ms and drops a subscriber that has not answered `{"type":"pong"}` within 300 ms; messages
//! go out as `{"channel":"room-K","data":{"text":"…"}}`, published by `POST /api/publish` with an
//! API key, or by a `{"publish":…}` frame; `GET /events?channel=room-K` is an event stream of the
//! same. Counts are exact: every message once, nothing lost, no reconnect (the heartbeat was
//! answered), and the server's own tally of pongs and publishes agrees.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "s3cret";

/// The test server's rooms and tallies.
#[derive(Default)]
struct Hub {
    rooms: Mutex<HashMap<String, Vec<mpsc::UnboundedSender<String>>>>,
    /// Every message of each channel, in order, for long-polls.
    history: Mutex<HashMap<String, Vec<String>>>,
    news: tokio::sync::Notify,
    pongs: AtomicU64,
    published: AtomicU64,
    refused: AtomicU64,
}

impl Hub {
    fn join(&self, channel: String) -> mpsc::UnboundedReceiver<String> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.rooms
            .lock()
            .unwrap()
            .entry(channel)
            .or_default()
            .push(tx);
        rx
    }

    /// Sends `text` (a JSON string's content) to everyone in `channel`.
    fn publish(&self, channel: &str, text: &str) {
        self.published.fetch_add(1, Ordering::SeqCst);
        let out = serde_json::json!({ "channel": channel, "data": { "text": text } }).to_string();
        if let Some(members) = self.rooms.lock().unwrap().get_mut(channel) {
            members.retain(|m| m.send(out.clone()).is_ok());
        }
        let mut history = self.history.lock().unwrap();
        history.entry(channel.to_string()).or_default().push(out);
        self.news.notify_waiters();
    }

    /// A `{"channel":…,"data":{"text":…}}` object, published.
    fn publish_json(&self, value: &serde_json::Value) -> bool {
        let channel = value["channel"].as_str();
        let text = value["data"]["text"].as_str();
        match (channel, text) {
            (Some(c), Some(t)) => {
                self.publish(c, t);
                true
            }
            _ => false,
        }
    }
}

/// Starts the server on a loopback port, on a runtime of its own; it lives until the test ends.
fn start() -> (SocketAddr, Arc<Hub>) {
    let hub = Arc::new(Hub::default());
    let (tx, rx) = std::sync::mpsc::channel();
    let served = hub.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let hub = served.clone();
                tokio::spawn(async move {
                    let mut first = [0u8; 4];
                    if stream.peek(&mut first).await.is_err() {
                        return;
                    }
                    let mut head = [0u8; 256];
                    let n = stream.peek(&mut head).await.unwrap_or(0);
                    if &first == b"POST" || head[..n].starts_with(b"GET /poll") {
                        http_requests(stream, &hub).await;
                    } else {
                        if head[..n].starts_with(b"GET /events") {
                            events(stream, &hub).await;
                        } else {
                            subscriber(stream, &hub).await;
                        }
                    }
                });
            }
        });
    });
    (rx.recv().unwrap(), hub)
}

/// A WebSocket subscriber: nothing until it subscribes; pinged every 100 ms, dropped when a
/// ping goes unanswered for 300 ms; a `{"publish":…}` frame is published.
async fn subscriber(stream: TcpStream, hub: &Hub) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut write, mut read) = ws.split();
    let mut inbox: Option<mpsc::UnboundedReceiver<String>> = None;
    let mut ping = tokio::time::interval(Duration::from_millis(100));
    let mut last_pong = tokio::time::Instant::now();
    loop {
        tokio::select! {
            frame = read.next() => {
                let Some(Ok(Message::Text(text))) = frame else { return };
                let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                if value["type"] == "pong" {
                    hub.pongs.fetch_add(1, Ordering::SeqCst);
                    last_pong = tokio::time::Instant::now();
                } else if let Some(channel) = value["subscribe"].as_str() {
                    inbox = Some(hub.join(channel.to_string()));
                } else if !hub.publish_json(&value["publish"]) {
                    hub.refused.fetch_add(1, Ordering::SeqCst);
                }
            }
            out = async { match inbox.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                let Some(out) = out else { return };
                if write.send(Message::text(out)).await.is_err() { return }
            }
            _ = ping.tick() => {
                if last_pong.elapsed() > Duration::from_millis(300) + Duration::from_millis(100) {
                    return;
                }
                if write.send(Message::text(r#"{"type":"ping"}"#)).await.is_err() { return }
            }
        }
    }
}

/// Reads requests on a keep-alive connection: `POST /api/publish` with the API key and a JSON
/// body is published and answered `200 {}` (anything else `400`/`401`); `GET
/// /poll?channel=C&since=N` answers the channel's messages from index `N` (empty: from now),
/// held up to 500 ms for one (`204` then), as `{"cursor":"<next>","messages":[…]}` with the next
/// cursor in `x-next` too.
async fn http_requests(mut stream: TcpStream, hub: &Hub) {
    let mut buf = Vec::new();
    loop {
        let end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..end + length).skip(end).collect();
        if head.starts_with("get ") {
            let answer = long_poll(&head, hub).await;
            if stream.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        let authorized = head.contains(&format!("\r\nx-api-key: {KEY}\r\n"))
            && head.contains("\r\ncontent-type: application/json\r\n");
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let status = if !authorized {
            "401 Unauthorized"
        } else if hub.publish_json(&value) {
            "200 OK"
        } else {
            "400 Bad Request"
        };
        if status != "200 OK" {
            hub.refused.fetch_add(1, Ordering::SeqCst);
        }
        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\n{{}}");
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// One long-poll's answer (head and body) for a request head (lower-cased).
async fn long_poll(head: &str, hub: &Hub) -> String {
    let target = head.split_whitespace().nth(1).unwrap_or_default();
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_default()
            .to_string()
    };
    let channel = param("channel");
    let len = || {
        hub.history
            .lock()
            .unwrap()
            .get(&channel)
            .map_or(0, Vec::len)
    };
    let since: usize = param("since").parse().unwrap_or_else(|_| len());
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    loop {
        let notified = hub.news.notified();
        let messages: Vec<String> = hub
            .history
            .lock()
            .unwrap()
            .get(&channel)
            .map(|h| h.iter().skip(since).cloned().collect())
            .unwrap_or_default();
        if !messages.is_empty() {
            let next = since + messages.len();
            let body = format!(
                "{{\"cursor\":\"{next}\",\"messages\":[{}]}}",
                messages.join(",")
            );
            return format!(
                "HTTP/1.1 200 OK\r\nx-next: {next}\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return format!("HTTP/1.1 204 No Content\r\nx-next: {since}\r\n\r\n");
        }
    }
}

/// `GET /events?channel=C`: an event stream (chunked) of the channel's messages.
async fn events(mut stream: TcpStream, hub: &Hub) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if stream.read_exact(&mut byte).await.is_err() {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let Some(channel) = head
        .split_whitespace()
        .nth(1)
        .and_then(|target| target.split_once("channel="))
        .map(|(_, c)| c.to_string())
    else {
        return;
    };
    let mut inbox = hub.join(channel);
    let start = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                 transfer-encoding: chunked\r\n\r\n";
    if stream.write_all(start.as_bytes()).await.is_err() {
        return;
    }
    while let Some(out) = inbox.recv().await {
        let event = format!("data: {out}\n\n");
        let chunk = format!("{:x}\r\n{event}\r\n", event.len());
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The scenario: 20 subscribers, 2 publishers at 40 msg/s for 1 s, `extra` tables, and the
/// template `target`.
fn scenario(extra: &str, target: &str) -> String {
    format!(
        "duration = \"1s\"\nwarmup = \"0s\"\n[clients]\nsubscribers = 20\n[publish]\n\
         publishers = 2\nrate = 40\n{extra}[target.template.hub]\n{target}"
    )
}

#[test]
fn websocket_subscribers_with_a_subscribe_frame_a_heartbeat_and_post_publishers_in_rooms() {
    let (addr, hub) = start();
    let target = format!(
        "subscribe = \"ws://{addr}/connection\"\n\
         send = ['{{\"subscribe\":\"room-{{room}}\"}}']\n\
         heartbeat = {{ frame = '{{\"type\":\"ping\"}}', answer = '{{\"type\":\"pong\"}}' }}\n\
         [target.template.hub.publish]\nurl = \"http://{addr}/api/publish\"\n\
         body = '{{\"channel\":\"room-{{room}}\",\"data\":{{\"text\":\"{{msg}}\"}}}}'\n\
         headers = {{ content-type = \"application/json\", x-api-key = \"{KEY}\" }}\n"
    );
    let (_, rows, _) = common::run_scenario(&scenario("[rooms]\ncount = 2\n", &target));
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.transport, "hub");
    assert_eq!(row.messages_published, 40);
    // Two rooms of ten, a publisher in each: 20 messages to 10 subscribers, twice.
    assert_eq!((row.deliveries_expected, row.deliveries), (400, 400));
    assert_eq!(
        (row.lost, row.duplicated, row.misrouted, row.stale),
        (0, 0, 0, 0)
    );
    // The server's pings are messages too, answered and never counted.
    assert_eq!((row.foreign, row.reconnects, row.connect_errors), (0, 0, 0));
    assert_eq!(hub.published.load(Ordering::SeqCst), 40);
    assert_eq!(hub.refused.load(Ordering::SeqCst), 0);
    assert!(
        hub.pongs.load(Ordering::SeqCst) >= 20,
        "every subscriber answered a ping"
    );
}

#[test]
fn websocket_publishers_send_the_frame_template() {
    let (addr, hub) = start();
    let target = format!(
        "subscribe = \"ws://{addr}/connection\"\n\
         send = ['{{\"subscribe\":\"room-{{room}}\"}}']\n\
         heartbeat = {{ frame = '{{\"type\":\"ping\"}}', answer = '{{\"type\":\"pong\"}}' }}\n\
         publish = {{ frame = '{{\"publish\":{{\"channel\":\"room-{{room}}\",\"data\":{{\"text\":\"{{msg}}\"}}}}}}' }}\n"
    );
    let (_, rows, _) = common::run_scenario(&scenario("", &target));
    let row = &rows[0];
    assert_eq!(row.messages_published, 40);
    assert_eq!((row.deliveries_expected, row.deliveries), (800, 800));
    assert_eq!(
        (row.lost, row.duplicated, row.foreign, row.reconnects),
        (0, 0, 0, 0)
    );
    assert_eq!(hub.published.load(Ordering::SeqCst), 40);
    assert_eq!(hub.refused.load(Ordering::SeqCst), 0);
}

#[test]
fn event_stream_subscribers_and_post_publishers() {
    let (addr, hub) = start();
    let target = format!(
        "subscribe = \"http://{addr}/events?channel=room-{{room}}\"\n\
         [target.template.hub.publish]\nurl = \"http://{addr}/api/publish\"\n\
         body = '{{\"channel\":\"room-{{room}}\",\"data\":{{\"text\":\"{{msg}}\"}}}}'\n\
         headers = {{ content-type = \"application/json\", x-api-key = \"{KEY}\" }}\n"
    );
    let (_, rows, _) = common::run_scenario(&scenario("", &target));
    let row = &rows[0];
    assert_eq!(row.messages_published, 40);
    assert_eq!((row.deliveries_expected, row.deliveries), (800, 800));
    assert_eq!(
        (row.lost, row.duplicated, row.foreign, row.reconnects),
        (0, 0, 0, 0)
    );
    assert_eq!(hub.published.load(Ordering::SeqCst), 40);
}

/// Long-poll subscribers whose cursor comes from a JSON field, then from a header: every message
/// once, though one answer may carry several.
#[test]
fn long_poll_subscribers_with_the_cursor_from_a_field_or_a_header() {
    for cursor in ["{ field = \"cursor\" }", "{ header = \"X-Next\" }"] {
        let (addr, hub) = start();
        let target = format!(
            "subscribe = \"http://{addr}/poll?channel=room-{{room}}&since={{cursor}}\"\n\
             cursor = {cursor}\n\
             [target.template.hub.publish]\nurl = \"http://{addr}/api/publish\"\n\
             body = '{{\"channel\":\"room-{{room}}\",\"data\":{{\"text\":\"{{msg}}\"}}}}'\n\
             headers = {{ content-type = \"application/json\", x-api-key = \"{KEY}\" }}\n"
        );
        let (_, rows, _) = common::run_scenario(&scenario("[rooms]\ncount = 2\n", &target));
        let row = &rows[0];
        assert_eq!(row.messages_published, 40, "{cursor}");
        assert_eq!(
            (row.deliveries_expected, row.deliveries),
            (400, 400),
            "{cursor}"
        );
        assert_eq!(
            (row.lost, row.duplicated, row.misrouted),
            (0, 0, 0),
            "{cursor}"
        );
        assert_eq!(
            (row.foreign, row.reconnects, row.io_errors),
            (0, 0, 0),
            "{cursor}"
        );
        assert_eq!(hub.published.load(Ordering::SeqCst), 40, "{cursor}");
    }
}

#[test]
fn a_template_that_cannot_carry_the_envelope_is_refused_at_load_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    let text = scenario(
        "",
        "subscribe = \"ws://127.0.0.1:9/connection\"\n\
         publish = { frame = '{\"publish\":{\"data\":{msg}}}' }\n",
    );
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(common::wsbench_bin())
        .args(["run", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("t.toml:")
            && stderr.contains("[target.template.hub]: publish frame")
            && stderr.contains("{msg} is not inside a JSON string"),
        "{stderr}"
    );
}
