//! Rooms end to end: every transport delivers each message to the members of its room and to
//! nobody else, with exact delivery counts; the room travels in the request (`?room=K`) or, on
//! raw, in an 8-byte preamble, and the wire bytes stay exact with it; and a built-in server
//! keeps rooms apart and bounded whatever the client.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use common::sse::SseSizes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use wsbench::client::{ClientOutcome, LoadPlan, Target, drive};
use wsbench::codec::raw;
use wsbench::protocol::{RoomId, TransportKind, raw_room_preamble};
use wsbench::scenario::{Rooms, Transport, WsClient};
use wsbench::server::Limits;

/// 10 subscribers in 4 rooms, 3 publishers at 30 msg/s for 2 s. Round robin puts subscribers
/// {0,4,8} in room 0, {1,5,9} in room 1, {2,6} in room 2 and {3,7} in room 3, and publisher p in
/// room p: rooms of 3, 3, 2 and 2 members, the last with nobody publishing.
fn plan() -> LoadPlan {
    LoadPlan {
        subscribers: 10,
        publishers: 3,
        rate: 30.0,
        duration: Duration::from_secs(2),
        rooms: Some(Rooms { count: 4 }),
        ..common::small_plan()
    }
}

/// Members of each room under [`plan`], and the messages each room's publisher sends in 2 s.
const MEMBERS: [u64; 4] = [3, 3, 2, 2];
const PER_PUBLISHER: u64 = 20;

async fn run(transport: Transport, http2: bool) -> (ClientOutcome, SocketAddr) {
    let (addr, stop) = common::start_server(transport.kind()).await;
    let target = Target {
        http2,
        ..Target::new(transport, addr).unwrap()
    };
    let o = drive(&plan(), &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    stop.cancel();
    (o, addr)
}

/// Σ over rooms of the messages published into the room × its members, all delivered once,
/// nothing lost, nothing outside its room.
fn assert_delivered_within_rooms(o: &ClientOutcome, label: &str) {
    assert_eq!(o.messages_published, 3 * PER_PUBLISHER, "{label}");
    let expected: u64 = MEMBERS[..3].iter().map(|m| m * PER_PUBLISHER).sum();
    assert_eq!(expected, 160);
    assert_eq!(o.deliveries_expected, expected, "{label}");
    let c = &o.recorder.counts;
    assert_eq!(c.delivery.delivered, expected, "{label}");
    assert_eq!(
        (c.delivery.lost, c.delivery.duplicated, c.delivery.reordered),
        (0, 0, 0),
        "{label}"
    );
    assert_eq!((c.misrouted, c.foreign, c.io_errors), (0, 0, 0), "{label}");
    assert_eq!(o.subscribers_connected, 10, "{label}");
    // Per second too: each message is expected by its room's members only.
    let lost: u64 = o.timeseries.seconds.iter().map(|s| s.lost).sum();
    assert_eq!(lost, 0, "{label}");
    assert!(o.complete, "{label}");
}

/// Bytes of `?room=K` for a one-digit room.
const ROOM_QUERY: u64 = "?room=0".len() as u64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_rooms_deliver_within_the_room_and_bytes_stay_exact() {
    for client in WsClient::ALL {
        let transport = Transport::Ws {
            ping_interval: None,
            client,
            resume: false,
        };
        let (o, addr) = run(transport, false).await;
        let label = format!("ws {client:?}");
        assert_delivered_within_rooms(&o, &label);
        // Frames as without rooms: a masked client frame adds 6 bytes, a server frame 2.
        let payload = 64;
        assert_eq!(o.wire.up, o.messages_published * (payload + 6), "{label}");
        let delivered = o.recorder.counts.delivery.delivered;
        assert_eq!(o.wire.down, delivered * (payload + 2), "{label}");
        // The upgrade request carries the room: `GET /ws?room=K`, K one digit here.
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n",
            key = "k".repeat(24)
        );
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
             sec-websocket-accept: {accept}\r\n\r\n",
            accept = "a".repeat(28)
        );
        let n = 10;
        assert_eq!(
            o.connect_wire.up,
            n * (request.len() as u64 + ROOM_QUERY),
            "{label}"
        );
        assert_eq!(o.connect_wire.down, n * response.len() as u64, "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_rooms_cost_an_8_byte_preamble_per_connection_and_nothing_else() {
    let (o, _) = run(Transport::Raw { resume: false }, false).await;
    assert_delivered_within_rooms(&o, "raw");
    let payload = 64;
    let delivered = o.recorder.counts.delivery.delivered;
    assert_eq!(o.wire.up, o.messages_published * (4 + payload));
    assert_eq!(o.wire.down, delivered * (4 + payload));
    // Connecting: the TCP handshake and the room preamble, nothing down.
    assert_eq!((o.connect_wire.up, o.connect_wire.down), (10 * 8, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_transports_deliver_within_rooms_over_http1_and_http2() {
    let hold = Duration::from_secs(30);
    let interval = Duration::from_millis(100);
    for http2 in [false, true] {
        for transport in [
            Transport::LongPoll { hold },
            Transport::ShortPoll { interval },
            Transport::Sse,
        ] {
            let label = format!("{} http2={http2}", transport.kind());
            let (o, _) = run(transport, http2).await;
            assert_delivered_within_rooms(&o, &label);
            assert_eq!(
                o.recorder.publish_rtt_us.len(),
                o.messages_published,
                "{label}"
            );
        }
    }
}

/// Reads one HTTP/1.1 response head (through the blank line).
async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Sends `request` and reads the answer's head and `content-length` body.
async fn exchange(tcp: &mut TcpStream, request: &str, body: &[u8]) -> (String, Vec<u8>) {
    tcp.write_all(request.as_bytes()).await.unwrap();
    tcp.write_all(body).await.unwrap();
    let head = read_head(tcp).await;
    let len = head
        .to_ascii_lowercase()
        .lines()
        .find_map(|l| l.strip_prefix("content-length: ").map(str::to_owned))
        .map_or(0, |l| l.trim().parse().unwrap());
    let mut got = vec![0; len];
    tcp.read_exact(&mut got).await.unwrap();
    (head, got)
}

fn post(room: u32, body: &str) -> String {
    format!(
        "POST /publish?room={room} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
}

#[tokio::test]
async fn a_message_published_into_one_room_never_reaches_another() {
    let (addr, stop) = common::start_server(TransportKind::LongPoll).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    // Room 1 gets "b"; room 2 gets "a" first and "c" after; room 0 (no room named) gets "z".
    for (room, body) in [(2, "a"), (1, "b"), (2, "c")] {
        let (head, _) = exchange(&mut tcp, &post(room, body), body.as_bytes()).await;
        assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    }
    let plain = "POST /publish HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\n";
    exchange(&mut tcp, plain, b"z").await;
    // Each room numbers its own messages from 1; a poll reads its own room only.
    let cases = [
        ("/poll?room=1&cursor=0", "1", &b"1:b,"[..]),
        ("/poll?cursor=0&room=2", "2", b"1:a,1:c,"),
        ("/poll?cursor=0", "1", b"1:z,"),
        ("/poll?room=0&cursor=0", "1", b"1:z,"),
        ("/poll?room=3&cursor=0&wait=0", "0", b""),
    ];
    for (path, next, body) in cases {
        let (head, got) = exchange(&mut tcp, &get(path), b"").await;
        assert!(
            head.contains(&format!("x-next-cursor: {next}\r\n")),
            "{path}: {head}"
        );
        assert_eq!(got, body, "{path}");
    }
    // SSE: a stream of room 1 resumes within room 1 only (ids are room 1's).
    let mut events = TcpStream::connect(addr).await.unwrap();
    let resume = "GET /events?room=2 HTTP/1.1\r\nhost: x\r\nlast-event-id: 1\r\n\r\n";
    events.write_all(resume.as_bytes()).await.unwrap();
    read_head(&mut events).await;
    let mut got = Vec::new();
    while !got.ends_with(b"\n\n\r\n") {
        let mut byte = [0u8];
        events.read_exact(&mut byte).await.unwrap();
        got.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(text.contains("id: 2\ndata: c\n\n"), "{text:?}");
    assert!(
        !text.contains("data: b") && !text.contains("data: z"),
        "{text:?}"
    );
    stop.cancel();
}

/// A raw client in `room` (via the preamble, or none for room 0).
async fn raw_client(addr: SocketAddr, room: Option<u32>) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    if let Some(room) = room {
        tcp.write_all(&raw_room_preamble(RoomId(room)))
            .await
            .unwrap();
    }
    tcp
}

#[tokio::test]
async fn raw_and_websocket_clients_publish_into_their_own_room_only() {
    // Raw: clients in rooms 5 and 6 and one without a preamble (room 0). Each publishes one
    // message; each receives its own room's only, in order.
    let (addr, stop) = common::start_server(TransportKind::Raw).await;
    let mut five = raw_client(addr, Some(5)).await;
    let mut six = raw_client(addr, Some(6)).await;
    let mut lobby = raw_client(addr, None).await;
    // The server has read every preamble once a message sent after it comes back.
    for (tcp, text) in [(&mut five, "five"), (&mut six, "six"), (&mut lobby, "zero")] {
        tcp.write_all(&raw::encode(text.as_bytes())).await.unwrap();
        let mut got = vec![0u8; 4 + text.len()];
        tcp.read_exact(&mut got).await.unwrap();
        assert_eq!(got, raw::encode(text.as_bytes()), "{text}");
    }
    // A second round: each still gets its own room's message first and only.
    for (tcp, text) in [(&mut six, "6b"), (&mut five, "5b"), (&mut lobby, "0b")] {
        tcp.write_all(&raw::encode(text.as_bytes())).await.unwrap();
    }
    for (tcp, text) in [(&mut five, "5b"), (&mut six, "6b"), (&mut lobby, "0b")] {
        let mut got = vec![0u8; 6];
        tcp.read_exact(&mut got).await.unwrap();
        assert_eq!(got, raw::encode(text.as_bytes()), "{text}");
    }
    stop.cancel();

    // WebSocket: two clients of room 1 and one of room 2 (raw frames, our codec).
    let (addr, stop) = common::start_server(TransportKind::Ws).await;
    let mut one_a = ws_client(addr, "/ws?room=1").await;
    let mut one_b = ws_client(addr, "/ws?room=1").await;
    let mut two = ws_client(addr, "/ws?room=2").await;
    send_text(&mut two, "for two").await;
    assert_eq!(read_text(&mut two).await, "for two");
    send_text(&mut one_a, "for one").await;
    // Room 1's clients get room 1's message first: room 2's never came.
    assert_eq!(read_text(&mut one_a).await, "for one");
    assert_eq!(read_text(&mut one_b).await, "for one");
    stop.cancel();
}

/// Upgrades a plain TCP connection at `path`.
async fn ws_client(addr: SocketAddr, path: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

async fn send_text(tcp: &mut TcpStream, text: &str) {
    use wsbench::codec::ws::{DataOp, OpCode, encode_frame};
    let mut frame = Vec::new();
    encode_frame(
        &mut frame,
        OpCode::Data(DataOp::Text),
        text.as_bytes(),
        Some([1, 2, 3, 4]),
    )
    .unwrap();
    tcp.write_all(&frame).await.unwrap();
}

/// One short unmasked text frame from the server.
async fn read_text(tcp: &mut TcpStream) -> String {
    let mut header = [0u8; 2];
    tcp.read_exact(&mut header).await.unwrap();
    assert_eq!(header[0], 0x81);
    let mut payload = vec![0u8; usize::from(header[1])];
    tcp.read_exact(&mut payload).await.unwrap();
    String::from_utf8(payload).unwrap()
}

#[tokio::test]
async fn rooms_are_bounded_and_bad_room_ids_refused_on_every_wire() {
    let limits = Limits {
        max_rooms: 2,
        ..Limits::default()
    };
    let (addr, stop) = common::start_server_with(TransportKind::LongPoll, limits.clone()).await;
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    for (request, body, status) in [
        (get("/poll?room=7"), "", "200"),
        (get("/poll?room=8&cursor=0&wait=0"), "", "200"),
        // A third room is one too many; the two that exist go on.
        (get("/poll?room=9"), "", "503"),
        (post(9, "x"), "x", "503"),
        (get("/events?room=9"), "", "503"),
        (post(8, "x"), "x", "204"),
        (get("/poll?room=eight"), "", "400"),
        (get("/poll?room=-1&cursor=0"), "", "400"),
    ] {
        // A fresh connection each: a refused publish's body is left unread, which ends its
        // connection.
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let (head, _) = exchange(&mut tcp, &request, body.as_bytes()).await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status}")),
            "{request}: {head}"
        );
    }
    stop.cancel();

    let (addr, stop) = common::start_server_with(TransportKind::Ws, limits.clone()).await;
    ws_client(addr, "/ws?room=1").await;
    ws_client(addr, "/ws?room=2").await;
    for (path, status) in [("/ws?room=3", "503"), ("/ws?room=x", "400")] {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let head = read_head(&mut tcp).await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status}")),
            "{path}: {head}"
        );
    }
    stop.cancel();

    // Raw: the lobby and room 4 exist; a preamble for a third room closes the connection.
    let (addr, stop) = common::start_server_with(TransportKind::Raw, limits).await;
    let mut four = raw_client(addr, Some(4)).await;
    four.write_all(&raw::encode(b"in")).await.unwrap();
    let mut got = [0u8; 6];
    four.read_exact(&mut got).await.unwrap();
    let mut third = raw_client(addr, Some(5)).await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut rest)).await;
    assert_eq!(read.unwrap().unwrap(), 0, "closed without a byte");
    stop.cancel();
}

/// Bytes of each message in the byte-exact runs: any poll batch of 1 to 9 then has a
/// four-digit `content-length`, so every head of a kind has one length.
const PAYLOAD: usize = 1000;
/// Every room of a seeded hub holds one message with this sequence number, so every cursor,
/// `x-next-cursor` and SSE id in the run has seven digits, in every room.
const FIRST_SEQ: u64 = 1_000_000;

/// A built-in HTTP server whose rooms 0 to 3 each start at [`FIRST_SEQ`] with one message.
async fn seeded_server(
    kind: TransportKind,
    dir: &std::path::Path,
    name: &str,
) -> (SocketAddr, CancellationToken) {
    use wsbench::server::persist::{self, RoomState};
    let state = dir.join(format!("{name}.hub"));
    let rooms: Vec<RoomState<bytes::Bytes>> = (0..4)
        .map(|room| RoomState {
            room: RoomId(room),
            first_seq: FIRST_SEQ,
            messages: vec![bytes::Bytes::from(vec![b'.'; PAYLOAD])],
        })
        .collect();
    persist::save_rooms(&state, &rooms).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let config = wsbench::server::ServerConfig {
        transport: kind.into(),
        hold: Duration::from_secs(30),
        limits: Limits::default(),
        state_file: Some(state),
        tls: None,
        backplane: None,
    };
    let token = stop.clone();
    tokio::spawn(
        async move { wsbench::server::serve(listener, config, token.cancelled_owned()).await },
    );
    (addr, stop)
}

/// The rooms plan with 1000-byte messages.
fn byte_plan() -> LoadPlan {
    LoadPlan {
        payload_bytes: PAYLOAD,
        ..plan()
    }
}

async fn run_on(transport: Transport, addr: SocketAddr) -> ClientOutcome {
    let target = Target::new(transport, addr).unwrap();
    let o = drive(
        &byte_plan(),
        &target,
        &CancellationToken::new(),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_delivered_within_rooms(&o, "bytes");
    o
}

/// A message of the run's size, and the `POST /publish?room=1` head answering it.
async fn publish_in_room_1(addr: SocketAddr) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let message = vec![b'.'; PAYLOAD];
    let request = format!(
        "POST /publish?room=1 HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {PAYLOAD}\r\n\r\n"
    );
    let (head, _) = exchange(&mut tcp, &request, &message).await;
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_bytes_with_rooms_are_the_real_heads_plus_payload() {
    let dir = tempfile::tempdir().unwrap();
    // 1. The heads the server sends in a room, from a raw exchange in the same state (every
    //    room's heads have the same length: the same seven-digit cursors).
    let (raw, raw_stop) = seeded_server(TransportKind::LongPoll, dir.path(), "raw").await;
    let mut tcp = TcpStream::connect(raw).await.unwrap();
    let get = |path: String| format!("GET {path} HTTP/1.1\r\nhost: {raw}\r\n\r\n");
    let (join_head, _) = exchange(&mut tcp, &get("/poll?room=1".into()), b"").await;
    assert!(
        join_head.contains(&format!("x-next-cursor: {FIRST_SEQ}\r\n")),
        "{join_head}"
    );
    let publish_head = publish_in_room_1(raw).await;
    let (poll_head, body) = exchange(
        &mut tcp,
        &get(format!("/poll?room=1&cursor={FIRST_SEQ}")),
        b"",
    )
    .await;
    assert_eq!(body.len(), PAYLOAD + 6);
    raw_stop.cancel();

    // 2. The run, on a fresh server in that state.
    let (addr, stop) = seeded_server(TransportKind::LongPoll, dir.path(), "run").await;
    let hold = Duration::from_secs(30);
    let o = run_on(Transport::LongPoll { hold }, addr).await;
    stop.cancel();

    // 3. The request heads the client writes: the room first, then the cursor.
    let len = |s: String| s.len() as u64;
    let join_request = len(format!("GET /poll?room=0 HTTP/1.1\r\nhost: {addr}\r\n\r\n"));
    let poll_request = len(format!(
        "GET /poll?room=0&cursor={} HTTP/1.1\r\nhost: {addr}\r\n\r\n",
        FIRST_SEQ + 1
    ));
    let publish_request = len(format!(
        "POST /publish?room=0 HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {PAYLOAD}\r\n\r\n"
    ));
    let r = &o.recorder;
    let (subscribers, posts, payload) = (10, o.messages_published, PAYLOAD as u64);
    let answered_polls = r.counts.http_requests - subscribers - posts;
    assert_eq!(
        r.counts.empty_polls, 0,
        "a held poll is only answered with news here"
    );
    assert_eq!(r.counts.responses_with_messages, answered_polls);
    assert_eq!(r.counts.messages_in_responses, r.counts.delivery.delivered);
    let up = o.connect_wire.up + o.wire.up;
    let down = o.connect_wire.down + o.wire.down;
    let expected_down = subscribers * join_head.len() as u64
        + answered_polls * poll_head.len() as u64
        + r.counts.messages_in_responses * body.len() as u64
        + posts * publish_head.len() as u64;
    assert_eq!(down, expected_down, "bytes down, to the byte");
    let answered_up = subscribers * join_request
        + answered_polls * poll_request
        + posts * (publish_request + payload);
    // A subscriber that has everything (room 3's expect nothing) may leave one poll held.
    let in_flight = (up - answered_up) / poll_request;
    assert_eq!(
        up,
        answered_up + in_flight * poll_request,
        "bytes up, to the byte"
    );
    assert!(
        (2..=subscribers).contains(&in_flight),
        "{in_flight} polls in flight"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_bytes_with_rooms_are_the_real_heads_plus_events_and_chunk_framing() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, raw_stop) = seeded_server(TransportKind::Sse, dir.path(), "raw").await;
    let mut tcp = TcpStream::connect(raw).await.unwrap();
    let request = format!("GET /events?room=1 HTTP/1.1\r\nhost: {raw}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let stream_head = read_head(&mut tcp).await;
    let publish_head = publish_in_room_1(raw).await;
    let mut event = Vec::new();
    wsbench::codec::sse::push_event(&mut event, FIRST_SEQ + 1, &vec![b'.'; PAYLOAD]);
    let chunk = format!("{:X}\r\n", event.len());
    let mut got = vec![0u8; chunk.len() + event.len() + 2];
    tcp.read_exact(&mut got).await.unwrap();
    assert_eq!(&got[chunk.len()..chunk.len() + event.len()], &event[..]);
    raw_stop.cancel();

    let (addr, stop) = seeded_server(TransportKind::Sse, dir.path(), "run").await;
    let o = run_on(Transport::Sse, addr).await;
    stop.cancel();
    let len = |s: String| s.len() as u64;
    let events_request = len(format!(
        "GET /events?room=0 HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\ncache-control: no-cache\r\n\r\n"
    ));
    let publish_request = len(format!(
        "POST /publish?room=0 HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {PAYLOAD}\r\n\r\n"
    ));
    common::sse::assert_sse_bytes(
        &o,
        SseSizes {
            subscribers: 10,
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
