//! The built-in broadcast servers: one [`hub::Hub`] and one adapter per transport (WebSocket in
//! [`ws`]; long-poll, short-poll and SSE share one HTTP server, [`http`]).
//!
//! Each adapter serves one transport on a listener until its shutdown future completes, bounded
//! in message size, queue and idle time by [`Limits`]. Servers do no measuring and know nothing of
//! clients, metrics or reports: `wsbench run` measures them from outside, as a child process.
//! [`all`] serves every transport on one port over one hub, with the chat page ([`page`]), for a
//! person to watch in a browser; `wsbench run` never starts it.

pub mod all;
mod bearer;
mod fanout;
pub mod framed;
pub mod http;
pub mod hub;
mod joined;
pub mod longpoll;
pub mod page;
pub mod persist;
mod push;
pub mod raw;
pub mod relay;
pub mod shared;
pub mod sse;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backplane::{BackplaneError, BackplaneUrl, Keys};
use crate::protocol::TransportKind;
use relay::RelayStats;

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

/// What one server serves on its port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// One transport, as `wsbench run` starts them: each measured alone.
    One(TransportKind),
    /// Every transport over one hub, and the chat page at `/` ([`all`]): what a browser needs to
    /// switch transports on one origin. For people, not for measuring.
    All,
}

impl From<TransportKind> for Serving {
    fn from(transport: TransportKind) -> Self {
        Serving::One(transport)
    }
}

impl std::fmt::Display for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Serving::One(transport) => transport.fmt(f),
            Serving::All => f.write_str("all"),
        }
    }
}

/// `--transport` of `wsbench serve`: every [`TransportKind`] by its own name, and `all`. Only
/// `serve` takes this type, so `wsbench run --transports` cannot be given `all`.
impl clap::ValueEnum for Serving {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Serving::One(TransportKind::Ws),
            Serving::One(TransportKind::LongPoll),
            Serving::One(TransportKind::ShortPoll),
            Serving::One(TransportKind::Sse),
            Serving::One(TransportKind::Raw),
            Serving::All,
        ]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        match self {
            Serving::One(transport) => transport.to_possible_value(),
            Serving::All => Some(clap::builder::PossibleValue::new("all").help(
                "Every transport on one port over one hub, and the chat page at `/` \
                 (its URL is printed on the second line of stdout)",
            )),
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

/// Connections accepted by every server of this process: `wsbench serve` runs one server, so for
/// it this is that server's count (`--stats` reports it, to show how a balancer spread clients).
static ACCEPTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Connections accepted so far by the servers of this process.
pub fn accepted() -> u64 {
    ACCEPTED.load(std::sync::atomic::Ordering::Relaxed)
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
}

/// Opens a listening socket on `addr` with the longest accept queue the kernel allows.
///
/// `TcpListener::bind` in std, and so in mio and tokio, asks for a backlog of 128: at a ramp of
/// 10,000 connections per second that queue holds 13 ms of arrivals, and when the server's one
/// thread is busy a moment longer the kernel drops SYNs, which a client sees as a 1 s
/// retransmission (a refusal with `tcp_abort_on_overflow`). We ask for -1, which Linux reads as
/// "the most allowed": `net.core.somaxconn` (see [`crate::os::somaxconn`]; 4096 by default since
/// Linux 5.4, 128 before). Raise that sysctl for a deeper queue. Sets `SO_REUSEADDR` as std does,
/// so a restarted server can bind its port again while old connections wait in TIME_WAIT. The
/// socket is blocking; make it non-blocking before handing it to tokio.
pub fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind, listen, setsockopt,
        socket, sockopt::ReuseAddr,
    };
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, ReuseAddr, &true)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    listen(&fd, Backlog::MAXALLOWABLE)?;
    Ok(std::net::TcpListener::from(fd))
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

/// Hands every accepted connection to `on_accept` until `shutdown` completes (`Ok`) or accepting
/// fails for good: the accept loop every server shares.
pub(crate) async fn accept_until(
    listener: &TcpListener,
    shutdown: impl Future<Output = ()>,
    mut on_accept: impl FnMut(tokio::net::TcpStream),
) -> Result<(), ServerError> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = accept(listener) => on_accept(accepted?),
        }
    }
}

/// An accepted connection: plain TCP, or TLS over it, that must start its first request in time.
pub(crate) type Conn = FirstByteDeadline<Either<TcpStream, TlsStream<TcpStream>>>;

/// A stream whose reads fail with `TimedOut` if nothing at all has been read by a deadline.
///
/// hyper's HTTP/1.1 header timeout covers a request once its bytes come in, but the `auto`
/// builder first waits, with no limit, for the bytes that tell HTTP/1.1 from an HTTP/2 preface:
/// without this a client that connects and stays silent would hold its connection for ever.
#[derive(Debug)]
pub(crate) struct FirstByteDeadline<S> {
    inner: S,
    /// Until the first byte arrives; `None` after.
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<S> FirstByteDeadline<S> {
    fn new(inner: S, within: Duration) -> Self {
        FirstByteDeadline {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(within))),
        }
    }

    /// The stream, once its first request has come (the deadline no longer applies).
    pub(crate) fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for FirstByteDeadline<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let Some(deadline) = self.deadline.as_mut() else {
            return poll;
        };
        match poll {
            Poll::Ready(_) if buf.filled().len() > before => self.deadline = None,
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                return Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()));
            }
            _ => {}
        }
        poll
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for FirstByteDeadline<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The connection as the server speaks it: `tcp` itself, or after a TLS handshake that must end
/// within `within` (the header timeout, so a client that stalls in the handshake is dropped like
/// one that stalls in its request head); either way its first request must begin within `within`
/// too. `None`: the handshake failed or timed out.
pub(crate) async fn secure(
    tcp: TcpStream,
    tls: Option<&Arc<rustls::ServerConfig>>,
    within: Duration,
) -> Option<Conn> {
    let stream = match tls {
        None => Either::Left(tcp),
        Some(config) => {
            let accept = TlsAcceptor::from(config.clone()).accept(tcp);
            match tokio::time::timeout(within, accept).await {
                Ok(Ok(stream)) => Either::Right(stream),
                _ => return None,
            }
        }
    };
    Some(FirstByteDeadline::new(stream, within))
}

/// Accepts one connection, retrying after errors that concern only that connection (a client
/// that reset before accept, or a momentary fd shortage) so one bad client cannot stop the server.
pub(crate) async fn accept(listener: &TcpListener) -> Result<tokio::net::TcpStream, ServerError> {
    let mut transient = 0u32;
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Writes are batched in user space, so Nagle would only add latency.
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(e) if transient < 100 => {
                transient += 1;
                let pause = if is_fd_exhaustion(&e) { 100 } else { 1 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Err(e) => return Err(ServerError::Accept(e)),
        }
    }
}

fn is_fd_exhaustion(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == nix::libc::EMFILE || code == nix::libc::ENFILE)
}
