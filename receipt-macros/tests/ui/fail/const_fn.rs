use receipt_runtime::receipt;

#[receipt]
const fn f() -> u8 {
    1
}

fn main() {
    let _ = f();
}
