//! Variants of a transport: HTTP/2 or not, TLS or not, and the label each run goes by.
//!
//! A transport table's `http2` and `tls` keys take a bool or a list of bools; a run visits the
//! cross product in a fixed order (plain, `-h2`, `-tls`, `-h2-tls`), each as its own transport
//! run with its own label (`longpoll-h2-tls`), which is the name used in every table, file and
//! threshold. Owns the variant type, its label and reading the two keys; knows nothing of files
//! or lines (the caller places errors).

use crate::protocol::TransportKind;

/// How one transport run is carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Variant {
    /// HTTP/2 (h2c with prior knowledge, or h2 chosen by ALPN over TLS); HTTP transports only.
    pub http2: bool,
    /// TLS: wss:// or https:// with the run's self-signed certificate.
    pub tls: bool,
}

impl Variant {
    /// The label of `kind` carried this way: `longpoll`, `longpoll-h2`, `ws-tls`, `sse-h2-tls`.
    pub fn label(self, kind: TransportKind) -> String {
        let mut label = kind.label().to_string();
        if self.http2 {
            label += "-h2";
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
}

impl Default for Variants {
    /// Plain HTTP/1.1 (or WebSocket) without TLS.
    fn default() -> Self {
        Variants {
            http2: vec![false],
            tls: vec![false],
        }
    }
}

impl Variants {
    /// Every combination, in run order: plain, `-h2`, `-tls`, `-h2-tls`.
    pub fn expand(&self) -> Vec<Variant> {
        let mut all = Vec::new();
        for &tls in &self.tls {
            for &http2 in &self.http2 {
                all.push(Variant { http2, tls });
            }
        }
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
    let (rest, http2) = match rest.strip_suffix("-h2") {
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    let kind = TransportKind::ALL.into_iter().find(|k| k.label() == rest)?;
    if http2 && kind == TransportKind::Ws {
        return None;
    }
    Some((kind, Variant { http2, tls }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_in_run_order() {
        let v = Variants {
            http2: vec![false, true],
            tls: vec![false, true],
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
        assert_eq!(parse_label("ws-h2"), None);
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
}
