//! The emulated path, on paused time: delays, order, jitter, bandwidth and the bytes counted.

use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

const RTT: Duration = Duration::from_millis(100);

/// `RTT` of round trip, nothing else.
fn delayed<S>(inner: S) -> Delayed<S> {
    let net = Network {
        delay: RTT,
        ..Network::default()
    };
    Delayed::new(inner, net, 1)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn bytes_written_leave_half_a_round_trip_later() {
    let (near, mut far) = duplex(1 << 20);
    let mut delayed = delayed(near);
    let start = Instant::now();
    delayed.write_all(b"hello").await.unwrap();
    // A flush hands the bytes to the path and returns: they are in flight.
    delayed.flush().await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    // A shutdown waits until they have crossed.
    delayed.shutdown().await.unwrap();
    let mut got = [0u8; 5];
    far.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"hello");
    assert_eq!(start.elapsed(), RTT / 2);
}

#[tokio::test(start_paused = true)]
async fn bytes_that_arrive_are_readable_half_a_round_trip_later() {
    let (near, mut far) = duplex(1 << 20);
    let mut delayed = delayed(near);
    let start = Instant::now();
    far.write_all(b"news").await.unwrap();
    let mut got = [0u8; 4];
    delayed.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"news");
    assert_eq!(start.elapsed(), RTT / 2);
}

#[tokio::test(start_paused = true)]
async fn a_request_and_its_answer_take_one_round_trip_and_keep_their_bytes() {
    let (near, mut far) = duplex(1 << 20);
    let echo = tokio::spawn(async move {
        let mut buf = vec![0u8; 3000];
        far.read_exact(&mut buf).await.unwrap();
        far.write_all(&buf).await.unwrap();
        far.shutdown().await.unwrap();
    });
    let mut delayed = delayed(near);
    let request: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    delayed.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    delayed.read_to_end(&mut answer).await.unwrap();
    assert_eq!(answer, request);
    // The end of the stream is delayed like the bytes before it.
    assert_eq!(start.elapsed(), RTT);
    echo.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn later_writes_keep_their_order_and_their_own_delay() {
    let (near, mut far) = duplex(1 << 20);
    let mut delayed = delayed(near);
    let start = Instant::now();
    delayed.write_all(b"a").await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    delayed.write_all(b"b").await.unwrap();
    delayed.shutdown().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(60));
    let mut got = [0u8; 2];
    far.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"ab");
}

#[tokio::test(start_paused = true)]
async fn a_reader_alone_sends_what_was_written_without_a_flush() {
    let (near, mut far) = duplex(1 << 20);
    let mut delayed = delayed(near);
    delayed.write_all(b"ping").await.unwrap();
    let server = tokio::spawn(async move {
        let mut got = [0u8; 4];
        far.read_exact(&mut got).await.unwrap();
        far.write_all(b"pong").await.unwrap();
        far
    });
    let start = Instant::now();
    let mut got = [0u8; 4];
    delayed.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"pong");
    assert_eq!(start.elapsed(), RTT);
    drop(server.await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_makes_the_writer_wait() {
    let (near, _far) = duplex(QUEUE_LIMIT * 4);
    let mut delayed = delayed(near);
    let big = vec![7u8; QUEUE_LIMIT];
    let start = Instant::now();
    delayed.write_all(&big).await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
    // The queue is full until the first bytes leave, half a round trip later.
    delayed.write_all(b"x").await.unwrap();
    assert_eq!(start.elapsed(), RTT / 2);
}

#[tokio::test(start_paused = true)]
async fn jitter_spreads_arrivals_but_never_reorders_them() {
    let (near, mut far) = duplex(1 << 20);
    let net = Network {
        delay: RTT,
        jitter: ms(40),
        bandwidth: None,
    };
    let mut delayed = Delayed::new(near, net, 7);
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        for i in 0..100u8 {
            tokio::time::sleep_until(start + ms(u64::from(i))).await;
            far.write_all(&[i]).await.unwrap();
        }
        far
    });
    let mut arrivals = Vec::new();
    for _ in 0..100 {
        let mut byte = [0u8; 1];
        delayed.read_exact(&mut byte).await.unwrap();
        arrivals.push((byte[0], start.elapsed()));
    }
    drop(sender.await.unwrap());
    let sent = |i: u8| ms(u64::from(i));
    for (k, &(i, at)) in arrivals.iter().enumerate() {
        // In order, and each one way is half the round trip plus up to half the jitter (and
        // up to a millisecond more: tokio's timers have millisecond granularity).
        assert_eq!(usize::from(i), k);
        assert!(
            at >= sent(i) + RTT / 2 && at <= sent(i) + RTT / 2 + ms(21),
            "{i}: {at:?}"
        );
    }
    let extras: std::collections::BTreeSet<Duration> = arrivals
        .iter()
        .map(|&(i, at)| at - sent(i) - RTT / 2)
        .collect();
    assert!(extras.len() > 10, "jitter drew {extras:?}");
}

#[tokio::test(start_paused = true)]
async fn a_bandwidth_spreads_a_write_over_its_size_divided_by_the_rate() {
    let (near, mut far) = duplex(1 << 20);
    let net = Network {
        delay: RTT,
        jitter: Duration::ZERO,
        // A segment in 10 ms (whole milliseconds: tokio's timers have that granularity).
        bandwidth: Some(144_800),
    };
    let mut delayed = Delayed::new(near, net, 1);
    let start = Instant::now();
    let len = 10 * SEGMENT;
    let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
    // Two writes at once: the second waits for the link to finish the first.
    delayed.write_all(&data[..len / 2]).await.unwrap();
    delayed.write_all(&data[len / 2..]).await.unwrap();
    let reader = tokio::spawn(async move {
        let mut first = vec![0u8; SEGMENT];
        far.read_exact(&mut first).await.unwrap();
        let first_at = start.elapsed();
        let mut rest = vec![0u8; 9 * SEGMENT];
        far.read_exact(&mut rest).await.unwrap();
        first.extend(rest);
        (first, first_at, start.elapsed())
    });
    delayed.shutdown().await.unwrap();
    let (got, first_at, last_at) = reader.await.unwrap();
    assert_eq!(got, data);
    // The first segment is through the link after 10 ms, then takes half the round trip...
    assert_eq!(first_at, ms(10) + RTT / 2);
    // ...and ten take 100 ms.
    assert_eq!(last_at, ms(100) + RTT / 2);
}

#[tokio::test(start_paused = true)]
async fn bytes_on_the_socket_are_the_bytes_written_and_read() {
    use crate::wire::{CountingStream, WireMeter};
    use std::sync::Arc;
    let (near, mut far) = duplex(1 << 20);
    let meter = Arc::new(WireMeter::default());
    let net = Network {
        delay: RTT,
        jitter: ms(30),
        bandwidth: Some(1_000_000),
    };
    let mut delayed = Delayed::new(CountingStream::new(near, meter.clone()), net, 3);
    let echo = tokio::spawn(async move {
        let mut buf = vec![0u8; 50_000];
        far.read_exact(&mut buf).await.unwrap();
        far.write_all(&buf).await.unwrap();
        far.shutdown().await.unwrap();
    });
    let request: Vec<u8> = (0..50_000u32).map(|i| (i % 241) as u8).collect();
    delayed.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    delayed.read_to_end(&mut answer).await.unwrap();
    echo.await.unwrap();
    assert_eq!(answer, request);
    let counted = meter.read();
    assert_eq!((counted.up, counted.down), (50_000, 50_000));
}

#[test]
fn a_tcp_handshake_costs_one_round_trip_and_its_jitter() {
    let plain = Network {
        delay: RTT,
        ..Network::default()
    };
    assert_eq!(plain.round_trip(1), RTT);
    let jittery = Network {
        jitter: ms(20),
        ..plain
    };
    let took: Vec<Duration> = (0..50).map(|seed| jittery.round_trip(seed)).collect();
    assert!(
        took.iter().all(|t| *t >= RTT && *t < RTT + ms(20)),
        "{took:?}"
    );
    assert_eq!(jittery.round_trip(5), jittery.round_trip(5));
    assert!(Network::default().is_loopback() && !plain.is_loopback());
}
