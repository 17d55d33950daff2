//! The built-in servers' heartbeats, counted exactly on the test's clock: a WebSocket server pings
//! every `ws_ping` (2 bytes, RFC 6455 §5.5.2), an SSE server sends a 3-byte comment on a stream
//! quiet for `sse_keepalive` (8 bytes with HTTP/1.1's chunk framing), and a WebSocket client that
//! answers nothing is closed at the idle timeout while one that answers the pings stays.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use wsbench::protocol::TransportKind;
use wsbench::server::Limits;

const HANDSHAKE: &str = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// The server's ping (FIN + opcode 9, no payload) and a client's pong to it (masked, zero key).
const PING: [u8; 2] = [0x89, 0x00];
const PONG: [u8; 6] = [0x8a, 0x80, 0, 0, 0, 0];

/// Reads a response head byte by byte, so nothing after it is consumed.
async fn head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

async fn ws_client(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(HANDSHAKE.as_bytes()).await.unwrap();
    let head = head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// Everything the server sends until `until` on the test's clock, or until it closes; the pings
/// among it are answered when `answer` is set. Returns the bytes and whether the server closed.
async fn listen(tcp: &mut TcpStream, until: Instant, answer: bool) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match timeout_at(until, tcp.read(&mut buf)).await {
            Err(_) => return (got, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                if answer {
                    for _ in 0..buf[..n].chunks(2).filter(|c| *c == PING).count() {
                        tcp.write_all(&PONG).await.unwrap();
                    }
                }
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_websocket_server_pings_every_interval_and_keeps_a_client_that_answers() {
    let limits = Limits {
        ws_ping: Some(Duration::from_secs(30)),
        idle_timeout: Duration::from_secs(45),
        ..Limits::default()
    };
    let (addr, _stop) = common::start_server_here(TransportKind::Ws, limits).await;
    let mut tcp = ws_client(addr).await;
    // Ten minutes and a few seconds: pings at 30 s, 60 s, …, 600 s. The idle timeout (45 s) is
    // shorter than the whole run, so only the pongs keep the connection open.
    let (got, closed) = listen(&mut tcp, Instant::now() + Duration::from_secs(605), true).await;
    assert!(!closed, "a client that answers every ping stays connected");
    assert_eq!(got, PING.repeat(20), "20 pings of 2 bytes, nothing else");
}

#[tokio::test(start_paused = true)]
async fn a_websocket_client_that_never_answers_is_closed_at_the_idle_timeout() {
    let limits = Limits {
        ws_ping: Some(Duration::from_secs(40)),
        idle_timeout: Duration::from_secs(300),
        ..Limits::default()
    };
    let (addr, _stop) = common::start_server_here(TransportKind::Ws, limits).await;
    let mut tcp = ws_client(addr).await;
    let (got, closed) = listen(&mut tcp, Instant::now() + Duration::from_secs(400), false).await;
    assert!(closed, "the server closes a silent client");
    // Pings at 40 s, …, 280 s; at 300 s a close frame with 1008 (policy) and "idle timeout".
    let mut expected = PING.repeat(7);
    expected.extend_from_slice(&[0x88, 14, 0x03, 0xf0]);
    expected.extend_from_slice(b"idle timeout");
    assert_eq!(got, expected);
}

#[tokio::test(start_paused = true)]
async fn without_a_ping_interval_a_websocket_server_sends_nothing() {
    let (addr, _stop) = common::start_server_here(TransportKind::Ws, Limits::default()).await;
    let mut tcp = ws_client(addr).await;
    let (got, closed) = listen(&mut tcp, Instant::now() + Duration::from_secs(200), false).await;
    assert_eq!((got, closed), (Vec::new(), false));
}

#[tokio::test(start_paused = true)]
async fn an_sse_stream_gets_a_keepalive_after_each_quiet_interval() {
    let limits = Limits {
        sse_keepalive: Some(Duration::from_secs(15)),
        ..Limits::default()
    };
    let (addr, _stop) = common::start_server_here(TransportKind::Sse, limits).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    let head = head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    // One chunk per keep-alive: "3\r\n" + ":\n\n" + "\r\n".
    let keepalive = b"3\r\n:\n\n\r\n";
    let (got, closed) = listen(&mut tcp, start + Duration::from_secs(100), false).await;
    assert!(!closed);
    assert_eq!(got, keepalive.repeat(6), "at 15 s, 30 s, …, 90 s");

    // An event restarts the quiet interval: published at 100 s, the next keep-alive is at 115 s.
    let body = "x".repeat(10);
    let publish = format!(
        "POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{body}"
    );
    let mut publisher = TcpStream::connect(addr).await.unwrap();
    publisher.write_all(publish.as_bytes()).await.unwrap();
    let (got, _) = listen(&mut tcp, start + Duration::from_secs(114), false).await;
    let event = b"id: 1\ndata: xxxxxxxxxx\n\n";
    let mut expected = format!("{:x}\r\n", event.len()).into_bytes();
    expected.extend_from_slice(event);
    expected.extend_from_slice(b"\r\n");
    assert_eq!(got, expected, "the event, and no keep-alive before 115 s");
    let (got, _) = listen(&mut tcp, start + Duration::from_secs(116), false).await;
    assert_eq!(got, keepalive);
}
