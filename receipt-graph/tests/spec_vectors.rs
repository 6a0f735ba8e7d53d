//! The worked example of docs/SPEC.md §4, pinned byte for byte.

use receipt_graph::{CanonicalGraph, TauSeed, rank, rank_kernel, seed_vector, tau};
use sha2::{Digest, Sha256};

const SEED: TauSeed<'static> = TauSeed {
    producer: "cargo-receipt/0.1.0",
    timestamp: "2026-11-23T12:00:00Z",
    merkle_root: "4f2b0c1d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c",
};

fn example() -> CanonicalGraph {
    CanonicalGraph::new(
        Vec::<&str>::new(),
        [
            ("serde", "log"),
            ("app", "core"),
            ("core", "serde"),
            ("app", "serde"),
        ],
    )
    .unwrap()
}

#[test]
fn graph_json_and_digest() {
    let g = example();
    assert_eq!(
        g.to_json_bytes(),
        br#"{"edges":[[0,1],[0,3],[1,3],[3,2]],"nodes":["app","core","log","serde"],"schema":"tau-crystal.graph/1"}"#
    );
    assert_eq!(
        g.digest_hex(),
        "e732047faa0c3ade5c18458ac50aa9a89269bedde19d8807b980a8263c2a75aa"
    );
}

#[test]
fn seed_and_signs() {
    let s = Sha256::digest(
        [SEED.producer, SEED.timestamp, SEED.merkle_root]
            .concat()
            .as_bytes(),
    );
    assert_eq!(
        format!("{s:x}"),
        "daba0925eeadb266b4063ca1c448afa860e089ebede39f551fd0887586e64ee9"
    );
    assert_eq!(seed_vector(&SEED, 4), [0.5, 0.5, -0.5, -0.5]);
}

#[test]
fn tau_report_is_exact() {
    let report = tau(&example(), &SEED);
    let expected = r#"{"k":16,"line_nodes":4,"moments":[1,0.16666666666666674,-0.8888888888888888,-0.42592592592592593,0.6049382716049381,0.4958847736625513,-0.27434842249657054,-0.34545038866026495,0.04404816338972714,0.04148249758674961,-0.016393164998560722,0.28092205908087675,0.20367453771914523,-0.4784723672681134,-0.5226561158978875,0.463368290002855,0.8315683092331242],"partial_sums":[1,1.0833333333333335,1.3055555555555558,1.3587962962962965,1.396604938271605,1.4121013374485598,1.4163880315500688,1.419086862711477,1.4192589258497181,1.4193399463528173,1.4193559553030113,1.4194931242771718,1.419542849506107,1.419601256777502,1.4196331571752008,1.4196472980531916,1.4196599867786133],"recipe":"tau-crystal/1.2+H=L-I","tau":"1.419660"}"#;
    assert_eq!(serde_jcs::to_string(&report).unwrap(), expected);
}

#[test]
fn rank_transcripts() {
    let g = example();
    for run in rank_kernel(&g) {
        assert_eq!(run.transcript(), "0 1\n1 3\n3 2\n");
    }
    let expected = format!("{:x}", Sha256::digest(b"0 1\n1 3\n3 2\n"));
    assert_eq!(
        expected,
        "f90d74e813fee8b6224843afd1ece7cd46eb2fc89e0f545f1addf2b94117ae53"
    );
    for entry in rank(&g).primes {
        assert_eq!(entry.rank, 3);
        assert_eq!(entry.transcript_sha256, expected);
    }
}
