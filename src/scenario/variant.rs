//! Variants of a transport: HTTP/2 or not, TLS or not, WebSocket compression or not, and the
//! label each run goes by.
//!
//! A transport table's `http2` and `tls` keys take a bool or a list of bools; a run visits the
//! cross product in a fixed order (plain, `-h2`, `-tls`, `-h2-tls`), each as its own transport
//! run with its own label (`longpoll-h2-tls`), which is the name used in every table, file and
//! threshold. `[transports.ws] deflate` adds permessage-deflate runs: `ws-deflate` (no context
//! takeover, 15 window bits), `ws-deflate-ctx` (takeover), `-w12` for a smaller window. Owns the
//! variant type, its label and reading the keys; knows nothing of files or lines (the caller
//! places errors). `[transports.ws] http2` runs WebSocket over HTTP/2 (RFC 8441, `ws-h2`), with
//! `streams_per_connection` simulated clients on each HTTP/2 connection (not part of the label).

use crate::codec::coding::Coding;
use crate::codec::ws::negotiate::Offer;
use crate::protocol::TransportKind;

/// How one transport run is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Variant {
    /// HTTP/2 (h2c with prior knowledge, or h2 chosen by ALPN over TLS): the HTTP transports,
    /// and WebSocket by extended CONNECT (RFC 8441).
    pub http2: bool,
    /// TLS: wss:// or https:// with the run's self-signed certificate.
    pub tls: bool,
    /// WebSocket: offer permessage-deflate, asking the server for this.
    pub deflate: Option<Offer>,
    /// Long-poll, short-poll and SSE: accept answers and streams compressed this way
    /// (`compress = "gzip"` or `"br"`).
    pub compress: Coding,
    /// WebSocket over HTTP/2: simulated clients that share one HTTP/2 connection, each on a
    /// stream of its own (an edge proxy's or a browser's multiplexing); 1 for every other variant.
    pub streams_per_connection: u32,
    /// Long-poll, short-poll and SSE over HTTP/3 (QUIC): always with TLS (`tls` is `true`),
    /// never with `http2`; labelled `-h3`, without `-tls`, since QUIC has no plain form.
    pub http3: bool,
}

impl Default for Variant {
    /// Plain, one client per connection.
    fn default() -> Self {
        Variant {
            http2: false,
            tls: false,
            deflate: None,
            compress: Coding::Identity,
            streams_per_connection: 1,
            http3: false,
        }
    }
}

impl Variant {
    /// The label of `kind` carried this way: `longpoll`, `longpoll-h2`, `ws-tls`, `sse-h2-tls`.
    pub fn label(self, kind: TransportKind) -> String {
        let mut label = kind.label().to_string();
        if let Some(offer) = self.deflate {
            label += &deflate_label(offer);
        }
        if self.compress != Coding::Identity {
            label = label + "-" + self.compress.token();
        }
        if self.http2 {
            label += "-h2";
        }
        if self.http3 {
            return label + "-h3";
        }
        if self.tls {
            label += "-tls";
        }
        label
    }
}

/// The variants a transport table asks for: each key's values, deduplicated, `false` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variants {
    /// `http2` values.
    pub http2: Vec<bool>,
    /// `tls` values.
    pub tls: Vec<bool>,
    /// `deflate` values (WebSocket): `None` for no compression.
    pub deflate: Vec<Option<Offer>>,
    /// `compress` values (long-poll, short-poll, SSE).
    pub compress: Vec<Coding>,
    /// WebSocket over HTTP/2: clients per HTTP/2 connection, for the `http2 = true` runs.
    pub streams_per_connection: u32,
    /// `http3` values (long-poll, short-poll, SSE): `true` adds one `-h3` run, which takes
    /// neither `http2` nor `tls` from their lists (see [`Variants::expand`]).
    pub http3: Vec<bool>,
}

impl Default for Variants {
    /// Plain HTTP/1.1 (or WebSocket) without TLS.
    fn default() -> Self {
        Variants {
            http2: vec![false],
            tls: vec![false],
            deflate: vec![None],
            compress: vec![Coding::Identity],
            streams_per_connection: 1,
            http3: vec![false],
        }
    }
}

impl Variants {
    /// These `http2` and `tls` values, uncompressed.
    pub fn of(http2: Vec<bool>, tls: Vec<bool>) -> Self {
        Variants {
            http2,
            tls,
            ..Variants::default()
        }
    }

    /// Every combination, in run order: plain, `-h2`, `-tls`, `-h2-tls`, then `-h3`. HTTP/3
    /// replaces HTTP/2 and always carries TLS, so an `-h3` run is made once per compression,
    /// not crossed with the `http2` and `tls` lists (an h2+h3 run would mean nothing); with
    /// `http3 = true` alone only the `-h3` runs are made.
    pub fn expand(&self) -> Vec<Variant> {
        let mut all = Vec::new();
        if self.http3.contains(&true) {
            all.extend(self.compress.iter().map(|&compress| Variant {
                tls: true,
                compress,
                http3: true,
                ..Variant::default()
            }));
            if !self.http3.contains(&false) {
                return all;
            }
        }
        let h3 = std::mem::take(&mut all);
        for &tls in &self.tls {
            for &http2 in &self.http2 {
                for &deflate in &self.deflate {
                    for &compress in &self.compress {
                        all.push(Variant {
                            http2,
                            tls,
                            deflate,
                            compress,
                            streams_per_connection: match http2 {
                                true => self.streams_per_connection,
                                false => 1,
                            },
                            http3: false,
                        });
                    }
                }
            }
        }
        all.extend(h3);
        all
    }

    /// The key's value as written back to a scenario file: `true`, or `[false, true]`.
    pub fn toml_value(values: &[bool]) -> toml::Value {
        match values {
            [one] => toml::Value::Boolean(*one),
            many => toml::Value::Array(many.iter().copied().map(toml::Value::Boolean).collect()),
        }
    }
}

/// Reads an `http2` or `tls` value: a bool, or a non-empty list of bools (sorted, duplicates
/// dropped). The error says what was wrong, for the caller to place.
pub fn parse_bools(value: &toml::Value) -> Result<Vec<bool>, String> {
    let mut values = match value {
        toml::Value::Boolean(b) => vec![*b],
        toml::Value::Array(items) => items
            .iter()
            .map(|v| v.as_bool().ok_or(()))
            .collect::<Result<Vec<_>, ()>>()
            .map_err(|()| "every item of the list must be true or false".to_string())?,
        other => {
            return Err(format!(
                "expected true, false or a list of them such as [false, true], got a {}",
                other.type_str()
            ));
        }
    };
    if values.is_empty() {
        return Err("the list must not be empty".into());
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

/// The transport and variant a label names (`sse-h2-tls`), if it is a valid one.
pub fn parse_label(label: &str) -> Option<(TransportKind, Variant)> {
    let (rest, tls) = match label.strip_suffix("-tls") {
        Some(rest) => (rest, true),
        None => (label, false),
    };
    // `-h3` implies TLS and is never followed by `-tls`.
    let (rest, http3) = match rest.strip_suffix("-h3") {
        Some(_) if tls => return None,
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    let (rest, http2) = match rest.strip_suffix("-h2") {
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    let (rest, compress) = [Coding::Gzip, Coding::Br]
        .into_iter()
        .find_map(|c| Some((rest.strip_suffix(c.token())?.strip_suffix('-')?, c)))
        .unwrap_or((rest, Coding::Identity));
    let (rest, deflate) = match rest.split_once("-deflate") {
        Some((rest, options)) => (rest, Some(parse_deflate_label(options)?)),
        None => (rest, None),
    };
    let kind = TransportKind::ALL.into_iter().find(|k| k.label() == rest)?;
    let polls = matches!(
        kind,
        TransportKind::LongPoll | TransportKind::ShortPoll | TransportKind::Sse
    );
    if (http2 && kind == TransportKind::Raw)
        || (deflate.is_some() && kind != TransportKind::Ws)
        || (compress != Coding::Identity && !polls)
        || (http3 && (!polls || http2))
    {
        return None;
    }
    Some((
        kind,
        Variant {
            http2,
            tls: tls || http3,
            deflate,
            compress,
            streams_per_connection: 1,
            http3,
        },
    ))
}

/// `-deflate`, `-deflate-ctx`, `-deflate-w12`, `-deflate-ctx-w9`: what a deflate run asks for.
fn deflate_label(offer: Offer) -> String {
    let mut label = "-deflate".to_string();
    if offer.context_takeover {
        label += "-ctx";
    }
    if offer.window_bits < 15 {
        label += &format!("-w{}", offer.window_bits);
    }
    label
}

/// The offer after `-deflate` in a label (`""`, `-ctx`, `-w12`, `-ctx-w12`).
fn parse_deflate_label(options: &str) -> Option<Offer> {
    let (rest, context_takeover) = match options.strip_prefix("-ctx") {
        Some(rest) => (rest, true),
        None => (options, false),
    };
    let window_bits = match rest {
        "" => 15,
        bits => bits
            .strip_prefix("-w")?
            .parse()
            .ok()
            .filter(|b| (9..15).contains(b))?,
    };
    Some(Offer {
        context_takeover,
        window_bits,
    })
}

/// Reads `[transports.ws] deflate`: `false`, `true` (no takeover, 15 bits), a table
/// `{ context_takeover = true, window_bits = 12 }`, or a non-empty list of these; sorted, no
/// duplicates, no compression first. The error says what was wrong, for the caller to place.
pub fn parse_deflate(value: &toml::Value) -> Result<Vec<Option<Offer>>, String> {
    const EXPECTED: &str = "expected true, false, { context_takeover = true, window_bits = 12 } \
                            or a list of them";
    let one = |v: &toml::Value| -> Result<Option<Offer>, String> {
        match v {
            toml::Value::Boolean(b) => Ok(b.then(Offer::default)),
            toml::Value::Table(t) => {
                let mut offer = Offer::default();
                for (key, v) in t {
                    match (key.as_str(), v) {
                        ("context_takeover", toml::Value::Boolean(b)) => {
                            offer.context_takeover = *b
                        }
                        ("window_bits", toml::Value::Integer(n)) if (9..=15).contains(n) => {
                            offer.window_bits = u8::try_from(*n).unwrap_or(15);
                        }
                        ("window_bits", other) => {
                            return Err(format!("window_bits must be 9 to 15 (got {other})"));
                        }
                        (key, _) => return Err(format!("unknown key `{key}`: {EXPECTED}")),
                    }
                }
                Ok(Some(offer))
            }
            other => Err(format!("{EXPECTED} (got {other})")),
        }
    };
    let mut values = match value {
        toml::Value::Array(items) => items.iter().map(one).collect::<Result<Vec<_>, _>>()?,
        v => vec![one(v)?],
    };
    if values.is_empty() {
        return Err("the list must not be empty".into());
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

/// Reads a `compress` value: `"none"`, `"gzip"`, `"br"` or a non-empty list of them (sorted, no
/// duplicates, none first). The error says what was wrong, for the caller to place.
pub fn parse_compress(value: &toml::Value) -> Result<Vec<Coding>, String> {
    const EXPECTED: &str =
        r#"expected "none", "gzip", "br" or a list of them such as ["none", "gzip", "br"]"#;
    let one = |v: &toml::Value| match v.as_str() {
        Some("none") => Ok(Coding::Identity),
        Some("gzip") => Ok(Coding::Gzip),
        Some("br") => Ok(Coding::Br),
        _ => Err(format!("{EXPECTED} (got {v})")),
    };
    let mut values = match value {
        toml::Value::Array(items) => items.iter().map(one).collect::<Result<Vec<_>, _>>()?,
        v => vec![one(v)?],
    };
    if values.is_empty() {
        return Err("the list must not be empty".into());
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

/// `compress` as written back to a scenario file.
pub fn compress_toml_value(values: &[Coding]) -> toml::Value {
    let one = |c: &Coding| match c {
        Coding::Identity => toml::Value::String("none".into()),
        c => toml::Value::String(c.token().into()),
    };
    match values {
        [v] => one(v),
        many => toml::Value::Array(many.iter().map(one).collect()),
    }
}

/// `deflate` as written back to a scenario file.
pub fn deflate_toml_value(values: &[Option<Offer>]) -> toml::Value {
    let one = |v: &Option<Offer>| match v {
        None => toml::Value::Boolean(false),
        Some(o) if *o == Offer::default() => toml::Value::Boolean(true),
        Some(o) => {
            let mut t = toml::Table::new();
            t.insert(
                "context_takeover".into(),
                toml::Value::Boolean(o.context_takeover),
            );
            t.insert(
                "window_bits".into(),
                toml::Value::Integer(i64::from(o.window_bits)),
            );
            toml::Value::Table(t)
        }
    };
    match values {
        [v] => one(v),
        many => toml::Value::Array(many.iter().map(one).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_in_run_order() {
        let v = Variants {
            http2: vec![false, true],
            tls: vec![false, true],
            deflate: vec![None],
            compress: vec![Coding::Identity],
            streams_per_connection: 1,
            http3: vec![false],
        };
        let labels: Vec<String> = v
            .expand()
            .into_iter()
            .map(|v| v.label(TransportKind::LongPoll))
            .collect();
        assert_eq!(
            labels,
            ["longpoll", "longpoll-h2", "longpoll-tls", "longpoll-h2-tls"]
        );
        for label in &labels {
            let (kind, variant) = parse_label(label).unwrap();
            assert_eq!(variant.label(kind), *label);
        }
        assert!(parse_label("ws-tls").unwrap().1.tls);
        assert!(parse_label("ws-h2").unwrap().1.http2);
        assert_eq!(parse_label("ws-h2-deflate"), None);
        assert_eq!(parse_label("raw-h2"), None);
        assert_eq!(parse_label("pigeon-tls"), None);
        assert_eq!(parse_label("sse-tls-h2"), None);
    }

    #[test]
    fn bools_and_lists_parse() {
        let b = toml::Value::Boolean;
        assert_eq!(parse_bools(&b(true)).unwrap(), vec![true]);
        let list = toml::Value::Array(vec![b(true), b(false), b(true)]);
        assert_eq!(parse_bools(&list).unwrap(), vec![false, true]);
        assert!(parse_bools(&toml::Value::Array(vec![])).is_err());
        assert!(parse_bools(&toml::Value::Integer(1)).is_err());
        let mixed = toml::Value::Array(vec![b(true), toml::Value::Integer(0)]);
        assert!(parse_bools(&mixed).is_err());
        assert_eq!(
            Variants::toml_value(&[false, true]).to_string(),
            "[false, true]"
        );
        assert_eq!(Variants::toml_value(&[true]).to_string(), "true");
    }

    #[test]
    fn deflate_variants_read_label_and_write_back() {
        let toml = |t: &str| t.parse::<toml::Table>().unwrap()["d"].clone();
        let values = parse_deflate(&toml(
            "d = [false, true, { context_takeover = true, window_bits = 12 }, true]",
        ))
        .unwrap();
        let labels: Vec<String> = (Variants {
            deflate: values.clone(),
            ..Variants::default()
        })
        .expand()
        .into_iter()
        .map(|v| v.label(TransportKind::Ws))
        .collect();
        assert_eq!(labels, ["ws", "ws-deflate", "ws-deflate-ctx-w12"]);
        for label in &labels {
            let (kind, variant) = parse_label(label).unwrap();
            assert_eq!(variant.label(kind), *label);
        }
        assert_eq!(parse_deflate(&deflate_toml_value(&values)).unwrap(), values);
        assert_eq!(parse_label("sse-deflate"), None);
        assert_eq!(parse_label("ws-deflate-w15"), None);
        assert!(parse_deflate(&toml("d = { window_bits = 8 }")).is_err());
        assert!(parse_deflate(&toml("d = { level = 1 }")).is_err());
        assert!(parse_deflate(&toml("d = []")).is_err());
    }

    #[test]
    fn compress_variants_read_label_and_write_back() {
        let toml = |t: &str| t.parse::<toml::Table>().unwrap()["c"].clone();
        let values = parse_compress(&toml(r#"c = ["br", "gzip", "none", "br"]"#)).unwrap();
        assert_eq!(values, [Coding::Identity, Coding::Gzip, Coding::Br]);
        assert_eq!(
            parse_compress(&compress_toml_value(&values)).unwrap(),
            values
        );
        assert_eq!(
            compress_toml_value(&values).to_string(),
            r#"["none", "gzip", "br"]"#
        );
        let labels: Vec<String> = (Variants {
            compress: values,
            tls: vec![false, true],
            ..Variants::default()
        })
        .expand()
        .into_iter()
        .map(|v| v.label(TransportKind::LongPoll))
        .collect();
        assert_eq!(
            labels,
            [
                "longpoll",
                "longpoll-gzip",
                "longpoll-br",
                "longpoll-tls",
                "longpoll-gzip-tls",
                "longpoll-br-tls"
            ]
        );
        for label in &labels {
            let (kind, variant) = parse_label(label).unwrap();
            assert_eq!(variant.label(kind), *label);
        }
        assert_eq!(parse_label("ws-gzip"), None);
        assert_eq!(parse_label("ws-br"), None);
        assert_eq!(parse_label("sse-br-gzip"), None);
        assert_eq!(parse_label("ssebr"), None);
        assert_eq!(parse_label("sse-gzip").unwrap().1.compress, Coding::Gzip);
        assert_eq!(parse_label("sse-br-h2").unwrap().1.compress, Coding::Br);
        assert!(parse_compress(&toml(r#"c = "zstd""#)).is_err());
        assert!(parse_compress(&toml(r#"c = []"#)).is_err());
    }
}
