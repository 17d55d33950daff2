//! WebSocket client (tokio-tungstenite over a counting socket): a subscriber that reads every
//! broadcast and, for the first `publishers` clients, also publishes on the same connection, as a
//! browser chat page does.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, interval_at, sleep_until, timeout};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use super::backoff::{Backoff, retry};
use super::conn::Stream;
use super::inbox::Inbox;
use super::publishing::Publishing;
use super::{Ctx, Event, Joiner, first_connect, pause_if, wait_until};

type Socket = WebSocketStream<Stream>;

/// Client settings for thousands of sockets in one process: a small read buffer (tungstenite
/// zero-fills the whole buffer on every read attempt; the default is 128 KiB).
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(2 * 1024)
        .write_buffer_size(0)
}

async fn connect(ctx: &Ctx) -> Result<Socket, String> {
    let scheme = if ctx.target.tls.is_some() {
        "wss"
    } else {
        "ws"
    };
    let url = format!("{scheme}://{}{}", ctx.target.addr, ctx.target.paths.ws);
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("request: {e}"))?;
    if let Some(token) = &ctx.target.token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| "the token is not a valid header value".to_string())?;
        request.headers_mut().insert("authorization", value);
    }
    let stream = super::conn::connect(ctx).await?;
    let (ws, _) = client_async_with_config(request, stream, Some(config()))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// Subscriber `index`, connecting at `slot`; publishes too if `index < publishers`.
pub(super) async fn subscriber(
    ctx: Arc<Ctx>,
    index: u32,
    slot: Instant,
    ping_interval: Option<Duration>,
    slow: bool,
) -> Inbox {
    let mut inbox = Inbox::default();
    let mut publishing = (index < ctx.plan.publishers).then(|| Publishing::new(ctx.clone(), index));
    if !wait_until(slot, &ctx.stop).await {
        return inbox;
    }
    let Some(mut ws) = first_connect(&ctx, Joiner::Subscriber(&mut inbox), connect(&ctx)).await
    else {
        return inbox;
    };

    // A lost connection is a fresh join, as a browser's reconnect is: what was broadcast while
    // it was away is not sent again, and counts as lost.
    let mut backoff = Backoff::new(ctx.plan.reconnect, u64::from(index));
    while receive(
        &ctx,
        &mut ws,
        &mut inbox,
        publishing.as_mut(),
        ping_interval,
        slow,
    )
    .await
    .is_err()
        && !ctx.stop.is_cancelled()
    {
        let lost_at = Instant::now();
        match retry(&ctx, &mut backoff, || connect(&ctx)).await {
            Some(fresh) => {
                ws = fresh;
                inbox.recorder.reconnects += 1;
                inbox.recorder.disconnected += lost_at.elapsed();
            }
            None => {
                inbox.recorder.io_errors += 1;
                break;
            }
        }
    }
    drop(publishing);
    ctx.send(Event::Finished);
    ctx.close.cancelled().await;
    let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
    inbox
}

/// Reads (and publishes) until every expected message arrived, the run stops, or the connection breaks.
async fn receive(
    ctx: &Ctx,
    ws: &mut Socket,
    inbox: &mut Inbox,
    mut publishing: Option<&mut Publishing>,
    ping_interval: Option<Duration>,
    slow: bool,
) -> Result<(), tungstenite::Error> {
    // Heartbeat: a ping every interval; a server that sent nothing at all since the previous
    // ping (not even the pong) is taken for dead, and the caller reconnects.
    let mut heartbeat = ping_interval.map(|every| interval_at(Instant::now() + every, every));
    let mut heard = true;
    let mut timeline_rx = ctx.timeline.subscribe();
    let mut timeline = *timeline_rx.borrow_and_update();
    let mut finals = ctx.tally.finals();
    inbox.set_expected(*finals.borrow_and_update());
    if let (Some(t), Some(p)) = (&timeline, publishing.as_deref_mut()) {
        p.start(t);
    }
    // Created once: a fresh `cancelled()` per message would register and drop a waiter each time.
    let stopped = ctx.stop.cancelled();
    tokio::pin!(stopped);
    loop {
        if inbox.complete() {
            return Ok(());
        }
        let due = publishing.as_deref().and_then(Publishing::next_due);
        tokio::select! {
            biased;
            _ = &mut stopped => return Ok(()),
            changed = timeline_rx.changed(), if timeline.is_none() => {
                if changed.is_err() {
                    return Ok(());
                }
                timeline = *timeline_rx.borrow_and_update();
                if let (Some(t), Some(p)) = (&timeline, publishing.as_deref_mut()) {
                    p.start(t);
                }
            }
            changed = finals.changed(), if !inbox.knows_expected() => {
                if changed.is_err() {
                    return Ok(());
                }
                inbox.set_expected(*finals.borrow_and_update());
            }
            _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                let p = publishing.as_deref_mut().expect("a due time comes from a publisher");
                if let Some(bytes) = p.next_message(ctx.plan.payload_bytes) {
                    let text = String::from_utf8(bytes).expect("envelopes are ASCII");
                    ws.send(Message::text(text)).await?;
                    p.sent();
                }
            }
            _ = async {
                match heartbeat.as_mut() {
                    Some(h) => { h.tick().await; }
                    None => std::future::pending().await,
                }
            } => {
                if !heard {
                    return Err(tungstenite::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no answer to the last ping",
                    )));
                }
                heard = false;
                ws.send(Message::Ping(Bytes::new())).await?;
            }
            incoming = ws.next() => {
                heard = true;
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        inbox.receive(text.as_bytes(), Instant::now(), timeline.as_ref());
                        pause_if(slow, ctx).await;
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        inbox.receive(&bytes, Instant::now(), timeline.as_ref());
                        pause_if(slow, ctx).await;
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        return Err(tungstenite::Error::ConnectionClosed);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e),
                }
            }
        }
    }
}
