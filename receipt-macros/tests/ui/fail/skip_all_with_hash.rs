use receipt_runtime::receipt;

#[receipt(hash(a), skip_all)]
fn f(a: u32) -> u32 {
    a
}

fn main() {}
