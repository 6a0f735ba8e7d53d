//! The `lake-receipt` binary: a thin shell over the `lake_bridge` library.
fn main() -> std::process::ExitCode {
    lake_bridge::run_cli(std::env::args_os())
}
