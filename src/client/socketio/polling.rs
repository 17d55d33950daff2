//! A Socket.IO session over Engine.IO's HTTP long-polling: a `GET` always in flight on one
//! keep-alive connection (the server holds it until it has packets, and ends it with a noop when
//! the session upgrades), and what the client sends `POST`ed on a second one, one request at a
//! time (Engine.IO closes a session whose `POST`s overlap), several packets per body when they
//! queue up — as socket.io-client does in a browser.
//!
//! Cancel-safe where the subscriber loop `select!`s ([`Polling::next`]): the requests in flight
//! live in the session, and a call that is dropped leaves them there for the next.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio::time::{Instant, sleep_until};

use super::{Recovery, Seen, broken, engine_path, silence_limit, take_packet};
use crate::client::ctx::Ctx;
use crate::client::failure::ConnectError;
use crate::client::http::{Outgoing, Sender, connect};
use crate::client::ws::{Received, WsError};
use crate::codec::engineio::{self, Handshake, Packet};
use crate::codec::h1::{Head, Method};
use crate::metrics::{Counts, FailureKind};
use crate::protocol::RoomId;
use crate::scenario::SocketIo;

/// A request in flight: it owns its connection and gives it back with the answer.
type Pending = Pin<Box<dyn Future<Output = Result<(Sender, Head, Bytes), ConnectError>> + Send>>;

/// The `POST` side: idle (connected or not yet), or one request in flight.
enum Post {
    Idle(Option<Sender>),
    InFlight(Pending),
}

/// HTTP counters since the last [`Polling::tally`].
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    with_messages: u64,
    messages: u64,
    empty: u64,
    stayed: u64,
}

/// One session over long-polling.
pub(in crate::client) struct Polling {
    ctx: Arc<Ctx>,
    namespace: String,
    event: String,
    /// `<path>?EIO=4&transport=polling&sid=<sid>`.
    path: String,
    pub(super) handshake: Handshake,
    /// The `GET` in flight; `None` only while an upgrade has paused polling.
    get: Option<Pending>,
    post: Post,
    /// Packets waiting for the next `POST` (pongs owed while one was in flight).
    queued: Vec<u8>,
    /// Events that arrived before the caller could take them (during the connect or an upgrade).
    pub(super) early: VecDeque<Bytes>,
    /// When the server has been silent too long.
    deadline: Instant,
    tally: Tally,
    /// The session id and offset to recover after (with `recovery = true`).
    pub(super) recovery: Recovery,
}

impl Polling {
    /// Opens a session: the handshake `GET`, the namespace connect `POST`ed, and the `GET` that
    /// brings the server's answer; then the room's join event if the run has rooms. The next
    /// `GET` goes out at once. The connect asks to recover the session `recovery` holds, if any.
    pub(super) async fn dial(
        ctx: &Arc<Ctx>,
        options: &SocketIo,
        room: RoomId,
        recovery: Recovery,
    ) -> Result<Polling, ConnectError> {
        let step = "socket.io handshake";
        let sender = connect(ctx, &[]).await?;
        let (sender, head, body) = sender
            .exchange(ctx, get(engine_path(options, "polling", None)), step)
            .await?;
        expect_200(&head, step)?;
        let handshake = match engineio::split(&body).next().map(engineio::packet) {
            Some(Ok(Packet::Open(json))) => {
                engineio::handshake(json).map_err(|e| protocol(step, e))?
            }
            _ => return Err(protocol(step, "the first packet is not an open packet")),
        };
        let path = engine_path(options, "polling", Some(&handshake.sid));
        let mut session = Polling {
            ctx: ctx.clone(),
            namespace: options.namespace.clone(),
            event: options.event.clone(),
            path,
            deadline: Instant::now() + silence_limit(&handshake),
            handshake,
            get: None,
            post: Post::Idle(None),
            queued: Vec::new(),
            early: VecDeque::new(),
            tally: Tally {
                requests: 1,
                ..Tally::default()
            },
            recovery,
        };
        let connect = session.recovery.connect(&options.namespace);
        session.post_now(&connect).await?;
        // The namespace's answer comes on the next GET (with anything else already queued).
        let mut sender = Some(sender);
        loop {
            let step = "socket.io connect";
            let conn = sender
                .take()
                .ok_or_else(|| protocol(step, "no connection"))?;
            let (back, head, body) = conn.exchange(ctx, get(session.path.clone()), step).await?;
            session.tally.requests += 1;
            expect_200(&head, step)?;
            sender = Some(back);
            if session.take_connect_answer(&body)? {
                break;
            }
        }
        if let (Some(join), Some(room)) = (&options.join_event, ctx.plan.on_wire(room)) {
            let packet = engineio::event(&options.namespace, join, &room.to_string());
            session.post_now(&packet).await?;
        }
        let sender = sender.ok_or_else(|| protocol("socket.io connect", "no connection"))?;
        session.get = Some(session.poll(sender));
        Ok(session)
    }

    /// Reads the packets of a `GET` during the connect; `true` once the namespace is connected.
    /// Events before it are kept for the caller, pings answered.
    fn take_connect_answer(&mut self, body: &[u8]) -> Result<bool, ConnectError> {
        let step = "socket.io connect";
        let mut connected = false;
        for bytes in engineio::split(body) {
            match engineio::packet(bytes).map_err(|e| protocol(step, e))? {
                Packet::Message(m) => match engineio::socketio(m, &self.namespace) {
                    engineio::SocketIo::Connect(json) => {
                        self.recovery.connected(json);
                        connected = true;
                    }
                    engineio::SocketIo::ConnectError(why) => {
                        return Err(ConnectError::new(
                            FailureKind::Rejected,
                            format!("{step}: {}", String::from_utf8_lossy(why)),
                        ));
                    }
                    engineio::SocketIo::Event(_) => {
                        self.early.push_back(Bytes::copy_from_slice(bytes));
                    }
                    _ => {}
                },
                Packet::Ping(_) => engineio::push(&mut self.queued, engineio::PONG),
                Packet::Close => return Err(protocol(step, "the server closed the session")),
                _ => {}
            }
        }
        Ok(connected)
    }

    /// The next `GET` of the session on `sender`.
    fn poll(&self, sender: Sender) -> Pending {
        Box::pin(sender.exchange(&self.ctx, get(self.path.clone()), "socket.io poll"))
    }

    /// `POST`s `packet` (and whatever was queued) and waits for the answer. Waits for a `POST`
    /// already in flight first: the session has one at a time.
    async fn post_now(&mut self, packet: &[u8]) -> Result<(), ConnectError> {
        engineio::push(&mut self.queued, packet);
        let sender = match std::mem::replace(&mut self.post, Post::Idle(None)) {
            Post::Idle(Some(sender)) => sender,
            Post::Idle(None) => connect(&self.ctx, &[]).await?,
            Post::InFlight(pending) => answered(pending.await?)?,
        };
        let body = Bytes::from(std::mem::take(&mut self.queued));
        let request = Outgoing {
            body,
            ..Outgoing::get(self.path.clone())
        };
        let request = Outgoing {
            method: Method::Post,
            ..request
        };
        self.tally.requests += 1;
        let answer = sender
            .exchange(&self.ctx, request, "socket.io send")
            .await?;
        self.post = Post::Idle(Some(answered(answer)?));
        Ok(())
    }

    /// Starts a `POST` of what is queued if none is in flight (pongs, from [`Polling::next`]).
    fn flush_queued(&mut self) {
        if self.queued.is_empty() {
            return;
        }
        let Post::Idle(Some(_)) = &self.post else {
            return;
        };
        let Post::Idle(Some(sender)) = std::mem::replace(&mut self.post, Post::Idle(None)) else {
            return;
        };
        let request = Outgoing {
            method: Method::Post,
            body: Bytes::from(std::mem::take(&mut self.queued)),
            ..Outgoing::get(self.path.clone())
        };
        self.tally.requests += 1;
        self.post = Post::InFlight(Box::pin(sender.exchange(
            &self.ctx,
            request,
            "socket.io send",
        )));
    }

    /// Emits the run's event with `text` (an envelope) as its argument.
    pub(super) async fn send_text(&mut self, text: Vec<u8>) -> Result<(), WsError> {
        let text = String::from_utf8(text).map_err(|_| WsError::NotText)?;
        let packet = engineio::event(&self.namespace, &self.event, &text);
        self.post_now(&packet).await.map_err(WsError::Stack)
    }

    /// Waits for the `GET` in flight to answer and hands its events on; keeps a `POST` in flight
    /// moving meanwhile.
    pub(super) async fn next(
        &mut self,
        mut on_data: impl FnMut(&[u8]) + Send,
    ) -> Result<Received, WsError> {
        if !self.early.is_empty() {
            for event in self.early.drain(..) {
                on_data(&event);
                self.recovery.read(&event, &self.namespace);
            }
            return Ok(Received::Data);
        }
        loop {
            let Some(get) = self.get.as_mut() else {
                return Err(broken("polling is paused"));
            };
            tokio::select! {
                answer = get => {
                    self.get = None;
                    let (sender, head, body) = answer.map_err(WsError::Stack)?;
                    self.tally.requests += 1;
                    expect_200(&head, "socket.io poll").map_err(WsError::Stack)?;
                    self.deadline = Instant::now() + silence_limit(&self.handshake);
                    let got = self.take_body(&body, &mut on_data)?;
                    self.get = Some(self.poll(sender));
                    self.flush_queued();
                    return Ok(got);
                }
                answer = async {
                    match &mut self.post {
                        Post::InFlight(pending) => pending.await,
                        Post::Idle(_) => std::future::pending().await,
                    }
                } => {
                    let sender = answered(answer.map_err(WsError::Stack)?).map_err(WsError::Stack)?;
                    self.post = Post::Idle(Some(sender));
                    self.flush_queued();
                }
                () = sleep_until(self.deadline) => return Err(WsError::Silent),
            }
        }
    }

    /// Hands on the events of one answer and queues a pong per ping.
    fn take_body(
        &mut self,
        body: &[u8],
        on_data: &mut impl FnMut(&[u8]),
    ) -> Result<Received, WsError> {
        let mut seen = Seen::default();
        for packet in engineio::split(body) {
            take_packet(
                packet,
                &self.namespace,
                &mut seen,
                &mut self.recovery,
                on_data,
            )?;
        }
        for _ in 0..seen.pings {
            engineio::push(&mut self.queued, engineio::PONG);
        }
        if seen.events > 0 {
            self.tally.with_messages += 1;
            self.tally.messages += seen.events;
        } else {
            self.tally.empty += 1;
        }
        if seen.closed {
            return Err(WsError::Closed);
        }
        Ok(if seen.events > 0 {
            Received::Data
        } else {
            Received::Control
        })
    }

    /// Pauses polling for an upgrade: waits for the `GET` in flight (the server ends it with a
    /// noop once the probe succeeded) and the `POST` in flight; keeps any events for the caller.
    pub(super) async fn pause(&mut self) -> Result<(), ConnectError> {
        if let Some(get) = self.get.take() {
            let (_, head, body) = get.await?;
            self.tally.requests += 1;
            expect_200(&head, "socket.io poll")?;
            let mut early = std::mem::take(&mut self.early);
            let got = self.take_body(&body, &mut |event: &[u8]| {
                early.push_back(Bytes::copy_from_slice(event));
            });
            self.early = early;
            got.map_err(|e| protocol("socket.io upgrade", e))?;
        }
        if let Post::InFlight(pending) = std::mem::replace(&mut self.post, Post::Idle(None)) {
            self.post = Post::Idle(Some(answered(pending.await?)?));
        }
        Ok(())
    }

    /// Packets owed to the server (pongs), to go out on the upgraded WebSocket.
    pub(super) fn take_queued(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.queued)
    }

    /// Ends the session (`1`), as the official client's `disconnect()` does; errors are ignored.
    pub(super) async fn close(&mut self) {
        self.get = None;
        let _ = self.post_now(b"1").await;
    }

    /// Marks a session whose upgrade failed: it goes on polling.
    pub(super) fn stayed_on_polling(&mut self) {
        self.tally.stayed += 1;
    }

    /// Moves the HTTP counters into the run's.
    pub(super) fn tally(&mut self, counts: &mut Counts) {
        let t = std::mem::take(&mut self.tally);
        counts.http_requests += t.requests;
        counts.responses_with_messages += t.with_messages;
        counts.messages_in_responses += t.messages;
        counts.empty_polls += t.empty;
        counts.stayed_on_polling += t.stayed;
        self.recovery.tally(counts);
    }
}

/// `GET path`.
fn get(path: String) -> Outgoing {
    Outgoing::get(path)
}

/// The connection back from an answered `POST`, if it said `200` (`ok`).
fn answered((sender, head, _): (Sender, Head, Bytes)) -> Result<Sender, ConnectError> {
    expect_200(&head, "socket.io send")?;
    Ok(sender)
}

fn expect_200(head: &Head, step: &str) -> Result<(), ConnectError> {
    if head.status == 200 {
        Ok(())
    } else {
        Err(ConnectError::new(
            FailureKind::Rejected,
            format!("{step}: HTTP {}", head.status),
        ))
    }
}

fn protocol(step: &str, what: impl std::fmt::Display) -> ConnectError {
    ConnectError::new(FailureKind::Protocol, format!("{step}: {what}"))
}
