//! Size and cost limits on everything a verifier reads or recomputes (docs/SPEC.md §7.1):
//! a hostile directory can make a file as large, or a graph as dense, as it likes, and a
//! verifier must still answer in bounded memory and time. Each limit is far above what a
//! real build produces.

/// A manifest (about 300 bytes in practice).
pub const MANIFEST_BYTES: u64 = 64 << 10;
/// A receipt; its tracked listing grows with the tracked set (about 150 bytes a file, so
/// this admits over a million files).
pub const RECEIPT_BYTES: u64 = 256 << 20;
/// A graph file (`graph.json`).
pub const GRAPH_BYTES: u64 = 256 << 20;
/// The chain head (about 90 bytes a line).
pub const CHAIN_HEAD_BYTES: u64 = 256 << 20;
/// A file inclusion proof.
pub const PROOF_BYTES: u64 = 64 << 10;
/// A signed checkpoint.
pub const CHECKPOINT_BYTES: u64 = 64 << 10;
/// A DSSE envelope (it carries a whole receipt, base64-encoded).
pub const ENVELOPE_BYTES: u64 = RECEIPT_BYTES / 3 * 4 + (64 << 10);
/// A policy file.
pub const POLICY_BYTES: u64 = 1 << 20;
/// A key file.
pub const KEY_BYTES: u64 = 16 << 10;

/// What recomputing one graph's rank may spend: work units (accumulator entries scanned
/// plus basis-row entries added or combined, over the three primes; about 1.4 s on a
/// 2-core machine) and basis entries held at once (about 256 MiB). A 5,000-node,
/// 30,000-edge crate graph needs about a tenth of the work. Beyond either, `graph.rank`
/// is UNKNOWN with the reason.
pub const RANK_PER_GRAPH: receipt_graph::RankLimits = receipt_graph::RankLimits {
    work: 500_000_000,
    basis_entries: 32 << 20,
};
/// Work units all rank recomputations of one verification may spend together; graphs met
/// after it is spent are not re-ranked (`graph.rank` UNKNOWN). Identical graphs (by digest)
/// are ranked once.
pub const RANK_TOTAL_WORK: u64 = 2_000_000_000;
