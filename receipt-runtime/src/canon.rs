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
pub(crate) fn check(bytes: &[u8]) -> Option<bool> {
    let mut s = Scanner { b: bytes, i: 0 };
    let ok = s.value(0)?;
    Some(ok && s.i == bytes.len())
}

/// Deeper nesting than any ledger writes; the full path handles (or refuses) the rest.
const MAX_DEPTH: u32 = 64;

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
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
            if last.is_some_and(|l| l >= key) {
                return Some(false);
            }
            last = Some(key);
            if self.peek() != Some(b':') {
                return Some(false);
            }
            self.i += 1;
            if !self.value(depth + 1)? {
                return Some(false);
            }
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
        let v: u64 = std::str::from_utf8(d).ok()?.parse().ok()?;
        if v > 1 << 53 {
            return None;
        }
        Some(true)
    }
}
