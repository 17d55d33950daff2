//! The chat page that `wsbench serve --transport all` serves at `/`: the tutorial's chat room, over
//! a transport the reader picks, with each message's push latency and the bytes spent so far.
//!
//! The files beside this module are compiled into the binary, so the page works offline. It loads
//! nothing but these files, and its `Content-Security-Policy` lets it load or connect to nothing
//! else: no CDN, no web fonts, no inline script. What the page does and why is in `chat.js`.

use std::net::SocketAddr;

use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use super::http::{Body, full};

/// One file of the page.
#[derive(Debug)]
pub struct Asset {
    /// Where it is served.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes, as built into the binary.
    pub body: &'static str,
}

/// Every file of the page.
pub const ASSETS: [Asset; 4] = [
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("index.html"),
    },
    Asset {
        path: "/chat.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("chat.js"),
    },
    Asset {
        path: "/chat.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("chat.css"),
    },
    Asset {
        path: "/favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("favicon.svg"),
    },
];

/// Only this origin, for everything: `'self'` covers the page's own `ws://` (and `wss://`) too.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The page's file served at `path`, if any (`/index.html` is `/`).
pub fn asset(path: &str) -> Option<&'static Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|a| a.path == path)
}

/// The `200` answer carrying `asset`.
pub fn response(asset: &'static Asset) -> Response<Body> {
    let mut response = Response::new(full(asset.body.as_bytes()));
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    // A rebuilt binary serves a new page: the browser must ask again rather than reuse its copy.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // The page URL may carry the token; it must not leave in a `Referer`.
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// The URL a person opens to see the page of a server bound to `addr`: on the loopback address
/// when it is bound to every address, `https` with TLS, and with `?token=` when the server
/// checks one (the page reads it there and sends it with every request).
pub fn url(addr: SocketAddr, tls: bool, token: Option<&str>) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    let scheme = if tls { "https" } else { "http" };
    let mut url = format!("{scheme}://{}/", SocketAddr::new(ip, addr.port()));
    if let Some(token) = token {
        url.push_str("?token=");
        url.push_str(&percent_encode(token));
    }
    url
}

/// `text` with every byte but RFC 3986's unreserved characters written as `%XX`.
fn percent_encode(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            write!(out, "%{b:02X}").expect("writing to a String cannot fail");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_names_a_loopback_address_and_the_token() {
        let url = |addr: &str, tls, token| url(addr.parse().unwrap(), tls, token);
        assert_eq!(url("127.0.0.1:8080", false, None), "http://127.0.0.1:8080/");
        assert_eq!(url("0.0.0.0:80", true, None), "https://127.0.0.1:80/");
        assert_eq!(url("[::]:9000", false, None), "http://[::1]:9000/");
        assert_eq!(
            url("[::1]:9000", false, Some("a b/密")),
            "http://[::1]:9000/?token=a%20b%2F%E5%AF%86"
        );
    }

    #[test]
    fn every_page_file_is_found_by_its_path() {
        for a in &ASSETS {
            assert_eq!(asset(a.path).map(|a| a.path), Some(a.path));
        }
        assert_eq!(asset("/index.html").map(|a| a.path), Some("/"));
        assert!(asset("/poll").is_none());
    }
}
