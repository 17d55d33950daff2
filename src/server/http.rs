//! The HTTP server behind every HTTP transport: connections, limits and routing.
//!
//! One listener speaks HTTP/1.1 and HTTP/2: h2c with prior knowledge on plain TCP (the connection
//! preface tells them apart), and h2 over TLS when the client chose it by ALPN. With TLS, HTTP/3
//! is served beside it on UDP at the same port number ([`super::h3`]). On [`serve`]'s
//! connections HTTP/1.1 is spoken by the lean path of [`super::h1`], which holds no buffer on a
//! held poll, an open stream or an idle keep-alive connection, and HTTP/2 by hyper. On
//! [`super::all`]'s server (whose `/ws` upgrades) hyper-util's `auto` builder speaks both. The
//! limits hold for both: header size and header timeout (HTTP/1.1), header list size, concurrent
//! streams and keep-alive pings (HTTP/2), the body limit on `POST /publish` (both).
//!
//! One server answers all three HTTP transports over one hub, so long-poll, short-poll and SSE
//! differ only in how a client reads: `POST /publish` publishes; `GET /poll` is long-poll (held)
//! or short-poll (`wait=0`, answered at once) — see [`super::longpoll`]; `GET /events` is an SSE
//! stream — see [`super::sse`]. Anything else is 404, a wrong method 405. Each takes `?room=K`
//! (room 0 without it): a bad room id is 400, a new room past the server's limit 503. With a
//! state file the hub, every room of it, survives a restart ([`super::persist`]).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use super::hub::{Hub, Payload, Room};
use super::relay::Codec;
use super::{Conn, Limits, ServerConfig, ServerError, State, longpoll, persist, sse};
use crate::protocol::{EVENTS_PATH, POLL_PATH, PUBLISH_PATH, RoomId};

/// Every response body: whole (poll, publish) or streamed (SSE).
pub type Body = BoxBody<Bytes, Infallible>;

/// Serves every HTTP transport on `listener` until `shutdown` completes; held polls are then
/// answered at once, streams ended, and connections closed gracefully.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    serve_with::<Bytes, _, _>(listener, config, shutdown, super::h1::connection).await
}

/// Serves `route` over a hub of `M` on `listener` until `shutdown` completes: the connection
/// handling, limits, state file and shutdown that the HTTP server and [`super::all`] share.
pub(crate) async fn serve_hub<M, R, F>(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
    route: R,
) -> Result<(), ServerError>
where
    M: Payload,
    R: Fn(Request<Incoming>, Arc<State<M>>) -> F + Copy + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    serve_with(listener, config, shutdown, move |conn, state| {
        connection(conn, state, route, Websockets::OverHttp2)
    })
    .await
}

/// Serves each connection on `listener` with `serve_conn` until `shutdown` completes: the
/// limits, state file and shutdown every HTTP server shares, whoever speaks HTTP on the
/// connection (hyper, or the lean HTTP/1.1 path of [`super::h1`]).
async fn serve_with<M, C, F>(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
    serve_conn: C,
) -> Result<(), ServerError>
where
    M: Payload,
    C: Fn(Conn, Arc<State<M>>) -> F + Copy + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let ServerConfig {
        hold,
        limits,
        state_file,
        tls,
        backplane,
        ..
    } = config;
    let hub = match state_file.as_deref().map(persist::load).transpose() {
        Ok(Some(Some(rooms))) => Hub::restore(
            limits.ring_capacity,
            limits.ring_bytes,
            |m: &M| m.payload().len(),
            rooms
                .into_iter()
                .map(persist::RoomState::into_payload)
                .collect(),
        )
        .with_max_rooms(limits.max_rooms),
        Ok(_) => limits.hub(|m: &M| m.payload().len()),
        Err(e) => return Err(ServerError::State(e)),
    };
    let ring = limits.ring_capacity;
    let state = Arc::new(State::new(hub, hold, limits));
    // With TLS, HTTP/3 on UDP at the TCP listener's port number ([`super::h3`]).
    if let Some(tls) = &tls {
        let addr = listener.local_addr().map_err(ServerError::Accept)?;
        let endpoint = super::h3::bind(addr, tls, &state.limits)?;
        state.tasks.spawn(super::h3::serve(endpoint, state.clone()));
    }
    let relayed = Codec {
        payload: M::payload,
        text: |_| false,
        rebuild: |payload, _| M::from_body(payload),
    };
    let mut relay =
        super::joined::join_log(backplane.as_ref(), ring, relayed, &state, |s| &s.hub).await?;
    let result = super::joined::accept_while_joined(&listener, shutdown, relay.as_mut(), |tcp| {
        let (task_state, tls) = (state.clone(), tls.clone());
        state.tasks.spawn(async move {
            let within = task_state.limits.header_timeout;
            // Boxed: the TLS handshake's state is large, and gone once it is done.
            if let Some(conn) = Box::pin(super::secure(tcp, tls.as_ref(), within)).await {
                serve_conn(conn, task_state).await;
            }
        });
    })
    .await;
    super::drain::stop(listener, &state.stop, &state.tasks, relay).await;
    if let Some(path) = state_file {
        persist::save_rooms(&path, &state.hub.snapshot()).map_err(ServerError::State)?;
    }
    result
}

/// hyper's HTTP/1.1 + HTTP/2 connection builder with our limits.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(16 * 1024);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_header_list_size(limits.h2_max_header_list_bytes)
        .keep_alive_interval(limits.h2_keep_alive)
        .keep_alive_timeout(limits.h2_keep_alive);
    builder
}

/// Whether an HTTP/2 connection may carry WebSockets (RFC 8441).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Websockets {
    /// The HTTP transports' servers: their HTTP/2 SETTINGS say nothing of it, byte for byte as
    /// every run measured them.
    Http1Only,
    /// The page server ([`super::all`]): its SETTINGS advertise the extended CONNECT, so a
    /// browser that loaded the page over h2 opens the page's WebSocket as a stream of that
    /// connection, as it would with a production server that offers it.
    OverHttp2,
}

/// Serves one connection with hyper. Upgrades are allowed (only [`super::all`] answers one, for
/// `/ws`); an upgraded connection leaves hyper and this task at once.
pub(crate) async fn connection<M, R, F, S>(
    io: S,
    state: Arc<State<M>>,
    route: R,
    websockets: Websockets,
) where
    M: Payload,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    R: Fn(Request<Incoming>, Arc<State<M>>) -> F + Copy + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let service = {
        let state = state.clone();
        service_fn(move |req| {
            let response = route(req, state.clone());
            async move { Ok::<_, Infallible>(response.await) }
        })
    };
    let mut builder = builder(&state.limits);
    if websockets == Websockets::OverHttp2 {
        builder.http2().enable_connect_protocol();
    }
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = state.stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
}

/// Routes a request to publish, long-/short-poll or SSE, after the token check.
pub(crate) async fn route<M: Payload>(
    req: Request<Incoming>,
    state: Arc<State<M>>,
) -> Response<Body> {
    match route_head(&req, &state) {
        Routed::Answer(response) => response,
        Routed::Publish(room) => publish(req, &state, &room).await,
        Routed::Poll { room, coding } => {
            longpoll::poll(req.uri().query(), &state, &room, coding).await
        }
        Routed::Events(room) => sse::events(&req, state, room),
    }
}

/// Where a request goes, known from its head alone.
pub(crate) enum Routed {
    /// Answered already: a refusal (401, 404, 405, 400, 503).
    Answer(Response<Body>),
    /// `POST /publish` into this room: the body is the message.
    Publish(Room),
    /// `GET /poll` in this room, the answer in `coding`.
    Poll {
        /// The room read.
        room: Room,
        /// The content coding the request accepts.
        coding: crate::codec::coding::Coding,
    },
    /// `GET /events` in this room.
    Events(Room),
}

/// Routes a request by its head: the token check, the path and method, the room.
pub(crate) fn route_head<B, M: Payload>(req: &Request<B>, state: &State<M>) -> Routed {
    if !super::authorized(req.headers(), state.limits.token.as_deref()) {
        return Routed::Answer(status(
            StatusCode::UNAUTHORIZED,
            "a bearer token is required\n",
        ));
    }
    let path = req.uri().path();
    let allowed = matches!(
        (req.method(), path),
        (&Method::POST, PUBLISH_PATH) | (&Method::GET, POLL_PATH | EVENTS_PATH)
    );
    if !allowed {
        return Routed::Answer(match path {
            PUBLISH_PATH | POLL_PATH | EVENTS_PATH => status(StatusCode::METHOD_NOT_ALLOWED, ""),
            _ => status(StatusCode::NOT_FOUND, ""),
        });
    }
    let room = match room(req.uri().query(), state) {
        Ok(room) => room,
        Err((code, text)) => return Routed::Answer(status(code, text)),
    };
    match path {
        PUBLISH_PATH => Routed::Publish(room),
        POLL_PATH => Routed::Poll {
            room,
            coding: longpoll::accepted_coding(req.headers()),
        },
        _ => Routed::Events(room),
    }
}

/// The room a request's query names (room 0 if none), or the error status and text: 400 for a
/// bad room id, 503 when the room is new and the server has its most rooms.
pub(crate) fn room<M: Payload>(
    query: Option<&str>,
    state: &State<M>,
) -> Result<Room, (StatusCode, &'static str)> {
    let Some(id) = RoomId::from_query(query) else {
        return Err((
            StatusCode::BAD_REQUEST,
            "room must be a non-negative integer below 2^32\n",
        ));
    };
    state
        .hub
        .room(id)
        .map_err(|_| (StatusCode::SERVICE_UNAVAILABLE, "too many rooms\n"))
}

async fn publish<M: Payload>(
    req: Request<Incoming>,
    state: &State<M>,
    room: &Room,
) -> Response<Body> {
    let body = Limited::new(req.into_body(), state.limits.max_message_bytes);
    match body.collect().await {
        Ok(collected) => publish_body(state, room, collected.to_bytes()).await,
        Err(e) if e.is::<http_body_util::LengthLimitError>() => too_large(),
        Err(_) => status(StatusCode::BAD_REQUEST, ""),
    }
}

/// Publishes a `POST /publish` body (already within the size limit) into `room`.
pub(crate) async fn publish_body<M: Payload>(
    state: &State<M>,
    room: &Room,
    body: Bytes,
) -> Response<Body> {
    // With a shared log, answered once the log holds the message: a 204 is a promise.
    let stored = match state.hub.publish_stored(room, M::from_body(body)) {
        Some(done) => done.await.is_ok(),
        None => true,
    };
    if stored {
        status(StatusCode::NO_CONTENT, "")
    } else {
        status(StatusCode::SERVICE_UNAVAILABLE, "the backplane is gone\n")
    }
}

/// The answer to a `POST /publish` body over the size limit.
pub(crate) fn too_large() -> Response<Body> {
    status(StatusCode::PAYLOAD_TOO_LARGE, "message too large\n")
}

/// A whole response body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A response with only a status and a short text.
pub fn status(code: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = code;
    response
}
