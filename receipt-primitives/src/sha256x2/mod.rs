//! Two-lane SHA-256: hashes two independent messages at once, interleaving their SHA-NI rounds.
//!
//! `SHA256RNDS2` is latency-bound on current x86 cores (AMD Zen in particular), so one
//! message stream leaves most of the SHA unit idle. Running a second, independent stream's
//! instructions in the same loop fills those gaps and nearly doubles per-core throughput (the
//! same idea as Linux's `sha256_ni_finup2x` for dm-verity).
//!
//! [`compress2`] is the raw kernel; [`Lane`] is an incremental SHA-256 state and [`update2`]
//! advances two lanes at once, so a scanner can keep two files in flight per thread: when
//! one lane's file ends, [`Lane::finalize_reset`] yields its digest and leaves the lane ready
//! for the next file while the other lane carries on.
//!
//! Without SHA-NI (or off `x86_64`) every entry point falls back to `sha2::compress256` per
//! stream, which gives identical results.

use sha2::digest::consts::U64;
use sha2::digest::generic_array::GenericArray;

/// A SHA-256 message block.
pub type Block = [u8; 64];

/// The SHA-256 initial hash value (FIPS 180-4 §5.3.3): the chaining state [`compress1`] and
/// [`compress2`] start a message from.
pub const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Compresses `blocks` into `state` with one stream (`sha2`'s own SHA-NI or software code).
pub fn compress1(state: &mut [u32; 8], blocks: &[Block]) {
    if blocks.is_empty() {
        return;
    }
    // SAFETY: `GenericArray<u8, U64>` is `#[repr(transparent)]` over `[u8; 64]` (generic-array
    // 0.14), so a slice of one is a valid slice of the other with the same length; the
    // borrow of `blocks` outlives the reinterpreted slice.
    let ga: &[GenericArray<u8, U64>] = unsafe {
        core::slice::from_raw_parts(
            blocks.as_ptr().cast::<GenericArray<u8, U64>>(),
            blocks.len(),
        )
    };
    sha2::compress256(state, ga);
}

/// Compresses `blocks_a` into `state_a` and `blocks_b` into `state_b`, interleaving the two
/// streams on SHA-NI when the CPU has it.
///
/// # Panics
///
/// If the two block slices have different lengths.
pub fn compress2(
    state_a: &mut [u32; 8],
    state_b: &mut [u32; 8],
    blocks_a: &[Block],
    blocks_b: &[Block],
) {
    #[cfg(all(target_arch = "x86_64", not(receipt_portable)))]
    if shani::available() {
        same_count(blocks_a, blocks_b);
        // SAFETY: `available()` confirmed at run time that the CPU supports every feature
        // `compress2_shani` is compiled for (sha, sse2, ssse3, sse4.1).
        unsafe { shani::compress2_shani(state_a, state_b, blocks_a, blocks_b) };
        return;
    }
    compress2_fallback(state_a, state_b, blocks_a, blocks_b);
}

/// The portable path of [`compress2`]: each stream through `sha2::compress256` in turn.
///
/// # Panics
///
/// If the two block slices have different lengths.
pub fn compress2_fallback(
    state_a: &mut [u32; 8],
    state_b: &mut [u32; 8],
    blocks_a: &[Block],
    blocks_b: &[Block],
) {
    same_count(blocks_a, blocks_b);
    compress1(state_a, blocks_a);
    compress1(state_b, blocks_b);
}

/// The two-lane kernels' precondition: as many blocks on each lane.
fn same_count(blocks_a: &[Block], blocks_b: &[Block]) {
    assert_eq!(
        blocks_a.len(),
        blocks_b.len(),
        "compress2 needs the same number of blocks on both lanes"
    );
}

/// Whether [`compress2`] runs the interleaved SHA-NI kernel on this CPU.
pub fn interleaved_available() -> bool {
    #[cfg(all(target_arch = "x86_64", not(receipt_portable)))]
    {
        shani::available()
    }
    #[cfg(not(all(target_arch = "x86_64", not(receipt_portable))))]
    {
        false
    }
}

/// One incremental SHA-256 computation: chaining state, a partial block and the length so far.
///
/// Feed it alone with [`Lane::update`] or together with a second lane through [`update2`];
/// both can be mixed freely on the same message.
#[derive(Clone, Debug)]
pub struct Lane {
    state: [u32; 8],
    buf: Block,
    buf_len: usize,
    len: u64,
}

impl Default for Lane {
    fn default() -> Self {
        Self::new()
    }
}

impl Lane {
    /// A lane at the start of an empty message.
    pub const fn new() -> Self {
        Self {
            state: H0,
            buf: [0; 64],
            buf_len: 0,
            len: 0,
        }
    }

    /// Bytes absorbed since the lane was created or last reset.
    pub fn message_len(&self) -> u64 {
        self.len
    }

    /// Starts a new, empty message on this lane.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Absorbs `data` on this lane alone.
    pub fn update(&mut self, data: &[u8]) {
        let (head, body, tail) = self.absorb_prefix(data);
        if let Some(head) = head {
            compress1(&mut self.state, &[head]);
        }
        compress1(&mut self.state, body);
        self.stash(tail);
    }

    /// Finishes the message and returns its SHA-256 digest.
    pub fn finalize(mut self) -> [u8; 32] {
        self.finalize_reset()
    }

    /// Finishes the message, returns its digest and leaves the lane reset for a new message.
    pub fn finalize_reset(&mut self) -> [u8; 32] {
        let (last, blocks) = self.padding();
        compress1(&mut self.state, &last[..blocks]);
        self.digest_reset()
    }

    /// The final block or two of the message: the buffered tail, the `0x80` marker, zeros
    /// and the bit length; and how many of the two blocks are used.
    fn padding(&self) -> ([Block; 2], usize) {
        padded_tail(&self.buf[..self.buf_len], self.len)
    }

    /// The digest of a lane whose padding has been compressed; the lane is then reset.
    fn digest_reset(&mut self) -> [u8; 32] {
        let out = state_bytes(self.state);
        self.reset();
        out
    }

    /// Counts `data` into the length and splits it into: the buffered block it completes (if
    /// any), the whole blocks after that, and the tail to buffer once the blocks are
    /// compressed. When `data` does not complete the buffer it is buffered here whole.
    fn absorb_prefix<'d>(&mut self, data: &'d [u8]) -> (Option<Block>, &'d [Block], &'d [u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        let mut rest = data;
        let mut head = None;
        if self.buf_len > 0 {
            let take = rest.len().min(64 - self.buf_len);
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&rest[..take]);
            self.buf_len += take;
            rest = &rest[take..];
            if self.buf_len < 64 {
                return (None, &[], &[]);
            }
            head = Some(self.buf);
            self.buf_len = 0;
        }
        let (body, tail) = rest.as_chunks::<64>();
        (head, body, tail)
    }

    /// Buffers a tail shorter than a block; the buffer must be empty.
    fn stash(&mut self, tail: &[u8]) {
        debug_assert!(self.buf_len == 0 || tail.is_empty());
        if !tail.is_empty() {
            self.buf[..tail.len()].copy_from_slice(tail);
            self.buf_len = tail.len();
        }
    }
}

/// The final block or two of a message of `message_len` bytes whose last `tail` bytes
/// (fewer than 64) are not yet compressed: the tail, the `0x80` marker, zeros and the bit
/// length (FIPS 180-4 §5.1.1); and how many of the two blocks are used.
pub fn padded_tail(tail: &[u8], message_len: u64) -> ([Block; 2], usize) {
    let n = tail.len();
    debug_assert!(n < 64, "a tail is shorter than a block");
    let mut last = [[0u8; 64]; 2];
    last[0][..n].copy_from_slice(tail);
    last[0][n] = 0x80;
    let blocks = if n < 56 { 1 } else { 2 };
    last[blocks - 1][56..].copy_from_slice(&message_len.wrapping_mul(8).to_be_bytes());
    (last, blocks)
}

/// The digest a final chaining state stands for: its words, big-endian.
pub fn state_bytes(state: [u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// The SHA-256 digest of a message given as its blocks with the padding already in place
/// (FIPS 180-4 §5.1.1), for short messages of a fixed layout such as Merkle tree nodes.
pub fn digest_padded(blocks: &[Block]) -> [u8; 32] {
    let mut state = H0;
    compress1(&mut state, blocks);
    state_bytes(state)
}

/// [`digest_padded`] of two messages of as many blocks, computed together.
///
/// # Panics
///
/// If the two block slices have different lengths.
pub fn digest_padded2(a: &[Block], b: &[Block]) -> ([u8; 32], [u8; 32]) {
    let (mut sa, mut sb) = (H0, H0);
    compress2(&mut sa, &mut sb, a, b);
    (state_bytes(sa), state_bytes(sb))
}

/// The SHA-256 digests of two whole messages, computed together as far as both go.
///
/// Short messages (up to 183 bytes, three blocks once padded) are padded on the stack and
/// go straight to the kernel, which suits many small independent messages such as Merkle
/// leaves; longer ones go through two [`Lane`]s.
pub fn digest2(a: &[u8], b: &[u8]) -> ([u8; 32], [u8; 32]) {
    /// The longest message whose padding still fits in `SHORT_BLOCKS` blocks.
    const SHORT_BLOCKS: usize = 3;
    const SHORT: usize = SHORT_BLOCKS * 64 - 9;
    if a.len() > SHORT || b.len() > SHORT {
        let (mut la, mut lb) = (Lane::new(), Lane::new());
        update2(&mut la, a, &mut lb, b);
        return finalize2(&mut la, &mut lb);
    }
    fn pad(message: &[u8]) -> ([Block; SHORT_BLOCKS], usize) {
        let (body, tail) = message.as_chunks::<64>();
        let mut blocks = [[0u8; 64]; SHORT_BLOCKS];
        blocks[..body.len()].copy_from_slice(body);
        let (last, n) = padded_tail(tail, message.len() as u64);
        blocks[body.len()..body.len() + n].copy_from_slice(&last[..n]);
        (blocks, body.len() + n)
    }
    let ((ba, na), (bb, nb)) = (pad(a), pad(b));
    let n = na.min(nb);
    let (mut sa, mut sb) = (H0, H0);
    compress2(&mut sa, &mut sb, &ba[..n], &bb[..n]);
    compress1(&mut sa, &ba[n..na]);
    compress1(&mut sb, &bb[n..nb]);
    (state_bytes(sa), state_bytes(sb))
}

/// The signature shared by [`compress2`] and [`compress2_fallback`].
type Kernel2 = fn(&mut [u32; 8], &mut [u32; 8], &[Block], &[Block]);

/// Absorbs `da` on lane `a` and `db` on lane `b`: as many whole blocks as both have go
/// through the interleaved kernel, the rest through single-stream compression.
///
/// The inputs may have any (different) lengths; the result is the same as
/// `a.update(da); b.update(db)`.
pub fn update2(a: &mut Lane, da: &[u8], b: &mut Lane, db: &[u8]) {
    update2_with(compress2, a, da, b, db);
}

/// Finishes both lanes' messages and returns their digests, compressing their final blocks
/// together as far as both have them; both lanes are left reset.
///
/// The result is the same as `(a.finalize_reset(), b.finalize_reset())`.
pub fn finalize2(a: &mut Lane, b: &mut Lane) -> ([u8; 32], [u8; 32]) {
    finalize2_with(compress2, a, b)
}

fn finalize2_with(kernel: Kernel2, a: &mut Lane, b: &mut Lane) -> ([u8; 32], [u8; 32]) {
    let (last_a, na) = a.padding();
    let (last_b, nb) = b.padding();
    let n = na.min(nb);
    kernel(&mut a.state, &mut b.state, &last_a[..n], &last_b[..n]);
    compress1(&mut a.state, &last_a[n..na]);
    compress1(&mut b.state, &last_b[n..nb]);
    (a.digest_reset(), b.digest_reset())
}

fn update2_with(kernel: Kernel2, a: &mut Lane, da: &[u8], b: &mut Lane, db: &[u8]) {
    let (head_a, mut body_a, tail_a) = a.absorb_prefix(da);
    let (head_b, mut body_b, tail_b) = b.absorb_prefix(db);

    // A block completed from a lane's buffer pairs with the other lane's next block.
    match (head_a, head_b) {
        (Some(ha), Some(hb)) => kernel(&mut a.state, &mut b.state, &[ha], &[hb]),
        (Some(ha), None) => match body_b.split_first() {
            Some((first_b, rest_b)) => {
                kernel(
                    &mut a.state,
                    &mut b.state,
                    &[ha],
                    core::slice::from_ref(first_b),
                );
                body_b = rest_b;
            }
            None => compress1(&mut a.state, &[ha]),
        },
        (None, Some(hb)) => match body_a.split_first() {
            Some((first_a, rest_a)) => {
                kernel(
                    &mut a.state,
                    &mut b.state,
                    core::slice::from_ref(first_a),
                    &[hb],
                );
                body_a = rest_a;
            }
            None => compress1(&mut b.state, &[hb]),
        },
        (None, None) => {}
    }

    let n = body_a.len().min(body_b.len());
    let (pair_a, rest_a) = body_a.split_at(n);
    let (pair_b, rest_b) = body_b.split_at(n);
    if n > 0 {
        kernel(&mut a.state, &mut b.state, pair_a, pair_b);
    }
    compress1(&mut a.state, rest_a);
    compress1(&mut b.state, rest_b);

    a.stash(tail_a);
    b.stash(tail_b);
}

#[cfg(all(target_arch = "x86_64", not(receipt_portable)))]
mod shani;

#[cfg(test)]
mod tests {
    use rand_xoshiro::SplitMix64;
    use rand_xoshiro::rand_core::{Rng as _, SeedableRng as _};
    use sha2::{Digest as _, Sha256};

    use super::*;

    /// Deterministic test data and chunk sizes.
    struct Rng(SplitMix64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            (self.0.next_u64() % n as u64) as usize
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.0.next_u64() as u8).collect()
        }
    }

    fn sha(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    #[test]
    #[should_panic(expected = "same number of blocks")]
    fn compress2_refuses_lanes_of_unequal_length() {
        compress2(&mut H0.clone(), &mut H0.clone(), &[[0; 64]], &[]);
    }

    #[test]
    #[should_panic(expected = "same number of blocks")]
    fn the_fallback_refuses_lanes_of_unequal_length() {
        compress2_fallback(&mut H0.clone(), &mut H0.clone(), &[], &[[0; 64]]);
    }

    /// Feeds `ma` and `mb` in random chunk sizes (different per lane, sometimes zero), mostly
    /// through `update2_with` and now and then through one lane's `update`, and checks both
    /// digests against `sha2`.
    fn check_pair(kernel: Kernel2, rng: &mut Rng, ma: &[u8], mb: &[u8], max_chunk: usize) {
        let mut a = Lane::new();
        let mut b = Lane::new();
        let (mut ia, mut ib) = (0, 0);
        while ia < ma.len() || ib < mb.len() {
            let mut ca = rng.below(max_chunk + 1).min(ma.len() - ia);
            let mut cb = rng.below(max_chunk + 1).min(mb.len() - ib);
            match rng.below(8) {
                0 => {
                    a.update(&ma[ia..ia + ca]);
                    cb = 0;
                }
                1 => {
                    b.update(&mb[ib..ib + cb]);
                    ca = 0;
                }
                _ => update2_with(kernel, &mut a, &ma[ia..ia + ca], &mut b, &mb[ib..ib + cb]),
            }
            ia += ca;
            ib += cb;
        }
        assert_eq!(a.message_len(), ma.len() as u64);
        assert_eq!(b.message_len(), mb.len() as u64);
        let (da, db) = if rng.below(2) == 0 {
            (a.finalize(), b.finalize())
        } else {
            let both = finalize2_with(kernel, &mut a, &mut b);
            assert_eq!((a.message_len(), b.message_len()), (0, 0), "reset");
            both
        };
        assert_eq!(da, sha(ma), "lane a, len {}", ma.len());
        assert_eq!(db, sha(mb), "lane b, len {}", mb.len());
    }

    fn random_lengths(kernel: Kernel2) {
        let mut rng = Rng(SplitMix64::seed_from_u64(0x5EED_0001));
        for round in 0..600 {
            let la = rng.below(2001);
            let lb = if round % 3 == 0 { la } else { rng.below(2001) };
            let ma = rng.bytes(la);
            let mb = rng.bytes(lb);
            let max_chunk = [1, 63, 64, 65, 200, 2000][round % 6];
            check_pair(kernel, &mut rng, &ma, &mb, max_chunk);
        }
    }

    fn large(kernel: Kernel2) {
        let mut rng = Rng(SplitMix64::seed_from_u64(0x5EED_0002));
        let ma = rng.bytes((1 << 20) + 13);
        let mb = rng.bytes((1 << 20) + 77);
        check_pair(kernel, &mut rng, &ma, &mb, 70_000);
        check_pair(kernel, &mut rng, &ma, &ma[..(1 << 20) - 5], 1 << 21);
        // Both lanes whole in one call: the bulk path of the kernel over 16 Ki block pairs.
        let (mut a, mut b) = (Lane::new(), Lane::new());
        update2_with(kernel, &mut a, &ma, &mut b, &mb);
        assert_eq!(a.finalize(), sha(&ma));
        assert_eq!(b.finalize(), sha(&mb));
    }

    #[test]
    fn update2_matches_sha2_random_lengths() {
        random_lengths(compress2);
    }

    #[test]
    fn update2_matches_sha2_large() {
        large(compress2);
    }

    #[test]
    fn fallback_matches_sha2_random_lengths() {
        random_lengths(compress2_fallback);
    }

    #[test]
    fn fallback_matches_sha2_large() {
        large(compress2_fallback);
    }

    /// Every pair of message lengths up to two blocks and a bit, so that each lane's
    /// padding takes one block or two in every combination, through `finalize2_with`.
    fn finalize2_every_tail(kernel: Kernel2) {
        let mut rng = Rng(SplitMix64::seed_from_u64(0x5EED_0004));
        let data = rng.bytes(140);
        for la in 0..=140 {
            for lb in (0..=140).step_by(3) {
                let (mut a, mut b) = (Lane::new(), Lane::new());
                update2_with(kernel, &mut a, &data[..la], &mut b, &data[140 - lb..]);
                let (da, db) = finalize2_with(kernel, &mut a, &mut b);
                assert_eq!(da, sha(&data[..la]), "lane a, len {la}");
                assert_eq!(db, sha(&data[140 - lb..]), "lane b, len {lb}");
            }
        }
    }

    #[test]
    fn finalize2_matches_sha2_at_every_tail_length() {
        finalize2_every_tail(compress2);
        finalize2_every_tail(compress2_fallback);
        let (mut a, mut b) = (Lane::new(), Lane::new());
        a.update(b"abc");
        assert_eq!(finalize2(&mut a, &mut b), (sha(b"abc"), sha(b"")));
    }

    #[test]
    fn digest2_matches_sha2_for_every_pair_of_short_lengths_and_long_ones() {
        let data = Rng(SplitMix64::seed_from_u64(0x5EED_0005)).bytes(400);
        // Every length up to past the short limit (183) on each lane, including the block
        // boundaries where the padding takes an extra block.
        for la in 0..=190 {
            for lb in (0..=190)
                .step_by(7)
                .chain([55, 56, 63, 64, 119, 120, 183, 184])
            {
                let (a, b) = (&data[..la], &data[400 - lb..]);
                assert_eq!(digest2(a, b), (sha(a), sha(b)), "lengths {la} and {lb}");
            }
        }
        assert_eq!(digest2(&data, b""), (sha(&data), sha(b"")));
    }

    #[test]
    fn kernels_agree_on_raw_blocks() {
        let mut rng = Rng(SplitMix64::seed_from_u64(0x5EED_0003));
        for n in [0, 1, 2, 3, 17, 64] {
            let blocks: Vec<Block> = (0..2 * n)
                .map(|_| rng.bytes(64).try_into().expect("64 bytes"))
                .collect();
            let (ba, bb) = blocks.split_at(n);
            let init_a: [u32; 8] = core::array::from_fn(|_| rng.0.next_u64() as u32);
            let init_b: [u32; 8] = core::array::from_fn(|_| rng.0.next_u64() as u32);
            let (mut sa, mut sb) = (init_a, init_b);
            compress2(&mut sa, &mut sb, ba, bb);
            let (mut fa, mut fb) = (init_a, init_b);
            compress2_fallback(&mut fa, &mut fb, ba, bb);
            let (mut ra, mut rb) = (init_a, init_b);
            compress1(&mut ra, ba);
            compress1(&mut rb, bb);
            assert_eq!((sa, sb), (ra, rb), "compress2, {n} blocks");
            assert_eq!((fa, fb), (ra, rb), "compress2_fallback, {n} blocks");
            if n > 0 {
                assert_ne!(sa, init_a, "state unchanged by {n} blocks");
            }
        }
    }

    #[cfg(all(target_arch = "x86_64", not(receipt_portable)))]
    #[test]
    fn interleaved_kernel_runs_when_sha_ni_present() {
        // Guards against the tests above silently exercising only the fallback on a machine
        // that has SHA-NI.
        assert_eq!(
            interleaved_available(),
            std::arch::is_x86_feature_detected!("sha")
                && std::arch::is_x86_feature_detected!("sse4.1")
        );
    }

    #[test]
    fn lane_reuse_after_finalize_reset() {
        let mut rng = Rng(SplitMix64::seed_from_u64(0x5EED_0004));
        let m1 = rng.bytes(1000);
        let m2 = rng.bytes(130);
        let long = rng.bytes(5000);
        let mut a = Lane::new();
        let mut b = Lane::new();
        // Lane a hashes two files while lane b streams one long file.
        update2(&mut a, &m1[..500], &mut b, &long[..1000]);
        update2(&mut a, &m1[500..], &mut b, &long[1000..1700]);
        assert_eq!(a.finalize_reset(), sha(&m1));
        assert_eq!(a.message_len(), 0);
        update2(&mut a, &m2, &mut b, &long[1700..4000]);
        assert_eq!(a.finalize_reset(), sha(&m2));
        update2(&mut a, &[], &mut b, &long[4000..]);
        assert_eq!(b.finalize_reset(), sha(&long));
        assert_eq!(a.finalize(), sha(b""));
    }

    #[test]
    fn empty_and_padding_boundaries() {
        for len in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128] {
            let m = vec![0xA5u8; len];
            let mut lane = Lane::default();
            lane.update(&m);
            assert_eq!(lane.finalize(), sha(&m), "len {len}");
        }
    }
}
