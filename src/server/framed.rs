//! How the WebSocket server (and the server with every transport) keeps a published message:
//! as the exact frame it sends, encoded once — header and payload in one shared buffer — so a
//! broadcast to ten thousand connections writes the same bytes ten thousand times and frames
//! them once. HTTP readers of the same hub get the payload as a view into that buffer.

use bytes::Bytes;

use std::sync::OnceLock;

use super::fanout::{Form, OnWire};
use super::hub::Payload;
use super::relay::Codec;
use crate::codec::ws::{DataOp, OpCode, encode_frame, utf8};

/// A published message as the unmasked server frame that carries it.
#[derive(Debug, Clone)]
pub struct Framed {
    frame: Bytes,
    /// Bytes of the frame header: the payload starts here.
    header: u8,
    /// The message compressed without context (permessage-deflate), made by the first
    /// connection that needs it and sent to every other one: its window bits and frame.
    deflated: OnceLock<(u8, Bytes)>,
}

/// Equal when the frames are: the compressed form is a cache.
impl PartialEq for Framed {
    fn eq(&self, other: &Framed) -> bool {
        self.frame == other.frame
    }
}

impl Eq for Framed {}

impl Framed {
    /// `payload` framed as a text (`text`) or binary message; the payload is copied once, into
    /// the frame, so the message never keeps alive the read buffer it came from.
    pub fn new(payload: &[u8], text: bool) -> Framed {
        let op = if text { DataOp::Text } else { DataOp::Binary };
        let mut frame = Vec::with_capacity(payload.len() + 10);
        // A data frame of any length has a valid header (64-bit lengths); only control frames
        // are bounded, and these are never control frames.
        encode_frame(&mut frame, OpCode::Data(op), payload, None)
            .expect("a data frame's header always encodes");
        let header = (frame.len() - payload.len()) as u8;
        Framed {
            frame: Bytes::from(frame),
            header,
            deflated: OnceLock::new(),
        }
    }

    /// The whole frame, as it goes on the wire.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }

    /// Whether it is a text message (else binary): what a backplane carries besides the payload.
    pub fn is_text(&self) -> bool {
        self.frame.first().is_some_and(|b| b & 0x0f == 0x1)
    }

    /// How the message crosses a backplane: payload and text flag, framed again on arrival.
    pub const RELAYED: Codec<Framed> = Codec {
        payload: |m| m.payload(),
        text: Framed::is_text,
        rebuild: |payload, text| Framed::new(&payload, text),
    };
}

/// A `POST /publish` body (on the server with every transport) becomes a text message when it is
/// UTF-8, so a browser gets a string whichever transport its sender used; anything else binary.
impl Payload for Framed {
    fn from_body(body: Bytes) -> Self {
        Framed::new(&body, utf8::validate(&body).is_ok())
    }

    fn payload(&self) -> &[u8] {
        &self.frame[usize::from(self.header)..]
    }
}

impl OnWire for Framed {
    fn on_wire(&self) -> &[u8] {
        &self.frame
    }

    /// The compressed frame is made once per message and window; a connection that asked for
    /// another window than the first one gets the plain frame (RFC 7692 lets any message go
    /// uncompressed), so one message is never compressed twice.
    fn on_wire_as(&self, form: Form) -> &[u8] {
        let Form::Deflated(bits) = form else {
            return &self.frame;
        };
        let (made, frame) = self.deflated.get_or_init(|| {
            let frame = super::deflate::shared_frame(self.payload(), self.is_text(), bits);
            (bits, frame)
        });
        if *made == bits { frame } else { &self.frame }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_framed_once_and_its_payload_is_a_view_of_the_frame() {
        let text = Framed::new(b"hello", true);
        assert_eq!(&text.frame()[..], b"\x81\x05hello");
        assert_eq!(text.payload(), b"hello");
        let long = Framed::new(&[7u8; 300], false);
        assert_eq!(&long.frame()[..4], [0x82, 126, 1, 44]);
        assert_eq!(long.payload(), &[7u8; 300][..]);
        // Bodies: UTF-8 becomes text, anything else binary.
        assert_eq!(
            Framed::from_body(Bytes::from_static("你好".as_bytes())).frame()[0],
            0x81
        );
        assert_eq!(
            Framed::from_body(Bytes::from_static(&[0xff])).frame()[0],
            0x82
        );
    }
}
