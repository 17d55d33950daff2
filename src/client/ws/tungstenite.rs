//! The tokio-tungstenite client, kept beside ours as a cross-check: the same subscriber loop over
//! a widely used implementation (`[transports.ws] client = "tungstenite"`).
//!
//! Owns tungstenite's handshake and configuration and the mapping of its messages onto
//! [`Connection`]. Pongs and the answer to a close are tungstenite's own doing: it queues them
//! and writes them with the next read or send.

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use super::handshake::Upgrade;
use super::{Connection, Received, WsError};
use crate::wire::stamp::{Arrivals, KernelStamp};

/// Client settings for thousands of sockets in one process: a small read buffer (tungstenite
/// zero-fills the whole buffer on every read attempt; the default is 128 KiB).
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(2 * 1024)
        .write_buffer_size(0)
}

/// Performs the opening handshake on `stream` with tungstenite.
pub async fn handshake<S>(stream: S, upgrade: &Upgrade) -> Result<WebSocketStream<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let url = format!("ws://{}{}", upgrade.host, upgrade.path);
    let mut request = url.into_client_request()?;
    if let Some(token) = &upgrade.token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| WsError::Token)?;
        request.headers_mut().insert("authorization", value);
    }
    let (ws, _) = client_async_with_config(request, stream, Some(config())).await?;
    Ok(ws)
}

impl<S: AsyncRead + AsyncWrite + Arrivals + Unpin + Send> Connection for WebSocketStream<S> {
    async fn send_text(&mut self, text: Vec<u8>) -> Result<(), WsError> {
        let text = String::from_utf8(text).map_err(|_| WsError::NotText)?;
        Ok(self.send(Message::text(text)).await?)
    }

    async fn ping(&mut self) -> Result<(), WsError> {
        Ok(self.send(Message::Ping(Bytes::new())).await?)
    }

    async fn next(&mut self, mut on_data: impl FnMut(&[u8]) + Send) -> Result<Received, WsError> {
        self.next_stamped(move |bytes, _| on_data(bytes)).await
    }

    /// tungstenite reads into its own buffer; the message came out of the stream's last read.
    async fn next_stamped(
        &mut self,
        mut on_data: impl FnMut(&[u8], Option<KernelStamp>) + Send,
    ) -> Result<Received, WsError> {
        match StreamExt::next(self).await {
            Some(Ok(Message::Text(text))) => {
                on_data(text.as_bytes(), self.get_ref().arrival());
                Ok(Received::Data)
            }
            Some(Ok(Message::Binary(bytes))) => {
                on_data(&bytes, self.get_ref().arrival());
                Ok(Received::Data)
            }
            Some(Ok(Message::Close(_))) | None => Err(WsError::Closed),
            Some(Ok(_)) => Ok(Received::Control),
            Some(Err(e)) => Err(e.into()),
        }
    }

    async fn close(&mut self) {
        // The run is over: a peer that cannot take the close frame changes nothing measured.
        let _ = SinkExt::close(self).await;
    }
}

impl From<tungstenite::Error> for WsError {
    fn from(e: tungstenite::Error) -> Self {
        WsError::Tungstenite(Box::new(e))
    }
}
