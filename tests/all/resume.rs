//! A resumable WebSocket upgrade on the built-in server (`?resume=1`, then `&since=N`): the 101
//! says where the stream starts (`x-cursor`), what the ring no longer held (`x-missed`, exact) and
//! a cursor ahead of the server (`x-reset`); the frames that follow are the ring's messages after
//! that cursor, each once, then the live ones. A plain upgrade's 101 is unchanged. Raw says the
//! same in its own bytes: a resume preamble, answered by a cursor record.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use wsbench::protocol::TransportKind;
use wsbench::server::Limits;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens `/ws?<query>`; returns the socket and the 101's `x-cursor`, `x-missed`, `x-reset`.
async fn open(addr: SocketAddr, query: &str) -> (Ws, [Option<String>; 3]) {
    let (ws, response) = connect_async(format!("ws://{addr}/ws{query}"))
        .await
        .unwrap();
    let h = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    (ws, [h("x-cursor"), h("x-missed"), h("x-reset")])
}

/// The next text message, within 5 s.
async fn next_text(ws: &mut Ws) -> String {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            return text.to_string();
        }
    }
}

/// Nothing more arrives within 300 ms.
async fn quiet(ws: &mut Ws) {
    let more = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(more.is_err(), "unexpected: {more:?}");
}

fn some(v: &str) -> Option<String> {
    Some(v.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_upgrade_replays_what_the_ring_holds_once_and_counts_what_it_lost() {
    // A ring of 4: after 10 messages it holds m7..m10.
    let limits = Limits {
        ring_capacity: 4,
        ..Limits::default()
    };
    let (addr, stop) = common::start_server_here(TransportKind::Ws, limits).await;
    let (mut publisher, plain) = open(addr, "").await;
    // The plain protocol's 101 says nothing of the stream.
    assert_eq!(plain, [None, None, None]);
    for n in 1..=10 {
        publisher
            .send(Message::text(format!("m{n}")))
            .await
            .unwrap();
        assert_eq!(next_text(&mut publisher).await, format!("m{n}"));
    }

    // Asked for what followed m2: m3..m6 are gone (4, exactly), m7..m10 come once.
    let (mut behind, head) = open(addr, "?resume=1&since=2").await;
    assert_eq!(head, [some("6"), some("4"), None]);
    for n in 7..=10 {
        assert_eq!(next_text(&mut behind).await, format!("m{n}"));
    }
    // Caught up at m8: m9 and m10, nothing missed.
    let (mut close, head) = open(addr, "?resume=1&since=8").await;
    assert_eq!(head, [some("8"), None, None]);
    for n in 9..=10 {
        assert_eq!(next_text(&mut close).await, format!("m{n}"));
    }
    // Fresh and resumable: at the end, told where that is; nothing replayed.
    let (mut fresh, head) = open(addr, "?resume=1").await;
    assert_eq!(head, [some("10"), None, None]);
    // A cursor ahead of the server (it restarted without its state): the stream from its start,
    // which is m7 now, and m1..m6 counted as missed.
    let (mut ahead, head) = open(addr, "?resume=1&since=99").await;
    assert_eq!(head, [some("6"), some("6"), some("1")]);
    for n in 7..=10 {
        assert_eq!(next_text(&mut ahead).await, format!("m{n}"));
    }

    // Live from there on, each once.
    publisher.send(Message::text("m11")).await.unwrap();
    for ws in [
        &mut publisher,
        &mut behind,
        &mut close,
        &mut fresh,
        &mut ahead,
    ] {
        assert_eq!(next_text(ws).await, "m11");
        quiet(ws).await;
    }
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_resume_query_is_refused_before_the_upgrade() {
    let (addr, stop) = common::start_server_here(TransportKind::Ws, Limits::default()).await;
    for query in ["?resume=1&since=x", "?since=3", "?resume=yes"] {
        let refused = connect_async(format!("ws://{addr}/ws{query}")).await;
        let Err(tokio_tungstenite::tungstenite::Error::Http(response)) = refused else {
            panic!("{query}: {refused:?}");
        };
        assert_eq!(response.status(), 400, "{query}");
    }
    stop.cancel();
}

/// Raw's form of the same: a `SINC` preamble (room, last message read) answered by a 21-byte
/// `CURS` record before any message, with the same cursor, missed count and reset flag as the
/// WebSocket 101's headers; then the ring's messages after the cursor, each once, then live ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_raw_connection_gets_its_cursor_record_then_the_ring_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wsbench::codec::raw::encode;
    use wsbench::protocol::{RAW_CURSOR_LEN, RoomId, raw_cursor_record, raw_resume_preamble};

    async fn frame(tcp: &mut TcpStream) -> Vec<u8> {
        let mut len = [0u8; 4];
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_exact(&mut len));
        read.await.expect("a frame within 5 s").unwrap();
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        tcp.read_exact(&mut body).await.unwrap();
        body
    }
    async fn resumed(addr: SocketAddr, since: Option<u64>) -> (TcpStream, [u8; RAW_CURSOR_LEN]) {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(&raw_resume_preamble(RoomId::LOBBY, since))
            .await
            .unwrap();
        let mut record = [0u8; RAW_CURSOR_LEN];
        tcp.read_exact(&mut record).await.unwrap();
        (tcp, record)
    }

    let limits = Limits {
        ring_capacity: 4,
        ..Limits::default()
    };
    let (addr, stop) = common::start_server_here(TransportKind::Raw, limits).await;
    let mut publisher = TcpStream::connect(addr).await.unwrap();
    for n in 1..=10 {
        publisher
            .write_all(&encode(format!("m{n}").as_bytes()))
            .await
            .unwrap();
        assert_eq!(frame(&mut publisher).await, format!("m{n}").as_bytes());
    }
    let (mut behind, record) = resumed(addr, Some(2)).await;
    assert_eq!(record, raw_cursor_record(6, 4, false));
    let (mut close, record) = resumed(addr, Some(8)).await;
    assert_eq!(record, raw_cursor_record(8, 0, false));
    let (mut fresh, record) = resumed(addr, None).await;
    assert_eq!(record, raw_cursor_record(10, 0, false));
    let (mut ahead, record) = resumed(addr, Some(99)).await;
    assert_eq!(record, raw_cursor_record(6, 6, true));
    for (tcp, first) in [(&mut behind, 7), (&mut close, 9), (&mut ahead, 7)] {
        for n in first..=10 {
            assert_eq!(frame(tcp).await, format!("m{n}").as_bytes());
        }
    }
    publisher.write_all(&encode(b"m11")).await.unwrap();
    for tcp in [
        &mut publisher,
        &mut behind,
        &mut close,
        &mut fresh,
        &mut ahead,
    ] {
        assert_eq!(frame(tcp).await, b"m11");
        let mut more = [0u8; 1];
        let quiet = tokio::time::timeout(Duration::from_millis(300), tcp.read(&mut more)).await;
        assert!(quiet.is_err(), "unexpected: {quiet:?}");
    }
    stop.cancel();
}
