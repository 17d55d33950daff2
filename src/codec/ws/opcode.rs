//! Opcodes (RFC 6455 §5.2, §11.8) as types: data vs control is a type distinction, and the
//! reserved values have no representation, so code that holds an [`OpCode`] never checks for them.
//!
//! Owns the 4-bit values and nothing else; the header rules live in [`super::header`].

/// The opcodes of data frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataOp {
    /// 0x0: a later fragment of a message started by a text or binary frame.
    Continuation,
    /// 0x1: the first (or only) frame of a UTF-8 text message.
    Text,
    /// 0x2: the first (or only) frame of a binary message.
    Binary,
}

/// The opcodes of control frames: at most 125 bytes of payload, never fragmented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlOp {
    /// 0x8: the peer is closing the connection.
    Close,
    /// 0x9: the peer asks for a pong with the same payload.
    Ping,
    /// 0xA: an answer to a ping (or an unsolicited heartbeat).
    Pong,
}

/// A defined opcode. The reserved values (0x3–0x7, 0xB–0xF) have no representation: decoding
/// rejects them, so no code downstream has to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// A data frame.
    Data(DataOp),
    /// A control frame.
    Control(ControlOp),
}

impl OpCode {
    /// The opcode for the low nibble `bits`, or `None` for a reserved value.
    pub const fn from_bits(bits: u8) -> Option<OpCode> {
        Some(match bits {
            0x0 => OpCode::Data(DataOp::Continuation),
            0x1 => OpCode::Data(DataOp::Text),
            0x2 => OpCode::Data(DataOp::Binary),
            0x8 => OpCode::Control(ControlOp::Close),
            0x9 => OpCode::Control(ControlOp::Ping),
            0xA => OpCode::Control(ControlOp::Pong),
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub const fn bits(self) -> u8 {
        match self {
            OpCode::Data(DataOp::Continuation) => 0x0,
            OpCode::Data(DataOp::Text) => 0x1,
            OpCode::Data(DataOp::Binary) => 0x2,
            OpCode::Control(ControlOp::Close) => 0x8,
            OpCode::Control(ControlOp::Ping) => 0x9,
            OpCode::Control(ControlOp::Pong) => 0xA,
        }
    }

    /// Whether this is a control opcode (bit 3 set).
    pub const fn is_control(self) -> bool {
        matches!(self, OpCode::Control(_))
    }
}
