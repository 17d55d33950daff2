//! permessage-deflate end to end: our client against the built-in server (every message
//! arrives, and the bytes counted are exactly the compressed frames'), against real
//! implementations nobody here wrote (Python's `websockets`, Node's `ws`), and a compressed bomb
//! that gets 1009 while the server goes on.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use wsbench::client::{ClientOutcome, LoadPlan, Target, drive};
use wsbench::codec::payload::PayloadModel;
use wsbench::codec::ws::deflate::{Deflater, Inflater};
use wsbench::codec::ws::negotiate::Offer;
use wsbench::codec::ws::{DataOp, FrameHeader, OpCode};
use wsbench::scenario::{Transport, WsClient};

fn ws() -> Transport {
    Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
        resume: false,
    }
}

/// The small plan with chat messages of `size` bytes.
fn chat_plan(size: usize) -> LoadPlan {
    let mut plan = common::small_plan();
    plan.payload = PayloadModel::Chat;
    plan.payload_bytes = size;
    plan
}

async fn run(addr: SocketAddr, plan: &LoadPlan, offer: Offer) -> ClientOutcome {
    let target = Target {
        deflate: Some(offer),
        ..Target::new(ws(), addr).unwrap()
    };
    drive(plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap()
}

/// Upgrades a raw connection to `addr` offering `extensions`; returns the stream and the 101's
/// head (lowercased).
async fn upgrade(addr: SocketAddr, extensions: &str) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Extensions: {extensions}\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    (tcp, String::from_utf8(head).unwrap().to_lowercase())
}

/// Reads frames off `tcp` until `quiet` passes without one: each data frame's size on the wire,
/// and its RSV1 bit.
async fn frame_sizes(tcp: &mut TcpStream, quiet: Duration) -> Vec<(usize, bool)> {
    let (mut buf, mut sizes) = (Vec::new(), Vec::new());
    let mut chunk = vec![0u8; 64 * 1024];
    while let Ok(Ok(n)) = tokio::time::timeout(quiet, tcp.read(&mut chunk)).await {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Ok(Some((h, head))) = FrameHeader::decode(&buf) {
            let total = head + h.payload_len() as usize;
            if buf.len() < total {
                break;
            }
            if matches!(h.opcode(), OpCode::Data(_)) {
                sizes.push((total, h.rsv() == 0b100));
            }
            buf.drain(..total);
        }
    }
    sizes
}

/// Every subscriber of one room receives the same messages in the same order, so with the same
/// agreement it receives the same compressed bytes as an observer that joined before the first
/// message: the run's received bytes are subscribers × the observer's frames, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runs_compressed_bytes_are_the_sum_of_its_frames() {
    for offer in [
        Offer::default(),
        Offer {
            context_takeover: true,
            window_bits: 15,
        },
        Offer {
            context_takeover: true,
            window_bits: 9,
        },
    ] {
        let (addr, stop) = common::start_server(ws().kind()).await;
        let (mut observer, head) = upgrade(addr, &offer.header()).await;
        assert!(
            head.contains("sec-websocket-extensions: permessage-deflate"),
            "{head}"
        );
        let watching =
            tokio::spawn(async move { frame_sizes(&mut observer, Duration::from_secs(3)).await });
        let plan = chat_plan(400);
        let o = run(addr, &plan, offer).await;
        let frames = watching.await.unwrap();
        stop.cancel();
        let d = o.recorder.counts.delivery;
        assert_eq!(o.messages_published, 100, "{offer:?}");
        assert_eq!(d.delivered, 100 * u64::from(plan.subscribers), "{offer:?}");
        assert_eq!((d.lost, d.duplicated, o.recorder.counts.foreign), (0, 0, 0));
        assert_eq!(frames.len(), 100, "{offer:?}");
        assert!(frames.iter().all(|&(_, compressed)| compressed));
        let per_subscriber: u64 = frames.iter().map(|&(n, _)| n as u64).sum();
        assert_eq!(
            o.wire.down,
            u64::from(plan.subscribers) * per_subscriber,
            "{offer:?}"
        );
        // The uncompressed payload is still counted, for the ratio; chat text compresses.
        assert_eq!(o.payload_wire.down, d.delivered * 400);
        assert!(
            o.wire.down < o.payload_wire.down,
            "{offer:?}: {} bytes",
            o.wire.down
        );
    }
}

/// A message that inflates past the server's limit is refused with 1009, and the server goes
/// on serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_bomb_gets_1009_and_the_server_lives() {
    let (addr, stop) = common::start_server(ws().kind()).await;
    let (mut tcp, head) = upgrade(addr, "permessage-deflate").await;
    assert!(
        head.contains("sec-websocket-extensions: permessage-deflate"),
        "{head}"
    );
    let mut bomb = Vec::new();
    let zeros = vec![0u8; 64 << 20];
    Deflater::new(15, false).encode_frame(&mut bomb, DataOp::Binary, &zeros, Some([1, 2, 3, 4]));
    assert!(bomb.len() < 128 * 1024, "{}", bomb.len());
    tcp.write_all(&bomb).await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut reply)).await;
    assert_eq!(&reply[..4], [0x88, 0x02, 0x03, 0xf1], "close 1009");
    // Another client still gets its message back, compressed.
    let (mut other, _) = upgrade(addr, "permessage-deflate; server_no_context_takeover").await;
    let mut frame = Vec::new();
    Deflater::new(15, false).encode_frame(&mut frame, DataOp::Text, b"still here", Some([9; 4]));
    other.write_all(&frame).await.unwrap();
    let mut got = [0u8; 64];
    let n = other.read(&mut got).await.unwrap();
    assert_eq!(got[0], 0xc1);
    let mut out = Vec::new();
    Inflater::new(false)
        .inflate(&got[2..n], &mut out, 100)
        .unwrap();
    assert_eq!(out, b"still here");
    stop.cancel();
}

/// An offer the server cannot serve (an 8-bit server window) is declined: plain frames follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_the_server_cannot_serve_is_declined() {
    let (addr, stop) = common::start_server(ws().kind()).await;
    let (mut tcp, head) = upgrade(addr, "permessage-deflate; server_max_window_bits=8").await;
    assert!(!head.contains("sec-websocket-extensions"), "{head}");
    tcp.write_all(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i'])
        .await
        .unwrap();
    let mut got = [0u8; 4];
    tcp.read_exact(&mut got).await.unwrap();
    assert_eq!(got, [0x81, 0x02, b'h', b'i']);
    stop.cancel();
}

/// Runs the small chat plan against a peer's chat server (which adds no envelope of its own, or
/// a prefix) and checks every message arrived and the wire carried fewer bytes than the
/// payloads: our compressed publishes were read by the peer, its compressed frames by us.
async fn against_peer(port: u16, size: usize, offer: Offer) {
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let plan = chat_plan(size);
    let o = run(addr, &plan, offer).await;
    let d = o.recorder.counts.delivery;
    assert_eq!(o.messages_published, 100, "{offer:?}");
    assert_eq!(d.delivered, 100 * u64::from(plan.subscribers), "{offer:?}");
    assert_eq!((d.lost, d.duplicated), (0, 0), "{offer:?}");
    assert_eq!(o.recorder.counts.connect_errors.total(), 0, "{offer:?}");
    assert!(o.wire.down < o.payload_wire.down, "{offer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pythons_websockets_server_interoperates() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("python.log");
    let peer = common::peers::start("python-ws", &[], &[("LOG", log.to_str().unwrap())]);
    for offer in [
        Offer::default(),
        Offer {
            context_takeover: true,
            window_bits: 12,
        },
    ] {
        against_peer(peer.port, 400, offer).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_ws_with_per_message_deflate_interoperates() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("node.log");
    let env = [("LOG", log.to_str().unwrap()), ("PER_MESSAGE_DEFLATE", "1")];
    let peer = common::peers::start("node-ws", &[], &env);
    // `ws` sends messages under 1024 bytes uncompressed: these are above it.
    for offer in [
        Offer::default(),
        Offer {
            context_takeover: true,
            window_bits: 15,
        },
    ] {
        against_peer(peer.port, 2000, offer).await;
    }
}
