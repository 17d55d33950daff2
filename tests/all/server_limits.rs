//! The built-in servers under bad input, over raw TCP: each abuse gets the exact close code or
//! HTTP status, and the server keeps serving everyone else.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsbench::protocol::TransportKind;
use wsbench::server::Limits;

const HANDSHAKE: &str = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// Reads until the peer closes (or 2 s pass on the test's clock: a kept-alive connection stays
/// open), returning everything received. In a test on paused time the 2 s pass as soon as
/// nothing else can happen.
async fn read_all(tcp: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read_to_end(&mut out)).await;
    out
}

/// A raw client that completed the WebSocket handshake.
async fn ws_client(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(HANDSHAKE.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    tcp
}

/// A client frame: FIN + `opcode`, masked with a zero key (so the payload bytes are unchanged).
fn frame(opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    let mask = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(mask | n as u8),
        n if n < 65536 => {
            f.push(mask | 126);
            f.extend((n as u16).to_be_bytes());
        }
        n => {
            f.push(mask | 127);
            f.extend((n as u64).to_be_bytes());
        }
    }
    if masked {
        f.extend([0, 0, 0, 0]);
    }
    f.extend(payload);
    f
}

/// The close code in the first close frame the server sent, if any.
fn close_code(received: &[u8]) -> Option<u16> {
    let mut at = 0;
    while at + 2 <= received.len() {
        let opcode = received[at] & 0x0f;
        let len = (received[at + 1] & 0x7f) as usize;
        let (start, len) = match len {
            126 => (
                at + 4,
                u16::from_be_bytes([received[at + 2], received[at + 3]]) as usize,
            ),
            127 => return None,
            n => (at + 2, n),
        };
        if opcode == 0x8 && len >= 2 {
            return Some(u16::from_be_bytes([received[start], received[start + 1]]));
        }
        at = start + len;
    }
    None
}

/// Checks that the server still broadcasts: a fresh client sends and receives its own message.
async fn still_serving(addr: SocketAddr) {
    let mut tcp = ws_client(addr).await;
    tcp.write_all(&frame(0x1, b"still here", true))
        .await
        .unwrap();
    let mut got = [0u8; 12];
    tcp.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"\x81\x0astill here");
}

#[tokio::test(start_paused = true)]
async fn websocket_abuse_gets_the_right_close_code() {
    let limits = Limits {
        max_message_bytes: 1024,
        ..Limits::default()
    };
    let (addr, _stop) = common::start_server_here(TransportKind::Ws, limits).await;
    let cases: [(&str, Vec<u8>, u16); 4] = [
        (
            "message over the limit",
            frame(0x2, &[7u8; 2000], true),
            1009,
        ),
        ("unmasked client frame", frame(0x1, b"hello", false), 1002),
        ("reserved opcode", frame(0x3, b"", true), 1002),
        (
            "invalid UTF-8 in a text frame",
            frame(0x1, &[0xff, 0xfe], true),
            1007,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut tcp = ws_client(addr).await;
        tcp.write_all(&bytes).await.unwrap();
        let received = read_all(&mut tcp).await;
        assert_eq!(close_code(&received), Some(code), "{what}: {received:?}");
        still_serving(addr).await;
    }
}

#[tokio::test(start_paused = true)]
async fn an_upgrade_without_the_right_headers_is_a_400() {
    let (addr, _stop) = common::start_server_here(TransportKind::Ws, Limits::default()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let received = read_all(&mut tcp).await;
    assert!(
        received.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&received)
    );
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(HANDSHAKE.replace("/ws", "/elsewhere").as_bytes())
        .await
        .unwrap();
    let received = read_all(&mut tcp).await;
    assert!(
        received.starts_with(b"HTTP/1.1 404"),
        "{}",
        String::from_utf8_lossy(&received)
    );
    still_serving(addr).await;
}

async fn http(addr: SocketAddr, request: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    String::from_utf8_lossy(&read_all(&mut tcp).await).into_owned()
}

#[tokio::test(start_paused = true)]
async fn http_abuse_gets_the_right_status() {
    let limits = Limits {
        max_message_bytes: 100,
        header_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let (addr, _stop) = common::start_server_here(TransportKind::LongPoll, limits).await;
    let big = format!(
        "POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\nConnection: close\r\n\r\n{}",
        "x".repeat(101)
    );
    assert!(http(addr, big.as_bytes()).await.starts_with("HTTP/1.1 413"));
    let huge_header = format!(
        "GET /poll HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "y".repeat(64 * 1024)
    );
    assert!(
        http(addr, huge_header.as_bytes())
            .await
            .starts_with("HTTP/1.1 431")
    );
    assert!(
        http(
            addr,
            b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .await
        .starts_with("HTTP/1.1 404")
    );
    assert!(
        http(
            addr,
            b"DELETE /poll HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .await
        .starts_with("HTTP/1.1 405")
    );
    assert!(
        http(
            addr,
            b"GET /poll?cursor=-3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .await
        .starts_with("HTTP/1.1 400")
    );

    // A client that dribbles a well-formed header a byte at a time and never finishes it is cut
    // off at the header timeout: not before (every byte is valid, so no 400 ends it early), and
    // not never (it keeps sending for six times the timeout).
    let slow = TcpStream::connect(addr).await.unwrap();
    let (mut from_server, mut to_server) = slow.into_split();
    let started = tokio::time::Instant::now();
    let reader = tokio::spawn(async move {
        let mut received = Vec::new();
        let _ = from_server.read_to_end(&mut received).await;
        (received, started.elapsed())
    });
    let header = b"GET /poll HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    for byte in header.iter().chain(std::iter::repeat(&b'a')).take(150) {
        if reader.is_finished() || to_server.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (received, closed_after) = tokio::time::timeout(Duration::from_millis(100), reader)
        .await
        .expect("a header dribbled for 3 s was never cut off")
        .unwrap();
    let received = String::from_utf8_lossy(&received);
    assert!(
        received.is_empty() || received.starts_with("HTTP/1.1 408"),
        "{received}"
    );
    assert!(
        closed_after >= Duration::from_millis(500) && closed_after < Duration::from_millis(600),
        "cut off after {closed_after:?}, the header timeout is 500 ms"
    );
    // Everyone else is still served.
    assert!(
        http(
            addr,
            b"GET /poll HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .await
        .starts_with("HTTP/1.1 200")
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_with_a_token_refuses_requests_without_it() {
    let limits = Limits {
        token: Some("s3cret".into()),
        ..Limits::default()
    };
    let (ws, _stop_ws) = common::start_server_here(TransportKind::Ws, limits.clone()).await;
    let mut tcp = TcpStream::connect(ws).await.unwrap();
    tcp.write_all(HANDSHAKE.as_bytes()).await.unwrap();
    let refused = read_all(&mut tcp).await;
    assert!(
        refused.starts_with(b"HTTP/1.1 401"),
        "{}",
        String::from_utf8_lossy(&refused)
    );
    let with = HANDSHAKE.replace("Host: x\r\n", "Host: x\r\nAuthorization: Bearer s3cret\r\n");
    let mut tcp = TcpStream::connect(ws).await.unwrap();
    tcp.write_all(with.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");

    let (http_addr, _stop_http) = common::start_server_here(TransportKind::LongPoll, limits).await;
    for request in [
        "POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
        "GET /poll HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /poll HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nConnection: close\r\n\r\n",
    ] {
        assert!(
            http(http_addr, request.as_bytes())
                .await
                .starts_with("HTTP/1.1 401"),
            "{request}"
        );
    }
    let ok = "GET /poll HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n";
    assert!(
        http(http_addr, ok.as_bytes())
            .await
            .starts_with("HTTP/1.1 200")
    );
}

#[tokio::test]
async fn http2_requests_meet_the_same_limits() {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::{Method, Request, StatusCode};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let limits = Limits {
        max_message_bytes: 100,
        h2_max_header_list_bytes: 1024,
        ..Limits::default()
    };
    let (addr, _stop) = common::start_server_with(TransportKind::LongPoll, limits).await;
    // h2c with prior knowledge on the same listener that speaks HTTP/1.1.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let request = |method: Method, path: &str, body: usize| {
        Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .body(Full::new(Bytes::from(vec![b'x'; body])))
            .unwrap()
    };
    let status = |r: Result<hyper::Response<_>, hyper::Error>| r.map(|r| r.status()).ok();
    let sent = sender.send_request(request(Method::POST, "/publish", 101));
    assert_eq!(status(sent.await), Some(StatusCode::PAYLOAD_TOO_LARGE));
    let sent = sender.send_request(request(Method::POST, "/publish", 100));
    assert_eq!(status(sent.await), Some(StatusCode::NO_CONTENT));
    let sent = sender.send_request(request(Method::GET, "/nope", 0));
    assert_eq!(status(sent.await), Some(StatusCode::NOT_FOUND));
    let sent = sender.send_request(request(Method::DELETE, "/poll", 0));
    assert_eq!(status(sent.await), Some(StatusCode::METHOD_NOT_ALLOWED));
    // A header list over the limit is refused (431, or the stream is reset).
    let mut big = request(Method::GET, "/poll", 0);
    big.headers_mut()
        .insert("x-big", "y".repeat(4096).parse().unwrap());
    let refused = status(sender.send_request(big).await);
    assert!(
        refused.is_none() || refused == Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
        "{refused:?}"
    );
    // The server still serves, over HTTP/2 (on a new connection: h2 may end the one that sent
    // the oversized header block) and HTTP/1.1.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut fresh, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let sent = fresh.send_request(request(Method::GET, "/poll", 0));
    assert_eq!(status(sent.await), Some(StatusCode::OK));
    let http1 = http(
        addr,
        b"GET /poll HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(http1.starts_with("HTTP/1.1 200"), "{http1}");
}

#[tokio::test]
async fn a_tls_client_that_stalls_in_the_handshake_is_cut_off() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (addr, _stop, _cert) = common::start_tls_server_with(TransportKind::Sse, limits).await;
    // Connects and never sends a ClientHello: the server closes the connection (an EOF with
    // nothing received); without the timeout it would wait for ever.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut received = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut received)).await;
    assert!(matches!(closed, Ok(Ok(0))), "{closed:?}");
}

#[tokio::test(start_paused = true)]
async fn a_silent_http_client_is_cut_off() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (addr, _stop) = common::start_server_here(TransportKind::LongPoll, limits).await;
    // Connects and sends nothing: no request starts, so the server closes the connection,
    // even though it cannot yet tell HTTP/1.1 from HTTP/2.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut received = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut received)).await;
    assert!(matches!(closed, Ok(Ok(_))), "{closed:?}");
}
