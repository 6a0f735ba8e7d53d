//! `evidence(..)`: arguments by name, `sealed(..)`, and `return`, on plain, `Result` and
//! `async` functions; without a run they are not recorded and the functions still work.
use receipt_runtime::receipt;

#[receipt(evidence(a, sealed(b)))]
fn args(a: u32, b: &str) -> usize {
    a as usize + b.len()
}

#[receipt(stage = "out", evidence(return))]
fn output(x: u32) -> Vec<u32> {
    vec![x; 2]
}

#[receipt(evidence(s, sealed(return)), hash(s), hash_output)]
fn fallible(s: &str) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

#[receipt(evidence(q, return))]
async fn asynchronous(q: String) -> String {
    q
}

#[receipt(evidence(r#type))]
fn raw_ident(r#type: u8) -> u8 {
    r#type
}

fn main() {
    assert_eq!(args(1, "xy"), 3);
    assert_eq!(output(4), vec![4, 4]);
    assert_eq!(fallible("5"), Ok(5));
    assert!(fallible("x").is_err());
    assert_eq!(futures::executor::block_on(asynchronous("a".into())), "a");
    assert_eq!(raw_ident(9), 9);
}
