//! Long-poll, short-poll and SSE over HTTP/3: every message delivered once, and every QUIC
//! byte accounted for, against the built-in server on loopback (TLS with a fresh certificate,
//! HTTP/3 on the UDP port of the TCP listener's number).

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wsbench::client::{ClientOutcome, LoadPlan, Target, drive};
use wsbench::scenario::{Network, Transport};
use wsbench::tls;

const PAYLOAD: usize = 200;

fn plan() -> LoadPlan {
    LoadPlan {
        subscribers: 4,
        publishers: 2,
        rate: 10.0,
        payload_bytes: PAYLOAD,
        duration: Duration::from_secs(2),
        ..common::small_plan()
    }
}

async fn run_h3(transport: Transport) -> ClientOutcome {
    run_h3_with(transport, &plan()).await
}

async fn run_h3_with(transport: Transport, plan: &LoadPlan) -> ClientOutcome {
    let (addr, stop, cert) = common::start_tls_server(transport.kind()).await;
    let target = Target {
        http3: true,
        tls: Some(tls::client_config(cert.cert_der().unwrap(), &[tls::ALPN_H3]).unwrap()),
        ..Target::new(transport, addr).unwrap()
    };
    let o = drive(plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    stop.cancel();
    o
}

fn transports() -> [Transport; 3] {
    [
        Transport::LongPoll {
            hold: Duration::from_secs(30),
        },
        Transport::ShortPoll {
            interval: Duration::from_millis(100),
        },
        Transport::Sse,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_arrives_once_over_http3() {
    for transport in transports() {
        let label = transport.kind().label();
        let o = run_h3(transport).await;
        let counts = &o.recorder.counts;
        assert_eq!(o.subscribers_connected, 4, "{label}");
        assert_eq!(o.messages_published, 20, "{label}");
        assert_eq!(o.deliveries_expected, 80, "{label}");
        assert_eq!(counts.delivery.delivered, 80, "{label}");
        assert_eq!(counts.delivery.lost, 0, "{label}");
        assert_eq!(counts.delivery.duplicated, 0, "{label}");
        assert_eq!(counts.reconnects, 0, "{label}");
        // Nothing is counted above QUIC's TLS; its handshakes are timed, one per connection:
        // the subscribers' and the publishers' own.
        assert_eq!(o.wire_above_tls, None, "{label}");
        assert_eq!(o.tls_handshakes.0, 6, "{label}");
        assert!(o.tls_handshakes.1 > Duration::ZERO, "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_counts_what_quinn_counts_and_payload_is_the_messages() {
    for transport in transports() {
        let label = transport.kind().label();
        let o = run_h3(transport).await;
        let quic = o.quic_udp.unwrap();
        // Two counts kept apart: the socket wrapper's and quinn's per connection, summed.
        assert_eq!(quic.socket, quic.quinn, "{label}");
        assert!(quic.socket.up > 0 && quic.socket.down > 0, "{label}");
        // Everything the run counted during its phases was counted by the same socket.
        assert!(o.wire.up <= quic.socket.up, "{label}");
        assert!(o.wire.down <= quic.socket.down, "{label}");
        let delivered = o.recorder.counts.delivery.delivered;
        assert_eq!(o.payload_wire.down, delivered * PAYLOAD as u64, "{label}");
        assert_eq!(
            o.payload_wire.up,
            o.messages_published * PAYLOAD as u64,
            "{label}"
        );
        assert!(o.wire.down > o.payload_wire.down, "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_pay_the_emulated_round_trip() {
    let mut delayed = plan();
    delayed.shape.network = Network {
        delay: Duration::from_millis(100),
        ..Network::default()
    };
    for transport in [Transport::Sse, transports()[0].clone()] {
        let label = transport.kind().label();
        let o = run_h3_with(transport, &delayed).await;
        let d = o.recorder.counts.delivery;
        assert_eq!((d.delivered, d.lost, d.duplicated), (80, 0, 0), "{label}");
        // The publisher's datagrams take half the round trip to the server, the subscriber's
        // the other half.
        let min_latency = o.recorder.latency_us.min();
        assert!(
            min_latency >= 100_000,
            "{label}: min latency {min_latency} µs"
        );
        // QUIC's handshake (Initial, then the server's Initial and Handshake), then the first
        // request and its answer's head: two round trips.
        let min_connect = o.recorder.connect_us.min();
        assert!(
            min_connect >= 200_000,
            "{label}: min connect {min_connect} µs"
        );
        let quic = o.quic_udp.unwrap();
        assert_eq!(quic.socket, quic.quinn, "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_connection_has_the_bandwidth_of_its_own() {
    let mut narrow = plan();
    narrow.shape.network = Network {
        bandwidth: Some(20_000),
        ..Network::default()
    };
    let o = run_h3_with(Transport::Sse, &narrow).await;
    let d = o.recorder.counts.delivery;
    assert_eq!((d.delivered, d.lost, d.duplicated), (80, 0, 0));
    // A message crosses the publisher's link (at least its 200 bytes at 20,000 B/s: 10 ms),
    // then the subscriber's, each in a datagram of its own.
    let min_latency = o.recorder.latency_us.min();
    assert!(min_latency >= 20_000, "min latency {min_latency} µs");
    // Many sockets, one count: still quinn's.
    let quic = o.quic_udp.unwrap();
    assert_eq!(quic.socket, quic.quinn);
}
