//! Our HTTP/3 client against an HTTP/3 stack nobody here wrote: Hypercorn on aioquic (Python,
//! installed by scripts/h3peer/setup.sh) serving wsbench's SSE protocol
//! (scripts/h3peer/sse_server.py) on loopback. Our subscribers read the stream over HTTP/3 and
//! our publisher POSTs over HTTP/3: every message arrives once, and the QUIC bytes our socket
//! counted are quinn's own.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wsbench::client::h3::Endpoint;
use wsbench::client::{LoadPlan, Target, drive};
use wsbench::scenario::{Network, Transport};
use wsbench::tls;
use wsbench::wire::WireMeter;

use crate::common;

/// The peer's process, killed when the test ends however it ends.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port number free on both TCP and UDP just now.
fn free_port() -> u16 {
    for _ in 0..20 {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free on both TCP and UDP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_http3_client_reads_sse_from_hypercorn_on_aioquic() {
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/h3peer");
    let status = Command::new(scripts.join("setup.sh")).status().unwrap();
    assert!(status.success(), "scripts/h3peer/setup.sh failed");
    let dir = tempfile::tempdir().unwrap();
    let cert = tls::SelfSigned::generate().unwrap();
    let files = cert.write(dir.path()).unwrap();
    let port = free_port();
    let _peer = Peer(
        Command::new(scripts.join(".venv/bin/python"))
            .arg(scripts.join("sse_server.py"))
            .arg(port.to_string())
            .arg(&files.cert)
            .arg(&files.key)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let client_tls = tls::client_config(cert.cert_der().unwrap(), &[tls::ALPN_H3]).unwrap();
    // Ready once a QUIC handshake succeeds (the interpreter takes a moment to start).
    let probe = Endpoint::new(
        addr,
        &client_tls,
        Arc::new(WireMeter::default()),
        Network::default(),
        0,
    )
    .unwrap();
    let mut ready = false;
    for _ in 0..100 {
        let attempt = tokio::time::timeout(Duration::from_millis(500), probe.connect(addr));
        if matches!(attempt.await, Ok(Ok(_))) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the aioquic server never answered a QUIC handshake");
    let plan = LoadPlan {
        subscribers: 3,
        publishers: 1,
        rate: 5.0,
        payload_bytes: 100,
        duration: Duration::from_secs(2),
        ..common::small_plan()
    };
    let target = Target {
        http3: true,
        tls: Some(client_tls),
        ..Target::new(Transport::Sse, addr).unwrap()
    };
    let o = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    let d = o.recorder.counts.delivery;
    assert_eq!(o.subscribers_connected, 3);
    assert_eq!(o.messages_published, 10);
    assert_eq!((d.delivered, d.lost, d.duplicated), (30, 0, 0));
    let quic = o.quic_udp.unwrap();
    assert_eq!(quic.socket, quic.quinn);
    assert!(quic.socket.down > o.payload_wire.down);
}
