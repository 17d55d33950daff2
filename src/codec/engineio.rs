//! Engine.IO v4 packets and the Socket.IO v5 packets inside them, as far as a chat client speaks
//! them: the open handshake, pings, the upgrade probe, a namespace connect and text events.
//!
//! An Engine.IO packet is one type digit and its data: `0` open (JSON), `1` close, `2` ping, `3`
//! pong, `4` message, `5` upgrade, `6` noop. Over WebSocket each frame carries one packet; an
//! HTTP long-polling body carries several, separated by the record separator `\x1e`. A message
//! (`4`) carries one Socket.IO packet: a type digit, the namespace when it is not `/` (`/chat,`),
//! an optional ack id, then JSON — `40` connects to `/`, `42["chat message","hi"]` is an event.
//! Binary attachments are not spoken: wsbench's envelopes are text.

use std::time::Duration;

/// The record separator between packets of a long-polling body.
pub const SEPARATOR: u8 = 0x1e;

/// The pong a client answers a server's ping with (Engine.IO v4: the server pings).
pub const PONG: &[u8] = b"3";
/// The probe a client sends on a fresh WebSocket before it upgrades to it.
pub const PROBE: &[u8] = b"2probe";
/// The server's answer to [`PROBE`].
pub const PROBE_ANSWER: &[u8] = b"3probe";
/// The packet that moves a session onto the probed WebSocket.
pub const UPGRADE: &[u8] = b"5";

/// Why a packet is not Engine.IO v4 / Socket.IO v5 as wsbench speaks it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineIoError {
    /// An empty packet, or one whose first byte is not a packet type.
    #[error("not an Engine.IO packet: {0:?}")]
    Packet(String),
    /// The open packet's JSON is not a v4 handshake.
    #[error("the open packet is not an Engine.IO v4 handshake: {0}")]
    Handshake(String),
}

/// One Engine.IO packet; the slices borrow the bytes it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `0{…}`: the handshake, as JSON.
    Open(&'a [u8]),
    /// `1`: the session is over.
    Close,
    /// `2…`: a ping (with `probe` on an upgrade probe's answer path).
    Ping(&'a [u8]),
    /// `3…`: a pong (`3probe` answers the upgrade probe).
    Pong(&'a [u8]),
    /// `4…`: a Socket.IO packet.
    Message(&'a [u8]),
    /// `5`: upgrade.
    Upgrade,
    /// `6`: nothing; the server ends a pending poll with it.
    Noop,
}

/// Reads one packet.
pub fn packet(bytes: &[u8]) -> Result<Packet<'_>, EngineIoError> {
    let (&kind, data) = bytes
        .split_first()
        .ok_or_else(|| EngineIoError::Packet(String::new()))?;
    Ok(match kind {
        b'0' => Packet::Open(data),
        b'1' => Packet::Close,
        b'2' => Packet::Ping(data),
        b'3' => Packet::Pong(data),
        b'4' => Packet::Message(data),
        b'5' => Packet::Upgrade,
        b'6' => Packet::Noop,
        _ => return Err(EngineIoError::Packet(preview(bytes))),
    })
}

/// The packets of a long-polling body, in order.
pub fn split(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == SEPARATOR).filter(|p| !p.is_empty())
}

/// Appends `packet` to a long-polling body being built (a separator first unless it is empty).
pub fn push(body: &mut Vec<u8>, packet: &[u8]) {
    if !body.is_empty() {
        body.push(SEPARATOR);
    }
    body.extend_from_slice(packet);
}

/// What the open packet tells a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The session id every later request names (`&sid=`).
    pub sid: String,
    /// Transports the session may upgrade to (`["websocket"]` on polling).
    pub upgrades: Vec<String>,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// How long it waits for the pong.
    pub ping_timeout: Duration,
    /// The largest body it accepts, in bytes.
    pub max_payload: u64,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenJson {
    sid: String,
    #[serde(default)]
    upgrades: Vec<String>,
    ping_interval: u64,
    ping_timeout: u64,
    #[serde(default)]
    max_payload: u64,
}

/// Reads the open packet's JSON.
pub fn handshake(json: &[u8]) -> Result<Handshake, EngineIoError> {
    let open: OpenJson =
        serde_json::from_slice(json).map_err(|e| EngineIoError::Handshake(e.to_string()))?;
    Ok(Handshake {
        sid: open.sid,
        upgrades: open.upgrades,
        ping_interval: Duration::from_millis(open.ping_interval),
        ping_timeout: Duration::from_millis(open.ping_timeout),
        max_payload: open.max_payload,
    })
}

/// A Socket.IO packet, as a client cares about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketIo<'a> {
    /// `0…`: the namespace is connected (the server's answer to ours); its JSON (`{"sid":…}`,
    /// with `"pid"` when the server recovers connection state) follows, or nothing.
    Connect(&'a [u8]),
    /// `4…`: the server refused the namespace; the JSON says why.
    ConnectError(&'a [u8]),
    /// `1`: the server left the namespace.
    Disconnect,
    /// `2…`: an event; its JSON array (name and arguments) follows.
    Event(&'a [u8]),
    /// Anything else (acks, binary packets), or a packet of another namespace.
    Other,
}

/// Reads the Socket.IO packet inside an Engine.IO message, for `namespace`.
pub fn socketio<'a>(message: &'a [u8], namespace: &str) -> SocketIo<'a> {
    let Some((&kind, rest)) = message.split_first() else {
        return SocketIo::Other;
    };
    let rest = if namespace == "/" {
        if rest.first() == Some(&b'/') {
            return SocketIo::Other;
        }
        rest
    } else {
        match rest
            .strip_prefix(namespace.as_bytes())
            .and_then(|r| r.strip_prefix(b","))
        {
            Some(r) => r,
            None => return SocketIo::Other,
        }
    };
    match kind {
        b'0' => SocketIo::Connect(rest),
        b'1' => SocketIo::Disconnect,
        b'2' => SocketIo::Event(rest),
        b'4' => SocketIo::ConnectError(rest),
        _ => SocketIo::Other,
    }
}

/// The namespace part of a packet: nothing for `/`, else `/chat,`.
fn namespace_part(out: &mut Vec<u8>, namespace: &str) {
    if namespace != "/" {
        out.extend_from_slice(namespace.as_bytes());
        out.push(b',');
    }
}

/// The Engine.IO message that connects to `namespace`: `40`, or `40/chat,`.
pub fn connect(namespace: &str) -> Vec<u8> {
    let mut out = b"40".to_vec();
    namespace_part(&mut out, namespace);
    out
}

/// The Engine.IO message that connects to `namespace` asking the server to recover session
/// `pid` after `offset` (Socket.IO's connection-state recovery): `40{"pid":…,"offset":…}`.
pub fn connect_recovering(namespace: &str, pid: &str, offset: &str) -> Vec<u8> {
    let mut out = connect(namespace);
    // A map of strings always serialises.
    out.extend_from_slice(
        serde_json::json!({ "pid": pid, "offset": offset })
            .to_string()
            .as_bytes(),
    );
    out
}

#[derive(serde::Deserialize)]
struct ConnectJson {
    pid: Option<String>,
}

/// The recoverable session id (`pid`) in a connect answer's JSON, if the server gave one (it
/// does only with connection-state recovery on).
pub fn connect_pid(json: &[u8]) -> Option<String> {
    serde_json::from_slice::<ConnectJson>(json).ok()?.pid
}

/// The offset a server with connection-state recovery appends to every event it emits, as the
/// event's last argument: a short string of `[0-9A-Za-z_-]`, after at least one other argument.
/// `None` if the last argument is not such a string. Read from the end without parsing the
/// JSON: a `"` right after a `,` cannot be inside a string (there it would be escaped).
pub fn event_offset(event: &[u8]) -> Option<&str> {
    let inner = event.strip_suffix(b"\"]")?;
    let start = inner.iter().rposition(|&b| b == b'"')?;
    let offset = &inner[start + 1..];
    let token = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-';
    if offset.is_empty() || !offset.iter().all(token) || start < 2 || inner[start - 1] != b',' {
        return None;
    }
    std::str::from_utf8(offset).ok()
}

/// The Engine.IO message that emits `event` with one string argument in `namespace`:
/// `42["chat message","<arg>"]`, the argument escaped as JSON.
pub fn event(namespace: &str, event: &str, arg: &str) -> Vec<u8> {
    let mut out = b"42".to_vec();
    namespace_part(&mut out, namespace);
    // A tuple of two strings always serialises.
    out.extend_from_slice(
        serde_json::to_string(&(event, arg))
            .unwrap_or_default()
            .as_bytes(),
    );
    out
}

/// Whether `name` is a namespace as Socket.IO writes them: `/` or `/` and a name without `,`,
/// `"` or control characters (so it cannot break the packet it is written into).
pub fn valid_namespace(name: &str) -> bool {
    name.starts_with('/') && !name.chars().any(|c| c == ',' || c == '"' || c.is_control())
}

fn preview(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(32)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_v4_handshake_as_the_server_sends_it() {
        let body = br#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let Packet::Open(json) = packet(body).unwrap() else {
            panic!("not an open packet")
        };
        let h = handshake(json).unwrap();
        assert_eq!(h.sid, "lv_VI97HAXpY6yYWAAAC");
        assert_eq!(h.upgrades, ["websocket"]);
        assert_eq!(h.ping_interval, Duration::from_secs(25));
        assert_eq!(h.ping_timeout, Duration::from_secs(20));
        assert_eq!(h.max_payload, 1_000_000);
        assert!(handshake(b"{\"sid\":1}").is_err());
    }

    #[test]
    fn splits_and_builds_polling_bodies() {
        let body = b"2\x1e42[\"chat message\",\"a\"]\x1e6";
        let packets: Vec<Packet> = split(body).map(|p| packet(p).unwrap()).collect();
        assert_eq!(
            packets,
            [
                Packet::Ping(b""),
                Packet::Message(b"2[\"chat message\",\"a\"]"),
                Packet::Noop
            ]
        );
        let mut out = Vec::new();
        push(&mut out, PONG);
        push(&mut out, &event("/", "chat message", "hi"));
        assert_eq!(out, b"3\x1e42[\"chat message\",\"hi\"]");
        assert!(packet(b"").is_err());
        assert!(packet(b"9").is_err());
        assert_eq!(split(b"").count(), 0);
    }

    #[test]
    fn socketio_packets_in_the_default_and_a_named_namespace() {
        assert_eq!(connect("/"), b"40");
        assert_eq!(connect("/chat"), b"40/chat,");
        assert_eq!(
            event("/chat", "m", "say \"hi\""),
            b"42/chat,[\"m\",\"say \\\"hi\\\"\"]"
        );
        assert_eq!(
            socketio(b"0{\"sid\":\"x\"}", "/"),
            SocketIo::Connect(b"{\"sid\":\"x\"}")
        );
        assert_eq!(
            socketio(b"0/chat,{\"sid\":\"x\"}", "/chat"),
            SocketIo::Connect(b"{\"sid\":\"x\"}")
        );
        assert_eq!(socketio(b"0/chat,{}", "/"), SocketIo::Other);
        assert_eq!(socketio(b"2[\"m\",1]", "/chat"), SocketIo::Other);
        assert_eq!(
            socketio(b"2/chat,[\"m\",1]", "/chat"),
            SocketIo::Event(b"[\"m\",1]")
        );
        assert_eq!(
            socketio(b"4{\"message\":\"no\"}", "/"),
            SocketIo::ConnectError(b"{\"message\":\"no\"}")
        );
        assert_eq!(socketio(b"1", "/"), SocketIo::Disconnect);
        assert!(valid_namespace("/"));
        assert!(valid_namespace("/chat"));
        assert!(!valid_namespace("chat"));
        assert!(!valid_namespace("/a,b"));
    }

    #[test]
    fn connection_state_recovery_packets() {
        assert_eq!(
            connect_recovering("/", "p1", "MsX-4_a"),
            b"40{\"offset\":\"MsX-4_a\",\"pid\":\"p1\"}"
        );
        assert_eq!(
            connect_recovering("/chat", "p", "o"),
            b"40/chat,{\"offset\":\"o\",\"pid\":\"p\"}"
        );
        assert_eq!(
            connect_pid(b"{\"sid\":\"s\",\"pid\":\"Vb3\"}").as_deref(),
            Some("Vb3")
        );
        assert_eq!(connect_pid(b"{\"sid\":\"s\"}"), None);
        assert_eq!(connect_pid(b""), None);
        assert_eq!(
            event_offset(b"[\"chat message\",\"a \\\",\\\"b\",\"MsX-4_a\"]"),
            Some("MsX-4_a")
        );
        // No offset: the envelope is the last argument, or the last is not a string.
        assert_eq!(event_offset(b"[\"chat message\",\"a b\"]"), None);
        assert_eq!(event_offset(b"[\"m\",\"x\\\",\\\"ab\"]"), None);
        assert_eq!(event_offset(b"[\"m\",1]"), None);
        assert_eq!(event_offset(b"[\"m\"]"), None);
    }
}
