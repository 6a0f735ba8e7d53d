//! Every argument form on free, generic and `Result`-returning functions.
use receipt_runtime::receipt;

#[receipt]
fn plain(a: u32, b: u32) -> u32 {
    a + b
}

#[receipt(stage = "named", hash(a, b), hash_output)]
fn hashed(a: u32, b: String) -> String {
    format!("{a}{b}")
}

#[receipt(skip_all)]
fn skipped(_secret: &str) {}

#[receipt(stage = "second", after = "named")]
fn second() -> u8 {
    return 2;
}

#[receipt(hash(items), hash_output)]
fn generic<T: serde::Serialize + Clone>(items: &[T]) -> Vec<T> {
    items.to_vec()
}

#[receipt(stage = "fallible", hash(s), hash_output)]
fn fallible(s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.parse()?;
    Ok(n + 1)
}

#[receipt]
fn io_result() -> std::io::Result<()> {
    Ok(())
}

#[receipt]
fn returns_impl() -> impl Iterator<Item = u8> {
    vec![1u8, 2].into_iter()
}

#[receipt]
fn mutates(mut v: Vec<u8>) -> usize {
    v.push(1);
    v.len()
}

fn main() {
    assert_eq!(plain(1, 2), 3);
    assert_eq!(hashed(1, "x".into()), "1x");
    skipped("s");
    assert_eq!(second(), 2);
    assert_eq!(generic(&[1, 2]), vec![1, 2]);
    assert_eq!(fallible("4"), Ok(5));
    assert!(fallible("x").is_err());
    assert!(io_result().is_ok());
    assert_eq!(returns_impl().count(), 2);
    assert_eq!(mutates(vec![]), 1);
}
