//! Compressed long-poll and short-poll answers and SSE streams, gzip and br: an answer decodes to
//! exactly the batch the plain answer carries and is exactly that batch in the coding, every
//! poller of a range gets the same compressed bytes, an SSE stream's every event can be decoded
//! as soon as its chunk arrives, runs with `compress = "gzip"` or `"br"` deliver every message in
//! fewer bytes than plain runs (over HTTP/2 too), and a body that decodes past the client's limit
//! fails the poll instead of filling its memory.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use wsbench::client::{Target, drive};
use wsbench::codec::batch;
use wsbench::codec::coding::{Coding, StreamDecoder};
use wsbench::codec::envelope::{Envelope, RunTag};
use wsbench::codec::payload::{PayloadModel, Slot};
use wsbench::protocol::TransportKind;
use wsbench::scenario::Transport;

/// One request on a fresh connection; the response's head (lowercased) and body.
async fn request(addr: SocketAddr, head: &str, body: &[u8]) -> (String, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    (head, raw[split + 4..].to_vec())
}

/// `GET /poll` from `cursor` without waiting, with this `Accept-Encoding` (none if empty).
async fn poll(addr: SocketAddr, cursor: u64, accept: &str) -> (String, Vec<u8>) {
    let accept = match accept {
        "" => String::new(),
        a => format!("accept-encoding: {a}\r\n"),
    };
    let head = format!(
        "GET /poll?cursor={cursor}&wait=0 HTTP/1.1\r\nhost: {addr}\r\n{accept}connection: close\r\n\r\n"
    );
    request(addr, &head, b"").await
}

/// The `seq`th chat message of 300 bytes.
fn message(seq: u64) -> Vec<u8> {
    let slot = Slot {
        envelope: Envelope {
            run: RunTag(7),
            publisher: 0,
            seq,
            intended_ns: seq * 1000,
        },
        room: 0,
        seed: 1,
    };
    PayloadModel::Chat.message(&slot, 300)
}

/// Publishes `message` and waits for the server's answer.
async fn publish(addr: SocketAddr, message: &[u8]) {
    let head = format!(
        "POST /publish HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        message.len()
    );
    let (answer, _) = request(addr, &head, message).await;
    assert!(answer.starts_with("http/1.1 2"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_answer_is_the_exact_batch_in_its_coding_and_is_shared() {
    let (addr, stop) = common::start_longpoll_server(Duration::from_secs(30)).await;
    let mut expected = Vec::new();
    for seq in 0..20 {
        let m = message(seq);
        publish(addr, &m).await;
        batch::push(&mut expected, &m);
    }
    let (plain_head, plain) = poll(addr, 0, "").await;
    assert!(!plain_head.contains("content-encoding"), "{plain_head}");
    assert_eq!(plain, expected);
    for (accept, coding) in [
        ("gzip", Coding::Gzip),
        ("br", Coding::Br),
        ("gzip, deflate, br", Coding::Br),
        ("br;q=0.5, gzip", Coding::Gzip),
    ] {
        let (head, packed) = poll(addr, 0, accept).await;
        let token = coding.token();
        assert!(
            head.contains(&format!("content-encoding: {token}")),
            "{head}"
        );
        assert!(head.contains("x-next-cursor: 20"), "{head}");
        // Exactly the batch in the coding, and the wire says how long it is.
        assert_eq!(packed, coding.encode(&expected), "{accept}");
        let length = format!("content-length: {}\r\n", packed.len());
        assert!(head.contains(&length), "{head}");
        assert_eq!(coding.decode(&packed, 1 << 20).unwrap(), expected);
        assert!(packed.len() < plain.len() / 2, "{accept}: {}", packed.len());
        // The next poller of the range gets the same bytes: compressed once, shared.
        let (_, again) = poll(addr, 0, accept).await;
        assert_eq!(again, packed);
        // Nothing new: an empty answer, uncompressed.
        let (head, body) = poll(addr, 20, accept).await;
        assert!(
            !head.contains("content-encoding") && body.is_empty(),
            "{head}"
        );
    }
    stop.cancel();
}

/// An HTTP/1.1 response read as it arrives: its head, then one chunk of its body at a time.
struct Chunked {
    reader: BufReader<TcpStream>,
}

impl Chunked {
    /// Sends `head` and reads the response head (lowercased).
    async fn open(addr: SocketAddr, head: &str) -> (String, Chunked) {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut reader = BufReader::new(tcp);
        let mut response = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            response += &line.to_lowercase();
        }
        (response, Chunked { reader })
    }

    /// The next chunk's data, within 10 s.
    async fn chunk(&mut self) -> Vec<u8> {
        let read = async {
            let mut line = String::new();
            self.reader.read_line(&mut line).await.unwrap();
            let size = usize::from_str_radix(line.trim_end(), 16).unwrap();
            let mut data = vec![0; size + 2];
            self.reader.read_exact(&mut data).await.unwrap();
            assert_eq!(&data[size..], b"\r\n");
            data.truncate(size);
            data
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("a chunk within 10 s")
    }
}

/// An SSE stream in gzip or br carries the plain stream's bytes, and each publish's chunk decodes
/// to its whole event at once: the encoder is flushed per chunk, not when its buffer fills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_event_stream_decodes_event_by_event_as_it_arrives() {
    let (addr, stop) = common::start_server(TransportKind::Sse).await;
    let events = |accept: &str| {
        format!("GET /events HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n{accept}\r\n")
    };
    let (head, mut plain) = Chunked::open(addr, &events("")).await;
    assert!(!head.contains("content-encoding"), "{head}");
    let mut streams = Vec::new();
    for coding in [Coding::Gzip, Coding::Br] {
        let accept = format!("accept-encoding: {}\r\n", coding.token());
        let (head, stream) = Chunked::open(addr, &events(&accept)).await;
        let encoding = format!("content-encoding: {}\r\n", coding.token());
        assert!(head.contains(&encoding), "{head}");
        streams.push((StreamDecoder::new(coding, 1 << 16).unwrap(), stream));
    }
    let (mut plain_bytes, mut packed_bytes) = (0, [0, 0]);
    for seq in 0..5 {
        publish(addr, &message(seq)).await;
        let event = plain.chunk().await;
        assert!(
            event.ends_with(b"\n\n"),
            "{}",
            String::from_utf8_lossy(&event)
        );
        plain_bytes += event.len();
        for ((decoder, stream), total) in streams.iter_mut().zip(&mut packed_bytes) {
            let packed = stream.chunk().await;
            *total += packed.len();
            assert_eq!(decoder.piece(&packed).unwrap(), event, "{decoder:?}");
        }
    }
    for total in packed_bytes {
        assert!(total < plain_bytes, "{total} of {plain_bytes}");
    }
    stop.cancel();
}

/// The same run plain, with gzip and with br (and plain and br over HTTP/2): every message
/// arrives each time, the payload bytes are the messages' uncompressed size (the wire bytes are
/// what the socket carried, compressed), and compressed answers are fewer bytes on the wire even
/// with a message or two per answer, their header and framing included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_runs_deliver_everything_in_fewer_bytes() {
    for transport in [
        Transport::LongPoll {
            hold: Duration::from_secs(30),
        },
        Transport::ShortPoll {
            interval: Duration::from_millis(100),
        },
        Transport::Sse,
    ] {
        let mut down = Vec::new();
        for (compress, http2) in [
            (Coding::Identity, false),
            (Coding::Gzip, false),
            (Coding::Br, false),
            (Coding::Identity, true),
            (Coding::Br, true),
        ] {
            let (addr, stop) = match transport {
                Transport::Sse => common::start_server(transport.kind()).await,
                _ => common::start_longpoll_server(Duration::from_secs(30)).await,
            };
            let mut plan = common::small_plan();
            plan.payload = PayloadModel::Chat;
            plan.payload_bytes = 400;
            let target = Target {
                compress,
                http2,
                ..Target::new(transport.clone(), addr).unwrap()
            };
            let o = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
                .await
                .unwrap();
            stop.cancel();
            let run = format!("{transport:?} {compress:?} http2 {http2}");
            let d = o.recorder.counts.delivery;
            assert_eq!(o.messages_published, 100, "{run}");
            assert_eq!(d.delivered, 100 * u64::from(plan.subscribers), "{run}");
            assert_eq!((d.lost, d.duplicated), (0, 0), "{run}");
            assert_eq!(o.payload_wire.down, d.delivered * 400, "{run}");
            down.push((run, o.wire.down));
        }
        // gzip's header, trailer and field outweigh most of what it saves on one message per
        // long-poll answer, so it need only be fewer; br must be at least 5 % fewer, which an
        // uncompressed run is not (two plain long-poll runs carry the same bytes to a few).
        let fewer = |compressed: usize, plain: usize, twentieths: u64| {
            assert!(
                down[compressed].1 * 20 < down[plain].1 * twentieths,
                "{:?} against {:?}",
                down[compressed],
                down[plain]
            );
        };
        fewer(1, 0, 20);
        fewer(2, 0, 19);
        fewer(4, 3, 19);
    }
}

/// A poll answered with a br body that decodes to more than the client's limit (64 MiB) fails
/// as a protocol error: the decoder stops at the limit, the generator lives. The body is a valid
/// batch of one 65 MiB message, so only the limit makes it an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_br_bomb_fails_the_poll_at_the_limit() {
    // 65 MiB of zeros in about 15 KB: quality 1 builds it quickly.
    let mut bomb = Vec::new();
    {
        let params = brotli::enc::BrotliEncoderParams {
            quality: 1,
            lgwin: 24,
            ..Default::default()
        };
        let mut w = brotli::CompressorWriter::with_params(&mut bomb, 4096, &params);
        let zeros = vec![0u8; 1 << 20];
        write!(w, "{}:", 65 * zeros.len()).unwrap();
        for _ in 0..65 {
            w.write_all(&zeros).unwrap();
        }
        w.write_all(b",").unwrap();
    }
    assert!(bomb.len() < 64 << 10, "{}", bomb.len());
    let head = format!(
        "HTTP/1.1 200 OK\r\nx-next-cursor: 1\r\ncontent-encoding: br\r\ncontent-length: {}\r\n\r\n",
        bomb.len()
    );
    let answer = [head.as_bytes(), &bomb].concat();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp.write_all(&answer).await;
                let _ = tcp.read(&mut buf).await;
            });
        }
    });
    let mut plan = common::small_plan();
    plan.subscribers = 1;
    plan.publishers = 1;
    plan.connect_timeout = Duration::from_secs(20);
    let target = Target {
        compress: Coding::Br,
        ..Target::new(
            Transport::LongPoll {
                hold: Duration::from_secs(30),
            },
            addr,
        )
        .unwrap()
    };
    let err = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("(1 attempts: protocol 1)"), "{err}");
}
