//! The HTTP hub's state on disk, so a restarted server continues the same stream: same sequence
//! numbers, same kept messages. Long-poll cursors and SSE `Last-Event-ID`s stay valid across the
//! restart, and nothing accepted before it is lost. (The WebSocket server keeps no state: its
//! clients rejoin at the current end, as a browser's would.)
//!
//! Format: a hub with only room 0 (a server nobody asked for rooms) is written as before rooms:
//! a line `wsbench-hub 1 <first_seq>` followed by the messages as a netstring batch. A hub with
//! other rooms is `wsbench-hub 2` and a newline, then per room a line `<room> <first_seq> <n>`
//! and `n` bytes of its messages as a netstring batch. Both versions load.

use std::io;
use std::path::Path;

use bytes::Bytes;

use super::hub::Payload;
pub use super::hub::RoomState;
use crate::codec::batch;
use crate::protocol::RoomId;

const MAGIC: &str = "wsbench-hub 1 ";
const MAGIC_ROOMS: &str = "wsbench-hub 2";

impl RoomState<Bytes> {
    /// The room with its messages as a hub of `M` keeps them.
    pub fn into_payload<M: Payload>(self) -> RoomState<M> {
        RoomState {
            room: self.room,
            first_seq: self.first_seq,
            messages: self.messages.into_iter().map(M::from_body).collect(),
        }
    }
}

/// Reads a saved hub, every room of it; `None` if there is no file yet.
pub fn load(path: &Path) -> io::Result<Option<Vec<RoomState<Bytes>>>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => Bytes::from(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {what}", path.display()),
        )
    };
    let line = |from: usize| -> io::Result<(&str, usize)> {
        let newline = memchr::memchr(b'\n', &bytes[from..]).ok_or_else(|| bad("no header line"))?;
        let text = std::str::from_utf8(&bytes[from..from + newline])
            .map_err(|_| bad("header is not text"))?;
        Ok((text, from + newline + 1))
    };
    let (header, mut at) = line(0)?;
    if let Some(first_seq) = header.strip_prefix(MAGIC) {
        let first_seq = first_seq
            .parse()
            .map_err(|_| bad("not a wsbench hub file"))?;
        let messages = batch::split(&bytes.slice(at..)).map_err(|e| bad(&e.to_string()))?;
        return Ok(Some(vec![RoomState {
            room: RoomId::LOBBY,
            first_seq,
            messages,
        }]));
    }
    if header != MAGIC_ROOMS {
        return Err(bad("not a wsbench hub file"));
    }
    let mut rooms = Vec::new();
    while at < bytes.len() {
        let (head, body) = line(at)?;
        let numbers: Vec<u64> = head.split(' ').filter_map(|n| n.parse().ok()).collect();
        let [room, first_seq, len] = numbers[..] else {
            return Err(bad("a room line is not `<room> <first_seq> <bytes>`"));
        };
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| body.checked_add(len))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| bad("a room's messages are cut short"))?;
        let room = u32::try_from(room).map_err(|_| bad("a room id is not a u32"))?;
        let messages = batch::split(&bytes.slice(body..end)).map_err(|e| bad(&e.to_string()))?;
        rooms.push(RoomState {
            room: RoomId(room),
            first_seq,
            messages,
        });
        at = end;
    }
    Ok(Some(rooms))
}

/// Writes a hub of one room, room 0, whose first kept message has sequence `first_seq`.
pub fn save<M: Payload>(path: &Path, first_seq: u64, messages: &[M]) -> io::Result<()> {
    let lobby = RoomState {
        room: RoomId::LOBBY,
        first_seq,
        messages: messages.to_vec(),
    };
    save_rooms(path, &[lobby])
}

/// Writes the hub's rooms atomically (a temporary file renamed over the old one).
pub fn save_rooms<M: Payload>(path: &Path, rooms: &[RoomState<M>]) -> io::Result<()> {
    let batch_of = |messages: &[M]| {
        let mut out = Vec::new();
        for m in messages {
            batch::push(&mut out, m.payload());
        }
        out
    };
    let out = match rooms {
        [] => format!("{MAGIC}1\n").into_bytes(),
        [only] if only.room == RoomId::LOBBY => {
            let mut out = format!("{MAGIC}{}\n", only.first_seq).into_bytes();
            out.extend(batch_of(&only.messages));
            out
        }
        rooms => {
            let mut out = format!("{MAGIC_ROOMS}\n").into_bytes();
            for r in rooms {
                let messages = batch_of(&r.messages);
                out.extend(format!("{} {} {}\n", r.room, r.first_seq, messages.len()).into_bytes());
                out.extend(messages);
            }
            out
        }
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, out)?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub");
        assert!(load(&path).unwrap().is_none());
        let messages = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b,c:\n")];
        let lobby = vec![RoomState {
            room: RoomId::LOBBY,
            first_seq: 41,
            messages,
        }];
        save(&path, 41, &lobby[0].messages).unwrap();
        // One room is the format of before rooms, byte for byte.
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"wsbench-hub 1 41\n1:a,5:b,c:\n,"
        );
        assert_eq!(load(&path).unwrap(), Some(lobby.clone()));
        let mut rooms = lobby;
        rooms.push(RoomState {
            room: RoomId(9),
            first_seq: 3,
            messages: vec![Bytes::from_static(b"z")],
        });
        rooms.push(RoomState {
            room: RoomId(12),
            first_seq: 1,
            messages: Vec::new(),
        });
        save_rooms(&path, &rooms).unwrap();
        assert_eq!(load(&path).unwrap(), Some(rooms));
        std::fs::write(&path, "hello\n").unwrap();
        assert!(load(&path).is_err());
        std::fs::write(&path, "wsbench-hub 2\n1 1 99\n1:a,").unwrap();
        assert!(load(&path).is_err());
    }
}
