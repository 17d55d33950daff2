//! The raw scenario file: a serde mirror of the TOML, one struct per table, before any validation.
//!
//! Owns turning TOML text into a [`ScenarioFile`] and turning TOML's own errors (syntax, unknown
//! key, wrong type, missing field) into one-line [`ScenarioError::Toml`]s that name the file, line,
//! column, table and key. Every struct denies unknown fields and none uses `#[serde(flatten)]`,
//! which would silently turn that off (serde#1600). Every scalar keeps its [`Spanned`] byte range
//! so the next stage can name the line of a bad value. `ScenarioFile::into_draft` then turns
//! spans into lines, fills in defaults and parses durations; it checks no ranges: that is
//! [`Scenario::from_file`](super::Scenario::from_file).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::rules::{Draft, Field};
use super::sources::{self, SourceAddresses};
use super::thresholds::{self, Threshold};
use super::variant::{Variants, parse_bools};
use super::{DEFAULT_BACKOFF, DEFAULT_HOLD, DEFAULT_INTERVAL, Origin, ScenarioError, WsClient};
use crate::protocol::TransportKind;

/// The whole file. Integers are `i64` (TOML's own integer type) so that a negative or oversized
/// count reaches validation and gets a range message rather than a serde type error.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a scenario table")]
pub struct ScenarioFile {
    /// `name`; the file stem when absent.
    pub name: Option<Spanned<String>>,
    /// `duration`, a humantime string such as `"20s"`.
    pub duration: Spanned<String>,
    /// `warmup`, a humantime string.
    pub warmup: Option<Spanned<String>>,
    /// `drain`, a humantime string.
    pub drain: Option<Spanned<String>>,
    /// `[clients]`
    pub clients: ClientsTable,
    /// `[publish]`
    pub publish: PublishTable,
    /// `[transports]`; its span is where the table is named, for "no transports" errors.
    pub transports: Spanned<TransportsTable>,
    /// `[target]`
    pub target: Option<TargetTable>,
    /// `[faults]`
    pub faults: Option<FaultsTable>,
    /// `[thresholds]`: column = limit, or `[thresholds.<transport>]` tables of them.
    pub thresholds: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
}

/// `[target]`: URLs of servers wsbench did not start, and a process to sample.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [target] table")]
pub struct TargetTable {
    /// `ws`, a `ws://` URL.
    pub ws: Option<Spanned<String>>,
    /// `longpoll`, an `http://` base URL.
    pub longpoll: Option<Spanned<String>>,
    /// `shortpoll`, an `http://` base URL.
    pub shortpoll: Option<Spanned<String>>,
    /// `sse`, the `http://` URL of the event stream.
    pub sse: Option<Spanned<String>>,
    /// `server_pid`, the external server's process id.
    pub server_pid: Option<Spanned<i64>>,
    /// `token`, sent as a bearer token.
    pub token: Option<Spanned<String>>,
}

/// `[clients]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [clients] table")]
pub struct ClientsTable {
    /// `subscribers`
    pub subscribers: Spanned<i64>,
    /// `connect_rate`, connections per second.
    pub connect_rate: Option<Spanned<i64>>,
    /// `reconnect = { initial = "100ms", max = "5s" }`
    pub reconnect: Option<ReconnectTable>,
    /// `slow_readers`: how many subscribers read slowly.
    pub slow_readers: Option<Spanned<i64>>,
    /// `slow_read_pause`: how long a slow reader pauses after each read, a humantime string.
    pub slow_read_pause: Option<Spanned<String>>,
    /// `source_addresses`: a count, `"auto"`, or loopback addresses to connect from.
    pub source_addresses: Option<Spanned<toml::Value>>,
}

/// `[clients] reconnect`: exponential backoff with jitter between reconnection attempts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a reconnect table")]
pub struct ReconnectTable {
    /// `initial`, the first wait, a humantime string.
    pub initial: Option<Spanned<String>>,
    /// `max`, the longest wait, a humantime string.
    pub max: Option<Spanned<String>>,
}

/// `[faults]`: trouble wsbench causes on purpose, to see how each transport copes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [faults] table")]
pub struct FaultsTable {
    /// `restart_server_at`: how far into the measured phase the built-in server is killed and restarted.
    pub restart_server_at: Option<Spanned<String>>,
}

/// `[publish]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [publish] table")]
pub struct PublishTable {
    /// `publishers`
    pub publishers: Option<Spanned<i64>>,
    /// `rate`, messages per second; a TOML integer is accepted too.
    pub rate: Spanned<f64>,
    /// `payload_bytes`
    pub payload_bytes: Option<Spanned<i64>>,
}

/// `[transports]`: one optional sub-table per transport.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [transports] table")]
pub struct TransportsTable {
    /// `[transports.ws]`
    pub ws: Option<WsTable>,
    /// `[transports.longpoll]`
    pub longpoll: Option<LongPollTable>,
    /// `[transports.shortpoll]`
    pub shortpoll: Option<ShortPollTable>,
    /// `[transports.sse]`
    pub sse: Option<SseTable>,
}

/// `[transports.ws]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [transports.ws] table")]
pub struct WsTable {
    /// `ping_interval`, a humantime string.
    pub ping_interval: Option<Spanned<String>>,
    /// `client`: `"wsbench"` or `"tungstenite"`.
    pub client: Option<Spanned<String>>,
    /// `http2`: read only to refuse it with a clear message (WebSocket has no HTTP/2 variant).
    pub http2: Option<Spanned<toml::Value>>,
    /// `tls`: true, false or a list of both (one run per value).
    pub tls: Option<Spanned<toml::Value>>,
}

/// `[transports.longpoll]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [transports.longpoll] table")]
pub struct LongPollTable {
    /// `hold`, a humantime string.
    pub hold: Option<Spanned<String>>,
    /// `http2`: true, false or a list of both (one run per value).
    pub http2: Option<Spanned<toml::Value>>,
    /// `tls`: true, false or a list of both (one run per value).
    pub tls: Option<Spanned<toml::Value>>,
}

/// `[transports.shortpoll]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [transports.shortpoll] table")]
pub struct ShortPollTable {
    /// `interval`, a humantime string.
    pub interval: Option<Spanned<String>>,
    /// `http2`: true, false or a list of both (one run per value).
    pub http2: Option<Spanned<toml::Value>>,
    /// `tls`: true, false or a list of both (one run per value).
    pub tls: Option<Spanned<toml::Value>>,
}

/// `[transports.sse]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [transports.sse] table")]
pub struct SseTable {
    /// `http2`: true, false or a list of both (one run per value).
    pub http2: Option<Spanned<toml::Value>>,
    /// `tls`: true, false or a list of both (one run per value).
    pub tls: Option<Spanned<toml::Value>>,
}

impl ScenarioFile {
    /// Parses `text` (the contents of `path`; the path is used only in messages).
    pub fn from_toml(path: &Path, text: &str) -> Result<ScenarioFile, ScenarioError> {
        toml::from_str(text).map_err(|e| toml_error(path, text, &e))
    }

    /// Every field with where it was written (or its default), durations parsed: stage 2's input.
    pub(super) fn into_draft(
        self,
        path: &Path,
        text: &str,
        reach: super::target::Reach,
    ) -> Result<Draft, ScenarioError> {
        let at = |span: Range<usize>| {
            let (line, col) = line_col(text, span.start);
            Origin::File { line, col }
        };
        let int = |v: Option<Spanned<i64>>, default: i128| match v {
            Some(s) => Field::new(i128::from(*s.get_ref()), at(s.span())),
            None => Field::unwritten(default),
        };
        let dur = |field: &'static str, v: Option<Spanned<String>>, default: Duration| {
            let Some(s) = v else {
                return Ok(Field::unwritten(default));
            };
            let origin = at(s.span());
            match humantime::parse_duration(s.get_ref()) {
                Ok(value) => Ok(Field::new(value, origin)),
                Err(e) => Err(ScenarioError::Invalid {
                    path: Some(path.to_path_buf()),
                    origin,
                    field,
                    message: format!("{field}: invalid duration {:?}: {e}", s.get_ref()),
                }),
            }
        };
        let ScenarioFile {
            name,
            duration,
            warmup,
            drain,
            clients,
            publish,
            transports,
            target,
            thresholds,
            faults,
        } = self;
        let thresholds = thresholds_draft(path, thresholds.unwrap_or_default(), &at)?;
        let mut targets = Vec::new();
        let mut server_pid = Field::unwritten(None);
        let mut token = Field::unwritten(None);
        if let Some(t) = target {
            let urls = [
                (TransportKind::Ws, t.ws),
                (TransportKind::LongPoll, t.longpoll),
                (TransportKind::ShortPoll, t.shortpoll),
                (TransportKind::Sse, t.sse),
            ];
            for (kind, url) in urls {
                let Some(url) = url else { continue };
                let origin = at(url.span());
                match super::target::parse_with(kind, url.get_ref(), reach) {
                    Ok(endpoint) => targets.push(Field::new((kind, endpoint), origin)),
                    Err(message) => {
                        return Err(ScenarioError::Invalid {
                            path: Some(path.to_path_buf()),
                            origin,
                            field: "[target]",
                            message: format!("[target] {}: {message}", kind.label()),
                        });
                    }
                }
            }
            if let Some(pid) = t.server_pid {
                server_pid = Field::new(Some(i128::from(*pid.get_ref())), at(pid.span()));
            }
            if let Some(t) = t.token {
                token = Field::new(Some(t.get_ref().clone()), at(t.span()));
            }
        }
        let name = match name {
            Some(s) => Field::new(s.get_ref().clone(), at(s.span())),
            None => {
                let stem = path.file_stem().unwrap_or_default();
                Field::unwritten(stem.to_string_lossy().into_owned())
            }
        };
        let t = transports.get_ref();
        let configured = |k: &TransportKind| match k {
            TransportKind::Ws => t.ws.is_some(),
            TransportKind::LongPoll => t.longpoll.is_some(),
            TransportKind::ShortPoll => t.shortpoll.is_some(),
            TransportKind::Sse => t.sse.is_some(),
        };
        let kinds = TransportKind::ALL.into_iter().filter(configured).collect();
        let keys = [
            (
                TransportKind::Ws,
                t.ws.as_ref().map(|w| (w.http2.clone(), w.tls.clone())),
            ),
            (
                TransportKind::LongPoll,
                t.longpoll
                    .as_ref()
                    .map(|l| (l.http2.clone(), l.tls.clone())),
            ),
            (
                TransportKind::ShortPoll,
                t.shortpoll
                    .as_ref()
                    .map(|s| (s.http2.clone(), s.tls.clone())),
            ),
            (
                TransportKind::Sse,
                t.sse.as_ref().map(|s| (s.http2.clone(), s.tls.clone())),
            ),
        ];
        let mut variants = Vec::new();
        for (kind, written) in keys {
            let Some((http2, tls)) = written else {
                continue;
            };
            if http2.is_none() && tls.is_none() {
                continue;
            }
            let table = format!("[transports.{}]", kind.label());
            let read = |key: &str, v: Option<Spanned<toml::Value>>| {
                let Some(v) = v else {
                    return Ok((vec![false], None));
                };
                let origin = at(v.span());
                let invalid = |message: String| ScenarioError::Invalid {
                    path: Some(path.to_path_buf()),
                    origin: origin.clone(),
                    field: if key == "tls" { "tls" } else { "http2" },
                    message,
                };
                if key == "http2" && kind == TransportKind::Ws {
                    return Err(invalid(format!(
                        "{table} http2: HTTP/2 applies to the HTTP transports only \
                         (longpoll, shortpoll, sse); WebSocket runs over HTTP/1.1"
                    )));
                }
                let values =
                    parse_bools(v.get_ref()).map_err(|e| invalid(format!("{table} {key}: {e}")))?;
                Ok((values, Some(origin)))
            };
            let (http2, http2_at) = read("http2", http2)?;
            let (tls, tls_at) = read("tls", tls)?;
            let origin = tls_at.or(http2_at).unwrap_or(Origin::Default);
            variants.push(Field::new((kind, Variants { http2, tls }), origin));
        }
        let hold = t.longpoll.as_ref().and_then(|l| l.hold.clone());
        let interval = t.shortpoll.as_ref().and_then(|s| s.interval.clone());
        let ping_interval = t.ws.as_ref().and_then(|w| w.ping_interval.clone());
        let ws_client = match t.ws.as_ref().and_then(|w| w.client.clone()) {
            None => Field::unwritten(WsClient::default()),
            Some(s) => {
                let origin = at(s.span());
                let Some(client) = WsClient::from_label(s.get_ref()) else {
                    let field = "[transports.ws] client";
                    let names: Vec<String> = WsClient::ALL
                        .iter()
                        .map(|c| format!("{:?}", c.label()))
                        .collect();
                    return Err(ScenarioError::Invalid {
                        path: Some(path.to_path_buf()),
                        origin,
                        field,
                        message: format!(
                            "{field} must be {} (got {:?})",
                            names.join(" or "),
                            s.get_ref()
                        ),
                    });
                };
                Field::new(client, origin)
            }
        };
        let source_addresses = match &clients.source_addresses {
            None => Field::unwritten(SourceAddresses::Auto),
            Some(v) => {
                let origin = at(v.span());
                match sources::parse(v.get_ref()) {
                    Ok(setting) => Field::new(setting, origin),
                    Err(message) => {
                        return Err(ScenarioError::Invalid {
                            path: Some(path.to_path_buf()),
                            origin,
                            field: "[clients] source_addresses",
                            message,
                        });
                    }
                }
            }
        };
        Ok(Draft {
            path: Some(path.to_path_buf()),
            name,
            duration: dur("duration", Some(duration), Duration::ZERO)?,
            warmup: dur("warmup", warmup, Duration::ZERO)?,
            drain: dur("drain", drain, Duration::from_secs(5))?,
            subscribers: int(Some(clients.subscribers), 0),
            connect_rate: int(clients.connect_rate, 1000),
            slow_readers: int(clients.slow_readers.clone(), 0),
            slow_read_pause: dur(
                "[clients] slow_read_pause",
                clients.slow_read_pause.clone(),
                Duration::from_millis(100),
            )?,
            source_addresses,
            reconnect_initial: dur(
                "[clients] reconnect.initial",
                clients.reconnect.as_ref().and_then(|r| r.initial.clone()),
                DEFAULT_BACKOFF.initial,
            )?,
            reconnect_max: dur(
                "[clients] reconnect.max",
                clients.reconnect.as_ref().and_then(|r| r.max.clone()),
                DEFAULT_BACKOFF.max,
            )?,
            restart_server_at: dur(
                "[faults] restart_server_at",
                faults.and_then(|f| f.restart_server_at),
                Duration::ZERO,
            )?,
            publishers: int(publish.publishers, 1),
            rate: Field::new(*publish.rate.get_ref(), at(publish.rate.span())),
            payload_bytes: int(publish.payload_bytes, 64),
            transports: Field::new(kinds, at(transports.span())),
            variants,
            hold: dur("[transports.longpoll] hold", hold, DEFAULT_HOLD)?,
            targets,
            server_pid,
            token,
            thresholds,
            ping_interval: dur(
                "[transports.ws] ping_interval",
                ping_interval,
                Duration::ZERO,
            )?,
            ws_client,
            interval: dur(
                "[transports.shortpoll] interval",
                interval,
                DEFAULT_INTERVAL,
            )?,
        })
    }
}

/// `[thresholds]` entries, each checked to name a numeric `summary.csv` column and a valid limit.
fn thresholds_draft(
    path: &Path,
    table: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    at: &dyn Fn(Range<usize>) -> Origin,
) -> Result<Vec<Field<Threshold>>, ScenarioError> {
    let columns = crate::report::Summary::columns();
    let numeric =
        |name: &str| columns.iter().any(|c| c == name) && !matches!(name, "transport" | "complete");
    let invalid = |origin: Origin, message: String| ScenarioError::Invalid {
        path: Some(path.to_path_buf()),
        origin,
        field: "[thresholds]",
        message,
    };
    let mut out = Vec::new();
    let mut add = |transport: Option<String>, key: &str, value: &toml::Value, origin: Origin| {
        let table = match &transport {
            Some(label) => format!("[thresholds.{label}]"),
            None => "[thresholds]".to_string(),
        };
        if !numeric(key) {
            return Err(invalid(
                origin,
                format!(
                    "{table} {key}: not a numeric summary.csv column (see the README's column list)"
                ),
            ));
        }
        let (op, limit) = thresholds::parse_limit(value)
            .map_err(|e| invalid(origin.clone(), format!("{table} {key}: {e}")))?;
        out.push(Field::new(
            Threshold {
                metric: key.to_string(),
                op,
                limit,
                transport,
            },
            origin,
        ));
        Ok(())
    };
    for (key, value) in table {
        let origin = at(key.span());
        match value.get_ref() {
            toml::Value::Table(per_transport) => {
                let label = key.get_ref();
                if super::variant::parse_label(label).is_none() {
                    return Err(invalid(
                        origin,
                        format!(
                            "[thresholds.{label}]: not a transport label \
                             (ws, longpoll, shortpoll, sse, with -h2 and/or -tls, e.g. longpoll-h2-tls)"
                        ),
                    ));
                }
                for (k, v) in per_transport {
                    add(Some(label.clone()), k, v, origin.clone())?;
                }
            }
            v => add(None, key.get_ref(), v, origin)?,
        }
    }
    Ok(out)
}

/// The text of a file read as `bytes`, or [`ScenarioError::NotUtf8`] naming the first bad byte.
pub(super) fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, ScenarioError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let prefix = std::str::from_utf8(&e.as_bytes()[..valid]).unwrap_or_default();
        let (line, col) = line_col(prefix, valid);
        ScenarioError::NotUtf8 {
            path: path.to_path_buf(),
            line,
            col,
        }
    })
}

/// The text of a [`ScenarioError::Toml`]: `path:line:col: [table] key: message`.
pub(super) fn toml_message(
    path: &Path,
    at: Option<(usize, usize)>,
    table: Option<&str>,
    key: Option<&str>,
    message: &str,
) -> String {
    let mut s = path.display().to_string();
    if let Some((line, col)) = at {
        s += &format!(":{line}:{col}");
    }
    s += ": ";
    if let Some(table) = table {
        s += &format!("[{table}] ");
    }
    if let Some(key) = key {
        s += &format!("{key}: ");
    }
    s + message
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// Rewrites a toml/serde error as one line: `path:line:col: [table] key: message`.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ScenarioError {
    let message = e
        .message()
        .trim()
        .replace('\n', " ")
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number");
    // A top-level missing field comes with the empty span 0..0: there is no line to point at.
    let top_level_missing = |s: &Range<usize>| s.is_empty() && s.start == 0;
    let span = e
        .span()
        .filter(|s| !(message.starts_with("missing field") && top_level_missing(s)));
    let (at, table, key) = match span {
        Some(span) => {
            let (line, col) = line_col(text, span.start);
            let (table, key) = table_and_key(text, line, span);
            (Some((line, col)), table, key)
        }
        None => (None, None, None),
    };
    ScenarioError::Toml {
        path: path.to_path_buf(),
        at,
        table,
        key,
        message,
    }
}

/// The table and key an error at `span` (starting on 1-based `line`) is about, read from the text:
/// the nearest `[header]` at or above the line, and the bare key before `=` on the line. When the
/// span points at a key inside a header (`[transports.carrier_pigeon]`), the table is the part of
/// the header before it and the key is the spanned text.
fn table_and_key(text: &str, line: usize, span: Range<usize>) -> (Option<String>, Option<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let this = lines.get(line - 1).copied().unwrap_or("");
    if let Some(header) = header(this) {
        let spanned = text.get(span).unwrap_or("").trim();
        let inside = !spanned.starts_with('[') && !spanned.is_empty();
        return match header.rfind(spanned).filter(|_| inside) {
            Some(i) => {
                let parent = header[..i].trim_end_matches('.').trim();
                let table = (!parent.is_empty()).then(|| parent.to_string());
                (table, Some(spanned.to_string()))
            }
            None => (Some(header), None),
        };
    }
    let table = lines[..(line - 1).min(lines.len())]
        .iter()
        .rev()
        .find_map(|l| header(l));
    let key = this.split_once('=').map(|(k, _)| k.trim()).filter(|k| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    });
    (table, key.map(str::to_string))
}

/// `Some("a.b")` if `line` is a `[a.b]` or `[[a.b]]` header.
fn header(line: &str) -> Option<String> {
    let line = line.split('#').next().unwrap_or("").trim();
    let inner = line.strip_prefix('[')?.strip_suffix(']')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let inner = inner.strip_suffix(']').unwrap_or(inner);
    Some(inner.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        ScenarioFile::from_toml(Path::new("x.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("a = 1\nbé = 2", 0), (1, 1));
        assert_eq!(line_col("a = 1\nbé = 2", 6), (2, 1));
        assert_eq!(line_col("a = 1\nbé = 2", 9), (2, 3));
        assert_eq!(line_col("ab", 99), (1, 3));
    }

    #[test]
    fn headers_are_recognised() {
        assert_eq!(header(" [clients] # c").as_deref(), Some("clients"));
        assert_eq!(header("[[a.b]]").as_deref(), Some("a.b"));
        assert_eq!(header("a = [1]"), None);
    }

    #[test]
    fn errors_name_table_and_key() {
        let base = "duration = \"1s\"\n[clients]\nsubscribers = 1\n";
        assert_eq!(
            err(&format!("{base}bogus = 2\n")),
            "x.toml:4:1: [clients] bogus: unknown field `bogus`, expected one of `subscribers`, `connect_rate`, `reconnect`, `slow_readers`, `slow_read_pause`, `source_addresses`"
        );
        assert_eq!(
            err("duration = \"1s\"\n[clients]\nsubscribers = \"many\"\n"),
            "x.toml:3:15: [clients] subscribers: invalid type: string \"many\", expected an integer"
        );
        assert_eq!(
            err("duration = \"1s\"\n[clients]\n"),
            "x.toml:2:1: [clients] missing field `subscribers`"
        );
        assert_eq!(err(""), "x.toml: missing field `duration`");
    }
}
