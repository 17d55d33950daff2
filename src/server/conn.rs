//! An accepted connection as a server speaks it ([`Conn`]): plain TCP or TLS over it, that must
//! start its first request in time.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::either::Either;

/// An accepted connection: plain TCP, or TLS over it, that must start its first request in time.
pub(crate) type Conn = FirstByteDeadline<Either<TcpStream, TlsStream<TcpStream>>>;

/// A stream whose reads fail with `TimedOut` if nothing at all has been read by a deadline.
///
/// hyper's HTTP/1.1 header timeout covers a request once its bytes come in, but the `auto`
/// builder first waits, with no limit, for the bytes that tell HTTP/1.1 from an HTTP/2 preface:
/// without this a client that connects and stays silent would hold its connection for ever.
#[derive(Debug)]
pub(crate) struct FirstByteDeadline<S> {
    inner: S,
    /// Until the first byte arrives; `None` after.
    deadline: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl<S> FirstByteDeadline<S> {
    fn new(inner: S, within: Duration) -> Self {
        FirstByteDeadline {
            inner,
            deadline: Some(Box::pin(tokio::time::sleep(within))),
        }
    }

    /// The stream, once its first request has come (the deadline no longer applies).
    pub(crate) fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for FirstByteDeadline<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        let Some(deadline) = self.deadline.as_mut() else {
            return poll;
        };
        match poll {
            Poll::Ready(_) if buf.filled().len() > before => self.deadline = None,
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => {
                return Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()));
            }
            _ => {}
        }
        poll
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for FirstByteDeadline<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The connection as the server speaks it: `tcp` itself, or after a TLS handshake that must end
/// within `within` (the header timeout, so a client that stalls in the handshake is dropped like
/// one that stalls in its request head); either way its first request must begin within `within`
/// too. `None`: the handshake failed or timed out.
pub(crate) async fn secure(
    tcp: TcpStream,
    tls: Option<&Arc<rustls::ServerConfig>>,
    within: Duration,
) -> Option<Conn> {
    let stream = match tls {
        None => Either::Left(tcp),
        Some(config) => {
            let accept = TlsAcceptor::from(config.clone()).accept(tcp);
            match tokio::time::timeout(within, accept).await {
                Ok(Ok(stream)) => Either::Right(stream),
                _ => return None,
            }
        }
    };
    Some(FirstByteDeadline::new(stream, within))
}
