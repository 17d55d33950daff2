//! The long-poll response body: a batch of messages as netstrings (`<len>:<bytes>,`, D. J. Bernstein's
//! format), so any byte sequence can be carried and another server is easy to write.
//!
//! A batch of the messages `hello` and `hi` is `5:hello,2:hi,`; an empty batch is an empty body.
//! The framing costs `digits(len) + 2` bytes per message, which the report counts as overhead.

use bytes::Bytes;

/// Why a batch body could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BatchError {
    /// The body is not a sequence of well-formed netstrings; the server does not speak this protocol.
    #[error("malformed batch body at byte {offset}")]
    Malformed {
        /// Where reading stopped.
        offset: usize,
    },
}

/// Bytes of framing one message of `len` bytes costs in a batch.
pub fn framing_len(len: usize) -> usize {
    decimal_digits(len) + 2
}

fn decimal_digits(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// Appends one message to a batch body.
pub fn push(body: &mut Vec<u8>, message: &[u8]) {
    body.extend_from_slice(message.len().to_string().as_bytes());
    body.push(b':');
    body.extend_from_slice(message);
    body.push(b',');
}

/// Splits a batch body into its messages, sharing `body`'s memory.
pub fn split(body: &Bytes) -> Result<Vec<Bytes>, BatchError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let malformed = BatchError::Malformed { offset: at };
        let colon = memchr::memchr(b':', &body[at..])
            .filter(|&c| (1..=20).contains(&c))
            .ok_or(malformed.clone())?;
        let digits = &body[at..at + colon];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(malformed);
        }
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(malformed.clone())?;
        let start = at + colon + 1;
        let end = start.checked_add(len).ok_or(malformed.clone())?;
        if body.get(end) != Some(&b',') {
            return Err(malformed);
        }
        out.push(body.slice(start..end));
        at = end + 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_counts_framing() {
        let mut body = Vec::new();
        push(&mut body, b"hello");
        push(&mut body, b"");
        push(&mut body, &[b'x'; 64]);
        assert!(body.starts_with(b"5:hello,0:,64:xxx"));
        assert_eq!(
            body.len(),
            5 + framing_len(5) + framing_len(0) + 64 + framing_len(64)
        );
        let parts = split(&Bytes::from(body)).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(&parts[0][..], b"hello");
        assert_eq!(&parts[1][..], b"");
        assert_eq!(parts[2].len(), 64);
    }

    #[test]
    fn rejects_malformed_bodies() {
        for bad in [&b"5:hell,"[..], b"5:hello", b":x,", b"x:hello,", b"5hello,"] {
            assert!(split(&Bytes::copy_from_slice(bad)).is_err(), "{bad:?}");
        }
        assert_eq!(split(&Bytes::new()).unwrap().len(), 0);
    }
}
