//! The single-pass scan of a line: whether it is RFC 8785 JSON of the kind a ledger holds,
//! recording where the members of the top-level object and its payload lie.

use super::{INNER, Layout, Member, TOP};

/// [`check_layout`](super::check_layout) by a full scan, without the skeletons.
pub(super) fn scan(bytes: &[u8], layout: &mut Layout) -> Option<bool> {
    // Only the counts need resetting: members beyond them are never read.
    layout.ntop = 0;
    layout.npayload = 0;
    layout.overflow = false;
    let mut s = Scanner {
        b: bytes,
        i: 0,
        in_payload: false,
        layout,
    };
    let ok = s.value(0)?;
    Some(ok && s.i == bytes.len())
}
/// Deeper nesting than any ledger writes; the full path handles (or refuses) the rest.
const MAX_DEPTH: u32 = 64;

/// Whether key `a` sorts strictly before key `b` (by bytes, which for ASCII keys is the
/// UTF-16 order JCS requires). Keys are compared sixteen bytes at a time as big-endian
/// numbers, zero-padded: they hold no NUL (control characters are escaped, and keys with
/// escapes never get here), so padding orders a prefix first, as byte order does.
pub(super) fn key_before(a: &[u8], b: &[u8]) -> bool {
    fn word(k: &[u8]) -> u128 {
        let mut w = [0u8; 16];
        w[..k.len()].copy_from_slice(k);
        u128::from_be_bytes(w)
    }
    if a.len() <= 16 && b.len() <= 16 {
        word(a) < word(b)
    } else {
        a < b
    }
}

struct Scanner<'a, 'l> {
    b: &'a [u8],
    i: usize,
    /// Inside the value of the top-level `payload` member.
    in_payload: bool,
    layout: &'l mut Layout,
}

impl Scanner<'_, '_> {
    fn record(&mut self, depth: u32, m: Member) {
        let l = &mut *self.layout;
        if depth == 0 {
            if l.ntop < TOP {
                l.top[l.ntop] = m;
                l.ntop += 1;
            } else {
                l.overflow = true;
            }
        } else if depth == 1 && self.in_payload {
            if l.npayload < INNER {
                l.payload[l.npayload] = m;
                l.npayload += 1;
            } else {
                l.overflow = true;
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn value(&mut self, depth: u32) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Some(self.string().is_some()),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => Some(self.literal(b"true")),
            Some(b'f') => Some(self.literal(b"false")),
            Some(b'n') => Some(self.literal(b"null")),
            _ => Some(false),
        }
    }

    fn literal(&mut self, lit: &[u8]) -> bool {
        if self.b[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn object(&mut self, depth: u32) -> Option<bool> {
        self.i += 1;
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Some(true);
        }
        let mut last: Option<&[u8]> = None;
        loop {
            if self.peek() != Some(b'"') {
                return Some(false);
            }
            let start = self.i + 1;
            let Some(plain) = self.string() else {
                return Some(false);
            };
            let key = &self.b[start..self.i - 1];
            // Keys with escapes or non-ASCII characters sort by UTF-16 units, not bytes.
            if !plain || !key.is_ascii() {
                return None;
            }
            if last.is_some_and(|l| !key_before(l, key)) {
                return Some(false);
            }
            last = Some(key);
            if self.peek() != Some(b':') {
                return Some(false);
            }
            self.i += 1;
            let value_start = self.i;
            let payload = depth == 0 && key == b"payload";
            self.in_payload |= payload;
            let (ok, plain_string) = if self.peek() == Some(b'"') {
                match self.string() {
                    Some(plain) => (Some(true), plain),
                    None => (Some(false), false),
                }
            } else {
                (self.value(depth + 1), false)
            };
            if payload {
                self.in_payload = false;
            }
            if !ok? {
                return Some(false);
            }
            let m = Member {
                key: (start, start + key.len()),
                value: (value_start, self.i),
                plain_string,
            };
            self.record(depth, m);
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Some(true);
                }
                _ => return Some(false),
            }
        }
    }

    fn array(&mut self, depth: u32) -> Option<bool> {
        self.i += 1;
        if self.peek() == Some(b']') {
            self.i += 1;
            return Some(true);
        }
        loop {
            if !self.value(depth + 1)? {
                return Some(false);
            }
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Some(true);
                }
                _ => return Some(false),
            }
        }
    }

    fn string(&mut self) -> Option<bool> {
        scan_string(self.b, &mut self.i)
    }

    fn number(&mut self) -> Option<bool> {
        scan_number(self.b, &mut self.i)
    }
}

/// Scans the string whose opening quote is at `*i`, in canonical spelling, and moves `*i`
/// past it; `Some(true)` when it has no escapes at all, `None` when it is not canonical.
pub(super) fn scan_string(b: &[u8], i: &mut usize) -> Option<bool> {
    *i += 1;
    let mut plain = true;
    loop {
        skip_plain_run(b, i);
        let c = *b.get(*i)?;
        *i += 1;
        match c {
            b'"' => return Some(plain),
            0x00..=0x1f => return None,
            // Non-ASCII text must be UTF-8 (JSON is): one whole, well-formed character.
            0x80..=0xff => {
                let width = match c {
                    0xc2..=0xdf => 2,
                    0xe0..=0xef => 3,
                    0xf0..=0xf4 => 4,
                    _ => return None,
                };
                std::str::from_utf8(b.get(*i - 1..*i - 1 + width)?).ok()?;
                *i += width - 1;
            }
            b'\\' => {
                plain = false;
                let e = *b.get(*i)?;
                *i += 1;
                match e {
                    b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        // Only U+0000..U+001F without a short form, in lowercase hex.
                        let h = b.get(*i..*i + 4)?;
                        *i += 4;
                        let lower_hex = |d: u8| matches!(d, b'0'..=b'9' | b'a'..=b'f');
                        if h[0] != b'0' || h[1] != b'0' || !h[2..].iter().all(|d| lower_hex(*d)) {
                            return None;
                        }
                        let v = u8::from_str_radix(std::str::from_utf8(&h[2..]).ok()?, 16).ok()?;
                        if v >= 0x20 || matches!(v, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d) {
                            return None;
                        }
                    }
                    _ => return None,
                }
            }
            _ => {}
        }
    }
}

/// Moves `*i` over string bytes while none of them is a quote, a backslash, a control
/// character or a non-ASCII byte (most of a ledger line is hex digests): sixteen at a time
/// with SSE2, eight at a time elsewhere (and under `--cfg receipt_portable`). Each test is
/// exact about whether such a byte is present, so nothing the byte loop must see is
/// skipped.
#[cfg(all(target_arch = "x86_64", not(receipt_portable)))]
pub(super) fn skip_plain_run(b: &[u8], i: &mut usize) {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    while let Some(chunk) = b.get(*i..*i + 16) {
        // SAFETY: SSE2 is part of the x86_64 baseline; the load reads exactly the 16 bytes
        // of `chunk`, which is in bounds, and needs no alignment.
        let mask = unsafe {
            let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
            // A byte below 0x20 is its own minimum with 0x1f.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);
            // The high bit of a non-ASCII byte, which the byte loop checks as UTF-8.
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
                | _mm_movemask_epi8(x)
        };
        if mask != 0 {
            *i += mask.trailing_zeros() as usize;
            return;
        }
        *i += 16;
    }
    skip_plain_words(b, i);
}

#[cfg(not(all(target_arch = "x86_64", not(receipt_portable))))]
pub(super) fn skip_plain_run(b: &[u8], i: &mut usize) {
    skip_plain_words(b, i);
}

/// The portable part of [`skip_plain_run`], eight bytes at a time.
pub(super) fn skip_plain_words(b: &[u8], i: &mut usize) {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    while let Some(chunk) = b.get(*i..*i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word);
        let special = has_zero(x ^ (LO * u64::from(b'"')))
            | has_zero(x ^ (LO * u64::from(b'\\')))
            // Some byte below 0x20.
            | (x.wrapping_sub(LO * 0x20) & !x & HI)
            // Some non-ASCII byte.
            | (x & HI);
        if special != 0 {
            return;
        }
        *i += 8;
    }
}

/// Scans the number starting at `*i` and moves `*i` past its digits: `Some(true)` for an
/// integer in canonical spelling of at most 2^53 in magnitude, `Some(false)` for a
/// misspelled one (or no digits), `None` for what JCS spells through a double (fractions,
/// exponents, larger integers).
pub(super) fn scan_number(b: &[u8], i: &mut usize) -> Option<bool> {
    let start = *i;
    if b.get(*i) == Some(&b'-') {
        *i += 1;
    }
    let digits = *i;
    *i += digit_run(&b[digits..]);
    if matches!(b.get(*i), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    let d = &b[digits..*i];
    if d.is_empty() || (d.len() > 1 && d[0] == b'0') {
        return Some(false);
    }
    if d == b"0" && digits != start {
        return Some(false); // -0 is spelled 0
    }
    // Integers above 2^53 are spelled by JCS through a double: leave them to it. Up to
    // 15 digits are below 10^15 < 2^53.
    if d.len() <= 15 {
        return Some(true);
    }
    if d.len() > 16 {
        return None;
    }
    // 16 ASCII digits: the value fits a u64 without overflow.
    let v = d
        .iter()
        .fold(0u64, |acc, &c| acc * 10 + u64::from(c - b'0'));
    if v > 1 << 53 {
        return None;
    }
    Some(true)
}

/// How many ASCII digits `b` starts with; eight bytes at a time.
pub(super) fn digit_run(b: &[u8]) -> usize {
    const LO: u64 = u64::from_le_bytes([0x01; 8]);
    const HI: u64 = u64::from_le_bytes([0x80; 8]);
    let mut n = 0;
    while let Some(chunk) = b.get(n..n + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // Digits become 0..=9; a byte is not a digit when it then has its high bit set or
        // reaches 0x80 on adding 0x76 (with the high bit cleared first, no byte carries
        // into the next).
        let a = u64::from_le_bytes(word) ^ (LO * 0x30);
        let other = (((a & (LO * 0x7f)) + LO * 0x76) | a) & HI;
        if other != 0 {
            return n + (other.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + b[n..].iter().take_while(|c| c.is_ascii_digit()).count()
}
