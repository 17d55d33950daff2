use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::*;
use crate::server::fanout::tests::{Trickle, frames};

/// A connected pair on loopback: the server's end (shared, as a pushed connection's is) and
/// the client's.
async fn pair() -> (Arc<TcpStream>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (Arc::new(server), client)
}

fn sending<M>(outbox: &Outbox<M>) -> (u64, usize, bool) {
    let s = lock(&outbox.sending);
    (s.cursor, s.unsent.len(), s.held)
}

/// Reads exactly `n` bytes, or fails the test after a few seconds.
async fn read_exactly(client: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = vec![0; n];
    tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut got))
        .await
        .expect("the bytes came")
        .unwrap();
    got
}

#[tokio::test]
async fn the_task_moves_the_cursor_past_everything_sent_and_skips_what_was_overwritten() {
    let hub = Hub::new(4);
    let room = hub.room(RoomId(3)).unwrap();
    for i in 0..6u8 {
        hub.publish(&room, Bytes::from(vec![i]));
    }
    let mut sink = Trickle::new(1 << 20, true);
    let outbox = Outbox::new(None, 0);
    outbox.send(&mut sink, &hub, &room, 3).await.unwrap();
    // Messages 1 and 2 were overwritten; 3..=6 go out in batches of at most 3.
    assert_eq!(sink.got, [2, 3, 4, 5]);
    assert_eq!(sink.calls, [3, 1]);
    // Caught up: the socket is the pusher's again.
    assert_eq!(sending(&outbox), (6, 0, false));
}

#[tokio::test]
async fn a_write_the_socket_cuts_short_resumes_mid_frame_with_the_rest_copied() {
    // A ring of 4 that has wrapped (its frames lie in two slices), and a socket that takes 7
    // bytes per call: the first write goes straight from the ring, the rest from the copies.
    let hub = Hub::new(4);
    let room = hub.room(RoomId::LOBBY).unwrap();
    let frames = frames(7);
    for frame in &frames {
        hub.publish(&room, frame.clone());
    }
    let mut sink = Trickle::new(7, true);
    let outbox = Outbox::new(None, 3);
    outbox.send(&mut sink, &hub, &room, 100).await.unwrap();
    assert_eq!(sink.got, frames[3..].concat());
    assert_eq!(sending(&outbox).0, 7);
    // 13 + 14 + 15 + 16 bytes, 7 at a time.
    assert_eq!(sink.calls.len(), 58usize.div_ceil(7));
}

#[tokio::test]
async fn the_pusher_writes_into_the_socket_and_keeps_it() {
    let hub = Hub::new(64);
    let room = hub.room(RoomId::LOBBY).unwrap();
    let (server, mut client) = pair().await;
    let outbox = Outbox::new(Some(server), 0);
    let frames = frames(5);
    for frame in &frames {
        hub.publish(&room, frame.clone());
    }
    outbox.offer(&hub, &room, 3);
    let expected = frames.concat();
    assert_eq!(read_exactly(&mut client, expected.len()).await, expected);
    // Two writes (3 then 2, `max_batch`), nothing left for the connection's task.
    assert_eq!(sending(&outbox), (5, 0, false));
    // Nothing new: a second offer writes nothing.
    outbox.offer(&hub, &room, 3);
    assert_eq!(sending(&outbox), (5, 0, false));
}

#[tokio::test]
async fn a_full_socket_goes_to_the_task_which_finishes_every_frame_in_order() {
    let hub = Hub::bounded(100_000, 1 << 30, Bytes::len);
    let room = hub.room(RoomId::LOBBY).unwrap();
    let (server, mut client) = pair().await;
    let outbox = Arc::new(Outbox::new(Some(server.clone()), 0));
    // Far more than loopback's socket buffers hold while nobody reads.
    let frames: Vec<Bytes> = (0..400u32)
        .map(|i| Bytes::from(vec![(i % 251) as u8; 50_000 + i as usize]))
        .collect();
    for frame in &frames {
        hub.publish(&room, frame.clone());
    }
    outbox.offer(&hub, &room, 64);
    let (cursor, unsent, held) = sending(&outbox);
    assert!(held, "a full socket is handed to the connection's task");
    assert!(
        unsent > 0 && cursor < 400,
        "cursor {cursor}, unsent {unsent}"
    );
    // Held by the task: the pusher writes nothing more, whatever is published.
    hub.publish(&room, Bytes::from_static(b"last"));
    outbox.offer(&hub, &room, 64);
    assert_eq!(sending(&outbox), (cursor, unsent, true));
    // The task is told, and writes the rest while the client reads.
    tokio::time::timeout(Duration::from_secs(1), outbox.handed_over())
        .await
        .expect("the task was told");
    let mut expected = frames.concat();
    expected.extend_from_slice(b"last");
    let len = expected.len();
    let reader = tokio::spawn(async move { read_exactly(&mut client, len).await });
    let task = {
        let outbox = outbox.clone();
        async move {
            let mut out = SharedTcp(server);
            outbox.send(&mut out, &hub, &room, 64).await
        }
    };
    task.await.unwrap();
    assert!(reader.await.unwrap() == expected, "every byte, in order");
    assert_eq!(sending(&outbox), (401, 0, false));
}

#[tokio::test]
async fn without_a_socket_the_pusher_only_tells_the_task() {
    let hub = Hub::new(8);
    let room = hub.room(RoomId::LOBBY).unwrap();
    let outbox = Outbox::new(None, 0);
    hub.publish(&room, Bytes::from_static(b"a"));
    outbox.offer(&hub, &room, 8);
    assert_eq!(sending(&outbox), (0, 0, true));
    tokio::time::timeout(Duration::from_secs(1), outbox.handed_over())
        .await
        .expect("the task was told");
    let mut sink = Trickle::new(1 << 20, true);
    outbox.send(&mut sink, &hub, &room, 8).await.unwrap();
    assert_eq!(sink.got, b"a");
    assert_eq!(sending(&outbox), (1, 0, false));
}

#[tokio::test]
async fn a_closing_connection_takes_the_socket_for_good() {
    let hub = Hub::new(8);
    let room = hub.room(RoomId::LOBBY).unwrap();
    let (server, mut client) = pair().await;
    let outbox = Outbox::new(Some(server.clone()), 0);
    let mut out = SharedTcp(server);
    outbox.take_over(&mut out).await.unwrap();
    out.write_all(b"bye").await.unwrap();
    out.shutdown().await.unwrap();
    hub.publish(&room, Bytes::from_static(b"after the close"));
    outbox.offer(&hub, &room, 8);
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");
}

#[tokio::test]
async fn a_rooms_pusher_serves_every_member_and_a_left_slot_is_reused() {
    struct Server {
        hub: Hub<Bytes>,
        push: Push<Bytes>,
        tasks: TaskTracker,
        stop: CancellationToken,
    }
    fn parts(s: &Server) -> Parts<'_, Bytes> {
        Parts {
            push: &s.push,
            hub: &s.hub,
            tasks: &s.tasks,
            stop: &s.stop,
            max_batch: 16,
        }
    }
    let server = Arc::new(Server {
        hub: Hub::new(64),
        push: Push::default(),
        tasks: TaskTracker::new(),
        stop: CancellationToken::new(),
    });
    let room = server.hub.room(RoomId(7)).unwrap();
    let (a_server, mut a) = pair().await;
    let (b_server, mut b) = pair().await;
    let a_in = join(
        &server,
        parts,
        &room,
        Arc::new(Outbox::new(Some(a_server), 0)),
    );
    let b_in = join(
        &server,
        parts,
        &room,
        Arc::new(Outbox::new(Some(b_server), 0)),
    );
    assert_eq!((a_in.slot, b_in.slot), (0, 1));
    server.hub.publish(&room, Bytes::from_static(b"one"));
    assert_eq!(read_exactly(&mut a, 3).await, b"one");
    assert_eq!(read_exactly(&mut b, 3).await, b"one");
    // A leaves; C joins later, at the room's end, in A's slot.
    drop(a_in);
    let (c_server, mut c) = pair().await;
    let c_in = join(
        &server,
        parts,
        &room,
        Arc::new(Outbox::new(Some(c_server), room.latest())),
    );
    assert_eq!(c_in.slot, 0);
    server.hub.publish(&room, Bytes::from_static(b"two"));
    assert_eq!(read_exactly(&mut b, 3).await, b"two");
    assert_eq!(read_exactly(&mut c, 3).await, b"two");
    server.stop.cancel();
    server.tasks.close();
    tokio::time::timeout(Duration::from_secs(1), server.tasks.wait())
        .await
        .expect("the pusher stops with the server");
}
