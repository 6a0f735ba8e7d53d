//! Methods (all receivers), trait impls and `async fn`.
use receipt_runtime::receipt;

#[derive(serde::Serialize, Clone)]
struct Counter {
    n: u64,
}

impl Counter {
    #[receipt(hash(self), hash_output)]
    fn get(&self) -> u64 {
        self.n
    }

    #[receipt(stage = "counter.bump", hash(by))]
    fn bump(&mut self, by: u64) {
        self.n += by;
    }

    #[receipt]
    fn into_inner(self) -> u64 {
        self.n
    }

    #[receipt(hash(self, k), hash_output)]
    async fn scaled(&self, k: u64) -> u64 {
        futures::future::ready(()).await;
        self.n * k
    }
}

trait Named {
    fn name(&self) -> String;
}

impl Named for Counter {
    #[receipt(stage = "named")]
    fn name(&self) -> String {
        format!("counter {}", self.n)
    }
}

#[receipt(stage = "load", hash(n))]
async fn load(n: u64) -> Result<u64, String> {
    let c = Counter { n };
    let v = c.scaled(2).await;
    if v > 10 { Err("too big".to_owned()) } else { Ok(v) }
}

#[receipt]
async fn unit() {}

fn main() {
    let mut c = Counter { n: 1 };
    c.bump(2);
    assert_eq!(c.get(), 3);
    assert_eq!(c.name(), "counter 3");
    assert_eq!(futures::executor::block_on(c.scaled(2)), 6);
    assert_eq!(c.into_inner(), 3);
    assert_eq!(futures::executor::block_on(load(2)), Ok(4));
    assert!(futures::executor::block_on(load(9)).is_err());
    futures::executor::block_on(unit());
}
