use receipt_runtime::receipt;

#[receipt(hash(a, c))]
fn f(a: u32, b: u32) -> u32 {
    a + b
}

fn main() {}
