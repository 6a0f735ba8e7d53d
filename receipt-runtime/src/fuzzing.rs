//! The verifier's per-line checks with a layout reused line to line (the canonical-skeleton
//! fast path), for the fuzz harnesses in `fuzz/` (built only with the `fuzzing` feature;
//! not a stable API).

use crate::canon::{Layout, check_layout};
use crate::entry::{LineError, RawEntry, parse_with_layout};
use crate::receipt::PayloadView;

/// A reused line checker, as one verifier thread keeps it: lines shaped like one it
/// accepted before are checked against that line's skeleton instead of being scanned.
#[derive(Debug, Default)]
pub struct LineChecker {
    layout: Layout,
}

impl LineChecker {
    /// A checker that has seen no line.
    pub fn new() -> Self {
        LineChecker::default()
    }

    /// The fast canonical-form test: `Some(true)` canonical, `Some(false)` not, `None` left
    /// to the full canonicalizer.
    pub fn form(&mut self, line: &[u8]) -> Option<bool> {
        check_layout(line, &mut self.layout)
    }

    /// The verifier's check of one line (form, envelope, hash) and, when the envelope
    /// parses, the payload fields read where the scan found them (`None` when the
    /// verifier would use the general parser for them).
    ///
    /// # Errors
    /// [`LineError`] naming the first problem found.
    pub fn entry<'a>(
        &mut self,
        line: &'a [u8],
    ) -> Result<(RawEntry<'a>, Option<PayloadView<'a>>), LineError> {
        let (raw, text) = parse_with_layout(line, &mut self.layout)?;
        let quick = if self.layout.overflow {
            None
        } else {
            text.and_then(|t| PayloadView::from_layout(t, self.layout.payload()))
        };
        Ok((raw, quick))
    }
}
