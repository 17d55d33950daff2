//! `wsbench serve --transport all`, without a browser: one port serves the page and every
//! transport over one hub, so a WebSocket client, a long-poll client and an SSE client see the
//! same messages, byte for byte, in the same order; the token guards all but the page. The
//! single-transport servers stay as they were: no page, one line of stdout.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wsbench::codec::{batch, sse};

const TOKEN: &str = "t0k/en";
const STEP: Duration = Duration::from_secs(10);

/// A `wsbench serve` child, stopped when dropped, and the rest of its stdout.
struct Served {
    child: Child,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(common::wsbench_bin())
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line.trim().parse().unwrap();
    Served {
        child,
        stdout,
        addr,
    }
}

/// One HTTP/1.1 request on its own connection: status, head, body.
async fn http(addr: SocketAddr, request: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{request}\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body).await.unwrap();
    let mut response = Vec::new();
    timeout(STEP, tcp.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(response[..split].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_lowercase(), response[split + 4..].to_vec())
}

fn auth() -> String {
    format!("authorization: Bearer {TOKEN}")
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A WebSocket client on `/ws` with these extra request headers; the 101's headers too.
async fn ws(
    addr: SocketAddr,
    headers: &[(&'static str, String)],
) -> Result<(Ws, hyper::HeaderMap), tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.parse().unwrap());
    }
    let (ws, response) = tokio_tungstenite::connect_async(request).await?;
    Ok((ws, response.headers().clone()))
}

async fn next_data(ws: &mut Ws) -> Message {
    loop {
        let m = timeout(STEP, ws.next()).await.unwrap().unwrap().unwrap();
        if m.is_text() || m.is_binary() {
            return m;
        }
    }
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn one_port_serves_every_transport_over_one_hub() {
    let mut served = serve(&["--transport", "all", "--token", TOKEN]);
    let addr = served.addr;
    let mut url = String::new();
    served.stdout.read_line(&mut url).unwrap();
    assert_eq!(url.trim(), format!("http://{addr}/?token=t0k%2Fen"));

    // The page needs no token: it holds no data, and it is what reads the token from its URL.
    let (status, head, body) = http(addr, "GET / HTTP/1.1", b"").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/html; charset=utf-8"),
        "{head}"
    );
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    let page = String::from_utf8(body).unwrap();
    assert!(
        page.contains(r#"<script type="module" src="/chat.js">"#),
        "{page}"
    );
    for (path, kind) in [
        ("/chat.js", "text/javascript"),
        ("/chat.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let (status, head, body) = http(addr, &format!("GET {path} HTTP/1.1"), b"").await;
        assert_eq!(status, 200, "{path}");
        assert!(head.contains(&format!("content-type: {kind}")), "{head}");
        assert!(!body.is_empty(), "{path}");
    }

    // Everything else needs it: on HTTP as a header, on WebSocket as a header or a subprotocol.
    assert_eq!(http(addr, "GET /poll HTTP/1.1", b"").await.0, 401);
    assert!(ws(addr, &[]).await.is_err());
    let wrong = format!("wsbench.bearer.{}", hex("nope"));
    assert!(
        ws(addr, &[("sec-websocket-protocol", wrong)])
            .await
            .is_err()
    );
    let (mut by_header, _) = ws(addr, &[("authorization", format!("Bearer {TOKEN}"))])
        .await
        .unwrap();
    let protocol = format!("wsbench.bearer.{}", hex(TOKEN));
    let (mut by_protocol, answered) = ws(addr, &[("sec-websocket-protocol", protocol.clone())])
        .await
        .unwrap();
    assert_eq!(answered["sec-websocket-protocol"], protocol.as_str());

    // An SSE stream and a long-poll join, both at the current end (nothing published yet).
    let mut events = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /events HTTP/1.1\r\nhost: {addr}\r\n{}\r\n\r\n", auth());
    events.write_all(request.as_bytes()).await.unwrap();
    let (status, head, _) = http(addr, &format!("GET /poll HTTP/1.1\r\n{}", auth()), b"").await;
    assert_eq!(
        (status, head.contains("x-next-cursor: 0")),
        (200, true),
        "{head}"
    );

    // Four messages, from both sides: text and binary over WebSocket, UTF-8 and not over HTTP.
    // Each is sent once the last has gone round, so the hub's order is the order sent.
    let sent: [(&[u8], bool); 4] = [
        ("你好，世界 from WebSocket".as_bytes(), true),
        (&[0xff, 0x00, 0x01], false),
        ("再见 from POST /publish".as_bytes(), true),
        (&[0xfe, b'\n', 0xfd], false),
    ];
    let publish = format!("POST /publish HTTP/1.1\r\n{}", auth());
    for (i, (payload, text)) in sent.iter().enumerate() {
        if i < 2 {
            let message = if *text {
                Message::text(std::str::from_utf8(payload).unwrap())
            } else {
                Message::binary(payload.to_vec())
            };
            by_header.send(message).await.unwrap();
        } else {
            assert_eq!(http(addr, &publish, payload).await.0, 204);
        }
        // Both WebSocket clients, the sender included, get it with the opcode it has: text when
        // it is UTF-8 (whoever sent it), binary when not.
        for client in [&mut by_header, &mut by_protocol] {
            let got = next_data(client).await;
            assert_eq!((got.is_text(), &got.into_data()[..]), (*text, *payload));
        }
    }

    // The long-poll client reads the same four, byte for byte, in one batch.
    let poll = format!("GET /poll?cursor=0 HTTP/1.1\r\n{}", auth());
    let (status, head, body) = http(addr, &poll, b"").await;
    let mut expected = Vec::new();
    for (payload, _) in &sent {
        batch::push(&mut expected, payload);
    }
    assert_eq!((status, body), (200, expected));
    assert!(head.contains("x-next-cursor: 4"), "{head}");

    // The SSE client gets them as events 1 to 4 (SSE carries lines: the `\n` splits a data
    // line and is joined back).
    let mut parser = sse::Parser::default();
    let mut items = Vec::new();
    let mut buf = vec![0u8; 4096];
    let mut head_done = false;
    let mut pending = Vec::new();
    while items.len() < 4 {
        let n = timeout(STEP, events.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "the event stream ended");
        pending.extend_from_slice(&buf[..n]);
        if !head_done {
            let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            assert!(head.contains("transfer-encoding: chunked"), "{head}");
            pending.drain(..end + 4);
            head_done = true;
        }
        // Unwrap the chunked framing: `<hex size>\r\n<data>\r\n` per chunk.
        while let Some(line_end) = pending.windows(2).position(|w| w == b"\r\n") {
            let size_text = std::str::from_utf8(&pending[..line_end]).unwrap();
            let size = usize::from_str_radix(size_text.trim(), 16).unwrap();
            if pending.len() < line_end + 2 + size + 2 {
                break;
            }
            let chunk: Vec<u8> = pending.drain(..line_end + 2 + size + 2).collect();
            parser
                .feed(&chunk[line_end + 2..line_end + 2 + size], &mut items)
                .unwrap();
        }
    }
    let got: Vec<(Option<Bytes>, Bytes)> = items
        .into_iter()
        .map(|item| match item {
            sse::Item::Event { id, data } => (id, data),
            other => panic!("{other:?}"),
        })
        .collect();
    let expected: Vec<(Option<Bytes>, Bytes)> = (1u64..)
        .zip(&sent)
        .map(|(id, (payload, _))| {
            let id = Bytes::from(id.to_string());
            (Some(id), Bytes::copy_from_slice(payload))
        })
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn the_single_servers_serve_no_page_and_print_one_line() {
    for transport in ["ws", "longpoll"] {
        let mut served = serve(&["--transport", transport]);
        let (status, _, _) = http(served.addr, "GET / HTTP/1.1", b"").await;
        assert!(
            [400, 404].contains(&status),
            "{transport}: GET / is {status}"
        );
        served.child.kill().unwrap();
        served.child.wait().unwrap();
        let mut rest = String::new();
        served.stdout.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "", "{transport}");
    }
}

#[test]
fn run_takes_no_all() {
    let output = Command::new(common::wsbench_bin())
        .args(["run", "scenarios/tiny.toml", "--transports", "ws,all"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid value 'all'"), "{stderr}");
}
