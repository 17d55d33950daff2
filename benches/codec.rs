//! Benchmarks for the WebSocket codec against tungstenite 0.30 and the machine's limits.
//!
//! Groups (names are a contract: `target/criterion/<group>/<impl>/<size>/new/estimates.json`):
//! `unmask` (and `unmask_aligned`), `header`, `decode_stream`, `utf8`. Ours and tungstenite's sit
//! in the same group so one run gives the ratios; `benches/README.md` has the results.

use std::cell::RefCell;
use std::hint::black_box;
use std::io::{self, Cursor, Read, Write};
use std::rc::Rc;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio_tungstenite::tungstenite;
use tungstenite::protocol::frame::FrameHeader as TungHeader;
use tungstenite::protocol::frame::coding::{Data as TungData, OpCode as TungOpCode};
use tungstenite::protocol::{Role as TungRole, WebSocket};
use wsbench::codec::ws::mask::apply_mask;
use wsbench::codec::ws::{
    Config, DataOp, Decoder, FrameHeader, MAX_HEADER_LEN, Message, OpCode, encode_frame, utf8,
};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// tungstenite 0.30's `apply_mask` (`src/protocol/frame/mask.rs`), copied verbatim because it is
/// private: align to `u32`, byte loop on the unaligned head and tail, rotated key in between.
mod tungstenite_mask {
    #[inline]
    fn apply_mask_fallback(buf: &mut [u8], mask: [u8; 4]) {
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte ^= mask[i & 3];
        }
    }

    #[inline]
    #[allow(unsafe_code)] // The copy must be faithful, and the original uses `align_to_mut`.
    pub fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
        let mask_u32 = u32::from_ne_bytes(mask);
        // SAFETY: every bit pattern is a valid u32, so viewing aligned bytes as u32 is sound.
        let (prefix, words, suffix) = unsafe { buf.align_to_mut::<u32>() };
        apply_mask_fallback(prefix, mask);
        let head = prefix.len() & 3;
        let mask_u32 = if head > 0 {
            if cfg!(target_endian = "big") {
                mask_u32.rotate_left(8 * head as u32)
            } else {
                mask_u32.rotate_right(8 * head as u32)
            }
        } else {
            mask_u32
        };
        for word in words.iter_mut() {
            *word ^= mask_u32;
        }
        apply_mask_fallback(suffix, mask_u32.to_ne_bytes());
    }
}

/// The textbook loop.
#[inline(never)]
fn naive(buf: &mut [u8], key: [u8; 4]) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

/// Where a payload starts in the benchmarks: a masked frame's payload sits after its 2-byte
/// header and 4-byte key, so in a read buffer it is at byte 6 of the frame.
const PAYLOAD_OFFSET: usize = 6;

fn unmask(c: &mut Criterion) {
    let mut group = c.benchmark_group("unmask");
    for size in [16usize, 125, 1024, 65536, 1048576] {
        group.throughput(Throughput::Bytes(size as u64));
        let mut store = vec![0x5au8; size + 64];
        let buf = &mut store[PAYLOAD_OFFSET..PAYLOAD_OFFSET + size];
        let source = vec![0xa5u8; size];
        group.bench_with_input(BenchmarkId::new("wsbench", size), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut *buf), black_box(KEY)))
        });
        group.bench_with_input(BenchmarkId::new("tungstenite", size), &size, |b, _| {
            b.iter(|| tungstenite_mask::apply_mask(black_box(&mut *buf), black_box(KEY)))
        });
        group.bench_with_input(BenchmarkId::new("naive", size), &size, |b, _| {
            b.iter(|| naive(black_box(&mut *buf), black_box(KEY)))
        });
        group.bench_with_input(BenchmarkId::new("memcpy", size), &size, |b, _| {
            b.iter(|| black_box(&mut *buf).copy_from_slice(black_box(&source)))
        });
    }
    group.finish();
    // The same at offset 0 of a 16-byte-aligned allocation: tungstenite's best case (no
    // unaligned head or tail), for comparison.
    let mut group = c.benchmark_group("unmask_aligned");
    for size in [16usize, 125, 1024] {
        group.throughput(Throughput::Bytes(size as u64));
        let mut buf = vec![0x5au8; size];
        group.bench_with_input(BenchmarkId::new("wsbench", size), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), black_box(KEY)))
        });
        group.bench_with_input(BenchmarkId::new("tungstenite", size), &size, |b, _| {
            b.iter(|| tungstenite_mask::apply_mask(black_box(&mut buf), black_box(KEY)))
        });
    }
    group.finish();
}

fn header(c: &mut Criterion) {
    let mut group = c.benchmark_group("header");
    // A masked 16-byte text frame, as a client sends it.
    group.bench_function("wsbench", |b| {
        b.iter(|| {
            let header =
                FrameHeader::new(OpCode::Data(DataOp::Text), true, black_box(16), Some(KEY))
                    .expect("a valid header");
            let mut out = [0u8; MAX_HEADER_LEN];
            let len = header.encode(&mut out);
            FrameHeader::decode(black_box(&out[..len]))
        })
    });
    group.bench_function("tungstenite", |b| {
        b.iter(|| {
            let header = TungHeader {
                is_final: true,
                rsv1: false,
                rsv2: false,
                rsv3: false,
                opcode: TungOpCode::Data(TungData::Text),
                mask: Some(KEY),
            };
            let mut out = [0u8; MAX_HEADER_LEN];
            let mut cursor = Cursor::new(&mut out[..]);
            header.format(black_box(16), &mut cursor).expect("fits");
            let len = cursor.position() as usize;
            TungHeader::parse(&mut Cursor::new(black_box(&out[..len]))).expect("valid")
        })
    });
    group.finish();
}

/// An in-memory socket for tungstenite: reads drain what the benchmark put in.
#[derive(Clone, Default)]
struct MockSocket(Rc<RefCell<Cursor<Vec<u8>>>>);

impl Read for MockSocket {
    fn read(&mut self, to: &mut [u8]) -> io::Result<usize> {
        let n = self.0.borrow_mut().read(to)?;
        if n == 0 && !to.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }
}

impl Write for MockSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const STREAM_FRAMES: usize = 256;

/// 256 masked text frames of `size` bytes back to back, as a server reads them from a client.
fn masked_stream(size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..STREAM_FRAMES {
        let text: Vec<u8> = (0..size).map(|j| b'a' + ((i + j) % 26) as u8).collect();
        let key = [i as u8, 0x5a, 0xc3, 0x0f];
        encode_frame(&mut out, OpCode::Data(DataOp::Text), &text, Some(key)).expect("data frame");
    }
    out
}

fn decode_stream(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode_stream");
    for size in [16usize, 125, 1024] {
        let bytes = masked_stream(size);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        // One long-lived decoder, as one per connection: the copy in `feed` stands for the
        // socket read into the decoder's buffer.
        let mut decoder = Decoder::new(Config::server());
        group.bench_with_input(BenchmarkId::new("wsbench", size), &size, |b, _| {
            b.iter(|| {
                decoder.feed(black_box(&bytes));
                let mut total = 0;
                while let Some(message) = decoder.next_message().expect("valid stream") {
                    if let Message::Text(text) = message {
                        total += text.len();
                    }
                }
                assert_eq!(total, STREAM_FRAMES * size);
            })
        });
        // tungstenite's full receive path: `WebSocket::read` over the in-memory socket (its
        // buffer fill, zeroing, copy, unmask, UTF-8 check); cloning the input is setup, not measured.
        let socket = MockSocket::default();
        let mut ws = WebSocket::from_raw_socket(socket.clone(), TungRole::Server, None);
        group.bench_with_input(BenchmarkId::new("tungstenite", size), &size, |b, _| {
            b.iter_batched(
                || bytes.clone(),
                |input| {
                    // A move, not a copy: the bytes are "in the kernel", ready to be read.
                    *socket.0.borrow_mut() = Cursor::new(input);
                    let mut total = 0;
                    for _ in 0..STREAM_FRAMES {
                        if let tungstenite::Message::Text(text) = ws.read().expect("valid") {
                            total += text.len();
                        }
                    }
                    assert_eq!(total, STREAM_FRAMES * size);
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

/// `len` bytes of text: ASCII, or Chinese (3 bytes a character) padded with ASCII to `len`.
fn text(len: usize, chinese: bool) -> String {
    let unit = if chinese {
        "服务器收到了消息"
    } else {
        "~wsb:1:2:3~....."
    };
    let mut out = String::new();
    while out.len() + unit.len() <= len {
        out.push_str(unit);
    }
    while out.len() < len {
        out.push('.');
    }
    out
}

fn utf8_validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    for chinese in [false, true] {
        for size in [1024usize, 65536] {
            let input = text(size, chinese);
            let name = format!("{}-{size}", if chinese { "chinese" } else { "ascii" });
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::new("std", &name), input.as_bytes(), |b, s| {
                b.iter(|| std::str::from_utf8(black_box(s)).is_ok())
            });
            // The product path: `codec::ws::utf8::validate` is simdutf8's `basic` API.
            group.bench_with_input(
                BenchmarkId::new("simdutf8", &name),
                input.as_bytes(),
                |b, s| b.iter(|| utf8::validate(black_box(s)).is_ok()),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, unmask, header, decode_stream, utf8_validation);
criterion_main!(benches);
