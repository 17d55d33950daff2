//! WebSocket over HTTP/2 (RFC 8441), end to end: our client against the built-in server, with
//! every byte the clients read explained.
//!
//! A relay between the clients and the server records what the server sends on each connection;
//! the test splits it into HTTP/2 frames (a 9-byte head: 24-bit length, type, flags, stream) and
//! the DATA payloads of each stream into WebSocket frames. The rule it checks, per connection:
//! the server's SETTINGS (one, a whole number of 6-byte settings) and its ACK of ours (9 bytes),
//! one HEADERS frame per stream (`:status 200`, HPACK's static entry 8: 10 bytes),
//! WINDOW_UPDATEs and RST_STREAMs (13 bytes each), at the end at most a GOAWAY (17 bytes), and
//! nothing else besides DATA; the DATA payloads are exactly the
//! WebSocket frames the run accounts for (every delivery a 66-byte frame: a 2-byte header and a
//! 64-byte message; at most one 4-byte close per stream, the echo of the client's, which reaches
//! the client only if it comes before the client hangs up). So the bytes the server sent are the
//! WebSocket frames + 9 bytes per DATA frame + those control frames, and the clients counted all
//! of them but a connection's last GOAWAY when it came after the client hung up.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wsbench::client::{ClientOutcome, LoadPlan, Target, drive};
use wsbench::codec::ws::negotiate::Offer;
use wsbench::codec::ws::{ControlOp, FrameHeader, OpCode};
use wsbench::protocol::TransportKind;
use wsbench::scenario::{Transport, WsClient, parse};

const PAYLOAD: usize = 64;
/// A delivered message on the wire: a 2-byte header (no mask, server to client) and the message.
const MESSAGE_FRAME: u64 = 2 + PAYLOAD as u64;
/// The server's close, echoing the client's 1000 with no reason.
const CLOSE_FRAME: u64 = 4;

/// HTTP/2 frame types (RFC 9113 §6).
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;

fn ws() -> Transport {
    Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
        resume: false,
    }
}

/// 8 subscribers, 2 of them publishing, 20 msg/s for 2 s: 40 messages, 320 deliveries.
fn plan() -> LoadPlan {
    LoadPlan {
        subscribers: 8,
        publishers: 2,
        rate: 20.0,
        payload_bytes: PAYLOAD,
        ..common::small_plan()
    }
}

/// A relay on loopback in front of `server`: every connection's server-to-client bytes are sent
/// on the returned channel once the connection ends.
async fn recording_relay(server: SocketAddr) -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // Bounded: the test makes at most a few connections.
        for _ in 0..64 {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let upstream = TcpStream::connect(server).await.unwrap();
                let (mut client_rx, mut client_tx) = client.into_split();
                let (mut server_rx, mut server_tx) = upstream.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_rx, &mut server_tx).await;
                    let _ = server_tx.shutdown().await;
                });
                let mut recorded = Vec::new();
                let mut chunk = vec![0u8; 64 * 1024];
                while let Ok(n) = server_rx.read(&mut chunk).await {
                    if n == 0 || client_tx.write_all(&chunk[..n]).await.is_err() {
                        break;
                    }
                    recorded.extend_from_slice(&chunk[..n]);
                }
                let _ = tx.send(recorded);
            });
        }
    });
    (addr, rx)
}

/// What one connection's server-to-client bytes hold.
#[derive(Debug, Default)]
struct Split {
    /// Bytes in all, frame heads included.
    total: u64,
    data_frames: u64,
    /// (type, flags, payload length) of every frame that is not DATA.
    control: Vec<(u8, u8, u64)>,
    /// Each stream's DATA payloads, joined: its WebSocket bytes.
    streams: BTreeMap<u32, Vec<u8>>,
    /// The connection's last frame is a GOAWAY.
    ends_with_goaway: bool,
}

/// Splits `bytes` into HTTP/2 frames; they must end on a frame boundary.
fn split(bytes: &[u8]) -> Split {
    let mut s = Split {
        total: bytes.len() as u64,
        ..Split::default()
    };
    let mut at = 0;
    while at < bytes.len() {
        let head = &bytes[at..at + 9];
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes(head[5..9].try_into().unwrap()) & 0x7fff_ffff;
        let payload = &bytes[at + 9..at + 9 + len];
        if kind == DATA {
            s.data_frames += 1;
            s.streams
                .entry(stream)
                .or_default()
                .extend_from_slice(payload);
        } else {
            s.control.push((kind, flags, len as u64));
        }
        s.ends_with_goaway = kind == GOAWAY;
        at += 9 + len;
    }
    assert_eq!(at, bytes.len(), "the bytes end inside a frame");
    s
}

/// A stream's WebSocket frames: (opcode, bytes on the wire) each; they must end on a boundary.
fn ws_frames(mut bytes: &[u8]) -> Vec<(OpCode, u64)> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (h, head) = FrameHeader::decode(bytes).unwrap().unwrap();
        let total = head + h.payload_len() as usize;
        frames.push((h.opcode(), total as u64));
        bytes = &bytes[total..];
    }
    frames
}

/// Runs the plan over HTTP/2 with `streams` clients per connection, through the relay, and
/// checks the deliveries and every byte down.
async fn run_and_account(streams: u32) {
    let (server, stop) = common::start_server(TransportKind::Ws).await;
    let (relay, mut recorded) = recording_relay(server).await;
    let plan = plan();
    let target = Target {
        http2: true,
        streams_per_connection: streams,
        ..Target::new(ws(), relay).unwrap()
    };
    let o: ClientOutcome = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    let subscribers = u64::from(plan.subscribers);
    let d = o.recorder.counts.delivery;
    assert_eq!(o.messages_published, 40);
    assert_eq!(o.deliveries_expected, 40 * subscribers);
    assert_eq!(d.delivered, 40 * subscribers);
    assert_eq!((d.lost, d.duplicated), (0, 0));
    assert_eq!(o.recorder.counts.reconnects, 0);

    let connections = subscribers.div_ceil(u64::from(streams));
    let mut down = 0;
    let (mut ws_bytes, mut data_frames, mut control_bytes) = (0, 0, 0);
    let (mut messages, mut closes, mut last_goaways) = (0, 0, 0);
    for _ in 0..connections {
        let bytes = tokio::time::timeout(Duration::from_secs(10), recorded.recv())
            .await
            .expect("every connection ends")
            .unwrap();
        let s = split(&bytes);
        down += s.total;
        data_frames += s.data_frames;
        last_goaways += u64::from(s.ends_with_goaway);
        assert_eq!(s.streams.len() as u64, u64::from(streams).min(subscribers));
        for stream in s.streams.values() {
            for (opcode, len) in ws_frames(stream) {
                ws_bytes += len;
                match opcode {
                    OpCode::Data(_) => {
                        assert_eq!(len, MESSAGE_FRAME);
                        messages += 1;
                    }
                    OpCode::Control(ControlOp::Close) => {
                        assert_eq!(len, CLOSE_FRAME);
                        closes += 1;
                    }
                    other => panic!("unexpected frame {other:?}"),
                }
            }
        }
        // The control frames, by the rule in the module's doc.
        let settings: Vec<_> = s.control.iter().filter(|c| c.0 == SETTINGS).collect();
        assert_eq!(settings.len(), 2, "{:?}", s.control);
        assert!(settings.iter().any(|c| c.1 == 0 && c.2 % 6 == 0));
        assert!(settings.iter().any(|c| c.1 == 1 && c.2 == 0), "the ACK");
        let headers = s.control.iter().filter(|c| c.0 == HEADERS);
        assert!(headers.clone().all(|c| c.2 == 1), "{:?}", s.control);
        assert_eq!(headers.count(), s.streams.len());
        for c in &s.control {
            match c.0 {
                SETTINGS | HEADERS => {}
                WINDOW_UPDATE | RST_STREAM => assert_eq!(c.2, 4),
                // The last stream gone, the connection's end: no debug data.
                GOAWAY => assert_eq!(c.2, 8),
                other => panic!("frame type {other} on the wire"),
            }
            control_bytes += 9 + c.2;
        }
    }
    stop.cancel();
    // The WebSocket frames, by an independent count: every delivery, and the closes.
    assert_eq!(messages, d.delivered);
    assert!(closes <= subscribers, "{closes} closes");
    assert_eq!(ws_bytes, d.delivered * MESSAGE_FRAME + closes * CLOSE_FRAME);
    assert_eq!(down, ws_bytes + 9 * data_frames + control_bytes);
    // What the clients counted below HTTP/2 is what the server sent, to the byte, but for a
    // connection's closing GOAWAY that comes after its client hung up (17 bytes each).
    let counted = o.connect_wire.down + o.wire.down;
    let unread = down
        .checked_sub(counted)
        .unwrap_or_else(|| panic!("the clients counted {counted}, more than the {down} sent"));
    assert!(
        unread % 17 == 0 && unread / 17 <= last_goaways,
        "bytes down: the clients counted {counted}, the server sent {down}"
    );
}

/// permessage-deflate and the resumable protocol ride on the CONNECT and its 200 as on the
/// upgrade and its 101: compressed frames (fewer bytes down than the payloads), every message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deflate_and_resume_over_http2() {
    let (server, stop) = common::start_server(TransportKind::Ws).await;
    let plan = plan();
    let resumable = Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
        resume: true,
    };
    let target = Target {
        http2: true,
        streams_per_connection: 2,
        deflate: Some(Offer::default()),
        ..Target::new(resumable, server).unwrap()
    };
    let o = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    stop.cancel();
    let d = o.recorder.counts.delivery;
    assert_eq!(d.delivered, 40 * u64::from(plan.subscribers));
    assert_eq!((d.lost, d.duplicated, d.reordered), (0, 0, 0));
    assert_eq!(o.recorder.counts.connect_errors.total(), 0);
    // Padding compresses: the frames down are smaller than the messages they carry.
    assert!(o.wire.down < o.payload_wire.down, "{:?}", o.wire);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_stream_per_connection_bytes_are_websocket_frames_plus_http2_frame_heads() {
    run_and_account(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_streams_per_connection_bytes_are_websocket_frames_plus_http2_frame_heads() {
    run_and_account(4).await;
}

/// A scenario whose `[transports.ws]` table (line 7 on) is `ws`.
fn scenario(ws: &str) -> String {
    format!(
        "name = \"x\"\nduration = \"2s\"\n[clients]\nsubscribers = 10\n[publish]\nrate = 10\n\
         [transports.ws]\n{ws}\n"
    )
}

/// The one-line error the scenario gets.
fn refused(ws: &str) -> String {
    parse(Path::new("scenarios/x.toml"), &scenario(ws))
        .expect_err("the scenario should be refused")
        .to_string()
}

#[test]
fn http2_runs_ws_and_ws_h2_with_streams_per_connection_on_the_h2_run() {
    let s = parse(
        Path::new("scenarios/x.toml"),
        &scenario("http2 = [false, true]\ntls = [false, true]\nstreams_per_connection = 4"),
    )
    .unwrap();
    let runs: Vec<(String, u32)> = s
        .runs()
        .iter()
        .map(|(t, v)| (v.label(t.kind()), v.streams_per_connection))
        .collect();
    assert_eq!(
        runs,
        [
            ("ws".to_string(), 1),
            ("ws-h2".to_string(), 4),
            ("ws-tls".to_string(), 1),
            ("ws-h2-tls".to_string(), 4)
        ]
    );
    // Written back and read again, the scenario is the same.
    assert_eq!(
        parse(Path::new("scenarios/x.toml"), &s.to_toml()).unwrap(),
        s
    );
}

#[test]
fn bad_http2_and_streams_per_connection_name_file_line_and_field() {
    assert_eq!(
        refused("http2 = true\nstreams_per_connection = 0"),
        "scenarios/x.toml:9: [transports.ws] streams_per_connection must be 1 to 256, got 0"
    );
    assert_eq!(
        refused("http2 = true\nstreams_per_connection = 257"),
        "scenarios/x.toml:9: [transports.ws] streams_per_connection must be 1 to 256, got 257"
    );
    assert_eq!(
        refused("streams_per_connection = 4"),
        "scenarios/x.toml:8: [transports.ws] streams_per_connection = 4 multiplexes clients on \
         HTTP/2 connections: it needs http2 = true (or [false, true]) in [transports.ws]"
    );
    let msg = refused("streams_per_connection = \"4\"");
    assert!(msg.starts_with("scenarios/x.toml:8"), "{msg}");
    assert!(msg.contains("streams_per_connection"), "{msg}");
    assert_eq!(
        refused("http2 = \"yes\""),
        "scenarios/x.toml:8: [transports.ws] http2: expected true, false or a list of them such \
         as [false, true], got a string"
    );
}

/// What an HTTP/2 client gets for each request to the WebSocket server: the server advertises
/// extended CONNECT in its SETTINGS; a WebSocket CONNECT gets 200, a bad one a real HTTP answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_advertises_extended_connect_and_answers_bad_requests_over_http2() {
    let (server, stop) = common::start_server(TransportKind::Ws).await;
    let tcp = TcpStream::connect(server).await.unwrap();
    let (sender, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let sender = sender.ready().await.unwrap();
    for _ in 0..1000 {
        if sender.is_extended_connect_protocol_enabled() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(sender.is_extended_connect_protocol_enabled());
    let status = |path: &str, protocol: Option<&'static str>, version: &str| {
        let mut request = hyper::Request::builder()
            .method(if protocol.is_some() { "CONNECT" } else { "GET" })
            .uri(format!("http://{server}{path}"))
            .header("sec-websocket-version", version)
            .body(())
            .unwrap();
        if let Some(p) = protocol {
            request
                .extensions_mut()
                .insert(h2::ext::Protocol::from_static(p));
        }
        let mut sender = sender.clone();
        async move {
            let (response, _stream) = sender.send_request(request, false).unwrap();
            response.await.unwrap().status().as_u16()
        }
    };
    assert_eq!(status("/ws?room=1", Some("websocket"), "13").await, 200);
    assert_eq!(status("/ws", Some("websocket"), "8").await, 400);
    assert_eq!(status("/ws", Some("webtransport"), "13").await, 400);
    assert_eq!(status("/ws", None, "13").await, 400);
    assert_eq!(status("/ws?room=x", Some("websocket"), "13").await, 400);
    assert_eq!(status("/elsewhere", Some("websocket"), "13").await, 404);
    stop.cancel();
}
