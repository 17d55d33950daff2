//! Past one address's ports: a run forced over 3 loopback source addresses connects from every
//! one of them in turn — as the kernel reports it, on each socket and in `/proc/net/tcp` — and
//! still delivers every message to every subscriber exactly once, on every transport.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wsbench::client::source::Sources;
use wsbench::client::{LoadPlan, Phase, Target, drive};
use wsbench::protocol::TransportKind;
use wsbench::scenario::sources::first_v4;
use wsbench::scenario::{Transport, WsClient};

/// One transport at a time: each run holds ~6,000 descriptors (3,000 client sockets and as many
/// server ones, in this process), and four at once would pass the 20,000 the machine allows.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// 3,000 subscribers (3 publishing) connected at 10,000/s, 10 msg/s for 1 s.
fn plan() -> LoadPlan {
    LoadPlan {
        subscribers: 3_000,
        connect_rate: 10_000,
        publishers: 3,
        rate: 10.0,
        duration: Duration::from_secs(1),
        ..common::small_plan()
    }
}

/// Client connections established to `server` now, by local address, from `/proc/net/tcp`
/// (IPv4; addresses are printed as the raw 32-bit value in host byte order, ports in hex).
fn established_to(server: SocketAddr) -> BTreeMap<IpAddr, u64> {
    let parse = |field: &str| -> SocketAddr {
        let (ip, port) = field.split_once(':').unwrap();
        let ip = Ipv4Addr::from(u32::from_str_radix(ip, 16).unwrap().to_ne_bytes());
        SocketAddr::new(ip.into(), u16::from_str_radix(port, 16).unwrap())
    };
    // Only this process's sockets: another process on the machine (a second test suite) may
    // hold a connection whose far end happens to be the same address and port.
    let own: std::collections::HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(
                link.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let mut by_local = BTreeMap::new();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // State 01 is TCP_ESTABLISHED; field 9 is the socket's inode.
        if fields[3] == "01" && parse(fields[2]) == server && own.contains(fields[9]) {
            *by_local.entry(parse(fields[1]).ip()).or_insert(0) += 1;
        }
    }
    by_local
}

async fn spread_over_three_addresses(transport: Transport) {
    let _turn = ONE_AT_A_TIME.lock().await;
    wsbench::os::raise_nofile(8_000).unwrap();
    let plan = plan();
    let (addr, stop) = common::start_server(transport.kind()).await;
    let sources = Arc::new(Sources::new(first_v4(3)).unwrap());
    let target = Target {
        sources: sources.clone(),
        ..Target::new(transport.clone(), addr).unwrap()
    };
    let mut established = BTreeMap::new();
    let outcome = drive(&plan, &target, &CancellationToken::new(), &mut |phase| {
        if phase == Phase::Measuring {
            established = established_to(addr);
        }
    })
    .await
    .unwrap();
    stop.cancel();

    // Over HTTP each publisher has a connection of its own.
    let connections = match transport.kind() {
        TransportKind::Ws => 3_000,
        _ => 3_003,
    };
    let each = connections / 3;
    let (a, b, c) = (
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([127, 0, 0, 2]),
        IpAddr::from([127, 0, 0, 3]),
    );
    // Every connection attempt took the next address, and came out with it.
    assert_eq!(sources.used(), [(a, each), (b, each), (c, each)]);
    assert_eq!(sources.elsewhere(), 0);
    // The kernel's own table agrees: all of them were open, from those addresses only.
    let expected: BTreeMap<IpAddr, u64> = [(a, each), (b, each), (c, each)].into();
    assert_eq!(established, expected);

    let r = &outcome.recorder;
    assert_eq!(outcome.messages_published, 10);
    assert_eq!(outcome.subscribers_connected, plan.subscribers);
    assert_eq!(
        r.counts.delivery.delivered,
        10 * u64::from(plan.subscribers)
    );
    assert_eq!(
        (
            r.counts.delivery.lost,
            r.counts.delivery.duplicated,
            r.counts.delivery.reordered
        ),
        (0, 0, 0)
    );
    assert_eq!(
        (r.counts.connect_errors.total(), r.counts.io_errors),
        (0, 0)
    );
    assert!(outcome.complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_over_three_source_addresses() {
    spread_over_three_addresses(Transport::Ws {
        ping_interval: None,
        client: WsClient::Wsbench,
        resume: false,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_over_three_source_addresses() {
    spread_over_three_addresses(Transport::LongPoll {
        hold: Duration::from_secs(30),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_poll_over_three_source_addresses() {
    spread_over_three_addresses(Transport::ShortPoll {
        interval: Duration::from_secs(1),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_over_three_source_addresses() {
    spread_over_three_addresses(Transport::Sse).await;
}
