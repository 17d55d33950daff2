//! Byte counting stays exact over HTTP/1.1: for long-poll and SSE, every byte the clients'
//! sockets carried in a run is explained by the request and response heads the built-in server
//! really sends (captured first by a raw exchange on a plain `TcpStream`), the request heads the
//! client writes, chunk framing and the payload.
//!
//! The hub is seeded so that every sequence number in the run has seven digits (cursors,
//! `x-next-cursor`, SSE ids) and messages are 1000 bytes, so any poll batch of 1 to 9 messages
//! has a four-digit `content-length`: then every head of a kind has one length. What timing
//! decides is counted by the client (answered polls) or solved from the bytes and checked to be
//! a whole number of frames (SSE chunks per batch, long-poll requests still in flight at the end).

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use common::sse::SseSizes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use wsbench::client::{ClientOutcome, LoadPlan, Target, drive};
use wsbench::codec::envelope::{Envelope, RunTag};
use wsbench::protocol::TransportKind;
use wsbench::scenario::Transport;
use wsbench::server::{self, Limits, ServerConfig, persist};

const PAYLOAD: usize = 1000;
/// The seeded hub holds one message with this sequence number; the run publishes after it.
const FIRST_SEQ: u64 = 1_000_000;

/// A built-in HTTP server whose hub starts at [`FIRST_SEQ`] with one kept message.
/// `name` keeps each server's state file its own (a server saves its hub when it stops).
async fn seeded_server(
    kind: TransportKind,
    dir: &Path,
    name: &str,
) -> (SocketAddr, CancellationToken) {
    let state = dir.join(format!("{name}.hub"));
    let seed = Bytes::from(vec![b'.'; PAYLOAD]);
    persist::save(&state, FIRST_SEQ, &[seed]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let config = ServerConfig {
        transport: kind.into(),
        hold: Duration::from_secs(30),
        limits: Limits::default(),
        state_file: Some(state),
        tls: None,
        backplane: None,
    };
    let token = stop.clone();
    tokio::spawn(async move { server::serve(listener, config, token.cancelled_owned()).await });
    (addr, stop)
}

/// Reads one response head (through the blank line) and returns it.
async fn read_head(tcp: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    head
}

/// The `content-length` of a response head.
fn content_length(head: &[u8]) -> usize {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap();
    line.trim().parse().unwrap()
}

/// A message as the run's publisher sends it (same length, the envelope at the front).
fn message() -> Vec<u8> {
    Envelope {
        run: RunTag(0),
        publisher: 0,
        seq: 0,
        intended_ns: 0,
    }
    .encode(PAYLOAD)
}

/// `POST /publish` with one message on a raw connection; returns the response head.
async fn raw_publish(addr: SocketAddr) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request =
        format!("POST /publish HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {PAYLOAD}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    tcp.write_all(&message()).await.unwrap();
    let head = read_head(&mut tcp).await;
    assert!(head.starts_with(b"HTTP/1.1 204"), "{head:?}");
    head
}

/// The plan: 10 subscribers, 1 publisher at 10 msg/s for 2 s, 1000-byte messages, no warmup, so
/// every message is in the window and the count is exact: 20 messages, 200 deliveries.
fn plan() -> LoadPlan {
    LoadPlan {
        subscribers: 10,
        publishers: 1,
        rate: 10.0,
        payload_bytes: PAYLOAD,
        duration: Duration::from_secs(2),
        ..common::small_plan()
    }
}

async fn run(transport: Transport, addr: SocketAddr, plan: &LoadPlan) -> ClientOutcome {
    let target = Target::new(transport, addr).unwrap();
    let o = drive(plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(o.messages_published, 20);
    assert_eq!(o.recorder.counts.delivery.delivered, 200);
    assert_eq!(o.recorder.counts.delivery.lost, 0);
    assert_eq!(o.recorder.counts.reconnects, 0);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_bytes_are_the_real_heads_plus_payload() {
    let dir = tempfile::tempdir().unwrap();
    // 1. The heads the server sends, from a raw exchange on a server in the same state.
    let (raw, raw_stop) = seeded_server(TransportKind::LongPoll, dir.path(), "raw").await;
    let mut tcp = TcpStream::connect(raw).await.unwrap();
    tcp.write_all(format!("GET /poll HTTP/1.1\r\nhost: {raw}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let join_head = read_head(&mut tcp).await;
    assert_eq!(content_length(&join_head), 0);
    assert!(
        String::from_utf8_lossy(&join_head).contains(&format!("x-next-cursor: {FIRST_SEQ}\r\n"))
    );
    let publish_head = raw_publish(raw).await;
    let poll = format!("GET /poll?cursor={FIRST_SEQ} HTTP/1.1\r\nhost: {raw}\r\n\r\n");
    tcp.write_all(poll.as_bytes()).await.unwrap();
    let poll_head = read_head(&mut tcp).await;
    let one_message_body = content_length(&poll_head);
    // A netstring: `1000:` + message + `,`.
    assert_eq!(one_message_body, PAYLOAD + 6);
    raw_stop.cancel();

    // 2. The run, on a fresh server in that state.
    let (addr, stop) = seeded_server(TransportKind::LongPoll, dir.path(), "run").await;
    let plan = plan();
    let hold = Duration::from_secs(30);
    let o = run(Transport::LongPoll { hold }, addr, &plan).await;
    stop.cancel();

    // 3. The request heads hyper's client writes (the cursor has seven digits throughout).
    let join_request = format!("GET /poll HTTP/1.1\r\nhost: {addr}\r\n\r\n").len() as u64;
    let poll_request = format!(
        "GET /poll?cursor={} HTTP/1.1\r\nhost: {addr}\r\n\r\n",
        FIRST_SEQ + 1
    )
    .len() as u64;
    let publish_request = format!(
        "POST /publish HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {PAYLOAD}\r\n\r\n"
    )
    .len() as u64;

    let r = &o.recorder;
    let subscribers = u64::from(plan.subscribers);
    let posts = o.messages_published;
    // Every answer the subscribers read: joins, then polls; the publisher counted its POSTs.
    let answered_polls = r.counts.http_requests - subscribers - posts;
    assert_eq!(
        r.counts.empty_polls, 0,
        "a held poll is only answered with news here"
    );
    assert_eq!(r.counts.responses_with_messages, answered_polls);
    assert_eq!(r.counts.messages_in_responses, r.counts.delivery.delivered);
    let payload = PAYLOAD as u64;

    // Everything from the first connect to the end of the drain.
    let up = o.connect_wire.up + o.wire.up;
    let down = o.connect_wire.down + o.wire.down;
    let expected_down = subscribers * join_head.len() as u64
        + answered_polls * poll_head.len() as u64
        + r.counts.messages_in_responses * one_message_body as u64
        + posts * publish_head.len() as u64;
    assert_eq!(down, expected_down, "bytes down, to the byte");
    let answered_up = subscribers * join_request
        + answered_polls * poll_request
        + posts * (publish_request + payload);
    // A subscriber that got everything may leave one poll unanswered (sent, still held).
    let in_flight = (up - answered_up) / poll_request;
    assert_eq!(
        up,
        answered_up + in_flight * poll_request,
        "bytes up, to the byte"
    );
    assert!(in_flight <= subscribers, "{in_flight} polls in flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_bytes_are_the_real_heads_plus_events_and_chunk_framing() {
    let dir = tempfile::tempdir().unwrap();
    // 1. The stream's head and one event's chunk, from a raw exchange.
    let (raw, raw_stop) = seeded_server(TransportKind::Sse, dir.path(), "raw").await;
    let mut tcp = TcpStream::connect(raw).await.unwrap();
    tcp.write_all(format!("GET /events HTTP/1.1\r\nhost: {raw}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let stream_head = read_head(&mut tcp).await;
    assert!(String::from_utf8_lossy(&stream_head).contains("transfer-encoding: chunked"));
    let publish_head = raw_publish(raw).await;
    let mut event = Vec::new();
    wsbench::codec::sse::push_event(&mut event, FIRST_SEQ + 1, &message());
    let chunk = format!("{:X}\r\n", event.len()); // hyper writes hex digits in upper case
    let mut got = vec![0u8; chunk.len() + event.len() + 2];
    tcp.read_exact(&mut got).await.unwrap();
    assert_eq!(&got[..chunk.len()], chunk.as_bytes());
    assert_eq!(&got[chunk.len()..chunk.len() + event.len()], &event[..]);
    assert_eq!(&got[chunk.len() + event.len()..], b"\r\n");
    raw_stop.cancel();

    // 2. The run.
    let (addr, stop) = seeded_server(TransportKind::Sse, dir.path(), "run").await;
    let plan = plan();
    let o = run(Transport::Sse, addr, &plan).await;
    stop.cancel();

    let events_request = format!(
        "GET /events HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\ncache-control: no-cache\r\n\r\n"
    )
    .len() as u64;
    let publish_request = format!(
        "POST /publish HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {PAYLOAD}\r\n\r\n"
    )
    .len() as u64;
    common::sse::assert_sse_bytes(
        &o,
        SseSizes {
            subscribers: u64::from(plan.subscribers),
            events_request,
            publish_request,
            payload: PAYLOAD as u64,
            stream_head: stream_head.len() as u64,
            publish_head: publish_head.len() as u64,
            event: event.len() as u64,
            chunk_line: chunk.len() as u64,
        },
    );
}
