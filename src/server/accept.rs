//! The listening socket every server opens, the accept loop they share, and the process's count
//! of accepted connections.

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::net::TcpListener;

use super::ServerError;

/// Connections accepted by every server of this process: `wsbench serve` runs one server, so for
/// it this is that server's count (`--stats` reports it, to show how a balancer spread clients).
static ACCEPTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Connections accepted so far by the servers of this process.
pub fn accepted() -> u64 {
    ACCEPTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Opens a listening socket on `addr` with the longest accept queue the kernel allows.
///
/// `TcpListener::bind` in std, and so in mio and tokio, asks for a backlog of 128: at a ramp of
/// 10,000 connections per second that queue holds 13 ms of arrivals, and when the server's one
/// thread is busy a moment longer the kernel drops SYNs, which a client sees as a 1 s
/// retransmission (a refusal with `tcp_abort_on_overflow`). We ask for -1, which Linux reads as
/// "the most allowed": `net.core.somaxconn` (see [`crate::os::somaxconn`]; 4096 by default since
/// Linux 5.4, 128 before). Raise that sysctl for a deeper queue. Sets `SO_REUSEADDR` as std does,
/// so a restarted server can bind its port again while old connections wait in TIME_WAIT. The
/// socket is blocking; make it non-blocking before handing it to tokio.
pub fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind, listen, setsockopt,
        socket, sockopt::ReuseAddr,
    };
    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    setsockopt(&fd, ReuseAddr, &true)?;
    bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    listen(&fd, Backlog::MAXALLOWABLE)?;
    Ok(std::net::TcpListener::from(fd))
}

/// Hands every accepted connection to `on_accept` until `shutdown` completes (`Ok`) or accepting
/// fails for good: the accept loop every server shares.
pub(crate) async fn accept_until(
    listener: &TcpListener,
    shutdown: impl Future<Output = ()>,
    mut on_accept: impl FnMut(tokio::net::TcpStream),
) -> Result<(), ServerError> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = accept(listener) => on_accept(accepted?),
        }
    }
}

/// Accepts one connection, retrying after errors that concern only that connection (a client
/// that reset before accept, or a momentary fd shortage) so one bad client cannot stop the server.
async fn accept(listener: &TcpListener) -> Result<tokio::net::TcpStream, ServerError> {
    let mut transient = 0u32;
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Writes are batched in user space, so Nagle would only add latency.
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(e) if transient < 100 => {
                transient += 1;
                let pause = if is_fd_exhaustion(&e) { 100 } else { 1 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Err(e) => return Err(ServerError::Accept(e)),
        }
    }
}

fn is_fd_exhaustion(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(code) if code == nix::libc::EMFILE || code == nix::libc::ENFILE)
}
