//! Runtime-dispatched AVX2 masking: the crate's only `unsafe` code.
//!
//! The body is the portable word loop ([`super::mask`]) compiled a second time with AVX2 enabled,
//! so LLVM emits 32-byte `vpxor` stores instead of 16-byte SSE2 ones; nothing here is an
//! intrinsic. The loop is aligned to 32 bytes first (payloads sit at any offset in a read
//! buffer, and a 32-byte store that straddles a cache line costs double), with the key rotated to
//! the aligned start. We do not use a global `target-cpu=native`, so the binary still runs on any
//! x86-64; the check below picks the path at run time.
//!
//! # Why `unsafe` is allowed here (and only here)
//! Calling a `#[target_feature(enable = "avx2")]` function is `unsafe` because on a CPU without
//! AVX2 it would execute illegal instructions. The one call site is guarded by
//! `is_x86_feature_detected!("avx2")`, which reads CPUID (cached after the first call), so the
//! instructions only run where they exist. The function itself is safe code with slice bounds
//! checks; there is no pointer arithmetic. Tests compare it with the byte-by-byte reference for
//! every length 0–300 (and more) at every offset 0–63 (every alignment relative to 32 and 64).
#![allow(unsafe_code)]

/// Masks `buf` with AVX2 and returns `true`, or returns `false` without touching `buf` when the
/// CPU lacks AVX2 (the caller then takes the portable path).
#[cfg(target_arch = "x86_64")]
#[inline]
pub(super) fn apply_mask(buf: &mut [u8], key: [u8; 4]) -> bool {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return false;
    }
    // SAFETY: `apply_mask_avx2` needs only that the CPU supports AVX2, checked just above.
    unsafe { apply_mask_avx2(buf, key) };
    true
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn apply_mask_avx2(buf: &mut [u8], key: [u8; 4]) {
    mask_from_32_byte_boundary(buf, key);
}

/// The AVX2 path's body: the bytes before the first 32-byte boundary, then the aligned rest with
/// the key rotated to where it starts. Inlined into [`apply_mask_avx2`] (and so compiled with
/// AVX2 there); callable on its own so the alignment and key rotation are tested on any CPU.
#[inline(always)]
fn mask_from_32_byte_boundary(buf: &mut [u8], key: [u8; 4]) {
    let head = buf.as_ptr().align_offset(32).min(buf.len());
    let (head_bytes, aligned) = buf.split_at_mut(head);
    super::mask::apply_mask_words(head_bytes, key);
    super::mask::apply_mask_words(aligned, super::mask::rotate_key(key, head));
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::mask::reference;

    /// Masks every length 0–300 (and more) at every offset 0–63 with `mask` and compares with the
    /// byte-by-byte reference.
    fn matches_reference(mask: impl Fn(&mut [u8], [u8; 4])) {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in (0..=300).chain([1000, 4099]) {
            let data: Vec<u8> = (0..len + 128).map(|i| (i * 131 + 7) as u8).collect();
            for offset in 0..64 {
                let mut fast = data.clone();
                let mut slow = data.clone();
                mask(&mut fast[offset..offset + len], key);
                reference(&mut slow[offset..offset + len], key);
                assert_eq!(fast, slow, "offset {offset}, len {len}");
            }
        }
    }

    /// The split at the 32-byte boundary and the rotated key, without AVX2: runs on every CPU.
    #[test]
    fn the_aligned_split_matches_reference_for_every_length_and_alignment() {
        matches_reference(super::mask_from_32_byte_boundary);
    }

    /// The dispatch: the AVX2 path is taken exactly when the CPU has AVX2, and then masks like
    /// the reference; without AVX2 the buffer is left for the portable path, untouched.
    #[test]
    fn the_avx2_path_is_taken_where_it_exists_and_matches_reference() {
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        eprintln!("AVX2 detected: {avx2}; the dispatch must take the AVX2 path exactly then");
        let mut probe = [1u8; 64];
        assert_eq!(super::apply_mask(&mut probe, [9, 9, 9, 9]), avx2);
        if avx2 {
            matches_reference(|buf, key| assert!(super::apply_mask(buf, key)));
        } else {
            assert_eq!(probe, [1u8; 64], "the portable path's buffer was touched");
        }
    }
}
