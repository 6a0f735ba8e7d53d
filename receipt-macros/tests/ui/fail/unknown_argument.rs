use receipt_runtime::receipt;

#[receipt(stage = "a", level = "info")]
fn f() {}

fn main() {}
