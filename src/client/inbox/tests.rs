use super::*;

const RUN: RunTag = RunTag(7);

fn message(publisher: u32, seq: u64) -> Vec<u8> {
    tagged(RUN, publisher, seq)
}

fn tagged(run: RunTag, publisher: u32, seq: u64) -> Vec<u8> {
    Envelope {
        run,
        publisher,
        seq,
        intended_ns: 0,
    }
    .encode(64)
}

#[test]
fn a_message_from_another_room_is_misrouted_and_never_a_delivery() {
    let now = Instant::now();
    let timeline = Timeline {
        epoch: now,
        publish_start: now,
        measure_start: now,
        measure_end: now + std::time::Duration::from_secs(10),
        own: (0..10).into(),
    };
    // Room 1 of 3: publishers 1, 4, 7, … are its own.
    let mut inbox = Inbox::new(RUN, RoomId(1), 3);
    for (publisher, seq) in [(1, 0), (4, 0), (1, 1), (2, 0), (3, 5), (4, 0)] {
        inbox.receive(&message(publisher, seq), now, Some(&timeline));
    }
    assert_eq!(inbox.counts.misrouted, 2);
    // Three of its room's messages were expected: all came, one of them twice.
    let counts = inbox.finish(3);
    assert_eq!(counts.misrouted, 2);
    let d = counts.delivery;
    assert_eq!((d.delivered, d.duplicated, d.lost), (3, 1, 0));
    // A subscriber placed in a room nobody publishes into (past the run's rooms) expects
    // nothing, and anything it gets is misrouted.
    let mut idle = Inbox::new(RUN, RoomId(5), 1);
    idle.receive(&message(0, 0), now, Some(&timeline));
    assert_eq!(idle.finish(0).misrouted, 1);
    // Without rooms every publisher is the subscriber's.
    let mut one = Inbox::new(RUN, RoomId::LOBBY, 1);
    one.receive(&message(2, 0), now, Some(&timeline));
    let counts = one.finish(1);
    assert_eq!((counts.misrouted, counts.delivery.delivered), (0, 1));
}

/// A server that replays its history hands a new run the last run's messages: same
/// publishers, same sequence numbers. They are stale, and neither deliveries nor duplicates
/// nor a reason to count this run's own messages as reordered.
#[test]
fn another_runs_messages_are_stale_and_change_nothing_else() {
    let now = Instant::now();
    let timeline = Timeline {
        epoch: now,
        publish_start: now,
        measure_start: now,
        measure_end: now + std::time::Duration::from_secs(10),
        own: (0..2).into(),
    };
    let mut inbox = Inbox::new(RUN, RoomId::LOBBY, 1);
    for seq in [5, 6, 7] {
        inbox.receive(&tagged(RunTag(8), 0, seq), now, Some(&timeline));
    }
    for seq in [0, 1] {
        inbox.receive(&message(0, seq), now, Some(&timeline));
    }
    inbox.receive(&tagged(RunTag(8), 1, 0), now, Some(&timeline));
    inbox.receive(&message(1, 0), now, Some(&timeline));
    let counts = inbox.finish(3);
    assert_eq!(counts.stale, 4);
    let d = counts.delivery;
    assert_eq!(
        (d.delivered, d.duplicated, d.reordered, d.lost),
        (3, 0, 0, 0)
    );
    assert_eq!(counts.foreign, 0);
}

/// Intended 100 ms before `now`, its bytes stamped by the kernel 60 ms before: the latency
/// is the 40 ms up to the arrival, and the 60 ms (or the few µs more that passed before the
/// inbox read the clock) are the generator's delay. Without the stamp, all 100 ms.
#[test]
fn a_kernel_stamp_moves_the_receive_time_back_to_the_arrival() {
    use std::time::{Duration, SystemTime};
    let now = Instant::now();
    let epoch = now - Duration::from_millis(100);
    let timeline = Timeline {
        epoch,
        publish_start: epoch,
        measure_start: epoch,
        measure_end: epoch + Duration::from_secs(10),
        own: (0..10).into(),
    };
    let intervals = Arc::new(IntervalRecorder::new(10));
    let since_epoch = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        - Duration::from_millis(60);
    let stamp = KernelStamp { since_epoch };
    let mut stamped = Inbox::new(RUN, RoomId::LOBBY, 1);
    stamped.attach(intervals.clone(), None);
    stamped.receive_stamped(&message(0, 0), now, Some(stamp), Some(&timeline));
    let (latency, _) = intervals.take_latency();
    let delay = intervals.generator_delay();
    assert_eq!((latency.len(), delay.len()), (1, 1));
    // Histograms keep 3 significant digits: 40 ms is recorded as 40,000 ± 40 µs.
    assert!(latency.max() <= 40_040, "{}", latency.max());
    assert!(delay.min() >= 59_960, "{}", delay.min());
    let mut plain = Inbox::new(RUN, RoomId::LOBBY, 1);
    plain.attach(intervals.clone(), None);
    plain.receive(&message(0, 0), now, Some(&timeline));
    let (latency, _) = intervals.take_latency();
    assert!(latency.min() >= 99_900, "{}", latency.min());
    assert_eq!(
        intervals.generator_delay().len(),
        1,
        "no delay without a stamp"
    );
}

/// Away from 10 s to 12 s of the phase: the messages intended in between are replays when
/// they come (once each, a duplicate is not), the first one intended after the return ends
/// the recovery (2.5 s after the break, when it arrived), and later ones are live.
#[tokio::test(start_paused = true)]
async fn an_outage_counts_its_replays_once_and_times_its_recovery() {
    use std::time::Duration;
    let epoch = Instant::now();
    let timeline = Timeline {
        epoch,
        publish_start: epoch,
        measure_start: epoch,
        measure_end: epoch + Duration::from_secs(100),
        own: (0..1).into(),
    };
    let intervals = Arc::new(IntervalRecorder::new(100));
    let mut inbox = Inbox::new(RUN, RoomId::LOBBY, 1);
    inbox.attach(intervals.clone(), None);
    let at_second = |seq: u64| {
        Envelope {
            run: RUN,
            publisher: 0,
            seq,
            intended_ns: seq * 1_000_000_000,
        }
        .encode(64)
    };
    tokio::time::advance(Duration::from_secs(10)).await;
    inbox.away();
    tokio::time::advance(Duration::from_secs(2)).await;
    inbox.back();
    tokio::time::advance(Duration::from_millis(500)).await;
    let now = Instant::now();
    for seq in [9, 10, 11, 10, 12, 13] {
        inbox.receive(&at_second(seq), now, Some(&timeline));
    }
    assert_eq!(intervals.outages.replay().len(), 2);
    let recovery = intervals.outages.recovery();
    assert_eq!(recovery.len(), 1);
    // 2.5 s, to the histogram's 3 significant digits.
    assert!(recovery.value_at_quantile(1.0).abs_diff(2_500_000) <= 2_500);
    // A second outage with nothing published during it: no replay, one more recovery.
    inbox.away();
    tokio::time::advance(Duration::from_secs(1)).await;
    inbox.back();
    let now = Instant::now();
    inbox.receive(&at_second(15), now, Some(&timeline));
    assert_eq!(
        (
            intervals.outages.replay().len(),
            intervals.outages.recovery().len()
        ),
        (2, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn what_a_fresh_rejoin_skipped_is_lost_away_per_publisher_and_a_replay_skips_nothing() {
    use std::time::Duration;
    let epoch = Instant::now();
    let timeline = Timeline {
        epoch,
        publish_start: epoch,
        measure_start: epoch + Duration::from_secs(1),
        measure_end: epoch + Duration::from_secs(100),
        own: (0..2).into(),
    };
    let at = |publisher: u32, seq: u64| {
        Envelope {
            run: RUN,
            publisher,
            seq,
            intended_ns: 2_000_000_000 + seq * 1_000_000,
        }
        .encode(64)
    };
    let mut inbox = Inbox::new(RUN, RoomId::LOBBY, 1);
    let receive = |inbox: &mut Inbox, publisher, seqs: &[u64]| {
        for &seq in seqs {
            inbox.receive(&at(publisher, seq), Instant::now(), Some(&timeline));
        }
    };
    // A break before the measured phase counts nothing.
    receive(&mut inbox, 0, &[0, 1]);
    inbox.left();
    receive(&mut inbox, 0, &[5]);
    assert_eq!(inbox.counts.lost_away, 0);
    tokio::time::advance(Duration::from_secs(2)).await;
    receive(&mut inbox, 0, &[6, 7]);
    receive(&mut inbox, 1, &[0, 1, 2]);
    inbox.left();
    // Publisher 0 skipped 8 and 9; a second break before publisher 1 is heard from keeps
    // where publisher 1 stood at the first (3), and takes publisher 0's place anew (11).
    receive(&mut inbox, 0, &[10]);
    inbox.left();
    receive(&mut inbox, 1, &[7, 8]);
    receive(&mut inbox, 0, &[11, 12]);
    assert_eq!(inbox.counts.lost_away, 2 + 4);
    // A resume replays from where the break left off: nothing skipped, nothing counted.
    inbox.away();
    receive(&mut inbox, 0, &[13, 14]);
    receive(&mut inbox, 1, &[9]);
    assert_eq!(inbox.counts.lost_away, 6);
    assert!(inbox.away.is_none());
}
