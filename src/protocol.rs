//! The shared vocabulary of the push protocols: which transports exist, the paths they are served
//! on and the headers they speak.
//!
//! Servers, clients, the scenario and the report all name transports and paths; they import them
//! from here, so none of them depends on another for a word. docs/protocols.md's first section
//! ("The wire, for a compatible server") is the prose version of this module.

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
    /// Socket.IO (Engine.IO v4): another stack's protocol, spoken to a `[target]` only; wsbench
    /// serves no Socket.IO.
    #[value(skip)]
    #[serde(rename = "socketio")]
    SocketIo,
    /// nchan (nginx's pub/sub module): another stack, spoken to a `[target]` only.
    #[value(skip)]
    Nchan,
    /// A server described by a template (`[target.template.NAME]`): WebSocket or event-stream
    /// subscribers, publishing by `POST` or by frame, as the template says.
    #[value(skip)]
    Template,
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
            TransportKind::SocketIo => "socketio",
            TransportKind::Nchan => "nchan",
            TransportKind::Template => "template",
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
/// WebSocket over HTTP/2 (RFC 8441): the most WebSocket streams one HTTP/2 connection may have
/// open at once, which the built-in server advertises (`SETTINGS_MAX_CONCURRENT_STREAMS`) and
/// `[transports.ws] streams_per_connection` may ask for.
pub const WS_H2_MAX_STREAMS: u32 = 256;
/// `POST`: the body is one message, broadcast to every subscriber.
pub const PUBLISH_PATH: &str = "/publish";
/// `GET /poll?cursor=N[&wait=0]`: messages after cursor `N` (held until news or `hold`).
pub const POLL_PATH: &str = "/poll";
/// `GET`: a `text/event-stream` of every message, one event each.
pub const EVENTS_PATH: &str = "/events";

/// Poll response header: the cursor to poll with next.
pub const NEXT_CURSOR: &str = "x-next-cursor";
/// Poll response (and resumed WebSocket 101) header: messages after the cursor that the ring had
/// already overwritten.
pub const MISSED: &str = "x-missed";
/// Poll response (and resumed WebSocket 101) header: the cursor was ahead of the server (a
/// restart); the answer or stream reads from the start.
pub const RESET: &str = "x-reset";
/// WebSocket 101 header, to a client that asked `resume=1`: the number of the last message before
/// its first frame; it counts on from there, and comes back with `since=` that count.
pub const CURSOR: &str = "x-cursor";
/// Request header a resuming event-stream client sends: the id of the last event it received.
pub const LAST_EVENT_ID: &str = "last-event-id";

/// Query parameter that names the room (topic) a request reads or publishes in: `?room=K`.
pub const ROOM_PARAM: &str = "room";

/// A room (topic): a stream of its own, with its own sequence numbers, that only its members
/// receive. Room ids are small decimal integers on the wire (`?room=K`); a request without a room
/// is in room 0, so a client that knows nothing of rooms gets exactly the single stream of old.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct RoomId(pub u32);

impl RoomId {
    /// The room of every request that names none.
    pub const LOBBY: RoomId = RoomId(0);

    /// The room a request's query names (`room=K`, anywhere among its pairs), the lobby if it
    /// names none; `None` if the value is not a room id (a decimal `u32`).
    pub fn from_query(query: Option<&str>) -> Option<RoomId> {
        let prefix = ROOM_PARAM.len();
        for pair in query.unwrap_or_default().split('&') {
            if pair.len() > prefix
                && pair.starts_with(ROOM_PARAM)
                && pair.as_bytes()[prefix] == b'='
            {
                return pair[prefix + 1..].parse().ok().map(RoomId);
            }
        }
        Some(RoomId::LOBBY)
    }
}

impl std::fmt::Display for RoomId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// `path` with `key=value` added to its query (`?` or `&` as the path needs).
pub fn with_param(path: &str, key: &str, value: impl std::fmt::Display) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{key}={value}")
}

/// The placeholder a `[target]` location may hold for the room's id (nchan's `/sub/{room}`).
pub const ROOM_PLACEHOLDER: &str = "{room}";

/// `path` in `room`: `path?room=K` (or `&room=K`); `path` itself when the run has no rooms
/// (`None`), so a single-room run's requests are byte for byte those of a server without rooms.
/// A path holding [`ROOM_PLACEHOLDER`] names its room there instead (room 0 without rooms).
pub fn in_room(path: &str, room: Option<RoomId>) -> String {
    if path.contains(ROOM_PLACEHOLDER) {
        let room = room.unwrap_or(RoomId::LOBBY).to_string();
        return path.replace(ROOM_PLACEHOLDER, &room);
    }
    match room {
        Some(room) => with_param(path, ROOM_PARAM, room),
        None => path.to_owned(),
    }
}

/// The raw transport's room preamble: a client that wants a room other than the lobby sends
/// these 4 bytes and the room id as a 4-byte big-endian integer, as the first 8 bytes of the
/// connection. Read as a message length the magic is ~1.3 GB, above any message size a server
/// accepts, so it can never be taken for the start of a message.
pub const RAW_ROOM_MAGIC: [u8; 4] = *b"ROOM";

/// The raw room preamble for `room` (see [`RAW_ROOM_MAGIC`]).
pub fn raw_room_preamble(room: RoomId) -> [u8; 8] {
    let mut out = [0; 8];
    out[..4].copy_from_slice(&RAW_ROOM_MAGIC);
    out[4..].copy_from_slice(&room.0.to_be_bytes());
    out
}

/// The raw transport's resume preamble, the raw form of WebSocket's `?resume=1&since=N`: these 4
/// bytes, the room id (4 bytes) and the number of the last message the client read (8 bytes, or
/// [`RAW_FRESH`] for a client that has read nothing yet), all big-endian, as the first 16 bytes
/// of the connection. The server answers with a [`RAW_CURSOR_MAGIC`] record before any message.
/// Read as a length the magic is ~1.4 GB, so it is never taken for a message either.
pub const RAW_RESUME_MAGIC: [u8; 4] = *b"SINC";

/// In a resume preamble: the client has read nothing yet; start it at the end of the stream.
pub const RAW_FRESH: u64 = u64::MAX;

/// The raw resume preamble (see [`RAW_RESUME_MAGIC`]): into `room`, after message `since`, or
/// at the end of the stream (`None`).
pub fn raw_resume_preamble(room: RoomId, since: Option<u64>) -> [u8; 16] {
    let mut out = [0; 16];
    out[..4].copy_from_slice(&RAW_RESUME_MAGIC);
    out[4..8].copy_from_slice(&room.0.to_be_bytes());
    out[8..].copy_from_slice(&since.unwrap_or(RAW_FRESH).to_be_bytes());
    out
}

/// The server's answer to a resume preamble, before the first message it sends: these 4 bytes,
/// then big-endian the number of the last message before the first one it sends (8 bytes), how
/// many messages after the client's cursor it no longer held (8 bytes, long-poll's `x-missed`),
/// and 1 if the client's cursor was ahead of the stream (a restarted server; long-poll's
/// `x-reset`), else 0 (1 byte): 21 bytes.
pub const RAW_CURSOR_MAGIC: [u8; 4] = *b"CURS";

/// Bytes of a cursor record.
pub const RAW_CURSOR_LEN: usize = 21;

/// The cursor record for a stream that starts after message `cursor`.
pub fn raw_cursor_record(cursor: u64, missed: u64, reset: bool) -> [u8; RAW_CURSOR_LEN] {
    let mut out = [0; RAW_CURSOR_LEN];
    out[..4].copy_from_slice(&RAW_CURSOR_MAGIC);
    out[4..12].copy_from_slice(&cursor.to_be_bytes());
    out[12..20].copy_from_slice(&missed.to_be_bytes());
    out[20] = u8::from(reset);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_in_queries_and_paths() {
        assert_eq!(RoomId::from_query(None), Some(RoomId::LOBBY));
        assert_eq!(RoomId::from_query(Some("cursor=3")), Some(RoomId::LOBBY));
        assert_eq!(
            RoomId::from_query(Some("cursor=3&room=12")),
            Some(RoomId(12))
        );
        assert_eq!(RoomId::from_query(Some("roomy=1&room=2")), Some(RoomId(2)));
        assert_eq!(RoomId::from_query(Some("room=x")), None);
        assert_eq!(RoomId::from_query(Some("room=-1")), None);
        assert_eq!(in_room("/poll", None), "/poll");
        assert_eq!(in_room("/poll", Some(RoomId(4))), "/poll?room=4");
        assert_eq!(in_room("/x?a=1", Some(RoomId(0))), "/x?a=1&room=0");
        assert_eq!(in_room("/sub/{room}", None), "/sub/0");
        assert_eq!(in_room("/sub/{room}", Some(RoomId(7))), "/sub/7");
        assert_eq!(&raw_room_preamble(RoomId(258)), b"ROOM\0\0\x01\x02");
    }
}
