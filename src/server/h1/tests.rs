//! The lean path on a real socket, for what the transports' own tests never send: pipelined
//! requests, a chunked publish, `Expect: 100-continue`, an HTTP/1.0 stream, a body over the
//! limit on a connection that goes on, and the answers at shutdown. The expected bytes are
//! hyper's answers to the same requests (captured from the server before this path), with the
//! `date` value blanked. An idle keep-alive connection is closed at the header timeout, as hyper
//! closed it.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::protocol::TransportKind;
use crate::server::{Limits, ServerConfig};

async fn server(limits: Limits) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let config = ServerConfig {
        transport: TransportKind::LongPoll.into(),
        hold: Duration::from_secs(30),
        limits,
        state_file: None,
        tls: None,
        backplane: None,
    };
    let token = stop.clone();
    let task = tokio::spawn(async move {
        crate::server::http::serve(listener, config, token.cancelled_owned())
            .await
            .unwrap();
    });
    (addr, stop, task)
}

/// The bytes `tcp` receives until it has `n` of them (or the server closes), `date` blanked.
async fn receive(tcp: &mut TcpStream, n: usize) -> String {
    let mut got = Vec::new();
    while got.len() < n {
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        if read == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..read]);
    }
    blank_dates(&String::from_utf8_lossy(&got))
}

fn blank_dates(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("date: ") {
        out.push_str(&rest[..at + 6]);
        out.push('D');
        rest = &rest[at + 6 + 29..];
    }
    out.push_str(rest);
    out
}

/// How many bytes `expected` (with its dates blanked) is on the wire.
fn wire_len(expected: &str) -> usize {
    expected.len() + 28 * expected.matches("date: D").count()
}

/// Sends `request` on a new connection and checks that the answer is `expected`.
async fn exchange(addr: SocketAddr, request: &[u8], expected: &str) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    assert_eq!(receive(&mut tcp, wire_len(expected)).await, expected);
}

const NO_CONTENT: &str = "HTTP/1.1 204 No Content\r\ndate: D\r\n\r\n";

#[tokio::test]
async fn pipelined_chunked_and_continued_requests_get_hypers_answers() {
    let (addr, _stop, _task) = server(Limits::default()).await;
    let chunked = b"POST /publish HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    exchange(addr, chunked, NO_CONTENT).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    assert_eq!(receive(&mut tcp, 25).await, "HTTP/1.1 100 Continue\r\n\r\n");
    tcp.write_all(b"hi").await.unwrap();
    assert_eq!(receive(&mut tcp, wire_len(NO_CONTENT)).await, NO_CONTENT);
    let two = b"GET /poll?cursor=0&wait=0 HTTP/1.1\r\nHost: x\r\n\r\nGET /poll?cursor=1&wait=0 HTTP/1.1\r\nHost: x\r\n\r\n";
    exchange(
        addr,
        two,
        "HTTP/1.1 200 OK\r\nx-next-cursor: 2\r\ncontent-length: 10\r\ndate: D\r\n\r\n2:hi,2:hi,\
         HTTP/1.1 200 OK\r\nx-next-cursor: 2\r\ncontent-length: 5\r\ndate: D\r\n\r\n2:hi,",
    )
    .await;
    let old = b"GET /events HTTP/1.0\r\nHost: x\r\nLast-Event-ID: 0\r\n\r\n";
    exchange(
        addr,
        old,
        "HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ndate: D\r\n\r\n\
         id: 1\ndata: hi\n\nid: 2\ndata: hi\n\n",
    )
    .await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_and_the_connection_goes_on() {
    let limits = Limits {
        max_message_bytes: 4,
        ..Limits::default()
    };
    let (addr, _stop, _task) = server(limits).await;
    let request = b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n12345GET /poll HTTP/1.1\r\nHost: x\r\n\r\n";
    exchange(
        addr,
        request,
        "HTTP/1.1 413 Payload Too Large\r\ncontent-length: 18\r\ndate: D\r\n\r\nmessage too large\n\
         HTTP/1.1 200 OK\r\nx-next-cursor: 0\r\ncontent-length: 0\r\ndate: D\r\n\r\n",
    )
    .await;
}

#[tokio::test]
async fn at_shutdown_a_held_poll_is_answered_and_a_stream_ended() {
    let (addr, stop, task) = server(Limits::default()).await;
    let mut poll = TcpStream::connect(addr).await.unwrap();
    poll.write_all(b"GET /poll?cursor=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut events = TcpStream::connect(addr).await.unwrap();
    events
        .write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\ndate: D\r\n\r\n";
    assert_eq!(receive(&mut events, wire_len(head)).await, head);
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let joined = "HTTP/1.1 200 OK\r\nx-next-cursor: 0\r\ncontent-length: 0\r\ndate: D\r\n\r\n";
    assert_eq!(receive(&mut idle, wire_len(joined)).await, joined);
    stop.cancel();
    assert_eq!(
        receive(&mut poll, usize::MAX).await,
        "HTTP/1.1 200 OK\r\nx-next-cursor: 0\r\ncontent-length: 0\r\ndate: D\r\n\r\n"
    );
    assert_eq!(receive(&mut events, usize::MAX).await, "0\r\n\r\n");
    assert_eq!(receive(&mut idle, usize::MAX).await, "");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_idle_keep_alive_connection_is_closed_at_the_header_timeout() {
    let limits = Limits {
        header_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let (addr, _stop, _task) = server(limits).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /poll HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let joined = "HTTP/1.1 200 OK\r\nx-next-cursor: 0\r\ncontent-length: 0\r\ndate: D\r\n\r\n";
    assert_eq!(receive(&mut tcp, wire_len(joined)).await, joined);
    let answered = tokio::time::Instant::now();
    assert_eq!(receive(&mut tcp, usize::MAX).await, "");
    let idle = answered.elapsed();
    assert!(
        idle >= Duration::from_millis(500) && idle < Duration::from_millis(600),
        "closed after {idle:?} idle, the header timeout is 500 ms"
    );
}
