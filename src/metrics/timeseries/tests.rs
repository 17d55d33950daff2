//! The per-second recorder's counts, swaps and packing, on figures.

use super::*;

#[test]
fn shards_merge_and_start_afresh() {
    let r = IntervalRecorder::new(2);
    r.record_delivery(0, Duration::from_millis(5), 0);
    r.record_delivery(33, Duration::from_millis(7), 1);
    r.record_delivery(5, Duration::from_millis(9), 7);
    let (first, unclocked) = r.take_latency();
    assert_eq!((first.len(), unclocked), (3, 0));
    assert!(first.equivalent(first.max(), 9_000));
    assert_eq!(r.take_latency().0.len(), 0);
    // Three subscribers get each message.
    r.record_published(0, 3);
    r.record_published(0, 3);
    r.record_published(1, 3);
    r.record_published(2, 3);
    let counts: Vec<(u64, u64)> = r
        .by_intended()
        .iter()
        .map(|s| (s.published, s.delivered))
        .collect();
    assert_eq!(counts, vec![(2, 1), (1, 1)]);
    assert_eq!(r.missing(1, 3), 5);
    assert_eq!(r.missing(2, 3), 7);
}

#[test]
fn other_shards_deliveries_count_without_latency() {
    let r = IntervalRecorder::new(2).expect_others(vec![3, 1]);
    r.record_published(0, 2);
    r.record_delivery(1, Duration::from_millis(5), 0);
    r.record_unclocked_delivery(2, 0);
    r.record_unclocked_delivery(3, 1);
    r.record_unclocked_delivery(4, 9);
    let (latency, unclocked) = r.take_latency();
    assert_eq!((latency.len(), unclocked), (1, 3));
    assert_eq!(r.take_latency().1, 0);
    assert_eq!(
        r.by_intended(),
        vec![
            IntendedSecond {
                published: 1,
                expected: 2,
                others: 3,
                delivered: 2
            },
            IntendedSecond {
                published: 0,
                expected: 0,
                others: 1,
                delivered: 1
            }
        ]
    );
    // Two subscribers: (1 + 3) × 2 − 2 and (0 + 1) × 2 − 1.
    assert_eq!(r.missing(2, 2), 6 + 1);
}

#[test]
fn with_rooms_other_shards_messages_are_expected_by_their_rooms_members() {
    // Own: one message to a room of 2. Others: 5 and 4 deliveries (each message to its
    // room's members here), expected whatever the subscriber count.
    let r = IntervalRecorder::new(2);
    r.record_published(0, 2);
    r.expect_other_deliveries(vec![5, 4]);
    r.expect_other_deliveries(vec![50, 40]);
    r.record_unclocked_delivery(0, 0);
    r.record_unclocked_delivery(0, 1);
    let expected: Vec<(u64, u64)> = r
        .by_intended()
        .iter()
        .map(|s| (s.expected, s.others))
        .collect();
    assert_eq!(expected, [(2 + 5, 0), (4, 0)]);
    assert_eq!(r.missing(2, 100), (7 - 1) + (4 - 1));
}

#[test]
fn packing_keeps_the_histogram_in_a_few_bytes() {
    let mut h = new_histogram();
    for us in (1..=50_000u64).map(|i| i * 11) {
        h.record(us).unwrap();
    }
    let packed = PackedHistogram::pack(&h);
    assert_eq!(packed.unpack(), h);
    assert_eq!(packed.len(), 50_000);
    // 11 µs – 550 ms at 3 significant digits: ~90 KiB of counts as a plain histogram.
    assert!(
        packed.packed_bytes() < 16 * 1024,
        "{}",
        packed.packed_bytes()
    );
    assert!(PackedHistogram::pack(&new_histogram()).is_empty());
}

#[test]
fn lost_is_counted_by_intended_second() {
    let sample = |n: u64| {
        let mut latency_us = new_histogram();
        for _ in 0..n {
            latency_us.record(10).unwrap();
        }
        Sample {
            duration: Duration::from_secs(1),
            latency_us: PackedHistogram::pack(&latency_us),
            unclocked: 0,
            wire: WireBytes { up: n, down: 2 * n },
            connections: 4,
        }
    };
    let series = TimeSeries::new(
        Duration::from_secs(100),
        vec![sample(3), sample(5), sample(1)],
        &[
            IntendedSecond {
                published: 2,
                expected: 8,
                others: 0,
                delivered: 3,
            },
            IntendedSecond {
                published: 1,
                expected: 4,
                others: 0,
                delivered: 2,
            },
        ],
        4,
    );
    let lost: Vec<u64> = series.seconds.iter().map(|s| s.lost).collect();
    assert_eq!(lost, [5, 2, 0]);
    let deliveries: Vec<u64> = series.seconds.iter().map(Second::deliveries).collect();
    assert_eq!(deliveries, [3, 5, 1]);
    assert_eq!(series.seconds[2].published, 0);
}
