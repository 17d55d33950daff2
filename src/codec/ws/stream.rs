//! The streaming decoder: bytes as they come off a socket in, complete messages out.
//!
//! Owns the read buffer and the connection-level rules: which side must mask, no RSV bits but
//! RSV1 on a message's first frame once permessage-deflate is negotiated
//! ([`Decoder::set_inflater`]; such a message is inflated, bounded, before it is handed out), fragments joined in order with control frames allowed between
//! them, nothing after a close, and the frame and message size limits. It does no I/O: the caller
//! reads into [`Decoder::read_buf`] and reports the count with [`Decoder::commit`] (or copies in
//! with [`Decoder::feed`]), then calls [`Decoder::next_message`] until it returns `Ok(None)`.
//!
//! Small messages that arrive back to back are the common case, so a read may hold hundreds of
//! frames: each one is parsed, unmasked and validated where it lies in the buffer and handed out
//! as a borrowed [`Message`], with no copy and no allocation. Only a fragmented message is copied
//! (into a second buffer, to join it). The buffer is zero-filled only when it grows, never per
//! read, and it grows to hold at most one frame plus one read.

use super::deflate::{InflateError, Inflater, RSV1};
use super::frame::{self, CloseError, Message};
use super::header::{FrameHeader, HeaderError};
use super::mask::apply_mask;
use super::opcode::{ControlOp, DataOp, OpCode};
use super::utf8;

/// Which end of the connection the decoder is on; it decides which frames must be masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We are the client: frames come from the server and must not be masked.
    Client,
    /// We are the server: frames come from a client and must be masked.
    Server,
}

/// How a [`Decoder`] reads and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Which end we are.
    pub role: Role,
    /// Largest frame payload accepted, in bytes; a larger one fails before it is buffered.
    pub max_frame_bytes: usize,
    /// Largest message accepted, in bytes, after joining fragments.
    pub max_message_bytes: usize,
    /// Free space [`Decoder::read_buf`] offers for one read, in bytes (more if a frame needs it).
    pub read_chunk_bytes: usize,
}

impl Config {
    /// A client's decoder: 1 MiB frames and messages, 4 KiB reads (small, because thousands of
    /// connections each keep a buffer).
    pub fn client() -> Config {
        Config {
            role: Role::Client,
            max_frame_bytes: 1 << 20,
            max_message_bytes: 1 << 20,
            read_chunk_bytes: 4096,
        }
    }

    /// A server's decoder with the same limits.
    pub fn server() -> Config {
        Config {
            role: Role::Server,
            ..Config::client()
        }
    }
}

/// Why the byte stream is not an acceptable WebSocket stream. Every case is fatal: send a close
/// frame with [`DecodeError::close_code`] and drop the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A malformed header.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// RSV bits set, but no extension was negotiated.
    #[error("reserved bits {0:#05b} set without a negotiated extension")]
    ReservedBits(u8),
    /// A masked frame from the server (RFC 6455 §5.1: the client must fail the connection).
    #[error("masked frame from the server")]
    MaskedFrame,
    /// An unmasked frame from a client.
    #[error("unmasked frame from a client")]
    UnmaskedFrame,
    /// A frame over [`Config::max_frame_bytes`].
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// Announced payload length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A message over [`Config::max_message_bytes`].
    #[error("message of at least {len} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// Bytes of the message so far.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A continuation frame with no fragmented message open.
    #[error("continuation frame without a message to continue")]
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is still open.
    #[error("new data frame before the fragmented message was finished")]
    ExpectedContinuation,
    /// A text message that is not UTF-8.
    #[error("text message is not valid UTF-8")]
    InvalidUtf8,
    /// A malformed close frame.
    #[error("invalid close frame: {0}")]
    Close(#[from] CloseError),
    /// Bytes after a close frame.
    #[error("data after the close frame")]
    AfterClose,
    /// A compressed message that inflates past the limit, or is not DEFLATE data.
    #[error(transparent)]
    Inflate(#[from] InflateError),
}

impl DecodeError {
    /// The close code to fail the connection with: 1007 for invalid text, 1009 for a frame or
    /// message over a limit, 1002 (protocol error) for everything else.
    pub fn close_code(&self) -> u16 {
        match self {
            DecodeError::InvalidUtf8 | DecodeError::Close(CloseError::Reason(_)) => 1007,
            DecodeError::FrameTooLarge { .. }
            | DecodeError::MessageTooLarge { .. }
            | DecodeError::Inflate(InflateError::TooLarge { .. }) => 1009,
            _ => 1002,
        }
    }
}

/// The kind of a fragmented message being joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Binary,
}

/// A buffer this many read chunks large is given back once it is empty.
const SHRINK_AFTER_CHUNKS: usize = 16;

/// Parses frames out of a byte stream; see the module documentation for the calling pattern.
#[derive(Debug)]
pub struct Decoder {
    config: Config,
    /// Read buffer; `buf[start..end]` holds bytes not yet decoded, `buf[end..]` is free space.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Total bytes (header and payload) of the incomplete frame at `start`, 0 if not yet known.
    want: usize,
    /// The fragments of an open message, joined.
    fragments: Vec<u8>,
    /// `Some` while a fragmented message is open.
    open: Option<Kind>,
    /// A joined message was handed out from `fragments`; clear it on the next call.
    release_fragments: bool,
    /// A close frame was handed out.
    closed: bool,
    /// permessage-deflate, once negotiated: what inflates RSV1 messages.
    inflater: Option<Box<Inflater>>,
    /// The open fragmented message is compressed.
    open_compressed: bool,
    /// The last compressed message, inflated; cleared on the next call.
    inflated: Vec<u8>,
}

impl Decoder {
    /// An empty decoder; nothing is allocated until the first read.
    pub fn new(config: Config) -> Decoder {
        Decoder {
            config,
            buf: Vec::new(),
            start: 0,
            end: 0,
            want: 0,
            fragments: Vec::new(),
            open: None,
            release_fragments: false,
            closed: false,
            inflater: None,
            open_compressed: false,
            inflated: Vec::new(),
        }
    }

    /// Accepts compressed messages (RSV1) from now on, inflated by `inflater` within
    /// [`Config::max_message_bytes`]: permessage-deflate was negotiated.
    pub fn set_inflater(&mut self, inflater: Inflater) {
        self.inflater = Some(Box::new(inflater));
    }

    /// The settings it was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Bytes received but not yet decoded (the start of an incomplete frame).
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Whether a close frame has been decoded; nothing may follow it.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Free space to read into: at least [`Config::read_chunk_bytes`], or what the incomplete
    /// frame still needs if that is more. Report what was written with [`Decoder::commit`].
    pub fn read_buf(&mut self) -> &mut [u8] {
        let room = self
            .config
            .read_chunk_bytes
            .max(1)
            .max(self.want.saturating_sub(self.end - self.start));
        self.make_room(room);
        &mut self.buf[self.end..]
    }

    /// Makes `buf[end..]` at least `room` bytes: first by moving undecoded bytes to the front,
    /// then by growing (zero-filled once, here, never per read).
    fn make_room(&mut self, room: usize) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            let big = SHRINK_AFTER_CHUNKS * self.config.read_chunk_bytes;
            if self.buf.len() > big && room <= big {
                self.buf = Vec::new();
            }
        }
        if self.buf.len() - self.end < room {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < room {
                self.buf.resize(self.end + room, 0);
            }
        }
    }

    /// Marks `n` bytes at the start of the last [`Decoder::read_buf`] as received.
    ///
    /// # Panics
    /// If `n` is larger than that space: the caller reported more than it could have read.
    pub fn commit(&mut self, n: usize) {
        assert!(
            n <= self.buf.len() - self.end,
            "committed {n} bytes into {} bytes of space",
            self.buf.len() - self.end
        );
        self.end += n;
    }

    /// Frees the read buffer if it holds nothing undecoded, so that a connection waiting for its
    /// next read keeps no buffer (callers that read through [`Decoder::feed`] from a buffer of
    /// their own). The next [`Decoder::feed`] or [`Decoder::read_buf`] allocates again.
    pub fn release_if_empty(&mut self) {
        if self.start == self.end {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
    }

    /// Copies `bytes` in, as if read from the socket.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.make_room(bytes.len());
        self.buf[self.end..self.end + bytes.len()].copy_from_slice(bytes);
        self.end += bytes.len();
    }

    /// The next complete message or control frame, `Ok(None)` when more bytes are needed.
    /// Call it until `Ok(None)` before reading again, or the buffer grows with every read.
    pub fn next_message(&mut self) -> Result<Option<Message<'_>>, DecodeError> {
        if self.release_fragments {
            self.release_fragments = false;
            self.fragments.clear();
            if self.fragments.capacity() > SHRINK_AFTER_CHUNKS * self.config.read_chunk_bytes {
                self.fragments = Vec::new();
            }
        }
        if !self.inflated.is_empty() {
            self.inflated.clear();
            if self.inflated.capacity() > SHRINK_AFTER_CHUNKS * self.config.read_chunk_bytes {
                self.inflated = Vec::new();
            }
        }
        loop {
            let available = &self.buf[self.start..self.end];
            if available.is_empty() {
                return Ok(None);
            }
            if self.closed {
                return Err(DecodeError::AfterClose);
            }
            let Some((header, head_len)) = FrameHeader::decode(available)? else {
                return Ok(None);
            };
            self.check(&header)?;
            let compressed = header.rsv() == RSV1;
            // `check` bounded the length by `max_frame_bytes`, a usize.
            let total = head_len.saturating_add(header.payload_len() as usize);
            if available.len() < total {
                self.want = total;
                return Ok(None);
            }
            self.want = 0;
            let payload = self.start + head_len..self.start + total;
            self.start += total;
            if let Some(key) = header.mask() {
                apply_mask(&mut self.buf[payload.clone()], key);
            }
            let fin = header.fin();
            match header.opcode() {
                OpCode::Control(op) => {
                    let bytes = &self.buf[payload];
                    return Ok(Some(match op {
                        ControlOp::Ping => Message::Ping(bytes),
                        ControlOp::Pong => Message::Pong(bytes),
                        ControlOp::Close => {
                            self.closed = true;
                            Message::Close(frame::parse_close(bytes)?)
                        }
                    }));
                }
                OpCode::Data(DataOp::Continuation) => {
                    let kind = self.open.ok_or(DecodeError::UnexpectedContinuation)?;
                    self.check_message_len(self.fragments.len() + payload.len())?;
                    self.fragments.extend_from_slice(&self.buf[payload]);
                    if fin {
                        self.open = None;
                        self.release_fragments = true;
                        if std::mem::take(&mut self.open_compressed) {
                            let max = self.config.max_message_bytes;
                            if let Some(inflater) = self.inflater.as_mut() {
                                inflater.inflate(&self.fragments, &mut self.inflated, max)?;
                            }
                            return message(kind, &self.inflated).map(Some);
                        }
                        return message(kind, &self.fragments).map(Some);
                    }
                }
                OpCode::Data(op) => {
                    if self.open.is_some() {
                        return Err(DecodeError::ExpectedContinuation);
                    }
                    self.check_message_len(payload.len())?;
                    let kind = if op == DataOp::Text {
                        Kind::Text
                    } else {
                        Kind::Binary
                    };
                    if fin && compressed {
                        let max = self.config.max_message_bytes;
                        if let Some(inflater) = self.inflater.as_mut() {
                            inflater.inflate(&self.buf[payload], &mut self.inflated, max)?;
                        }
                        return message(kind, &self.inflated).map(Some);
                    }
                    if fin {
                        return message(kind, &self.buf[payload]).map(Some);
                    }
                    self.fragments.extend_from_slice(&self.buf[payload]);
                    self.open = Some(kind);
                    self.open_compressed = compressed;
                }
            }
        }
    }

    /// The connection-level rules a header must meet before its payload is waited for.
    fn check(&self, header: &FrameHeader) -> Result<(), DecodeError> {
        // RSV1 only with permessage-deflate, and only on a message's first frame.
        let first_data = matches!(header.opcode(), OpCode::Data(op) if op != DataOp::Continuation);
        let deflate = self.inflater.is_some() && first_data && header.rsv() == RSV1;
        if header.rsv() != 0 && !deflate {
            return Err(DecodeError::ReservedBits(header.rsv()));
        }
        match (self.config.role, header.mask().is_some()) {
            (Role::Client, true) => return Err(DecodeError::MaskedFrame),
            (Role::Server, false) => return Err(DecodeError::UnmaskedFrame),
            _ => {}
        }
        if header.payload_len() > self.config.max_frame_bytes as u64 {
            return Err(DecodeError::FrameTooLarge {
                len: header.payload_len(),
                max: self.config.max_frame_bytes,
            });
        }
        Ok(())
    }

    fn check_message_len(&self, len: usize) -> Result<(), DecodeError> {
        if len > self.config.max_message_bytes {
            return Err(DecodeError::MessageTooLarge {
                len,
                max: self.config.max_message_bytes,
            });
        }
        Ok(())
    }
}

fn message(kind: Kind, bytes: &[u8]) -> Result<Message<'_>, DecodeError> {
    Ok(match kind {
        Kind::Text => Message::Text(utf8::validate(bytes).map_err(|_| DecodeError::InvalidUtf8)?),
        Kind::Binary => Message::Binary(bytes),
    })
}
