//! Our HTTP/1.1 client connection: one request at a time on a keep-alive byte stream, in the
//! caller's task, holding no buffer while idle.
//!
//! Why not hyper's `http1` client here: per connection it keeps a second task (the connection
//! driver), a dispatch channel block (~9 KB), an 8 KiB write buffer and a 4–8 KiB read buffer,
//! none of which can be configured away; at 10,000 long-poll subscribers that was most of the
//! generator's ~30 KiB per connection. This connection is a socket, a [`ResponseDecoder`] and a
//! `Vec` that holds bytes only while a head, chunk-size line or CRLF is incomplete. Reads land in
//! the worker thread's scratch buffer ([`scratch`]) and are decoded where they lie; a request is
//! written from a temporary buffer in one write.
//!
//! Owns the exchange on one connection: writing a request, reading its response head and body,
//! and knowing when the connection can carry no more. It knows nothing of polls, streams or
//! reconnecting (that is [`super::http`]'s and the subscriber loops'). HTTP/2 stays on hyper.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::failure::ConnectError;
use crate::codec::h1::{DecodeError, Event, Head, Request, ResponseDecoder};
use crate::metrics::FailureKind;
use crate::wire::scratch;

/// Why an exchange failed. Every case ends the connection.
#[derive(Debug, thiserror::Error)]
pub(super) enum H1Error {
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The response could not be framed, or the connection ended in the middle of it.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A body to be collected is longer than the caller allows.
    #[error("response body longer than {0} bytes")]
    BodyTooLarge(usize),
    /// The server said it would close after the last response (or did), or that response was
    /// not read to its end: the connection carries no more requests.
    #[error("the connection cannot carry another request")]
    Spent,
}

impl H1Error {
    /// The failure as the run counts it: a socket error keeps its kind, a connection that ended
    /// is a reset, anything malformed a protocol error.
    pub(super) fn during(&self, step: &str) -> ConnectError {
        let kind = match self {
            H1Error::Io(e) => FailureKind::of_io(e),
            H1Error::Decode(DecodeError::Incomplete) | H1Error::Spent => FailureKind::Reset,
            H1Error::Decode(_) | H1Error::BodyTooLarge(_) => FailureKind::Protocol,
        };
        ConnectError::new(kind, format!("{step}: {self}"))
    }
}

/// What to do after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// One HTTP/1.1 connection over `S` (a counted TCP socket, or TLS over one).
#[derive(Debug)]
pub(super) struct Connection<S> {
    stream: S,
    decoder: ResponseDecoder,
    /// Bytes read and not yet decoded (part of a head, a chunk-size line or a CRLF, or what
    /// followed a head). Empty, with no allocation, whenever everything read was decoded.
    pending: Vec<u8>,
    /// No more requests may be sent (see [`H1Error::Spent`]).
    spent: bool,
}

impl<S: crate::wire::stamp::Arrivals> Connection<S> {
    /// The kernel's arrival time of the bytes of the socket's last read: what completed the
    /// head, body or event just decoded ([`crate::wire::stamp`]).
    pub(super) fn arrival(&self) -> Option<crate::wire::stamp::KernelStamp> {
        self.stream.arrival()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// A connection on `stream`, keeping the response header fields named in `keep`.
    pub(super) fn new(stream: S, keep: &'static [&'static str]) -> Self {
        Connection {
            stream,
            decoder: ResponseDecoder::new(keep),
            pending: Vec::new(),
            spent: false,
        }
    }

    /// Writes a request made by [`encode`] in one write. Not cancel-safe: a write cut short
    /// leaves the connection unusable, so whoever may drop this future drops the connection
    /// with it (the callers' futures own their connection).
    pub(super) async fn send(&mut self, request: &[u8]) -> Result<(), H1Error> {
        if self.spent || !self.decoder.is_idle() {
            return Err(H1Error::Spent);
        }
        self.stream.write_all(request).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// Reads the next response head (1xx heads skipped). A head saying the server closes
    /// after this response spends the connection.
    pub(super) async fn head(&mut self) -> Result<Head, H1Error> {
        let mut head = None;
        while head.is_none() {
            self.pump(|event| match event {
                Event::Head(h) => {
                    head = Some(h);
                    Flow::Stop
                }
                // A response's body and end come after its head.
                Event::Data(_) | Event::End => Flow::Continue,
            })
            .await?;
        }
        let head = head.expect("the loop ends with a head");
        self.spent |= head.close;
        Ok(head)
    }

    /// Reads the rest of the body, at most `limit` bytes.
    pub(super) async fn body(&mut self, limit: usize) -> Result<Vec<u8>, H1Error> {
        let mut body = Vec::new();
        let mut ended = false;
        let mut too_large = false;
        while !ended && !too_large {
            self.pump(|event| match event {
                Event::Data(d) if body.len() + d.len() > limit => {
                    too_large = true;
                    Flow::Stop
                }
                Event::Data(d) => {
                    body.extend_from_slice(d);
                    Flow::Continue
                }
                Event::End => {
                    ended = true;
                    Flow::Stop
                }
                Event::Head(_) => Flow::Continue,
            })
            .await?;
        }
        if too_large {
            self.spent = true;
            return Err(H1Error::BodyTooLarge(limit));
        }
        Ok(body)
    }

    /// Waits for more of the body and hands it to `on_data`, piece by piece as it lies in the
    /// read; `false` once the body has ended (the connection is spent: a stream's end is its
    /// end). Cancel-safe: bytes go to `on_data` in the same poll that reads them.
    pub(super) async fn body_part(
        &mut self,
        mut on_data: impl FnMut(&[u8]),
    ) -> Result<bool, H1Error> {
        let mut got = false;
        let mut ended = false;
        while !got && !ended {
            self.pump(|event| match event {
                Event::Data(d) => {
                    got = true;
                    on_data(d);
                    Flow::Continue
                }
                Event::End => {
                    ended = true;
                    Flow::Stop
                }
                Event::Head(_) => Flow::Continue,
            })
            .await?;
        }
        self.spent |= ended;
        Ok(!ended)
    }

    /// Decodes what is pending; if that gave no event, reads once and decodes what came.
    /// Bytes `on` did not reach stay pending. Cancel-safe (see [`scratch::read_with`]).
    async fn pump(&mut self, mut on: impl FnMut(Event<'_>) -> Flow) -> Result<(), H1Error> {
        let Connection {
            stream,
            decoder,
            pending,
            spent,
        } = self;
        // What is pending first. Even with nothing pending the decoder may have an event to give
        // (the end of an empty body); if there was any, the caller sees it before we wait.
        let mut events = 0;
        let (used, _) = run(decoder, pending, &mut |event| {
            events += 1;
            on(event)
        })?;
        if used > 0 {
            pending.drain(..used);
            release_if_empty(pending);
        }
        if events > 0 {
            return Ok(());
        }
        scratch::read_with(stream, |fresh| {
            if fresh.is_empty() {
                *spent = true;
                if let Some(end) = decoder.finish()? {
                    on(end);
                }
                return Ok(());
            }
            if pending.is_empty() {
                let (used, _) = run(decoder, fresh, &mut on)?;
                pending.extend_from_slice(&fresh[used..]);
            } else {
                pending.extend_from_slice(fresh);
                let (used, _) = run(decoder, pending, &mut on)?;
                pending.drain(..used);
                release_if_empty(pending);
            }
            Ok(())
        })
        .await?
    }
}

/// A request's bytes, head and body, ready to be written at once (a request is a few hundred
/// bytes plus a published message; it lives only until written).
pub(super) fn encode(request: &Request<'_>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + request.target.len() + body.len());
    request.write(&mut out);
    out.extend_from_slice(body);
    out
}

/// Decodes `input` event by event until `on` stops or more bytes are needed: bytes consumed.
fn run(
    decoder: &mut ResponseDecoder,
    input: &[u8],
    on: &mut impl FnMut(Event<'_>) -> Flow,
) -> Result<(usize, Flow), DecodeError> {
    let mut at = 0;
    loop {
        let (n, event) = decoder.decode(&input[at..])?;
        at += n;
        let Some(event) = event else {
            return Ok((at, Flow::Continue));
        };
        if on(event) == Flow::Stop {
            return Ok((at, Flow::Stop));
        }
    }
}

/// Frees `pending`'s memory once it holds nothing: an idle connection keeps no buffer.
fn release_if_empty(pending: &mut Vec<u8>) {
    if pending.is_empty() {
        *pending = Vec::new();
    }
}

#[cfg(test)]
mod tests;
