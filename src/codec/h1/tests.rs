use super::*;

/// What a connection made of a byte stream: the heads, the body bytes and how many responses
/// ended.
#[derive(Debug, Default, PartialEq, Eq)]
struct Decoded {
    heads: Vec<Head>,
    body: Vec<u8>,
    ends: usize,
    /// Bytes left undecoded after the last piece.
    kept: usize,
}

/// Feeds `pieces` one after another the way a connection does: what was not consumed is kept
/// and passed again in front of the next piece.
fn decode_pieces(pieces: &[&[u8]], keep: &'static [&'static str]) -> Result<Decoded, DecodeError> {
    let mut decoder = ResponseDecoder::new(keep);
    let mut pending = Vec::new();
    let mut out = Decoded::default();
    for piece in pieces {
        pending.extend_from_slice(piece);
        let mut at = 0;
        loop {
            let (n, event) = decoder.decode(&pending[at..])?;
            at += n;
            match event {
                None => break,
                Some(Event::Head(h)) => out.heads.push(h),
                Some(Event::Data(d)) => out.body.extend_from_slice(d),
                Some(Event::End) => out.ends += 1,
            }
        }
        pending.drain(..at);
    }
    out.kept = pending.len();
    Ok(out)
}

/// Decodes `stream` split in two at every position, and in one-byte pieces; all must agree.
fn decode_split_everywhere(stream: &[u8], keep: &'static [&'static str]) -> Decoded {
    let whole = decode_pieces(&[stream], keep).unwrap();
    for split in 0..=stream.len() {
        let two = decode_pieces(&[&stream[..split], &stream[split..]], keep).unwrap();
        assert_eq!(two, whole, "split at {split}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode_pieces(&bytes, keep).unwrap(), whole, "byte by byte");
    whole
}

const KEEP: &[&str] = &["x-next-cursor", "x-missed"];

#[test]
fn content_length_bodies_keep_alive_over_several_responses() {
    let mut stream = Vec::new();
    for (cursor, body) in [(7, &b"5:hello,"[..]), (8, b""), (9, b"1:x,")] {
        stream.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\nX-Next-Cursor: {cursor}\r\ncontent-length: {}\r\ndate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        stream.extend_from_slice(body);
    }
    let d = decode_split_everywhere(&stream, KEEP);
    assert_eq!(d.ends, 3);
    assert_eq!(d.kept, 0);
    assert_eq!(d.body, b"5:hello,1:x,");
    let cursors: Vec<_> = d.heads.iter().map(|h| h.get("x-next-cursor")).collect();
    assert_eq!(cursors, [Some("7"), Some("8"), Some("9")]);
    assert!(d.heads.iter().all(|h| h.status == 200 && !h.close));
    assert_eq!(d.heads[0].get("x-missed"), None);
    assert_eq!(d.heads[0].fields.len(), 1, "only kept fields are kept");
}

#[test]
fn chunked_bodies_split_anywhere_and_with_extensions_and_trailers() {
    let stream = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
        5\r\nhello\r\n1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n\
        0\r\nx-trailer: 1\r\n\r\n\
        HTTP/1.1 204 No Content\r\n\r\n";
    let d = decode_split_everywhere(stream, &[]);
    assert_eq!(d.body, b"helloabcdefghijklmnopqrstuvwxyz");
    assert_eq!(d.ends, 2);
    assert_eq!(d.kept, 0);
    assert_eq!(
        d.heads.iter().map(|h| h.status).collect::<Vec<_>>(),
        [200, 204]
    );
}

#[test]
fn a_chunked_stream_hands_out_data_as_it_comes_and_keeps_only_framing() {
    let mut decoder = ResponseDecoder::new(&[]);
    let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
    let input = [&head[..], b"3"].concat();
    let (n, e) = decoder.decode(&input).unwrap();
    assert!(matches!(e, Some(Event::Head(_))));
    assert_eq!(n, head.len(), "the body's first byte is left");
    // The size line is incomplete: nothing consumed, the caller keeps `3`.
    assert_eq!(decoder.decode(b"3").unwrap(), (0, None));
    // Part of a chunk is handed out at once; the CRLF after it may come later, byte by byte.
    assert_eq!(
        decoder.decode(b"3\r\nab").unwrap(),
        (5, Some(Event::Data(b"ab")))
    );
    assert_eq!(
        decoder.decode(b"c\r").unwrap(),
        (1, Some(Event::Data(b"c")))
    );
    assert_eq!(decoder.decode(b"\r").unwrap(), (0, None));
    assert_eq!(decoder.decode(b"\r\n").unwrap(), (2, None));
    assert!(!decoder.is_idle());
    assert_eq!(decoder.decode(b"0\r\n\r\n").unwrap(), (5, Some(Event::End)));
    assert!(decoder.is_idle());
}

#[test]
fn a_body_delimited_by_the_close_ends_at_the_close() {
    let stream = b"HTTP/1.1 200 OK\r\nx-next-cursor: 3\r\n\r\nall of it";
    let d = decode_split_everywhere(stream, KEEP);
    assert_eq!(d.body, b"all of it");
    assert_eq!(d.ends, 0, "not over until the connection ends");
    assert!(d.heads[0].close, "the connection cannot be reused");
    let mut decoder = ResponseDecoder::new(&[]);
    decoder.decode(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
    assert_eq!(decoder.finish(), Ok(Some(Event::End)));
}

#[test]
fn the_connection_ending_mid_response_is_an_error() {
    let mut decoder = ResponseDecoder::new(&[]);
    assert_eq!(decoder.finish(), Err(DecodeError::Incomplete));
    decoder
        .decode(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab")
        .unwrap();
    assert_eq!(decoder.finish(), Err(DecodeError::Incomplete));
}

#[test]
fn informational_responses_are_skipped() {
    let stream = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n\
        HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    let d = decode_split_everywhere(stream, &[]);
    assert_eq!(d.heads.len(), 1);
    assert_eq!(d.heads[0].status, 200);
    assert_eq!((d.body.as_slice(), d.ends), (&b"ok"[..], 1));
    let mut decoder = ResponseDecoder::new(&[]);
    assert_eq!(
        decoder.decode(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
        Err(DecodeError::UnexpectedUpgrade)
    );
}

#[test]
fn connection_close_and_http_1_0_end_the_connection() {
    let close = |head: &[u8]| decode_pieces(&[head], &[]).unwrap().heads[0].close;
    assert!(close(
        b"HTTP/1.1 200 OK\r\nConnection: Close\r\ncontent-length: 0\r\n\r\n"
    ));
    assert!(close(
        b"HTTP/1.1 200 OK\r\nconnection: te, close\r\ncontent-length: 0\r\n\r\n"
    ));
    assert!(!close(
        b"HTTP/1.1 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"
    ));
    assert!(close(b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n"));
    assert!(!close(
        b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n"
    ));
    // A body after 204 or 304 does not exist, whatever the head says.
    let d = decode_pieces(
        &[b"HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n"],
        &[],
    );
    assert_eq!(d.unwrap().ends, 1);
}

#[test]
fn a_head_too_large_is_refused_before_it_is_complete() {
    let mut head = b"HTTP/1.1 200 OK\r\nx-filler: ".to_vec();
    head.resize(MAX_HEAD_BYTES + 1, b'a');
    let mut decoder = ResponseDecoder::new(&[]);
    assert_eq!(decoder.decode(&head), Err(DecodeError::HeadTooLarge));
    // One that fits is fine, however it arrives.
    let d = decode_pieces(
        &[
            b"HTTP/1.1 200 OK\r\n",
            &[b'x'; 100],
            b": y\r\ncontent-length: 0\r\n\r\n",
        ],
        &[],
    );
    assert_eq!(d.unwrap().ends, 1);
}

#[test]
fn malformed_framing_is_an_error() {
    let decode = |stream: &[u8]| decode_pieces(&[stream], &[]).map(|_| ());
    let chunked = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
    for bad in [
        "zz\r\n",
        "\r\n",
        "5x\r\nhello\r\n",
        "11111111111111111\r\n",
        "3\r\nabcX",
    ] {
        assert_eq!(
            decode(format!("{chunked}{bad}").as_bytes()),
            Err(DecodeError::BadChunk),
            "{bad:?}"
        );
    }
    // A size line that never ends is refused once it passes the bound.
    let endless = format!("{chunked}1{}", " ".repeat(MAX_CHUNK_LINE_BYTES));
    assert_eq!(decode(endless.as_bytes()), Err(DecodeError::BadChunk));
    for bad in ["-1", "1 2", "", "0x10"] {
        let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {bad}\r\n\r\n");
        assert_eq!(
            decode(head.as_bytes()),
            Err(DecodeError::BadContentLength),
            "{bad:?}"
        );
    }
    assert_eq!(
        decode(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"),
        Err(DecodeError::BadContentLength)
    );
    assert!(matches!(
        decode(b"HTTP/1.1 2x0 OK\r\n\r\n"),
        Err(DecodeError::BadHead(_))
    ));
}

#[test]
fn transfer_encoding_wins_over_content_length_and_closes() {
    let d = decode_pieces(
        &[b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"],
        &[],
    )
    .unwrap();
    assert_eq!((d.body.as_slice(), d.ends), (&b"hi"[..], 1));
    assert!(d.heads[0].close);
}
