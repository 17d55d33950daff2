//! A WebSocket subscriber of a server a template describes (`[target.template.NAME]` with a
//! `ws://` subscribe URL): the handshake, then the template's frames (auth, subscribe) with the
//! room in place, before the connection counts as made; the server's heartbeat answered as the
//! template says; and, when publishers send by frame, each message wrapped in the frame
//! template. Event-stream templates need nothing of their own: the SSE subscriber reads them and
//! the HTTP publisher renders the template's body.
//!
//! Cancel-safe where the subscriber loop `select!`s ([`Connection::next`]): heartbeat answers are
//! queued in our WebSocket client, which writes what it holds before each read.

use std::sync::Arc;

use super::conn::Stream;
use super::ctx::Ctx;
use super::failure::ConnectError;
use super::ws::handshake::Upgrade;
use super::ws::{Connection, Dial, Received, Resuming, WsError, ours};
use crate::metrics::FailureKind;
use crate::protocol::{RoomId, in_room};
use crate::scenario::Transport;
use crate::scenario::template::{Pattern, PublishRule, Template};

/// One subscriber's connection to a template's server.
pub(in crate::client) struct TemplateWs {
    ws: ours::Client<Stream>,
    /// The frame publishers wrap each message in; `None` when they `POST`.
    frame: Option<Pattern>,
    /// The server's heartbeat message and the answer it wants.
    heartbeat: Option<(Vec<u8>, Vec<u8>)>,
    /// The room's id, for `{room}`.
    room: u32,
}

/// The template of the run's target; another target is a bug upstream, reported as a failed
/// connect rather than a panic.
fn template(ctx: &Ctx) -> Result<&Template, ConnectError> {
    match &ctx.target.transport {
        Transport::Template(t) => Ok(t),
        _ => Err(ConnectError::new(
            FailureKind::Other,
            "not a template target",
        )),
    }
}

/// A template's server resumes by its own protocol, if at all: never asked ours.
impl Dial for TemplateWs {
    async fn dial(ctx: &Arc<Ctx>, room: RoomId, _: Resuming) -> Result<Self, ConnectError> {
        let t = template(ctx)?;
        let stream = super::conn::connect(ctx).await?;
        let upgrade = Upgrade {
            host: ctx.target.addr.to_string(),
            path: in_room(&ctx.target.paths.ws, ctx.plan.on_wire(room)),
            token: ctx.target.token.clone(),
            deflate: None,
        };
        let mut ws = ours::Client::handshake(stream, &upgrade)
            .await
            .map_err(|e| ConnectError::new(e.kind(), format!("handshake: {e}")))?;
        for frame in &t.send {
            ws.send_text(frame.render(b"", room.0))
                .await
                .map_err(|e| ConnectError::new(e.kind(), format!("template send: {e}")))?;
        }
        Ok(TemplateWs {
            ws,
            frame: match &t.publish {
                PublishRule::Frame(frame) => Some(frame.clone()),
                PublishRule::Post { .. } => None,
            },
            heartbeat: t
                .heartbeat
                .as_ref()
                .map(|(frame, answer)| (frame.as_bytes().to_vec(), answer.as_bytes().to_vec())),
            room: room.0,
        })
    }
}

impl Connection for TemplateWs {
    async fn send_text(&mut self, text: Vec<u8>) -> Result<(), WsError> {
        let text = match &self.frame {
            Some(frame) => frame.render(&text, self.room),
            None => text,
        };
        self.ws.send_text(text).await
    }

    async fn ping(&mut self) -> Result<(), WsError> {
        self.ws.ping().await
    }

    async fn next(&mut self, mut on_data: impl FnMut(&[u8]) + Send) -> Result<Received, WsError> {
        let heartbeat = self.heartbeat.as_ref();
        let mut answers = 0;
        let mut data = false;
        let received = self
            .ws
            .next(|bytes| {
                if heartbeat.is_some_and(|(frame, _)| bytes == frame.as_slice()) {
                    answers += 1;
                } else {
                    data = true;
                    on_data(bytes);
                }
            })
            .await?;
        if let Some((_, answer)) = &self.heartbeat {
            for _ in 0..answers {
                self.ws.queue_text(answer);
            }
        }
        Ok(if data { received } else { Received::Control })
    }

    async fn close(&mut self) {
        self.ws.close().await;
    }
}
