use super::*;

/// The lobby of `hub`.
fn lobby<M: Clone>(hub: &Hub<M>) -> Room {
    hub.room(RoomId::LOBBY).unwrap()
}

#[test]
fn cursor_reads_everything_after_it_once() {
    let hub = Hub::new(8);
    let r = lobby(&hub);
    assert_eq!(hub.publish(&r, "a"), 1);
    assert_eq!(hub.publish(&r, "b"), 2);
    let b = hub.read_after(&r, 0, 100);
    assert_eq!(
        (b.messages, b.first_seq, b.missed, b.next_cursor),
        (vec!["a", "b"], 1, 0, 2)
    );
    let b = hub.read_after(&r, 2, 100);
    assert!(b.messages.is_empty());
    assert_eq!((b.next_cursor, b.missed, b.reset), (2, 0, false));
    hub.publish(&r, "c");
    let b = hub.read_after(&r, 2, 100);
    assert_eq!((b.messages, b.first_seq, b.next_cursor), (vec!["c"], 3, 3));
}

#[test]
fn batches_are_bounded_and_resume_where_they_stopped() {
    let hub = Hub::new(8);
    let r = lobby(&hub);
    for m in 0..5 {
        hub.publish(&r, m);
    }
    let b = hub.read_after(&r, 0, 2);
    assert_eq!((b.messages, b.next_cursor), (vec![0, 1], 2));
    let b = hub.read_after(&r, 2, 2);
    assert_eq!((b.messages, b.next_cursor), (vec![2, 3], 4));
    let b = hub.read_after(&r, 4, 2);
    assert_eq!((b.messages, b.next_cursor), (vec![4], 5));
}

#[test]
fn ring_overflow_is_reported_as_a_gap() {
    let hub = Hub::new(3);
    let r = lobby(&hub);
    for m in 1..=10 {
        hub.publish(&r, m);
    }
    let b = hub.read_after(&r, 2, 100);
    assert_eq!(b.messages, vec![8, 9, 10]);
    assert_eq!((b.first_seq, b.missed, b.next_cursor), (8, 5, 10));
    let b = hub.read_after(&r, 7, 100);
    assert_eq!(b.missed, 0);
}

#[test]
fn a_cursor_from_the_future_reads_from_the_start() {
    let hub = Hub::new(3);
    let r = lobby(&hub);
    hub.publish(&r, 1);
    hub.publish(&r, 2);
    let b = hub.read_after(&r, 500, 100);
    assert!(b.reset);
    assert_eq!((b.messages, b.first_seq, b.next_cursor), (vec![1, 2], 1, 2));
    let empty: Hub<u8> = Hub::new(3);
    let b = empty.read_after(&lobby(&empty), 0, 10);
    assert_eq!((b.next_cursor, b.reset, b.missed), (0, false, 0));
}

#[test]
fn a_restored_hub_continues_the_sequence() {
    let hub = Hub::new(3);
    let r = lobby(&hub);
    for m in 1..=5 {
        hub.publish(&r, m);
    }
    let kept = hub.snapshot();
    assert_eq!(
        kept,
        vec![RoomState {
            room: RoomId::LOBBY,
            first_seq: 3,
            messages: vec![3, 4, 5]
        }]
    );
    let again = Hub::restore(3, usize::MAX, |_| 0, kept);
    let r = lobby(&again);
    assert_eq!(r.latest(), 5);
    assert_eq!(again.read_after(&r, 3, 10).messages, vec![4, 5]);
    assert_eq!(again.publish(&r, 6), 6);
    let empty: Hub<u8> = Hub::restore(3, usize::MAX, |_| 0, Vec::new());
    let r = lobby(&empty);
    assert_eq!((r.latest(), empty.publish(&r, 9)), (0, 1));
}

#[test]
fn the_ring_is_bounded_in_bytes_too_and_keeps_the_newest() {
    let hub: Hub<Vec<u8>> = Hub::bounded(100, 10, Vec::len);
    let r = lobby(&hub);
    for size in [4, 4, 4] {
        hub.publish(&r, vec![0; size]);
    }
    // 12 bytes > 10: the oldest went.
    let b = hub.read_after(&r, 0, 100);
    assert_eq!((b.first_seq, b.missed, b.messages.len()), (2, 1, 2));
    // A message over the bound alone is still kept (the newest always is).
    hub.publish(&r, vec![0; 30]);
    let b = hub.read_after(&r, 0, 100);
    assert_eq!((b.first_seq, b.messages.len()), (4, 1));
    let again = Hub::restore(100, 10, Vec::len, hub.snapshot());
    let r = lobby(&again);
    assert_eq!(
        (r.latest(), again.read_after(&r, 0, 9).messages.len()),
        (4, 1)
    );
}

#[test]
fn each_room_has_its_own_sequence_and_ring() {
    let hub = Hub::new(100);
    let (a, b) = (hub.room(RoomId(1)).unwrap(), hub.room(RoomId(7)).unwrap());
    assert_eq!(hub.publish(&a, "a1"), 1);
    assert_eq!(hub.publish(&b, "b1"), 1);
    assert_eq!(hub.publish(&a, "a2"), 2);
    assert_eq!(hub.read_after(&a, 0, 10).messages, vec!["a1", "a2"]);
    assert_eq!(hub.read_after(&b, 0, 10).messages, vec!["b1"]);
    // The same id gives the same room; the lobby is a room like the others.
    let again = hub.room(RoomId(7)).unwrap();
    assert_eq!((again.latest(), again.id()), (1, RoomId(7)));
    assert_eq!(lobby(&hub).latest(), 0);
    assert_eq!(hub.rooms(), 3);
    // A cursor is per room: 2 is from the future in room 7 only.
    assert!(hub.read_after(&b, 2, 10).reset);
    assert!(!hub.read_after(&a, 2, 10).reset);
}

#[test]
fn one_bound_for_all_rooms_drops_the_oldest_of_the_hub() {
    // Four messages over all rooms, twelve bytes.
    let hub: Hub<Vec<u8>> = Hub::bounded(4, 12, Vec::len);
    let (a, b) = (hub.room(RoomId(0)).unwrap(), hub.room(RoomId(1)).unwrap());
    hub.publish(&a, vec![1; 2]); // a1
    hub.publish(&b, vec![2; 2]); // b1
    hub.publish(&a, vec![3; 2]); // a2
    hub.publish(&b, vec![4; 2]); // b2
    hub.publish(&b, vec![5; 2]); // b3: a1 goes, the oldest of the hub
    let ra = hub.read_after(&a, 0, 10);
    assert_eq!((ra.first_seq, ra.missed, ra.messages.len()), (2, 1, 1));
    let rb = hub.read_after(&b, 0, 10);
    assert_eq!((rb.first_seq, rb.missed, rb.messages.len()), (1, 0, 3));
    // Bytes: a 10-byte message leaves room for nothing else under 12 but one 2-byte message.
    hub.publish(&a, vec![6; 10]); // a3: b1, a2, b2 go (5 → 2 messages, 18 → 12 bytes)
    let ra = hub.read_after(&a, 0, 10);
    assert_eq!((ra.first_seq, ra.messages.len()), (3, 1));
    let rb = hub.read_after(&b, 0, 10);
    assert_eq!(
        (rb.first_seq, rb.missed, rb.messages),
        (3, 2, vec![vec![5; 2]])
    );
    // Sequences go on per room after the drops.
    assert_eq!((hub.publish(&a, vec![7]), hub.publish(&b, vec![8])), (4, 4));
}

#[test]
fn rooms_are_bounded_and_a_new_one_past_the_limit_is_refused() {
    let hub: Hub<u8> = Hub::new(8).with_max_rooms(2);
    hub.room(RoomId(5)).unwrap();
    hub.room(RoomId(6)).unwrap();
    assert_eq!(
        hub.room(RoomId(7)).unwrap_err(),
        RoomError::TooMany { limit: 2 }
    );
    // Existing rooms stay usable.
    let r = hub.room(RoomId(5)).unwrap();
    assert_eq!(hub.publish(&r, 1), 1);
    assert_eq!(hub.rooms(), 2);
}

#[test]
fn every_room_survives_a_restart_with_its_own_sequence() {
    let hub = Hub::new(10);
    let (a, b) = (hub.room(RoomId(3)).unwrap(), hub.room(RoomId(9)).unwrap());
    for m in 1..=3 {
        hub.publish(&a, m);
    }
    hub.publish(&b, 40);
    let saved = hub.snapshot();
    assert_eq!(
        saved.iter().map(|r| r.room).collect::<Vec<_>>(),
        [RoomId(3), RoomId(9)]
    );
    let again = Hub::restore(10, usize::MAX, |_| 0, saved).with_max_rooms(1);
    let (a, b) = (
        again.room(RoomId(3)).unwrap(),
        again.room(RoomId(9)).unwrap(),
    );
    assert_eq!((a.latest(), b.latest()), (3, 1));
    assert_eq!(again.read_after(&a, 1, 10).messages, vec![2, 3]);
    assert_eq!(again.publish(&b, 41), 2);
    // Both saved rooms came back; the limit holds for new ones.
    assert!(again.room(RoomId(1)).is_err());
}

#[tokio::test]
async fn a_room_s_readers_are_woken_by_its_own_publishes_only() {
    let hub = std::sync::Arc::new(Hub::new(4));
    let (a, b) = (hub.room(RoomId(1)).unwrap(), hub.room(RoomId(2)).unwrap());
    let (mut rx_a, rx_b) = (a.subscribe(), b.subscribe());
    let h = hub.clone();
    tokio::spawn(async move { h.publish(&a, 7u8) });
    rx_a.changed().await.unwrap();
    assert_eq!(*rx_a.borrow(), 1);
    assert!(!rx_b.has_changed().unwrap());
}

#[test]
fn a_shared_log_numbers_each_room() {
    let hub = Hub::new(6);
    let (r, other) = (lobby(&hub), hub.room(RoomId(3)).unwrap());
    let forwarded = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = forwarded.clone();
    hub.forward_to(move |room, m, stored: Option<Stored>| {
        sink.lock().unwrap().push((room, m));
        if let Some(stored) = stored {
            let _ = stored.send(());
        }
    });
    assert_eq!(hub.publish(&r, "a"), 0);
    let mut done = hub.publish_stored(&other, "b").unwrap();
    assert_eq!(done.try_recv(), Ok(()));
    assert_eq!(
        *forwarded.lock().unwrap(),
        vec![(RoomId::LOBBY, "a"), (RoomId(3), "b")]
    );
    assert_eq!((r.latest(), other.latest()), (0, 0));
    // The log's numbering: a late joiner starts where the log's retained part starts.
    assert!(hub.publish_at(&r, 7, "a"));
    assert!(hub.publish_at(&r, 8, "b"));
    assert!(!hub.publish_at(&r, 8, "b"), "a replay is ignored");
    assert!(hub.publish_at(&other, 1, "x"));
    let b = hub.read_after(&r, 6, 10);
    assert_eq!((b.messages, b.first_seq, b.missed), (vec!["a", "b"], 7, 0));
    // A gap in one room's log reads as missed messages there, and leaves the other room alone.
    assert!(hub.publish_at(&r, 11, "e"));
    let b = hub.read_after(&r, 8, 10);
    assert_eq!((b.messages, b.first_seq, b.missed), (vec!["e"], 11, 2));
    assert_eq!(r.latest(), 11);
    assert_eq!(hub.read_after(&other, 0, 10).messages, vec!["x"]);
    // A cursor from a faster instance waits for this one to catch up: no reset, no replay.
    let b = hub.read_after(&r, 13, 10);
    assert_eq!((b.messages.len(), b.next_cursor, b.reset), (0, 13, false));
    for (seq, m) in [(12, "f"), (13, "g"), (14, "h")] {
        hub.publish_at(&r, seq, m);
    }
    assert_eq!(hub.read_after(&r, 13, 10).messages, vec!["h"]);
    // The shared bound (6) still holds over both rooms after the gap, and the oldest kept
    // message of the hub (x: the gap dropped the lobby's older ones) goes first.
    assert!(hub.publish_at(&other, 2, "y"));
    assert!(hub.publish_at(&other, 3, "z"));
    let kept: usize = hub.snapshot().iter().map(|s| s.messages.len()).sum();
    assert_eq!(kept, 6);
    let b = hub.read_after(&other, 0, 10);
    assert_eq!((b.messages, b.first_seq, b.missed), (vec!["y", "z"], 2, 1));
    assert_eq!(
        hub.read_after(&r, 10, 10).messages,
        vec!["e", "f", "g", "h"]
    );
}

#[test]
fn the_new_room_hook_hears_of_each_room_made_once() {
    let hub = Hub::<&str>::new(4);
    hub.room(RoomId(1)).unwrap();
    let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = heard.clone();
    hub.on_new_room(move |room: &Room| sink.lock().unwrap().push(room.id()));
    for id in [1, 2, 2, 0, 2] {
        hub.room(RoomId(id)).unwrap();
    }
    // Room 1 was made before the hook; rooms 2 and 0 once each, however often named.
    assert_eq!(*heard.lock().unwrap(), vec![RoomId(2), RoomId::LOBBY]);
    assert_eq!(hub.room_ids(), vec![RoomId::LOBBY, RoomId(1), RoomId(2)]);
}

#[test]
fn a_span_is_the_batch_without_its_messages() {
    let hub: Hub<Vec<u8>> = Hub::bounded(4, 12, Vec::len);
    let (a, b) = (hub.room(RoomId(0)).unwrap(), hub.room(RoomId(1)).unwrap());
    let check = |room: &Room, cursor, max| {
        let batch = hub.read_after(room, cursor, max);
        assert_eq!(hub.span(room, cursor, max), batch.span());
        assert_eq!(batch.span().len(), batch.messages.len());
    };
    check(&a, 0, 10);
    for n in 1..=6 {
        hub.publish(&a, vec![n; 2]);
    }
    // Room b's big message empties room a's ring: a gap with nothing after it.
    hub.publish(&b, vec![9; 12]);
    for cursor in [0, 1, 3, 6, 7, 50] {
        for max in [0, 1, 2, 10] {
            check(&a, cursor, max);
            check(&b, cursor, max);
        }
    }
    let gap = hub.span(&a, 2, 10);
    assert!(gap.is_empty());
    assert_eq!((gap.missed, gap.next_cursor), (4, 6));
}

#[test]
fn messages_lent_in_place_are_the_batch_even_across_the_ring_s_wrap() {
    let hub = Hub::new(5);
    let r = lobby(&hub);
    // 8 publishes into a ring of 5: the deque's start has moved, so its messages lie in two slices.
    for i in 1..=8u32 {
        hub.publish(&r, i);
    }
    for cursor in 0..=9 {
        for max in [1, 2, 3, 100] {
            let lent = hub.read_in_place(&r, cursor, max, |span, older, newer| {
                (span, [older, newer].concat())
            });
            let batch = hub.read_after(&r, cursor, max);
            assert_eq!(
                lent,
                (batch.span(), batch.messages),
                "cursor {cursor}, max {max}"
            );
        }
    }
    let (_, all) = hub.read_in_place(&r, 0, 100, |span, older, newer| {
        (span, [older, newer].concat())
    });
    assert_eq!(all, [4, 5, 6, 7, 8]);
}
