//! The test venv's Python, and the third-party verifiers of `receipt-attest/tests/python`
//! (securesystemslib's DSSE and in-toto-attestation; an independent checkpoint and
//! consistency-proof verifier) run in it on a list of cases.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The test venv's Python: `$RECEIPT_TEST_PYTHON`, else `<workspace>/.venv/bin/python`.
///
/// # Panics
/// When it does not exist, saying how to create it.
pub fn interpreter() -> PathBuf {
    let p = std::env::var_os("RECEIPT_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    assert!(
        p.exists(),
        "the tests that run Python need the test venv, and {} does not exist: run \
         `bash scripts/test.sh` (or `. scripts/test-env.sh`) to create it",
        p.display()
    );
    p
}

/// Runs the verifier `script` (`verify_dsse.py` or `verify_tlog.py`) on `cases` (a JSON array
/// of cases, each with its `expect`ed outcome), written to `dir`. Returns the verifier's
/// output, one line per case.
///
/// # Panics
/// Unless the verifier exits 0 and confirms every case with an `ok  ` line.
pub fn verify(script: &str, cases: &Value, dir: &Path) -> String {
    let cases_path = dir.join(format!("{script}.cases.json"));
    fs::write(
        &cases_path,
        serde_json::to_vec_pretty(cases).expect("cases JSON"),
    )
    .expect("write the cases");
    let out = Command::new(interpreter())
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../receipt-attest/tests/python")
                .join(script),
        )
        .arg(&cases_path)
        .output()
        .expect("the verifier runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{script}:\n{stdout}");
    assert!(
        out.status.success(),
        "{script} did not confirm every case (status {:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok  ")).count(),
        cases.as_array().expect("a list of cases").len(),
        "{stdout}"
    );
    stdout
}
