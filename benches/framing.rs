//! Benchmarks for the CPU cost of putting one 64-byte message on the wire, per transport: the
//! per-message CPU side of the header-overhead story (the byte side is `codec::http` and
//! `codec::ws::overhead`).
//!
//! Group `framing`, one function per way of framing (output buffers are reused, as a server's
//! write buffer is):
//! - `websocket`: our unmasked server frame, header and payload copied into the buffer.
//! - `websocket_tungstenite`: tungstenite 0.30's `Frame::format` of the same frame.
//! - `longpoll_model`: the long-poll response exactly as hyper writes it (head with
//!   `x-next-cursor`, `content-length` and a cached `date`) plus the netstring body, written by
//!   our model of it ([`wsbench::codec::http::PollHead::write`] and `codec::batch::push`).
//! - `longpoll_hyper`: the real thing: one `GET /poll` request parsed and one response encoded
//!   by a hyper 1.x HTTP/1.1 connection over an in-memory pipe on a current-thread runtime, as
//!   the built-in server does it. This is the server-side CPU of one long-poll delivery.
//! - `sse`: one SSE event (`id:` and `data:` lines, `codec::sse::push_event`) in its own
//!   HTTP/1.1 chunk.

use std::convert::Infallible;
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode as TungOpCode};
use wsbench::codec::http::{DATE_LEN, PollHead, poll_response_len};
use wsbench::codec::ws::{DataOp, OpCode, encode_frame};
use wsbench::codec::{batch, sse};

const MESSAGE: &[u8; 64] = b"~wsb:00000000:0:12345:987654321~................................";
const DATE: &[u8; DATE_LEN] = b"Wed, 25 Nov 2026 11:45:44 GMT";
const POLL_REQUEST: &[u8] = b"GET /poll?cursor=0 HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";

fn framing(c: &mut Criterion) {
    let mut group = c.benchmark_group("framing");
    group.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(4096);
    group.bench_function("websocket", |b| {
        b.iter(|| {
            out.clear();
            encode_frame(
                &mut out,
                OpCode::Data(DataOp::Text),
                black_box(MESSAGE),
                None,
            )
            .expect("data frame");
            black_box(out.len())
        })
    });
    let message = Bytes::from_static(MESSAGE);
    group.bench_function("websocket_tungstenite", |b| {
        b.iter(|| {
            out.clear();
            let frame = Frame::message(
                black_box(message.clone()),
                TungOpCode::Data(Data::Text),
                true,
            );
            frame.format(&mut out).expect("writing to a Vec");
            black_box(out.len())
        })
    });
    group.bench_function("longpoll_model", |b| {
        b.iter(|| {
            out.clear();
            let head = PollHead {
                next_cursor: black_box(12345),
                missed: 0,
                reset: false,
                content_length: MESSAGE.len() + batch::framing_len(MESSAGE.len()),
            };
            head.write(&mut out, DATE);
            batch::push(&mut out, black_box(MESSAGE));
            black_box(out.len())
        })
    });
    group.bench_function("longpoll_hyper", |b| b.iter_custom(hyper_round_trips));
    group.bench_function("sse", |b| {
        b.iter(|| {
            out.clear();
            let mut event = Vec::with_capacity(128);
            sse::push_event(&mut event, black_box(12345), black_box(MESSAGE));
            write!(out, "{:X}\r\n", event.len()).expect("writing to a Vec");
            out.extend_from_slice(&event);
            out.extend_from_slice(b"\r\n");
            black_box(out.len())
        })
    });
    group.finish();
}

/// The long-poll body carrying [`MESSAGE`].
fn body_bytes() -> Vec<u8> {
    let mut body = Vec::new();
    batch::push(&mut body, MESSAGE);
    body
}

/// Runs `iters` poll round trips against a hyper connection and returns the time they took.
fn hyper_round_trips(iters: u64) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let body = Bytes::from(body_bytes());
        let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
            let body = body.clone();
            async move {
                let response = Response::builder()
                    .header("x-next-cursor", 1u64)
                    .body(Full::new(body))
                    .expect("valid response");
                Ok::<_, Infallible>(response)
            }
        });
        tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(server), service));
        // The model gives the exact response size; check it once so a wrong model cannot hang
        // the loop below.
        let expected = poll_response_len(1, &[MESSAGE.len()]);
        let mut buf = vec![0u8; 4096];
        let first = tokio::time::timeout(Duration::from_secs(5), async {
            client.write_all(POLL_REQUEST).await.expect("request");
            client
                .read_exact(&mut buf[..expected])
                .await
                .expect("response");
        });
        first
            .await
            .expect("hyper's response has the size the model says");
        let response = &buf[..expected];
        assert!(
            response.starts_with(b"HTTP/1.1 200 OK\r\nx-next-cursor: 1\r\ncontent-length: 68\r\n")
        );
        assert!(response.ends_with(&body_bytes()));
        let start = Instant::now();
        for _ in 0..iters {
            client.write_all(POLL_REQUEST).await.expect("request");
            client
                .read_exact(&mut buf[..expected])
                .await
                .expect("response");
        }
        start.elapsed()
    })
}

criterion_group!(benches, framing);
criterion_main!(benches);
