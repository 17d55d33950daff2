//! Which local address each client connection comes from, so a run can pass the ephemeral port
//! range of one address.
//!
//! Toward one server address and port, the kernel gives each connection its own local port, and
//! one source address has only `net.ipv4.ip_local_port_range` of them (28,232 by default): the
//! wall other load tools meet at ~28k connections. Every address in 127.0.0.0/8 is local on
//! Linux, so [`Sources`] takes addresses in turn (127.0.0.1, .2, .3, … per connection attempt,
//! reconnects included) and binds each socket to its address with `IP_BIND_ADDRESS_NO_PORT`
//! before connecting: the kernel then still picks the port at connect time, by the whole 4-tuple,
//! instead of reserving one at `bind` (which would cap us at the port range across all addresses).
//!
//! Owns [`plan`] (how many addresses a run gets, from the scenario's setting, the target and the
//! port range) and the connect itself. Does not own reading the key (that is
//! [`scenario::sources`](crate::scenario::sources)), nor the port range or the port check ([`crate::os`]).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use nix::sys::socket::{setsockopt, sockopt::IpBindAddressNoPort};
use tokio::net::{TcpSocket, TcpStream};

use crate::scenario::sources::{self, MAX_SOURCE_ADDRESSES, SourceAddresses};

/// Share of one address's ports that automatic planning fills, in percent. The rest is headroom:
/// the kernel's search for a free port (`__inet_hash_connect`, `__inet_check_established`) grows
/// long as the range fills, and it caps the connect rate. Measured (release, 10,000/s asked,
/// 28,232 ports): 14,000 connections from one address (50 %) connected at 9,988/s; 19,500 (69 %)
/// at 4,389/s with connect p99 2.66 s; the same 19,500 over three addresses at 9,977/s. Half also
/// leaves room for TIME_WAIT from earlier transports and runs, and for other programs on 127.0.0.1.
pub const AUTO_PORT_SHARE_PERCENT: u64 = 50;

/// Why the clients' source addresses could not be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// A source address is not on loopback; wsbench connects only from 127.0.0.0/8 or ::1.
    #[error(
        "refusing to connect from {0}: only loopback source addresses (127.0.0.0/8, ::1) are allowed"
    )]
    NotLoopback(IpAddr),
    /// The addresses do not fit the target: another address family, or more than one toward IPv6.
    /// Change `[clients] source_addresses` or the target.
    #[error("{0}")]
    Mismatch(String),
    /// An IPv6 target needs more connections than the ports of its one loopback source address.
    /// Aim at an IPv4 loopback target, or ask for fewer subscribers.
    #[error(
        "{connections} client connections to {target} need more than the {ports} local ports of one \
         source address, and IPv6 has only one loopback address (::1); aim at an IPv4 loopback \
         target (127.0.0.1) to spread connections over several source addresses, or ask for \
         fewer subscribers"
    )]
    Ipv6OneAddress {
        /// Connections the run opens.
        connections: u64,
        /// The IPv6 target.
        target: IpAddr,
        /// Ports in the range.
        ports: u64,
    },
}

/// How many source addresses `connections` need when each address has `ports` local ports,
/// filling each to [`AUTO_PORT_SHARE_PERCENT`]; at least one.
pub fn auto_count(connections: u64, ports: u64) -> u64 {
    let usable = (ports * AUTO_PORT_SHARE_PERCENT / 100).max(1);
    connections.div_ceil(usable).max(1)
}

/// The addresses the clients of one transport connect from, toward `target`, for `connections`
/// connections with `ports` local ports per address. Empty: the kernel chooses, as for any
/// unbound socket (automatic planning when one address suffices, so small runs connect exactly
/// as they always did). More than [`MAX_SOURCE_ADDRESSES`] are never planned; the port check
/// then refuses a run that would need them. A target off loopback (`--allow-remote`) gets none.
pub fn plan(
    setting: &SourceAddresses,
    target: IpAddr,
    connections: u64,
    ports: u64,
) -> Result<Vec<IpAddr>, SourceError> {
    if !target.is_loopback() {
        // A remote target (`--allow-remote`) is reached from this host's own address.
        return match setting {
            SourceAddresses::Auto => Ok(Vec::new()),
            _ => Err(SourceError::Mismatch(format!(
                "[clients] source_addresses are loopback addresses, which cannot reach the remote \
                 target {target}; leave the key out and the kernel picks this host's address"
            ))),
        };
    }
    setting.fits(target).map_err(SourceError::Mismatch)?;
    if let Some(explicit) = setting.explicit(target) {
        return Ok(explicit);
    }
    if target.is_ipv6() {
        if connections > ports {
            return Err(SourceError::Ipv6OneAddress {
                connections,
                target,
                ports,
            });
        }
        return Ok(Vec::new());
    }
    let count = auto_count(connections, ports).min(u64::from(MAX_SOURCE_ADDRESSES));
    if count == 1 {
        return Ok(Vec::new());
    }
    let count = u32::try_from(count).expect("at most MAX_SOURCE_ADDRESSES");
    Ok(sources::first_v4(count))
}

/// The source addresses of one transport run, taken in turn, and how many connections each
/// actually made (read back from the connected socket, not assumed).
#[derive(Debug, Default)]
pub struct Sources {
    /// Taken in turn; empty: the kernel chooses.
    addresses: Vec<IpAddr>,
    /// The next connection attempt's turn.
    next: AtomicUsize,
    /// Connections whose local address was `addresses[i]`.
    used: Vec<AtomicU64>,
    /// Connections bound to one address that came out with another (never expected).
    elsewhere: AtomicU64,
}

impl Sources {
    /// Connections from `addresses`, in turn; empty: the kernel chooses. Every address must be
    /// on loopback, and all of one family.
    pub fn new(addresses: Vec<IpAddr>) -> Result<Sources, SourceError> {
        if let Some(a) = addresses.iter().find(|a| !a.is_loopback()) {
            return Err(SourceError::NotLoopback(*a));
        }
        if let Some(first) = addresses.first() {
            let list = SourceAddresses::List(addresses.clone());
            list.fits(*first).map_err(SourceError::Mismatch)?;
        }
        Ok(Sources {
            used: addresses.iter().map(|_| AtomicU64::new(0)).collect(),
            addresses,
            next: AtomicUsize::new(0),
            elsewhere: AtomicU64::new(0),
        })
    }

    /// The addresses taken in turn; empty when the kernel chooses.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addresses
    }

    /// Source addresses the port check counts: one when the kernel chooses.
    pub fn count(&self) -> u64 {
        self.addresses.len().max(1) as u64
    }

    /// Connects to `target` from the next address in turn.
    pub async fn connect(&self, target: SocketAddr) -> io::Result<TcpStream> {
        if self.addresses.is_empty() {
            return TcpStream::connect(target).await;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed) % self.addresses.len();
        let source = self.addresses[turn];
        let socket = match source {
            IpAddr::V4(_) => TcpSocket::new_v4()?,
            IpAddr::V6(_) => TcpSocket::new_v6()?,
        };
        setsockopt(&socket, IpBindAddressNoPort, &true)?;
        socket.bind(SocketAddr::new(source, 0))?;
        let stream = socket.connect(target).await?;
        match stream.local_addr() {
            Ok(local) if local.ip() == source => self.used[turn].fetch_add(1, Ordering::Relaxed),
            _ => self.elsewhere.fetch_add(1, Ordering::Relaxed),
        };
        Ok(stream)
    }

    /// Each address with the connections made from it so far (empty when the kernel chooses).
    pub fn used(&self) -> Vec<(IpAddr, u64)> {
        let counts = self.used.iter().map(|n| n.load(Ordering::Relaxed));
        self.addresses.iter().copied().zip(counts).collect()
    }

    /// Connections that came out with another local address than the one they were bound to.
    pub fn elsewhere(&self) -> u64 {
        self.elsewhere.load(Ordering::Relaxed)
    }

    /// For a progress line: `127.0.0.1 to 127.0.0.3 (3 addresses)`; `None` when the kernel chooses.
    pub fn describe(&self) -> Option<String> {
        match self.addresses.as_slice() {
            [] => None,
            [one] => Some(one.to_string()),
            [first, .., last] => Some(format!(
                "{first} to {last} ({} addresses)",
                self.addresses.len()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: u64 = 28_232;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn automatic_count_fills_each_range_half() {
        // 50 % of 28,232 is 14,116.
        assert_eq!(auto_count(0, PORTS), 1);
        assert_eq!(auto_count(1, PORTS), 1);
        assert_eq!(auto_count(14_116, PORTS), 1);
        assert_eq!(auto_count(14_117, PORTS), 2);
        assert_eq!(auto_count(28_232, PORTS), 2);
        assert_eq!(auto_count(28_233, PORTS), 3);
        assert_eq!(auto_count(1_000_010, PORTS), 71);
        // A range too small to have a half still takes one connection per port.
        assert_eq!(auto_count(5, 1), 5);
    }

    #[test]
    fn automatic_planning_binds_only_past_one_address() {
        let v4 = ip("127.0.0.1");
        let auto = SourceAddresses::Auto;
        assert_eq!(plan(&auto, v4, 14_000, PORTS), Ok(vec![]));
        assert_eq!(
            plan(&auto, v4, 40_000, PORTS),
            Ok(vec![ip("127.0.0.1"), ip("127.0.0.2"), ip("127.0.0.3")])
        );
        // Past 254 addresses' worth the plan stops growing; the port check then refuses.
        assert_eq!(plan(&auto, v4, 1_000_000, 10).unwrap().len(), 254);
    }

    #[test]
    fn an_explicit_setting_is_taken_as_written() {
        let v4 = ip("127.0.0.1");
        assert_eq!(
            plan(&SourceAddresses::Count(2), v4, 10, PORTS),
            Ok(vec![ip("127.0.0.1"), ip("127.0.0.2")])
        );
        assert_eq!(
            plan(&SourceAddresses::Count(1), v4, 10, PORTS),
            Ok(vec![ip("127.0.0.1")])
        );
        let list = SourceAddresses::List(vec![ip("127.0.0.7")]);
        assert_eq!(
            plan(&list, ip("127.0.0.5"), 10, PORTS),
            Ok(vec![ip("127.0.0.7")])
        );
    }

    #[test]
    fn an_ipv6_target_has_one_source_address() {
        let v6 = ip("::1");
        assert_eq!(plan(&SourceAddresses::Auto, v6, PORTS, PORTS), Ok(vec![]));
        assert_eq!(
            plan(&SourceAddresses::Auto, v6, PORTS + 1, PORTS),
            Err(SourceError::Ipv6OneAddress {
                connections: PORTS + 1,
                target: v6,
                ports: PORTS
            })
        );
        assert_eq!(
            plan(&SourceAddresses::Count(1), v6, 10, PORTS),
            Ok(vec![v6])
        );
        let refused = plan(&SourceAddresses::Count(3), v6, 10, PORTS).unwrap_err();
        assert!(
            refused.to_string().contains("one loopback address"),
            "{refused}"
        );
        let v4_list = SourceAddresses::List(vec![ip("127.0.0.2")]);
        assert!(matches!(
            plan(&v4_list, v6, 10, PORTS),
            Err(SourceError::Mismatch(_))
        ));
    }

    #[test]
    fn a_remote_target_is_reached_from_the_hosts_own_address() {
        let remote = ip("192.0.2.1");
        assert_eq!(
            plan(&SourceAddresses::Auto, remote, 40_000, PORTS),
            Ok(vec![])
        );
        assert!(matches!(
            plan(&SourceAddresses::Count(2), remote, 10, PORTS),
            Err(SourceError::Mismatch(_))
        ));
    }

    #[test]
    fn only_loopback_addresses_of_one_family_are_taken() {
        assert_eq!(
            Sources::new(vec![ip("10.0.0.1")]).unwrap_err(),
            SourceError::NotLoopback(ip("10.0.0.1"))
        );
        assert!(matches!(
            Sources::new(vec![ip("127.0.0.1"), ip("::1")]),
            Err(SourceError::Mismatch(_))
        ));
        assert_eq!(Sources::default().count(), 1);
        assert_eq!(Sources::default().describe(), None);
        let three = Sources::new(sources::first_v4(3)).unwrap();
        assert_eq!(three.count(), 3);
        assert_eq!(
            three.describe().as_deref(),
            Some("127.0.0.1 to 127.0.0.3 (3 addresses)")
        );
    }

    #[tokio::test]
    async fn connections_take_the_addresses_in_turn() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = listener.local_addr().unwrap();
        let sources = Sources::new(sources::first_v4(3)).unwrap();
        let mut peers = Vec::new();
        for _ in 0..7 {
            let stream = sources.connect(target).await.unwrap();
            let (_, peer) = listener.accept().await.unwrap();
            assert_eq!(stream.local_addr().unwrap(), peer);
            peers.push(peer.ip());
        }
        let (a, b, c) = (ip("127.0.0.1"), ip("127.0.0.2"), ip("127.0.0.3"));
        assert_eq!(peers, [a, b, c, a, b, c, a]);
        assert_eq!(sources.used(), [(a, 3), (b, 2), (c, 2)]);
        assert_eq!(sources.elsewhere(), 0);
    }
}
