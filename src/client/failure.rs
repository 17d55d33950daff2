//! A failed connection attempt: its kind, which the run counts (see
//! [`FailureCounts`](crate::metrics::FailureCounts)), and what happened, which the conductor
//! prints for the first failure.

use crate::metrics::FailureKind;

/// Why one connection attempt (TCP connect, TLS, upgrade or join) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    /// What kind of failure, for the counts.
    pub kind: FailureKind,
    /// What happened, naming the step (`connect: Connection refused (os error 111)`).
    pub message: String,
}

impl ConnectError {
    /// A failure of a known kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        ConnectError {
            kind,
            message: message.into(),
        }
    }

    /// A socket error during `step`.
    pub fn io(step: &str, e: &std::io::Error) -> Self {
        ConnectError::new(FailureKind::of_io(e), format!("{step}: {e}"))
    }

    /// A hyper error during `step`: the socket error underneath if there is one, else a closed
    /// connection (reset) or a malformed answer (protocol).
    pub fn hyper(step: &str, e: &hyper::Error) -> Self {
        let mut source = std::error::Error::source(e);
        while let Some(inner) = source {
            if let Some(io) = inner.downcast_ref::<std::io::Error>() {
                return ConnectError::new(FailureKind::of_io(io), format!("{step}: {e}"));
            }
            source = inner.source();
        }
        let kind = if e.is_timeout() {
            FailureKind::TimedOut
        } else if e.is_closed() || e.is_incomplete_message() || e.is_canceled() {
            FailureKind::Reset
        } else {
            FailureKind::Protocol
        };
        ConnectError::new(kind, format!("{step}: {e}"))
    }

    /// The server answered `step` with a status other than the one expected.
    pub fn status(step: &str, status: hyper::StatusCode) -> Self {
        ConnectError::new(FailureKind::Rejected, format!("{step}: HTTP {status}"))
    }

    /// The attempt did not finish within the connect timeout.
    pub fn timed_out() -> Self {
        ConnectError::new(FailureKind::TimedOut, "connect timed out")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_errors_keep_their_kind_and_name_the_step() {
        let e = ConnectError::io(
            "connect",
            &std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        );
        assert_eq!(e.kind, FailureKind::Refused);
        assert!(e.to_string().starts_with("connect: "), "{e}");
        let e = ConnectError::status("poll", hyper::StatusCode::UNAUTHORIZED);
        assert_eq!(
            (e.kind, e.to_string().as_str()),
            (FailureKind::Rejected, "poll: HTTP 401 Unauthorized")
        );
    }
}
