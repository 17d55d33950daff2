//! `[transports.ws] http2` and `streams_per_connection`: WebSocket over HTTP/2 (RFC 8441).
//!
//! `http2 = true` runs `ws-h2`: each client opens its WebSocket with an extended CONNECT
//! (`:protocol = websocket`) on an HTTP/2 connection, h2c with prior knowledge on plain TCP, or
//! h2 chosen by ALPN with `tls = true`, as the HTTP transports' `-h2` runs connect. Compression
//! (`deflate`) and resuming (`resume`) work as over HTTP/1.1: the same headers ride on the
//! CONNECT and its 200. Only the wsbench client speaks it (tungstenite's client has no HTTP/2).
//! Owns reading these two keys into the WebSocket's variants; the `http2` list itself is read
//! with every transport's ([`super::fields`]).

use super::fields::{Field, Rules};
use super::file::Sourced;
use super::variant::Variants;
use super::{ScenarioError, WsClient};
use crate::protocol::{TransportKind, WS_H2_MAX_STREAMS};

impl Rules<'_> {
    /// Refuses `http2 = true` with the tungstenite client, reads `streams_per_connection` (1 to
    /// [`WS_H2_MAX_STREAMS`], only with an `http2 = true` run) into the WebSocket's variants.
    pub(super) fn ws_http2(
        &self,
        http2: Option<&Sourced<toml::Value>>,
        streams: Option<Sourced<i64>>,
        client: WsClient,
        variants: &mut [Field<(TransportKind, Variants)>],
    ) -> Result<(), ScenarioError> {
        let ws = variants.iter_mut().find(|f| f.value.0 == TransportKind::Ws);
        let over_h2 = ws.as_ref().is_some_and(|f| f.value.1.http2.contains(&true));
        if let Some(h) = http2.filter(|_| over_h2) {
            const FIELD: &str = "[transports.ws] http2";
            self.check(client == WsClient::Wsbench, &self.origin(&h.source), FIELD, || {
                format!(
                    "{FIELD}: only the wsbench client speaks WebSocket over HTTP/2 (tungstenite's \
                     has no HTTP/2); remove `client = \"{}\"` or the http2 runs",
                    client.label()
                )
            })?;
        }
        let Some(n) = streams else { return Ok(()) };
        const FIELD: &str = "[transports.ws] streams_per_connection";
        let origin = self.origin(&n.source);
        let max = i64::from(WS_H2_MAX_STREAMS);
        self.check((1..=max).contains(&n.value), &origin, FIELD, || {
            format!("{FIELD} must be 1 to {max}, got {}", n.value)
        })?;
        let count = u32::try_from(n.value).unwrap_or(1);
        match ws {
            Some(ws) if over_h2 => ws.value.1.streams_per_connection = count,
            _ if count == 1 => {}
            _ => {
                return Err(self.invalid(
                    origin,
                    FIELD,
                    format!(
                        "{FIELD} = {count} multiplexes clients on HTTP/2 connections: it needs \
                         http2 = true (or [false, true]) in [transports.ws]"
                    ),
                ));
            }
        }
        Ok(())
    }
}
