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
use super::ws::{Connection, Dial, Received, WsError, session};
use crate::codec::raw::{self, Decoder};
use crate::codec::ws::Config;
use crate::protocol::{RoomId, raw_room_preamble};
use crate::wire::stamp::{Arrivals, KernelStamp};

/// The byte stream under the client: TCP, counted (see [`super::conn`]).
type Stream = super::conn::Stream;

/// One raw connection over any byte stream.
#[derive(Debug)]
pub struct Client<S> {
    framed: Framed<S, Decoder>,
}

impl<S> Client<S> {
    /// A connection on `stream`; messages over the largest a server accepts are refused.
    pub fn new(stream: S) -> Self {
        Client {
            framed: Framed::new(stream, Decoder::new(Config::client().max_message_bytes)),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Arrivals + Unpin + Send> Connection for Client<S> {
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

/// With rooms the client's first bytes are the room preamble ([`raw_room_preamble`], 8 bytes up
/// per connection); without rooms it sends nothing until it publishes, as before rooms.
impl Dial for Client<Stream> {
    async fn dial(
        ctx: &std::sync::Arc<super::ctx::Ctx>,
        room: RoomId,
    ) -> Result<Self, ConnectError> {
        let mut client = Client::new(super::conn::connect(ctx).await?);
        if let Some(room) = ctx.plan.on_wire(room) {
            client
                .framed
                .out
                .extend_from_slice(&raw_room_preamble(room));
            client
                .framed
                .flush()
                .await
                .map_err(|e| ConnectError::io("room preamble", &e))?;
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
