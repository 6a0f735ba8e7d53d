//! A single-pass test of whether bytes are already in RFC 8785 form, for the JSON a run
//! ledger holds (ASCII keys, integers); anything else is left to a full canonicalizer.
//!
//! Verification must re-check every line's form; re-serializing each line through a
//! `serde_json::Value` costs more than everything else a verifier does, so the common
//! shapes are checked in place: by a scan, or, for a line shaped like one scanned recently,
//! by comparing it with that line's skeleton (see [`Skeletons`]).

/// `Some(true)`: `bytes` are exactly RFC 8785 JSON. `Some(false)`: they are not (or not
/// JSON at all). `None`: they contain something this scanner leaves to a full
/// canonicalizer (a fraction or exponent, a key with escapes or non-ASCII characters).
///
/// Also records where the members of the top-level object and of its `payload` member
/// are, so a caller can read fields without parsing the line again; `layout` is
/// meaningful only when the result is `Some(true)`.
///
/// Lines shaped like one accepted recently (see [`Skeletons`]) are checked against that
/// shape instead of being scanned; the result and the layout are the same either way.
pub(crate) fn check_layout(bytes: &[u8], layout: &mut Layout) -> Option<bool> {
    if let Some((k, escaped)) = layout.skeletons.lookup(bytes) {
        let shifts = &layout.skeletons.shifts;
        let skeleton = &layout.skeletons.entries[k];
        layout.ntop = skeleton.top.len();
        layout.npayload = skeleton.payload.len();
        layout.overflow = skeleton.overflow;
        for (m, p) in layout.top.iter_mut().zip(&skeleton.top) {
            *m = p.place(shifts, escaped);
        }
        for (m, p) in layout.payload.iter_mut().zip(&skeleton.payload) {
            *m = p.place(shifts, escaped);
        }
        return Some(true);
    }
    let found = scan(bytes, layout);
    // A layout's first line is not recorded: a layout used for one line only (a caller
    // parsing one line) then never pays for recording.
    if found == Some(true) && !std::mem::replace(&mut layout.skeletons.first, false) {
        layout.skeletons.record(
            bytes,
            &layout.top[..layout.ntop],
            &layout.payload[..layout.npayload],
            layout.overflow,
        );
    } else {
        layout.skeletons.last = None;
    }
    found
}

/// [`check_layout`] by a full scan, without the skeletons.
fn scan(bytes: &[u8], layout: &mut Layout) -> Option<bool> {
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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

/// Where the members of a line's top-level object and of its `payload` object lie, and
/// the shapes of recently accepted lines; one per thread of checks, reused line to line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    pub(crate) top: [Member; TOP],
    pub(crate) ntop: usize,
    pub(crate) payload: [Member; INNER],
    pub(crate) npayload: usize,
    /// More members than recorded (the lists are then incomplete).
    pub(crate) overflow: bool,
    skeletons: Skeletons,
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

    /// A new layout that knows the line shapes this one knows, for another thread.
    pub(crate) fn shapes(&self) -> Layout {
        Layout {
            skeletons: self.skeletons.clone(),
            ..Layout::default()
        }
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

    fn string(&mut self) -> Option<bool> {
        scan_string(self.b, &mut self.i)
    }

    fn number(&mut self) -> Option<bool> {
        scan_number(self.b, &mut self.i)
    }
}

/// Scans the string whose opening quote is at `*i`, in canonical spelling, and moves `*i`
/// past it; `Some(true)` when it has no escapes at all, `None` when it is not canonical.
fn scan_string(b: &[u8], i: &mut usize) -> Option<bool> {
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
/// with SSE2, eight at a time elsewhere. Each test is exact about whether such a byte is
/// present, so nothing the byte loop must see is skipped.
#[cfg(target_arch = "x86_64")]
fn skip_plain_run(b: &[u8], i: &mut usize) {
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

#[cfg(not(target_arch = "x86_64"))]
fn skip_plain_run(b: &[u8], i: &mut usize) {
    skip_plain_words(b, i);
}

/// The portable part of [`skip_plain_run`], eight bytes at a time.
fn skip_plain_words(b: &[u8], i: &mut usize) {
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
fn scan_number(b: &[u8], i: &mut usize) -> Option<bool> {
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
fn digit_run(b: &[u8]) -> usize {
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

/// Value slots per skeleton (a stage entry has 11, an exit 14); lines with more are
/// scanned, not cached.
const MAX_SLOTS: usize = 32;

/// How much later each segment of a line starts than in the recorded line of the skeleton
/// it matches (wrapping): entry `j` for the segment after `j` slots, indexed by a `u8`
/// (so without bounds checks), entry 0 always 0.
type Shifts = [usize; 256];

/// Skeletons kept per [`Layout`]: the shapes a ledger alternates between (stage enter,
/// stage exit, an event or two).
const CACHED: usize = 4;

/// The shapes of lines recently accepted by the full scan, to check later lines of the
/// same shape without scanning them.
///
/// A skeleton is an accepted line cut into literal segments (punctuation, keys, `true`,
/// `false`, `null`) and the value slots between them (strings, numbers). A line matches
/// when its literal segments are byte for byte those of the skeleton and each slot holds a
/// string or an integer that the full scan accepts, checked by the scan's own
/// [`scan_string`] and [`scan_number`] (or a shortcut for the usual plain string or short
/// integer, see [`Skeleton::matches`]). The scan's path through such a line is the one it
/// took through the recorded line (it reads the same structure, keys and literals, and
/// decides the same way on each slot), so it would accept the line too, with every member
/// where the recorded one was, moved by the length changes of the slots before it, and
/// with `plain_string` as the slot's own scan found. A line that matches no skeleton is
/// scanned, and recorded as a skeleton if accepted.
#[derive(Debug, Clone)]
struct Skeletons {
    /// No line has been accepted yet.
    first: bool,
    entries: Vec<Skeleton>,
    /// The shifts of the segments of the line that last matched, see [`Placed::place`].
    shifts: Shifts,
    /// The entry that matched or was recorded for the previous line, if any.
    last: Option<usize>,
    /// Counts lookups, to find the least recently used entry.
    clock: u64,
    /// Lines that matched a skeleton.
    #[cfg(test)]
    hits: usize,
    /// Skeletons tried.
    #[cfg(test)]
    probes: usize,
}

/// A kind of value slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// An integer.
    Int,
    /// A string, quotes included.
    Str,
}

/// One literal segment of a skeleton and the slot that follows it.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// The literal bytes, as a range of the recorded line.
    lit: (usize, usize),
    slot: Slot,
    /// Where the slot ended in the recorded line.
    end: usize,
}

/// A recorded member, and which slots its positions follow: position `p` of segment `j`
/// (`j` slots before it) is at `p + shifts[j]` in a matching line.
#[derive(Debug, Clone, Copy)]
struct Placed {
    member: Member,
    key: u8,
    start: u8,
    end: u8,
    /// Bit `k` set for a string value in slot `k`; 0 for any other value.
    string: u64,
}

impl Placed {
    /// The member in a matching line, with its segments' `shifts`; bit `k` of `escaped`
    /// is set when the line's slot `k` is a string with escapes.
    fn place(&self, shifts: &Shifts, escaped: u64) -> Member {
        let m = &self.member;
        let k = shifts[usize::from(self.key)];
        Member {
            key: (m.key.0.wrapping_add(k), m.key.1.wrapping_add(k)),
            value: (
                m.value.0.wrapping_add(shifts[usize::from(self.start)]),
                m.value.1.wrapping_add(shifts[usize::from(self.end)]),
            ),
            plain_string: self.string != 0 && escaped & self.string == 0,
        }
    }
}

/// The shape of one accepted line; see [`Skeletons`].
#[derive(Debug, Clone, Default)]
struct Skeleton {
    /// Whether the rest describes a line; an entry being rebuilt never matches.
    valid: bool,
    /// The recorded line.
    line: Vec<u8>,
    segments: Vec<Segment>,
    /// The literal after the last slot, as a range of `line`.
    tail: (usize, usize),
    top: Vec<Placed>,
    payload: Vec<Placed>,
    overflow: bool,
    /// The entry that matched the line after the last line that matched this one.
    next: Option<usize>,
    /// [`Skeletons::clock`] when this entry last matched or was recorded.
    used: u64,
}

impl Default for Skeletons {
    fn default() -> Self {
        Skeletons {
            first: true,
            entries: Vec::new(),
            shifts: [0; 256],
            last: None,
            clock: 0,
            #[cfg(test)]
            hits: 0,
            #[cfg(test)]
            probes: 0,
        }
    }
}

impl Skeletons {
    /// The entry `bytes` match, with the slots holding strings with escapes (see
    /// [`Placed::place`]); [`Self::shifts`] then holds the line's shifts. The entry that
    /// followed the previous line's entry last time is tried first: a ledger repeats its
    /// sequence of shapes.
    fn lookup(&mut self, bytes: &[u8]) -> Option<(usize, u64)> {
        let n = self.entries.len();
        let first = self
            .last
            .and_then(|l| self.entries.get(l))
            .and_then(|e| e.next)
            .filter(|&k| k < n);
        let rest = (0..n).filter(|&k| Some(k) != first);
        for k in first.into_iter().chain(rest) {
            #[cfg(test)]
            {
                self.probes += 1;
            }
            if let Some(escaped) = self.entries[k].matches(bytes, &mut self.shifts) {
                #[cfg(test)]
                {
                    self.hits += 1;
                }
                self.note(k);
                return Some((k, escaped));
            }
        }
        None
    }

    /// Entry `k` described the current line.
    fn note(&mut self, k: usize) {
        if let Some(e) = self.last.and_then(|l| self.entries.get_mut(l)) {
            e.next = Some(k);
        }
        self.last = Some(k);
        self.clock += 1;
        self.entries[k].used = self.clock;
    }

    /// Records the shape of `bytes`, which the full scan accepted with these members, in
    /// place of the least recently used entry.
    fn record(&mut self, bytes: &[u8], top: &[Member], payload: &[Member], overflow: bool) {
        let k = if self.entries.len() < CACHED {
            self.entries.push(Skeleton::default());
            self.entries.len() - 1
        } else {
            let oldest = self.entries.iter().enumerate().min_by_key(|(_, e)| e.used);
            oldest.map_or(0, |(k, _)| k)
        };
        if self.entries[k].build(bytes, top, payload, overflow) {
            self.note(k);
        } else {
            self.last = None;
        }
    }
}

impl Skeleton {
    /// Cuts `b`, a line the full scan accepted with these members, into segments and
    /// slots; `false` (and no longer valid) when the line has more slots than
    /// [`MAX_SLOTS`].
    fn build(&mut self, b: &[u8], top: &[Member], payload: &[Member], overflow: bool) -> bool {
        self.valid = false;
        self.next = None;
        self.used = 0;
        self.line.clear();
        self.line.extend_from_slice(b);
        self.segments.clear();
        let mut prev = 0;
        let mut i = 0;
        while let Some(&c) = b.get(i) {
            let start = i;
            let slot = match c {
                b'"' => {
                    if scan_string(b, &mut i).is_none() {
                        return false;
                    }
                    // In canonical JSON a string before a colon is a key: part of the
                    // literal.
                    if b.get(i) == Some(&b':') {
                        continue;
                    }
                    Slot::Str
                }
                b'-' | b'0'..=b'9' => {
                    i += 1;
                    while matches!(b.get(i), Some(b'0'..=b'9')) {
                        i += 1;
                    }
                    Slot::Int
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            self.segments.push(Segment {
                lit: (prev, start),
                slot,
                end: i,
            });
            prev = i;
        }
        if self.segments.len() > MAX_SLOTS {
            return false;
        }
        self.tail = (prev, b.len());
        self.top.clear();
        for m in top {
            let Some(p) = self.placed(m) else {
                return false;
            };
            self.top.push(p);
        }
        self.payload.clear();
        for m in payload {
            let Some(p) = self.placed(m) else {
                return false;
            };
            self.payload.push(p);
        }
        self.overflow = overflow;
        self.valid = true;
        true
    }

    /// Which slots the positions of recorded member `m` follow; `None` if one lies
    /// inside a slot (a scan records none there) or the key spans a slot.
    fn placed(&self, m: &Member) -> Option<Placed> {
        let index = |p: usize| -> Option<u8> {
            let j = self.segments.partition_point(|s| s.end <= p);
            if self.segments.get(j).is_some_and(|s| s.lit.1 < p) {
                return None;
            }
            u8::try_from(j).ok()
        };
        let key = index(m.key.0)?;
        if index(m.key.1)? != key {
            return None;
        }
        let start = index(m.value.0)?;
        let end = index(m.value.1)?;
        let string = match self.segments.get(usize::from(start)) {
            Some(s) if s.slot == Slot::Str && s.lit.1 == m.value.0 && s.end == m.value.1 => {
                1 << start
            }
            _ => 0,
        };
        // Only a string value can be plain.
        if m.plain_string && string == 0 {
            return None;
        }
        Some(Placed {
            member: *m,
            key,
            start,
            end,
            string,
        })
    }

    /// Whether `b` has this shape: `Some(escaped)` (see [`Placed::place`]) with `shifts`
    /// filled in for its segments when it does.
    fn matches(&self, b: &[u8], shifts: &mut Shifts) -> Option<u64> {
        if !self.valid {
            return None;
        }
        let line = &self.line[..];
        let mut pos = 0;
        let mut escaped = 0u64;
        for ((k, seg), shift) in self.segments.iter().enumerate().zip(&mut shifts[1..]) {
            let lit = &line[seg.lit.0..seg.lit.1];
            if !same(b.get(pos..pos + lit.len())?, lit) {
                return None;
            }
            pos += lit.len();
            match seg.slot {
                Slot::Int => {
                    // The usual integer here: up to 15 digits, no leading zero, not
                    // `-0`. That is `scan_number`'s test less its look at the next
                    // byte, which need not be repeated: the literal that must follow
                    // starts with the byte that followed the recorded integer, none of
                    // `.eE` (or the line ends). `scan_number` itself for any other.
                    let neg = b.get(pos) == Some(&b'-');
                    let digits = pos + usize::from(neg);
                    let n = digit_run(b.get(digits..)?);
                    let lead = b.get(digits).copied();
                    if (1..=15).contains(&n) && (lead != Some(b'0') || (n == 1 && !neg)) {
                        pos = digits + n;
                    } else if scan_number(b, &mut pos) != Some(true) {
                        return None;
                    }
                }
                Slot::Str => {
                    if b.get(pos) != Some(&b'"') {
                        return None;
                    }
                    // The usual string without escapes here, as `scan_string` would
                    // find it; `scan_string` itself for any other.
                    let mut end = pos + 1;
                    skip_plain_run(b, &mut end);
                    while b
                        .get(end)
                        .is_some_and(|&c| c != b'"' && c != b'\\' && (0x20..0x80).contains(&c))
                    {
                        end += 1;
                    }
                    if b.get(end) == Some(&b'"') {
                        pos = end + 1;
                    } else if !scan_string(b, &mut pos)? {
                        escaped |= 1 << k;
                    }
                }
            }
            *shift = pos.wrapping_sub(seg.end);
        }
        let tail = &line[self.tail.0..self.tail.1];
        (b.len() - pos == tail.len() && same(&b[pos..], tail)).then_some(escaped)
    }
}

/// Whether `a` and `b` (of equal length) are the same bytes, compared eight at a time:
/// literal segments are short, too short to be worth a call to `memcmp`.
fn same(a: &[u8], b: &[u8]) -> bool {
    fn word<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
        let mut w = [0u8; N];
        w.copy_from_slice(&s[at..at + N]);
        w
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        let mut i = 0;
        while i + 16 < n {
            if word::<16>(a, i) != word::<16>(b, i) {
                return false;
            }
            i += 16;
        }
        // The last 1 to 16 bytes, within two words that may overlap each other (and the
        // bytes before).
        let j = i.min(n - 8);
        word::<8>(a, j) == word::<8>(b, j) && word::<8>(a, n - 8) == word::<8>(b, n - 8)
    } else if n >= 4 {
        word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::entry::{canonical, genesis, kind, seal_bytes};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// What a check tells a caller: the result and, for an accepted line, its layout.
    fn outcome(found: Option<bool>, l: &Layout) -> String {
        match found {
            Some(true) => format!("{found:?} {:?} {:?} {}", l.top(), l.payload(), l.overflow),
            _ => format!("{found:?}"),
        }
    }

    /// Checks `line` with the reused `warm` layout (skeletons and all) and by a full scan
    /// with a fresh one, which must agree; returns whether the line was accepted.
    fn agree(warm: &mut Layout, line: &[u8]) -> bool {
        let mut fresh = Layout::default();
        let want = scan(line, &mut fresh);
        let got = check_layout(line, warm);
        assert_eq!(
            outcome(got, warm),
            outcome(want, &fresh),
            "{}",
            String::from_utf8_lossy(line)
        );
        got == Some(true)
    }

    /// A ledger line (without its newline) as the writer seals it.
    fn line(seq: u64, kind_: &str, stage: Option<&str>, payload: &Value) -> Vec<u8> {
        let payload = canonical(payload).unwrap();
        let run = "0123456789abcdef0123456789abcdef";
        let mut l = seal_bytes(seq, &genesis(run), run, kind_, stage, &payload).line;
        l.pop();
        l
    }

    fn enter(seq: u64, id: u64, input: Option<&str>, parent: Option<u64>) -> Vec<u8> {
        let payload = json!({"args": ["x"], "depth": u64::from(parent.is_some()), "id": id,
            "input": input, "parent": parent, "t_ns": 58_279 * seq, "thread": 0});
        line(seq, kind::STAGE_ENTER, Some("work"), &payload)
    }

    fn exit(seq: u64, id: u64, output: Option<&str>) -> Vec<u8> {
        let payload = json!({"alloc_bytes": null, "cpu_ns": 1583 + seq, "depth": 0, "id": id,
            "io_read_bytes": null, "io_write_bytes": null, "outcome": "ok", "output": output,
            "peak_rss_kb": 6644, "t_ns": 67_667 * seq, "thread": 0, "wall_ns": 9388});
        line(seq, kind::STAGE_EXIT, Some("work"), &payload)
    }

    /// A short ledger: a run start, stage entries and exits (some with escaped strings),
    /// an event with an escaped, non-ASCII message.
    fn ledger() -> Vec<Vec<u8>> {
        let start = json!({"argc": 3, "durability": "on_finalize", "graph": {"after": {}},
            "host": {"arch": "x86_64", "cpus": 2, "os": "linux", "pid": 3533},
            "sample_io": false, "unmeasured": {"io": "I/O sampling is off"}});
        let event = json!({"fields": {"message": "na\u{ef}ve \"quoted\"\n\u{1}"},
            "level": "INFO", "stage_id": 3, "t_ns": 8, "target": "t", "thread": 0});
        vec![
            line(0, kind::RUN_START, None, &start),
            enter(1, 0, None, None),
            exit(2, 0, None),
            enter(3, 1, Some("in"), Some(0)),
            line(4, kind::EVENT, Some("work"), &event),
            exit(5, 1, Some("a\"b")),
            enter(6, 12_345, None, None),
            exit(7, 9_007_199_254_740_992, Some("")),
        ]
    }

    /// Spans of the scalar tokens of `l` outside keys: (start, end, is a string).
    fn tokens(l: &[u8]) -> Vec<(usize, usize, bool)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < l.len() {
            let start = i;
            if l[i] == b'"' {
                i += 1;
                while l[i] != b'"' {
                    i += if l[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                if l.get(i) != Some(&b':') {
                    out.push((start, i, true));
                }
            } else if l[i] == b'-' || l[i].is_ascii_digit() {
                i += 1;
                while l.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                out.push((start, i, false));
            } else {
                i += 1;
            }
        }
        out
    }

    fn splice(l: &[u8], (s, e): (usize, usize), with: &[u8]) -> Vec<u8> {
        [&l[..s], with, &l[e..]].concat()
    }

    /// Lines near `l`: every byte replaced (by bytes that matter to JSON), whitespace and
    /// other bytes inserted, bytes deleted, truncations, trailing bytes, each value
    /// respelled or changed in kind, keys renamed and members swapped.
    fn mutations(l: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for i in 0..l.len() {
            for &c in b"\"\\\x01\x1f029-.eE ,:}]{[nxA\x7f\xc3" {
                if l[i] != c {
                    out.push(splice(l, (i, i + 1), &[c]));
                }
            }
            for ins in [&b" "[..], b"\n", b"0", b"\"", b"\\n", b",", b"\"a\":1,"] {
                out.push(splice(l, (i, i), ins));
            }
            out.push(splice(l, (i, i + 1), b""));
            out.push(l[..i].to_vec());
        }
        for t in [&b" "[..], b"\n", b"}", b"0", b"x", b",{}"] {
            out.push([l, t].concat());
        }
        let numbers: [&[u8]; 23] = [
            b"0",
            b"999999999999999",
            b"1000000000000000",
            b"00",
            b"-0",
            b"01",
            b"-1",
            b"7",
            b"10",
            b"123456789",
            b"9007199254740992",
            b"9007199254740993",
            b"-9007199254740992",
            b"-9007199254740993",
            b"12345678901234567",
            b"2.0",
            b"2e3",
            b"1E2",
            b"null",
            b"\"7\"",
            b"true",
            b"[]",
            b"{}",
        ];
        let strings: [&[u8]; 15] = [
            b"\"\"",
            b"\"x\"",
            b"\"a\\nb\"",
            b"\"a\\\"b\"",
            b"\"a\\\\b\"",
            b"\"a\x01b\"",
            b"\"a\nb\"",
            b"\"\\u001f\"",
            b"\"\\u0041\"",
            b"\"\\/\"",
            "\"\u{e9}\"".as_bytes(),
            b"\"0123456789abcdef0123456789abcdef0123456789\"",
            b"null",
            b"7",
            b"[\"x\"]",
        ];
        for (s, e, string) in tokens(l) {
            for with in if string { &strings[..] } else { &numbers[..] } {
                out.push(splice(l, (s, e), with));
            }
        }
        let mut layout = Layout::default();
        assert_eq!(scan(l, &mut layout), Some(true));
        for members in [layout.top(), layout.payload()] {
            for m in members {
                for with in [&b"a"[..], b"zz", b"~", b"", b"id"] {
                    out.push(splice(l, (m.key.0, m.key.0 + 1), with));
                }
            }
            for w in members.windows(2) {
                let (a, b) = (
                    (w[0].key.0 - 1, w[0].value.1),
                    (w[1].key.0 - 1, w[1].value.1),
                );
                let swapped = [&l[..a.0], &l[b.0..b.1], b",", &l[a.0..a.1], &l[b.1..]].concat();
                out.push(swapped);
            }
        }
        let text = String::from_utf8(l.to_vec()).unwrap();
        for (from, to) in [
            ("\"args\":[\"x\"]", "\"args\":[]"),
            ("\"args\":[\"x\"]", "\"args\":[\"x\",\"y\"]"),
            ("\"args\":[\"x\"]", "\"args\":[\"x\",1]"),
            ("\"args\":[\"x\"]", "\"args\":[[\"x\"]]"),
            ("\"after\":{}", "\"after\":{\"a\":1}"),
            ("\"sample_io\":false", "\"sample_io\":true"),
        ] {
            out.push(text.replacen(from, to, 1).into_bytes());
        }
        out
    }

    /// Every line near a ledger's lines gets the same result and layout from the
    /// skeletons as from a full scan, with the line's own shape cached; many are accepted
    /// by a skeleton.
    #[test]
    fn skeletons_agree_with_the_scan_on_nearby_lines() {
        let lines = ledger();
        let mut warm = Layout::default();
        for l in &lines {
            assert!(agree(&mut warm, l));
        }
        let (mut nearby, mut fast) = (0, 0);
        for (n, l) in lines.iter().enumerate() {
            let mut reload = true;
            for m in mutations(l) {
                // The shape of `l` stays cached, as a ledger keeps it, and the predecessor
                // sets up the prediction.
                if reload {
                    agree(&mut warm, &lines[n.saturating_sub(1)]);
                    agree(&mut warm, l);
                }
                let (hits, entries) = (warm.skeletons.hits, warm.skeletons.entries.len());
                let accepted = agree(&mut warm, &m);
                let hit = warm.skeletons.hits > hits;
                fast += usize::from(hit);
                // A newly recorded shape may have evicted that of `l`.
                reload = accepted && !hit || warm.skeletons.entries.len() != entries;
                nearby += 1;
            }
        }
        assert!(nearby > 80_000, "{nearby}");
        assert!(fast > 30_000, "{fast} of {nearby}");
    }

    /// A typical run, stage entries and exits alternating (and an event between), is
    /// checked by skeletons after its first few lines, each at the first skeleton tried.
    #[test]
    fn alternating_lines_take_the_fast_path() {
        let mut layout = Layout::default();
        let n = 200;
        for seq in 1..=n {
            let l = if seq % 2 == 1 {
                enter(seq, seq / 2, None, None)
            } else {
                exit(seq, seq / 2, None)
            };
            assert!(agree(&mut layout, &l));
        }
        // First line: not recorded; second, third: recorded.
        let n = usize::try_from(n).unwrap();
        assert_eq!(layout.skeletons.hits, n - 3);
        assert_eq!(layout.skeletons.probes, n - 2);

        let mut layout = Layout::default();
        let event = |seq: u64| {
            let p = json!({"fields": {"message": "m"}, "level": "INFO", "stage_id": seq,
                "t_ns": seq, "target": "t", "thread": 0});
            line(seq, kind::EVENT, Some("work"), &p)
        };
        for seq in 0..n as u64 {
            let l = match seq % 4 {
                0 => enter(seq, seq / 4, Some("i"), Some(seq)),
                1 | 2 => event(seq),
                _ => exit(seq, seq / 4, Some("o")),
            };
            assert!(agree(&mut layout, &l));
        }
        assert_eq!(layout.skeletons.hits, n - 4);
    }

    fn number() -> impl Strategy<Value = i64> {
        prop_oneof![
            0i64..20,
            0i64..=1 << 53,
            -(1i64 << 53)..0,
            Just(1i64 << 53),
            Just(-(1i64 << 53)),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-z0-9 \"\\\\\u{1}\n\u{e9}\u{1f980}]{0,12}"
    }

    fn entry() -> impl Strategy<Value = (u8, Vec<i64>, Vec<String>, Vec<bool>)> {
        (
            0u8..4,
            proptest::collection::vec(number(), 12),
            proptest::collection::vec(text(), 4),
            proptest::collection::vec(any::<bool>(), 4),
        )
    }

    /// A line of kind `k` (enter, exit, event, a nested one) with these values.
    fn entry_line(seq: u64, (k, n, s, b): &(u8, Vec<i64>, Vec<String>, Vec<bool>)) -> Vec<u8> {
        let opt_n = |i: usize| b[i].then_some(n[i]);
        let opt_s = |i: usize| b[i].then(|| s[i].clone());
        let (kind_, payload) = match k {
            0 => (
                kind::STAGE_ENTER,
                json!({"args": s[..usize::from(b[3]) + 1], "depth": n[0], "id": n[1],
                    "input": opt_s(1), "parent": opt_n(2), "t_ns": n[3], "thread": n[4]}),
            ),
            1 => (
                kind::STAGE_EXIT,
                json!({"alloc_bytes": opt_n(0), "cpu_ns": n[1], "depth": n[2], "id": n[3],
                    "io_read_bytes": opt_n(1), "io_write_bytes": null, "outcome": s[0],
                    "output": opt_s(2), "peak_rss_kb": n[4], "t_ns": n[5], "thread": n[6],
                    "wall_ns": n[7]}),
            ),
            2 => (
                kind::EVENT,
                json!({"fields": {"message": s[0], "n": n[0]}, "level": "INFO",
                    "stage_id": n[1], "t_ns": n[2], "target": s[1], "thread": n[3]}),
            ),
            _ => (
                kind::VIOLATION,
                json!({"a": [[n[0], [n[1], s[0]]], {"b": opt_n(1), "c": b[2]}], "t_ns": n[2]}),
            ),
        };
        let stage = opt_s(3);
        line(seq, kind_, stage.as_deref(), &payload)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Sequences of generated entries, each followed by a changed copy (a byte
        /// replaced, inserted or deleted, a value respelled, a truncation), get the same
        /// results and layouts from the skeletons as from full scans.
        #[test]
        fn skeletons_agree_with_the_scan(
            entries in proptest::collection::vec(entry(), 1..16),
            changes in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..8, any::<u8>()), 1..16),
        ) {
            let mut warm = Layout::default();
            for (seq, (e, (at, op, byte))) in entries.iter().zip(changes.iter().cycle()).enumerate() {
                let l = entry_line(seq as u64, e);
                prop_assert!(agree(&mut warm, &l));
                let i = at.index(l.len());
                let (s, e, _) = tokens(&l)[at.index(tokens(&l).len())];
                let changed = match op {
                    0 => splice(&l, (i, i + 1), &[*byte]),
                    1 => splice(&l, (i, i), &[*byte]),
                    2 => splice(&l, (i, i + 1), b""),
                    3 => l[..i].to_vec(),
                    4 => {
                        let spellings = ["0", "-0", "00", "01", "2.0", "1e3", "9007199254740993"];
                        let with = spellings
                            .get(usize::from(*byte % 16))
                            .map_or_else(|| (i64::from(*byte) - 128).to_string(), |s| (*s).to_owned());
                        splice(&l, (s, e), with.as_bytes())
                    }
                    5 => splice(&l, (s, e), format!("\"{}\"", char::from(*byte)).as_bytes()),
                    6 => splice(&l, (s, s + 1), &[*byte]),
                    _ => [&l[..], &[*byte]].concat(),
                };
                agree(&mut warm, &changed);
            }
        }
    }

    /// Neither skip ever passes a quote, backslash, control or non-ASCII byte (the byte loop
    /// checks the latter as UTF-8); each stops at (SSE2: exactly on it; words: in the word
    /// holding it) the first one, or leaves fewer bytes than one step for the byte loop.
    #[test]
    fn plain_runs_stop_at_every_special_byte() {
        let specials = [b'"', b'\\', 0x00, 0x01, 0x0a, 0x1f, 0x80, 0xc3, 0xff];
        let plain = [b'a', b'0', b' ', 0x20, 0x7f, b'z'];
        for len in 0..70usize {
            for pos in 0..=len {
                for &sp in specials.iter().chain(&plain) {
                    let mut b: Vec<u8> = (0..len).map(|i| plain[i % plain.len()]).collect();
                    if pos < len {
                        b[pos] = sp;
                    }
                    let first = b
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c))
                        .unwrap_or(len);
                    let mut i = 0;
                    skip_plain_run(&b, &mut i);
                    assert!(i <= first && (i == first || len - i < 16), "{b:?}");
                    let mut i = 0;
                    skip_plain_words(&b, &mut i);
                    // Eight at a time stops at the start of the word holding the byte.
                    assert!(i <= first && (first < i + 8 || len - i < 8), "{b:?}");
                }
            }
        }
    }

    /// Byte comparison in words finds every differing byte, at any length.
    #[test]
    fn same_finds_every_difference() {
        for len in 0..70usize {
            let a: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            assert!(same(&a, &a.clone()));
            for pos in 0..len {
                let mut b = a.clone();
                b[pos] ^= 0x20;
                assert!(!same(&a, &b), "{len} {pos}");
            }
            assert!(!same(&a, &a[..len.saturating_sub(1)]) || len == 0);
        }
    }

    /// The digit count stops at every byte that is not a digit, wherever it is.
    #[test]
    fn digit_runs_stop_at_every_other_byte() {
        for len in 0..20usize {
            for pos in 0..=len {
                for c in 0..=u8::MAX {
                    let mut b: Vec<u8> = (0..len).map(|i| b"0123456789"[i % 10]).collect();
                    if pos < len {
                        b[pos] = c;
                    }
                    let want = b.iter().take_while(|c| c.is_ascii_digit()).count();
                    assert_eq!(digit_run(&b), want, "{b:?}");
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
