//! Kernel receive stamps on loopback: measured against the user-space clock, never assumed.

use std::io::Write;
use std::time::{Duration, SystemTime};

use tokio::io::AsyncReadExt;

use super::*;

/// A loopback pair: a blocking server socket for the test to write on, and the client's
/// socket, read as `clock` says, on the calling runtime. With the kernel's clock, it returns
/// once a probe byte came stamped: Linux turns receive stamping on for the whole system a
/// moment after the first socket asks (a deferred work item), so the first segments may carry
/// none.
async fn pair(clock: Clock) -> (std::net::TcpStream, StampedTcp) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (mut server, _) = listener.accept().unwrap();
    server.set_nodelay(true).unwrap();
    let mut client = StampedTcp::new(client, clock).unwrap();
    if clock == Clock::Kernel {
        let mut probe = [0u8; 1];
        for _ in 0..1000 {
            server.write_all(b"p").unwrap();
            client.read_exact(&mut probe).await.unwrap();
            if client.arrival().is_some() {
                return (server, client);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("no receive stamp within 1000 probes");
    }
    (server, client)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The server writes, the client's runtime is blocked for 50 ms by the test (its only thread
/// sleeps), then reads: the kernel stamped the bytes when they came, at least 50 ms before the
/// user-space clock read after the read, and not before the server wrote them.
#[test]
fn the_kernel_stamp_is_when_the_bytes_came_not_when_they_were_read() {
    let rt = runtime();
    let (mut server, mut client) = rt.block_on(pair(Clock::Kernel));
    let written = SystemTime::now();
    server.write_all(b"hello").unwrap();
    // The runtime's one thread: nothing reads the socket meanwhile.
    std::thread::sleep(Duration::from_millis(50));
    let mut got = [0u8; 5];
    let n = rt.block_on(client.read(&mut got)).unwrap();
    let read_at = SystemTime::now();
    assert_eq!(&got[..n], &b"hello"[..n]);
    assert_eq!(n, 5);
    let stamp = client
        .arrival()
        .expect("the kernel stamps loopback segments");
    let written = written.duration_since(UNIX_EPOCH).unwrap();
    assert!(stamp.since_epoch >= written, "{stamp:?} before {written:?}");
    let delay = stamp.delay_at(read_at);
    assert!(delay >= Duration::from_millis(50), "delay {delay:?}");
}

/// Two segments 30 ms apart, read in one go: the stamp is the later segment's.
#[test]
fn the_last_segment_read_gives_the_stamp() {
    let rt = runtime();
    let (mut server, mut client) = rt.block_on(pair(Clock::Kernel));
    server.write_all(b"first ").unwrap();
    std::thread::sleep(Duration::from_millis(30));
    let second = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    server.write_all(b"second").unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let mut got = [0u8; 64];
    let n = rt.block_on(client.read(&mut got)).unwrap();
    assert_eq!(&got[..n], b"first second");
    let stamp = client.arrival().unwrap();
    assert!(
        stamp.since_epoch >= second,
        "{stamp:?} is the first segment's"
    );
}

/// With user-space timestamps the socket is read plainly and no stamp is kept.
#[test]
fn user_timestamps_keep_no_stamp() {
    let rt = runtime();
    let (mut server, mut client) = rt.block_on(pair(Clock::User));
    server.write_all(b"abc").unwrap();
    let mut got = [0u8; 3];
    rt.block_on(client.read_exact(&mut got)).unwrap();
    assert_eq!(&got, b"abc");
    assert_eq!(client.arrival(), None);
}

#[test]
fn clocks_are_spelled_as_the_scenario_spells_them() {
    for clock in Clock::ALL {
        assert_eq!(Clock::from_label(clock.label()), Some(clock));
    }
    assert_eq!(Clock::from_label("tsc"), None);
    assert_eq!(Clock::default(), Clock::Kernel, "Linux has kernel stamps");
}

/// A short read drained the socket: the next read waits for readiness without a system call,
/// as tokio's own read does (otherwise every message would cost a second, empty `recvmsg`).
#[test]
fn a_short_read_clears_readiness_so_the_next_read_waits_without_a_system_call() {
    use std::future::poll_fn;
    let rt = runtime();
    let (mut server, mut client) = rt.block_on(pair(Clock::Kernel));
    server.write_all(b"abc").unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let calls = || sys::RECVS.with(|n| n.get());
    rt.block_on(async {
        let before = calls();
        let mut got = [0u8; 64];
        let n = client.read(&mut got).await.unwrap();
        assert_eq!((n, calls() - before), (3, 1));
        let mut buf = [0u8; 64];
        let mut rb = ReadBuf::new(&mut buf);
        let again = poll_fn(|cx| Poll::Ready(Pin::new(&mut client).poll_read(cx, &mut rb))).await;
        assert!(again.is_pending());
        assert_eq!(
            calls() - before,
            1,
            "no recvmsg to learn the socket is empty"
        );
    });
}
