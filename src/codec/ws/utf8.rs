//! UTF-8 validation of text messages and close reasons, with simdutf8.
//!
//! Owns the choice of validator. simdutf8's `basic` API picks SSE4.2/AVX2 code at run time and
//! only says yes or no, which is all a WebSocket endpoint needs: invalid text fails the
//! connection (close code 1007) whatever the position of the bad byte. On a 2-core x86-64 VM it
//! runs ~10× faster than `std::str::from_utf8` on Chinese text and ~2× on ASCII (`benches/README.md`,
//! group `utf8`).
//!
//! Validation is not fused into the unmask loop: unmasking a frame runs at L1 speed (~70 GB/s at
//! 1 KiB) and simdutf8 then reads the bytes while they are still in L1, so a fused pass could
//! save at most one L1 read per message, at the price of our own SIMD UTF-8 code. Not measured,
//! so not claimed as a win either way.

/// The bytes are not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8")]
pub struct InvalidUtf8;

/// `bytes` as `&str` if they are valid UTF-8.
#[inline]
pub fn validate(bytes: &[u8]) -> Result<&str, InvalidUtf8> {
    simdutf8::basic::from_utf8(bytes).map_err(|_| InvalidUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_std() {
        let cases: [&[u8]; 8] = [
            b"",
            b"hello",
            "服务器收到了：".as_bytes(),
            b"\xff",
            b"\xe6\x9c",                 // truncated 3-byte sequence
            b"\xed\xa0\x80",             // UTF-16 surrogate
            b"\xc0\xaf",                 // overlong '/'
            b"\xf4\x90\x80\x80abcdefgh", // above U+10FFFF
        ];
        for case in cases {
            assert_eq!(
                validate(case).ok(),
                std::str::from_utf8(case).ok(),
                "{case:?}"
            );
        }
        let long = "服务器收到了：~wsb:1:2:3~".repeat(100);
        assert_eq!(validate(long.as_bytes()), Ok(long.as_str()));
    }
}
