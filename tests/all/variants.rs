//! Every transport in every variant (HTTP/2, TLS, both) end to end on loopback: every message
//! reaches every subscriber exactly once, and the bytes are reported below and above TLS.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use wsbench::client::{ClientOutcome, LoadPlan, Target, drive};
use wsbench::codec::coding::Coding;
use wsbench::protocol::TransportKind;
use wsbench::scenario::variant::Variant;
use wsbench::scenario::{Transport, WsClient};
use wsbench::server::{self, Limits, ServerConfig};
use wsbench::tls;

/// 20 subscribers, 2 publishers, 50 msg/s for 1 s: 50 messages, 1000 deliveries.
fn plan() -> LoadPlan {
    LoadPlan {
        subscribers: 20,
        publishers: 2,
        duration: Duration::from_secs(1),
        ..common::small_plan()
    }
}

/// What each client sent first: the HTTP/2 preface, a request line, or a TLS ClientHello whole.
type Openings = Arc<Mutex<Vec<Vec<u8>>>>;

/// A loopback relay in front of `server` that keeps each connection's opening bytes (24, or the
/// whole first TLS record), so a test sees which protocol the client really spoke.
async fn recording_relay(server: SocketAddr) -> (SocketAddr, Openings) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let openings = Openings::default();
    let kept = openings.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut opening = vec![0u8; 5];
                if client.read_exact(&mut opening).await.is_err() {
                    return;
                }
                let rest = if opening[0] == 0x16 {
                    usize::from(u16::from_be_bytes([opening[3], opening[4]]))
                } else {
                    PREFACE.len() - 5
                };
                opening.resize(5 + rest, 0);
                if client.read_exact(&mut opening[5..]).await.is_err() {
                    return;
                }
                let mut upstream = TcpStream::connect(server).await.unwrap();
                upstream.write_all(&opening).await.unwrap();
                kept.lock().unwrap().push(opening);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, openings)
}

/// What an HTTP/2 client sends first on a cleartext connection (RFC 9113, 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether `haystack` contains `needle`.
fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every connection spoke `variant`: HTTP/2 in clear opens with the preface, HTTP/1.1 with a
/// request line; over TLS, the ClientHello offers (ALPN) only that protocol, and the client
/// refuses a server that does not select it.
fn assert_spoken(variant: Variant, openings: &[Vec<u8>], connections: u32, label: &str) {
    assert!(
        openings.len() >= connections as usize,
        "{label}: {}",
        openings.len()
    );
    for opening in openings {
        let shown = String::from_utf8_lossy(opening);
        match (variant.tls, variant.http2) {
            (false, true) => assert_eq!(opening, PREFACE, "{label}: {shown}"),
            (false, false) => assert!(
                opening.starts_with(b"GET ") || opening.starts_with(b"POST "),
                "{label}: {shown}"
            ),
            (true, h2) => {
                assert_eq!(opening[0], 0x16, "{label}: not a TLS handshake");
                assert_eq!(holds(opening, b"\x02h2"), h2, "{label}: {shown}");
                assert_eq!(holds(opening, b"\x08http/1.1"), !h2, "{label}: {shown}");
            }
        }
    }
}

async fn run(transport: Transport, variant: Variant, plan: &LoadPlan) -> (ClientOutcome, Openings) {
    let kind = transport.kind();
    let (addr, stop, cert) = if variant.tls {
        let (addr, stop, cert) = common::start_tls_server(kind).await;
        (addr, stop, Some(cert))
    } else {
        let (addr, stop) = common::start_server(kind).await;
        (addr, stop, None)
    };
    let (addr, openings) = recording_relay(addr).await;
    let alpn = if variant.http2 {
        tls::ALPN_H2
    } else {
        tls::ALPN_HTTP1
    };
    let target = Target {
        http2: variant.http2,
        tls: cert.map(|c| tls::client_config(c.cert_der().unwrap(), &[alpn]).unwrap()),
        ..Target::new(transport, addr).unwrap()
    };
    let o = drive(plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    stop.cancel();
    (o, openings)
}

/// Runs `transport` in each of `variants`, checks delivery and bytes, and returns the overhead
/// bytes per HTTP request of each (for comparisons between variants).
async fn check_all(transport: Transport, variants: &[Variant]) -> Vec<f64> {
    let plan = plan();
    let mut per_request = Vec::new();
    for &variant in variants {
        let label = variant.label(transport.kind());
        let (o, openings) = run(transport.clone(), variant, &plan).await;
        let d = o.recorder.counts.delivery;
        assert_eq!(o.messages_published, 50, "{label}");
        assert_eq!(o.subscribers_connected, plan.subscribers, "{label}");
        assert_eq!(d.delivered, 50 * u64::from(plan.subscribers), "{label}");
        assert_eq!((d.lost, d.duplicated, d.reordered), (0, 0, 0), "{label}");
        assert_eq!(
            (
                o.recorder.counts.connect_errors.total(),
                o.recorder.counts.io_errors
            ),
            (0, 0),
            "{label}"
        );
        assert!(o.complete, "{label}");
        assert!(o.wire.total() > o.payload_wire.total(), "{label}");
        let connections = match transport {
            Transport::Ws { .. } => plan.subscribers,
            _ => plan.subscribers + plan.publishers,
        };
        assert_spoken(variant, &openings.lock().unwrap(), connections, &label);
        match o.wire_above_tls {
            Some(plain) => {
                assert!(variant.tls, "{label}");
                // TLS adds record headers and tags on every record: strictly more below.
                assert!(o.wire.up > plain.up && o.wire.down > plain.down, "{label}");
                assert!(plain.total() > o.payload_wire.total(), "{label}");
                assert_eq!(o.tls_handshakes.0, u64::from(connections), "{label}");
                assert!(o.tls_handshakes.1 > Duration::ZERO, "{label}");
            }
            None => {
                assert!(!variant.tls, "{label}");
                assert_eq!(o.tls_handshakes, (0, Duration::ZERO), "{label}");
            }
        }
        let overhead = (o.wire.total() - o.payload_wire.total()) as f64;
        per_request.push(overhead / o.recorder.counts.http_requests.max(1) as f64);
    }
    per_request
}

const PLAIN: Variant = Variant {
    http2: false,
    tls: false,
    deflate: None,
    compress: Coding::Identity,
    streams_per_connection: 1,
    http3: false,
};
const H2: Variant = Variant {
    http2: true,
    tls: false,
    deflate: None,
    compress: Coding::Identity,
    streams_per_connection: 1,
    http3: false,
};
const TLS: Variant = Variant {
    http2: false,
    tls: true,
    deflate: None,
    compress: Coding::Identity,
    streams_per_connection: 1,
    http3: false,
};
const H2_TLS: Variant = Variant {
    http2: true,
    tls: true,
    deflate: None,
    compress: Coding::Identity,
    streams_per_connection: 1,
    http3: false,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_over_tls() {
    // Both generator clients: each runs its handshake over the TLS stream.
    for client in WsClient::ALL {
        check_all(
            Transport::Ws {
                ping_interval: None,
                client,
                resume: false,
            },
            &[PLAIN, TLS],
        )
        .await;
    }
}

/// WebSocket over HTTP/2 (RFC 8441): h2c with prior knowledge, and h2 chosen by ALPN over TLS;
/// only our client speaks it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_over_http2_with_and_without_tls() {
    let ws = Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
        resume: false,
    };
    check_all(ws, &[H2, H2_TLS]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_in_every_variant_and_hpack_shrinks_its_heads() {
    let hold = Duration::from_secs(30);
    let per_request = check_all(Transport::LongPoll { hold }, &[PLAIN, H2, TLS, H2_TLS]).await;
    // HTTP/1.1 repeats ~150 bytes of heads per poll; HTTP/2 sends them HPACK-indexed.
    assert!(
        per_request[1] < per_request[0] / 2.0,
        "h2 {} vs HTTP/1.1 {} overhead bytes per request",
        per_request[1],
        per_request[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_poll_in_every_variant() {
    let interval = Duration::from_millis(100);
    check_all(Transport::ShortPoll { interval }, &[PLAIN, H2, TLS, H2_TLS]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_in_every_variant() {
    check_all(Transport::Sse, &[PLAIN, H2, TLS, H2_TLS]).await;
}

/// One HTTP/2 publisher at 2,000 msg/s has a message due every 0.5 ms, about a POST round trip
/// here, so it keeps several POST streams open at once: they must still be published in order,
/// once each, and every answer timed once. The server runs as `wsbench serve` runs it, on one
/// thread, which takes a connection's streams in the order they arrive (a multi-threaded server
/// may run concurrent streams in any order); the client's futures must then not race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_publisher_with_posts_in_flight_publishes_in_order() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let hold = Duration::from_secs(30);
    let config = ServerConfig {
        transport: TransportKind::LongPoll.into(),
        hold,
        limits: Limits::default(),
        state_file: None,
        tls: None,
        backplane: None,
    };
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            server::serve(listener, config, token.cancelled_owned()).await
        })
    });
    let plan = LoadPlan {
        subscribers: 5,
        publishers: 1,
        rate: 2_000.0,
        ..plan()
    };
    let target = Target {
        http2: true,
        ..Target::new(Transport::LongPoll { hold }, addr).unwrap()
    };
    let o = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    stop.cancel();
    server.join().unwrap().unwrap();
    let d = o.recorder.counts.delivery;
    assert!(o.messages_published > 0);
    assert_eq!(d.delivered, 5 * o.messages_published);
    assert_eq!((d.lost, d.duplicated, d.reordered), (0, 0, 0));
    assert_eq!(o.recorder.publish_rtt_us.len(), o.messages_published);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_client_over_tls_needs_the_server_to_agree_by_alpn() {
    // A server that offers only http/1.1: an h2-only TLS client must fail clearly.
    let (addr, stop, cert) = common::start_tls_server_offering(
        wsbench::protocol::TransportKind::Ws,
        wsbench::server::Limits::default(),
        &[tls::ALPN_HTTP1],
    )
    .await;
    let mut plan = plan();
    plan.subscribers = 2;
    plan.publishers = 1;
    let target = Target {
        http2: true,
        tls: Some(tls::client_config(cert.cert_der().unwrap(), &[tls::ALPN_H2]).unwrap()),
        ..Target::new(Transport::Sse, addr).unwrap()
    };
    let err = refusal(&plan, &target).await;
    stop.cancel();
    assert!(
        err.contains("TLS") && err.contains("attempts: tls 3)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trusts_only_the_run_certificate() {
    let (addr, stop, _served) =
        common::start_tls_server(wsbench::protocol::TransportKind::Sse).await;
    let other = tls::SelfSigned::generate().unwrap();
    let mut plan = plan();
    plan.subscribers = 2;
    plan.publishers = 1;
    let target = Target {
        tls: Some(tls::client_config(other.cert_der().unwrap(), &[tls::ALPN_HTTP1]).unwrap()),
        ..Target::new(Transport::Sse, addr).unwrap()
    };
    let err = refusal(&plan, &target).await;
    stop.cancel();
    assert!(
        err.contains("certificate") && err.contains("attempts: tls 3)"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_server_speaks_tls_1_3_and_chooses_h2_by_alpn() {
    let (addr, stop, cert) =
        common::start_tls_server(wsbench::protocol::TransportKind::LongPoll).await;
    for (offered, chosen) in [
        (tls::ALPN_H2, b"h2".as_slice()),
        (tls::ALPN_HTTP1, b"http/1.1"),
    ] {
        let config = tls::client_config(cert.cert_der().unwrap(), &[offered]).unwrap();
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .unwrap();
        let session = stream.get_ref().1;
        assert_eq!(
            session.protocol_version(),
            Some(rustls::ProtocolVersion::TLSv1_3)
        );
        assert_eq!(session.alpn_protocol(), Some(chosen));
    }
    stop.cancel();
}

/// Why no client of `plan` could connect to `target` (the run must fail).
async fn refusal(plan: &LoadPlan, target: &Target) -> String {
    drive(plan, target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap_err()
        .to_string()
}
