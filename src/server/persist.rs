//! The HTTP hub's state on disk, so a restarted server continues the same stream: same sequence
//! numbers, same kept messages. Long-poll cursors and SSE `Last-Event-ID`s stay valid across the
//! restart, and nothing accepted before it is lost. (The WebSocket server keeps no state: its
//! clients rejoin at the current end, as a browser's would.)
//!
//! Format: a line `wsbench-hub 1 <first_seq>` followed by the messages as a netstring batch.

use std::io;
use std::path::Path;

use bytes::Bytes;

use super::hub::Payload;
use crate::codec::batch;

const MAGIC: &str = "wsbench-hub 1 ";

/// Reads a saved hub; `None` if there is no file yet.
pub fn load(path: &Path) -> io::Result<Option<(u64, Vec<Bytes>)>> {
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
    let newline = memchr::memchr(b'\n', &bytes).ok_or_else(|| bad("no header line"))?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| bad("header is not text"))?;
    let first_seq = header
        .strip_prefix(MAGIC)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad("not a wsbench hub file"))?;
    let messages = batch::split(&bytes.slice(newline + 1..)).map_err(|e| bad(&e.to_string()))?;
    Ok(Some((first_seq, messages)))
}

/// Writes the hub atomically (a temporary file renamed over the old one).
pub fn save<M: Payload>(path: &Path, first_seq: u64, messages: &[M]) -> io::Result<()> {
    let mut out = format!("{MAGIC}{first_seq}\n").into_bytes();
    for m in messages {
        batch::push(&mut out, m.payload());
    }
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
        save(&path, 41, &messages).unwrap();
        assert_eq!(load(&path).unwrap(), Some((41, messages)));
        std::fs::write(&path, "hello\n").unwrap();
        assert!(load(&path).is_err());
    }
}
