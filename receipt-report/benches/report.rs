//! Report rendering on large inputs made by the real writers: a run ledger of 10⁵ entries
//! (written by the runtime's Layer) and a build chain whose latest graph has 1,500 nodes
//! (appended through the ledger from a synthetic canonical graph). Each render includes
//! the input's full verification (`verify_run`, `verify_dir`), as `cargo receipt report`
//! does; the verification alone is measured as the baseline. Prints the size of each page.
//!
//! ```text
//! cargo bench -p receipt-report
//! ```

#[path = "../tests/common/synth.rs"]
mod synth;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();

    let ledger = dir.path().join("run.jsonl");
    synth::run(&ledger, 100_000);
    let lines = std::fs::read(&ledger)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    let page = receipt_report::render(&ledger).unwrap();
    assert!(page.verified);
    println!(
        "run ledger: {lines} entries, {} bytes of ledger -> {} bytes of HTML",
        std::fs::metadata(&ledger).unwrap().len(),
        page.html.len()
    );

    let chain = dir.path().join("receipt");
    let g = synth::graph(1_500);
    synth::chain(&chain, &g, 3, 4);
    let page = receipt_report::render(&chain).unwrap();
    assert!(page.verified);
    println!(
        "build chain: 3 entries, latest graph {} nodes / {} edges -> {} bytes of HTML",
        g.node_count(),
        g.edge_count(),
        page.html.len()
    );

    let mut group = c.benchmark_group("report");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("run_ledger_100k_entries", |b| {
        b.iter(|| receipt_report::render(&ledger).unwrap())
    });
    // Baseline: the verification alone, what `cargo receipt verify-run` costs.
    group.bench_function("baseline_verify_run_100k_entries", |b| {
        b.iter(|| assert!(receipt_runtime::verify::verify_run(&ledger, None).ok()))
    });
    group.bench_function("chain_graph_1500_nodes", |b| {
        b.iter(|| receipt_report::render(&chain).unwrap())
    });
    // Baseline: the verification alone, what `cargo receipt verify` costs.
    group.bench_function("baseline_verify_dir_graph_1500_nodes", |b| {
        b.iter(|| assert!(receipt_protocol::verify::verify_dir(&chain).ok()))
    });
    // The layout alone, without reading or verifying.
    group.bench_function("layout_graph_1500_nodes", |b| {
        b.iter(|| receipt_report::graph::render(&g, &|_| receipt_report::graph::NodeKind::Plain))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
