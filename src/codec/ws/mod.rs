//! Our own RFC 6455 frame codec: headers, masking, UTF-8, a streaming decoder and the framing
//! overhead model. Pure: no tokio, no I/O, no allocation on the hot path.
//!
//! It exists because the load generator reads thousands of sockets of small messages, where
//! tungstenite's per-frame costs (header parsing through `Read`, zero-filled read buffers, a copy
//! before unmasking) show up in the CPU the generator spends per delivery; `benches/codec.rs`
//! measures each step against tungstenite 0.30. It does not do the opening handshake (HTTP), and
//! it does not pick mask keys: a client supplies its own.
//!
//! # Layout
//! - [`opcode`]: opcodes as types.
//! - [`header`]: [`FrameHeader`] encode into a caller's array / decode from a
//!   slice, header-level rules (reserved opcodes, control frames, minimal lengths).
//! - [`mask`]: in-place masking, word loop plus (in `simd.rs`, the crate's only `unsafe`) an
//!   AVX2 build of it picked at run time.
//! - [`utf8`]: text validation with simdutf8.
//! - [`frame`]: [`Message`] (what the decoder yields), close payloads, [`encode_frame`].
//! - [`stream`]: [`Decoder`], many frames out of one read buffer, with size limits.
//! - [`overhead`]: framing bytes per message, for the report.
//! - [`deflate`]: permessage-deflate (RFC 7692): compressing and (bounded) inflating a message.
//! - [`negotiate`]: the extension's offer and answer.
//!
//! # Example: a client reading what a server sent
//! ```
//! use wsbench::codec::ws::{Config, Decoder, Message};
//!
//! let mut decoder = Decoder::new(Config::client());
//! // Normally: `let n = socket.read(decoder.read_buf()).await?; decoder.commit(n);`
//! decoder.feed(&[0x81, 0x05, b'H', b'e', b'l', b'l', b'o', 0x89, 0x00]);
//! assert_eq!(decoder.next_message(), Ok(Some(Message::Text("Hello"))));
//! assert_eq!(decoder.next_message(), Ok(Some(Message::Ping(b""))));
//! assert_eq!(decoder.next_message(), Ok(None));
//! ```

pub mod deflate;
pub mod frame;
pub mod header;
pub mod mask;
pub mod negotiate;
pub mod opcode;
pub mod overhead;
#[cfg(target_arch = "x86_64")]
mod simd;
pub mod stream;
pub mod utf8;

#[cfg(test)]
mod tests;

pub use frame::{CloseError, CloseFrame, Message, encode_close, encode_frame};
pub use header::{FrameHeader, HeaderError, MAX_HEADER_LEN};
pub use mask::apply_mask;
pub use opcode::{ControlOp, DataOp, OpCode};
pub use stream::{Config, DecodeError, Decoder, Role};
