use receipt_runtime::receipt;

#[receipt(stage = "a", hash_output, stage = "b")]
fn f() -> u8 {
    1
}

fn main() {}
