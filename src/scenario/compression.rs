//! The scenario keys that say what the messages are and how they are compressed: `[publish]
//! payload`, `[transports.ws] deflate` and `[transports.longpoll] compress` (and shortpoll's and sse's),
//! read as [`readers`](super::readers) reads the rest of their tables.

use std::path::Path;

use super::fields::{Field, Rules, unwritten};
use super::variant::{self, Variants};
use super::{ScenarioError, WsClient};
use crate::codec::payload::{Corpus, PayloadModel};
use crate::protocol::TransportKind;

impl Rules<'_> {
    /// `[publish] payload`: `"padding"` (the default), `"chat"`, `"random"` or
    /// `{ file = "…" }`, a path relative to the scenario file, whose lines are read now so that a
    /// missing or unusable corpus is refused before anything runs.
    pub(super) fn payload_model(
        &self,
        v: Option<super::file::Sourced<toml::Value>>,
    ) -> Result<Field<PayloadModel>, ScenarioError> {
        const FIELD: &str = "[publish] payload";
        const EXPECTED: &str = r#"expected "padding", "chat", "random" or { file = "<path>" }"#;
        let Some(v) = v else {
            return Ok(unwritten(PayloadModel::Padding));
        };
        let origin = self.origin(&v.source);
        let bad =
            |message: String| self.invalid(origin.clone(), FIELD, format!("{FIELD}: {message}"));
        let value = match &v.value {
            toml::Value::String(s) if s == "padding" => PayloadModel::Padding,
            toml::Value::String(s) if s == "chat" => PayloadModel::Chat,
            toml::Value::String(s) if s == "random" => PayloadModel::Random,
            toml::Value::Table(t) if t.len() == 1 => {
                let Some(toml::Value::String(file)) = t.get("file") else {
                    return Err(bad(format!("{EXPECTED} (got {})", v.value)));
                };
                let base = self.path.and_then(Path::parent).unwrap_or(Path::new(""));
                let path = std::path::absolute(base.join(file))
                    .map_err(|e| bad(format!("cannot resolve {file:?}: {e}")))?;
                PayloadModel::File(Corpus::read(&path).map_err(|e| bad(e.to_string()))?)
            }
            other => return Err(bad(format!("{EXPECTED} (got {other})"))),
        };
        Ok(Field { value, origin })
    }

    /// `[transports.ws] deflate`, into the WebSocket's variants: only our client compresses.
    pub(super) fn ws_deflate(
        &self,
        deflate: Option<super::file::Sourced<toml::Value>>,
        client: WsClient,
        variants: &mut Vec<Field<(TransportKind, Variants)>>,
    ) -> Result<(), ScenarioError> {
        const FIELD: &str = "[transports.ws] deflate";
        let Some(v) = deflate else { return Ok(()) };
        let origin = self.origin(&v.source);
        let values = variant::parse_deflate(&v.value)
            .map_err(|e| self.invalid(origin.clone(), FIELD, format!("{FIELD}: {e}")))?;
        let compresses = values.iter().any(Option::is_some);
        self.check(
            !compresses || client == WsClient::Wsbench,
            &origin,
            FIELD,
            || {
                format!(
                    "{FIELD}: only the wsbench client speaks permessage-deflate (tungstenite has \
                 none); remove `client = \"{}\"` or the deflate runs",
                    client.label()
                )
            },
        )?;
        match variants.iter_mut().find(|f| f.value.0 == TransportKind::Ws) {
            Some(ws) => ws.value.1.deflate = values,
            None => variants.push(Field {
                value: (
                    TransportKind::Ws,
                    Variants {
                        deflate: values,
                        ..Variants::default()
                    },
                ),
                origin,
            }),
        }
        Ok(())
    }

    /// `[transports.longpoll] compress` (or shortpoll's or sse's), into the transport's variants.
    pub(super) fn compress(
        &self,
        kind: TransportKind,
        compress: Option<super::file::Sourced<toml::Value>>,
        variants: &mut Vec<Field<(TransportKind, Variants)>>,
    ) -> Result<(), ScenarioError> {
        let Some(v) = compress else { return Ok(()) };
        let origin = self.origin(&v.source);
        let values = variant::parse_compress(&v.value).map_err(|e| {
            let message = format!("[transports.{}] compress: {e}", kind.label());
            self.invalid(origin.clone(), "compress", message)
        })?;
        match variants.iter_mut().find(|f| f.value.0 == kind) {
            Some(found) => found.value.1.compress = values,
            None => variants.push(Field {
                value: (
                    kind,
                    Variants {
                        compress: values,
                        ..Variants::default()
                    },
                ),
                origin,
            }),
        }
        Ok(())
    }
}
