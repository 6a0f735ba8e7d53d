//! Header parsing and receipt writing over a generated 7,000-module Lake project.

use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lake_bridge::emit::{BuildOptions, build};
use lake_bridge::header::parse_header;
use lake_bridge::modules::ModuleGraph;
use lake_bridge::project::Project;
use rayon::prelude::*;
use receipt_graph::{TauSeed, rank, tau};
use receipt_primitives::Timestamp;
use receipt_scan::{ScanOptions, scan};

const MODULES: usize = 7_000;
const PER_DIR: usize = 100;

/// A library `Gen` of 7,000 modules in 70 directories; module i imports up to four earlier
/// modules, and every header carries comments and a docstring like real Lean files.
fn generate(root: &Path) {
    fs::write(
        root.join("lakefile.toml"),
        "name = \"gen\"\n[[lean_lib]]\nname = \"Gen\"\nglobs = [\"Gen.+\"]\n",
    )
    .unwrap();
    fs::write(root.join("lean-toolchain"), "leanprover/lean4:v4.21.0\n").unwrap();
    let name = |i: usize| format!("Gen.D{:02}.M{:04}", i / PER_DIR, i);
    for i in 0..MODULES {
        let dir = root.join(format!("Gen/D{:02}", i / PER_DIR));
        if i % PER_DIR == 0 {
            fs::create_dir_all(&dir).unwrap();
        }
        let mut text = String::from("/-\nCopyright (c) 2026. All rights reserved.\n-/\nmodule\n\n");
        text.push_str("public import Lean.Elab.Command\n");
        for k in [1usize, 7, 61, 997] {
            if i >= k {
                text.push_str(&format!("import {} -- dependency {k}\n", name(i - k)));
            }
        }
        text.push_str("\n/-! # Module docs\nimport Not.An.Import\n-/\n\npublic section\n");
        for j in 0..20 {
            text.push_str(&format!("theorem t{j} : {j} + 0 = {j} := by simp\n"));
        }
        fs::write(dir.join(format!("M{i:04}.lean")), text).unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path());
    let out = tempfile::tempdir().unwrap();
    let opts = BuildOptions {
        project: dir.path().to_path_buf(),
        out: Some(out.path().to_path_buf()),
        lake: lake_bridge::LakeProgram::NotRun("benchmark".into()),
        lake_args: Vec::new(),
        timestamp: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
    };
    let project = Project::load(dir.path()).unwrap();
    let g = ModuleGraph::build(&project).unwrap();
    assert_eq!(g.sources.len(), MODULES);

    let paths: Vec<_> = g
        .sources
        .values()
        .map(|m| dir.path().join(&m.path))
        .collect();
    let texts: Vec<String> = paths
        .iter()
        .map(|p| fs::read_to_string(p).unwrap())
        .collect();

    let mut group = c.benchmark_group("lake-7000-modules");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.bench_function("baseline: read the 7000 files in parallel", |b| {
        b.iter(|| {
            let n: usize = paths.par_iter().map(|p| fs::read(p).unwrap().len()).sum();
            black_box(n)
        })
    });
    group.bench_function("parse 7000 headers in memory, one thread", |b| {
        b.iter(|| {
            let n: usize = texts
                .iter()
                .map(|t| parse_header(t).unwrap().imports.len())
                .sum();
            black_box(n)
        })
    });
    group.bench_function("parse headers + module graph", |b| {
        b.iter(|| {
            let project = Project::load(dir.path()).unwrap();
            black_box(ModuleGraph::build(&project).unwrap())
        })
    });
    let canonical = g.canonical().unwrap();
    group.bench_function("tau + rank of the module graph", |b| {
        let seed = TauSeed {
            producer: "p",
            timestamp: "2026-01-01T00:00:00Z",
            merkle_root: "00",
        };
        b.iter(|| black_box((tau(&canonical, &seed), rank(&canonical))))
    });
    let scan_opts = ScanOptions {
        cache_path: Some(dir.path().join(lake_bridge::emit::TRACKED_CACHE)),
        ..ScanOptions::default()
    };
    scan(dir.path(), &scan_opts).unwrap();
    group.bench_function("tracked set, warm digest cache", |b| {
        b.iter(|| black_box(scan(dir.path(), &scan_opts).unwrap()))
    });
    group.bench_function(
        "full receipt (headers, tracked set, graph, tau, rank, ledger append)",
        |b| b.iter(|| black_box(build(&opts).unwrap())),
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
