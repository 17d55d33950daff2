//! The connection against scripted servers on an in-memory duplex stream. Time is paused, so a
//! server's pause between two writes makes the client read them apart, deterministically.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

use super::*;
use crate::codec::h1::{MAX_HEAD_BYTES, Method};

const KEEP: &[&str] = &["x-next-cursor"];

fn get(target: &str) -> Request<'_> {
    Request {
        method: Method::Get,
        target,
        host: SocketAddr::from(([127, 0, 0, 1], 80)),
        token: None,
        event_stream: false,
        last_event_id: None,
        conditional: None,
        headers: &[],
        body_bytes: 0,
    }
}

/// Reads one request head from the client and checks it is `GET <target>`, byte for byte.
async fn expect_get(server: &mut DuplexStream, target: &str) {
    let want = format!("GET {target} HTTP/1.1\r\nhost: 127.0.0.1:80\r\n\r\n");
    let mut got = vec![0; want.len()];
    server.read_exact(&mut got).await.unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), want);
}

/// Writes `pieces` with a pause after each, so the client reads each one on its own.
async fn write_apart(server: &mut DuplexStream, pieces: &[&[u8]]) {
    for piece in pieces {
        server.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Sends `GET target` and reads the whole answer.
async fn exchange(
    conn: &mut Connection<DuplexStream>,
    target: &str,
) -> Result<(Head, Vec<u8>), H1Error> {
    conn.send(&encode(&get(target), b"")).await?;
    let head = conn.head().await?;
    let body = conn.body(1 << 20).await?;
    Ok((head, body))
}

#[tokio::test(start_paused = true)]
async fn keep_alive_over_several_responses_of_each_framing() {
    let (client, mut server) = duplex(1 << 16);
    let script = tokio::spawn(async move {
        expect_get(&mut server, "/poll").await;
        // A join's answer: an empty body, complete with its head.
        write_apart(
            &mut server,
            &[b"HTTP/1.1 200 OK\r\nx-next-cursor: 6\r\ncontent-length: 0\r\n\r\n"],
        )
        .await;
        expect_get(&mut server, "/poll").await;
        write_apart(
            &mut server,
            &[
                b"HTTP/1.1 200 OK\r\nx-next-cursor: 7\r\ncontent-length: 5\r\n\r\nhe",
                b"llo",
            ],
        )
        .await;
        expect_get(&mut server, "/poll?cursor=7").await;
        write_apart(
            &mut server,
            &[b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 200 OK\r\nx-next-cursor: 8\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
        )
        .await;
        expect_get(&mut server, "/poll?cursor=8").await;
        write_apart(
            &mut server,
            &[
                b"HTTP/1.1 200 OK\r\nx-next-cursor: 9\r\n\r\nuntil",
                b" close",
            ],
        )
        .await;
    });
    let mut conn = Connection::new(client, KEEP);
    let (head, body) = exchange(&mut conn, "/poll").await.unwrap();
    assert_eq!(
        (head.get("x-next-cursor"), body.as_slice()),
        (Some("6"), &b""[..])
    );
    let (head, body) = exchange(&mut conn, "/poll").await.unwrap();
    assert_eq!(
        (head.get("x-next-cursor"), body.as_slice()),
        (Some("7"), &b"hello"[..])
    );
    assert_eq!(
        conn.pending.capacity(),
        0,
        "an idle connection keeps no buffer"
    );
    let (head, body) = exchange(&mut conn, "/poll?cursor=7").await.unwrap();
    assert_eq!((head.status, head.get("x-next-cursor")), (200, Some("8")));
    assert_eq!(body, b"abc");
    assert_eq!(conn.pending.capacity(), 0);
    let (head, body) = exchange(&mut conn, "/poll?cursor=8").await.unwrap();
    assert!(head.close);
    assert_eq!(body, b"until close");
    script.await.unwrap();
    let again = exchange(&mut conn, "/poll").await.unwrap_err();
    assert!(matches!(again, H1Error::Spent), "{again}");
    assert_eq!(again.during("poll").kind, FailureKind::Reset);
}

#[tokio::test(start_paused = true)]
async fn a_chunked_body_split_across_reads_anywhere_is_whole() {
    let response: &[u8] = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
        5\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
    for split in 0..=response.len() {
        let (client, mut server) = duplex(1 << 16);
        let script = tokio::spawn(async move {
            expect_get(&mut server, "/").await;
            write_apart(&mut server, &[&response[..split], &response[split..]]).await;
            server
        });
        let mut conn = Connection::new(client, &[]);
        let (head, body) = exchange(&mut conn, "/").await.unwrap();
        assert_eq!(
            (head.status, body.as_slice()),
            (200, &b"hello0123456789abcdef"[..]),
            "split at {split}"
        );
        assert_eq!(conn.pending.capacity(), 0, "split at {split}");
        drop(script.await.unwrap());
    }
}

#[tokio::test(start_paused = true)]
async fn connection_close_spends_the_connection_after_its_response() {
    let (client, mut server) = duplex(1 << 16);
    let script = tokio::spawn(async move {
        expect_get(&mut server, "/").await;
        server
            .write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok")
            .await
            .unwrap();
        server
    });
    let mut conn = Connection::new(client, &[]);
    let (head, body) = exchange(&mut conn, "/").await.unwrap();
    assert!(head.close);
    assert_eq!(body, b"ok");
    assert!(matches!(
        conn.send(&encode(&get("/"), b"")).await,
        Err(H1Error::Spent)
    ));
    drop(script.await.unwrap());
}

/// What a scripted server's one answer does to an exchange.
async fn answer_with(response: Vec<u8>) -> H1Error {
    let (client, mut server) = duplex(1 << 16);
    let script = tokio::spawn(async move {
        expect_get(&mut server, "/").await;
        server.write_all(&response).await.unwrap();
        // The connection ends here (the server is dropped).
    });
    let mut conn = Connection::new(client, &[]);
    let err = exchange(&mut conn, "/").await.unwrap_err();
    script.await.unwrap();
    err
}

#[tokio::test(start_paused = true)]
async fn bounded_and_malformed_answers_are_errors_of_the_right_kind() {
    let mut huge = b"HTTP/1.1 200 OK\r\nx-filler: ".to_vec();
    huge.resize(MAX_HEAD_BYTES + 100, b'a');
    let e = answer_with(huge).await;
    assert!(
        matches!(e, H1Error::Decode(DecodeError::HeadTooLarge)),
        "{e}"
    );
    assert_eq!(e.during("poll").kind, FailureKind::Protocol);

    let e =
        answer_with(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nxyz\r\n".to_vec()).await;
    assert!(matches!(e, H1Error::Decode(DecodeError::BadChunk)), "{e}");
    assert_eq!(e.during("poll").kind, FailureKind::Protocol);

    let limit = 1 << 20;
    let mut long = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", limit + 1).into_bytes();
    long.resize(long.len() + limit + 1, b'.');
    let e = answer_with(long).await;
    assert!(matches!(e, H1Error::BodyTooLarge(_)), "{e}");

    let e = answer_with(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort".to_vec()).await;
    assert!(matches!(e, H1Error::Decode(DecodeError::Incomplete)), "{e}");
    assert_eq!(e.during("poll").kind, FailureKind::Reset);

    let e = answer_with(Vec::new()).await;
    assert_eq!(e.during("poll").kind, FailureKind::Reset, "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_loses_nothing_when_a_wait_is_cancelled() {
    let (client, mut server) = duplex(1 << 16);
    let script = tokio::spawn(async move {
        expect_get(&mut server, "/events").await;
        write_apart(
            &mut server,
            &[b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\nab"],
        )
        .await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        write_apart(&mut server, &[b"cd\r\n", b"2\r\nef\r\n0\r", b"\n\r\n"]).await;
    });
    let mut conn = Connection::new(client, &[]);
    conn.send(&encode(&get("/events"), b"")).await.unwrap();
    assert_eq!(conn.head().await.unwrap().status, 200);
    // The data that came with the head is handed out at once, without waiting for more.
    let mut got = Vec::new();
    let first = conn.body_part(|d| got.extend_from_slice(d));
    let first = tokio::time::timeout(Duration::from_secs(1), first).await;
    assert!(matches!(first, Ok(Ok(true))), "{first:?}");
    assert_eq!(got, b"ab");
    let mut ended = false;
    let mut cancelled = 0;
    while !ended {
        tokio::select! {
            more = conn.body_part(|d| got.extend_from_slice(d)) => ended = !more.unwrap(),
            _ = tokio::time::sleep(Duration::from_secs(1)) => cancelled += 1,
        }
    }
    assert_eq!(got, b"abcdef");
    assert!(cancelled >= 5, "waits were cancelled ({cancelled})");
    assert!(
        conn.send(&encode(&get("/events"), b"")).await.is_err(),
        "a stream's end is its connection's"
    );
    script.await.unwrap();
}
