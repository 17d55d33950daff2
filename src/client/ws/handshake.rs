//! The client's side of the WebSocket opening handshake (RFC 6455 §4.1), for our own client.
//!
//! Owns the upgrade request's bytes, reading the response head off the stream (parsed with
//! `httparse`) and checking it: status 101, `Upgrade: websocket`, `Connection: upgrade` and the
//! `Sec-WebSocket-Accept` that proves the server read our key. Whatever the server sent after the
//! head is handed back: it is the start of the first frames. Frames themselves are
//! [`codec::ws`](crate::codec::ws)'s business, and the socket is the caller's.
//!
//! The request carries the same headers, in the same order and with the same lengths, as
//! tungstenite's, so the two clients put the same connect bytes on the wire.

use crate::codec::ws::negotiate::{Agreed, Offer};
use crate::metrics::FailureKind;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The largest response head accepted; real servers send a few hundred bytes.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Bytes asked for per read while the head is incomplete.
const READ_BYTES: usize = 1024;

/// Headers a response head may have (httparse needs a fixed array).
const MAX_HEADERS: usize = 32;

/// Where to upgrade and with what credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// The `Host` header: the server's address with its port (`127.0.0.1:8080`, `[::1]:8080`).
    pub host: String,
    /// The request target, e.g. `/ws`.
    pub path: String,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Offer permessage-deflate (`Sec-WebSocket-Extensions`), asking the server for this.
    pub deflate: Option<Offer>,
}

/// Where a resumable connection's stream starts, as the 101 said (`x-cursor`, `x-missed`,
/// `x-reset`): absent from a server that does not resume (or when not asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResumePoint {
    /// The number of the last message before the first frame.
    pub cursor: u64,
    /// Messages after the asked-for cursor that the server no longer held.
    pub missed: u64,
    /// The cursor was ahead of the server (it restarted): the stream starts over.
    pub reset: bool,
}

/// The resume point a complete response head states, if it states one.
pub fn resume_point(head: &[u8]) -> Option<ResumePoint> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    response.parse(head).ok()?;
    let number = |name: &str| -> Option<u64> {
        let h = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))?;
        std::str::from_utf8(h.value).ok()?.trim().parse().ok()
    };
    Some(ResumePoint {
        cursor: number(crate::protocol::CURSOR)?,
        missed: number(crate::protocol::MISSED).unwrap_or(0),
        reset: number(crate::protocol::RESET) == Some(1),
    })
}

/// Why the opening handshake failed. The connection is unusable: drop it (the caller may
/// reconnect).
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// Reading or writing the socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection before the response head was complete.
    #[error("the server closed the connection during the handshake")]
    Eof,
    /// The response head is not HTTP/1.1 (or has more than 32 headers).
    #[error("malformed response head: {0}")]
    Malformed(#[from] httparse::Error),
    /// The response head did not end within 16 KiB.
    #[error("response head longer than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    /// The server did not switch protocols: a wrong path, a missing token, or not a WebSocket server.
    #[error("the server answered {0} instead of 101 Switching Protocols")]
    Status(u16),
    /// A header the RFC requires in a 101 response is missing or has another value.
    #[error("the response lacks `{0}`")]
    MissingHeader(&'static str),
    /// `Sec-WebSocket-Accept` is not the digest of our key: the server did not read our request
    /// as a WebSocket upgrade (or something in between answered for it).
    #[error("Sec-WebSocket-Accept is {got:?}, expected {expected:?}")]
    Accept {
        /// The digest of our key.
        expected: String,
        /// What the server sent.
        got: String,
    },
    /// `Sec-WebSocket-Extensions` answers what was not offered, or breaks the offer's rules.
    #[error("Sec-WebSocket-Extensions: {0}")]
    Extension(String),
}

impl HandshakeError {
    /// The kind of failure, for the run's counts.
    pub fn kind(&self) -> FailureKind {
        match self {
            HandshakeError::Io(e) => FailureKind::of_io(e),
            HandshakeError::Eof => FailureKind::Reset,
            HandshakeError::Status(_) => FailureKind::Rejected,
            HandshakeError::Malformed(_)
            | HandshakeError::HeadTooLarge
            | HandshakeError::MissingHeader(_)
            | HandshakeError::Accept { .. }
            | HandshakeError::Extension(_) => FailureKind::Protocol,
        }
    }
}

/// The upgrade request for `upgrade` with the (base64) `key`.
pub fn request(upgrade: &Upgrade, key: &str) -> Vec<u8> {
    let mut head = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n",
        upgrade.path, upgrade.host
    );
    if let Some(token) = &upgrade.token {
        head += &format!("authorization: Bearer {token}\r\n");
    }
    if let Some(offer) = &upgrade.deflate {
        head += &format!("Sec-WebSocket-Extensions: {}\r\n", offer.header());
    }
    head += "\r\n";
    head.into_bytes()
}

/// Checks a response to a request made with `key`: `Ok(None)` while `head` is still incomplete,
/// `Ok(Some(len))` with the length of a complete, accepting head.
pub fn check_response(head: &[u8], key: &str) -> Result<Option<usize>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(head)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let status = response.code.unwrap_or_default();
    if status != 101 {
        return Err(HandshakeError::Status(status));
    }
    let value = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };
    if !value("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err(HandshakeError::MissingHeader("Upgrade: websocket"));
    }
    let connection = value("connection").unwrap_or_default();
    if !connection
        .split(',')
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
    {
        return Err(HandshakeError::MissingHeader("Connection: upgrade"));
    }
    let expected = derive_accept_key(key.as_bytes());
    match value("sec-websocket-accept") {
        Some(got) if got == expected => Ok(Some(len)),
        Some(got) => Err(HandshakeError::Accept { expected, got }),
        None => Err(HandshakeError::MissingHeader("Sec-WebSocket-Accept")),
    }
}

/// What a complete response head agreed of the `offer` (`None`: nothing offered): the
/// permessage-deflate parameters, or none if the server declined.
pub fn agreed(head: &[u8], offer: Option<Offer>) -> Result<Option<Agreed>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    response.parse(head)?;
    let values: Vec<&str> = response
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .collect();
    let answer = (!values.is_empty()).then(|| values.join(", "));
    match offer {
        Some(offer) => offer
            .accepted(answer.as_deref())
            .map_err(HandshakeError::Extension),
        None => match answer {
            Some(a) => Err(HandshakeError::Extension(format!("{a:?} was not offered"))),
            None => Ok(None),
        },
    }
}

/// Performs the handshake on `stream` with `key`: writes the request, reads and checks the
/// response. Returns the bytes that followed the head in the same reads (the first frames), the
/// resume point the head stated and the permessage-deflate it agreed.
pub async fn perform<S>(
    stream: &mut S,
    upgrade: &Upgrade,
    key: &str,
) -> Result<(Vec<u8>, Option<ResumePoint>, Option<Agreed>), HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&request(upgrade, key)).await?;
    stream.flush().await?;
    let mut buf = Vec::with_capacity(READ_BYTES);
    loop {
        if buf.len() >= MAX_HEAD_BYTES {
            return Err(HandshakeError::HeadTooLarge);
        }
        // `read_buf` appends into spare capacity: nothing is zero-filled.
        buf.reserve(READ_BYTES.min(MAX_HEAD_BYTES - buf.len()));
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(HandshakeError::Eof);
        }
        if let Some(len) = check_response(&buf, key)? {
            let point = resume_point(&buf[..len]);
            let agreed = agreed(&buf[..len], upgrade.deflate)?;
            buf.drain(..len);
            return Ok((buf, point, agreed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    /// RFC 6455 §1.3's example key and the accept value it must produce.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn upgrade(token: Option<&str>) -> Upgrade {
        Upgrade {
            host: "127.0.0.1:8080".into(),
            path: "/ws".into(),
            token: token.map(String::from),
            deflate: None,
        }
    }

    fn ok_head(accept: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
             sec-websocket-accept: {accept}\r\n\r\n"
        )
    }

    #[test]
    fn the_request_is_tungstenites_byte_for_byte() {
        assert_eq!(
            String::from_utf8(request(&upgrade(None), KEY)).unwrap(),
            "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        let with_token = String::from_utf8(request(&upgrade(Some("s3")), KEY)).unwrap();
        assert!(
            with_token
                .ends_with("Key: dGhlIHNhbXBsZSBub25jZQ==\r\nauthorization: Bearer s3\r\n\r\n")
        );
    }

    #[test]
    fn checks_status_headers_and_the_accept_key() {
        let head = ok_head(ACCEPT);
        assert_eq!(
            check_response(head.as_bytes(), KEY).unwrap(),
            Some(head.len())
        );
        for cut in 0..head.len() {
            assert_eq!(check_response(&head.as_bytes()[..cut], KEY).unwrap(), None);
        }
        let refused = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        assert!(matches!(
            check_response(refused, KEY),
            Err(HandshakeError::Status(404))
        ));
        let wrong = ok_head("AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert!(matches!(
            check_response(wrong.as_bytes(), KEY),
            Err(HandshakeError::Accept { .. })
        ));
        let no_upgrade = ok_head(ACCEPT).replace("upgrade: websocket\r\n", "");
        assert!(matches!(
            check_response(no_upgrade.as_bytes(), KEY),
            Err(HandshakeError::MissingHeader("Upgrade: websocket"))
        ));
        let no_accept = b"HTTP/1.1 101 Switching Protocols\r\nconnection: keep-alive, Upgrade\r\n\
                          upgrade: WebSocket\r\n\r\n";
        assert!(matches!(
            check_response(no_accept, KEY),
            Err(HandshakeError::MissingHeader("Sec-WebSocket-Accept"))
        ));
        assert!(matches!(
            check_response(b"SSH-2.0-OpenSSH\r\n\r\n", KEY),
            Err(HandshakeError::Malformed(_))
        ));
    }

    /// A server on the other end of an in-memory pipe: reads the request, then writes `chunks`
    /// one write at a time.
    async fn handshake_against(chunks: Vec<Vec<u8>>) -> (Result<Vec<u8>, HandshakeError>, String) {
        let (mut client, mut server) = duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") {
                server.read_exact(&mut byte).await.unwrap();
                request.push(byte[0]);
            }
            for chunk in chunks {
                server.write_all(&chunk).await.unwrap();
                server.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
            String::from_utf8(request).unwrap()
        });
        let result = perform(&mut client, &upgrade(None), KEY)
            .await
            .map(|(early, _, _)| early);
        (result, server.await.unwrap())
    }

    #[test]
    fn a_resumable_101_says_where_the_stream_starts() {
        let plain = ok_head(ACCEPT);
        assert_eq!(resume_point(plain.as_bytes()), None);
        let head = plain.replace("\r\n\r\n", "\r\nx-cursor: 41\r\nx-missed: 7\r\n\r\n");
        assert_eq!(
            resume_point(head.as_bytes()),
            Some(ResumePoint {
                cursor: 41,
                missed: 7,
                reset: false
            })
        );
        let head = plain.replace("\r\n\r\n", "\r\nx-cursor: 0\r\nx-reset: 1\r\n\r\n");
        assert_eq!(
            resume_point(head.as_bytes()),
            Some(ResumePoint {
                cursor: 0,
                missed: 0,
                reset: true
            })
        );
        let head = plain.replace("\r\n\r\n", "\r\nx-cursor: -1\r\n\r\n");
        assert_eq!(resume_point(head.as_bytes()), None);
    }

    #[tokio::test]
    async fn a_head_split_across_reads_is_joined() {
        let head = ok_head(ACCEPT).into_bytes();
        let chunks = head.chunks(7).map(<[u8]>::to_vec).collect();
        let (result, request) = handshake_against(chunks).await;
        assert_eq!(result.unwrap(), b"");
        assert!(request.starts_with("GET /ws HTTP/1.1\r\n"));
    }

    #[tokio::test]
    async fn frames_in_the_same_read_as_the_head_are_kept() {
        let mut bytes = ok_head(ACCEPT).into_bytes();
        let frames = [0x81, 0x02, b'h', b'i', 0x89, 0x00];
        bytes.extend_from_slice(&frames);
        let (result, _) = handshake_against(vec![bytes]).await;
        assert_eq!(result.unwrap(), frames);
    }

    #[tokio::test]
    async fn a_refusal_or_a_hang_up_fails_cleanly() {
        let refused = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n".to_vec();
        let (result, _) = handshake_against(vec![refused]).await;
        assert!(matches!(result, Err(HandshakeError::Status(401))));
        let (result, _) = handshake_against(vec![b"HTTP/1.1 101 Swi".to_vec()]).await;
        assert!(matches!(result, Err(HandshakeError::Eof)));
        let endless = vec![b'x'; MAX_HEAD_BYTES + 10];
        let (result, _) =
            handshake_against(vec![b"HTTP/1.1 101 OK\r\nx: ".to_vec(), endless]).await;
        assert!(
            matches!(result, Err(HandshakeError::HeadTooLarge)),
            "{result:?}"
        );
    }
}
