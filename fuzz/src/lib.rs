//! Shared harness for the server fuzz targets: a built-in server started once per fuzz process on
//! loopback, and one raw TCP exchange per input.
//!
//! The targets drive the servers through their real input path — a TCP socket into hyper and
//! tungstenite — rather than through an in-memory shortcut, so what is fuzzed is what clients
//! reach. A panic in any server task aborts the process (libfuzzer-sys installs an aborting panic
//! hook), which libFuzzer reports as a crash; a server that stops answering fails [`alive`].

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use wsbench::protocol::TransportKind;
use wsbench::server::{Limits, ServerConfig};

/// Small limits, so the size and time bounds are within a fuzzer's reach.
pub fn limits() -> Limits {
    Limits {
        ring_capacity: 64,
        max_message_bytes: 4096,
        max_batch: 16,
        idle_timeout: Duration::from_secs(2),
        header_timeout: Duration::from_secs(1),
        sse_max_events: Some(4),
        ..Limits::default()
    }
}

/// The address of a server for `kind`, started on first use on a thread of its own and left
/// running for the life of the fuzz process.
pub fn server(kind: TransportKind) -> SocketAddr {
    static WS: OnceLock<SocketAddr> = OnceLock::new();
    static HTTP: OnceLock<SocketAddr> = OnceLock::new();
    let cell = if kind == TransportKind::Ws {
        &WS
    } else {
        &HTTP
    };
    *cell.get_or_init(|| start(kind))
}

fn start(kind: TransportKind) -> SocketAddr {
    ignore_sigpipe();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    listener
        .set_nonblocking(true)
        .expect("a listener can be made non-blocking");
    let config = ServerConfig {
        transport: kind.into(),
        hold: Duration::from_millis(20),
        limits: limits(),
        state_file: None,
        tls: None,
        backplane: None,
    };
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            wsbench::server::serve(listener, config, std::future::pending())
                .await
                .expect("the fuzzed server stopped accepting");
        });
    });
    addr
}

/// libFuzzer's `main` is C's, so Rust's start-up never set SIGPIPE to "ignore": a write to a
/// socket the peer reset (on either side: the server shares this process) would kill the run.
fn ignore_sigpipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: installs the `SIG_IGN` disposition, not a handler; nothing runs in signal context.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }.expect("ignore SIGPIPE");
}

/// A connection from a fresh loopback source address that closes with a reset, not TIME_WAIT: a
/// fuzz run opens thousands per second, so one source address would run out of ports, and a port
/// reused at once could meet the server's side of the previous connection still in TIME_WAIT
/// (a reset that would look like a dead server).
pub fn connect(addr: SocketAddr, read_timeout: Duration) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let source = SocketAddr::from(([127, 0, 1 + (n % 250) as u8, 1 + (n / 250 % 250) as u8], 0));
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
    socket
        .set_linger(Some(Duration::ZERO))
        .expect("set SO_LINGER");
    socket
        .bind(&source.into())
        .expect("bind a loopback source address");
    // libFuzzer's timeout alarm (SIGALRM) can interrupt a blocking connect.
    loop {
        match socket.connect(&addr.into()) {
            // The attempt goes on in the kernel: wait until it completes.
            Err(e)
                if e.kind() == std::io::ErrorKind::Interrupted
                    || e.raw_os_error() == Some(nix::libc::EALREADY) =>
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) if e.raw_os_error() == Some(nix::libc::EISCONN) => break,
            result => {
                result.expect("the fuzzed server accepts connections");
                break;
            }
        }
    }
    let tcp = TcpStream::from(socket);
    tcp.set_read_timeout(Some(read_timeout))
        .expect("set a read timeout");
    tcp.set_nodelay(true).expect("set TCP_NODELAY");
    tcp
}

/// Writes `input` (the server may close early: write errors are expected), half-closes, and reads
/// what comes back until EOF, an error, the read timeout, or `cap` bytes.
pub fn send_and_drain(tcp: &mut TcpStream, input: &[u8], cap: usize) -> Vec<u8> {
    let _ = tcp.write_all(input);
    let _ = tcp.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while out.len() < cap {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// Reads until the end of an HTTP head (`\r\n\r\n`), EOF or the timeout; returns what was read.
pub fn read_head(tcp: &mut TcpStream) -> Vec<u8> {
    read_head_or_why(tcp).0
}

/// [`read_head`], and why reading stopped before the head's end (EOF or the socket's error).
pub fn read_head_or_why(tcp: &mut TcpStream) -> (Vec<u8>, Option<String>) {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") && out.len() < 16 * 1024 {
        match tcp.read(&mut byte) {
            Ok(1) => out.push(byte[0]),
            Ok(_) => return (out, Some("end of stream".into())),
            // libFuzzer's timer signal (SIGALRM, for `-timeout`) interrupts blocking reads.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (out, Some(e.to_string())),
        }
    }
    (out, None)
}

/// The upgrade request of a well-behaved WebSocket client (RFC 6455 §1.3's example key).
pub const UPGRADE: &[u8] = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A short-poll request that must always be answered 200.
pub const POLL: &[u8] = b"GET /poll?cursor=0&wait=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Panics (a crash to libFuzzer) unless the server at `addr` still answers a well-formed request
/// with `expected_status` — after whatever the previous input did to it. A failed first try is
/// retried once after a pause, and both failures are reported, so that a one-off loopback hiccup
/// (seen once in ~20k executions, with no server fault behind it) is told from a dead server.
pub fn alive(addr: SocketAddr, request: &[u8], expected_status: &str) {
    let expected = format!("HTTP/1.1 {expected_status}");
    let mut failures = Vec::new();
    for _ in 0..2 {
        let mut tcp = connect(addr, Duration::from_secs(5));
        if let Err(e) = tcp.write_all(request) {
            failures.push(format!("write: {e}"));
            continue;
        }
        let (head, why) = read_head_or_why(&mut tcp);
        let status = head.split(|&b| b == b'\r').next().unwrap_or_default();
        if String::from_utf8_lossy(status) == expected {
            return;
        }
        failures.push(format!(
            "read {:?} ({})",
            String::from_utf8_lossy(&head),
            why.unwrap_or_default()
        ));
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the server stopped answering well-formed requests: {failures:?}");
}
