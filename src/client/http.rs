//! What every HTTP client shares: a keep-alive connection over a counting socket (ours for
//! HTTP/1.1, see [`super::h1`]; hyper's for HTTP/2; h3's on quinn for HTTP/3, see
//! [`super::h3`]), requests, and answers read whole or streamed. The publisher that posts on one is [`super::poster`]'s.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::Either;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper::{Request, StatusCode};

use super::conn::Stream;
use super::ctx::Ctx;
use super::failure::ConnectError;
use super::h1::{self, Connection};
use super::h2exec::ConnectionExecutor;
use crate::codec::h1::{Head, Method};
use crate::metrics::FailureKind;
use crate::wire::stamp::KernelStamp;

/// Largest answer body read whole (a poll's batch): twice the most the built-in server sends
/// (1024 messages of up to 64 KiB), so only a runaway answer is refused.
const MAX_BODY_BYTES: usize = 128 << 20;

/// One connection: a keep-alive HTTP/1.1 connection, or an HTTP/2 connection (one per client,
/// as a browser tab has; requests are its streams).
pub(super) enum Sender {
    /// HTTP/1.1: one request at a time, in the caller's task.
    Http1(Connection<Stream>),
    /// HTTP/2 on hyper (its driver in a task of its own, see [`super::h2exec`]).
    Http2 {
        /// hyper's handle on the connection.
        sender: http2::SendRequest<Full<Bytes>>,
        /// Response fields to keep in each [`Head`].
        keep: &'static [&'static str],
    },
    /// HTTP/3 on quinn ([`super::h3`]): requests are QUIC streams of the client's connection.
    Http3 {
        /// h3's handle on the connection.
        sender: super::h3::SendRequest,
        /// Response fields to keep in each [`Head`].
        keep: &'static [&'static str],
    },
}

/// A request as either protocol sends it.
pub(super) struct Outgoing {
    /// The method.
    pub(super) method: Method,
    /// Path and query.
    pub(super) target: String,
    /// Opens an event stream (`accept: text/event-stream`, as a browser's `EventSource` asks).
    pub(super) event_stream: bool,
    /// Resuming an event stream after this (opaque) id.
    pub(super) last_event_id: Option<Bytes>,
    /// An nchan long-poll's `If-Modified-Since` and `If-None-Match`.
    pub(super) conditional: Option<(String, String)>,
    /// Further header fields (a template's publish headers); empty for wsbench's protocols.
    pub(super) headers: Arc<[(String, String)]>,
    /// The body (`POST`); empty for `GET`.
    pub(super) body: Bytes,
}

impl Outgoing {
    /// `GET target`.
    pub(super) fn get(target: String) -> Self {
        Outgoing {
            method: Method::Get,
            target,
            event_stream: false,
            last_event_id: None,
            conditional: None,
            headers: Arc::from([]),
            body: Bytes::new(),
        }
    }
}

/// A streamed response body (an event stream), with what keeps its connection open.
pub(super) enum BodyStream {
    /// The HTTP/1.1 connection the body arrives on.
    Http1(Connection<Stream>),
    /// An HTTP/2 body and its connection's sender (the connection starts closing once every
    /// sender is dropped).
    Http2 {
        /// Kept for the connection's sake, never used.
        _sender: http2::SendRequest<Full<Bytes>>,
        /// The body.
        body: Incoming,
    },
    /// An HTTP/3 answer's stream and its connection's sender (the connection closes once
    /// every sender is dropped). Boxed: h3's stream state is several hundred bytes, and an open
    /// stream is held for the whole run.
    Http3(Box<(super::h3::SendRequest, super::h3::RequestStream)>),
}

impl BodyStream {
    /// The kernel's arrival time of what the last [`BodyStream::part`] read, over HTTP/1.1;
    /// `None` over HTTP/2 (hyper reads the socket in a task of its own, and its frames do not
    /// say which read brought them).
    pub(super) fn arrival(&self) -> Option<KernelStamp> {
        match self {
            BodyStream::Http1(conn) => conn.arrival(),
            BodyStream::Http2 { .. } | BodyStream::Http3(_) => None,
        }
    }

    /// Waits for more of the body and hands it to `on_data`; `false` once the body ended.
    /// Cancel-safe: nothing read is lost if the wait is dropped.
    pub(super) async fn part(
        &mut self,
        step: &str,
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<bool, ConnectError> {
        match self {
            BodyStream::Http1(conn) => conn.body_part(on_data).await.map_err(|e| e.during(step)),
            BodyStream::Http2 { body, .. } => match body.frame().await {
                Some(Ok(frame)) => {
                    // Trailers carry no events.
                    if let Some(data) = frame.data_ref() {
                        on_data(data);
                    }
                    Ok(true)
                }
                Some(Err(e)) => Err(ConnectError::hyper(step, &e)),
                None => Ok(false),
            },
            BodyStream::Http3(open) => super::h3::part(&mut open.1, step, on_data).await,
        }
    }
}

/// An error unless the answer to `step` is `200 OK` (anything else is answered as today's
/// clients were: the status names the failure).
pub(super) fn expect_ok(head: &Head, step: &str) -> Result<(), ConnectError> {
    match StatusCode::from_u16(head.status) {
        Ok(StatusCode::OK) => Ok(()),
        Ok(status) => Err(ConnectError::status(step, status)),
        Err(_) => Err(ConnectError::new(
            FailureKind::Protocol,
            format!("{step}: HTTP {}", head.status),
        )),
    }
}

impl Sender {
    /// The kernel's arrival time of the last bytes read on the connection: after an exchange,
    /// those that completed its answer. `None` over HTTP/2, as [`BodyStream::arrival`].
    pub(super) fn arrival(&self) -> Option<KernelStamp> {
        match self {
            Sender::Http1(conn) => conn.arrival(),
            Sender::Http2 { .. } | Sender::Http3 { .. } => None,
        }
    }

    /// Sends `request` and reads its whole answer (a body of at most [`MAX_BODY_BYTES`]). The
    /// future owns the connection and gives it back with the answer, so it can stay in flight
    /// while the caller waits on other events; dropping it drops the connection, so no answer
    /// can be half read.
    pub(super) fn exchange(
        self,
        ctx: &Ctx,
        request: Outgoing,
        step: &'static str,
    ) -> impl Future<Output = Result<(Sender, Head, Bytes), ConnectError>> + Send + 'static + use<>
    {
        match self {
            Sender::Http1(mut conn) => {
                let bytes = encode(ctx, &request);
                Either::Left(async move {
                    let during = |e: h1::H1Error| e.during(step);
                    conn.send(&bytes).await.map_err(during)?;
                    drop(bytes);
                    let head = conn.head().await.map_err(during)?;
                    let body = conn.body(MAX_BODY_BYTES).await.map_err(during)?;
                    Ok((Sender::Http1(conn), head, Bytes::from(body)))
                })
            }
            Sender::Http3 { mut sender, keep } => {
                let body = request.body.clone();
                let request = h2_request(ctx, request).map(|_| ());
                Either::Right(Either::Right(async move {
                    let (response, mut stream) =
                        super::h3::send(&mut sender, request, body, step).await?;
                    let head = h2_head(&response, keep);
                    let body = super::h3::body(&mut stream, MAX_BODY_BYTES, step).await?;
                    Ok((Sender::Http3 { sender, keep }, head, body))
                }))
            }
            Sender::Http2 { mut sender, keep } => {
                let response = sender.send_request(h2_request(ctx, request));
                Either::Right(Either::Left(async move {
                    let response = response.await.map_err(|e| ConnectError::hyper(step, &e))?;
                    let head = h2_head(&response, keep);
                    let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                        .collect()
                        .await
                        .map_err(|e| match e.downcast::<hyper::Error>() {
                            Ok(e) => ConnectError::hyper(step, &e),
                            Err(e) => {
                                ConnectError::new(FailureKind::Protocol, format!("{step}: {e}"))
                            }
                        })?
                        .to_bytes();
                    Ok((Sender::Http2 { sender, keep }, head, body))
                }))
            }
        }
    }

    /// Sends `request` and returns once the response head has arrived, with its body to read
    /// as it comes.
    pub(super) async fn open_stream(
        self,
        ctx: &Ctx,
        request: Outgoing,
        step: &'static str,
    ) -> Result<(Head, BodyStream), ConnectError> {
        match self {
            Sender::Http1(mut conn) => {
                let during = |e: h1::H1Error| e.during(step);
                conn.send(&encode(ctx, &request)).await.map_err(during)?;
                let head = conn.head().await.map_err(during)?;
                Ok((head, BodyStream::Http1(conn)))
            }
            Sender::Http2 { mut sender, keep } => {
                let response = sender
                    .send_request(h2_request(ctx, request))
                    .await
                    .map_err(|e| ConnectError::hyper(step, &e))?;
                let head = h2_head(&response, keep);
                let body = BodyStream::Http2 {
                    _sender: sender,
                    body: response.into_body(),
                };
                Ok((head, body))
            }
            Sender::Http3 { mut sender, keep } => {
                let body = request.body.clone();
                let request = h2_request(ctx, request).map(|_| ());
                let (response, stream) = super::h3::send(&mut sender, request, body, step).await?;
                let head = h2_head(&response, keep);
                Ok((head, BodyStream::Http3(Box::new((sender, stream)))))
            }
        }
    }

    /// Another handle on the same HTTP/2 connection, for a request in parallel; `None` over
    /// HTTP/1.1, which carries one request at a time.
    pub(super) fn h2_handle(&self) -> Option<Sender> {
        match self {
            Sender::Http1(_) => None,
            Sender::Http2 { sender, keep } => Some(Sender::Http2 {
                sender: sender.clone(),
                keep,
            }),
            Sender::Http3 { sender, keep } => Some(Sender::Http3 {
                sender: sender.clone(),
                keep,
            }),
        }
    }
}

/// Opens a connection to the target (TLS if it wants TLS; HTTP/2 if the scenario asks for it),
/// whose answers keep the response fields named in `keep`. Over HTTP/2 hyper's driver task
/// ends when every sender and response body is dropped; over HTTP/1.1 there is no other task.
pub(super) async fn connect(
    ctx: &Ctx,
    keep: &'static [&'static str],
) -> Result<Sender, ConnectError> {
    if ctx.target.http3 {
        let endpoint = ctx.h3.get(ctx).await?;
        let (sender, handshake) = endpoint.connect(ctx.target.dial_addr()).await?;
        // QUIC's handshake is TLS 1.3's, carried in QUIC packets.
        ctx.handshakes.add(handshake);
        return Ok(Sender::Http3 { sender, keep });
    }
    let stream = super::conn::connect(ctx).await?;
    if !ctx.target.http2 {
        return Ok(Sender::Http1(Connection::new(stream, keep)));
    }
    let io = hyper_util::rt::TokioIo::new(stream);
    let (exec, driver) = ConnectionExecutor::new();
    let (sender, conn) = http2::handshake(exec.clone(), io)
        .await
        .map_err(|e| ConnectError::hyper("handshake", &e))?;
    hyper::rt::Executor::execute(&exec, async move {
        let _ = conn.await;
    });
    tokio::spawn(driver);
    Ok(Sender::Http2 { sender, keep })
}

/// The HTTP/1.1 bytes of `request`: what hyper's client sent, so byte figures stay comparable
/// (see [`crate::codec::h1::request`]).
fn encode(ctx: &Ctx, request: &Outgoing) -> Vec<u8> {
    let head = crate::codec::h1::Request {
        method: request.method,
        target: &request.target,
        host: ctx.target.addr,
        token: ctx.target.token.as_deref(),
        event_stream: request.event_stream,
        last_event_id: request.last_event_id.as_deref(),
        conditional: request
            .conditional
            .as_ref()
            .map(|(m, e)| (m.as_str(), e.as_str())),
        headers: &request.headers,
        body_bytes: request.body.len(),
    };
    h1::encode(&head, &request.body)
}

/// An HTTP/2 request: the absolute URI, which becomes the `:scheme` and `:authority`
/// pseudo-headers, and the token.
fn h2_request(ctx: &Ctx, request: Outgoing) -> Request<Full<Bytes>> {
    let scheme = if ctx.target.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let method = match request.method {
        Method::Get => hyper::Method::GET,
        Method::Post => hyper::Method::POST,
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("{scheme}://{}{}", ctx.target.addr, request.target));
    if let Some(token) = &ctx.target.token {
        builder = builder.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if request.event_stream {
        builder = builder
            .header(hyper::header::ACCEPT, "text/event-stream")
            .header(hyper::header::CACHE_CONTROL, "no-cache");
    }
    if let Some((modified, etag)) = request.conditional {
        builder = builder
            .header(hyper::header::IF_MODIFIED_SINCE, modified)
            .header(hyper::header::IF_NONE_MATCH, etag);
    }
    for (name, value) in request.headers.iter() {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(id) = request.last_event_id {
        // The parser keeps only ids that are valid field values.
        let value = hyper::header::HeaderValue::from_maybe_shared(id)
            .expect("the SSE parser keeps only ids without control bytes");
        builder = builder.header(crate::protocol::LAST_EVENT_ID, value);
    }
    builder
        .body(Full::new(request.body))
        .expect("method, path, authority and a printable token are always valid")
}

/// An HTTP/2 response's head, keeping the fields named in `keep`.
fn h2_head<B>(response: &hyper::Response<B>, keep: &'static [&'static str]) -> Head {
    let mut fields = Vec::new();
    for name in keep {
        for value in response.headers().get_all(*name) {
            let value = String::from_utf8_lossy(value.as_bytes());
            fields.push((*name, value.into_owned().into_boxed_str()));
        }
    }
    Head {
        status: response.status().as_u16(),
        fields,
        close: false,
    }
}
