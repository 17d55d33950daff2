//! Fuzzes the permessage-deflate inflate path (`wsbench::codec::ws::deflate`), where a peer's
//! compressed bytes meet the decoder's size limit.
//!
//! Input: one control byte, then the data. Control bit 0: context takeover. Bits 1–2 pick the
//! mode: 0, the data is a compressed message, inflated within a 4 KiB limit (never a panic, never
//! more than the limit on success); 1, the data is a stream of frames for a server decoder that
//! negotiated permessage-deflate (never a panic; an error only with RFC 6455 close codes); 2, the
//! data is a message, compressed and inflated back (exactly the data).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsbench::codec::ws::deflate::{Deflater, Inflater};
use wsbench::codec::ws::{Config, Decoder};

const LIMIT: usize = 4096;

fuzz_target!(|input: &[u8]| {
    let Some((&control, data)) = input.split_first() else {
        return;
    };
    let takeover = control & 1 == 1;
    match (control >> 1) & 0b11 {
        0 => {
            let mut inflater = Inflater::new(takeover);
            for message in data.split(|&b| b == 0xfe).take(8) {
                let mut out = Vec::new();
                if inflater.inflate(message, &mut out, LIMIT).is_ok() {
                    assert!(out.len() <= LIMIT, "{} bytes past the limit", out.len());
                }
            }
        }
        1 => {
            let mut decoder = Decoder::new(Config {
                max_message_bytes: LIMIT,
                max_frame_bytes: LIMIT,
                ..Config::server()
            });
            decoder.set_inflater(Inflater::new(takeover));
            decoder.feed(data);
            loop {
                match decoder.next_message() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        assert!(matches!(e.close_code(), 1002 | 1007 | 1009));
                        break;
                    }
                }
            }
        }
        _ => {
            let bits = 9 + (control >> 3) % 7;
            let (mut deflater, mut inflater) = (Deflater::new(bits, takeover), Inflater::new(takeover));
            for message in data.split(|&b| b == 0xfe).take(8) {
                let mut compressed = Vec::new();
                deflater.compress(message, &mut compressed);
                let mut out = Vec::new();
                inflater.inflate(&compressed, &mut out, 1 << 20).expect("our own output inflates");
                assert_eq!(out, message);
            }
        }
    }
});
