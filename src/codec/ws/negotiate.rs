//! Negotiating permessage-deflate (RFC 7692 §5, §7.1): the client's offer in
//! `Sec-WebSocket-Extensions`, the server's answer, and the parameters both ends then use.
//!
//! Owns the header values and their rules (each parameter at most once, window bits 8 to 15, no
//! unknown parameter); compressing is [`super::deflate`]'s.
//!
//! The built-in server honours what the client asks: `server_no_context_takeover` if offered
//! (then it can compress a broadcast once for every such client), and `server_max_window_bits`
//! if offered. It declines an offer it cannot serve (an 8-bit server window, which zlib cannot
//! deflate with) and takes the next one, or none.

/// The extension's token.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// What one connection agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Agreed {
    /// The server starts afresh for every message it sends.
    pub server_no_context_takeover: bool,
    /// The client starts afresh for every message it sends.
    pub client_no_context_takeover: bool,
    /// The server's window, 9 to 15.
    pub server_max_window_bits: u8,
    /// The client's window, 8 to 15 (with 8 our client sends uncompressed: zlib cannot).
    pub client_max_window_bits: u8,
}

/// What our client offers: whether the server should keep its context, and its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Offer {
    /// Ask the server to keep its context between messages (no `server_no_context_takeover`).
    pub context_takeover: bool,
    /// The server's window bits to ask for (`server_max_window_bits`, written when below 15).
    pub window_bits: u8,
}

impl Default for Offer {
    /// What `deflate = true` means: no takeover, 15 bits.
    fn default() -> Self {
        Offer {
            context_takeover: false,
            window_bits: 15,
        }
    }
}

impl Offer {
    /// The `Sec-WebSocket-Extensions` value. It always offers `client_max_window_bits` (no
    /// value), so a server may shrink our window, and keeps our own context.
    pub fn header(&self) -> String {
        let mut h = format!("{PERMESSAGE_DEFLATE}; client_max_window_bits");
        if !self.context_takeover {
            h += "; server_no_context_takeover";
        }
        if self.window_bits < 15 {
            h += &format!("; server_max_window_bits={}", self.window_bits);
        }
        h
    }

    /// Checks the server's answer to this offer (the value of its `Sec-WebSocket-Extensions`,
    /// `None` if it sent none): `Ok(None)` if it declined, the parameters if it accepted.
    pub fn accepted(&self, answer: Option<&str>) -> Result<Option<Agreed>, String> {
        let Some(answer) = answer else {
            return Ok(None);
        };
        let mut offers = parse(answer)?;
        let Some(params) = offers.pop().filter(|_| offers.is_empty()) else {
            return Err(format!(
                "expected one permessage-deflate answer, got {answer:?}"
            ));
        };
        let mut agreed = Agreed {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        };
        for (name, value) in params {
            match (name.as_str(), value) {
                ("server_no_context_takeover", None) => agreed.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => agreed.client_no_context_takeover = true,
                ("server_max_window_bits", Some(bits)) if bits <= self.window_bits => {
                    agreed.server_max_window_bits = bits;
                }
                ("client_max_window_bits", Some(bits)) => agreed.client_max_window_bits = bits,
                _ => return Err(format!("unacceptable parameter {name:?} in {answer:?}")),
            }
        }
        if !self.context_takeover && !agreed.server_no_context_takeover {
            return Err(format!(
                "the server ignored server_no_context_takeover: {answer:?}"
            ));
        }
        Ok(Some(agreed))
    }
}

/// The server's choice among a request's `Sec-WebSocket-Extensions` values: the first
/// permessage-deflate offer it can serve, and the answer to send; `None` to decline (also for a
/// malformed header: the connection then goes on uncompressed).
pub fn answer<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<(Agreed, String)> {
    for value in values {
        let Ok(offers) = parse(value) else { continue };
        'offers: for params in offers {
            let mut agreed = Agreed {
                server_no_context_takeover: false,
                client_no_context_takeover: false,
                server_max_window_bits: 15,
                client_max_window_bits: 15,
            };
            let mut answer = PERMESSAGE_DEFLATE.to_string();
            for (name, value) in params {
                match (name.as_str(), value) {
                    ("server_no_context_takeover", None) => {
                        agreed.server_no_context_takeover = true;
                        answer += "; server_no_context_takeover";
                    }
                    ("client_no_context_takeover", None) => {
                        agreed.client_no_context_takeover = true;
                        answer += "; client_no_context_takeover";
                    }
                    ("server_max_window_bits", Some(bits)) if bits >= 9 => {
                        agreed.server_max_window_bits = bits;
                        answer += &format!("; server_max_window_bits={bits}");
                    }
                    // The client may be told a window; ours inflates any, so it is left as is.
                    ("client_max_window_bits", _) => {}
                    _ => continue 'offers,
                }
            }
            return Some((agreed, answer));
        }
    }
    None
}

/// One offer's parameters: each name (lowercased) and its window bits, if it has a value.
type Params = Vec<(String, Option<u8>)>;

/// The permessage-deflate offers (or answer) in one header value, each a list of parameters;
/// other extensions are skipped. Errs on a repeated parameter or a window outside 8 to 15.
fn parse(value: &str) -> Result<Vec<Params>, String> {
    let mut offers = Vec::new();
    for extension in value.split(',') {
        let mut parts = extension.split(';').map(str::trim);
        if !parts
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
        {
            continue;
        }
        let mut params: Params = Vec::new();
        for part in parts.filter(|p| !p.is_empty()) {
            let (name, value) = match part.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (part, None),
            };
            let name = name.to_ascii_lowercase();
            if params.iter().any(|(n, _)| *n == name) {
                return Err(format!("{name} given twice in {value:?}"));
            }
            let bits = match value {
                None => None,
                Some(v) => match v.parse::<u8>() {
                    Ok(b) if (8..=15).contains(&b) => Some(b),
                    _ => return Err(format!("{name}={v} is not a window of 8 to 15 bits")),
                },
            };
            params.push((name, bits));
        }
        offers.push(params);
    }
    Ok(offers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browsers_offer_gets_takeover_and_full_windows() {
        let (agreed, header) =
            answer(["permessage-deflate; client_max_window_bits"]).expect("accepted");
        assert_eq!(header, "permessage-deflate");
        assert!(!agreed.server_no_context_takeover);
        assert_eq!(agreed.server_max_window_bits, 15);
    }

    #[test]
    fn our_offers_are_honoured_and_checked() {
        for offer in [
            Offer::default(),
            Offer {
                context_takeover: true,
                window_bits: 9,
            },
            Offer {
                context_takeover: false,
                window_bits: 12,
            },
        ] {
            let (agreed, header) = answer([offer.header().as_str()]).unwrap();
            assert_eq!(agreed.server_no_context_takeover, !offer.context_takeover);
            assert_eq!(agreed.server_max_window_bits, offer.window_bits);
            assert_eq!(offer.accepted(Some(&header)), Ok(Some(agreed)));
        }
        assert_eq!(
            Offer::default().header(),
            "permessage-deflate; client_max_window_bits; server_no_context_takeover"
        );
        assert_eq!(Offer::default().accepted(None), Ok(None));
        // A server that keeps its context when asked not to, or widens the window, is refused.
        assert!(
            Offer::default()
                .accepted(Some("permessage-deflate"))
                .is_err()
        );
        let small = Offer {
            context_takeover: true,
            window_bits: 10,
        };
        assert!(
            small
                .accepted(Some("permessage-deflate; server_max_window_bits=12"))
                .is_err()
        );
        assert!(small.accepted(Some("permessage-deflate; x=1")).is_err());
    }

    #[test]
    fn offers_the_server_cannot_serve_are_declined_in_turn() {
        // An 8-bit server window is declined; the fallback offer after the comma is taken.
        let (agreed, header) = answer([
            "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_no_context_takeover",
        ])
        .unwrap();
        assert_eq!(header, "permessage-deflate; server_no_context_takeover");
        assert!(agreed.server_no_context_takeover);
        assert_eq!(
            answer(["permessage-deflate; server_max_window_bits=16"]),
            None
        );
        assert_eq!(answer(["permessage-deflate; foo"]), None);
        assert_eq!(
            answer(["permessage-deflate; server_no_context_takeover; server_no_context_takeover"]),
            None
        );
        assert_eq!(answer(["x-webkit-deflate-frame"]), None);
        assert_eq!(answer([]), None);
    }
}
