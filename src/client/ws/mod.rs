//! WebSocket subscribers: each reads every broadcast and, for the first `publishers` clients, also
//! publishes on the same connection, as a browser chat page does.
//!
//! Owns the subscriber loop (publishing on schedule, the heartbeat, reconnecting as a fresh join,
//! slow reading, closing when the run is over) and the connect step. The loop runs over either
//! WebSocket client through the [`Connection`] trait: ours ([`ours`], on [`crate::codec::ws`]) or
//! tokio-tungstenite ([`tungstenite`]), picked by `[transports.ws] client`. Both sit on the same
//! counted socket, so their bytes are measured alike.
//!
//! # Layout
//! - [`handshake`]: our opening handshake (request bytes, response head checked with httparse).
//! - [`ours`]: our client over any `AsyncRead + AsyncWrite` stream.
//! - [`over_h2`]: WebSocket over HTTP/2 (RFC 8441): streams opened by extended CONNECT.
//! - [`place`]: where a subscriber stands in its stream, and what it asks for on a reconnect.
//! - [`tungstenite`]: the tokio-tungstenite client behind the same trait.
//!
//! The `raw` transport's client ([`super::raw`]) runs the same loop over the same trait.

pub mod handshake;
pub mod ours;
pub mod over_h2;
mod place;
pub mod tungstenite;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, interval_at, timeout};
use tokio_tungstenite::WebSocketStream;

use super::backoff::{Backoff, Start, reconnect};
use super::ctx::{Ctx, Event, Joiner, first_connect, pause_if, wait_until};
use super::failure::ConnectError;
use super::inbox::Inbox;
use super::publishing::Publishing;
use super::signals::{Listener, News};
use crate::codec::ws::DecodeError;
use crate::metrics::FailureKind;
use crate::protocol::{RoomId, in_room};
use crate::scenario::WsClient;
use crate::wire::stamp::KernelStamp;
use handshake::{HandshakeError, Upgrade};
use place::Place;
pub(in crate::client) use place::Resuming;
pub use place::StackCursor;

/// The byte stream under either client: TCP or TLS, counted (see [`super::conn`]).
type Stream = super::conn::Stream;

/// Why a WebSocket connection ended or could not start. Every case ends the connection; the
/// subscriber reconnects (a fresh join) unless the run is stopping.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Our handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// The server broke RFC 6455 (our decoder's verdict).
    #[error("protocol: {0}")]
    Protocol(#[from] DecodeError),
    /// tungstenite reported an error (its handshake, protocol or socket).
    #[error("tungstenite: {0}")]
    Tungstenite(Box<tokio_tungstenite::tungstenite::Error>),
    /// The server closed the connection (a close frame or end of stream).
    #[error("the server closed the connection")]
    Closed,
    /// A whole ping interval passed without a byte from the server.
    #[error("no answer to the last ping")]
    Silent,
    /// `[target] token` cannot be sent as a header value.
    #[error("the token is not a valid header value")]
    Token,
    /// A message to publish is not UTF-8 (envelopes are ASCII, so this is a bug).
    #[error("a message to publish is not UTF-8")]
    NotText,
    /// A raw server announced a message over the size limit.
    #[error("raw framing: {0}")]
    RawTooLarge(#[from] crate::codec::raw::TooLarge),
    /// Another stack's session (Socket.IO over long-polling or WebSocket) failed.
    #[error("{0}")]
    Stack(ConnectError),
}

impl WsError {
    /// The kind of failure, for the run's connect-error counts.
    pub fn kind(&self) -> FailureKind {
        use tokio_tungstenite::tungstenite::Error as T;
        match self {
            WsError::Io(e) => FailureKind::of_io(e),
            WsError::Handshake(h) => h.kind(),
            WsError::Protocol(_) | WsError::RawTooLarge(_) => FailureKind::Protocol,
            WsError::Tungstenite(e) => match e.as_ref() {
                T::Io(e) => FailureKind::of_io(e),
                T::Http(_) => FailureKind::Rejected,
                T::ConnectionClosed | T::AlreadyClosed => FailureKind::Reset,
                T::Tls(_) => FailureKind::Tls,
                _ => FailureKind::Protocol,
            },
            WsError::Closed => FailureKind::Reset,
            WsError::Silent => FailureKind::TimedOut,
            WsError::Token | WsError::NotText => FailureKind::Other,
            WsError::Stack(e) => e.kind,
        }
    }
}

/// What [`Connection::next`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// One or more text or binary messages, already given to the caller's callback.
    Data,
    /// A control frame (a pong, or a ping already answered): the server is alive.
    Control,
}

/// What the subscriber loop needs of a WebSocket client. Every method must be cancel-safe where
/// the loop `select!`s on it ([`Connection::next`]).
pub trait Connection {
    /// Sends one text message (an envelope, ASCII).
    fn send_text(
        &mut self,
        text: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<(), WsError>> + Send;
    /// Sends an empty ping.
    fn ping(&mut self) -> impl std::future::Future<Output = Result<(), WsError>> + Send;
    /// Waits for the next message or control frame, answering pings and a close on the way.
    /// Each text or binary message's bytes go to `on_data` before this returns: at least one
    /// message, or every message one read completed (ours, when frames arrive back to back).
    fn next(
        &mut self,
        on_data: impl FnMut(&[u8]) + Send,
    ) -> impl std::future::Future<Output = Result<Received, WsError>> + Send;
    /// [`Connection::next`], with each message's kernel arrival time: that of the latest
    /// segment of the read that completed it ([`crate::wire::stamp`]); `None` where the client
    /// cannot tell (then the caller's own clock is the receive time).
    fn next_stamped(
        &mut self,
        mut on_data: impl FnMut(&[u8], Option<KernelStamp>) + Send,
    ) -> impl std::future::Future<Output = Result<Received, WsError>> + Send {
        self.next(move |bytes| on_data(bytes, None))
    }
    /// Sends a close frame (the run is over); errors are ignored.
    fn close(&mut self) -> impl std::future::Future<Output = ()> + Send;
    /// Moves counters the connection keeps itself (another stack's HTTP requests) into the
    /// client's; nothing for a plain WebSocket.
    fn tally(&mut self, _counts: &mut crate::metrics::Counts) {}
    /// Where a resumable upgrade's stream starts, as its 101 said; taken once. `None` for a
    /// connection that was not asked to resume or a server that does not.
    fn resume_point(&mut self) -> Option<handshake::ResumePoint> {
        None
    }
    /// Where a stack that resumes by its own protocol stands in its stream, for the next
    /// connection to ask for; `None` when it cannot ask (nothing read yet, or not asked to
    /// recover).
    fn stack_cursor(&self) -> Option<StackCursor> {
        None
    }
}

/// Where and how to upgrade into `room`, from the target, resuming as asked.
fn upgrade(ctx: &Ctx, room: RoomId, resuming: &Resuming) -> Upgrade {
    Upgrade {
        host: ctx.target.addr.to_string(),
        path: resuming.on(in_room(&ctx.target.paths.ws, ctx.plan.on_wire(room))),
        token: ctx.target.token.clone(),
        deflate: ctx.target.deflate,
    }
}

/// A client that can connect itself: TCP connect, then its own handshake (none for raw).
pub(in crate::client) trait Dial: Connection + Sized + Send {
    /// A fresh connection to the target, in `room`, resuming as asked (where the client can),
    /// or why not (for the conductor's first-error report).
    fn dial(
        ctx: &Arc<Ctx>,
        room: RoomId,
        resuming: Resuming,
    ) -> impl std::future::Future<Output = Result<Self, ConnectError>> + Send;
}

impl Dial for ours::Client<Stream> {
    async fn dial(ctx: &Arc<Ctx>, room: RoomId, resuming: Resuming) -> Result<Self, ConnectError> {
        let stream = super::conn::connect(ctx).await?;
        ours::Client::handshake(stream, &upgrade(ctx, room, &resuming))
            .await
            .map_err(|e| ConnectError::new(e.kind(), format!("handshake: {e}")))
    }
}

/// Over HTTP/2: a stream on one of the run's HTTP/2 connections ([`over_h2`]).
impl Dial for ours::Client<over_h2::H2Stream> {
    async fn dial(ctx: &Arc<Ctx>, room: RoomId, resuming: Resuming) -> Result<Self, ConnectError> {
        over_h2::dial(ctx, &ctx.ws_h2, &upgrade(ctx, room, &resuming)).await
    }
}

/// tungstenite's client keeps no response head: it cannot resume (the scenario refuses to ask).
impl Dial for WebSocketStream<Stream> {
    async fn dial(ctx: &Arc<Ctx>, room: RoomId, _: Resuming) -> Result<Self, ConnectError> {
        let stream = super::conn::connect(ctx).await?;
        tungstenite::handshake(stream, &upgrade(ctx, room, &Resuming::No))
            .await
            .map_err(|e| ConnectError::new(e.kind(), format!("handshake: {e}")))
    }
}

/// Subscriber `index` in `room`, connecting at `slot` with `client`; publishes too (into its
/// room) if `index < publishers`.
pub(super) async fn subscriber(
    ctx: Arc<Ctx>,
    index: u32,
    room: RoomId,
    slot: Instant,
    ping_interval: Option<Duration>,
    client: WsClient,
    slow: bool,
) -> Inbox {
    match client {
        WsClient::Wsbench if ctx.target.http2 => {
            type OverH2 = ours::Client<over_h2::H2Stream>;
            session::<OverH2>(ctx, index, room, slot, ping_interval, slow).await
        }
        WsClient::Wsbench => {
            session::<ours::Client<Stream>>(ctx, index, room, slot, ping_interval, slow).await
        }
        WsClient::Tungstenite => {
            session::<WebSocketStream<Stream>>(ctx, index, room, slot, ping_interval, slow).await
        }
    }
}

/// One subscriber's whole life on client `C`: connect, receive (and publish), reconnect, close.
pub(in crate::client) async fn session<C: Dial>(
    ctx: Arc<Ctx>,
    index: u32,
    room: RoomId,
    slot: Instant,
    ping_interval: Option<Duration>,
    slow: bool,
) -> Inbox {
    let mut inbox = Inbox::new(ctx.plan.run, room, ctx.plan.room_count());
    let publishes = index < ctx.plan.publishers && ctx.target.publishes_on_subscriber();
    let mut publishing = publishes.then(|| Publishing::new(ctx.clone(), index));
    if !wait_until(slot, &ctx.stop).await {
        return inbox;
    }
    let mut place = Place::new(ctx.target.resumes());
    let Some(mut first) = first_connect(
        &ctx,
        Joiner::Subscriber(&mut inbox),
        Box::pin(C::dial(&ctx, room, place.asking())),
    )
    .await
    else {
        return inbox;
    };
    place.connected(&mut first, &mut inbox);

    // A closed connection (lost, or closed on purpose by churn) rejoins: resumable, after the
    // last message it read (the server replays what it missed); otherwise fresh, as a browser's
    // reconnect is: what was broadcast while it was away is not sent again, and counts as lost.
    let mut news = ctx.signals.listener(index as usize);
    let mut backoff = Backoff::new(ctx.plan.reconnect, u64::from(index));
    let mut ws = Some(first);
    while let Some(conn) = ws.as_mut() {
        let habits = Habits {
            ping_interval,
            slow,
        };
        let received = receive(
            &ctx,
            &mut news,
            conn,
            &mut inbox,
            publishing.as_mut(),
            habits,
            &mut place,
        )
        .await;
        conn.tally(&mut inbox.counts);
        place.left(conn);
        let start = match received {
            Ok(Exit::Done) => break,
            Ok(Exit::Churn) => {
                inbox.counts.churned += 1;
                Start::Now
            }
            Err(_) if ctx.stop.is_cancelled() => break,
            Err(_) => Start::AfterBackoff,
        };
        // The old connection closes before the new one is dialed.
        drop(ws.take());
        inbox.left();
        let asking = place.asking();
        ws = reconnect(&ctx, &mut backoff, start, &mut inbox.counts, || {
            C::dial(&ctx, room, asking.clone())
        })
        .await;
        if let Some(conn) = ws.as_mut() {
            place.connected(conn, &mut inbox);
            inbox.rejoined();
        }
        if ws.is_none() && start == Start::AfterBackoff {
            // Lost, and not back before the run stopped.
            inbox.counts.io_errors += 1;
        }
    }
    drop(news);
    drop(publishing);
    ctx.send(Event::Finished);
    ctx.close.cancelled().await;
    if let Some(mut ws) = ws {
        let _ = timeout(Duration::from_secs(1), ws.close()).await;
        ws.tally(&mut inbox.counts);
    }
    inbox
}

/// Closes a connection churn picked as a client closing its page does: the close handshake,
/// reading (and counting) what arrives before the server's close, within a second. An abrupt
/// close would make the kernel reset the connection, and the server could lose a message its
/// publisher had just sent on it.
async fn churned<C: Connection>(
    ctx: &Ctx,
    ws: &mut C,
    inbox: &mut Inbox,
    place: &mut Place,
    timeline: &mut Option<super::schedule::Timeline>,
) -> Exit {
    let _ = timeout(Duration::from_secs(1), async {
        ws.close().await;
        loop {
            let read = ws.next(|bytes| {
                ctx.learn_timeline(timeline);
                inbox.receive(bytes, Instant::now(), timeline.as_ref());
                place.read_one();
            });
            if read.await.is_err() {
                break;
            }
        }
    })
    .await;
    Exit::Churn
}

/// How a subscriber reads: its heartbeat, and whether it pauses after every read.
#[derive(Debug, Clone, Copy)]
struct Habits {
    ping_interval: Option<Duration>,
    slow: bool,
}

/// Why [`receive`] returned without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// Every expected message arrived, or the run stopped.
    Done,
    /// Churn: close this connection and rejoin.
    Churn,
}

/// Reads (and publishes) until every expected message arrived, the run stops, churn closes the
/// connection, or it breaks.
async fn receive<C: Connection>(
    ctx: &Ctx,
    news: &mut Listener<'_>,
    ws: &mut C,
    inbox: &mut Inbox,
    mut publishing: Option<&mut Publishing>,
    habits: Habits,
    place: &mut Place,
) -> Result<Exit, WsError> {
    let Habits {
        ping_interval,
        slow,
    } = habits;
    // Heartbeat: a ping every interval; a server that sent nothing at all since the previous
    // ping (not even the pong) is taken for dead, and the caller reconnects.
    let mut heartbeat = ping_interval.map(|every| interval_at(Instant::now() + every, every));
    let mut heard = true;
    let mut timeline = None;
    loop {
        // A kick first: data ready on every wake-up would otherwise starve it.
        if news.take_kick() {
            return Ok(churned(ctx, ws, inbox, place, &mut timeline).await);
        }
        if !ctx.catch_up(inbox, &mut timeline) {
            // Done; a kick that came meanwhile is still served.
            return Ok(if news.close() {
                churned(ctx, ws, inbox, place, &mut timeline).await
            } else {
                Exit::Done
            });
        }
        // Every turn, not only the one whose `catch_up` learned the timeline: a message that
        // arrives first teaches it too (below), and a publisher started only on the turn it was
        // learned here would then never start. `start` does nothing once started.
        if let (Some(t), Some(p)) = (&timeline, publishing.as_deref_mut()) {
            p.start(t);
        }
        let publishes = publishing.as_deref().is_some_and(Publishing::has_next);
        // Data first: a wake-up for a message polls nothing else (see `super::signals`).
        tokio::select! {
            biased;
            incoming = ws.next_stamped(|bytes, arrival| {
                ctx.learn_timeline(&mut timeline);
                inbox.receive_stamped(bytes, Instant::now(), arrival, timeline.as_ref());
                place.read_one();
            }) => {
                heard = true;
                // A slow reader pauses after every read that brought messages.
                if incoming? == Received::Data {
                    pause_if(slow, ctx).await;
                }
            }
            ready = async {
                match publishing.as_deref_mut() {
                    Some(p) => p.ready().await,
                    None => std::future::pending().await,
                }
            }, if publishes => {
                let p = publishing.as_deref_mut().expect("only a publisher is ready");
                match (ready, p.next_message(ctx.plan.payload_bytes)) {
                    (true, Some(bytes)) => {
                        ws.send_text(bytes).await?;
                        p.sent();
                    }
                    // Nothing more to send, and nothing unanswered on WebSocket.
                    (false, _) => p.finish(),
                    (true, None) => {}
                }
            }
            _ = async {
                match heartbeat.as_mut() {
                    Some(h) => { h.tick().await; }
                    None => std::future::pending().await,
                }
            } => {
                if !heard {
                    return Err(WsError::Silent);
                }
                heard = false;
                ws.ping().await?;
            }
            heard_news = news.news() => if heard_news == News::Churn {
                return Ok(churned(ctx, ws, inbox, place, &mut timeline).await);
            }
        }
    }
}
