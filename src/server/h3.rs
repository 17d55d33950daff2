//! HTTP/3 for the HTTP transports: the same requests as [`super::http`] serves over TCP, over
//! QUIC on a UDP socket bound to the same port number as the TCP listener.
//!
//! A server with TLS (QUIC has no plain form) answers `GET /poll` (long- and short-poll),
//! `GET /events` (SSE) and `POST /publish` over HTTP/3 with the very handlers and hub the TCP
//! side uses: the request head is routed by [`super::http::route_head`], and the answer hyper
//! would have written is written instead as HTTP/3 HEADERS and DATA frames by h3 on quinn. The
//! bounds are the TCP side's: the body limit on `POST /publish`, the header list size, at most
//! `h2_max_concurrent_streams` requests open on one connection, and a connection quiet for
//! `idle_timeout` is closed by QUIC's idle timer.
//!
//! On stop, held polls are answered and streams end as over TCP (the handlers watch the same
//! stop token); each connection then sends GOAWAY, waits for its requests to finish and for the
//! client to read their ends (or hang up), and closes with `H3_NO_ERROR` (a QUIC
//! CONNECTION_CLOSE). The endpoint is kept until those closes have left, within twice
//! [`super::drain::DRAIN`] (a stopping `wsbench serve` is killed 5 s after SIGTERM). Owns the QUIC endpoint and the HTTP/3 connections; knows
//! nothing of how the answers are made.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::{Request, Response};

use super::http::{Body, Routed, publish_body, route_head, too_large};
use super::hub::Payload;
use super::{Limits, ServerError, State, longpoll, sse};

/// `H3_NO_ERROR` (RFC 9114 §8.1): the code of a clean close.
const H3_NO_ERROR: u32 = 0x100;

/// A request stream as h3 hands it to the server over quinn.
type Stream = h3::server::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

/// The QUIC endpoint of a server whose TCP listener is at `addr`: UDP on the same address and
/// port, speaking `h3` by ALPN with the certificate of `tls`.
pub(super) fn bind(
    addr: SocketAddr,
    tls: &rustls::ServerConfig,
    limits: &Limits,
) -> Result<quinn::Endpoint, ServerError> {
    let mut crypto = tls.clone();
    crypto.alpn_protocols = vec![crate::tls::ALPN_H3.to_vec()];
    crypto.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(crypto)
        .map_err(|e| ServerError::Quic(std::io::Error::other(e)))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(limits.h2_max_concurrent_streams.into())
        .max_idle_timeout(quinn::IdleTimeout::try_from(limits.idle_timeout).ok());
    config.transport_config(Arc::new(transport));
    let socket = std::net::UdpSocket::bind(addr).map_err(ServerError::Quic)?;
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(config),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(ServerError::Quic)
}

/// Accepts HTTP/3 connections on `endpoint` until the server stops, each served in a task of
/// the server's tracker (so the drain waits for it); then waits for their closes to leave.
pub(super) async fn serve<M: Payload>(endpoint: quinn::Endpoint, state: Arc<State<M>>) {
    loop {
        let incoming = tokio::select! {
            incoming = endpoint.accept() => incoming,
            _ = state.stop.cancelled() => None,
        };
        let Some(incoming) = incoming else { break };
        let task_state = state.clone();
        state.tasks.spawn(async move {
            let within = task_state.limits.header_timeout;
            if let Ok(Ok(conn)) = tokio::time::timeout(within, async { incoming.await }).await {
                connection(conn, task_state).await;
            }
        });
    }
    // Each connection closes itself once its requests are answered; whatever is left after
    // that is closed here, and the endpoint kept until the closes have left.
    let _ = tokio::time::timeout(2 * super::drain::DRAIN, endpoint.wait_idle()).await;
    endpoint.close(H3_NO_ERROR.into(), b"");
    let _ = tokio::time::timeout(super::drain::DRAIN / 4, endpoint.wait_idle()).await;
}

/// Serves one QUIC connection: every request stream in a task of its own, until the client
/// closes or the server stops (GOAWAY, then CONNECTION_CLOSE once the requests are answered).
async fn connection<M: Payload>(conn: quinn::Connection, state: Arc<State<M>>) {
    let quic = conn.clone();
    let mut builder = h3::server::builder();
    builder.max_field_section_size(u64::from(state.limits.h2_max_header_list_bytes));
    let Ok(mut h3) = builder
        .build::<_, Bytes>(h3_quinn::Connection::new(conn))
        .await
    else {
        return;
    };
    let requests = tokio_util::task::TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = h3.accept() => accepted,
            _ = state.stop.cancelled() => break,
        };
        let Ok(Some(resolver)) = accepted else { break };
        let (state, quic) = (state.clone(), quic.clone());
        // A request ends with its answer, or with the connection: a held poll or an open
        // stream whose client has gone would otherwise wait for the next message to find out.
        requests.spawn(async move {
            tokio::select! {
                _ = async {
                    if let Ok((req, stream)) = resolver.resolve_request().await {
                        request(req, stream, &state).await;
                    }
                } => {}
                _ = quic.closed() => {}
            }
        });
    }
    if state.stop.is_cancelled() {
        let _ = tokio::time::timeout(Duration::from_millis(500), h3.shutdown(0)).await;
    }
    requests.close();
    let _ = tokio::time::timeout(super::drain::DRAIN, requests.wait()).await;
    // A close discards whatever the streams' last frames still have in flight (QUIC has no
    // lingering close, and h3 cannot wait for their acknowledgement): give the client half the
    // drain's time to read them and hang up itself, as our clients do once their answers end.
    let _ = tokio::time::timeout(super::drain::DRAIN / 2, quic.closed()).await;
    quic.close(H3_NO_ERROR.into(), b"");
}

/// Answers one request with the TCP side's handlers.
async fn request<M: Payload>(req: Request<()>, mut stream: Stream, state: &Arc<State<M>>) {
    let response = match route_head(&req, state) {
        Routed::Answer(response) => response,
        Routed::Publish(room) => match read_body(&mut stream, state.limits.max_message_bytes).await
        {
            Some(Ok(body)) => publish_body(state, &room, body).await,
            Some(Err(())) => too_large(),
            None => return,
        },
        Routed::Poll { room, coding } => {
            longpoll::poll(req.uri().query(), state, &room, coding).await
        }
        Routed::Events(room) => sse::events(&req, state.clone(), room),
    };
    let _ = respond(response, &mut stream).await;
}

/// The request body, at most `max` bytes: `Some(Err(()))` when it is larger, `None` when the
/// stream broke.
async fn read_body(stream: &mut Stream, max: usize) -> Option<Result<Bytes, ()>> {
    let mut body = BytesMut::new();
    while let Some(mut chunk) = stream.recv_data().await.ok()? {
        if body.len() + chunk.remaining() > max {
            return Some(Err(()));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            body.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Some(Ok(body.freeze()))
}

/// Writes `response` as HTTP/3: its head as HEADERS, each body frame as DATA, then the end of
/// the stream.
async fn respond(
    response: Response<Body>,
    stream: &mut Stream,
) -> Result<(), h3::error::StreamError> {
    let (head, mut body) = response.into_parts();
    stream.send_response(Response::from_parts(head, ())).await?;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            if !data.is_empty() {
                stream.send_data(data).await?;
            }
        }
    }
    stream.finish().await
}
