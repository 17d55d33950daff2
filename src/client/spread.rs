//! Server instances that clients spread themselves over, and which one the next connection
//! dials: kept apart from the plan's plain data because it is the one part that changes as a run
//! goes (a counter every connection moves).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Server instances that clients spread themselves over, as DNS round-robin spreads them: each
/// new connection (a reconnection too) takes the next address in turn.
#[derive(Debug, Default)]
pub struct Spread {
    addrs: Vec<SocketAddr>,
    next: AtomicUsize,
}

impl Spread {
    /// Round-robin over `addrs` (empty: always the target's own address).
    pub fn new(addrs: Vec<SocketAddr>) -> Self {
        Spread {
            addrs,
            next: Default::default(),
        }
    }

    /// The addresses taken in turn (empty: the target's own).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The address the next connection dials: the next instance in turn, or `own` when there
    /// are none.
    pub fn next(&self, own: SocketAddr) -> SocketAddr {
        if self.addrs.is_empty() {
            return own;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.addrs[n % self.addrs.len()]
    }
}
