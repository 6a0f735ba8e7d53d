//! Redaction throughput on a generated "typical log" (8 MiB, 5 planted secrets per MiB):
//! the anchored scan of `Redactor::redact` against a naive baseline that runs every
//! detector's regex over the whole text, measured in the same run.
//!
//! `cargo bench -p receipt-evidence --bench redact`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use receipt_evidence::redact::{REDACTION_TOKEN, Redactor, builtin_detectors};
use regex::bytes::{Regex, RegexBuilder};

#[path = "common/corpus.rs"]
mod corpus;

/// The baseline: every built-in pattern (and a lazy PEM-block regex for the block scanner)
/// over the whole input, spans merged and replaced as the redactor does.
struct Naive(Vec<Regex>);

impl Naive {
    fn new() -> Naive {
        // The lazy name prefix of the assignment patterns only serves the anchored match;
        // a whole-text search does not need it, and it would defeat the regex crate's own
        // literal prefilter, so the baseline runs the patterns without it.
        let mut pats: Vec<String> = builtin_detectors()
            .iter()
            .filter_map(|d| d.pattern)
            .map(|p| {
                p.strip_prefix("[A-Za-z0-9_.-]{0,64}?")
                    .unwrap_or(p)
                    .to_owned()
            })
            .collect();
        pats.push(r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----.*?-----END [A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----".into());
        Naive(
            pats.iter()
                .map(|p| RegexBuilder::new(p).unicode(false).build().unwrap())
                .collect(),
        )
    }

    fn redact(&self, hay: &[u8]) -> Vec<u8> {
        let mut spans = Vec::new();
        for re in &self.0 {
            for c in re.captures_iter(hay) {
                let m = (1..c.len())
                    .find_map(|g| c.get(g))
                    .or_else(|| c.get(0))
                    .unwrap();
                spans.push((m.start(), m.end()));
            }
        }
        spans.sort_unstable();
        let mut out = Vec::with_capacity(hay.len());
        let mut at = 0;
        for (s, e) in spans {
            if s < at {
                at = at.max(e);
                continue;
            }
            out.extend_from_slice(&hay[at..s]);
            out.extend_from_slice(REDACTION_TOKEN);
            at = e;
        }
        out.extend_from_slice(&hay[at..]);
        out
    }
}

fn bench(c: &mut Criterion) {
    let (log, secrets) = corpus::typical_log(8 << 20, 5, 7);
    let redactor = Redactor::builtin();
    let naive = Naive::new();
    // Both find the planted secrets: the comparison is between working scanners.
    let out = redactor.redact(&log);
    assert_eq!(out.record.spans as usize, secrets.len(), "{:?}", out.record);
    let mut g = c.benchmark_group("redact/typical_log_8MiB");
    g.throughput(Throughput::Bytes(log.len() as u64));
    g.sample_size(20);
    g.bench_function("anchored", |b| {
        b.iter(|| black_box(redactor.redact(black_box(&log))).record.spans)
    });
    g.bench_function("naive_every_regex", |b| {
        b.iter(|| black_box(naive.redact(black_box(&log))).len())
    });
    g.finish();

    // One small value, as a runtime redacts evidence before hashing it: 1 KiB of canonical
    // JSON, without and with a secret.
    let clean = format!(
        "{{\"config\":{{\"endpoint\":\"https://api.example.com/v2\",\"retries\":3,\"timeout_ms\":2500}},\"note\":\"{}\"}}",
        "lorem ipsum dolor sit amet ".repeat(34)
    );
    let secret = clean.replacen("lorem", "password=hunter22 lorem", 1);
    let mut g = c.benchmark_group("redact/value_1KiB");
    for (name, v) in [("clean", &clean), ("one_secret", &secret)] {
        g.throughput(Throughput::Bytes(v.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(redactor.redact(black_box(v.as_bytes())))
                    .record
                    .spans
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
