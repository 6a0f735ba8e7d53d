//! The interleaved SHA-NI kernel of [`super::compress2`] and its cached CPU feature check
//! (x86_64 only; every other target, and `--cfg receipt_portable`, uses the fallback).

use core::arch::x86_64::{
    __m128i, _MM_HINT_T0, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_loadu_si128,
    _mm_prefetch, _mm_set_epi64x, _mm_sha256msg1_epu32, _mm_sha256msg2_epu32,
    _mm_sha256rnds2_epu32, _mm_shuffle_epi8, _mm_shuffle_epi32, _mm_storeu_si128,
};
use std::sync::OnceLock;

use super::Block;

/// The SHA-256 round constants (FIPS 180-4 §4.2.2), four per 128-bit load.
static K32: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// Whether the CPU has SHA-NI plus the SSE levels the kernel uses; detected once.
pub(super) fn available() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("sse2")
            && std::arch::is_x86_feature_detected!("ssse3")
            && std::arch::is_x86_feature_detected!("sse4.1")
    })
}

/// `K32[4i..4i+4]` as a vector.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn k4(i: usize) -> __m128i {
    let k: &[u32; 4] = K32[4 * i..4 * i + 4]
        .try_into()
        .expect("four round constants");
    // SAFETY: `k` points at 16 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm_loadu_si128(k.as_ptr().cast()) }
}

/// Message schedule: the next four words from the previous sixteen.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn schedule(w0: __m128i, w1: __m128i, w2: __m128i, w3: __m128i) -> __m128i {
    let t = _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8::<4>(w3, w2));
    _mm_sha256msg2_epu32(t, w3)
}

/// Loads a block's four message vectors, byte-swapped to big-endian words.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn load_block(block: &Block, mask: __m128i) -> [__m128i; 4] {
    let p: *const __m128i = block.as_ptr().cast();
    // SAFETY: `block` is 64 readable bytes, so offsets 0..4 of 16 bytes each are in
    // bounds; `loadu` has no alignment requirement.
    unsafe {
        [
            _mm_shuffle_epi8(_mm_loadu_si128(p), mask),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(1)), mask),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(2)), mask),
            _mm_shuffle_epi8(_mm_loadu_si128(p.add(3)), mask),
        ]
    }
}

/// Converts `[a..h]` to the (ABEF, CDGH) register layout `SHA256RNDS2` works on.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn load_state(state: &[u32; 8]) -> (__m128i, __m128i) {
    let p: *const __m128i = state.as_ptr().cast();
    // SAFETY: `state` is 32 readable bytes; `loadu` has no alignment requirement.
    let (dcba, efgh) = unsafe { (_mm_loadu_si128(p), _mm_loadu_si128(p.add(1))) };
    let cdab = _mm_shuffle_epi32::<0xB1>(dcba);
    let efgh = _mm_shuffle_epi32::<0x1B>(efgh);
    (
        _mm_alignr_epi8::<8>(cdab, efgh),
        _mm_blend_epi16::<0xF0>(efgh, cdab),
    )
}

/// The inverse of [`load_state`].
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn store_state(state: &mut [u32; 8], abef: __m128i, cdgh: __m128i) {
    let feba = _mm_shuffle_epi32::<0x1B>(abef);
    let dchg = _mm_shuffle_epi32::<0xB1>(cdgh);
    let dcba = _mm_blend_epi16::<0xF0>(feba, dchg);
    let hgef = _mm_alignr_epi8::<8>(dchg, feba);
    let p: *mut __m128i = state.as_mut_ptr().cast();
    // SAFETY: `state` is 32 writable bytes; `storeu` has no alignment requirement.
    unsafe {
        _mm_storeu_si128(p, dcba);
        _mm_storeu_si128(p.add(1), hgef);
    }
}

/// How far ahead of the block being hashed each lane's bytes are prefetched (best of
/// 256 B to 2 KiB in the `sha256x2` bench: +20 % on buffers larger than the caches).
const PREFETCH: usize = 1024;

/// Four rounds on both lanes, instructions of lane A and lane B alternating.
macro_rules! rounds4x2 {
    ($abef_a:ident, $cdgh_a:ident, $w_a:expr,
     $abef_b:ident, $cdgh_b:ident, $w_b:expr, $i:expr) => {{
        let k = k4($i);
        let ta = _mm_add_epi32($w_a, k);
        let tb = _mm_add_epi32($w_b, k);
        $cdgh_a = _mm_sha256rnds2_epu32($cdgh_a, $abef_a, ta);
        $cdgh_b = _mm_sha256rnds2_epu32($cdgh_b, $abef_b, tb);
        let ta = _mm_shuffle_epi32::<0x0E>(ta);
        let tb = _mm_shuffle_epi32::<0x0E>(tb);
        $abef_a = _mm_sha256rnds2_epu32($abef_a, $cdgh_a, ta);
        $abef_b = _mm_sha256rnds2_epu32($abef_b, $cdgh_b, tb);
    }};
}

/// Interleaved compression of two equal-length block streams.
///
/// # Safety
///
/// The CPU must support `sha`, `sse2`, `ssse3` and `sse4.1` (see [`available`]).
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(super) unsafe fn compress2_shani(
    state_a: &mut [u32; 8],
    state_b: &mut [u32; 8],
    blocks_a: &[Block],
    blocks_b: &[Block],
) {
    debug_assert_eq!(blocks_a.len(), blocks_b.len());
    let mask = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0B, 0x0405_0607_0001_0203);
    let (mut abef_a, mut cdgh_a) = load_state(state_a);
    let (mut abef_b, mut cdgh_b) = load_state(state_b);

    for (block_a, block_b) in blocks_a.iter().zip(blocks_b) {
        // Ask for each lane's bytes a few blocks ahead: the hardware prefetcher stops at
        // every 4 KiB page, and a file hashed straight from its mapping is a stream of
        // such pages. A prefetch never faults, even past the end of the data.
        _mm_prefetch::<_MM_HINT_T0>(block_a.as_ptr().wrapping_add(PREFETCH).cast());
        _mm_prefetch::<_MM_HINT_T0>(block_b.as_ptr().wrapping_add(PREFETCH).cast());
        let (save_abef_a, save_cdgh_a) = (abef_a, cdgh_a);
        let (save_abef_b, save_cdgh_b) = (abef_b, cdgh_b);
        let [mut a0, mut a1, mut a2, mut a3] = load_block(block_a, mask);
        let [mut b0, mut b1, mut b2, mut b3] = load_block(block_b, mask);

        // Rounds 0..16 use the message words directly.
        rounds4x2!(abef_a, cdgh_a, a0, abef_b, cdgh_b, b0, 0);
        rounds4x2!(abef_a, cdgh_a, a1, abef_b, cdgh_b, b1, 1);
        rounds4x2!(abef_a, cdgh_a, a2, abef_b, cdgh_b, b2, 2);
        rounds4x2!(abef_a, cdgh_a, a3, abef_b, cdgh_b, b3, 3);
        // Rounds 16..64: the last sixteen words live in a ring of four vectors per lane;
        // each group overwrites the oldest vector with its four new words. Fully unrolled
        // so the ring stays in registers.
        macro_rules! schedule_rounds4x2 {
            ($a0:ident, $a1:ident, $a2:ident, $a3:ident,
             $b0:ident, $b1:ident, $b2:ident, $b3:ident, $i:expr) => {{
                $a0 = schedule($a0, $a1, $a2, $a3);
                $b0 = schedule($b0, $b1, $b2, $b3);
                rounds4x2!(abef_a, cdgh_a, $a0, abef_b, cdgh_b, $b0, $i);
            }};
        }
        schedule_rounds4x2!(a0, a1, a2, a3, b0, b1, b2, b3, 4);
        schedule_rounds4x2!(a1, a2, a3, a0, b1, b2, b3, b0, 5);
        schedule_rounds4x2!(a2, a3, a0, a1, b2, b3, b0, b1, 6);
        schedule_rounds4x2!(a3, a0, a1, a2, b3, b0, b1, b2, 7);
        schedule_rounds4x2!(a0, a1, a2, a3, b0, b1, b2, b3, 8);
        schedule_rounds4x2!(a1, a2, a3, a0, b1, b2, b3, b0, 9);
        schedule_rounds4x2!(a2, a3, a0, a1, b2, b3, b0, b1, 10);
        schedule_rounds4x2!(a3, a0, a1, a2, b3, b0, b1, b2, 11);
        schedule_rounds4x2!(a0, a1, a2, a3, b0, b1, b2, b3, 12);
        schedule_rounds4x2!(a1, a2, a3, a0, b1, b2, b3, b0, 13);
        schedule_rounds4x2!(a2, a3, a0, a1, b2, b3, b0, b1, 14);
        schedule_rounds4x2!(a3, a0, a1, a2, b3, b0, b1, b2, 15);

        abef_a = _mm_add_epi32(abef_a, save_abef_a);
        cdgh_a = _mm_add_epi32(cdgh_a, save_cdgh_a);
        abef_b = _mm_add_epi32(abef_b, save_abef_b);
        cdgh_b = _mm_add_epi32(cdgh_b, save_cdgh_b);
    }

    store_state(state_a, abef_a, cdgh_a);
    store_state(state_b, abef_b, cdgh_b);
}
