//! Server instances sharing one Redis backplane: a message published on one instance reaches the
//! subscribers of another, over WebSocket, long-poll and SSE, and a long-poll cursor or SSE
//! `Last-Event-ID` from one instance resumes on another with nothing lost and nothing twice.
//!
//! `scripts/backplane/setup.sh` installs `redis-server` and `haproxy` (apt-get) when missing; a
//! test that still cannot find them fails, naming the script. Everything runs on 127.0.0.1.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::backplane::Redis;
use wsbench::backplane::{BackplaneError, BackplaneUrl};

/// A `wsbench serve` instance on the backplane; killed when dropped.
struct Instance {
    child: Child,
    addr: SocketAddr,
}

impl Instance {
    /// Two instances of `transport` on `redis`.
    fn pair(transport: &str, redis: &Redis) -> (Instance, Instance) {
        (
            Instance::start(transport, redis),
            Instance::start(transport, redis),
        )
    }

    fn start(transport: &str, redis: &Redis) -> Instance {
        let mut child = Command::new(common::wsbench_bin())
            .args([
                "serve",
                "--transport",
                transport,
                "--backplane",
                &redis.url(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().parse().unwrap_or_else(|_| panic!("{line:?}"));
        Instance { child, addr }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a connection of its own (closed after): status, headers, body.
fn request(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        tcp,
        "{head}\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    tcp.write_all(body).unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head.to_lowercase(), raw[split + 4..].to_vec())
}

fn publish(addr: SocketAddr, message: &str) {
    let (status, ..) = request(addr, "POST /publish HTTP/1.1", message.as_bytes());
    assert_eq!(status, 204);
}

fn header(head: &str, name: &str) -> u64 {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Netstrings `3:abc,` of a poll batch.
fn netstrings(mut body: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let colon = body.iter().position(|&b| b == b':').unwrap();
        let len: usize = std::str::from_utf8(&body[..colon])
            .unwrap()
            .parse()
            .unwrap();
        out.push(String::from_utf8(body[colon + 1..colon + 1 + len].to_vec()).unwrap());
        body = &body[colon + len + 2..];
    }
    out
}

/// Long-polls `addr` from `cursor` until `want` messages came; returns them and the last cursor.
fn poll_until(addr: SocketAddr, mut cursor: u64, want: usize) -> (Vec<String>, u64) {
    let mut got = Vec::new();
    let start = Instant::now();
    while got.len() < want {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "got only {got:?}"
        );
        let (status, head, body) =
            request(addr, &format!("GET /poll?cursor={cursor} HTTP/1.1"), b"");
        assert_eq!(status, 200, "{head}");
        assert!(
            !head.contains("x-missed") && !head.contains("x-reset"),
            "{head}"
        );
        got.extend(netstrings(&body));
        cursor = header(&head, "x-next-cursor");
    }
    (got, cursor)
}

#[test]
fn a_long_poll_cursor_from_one_instance_resumes_on_another() {
    let redis = Redis::start();
    let (a, b) = Instance::pair("longpoll", &redis);
    for m in ["m1", "m2", "m3"] {
        publish(a.addr, m);
    }
    // Published on A, read on B: the same messages under the same numbers.
    let (on_b, cursor_b) = poll_until(b.addr, 0, 3);
    assert_eq!(
        (on_b, cursor_b),
        (vec!["m1".into(), "m2".into(), "m3".into()], 3)
    );
    let (on_a, cursor_a) = poll_until(a.addr, 0, 3);
    assert_eq!(on_a.len(), 3);
    assert_eq!(cursor_a, 3);
    // A's cursor on B, after two more published on B: exactly those two.
    publish(b.addr, "m4");
    publish(b.addr, "m5");
    let (rest, cursor) = poll_until(b.addr, cursor_a, 2);
    assert_eq!(
        (rest, cursor),
        (vec!["m4".to_string(), "m5".to_string()], 5)
    );
    // And back on A with B's cursor: nothing new, nothing repeated (held, then answered empty).
    let (status, head, body) = request(a.addr, "GET /poll?cursor=5&wait=0 HTTP/1.1", b"");
    assert_eq!(
        (status, header(&head, "x-next-cursor"), body.len()),
        (200, 5, 0)
    );
}

/// Reads SSE events (`id` and `data`) from an open stream until `want` came.
fn sse_events(reader: &mut BufReader<TcpStream>, want: usize) -> Vec<(u64, String)> {
    let (mut events, mut id) = (Vec::new(), None);
    let mut line = String::new();
    while events.len() < want {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "stream ended");
        let l = line.trim_end();
        if let Some(v) = l.strip_prefix("id: ") {
            id = Some(v.parse().unwrap());
        } else if let Some(v) = l.strip_prefix("data: ") {
            events.push((id.take().unwrap(), v.to_string()));
        }
    }
    events
}

/// An SSE stream on `addr`, resuming after `last` if given, past its response head.
fn sse_open(addr: SocketAddr, last: Option<u64>) -> BufReader<TcpStream> {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let resume = last.map_or(String::new(), |id| format!("last-event-id: {id}\r\n"));
    write!(tcp, "GET /events HTTP/1.1\r\nhost: {addr}\r\n{resume}\r\n").unwrap();
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    while line != "\r\n" {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    reader
}

#[test]
fn sse_events_cross_instances_and_last_event_id_resumes_on_another() {
    let redis = Redis::start();
    let (a, b) = Instance::pair("sse", &redis);
    let mut on_b = sse_open(b.addr, None);
    publish(a.addr, "s1");
    publish(a.addr, "s2");
    assert_eq!(
        sse_events(&mut on_b, 2),
        vec![(1, "s1".to_string()), (2, "s2".to_string())]
    );
    drop(on_b);
    // B's last id, on A, after two more published on B.
    publish(b.addr, "s3");
    publish(b.addr, "s4");
    let mut on_a = sse_open(a.addr, Some(2));
    assert_eq!(
        sse_events(&mut on_a, 2),
        vec![(3, "s3".to_string()), (4, "s4".to_string())]
    );
    publish(b.addr, "s5");
    assert_eq!(sse_events(&mut on_a, 1), vec![(5, "s5".to_string())]);
}

#[test]
fn websocket_messages_reach_the_clients_of_every_instance() {
    use tokio_tungstenite::tungstenite::{Message, client};
    let redis = Redis::start();
    let (a, b) = Instance::pair("ws", &redis);
    let open = |addr: SocketAddr| {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        client::client(format!("ws://{addr}/ws"), tcp).unwrap().0
    };
    let (mut on_a, mut on_b) = (open(a.addr), open(b.addr));
    on_a.send(Message::text("hello from A")).unwrap();
    on_b.send(Message::binary(vec![0u8, 1, 2])).unwrap();
    let read = |ws: &mut tokio_tungstenite::tungstenite::WebSocket<TcpStream>| {
        let mut got = Vec::new();
        while got.len() < 2 {
            if let m @ (Message::Text(_) | Message::Binary(_)) = ws.read().unwrap() {
                got.push(m);
            }
        }
        got.sort_by_key(|m| m.is_binary());
        got
    };
    let want = vec![
        Message::text("hello from A"),
        Message::binary(vec![0u8, 1, 2]),
    ];
    // Each client gets both, text kept as text and binary as binary, whichever instance it is on.
    assert_eq!(read(&mut on_a), want);
    assert_eq!(read(&mut on_b), want);
}

/// One long-poll of room `room` from `cursor`, answered at once: the messages and the next cursor.
fn poll_room(addr: SocketAddr, room: u32, cursor: u64) -> (Vec<String>, u64) {
    let path = format!("GET /poll?room={room}&cursor={cursor}&wait=0 HTTP/1.1");
    let (status, head, body) = request(addr, &path, b"");
    assert_eq!(status, 200, "{head}");
    (netstrings(&body), header(&head, "x-next-cursor"))
}

#[test]
fn each_room_has_its_own_log_across_instances() {
    let redis = Redis::start();
    let (a, b) = Instance::pair("longpoll", &redis);
    // Room 5 is new to both instances: B makes it (and starts its relay) when this poll names it.
    assert_eq!(poll_room(b.addr, 5, 0), (vec![], 0));
    for (addr, room, m) in [
        (a.addr, 5, "r5-1"),
        (b.addr, 7, "r7-1"),
        (a.addr, 5, "r5-2"),
    ] {
        let path = format!("POST /publish?room={room} HTTP/1.1");
        assert_eq!(request(addr, &path, m.as_bytes()).0, 204);
    }
    publish(a.addr, "lobby-1");
    // Every room numbered from 1 by its own log, alike on both instances; nothing crosses rooms.
    let want: [(u32, &[&str]); 3] = [(5, &["r5-1", "r5-2"]), (7, &["r7-1"]), (0, &["lobby-1"])];
    for (room, messages) in want {
        for addr in [a.addr, b.addr] {
            let start = Instant::now();
            let got = loop {
                let got = poll_room(addr, room, 0);
                if got.0.len() >= messages.len() || start.elapsed() > Duration::from_secs(20) {
                    break got;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            assert_eq!(
                got,
                (
                    messages.iter().map(|m| m.to_string()).collect(),
                    messages.len() as u64
                ),
                "room {room} on {addr}"
            );
        }
    }
    // A room's cursor from one instance resumes on the other, in that room only.
    assert_eq!(poll_room(b.addr, 5, 1), (vec!["r5-2".to_string()], 2));
    assert_eq!(poll_room(a.addr, 7, 1), (vec![], 1));
}

/// `wsbench serve --transport sse --backplane URL` and `extra`, which must fail: its stderr.
fn serve_fails(url: &str, extra: &[&str]) -> String {
    let out = Command::new(common::wsbench_bin())
        .args(["serve", "--transport", "sse", "--backplane", url])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_backplane_off_loopback_is_refused_without_allow_remote() {
    let stderr = serve_fails("redis://192.0.2.1:6379", &[]);
    assert!(
        stderr.contains("not on loopback") && stderr.contains("--allow-remote"),
        "{stderr}"
    );
    assert!(matches!(
        BackplaneUrl::parse("redis://192.0.2.1:6379", false),
        Err(BackplaneError::NotLoopback(_))
    ));
    // Given, the address is taken; nothing is sent to it by this test.
    assert!(BackplaneUrl::parse("redis://192.0.2.1:6379", true).is_ok());
}

#[test]
fn an_instance_whose_redis_is_gone_fails_with_a_clear_error() {
    let redis = Redis::start();
    let url = redis.url();
    drop(redis);
    let stderr = serve_fails(&url, &[]);
    assert!(
        stderr.contains("backplane") && stderr.contains(&url[8..]),
        "{stderr}"
    );
    // A key prefix that would be a glob pattern is refused before anything is connected.
    let stderr = serve_fails(&url, &["--key-prefix", "run*"]);
    assert!(stderr.contains("key prefix \"run*\""), "{stderr}");
}

/// A WebSocket client of one instance, reading with a bound.
type Ws = tokio_tungstenite::tungstenite::WebSocket<TcpStream>;

fn ws_open(addr: SocketAddr) -> Ws {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    tokio_tungstenite::tungstenite::client::client(format!("ws://{addr}/ws"), tcp)
        .unwrap()
        .0
}

/// The next text message `ws` receives.
fn ws_next(ws: &mut Ws) -> String {
    use tokio_tungstenite::tungstenite::Message;
    loop {
        if let Message::Text(text) = ws.read().unwrap() {
            return text.to_string();
        }
    }
}

/// Everyone connected while messages are published on a shared log.
struct Room {
    publisher: Ws,
    probe: Ws,
    victims: Vec<Option<Ws>>,
    received: Vec<Vec<String>>,
}

impl Room {
    /// Publishes `m{n}` and waits until every connected client has it.
    fn publish(&mut self, n: usize) {
        let m = format!("m{n}");
        self.publisher
            .send(tokio_tungstenite::tungstenite::Message::text(m.clone()))
            .unwrap();
        assert_eq!(ws_next(&mut self.publisher), m);
        assert_eq!(ws_next(&mut self.probe), m);
        for (i, v) in self.victims.iter_mut().enumerate() {
            if let Some(ws) = v {
                assert_eq!(ws_next(ws), m, "victim {i}");
                self.received[i].push(m.clone());
            }
        }
    }
}

/// Instance loss, exactly: three WebSocket clients of instance C lose C (SIGKILL) and rejoin a
/// survivor one after another while messages keep being published on A. Each loses exactly the
/// messages published between the kill and its rejoin, and nothing else; the survivors' clients
/// lose nothing. (Each message is published only once the previous one reached every connected
/// client, so "published while away" has no boundary to argue about.)
#[test]
fn a_websocket_client_of_a_killed_instance_loses_what_was_published_while_it_was_away() {
    let redis = Redis::start();
    let (a, b) = Instance::pair("ws", &redis);
    let mut c = Instance::start("ws", &redis);
    let mut room = Room {
        publisher: ws_open(a.addr),
        probe: ws_open(b.addr),
        victims: (0..3).map(|_| Some(ws_open(c.addr))).collect(),
        received: vec![Vec::new(); 3],
    };
    for n in 0..5 {
        room.publish(n);
    }
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    room.victims.iter_mut().for_each(|v| *v = None);
    // Victim i rejoins (on B or A) right after message `rejoin_after[i]`.
    let rejoin_after = [6, 8, 9];
    for n in 5..14 {
        room.publish(n);
        for (i, &after) in rejoin_after.iter().enumerate() {
            if n == after {
                room.victims[i] = Some(ws_open(if i % 2 == 0 { b.addr } else { a.addr }));
            }
        }
    }
    for (i, &after) in rejoin_after.iter().enumerate() {
        let expect: Vec<String> = (0..5)
            .chain(after + 1..14)
            .map(|n| format!("m{n}"))
            .collect();
        assert_eq!(room.received[i], expect, "victim {i}");
        // What it lost is exactly what was published while it was away: m5..=m{after}.
        assert_eq!(14 - room.received[i].len(), after - 4, "victim {i}");
    }
}

/// Asks an instance to stop as a deploy does (SIGTERM) and waits until `client` has the
/// instance's goodbye (a close frame, or the end of a raw stream) in its receive queue, unread:
/// what the client writes now, it wrote before it saw the instance go.
fn stop_and_wait_for_goodbye(instance: &Instance, client: &TcpStream) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let pid = Pid::from_raw(i32::try_from(instance.child.id()).unwrap());
    kill(pid, Signal::SIGTERM).unwrap();
    let mut byte = [0u8; 1];
    // Blocks (up to the client's read timeout) until a byte or the end of the stream is there.
    client.peek(&mut byte).unwrap();
}

/// The instance exited by itself after the drain, successfully.
fn exited(mut instance: Instance) {
    let status = instance.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn a_stopping_websocket_instance_publishes_what_a_client_sent_before_the_close() {
    use tokio_tungstenite::tungstenite::Message;
    let redis = Redis::start();
    let (a, b) = Instance::pair("ws", &redis);
    let mut on_b = ws_open(b.addr);
    let mut publisher = ws_open(a.addr);
    publisher.send(Message::text("before")).unwrap();
    assert_eq!(ws_next(&mut on_b), "before");
    assert_eq!(ws_next(&mut publisher), "before");
    stop_and_wait_for_goodbye(&a, publisher.get_ref());
    publisher.send(Message::text("in flight")).unwrap();
    // The close handshake: the client's close ends the drain.
    publisher.close(None).unwrap();
    while publisher.read().is_ok() {}
    assert_eq!(ws_next(&mut on_b), "in flight");
    exited(a);
}

#[test]
fn a_stopping_raw_instance_publishes_what_a_client_sent_before_its_end() {
    use wsbench::codec::raw::encode;
    let redis = Redis::start();
    let (a, b) = Instance::pair("raw", &redis);
    use wsbench::protocol::{RAW_CURSOR_LEN, RoomId, raw_resume_preamble};
    // A fresh resume preamble: the cursor record that answers it says the client is joined.
    let connect = |addr| {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        tcp.write_all(&raw_resume_preamble(RoomId::LOBBY, None))
            .unwrap();
        tcp.read_exact(&mut [0u8; RAW_CURSOR_LEN]).unwrap();
        tcp
    };
    let next = |tcp: &mut TcpStream| {
        let mut len = [0u8; 4];
        tcp.read_exact(&mut len).unwrap();
        let mut message = vec![0u8; u32::from_be_bytes(len) as usize];
        tcp.read_exact(&mut message).unwrap();
        String::from_utf8(message).unwrap()
    };
    let (mut on_b, mut publisher) = (connect(b.addr), connect(a.addr));
    publisher.write_all(&encode(b"before")).unwrap();
    assert_eq!(next(&mut on_b), "before");
    assert_eq!(next(&mut publisher), "before");
    stop_and_wait_for_goodbye(&a, &publisher);
    publisher.write_all(&encode(b"in flight")).unwrap();
    publisher.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    publisher.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(next(&mut on_b), "in flight");
    exited(a);
}
