//! A single-pass test of whether bytes are already in RFC 8785 form, for the JSON a run
//! ledger holds (ASCII keys, integers); anything else is left to a full canonicalizer.
//!
//! Verification must re-check every line's form; re-serializing each line through a
//! `serde_json::Value` costs more than everything else a verifier does, so the common
//! shapes are checked in place: by a scan, or, for a line shaped like one scanned recently,
//! by comparing it with that line's skeleton (see [`Skeletons`]).
//!
//! The scan is in `scan`, the skeleton cache in `skeleton`.

mod scan;
mod skeleton;
#[cfg(test)]
mod tests;

use scan::scan;
use skeleton::Skeletons;

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
pub(super) const TOP: usize = 8;
pub(super) const INNER: usize = 24;

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
