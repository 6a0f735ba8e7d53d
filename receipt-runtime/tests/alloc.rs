//! With the counting allocator installed, stages record the bytes they allocate.

use receipt_runtime::{ReceiptLayer, receipt};
use tracing_subscriber::prelude::*;

#[global_allocator]
static ALLOC: receipt_runtime::alloc::CountingAlloc = receipt_runtime::alloc::CountingAlloc;

#[receipt(stage = "allocate")]
fn allocate(n: usize) -> usize {
    let v = vec![7u8; n];
    std::hint::black_box(&v).len()
}

#[test]
fn allocated_bytes_are_counted_per_stage() {
    let dir = tempfile::tempdir().unwrap();
    let (layer, run) = ReceiptLayer::builder(dir.path().join("a.jsonl"))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        allocate(1 << 20);
    });
    let out = run.finish().unwrap();
    let text = std::fs::read_to_string(&out.ledger).unwrap();
    let exit = text
        .lines()
        .map(|l| receipt_runtime::entry::parse_line(l.as_bytes()).unwrap())
        .find(|e| e.kind == "STAGE_EXIT")
        .unwrap();
    let bytes = exit.payload["alloc_bytes"].as_u64().unwrap();
    assert!(bytes >= 1 << 20, "{bytes}");
    assert!(out.receipt.resources["alloc_bytes"].as_u64().unwrap() >= 1 << 20);
    assert!(receipt_runtime::verify::verify_run(&out.ledger, None).ok());
}
