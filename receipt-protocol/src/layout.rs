//! The names inside a ledger directory (docs/SPEC.md §4, §14), defined once for every
//! writer and verifier: the chain head and its lock, the entries and the files each holds,
//! the view of the latest build, the signed checkpoint and the tree store.

/// File name of the chain head in a ledger root.
pub const CHAIN_HEAD: &str = "chain.head";
/// File name of the lock file in a ledger root.
pub const CHAIN_LOCK: &str = "chain.lock";
/// Directory of the immutable entries in a ledger root.
pub const RECEIPTS_DIR: &str = "receipts";
/// File name of a manifest, in an entry and in the view.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of a receipt, in an entry and in the view.
pub const RECEIPT_FILE: &str = "receipt.json";
/// File name of a graph, in an entry and in the view.
pub const GRAPH_FILE: &str = "graph.json";
/// File name of the receipt envelope in an entry directory.
pub const RECEIPT_ENVELOPE_FILE: &str = "receipt.dsse.json";
/// File name of the provenance envelopes (JSON Lines) in an entry directory.
pub const PROVENANCE_FILE: &str = "provenance.intoto.jsonl";
/// File name of the signed checkpoint in a ledger root.
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// Directory of the chain's tree store in a ledger root.
pub const TREE_DIR: &str = "tree";

/// The files an entry directory may hold: what an append writes, and the envelopes
/// signing adds. Only these are ever deleted from an entry that is not on the chain.
pub const ENTRY_FILES: [&str; 5] = [
    MANIFEST_FILE,
    RECEIPT_FILE,
    GRAPH_FILE,
    RECEIPT_ENVELOPE_FILE,
    PROVENANCE_FILE,
];
