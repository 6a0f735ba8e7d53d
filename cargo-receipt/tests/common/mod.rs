//! What the end-to-end tests share: the binary under test, the fixed build time they run it
//! at, the one-package fixture project, and ledgers zipped the way CI artifact stores serve
//! them.
#![allow(dead_code)]

use std::io::{Cursor, Write};
use std::path::Path;

use receipt_testkit::fixture::{files, write};
use zip::write::{SimpleFileOptions, ZipWriter};

/// The `cargo-receipt` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_cargo-receipt");
/// `SOURCE_DATE_EPOCH` of the fixture builds.
pub const EPOCH: &str = "1700000000";

/// A single package `fx` with the library `lib` and a binary printing `fx::f()`.
pub fn simple(root: &Path, lib: &str) {
    write(root, ".gitignore", "/target\n");
    write(
        root,
        "Cargo.toml",
        "[package]\nname = \"fx\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    write(root, "src/lib.rs", lib);
    write(
        root,
        "src/main.rs",
        "fn main() {\n    println!(\"{}\", fx::f());\n}\n",
    );
}

/// A ZIP of `dir`'s files under `prefix`, as `actions/upload-artifact` makes one (files at
/// the root when `prefix` is empty); `edit` may change a file's bytes on the way.
pub fn zip_dir(dir: &Path, prefix: &str, edit: impl Fn(&str, &mut Vec<u8>)) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (rel, mut bytes) in files(dir) {
        edit(&rel, &mut bytes);
        w.start_file(format!("{prefix}{rel}"), SimpleFileOptions::default())
            .unwrap();
        w.write_all(&bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}
