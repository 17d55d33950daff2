//! WebSocket server (tokio-tungstenite): `GET /ws` upgrades; every text or binary message a client
//! sends is broadcast to every connected client, sender included, as the classic Node `ws` chat
//! server does. Pings are answered.
//!
//! One task per connection reads the client and, when the hub has news, feeds every new message
//! into tungstenite's write buffer and flushes once: whatever queued up for a connection leaves in
//! one write. Messages are kept in the hub as tungstenite `Message`s, so the payload is shared,
//! not copied, across connections. A client that falls more than the ring behind skips what was
//! overwritten and sees the gap in the sequence numbers.

use std::future::Future;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, http};
use tokio_tungstenite::{WebSocketStream, accept_hdr_async_with_config};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::hub::Hub;
use super::{Limits, ServerError};

/// The path that upgrades.
pub const PATH: &str = "/ws";

/// Serves WebSocket clients on `listener` until `shutdown` completes, then closes every connection
/// with 1001 (going away) and waits for them.
pub async fn serve(
    listener: TcpListener,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let hub = Arc::new(Hub::new(limits.ring_capacity));
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            _ = &mut shutdown => break Ok(()),
            accepted = super::accept(&listener) => match accepted {
                Ok(tcp) => {
                    tasks.spawn(connection(tcp, hub.clone(), limits.clone(), stop.clone()));
                }
                Err(e) => break Err(e),
            },
        }
    };
    stop.cancel();
    tasks.close();
    tasks.wait().await;
    result
}

/// tungstenite settings for a server with thousands of mostly idle connections: a small read
/// buffer (tungstenite zero-fills the whole buffer on every read attempt, and the connection task
/// attempts a read each time it wakes to send) and bounded messages and writes.
pub fn config(limits: &Limits) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(64 * 1024 + 2 * limits.max_message_bytes)
        .max_message_size(Some(limits.max_message_bytes))
        .max_frame_size(Some(limits.max_message_bytes))
}

#[allow(clippy::result_large_err)] // tungstenite's callback signature fixes the error type.
fn check_path(request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    if request.uri().path() == PATH {
        return Ok(response);
    }
    let mut refusal = ErrorResponse::new(Some(format!("only {PATH} upgrades\n")));
    *refusal.status_mut() = http::StatusCode::NOT_FOUND;
    Err(refusal)
}

async fn connection(
    tcp: TcpStream,
    hub: Arc<Hub<Message>>,
    limits: Limits,
    stop: CancellationToken,
) {
    let handshake = accept_hdr_async_with_config(tcp, check_path, Some(config(&limits)));
    let Ok(Ok(mut ws)) = timeout(limits.header_timeout, handshake).await else {
        return;
    };
    let mut news = hub.subscribe();
    news.borrow_and_update();
    let mut cursor = hub.latest();
    let mut idle_deadline = Instant::now() + limits.idle_timeout;
    // Created once: a fresh `cancelled()` per message would register and drop a waiter each time.
    let stopped = stop.cancelled();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            biased;
            _ = &mut stopped => {
                close(&mut ws, CloseCode::Away, "server shutting down").await;
                return;
            }
            incoming = ws.next() => {
                idle_deadline = Instant::now() + limits.idle_timeout;
                match incoming {
                    Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                        hub.publish(m);
                    }
                    // tungstenite queued the pong; send it now rather than with the next message.
                    Some(Ok(Message::Ping(_))) => {
                        if ws.flush().await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return,
                }
            }
            changed = news.changed() => {
                if changed.is_err() || send_news(&mut ws, &hub, &mut cursor, limits.max_batch).await.is_err() {
                    return;
                }
            }
            _ = sleep_until(idle_deadline) => {
                close(&mut ws, CloseCode::Policy, "idle timeout").await;
                return;
            }
        }
    }
}

/// Feeds everything after `cursor` into the write buffer and flushes once.
async fn send_news(
    ws: &mut WebSocketStream<TcpStream>,
    hub: &Hub<Message>,
    cursor: &mut u64,
    max_batch: usize,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    loop {
        let batch = hub.read_after(*cursor, max_batch);
        *cursor = batch.next_cursor;
        if batch.messages.is_empty() {
            break;
        }
        for message in batch.messages {
            ws.feed(message).await?;
        }
        if *cursor >= hub.latest() {
            break;
        }
    }
    ws.flush().await
}

async fn close(ws: &mut WebSocketStream<TcpStream>, code: CloseCode, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = timeout(std::time::Duration::from_secs(1), ws.close(Some(frame))).await;
}
