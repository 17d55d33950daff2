//! Whole frames and messages: what the decoder yields ([`Message`]) and how a frame is written
//! ([`encode_frame`]), plus the close-frame payload rules (RFC 6455 §5.5.1, §7.4).
//!
//! Owns the meaning of payloads (a close code and reason, text vs binary); the byte layout of
//! headers belongs to [`super::header`] and masking to [`super::mask`].

use super::header::{FrameHeader, HeaderError, MAX_HEADER_LEN};
use super::mask::apply_mask;
use super::opcode::{ControlOp, OpCode};
use super::utf8::{self, InvalidUtf8};

/// One complete message or control frame, borrowed from the decoder's buffer: unmasked, its
/// text validated, its fragments joined. Valid until the decoder is used again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (valid UTF-8).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
    /// A ping: answer with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// The peer is closing; `None` when the close frame had no payload. Answer with a close
    /// frame and stop reading: the decoder accepts nothing after it.
    Close(Option<CloseFrame<'a>>),
}

/// The payload of a close frame that has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// The status code (1000 normal, 1001 going away, …); always one allowed on the wire.
    pub code: u16,
    /// Why, in UTF-8; often empty.
    pub reason: &'a str,
}

/// Why a close frame's payload is invalid. Fail the connection: 1002 for a bad length or code,
/// 1007 for a reason that is not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CloseError {
    /// A one-byte payload: a code needs two.
    #[error("close payload of 1 byte")]
    Truncated,
    /// A code that must not appear on the wire (below 1000, 1004–1006, 1015, unassigned ranges,
    /// 5000 and above).
    #[error("close code {0} is not allowed on the wire")]
    Code(u16),
    /// The reason is not UTF-8.
    #[error("close reason: {0}")]
    Reason(#[from] InvalidUtf8),
}

/// Whether `code` may be sent in a close frame: the RFC 6455 codes 1000–1003 and 1007–1011, the
/// IANA-registered 1012–1014, and the application ranges 3000–4999.
pub const fn close_code_allowed(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Parses a close frame's (unmasked) payload.
pub fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame<'_>>, CloseError> {
    match payload {
        [] => Ok(None),
        [_] => Err(CloseError::Truncated),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !close_code_allowed(code) {
                return Err(CloseError::Code(code));
            }
            Ok(Some(CloseFrame {
                code,
                reason: utf8::validate(reason)?,
            }))
        }
    }
}

/// Appends one unfragmented frame carrying `payload` to `out`, masked with `mask` if given (a
/// client must mask, a server must not). Fails only for a control frame over 125 bytes.
pub fn encode_frame(
    out: &mut Vec<u8>,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> Result<(), HeaderError> {
    let header = FrameHeader::new(opcode, true, payload.len() as u64, mask)?;
    let mut head = [0u8; MAX_HEADER_LEN];
    let head_len = header.encode(&mut head);
    out.reserve(head_len + payload.len());
    out.extend_from_slice(&head[..head_len]);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key);
    }
    Ok(())
}

/// Appends a close frame with `code` and `reason` (at most 123 bytes) to `out`.
pub fn encode_close(
    out: &mut Vec<u8>,
    code: u16,
    reason: &str,
    mask: Option<[u8; 4]>,
) -> Result<(), HeaderError> {
    let mut payload = Vec::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    encode_frame(out, OpCode::Control(ControlOp::Close), &payload, mask)
}

#[cfg(test)]
mod tests {
    use super::super::opcode::DataOp;
    use super::*;

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close(b""), Ok(None));
        assert_eq!(parse_close(b"\x03"), Err(CloseError::Truncated));
        assert_eq!(
            parse_close(b"\x03\xe8bye"),
            Ok(Some(CloseFrame {
                code: 1000,
                reason: "bye"
            }))
        );
        for bad in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            assert_eq!(
                parse_close(&bad.to_be_bytes()),
                Err(CloseError::Code(bad)),
                "{bad}"
            );
        }
        for good in [1000u16, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert!(parse_close(&good.to_be_bytes()).is_ok(), "{good}");
        }
        assert_eq!(
            parse_close(b"\x03\xe8\xff"),
            Err(CloseError::Reason(InvalidUtf8))
        );
    }

    #[test]
    fn encodes_whole_frames() {
        let mut out = Vec::new();
        encode_frame(&mut out, OpCode::Data(DataOp::Text), b"Hello", None).unwrap();
        let masked = Some([0x37, 0xfa, 0x21, 0x3d]);
        encode_frame(&mut out, OpCode::Data(DataOp::Text), b"Hello", masked).unwrap();
        encode_close(&mut out, 1001, "", None).unwrap();
        assert_eq!(
            out,
            [
                &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f][..],
                &[
                    0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
                ],
                &[0x88, 0x02, 0x03, 0xe9],
            ]
            .concat()
        );
        let too_long = [0u8; 126];
        assert!(encode_frame(&mut out, OpCode::Control(ControlOp::Ping), &too_long, None).is_err());
    }
}
