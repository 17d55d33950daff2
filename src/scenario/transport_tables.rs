//! The `[transports]` part of the file's serde mirror ([`super::file`]): one table per transport,
//! and the keys every table shares (`http2`, `tls`, `instances`, `balancer`).

use serde::{Deserialize, Serialize};

use super::sourced::Opt;
use crate::protocol::TransportKind;

/// `[transports]`: one optional sub-table per transport.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
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
    /// `[transports.raw]`
    pub raw: Option<RawTable>,
    /// The transports to run, in run order, when `--transports` (or a validated scenario) says
    /// so. A file cannot: it runs the tables it has, in [`TransportKind::ALL`] order. Kept as
    /// given, duplicates and all, for validation to refuse.
    #[serde(skip)]
    pub run_order: Option<Vec<TransportKind>>,
    /// With `run_order`: the `[target]` stacks' runs to keep, by label (`--transports
    /// socketio-polling`); `None`: every run the stacks ask for.
    #[serde(skip)]
    pub stack_order: Option<Vec<String>>,
}

/// The `instances` and `balancer` keys of one transport table.
pub type ScalingKeys<'a> = (&'a Opt<toml::Value>, &'a Opt<String>);

/// The `http2` and `tls` keys of one transport table.
pub type VariantKeys<'a> = (&'a Opt<toml::Value>, &'a Opt<toml::Value>);

impl TransportsTable {
    /// The transports the file has a table for, in [`TransportKind::ALL`] order.
    pub fn configured(&self) -> Vec<TransportKind> {
        TransportKind::ALL
            .into_iter()
            .filter(|&k| self.variant_keys(k).is_some())
            .collect()
    }

    /// The `http2` and `tls` keys of `kind`'s table, if the file has the table.
    pub fn variant_keys(&self, kind: TransportKind) -> Option<VariantKeys<'_>> {
        match kind {
            TransportKind::Ws => self.ws.as_ref().map(|t| (&t.http2, &t.tls)),
            TransportKind::LongPoll => self.longpoll.as_ref().map(|t| (&t.http2, &t.tls)),
            TransportKind::ShortPoll => self.shortpoll.as_ref().map(|t| (&t.http2, &t.tls)),
            TransportKind::Sse => self.sse.as_ref().map(|t| (&t.http2, &t.tls)),
            TransportKind::Raw => self.raw.as_ref().map(|t| (&t.http2, &t.tls)),
            TransportKind::SocketIo | TransportKind::Nchan | TransportKind::Template => None,
        }
    }

    /// The `instances` and `balancer` keys of `kind`'s table, if the file has the table.
    pub fn scaling_keys(&self, kind: TransportKind) -> Option<ScalingKeys<'_>> {
        match kind {
            TransportKind::Ws => self.ws.as_ref().map(|t| (&t.instances, &t.balancer)),
            TransportKind::LongPoll => self.longpoll.as_ref().map(|t| (&t.instances, &t.balancer)),
            TransportKind::ShortPoll => {
                self.shortpoll.as_ref().map(|t| (&t.instances, &t.balancer))
            }
            TransportKind::Sse => self.sse.as_ref().map(|t| (&t.instances, &t.balancer)),
            TransportKind::Raw => self.raw.as_ref().map(|t| (&t.instances, &t.balancer)),
            TransportKind::SocketIo | TransportKind::Nchan | TransportKind::Template => None,
        }
    }
}

/// `[transports.ws]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a [transports.ws] table")]
pub struct WsTable {
    /// `ping_interval`, a humantime string.
    pub ping_interval: Opt<String>,
    /// `server_ping`, a humantime string: the built-in server's heartbeat.
    pub server_ping: Opt<String>,
    /// `client`: `"wsbench"` or `"tungstenite"`.
    pub client: Opt<String>,
    /// `resume`: clients come back after the last message they read (default true with the
    /// wsbench client).
    pub resume: Opt<bool>,
    /// `http2`: true, false or a list of both (one run per value): WebSocket over HTTP/2 by
    /// extended CONNECT (RFC 8441), labelled `ws-h2`.
    pub http2: Opt<toml::Value>,
    /// `streams_per_connection`: with `http2`, simulated clients per HTTP/2 connection, each on
    /// its own stream (default 1: a connection each).
    pub streams_per_connection: Opt<i64>,
    /// `tls`: true, false or a list of both (one run per value).
    pub tls: Opt<toml::Value>,
    /// `instances`: built-in server processes for this transport (default 1), or `"auto"`.
    pub instances: Opt<toml::Value>,
    /// `balancer`: `"client"` or `"haproxy"`.
    pub balancer: Opt<String>,
    /// `deflate`: permessage-deflate, `true`, `false`, `{ context_takeover, window_bits }` or a
    /// list of them (one run per value).
    pub deflate: Opt<toml::Value>,
}

/// `[transports.longpoll]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a [transports.longpoll] table")]
pub struct LongPollTable {
    /// `hold`, a humantime string.
    pub hold: Opt<String>,
    /// `http2`: true, false or a list of both (one run per value).
    pub http2: Opt<toml::Value>,
    /// `tls`: true, false or a list of both (one run per value).
    pub tls: Opt<toml::Value>,
    /// `instances`: built-in server processes for this transport (default 1), or `"auto"`.
    pub instances: Opt<toml::Value>,
    /// `balancer`: `"client"` or `"haproxy"`.
    pub balancer: Opt<String>,
    /// `compress`: `"none"`, `"gzip"`, `"br"` or a list of them (one run per value).
    pub compress: Opt<toml::Value>,
    /// `http3`: true, false or a list of both: `true` adds an HTTP/3 run (QUIC, always TLS).
    pub http3: Opt<toml::Value>,
}

/// `[transports.shortpoll]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a [transports.shortpoll] table")]
pub struct ShortPollTable {
    /// `interval`, a humantime string.
    pub interval: Opt<String>,
    /// `http2`: true, false or a list of both (one run per value).
    pub http2: Opt<toml::Value>,
    /// `tls`: true, false or a list of both (one run per value).
    pub tls: Opt<toml::Value>,
    /// `instances`: built-in server processes for this transport (default 1), or `"auto"`.
    pub instances: Opt<toml::Value>,
    /// `balancer`: `"client"` or `"haproxy"`.
    pub balancer: Opt<String>,
    /// `compress`: `"none"`, `"gzip"`, `"br"` or a list of them (one run per value).
    pub compress: Opt<toml::Value>,
    /// `http3`: true, false or a list of both: `true` adds an HTTP/3 run (QUIC, always TLS).
    pub http3: Opt<toml::Value>,
}

/// `[transports.sse]`
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a [transports.sse] table")]
pub struct SseTable {
    /// `keepalive`, a humantime string: the built-in server's keep-alive comments.
    pub keepalive: Opt<String>,
    /// `http2`: true, false or a list of both (one run per value).
    pub http2: Opt<toml::Value>,
    /// `tls`: true, false or a list of both (one run per value).
    pub tls: Opt<toml::Value>,
    /// `instances`: built-in server processes for this transport (default 1), or `"auto"`.
    pub instances: Opt<toml::Value>,
    /// `balancer`: `"client"` or `"haproxy"`.
    pub balancer: Opt<String>,
    /// `compress`: `"none"`, `"gzip"`, `"br"` or a list of them (one run per value).
    pub compress: Opt<toml::Value>,
    /// `http3`: true, false or a list of both: `true` adds an HTTP/3 run (QUIC, always TLS).
    pub http3: Opt<toml::Value>,
}

/// `[transports.raw]`: bare TCP has nothing to configure.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, expecting = "a [transports.raw] table")]
pub struct RawTable {
    /// `http2`: read only to refuse it with a clear message.
    pub http2: Opt<toml::Value>,
    /// `tls`: read only to refuse it with a clear message (raw is the floor: bare TCP).
    pub tls: Opt<toml::Value>,
    /// `instances`: built-in server processes for this transport (default 1), or `"auto"`.
    pub instances: Opt<toml::Value>,
    /// `balancer`: `"client"` or `"haproxy"`.
    pub balancer: Opt<String>,
    /// `resume`: clients come back after the last message they read (default true); `false`
    /// joins afresh at every reconnect.
    pub resume: Opt<bool>,
}
