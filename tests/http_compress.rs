//! gzip-compressed long-poll and short-poll answers and SSE streams: an answer inflates to
//! exactly the batch the plain answer carries, every poller of a range gets the same compressed
//! bytes, and runs with `compress = "gzip"` deliver every message in fewer bytes than plain runs.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use wsbench::client::{Target, drive};
use wsbench::codec::batch;
use wsbench::codec::envelope::{Envelope, RunTag};
use wsbench::codec::gzip::gunzip;
use wsbench::codec::payload::{PayloadModel, Slot};
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

async fn poll(addr: SocketAddr, gzip: bool) -> (String, Vec<u8>) {
    let accept = if gzip {
        "accept-encoding: gzip\r\n"
    } else {
        ""
    };
    let head = format!(
        "GET /poll?cursor=0&wait=0 HTTP/1.1\r\nhost: {addr}\r\n{accept}connection: close\r\n\r\n"
    );
    request(addr, &head, b"").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzipped_answer_inflates_to_the_exact_batch_and_is_shared() {
    let (addr, stop) = common::start_longpoll_server(Duration::from_secs(30)).await;
    let mut published = Vec::new();
    for seq in 0..20 {
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
        let message = PayloadModel::Chat.message(&slot, 300);
        let head = format!(
            "POST /publish HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            message.len()
        );
        let (answer, _) = request(addr, &head, &message).await;
        assert!(answer.starts_with("http/1.1 2"), "{answer}");
        published.push(message);
    }
    let mut expected = Vec::new();
    for m in &published {
        batch::push(&mut expected, m);
    }
    let (plain_head, plain) = poll(addr, false).await;
    assert!(!plain_head.contains("content-encoding"), "{plain_head}");
    assert_eq!(plain, expected);
    let (head, packed) = poll(addr, true).await;
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("x-next-cursor: 20"), "{head}");
    assert_eq!(gunzip(&packed, 1 << 20).unwrap(), expected);
    assert!(
        packed.len() < plain.len() / 2,
        "{} of {}",
        packed.len(),
        plain.len()
    );
    // The next poller of the range gets the same bytes: compressed once, shared.
    let (_, again) = poll(addr, true).await;
    assert_eq!(again, packed);
    // Nothing new: an empty answer, uncompressed.
    let head = format!(
        "GET /poll?cursor=20&wait=0 HTTP/1.1\r\nhost: {addr}\r\naccept-encoding: gzip\r\nconnection: close\r\n\r\n"
    );
    let (head, body) = request(addr, &head, b"").await;
    assert!(
        !head.contains("content-encoding") && body.is_empty(),
        "{head}"
    );
    stop.cancel();
}

/// The same run plain and with gzip: every message arrives either way, and gzip's answers are
/// fewer bytes even with a message or two per answer, its header and the gzip framing included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_runs_deliver_everything_in_fewer_bytes() {
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
        for gzip in [false, true] {
            let (addr, stop) = match transport {
                Transport::Sse => common::start_server(transport.kind()).await,
                _ => common::start_longpoll_server(Duration::from_secs(30)).await,
            };
            let mut plan = common::small_plan();
            plan.payload = PayloadModel::Chat;
            plan.payload_bytes = 400;
            let target = Target {
                gzip,
                ..Target::new(transport.clone(), addr).unwrap()
            };
            let o = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
                .await
                .unwrap();
            stop.cancel();
            let d = o.recorder.counts.delivery;
            assert_eq!(o.messages_published, 100, "{transport:?}");
            assert_eq!(
                d.delivered,
                100 * u64::from(plan.subscribers),
                "{transport:?}"
            );
            assert_eq!((d.lost, d.duplicated), (0, 0), "{transport:?}");
            assert_eq!(o.payload_wire.down, d.delivered * 400);
            down.push(o.wire.down);
        }
        assert!(
            down[1] < down[0],
            "{transport:?}: gzip {} vs plain {}",
            down[1],
            down[0]
        );
    }
}
