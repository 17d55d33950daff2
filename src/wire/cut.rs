//! Breaking a live client connection the way a lost network path does (`[faults] drop`).
//!
//! A graceful close says goodbye: FIN, maybe a close handshake, and a server that flushes what it
//! had queued. A path that dies says nothing; what the server eventually sees is a reset. To get
//! the same from the client side without reaching into every protocol library that owns a
//! socket, a [`Cut`] keeps the socket's descriptor and, asked to, disconnects it in place with
//! `connect(AF_UNSPEC)`: Linux's `tcp_disconnect` sends an RST, sets `ECONNRESET` on the socket
//! and wakes its waiters, so the library above reads the error as it would a real loss, and the
//! client's own reconnect path takes over. The descriptor stays open (and ours) until its owner
//! drops it, which [`Cut::closed`] learns first, so a cut never lands on a reused descriptor.

use std::os::fd::RawFd;
use std::sync::{Mutex, PoisonError};

/// The way to reset one client socket from outside the task that reads it.
#[derive(Debug)]
pub struct Cut {
    /// The socket's descriptor while it is open; `None` once its owner closed it.
    fd: Mutex<Option<RawFd>>,
}

impl Cut {
    /// A cut for the open socket `fd`.
    pub fn new(fd: RawFd) -> Self {
        Cut {
            fd: Mutex::new(Some(fd)),
        }
    }

    /// The owner is about to close the socket: later cuts do nothing. Called before the
    /// descriptor is closed, under the lock a cut holds while it works.
    pub fn closed(&self) {
        *self.fd.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Whether the socket is still open (not yet closed by its owner).
    pub fn is_open(&self) -> bool {
        self.fd
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Resets the connection abortively (RST), once: afterwards the cut counts the socket as
    /// closed. `false` when it was already (closed by its owner, or reset before).
    pub fn reset(&self) -> bool {
        let mut fd = self.fd.lock().unwrap_or_else(PoisonError::into_inner);
        fd.take().is_some_and(disconnect)
    }
}

/// `connect(fd, AF_UNSPEC)`: dissolves the association; for an established TCP socket the
/// kernel sends a reset first.
#[allow(unsafe_code)]
fn disconnect(fd: RawFd) -> bool {
    let unspec = nix::libc::sockaddr {
        sa_family: nix::libc::AF_UNSPEC as nix::libc::sa_family_t,
        sa_data: [0; 14],
    };
    let len = std::mem::size_of::<nix::libc::sockaddr>() as nix::libc::socklen_t;
    // SAFETY: `unspec` is a valid, initialised `sockaddr` that outlives the call, and `len` is
    // its size. `fd` is open: the caller holds the lock that `Cut::closed` takes before the
    // owner closes it, so it cannot have been closed and handed to another file meanwhile.
    let done = unsafe { nix::libc::connect(fd, &unspec, len) };
    done == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    #[tokio::test]
    async fn a_cut_resets_both_ends_and_never_touches_a_closed_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let mut client = client.unwrap();
        let (mut server, _) = accepted.unwrap();
        let cut = Cut::new(client.as_raw_fd());

        // A read already waiting on the client is woken by the cut, with the reset.
        let reader = tokio::spawn(async move {
            let mut byte = [0u8; 1];
            let read = client.read(&mut byte).await;
            (client, read)
        });
        tokio::task::yield_now().await;
        assert!(cut.reset());
        let (client, read) = reader.await.unwrap();
        let e = read.expect_err("a cut connection reads an error");
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);

        // The server sees the reset too, not an orderly end of stream.
        let mut byte = [0u8; 1];
        let seen = server.read(&mut byte).await;
        assert_eq!(
            seen.expect_err("the server reads a reset").kind(),
            std::io::ErrorKind::ConnectionReset
        );
        let _ = server.write_all(b"x").await;

        cut.closed();
        drop(client);
        assert!(!cut.is_open());
        assert!(!cut.reset());
    }
}
