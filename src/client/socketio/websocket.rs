//! A Socket.IO session over WebSocket: opened directly (`transport=websocket`: the open packet
//! arrives as the first frame), or upgraded from a polling session — the probe (`2probe`, answered
//! `3probe`), polling paused (the server ends the pending `GET` with a noop), then `5` — as
//! socket.io-client does. A probe that fails leaves the session on polling, counted.
//!
//! Cancel-safe where the subscriber loop `select!`s ([`OverWs::next`]): pongs are queued in our
//! WebSocket client, which writes what it holds before each read.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use tokio::time::{Instant, sleep_until};

use super::polling::Polling;
use super::{Recovery, Seen, Session, engine_path, silence_limit, take_packet};
use crate::client::conn::Stream;
use crate::client::ctx::Ctx;
use crate::client::failure::ConnectError;
use crate::client::ws::handshake::Upgrade;
use crate::client::ws::{Connection, Received, WsError, ours};
use crate::codec::engineio::{self, Handshake, Packet};
use crate::metrics::{Counts, FailureKind};
use crate::protocol::RoomId;
use crate::scenario::SocketIo;

/// One session over WebSocket.
pub(in crate::client) struct OverWs {
    ws: ours::Client<Stream>,
    namespace: String,
    event: String,
    handshake: Handshake,
    /// Events that arrived before the caller could take them.
    early: VecDeque<Bytes>,
    /// When the server has been silent too long.
    deadline: Instant,
    /// Counts carried over from the polling session this one was upgraded from.
    carried: Counts,
    /// The session id and offset to recover after (with `recovery = true`).
    pub(super) recovery: Recovery,
}

/// Opens a WebSocket to the Engine.IO path for `sid` (none: a fresh session).
async fn open(
    ctx: &Ctx,
    options: &SocketIo,
    sid: Option<&str>,
) -> Result<ours::Client<Stream>, ConnectError> {
    let stream = crate::client::conn::connect(ctx).await?;
    let upgrade = Upgrade {
        host: ctx.target.addr.to_string(),
        path: engine_path(options, "websocket", sid),
        token: ctx.target.token.clone(),
        deflate: None,
    };
    ours::Client::handshake(stream, &upgrade)
        .await
        .map_err(|e| ConnectError::new(e.kind(), format!("socket.io websocket: {e}")))
}

/// Reads whole messages until `done` says so; each goes to `done` in order, and so do those
/// after it in the same read: a connect answer shares a read with the events right behind it.
async fn read_until(
    ws: &mut ours::Client<Stream>,
    step: &str,
    mut done: impl FnMut(&[u8]) -> Result<bool, ConnectError> + Send,
) -> Result<(), ConnectError> {
    loop {
        let mut finished = Ok(false);
        ws.next(|m| {
            if let Ok(before) = finished {
                finished = done(m).map(|now| before || now);
            }
        })
        .await
        .map_err(|e| ConnectError::new(e.kind(), format!("{step}: {e}")))?;
        if finished? {
            return Ok(());
        }
    }
}

fn protocol(step: &str, what: impl std::fmt::Display) -> ConnectError {
    ConnectError::new(FailureKind::Protocol, format!("{step}: {what}"))
}

impl OverWs {
    /// A session over WebSocket from the start: the open packet, the namespace connect and its
    /// answer, then the room's join event if the run has rooms. The connect asks to recover the
    /// session `recovery` holds, if any.
    pub(super) async fn dial(
        ctx: &Arc<Ctx>,
        options: &SocketIo,
        room: RoomId,
        recovery: Recovery,
    ) -> Result<OverWs, ConnectError> {
        let step = "socket.io handshake";
        let mut ws = open(ctx, options, None).await?;
        let mut handshake = None;
        read_until(&mut ws, step, |m| match engineio::packet(m) {
            // Nothing else is due before the connect but a ping, answered at the next.
            _ if handshake.is_some() => Ok(true),
            Ok(Packet::Open(json)) => {
                handshake = Some(engineio::handshake(json).map_err(|e| protocol(step, e))?);
                Ok(true)
            }
            _ => Err(protocol(step, "the first packet is not an open packet")),
        })
        .await?;
        let handshake = handshake.ok_or_else(|| protocol(step, "no open packet"))?;
        let mut session = OverWs {
            ws,
            namespace: options.namespace.clone(),
            event: options.event.clone(),
            deadline: Instant::now() + silence_limit(&handshake),
            handshake,
            early: VecDeque::new(),
            carried: Counts::default(),
            recovery,
        };
        session.connect_namespace(ctx, options, room).await?;
        Ok(session)
    }

    /// Sends the namespace connect, waits for its answer (keeping events, answering pings),
    /// then emits the join event if the run has rooms.
    async fn connect_namespace(
        &mut self,
        ctx: &Ctx,
        options: &SocketIo,
        room: RoomId,
    ) -> Result<(), ConnectError> {
        let step = "socket.io connect";
        let io = |e: WsError| ConnectError::new(e.kind(), format!("{step}: {e}"));
        self.ws
            .send_text(self.recovery.connect(&self.namespace))
            .await
            .map_err(io)?;
        let (namespace, early, recovery) = (&self.namespace, &mut self.early, &mut self.recovery);
        let mut pings = 0;
        read_until(&mut self.ws, step, |m| {
            match engineio::packet(m).map_err(|e| protocol(step, e))? {
                Packet::Message(body) => match engineio::socketio(body, namespace) {
                    engineio::SocketIo::Connect(json) => {
                        recovery.connected(json);
                        return Ok(true);
                    }
                    engineio::SocketIo::ConnectError(why) => {
                        return Err(ConnectError::new(
                            FailureKind::Rejected,
                            format!("{step}: {}", String::from_utf8_lossy(why)),
                        ));
                    }
                    engineio::SocketIo::Event(_) => early.push_back(Bytes::copy_from_slice(m)),
                    _ => {}
                },
                Packet::Ping(_) => pings += 1,
                Packet::Close => return Err(protocol(step, "the server closed the session")),
                _ => {}
            }
            Ok(false)
        })
        .await?;
        for _ in 0..pings {
            self.ws.queue_text(engineio::PONG);
        }
        if let (Some(join), Some(room)) = (&options.join_event, ctx.plan.on_wire(room)) {
            let packet = engineio::event(&self.namespace, join, &room.to_string());
            self.ws.send_text(packet).await.map_err(io)?;
        }
        Ok(())
    }

    /// Upgrades a polling session as socket.io-client does; if the WebSocket or its probe fails,
    /// the session stays on polling (and the run counts it).
    pub(super) async fn upgrade(
        ctx: &Arc<Ctx>,
        options: &SocketIo,
        mut polled: Polling,
    ) -> Result<Session, ConnectError> {
        let step = "socket.io upgrade";
        if !polled.handshake.upgrades.iter().any(|u| u == "websocket") {
            polled.stayed_on_polling();
            return Ok(Session::Polling(Box::new(polled)));
        }
        let sid = polled.handshake.sid.clone();
        let probed = async {
            let mut ws = open(ctx, options, Some(&sid)).await?;
            ws.send_text(engineio::PROBE.to_vec())
                .await
                .map_err(|e| ConnectError::new(e.kind(), format!("{step}: {e}")))?;
            let mut answered = false;
            read_until(&mut ws, step, |m| {
                if answered || m == engineio::PROBE_ANSWER {
                    answered = true;
                    Ok(true)
                } else {
                    Err(protocol(step, "the probe was not answered"))
                }
            })
            .await?;
            Ok::<_, ConnectError>(ws)
        };
        let Ok(mut ws) = probed.await else {
            polled.stayed_on_polling();
            return Ok(Session::Polling(Box::new(polled)));
        };
        polled.pause().await?;
        for pong in engineio::split(&polled.take_queued()) {
            ws.queue_text(pong);
        }
        ws.send_text(engineio::UPGRADE.to_vec())
            .await
            .map_err(|e| ConnectError::new(e.kind(), format!("{step}: {e}")))?;
        let mut carried = Counts::default();
        polled.tally(&mut carried);
        let recovery = std::mem::take(&mut polled.recovery);
        Ok(Session::WebSocket(Box::new(OverWs {
            ws,
            namespace: options.namespace.clone(),
            event: options.event.clone(),
            deadline: Instant::now() + silence_limit(&polled.handshake),
            early: std::mem::take(&mut polled.early),
            handshake: polled.handshake.clone(),
            carried,
            recovery,
        })))
    }

    /// Emits the run's event with `text` (an envelope) as its argument.
    pub(super) async fn send_text(&mut self, text: Vec<u8>) -> Result<(), WsError> {
        let text = String::from_utf8(text).map_err(|_| WsError::NotText)?;
        let packet = engineio::event(&self.namespace, &self.event, &text);
        self.ws.send_text(packet).await
    }

    /// Waits for the next frames and hands their events on; answers pings.
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
        let mut seen = Seen::default();
        let mut failed = Ok(());
        let (namespace, recovery) = (&self.namespace, &mut self.recovery);
        tokio::select! {
            read = self.ws.next(|m| {
                if failed.is_ok() {
                    failed = take_packet(m, namespace, &mut seen, recovery, &mut on_data);
                }
            }) => { read?; }
            () = sleep_until(self.deadline) => return Err(WsError::Silent),
        }
        failed?;
        self.deadline = Instant::now() + silence_limit(&self.handshake);
        for _ in 0..seen.pings {
            self.ws.queue_text(engineio::PONG);
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

    /// Ends the session (`1`) and closes the WebSocket.
    pub(super) async fn close(&mut self) {
        let _ = self.ws.send_text(b"1".to_vec()).await;
        self.ws.close().await;
    }

    /// Moves what the polling phase counted into the run's.
    pub(super) fn tally(&mut self, counts: &mut Counts) {
        counts.merge(&std::mem::take(&mut self.carried));
        self.recovery.tally(counts);
    }
}

impl std::fmt::Debug for OverWs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverWs")
            .field("sid", &self.handshake.sid)
            .finish_non_exhaustive()
    }
}
