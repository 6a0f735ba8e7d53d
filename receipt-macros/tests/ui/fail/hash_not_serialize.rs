use receipt_runtime::receipt;

struct Opaque;

#[receipt(hash(o))]
fn f(o: Opaque) {
    let _ = o;
}

fn main() {}
