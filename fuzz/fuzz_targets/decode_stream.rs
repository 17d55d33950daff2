//! Fuzzes the streaming WebSocket decoder (`wsbench::codec::ws::Decoder`).
//!
//! Input: one control byte, then the byte stream. The control byte picks the role (bit 0) and
//! how the stream is cut into reads (the other bits: a read size from 1 to 128 bytes). The
//! decoder must never panic, and the cutting must not matter: the messages (and the error, if
//! any) must be the same as when the whole stream arrives in one read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsbench::codec::ws::{Config, DecodeError, Decoder, Message, Role};

/// What decoding produced: every message, then how it ended.
#[derive(Debug, PartialEq)]
enum Event {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Error(DecodeError),
}

fn drain(decoder: &mut Decoder, out: &mut Vec<Event>) -> bool {
    loop {
        match decoder.next_message() {
            Ok(None) => return true,
            Ok(Some(m)) => out.push(match m {
                Message::Text(t) => Event::Text(t.to_owned()),
                Message::Binary(b) => Event::Binary(b.to_vec()),
                Message::Ping(b) => Event::Ping(b.to_vec()),
                Message::Pong(b) => Event::Pong(b.to_vec()),
                Message::Close(c) => Event::Close(c.map(|c| (c.code, c.reason.to_owned()))),
            }),
            Err(e) => {
                out.push(Event::Error(e));
                return false;
            }
        }
    }
}

fn config(role: Role) -> Config {
    Config {
        role,
        max_frame_bytes: 64 * 1024,
        max_message_bytes: 96 * 1024,
        read_chunk_bytes: 256,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let role = if control & 1 == 0 {
        Role::Client
    } else {
        Role::Server
    };
    let read_size = usize::from(control >> 1) + 1;

    let mut whole = Decoder::new(config(role));
    let mut expected = Vec::new();
    whole.feed(stream);
    drain(&mut whole, &mut expected);

    let mut cut = Decoder::new(config(role));
    let mut got = Vec::new();
    for chunk in stream.chunks(read_size) {
        // Half the time through `read_buf`/`commit`, as a socket read would.
        if control & 0x80 == 0 {
            cut.feed(chunk);
        } else {
            let space = cut.read_buf();
            assert!(!space.is_empty());
            let n = space.len().min(chunk.len());
            space[..n].copy_from_slice(&chunk[..n]);
            cut.commit(n);
            if n < chunk.len() {
                cut.feed(&chunk[n..]);
            }
        }
        if !drain(&mut cut, &mut got) {
            break;
        }
    }
    assert_eq!(got, expected);
});
