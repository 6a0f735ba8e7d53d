use receipt_runtime::receipt;

#[receipt(stage = parse)]
fn f() {}

#[receipt(after = "")]
fn g() {}

fn main() {}
