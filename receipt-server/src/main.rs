//! `receipt-server`: the binary; everything it does is in the library.

fn main() -> std::process::ExitCode {
    receipt_server::cli::main_with_args(std::env::args_os())
}
