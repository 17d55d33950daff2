//! `raw` subscribers: bare TCP, each message behind a 4-byte length ([`crate::codec::raw`]). A
//! publisher writes on its own subscriber connection, as on WebSocket, and the same subscriber
//! loop runs both ([`super::ws`]'s, over the [`Connection`] trait): only the bytes differ, which
//! is the point of the floor.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::failure::ConnectError;
use super::framed::Framed;
use super::inbox::Inbox;
use super::ws::handshake::ResumePoint;
use super::ws::{Connection, Dial, Received, Resuming, WsError, session};
use crate::codec::raw::{self, CursorRead, Decoder};
use crate::codec::ws::Config;
use crate::protocol::{RoomId, raw_resume_preamble, raw_room_preamble};
use crate::wire::stamp::{Arrivals, KernelStamp};

/// The byte stream under the client: TCP, counted (see [`super::conn`]).
type Stream = super::conn::Stream;

/// One raw connection over any byte stream.
#[derive(Debug)]
pub struct Client<S> {
    framed: Framed<S, Decoder>,
    /// Where a resumed stream starts, as the server's cursor record said; taken once.
    resume: Option<ResumePoint>,
}

impl<S> Client<S> {
    /// A connection on `stream`; messages over the largest a server accepts are refused.
    pub fn new(stream: S) -> Self {
        Client {
            framed: Framed::new(stream, Decoder::new(Config::client().max_message_bytes)),
            resume: None,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Reads up to the server's cursor record, dropping any message before it (sent from the
    /// room every connection starts in, before the server read the preamble).
    async fn await_cursor(&mut self) -> Result<ResumePoint, WsError> {
        loop {
            match self.framed.decoder.cursor_record() {
                CursorRead::Record(r) => {
                    return Ok(ResumePoint {
                        cursor: r.cursor,
                        missed: r.missed,
                        reset: r.reset,
                    });
                }
                CursorRead::Message => {
                    if self.framed.decoder.next_message()?.is_some() {
                        continue;
                    }
                }
                CursorRead::NotYet => {}
            }
            if !self.framed.fill().await? {
                return Err(WsError::Closed);
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Arrivals + Unpin + Send> Connection for Client<S> {
    fn resume_point(&mut self) -> Option<ResumePoint> {
        self.resume.take()
    }

    async fn send_text(&mut self, text: Vec<u8>) -> Result<(), WsError> {
        self.framed.out.extend_from_slice(&raw::encode(&text));
        Ok(self.framed.flush().await?)
    }

    /// Bare TCP has no ping; a `[transports.raw]` table has no `ping_interval` to ask for one.
    async fn ping(&mut self) -> Result<(), WsError> {
        Ok(())
    }

    async fn next(&mut self, mut on_data: impl FnMut(&[u8]) + Send) -> Result<Received, WsError> {
        self.next_stamped(move |bytes, _| on_data(bytes)).await
    }

    async fn next_stamped(
        &mut self,
        mut on_data: impl FnMut(&[u8], Option<KernelStamp>) + Send,
    ) -> Result<Received, WsError> {
        loop {
            // A send cut short by a cancelled call resumes first.
            self.framed.flush().await?;
            let mut got = false;
            // What the decoder holds was completed by the stream's last read.
            let arrival = self.framed.stream.arrival();
            while let Some(message) = self.framed.decoder.next_message()? {
                on_data(message, arrival);
                got = true;
            }
            if got {
                return Ok(Received::Data);
            }
            if !self.framed.fill().await? {
                return Err(WsError::Closed);
            }
        }
    }

    async fn close(&mut self) {
        self.framed.close().await;
    }
}

/// A resumable client's first bytes are the resume preamble ([`raw_resume_preamble`], 16 bytes
/// up per connection), answered by the server's cursor record (21 bytes down) before any
/// message. Otherwise, with rooms, they are the room preamble ([`raw_room_preamble`], 8 bytes);
/// without rooms it sends nothing until it publishes.
impl Dial for Client<Stream> {
    async fn dial(
        ctx: &std::sync::Arc<super::ctx::Ctx>,
        room: RoomId,
        resuming: Resuming,
    ) -> Result<Self, ConnectError> {
        let mut client = Client::new(super::conn::connect(ctx).await?);
        let on_wire = ctx.plan.on_wire(room);
        let since = match resuming {
            Resuming::No | Resuming::Stack(_) => None,
            Resuming::Fresh => Some(None),
            Resuming::After(n) => Some(Some(n)),
        };
        match (since, on_wire) {
            (Some(since), _) => {
                let preamble = raw_resume_preamble(on_wire.unwrap_or(RoomId::LOBBY), since);
                client.framed.out.extend_from_slice(&preamble);
            }
            (None, Some(room)) => client
                .framed
                .out
                .extend_from_slice(&raw_room_preamble(room)),
            (None, None) => return Ok(client),
        }
        client
            .framed
            .flush()
            .await
            .map_err(|e| ConnectError::io("preamble", &e))?;
        if since.is_some() {
            let point = client.await_cursor().await;
            let point = point.map_err(|e| ConnectError::new(e.kind(), format!("resume: {e}")))?;
            client.resume = Some(point);
        }
        Ok(client)
    }
}

/// Subscriber `index` in `room`, connecting at `slot`; publishes too if `index < publishers`.
pub(super) async fn subscriber(
    ctx: Arc<super::ctx::Ctx>,
    index: u32,
    room: RoomId,
    slot: Instant,
    slow: bool,
) -> Inbox {
    session::<Client<Stream>>(ctx, index, room, slot, None, slow).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

    #[tokio::test]
    async fn messages_come_out_whole_and_go_out_with_their_length() {
        let (near, mut far) = duplex(4096);
        let mut client = Client::new(near);
        let wire = [raw::encode(b"one"), raw::encode(b""), raw::encode(b"three")].concat();
        far.write_all(&wire[..5]).await.unwrap();
        far.write_all(&wire[5..]).await.unwrap();
        let mut got = Vec::new();
        while got.len() < 3 {
            client.next(|m| got.push(m.to_vec())).await.unwrap();
        }
        assert_eq!(got, [b"one".to_vec(), Vec::new(), b"three".to_vec()]);
        client.send_text(b"up".to_vec()).await.unwrap();
        let mut sent = [0u8; 6];
        far.read_exact(&mut sent).await.unwrap();
        assert_eq!(sent, [0, 0, 0, 2, b'u', b'p']);
        drop(far);
        assert!(matches!(client.next(|_| {}).await, Err(WsError::Closed)));
    }
}

/// Kernel stamps through a client's stack: a message completed by a later segment, or by a
/// later TLS record, arrives when that one did.
#[cfg(test)]
#[cfg(target_os = "linux")]
mod stamps {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream as StdTcp};
    use std::sync::Arc;
    use std::sync::mpsc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::*;
    use crate::tls::{ALPN_HTTP1, SelfSigned, client_config, server_config};
    use crate::wire::stamp::{Clock, StampedTcp};
    use crate::wire::{CountingStream, WireMeter};

    /// The gap between the two halves of the message.
    const GAP: Duration = Duration::from_millis(30);

    /// Writes one raw message in two halves `GAP` apart on `out` (flushing each), sending the
    /// realtime clock read just before the second half to `when`; then waits for `done`.
    fn write_halves(mut out: impl Write, when: mpsc::Sender<Duration>, done: mpsc::Receiver<()>) {
        let wire = raw::encode(b"a message in two halves");
        let (first, second) = wire.split_at(wire.len() / 2);
        out.write_all(first).unwrap();
        out.flush().unwrap();
        std::thread::sleep(GAP);
        when.send(SystemTime::now().duration_since(UNIX_EPOCH).unwrap())
            .unwrap();
        out.write_all(second).unwrap();
        out.flush().unwrap();
        let _ = done.recv();
    }

    /// A loopback listener, and the client's kernel-stamped, counted socket to it.
    async fn connect() -> (TcpListener, CountingStream<StampedTcp>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let stamped = StampedTcp::new(tcp, Clock::Kernel).unwrap();
        (
            listener,
            CountingStream::new(stamped, Arc::new(WireMeter::default())),
        )
    }

    /// Reads one message with its stamp.
    async fn one<S: AsyncRead + AsyncWrite + Arrivals + Unpin + Send>(
        client: &mut Client<S>,
    ) -> (Vec<u8>, Option<KernelStamp>) {
        let mut got = Vec::new();
        while got.is_empty() {
            client
                .next_stamped(|m, at| got.push((m.to_vec(), at)))
                .await
                .unwrap();
        }
        assert_eq!(got.len(), 1);
        got.remove(0)
    }

    #[tokio::test]
    async fn a_message_split_over_segments_arrives_with_its_last_one() {
        let (listener, stream) = connect().await;
        let (when, second_at) = mpsc::channel();
        let (done, wait) = mpsc::channel();
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            tcp.set_nodelay(true).unwrap();
            write_halves(tcp, when, wait);
        });
        let mut client = Client::new(stream);
        let (message, stamp) = one(&mut client).await;
        assert_eq!(message, b"a message in two halves");
        let second_at = second_at.recv().unwrap();
        let stamp = stamp.expect("loopback segments are stamped");
        assert!(stamp.since_epoch >= second_at, "{stamp:?} < {second_at:?}");
        done.send(()).unwrap();
        server.join().unwrap();
    }

    #[tokio::test]
    async fn over_tls_the_record_that_completes_a_message_gives_its_arrival() {
        let cert = SelfSigned::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = cert.write(dir.path()).unwrap();
        let server_tls = server_config(&files, &[ALPN_HTTP1]).unwrap();
        let client_tls = client_config(cert.cert_der().unwrap(), &[ALPN_HTTP1]).unwrap();
        let (listener, stream) = connect().await;
        let (when, second_at) = mpsc::channel();
        let (done, wait) = mpsc::channel();
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            tcp.set_nodelay(true).unwrap();
            let conn = rustls::ServerConnection::new(server_tls).unwrap();
            // Each half goes out as a record of its own when flushed.
            write_halves(rustls::StreamOwned::<_, StdTcp>::new(conn, tcp), when, wait);
        });
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(client_tls)
            .connect(name, stream)
            .await
            .unwrap();
        let mut client = Client::new(tls);
        let (message, stamp) = one(&mut client).await;
        assert_eq!(message, b"a message in two halves");
        let second_at = second_at.recv().unwrap();
        let stamp = stamp.expect("the stamp comes through TLS");
        assert!(stamp.since_epoch >= second_at, "{stamp:?} < {second_at:?}");
        done.send(()).unwrap();
        server.join().unwrap();
    }
}
