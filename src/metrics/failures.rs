//! Connection failures counted by kind: what a run reports when a target is down or refuses
//! some clients. Memory stays bounded whatever the number of clients — one counter per kind, not
//! a list of messages; the first message is kept apart by the conductor for the error it prints.

use std::fmt;

/// Why a connection attempt failed, as far as a load tool can tell and a user can act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureKind {
    /// Nothing listens there (ECONNREFUSED), or the listen backlog is full.
    Refused,
    /// The server reset or closed the connection during the attempt.
    Reset,
    /// The attempt took longer than the connect timeout.
    TimedOut,
    /// The generator's host ran out of something (ephemeral ports, file descriptors).
    LocalLimit,
    /// The TLS handshake failed (certificate, protocol, ALPN).
    Tls,
    /// The server answered, but refused the client (an HTTP status, a refused upgrade).
    Rejected,
    /// The server's answer was not the protocol expected (malformed HTTP or WebSocket handshake).
    Protocol,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// Every kind, in the order they are reported.
    pub const ALL: [FailureKind; 8] = [
        FailureKind::Refused,
        FailureKind::Reset,
        FailureKind::TimedOut,
        FailureKind::LocalLimit,
        FailureKind::Tls,
        FailureKind::Rejected,
        FailureKind::Protocol,
        FailureKind::Other,
    ];

    /// The kind's name in files and messages.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Refused => "refused",
            FailureKind::Reset => "reset",
            FailureKind::TimedOut => "timed_out",
            FailureKind::LocalLimit => "local_limit",
            FailureKind::Tls => "tls",
            FailureKind::Rejected => "rejected",
            FailureKind::Protocol => "protocol",
            FailureKind::Other => "other",
        }
    }

    /// The kind a [`label`](Self::label) names.
    pub fn from_label(label: &str) -> Option<FailureKind> {
        FailureKind::ALL.into_iter().find(|k| k.label() == label)
    }

    /// The kind of a socket error.
    pub fn of_io(e: &std::io::Error) -> FailureKind {
        use nix::libc::{EMFILE, ENFILE};
        use std::io::ErrorKind as K;
        if matches!(e.raw_os_error(), Some(EMFILE | ENFILE)) {
            return FailureKind::LocalLimit;
        }
        match e.kind() {
            K::ConnectionRefused => FailureKind::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                FailureKind::Reset
            }
            K::TimedOut => FailureKind::TimedOut,
            K::AddrNotAvailable | K::AddrInUse => FailureKind::LocalLimit,
            _ => FailureKind::Other,
        }
    }
}

/// Failures counted by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureCounts([u64; FailureKind::ALL.len()]);

impl FailureCounts {
    /// Counts one failure.
    pub fn add(&mut self, kind: FailureKind) {
        self.add_n(kind, 1);
    }

    /// Counts `n` failures of one kind.
    pub fn add_n(&mut self, kind: FailureKind, n: u64) {
        self.0[kind as usize] += n;
    }

    /// Failures of `kind`.
    pub fn get(&self, kind: FailureKind) -> u64 {
        self.0[kind as usize]
    }

    /// Failures of every kind.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds another count into this one.
    pub fn merge(&mut self, other: &FailureCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// The kinds that occurred, with their counts, in [`FailureKind::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (FailureKind, u64)> + '_ {
        FailureKind::ALL
            .into_iter()
            .map(|k| (k, self.get(k)))
            .filter(|&(_, n)| n > 0)
    }

    /// `refused:950 timed_out:50` (empty when nothing failed): the CSV form, read back by
    /// [`parse`](Self::parse).
    pub fn to_field(&self) -> String {
        self.iter()
            .map(|(k, n)| format!("{}:{n}", k.label()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads [`to_field`](Self::to_field)'s form; `None` if it is not that form.
    pub fn parse(field: &str) -> Option<FailureCounts> {
        let mut counts = FailureCounts::default();
        for item in field.split_whitespace() {
            let (label, n) = item.split_once(':')?;
            counts.add_n(FailureKind::from_label(label)?, n.parse().ok()?);
        }
        Some(counts)
    }
}

impl fmt::Display for FailureCounts {
    /// `refused 950, timed_out 50`, for people.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .iter()
            .map(|(k, n)| format!("{} {n}", k.label()))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_kind_round_trip_through_their_field() {
        let mut c = FailureCounts::default();
        c.add(FailureKind::TimedOut);
        c.add_n(FailureKind::Refused, 950);
        assert_eq!(c.total(), 951);
        assert_eq!(c.to_field(), "refused:950 timed_out:1");
        assert_eq!(c.to_string(), "refused 950, timed_out 1");
        assert_eq!(FailureCounts::parse(&c.to_field()), Some(c));
        assert_eq!(FailureCounts::parse(""), Some(FailureCounts::default()));
        assert_eq!(FailureCounts::parse("refused"), None);
        assert_eq!(FailureCounts::parse("gone:3"), None);
        let mut d = FailureCounts::default();
        d.add(FailureKind::Tls);
        d.merge(&c);
        assert_eq!(d.to_field(), "refused:950 timed_out:1 tls:1");
    }

    #[test]
    fn socket_errors_are_classified() {
        use std::io::{Error, ErrorKind};
        let kind = |k| FailureKind::of_io(&Error::from(k));
        assert_eq!(kind(ErrorKind::ConnectionRefused), FailureKind::Refused);
        assert_eq!(kind(ErrorKind::ConnectionReset), FailureKind::Reset);
        assert_eq!(kind(ErrorKind::UnexpectedEof), FailureKind::Reset);
        assert_eq!(kind(ErrorKind::AddrNotAvailable), FailureKind::LocalLimit);
        assert_eq!(
            FailureKind::of_io(&Error::from_raw_os_error(24)),
            FailureKind::LocalLimit
        );
        assert_eq!(kind(ErrorKind::InvalidData), FailureKind::Other);
    }
}
