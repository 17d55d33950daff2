//! The bearer token a browser sends on a WebSocket upgrade. A browser cannot set
//! `Authorization` there, so the token rides as the subprotocol `wsbench.bearer.<token as hex>`
//! (the way Kubernetes takes a bearer token from browsers), and the 101 echoes it as RFC 6455
//! requires.

use hyper::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};

/// The prefix of the subprotocol that carries a bearer token from a browser.
pub const BEARER_PROTOCOL: &str = "wsbench.bearer.";

/// The `wsbench.bearer.<hex>` subprotocol a client offered, if any: the value to echo and the
/// token it carries. A client that offers it gets it back whether or not the server checks a
/// token, since a browser fails a connection whose offered subprotocol is not answered.
pub(crate) fn bearer_protocol(headers: &hyper::HeaderMap) -> Option<(HeaderValue, String)> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|offered| {
            let token = decode_hex(offered.strip_prefix(BEARER_PROTOCOL)?)?;
            Some((HeaderValue::from_str(offered).ok()?, token))
        })
}

/// The UTF-8 text that `hex` (two lowercase or uppercase digits per byte) spells, if it does.
fn decode_hex(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_subprotocol_carries_the_token_as_hex() {
        assert_eq!(decode_hex("74306b2f656e").as_deref(), Some("t0k/en"));
        assert_eq!(decode_hex("E5AF86").as_deref(), Some("密"));
        for bad in ["7", "zz", "ff", "é1"] {
            assert_eq!(decode_hex(bad), None, "{bad}");
        }
        let mut headers = hyper::HeaderMap::new();
        headers.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("chat, wsbench.bearer.6869"),
        );
        let (echo, token) = bearer_protocol(&headers).unwrap();
        assert_eq!(
            (echo.to_str().unwrap(), token.as_str()),
            ("wsbench.bearer.6869", "hi")
        );
        headers.insert(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static("chat"));
        assert!(bearer_protocol(&headers).is_none());
    }
}
