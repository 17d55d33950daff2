//! The built-in server's HTTP/3 side, spoken to by hand with quinn and h3: the body limit on
//! `POST /publish`, a published message on an open SSE stream, and the stop: a held poll
//! answered, the stream ended, the connection closed with `H3_NO_ERROR`.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use hyper::{Request, StatusCode};
use wsbench::protocol::TransportKind;
use wsbench::tls;

type Sender = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;
type Stream = h3::client::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

async fn request(send: &mut Sender, req: Request<()>, body: &[u8]) -> Stream {
    let mut stream = send.send_request(req).await.unwrap();
    if !body.is_empty() {
        stream
            .send_data(Bytes::copy_from_slice(body))
            .await
            .unwrap();
    }
    stream.finish().await.unwrap();
    stream
}

async fn read_some(stream: &mut Stream) -> Option<Vec<u8>> {
    let mut data = stream.recv_data().await.unwrap()?;
    Some(data.copy_to_bytes(data.remaining()).to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http3_publishes_streams_and_stops_cleanly() {
    let (addr, stop, cert) = common::start_tls_server(TransportKind::Sse).await;
    let client_tls = tls::client_config(cert.cert_der().unwrap(), &[tls::ALPN_H3]).unwrap();
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from((*client_tls).clone()).unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = endpoint
        .connect_with(
            quinn::ClientConfig::new(Arc::new(crypto)),
            addr,
            "127.0.0.1",
        )
        .unwrap()
        .await
        .unwrap();
    let (mut driver, mut send) = h3::client::new(h3_quinn::Connection::new(conn.clone()))
        .await
        .unwrap();
    tokio::spawn(async move { std::future::poll_fn(|cx| driver.poll_close(cx)).await });
    let url = |path: &str| format!("https://{addr}{path}");

    let get = |path: &str| Request::get(url(path)).body(()).unwrap();
    let mut events = request(&mut send, get("/events"), b"").await;
    assert_eq!(
        events.recv_response().await.unwrap().status(),
        StatusCode::OK
    );

    let post = || Request::post(url("/publish")).body(()).unwrap();
    let mut too_large = request(&mut send, post(), &vec![b'x'; 64 * 1024 + 1]).await;
    let status = too_large.recv_response().await.unwrap().status();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let mut published = request(&mut send, post(), b"hello").await;
    let status = published.recv_response().await.unwrap().status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        read_some(&mut events).await.unwrap(),
        b"id: 1\ndata: hello\n\n"
    );

    // Nothing after message 1 yet: the poll is held.
    let mut poll = request(&mut send, get("/poll?cursor=1"), b"").await;
    let held = tokio::time::timeout(Duration::from_millis(300), poll.recv_response()).await;
    assert!(held.is_err(), "a poll with nothing to read was answered");

    stop.cancel();
    let answered = poll.recv_response().await.unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    assert_eq!(read_some(&mut events).await, None, "the stream did not end");
    let closed = tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .unwrap();
    match closed {
        quinn::ConnectionError::ApplicationClosed(close) => {
            // H3_NO_ERROR (RFC 9114 §8.1).
            assert_eq!(close.error_code, quinn::VarInt::from_u32(0x100));
        }
        other => panic!("closed with {other:?}"),
    }
}
