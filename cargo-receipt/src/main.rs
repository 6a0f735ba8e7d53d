//! The `cargo-receipt` binary: a thin shell over the `cargo_receipt` library.

fn main() -> std::process::ExitCode {
    cargo_receipt::main_with_args(std::env::args_os())
}
