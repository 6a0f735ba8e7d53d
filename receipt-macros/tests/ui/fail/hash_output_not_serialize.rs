use receipt_runtime::receipt;

struct Opaque;

#[receipt(hash_output)]
fn f() -> Opaque {
    Opaque
}

fn main() {}
