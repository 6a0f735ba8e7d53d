//! The `lake-receipt` binary: a thin shell over the `lake_bridge` library.

fn main() -> std::process::ExitCode {
    // This program owns its signal handling, so scans may hash large files from memory
    // mappings (see `receipt_scan::install_sigbus_guard`).
    receipt_scan::install_sigbus_guard();
    lake_bridge::run_cli(std::env::args_os())
}
