//! HTTP/1.1 as our client speaks it, pure: the request head it writes ([`request`]) and an
//! incremental response decoder ([`ResponseDecoder`]): the head through httparse, then the body
//! framed by `Content-Length`, chunked, or by the connection's close.
//!
//! No I/O and no buffering: the caller feeds whatever bytes it has, takes the events they
//! complete and keeps the bytes not consumed (a partial head, chunk-size line or CRLF) for the
//! next call. Body data is handed out where it lies in the caller's buffer, so a connection
//! copies nothing it can decode at once. Every input is bounded: a head over
//! [`MAX_HEAD_BYTES`], a chunk-size line over [`MAX_CHUNK_LINE_BYTES`] or a malformed length is an
//! error, never a growing buffer. Body size limits are the caller's (an event stream has none).

pub mod request;

use std::cmp::min;

pub use request::{Method, Request};

/// Largest response head accepted, blank line included (hyper's server takes 16 KiB heads too).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Most header fields in one response head.
const MAX_HEADERS: usize = 32;

/// Longest chunk-size line (hex size, any extensions, CRLF). A size needs at most 16 digits;
/// the rest allows modest extensions, which are ignored.
pub const MAX_CHUNK_LINE_BYTES: usize = 1024;

/// Why a response could not be decoded. Every case ends the connection: what follows on it
/// cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The head is not HTTP/1.x (httparse's reason), or has more than 32 fields.
    #[error("malformed response head: {0}")]
    BadHead(httparse::Error),
    /// The head is longer than [`MAX_HEAD_BYTES`] (or the trailer section is).
    #[error("response head longer than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    /// `Content-Length` is not a decimal number, or several disagree.
    #[error("malformed content-length")]
    BadContentLength,
    /// A chunk-size line is not hex, too long, or a chunk is not followed by CRLF.
    #[error("malformed chunk framing")]
    BadChunk,
    /// `101 Switching Protocols`, which no request of ours asks for.
    #[error("unexpected 101 Switching Protocols")]
    UnexpectedUpgrade,
    /// The connection ended before the response did.
    #[error("connection closed before the response ended")]
    Incomplete,
}

/// A response head: the status, the fields the caller asked to keep, and whether the
/// connection ends after this response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code (three digits).
    pub status: u16,
    /// The kept fields, by the caller's name for them (lower case), in the order received.
    pub fields: Vec<(&'static str, Box<str>)>,
    /// The server closes the connection after this response (`Connection: close`, HTTP/1.0
    /// without keep-alive, or a body delimited by the close).
    pub close: bool,
}

impl Head {
    /// The first kept field named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| &**v)
    }
}

/// What a call to [`ResponseDecoder::decode`] completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The head of the final response (1xx heads are skipped).
    Head(Head),
    /// Body bytes, where they lie in the input (chunk framing removed).
    Data(&'a [u8]),
    /// The response is complete; the decoder is ready for the next one.
    End,
}

/// Where the decoder is in the current response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    /// `Content-Length` bytes still to come.
    Length(u64),
    Chunk(Chunk),
    UntilClose,
}

/// Where the decoder is in a chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Before a chunk-size line.
    Size,
    /// This many data bytes of the current chunk still to come.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines up to the blank line.
    Trailer,
}

/// How the body after a head is framed.
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// Decodes the responses of one connection, one after another.
#[derive(Debug, Clone)]
pub struct ResponseDecoder {
    state: State,
    keep: &'static [&'static str],
}

impl ResponseDecoder {
    /// A decoder that keeps the header fields named in `keep` (lower case) in each head.
    pub fn new(keep: &'static [&'static str]) -> Self {
        ResponseDecoder {
            state: State::Head,
            keep,
        }
    }

    /// Whether the decoder is between responses (no head or body begun).
    pub fn is_idle(&self) -> bool {
        self.state == State::Head
    }

    /// Decodes from `input` until it completes one event or needs more bytes (`None`).
    /// Returns how many bytes of `input` it consumed, with or without an event; the caller keeps
    /// the rest and passes it again, followed by new bytes.
    pub fn decode<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Event<'a>>), DecodeError> {
        let mut at = 0;
        loop {
            let rest = &input[at..];
            match &mut self.state {
                State::Head => {
                    let Some((len, head, framing)) = parse_head(rest, self.keep)? else {
                        if rest.len() > MAX_HEAD_BYTES {
                            return Err(DecodeError::HeadTooLarge);
                        }
                        return Ok((at, None));
                    };
                    if len > MAX_HEAD_BYTES {
                        return Err(DecodeError::HeadTooLarge);
                    }
                    at += len;
                    match head.status {
                        101 => return Err(DecodeError::UnexpectedUpgrade),
                        100..=199 => continue,
                        _ => {}
                    }
                    self.state = match framing {
                        Framing::Length(n) => State::Length(n),
                        Framing::Chunked => State::Chunk(Chunk::Size),
                        Framing::UntilClose => State::UntilClose,
                    };
                    return Ok((at, Some(Event::Head(head))));
                }
                State::Length(0) => {
                    self.state = State::Head;
                    return Ok((at, Some(Event::End)));
                }
                State::Length(remaining) | State::Chunk(Chunk::Data(remaining)) => {
                    if rest.is_empty() {
                        return Ok((at, None));
                    }
                    let n = min(*remaining, rest.len() as u64);
                    *remaining -= n;
                    if self.state == State::Chunk(Chunk::Data(0)) {
                        self.state = State::Chunk(Chunk::DataEnd);
                    }
                    let n = n as usize; // at most `rest.len()`
                    return Ok((at + n, Some(Event::Data(&rest[..n]))));
                }
                State::UntilClose => {
                    if rest.is_empty() {
                        return Ok((at, None));
                    }
                    return Ok((input.len(), Some(Event::Data(rest))));
                }
                State::Chunk(Chunk::Size) => {
                    let Some(line) = line(rest, MAX_CHUNK_LINE_BYTES, DecodeError::BadChunk)?
                    else {
                        return Ok((at, None));
                    };
                    let size = chunk_size(&rest[..line])?;
                    at += line;
                    self.state = State::Chunk(if size == 0 {
                        Chunk::Trailer
                    } else {
                        Chunk::Data(size)
                    });
                }
                State::Chunk(Chunk::DataEnd) => match rest {
                    [b'\r', b'\n', ..] => {
                        at += 2;
                        self.state = State::Chunk(Chunk::Size);
                    }
                    [] | [b'\r'] => return Ok((at, None)),
                    _ => return Err(DecodeError::BadChunk),
                },
                State::Chunk(Chunk::Trailer) => {
                    let Some(line) = line(rest, MAX_HEAD_BYTES, DecodeError::HeadTooLarge)? else {
                        return Ok((at, None));
                    };
                    at += line;
                    if line == 2 {
                        self.state = State::Head;
                        return Ok((at, Some(Event::End)));
                    }
                }
            }
        }
    }

    /// The connection ended: ends a body delimited by the close (`Some(End)`), or is an error
    /// if a response was under way. `Ok(None)`: between responses, nothing was lost.
    pub fn finish(&mut self) -> Result<Option<Event<'static>>, DecodeError> {
        match self.state {
            State::UntilClose => {
                self.state = State::Head;
                Ok(Some(Event::End))
            }
            _ => Err(DecodeError::Incomplete),
        }
    }
}

/// The length of the CRLF-terminated line at the start of `input`, CRLF included; `None` if
/// the line is incomplete, `too_long` once it cannot fit in `max` bytes.
fn line(input: &[u8], max: usize, too_long: DecodeError) -> Result<Option<usize>, DecodeError> {
    match memchr::memchr(b'\n', &input[..min(input.len(), max)]) {
        Some(i) if i > 0 && input[i - 1] == b'\r' => Ok(Some(i + 1)),
        Some(_) => Err(DecodeError::BadChunk),
        None if input.len() >= max => Err(too_long),
        None => Ok(None),
    }
}

/// The size on a chunk-size line (`1A;ext=1\r\n`): hex digits, then optional extensions.
fn chunk_size(line: &[u8]) -> Result<u64, DecodeError> {
    let line = &line[..line.len() - 2];
    let digits = line
        .iter()
        .position(|b| !b.is_ascii_hexdigit())
        .unwrap_or(line.len());
    if digits == 0 || digits > 16 {
        return Err(DecodeError::BadChunk);
    }
    match line[digits..].first() {
        None | Some(b';' | b' ' | b'\t') => {}
        Some(_) => return Err(DecodeError::BadChunk),
    }
    let hex = std::str::from_utf8(&line[..digits]).map_err(|_| DecodeError::BadChunk)?;
    u64::from_str_radix(hex, 16).map_err(|_| DecodeError::BadChunk)
}

/// Parses a complete head at the start of `input`: its length, the head and its body framing;
/// `None` if the head is not complete yet.
fn parse_head(
    input: &[u8],
    keep: &'static [&'static str],
) -> Result<Option<(usize, Head, Framing)>, DecodeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(input).map_err(DecodeError::BadHead)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let status = response.code.expect("a complete head has a status");
    let mut close = response.version == Some(0);
    let mut content_length = None;
    let mut chunked = None;
    let mut fields = Vec::new();
    for header in response.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && response.version == Some(0) {
                    close = false;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = decimal(header.value).ok_or(DecodeError::BadContentLength)?;
            if content_length.is_some_and(|m| m != n) {
                return Err(DecodeError::BadContentLength);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Only the last coding decides: chunked last means chunk framing.
            let last = header.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if let Some(kept) = keep.iter().find(|k| name.eq_ignore_ascii_case(k)) {
            let value = String::from_utf8_lossy(header.value);
            fields.push((*kept, value.into_owned().into_boxed_str()));
        }
    }
    let framing = if matches!(status, 100..=199 | 204 | 304) {
        Framing::Length(0)
    } else if let Some(chunked) = chunked {
        // RFC 9112 §6.1: with a transfer coding, content-length is ignored and the client
        // closes after the response.
        close |= content_length.is_some();
        if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else if let Some(n) = content_length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    if matches!(framing, Framing::UntilClose) {
        close = true;
    }
    let head = Head {
        status,
        fields,
        close,
    };
    Ok(Some((len, head, framing)))
}

/// A decimal number of at most 19 digits (no sign, no spaces inside).
fn decimal(value: &[u8]) -> Option<u64> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests;
