//! Fuzzes the built-in WebSocket server (hyper upgrade, then tungstenite) on a loopback TCP
//! connection.
//!
//! Input: one control byte, then bytes. Control bit 0 clear: the bytes are the whole client side,
//! upgrade request included (fuzzes the handshake). Set: a valid upgrade is sent first and the
//! bytes follow as frames — raw if bit 1 is clear, else re-encoded by [`frames`] into masked
//! frames with fuzzed flags, opcodes and lengths, so the fuzzer reaches message assembly, control
//! frames, UTF-8 checks and the size limits instead of stopping at the mask bit. The server must
//! never panic and must still complete a fresh handshake afterwards.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wsbench::protocol::TransportKind;
use wsbench_fuzz::{UPGRADE, alive, connect, read_head_or_why, send_and_drain, server};

/// Turns `data` into client frames: per frame, one byte of FIN/RSV/opcode bits (sent as given),
/// one length byte (< 126: that length; 126: a 16-bit length from the next two bytes, so frames
/// over the server's 4 KiB limit occur), then the payload, masked with a key from the input.
fn frames(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let [first, len, rest @ ..] = data {
        let (len, rest) = match (*len & 0x7f, rest) {
            (126, [hi, lo, rest @ ..]) => (usize::from(u16::from_be_bytes([*hi, *lo])), rest),
            (126, _) => break,
            (n, rest) => (usize::from(n.min(125)), rest),
        };
        let key = [0x37, 0xfa, 0x21, len as u8];
        out.push(*first);
        if len < 126 {
            out.push(0x80 | len as u8);
        } else {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        out.extend_from_slice(&key);
        let take = len.min(rest.len());
        let start = out.len();
        out.extend_from_slice(&rest[..take]);
        // A declared length longer than the input: pad, so the frame is complete.
        out.resize(start + len, b'.');
        wsbench::codec::ws::apply_mask(&mut out[start..], key);
        data = &rest[take..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let addr = server(TransportKind::Ws);
    let mut tcp = connect(addr, Duration::from_millis(100));
    if control & 1 == 0 {
        send_and_drain(&mut tcp, input, 1 << 20);
    } else {
        use std::io::Write;
        if tcp.write_all(UPGRADE).is_ok() {
            // A busy machine may take more than the drain's 100 ms to answer the upgrade.
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let (head, why) = read_head_or_why(&mut tcp);
            let _ = tcp.set_read_timeout(Some(Duration::from_millis(100)));
            assert!(
                head.starts_with(b"HTTP/1.1 101 "),
                "a valid upgrade was refused: {:?} ({})",
                String::from_utf8_lossy(&head),
                why.unwrap_or_default()
            );
            let bytes = if control & 2 == 0 {
                input.to_vec()
            } else {
                frames(input)
            };
            send_and_drain(&mut tcp, &bytes, 1 << 20);
        }
    }
    drop(tcp);
    alive(addr, UPGRADE, "101 Switching Protocols");
});
