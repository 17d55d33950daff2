//! Other stacks' protocols spoken by the generator against a `[target]`: Socket.IO (Engine.IO v4
//! over long-polling, WebSocket, or polling upgraded to WebSocket, as socket.io-client does) and
//! nchan (nginx's pub/sub module: long-poll, EventSource or WebSocket subscribers, publishers
//! `POST`ing to its publisher location). Owns the options as written and validated; the clients
//! speak them.

/// How a Socket.IO client carries its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SocketIoMode {
    /// HTTP long-polling only (`transports: ["polling"]`).
    Polling,
    /// WebSocket only (`transports: ["websocket"]`).
    WebSocket,
    /// Polling first, then the probed upgrade to WebSocket (the official client's default).
    Upgrade,
}

impl SocketIoMode {
    /// Every mode, in run order.
    pub const ALL: [SocketIoMode; 3] = [
        SocketIoMode::Polling,
        SocketIoMode::WebSocket,
        SocketIoMode::Upgrade,
    ];

    /// The name in `transports = [...]` and in the run's label (`socketio-polling`).
    pub fn name(self) -> &'static str {
        match self {
            SocketIoMode::Polling => "polling",
            SocketIoMode::WebSocket => "websocket",
            SocketIoMode::Upgrade => "upgrade",
        }
    }

    /// The mode a `transports` entry names.
    pub fn from_name(name: &str) -> Option<SocketIoMode> {
        SocketIoMode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// A Socket.IO target as the clients speak to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketIo {
    /// Polling, WebSocket, or the upgrade.
    pub mode: SocketIoMode,
    /// The server's Engine.IO path (`/socket.io/`).
    pub path: String,
    /// The namespace the clients connect to (`/`).
    pub namespace: String,
    /// The event publishers emit and subscribers count (`"chat message"`).
    pub event: String,
    /// With rooms: the event emitted with the room id right after connecting (`"join"`).
    pub join_event: Option<String>,
    /// Asks for connection-state recovery: a session that breaks reconnects with the server's
    /// session id and the offset of the last event read, and the server replays what it missed.
    pub recovery: bool,
}

impl SocketIo {
    /// The run's label: `socketio-polling`, `socketio-websocket`, `socketio-upgrade`.
    pub fn label(&self) -> String {
        format!("socketio-{}", self.mode.name())
    }
}

/// One entry of `--transports`: a built-in transport (`ws`), or a stack's run by its label
/// (`socketio-polling`, `nchan-sse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunPick {
    /// A built-in transport.
    Transport(crate::protocol::TransportKind),
    /// Another stack's run, by label.
    Stack(String),
}

impl From<crate::protocol::TransportKind> for RunPick {
    fn from(kind: crate::protocol::TransportKind) -> Self {
        RunPick::Transport(kind)
    }
}

impl std::str::FromStr for RunPick {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(kind) = crate::protocol::TransportKind::ALL
            .into_iter()
            .find(|k| k.label() == s)
        {
            return Ok(RunPick::Transport(kind));
        }
        // Any other lower-case name may be a template's run; the scenario's `[target]` says.
        // `all` is `serve`'s (every transport on one port), never a run's.
        let name = s != "all"
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if is_stack_label(s) || name {
            return Ok(RunPick::Stack(s.to_string()));
        }
        Err(format!(
            "{s:?} is not a transport: ws, longpoll, shortpoll, sse, raw, or a [target] stack's \
             run (socketio-polling, socketio-websocket, socketio-upgrade, nchan-longpoll, \
             nchan-sse, nchan-ws, a [target.template] name)"
        ))
    }
}

/// Whether `label` names a stack's run (`socketio-polling`, `nchan-sse`).
pub fn is_stack_label(label: &str) -> bool {
    let socketio = label
        .strip_prefix("socketio-")
        .and_then(SocketIoMode::from_name);
    let nchan = label.strip_prefix("nchan-").and_then(NchanMode::from_name);
    socketio.is_some() || nchan.is_some()
}

/// `[target] socketio = { url = …, transports = […], event = …, … }`, as written.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a Socket.IO target: { url = \"http://…\", … }"
)]
pub struct SocketIoTable {
    /// The server's `http://` URL; a path names the namespace, as in socket.io-client's `io(url)`.
    pub url: Option<String>,
    /// `"polling"`, `"websocket"`, `"upgrade"`: one run each (default: all three).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transports: Option<Vec<String>>,
    /// The event publishers emit (default `"chat message"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The namespace (default `/`, or the URL's path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The Engine.IO path (default `/socket.io/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// With rooms: the event emitted with the room id after connecting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join_event: Option<String>,
    /// Connection-state recovery on reconnects (default `false`: a fresh join, as the official
    /// client against a server without it).
    #[serde(default, deserialize_with = "recovery_flag")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<bool>,
}

/// `recovery = true|false`, with an error that names the key (serde's would name only the table).
fn recovery_flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    <bool as serde::Deserialize>::deserialize(d)
        .map(Some)
        .map_err(|_| serde::de::Error::custom("recovery must be true or false"))
}

/// The modes a stack's `transports` list names, in run order (all of them when absent), or what
/// is wrong with the list.
fn modes<M: Copy + Ord>(
    names: Option<&[String]>,
    all: &[M],
    name: fn(M) -> &'static str,
) -> Result<Vec<M>, String> {
    let known: Vec<String> = all.iter().map(|&m| format!("{:?}", name(m))).collect();
    let Some(names) = names else {
        return Ok(all.to_vec());
    };
    if names.is_empty() {
        return Err(format!(
            "transports must name at least one of {}",
            known.join(", ")
        ));
    }
    let mut modes = Vec::new();
    for given in names {
        let mode = all
            .iter()
            .copied()
            .find(|&m| name(m) == given)
            .ok_or_else(|| format!("transports: {given:?} is not one of {}", known.join(", ")))?;
        if modes.contains(&mode) {
            return Err(format!("transports: {given:?} is listed twice"));
        }
        modes.push(mode);
    }
    modes.sort();
    Ok(modes)
}

/// The event socket.io's getting-started chat uses.
pub const DEFAULT_EVENT: &str = "chat message";
/// Engine.IO's default path.
pub const DEFAULT_PATH: &str = "/socket.io/";

/// The runs a `[target] socketio` table asks for, against the URL's endpoint, or what is wrong
/// with it (for the caller to place). `rooms`: the run has rooms, which need a join event.
pub fn socketio_runs(
    table: &SocketIoTable,
    reach: super::target::Reach,
    rooms: bool,
) -> Result<(super::target::Endpoint, Vec<SocketIo>), String> {
    use crate::codec::engineio::valid_namespace;
    let url = table
        .url
        .as_deref()
        .ok_or("needs url = \"http://127.0.0.1:PORT\"")?;
    let endpoint = super::target::parse_with(crate::protocol::TransportKind::SocketIo, url, reach)?;
    let namespace = match (&table.namespace, endpoint.path.as_str()) {
        (Some(n), "/") => n.clone(),
        (None, path) => path.trim_end_matches('/').to_string(),
        (Some(n), path) if path.trim_end_matches('/') == n => n.clone(),
        (Some(n), path) => {
            return Err(format!(
                "namespace {n:?} and the URL's path {path:?} disagree (the path is the namespace)"
            ));
        }
    };
    let namespace = if namespace.is_empty() {
        "/".to_string()
    } else {
        namespace
    };
    if !valid_namespace(&namespace) {
        return Err(format!(
            "namespace {namespace:?} must start with `/` and hold no `,`, `\"` or control characters"
        ));
    }
    let path = table
        .path
        .clone()
        .unwrap_or_else(|| DEFAULT_PATH.to_string());
    if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
        return Err(format!(
            "path {path:?} must start with `/` and hold no query"
        ));
    }
    let event = table
        .event
        .clone()
        .unwrap_or_else(|| DEFAULT_EVENT.to_string());
    if event.is_empty() {
        return Err("event must not be empty".into());
    }
    if rooms && table.join_event.is_none() {
        return Err(
            "[rooms] needs join_event: the event a client emits with its room id after \
             connecting (Socket.IO rooms are joined by the server)"
                .into(),
        );
    }
    if table.join_event.as_deref() == Some("") {
        return Err("join_event must not be empty".into());
    }
    let modes = modes(
        table.transports.as_deref(),
        &SocketIoMode::ALL,
        SocketIoMode::name,
    )?;
    let runs = modes
        .into_iter()
        .map(|mode| SocketIo {
            mode,
            path: path.clone(),
            namespace: namespace.clone(),
            event: event.clone(),
            join_event: table.join_event.clone(),
            recovery: table.recovery.unwrap_or(false),
        })
        .collect();
    Ok((endpoint, runs))
}

/// The table that asks for `runs` at `url` (the scenario as run, written back).
pub fn socketio_table(url: &str, runs: &[&SocketIo]) -> Option<SocketIoTable> {
    let first = runs.first()?;
    Some(SocketIoTable {
        url: Some(url.to_string()),
        transports: Some(runs.iter().map(|r| r.mode.name().to_string()).collect()),
        event: Some(first.event.clone()),
        namespace: Some(first.namespace.clone()),
        path: Some(first.path.clone()),
        join_event: first.join_event.clone(),
        recovery: first.recovery.then_some(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::target::Reach;

    fn table(url: &str) -> SocketIoTable {
        SocketIoTable {
            url: Some(url.into()),
            ..SocketIoTable::default()
        }
    }

    #[test]
    fn a_url_alone_runs_all_three_modes_with_the_tutorial_defaults() {
        let (endpoint, runs) =
            socketio_runs(&table("http://127.0.0.1:3000"), Reach::Loopback, false).unwrap();
        assert_eq!(endpoint.addr, "127.0.0.1:3000".parse().unwrap());
        let labels: Vec<String> = runs.iter().map(SocketIo::label).collect();
        assert_eq!(
            labels,
            ["socketio-polling", "socketio-websocket", "socketio-upgrade"]
        );
        assert_eq!(
            (
                runs[0].path.as_str(),
                runs[0].namespace.as_str(),
                runs[0].event.as_str()
            ),
            ("/socket.io/", "/", "chat message")
        );
        let (_, runs) =
            socketio_runs(&table("http://127.0.0.1:3000/chat"), Reach::Loopback, false).unwrap();
        assert_eq!(runs[0].namespace, "/chat");
    }

    #[test]
    fn refuses_what_it_cannot_speak() {
        let refused =
            |t: SocketIoTable, rooms| socketio_runs(&t, Reach::Loopback, rooms).unwrap_err();
        assert!(refused(SocketIoTable::default(), false).contains("needs url"));
        assert!(refused(table("ws://127.0.0.1:3000"), false).contains("http://"));
        assert!(refused(table("http://10.0.0.1:3000"), false).contains("loopback"));
        let mut t = table("http://127.0.0.1:3000");
        t.transports = Some(vec!["long-polling".into()]);
        assert!(refused(t.clone(), false).contains("not one of"));
        t.transports = Some(vec!["polling".into(), "polling".into()]);
        assert!(refused(t, false).contains("twice"));
        assert!(refused(table("http://127.0.0.1:3000"), true).contains("join_event"));
        let mut t = table("http://127.0.0.1:3000");
        t.namespace = Some("/a,b".into());
        assert!(refused(t, false).contains("namespace"));
    }
}

/// How an nchan subscriber reads its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NchanMode {
    /// nchan's long-poll: `If-Modified-Since`/`If-None-Match` from the last answer's
    /// `Last-Modified`/`Etag`, one message per answer.
    LongPoll,
    /// EventSource (`Accept: text/event-stream`), resumed with `Last-Event-ID`.
    Sse,
    /// WebSocket; what a subscriber sends is not published (publishers `POST`).
    Ws,
}

impl NchanMode {
    /// Every mode, in run order.
    pub const ALL: [NchanMode; 3] = [NchanMode::LongPoll, NchanMode::Sse, NchanMode::Ws];

    /// The name in `transports = [...]` and in the run's label (`nchan-longpoll`).
    pub fn name(self) -> &'static str {
        match self {
            NchanMode::LongPoll => "longpoll",
            NchanMode::Sse => "sse",
            NchanMode::Ws => "ws",
        }
    }

    /// The mode a `transports` entry names.
    pub fn from_name(name: &str) -> Option<NchanMode> {
        NchanMode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// An nchan target (nginx's pub/sub module) as the clients speak to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nchan {
    /// Long-poll, EventSource or WebSocket subscribers.
    pub mode: NchanMode,
    /// The subscriber location, `{room}` standing for the channel (`/sub/{room}`).
    pub subscribe: String,
    /// The publisher location (`/pub/{room}`); every mode's publishers `POST` there.
    pub publish: String,
}

impl Nchan {
    /// The run's label: `nchan-longpoll`, `nchan-sse`, `nchan-ws`.
    pub fn label(&self) -> String {
        format!("nchan-{}", self.mode.name())
    }
}

/// `[target] nchan = { url = …, subscribe = …, publish = …, transports = […] }`, as written.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an nchan target: { url = \"http://…\", … }"
)]
pub struct NchanTable {
    /// nginx's `http://` base URL.
    pub url: Option<String>,
    /// The subscriber location (default `/sub/{room}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<String>,
    /// The publisher location (default `/pub/{room}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<String>,
    /// `"longpoll"`, `"sse"`, `"ws"`: one run each (default: all three).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transports: Option<Vec<String>>,
}

/// The runs a `[target] nchan` table asks for, against the URL's endpoint, or what is wrong with
/// it (for the caller to place).
pub fn nchan_runs(
    table: &NchanTable,
    reach: super::target::Reach,
) -> Result<(super::target::Endpoint, Vec<Nchan>), String> {
    let url = table
        .url
        .as_deref()
        .ok_or("needs url = \"http://127.0.0.1:PORT\"")?;
    let endpoint = super::target::parse_with(crate::protocol::TransportKind::Nchan, url, reach)?;
    let location = |value: &Option<String>, key: &str, default: &str| {
        let value = value.clone().unwrap_or_else(|| default.to_string());
        if !value.starts_with('/') || value.contains(['?', '#', ' ']) {
            return Err(format!("{key} {value:?} must be a path starting with `/`"));
        }
        Ok(value)
    };
    let subscribe = location(&table.subscribe, "subscribe", "/sub/{room}")?;
    let publish = location(&table.publish, "publish", "/pub/{room}")?;
    let modes = modes(
        table.transports.as_deref(),
        &NchanMode::ALL,
        NchanMode::name,
    )?;
    let runs = modes
        .into_iter()
        .map(|mode| Nchan {
            mode,
            subscribe: subscribe.clone(),
            publish: publish.clone(),
        })
        .collect();
    Ok((endpoint, runs))
}

/// The table that asks for `runs` at `url` (the scenario as run, written back).
pub fn nchan_table(url: &str, runs: &[&Nchan]) -> Option<NchanTable> {
    let first = runs.first()?;
    Some(NchanTable {
        url: Some(url.to_string()),
        subscribe: Some(first.subscribe.clone()),
        publish: Some(first.publish.clone()),
        transports: Some(runs.iter().map(|r| r.mode.name().to_string()).collect()),
    })
}

#[cfg(test)]
mod nchan_tests {
    use super::*;
    use crate::scenario::target::Reach;

    #[test]
    fn nchan_defaults_to_its_own_layout_and_all_three_modes() {
        let table = NchanTable {
            url: Some("http://127.0.0.1:8080".into()),
            ..NchanTable::default()
        };
        let (endpoint, runs) = nchan_runs(&table, Reach::Loopback).unwrap();
        assert_eq!(endpoint.addr, "127.0.0.1:8080".parse().unwrap());
        let labels: Vec<String> = runs.iter().map(Nchan::label).collect();
        assert_eq!(labels, ["nchan-longpoll", "nchan-sse", "nchan-ws"]);
        assert_eq!(
            (runs[0].subscribe.as_str(), runs[0].publish.as_str()),
            ("/sub/{room}", "/pub/{room}")
        );
        let bad = NchanTable {
            transports: Some(vec!["websocket".into()]),
            ..table.clone()
        };
        assert!(
            nchan_runs(&bad, Reach::Loopback)
                .unwrap_err()
                .contains("not one of")
        );
        let bad = NchanTable {
            publish: Some("pub".into()),
            ..table
        };
        assert!(
            nchan_runs(&bad, Reach::Loopback)
                .unwrap_err()
                .contains("publish")
        );
    }
}
