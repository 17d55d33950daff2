//! External targets: `[target]` URLs that point a transport at a server wsbench did not start.
//!
//! Owns turning a URL into a loopback [`Endpoint`]; refuses every address that is not on
//! loopback (127.0.0.0/8, `[::1]`, `localhost`), since wsbench never aims load anywhere else.

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

/// Parses a `[target]` URL for `kind`; the error says what is wrong, for the caller to locate.
pub fn parse(kind: TransportKind, url: &str) -> Result<Endpoint, String> {
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
        literal => literal.parse().map_err(|_| {
            format!("{url:?}: the host must be a loopback address or localhost (no name lookups)")
        })?,
    };
    if !ip.is_loopback() {
        return Err(format!(
            "{url:?}: only loopback targets are allowed (127.0.0.0/8, [::1], localhost)"
        ));
    }
    if default_port == 0 && uri.port_u16().is_none() {
        return Err(format!("{url:?}: a {} target needs a port", kind.label()));
    }
    let path = match uri.path() {
        "" => "/".to_string(),
        p => p.to_string(),
    };
    Ok(Endpoint {
        url: url.to_string(),
        addr: SocketAddr::new(ip, uri.port_u16().unwrap_or(default_port)),
        path,
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
}
