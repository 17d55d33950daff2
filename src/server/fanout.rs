//! Writing frames to one connection the way the kernel likes it: frames encoded once and shared
//! with every other connection go out in as few vectored writes as the socket takes (a write costs the kernel microseconds whatever its size,
//! so the number of writes per message is what a fan-out server's CPU is made of).

use std::io::{self, IoSlice};
use std::task::Poll;

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// A hub message that knows the bytes it is sent as, borrowed from the buffer every connection
/// shares (no copy, no reference count touched per write).
pub(crate) trait OnWire: Clone {
    /// The message's bytes on the wire.
    fn on_wire(&self) -> &[u8];

    /// The bytes a connection that receives `form` is sent: the plain ones unless the message
    /// has another form (see [`super::deflate`]).
    fn on_wire_as(&self, form: Form) -> &[u8] {
        let _ = form;
        self.on_wire()
    }
}

/// Which bytes of a message a connection is sent: the plain frame, or, for a permessage-deflate
/// connection whose server keeps no context, the message compressed once for every such
/// connection with that window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Form {
    /// The frame as published.
    #[default]
    Plain,
    /// Compressed without context takeover, with this many window bits.
    Deflated(u8),
}

/// The raw transport keeps each message as its length-prefixed frame.
impl OnWire for Bytes {
    fn on_wire(&self) -> &[u8] {
        self
    }
}

/// Slices handed to one `writev`; Linux takes up to 1024, and a batch rarely has more than this.
const SLICES_PER_WRITE: usize = 64;

/// One non-blocking vectored write of `older` then `newer`; returns the frames it did not write
/// whole, copied (cheap: shared buffers), and how much of the first of them it did write.
///
/// `write` makes the one attempt: `Pending` when the socket takes nothing now.
pub(crate) fn write_in_place<M: OnWire>(
    write: impl FnOnce(&[IoSlice<'_>]) -> Poll<io::Result<usize>>,
    older: &[M],
    newer: &[M],
    form: Form,
) -> io::Result<(Vec<M>, usize)> {
    let frames = || older.iter().chain(newer);
    let total = older.len() + newer.len();
    if total == 0 {
        return Ok((Vec::new(), 0));
    }
    let mut slices = [IoSlice::new(&[]); SLICES_PER_WRITE];
    let count = total.min(SLICES_PER_WRITE);
    for (slice, frame) in slices.iter_mut().zip(frames()) {
        *slice = IoSlice::new(frame.on_wire_as(form));
    }
    let mut written = match write(&slices[..count]) {
        Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
        Poll::Ready(Ok(n)) => n,
        Poll::Ready(Err(e)) => return Err(e),
        Poll::Pending => 0,
    };
    let mut whole = 0;
    for frame in frames() {
        let len = frame.on_wire_as(form).len();
        if written < len {
            break;
        }
        written -= len;
        whole += 1;
    }
    Ok((frames().skip(whole).cloned().collect(), written))
}

/// Writes `frames` whole, in order, the first one's first `offset` bytes already written:
/// vectored where the stream supports it, else copied into one buffer (TLS encrypts a record per
/// write call, so one call is what matters there too).
pub(crate) async fn write_frames<W: AsyncWrite + Unpin, M: OnWire>(
    out: &mut W,
    frames: &[M],
    offset: usize,
    form: Form,
) -> io::Result<()> {
    if !out.is_write_vectored() {
        let joined: Vec<u8> = frames
            .iter()
            .flat_map(|f| f.on_wire_as(form))
            .skip(offset)
            .copied()
            .collect();
        return out.write_all(&joined).await;
    }
    // The next byte to write: frame `first`, from `offset`.
    let (mut first, mut offset) = (0, offset);
    while first < frames.len() {
        let mut slices = [IoSlice::new(&[]); SLICES_PER_WRITE];
        let mut count = 0;
        for (i, frame) in frames[first..].iter().take(SLICES_PER_WRITE).enumerate() {
            let skip = if i == 0 { offset } else { 0 };
            slices[i] = IoSlice::new(&frame.on_wire_as(form)[skip..]);
            count = i + 1;
        }
        let mut written = out.write_vectored(&slices[..count]).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let left = frames[first].on_wire_as(form).len() - offset;
            if written >= left {
                written -= left;
                first += 1;
                offset = 0;
            } else {
                offset += written;
                written = 0;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A sink that takes at most `limit` bytes per call and records every call's size.
    pub(crate) struct Trickle {
        pub got: Vec<u8>,
        pub calls: Vec<usize>,
        pub limit: usize,
        pub vectored: bool,
    }

    impl Trickle {
        pub(crate) fn new(limit: usize, vectored: bool) -> Self {
            Trickle {
                got: Vec::new(),
                calls: Vec::new(),
                limit,
                vectored,
            }
        }
    }

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(self.limit);
            self.got.extend_from_slice(&buf[..n]);
            self.calls.push(n);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.limit - n);
                self.got.extend_from_slice(&b[..take]);
                n += take;
                if n == self.limit {
                    break;
                }
            }
            self.calls.push(n);
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            self.vectored
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    pub(crate) fn frames(n: usize) -> Vec<Bytes> {
        (0..n).map(|i| Bytes::from(vec![i as u8; 10 + i])).collect()
    }

    #[tokio::test]
    async fn every_frame_goes_out_whole_and_in_order_however_the_socket_cuts_writes() {
        let expected: Vec<u8> = frames(100).concat();
        for (limit, vectored) in [(1 << 20, true), (7, true), (1 << 20, false), (33, false)] {
            let mut sink = Trickle {
                got: Vec::new(),
                calls: Vec::new(),
                limit,
                vectored,
            };
            write_frames(&mut sink, &frames(100), 0, Form::Plain)
                .await
                .unwrap();
            assert_eq!(sink.got, expected, "limit {limit}, vectored {vectored}");
            if limit == 1 << 20 {
                // 100 frames: two `writev`s of up to 64 slices, or one copied buffer.
                assert_eq!(sink.calls.len(), if vectored { 2 } else { 1 });
            }
        }
    }
}
