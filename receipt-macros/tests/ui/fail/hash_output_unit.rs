use receipt_runtime::receipt;

#[receipt(hash_output)]
fn f() {}

fn main() {}
