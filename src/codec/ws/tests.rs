//! Unit tests of the streaming decoder: the RFC 6455 §5.7 byte sequences, back-to-back frames
//! split at every byte, fragments with control frames between them, limits, and every way a
//! stream can be rejected.

use super::*;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// An owned copy of a [`Message`], so tests can collect several.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

impl From<Message<'_>> for Owned {
    fn from(m: Message<'_>) -> Owned {
        match m {
            Message::Text(t) => Owned::Text(t.to_string()),
            Message::Binary(b) => Owned::Binary(b.to_vec()),
            Message::Ping(b) => Owned::Ping(b.to_vec()),
            Message::Pong(b) => Owned::Pong(b.to_vec()),
            Message::Close(c) => Owned::Close(c.map(|c| (c.code, c.reason.to_string()))),
        }
    }
}

/// Feeds `chunks` one at a time and collects every message; stops at the first error.
fn decode(config: Config, chunks: &[&[u8]]) -> Result<Vec<Owned>, DecodeError> {
    let mut decoder = Decoder::new(config);
    let mut out = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk);
        while let Some(m) = decoder.next_message()? {
            out.push(m.into());
        }
    }
    Ok(out)
}

fn frame(op: OpCode, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let header = FrameHeader::new(op, fin, payload.len() as u64, mask).unwrap();
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    let mut out = head[..n].to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key);
    }
    out
}

const TEXT: OpCode = OpCode::Data(DataOp::Text);
const BINARY: OpCode = OpCode::Data(DataOp::Binary);
const CONTINUATION: OpCode = OpCode::Data(DataOp::Continuation);
const PING: OpCode = OpCode::Control(ControlOp::Ping);

#[test]
fn rfc_6455_section_5_7_examples() {
    let hello = || Owned::Text("Hello".into());
    let client = Config::client;
    let server = Config::server;
    let unmasked: &[u8] = &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(decode(client(), &[unmasked]), Ok(vec![hello()]));
    let masked: &[u8] = &[
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(decode(server(), &[masked]), Ok(vec![hello()]));
    let fragmented: &[u8] = &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(decode(client(), &[fragmented]), Ok(vec![hello()]));
    let ping: &[u8] = &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        decode(client(), &[ping]),
        Ok(vec![Owned::Ping(b"Hello".to_vec())])
    );
    let pong: &[u8] = &[
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        decode(server(), &[pong]),
        Ok(vec![Owned::Pong(b"Hello".to_vec())])
    );
    let mut binary_256 = vec![0x82, 0x7e, 0x01, 0x00];
    binary_256.extend((0..256).map(|i| i as u8));
    let expected = Owned::Binary((0..256).map(|i| i as u8).collect());
    assert_eq!(decode(client(), &[&binary_256]), Ok(vec![expected]));
    let mut binary_64k = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
    binary_64k.extend(std::iter::repeat_n(7u8, 65536));
    assert_eq!(
        decode(client(), &[&binary_64k]),
        Ok(vec![Owned::Binary(vec![7; 65536])])
    );
}

#[test]
fn back_to_back_frames_split_at_every_byte() {
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    for (i, len) in [0usize, 1, 16, 125, 126, 300, 65535, 65536, 3]
        .iter()
        .enumerate()
    {
        let payload: String = (0..*len)
            .map(|j| (b'a' + ((i + j) % 26) as u8) as char)
            .collect();
        stream.extend(frame(TEXT, true, payload.as_bytes(), Some(KEY)));
        expected.push(Owned::Text(payload));
    }
    stream.extend(frame(PING, true, b"p", Some(KEY)));
    expected.push(Owned::Ping(b"p".to_vec()));
    for split in (0..stream.len())
        .step_by(997)
        .chain([1, 2, 6, stream.len() - 1])
    {
        let (a, b) = stream.split_at(split);
        assert_eq!(
            decode(Config::server(), &[a, b]).as_ref(),
            Ok(&expected),
            "split {split}"
        );
    }
    // One byte per read: the slowest possible socket.
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode(Config::server(), &bytes), Ok(expected));
}

#[test]
fn read_buf_and_commit_like_a_socket() {
    let stream = [
        frame(BINARY, true, &[1; 5000], None),
        frame(TEXT, true, b"x", None),
    ]
    .concat();
    let mut decoder = Decoder::new(Config::client());
    let mut got = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let space = decoder.read_buf();
        assert!(space.len() >= Config::client().read_chunk_bytes);
        let n = space.len().min(stream.len() - at).min(1000);
        space[..n].copy_from_slice(&stream[at..at + n]);
        decoder.commit(n);
        at += n;
        while let Some(m) = decoder.next_message().unwrap() {
            got.push(Owned::from(m));
        }
    }
    assert_eq!(
        got,
        vec![Owned::Binary(vec![1; 5000]), Owned::Text("x".into())]
    );
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn fragments_with_control_frames_between() {
    let stream = [
        frame(BINARY, false, b"ab", None),
        frame(PING, true, b"1", None),
        frame(CONTINUATION, false, b"", None),
        frame(OpCode::Control(ControlOp::Pong), true, b"", None),
        frame(CONTINUATION, true, b"cd", None),
        frame(TEXT, false, "服".as_bytes(), None),
        frame(CONTINUATION, true, "务".as_bytes(), None),
    ]
    .concat();
    assert_eq!(
        decode(Config::client(), &[&stream]),
        Ok(vec![
            Owned::Ping(b"1".to_vec()),
            Owned::Pong(vec![]),
            Owned::Binary(b"abcd".to_vec()),
            Owned::Text("服务".into()),
        ])
    );
    // A character split across fragments is valid once joined.
    let split = "务".as_bytes();
    let stream = [
        frame(TEXT, false, &split[..1], None),
        frame(CONTINUATION, true, &split[1..], None),
    ]
    .concat();
    assert_eq!(
        decode(Config::client(), &[&stream]),
        Ok(vec![Owned::Text("务".into())])
    );
}

#[test]
fn close_ends_the_stream() {
    let close = [0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e'];
    assert_eq!(
        decode(Config::client(), &[&close]),
        Ok(vec![Owned::Close(Some((1000, "bye".into())))])
    );
    assert_eq!(
        decode(Config::client(), &[&[0x88, 0x00]]),
        Ok(vec![Owned::Close(None)])
    );
    let after = [&close[..], &[0x81, 0x00]].concat();
    assert_eq!(
        decode(Config::client(), &[&after]),
        Err(DecodeError::AfterClose)
    );
}

#[test]
fn limits() {
    let config = Config {
        max_frame_bytes: 100,
        max_message_bytes: 150,
        ..Config::client()
    };
    assert!(decode(config.clone(), &[&frame(BINARY, true, &[0; 100], None)]).is_ok());
    // Rejected from the header alone, before the payload is buffered.
    let big = frame(BINARY, true, &[0; 101], None);
    let err = DecodeError::FrameTooLarge { len: 101, max: 100 };
    assert_eq!(decode(config.clone(), &[&big[..2]]), Err(err.clone()));
    assert_eq!(err.close_code(), 1009);
    let joined = [
        frame(BINARY, false, &[0; 100], None),
        frame(CONTINUATION, true, &[0; 51], None),
    ]
    .concat();
    assert_eq!(
        decode(config, &[&joined]),
        Err(DecodeError::MessageTooLarge { len: 151, max: 150 })
    );
}

#[test]
fn rejects_bad_streams() {
    let client = Config::client;
    let cases: [(Config, Vec<u8>, DecodeError); 9] = [
        (
            client(),
            frame(TEXT, true, b"x", Some(KEY)),
            DecodeError::MaskedFrame,
        ),
        (
            Config::server(),
            frame(TEXT, true, b"x", None),
            DecodeError::UnmaskedFrame,
        ),
        (client(), vec![0xc1, 0x00], DecodeError::ReservedBits(0b100)),
        (
            client(),
            vec![0x83, 0x00],
            HeaderError::ReservedOpcode(3).into(),
        ),
        (
            client(),
            frame(CONTINUATION, true, b"x", None),
            DecodeError::UnexpectedContinuation,
        ),
        (
            client(),
            [
                frame(TEXT, false, b"x", None),
                frame(TEXT, true, b"y", None),
            ]
            .concat(),
            DecodeError::ExpectedContinuation,
        ),
        (
            client(),
            frame(TEXT, true, b"\xff", None),
            DecodeError::InvalidUtf8,
        ),
        (
            client(),
            vec![0x88, 0x01, 0x03],
            CloseError::Truncated.into(),
        ),
        (
            client(),
            vec![0x88, 0x02, 0x03, 0xed],
            CloseError::Code(1005).into(),
        ),
    ];
    for (config, bytes, expected) in cases {
        assert_eq!(
            decode(config, &[&bytes]),
            Err(expected.clone()),
            "{bytes:02x?}"
        );
    }
    assert_eq!(DecodeError::InvalidUtf8.close_code(), 1007);
    assert_eq!(DecodeError::MaskedFrame.close_code(), 1002);
}

#[test]
fn big_buffers_are_given_back() {
    let mut decoder = Decoder::new(Config::client());
    decoder.feed(&frame(BINARY, true, &vec![0; 1 << 20], None));
    assert!(matches!(decoder.next_message(), Ok(Some(Message::Binary(b))) if b.len() == 1 << 20));
    assert_eq!(decoder.read_buf().len(), Config::client().read_chunk_bytes);
}

#[test]
fn compressed_messages_inflate_once_negotiated_and_only_then() {
    use super::deflate::{Deflater, Inflater};
    // RFC 7692 §7.2.3.1's frame, then the same "Hello" compressed in two fragments (§7.2.3.3:
    // RSV1 on the first frame only), then a plain frame between them.
    let mut bytes = vec![0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    bytes.extend([
        0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
    ]);
    bytes.extend([0x81, 0x02, b'h', b'i']);
    let mut plain = Decoder::new(Config::client());
    plain.feed(&bytes);
    assert_eq!(plain.next_message(), Err(DecodeError::ReservedBits(0b100)));
    let mut d = Decoder::new(Config::client());
    d.set_inflater(Inflater::new(false));
    d.feed(&bytes);
    for expected in ["Hello", "Hello", "hi"] {
        assert_eq!(d.next_message(), Ok(Some(Message::Text(expected))));
    }
    // RSV1 on a continuation or a control frame stays an error.
    for frame in [
        [0x01, 0x01, b'a', 0xc0, 0x00],
        [0x81, 0x00, 0xc9, 0x00, 0x00],
    ] {
        let mut d = Decoder::new(Config::client());
        d.set_inflater(Inflater::new(false));
        d.feed(&frame);
        let mut last = Ok(None);
        for _ in 0..3 {
            last = d.next_message().map(|m| m.map(Owned::from));
            if last.is_err() {
                break;
            }
        }
        assert_eq!(last, Err(DecodeError::ReservedBits(0b100)));
    }
    // A masked client frame of 1000 'a's deflates to a few bytes and inflates back.
    let mut frame = Vec::new();
    Deflater::new(15, true).encode_frame(&mut frame, DataOp::Binary, &[b'a'; 1000], Some(KEY));
    let mut server = Decoder::new(Config::server());
    server.set_inflater(Inflater::new(true));
    server.feed(&frame);
    assert_eq!(
        server.next_message(),
        Ok(Some(Message::Binary(&[b'a'; 1000])))
    );
}

#[test]
fn a_compressed_bomb_gets_1009() {
    use super::deflate::{Deflater, Inflater};
    let mut frame = Vec::new();
    Deflater::new(15, false).encode_frame(
        &mut frame,
        DataOp::Binary,
        &vec![0u8; 8 << 20],
        Some(KEY),
    );
    assert!(frame.len() < 16 * 1024);
    let mut d = Decoder::new(Config::server());
    d.set_inflater(Inflater::new(false));
    d.feed(&frame);
    let err = d.next_message().unwrap_err();
    assert_eq!(err.close_code(), 1009, "{err}");
}
