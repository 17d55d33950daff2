//! The shared vocabulary of the push protocols: which transports exist, the paths they are served
//! on and the headers they speak.
//!
//! Servers, clients, the scenario and the report all name transports and paths; they import them
//! from here, so none of them depends on another for a word. The README's "Protocols" section is
//! the prose version of this module: a compatible server needs nothing else.

use serde::Serialize;

/// A transport that wsbench can serve and drive, in the order a run visits them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// WebSocket (RFC 6455): `GET /ws` upgrades; every message sent is broadcast to all.
    Ws,
    /// HTTP/1.1 long-poll: `POST /publish`, `GET /poll?cursor=N` held until news or `hold`.
    #[value(name = "longpoll")]
    LongPoll,
    /// HTTP/1.1 short-poll: `GET /poll?cursor=N&wait=0` every `interval`, answered at once.
    #[value(name = "shortpoll")]
    ShortPoll,
    /// Server-sent events: `GET /events` as `text/event-stream`, resumed with `Last-Event-ID`.
    Sse,
    /// Bare TCP, each message behind a 4-byte length: the floor that shows what each protocol
    /// costs over TCP.
    Raw,
}

impl TransportKind {
    /// Every transport, in run order.
    pub const ALL: [TransportKind; 5] = [
        TransportKind::Ws,
        TransportKind::LongPoll,
        TransportKind::ShortPoll,
        TransportKind::Sse,
        TransportKind::Raw,
    ];

    /// The label used in tables, CSV rows and file names.
    pub fn label(self) -> &'static str {
        match self {
            TransportKind::Ws => "ws",
            TransportKind::LongPoll => "longpoll",
            TransportKind::ShortPoll => "shortpoll",
            TransportKind::Sse => "sse",
            TransportKind::Raw => "raw",
        }
    }
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// `GET` upgrades to a WebSocket; every message a client sends is broadcast to all.
pub const WS_PATH: &str = "/ws";
/// `POST`: the body is one message, broadcast to every subscriber.
pub const PUBLISH_PATH: &str = "/publish";
/// `GET /poll?cursor=N[&wait=0]`: messages after cursor `N` (held until news or `hold`).
pub const POLL_PATH: &str = "/poll";
/// `GET`: a `text/event-stream` of every message, one event each.
pub const EVENTS_PATH: &str = "/events";

/// Poll response header: the cursor to poll with next.
pub const NEXT_CURSOR: &str = "x-next-cursor";
/// Poll response header: messages after the cursor that the ring had already overwritten.
pub const MISSED: &str = "x-missed";
/// Poll response header: the cursor was ahead of the server (a restart); the batch reads from the start.
pub const RESET: &str = "x-reset";
/// Request header a resuming event-stream client sends: the id of the last event it received.
pub const LAST_EVENT_ID: &str = "last-event-id";
