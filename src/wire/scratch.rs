//! One read buffer per thread, shared by every connection that thread polls.
//!
//! A connection waits far more than it reads. If each kept its own read buffer, tens of thousands
//! of idle connections would hold tens of thousands of buffers (4 KiB each is ~80 MB at 20k).
//! Instead a read lands in this thread's scratch buffer and the connection decodes it there (the
//! generator's WebSocket and raw clients and our servers copy it into their frame decoders, our
//! HTTP/1.1 client decodes it in place), keeping only an incomplete frame, head or chunk line.
//! Owns the buffer and the read; knows no protocol.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::Poll;

use tokio::io::{AsyncRead, ReadBuf};

/// Bytes one read may take: enough for hundreds of small frames at once when a subscriber falls
/// behind, so a burst costs few system calls.
const SCRATCH_BYTES: usize = 64 * 1024;

thread_local! {
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_BYTES].into_boxed_slice());
}

/// Reads once from `stream` into the thread's scratch buffer and hands what came to `take`
/// (an empty slice: end of stream), returning what `take` returns.
///
/// Cancel-safe: the bytes are handed over in the same poll that reads them, so dropping the
/// future loses nothing. `take` must not read through another scratch call (the buffer is
/// borrowed meanwhile); it is synchronous, so it cannot.
pub(crate) async fn read_with<S: AsyncRead + Unpin, T>(
    stream: &mut S,
    take: impl FnOnce(&[u8]) -> T,
) -> io::Result<T> {
    let mut take = Some(take);
    poll_fn(|cx| {
        SCRATCH.with_borrow_mut(|scratch| {
            let mut buf = ReadBuf::new(scratch);
            match Pin::new(&mut *stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) => {
                    let take = take.take().expect("a finished read is not polled again");
                    Poll::Ready(Ok(take(buf.filled())))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncWriteExt, duplex};

    use super::*;
    use crate::codec::ws::{Config, Decoder, Message};

    /// Reads once into `decoder`, as our WebSocket client does.
    async fn read_into(
        stream: &mut tokio::io::DuplexStream,
        decoder: &mut Decoder,
    ) -> io::Result<usize> {
        read_with(stream, |bytes| {
            decoder.feed(bytes);
            bytes.len()
        })
        .await
    }

    #[tokio::test]
    async fn frames_split_across_reads_are_joined_and_the_buffer_freed() {
        let (mut client, mut server) = duplex(64);
        let mut decoder = Decoder::new(Config::client());
        // One text frame "hello", written in two halves.
        server.write_all(&[0x81, 0x05, b'h', b'e']).await.unwrap();
        assert_eq!(read_into(&mut client, &mut decoder).await.unwrap(), 4);
        assert!(decoder.next_message().unwrap().is_none());
        decoder.release_if_empty();
        assert_eq!(decoder.buffered(), 4, "a partial frame is kept");
        server.write_all(b"llo").await.unwrap();
        assert_eq!(read_into(&mut client, &mut decoder).await.unwrap(), 3);
        match decoder.next_message().unwrap() {
            Some(Message::Text(t)) => assert_eq!(t, "hello"),
            other => panic!("{other:?}"),
        }
        assert!(decoder.next_message().unwrap().is_none());
        decoder.release_if_empty();
        assert_eq!(decoder.buffered(), 0);
        drop(server);
        assert_eq!(read_into(&mut client, &mut decoder).await.unwrap(), 0);
    }
}
