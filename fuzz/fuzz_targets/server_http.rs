//! Fuzzes the built-in HTTP server (long-poll, short-poll, SSE and publish on one hyper server)
//! with raw bytes on a loopback TCP connection.
//!
//! Input: the bytes a client sends. The server must never panic, must answer or close within
//! its timeouts, and must still answer a well-formed short-poll afterwards.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use wsbench::protocol::TransportKind;
use wsbench_fuzz::{POLL, alive, connect, send_and_drain, server};

fuzz_target!(|input: &[u8]| {
    let addr = server(TransportKind::LongPoll);
    let mut tcp = connect(addr, Duration::from_millis(100));
    // An SSE stream or a held poll answers slowly: the read timeout ends the exchange, and the
    // 1 MiB cap bounds what a stream may send meanwhile.
    send_and_drain(&mut tcp, input, 1 << 20);
    drop(tcp);
    alive(addr, POLL, "200 OK");
});
