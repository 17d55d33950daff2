//! One transport's table as validated ([`Transport`]): its kind, its defaults and its run's
//! label; and which WebSocket client runs ([`WsClient`]).

use std::time::Duration;

use serde::Serialize;

use super::{
    DEFAULT_HOLD, DEFAULT_INTERVAL, Nchan, NchanMode, SocketIo, SocketIoMode, stack, template,
    variant,
};
use crate::protocol::TransportKind;

/// One `[transports.<kind>]` table.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// `[transports.ws]`
    Ws {
        /// Clients ping this often and treat a server that has sent nothing since the last ping
        /// as dead (and reconnect). `None`: no heartbeat.
        ping_interval: Option<Duration>,
        /// Which WebSocket client implementation the load generator runs.
        client: WsClient,
        /// Clients ask to be resumable and come back after the last message they read, so a
        /// broken connection loses nothing the server still holds; `false`: the plain protocol,
        /// a fresh join each time (what a browser's naive reconnect does).
        resume: bool,
    },
    /// `[transports.longpoll]`
    LongPoll {
        /// How long the server holds a poll that has nothing to answer with.
        hold: Duration,
    },
    /// `[transports.shortpoll]`
    ShortPoll {
        /// How often each client polls.
        interval: Duration,
    },
    /// `[transports.sse]`
    Sse,
    /// `[transports.raw]`
    Raw {
        /// Clients send the resume preamble and come back after the last message they read;
        /// `false`: the plain protocol, a fresh join each time.
        resume: bool,
    },
    /// `[target] socketio`: a Socket.IO server, in one of its modes.
    SocketIo(SocketIo),
    /// `[target] nchan`: an nchan server, in one of its modes.
    Nchan(Nchan),
    /// `[target.template.NAME]`: a server a template describes.
    Template(Box<template::Template>),
}

impl Transport {
    /// Which transport this table configures.
    pub fn kind(&self) -> TransportKind {
        match self {
            Transport::Ws { .. } => TransportKind::Ws,
            Transport::LongPoll { .. } => TransportKind::LongPoll,
            Transport::ShortPoll { .. } => TransportKind::ShortPoll,
            Transport::Sse => TransportKind::Sse,
            Transport::Raw { .. } => TransportKind::Raw,
            Transport::SocketIo(_) => TransportKind::SocketIo,
            Transport::Nchan(_) => TransportKind::Nchan,
            Transport::Template(_) => TransportKind::Template,
        }
    }

    /// The table a scenario gets when a transport is asked for (e.g. by `--transports`) but not
    /// configured; `None` for a template, which has no defaults.
    pub fn default_for(kind: TransportKind) -> Option<Transport> {
        Some(match kind {
            TransportKind::Ws => Transport::Ws {
                ping_interval: None,
                client: WsClient::default(),
                resume: true,
            },
            TransportKind::LongPoll => Transport::LongPoll { hold: DEFAULT_HOLD },
            TransportKind::ShortPoll => Transport::ShortPoll {
                interval: DEFAULT_INTERVAL,
            },
            TransportKind::Sse => Transport::Sse,
            TransportKind::Raw => Transport::Raw { resume: true },
            TransportKind::SocketIo => Transport::SocketIo(SocketIo {
                mode: SocketIoMode::Upgrade,
                path: stack::DEFAULT_PATH.to_string(),
                namespace: "/".to_string(),
                event: stack::DEFAULT_EVENT.to_string(),
                join_event: None,
                recovery: false,
            }),
            TransportKind::Nchan => Transport::Nchan(Nchan {
                mode: NchanMode::Sse,
                subscribe: "/sub/{room}".to_string(),
                publish: "/pub/{room}".to_string(),
            }),
            TransportKind::Template => return None,
        })
    }

    /// The run's label before its variant's suffix: the transport's (`ws`), or a stack's mode
    /// (`socketio-polling`).
    pub fn label(&self, variant: variant::Variant) -> String {
        match self {
            Transport::SocketIo(io) => io.label(),
            Transport::Nchan(n) => n.label(),
            Transport::Template(t) => t.name.clone(),
            other => variant.label(other.kind()),
        }
    }
}

/// `[transports.ws] client`: which WebSocket client the load generator runs. Both speak the same
/// bytes on the wire (the same upgrade request, 2-byte server and 6-byte masked client headers
/// for small messages); they differ in the CPU the generator spends per delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WsClient {
    /// Ours: the handshake parsed with httparse, frames read straight from the socket into
    /// [`codec::ws::Decoder`](crate::codec::ws::Decoder) and written with `encode_frame`.
    #[default]
    Wsbench,
    /// tokio-tungstenite, kept as a cross-check of ours against a widely used implementation.
    Tungstenite,
}

impl WsClient {
    /// Every client, as written in a scenario.
    pub const ALL: [WsClient; 2] = [WsClient::Wsbench, WsClient::Tungstenite];

    /// The name written in a scenario file.
    pub fn label(self) -> &'static str {
        match self {
            WsClient::Wsbench => "wsbench",
            WsClient::Tungstenite => "tungstenite",
        }
    }

    /// The client a scenario names, if any.
    pub fn from_label(label: &str) -> Option<WsClient> {
        WsClient::ALL.into_iter().find(|c| c.label() == label)
    }
}
