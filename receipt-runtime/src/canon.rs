//! A single-pass, allocation-free test of whether bytes are already in RFC 8785 form, for
//! the JSON a run ledger holds (ASCII keys, integers); anything else is left to a full
//! canonicalizer.
//!
//! Verification must re-check every line's form; re-serializing each line through a
//! `serde_json::Value` costs more than everything else a verifier does, so the common
//! shapes are checked in place.

/// `Some(true)`: `bytes` are exactly RFC 8785 JSON. `Some(false)`: they are not (or not
/// JSON at all). `None`: they contain something this scanner leaves to a full
/// canonicalizer (a fraction or exponent, a key with escapes or non-ASCII characters).
///
/// Also records where the members of the top-level object and of its `payload` member
/// are, so a caller can read fields without parsing the line again; `layout` is
/// meaningful only when the result is `Some(true)`.
pub(crate) fn check_layout(bytes: &[u8], layout: &mut Layout) -> Option<bool> {
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

/// Byte ranges of one object member: its key (without the quotes) and its value.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Member {
    pub(crate) key: (usize, usize),
    pub(crate) value: (usize, usize),
    /// The value is a string without escapes: its text is the bytes between the quotes.
    pub(crate) plain_string: bool,
}

/// Members recorded per object; a ledger entry has 7 top-level members and at most 14
/// payload members of interest, anything larger is marked as overflowing.
const TOP: usize = 8;
const INNER: usize = 24;

/// Where the members of a line's top-level object and of its `payload` object lie.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Layout {
    pub(crate) top: [Member; TOP],
    pub(crate) ntop: usize,
    pub(crate) payload: [Member; INNER],
    pub(crate) npayload: usize,
    /// More members than recorded (the lists are then incomplete).
    pub(crate) overflow: bool,
}

impl Layout {
    /// The recorded top-level members.
    pub(crate) fn top(&self) -> &[Member] {
        &self.top[..self.ntop]
    }

    /// The recorded payload members.
    pub(crate) fn payload(&self) -> &[Member] {
        &self.payload[..self.npayload]
    }
}

/// Deeper nesting than any ledger writes; the full path handles (or refuses) the rest.
const MAX_DEPTH: u32 = 64;

/// Whether key `a` sorts strictly before key `b` (by bytes, which for ASCII keys is the
/// UTF-16 order JCS requires). Keys are compared sixteen bytes at a time as big-endian
/// numbers, zero-padded: they hold no NUL (control characters are escaped, and keys with
/// escapes never get here), so padding orders a prefix first, as byte order does.
fn key_before(a: &[u8], b: &[u8]) -> bool {
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

    /// Scans a string in canonical spelling; `Some(true)` when it has no escapes at all,
    /// `None` when it is not canonical.
    fn string(&mut self) -> Option<bool> {
        self.i += 1;
        let mut plain = true;
        loop {
            self.skip_plain_run();
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Some(plain),
                0x00..=0x1f => return None,
                b'\\' => {
                    plain = false;
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            // Only U+0000..U+001F without a short form, in lowercase hex.
                            let h = self.b.get(self.i..self.i + 4)?;
                            self.i += 4;
                            let lower_hex = |d: u8| matches!(d, b'0'..=b'9' | b'a'..=b'f');
                            if h[0] != b'0' || h[1] != b'0' || !h[2..].iter().all(|d| lower_hex(*d))
                            {
                                return None;
                            }
                            let v =
                                u8::from_str_radix(std::str::from_utf8(&h[2..]).ok()?, 16).ok()?;
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

    /// Skips string bytes while none of them is a quote, a backslash or a control
    /// character (most of a ledger line is hex digests): sixteen at a time with SSE2, eight
    /// at a time elsewhere. Each test is exact about whether such a byte is present, so
    /// nothing the byte loop must see is skipped.
    #[cfg(target_arch = "x86_64")]
    fn skip_plain_run(&mut self) {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        while let Some(chunk) = self.b.get(self.i..self.i + 16) {
            // SAFETY: SSE2 is part of the x86_64 baseline; the load reads exactly the 16
            // bytes of `chunk`, which is in bounds, and needs no alignment.
            let mask = unsafe {
                let x = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let quote = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'"' as i8));
                let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
                // A byte below 0x20 is its own minimum with 0x1f.
                let control = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x);
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control))
            };
            if mask != 0 {
                self.i += mask.trailing_zeros() as usize;
                return;
            }
            self.i += 16;
        }
        self.skip_plain_words();
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn skip_plain_run(&mut self) {
        self.skip_plain_words();
    }

    /// The portable part of [`Self::skip_plain_run`], eight bytes at a time.
    fn skip_plain_words(&mut self) {
        const LO: u64 = u64::from_ne_bytes([0x01; 8]);
        const HI: u64 = u64::from_ne_bytes([0x80; 8]);
        let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
        while let Some(chunk) = self.b.get(self.i..self.i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            let x = u64::from_ne_bytes(word);
            let special = has_zero(x ^ (LO * u64::from(b'"')))
                | has_zero(x ^ (LO * u64::from(b'\\')))
                // Some byte below 0x20.
                | (x.wrapping_sub(LO * 0x20) & !x & HI);
            if special != 0 {
                return;
            }
            self.i += 8;
        }
    }

    fn number(&mut self) -> Option<bool> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let d = &self.b[digits..self.i];
        if d.is_empty() || (d.len() > 1 && d[0] == b'0') {
            return Some(false);
        }
        if d == b"0" && digits != start {
            return Some(false); // -0 is spelled 0
        }
        // Integers above 2^53 are spelled by JCS through a double: leave them to it.
        if d.len() > 16 {
            return None;
        }
        // At most 16 ASCII digits: the value fits a u64 without overflow.
        let v = d
            .iter()
            .fold(0u64, |acc, &c| acc * 10 + u64::from(c - b'0'));
        if v > 1 << 53 {
            return None;
        }
        Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner(b: &[u8]) -> (Scanner<'_, 'static>, ()) {
        let layout = Box::leak(Box::new(Layout::default()));
        (
            Scanner {
                b,
                i: 0,
                in_payload: false,
                layout,
            },
            (),
        )
    }

    /// Neither skip ever passes a quote, backslash or control byte; each stops at (SSE2:
    /// exactly on it; words: in the word holding it) the first one, or leaves fewer bytes
    /// than one step for the byte loop.
    #[test]
    fn plain_runs_stop_at_every_special_byte() {
        let specials = [b'"', b'\\', 0x00, 0x01, 0x0a, 0x1f];
        let plain = [b'a', b'0', b' ', 0x20, 0x7f, 0x80, 0xc3, 0xff];
        for len in 0..70usize {
            for pos in 0..=len {
                for &sp in specials.iter().chain(&plain) {
                    let mut b: Vec<u8> = (0..len).map(|i| plain[i % plain.len()]).collect();
                    if pos < len {
                        b[pos] = sp;
                    }
                    let first = b
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                        .unwrap_or(len);
                    let (mut s, ()) = scanner(&b);
                    s.skip_plain_run();
                    assert!(s.i <= first && (s.i == first || len - s.i < 16), "{b:?}");
                    let (mut s, ()) = scanner(&b);
                    s.skip_plain_words();
                    // Eight at a time stops at the start of the word holding the byte.
                    assert!(s.i <= first && (first < s.i + 8 || len - s.i < 8), "{b:?}");
                }
            }
        }
    }

    #[test]
    fn key_order_is_byte_order() {
        let keys: [&[u8]; 12] = [
            b"",
            b"a",
            b"a0",
            b"ab",
            b"abcdefghijklmnop",
            b"abcdefghijklmnopq",
            b"abcdefghijklmnoq",
            b"b",
            b"id",
            b"payload",
            b"z",
            b"~~~~~~~~~~~~~~~~~~~~",
        ];
        for a in keys {
            for b in keys {
                assert_eq!(key_before(a, b), a < b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn strings_with_escapes_and_controls() {
        let mut layout = Layout::default();
        let long = "0123456789abcdef".repeat(5);
        for (text, want) in [
            (format!("{{\"a\":\"{long}\"}}"), Some(true)),
            (format!("{{\"a\":\"{long}\\n{long}\"}}"), Some(true)),
            (format!("{{\"a\":\"{long}\\/{long}\"}}"), None),
            (format!("{{\"a\":\"{long}\u{1}{long}\"}}"), None),
            (format!("{{\"a\":\"{long}\\u001f\"}}"), Some(true)),
            (format!("{{\"a\":\"{long}\\u0041\"}}"), None),
            (format!("{{\"a\":\"{long}"), None),
        ] {
            let got = check_layout(text.as_bytes(), &mut layout);
            // `None` from the scan is "not canonical" inside a string, and `Some(false)`
            // after it; both mean the line is not accepted as canonical by the scan.
            assert_eq!(got.unwrap_or(false), want.unwrap_or(false), "{text}");
        }
    }
}
