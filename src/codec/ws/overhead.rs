//! The analytic model of WebSocket framing bytes: what framing a message costs on the wire, in
//! each direction, so a report can split measured bytes into payload and overhead.
//!
//! Owns arithmetic only; the byte layout it counts is [`super::header`]'s. It counts frame
//! headers of unfragmented messages (how every known server sends small messages), not TCP/IP
//! headers, the handshake, pings or the closing handshake, which happen once per connection or
//! on a timer. `tests/all/ws_codec.rs` checks it against the built-in server's real bytes.

use super::header::encoded_len;

/// Framing bytes of one frame sent by a server (unmasked): 2, 4 or 10.
pub const fn server_frame_overhead(payload_bytes: usize) -> usize {
    encoded_len(payload_bytes as u64, false)
}

/// Framing bytes of one frame sent by a client (masked): 6, 8 or 14.
pub const fn client_frame_overhead(payload_bytes: usize) -> usize {
    encoded_len(payload_bytes as u64, true)
}

/// Framing of one broadcast message, both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroadcastOverhead {
    /// Framing bytes the publisher sends (one masked frame).
    pub upstream_bytes: usize,
    /// Framing bytes the server sends to each subscriber (one unmasked frame each).
    pub downstream_bytes_each: usize,
    /// Framing bytes the server sends in all: `downstream_bytes_each × subscribers`.
    pub downstream_bytes_total: usize,
}

/// Framing bytes of publishing one message of `published_bytes` and delivering it, as
/// `delivered_bytes` (more if the server adds a prefix), to `subscribers` clients.
pub const fn broadcast_overhead(
    published_bytes: usize,
    delivered_bytes: usize,
    subscribers: usize,
) -> BroadcastOverhead {
    let each = server_frame_overhead(delivered_bytes);
    BroadcastOverhead {
        upstream_bytes: client_frame_overhead(published_bytes),
        downstream_bytes_each: each,
        downstream_bytes_total: each * subscribers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_length_form() {
        assert_eq!(server_frame_overhead(0), 2);
        assert_eq!(server_frame_overhead(125), 2);
        assert_eq!(server_frame_overhead(126), 4);
        assert_eq!(server_frame_overhead(65535), 4);
        assert_eq!(server_frame_overhead(65536), 10);
        assert_eq!(client_frame_overhead(64), 6);
        assert_eq!(client_frame_overhead(126), 8);
        assert_eq!(client_frame_overhead(1 << 20), 14);
        // PERFORMANCE.md: 87 bytes per delivery for 21 + 64 bytes of payload.
        assert_eq!(server_frame_overhead(85) + 85, 87);
        assert_eq!(
            broadcast_overhead(64, 64, 1000),
            BroadcastOverhead {
                upstream_bytes: 6,
                downstream_bytes_each: 2,
                downstream_bytes_total: 2000,
            }
        );
    }
}
