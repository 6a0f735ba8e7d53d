//! The `cargo-receipt` binary: a thin shell over the `cargo_receipt` library.

fn main() -> std::process::ExitCode {
    // This program owns its signal handling, so scans may hash large files from memory
    // mappings (see `receipt_scan::install_sigbus_guard`).
    receipt_scan::install_sigbus_guard();
    cargo_receipt::main_with_args(std::env::args_os())
}
