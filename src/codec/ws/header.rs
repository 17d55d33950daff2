//! The RFC 6455 §5.2 frame header: opcodes as types, and encode/decode on plain byte slices.
//!
//! Owns the wire layout of the 2–14 header bytes and the rules that a header alone can break
//! (reserved opcodes, control frames longer than 125 bytes or fragmented, non-minimal or too large
//! lengths). It does not own what a connection allows: whether RSV bits or a mask are acceptable
//! depends on the role and negotiated extensions, so [`super::stream`] decides that.
//!
//! Encoding writes into a caller's fixed array and never allocates; decoding reads from a slice
//! and says "need more bytes" with `Ok(None)`, which is an expected event, not an error.

/// The longest header: 2 bytes, an 8-byte extended length, a 4-byte mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload a control frame (close, ping, pong) may carry (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

use super::opcode::{ControlOp, OpCode};

/// Why a header is not a valid RFC 6455 header. Any of these means the peer does not speak the
/// protocol: fail the connection (close code 1002).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The opcode nibble holds a reserved value (0x3–0x7, 0xB–0xF).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A control frame without FIN: control frames must not be fragmented.
    #[error("fragmented {0:?} frame")]
    FragmentedControl(ControlOp),
    /// A control frame announcing more than 125 bytes of payload.
    #[error("{op:?} frame of {len} bytes (control frames carry at most 125)")]
    ControlTooLong {
        /// Which control frame.
        op: ControlOp,
        /// The announced payload length, or 126/127 when the extended form was used.
        len: u64,
    },
    /// An extended length that would have fit in a shorter form (RFC 6455 §5.2: "the minimal
    /// number of bytes MUST be used").
    #[error("non-minimal length encoding: {len} in the {extended_bytes}-byte form")]
    NonMinimalLength {
        /// The decoded length.
        len: u64,
        /// 2 or 8: the form that was used.
        extended_bytes: u8,
    },
    /// A 64-bit length with its most significant bit set (RFC 6455 §5.2 forbids it).
    #[error("payload length {0} has the most significant bit set")]
    LengthTooLarge(u64),
}

/// A validated frame header: a value of this type always encodes to a valid RFC 6455 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    fin: bool,
    rsv: u8,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload_len: u64,
}

impl FrameHeader {
    /// A header for a frame of `payload_len` bytes, masked with `mask` if given (client to
    /// server). Fails for a fragmented or longer-than-125-byte control frame and for a length
    /// of 2^63 or more.
    pub fn new(
        opcode: OpCode,
        fin: bool,
        payload_len: u64,
        mask: Option<[u8; 4]>,
    ) -> Result<FrameHeader, HeaderError> {
        if let OpCode::Control(op) = opcode {
            if !fin {
                return Err(HeaderError::FragmentedControl(op));
            }
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(HeaderError::ControlTooLong {
                    op,
                    len: payload_len,
                });
            }
        }
        if payload_len >> 63 != 0 {
            return Err(HeaderError::LengthTooLarge(payload_len));
        }
        Ok(FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len,
        })
    }

    /// The same header with the RSV1–RSV3 bits set to the low three bits of `bits` (RSV1 is
    /// 0b100). Only meaningful with a negotiated extension.
    pub fn with_rsv(self, bits: u8) -> FrameHeader {
        FrameHeader {
            rsv: bits & 0b111,
            ..self
        }
    }

    /// FIN: this is the last frame of its message.
    pub fn fin(&self) -> bool {
        self.fin
    }

    /// RSV1–RSV3 as three bits (RSV1 is 0b100).
    pub fn rsv(&self) -> u8 {
        self.rsv
    }

    /// What the frame is.
    pub fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The masking key; frames from a client carry one, frames from a server do not.
    pub fn mask(&self) -> Option<[u8; 4]> {
        self.mask
    }

    /// Bytes of payload that follow the header.
    pub fn payload_len(&self) -> u64 {
        self.payload_len
    }

    /// How many bytes [`FrameHeader::encode`] writes: 2, 4 or 10, plus 4 with a mask.
    pub fn encoded_len(&self) -> usize {
        encoded_len(self.payload_len, self.mask.is_some())
    }

    /// Writes the header into `out` and returns how many bytes it took.
    #[inline]
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7) | (self.rsv << 4) | self.opcode.bits();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.payload_len;
        let mut at = if len < 126 {
            out[1] = mask_bit | len as u8;
            2
        } else if len <= u64::from(u16::MAX) {
            out[1] = mask_bit | 126;
            out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        } else {
            out[1] = mask_bit | 127;
            out[2..10].copy_from_slice(&len.to_be_bytes());
            10
        };
        if let Some(mask) = self.mask {
            out[at..at + 4].copy_from_slice(&mask);
            at += 4;
        }
        at
    }

    /// Reads a header from the start of `buf`: `Ok(Some((header, header_len)))`, or `Ok(None)`
    /// when `buf` ends before the header does. Nothing is consumed; the payload starts at
    /// `buf[header_len..]` and may not have arrived yet.
    #[inline]
    pub fn decode(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, HeaderError> {
        let &[b0, b1, ..] = buf else {
            return Ok(None);
        };
        let opcode = OpCode::from_bits(b0 & 0x0F).ok_or(HeaderError::ReservedOpcode(b0 & 0x0F))?;
        let fin = b0 & 0x80 != 0;
        let short_len = b1 & 0x7F;
        if let OpCode::Control(op) = opcode {
            // Checked before the extended length arrives: a bad control frame fails at once.
            if !fin {
                return Err(HeaderError::FragmentedControl(op));
            }
            if short_len as usize > MAX_CONTROL_PAYLOAD {
                return Err(HeaderError::ControlTooLong {
                    op,
                    len: u64::from(short_len),
                });
            }
        }
        let (payload_len, mut at) = match short_len {
            126 => {
                let Some(&[hi, lo]) = buf.get(2..4) else {
                    return Ok(None);
                };
                let len = u64::from(u16::from_be_bytes([hi, lo]));
                if len < 126 {
                    return Err(HeaderError::NonMinimalLength {
                        len,
                        extended_bytes: 2,
                    });
                }
                (len, 4)
            }
            127 => {
                let Some(bytes) = buf.get(2..10) else {
                    return Ok(None);
                };
                let len = u64::from_be_bytes(bytes.try_into().expect("the range is 8 bytes"));
                if len >> 63 != 0 {
                    return Err(HeaderError::LengthTooLarge(len));
                }
                if len <= u64::from(u16::MAX) {
                    return Err(HeaderError::NonMinimalLength {
                        len,
                        extended_bytes: 8,
                    });
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        let mask = if b1 & 0x80 != 0 {
            let Some(key) = buf.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            Some(key.try_into().expect("the range is 4 bytes"))
        } else {
            None
        };
        let header = FrameHeader {
            fin,
            rsv: (b0 >> 4) & 0b111,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, at)))
    }
}

/// Header bytes for a payload of `payload_len` bytes: 2, 4 or 10, plus 4 if `masked`.
pub const fn encoded_len(payload_len: u64, masked: bool) -> usize {
    let base = if payload_len < 126 {
        2
    } else if payload_len <= u16::MAX as u64 {
        4
    } else {
        10
    };
    if masked { base + 4 } else { base }
}

#[cfg(test)]
mod tests {
    use super::super::opcode::DataOp;
    use super::*;

    const TEXT: OpCode = OpCode::Data(DataOp::Text);
    const BINARY: OpCode = OpCode::Data(DataOp::Binary);
    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn encode(header: &FrameHeader) -> Vec<u8> {
        let mut out = [0u8; MAX_HEADER_LEN];
        let len = header.encode(&mut out);
        assert_eq!(len, header.encoded_len());
        out[..len].to_vec()
    }

    /// Encodes `header`, checks the bytes, and checks that they decode back, and only when whole.
    fn round_trip(header: FrameHeader, expected: &[u8]) {
        let bytes = encode(&header);
        assert_eq!(bytes, expected, "{header:?}");
        for cut in 0..bytes.len() {
            assert_eq!(FrameHeader::decode(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
        let mut with_payload = bytes.clone();
        with_payload.extend_from_slice(b"payload");
        assert_eq!(
            FrameHeader::decode(&with_payload),
            Ok(Some((header, bytes.len())))
        );
    }

    #[test]
    fn rfc_6455_section_5_7_headers() {
        let h = |op, fin, len, mask| FrameHeader::new(op, fin, len, mask).unwrap();
        round_trip(h(TEXT, true, 5, None), &[0x81, 0x05]);
        round_trip(
            h(TEXT, true, 5, Some(KEY)),
            &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d],
        );
        round_trip(h(TEXT, false, 3, None), &[0x01, 0x03]);
        let continuation = OpCode::Data(DataOp::Continuation);
        round_trip(h(continuation, true, 2, None), &[0x80, 0x02]);
        round_trip(
            h(OpCode::Control(ControlOp::Ping), true, 5, None),
            &[0x89, 0x05],
        );
        let pong = OpCode::Control(ControlOp::Pong);
        round_trip(
            h(pong, true, 5, Some(KEY)),
            &[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d],
        );
        round_trip(h(BINARY, true, 256, None), &[0x82, 0x7e, 0x01, 0x00]);
        round_trip(
            h(BINARY, true, 65536, None),
            &[0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00],
        );
    }

    #[test]
    fn every_length_boundary() {
        let cases: [(u64, &[u8]); 6] = [
            (0, &[0x82, 0x00]),
            (125, &[0x82, 0x7d]),
            (126, &[0x82, 0x7e, 0x00, 0x7e]),
            (65535, &[0x82, 0x7e, 0xff, 0xff]),
            (65536, &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]),
            (
                (1 << 63) - 1,
                &[0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ),
        ];
        for (len, bytes) in cases {
            round_trip(FrameHeader::new(BINARY, true, len, None).unwrap(), bytes);
            let masked = FrameHeader::new(BINARY, true, len, Some(KEY)).unwrap();
            let mut expected = bytes.to_vec();
            expected[1] |= 0x80;
            expected.extend_from_slice(&KEY);
            round_trip(masked, &expected);
            assert_eq!(encoded_len(len, false), bytes.len());
        }
    }

    #[test]
    fn keeps_rsv_bits_for_the_caller_to_judge() {
        let header = FrameHeader::new(TEXT, true, 1, None)
            .unwrap()
            .with_rsv(0b101);
        round_trip(header, &[0xd1, 0x01]);
        assert_eq!(header.rsv(), 0b101);
    }

    #[test]
    fn rejects_what_rfc_6455_forbids() {
        for op in [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf] {
            assert_eq!(
                FrameHeader::decode(&[0x80 | op, 0x00]),
                Err(HeaderError::ReservedOpcode(op))
            );
        }
        let ping = ControlOp::Ping;
        assert_eq!(
            FrameHeader::decode(&[0x09, 0x00]),
            Err(HeaderError::FragmentedControl(ping))
        );
        // Fails on the second byte, before the extended length arrives.
        assert_eq!(
            FrameHeader::decode(&[0x88, 0x7e]),
            Err(HeaderError::ControlTooLong {
                op: ControlOp::Close,
                len: 126
            })
        );
        assert_eq!(
            FrameHeader::decode(&[0x82, 0x7e, 0x00, 0x7d]),
            Err(HeaderError::NonMinimalLength {
                len: 125,
                extended_bytes: 2
            })
        );
        assert_eq!(
            FrameHeader::decode(&[0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff]),
            Err(HeaderError::NonMinimalLength {
                len: 65535,
                extended_bytes: 8
            })
        );
        assert_eq!(
            FrameHeader::decode(&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(HeaderError::LengthTooLarge(1 << 63))
        );
        let pong = OpCode::Control(ControlOp::Pong);
        assert!(FrameHeader::new(pong, false, 0, None).is_err());
        assert!(FrameHeader::new(pong, true, 126, None).is_err());
        assert!(FrameHeader::new(pong, true, 125, None).is_ok());
        assert!(FrameHeader::new(BINARY, true, 1 << 63, None).is_err());
    }

    #[test]
    fn opcode_bits_round_trip() {
        for bits in 0..16u8 {
            if let Some(op) = OpCode::from_bits(bits) {
                assert_eq!(op.bits(), bits);
                assert_eq!(op.is_control(), bits & 0x8 != 0);
            }
        }
    }
}
