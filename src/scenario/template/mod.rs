//! Push servers described by a template (`[target.template.NAME]`): Centrifugo, Mercure,
//! Pusher-protocol servers, a team's own. A subscribe URL (WebSocket or an event stream), frames a
//! WebSocket subscriber sends after connecting (auth, subscribe), a heartbeat the server sends and
//! how to answer it, and a publish rule: a `POST` with a body template and headers, or a frame
//! template sent on the subscriber's own WebSocket. `{msg}` stands for the message (the envelope,
//! padded), `{room}` for the room's id (0 without `[rooms]`).
//!
//! Owns the table as written and its validation; the clients render the templates. Messages
//! are counted wherever their envelope sits in what the server sends, so a JSON wrapping is
//! fine. What cannot carry the envelope intact is refused here, at load time: a publish template
//! without `{msg}`, or a JSON body or frame whose `{msg}` is not inside a JSON string (the server
//! would not decode it back to the envelope's text).

use std::collections::BTreeMap;

mod pattern;
pub use pattern::Pattern;

use crate::protocol::TransportKind;

/// How a template's subscribers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TemplateMode {
    /// A WebSocket (`ws://` subscribe URL): frames after connect, a heartbeat rule, and
    /// publishing by `POST` or by a frame.
    Ws,
    /// An event stream (`http://` subscribe URL, `Accept: text/event-stream`); publishers `POST`.
    Sse,
    /// Long-poll (`http://` subscribe URL holding `{cursor}`): each answer's messages, and the
    /// cursor to poll on with from a named header or JSON field; publishers `POST`.
    LongPoll,
}

/// Where a long-poll answer carries the cursor to poll on with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorFrom {
    /// A response header field (lower case; interned, as the HTTP decoder keeps `'static` names).
    Header(&'static [&'static str]),
    /// A top-level field of a JSON body (a string or a number).
    Field(String),
}

/// A template's long-poll cursor: where answers carry it, and the first poll's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorRule {
    /// Where answers carry it.
    pub from: CursorFrom,
    /// The value of `{cursor}` in the first poll (empty by default).
    pub first: String,
}

/// `name` as a one-field keep list for the HTTP decoder, allocated once per distinct name for
/// the life of the process (a scenario names a handful).
fn interned_field(name: &str) -> &'static [&'static str] {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashMap<String, &'static [&'static str]>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    names.entry(name.to_string()).or_insert_with(|| {
        let name: &'static str = Box::leak(name.to_string().into_boxed_str());
        Box::leak(Box::new([name]))
    })
}

/// How publishers send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishRule {
    /// `POST path` on the subscribe URL's server, the body rendered from `body`.
    Post {
        /// The URL as written.
        url: String,
        /// The request path (`{room}` may stand in it).
        path: String,
        /// The body.
        body: Pattern,
        /// Request fields, in order (`content-type`, an API key).
        headers: Vec<(String, String)>,
    },
    /// A frame on the publisher's own WebSocket, rendered from the template.
    Frame(Pattern),
}

/// A template target as the clients speak to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The run's label: the table's name.
    pub name: String,
    /// WebSocket or event-stream subscribers.
    pub mode: TemplateMode,
    /// The subscribe URL as written.
    pub url: String,
    /// The server the subscribe URL names (publishing goes there too).
    pub endpoint: super::target::Endpoint,
    /// The subscribe path (`{room}` may stand in it).
    pub subscribe: String,
    /// Frames a WebSocket subscriber sends after its handshake, in order.
    pub send: Vec<Pattern>,
    /// How publishers send.
    pub publish: PublishRule,
    /// A message the server sends that must be answered, and the answer (exact text).
    pub heartbeat: Option<(String, String)>,
    /// Long-poll: where answers carry the cursor.
    pub cursor: Option<CursorRule>,
}

/// `[target.template.NAME]`, as written.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a template target: { subscribe = \"ws://…\", publish = { … } }"
)]
pub struct TemplateTable {
    /// `ws://` (WebSocket) or `http://` (event stream) URL subscribers connect to.
    pub subscribe: Option<String>,
    /// Frames to send after connecting (WebSocket only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub send: Vec<String>,
    /// `{ url, body, headers }` or `{ frame }`.
    pub publish: Option<PublishTable>,
    /// `{ frame, answer }`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<HeartbeatTable>,
    /// Long-poll: `{ header = "…" }` or `{ field = "…" }`, and `first`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<CursorTable>,
}

/// `cursor = { … }`, as written.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CursorTable {
    /// The response header that carries the next cursor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The top-level JSON field that carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// `{cursor}` in the first poll (default empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<String>,
}

/// `publish = { … }`, as written.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PublishTable {
    /// `http://` URL to `POST` to, on the subscribe URL's server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The `POST` body (default `{msg}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Request header fields.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A frame template sent on the publisher's WebSocket, instead of a `POST`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<String>,
}

/// `heartbeat = { frame, answer }`, as written.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatTable {
    /// The server's message, exactly.
    pub frame: String,
    /// The client's answer.
    pub answer: String,
}

/// Whether `name` may label a template's run: lower-case letters, digits and `-`, starting with
/// a letter, and not a built-in transport's or another stack's label.
fn valid_name(name: &str) -> Result<(), String> {
    let well_formed = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !well_formed {
        return Err(format!(
            "{name:?} must be lower-case letters, digits and `-`, starting with a letter: it \
             labels the run"
        ));
    }
    if name == "all"
        || super::variant::parse_label(name).is_some()
        || super::stack::is_stack_label(name)
    {
        return Err(format!(
            "{name:?} is a built-in run's label; name the template otherwise"
        ));
    }
    Ok(())
}

/// A header field name or value that can go on the wire as written.
fn valid_header(name: &str, value: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(format!("header {name:?} is not a valid field name"));
    }
    if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("host") {
        return Err(format!("header {name:?} is set by wsbench"));
    }
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(format!(
            "header {name:?}: its value holds control characters"
        ));
    }
    Ok(())
}

/// The endpoint `url` names (checked as a `kind` URL, `{room}` and `{cursor}` read as 0) and its
/// path and query as written, placeholders kept.
fn located(
    kind: TransportKind,
    url: &str,
    reach: super::target::Reach,
) -> Result<(super::target::Endpoint, String), String> {
    let checked = url.replace("{room}", "0").replace("{cursor}", "0");
    let mut endpoint = super::target::parse_with(kind, &checked, reach)?;
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme
        .find('/')
        .map_or_else(|| "/".to_string(), |at| after_scheme[at..].to_string());
    endpoint.url = url.to_string();
    Ok((endpoint, path))
}

/// The run `table` asks for, and the endpoint its subscribers connect to, or what is wrong with
/// it (for the caller to place).
pub fn template_run(
    name: &str,
    table: &TemplateTable,
    reach: super::target::Reach,
) -> Result<(super::target::Endpoint, Template), String> {
    valid_name(name)?;
    let url = table
        .subscribe
        .as_deref()
        .ok_or("needs subscribe = \"ws://…\" (WebSocket) or \"http://…\" (event stream)")?;
    let (mode, kind) = if url.starts_with("ws://") || url.starts_with("wss://") {
        (TemplateMode::Ws, TransportKind::Ws)
    } else if url.contains("{cursor}") {
        (TemplateMode::LongPoll, TransportKind::LongPoll)
    } else {
        (TemplateMode::Sse, TransportKind::Sse)
    };
    let (endpoint, path) = located(kind, url, reach).map_err(|e| format!("subscribe: {e}"))?;
    let subscribe =
        Pattern::parse(&path.replace("{cursor}", "")).map_err(|e| format!("subscribe: {e}"))?;
    let cursor = cursor_rule(table.cursor.as_ref(), mode)?;
    if subscribe.has_msg() {
        return Err("subscribe: {msg} has no place in the subscribe URL".into());
    }
    if mode != TemplateMode::Ws && !table.send.is_empty() {
        return Err("send: frames after connect need a ws:// subscribe URL".into());
    }
    let mut send = Vec::new();
    for frame in &table.send {
        let frame = Pattern::parse(frame).map_err(|e| format!("send: {e}"))?;
        if frame.has_msg() {
            return Err("send: {msg} has no place in a frame sent after connect".into());
        }
        send.push(frame);
    }
    let publish = table.publish.as_ref().ok_or(
        "needs publish = { url = \"http://…\", body = \"…{msg}…\" } or { frame = \"…{msg}…\" }",
    )?;
    let publish = publish_rule(publish, mode, &endpoint, reach)?;
    if mode != TemplateMode::Ws && table.heartbeat.is_some() {
        return Err(
            "heartbeat: only a WebSocket can answer; it needs a ws:// subscribe URL".into(),
        );
    }
    let heartbeat = match &table.heartbeat {
        Some(h) if h.frame.is_empty() => return Err("heartbeat: frame must not be empty".into()),
        Some(h) => Some((h.frame.clone(), h.answer.clone())),
        None => None,
    };
    let template = Template {
        name: name.to_string(),
        mode,
        url: url.to_string(),
        endpoint: endpoint.clone(),
        subscribe: path,
        send,
        publish,
        heartbeat,
        cursor,
    };
    Ok((endpoint, template))
}

/// The cursor rule of a long-poll template; none for the other modes.
fn cursor_rule(
    table: Option<&CursorTable>,
    mode: TemplateMode,
) -> Result<Option<CursorRule>, String> {
    let Some(table) = table else {
        if mode == TemplateMode::LongPoll {
            return Err("a long-poll template ({cursor} in subscribe) needs cursor = { header = \"…\" } or { field = \"…\" }".into());
        }
        return Ok(None);
    };
    if mode != TemplateMode::LongPoll {
        return Err(
            "cursor: only a long-poll template ({cursor} in an http:// subscribe URL) has one"
                .into(),
        );
    }
    let from = match (&table.header, &table.field) {
        (Some(header), None) => {
            valid_header(header, "").map_err(|e| format!("cursor: {e}"))?;
            CursorFrom::Header(interned_field(&header.to_ascii_lowercase()))
        }
        (None, Some(field)) if !field.is_empty() => CursorFrom::Field(field.clone()),
        _ => return Err("cursor: give header = \"…\" or field = \"…\" (one of them)".into()),
    };
    Ok(Some(CursorRule {
        from,
        first: table.first.clone().unwrap_or_default(),
    }))
}

/// The publish rule of `table`, for subscribers in `mode` at `endpoint`.
fn publish_rule(
    table: &PublishTable,
    mode: TemplateMode,
    endpoint: &super::target::Endpoint,
    reach: super::target::Reach,
) -> Result<PublishRule, String> {
    let checked = |text: &str, key: &str| {
        let pattern = Pattern::parse(text).map_err(|e| format!("publish {key}: {e}"))?;
        if !pattern.has_msg() {
            return Err(format!(
                "publish {key}: {text:?} has no {{msg}}: the message cannot reach the subscribers"
            ));
        }
        pattern
            .check_json()
            .map_err(|e| format!("publish {key}: {e}"))?;
        Ok(pattern)
    };
    match (&table.url, &table.frame) {
        (Some(_), Some(_)) => Err("publish: give url (a POST) or frame, not both".into()),
        (None, None) => Err("publish: needs url (a POST) or frame (on the WebSocket)".into()),
        (None, Some(frame)) => {
            if mode != TemplateMode::Ws {
                return Err("publish frame: needs a ws:// subscribe URL".into());
            }
            if table.body.is_some() || !table.headers.is_empty() {
                return Err("publish: body and headers go with url, not frame".into());
            }
            Ok(PublishRule::Frame(checked(frame, "frame")?))
        }
        (Some(url), None) => {
            let (post, path) = located(TransportKind::LongPoll, url, reach)
                .map_err(|e| format!("publish url: {e}"))?;
            if post.addr != endpoint.addr {
                return Err(format!(
                    "publish url: {url:?} must be on the subscribe URL's server ({})",
                    endpoint.addr
                ));
            }
            Pattern::parse(&path).map_err(|e| format!("publish url: {e}"))?;
            let body = checked(table.body.as_deref().unwrap_or("{msg}"), "body")?;
            let mut headers = Vec::new();
            for (name, value) in &table.headers {
                valid_header(name, value).map_err(|e| format!("publish headers: {e}"))?;
                headers.push((name.to_ascii_lowercase(), value.clone()));
            }
            Ok(PublishRule::Post {
                url: url.clone(),
                path,
                body,
                headers,
            })
        }
    }
}

/// The table that asks for `t` (the scenario as run, written back).
pub fn template_table(t: &Template) -> TemplateTable {
    let publish = match &t.publish {
        PublishRule::Post {
            url, body, headers, ..
        } => PublishTable {
            url: Some(url.clone()),
            body: Some(body.as_str().to_string()),
            headers: headers.iter().cloned().collect(),
            frame: None,
        },
        PublishRule::Frame(frame) => PublishTable {
            frame: Some(frame.as_str().to_string()),
            ..PublishTable::default()
        },
    };
    TemplateTable {
        subscribe: Some(t.url.clone()),
        send: t.send.iter().map(|p| p.as_str().to_string()).collect(),
        publish: Some(publish),
        heartbeat: t.heartbeat.as_ref().map(|(frame, answer)| HeartbeatTable {
            frame: frame.clone(),
            answer: answer.clone(),
        }),
        cursor: t.cursor.as_ref().map(|c| CursorTable {
            header: match &c.from {
                CursorFrom::Header(names) => names.first().map(|n| n.to_string()),
                CursorFrom::Field(_) => None,
            },
            field: match &c.from {
                CursorFrom::Field(f) => Some(f.clone()),
                CursorFrom::Header(_) => None,
            },
            first: Some(c.first.clone()),
        }),
    }
}

#[cfg(test)]
mod tests;
