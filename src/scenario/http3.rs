//! `http3` on `[transports.longpoll]`, `[transports.shortpoll]` and `[transports.sse]`: the
//! same requests over HTTP/3 (QUIC), labelled `longpoll-h3`, `shortpoll-h3`, `sse-h3`.
//!
//! QUIC is always TLS, so an `-h3` run carries TLS whatever the `tls` list says, and a table
//! that asks for HTTP/3 with `tls = false` alone is refused rather than silently encrypted.
//! HTTP/3 replaces HTTP/2: `http3 = [false, true]` crosses `http2` and `tls` for the TCP runs
//! and adds one `-h3` run (an h2+h3 combination would mean nothing, so none is made);
//! `http3 = true` alone runs only HTTP/3, and refuses `http2 = true` beside it, which would ask
//! for a run that is not made. `compress = "gzip"` or `"br"` is refused with HTTP/3: our HTTP/3
//! client reads answers as they are sent and decodes no coding. Owns reading the key into the
//! transport's variants; the lists it crosses are read in [`super::fields`].

use super::ScenarioError;
use super::fields::{Field, Rules};
use super::file::Sourced;
use super::transport_tables::{LongPollTable, ShortPollTable, SseTable};
use super::variant::{Variants, parse_bools};
use crate::codec::coding::Coding;
use crate::protocol::TransportKind;

impl Rules<'_> {
    /// Reads `http3` of the long-poll, short-poll and SSE tables into their variants, after
    /// `http2`, `tls` and `compress` are read.
    pub(super) fn http3_keys(
        &self,
        (longpoll, shortpoll, sse): (
            Option<&LongPollTable>,
            Option<&ShortPollTable>,
            Option<&SseTable>,
        ),
        variants: &mut Vec<Field<(TransportKind, Variants)>>,
    ) -> Result<(), ScenarioError> {
        let tables = [
            (
                TransportKind::LongPoll,
                longpoll.map(|l| (&l.http3, &l.tls)),
            ),
            (
                TransportKind::ShortPoll,
                shortpoll.map(|s| (&s.http3, &s.tls)),
            ),
            (TransportKind::Sse, sse.map(|s| (&s.http3, &s.tls))),
        ];
        for (kind, keys) in tables {
            let Some((Some(http3), tls)) = keys else {
                continue;
            };
            self.http3(kind, http3, tls.as_ref(), variants)?;
        }
        Ok(())
    }

    /// One table's `http3`, checked against its `tls`, `http2` and `compress`.
    fn http3(
        &self,
        kind: TransportKind,
        http3: &Sourced<toml::Value>,
        tls: Option<&Sourced<toml::Value>>,
        variants: &mut Vec<Field<(TransportKind, Variants)>>,
    ) -> Result<(), ScenarioError> {
        const KEY: &str = "http3";
        let table = format!("[transports.{}]", kind.label());
        let origin = self.origin(&http3.source);
        let values = parse_bools(&http3.value)
            .map_err(|e| self.invalid(origin.clone(), KEY, format!("{table} http3: {e}")))?;
        if values.contains(&true) {
            if let Some(tls) = tls {
                let tls_values = parse_bools(&tls.value).unwrap_or_default();
                self.check(tls_values.contains(&true), &self.origin(&tls.source), "tls", || {
                    format!(
                        "{table} tls = false with http3: HTTP/3 runs over QUIC, which is always \
                         TLS; remove `tls = false` (the -h3 run is encrypted) or the http3 key"
                    )
                })?;
            }
        }
        let found = variants.iter_mut().find(|f| f.value.0 == kind);
        let current = found
            .as_ref()
            .map(|f| f.value.1.clone())
            .unwrap_or_default();
        if values == [true] {
            self.check(!current.http2.contains(&true), &origin, KEY, || {
                format!(
                    "{table} http3 = true runs only HTTP/3, but http2 asks for HTTP/2 runs: \
                     use http3 = [false, true] to run both (HTTP/3 is never combined with HTTP/2)"
                )
            })?;
        }
        if values.contains(&true) {
            let plain = current.compress.iter().all(|c| *c == Coding::Identity);
            self.check(plain, &origin, KEY, || {
                format!(
                    "{table} http3 with a compress coding: the HTTP/3 client does not decode \
                     compressed answers; keep compress = \"none\" or drop the http3 key"
                )
            })?;
        }
        match found {
            Some(found) => found.value.1.http3 = values,
            None => variants.push(Field {
                value: (
                    kind,
                    Variants {
                        http3: values,
                        ..Variants::default()
                    },
                ),
                origin,
            }),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::variant::parse_label;
    use super::*;

    #[test]
    fn http3_runs_once_after_the_tcp_runs_and_labels_round_trip() {
        let both = Variants {
            http2: vec![false, true],
            tls: vec![false, true],
            http3: vec![false, true],
            ..Variants::default()
        };
        let labels: Vec<String> = both
            .expand()
            .into_iter()
            .map(|v| v.label(TransportKind::Sse))
            .collect();
        assert_eq!(labels, ["sse", "sse-h2", "sse-tls", "sse-h2-tls", "sse-h3"]);
        for label in &labels {
            let (kind, variant) = parse_label(label).unwrap();
            assert_eq!(variant.label(kind), *label);
        }
        let only = Variants {
            http3: vec![true],
            ..Variants::default()
        };
        let h3 = only.expand();
        assert_eq!(h3.len(), 1);
        assert!(h3[0].tls && h3[0].http3 && !h3[0].http2);
        assert_eq!(h3[0].label(TransportKind::ShortPoll), "shortpoll-h3");
        assert_eq!(parse_label("longpoll-h3").unwrap().1, h3[0]);
        assert_eq!(parse_label("longpoll-h3-tls"), None);
        assert_eq!(parse_label("longpoll-h2-h3"), None);
        assert_eq!(parse_label("ws-h3"), None);
        assert_eq!(parse_label("raw-h3"), None);
    }
}
