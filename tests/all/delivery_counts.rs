//! End to end on loopback, both transports: every published message reaches every subscriber
//! exactly once, and the WebSocket byte counts equal what RFC 6455 says they must be.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use wsbench::client::{ClientOutcome, LoadPlan, Phase, Target, drive};
use wsbench::metrics::{Second, WireBytes};
use wsbench::scenario::{Transport, WsClient};
use wsbench::server::Limits;

/// WebSocket without a heartbeat, on `client`.
fn ws(client: WsClient) -> Transport {
    Transport::Ws {
        ping_interval: None,
        client,
        resume: false,
    }
}

async fn run(transport: Transport, plan: &LoadPlan) -> (ClientOutcome, std::net::SocketAddr) {
    run_with(transport, plan, Limits::default()).await
}

async fn run_with(
    transport: Transport,
    plan: &LoadPlan,
    limits: Limits,
) -> (ClientOutcome, std::net::SocketAddr) {
    let (addr, stop) = common::start_server_with(transport.kind(), limits).await;
    let target = Target::new(transport, addr).unwrap();
    let outcome = drive(plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    stop.cancel();
    (outcome, addr)
}

/// Two fast readers of the test's own beside a run's subscribers: what each received is known
/// separately, where the run's figures are sums over all its subscribers.
const OBSERVERS: usize = 2;

/// [`run_with`], with [`OBSERVERS`] fast readers of `transport` connected before the run starts
/// and reading until its drain ends; returns the messages each of them received.
async fn run_observed(
    transport: Transport,
    plan: &LoadPlan,
    limits: Limits,
) -> (ClientOutcome, Vec<u64>) {
    let (addr, stop) = common::start_server_with(transport.kind(), limits).await;
    let mut counts = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..OBSERVERS {
        let count = Arc::new(AtomicU64::new(0));
        counts.push(count.clone());
        readers.push(match transport {
            Transport::Ws { .. } => {
                let url = format!("ws://{addr}/ws");
                let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
                tokio::spawn(async move {
                    while let Some(Ok(message)) = ws.next().await {
                        if message.is_binary() || message.is_text() {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            }
            _ => tokio::spawn(long_poll_reader(addr, count)),
        });
    }
    let target = Target::new(transport, addr).unwrap();
    let outcome = drive(plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap();
    stop.cancel();
    for reader in readers {
        reader.abort();
    }
    let counts = counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    (outcome, counts)
}

/// Long-polls `addr` from the first message on, counting the messages (netstrings) received;
/// a gap the server announces (`x-missed`) fails the test.
async fn long_poll_reader(addr: SocketAddr, count: Arc<AtomicU64>) {
    let mut cursor = 0u64;
    loop {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "GET /poll?cursor={cursor} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(
            !head.contains("x-missed"),
            "a fast reader missed messages: {head}"
        );
        let mut body = &raw[split + 4..];
        while let Some(colon) = body.iter().position(|&b| b == b':') {
            let len: usize = std::str::from_utf8(&body[..colon])
                .unwrap()
                .parse()
                .unwrap();
            body = &body[colon + len + 2..];
            count.fetch_add(1, Ordering::Relaxed);
        }
        cursor = head
            .lines()
            .find_map(|l| l.strip_prefix("x-next-cursor: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    }
}

fn assert_every_message_delivered_once(o: &ClientOutcome, plan: &LoadPlan) {
    // 50 msg/s for 2 s, no warmup: exactly 100 slots fall in the window.
    assert_eq!(o.messages_published, 100);
    assert_eq!(o.messages_scheduled, 100);
    assert_eq!(o.subscribers_connected, plan.subscribers);
    let d = o.recorder.counts.delivery;
    assert_eq!(d.delivered, 100 * u64::from(plan.subscribers));
    assert_eq!((d.lost, d.duplicated, d.reordered), (0, 0, 0));
    assert_eq!(o.recorder.counts.foreign, 0);
    assert_eq!(o.recorder.latency_us.len(), d.delivered);
    assert_eq!(o.recorder.connect_us.len(), u64::from(plan.subscribers));
    assert_eq!(
        (
            o.recorder.counts.connect_errors.total(),
            o.recorder.counts.io_errors
        ),
        (0, 0)
    );
    assert!(o.complete);

    // Second by second (2 s measured, then the drain), the seconds add up to the whole run.
    let seconds = &o.timeseries.seconds;
    assert!(seconds.len() >= 2, "{} seconds", seconds.len());
    let sum = |f: &dyn Fn(&Second) -> u64| seconds.iter().map(f).sum::<u64>();
    assert_eq!(sum(&Second::deliveries), d.delivered);
    // 50 msg/s on a fixed schedule: 50 messages intended in each measured second, none after.
    let published: Vec<u64> = seconds.iter().map(|s| s.published).collect();
    assert_eq!(published[..2], [50, 50]);
    assert_eq!(sum(&|s| s.published), 100);
    assert_eq!(sum(&|s| s.lost), 0);
    let wire = WireBytes {
        up: sum(&|s| s.wire.up),
        down: sum(&|s| s.wire.down),
    };
    assert_eq!(wire, o.wire);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_delivers_everything_and_counts_bytes_exactly() {
    delivers_everything_and_counts_bytes_exactly(WsClient::Wsbench).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_on_tungstenite_delivers_everything_and_counts_bytes_exactly() {
    delivers_everything_and_counts_bytes_exactly(WsClient::Tungstenite).await;
}

/// Both clients put the same bytes on the wire: the same upgrade request, the same frames.
async fn delivers_everything_and_counts_bytes_exactly(client: WsClient) {
    let plan = common::small_plan();
    let (o, addr) = run(ws(client), &plan).await;
    assert_every_message_delivered_once(&o, &plan);

    // RFC 6455 §5.2: a server frame of ≤ 125 bytes has a 2-byte header; a client frame is masked,
    // adding a 4-byte key. Nothing else crosses the wire in the window (no pings, no close yet).
    let payload = plan.payload_bytes as u64;
    assert_eq!(o.wire.up, o.messages_published * (payload + 6));
    assert_eq!(
        o.wire.down,
        o.recorder.counts.delivery.delivered * (payload + 2)
    );
    assert_eq!(o.payload_wire.up, o.messages_published * payload);
    assert_eq!(
        o.payload_wire.down,
        o.recorder.counts.delivery.delivered * payload
    );

    // The opening handshake (RFC 6455 §4.1/§4.2) as tungstenite writes it, and ours too: the key is 16 random
    // bytes in base64 (24 characters), the accept value a base64 SHA-1 (28 characters).
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n",
        key = "k".repeat(24)
    );
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
         sec-websocket-accept: {accept}\r\n\r\n",
        accept = "a".repeat(28)
    );
    let n = u64::from(plan.subscribers);
    assert_eq!(o.connect_wire.up, n * request.len() as u64);
    assert_eq!(o.connect_wire.down, n * response.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_tcp_delivers_everything_and_counts_bytes_exactly() {
    let plan = common::small_plan();
    let (o, _) = run(Transport::Raw { resume: false }, &plan).await;
    assert_every_message_delivered_once(&o, &plan);
    // Bare TCP: a 4-byte length before each message, each way, and nothing else at all.
    let payload = plan.payload_bytes as u64;
    let delivered = o.recorder.counts.delivery.delivered;
    assert_eq!(o.wire.up, o.messages_published * (4 + payload));
    assert_eq!(o.wire.down, delivered * (4 + payload));
    assert_eq!(o.payload_wire.up, o.messages_published * payload);
    assert_eq!(o.payload_wire.down, delivered * payload);
    // Connecting is the TCP handshake alone: no bytes.
    assert_eq!(o.connect_wire.total(), 0);
    assert_eq!(o.recorder.counts.http_requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_delivers_everything_with_the_cursor() {
    let plan = common::small_plan();
    let (o, _) = run(
        Transport::LongPoll {
            hold: Duration::from_secs(30),
        },
        &plan,
    )
    .await;
    assert_every_message_delivered_once(&o, &plan);
    let r = &o.recorder;
    // Every subscriber joined and polled; every publisher posted each of its messages once.
    assert!(r.counts.http_requests >= u64::from(plan.subscribers) * 2 + o.messages_published);
    assert_eq!(r.publish_rtt_us.len(), o.messages_published);
    assert_eq!(r.counts.missed_reported, 0);
    assert!(r.counts.messages_in_responses >= r.counts.delivery.delivered);
    assert!(o.wire.down > o.payload_wire.down);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_messages_are_delivered_but_not_counted() {
    let mut plan = common::small_plan();
    plan.subscribers = 10;
    plan.publishers = 2;
    plan.warmup = Duration::from_secs(1);
    let (o, _) = run(ws(WsClient::Wsbench), &plan).await;
    assert_eq!(o.messages_published, 100);
    assert_eq!(o.recorder.counts.delivery.delivered, 1000);
    assert_eq!(o.recorder.counts.delivery.lost, 0);
}

#[tokio::test]
async fn refuses_targets_off_loopback() {
    let err = Target::new(ws(WsClient::Wsbench), "192.0.2.1:80".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("only loopback"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_target_gives_one_clear_error() {
    // Bind then drop: nothing listens on this port any more.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut plan = common::small_plan();
    plan.subscribers = 5;
    plan.publishers = 1;
    let target = Target::new(ws(WsClient::Wsbench), addr).unwrap();
    let err = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("no client could connect") && text.contains("(5 attempts: refused 5)"),
        "{text}"
    );
}

/// A fake server on loopback that treats every connection with `serve`.
async fn fake_server<F, Fut>(serve: F) -> std::net::SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve(tcp));
        }
    });
    addr
}

/// Failed connections are counted by kind, and the error says which kinds occurred.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_failures_are_counted_by_kind() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut plan = common::small_plan();
    plan.subscribers = 4;
    plan.publishers = 1;
    plan.connect_timeout = Duration::from_millis(300);
    // Both generator clients must tell the kinds apart alike.
    let attempt = |addr, plan: LoadPlan| async move {
        let mut texts = Vec::new();
        for client in WsClient::ALL {
            let target = Target::new(ws(client), addr).unwrap();
            let err = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
                .await
                .unwrap_err();
            texts.push(err.to_string());
        }
        texts
    };
    // A server that wants a token: the upgrade is answered 401.
    let limits = Limits {
        token: Some("secret".into()),
        ..Limits::default()
    };
    let (addr, stop) = common::start_server_with(ws(WsClient::Wsbench).kind(), limits).await;
    let texts = attempt(addr, plan.clone()).await;
    for text in texts {
        assert!(text.contains("(4 attempts: rejected 4)"), "{text}");
    }
    stop.cancel();
    // Not an HTTP server at all.
    let addr = fake_server(|mut tcp| async move {
        let mut buf = [0u8; 1024];
        let _ = tcp.read(&mut buf).await;
        let _ = tcp.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
    })
    .await;
    let texts = attempt(addr, plan.clone()).await;
    for text in texts {
        assert!(text.contains("(4 attempts: protocol 4)"), "{text}");
    }
    // A server that accepts and never answers.
    let addr = fake_server(|tcp| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(tcp);
    })
    .await;
    let texts = attempt(addr, plan).await;
    for text in texts {
        assert!(text.contains("(4 attempts: timed_out 4)"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_poll_delivers_everything_and_counts_empty_polls() {
    let mut plan = common::small_plan();
    plan.subscribers = 20;
    let interval = Duration::from_millis(200);
    let (o, _) = run(Transport::ShortPoll { interval }, &plan).await;
    assert_every_message_delivered_once(&o, &plan);
    let r = &o.recorder;
    // Every answered poll carried messages or was empty: nothing else comes back.
    assert_eq!(
        r.counts.responses_with_messages + r.counts.empty_polls + u64::from(plan.subscribers),
        r.counts.http_requests - o.messages_published
    );
    // At 50 msg/s and 5 polls/s a poll carries about 10 messages.
    assert!(r.counts.messages_in_responses > r.counts.responses_with_messages * 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_delivers_everything() {
    let plan = common::small_plan();
    let (o, _) = run(Transport::Sse, &plan).await;
    assert_every_message_delivered_once(&o, &plan);
    assert_eq!(o.recorder.counts.reconnects, 0);
    // Every POST was answered, and timed once.
    assert_eq!(o.recorder.publish_rtt_us.len(), o.messages_published);
    // One GET /events per subscriber and one POST per message.
    assert_eq!(
        o.recorder.counts.http_requests,
        u64::from(plan.subscribers) + o.messages_published
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_resumes_with_last_event_id_and_loses_nothing() {
    let mut plan = common::small_plan();
    plan.subscribers = 10;
    // The server ends every stream after 7 events, mid-run: each client must resume many times.
    let limits = Limits {
        sse_max_events: Some(7),
        ..Limits::default()
    };
    let (o, _) = run_with(Transport::Sse, &plan, limits).await;
    assert_every_message_delivered_once(&o, &plan);
    // 100 events per client, 7 per stream: at least 14 resumes each.
    assert!(
        o.recorder.counts.reconnects >= 14 * u64::from(plan.subscribers),
        "{}",
        o.recorder.counts.reconnects
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_heartbeat_keeps_a_live_connection() {
    let mut plan = common::small_plan();
    plan.subscribers = 10;
    for client in WsClient::ALL {
        let ws = Transport::Ws {
            ping_interval: Some(Duration::from_millis(300)),
            client,
            resume: false,
        };
        let (o, _) = run(ws, &plan).await;
        assert_every_message_delivered_once(&o, &plan);
        assert_eq!(o.recorder.counts.reconnects, 0, "{client:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_heartbeat_declares_a_silent_server_dead_and_reconnects() {
    // A server that completes the handshake and then never reads or writes again.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await {
                held.push(ws);
            }
        }
    });
    let mut plan = common::small_plan();
    plan.subscribers = 2;
    plan.publishers = 1;
    plan.duration = Duration::from_secs(1);
    plan.drain = Duration::from_secs(1);
    plan.reconnect = wsbench::scenario::Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
    };
    for client in WsClient::ALL {
        let ws = Transport::Ws {
            ping_interval: Some(Duration::from_millis(100)),
            client,
            resume: false,
        };
        let target = Target::new(ws, addr).unwrap();
        let o = drive(&plan, &target, &CancellationToken::new(), &mut |_| {})
            .await
            .unwrap();
        // Two missed pongs in 2 s: each client gave up on the silent connection and came back.
        let reconnects = o.recorder.counts.reconnects;
        assert!(reconnects >= 2, "{client:?}: {reconnects}");
        assert_eq!(o.recorder.counts.delivery.delivered, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_meet_the_ring_policy_and_their_losses_are_announced() {
    // A ring of 8: a long-poll reader that pauses 500 ms between polls falls ~25 messages behind
    // at 50 msg/s, and the server tells it what the ring overwrote (`x-missed`).
    let mut plan = common::small_plan();
    plan.subscribers = 10;
    plan.slow_readers = 2;
    plan.slow_read_pause = Duration::from_millis(500);
    plan.drain = Duration::from_secs(3);
    let limits = Limits {
        ring_capacity: 8,
        ..Limits::default()
    };
    let hold = Duration::from_secs(30);
    let (o, observed) = run_observed(Transport::LongPoll { hold }, &plan, limits).await;
    let d = o.recorder.counts.delivery;
    assert!(
        d.lost > 0,
        "the slow readers must have fallen behind the ring"
    );
    // Every loss was announced by the server; fast readers beside the slow ones (the test's
    // own, counted each on its own) got every message.
    assert_eq!(d.lost, o.recorder.counts.missed_reported);
    assert_eq!(observed, [o.messages_published; OBSERVERS]);
    assert_eq!(d.duplicated, 0);
    // Counted by the second each message was intended in, the losses add up to the same.
    let lost: Vec<u64> = o.timeseries.seconds.iter().map(|s| s.lost).collect();
    assert_eq!(lost.iter().sum::<u64>(), d.lost, "{lost:?}");
    assert!(
        lost[2..].iter().all(|&l| l == 0),
        "only measured seconds lose: {lost:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_second_is_reported_live_and_kept() {
    let plan = common::small_plan();
    let transport = ws(WsClient::default());
    let (addr, stop) = common::start_server_with(transport.kind(), Limits::default()).await;
    let target = Target::new(transport, addr).unwrap();
    let mut ticks = Vec::new();
    let mut progress = 0;
    let o = drive(
        &plan,
        &target,
        &CancellationToken::new(),
        &mut |phase| match phase {
            Phase::Tick(stats) => ticks.push(stats),
            Phase::ConnectProgress { .. } => progress += 1,
            _ => {}
        },
    )
    .await
    .unwrap();
    stop.cancel();
    // One report per connection attempt, one tick per second kept, the last, partial second of
    // the drain included: a live view sees every row of timeseries.csv.
    assert_eq!(progress, plan.subscribers);
    assert!(ticks.len() >= 3, "{ticks:?}");
    assert_eq!(o.timeseries.seconds.len(), ticks.len());
    assert!(ticks.windows(2).all(|w| w[0].elapsed < w[1].elapsed));
    assert_eq!(ticks[0].connections, u64::from(plan.subscribers));
    assert!(ticks[0].deliveries_per_s > 0.0 && ticks[0].latency_p99_us.is_some());
    for (tick, second) in ticks.iter().zip(&o.timeseries.seconds) {
        assert_eq!(tick.connections, second.connections);
    }
    // Each second's deliveries as reported live, but for those handled after the last tick
    // (which join the last second): all of them, in the end.
    let live: u64 = ticks.iter().map(|t| t.deliveries).sum();
    let kept: u64 = o.timeseries.seconds.iter().map(|s| s.deliveries()).sum();
    assert!(
        live <= kept && kept == o.recorder.counts.delivery.delivered,
        "{live} {kept}"
    );
    for (tick, second) in ticks.iter().zip(&o.timeseries.seconds).rev().skip(1) {
        assert_eq!(tick.deliveries, second.deliveries());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_slow_readers_fall_behind_alone() {
    // 64 KiB messages fill the socket buffers of a reader that pauses 500 ms after each read,
    // so the server's writer for it stalls and the ring of 8 moves on without it: it loses
    // messages (a gap in its sequence numbers), and fast readers beside them lose none.
    let mut plan = common::small_plan();
    plan.subscribers = 10;
    plan.slow_readers = 2;
    plan.slow_read_pause = Duration::from_millis(500);
    plan.payload_bytes = 65536;
    plan.drain = Duration::from_secs(3);
    let limits = Limits {
        ring_capacity: 8,
        ..Limits::default()
    };
    for client in WsClient::ALL {
        let (o, observed) = run_observed(ws(client), &plan, limits.clone()).await;
        let d = o.recorder.counts.delivery;
        assert!(d.lost > 0, "{client:?}: the slow readers kept up");
        // Fast readers beside them (the test's own, counted each on its own) lose none.
        assert_eq!(observed, [o.messages_published; OBSERVERS], "{client:?}");
        assert_eq!(d.duplicated, 0, "{client:?}");
    }
}
