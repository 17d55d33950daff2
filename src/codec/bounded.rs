//! Reading a decoder to its end, but no further than a limit: every compressed body a client
//! decodes whole goes through here, so a small body that decodes to gigabytes stops at the limit
//! instead of filling memory.

use std::io::Read;

/// Why a bounded read failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bounded {
    /// The decoded body is longer than the limit.
    TooLarge,
    /// The decoder refused the data.
    Corrupt,
}

/// All of `decoder`'s output, at most `max` bytes; `compressed_len` sizes the first allocation.
pub(crate) fn read_to_end(
    decoder: impl Read,
    compressed_len: usize,
    max: usize,
) -> Result<Vec<u8>, Bounded> {
    let mut out = Vec::with_capacity(compressed_len.saturating_mul(3).min(max));
    // One byte past the limit tells "exactly max" from "more than max".
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    decoder
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|_| Bounded::Corrupt)?;
    if out.len() > max {
        return Err(Bounded::TooLarge);
    }
    Ok(out)
}
