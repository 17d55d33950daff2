//! What a stopping server still reads: everything its clients sent before they learned it was
//! stopping.
//!
//! A WebSocket or raw publisher has no answer to wait for, so a message it wrote just before the
//! server's close is in flight when the server stops. A server that closed and returned at once
//! would leave those bytes unread, and the kernel would answer them with a reset: the messages
//! are lost, though the client did nothing wrong (a rolling deploy lost one to four whole
//! messages that way). So a stopping server says it is going (the WebSocket close 1001, raw's
//! half-close), then keeps reading and publishing until the client's own close or the end of its
//! stream, which our clients send as soon as they read the server's, within [`DRAIN`]. Only
//! after every connection has drained does an instance flush its relay to the shared log.

use std::time::Duration;

use tokio::io::AsyncRead;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::framed::Framed;
use super::hub::{Hub, Room};
use super::joined::Joined;
use crate::codec::ws::{Decoder, Message};
use crate::wire::scratch;

/// How long a stopping server reads a connection after its close: a client that answers at once
/// takes a round trip; one that never answers is cut off here, well before a supervisor's
/// SIGKILL (`wsbench run` sends it 5 s after SIGTERM).
pub(crate) const DRAIN: Duration = Duration::from_secs(2);

/// After the server's close frame: publishes every message the client sent before it read that
/// close, until the client's own close (or the end of its stream, or a broken frame), within
/// [`DRAIN`]. Nothing is answered: the close was the server's last frame.
pub(super) async fn websocket<S: AsyncRead + Unpin>(
    io: &mut S,
    decoder: &mut Decoder,
    hub: &Hub<Framed>,
    room: &Room,
) {
    let _ = tokio::time::timeout(DRAIN, async {
        loop {
            loop {
                match decoder.next_message() {
                    Ok(Some(Message::Text(text))) => {
                        hub.publish(room, Framed::new(text.as_bytes(), true));
                    }
                    Ok(Some(Message::Binary(bytes))) => {
                        hub.publish(room, Framed::new(bytes, false));
                    }
                    Ok(Some(Message::Close(_))) | Err(_) => return,
                    Ok(Some(Message::Ping(_) | Message::Pong(_))) => {}
                    Ok(None) => break,
                }
            }
            let read = scratch::read_with(io, |bytes| {
                decoder.feed(bytes);
                bytes.len()
            });
            if !matches!(read.await, Ok(n) if n > 0) {
                return;
            }
        }
    })
    .await;
}

/// Stops a server whose accept loop ended: refuses new connections at once (so a client
/// reconnects elsewhere instead of waiting in a queue nobody accepts from), tells every
/// connection to stop (`stop`) and waits while they drain (`tasks`), then hands the shared log
/// what they published meanwhile.
pub(super) async fn stop<M: Send + 'static>(
    listener: TcpListener,
    stop: &CancellationToken,
    tasks: &TaskTracker,
    relay: Option<Joined<M>>,
) {
    drop(listener);
    stop.cancel();
    tasks.close();
    tasks.wait().await;
    if let Some(relay) = relay {
        relay.flush().await;
    }
}
