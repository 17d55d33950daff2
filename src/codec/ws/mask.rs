//! Masking and unmasking in place (RFC 6455 §5.3): `byte[i] ^= key[i % 4]`, the same operation
//! both ways.
//!
//! Owns the fast path; frames and keys come from [`super::header`]. The portable path works on
//! 8-byte words: the key repeated twice is one `u64`, and since 8 is a multiple of 4 every word
//! starts at key phase 0, so short payloads need no alignment prologue and no key rotation
//! (tungstenite aligns to `u32` first, which costs a byte loop on each end of a short payload).
//! Words go four to a 32-byte block so that LLVM vectorises the loop; the tail is straight-line
//! code (at most two words, a `u32` and three bytes), no second loop. Payloads of
//! [`SIMD_MIN_LEN`] bytes or more take the AVX2 build of the same loop when the CPU has it
//! (`simd.rs`, the crate's only `unsafe`). Numbers: `benches/README.md`, group `unmask`.

/// Payloads at least this long use the runtime-detected AVX2 path. Below it, the detection and
/// the alignment prologue cost more than the wider stores save (measured: the two cross near
/// 300–400 bytes on a 2-core x86-64 VM).
pub const SIMD_MIN_LEN: usize = 384;

/// XORs `buf` with `key` repeated, starting at key byte 0. Applying it twice restores `buf`.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4]) {
    #[cfg(target_arch = "x86_64")]
    if buf.len() >= SIMD_MIN_LEN && super::simd::apply_mask(buf, key) {
        return;
    }
    apply_mask_words(buf, key);
}

/// The portable path: 32-byte blocks of `u64` words (LLVM vectorises the loop), then a
/// straight-line tail of at most two words, one `u32` and three bytes.
#[inline(always)]
pub(super) fn apply_mask_words(buf: &mut [u8], key: [u8; 4]) {
    let quad = u32::from_ne_bytes(key);
    let word = u64::from(quad) * 0x0000_0001_0000_0001;
    let mut blocks = buf.chunks_exact_mut(32);
    for block in &mut blocks {
        for chunk in block.chunks_exact_mut(8) {
            xor_word(chunk, word);
        }
    }
    let mut rest = blocks.into_remainder();
    if rest.len() >= 16 {
        let (pair, tail) = rest.split_at_mut(16);
        let (first, second) = pair.split_at_mut(8);
        xor_word(first, word);
        xor_word(second, word);
        rest = tail;
    }
    if rest.len() >= 8 {
        let (chunk, tail) = rest.split_at_mut(8);
        xor_word(chunk, word);
        rest = tail;
    }
    if rest.len() >= 4 {
        let (chunk, tail) = rest.split_at_mut(4);
        let bytes: [u8; 4] = (*chunk).try_into().expect("split at 4");
        chunk.copy_from_slice(&(u32::from_ne_bytes(bytes) ^ quad).to_ne_bytes());
        rest = tail;
    }
    for (byte, k) in rest.iter_mut().zip(key) {
        *byte ^= k;
    }
}

/// The key as seen from byte `offset` of a payload: masking `payload[offset..]` with it equals
/// masking the whole payload with `key`.
#[inline]
pub fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    let bits = 8 * (offset % 4) as u32;
    let quad = u32::from_ne_bytes(key);
    let rotated = if cfg!(target_endian = "little") {
        quad.rotate_right(bits)
    } else {
        quad.rotate_left(bits)
    };
    rotated.to_ne_bytes()
}

#[inline(always)]
fn xor_word(chunk: &mut [u8], word: u64) {
    let bytes: [u8; 8] = (*chunk).try_into().expect("chunks of 8");
    chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
}

/// The textbook definition, the reference every fast path is tested against.
#[cfg(test)]
pub(super) fn reference(buf: &mut [u8], key: [u8; 4]) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `f` against [`reference`] on every length in `lens` at every offset in 0..64, with
    /// guard bytes on both sides that must stay untouched.
    pub(crate) fn check_against_reference(
        f: fn(&mut [u8], [u8; 4]),
        lens: impl Iterator<Item = usize>,
    ) {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in lens {
            let data: Vec<u8> = (0..len + 128).map(|i| (i * 131 + 7) as u8).collect();
            for offset in 0..64 {
                let mut fast = data.clone();
                let mut slow = data.clone();
                f(&mut fast[offset..offset + len], key);
                reference(&mut slow[offset..offset + len], key);
                assert_eq!(fast, slow, "offset {offset}, len {len}");
            }
        }
    }

    #[test]
    fn portable_path_matches_reference() {
        check_against_reference(apply_mask_words, 0..=300);
    }

    #[test]
    fn dispatching_entry_matches_reference() {
        check_against_reference(
            apply_mask,
            (0..=300).chain(SIMD_MIN_LEN - 40..SIMD_MIN_LEN + 80),
        );
        check_against_reference(apply_mask, [4096, 65536 + 3].into_iter());
    }

    #[test]
    fn rotated_key_continues_the_mask() {
        let key = [1, 2, 3, 4];
        for offset in 0..9 {
            let mut whole = [0u8; 16];
            let mut split = [0u8; 16];
            reference(&mut whole, key);
            let (head, tail) = split.split_at_mut(offset);
            apply_mask(head, key);
            apply_mask(tail, rotate_key(key, offset));
            assert_eq!(whole, split, "offset {offset}");
        }
    }

    #[test]
    fn rfc_6455_hello() {
        // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
        let mut payload = *b"Hello";
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(&payload, b"Hello");
    }
}
