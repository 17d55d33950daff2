use bytes::Bytes;

use super::*;

/// A hub of 64-byte-ish messages with its lobby.
fn hub_with(messages: &[&'static str]) -> (Hub<Bytes>, Room) {
    let hub = Hub::new(100);
    let room = hub.room(RoomId::LOBBY).unwrap();
    for m in messages {
        hub.publish(&room, Bytes::from_static(m.as_bytes()));
    }
    (hub, room)
}

/// The same `Bytes`, not an equal copy.
fn same(a: &Bytes, b: &Bytes) -> bool {
    a.as_ptr() == b.as_ptr() && a.len() == b.len()
}

#[test]
fn two_readers_at_one_cursor_share_one_answer_with_the_exact_bytes() {
    let (hub, room) = hub_with(&["hello", "hi"]);
    let shared = Shared::new(1 << 20);
    let (span, a) = shared.answer(&hub, &room, Wire::Poll, 0, 100);
    let (again, b) = shared.answer(&hub, &room, Wire::Poll, 0, 100);
    assert_eq!(&a[..], b"5:hello,2:hi,");
    assert!(same(&a, &b));
    assert_eq!(span, again);
    assert_eq!((span.first_seq, span.next_cursor, span.len()), (1, 2, 2));
    assert_eq!(shared.bytes(), a.len());
    let (_, sse) = shared.answer(&hub, &room, Wire::Sse, 1, 100);
    assert_eq!(&sse[..], b"id: 2\ndata: hi\n\n");
    assert!(same(&sse, &shared.answer(&hub, &room, Wire::Sse, 1, 100).1));
    assert_eq!(shared.bytes(), a.len() + sse.len());
}

#[test]
fn a_publish_makes_readers_at_that_cursor_read_the_new_range() {
    let (hub, room) = hub_with(&["a"]);
    let shared = Shared::new(1 << 20);
    let (first, before) = shared.answer(&hub, &room, Wire::Sse, 0, 100);
    assert_eq!(&before[..], b"id: 1\ndata: a\n\n");
    hub.publish(&room, Bytes::from_static(b"b\nc"));
    let (span, after) = shared.answer(&hub, &room, Wire::Sse, 0, 100);
    assert_eq!(&after[..], b"id: 1\ndata: a\n\nid: 2\ndata: b\ndata: c\n\n");
    assert_ne!(span, first);
    // A reader already past the new message has nothing: no answer is made or kept.
    let (span, none) = shared.answer(&hub, &room, Wire::Sse, 2, 100);
    assert!(none.is_empty() && span.is_empty());
    assert_eq!(shared.bytes(), before.len() + after.len());
}

#[test]
fn each_room_and_wire_has_its_own_answers() {
    let hub = Hub::new(100);
    let (a, b) = (hub.room(RoomId(1)).unwrap(), hub.room(RoomId(2)).unwrap());
    hub.publish(&a, Bytes::from_static(b"in a"));
    hub.publish(&b, Bytes::from_static(b"in b"));
    let shared = Shared::new(1 << 20);
    let (span_a, body_a) = shared.answer(&hub, &a, Wire::Poll, 0, 10);
    let (span_b, body_b) = shared.answer(&hub, &b, Wire::Poll, 0, 10);
    // Equal spans in two rooms are two different ranges.
    assert_eq!(span_a, span_b);
    assert_eq!(
        (&body_a[..], &body_b[..]),
        (&b"4:in a,"[..], &b"4:in b,"[..])
    );
    let (_, sse_a) = shared.answer(&hub, &a, Wire::Sse, 0, 10);
    assert_eq!(&sse_a[..], b"id: 1\ndata: in a\n\n");
    assert!(same(&body_a, &shared.answer(&hub, &a, Wire::Poll, 0, 10).1));
}

#[test]
fn gaps_resets_and_batch_limits_are_part_of_the_answer() {
    let hub = Hub::new(3);
    let room = hub.room(RoomId::LOBBY).unwrap();
    for m in ["1", "2", "3", "4", "5"] {
        hub.publish(&room, Bytes::from_static(m.as_bytes()));
    }
    let shared = Shared::new(1 << 20);
    let (span, sse) = shared.answer(&hub, &room, Wire::Sse, 0, 2);
    assert_eq!(
        &sse[..],
        b": missed 2\n\nid: 3\ndata: 3\n\nid: 4\ndata: 4\n\n"
    );
    assert_eq!((span.missed, span.next_cursor), (2, 4));
    // Same range without the gap: its own answer.
    let (span, sse) = shared.answer(&hub, &room, Wire::Sse, 2, 2);
    assert_eq!(&sse[..], b"id: 3\ndata: 3\n\nid: 4\ndata: 4\n\n");
    assert_eq!(span.missed, 0);
    let (span, poll) = shared.answer(&hub, &room, Wire::Poll, 99, 100);
    assert!(span.reset);
    assert_eq!(&poll[..], b"1:3,1:4,1:5,");
}

#[test]
fn a_room_keeps_its_last_few_spans_only() {
    let (hub, room) = hub_with(&[]);
    let shared = Shared::new(1 << 20);
    let mut kept = Vec::new();
    for n in 0..(PER_ROOM + 3) {
        hub.publish(&room, Bytes::from(vec![b'x'; n + 1]));
        kept.push(shared.answer(&hub, &room, Wire::Poll, 0, 100).1);
    }
    let newest: usize = kept.iter().rev().take(PER_ROOM).map(Bytes::len).sum();
    assert_eq!(shared.bytes(), newest);
}

#[test]
fn the_answers_are_bounded_in_bytes_over_all_rooms() {
    let hub = Hub::new(1000);
    let shared = Shared::new(100);
    for id in 0..50 {
        let room = hub.room(RoomId(id)).unwrap();
        hub.publish(&room, Bytes::from(vec![b'm'; 20]));
        let (_, body) = shared.answer(&hub, &room, Wire::Poll, 0, 10);
        assert_eq!(body.len(), 20 + batch::framing_len(20));
        assert!(shared.bytes() <= 100, "{} bytes kept", shared.bytes());
    }
    // An answer larger than the whole bound is made for each reader and never kept.
    let room = hub.room(RoomId(99)).unwrap();
    hub.publish(&room, Bytes::from(vec![b'L'; 200]));
    let before = shared.bytes();
    let (_, a) = shared.answer(&hub, &room, Wire::Poll, 0, 10);
    let (_, b) = shared.answer(&hub, &room, Wire::Poll, 0, 10);
    assert_eq!((&a, shared.bytes()), (&b, before));
    assert!(!same(&a, &b));
}
