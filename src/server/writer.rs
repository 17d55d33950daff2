//! What a WebSocket connection's own task writes with ([`super::ws`]): its stream, and its
//! place in the room's pushes ([`super::push`]).

use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;

use super::framed::Framed;
use super::hub::{Hub, Room};
use super::push::Outbox;

/// What a connection's task writes with: its stream, and its place in the room's pushes. Its
/// writes are rare (a full socket, a pong, a ping, the close) and boxed: inline, each would grow
/// every idle connection's task by a kilobyte and a half.
pub(super) struct Writer<'a, S> {
    pub io: S,
    pub outbox: Arc<Outbox<Framed>>,
    pub hub: &'a Hub<Framed>,
    pub room: &'a Room,
    pub max_batch: usize,
}

impl<S: AsyncWrite + Unpin> Writer<'_, S> {
    /// The news the pusher handed over (or the backlog of a new connection).
    pub async fn news(&mut self) -> std::io::Result<()> {
        let (hub, room, max_batch) = (self.hub, self.room, self.max_batch);
        Box::pin(self.outbox.send(&mut self.io, hub, room, max_batch)).await
    }

    /// The connection's own frames, between two news frames, within a second (flushed, as
    /// everything [`Outbox::write_own`] writes).
    pub async fn own(&mut self, frames: &[u8]) -> std::io::Result<()> {
        let (hub, room, max_batch) = (self.hub, self.room, self.max_batch);
        let write = self
            .outbox
            .write_own(&mut self.io, frames, hub, room, max_batch);
        Box::pin(timeout(std::time::Duration::from_secs(1), write))
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
    }

    /// The last frames (a close): nothing is pushed after them. Within a second.
    pub async fn last(&mut self, frames: &[u8], shutdown: bool) {
        let Writer { io, outbox, .. } = self;
        let _ = Box::pin(timeout(std::time::Duration::from_secs(1), async {
            outbox.take_over(io).await?;
            io.write_all(frames).await?;
            io.flush().await?;
            if shutdown {
                io.shutdown().await?;
            }
            Ok::<_, std::io::Error>(())
        }))
        .await;
    }
}
