use receipt_runtime::receipt;

#[receipt(evidence(return))]
fn f(a: u32) {
    let _ = a;
}

fn main() {}
