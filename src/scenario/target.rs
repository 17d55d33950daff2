//! External targets: `[target]` URLs that point a transport at a server wsbench did not start.
//!
//! Owns turning a URL into a loopback [`Endpoint`]; refuses every address that is not on
//! loopback (127.0.0.0/8, `[::1]`, `localhost`), since wsbench never aims load anywhere else —
//! unless the user says so with `--allow-remote` ([`Reach::Remote`]): shards running in
//! Kubernetes pods reach the server through a Service's address. Even then a host must be an
//! IP address: wsbench looks up no names, so it only ever sends to an address written down.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use hyper::Uri;

use crate::protocol::TransportKind;

/// Where a transport's clients connect when the server is external.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL as written.
    pub url: String,
    /// The loopback socket address it names.
    pub addr: SocketAddr,
    /// The path: the WebSocket path (`/` for the classic chat server), the long-/short-poll base
    /// (requests go to `<base>/poll` and `<base>/publish`), or the SSE stream (messages are
    /// published to `publish` beside it: `/events` → `/publish`).
    pub path: String,
    /// The address is off loopback and the user allowed it (`--allow-remote`).
    pub remote_allowed: bool,
}

/// Which targets a scenario may name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reach {
    /// Loopback only: the default, and the only choice without `--allow-remote`.
    #[default]
    Loopback,
    /// Any IP address, on purpose (`--allow-remote`).
    Remote,
}

impl Endpoint {
    /// The path requests for `/poll` or `/publish` go to, for an HTTP target.
    pub fn http_path(&self, kind: TransportKind, leaf: &str) -> String {
        let base = match kind {
            TransportKind::Sse => self.path.rsplit_once('/').map_or("", |(dir, _)| dir),
            _ => self.path.trim_end_matches('/'),
        };
        format!("{base}/{leaf}")
    }
}

/// Parses a `[target]` URL for `kind`, on loopback only; the error says what is wrong, for the
/// caller to locate.
pub fn parse(kind: TransportKind, url: &str) -> Result<Endpoint, String> {
    parse_with(kind, url, Reach::Loopback)
}

/// [`parse`], allowing an address off loopback when `reach` is [`Reach::Remote`].
pub fn parse_with(kind: TransportKind, url: &str, reach: Reach) -> Result<Endpoint, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let scheme = uri.scheme_str().unwrap_or_default();
    let (want, default_port) = match kind {
        TransportKind::Ws => ("ws", 80),
        TransportKind::Raw => ("tcp", 0),
        _ => ("http", 80),
    };
    if scheme != want {
        let tls = matches!(scheme, "wss" | "https");
        return Err(if tls {
            format!("{url:?}: TLS targets are not supported yet; use {want}://")
        } else {
            format!("{url:?}: a {} target must be a {want}:// URL", kind.label())
        });
    }
    let host = uri.host().ok_or_else(|| format!("{url:?} has no host"))?;
    let ip: IpAddr = match host.trim_start_matches('[').trim_end_matches(']') {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        literal => literal.parse().map_err(|_| match reach {
            Reach::Loopback => format!(
                "{url:?}: the host must be a loopback address or localhost (no name lookups)"
            ),
            Reach::Remote => format!(
                "{url:?}: the host must be an IP address (no name lookups; in Kubernetes, the \
                 Service's cluster IP, e.g. from $<SERVICE>_SERVICE_HOST)"
            ),
        })?,
    };
    let remote_allowed = !ip.is_loopback();
    if remote_allowed && reach == Reach::Loopback {
        return Err(format!(
            "{url:?}: only loopback targets are allowed (127.0.0.0/8, [::1], localhost); \
             `--allow-remote` accepts an IP off loopback, for sharded runs in a cluster"
        ));
    }
    if default_port == 0 && uri.port_u16().is_none() {
        return Err(format!("{url:?}: a {} target needs a port", kind.label()));
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(format!("{url:?}: {ip} cannot be connected to"));
    }
    let path = match uri.path() {
        "" => "/".to_string(),
        p => p.to_string(),
    };
    Ok(Endpoint {
        url: url.to_string(),
        addr: SocketAddr::new(ip, uri.port_u16().unwrap_or(default_port)),
        path,
        remote_allowed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_become_endpoints() {
        let e = parse(TransportKind::Ws, "ws://127.0.0.1:8080/").unwrap();
        assert_eq!(
            (e.addr, e.path.as_str()),
            ("127.0.0.1:8080".parse().unwrap(), "/")
        );
        let e = parse(TransportKind::LongPoll, "http://localhost:9000").unwrap();
        assert_eq!(e.addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(e.http_path(TransportKind::LongPoll, "poll"), "/poll");
        let e = parse(TransportKind::Sse, "http://[::1]:9000/api/events").unwrap();
        assert_eq!(e.addr, "[::1]:9000".parse().unwrap());
        assert_eq!(e.http_path(TransportKind::Sse, "publish"), "/api/publish");
        let e = parse(TransportKind::ShortPoll, "http://127.0.0.2:81/api/").unwrap();
        assert_eq!(e.http_path(TransportKind::ShortPoll, "poll"), "/api/poll");
    }

    #[test]
    fn refuses_anything_off_loopback_or_of_the_wrong_kind() {
        let refused = |kind, url| parse(kind, url).unwrap_err();
        assert!(refused(TransportKind::Ws, "ws://10.0.0.1:80/").contains("only loopback"));
        assert!(
            refused(TransportKind::Ws, "ws://example.com/")
                .contains("loopback address or localhost")
        );
        assert!(refused(TransportKind::Ws, "http://127.0.0.1/").contains("ws://"));
        assert!(refused(TransportKind::Sse, "https://127.0.0.1/").contains("TLS"));
        assert!(refused(TransportKind::LongPoll, "not a url").contains("not a URL"));
    }

    /// Parsing only: nothing here, nor in any test, connects to these addresses.
    #[test]
    fn remote_targets_only_when_allowed() {
        let url = "ws://192.0.2.10:8080/ws";
        let refused = parse(TransportKind::Ws, url).unwrap_err();
        assert!(refused.contains("only loopback"), "{refused}");
        let e = parse_with(TransportKind::Ws, url, Reach::Remote).unwrap();
        assert_eq!(
            (e.addr, e.path.as_str(), e.remote_allowed),
            ("192.0.2.10:8080".parse().unwrap(), "/ws", true)
        );
        let e = parse_with(
            TransportKind::Sse,
            "http://[2001:db8::1]/events",
            Reach::Remote,
        )
        .unwrap();
        assert_eq!(e.addr, "[2001:db8::1]:80".parse().unwrap());
        // Loopback stays loopback, allowed or not.
        let e = parse_with(TransportKind::Ws, "ws://127.0.0.1:1/", Reach::Remote).unwrap();
        assert!(!e.remote_allowed);
        let named =
            parse_with(TransportKind::Ws, "ws://wsbench-ws:8080/", Reach::Remote).unwrap_err();
        assert!(named.contains("no name lookups"), "{named}");
        assert!(parse_with(TransportKind::Ws, "ws://0.0.0.0:80/", Reach::Remote).is_err());
    }
}
