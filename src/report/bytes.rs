//! `bytes.csv`: where each transport's wire bytes go — payload, WebSocket framing, HTTP request
//! heads, HTTP response heads and body framing, TLS — measured, with the analytic overhead model
//! of [`crate::codec`] beside it.
//!
//! ## Measured, and how
//! The client sockets count every byte each way (`wire`), and the payload each way is known
//! exactly (in-window messages published × size up, delivered × size down). What is left is
//! overhead, and the direction tells its kind, because each transport puts one kind in each
//! direction:
//! - WebSocket: both directions are frames, so all overhead is WebSocket framing (frame headers
//!   and masks; also pings and the close handshake, which are rare).
//! - raw: both directions are length-prefixed messages, so all overhead is the 4-byte prefixes.
//! - Long-poll, short-poll, SSE: client → server is HTTP requests (poll requests, and the heads of
//!   `POST /publish`, whose bodies are the payload), so all upward overhead is request heads;
//!   server → client is responses (status line and headers, netstrings or chunk and SSE event
//!   framing, the `204` answers to publishes), so all downward overhead is response framing.
//! - TLS: measured exactly, as the bytes below TLS minus the plaintext above it (records, MACs,
//!   handshakes); the other parts are then split from the plaintext.
//!
//! ## The model
//! `model_overhead_per_delivery` is what the codec's byte model predicts for the parts it covers
//! (`model_covers` says which): it is to be read beside the measured part of the same kind.

use serde::Serialize;

use super::summary::round_figure;
use crate::codec::ws::overhead::{client_frame_overhead, server_frame_overhead};
use crate::codec::{batch, http, raw};
use crate::metrics::TransportMetrics;
use crate::protocol::TransportKind;
use crate::scenario::variant::parse_label;

/// One row of `bytes.csv`. Byte counts cover the measured phase and the drain (as `summary.csv`'s
/// `bytes_up`/`bytes_down`); the `_bytes` parts add up to `wire_bytes` exactly, and the
/// `_per_delivery` figures are those divided by `deliveries` (empty when there were none).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BytesRow {
    /// Transport label.
    pub transport: String,
    /// In-window deliveries: the divisor of every `_per_delivery` column.
    pub deliveries: u64,
    /// All wire bytes, both directions.
    pub wire_bytes: u64,
    /// Message bytes: in-window messages published (up) and delivered (down).
    pub payload_bytes: u64,
    /// WebSocket frame headers and control frames.
    pub ws_framing_bytes: u64,
    /// The `raw` transport's 4-byte length prefixes.
    pub length_prefix_bytes: u64,
    /// HTTP request heads (poll requests, publish heads).
    pub http_request_bytes: u64,
    /// HTTP response heads, netstrings, chunk framing, SSE event framing.
    pub http_response_bytes: u64,
    /// TLS records and handshakes beyond the plaintext (0 without TLS).
    pub tls_bytes: u64,
    /// `wire_bytes` / `deliveries`.
    pub wire_per_delivery: Option<f64>,
    /// `payload_bytes` / `deliveries`.
    pub payload_per_delivery: Option<f64>,
    /// `ws_framing_bytes` / `deliveries`.
    pub ws_framing_per_delivery: Option<f64>,
    /// `length_prefix_bytes` / `deliveries`.
    pub length_prefix_per_delivery: Option<f64>,
    /// `http_request_bytes` / `deliveries`.
    pub http_request_per_delivery: Option<f64>,
    /// `http_response_bytes` / `deliveries`.
    pub http_response_per_delivery: Option<f64>,
    /// `tls_bytes` / `deliveries`.
    pub tls_per_delivery: Option<f64>,
    /// The codec model's overhead per delivery, for the parts in `model_covers`.
    pub model_overhead_per_delivery: Option<f64>,
    /// Which measured parts the model covers.
    pub model_covers: String,
}

impl BytesRow {
    /// The split of one transport's bytes.
    pub fn new(m: &TransportMetrics) -> BytesRow {
        let deliveries = m.clients.counts.delivery.delivered;
        // With TLS the kinds of overhead are split from the plaintext; TLS is the rest.
        let plain = m.tls.map_or(m.wire, |t| t.plaintext);
        let tls = m.wire.total().saturating_sub(plain.total());
        let over_up = plain.up.saturating_sub(m.payload_wire.up);
        let over_down = plain.down.saturating_sub(m.payload_wire.down);
        let label = parse_label(&m.transport);
        let kind = label.map(|(kind, _)| kind);
        let (ws, prefix, request, response) = match kind {
            Some(TransportKind::Ws) => (over_up + over_down, 0, 0, 0),
            Some(TransportKind::Raw) => (0, over_up + over_down, 0, 0),
            _ => (0, 0, over_up, over_down),
        };
        // What saturation cut off (never in a sound run) stays out of every part and the total.
        let payload = m.payload_wire.total();
        let wire = payload + ws + prefix + request + response + tls;
        let per =
            |bytes: u64| (deliveries > 0).then(|| round_figure(bytes as f64 / deliveries as f64));
        let (model, covers) = match label {
            // The model is of HTTP/1.1; HPACK's compression depends on the connection's history.
            Some((_, variant)) if variant.http2 || variant.http3 => {
                (None, "nothing: the model is of HTTP/1.1")
            }
            Some((kind, _)) => model(kind, m),
            None => (None, ""),
        };
        BytesRow {
            transport: m.transport.clone(),
            deliveries,
            wire_bytes: wire,
            payload_bytes: payload,
            ws_framing_bytes: ws,
            length_prefix_bytes: prefix,
            http_request_bytes: request,
            http_response_bytes: response,
            tls_bytes: tls,
            wire_per_delivery: per(wire),
            payload_per_delivery: per(payload),
            ws_framing_per_delivery: per(ws),
            length_prefix_per_delivery: per(prefix),
            http_request_per_delivery: per(request),
            http_response_per_delivery: per(response),
            tls_per_delivery: per(tls),
            model_overhead_per_delivery: model.and_then(|bytes| per_f(bytes, deliveries)),
            model_covers: covers.to_owned(),
        }
    }
}

/// One row per transport, in run order.
pub fn rows(metrics: &[TransportMetrics]) -> Vec<BytesRow> {
    metrics.iter().map(BytesRow::new).collect()
}

fn per_f(bytes: f64, deliveries: u64) -> Option<f64> {
    (deliveries > 0).then(|| round_figure(bytes / deliveries as f64))
}

/// The model's overhead bytes of the whole run for `kind`, and what it covers.
fn model(kind: TransportKind, m: &TransportMetrics) -> (Option<f64>, &'static str) {
    let size = m.payload_bytes;
    let delivered = m.clients.counts.delivery.delivered as f64;
    // Sequence numbers and cursors count every message of the run; the in-window count gives
    // their number of digits closely enough.
    let seq = m.messages_published;
    match kind {
        TransportKind::Ws => (
            Some(
                m.messages_published as f64 * client_frame_overhead(size) as f64
                    + delivered * server_frame_overhead(size) as f64,
            ),
            "ws_framing: one masked frame header per publish, one frame header per delivery",
        ),
        TransportKind::LongPoll | TransportKind::ShortPoll => {
            let r = &m.clients;
            let carried = r.counts.messages_in_responses.max(1);
            let body =
                r.counts.messages_in_responses as f64 * (size + batch::framing_len(size)) as f64;
            let full_head = |content_length: usize| {
                http::PollHead {
                    next_cursor: seq,
                    missed: 0,
                    reset: false,
                    content_length,
                }
                .encoded_len() as f64
            };
            let per_full = if r.counts.responses_with_messages > 0 {
                body as usize / r.counts.responses_with_messages as usize
            } else {
                0
            };
            // Heads and netstrings of every response, shared out over the messages they carried.
            let all = r.counts.responses_with_messages as f64 * full_head(per_full)
                + r.counts.empty_polls as f64 * full_head(0)
                + r.counts.messages_in_responses as f64 * batch::framing_len(size) as f64;
            (
                Some(all * delivered / carried as f64),
                "http_response: poll response heads and netstrings (requests and publish answers not modelled)",
            )
        }
        TransportKind::Raw => (
            Some((m.messages_published as f64 + delivered) * raw::PREFIX as f64),
            "length_prefix: 4 bytes per publish and per delivery",
        ),
        TransportKind::SocketIo | TransportKind::Nchan | TransportKind::Template => {
            (None, "another stack's protocol: no byte model")
        }
        TransportKind::Sse => (
            Some(delivered * http::sse_event_overhead(seq) as f64),
            "http_response: SSE event framing per delivery (chunk framing per batch not modelled)",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::tests;

    /// The summary's sample without TLS, as a plain transport's metrics are.
    fn sample(label: &str) -> TransportMetrics {
        TransportMetrics {
            tls: None,
            ..tests::sample(label)
        }
    }

    #[test]
    fn parts_add_up_to_the_wire_bytes() {
        for label in ["ws", "longpoll", "sse"] {
            let m = sample(label);
            let row = BytesRow::new(&m);
            assert_eq!(row.wire_bytes, m.wire.total(), "{label}");
            assert_eq!(
                row.payload_bytes
                    + row.ws_framing_bytes
                    + row.http_request_bytes
                    + row.http_response_bytes
                    + row.tls_bytes,
                row.wire_bytes
            );
            assert_eq!(row.payload_bytes, 640 + 3200);
            assert_eq!(row.wire_per_delivery, Some(140.0));
        }
        let ws = BytesRow::new(&sample("ws"));
        assert_eq!(ws.ws_framing_bytes, 7000 - 3840);
        // 10 publishes × 6 B + 50 deliveries × 2 B over 50 deliveries.
        assert_eq!(ws.model_overhead_per_delivery, Some(3.2));
        let lp = BytesRow::new(&sample("longpoll"));
        assert_eq!(
            (lp.http_request_bytes, lp.http_response_bytes),
            (2000 - 640, 5000 - 3200)
        );
        assert_eq!(lp.ws_framing_bytes, 0);
        let sse = BytesRow::new(&sample("sse"));
        // `id: 10\ndata: ` + `\n\n` per event.
        assert_eq!(sse.model_overhead_per_delivery, Some(15.0));
    }

    #[test]
    fn tls_is_what_lies_below_the_plaintext_and_h2_has_no_model() {
        let mut m = sample("longpoll-h2-tls");
        m.tls = Some(crate::metrics::TlsFigures {
            plaintext: crate::metrics::WireBytes {
                up: 1500,
                down: 4000,
            },
            handshakes: 50,
            handshake_total: std::time::Duration::from_millis(100),
        });
        let row = BytesRow::new(&m);
        assert_eq!(row.wire_bytes, m.wire.total());
        assert_eq!(row.tls_bytes, m.wire.total() - 5500);
        assert_eq!(
            (row.http_request_bytes, row.http_response_bytes),
            (1500 - 640, 4000 - 3200)
        );
        assert_eq!(row.model_overhead_per_delivery, None);
        assert_eq!(row.model_covers, "nothing: the model is of HTTP/1.1");
        // TLS alone keeps the HTTP/1.1 model of the plaintext.
        m.transport = "longpoll-tls".into();
        assert!(BytesRow::new(&m).model_overhead_per_delivery.is_some());
    }
}
