//! Compile-time behaviour of `#[receipt]`: every accepted form builds and runs, every
//! mistake is a clear error on the right span.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
