//! The shapes of recently accepted lines, against which a line of the same shape is checked
//! without a scan.

use super::Member;
use super::scan::{digit_run, scan_number, scan_string, skip_plain_run};

/// Value slots per skeleton (a stage entry has 11, an exit 14); lines with more are
/// scanned, not cached.
const MAX_SLOTS: usize = 32;

/// How much later each segment of a line starts than in the recorded line of the skeleton
/// it matches (wrapping): entry `j` for the segment after `j` slots, indexed by a `u8`
/// (so without bounds checks), entry 0 always 0.
pub(super) type Shifts = [usize; 256];

/// Skeletons kept per [`Layout`](super::Layout): the shapes a ledger alternates between (stage enter,
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
pub(super) struct Skeletons {
    /// No line has been accepted yet.
    pub(super) first: bool,
    pub(super) entries: Vec<Skeleton>,
    /// The shifts of the segments of the line that last matched, see [`Placed::place`].
    pub(super) shifts: Shifts,
    /// The entry that matched or was recorded for the previous line, if any.
    pub(super) last: Option<usize>,
    /// Counts lookups, to find the least recently used entry.
    pub(super) clock: u64,
    /// Lines that matched a skeleton.
    #[cfg(test)]
    pub(super) hits: usize,
    /// Skeletons tried.
    #[cfg(test)]
    pub(super) probes: usize,
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
pub(super) struct Placed {
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
    pub(super) fn place(&self, shifts: &Shifts, escaped: u64) -> Member {
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
pub(super) struct Skeleton {
    /// Whether the rest describes a line; an entry being rebuilt never matches.
    valid: bool,
    /// The recorded line.
    line: Vec<u8>,
    segments: Vec<Segment>,
    /// The literal after the last slot, as a range of `line`.
    tail: (usize, usize),
    pub(super) top: Vec<Placed>,
    pub(super) payload: Vec<Placed>,
    pub(super) overflow: bool,
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
    pub(super) fn lookup(&mut self, bytes: &[u8]) -> Option<(usize, u64)> {
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
    pub(super) fn record(
        &mut self,
        bytes: &[u8],
        top: &[Member],
        payload: &[Member],
        overflow: bool,
    ) {
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
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
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
