//! Sending a hub's news to one connection, the way the kernel likes it: every frame after the
//! connection's cursor, encoded once and shared with every other connection, goes out in as few
//! vectored writes as the socket takes (a write costs the kernel microseconds whatever its size,
//! so the number of writes per message is what a fan-out server's CPU is made of).

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::hub::{Hub, Room};

/// A hub message that knows the bytes it is sent as, borrowed from the buffer every connection
/// shares (no copy, no reference count touched per write).
pub(crate) trait OnWire: Clone {
    /// The message's bytes on the wire.
    fn on_wire(&self) -> &[u8];
}

/// The raw transport keeps each message as its length-prefixed frame.
impl OnWire for Bytes {
    fn on_wire(&self) -> &[u8] {
        self
    }
}

/// Slices handed to one `writev`; Linux takes up to 1024, and a batch rarely has more than this.
const SLICES_PER_WRITE: usize = 64;

/// Writes every frame of `room` after `cursor` (at most `max_batch` read from the hub at a time), moves the
/// cursor past them and flushes. Frames the ring overwrote before this connection read them are
/// skipped: a slow reader loses the oldest, never the server's memory.
///
/// It first lets every other task the runtime has queued run once. A broadcast wakes every
/// connection at once; the ones woken early would otherwise write the first message alone while
/// the publisher is still reading the next ones behind them in the queue. Yielding once lets
/// whatever the publishers read meanwhile ride the same write: at saturation that doubled the
/// messages per write (8 instead of 4 with 8 in flight), for one more task poll per wake-up. It
/// costs no timer and no more than one turn of the run queue in latency.
pub(crate) async fn send_news<W: AsyncWrite + Unpin, M: OnWire>(
    out: &mut W,
    hub: &Hub<M>,
    room: &Room,
    cursor: &mut u64,
    max_batch: usize,
) -> io::Result<()> {
    tokio::task::yield_now().await;
    loop {
        let (read, unsent) = if out.is_write_vectored() {
            // Written from the ring itself while the socket takes it; only what it leaves is copied.
            poll_fn(|cx| {
                Poll::Ready(
                    hub.read_in_place(room, *cursor, max_batch, |span, older, newer| {
                        *cursor = span.next_cursor;
                        let unsent = write_in_place(Pin::new(&mut *out), cx, older, newer);
                        (older.len() + newer.len(), unsent)
                    }),
                )
            })
            .await
        } else {
            let batch = hub.read_after(room, *cursor, max_batch);
            *cursor = batch.next_cursor;
            let read = batch.messages.len();
            (read, Ok((batch.messages, 0)))
        };
        let (frames, offset) = unsent?;
        write_frames(out, &frames, offset).await?;
        if read == 0 || *cursor >= room.latest() {
            break;
        }
    }
    out.flush().await
}

/// One non-blocking vectored write of `older` then `newer`; returns the frames it did not write
/// whole, copied (cheap: shared buffers), and how much of the first of them it did write.
fn write_in_place<W: AsyncWrite, M: OnWire>(
    out: Pin<&mut W>,
    cx: &mut Context<'_>,
    older: &[M],
    newer: &[M],
) -> io::Result<(Vec<M>, usize)> {
    let frames = || older.iter().chain(newer);
    let total = older.len() + newer.len();
    if total == 0 {
        return Ok((Vec::new(), 0));
    }
    let mut slices = [IoSlice::new(&[]); SLICES_PER_WRITE];
    let count = total.min(SLICES_PER_WRITE);
    for (slice, frame) in slices.iter_mut().zip(frames()) {
        *slice = IoSlice::new(frame.on_wire());
    }
    let mut written = match out.poll_write_vectored(cx, &slices[..count]) {
        Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
        Poll::Ready(Ok(n)) => n,
        Poll::Ready(Err(e)) => return Err(e),
        Poll::Pending => 0,
    };
    let mut whole = 0;
    for frame in frames() {
        let len = frame.on_wire().len();
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
async fn write_frames<W: AsyncWrite + Unpin, M: OnWire>(
    out: &mut W,
    frames: &[M],
    offset: usize,
) -> io::Result<()> {
    if !out.is_write_vectored() {
        let joined: Vec<u8> = frames
            .iter()
            .flat_map(|f| f.on_wire())
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
            slices[i] = IoSlice::new(&frame.on_wire()[skip..]);
            count = i + 1;
        }
        let mut written = out.write_vectored(&slices[..count]).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let left = frames[first].on_wire().len() - offset;
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
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A sink that takes at most `limit` bytes per call and records every call's size.
    struct Trickle {
        got: Vec<u8>,
        calls: Vec<usize>,
        limit: usize,
        vectored: bool,
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

    fn frames(n: usize) -> Vec<Bytes> {
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
            write_frames(&mut sink, &frames(100), 0).await.unwrap();
            assert_eq!(sink.got, expected, "limit {limit}, vectored {vectored}");
            if limit == 1 << 20 {
                // 100 frames: two `writev`s of up to 64 slices, or one copied buffer.
                assert_eq!(sink.calls.len(), if vectored { 2 } else { 1 });
            }
        }
    }

    #[tokio::test]
    async fn news_moves_the_cursor_past_everything_sent_and_skips_what_was_overwritten() {
        let hub = Hub::new(4);
        let room = hub.room(crate::protocol::RoomId(3)).unwrap();
        for i in 0..6u8 {
            hub.publish(&room, Bytes::from(vec![i]));
        }
        let mut sink = Trickle {
            got: Vec::new(),
            calls: Vec::new(),
            limit: 1 << 20,
            vectored: true,
        };
        let mut cursor = 0;
        send_news(&mut sink, &hub, &room, &mut cursor, 3)
            .await
            .unwrap();
        // Messages 1 and 2 were overwritten; 3..=6 go out in batches of at most 3.
        assert_eq!(sink.got, [2, 3, 4, 5]);
        assert_eq!(cursor, 6);
        assert_eq!(sink.calls, [3, 1]);
    }

    #[tokio::test]
    async fn a_write_the_socket_cuts_short_resumes_mid_frame_with_the_rest_copied() {
        // A ring of 4 that has wrapped (its frames lie in two slices), and a socket that takes 7
        // bytes per call: the first write goes straight from the ring, the rest from the copies.
        let hub = Hub::new(4);
        let room = hub.room(crate::protocol::RoomId::LOBBY).unwrap();
        let frames = frames(7);
        for frame in &frames {
            hub.publish(&room, frame.clone());
        }
        let mut sink = Trickle {
            got: Vec::new(),
            calls: Vec::new(),
            limit: 7,
            vectored: true,
        };
        let mut cursor = 3;
        send_news(&mut sink, &hub, &room, &mut cursor, 100)
            .await
            .unwrap();
        assert_eq!(sink.got, frames[3..].concat());
        assert_eq!(cursor, 7);
        // 13 + 14 + 15 + 16 bytes, 7 at a time.
        assert_eq!(sink.calls.len(), 58usize.div_ceil(7));
    }
}
