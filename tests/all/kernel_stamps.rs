//! Kernel receive timestamps end to end on loopback: with `timestamps = "kernel"` every
//! in-window delivery of a WebSocket, raw, SSE or long-poll client (HTTP/1.1, also over TLS)
//! carries the generator's read delay, and with `"user"` none does; publishers' lateness is
//! recorded per in-window message with either. Counts are exact; no figure's size is asserted
//! (the machine's speed is not under test).

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::io::Write;

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;
use wsbench::client::{ClientOutcome, LoadPlan, Target, drive};
use wsbench::scenario::{Transport, WsClient};
use wsbench::wire::stamp::{Arrivals, Clock, StampedTcp};

/// A stamped loopback pair that has seen a stamped byte, to be kept open: Linux turns receive
/// stamping on for the whole system a moment after the first socket asks for it, and off after
/// the last one closes, so while this lives every segment is stamped.
async fn warm() -> (std::net::TcpStream, StampedTcp) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let mut client = StampedTcp::new(tcp, Clock::Kernel).unwrap();
    let mut probe = [0u8; 1];
    for _ in 0..1000 {
        server.write_all(b"p").unwrap();
        client.read_exact(&mut probe).await.unwrap();
        if client.arrival().is_some() {
            return (server, client);
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("no receive stamp within 1000 probes");
}

async fn run(transport: Transport, clock: Clock) -> (ClientOutcome, LoadPlan) {
    let mut plan = common::small_plan();
    plan.shape.timestamps = clock;
    let (addr, stop) = common::start_server(transport.kind()).await;
    let target = Target::new(transport, addr).unwrap();
    let outcome = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    stop.cancel();
    (outcome, plan)
}

fn transports() -> [Transport; 5] {
    let ws = |client| Transport::Ws {
        ping_interval: None,
        client,
        resume: false,
    };
    [
        ws(WsClient::Wsbench),
        ws(WsClient::Tungstenite),
        Transport::Raw { resume: false },
        Transport::Sse,
        Transport::LongPoll {
            hold: std::time::Duration::from_secs(30),
        },
    ]
}

/// Every delivery, exactly once, in the latency and in the read delay; every message published
/// in the window once in the publishers' lateness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_delivery_carries_its_read_delay_with_kernel_stamps() {
    let _warm = warm().await;
    for transport in transports() {
        let (o, plan) = run(transport.clone(), Clock::Kernel).await;
        let r = &o.recorder;
        let d = r.counts.delivery;
        let expected = o.messages_published * u64::from(plan.subscribers);
        assert_eq!((d.delivered, d.lost), (expected, 0), "{transport:?}");
        assert_eq!(r.latency_us.len(), d.delivered, "{transport:?}");
        assert_eq!(r.generator_delay_us.len(), d.delivered, "{transport:?}");
        assert_eq!(
            r.publish_lag_us.len(),
            o.messages_published,
            "{transport:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_stamps_record_no_read_delay() {
    for transport in transports() {
        let (o, _) = run(transport.clone(), Clock::User).await;
        let r = &o.recorder;
        assert!(r.counts.delivery.delivered > 0, "{transport:?}");
        assert_eq!(r.latency_us.len(), r.counts.delivery.delivered);
        assert_eq!(r.generator_delay_us.len(), 0, "{transport:?}");
        assert_eq!(
            r.publish_lag_us.len(),
            o.messages_published,
            "{transport:?}"
        );
    }
}

/// Over TLS (WebSocket and SSE) every delivery still carries its read delay: the stamp of the
/// socket read that completed the record comes up through TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stamps_survive_tls() {
    use wsbench::tls;
    let _warm = warm().await;
    let ws = Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
        resume: false,
    };
    for transport in [ws, Transport::Sse] {
        let plan = common::small_plan();
        let (addr, stop, cert) = common::start_tls_server(transport.kind()).await;
        let root = cert.cert_der().unwrap();
        let target = Target {
            tls: Some(tls::client_config(root, &[tls::ALPN_HTTP1]).unwrap()),
            ..Target::new(transport.clone(), addr).unwrap()
        };
        let o = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
            .await
            .unwrap();
        stop.cancel();
        let r = &o.recorder;
        let d = r.counts.delivery;
        let expected = o.messages_published * u64::from(plan.subscribers);
        assert_eq!((d.delivered, d.lost), (expected, 0), "{transport:?}");
        assert_eq!(r.generator_delay_us.len(), d.delivered, "{transport:?}");
    }
}
