//! The built-in broadcast servers: one [`hub::Hub`] and one adapter per transport (WebSocket in
//! [`ws`]; long-poll, short-poll and SSE share one HTTP server, [`http`]).
//!
//! Each adapter serves one transport on a listener until its shutdown future completes, bounded
//! in message size, queue and idle time by [`Limits`]. Servers do no measuring and know nothing of
//! clients, metrics or reports: `wsbench run` measures them from outside, as a child process.
//! [`all`] serves every transport on one port over one hub, with the chat page ([`page`]), for a
//! person to watch in a browser; `wsbench run` never starts it.

mod accept;
pub mod all;
mod bearer;
mod conn;
mod deflate;
mod drain;
mod fanout;
pub mod framed;
mod h1;
mod h3;
pub mod http;
pub mod hub;
mod joined;
pub mod longpoll;
pub mod page;
pub mod persist;
mod push;
pub mod raw;
pub mod relay;
mod serving;
pub mod shared;
pub mod sse;
mod writer;
pub mod ws;
mod ws_h2;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backplane::{BackplaneError, BackplaneUrl, Keys};
use crate::protocol::TransportKind;
use relay::RelayStats;

pub(crate) use accept::accept_until;
pub use accept::{accepted, listen};
pub(crate) use conn::{Conn, secure};
pub use serving::Serving;

/// Bounds and guards that keep a server alive, and not an open relay, whatever its clients do.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Messages the hub keeps for readers that fall behind. A reader further behind loses the oldest.
    pub ring_capacity: usize,
    /// Bytes of messages the hub keeps, at most: the ring's memory bound whatever the message
    /// size (the newest message is always kept).
    pub ring_bytes: usize,
    /// Rooms the hub keeps at most ([`hub::Hub::room`]): a request for a new room past this is
    /// refused, so clients naming rooms cannot grow the server's memory without bound. The ring
    /// bounds above hold over all rooms together.
    pub max_rooms: usize,
    /// Largest message a client may publish (WebSocket message or `POST /publish` body), in bytes.
    pub max_message_bytes: usize,
    /// Most messages sent in one poll response or one coalesced WebSocket write.
    pub max_batch: usize,
    /// A WebSocket client that sends nothing (no message, no ping, no pong) for this long is
    /// closed.
    pub idle_timeout: Duration,
    /// WebSocket: ping every client this often (an empty ping, 2 bytes), as real servers do to
    /// keep proxies and NATs from dropping a quiet connection; the client's pong also keeps it
    /// clear of `idle_timeout`. `None`: the server never pings.
    pub ws_ping: Option<Duration>,
    /// SSE: send a comment line (`:` and a blank line) on a stream that has carried nothing for
    /// this long, for the same reason. `None`: never.
    pub sse_keepalive: Option<Duration>,
    /// An HTTP client must finish sending request headers within this time.
    pub header_timeout: Duration,
    /// SSE: end each stream after this many events, so clients must resume with
    /// `Last-Event-ID` (as behind a proxy that cuts long responses). `None`: never.
    pub sse_max_events: Option<u64>,
    /// Every publish and subscribe request must carry `Authorization: Bearer <token>`, else 401,
    /// so a server left running is not an open relay. `None`: no check (loopback by default).
    pub token: Option<String>,
    /// HTTP/2: most streams (requests) one connection may have open at once. A browser tab has a
    /// handful; more from one client is a flood.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2: largest decoded header list a client may send, in bytes (HTTP/1.1 heads are
    /// bounded by the 16 KiB read buffer).
    pub h2_max_header_list_bytes: u32,
    /// HTTP/2: the server pings a connection that has been quiet this long, and closes it if the
    /// ping is not answered within the same time, so a dead client's streams do not linger.
    pub h2_keep_alive: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            ring_capacity: 16_384,
            ring_bytes: 64 << 20,
            max_rooms: hub::DEFAULT_MAX_ROOMS,
            max_message_bytes: 64 * 1024,
            max_batch: 1024,
            idle_timeout: Duration::from_secs(300),
            ws_ping: None,
            sse_keepalive: None,
            header_timeout: Duration::from_secs(30),
            sse_max_events: None,
            token: None,
            h2_max_concurrent_streams: 32,
            h2_max_header_list_bytes: 16 * 1024,
            h2_keep_alive: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// A hub bounded by these limits, weighing each message with `weigh`.
    pub fn hub<M: Clone>(&self, weigh: fn(&M) -> usize) -> hub::Hub<M> {
        hub::Hub::bounded(self.ring_capacity, self.ring_bytes, weigh).with_max_rooms(self.max_rooms)
    }
}

/// What a server needs beyond its listener.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Which transport (or all of them) to serve.
    pub transport: Serving,
    /// Long-poll: how long an empty poll is held before it is answered empty.
    pub hold: Duration,
    /// Resource bounds.
    pub limits: Limits,
    /// HTTP transports: load the hub from this file at start and save it at shutdown, so a
    /// restart continues the same stream. `None`: start empty, keep nothing.
    pub state_file: Option<std::path::PathBuf>,
    /// Serve TLS (wss/https) with this configuration; `None`: plain TCP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Share one ordered log with other instances ([`crate::backplane`]); `None`: this server's
    /// hub is the whole stream.
    pub backplane: Option<Instance>,
}

/// A server's place among instances that share one log.
#[derive(Debug, Clone)]
pub struct Instance {
    /// The log's Redis.
    pub url: BackplaneUrl,
    /// The names of the log's keys there (shared by every instance of one log).
    pub keys: Keys,
    /// Where the relay counts what it did (kept by the caller, e.g. for `wsbench serve --stats`).
    pub stats: Arc<RelayStats>,
}

/// What every request handler and connection task of one server shares.
#[derive(Debug)]
pub struct State<M> {
    /// The one hub every transport of this server reads and publishes to.
    pub hub: hub::Hub<M>,
    /// SSE and long-poll: each range's answer, encoded once for all its readers. Bounded by the
    /// ring's own byte limit, so it at most doubles what the hub's messages hold.
    pub shared: shared::Shared,
    /// Long-poll: how long a poll with nothing to answer is held.
    pub hold: Duration,
    /// Resource bounds.
    pub limits: Limits,
    /// Cancelled at shutdown: held polls are answered, streams end, WebSockets close with 1001.
    pub stop: CancellationToken,
    /// Every connection task, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// WebSocket: each room's connections, written to by the room's pusher.
    pub(crate) push: push::Push<M>,
}

impl<M> State<M> {
    /// The state of a server that starts with `hub`.
    pub fn new(hub: hub::Hub<M>, hold: Duration, limits: Limits) -> Self {
        State {
            hub,
            shared: shared::Shared::new(limits.ring_bytes),
            hold,
            limits,
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
            push: push::Push::default(),
        }
    }

    /// What a room's pusher takes from the server ([`push::join`]).
    pub(crate) fn push_parts(&self) -> push::Parts<'_, M> {
        push::Parts {
            push: &self.push,
            hub: &self.hub,
            tasks: &self.tasks,
            stop: &self.stop,
            max_batch: self.limits.max_batch,
        }
    }
}

/// Why a server stopped before it was asked to.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Accepting connections failed (e.g. out of file descriptors); the server cannot go on.
    #[error("accepting connections failed: {0}")]
    Accept(#[source] std::io::Error),
    /// The hub's state file could not be read or written; fix or remove the file.
    #[error("hub state file: {0}")]
    State(#[source] std::io::Error),
    /// The lobby, whose log an instance joins at once, could not be had (a restored hub is full).
    #[error("backplane: {0}")]
    Room(#[from] hub::RoomError),
    /// The shared log could not be joined, or was lost while serving.
    #[error("backplane: {0}")]
    Backplane(#[from] BackplaneError),
    /// HTTP/3's UDP socket could not be bound beside the TCP listener (the port number is taken
    /// on UDP), or its QUIC configuration was refused; free the port or serve without TLS.
    #[error("HTTP/3 (QUIC on UDP): {0}")]
    Quic(#[source] std::io::Error),
    /// A protocol wsbench speaks only as a client, to another stack's server.
    #[error("wsbench does not serve {0}; it measures a server of that stack as a [target]")]
    NotServed(TransportKind),
}

/// Serves `config.transport` (one, or all) on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    match config.transport {
        Serving::One(TransportKind::Ws) => {
            ws::serve(
                listener,
                config.limits,
                config.tls,
                config.backplane,
                shutdown,
            )
            .await
        }
        Serving::One(TransportKind::Raw) => {
            raw::serve(listener, config.limits, config.backplane, shutdown).await
        }
        Serving::One(TransportKind::LongPoll | TransportKind::ShortPoll | TransportKind::Sse) => {
            http::serve(listener, config, shutdown).await
        }
        Serving::All => all::serve(listener, config, shutdown).await,
        Serving::One(
            kind @ (TransportKind::SocketIo | TransportKind::Nchan | TransportKind::Template),
        ) => Err(ServerError::NotServed(kind)),
    }
}

/// Whether a request may go on: no token configured, or `Authorization: Bearer <token>`.
pub(crate) fn authorized(headers: &hyper::HeaderMap, token: Option<&str>) -> bool {
    let Some(token) = token else { return true };
    headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| given.trim() == token)
}
