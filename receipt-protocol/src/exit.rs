//! Exit codes of every command-line tool of the project (`cargo receipt`, `lake-receipt`,
//! `receipt-server`'s one-shot commands): a public contract, documented in docs/SPEC.md §8.2
//! and defined only here.

/// The command did what was asked: the build succeeded and its receipt was written, every
/// verification check passed (`WARN` allowed), or a diff found nothing that is hashed.
pub const SUCCESS: u8 = 0;
/// Verification failed: at least one check is `FAIL` or `UNKNOWN`, or a proof does not
/// hold; for `diff`, something that is hashed differs.
pub const VERIFY_FAILED: u8 = 1;
/// Usage error (bad arguments, no project, unreadable input) or an I/O error; nothing was
/// written or verified.
pub const USAGE_OR_IO: u8 = 2;

/// The exit code of a build tool that failed: its own non-zero code, `128 + s` when it was
/// killed by signal `s` (as shells report it), and `fallback` when it exited 0 but still
/// reported a failure.
pub fn build_failure(exit_code: Option<i32>, signal: Option<i32>, fallback: u8) -> u8 {
    match (exit_code, signal) {
        (Some(c), _) if c != 0 => u8::try_from(c).unwrap_or(1),
        (_, Some(s)) => u8::try_from(128 + s).unwrap_or(1),
        _ => fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_keeps_its_code_and_a_signal_maps_above_128() {
        assert_eq!(build_failure(Some(101), None, 1), 101);
        assert_eq!(build_failure(None, Some(9), 1), 137);
        assert_eq!(build_failure(Some(0), None, 101), 101);
        assert_eq!(build_failure(Some(300), None, 1), 1);
    }
}
