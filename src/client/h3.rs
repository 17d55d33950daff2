//! HTTP/3 for the HTTP clients (long-poll, short-poll, SSE, the publisher's POSTs): one QUIC
//! connection per simulated client, as each has its own TCP connection over HTTP/1.1 and /2.
//!
//! Every connection of a run leaves from one UDP socket, the run's [`Endpoint`]: QUIC tells
//! connections apart by their connection ids, so a client needs no descriptor of its own (the
//! limit that caps TCP clients per process does not apply). Behind a `[network] bandwidth` each
//! connection has an endpoint of its own instead, so the bandwidth is per connection, as over
//! TCP. The socket is a
//! [`CountingUdp`](crate::wire::udp::CountingUdp): every datagram's UDP payload is added to the
//! run's wire meter, and a `[network]` delays datagrams, so the QUIC handshake's round trip is
//! inside the connect time (handshake + the first request's answer head, timed by the caller).
//! QUIC encrypts its framing, so nothing above the socket is counted: what is not payload is
//! overhead. The endpoint also keeps a handle on each connection, whose own counters
//! ([`Endpoint::quic_udp_bytes`]) check the socket's. Owns the endpoint and the requests' HTTP/3
//! form; [`super::http`] chooses it.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Buf, Bytes};
use hyper::Request;

use super::ctx::Ctx;
use super::failure::ConnectError;
use crate::metrics::{FailureKind, WireBytes};
use crate::wire::WireMeter;
use crate::wire::delay::Network;
use crate::wire::udp::CountingUdp;

/// A request sender on one HTTP/3 connection (the connection closes when the last is dropped).
pub(super) type SendRequest = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

/// One request's stream: the answer's head and body are read from it.
pub(super) type RequestStream = h3::client::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

/// A run's QUIC client endpoint: one UDP socket, counted, that every client connects from.
#[derive(Debug)]
pub struct Endpoint {
    endpoint: quinn::Endpoint,
    config: quinn::ClientConfig,
    /// Every connection made, for [`Endpoint::quic_udp_bytes`].
    conns: Mutex<Vec<quinn::Connection>>,
}

impl Endpoint {
    /// An endpoint on a loopback address of `server`'s family, trusting what `tls` trusts,
    /// counting into `meter`, behind `network`.
    pub fn new(
        server: SocketAddr,
        tls: &rustls::ClientConfig,
        meter: Arc<WireMeter>,
        network: Network,
        seed: u64,
    ) -> std::io::Result<Self> {
        let local: SocketAddr = match server {
            SocketAddr::V4(_) => (Ipv4Addr::LOCALHOST, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::LOCALHOST, 0).into(),
        };
        let socket = std::net::UdpSocket::bind(local)?;
        let runtime = Arc::new(quinn::TokioRuntime);
        let inner = quinn::Runtime::wrap_udp_socket(&*runtime, socket)?;
        let counted = CountingUdp::new(inner, meter, network, seed);
        let endpoint = quinn::Endpoint::new_with_abstract_socket(
            quinn::EndpointConfig::default(),
            None,
            counted,
            runtime,
        )?;
        let mut crypto = tls.clone();
        crypto.alpn_protocols = vec![crate::tls::ALPN_H3.to_vec()];
        crypto.enable_early_data = false;
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(crypto)
            .map_err(std::io::Error::other)?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        // No idle limit of the client's own, and no keep-alive pings: the server's idle
        // timeout rules, as over TCP, and a held poll sends nothing while it waits.
        transport.max_idle_timeout(None);
        config.transport_config(Arc::new(transport));
        Ok(Endpoint {
            endpoint,
            config,
            conns: Mutex::default(),
        })
    }

    /// Opens an HTTP/3 connection to `addr`: the QUIC handshake (TLS 1.3, ALPN `h3`), whose
    /// duration is returned with the sender, then h3's control streams; h3's driver runs in a
    /// task of its own until the connection closes.
    pub async fn connect(
        &self,
        addr: SocketAddr,
    ) -> Result<(SendRequest, std::time::Duration), ConnectError> {
        let started = tokio::time::Instant::now();
        let connecting = self
            .endpoint
            .connect_with(self.config.clone(), addr, &addr.ip().to_string())
            .map_err(|e| ConnectError::new(FailureKind::Other, format!("QUIC connect: {e}")))?;
        let conn = connecting
            .await
            .map_err(|e| quic_failure("QUIC handshake", &e))?;
        let handshake = started.elapsed();
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn.clone());
        let (mut driver, sender) = h3::client::new(h3_quinn::Connection::new(conn))
            .await
            .map_err(|e| ConnectError::new(FailureKind::Protocol, format!("HTTP/3: {e}")))?;
        tokio::spawn(async move {
            let _ = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
        });
        Ok((sender, handshake))
    }

    /// The UDP payload bytes quinn itself counted, summed over every connection made (up:
    /// sent, down: received): an account kept apart from the socket's, which it should equal
    /// once every connection is closed and [`Endpoint::wait_idle`] has returned.
    pub fn quic_udp_bytes(&self) -> WireBytes {
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total = WireBytes::default();
        for conn in conns.iter() {
            let stats = conn.stats();
            total.up += stats.udp_tx.bytes;
            total.down += stats.udp_rx.bytes;
        }
        total
    }

    /// Connections open now (a client's socket is the endpoint's, so no stream counts them).
    pub fn open_connections(&self) -> u64 {
        self.endpoint.open_connections() as u64
    }

    /// Waits until every connection is closed and its close has left.
    pub async fn wait_idle(&self) {
        self.endpoint.wait_idle().await;
    }
}

/// How long a finished run waits for its QUIC connections' closes to leave.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(3);

/// A run's QUIC bytes, counted twice: by the counting socket and by quinn, per connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuicBytes {
    /// What the socket counted ([`CountingUdp`]), every connection of the run together.
    pub socket: WireBytes,
    /// quinn's `udp_tx` (up) and `udp_rx` (down) bytes, summed over the connections.
    pub quinn: WireBytes,
}

/// A run's endpoints: one, made by the first HTTP/3 client that connects, shared by all; or,
/// behind a `[network] bandwidth`, one per connection, so that the bandwidth is each
/// connection's, as it is over TCP (each then holds a socket, as a TCP client does).
#[derive(Debug, Default)]
pub(super) struct Lazy {
    shared: tokio::sync::OnceCell<Arc<Endpoint>>,
    own: Mutex<Vec<Arc<Endpoint>>>,
}

impl Lazy {
    /// The endpoint the next connection leaves from (made now if need be).
    pub(super) async fn get(&self, ctx: &Ctx) -> Result<Arc<Endpoint>, ConnectError> {
        let make = |seed: u64| {
            let Some(tls) = &ctx.target.tls else {
                return Err(ConnectError::new(
                    FailureKind::Tls,
                    "HTTP/3 needs the run's TLS configuration (QUIC is always TLS)",
                ));
            };
            let network = ctx.plan.shape.network;
            Endpoint::new(ctx.target.addr, tls, ctx.meter.clone(), network, seed)
                .map(Arc::new)
                .map_err(|e| ConnectError::io("QUIC endpoint", &e))
        };
        if ctx.plan.shape.network.bandwidth.is_some() {
            // Each connection its own jitter draws, as each TCP connection has.
            let n = ctx
                .dialed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let endpoint = make(ctx.plan.shape.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))?;
            let mut own = self.own.lock().unwrap_or_else(PoisonError::into_inner);
            own.push(endpoint.clone());
            return Ok(endpoint);
        }
        let shared = self
            .shared
            .get_or_try_init(|| async { make(ctx.plan.shape.seed) });
        shared.await.cloned()
    }

    /// Every endpoint made so far.
    pub(super) fn made(&self) -> Vec<Arc<Endpoint>> {
        let own = self.own.lock().unwrap_or_else(PoisonError::into_inner);
        self.shared
            .get()
            .into_iter()
            .chain(own.iter())
            .cloned()
            .collect()
    }

    /// Once every connection is closed (within [`SETTLE`]): what the sockets counted into
    /// `meter`, beside quinn's own count; `None` if no HTTP/3 client connected.
    pub(super) async fn settle(&self, meter: &WireMeter) -> Option<QuicBytes> {
        let made = self.made();
        if made.is_empty() {
            return None;
        }
        let _ = tokio::time::timeout(SETTLE, async {
            for endpoint in &made {
                endpoint.wait_idle().await;
            }
        })
        .await;
        let mut quinn = WireBytes::default();
        for endpoint in &made {
            let bytes = endpoint.quic_udp_bytes();
            quinn.up += bytes.up;
            quinn.down += bytes.down;
        }
        Some(QuicBytes {
            socket: meter.read(),
            quinn,
        })
    }
}

/// A connection error as a failure kind: a refused or timed-out handshake, a TLS alert, or a
/// close from the other side.
fn quic_failure(step: &str, e: &quinn::ConnectionError) -> ConnectError {
    use quinn::ConnectionError as E;
    let kind = match e {
        E::TimedOut => FailureKind::TimedOut,
        // CRYPTO_ERROR: a TLS alert, 0x100 + the alert (RFC 9000 §20.1).
        E::ConnectionClosed(c) if (0x100..0x200).contains(&u64::from(c.error_code)) => {
            FailureKind::Tls
        }
        E::TransportError(_) => FailureKind::Protocol,
        E::ApplicationClosed(_) | E::ConnectionClosed(_) | E::Reset | E::LocallyClosed => {
            FailureKind::Reset
        }
        _ => FailureKind::Other,
    };
    ConnectError::new(kind, format!("{step}: {e}"))
}

/// An h3 stream error during `step`.
fn stream_failure(step: &str, e: &h3::error::StreamError) -> ConnectError {
    ConnectError::new(FailureKind::Reset, format!("{step}: HTTP/3: {e}"))
}

/// Sends `request` (its head, then its body if any) and returns once the answer's head came.
pub(super) async fn send(
    sender: &mut SendRequest,
    request: Request<()>,
    body: Bytes,
    step: &str,
) -> Result<(hyper::Response<()>, RequestStream), ConnectError> {
    let fail = |e: h3::error::StreamError| stream_failure(step, &e);
    let mut stream = sender.send_request(request).await.map_err(fail)?;
    if !body.is_empty() {
        stream.send_data(body).await.map_err(fail)?;
    }
    stream.finish().await.map_err(fail)?;
    let response = stream.recv_response().await.map_err(fail)?;
    Ok((response, stream))
}

/// The rest of an answer's body, whole, at most `max` bytes.
pub(super) async fn body(
    stream: &mut RequestStream,
    max: usize,
    step: &str,
) -> Result<Bytes, ConnectError> {
    let mut body = Vec::new();
    loop {
        let more = part(stream, step, |data| body.extend_from_slice(data)).await?;
        if body.len() > max {
            return Err(ConnectError::new(
                FailureKind::Protocol,
                format!("{step}: an answer body over {max} bytes"),
            ));
        }
        if !more {
            return Ok(Bytes::from(body));
        }
    }
}

/// Waits for more of the body and hands it to `on_data`; `false` once it ended.
pub(super) async fn part(
    stream: &mut RequestStream,
    step: &str,
    mut on_data: impl FnMut(&[u8]),
) -> Result<bool, ConnectError> {
    match stream.recv_data().await {
        Ok(Some(mut data)) => {
            while data.has_remaining() {
                let chunk = data.chunk();
                on_data(chunk);
                let n = chunk.len();
                data.advance(n);
            }
            Ok(true)
        }
        Ok(None) => Ok(false),
        Err(e) => Err(stream_failure(step, &e)),
    }
}
