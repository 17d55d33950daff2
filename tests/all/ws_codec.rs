//! The WebSocket codec against the outside world: property tests that encode→decode round-trips,
//! cross-checks with tungstenite in both directions, and the overhead model checked against the
//! bytes the built-in servers really send (WebSocket, long-poll, SSE).
#![allow(clippy::unwrap_used)] // Helpers too: a failed unwrap is a failed test.

use crate::common;

use std::io::Cursor;
use std::time::Duration;

use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::{Role as TungRole, WebSocket};
use tokio_tungstenite::tungstenite::{self, Message as TungMessage};
use wsbench::codec::http::{DATE_LEN, PollHead, chunk_overhead, sse_event_overhead, sse_head_len};
use wsbench::codec::ws::overhead::{client_frame_overhead, server_frame_overhead};
use wsbench::codec::ws::{
    Config, DataOp, Decoder, FrameHeader, MAX_HEADER_LEN, Message, OpCode, encode_frame,
};
use wsbench::protocol::TransportKind;

/// A data message as the tests describe it: text or binary, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Data {
    Text(String),
    Binary(Vec<u8>),
}

/// Decodes everything in `chunks` (fed one at a time) into owned messages.
fn decode_all(config: Config, chunks: &[&[u8]]) -> Vec<Data> {
    let mut decoder = Decoder::new(config);
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk);
        while let Some(m) = decoder.next_message().expect("a valid stream") {
            match m {
                Message::Text(t) => out.push(Data::Text(t.to_string())),
                Message::Binary(b) => out.push(Data::Binary(b.to_vec())),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    out
}

/// Encodes `message` as `fragments` frames (at least one), masked with `mask` if given.
fn encode(out: &mut Vec<u8>, message: &Data, fragments: usize, mask: Option<[u8; 4]>) {
    let (op, bytes) = match message {
        Data::Text(t) => (DataOp::Text, t.as_bytes()),
        Data::Binary(b) => (DataOp::Binary, &b[..]),
    };
    let piece = bytes.len().div_ceil(fragments.max(1)).max(1);
    let pieces: Vec<&[u8]> = if bytes.is_empty() {
        vec![bytes]
    } else {
        bytes.chunks(piece).collect()
    };
    for (i, part) in pieces.iter().enumerate() {
        let opcode = OpCode::Data(if i == 0 { op } else { DataOp::Continuation });
        let fin = i + 1 == pieces.len();
        let header = FrameHeader::new(opcode, fin, part.len() as u64, mask).expect("data frame");
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut head);
        out.extend_from_slice(&head[..n]);
        let start = out.len();
        out.extend_from_slice(part);
        if let Some(key) = mask {
            wsbench::codec::ws::apply_mask(&mut out[start..], key);
        }
    }
}

fn data_strategy() -> impl Strategy<Value = Data> {
    let len = prop_oneof![8 => 0usize..300, 1 => Just(125usize), 1 => Just(126usize), 1 => Just(65536usize)];
    prop_oneof![
        len.clone()
            .prop_flat_map(|n| proptest::collection::vec(any::<char>(), n / 4))
            .prop_map(|chars| Data::Text(chars.into_iter().collect())),
        len.prop_flat_map(|n| proptest::collection::vec(any::<u8>(), n))
            .prop_map(Data::Binary),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn header_round_trips(op in 0u8..3, fin: bool, len in prop_oneof![0u64..70_000, Just((1u64 << 63) - 1)], mask: Option<[u8; 4]>) {
        let opcode = OpCode::from_bits(op).expect("data opcode");
        let header = FrameHeader::new(opcode, fin, len, mask).expect("valid");
        let mut out = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut out);
        prop_assert_eq!(FrameHeader::decode(&out[..n]), Ok(Some((header, n))));
    }

    #[test]
    fn stream_round_trips_at_any_split(
        messages in proptest::collection::vec((data_strategy(), 1usize..4), 1..6),
        mask: Option<[u8; 4]>,
        splits in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
    ) {
        let mut bytes = Vec::new();
        for (m, fragments) in &messages {
            encode(&mut bytes, m, *fragments, mask);
        }
        let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut at = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            chunks.push(&bytes[at..cut]);
            at = cut;
        }
        let config = if mask.is_some() { Config::server() } else { Config::client() };
        let expected: Vec<Data> = messages.into_iter().map(|(m, _)| m).collect();
        prop_assert_eq!(decode_all(config, &chunks), expected);
    }
}

/// Messages at every length boundary, text and binary.
fn boundary_messages() -> Vec<Data> {
    let mut out = Vec::new();
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70_000] {
        out.push(Data::Text("é".repeat(len / 2) + &".".repeat(len % 2)));
        out.push(Data::Binary((0..len).map(|i| (i % 251) as u8).collect()));
    }
    out
}

fn tungstenite_reads(bytes: Vec<u8>, role: TungRole, count: usize) -> Vec<Data> {
    let mut ws = WebSocket::from_raw_socket(Cursor::new(bytes), role, None);
    (0..count)
        .map(
            |_| match ws.read().expect("tungstenite accepts our frames") {
                TungMessage::Text(t) => Data::Text(t.as_str().to_string()),
                TungMessage::Binary(b) => Data::Binary(b.to_vec()),
                other => panic!("unexpected {other:?}"),
            },
        )
        .collect()
}

#[test]
fn tungstenite_parses_what_we_encode() {
    let messages = boundary_messages();
    for (mask, role) in [
        (None, TungRole::Client),
        (Some([1, 2, 3, 4]), TungRole::Server),
    ] {
        for fragments in [1, 3] {
            let mut bytes = Vec::new();
            for m in &messages {
                encode(&mut bytes, m, fragments, mask);
            }
            assert_eq!(tungstenite_reads(bytes, role, messages.len()), messages);
        }
    }
}

#[test]
fn we_parse_what_tungstenite_encodes() {
    let messages = boundary_messages();
    for (role, config) in [
        (TungRole::Server, Config::client()),
        (TungRole::Client, Config::server()),
    ] {
        let mut ws = WebSocket::from_raw_socket(Cursor::new(Vec::new()), role, None);
        for m in &messages {
            let message = match m {
                Data::Text(t) => TungMessage::text(t.clone()),
                Data::Binary(b) => TungMessage::binary(b.clone()),
            };
            ws.send(message).expect("writing to memory");
        }
        let bytes = ws.get_ref().get_ref().clone();
        assert_eq!(decode_all(config, &[&bytes]), messages);
    }
    // And our own encoder, byte for byte, for an unfragmented frame.
    let frame = tungstenite::protocol::frame::Frame::message(
        b"Hello".to_vec(),
        tungstenite::protocol::frame::coding::OpCode::Data(
            tungstenite::protocol::frame::coding::Data::Text,
        ),
        true,
    );
    let mut theirs = Vec::new();
    frame.format(&mut theirs).unwrap();
    let mut ours = Vec::new();
    encode_frame(&mut ours, OpCode::Data(DataOp::Text), b"Hello", None).unwrap();
    assert_eq!(ours, theirs);
}

const WAIT: Duration = Duration::from_secs(10);

/// Reads until `\r\n\r\n`; returns the head (and any bytes after it).
async fn read_head(tcp: &mut TcpStream) -> (Vec<u8>, Vec<u8>) {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return (buf, rest);
        }
        let mut chunk = [0u8; 4096];
        let n = timeout(WAIT, tcp.read(&mut chunk)).await.unwrap().unwrap();
        assert!(
            n > 0,
            "connection closed mid-head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads exactly `n` bytes (some may already be in `have`), then checks nothing more follows.
async fn read_exactly(tcp: &mut TcpStream, mut have: Vec<u8>, n: usize) -> Vec<u8> {
    let start = have.len();
    have.resize(n.max(start), 0);
    timeout(WAIT, tcp.read_exact(&mut have[start..]))
        .await
        .unwrap()
        .unwrap();
    let mut extra = [0u8; 64];
    let more = timeout(Duration::from_millis(200), tcp.read(&mut extra)).await;
    assert!(more.is_err(), "bytes beyond the model: {more:?}");
    have
}

/// The `date` value of a captured head.
fn date_of(head: &[u8]) -> [u8; DATE_LEN] {
    let at = head
        .windows(6)
        .position(|w| w == b"date: ")
        .expect("a date header")
        + 6;
    head[at..at + DATE_LEN].try_into().unwrap()
}

#[tokio::test]
async fn websocket_bytes_equal_the_model() {
    let (addr, stop) = common::start_server(TransportKind::Ws).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let (head, rest) = read_head(&mut tcp).await;
    let head = String::from_utf8(head).unwrap().to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert!(rest.is_empty());
    for len in [1usize, 125, 126, 65535, 65536] {
        let payload = ".".repeat(len);
        let mut frame = Vec::new();
        encode_frame(
            &mut frame,
            OpCode::Data(DataOp::Text),
            payload.as_bytes(),
            Some([9, 8, 7, 6]),
        )
        .unwrap();
        assert_eq!(frame.len(), client_frame_overhead(len) + len);
        tcp.write_all(&frame).await.unwrap();
        // The server broadcasts to every client, the sender included.
        let received = read_exactly(&mut tcp, Vec::new(), server_frame_overhead(len) + len).await;
        let mut expected = Vec::new();
        encode_frame(
            &mut expected,
            OpCode::Data(DataOp::Text),
            payload.as_bytes(),
            None,
        )
        .unwrap();
        assert_eq!(received, expected, "len {len}");
    }
    stop.cancel();
}

#[tokio::test]
async fn long_poll_and_sse_bytes_equal_the_model() {
    let (addr, stop) = common::start_server(TransportKind::LongPoll).await;
    let mut poll = TcpStream::connect(addr).await.unwrap();
    let mut events = TcpStream::connect(addr).await.unwrap();
    let ask = |path: &str| format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n").into_bytes();

    poll.write_all(&ask("/poll")).await.unwrap();
    let (head, rest) = read_head(&mut poll).await;
    let mut expected = Vec::new();
    PollHead {
        next_cursor: 0,
        missed: 0,
        reset: false,
        content_length: 0,
    }
    .write(&mut expected, &date_of(&head));
    assert_eq!(
        String::from_utf8_lossy(&head),
        String::from_utf8_lossy(&expected)
    );
    assert!(rest.is_empty());

    events.write_all(&ask("/events")).await.unwrap();
    let (head, rest) = read_head(&mut events).await;
    assert_eq!(
        head.len(),
        sse_head_len(),
        "{}",
        String::from_utf8_lossy(&head)
    );

    let message = b"~wsb:00000000:0:1:2~............................................";
    let mut publish =
        b"POST /publish HTTP/1.1\r\nhost: localhost\r\ncontent-length: 64\r\n\r\n".to_vec();
    publish.extend_from_slice(message);
    poll.write_all(&publish).await.unwrap();
    let (head, rest2) = read_head(&mut poll).await;
    assert!(head.starts_with(b"HTTP/1.1 204"));
    assert!(rest2.is_empty());

    // One event in one chunk.
    let event_len = sse_event_overhead(1) + message.len();
    let chunk = read_exactly(&mut events, rest, chunk_overhead(event_len) + event_len).await;
    // hyper writes the chunk size in upper-case hex.
    let start = format!("{event_len:X}\r\nid: 1\ndata: ~wsb:");
    assert!(
        chunk.starts_with(start.as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&chunk)
    );

    poll.write_all(&ask("/poll?cursor=0")).await.unwrap();
    let (head, rest) = read_head(&mut poll).await;
    let body_len = message.len() + wsbench::codec::batch::framing_len(message.len());
    let body = read_exactly(&mut poll, rest, body_len).await;
    let mut expected = Vec::new();
    PollHead {
        next_cursor: 1,
        missed: 0,
        reset: false,
        content_length: body_len,
    }
    .write(&mut expected, &date_of(&head));
    assert_eq!(
        String::from_utf8_lossy(&head),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(
        head.len() + body.len(),
        wsbench::codec::http::poll_response_len(1, &[message.len()])
    );

    // A cursor ahead of the server: the reset header sits after the cursor.
    poll.write_all(&ask("/poll?cursor=99")).await.unwrap();
    let (head, rest) = read_head(&mut poll).await;
    let mut expected = Vec::new();
    PollHead {
        next_cursor: 1,
        missed: 0,
        reset: true,
        content_length: body_len,
    }
    .write(&mut expected, &date_of(&head));
    assert_eq!(
        String::from_utf8_lossy(&head),
        String::from_utf8_lossy(&expected)
    );
    // The server rejoins the client at the start of its ring, so the message comes again.
    assert_eq!(read_exactly(&mut poll, rest, body_len).await, body);
    stop.cancel();
}
