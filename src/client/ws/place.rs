//! Where a subscriber stands in its room's stream, and what it asks of the stream's start when
//! it reconnects: after the last message it read (wsbench's resumable protocol, a count), from
//! where its stack's session left off (Socket.IO's connection-state recovery, the server's own
//! strings), or nothing (a fresh join).

use super::Connection;
use crate::client::inbox::Inbox;
use crate::protocol::with_param;

/// What a subscriber asks of its stream's start when it connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::client) enum Resuming {
    /// The plain protocol: the end of the stream, nothing asked.
    No,
    /// Resumable: the end of the stream, and where that is (`?resume=1`).
    Fresh,
    /// Resumable, after message `N` (`?resume=1&since=N`).
    After(u64),
    /// By the stack's own protocol, from where its previous session stood.
    Stack(StackCursor),
}

impl Resuming {
    /// `path` with the query this asks for.
    pub(super) fn on(&self, path: String) -> String {
        match self {
            Resuming::No | Resuming::Stack(_) => path,
            Resuming::Fresh => with_param(&path, "resume", 1),
            Resuming::After(n) => with_param(&with_param(&path, "resume", 1), "since", *n),
        }
    }
}

/// A stack's own place in its stream (Socket.IO's connection-state recovery): the server's id
/// for the session and the offset of the last message read, both as the server wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackCursor {
    /// The session to recover (Socket.IO's `pid`).
    pub session: String,
    /// The last message read (Socket.IO's offset, the last argument of an event).
    pub offset: String,
}

/// A resumable subscriber's place in its room's stream: the number of the last message it read
/// (the 101's cursor, then one more per message), or where a stack that resumes by its own
/// protocol said its last session stood.
#[derive(Debug, Clone)]
pub(in crate::client) struct Place {
    resumable: bool,
    read: Option<u64>,
    stack: Option<StackCursor>,
}

impl Place {
    pub(super) fn new(resumable: bool) -> Self {
        Place {
            resumable,
            read: None,
            stack: None,
        }
    }

    /// What to ask for on the next connect.
    pub(super) fn asking(&self) -> Resuming {
        if let Some(cursor) = &self.stack {
            return Resuming::Stack(cursor.clone());
        }
        match (self.resumable, self.read) {
            (false, _) => Resuming::No,
            (true, None) => Resuming::Fresh,
            (true, Some(n)) => Resuming::After(n),
        }
    }

    /// A connection was made: it says where its stream starts (a server that does not resume
    /// says nothing, and the subscriber stays a fresh joiner); what the server no longer held is
    /// counted as reported missing.
    pub(super) fn connected(&mut self, conn: &mut impl Connection, inbox: &mut Inbox) {
        if let Some(point) = conn.resume_point() {
            self.read = Some(point.cursor);
            inbox.counts.missed_reported += point.missed;
        } else {
            self.read = None;
        }
    }

    /// A connection ended: where its stack stood, for the next connect to ask (nothing for a
    /// stack that keeps no cursor, or a session that read nothing to resume after).
    pub(super) fn left(&mut self, conn: &impl Connection) {
        self.stack = conn.stack_cursor();
    }

    /// One more message read.
    pub(super) fn read_one(&mut self) {
        if let Some(n) = self.read.as_mut() {
            *n += 1;
        }
    }
}
