use receipt_runtime::receipt;

#[receipt(evidence(a, nope))]
fn f(a: u32) -> u32 {
    a
}

fn main() {}
