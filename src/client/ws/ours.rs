//! Our WebSocket client: the handshake from [`handshake`], then frames read
//! straight from the socket into [`Decoder`]'s buffer and written with [`encode_frame`].
//!
//! Owns one connection's reading and writing: answering pings, answering a close, masking what
//! it sends (RFC 6455 §5.3: a client masks every frame, with a fresh key each time). It knows
//! nothing of envelopes, publishing schedules or reconnecting: that is the subscriber loop's.
//!
//! Why not tungstenite here: a subscriber of small messages spends most of its CPU per frame,
//! and this path reads many frames per `read` (into the worker thread's scratch buffer, through
//! `client::framed`), parses each header from a slice, unmasks nothing (a server does not mask) and
//! validates text with simdutf8, handing each message out where it lies in the buffer. Between
//! reads an idle connection holds no read buffer at all: at tens of thousands of connections a
//! 4 KiB buffer each would be most of the generator's memory.
//!
//! Every `.await` here is cancel-safe (the subscriber loop `select!`s on [`Connection::next`]): a read
//! loses nothing when dropped, and frames to send wait in `out` with a count of what was written,
//! so a write cut short resumes where it stopped.

use tokio::io::{AsyncRead, AsyncWrite};

use super::handshake::{self, HandshakeError, Upgrade};
use super::{Connection, Received, WsError};
use crate::client::framed::Framed;
use crate::codec::ws::deflate::{Deflater, Inflater};
use crate::codec::ws::negotiate::Agreed;
use crate::codec::ws::{Config, ControlOp, DataOp, Decoder, Message, OpCode, encode_frame};
use crate::wire::stamp::{Arrivals, KernelStamp};

/// Close code sent when we end the connection ourselves: 1000, normal closure.
const NORMAL: u16 = 1000;

/// One connection of our client over any byte stream (`S` is a counted TCP socket, or TLS over one).
#[derive(Debug)]
pub struct Client<S> {
    /// The socket, the decoder and the frames queued to send ([`Framed`]).
    framed: Framed<S, Decoder>,
    /// A close frame was queued; nothing more may be sent.
    close_sent: bool,
    /// Where the stream starts, if the 101 said (a resumable upgrade).
    resume: Option<handshake::ResumePoint>,
    /// permessage-deflate agreed: how our messages are compressed.
    deflate: Option<Sending>,
}

/// How a client with permessage-deflate compresses what it sends. The compressor (a window and
/// hash tables, up to ~256 KiB at 15 bits) is made on the first message: most connections of a
/// run only subscribe and never need one.
#[derive(Debug)]
struct Sending {
    window_bits: u8,
    takeover: bool,
    deflater: Option<Box<Deflater>>,
}

impl Sending {
    /// What `agreed` asks of our messages; `None` (send them uncompressed, which RFC 7692
    /// allows) for an 8-bit window, which zlib cannot compress with.
    fn new(agreed: Agreed) -> Option<Sending> {
        (agreed.client_max_window_bits >= 9).then_some(Sending {
            window_bits: agreed.client_max_window_bits,
            takeover: !agreed.client_no_context_takeover,
            deflater: None,
        })
    }

    fn deflater(&mut self) -> &mut Deflater {
        let (bits, takeover) = (self.window_bits, self.takeover);
        self.deflater
            .get_or_insert_with(|| Box::new(Deflater::new(bits, takeover)))
    }
}

/// A fresh random masking key. `fastrand` is not a cryptographic generator; the RFC wants keys a
/// hostile page cannot predict, which no page here is.
fn mask() -> [u8; 4] {
    fastrand::u32(..).to_ne_bytes()
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Performs the opening handshake on `stream` with a fresh key. Frames the server sent right
    /// behind its response head are kept for the first reads.
    pub async fn handshake(mut stream: S, upgrade: &Upgrade) -> Result<Self, HandshakeError> {
        let key = tokio_tungstenite::tungstenite::handshake::client::generate_key();
        let (early, resume, agreed) = handshake::perform(&mut stream, upgrade, &key).await?;
        let mut client = Client::opened(stream, resume, agreed);
        client.framed.decoder.feed(&early);
        Ok(client)
    }

    /// A client on a stream whose opening handshake was made elsewhere (an HTTP/2 extended
    /// CONNECT, [`super::over_h2`]), with the resume point and deflate its answer stated.
    pub fn opened(
        stream: S,
        resume: Option<handshake::ResumePoint>,
        agreed: Option<Agreed>,
    ) -> Self {
        let mut decoder = Decoder::new(Config::client());
        if let Some(a) = agreed {
            decoder.set_inflater(Inflater::new(!a.server_no_context_takeover));
        }
        Client {
            framed: Framed::new(stream, decoder),
            close_sent: false,
            resume,
            deflate: agreed.and_then(Sending::new),
        }
    }

    /// Queues one frame with a fresh mask, a data frame compressed if agreed; nothing is queued
    /// after a close.
    fn queue(&mut self, opcode: OpCode, payload: &[u8]) {
        if self.close_sent {
            return;
        }
        match (opcode, self.deflate.as_mut()) {
            (OpCode::Data(op), Some(sending)) => {
                let out = &mut self.framed.out;
                sending
                    .deflater()
                    .encode_frame(out, op, payload, Some(mask()));
            }
            _ => queue_frame(&mut self.framed.out, opcode, payload),
        }
        self.close_sent = opcode == OpCode::Control(ControlOp::Close);
    }

    /// Queues a text message to go out with the next send, or before the next read.
    pub fn queue_text(&mut self, text: &[u8]) {
        self.queue(OpCode::Data(DataOp::Text), text);
    }
}

/// Appends a masked frame to `out`. A free function so that `payload` may borrow the decoder
/// while `out` is written.
fn queue_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    // Only a control frame can fail to encode (payload > 125 B): pings come from the decoder,
    // which enforces that bound, ours are empty and a close carries just its code.
    encode_frame(out, opcode, payload, Some(mask()))
        .expect("control frames here carry at most 125 bytes");
}

impl<S: AsyncRead + AsyncWrite + Arrivals + Unpin + Send> Connection for Client<S> {
    fn resume_point(&mut self) -> Option<handshake::ResumePoint> {
        self.resume.take()
    }

    async fn send_text(&mut self, text: Vec<u8>) -> Result<(), WsError> {
        self.queue(OpCode::Data(DataOp::Text), &text);
        Ok(self.framed.flush().await?)
    }

    async fn ping(&mut self) -> Result<(), WsError> {
        self.queue(OpCode::Control(ControlOp::Ping), b"");
        Ok(self.framed.flush().await?)
    }

    async fn next(&mut self, mut on_data: impl FnMut(&[u8]) + Send) -> Result<Received, WsError> {
        self.next_stamped(move |bytes, _| on_data(bytes)).await
    }

    async fn next_stamped(
        &mut self,
        mut on_data: impl FnMut(&[u8], Option<KernelStamp>) + Send,
    ) -> Result<Received, WsError> {
        let mut got = None;
        loop {
            // Pongs (and a close) queued below, or left by a call that was cancelled.
            self.framed.flush().await?;
            if self.close_sent {
                // What came before the close first; the next call reports the end.
                return got.ok_or(WsError::Closed);
            }
            // Every message the buffer already holds goes out in this one call: back-to-back
            // frames cost one trip through the subscriber's `select!`, not one each.
            // What the decoder holds was completed by the stream's last read.
            let arrival = self.framed.stream.arrival();
            match self.framed.decoder.next_message()? {
                Some(Message::Text(text)) => {
                    on_data(text.as_bytes(), arrival);
                    got = Some(Received::Data);
                }
                Some(Message::Binary(bytes)) => {
                    on_data(bytes, arrival);
                    got = Some(Received::Data);
                }
                Some(Message::Ping(payload)) => {
                    queue_frame(
                        &mut self.framed.out,
                        OpCode::Control(ControlOp::Pong),
                        payload,
                    );
                    got.get_or_insert(Received::Control);
                }
                Some(Message::Pong(_)) => {
                    got.get_or_insert(Received::Control);
                }
                Some(Message::Close(frame)) => {
                    // Echo the server's code (RFC 6455 §5.5.1).
                    let code = frame.map_or(NORMAL, |f| f.code).to_be_bytes();
                    self.queue(OpCode::Control(ControlOp::Close), &code);
                }
                None => {
                    if let Some(got) = got {
                        return Ok(got);
                    }
                    // Everything decoded: an idle connection keeps no buffer.
                    if !self.framed.fill().await? {
                        return Err(WsError::Closed);
                    }
                }
            }
        }
    }

    async fn close(&mut self) {
        self.queue(OpCode::Control(ControlOp::Close), &NORMAL.to_be_bytes());
        // The run is over: a peer that cannot take the close frame changes nothing measured.
        self.framed.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ws::{DecodeError, encode_close};
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

    /// The server's end after answering the client's upgrade: reads the request, accepts its
    /// key, and writes `after_head` in the same write as the response head.
    async fn accept(server: &mut DuplexStream, after_head: &[u8]) {
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            server.read_exact(&mut byte).await.unwrap();
            request.push(byte[0]);
        }
        let request = String::from_utf8(request).unwrap();
        let key = request
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        let mut response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            derive_accept_key(key.as_bytes())
        )
        .into_bytes();
        response.extend_from_slice(after_head);
        server.write_all(&response).await.unwrap();
    }

    /// Reads what the client sent until one whole frame decodes; returns its opcode and payload.
    async fn read_frame(server: &mut DuplexStream, decoder: &mut Decoder) -> (String, Vec<u8>) {
        loop {
            if let Some(m) = decoder.next_message().unwrap() {
                return match m {
                    Message::Text(t) => ("text".into(), t.as_bytes().to_vec()),
                    Message::Binary(b) => ("binary".into(), b.to_vec()),
                    Message::Ping(p) => ("ping".into(), p.to_vec()),
                    Message::Pong(p) => ("pong".into(), p.to_vec()),
                    Message::Close(c) => (
                        "close".into(),
                        c.map_or(Vec::new(), |c| c.code.to_be_bytes().to_vec()),
                    ),
                };
            }
            let n = server.read(decoder.read_buf()).await.unwrap();
            assert!(n > 0, "the client hung up");
            decoder.commit(n);
        }
    }

    fn upgrade() -> Upgrade {
        Upgrade {
            host: "127.0.0.1:1".into(),
            path: "/ws".into(),
            token: None,
            deflate: None,
        }
    }

    #[tokio::test]
    async fn reads_frames_behind_the_head_answers_pings_and_closes() {
        let (client, mut server) = duplex(4096);
        // A text message, a ping and a binary message arrive with the head, in one write.
        let early = [
            &[0x81, 0x02][..],
            b"hi",
            &[0x89, 0x01, b'p'],
            &[0x82, 0x03, 1, 2, 3],
        ]
        .concat();
        let (mut ws, ()) = tokio::join!(
            async { Client::handshake(client, &upgrade()).await.unwrap() },
            accept(&mut server, &early)
        );
        // Both messages come out of one call: they were in the buffer together.
        let mut got = Vec::new();
        assert_eq!(
            ws.next(|b| got.push(b.to_vec())).await.unwrap(),
            Received::Data
        );
        assert_eq!(got, [b"hi".to_vec(), vec![1, 2, 3]]);

        let mut from_client = Decoder::new(Config::server());
        assert_eq!(
            read_frame(&mut server, &mut from_client).await,
            ("pong".into(), b"p".to_vec())
        );
        ws.send_text(b"up".to_vec()).await.unwrap();
        ws.ping().await.unwrap();
        assert_eq!(
            read_frame(&mut server, &mut from_client).await,
            ("text".into(), b"up".to_vec())
        );
        assert_eq!(
            read_frame(&mut server, &mut from_client).await,
            ("ping".into(), Vec::new())
        );

        // A ping or a pong alone counts as a sign of life (the ping answered before it returns).
        server.write_all(&[0x89, 0x01, b'q']).await.unwrap();
        assert_eq!(ws.next(|_| panic!()).await.unwrap(), Received::Control);
        assert_eq!(
            read_frame(&mut server, &mut from_client).await,
            ("pong".into(), b"q".to_vec())
        );
        // A close is echoed and ends the connection.
        let mut close = vec![0x8a, 0x00];
        encode_close(&mut close, 1001, "bye", None).unwrap();
        server.write_all(&close).await.unwrap();
        assert_eq!(ws.next(|_| panic!()).await.unwrap(), Received::Control);
        assert!(matches!(ws.next(|_| panic!()).await, Err(WsError::Closed)));
        assert_eq!(
            read_frame(&mut server, &mut from_client).await,
            ("close".into(), 1001u16.to_be_bytes().to_vec())
        );
    }

    #[tokio::test]
    async fn a_protocol_error_or_a_hang_up_ends_the_connection() {
        let (client, mut server) = duplex(4096);
        // A masked frame from a server is a protocol error (RFC 6455 §5.1).
        let masked = [0x81, 0x81, 1, 2, 3, 4, b'x' ^ 1];
        let (mut ws, ()) = tokio::join!(
            async { Client::handshake(client, &upgrade()).await.unwrap() },
            accept(&mut server, &masked)
        );
        assert!(matches!(
            ws.next(|_| panic!()).await,
            Err(WsError::Protocol(DecodeError::MaskedFrame))
        ));

        let (client, mut server) = duplex(4096);
        let (mut ws, ()) = tokio::join!(
            async { Client::handshake(client, &upgrade()).await.unwrap() },
            accept(&mut server, b"")
        );
        drop(server);
        assert!(matches!(ws.next(|_| panic!()).await, Err(WsError::Closed)));
    }

    #[tokio::test]
    async fn every_frame_sent_is_masked_with_its_own_key() {
        let (client, mut server) = duplex(4096);
        let (mut ws, ()) = tokio::join!(
            async { Client::handshake(client, &upgrade()).await.unwrap() },
            accept(&mut server, b"")
        );
        for _ in 0..4 {
            ws.send_text(b"same".to_vec()).await.unwrap();
        }
        let mut wire = [0u8; 4 * 10];
        server.read_exact(&mut wire).await.unwrap();
        let frames: Vec<&[u8]> = wire.chunks(10).collect();
        for f in &frames {
            assert_eq!(&f[..2], [0x81, 0x84]);
        }
        let keys: std::collections::HashSet<&[u8]> = frames.iter().map(|f| &f[2..6]).collect();
        assert!(keys.len() > 1, "four frames, one key: {keys:?}");
    }
}
