//! Entry hashes computed where the line lies: the writer's `Opened` line, whose preimage
//! blocks go through the two-lane SHA-256 kernel with the next line's, and the verifier's
//! hash of a line as read, one or two at a time.

use receipt_primitives::Digest;
use receipt_primitives::sha256x2::{Block, compress1, compress2};

use super::{ENTRY_TAG, HASH_PREFIX_LEN};

/// Compresses as many blocks on each of two states, if there are any.
fn absorb2(a: &mut [u32; 8], b: &mut [u32; 8], blocks_a: &[Block], blocks_b: &[Block]) {
    if !blocks_a.is_empty() {
        compress2(a, b, blocks_a, blocks_b);
    }
}

/// Where in a line its entry preimage starts once [`Opened::stamp`] has written
/// `ENTRY_TAG ‖ "{"` over the end of the `hash` member, just before the preimage's other bytes.
const PREIMAGE_AT: usize = HASH_PREFIX_LEN - ENTRY_TAG.len() - 1;

/// The entry hash of a line being built in place, with the whole blocks of its preimage that
/// are already known compressed. The line's `hash` member holds part of the preimage until
/// [`Opened::finish`] or [`Opened::finish_with`] writes the digest there.
///
/// Hashing the preimage where it lies, as blocks of the line itself, lets the end of one
/// entry and the start of the next (which does not depend on it) go through the two-lane
/// kernel of [`receipt_primitives::sha256x2`] in one call.
#[derive(Debug, Clone)]
pub(crate) struct Opened {
    state: [u32; 8],
    /// Preimage bytes compressed into `state`: a multiple of 64.
    done: usize,
}

impl Opened {
    /// Starts the hash of the line `line`, which [`open_line`](super::open_line) began: writes `ENTRY_TAG ‖
    /// "{"` over the end of its `hash` member so the preimage is contiguous.
    pub(crate) fn stamp(line: &mut [u8]) -> Opened {
        line[PREIMAGE_AT..PREIMAGE_AT + ENTRY_TAG.len()].copy_from_slice(ENTRY_TAG);
        line[HASH_PREFIX_LEN - 1] = b'{';
        Opened {
            state: receipt_primitives::sha256x2::H0,
            done: 0,
        }
    }

    /// The preimage blocks of `line` not yet compressed: the whole ones, and the last
    /// partial one with the padding (one or two blocks in `last`, whose count is returned).
    fn rest<'l>(&self, line: &'l [u8], last: &mut [Block; 2]) -> (&'l [Block], usize) {
        let pre = &line[PREIMAGE_AT..];
        let (whole, tail) = pre[self.done..].as_chunks::<64>();
        let (padded, blocks) = receipt_primitives::sha256x2::padded_tail(tail, pre.len() as u64);
        *last = padded;
        (whole, blocks)
    }

    /// Finishes the hash of `line` (complete up to its closing brace) and writes the digest's
    /// hex digits into `hex` and into the line's `hash` member, which it restores.
    pub(crate) fn finish(mut self, line: &mut [u8], hex: &mut [u8; 64]) -> Digest {
        let mut last = [[0u8; 64]; 2];
        let (whole, n) = self.rest(line, &mut last);
        compress1(&mut self.state, whole);
        compress1(&mut self.state, &last[..n]);
        self.seal(line, hex)
    }

    /// [`Opened::finish`], compressing along with it, on a second lane, the whole preimage
    /// blocks of `next`: a line begun by [`open_line`](super::open_line), which is stamped. Returns the digest
    /// and the hash of `next` so far.
    pub(crate) fn finish_with(
        mut self,
        line: &mut [u8],
        hex: &mut [u8; 64],
        next: &mut [u8],
    ) -> (Digest, Opened) {
        let mut ahead = Opened::stamp(next);
        let (next_blocks, _) = next[PREIMAGE_AT..].as_chunks::<64>();
        let mut last = [[0u8; 64]; 2];
        let (whole, n) = self.rest(line, &mut last);
        let last = &last[..n];
        let k = whole.len().min(next_blocks.len());
        absorb2(
            &mut self.state,
            &mut ahead.state,
            &whole[..k],
            &next_blocks[..k],
        );
        let next_left = &next_blocks[k..];
        if whole.len() > k {
            compress1(&mut self.state, &whole[k..]);
            compress1(&mut self.state, last);
        } else {
            let j = last.len().min(next_left.len());
            absorb2(
                &mut self.state,
                &mut ahead.state,
                &last[..j],
                &next_left[..j],
            );
            compress1(&mut self.state, &last[j..]);
            compress1(&mut ahead.state, &next_left[j..]);
        }
        ahead.done = next_blocks.len() * 64;
        (self.seal(line, hex), ahead)
    }

    /// The digest of the finished state, written as hex into `hex` and the line's `hash`
    /// member.
    fn seal(self, line: &mut [u8], hex: &mut [u8; 64]) -> Digest {
        let hash = Digest(receipt_primitives::sha256x2::state_bytes(self.state));
        *hex = hash.hex_bytes();
        line[9..73].copy_from_slice(hex);
        line[73..HASH_PREFIX_LEN].copy_from_slice(b"\",");
        hash
    }
}

/// The hash of the entry `line` holds, taken from the line as it stands: `SHA-256(ENTRY_TAG
/// ‖ "{" ‖ rest)` where the line is `{"hash":"<64 hex>",` then `rest`, as every canonical
/// entry is (`hash` sorts first). `None` for a line not shaped so, which cannot be canonical.
pub(crate) fn line_hash(line: &[u8]) -> Option<Digest> {
    preimage_rest(line).map(|rest| Digest::of_parts(&[ENTRY_TAG, b"{", rest]))
}

/// [`line_hash`] of two lines at once, their SHA-256 computations interleaved
/// ([`receipt_primitives::sha256x2`]): a verifier hashes every line, and two independent hashes
/// run in little more than the time of one.
pub(crate) fn line_hashes2(a: &[u8], b: &[u8]) -> (Option<Digest>, Option<Digest>) {
    use receipt_primitives::sha256x2::{Lane, finalize2, update2};
    match (preimage_rest(a), preimage_rest(b)) {
        (Some(ra), Some(rb)) => {
            let mut la = Lane::new();
            la.update(ENTRY_TAG);
            la.update(b"{");
            let mut lb = la.clone();
            update2(&mut la, ra, &mut lb, rb);
            let (da, db) = finalize2(&mut la, &mut lb);
            (Some(Digest(da)), Some(Digest(db)))
        }
        _ => (line_hash(a), line_hash(b)),
    }
}

/// What follows `{"hash":"<64 hex>",` in a line that starts that way: with `{` before it,
/// the entry's preimage.
pub(super) fn preimage_rest(line: &[u8]) -> Option<&[u8]> {
    (line.len() > HASH_PREFIX_LEN && line.starts_with(b"{\"hash\":\""))
        .then(|| &line[HASH_PREFIX_LEN..])
}
