//! The one verification vocabulary: every verifier (build chains, run ledgers, Lake
//! projects, signatures and policies, the server) reports named checks with a [`Verdict`],
//! and every check id is a [`CheckId`] variant, so a misspelled id does not compile.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The outcome of one check, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The property holds.
    Pass,
    /// Something is off that does not break the protocol (a crash remnant, a recorded
    /// violation, an expired evidence blob).
    Warn,
    /// The check could not be made (missing, unreadable or too large input); counts as a
    /// failure, never as a pass.
    Unknown,
    /// The property does not hold.
    Fail,
}

impl Verdict {
    /// Whether this verdict lets a verification succeed (`PASS` or `WARN`).
    pub fn is_ok(self) -> bool {
        matches!(self, Verdict::Pass | Verdict::Warn)
    }

    /// The upper-case word printed for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Unknown => "UNKNOWN",
            Verdict::Fail => "FAIL",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

macro_rules! check_ids {
    ($( $(#[$doc:meta])* $variant:ident => $id:literal, )*) => {
        /// A check's stable identifier: `area.name`, lower case, `snake_case` after the dot.
        ///
        /// The text forms are part of the command-line and JSON output contract (listed in
        /// `docs/SPEC.md` §7, §8.7, §10.8 and the signing and policy sections).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum CheckId {
            $( $(#[$doc])* $variant, )*
        }

        impl CheckId {
            /// Every id, in declaration order.
            pub const ALL: &'static [CheckId] = &[$(CheckId::$variant,)*];

            /// The id's text form, e.g. `chain.head`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( CheckId::$variant => $id, )*
                }
            }
        }

        impl FromStr for CheckId {
            type Err = UnknownCheckId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $id => Ok(CheckId::$variant), )*
                    _ => Err(UnknownCheckId(s.chars().take(200).collect())),
                }
            }
        }
    };
}

check_ids! {
    // --- build chains (docs/SPEC.md §7) ---------------------------------------------------
    /// `chain.head` exists, is non-empty and well formed.
    ChainHead => "chain.head",
    /// Every head line's hash is the SHA-256 of the receipt file it names.
    ChainHeadHash => "chain.head_hash",
    /// Every named receipt is canonical JSON of the receipt schema.
    ChainReceiptForm => "chain.receipt_form",
    /// Every receipt's `prev` is the line before it.
    ChainPrevLinks => "chain.prev_links",
    /// The top-level view is the chain's latest entry.
    ChainView => "chain.view",
    /// Entry directories that no head line names.
    ChainOrphans => "chain.orphans",
    /// The latest entry could be read for the producer's own checks.
    ChainLatest => "chain.latest",
    /// Every manifest is canonical v1.2.
    ManifestGrammar => "manifest.grammar",
    /// Every receipt names its manifest's SHA-256.
    ManifestBinding => "manifest.binding",
    /// Every receipt's `reflective.merkle_root` equals its manifest's.
    ManifestMerkleRoot => "manifest.merkle_root",
    /// Every manifest's ingress hash is the hash of its receipt's preimage.
    ManifestIngress => "manifest.ingress",
    /// Every graph file hashes to its receipt's graph digest.
    GraphDigest => "graph.digest",
    /// Every graph file is a canonical graph with the recorded counts.
    GraphForm => "graph.form",
    /// τ recomputed from every graph equals the receipt's.
    GraphTau => "graph.tau",
    /// The rank report recomputed from every graph equals the receipt's.
    GraphRank => "graph.rank",
    /// No manifest's timestamp is earlier than the one before it on the chain.
    ManifestTimestampOrder => "manifest.timestamp_order",
    /// Every receipt's `kind` is a known producer family.
    BuildKind => "build.kind",
    /// Every receipt's `producer` is its manifest's.
    BuildProducer => "build.producer",
    /// Every source section agrees with the manifest; a recorded commit is a commit id.
    BuildSource => "build.source",
    /// Every work section's status agrees with its exit code.
    BuildWork => "build.work",
    /// Every artifact path is valid, listed once, in byte order.
    BuildArtifacts => "build.artifacts",
    // --- producer checks on the latest entry (§8.7) ---------------------------------------
    /// The receipt's tracked listing hashes to the manifest's `merkle_root`.
    SourceListing => "source.listing",
    /// The current work tree hashes to the manifest's `merkle_root`.
    SourceTree => "source.tree",
    /// The recorded commit is the work tree's `HEAD`.
    SourceCommit => "source.commit",
    /// Every recorded artifact has its recorded SHA-256.
    ArtifactsHashes => "artifacts.hashes",
    // --- run ledgers (§10.8) --------------------------------------------------------------
    /// The ledger could be opened and read.
    LedgerRead => "ledger.read",
    /// Every line parses as an entry.
    LedgerParse => "ledger.parse",
    /// Every line is canonical JSON.
    LedgerCanonical => "ledger.canonical",
    /// Every line's `hash` is its entry hash.
    LedgerHash => "ledger.hash",
    /// `seq` counts up from 0 without gaps.
    LedgerSeq => "ledger.seq",
    /// Every `prev` links to the line before it (or the genesis link).
    LedgerChain => "ledger.chain",
    /// Every line has the run id of line 0.
    LedgerRunId => "ledger.run_id",
    /// The head file agrees with the ledger.
    LedgerHead => "ledger.head",
    /// Line 0, and only line 0, is `RUN_START`.
    RunStart => "run.start",
    /// Exactly one `RUN_FINALIZE`, on the last line.
    RunFinalize => "run.finalize",
    /// Stage enters and exits nest properly.
    RunStages => "run.stages",
    /// Every stage transition is legal or recorded as a violation.
    RunTransitions => "run.transitions",
    /// The run id follows the run-id grammar (1 to 128 of `[A-Za-z0-9._-]`).
    RunId => "run.id",
    /// `RUN_START.schema` is the ledger schema this verifier knows.
    RunSchema => "run.schema",
    /// `started_at` and `finished_at` are timestamps.
    RunTimestamps => "run.timestamps",
    /// The arguments hash and every stage input and output hash is a SHA-256 hex digest
    /// or null.
    RunHashes => "run.hashes",
    /// Every stage outcome and the run's final status are known values.
    RunStatus => "run.status",
    /// No stage id is used by two `STAGE_ENTER` entries.
    RunStageIds => "run.stage_ids",
    /// Every stage's `wall_ns` is its exit time minus its enter time.
    RunWallNs => "run.wall_ns",
    /// The run receipt could be read.
    ReceiptRead => "receipt.read",
    /// The run receipt's run id is the ledger's.
    ReceiptRunId => "receipt.run_id",
    /// The run receipt's counts match the ledger.
    ReceiptCount => "receipt.count",
    /// The run receipt's last hash is the ledger's last line's.
    ReceiptLastHash => "receipt.last_hash",
    /// The run receipt's Merkle root is recomputed from the ledger.
    ReceiptMerkleRoot => "receipt.merkle_root",
    /// The run receipt's trajectory digest is recomputed from the ledger.
    ReceiptTrajectory => "receipt.trajectory",
    /// The run receipt's summary is what the ledger gives.
    ReceiptSummary => "receipt.summary",
    // --- signatures and policies (docs/SPEC.md §14.9, §14.11) -----------------------------
    /// Every entry's `receipt.dsse.json` verifies with a trusted key and signs its receipt.
    SignReceipt => "sign.receipt",
    /// Every entry's provenance envelopes verify and agree with the entry.
    SignProvenance => "sign.provenance",
    /// The ledger's `checkpoint` verifies and is the tree head of the whole chain.
    SignCheckpoint => "sign.checkpoint",
    /// An older checkpoint (`--since`) verifies and is a tree head of a prefix of the chain.
    SignSince => "sign.since",
    /// The tree store agrees with the chain (a cache: WARN otherwise).
    SignTree => "sign.tree",
    /// Every signed statement names the policy's builder id.
    PolicyBuilder => "policy.builder",
    /// Every signed statement names the policy's source repository.
    PolicyRepository => "policy.repository",
    /// The latest entry was built from an allowed commit or branch.
    PolicySource => "policy.source",
    /// Every signature that verified is by a key the policy allows.
    PolicyKeys => "policy.keys",
    /// The chain is at least as long as the policy asks.
    PolicyChainLength => "policy.chain_length",
    /// Every check the policy requires was made.
    PolicyChecks => "policy.checks",
    // --- evidence blobs (docs/SPEC.md §16.10) ---------------------------------------------
    /// One evidence reference: its blob is present and verified (sealed without a key:
    /// present, content unverified), expired by policy, missing, or corrupt.
    EvidenceBlob => "evidence.blob",
    // --- evidence entries and run invariants (docs/SPEC.md §16) ---------------------------
    /// Every `EVIDENCE` entry is well formed and lies inside an open stage.
    RunEvidence => "run.evidence",
    /// The ledger's integrity checks hold: read, parse, canonical form, hashes, seq, chain,
    /// run id, head file.
    InvariantLedgerChainValid => "invariant.ledger_chain_valid",
    /// Every stage that entered exited, the run receipt covers every entry, every required
    /// evidence key is recorded and every evidence blob is retrievable and matches its
    /// digest.
    InvariantReceiptCompleteness => "invariant.receipt_completeness",
    /// The decision stage completed with its decision evidence, and nothing was silently
    /// downgraded.
    InvariantEvaluationCompleteness => "invariant.evaluation_completeness",
    /// The run ended cleanly: `RUN_FINALIZE` last, status `ok`, nothing open, the decision
    /// stage last before it.
    InvariantFinalizationCompleteness => "invariant.finalization_completeness",
    /// Exactly one `RUN_FINALIZE`, on the last line.
    InvariantSingleFinalize => "invariant.run_shape.single_finalize",
    /// The required stages completed, in the declared order.
    InvariantStageRequiredPath => "invariant.run_shape.stage_required_path",
    /// One user-declared invariant of the run policy file.
    InvariantUser => "invariant.user",
}

impl CheckId {
    /// The checks of a run-ledger verification, in report order (docs/SPEC.md §10.8).
    pub const RUN: [CheckId; 26] = [
        CheckId::LedgerRead,
        CheckId::LedgerParse,
        CheckId::LedgerCanonical,
        CheckId::LedgerHash,
        CheckId::LedgerSeq,
        CheckId::LedgerChain,
        CheckId::LedgerRunId,
        CheckId::LedgerHead,
        CheckId::RunStart,
        CheckId::RunFinalize,
        CheckId::RunStages,
        CheckId::RunTransitions,
        CheckId::RunId,
        CheckId::RunSchema,
        CheckId::RunTimestamps,
        CheckId::RunHashes,
        CheckId::RunStatus,
        CheckId::RunStageIds,
        CheckId::RunWallNs,
        CheckId::ReceiptRead,
        CheckId::ReceiptRunId,
        CheckId::ReceiptCount,
        CheckId::ReceiptLastHash,
        CheckId::ReceiptMerkleRoot,
        CheckId::ReceiptTrajectory,
        CheckId::ReceiptSummary,
    ];

    /// The checks of [`CheckId::RUN`] whose id starts with `prefix` (`"ledger."`,
    /// `"receipt."`), in report order: the groups the run invariants and the run export
    /// are stated over.
    pub fn run_group(prefix: &str) -> impl Iterator<Item = CheckId> + '_ {
        CheckId::RUN
            .into_iter()
            .filter(move |id| id.as_str().starts_with(prefix))
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for CheckId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A check id that is not one of [`CheckId`]'s: reading it fails closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a known check id")]
pub struct UnknownCheckId(pub String);

/// One named check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Which check.
    #[serde(rename = "name")]
    pub id: CheckId,
    /// The outcome.
    pub verdict: Verdict,
    /// One plain sentence: what was verified, or the first problem found.
    pub detail: String,
    /// The file the check is about, relative to what was verified, when there is one.
    pub file: Option<String>,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<7} {:<21} {}", self.verdict, self.id, self.detail)
    }
}

/// The checks of one verification, in the order they were made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether the verification succeeded: at least one check, none `FAIL` or `UNKNOWN`.
    pub fn ok(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.verdict.is_ok())
    }

    /// The worst verdict; `UNKNOWN` for a report without checks.
    pub fn verdict(&self) -> Verdict {
        self.checks
            .iter()
            .map(|c| c.verdict)
            .max()
            .unwrap_or(Verdict::Unknown)
    }

    /// Adds a check.
    pub fn push(
        &mut self,
        id: CheckId,
        verdict: Verdict,
        file: Option<&str>,
        detail: impl Into<String>,
    ) {
        self.checks.push(Check {
            id,
            verdict,
            detail: detail.into(),
            file: file.map(str::to_owned),
        });
    }

    /// The first check with this id.
    pub fn check(&self, id: CheckId) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// The checks that failed (`FAIL` or `UNKNOWN`).
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.verdict.is_ok())
    }

    /// Appends the checks of `other`.
    pub fn extend(&mut self, other: Report) {
        self.checks.extend(other.checks);
    }

    /// The report as pretty-printed JSON, `{"ok": bool, "checks": [...]}` followed by the
    /// members of `extra` (e.g. the paths verified), and a final newline.
    pub fn to_json(&self, extra: &[(&str, serde_json::Value)]) -> String {
        let mut doc = serde_json::Map::new();
        doc.insert("ok".into(), self.ok().into());
        for (k, v) in extra {
            doc.insert((*k).to_owned(), v.clone());
        }
        doc.insert(
            "checks".into(),
            serde_json::to_value(&self.checks).unwrap_or_default(),
        );
        let mut s =
            serde_json::to_string_pretty(&serde_json::Value::Object(doc)).unwrap_or_default();
        s.push('\n');
        s
    }
}

impl fmt::Display for Report {
    /// One line per check, then `verification passed` or `verification FAILED`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            writeln!(f, "{c}")?;
        }
        if self.ok() {
            writeln!(f, "verification passed")
        } else {
            let n = self.failures().count();
            writeln!(
                f,
                "verification FAILED: {n} check{} did not pass",
                if n == 1 { "" } else { "s" }
            )
        }
    }
}

/// Cuts `s` to at most 200 characters (adding `…`), for echoing hostile input in an error.
pub fn echo(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_reads_back_and_ids_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for &id in CheckId::ALL {
            let s = id.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert_eq!(s.parse::<CheckId>().unwrap(), id);
            // `area.name`, where the name may itself be dotted (`invariant.run_shape.x`).
            assert!(s.contains('.'), "{s}: area.name");
            for part in s.split('.') {
                assert!(!part.is_empty(), "{s}");
                assert!(
                    part.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{s}"
                );
            }
        }
    }

    #[test]
    fn an_unknown_id_fails_closed_when_read() {
        let j = r#"{"name":"ledger.chian","verdict":"PASS","detail":"x","file":null}"#;
        let e = serde_json::from_str::<Check>(j).unwrap_err().to_string();
        assert!(e.contains("not a known check id"), "{e}");
    }

    #[test]
    fn verdicts_order_from_best_to_worst_and_only_pass_and_warn_are_ok() {
        use Verdict::*;
        assert!(Pass < Warn && Warn < Unknown && Unknown < Fail);
        assert!(Pass.is_ok() && Warn.is_ok() && !Unknown.is_ok() && !Fail.is_ok());
        let mut r = Report::default();
        assert!(!r.ok(), "an empty report proves nothing");
        r.push(CheckId::ChainHead, Pass, None, "fine");
        r.push(CheckId::ChainView, Warn, None, "stale");
        assert!(r.ok());
        assert_eq!(r.verdict(), Warn);
        r.push(CheckId::ChainOrphans, Unknown, None, "unreadable");
        assert!(!r.ok());
        assert_eq!(r.failures().count(), 1);
    }

    #[test]
    fn json_round_trips() {
        let mut r = Report::default();
        r.push(CheckId::LedgerHash, Verdict::Fail, Some("run.jsonl"), "bad");
        let back: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let j = r.to_json(&[("ledger", "run.jsonl".into())]);
        assert!(j.contains("\"ok\": false") && j.contains("\"name\": \"ledger.hash\""));
    }

    #[test]
    fn run_groups_are_the_ledger_and_receipt_checks_in_report_order() {
        let ledger: Vec<CheckId> = CheckId::run_group("ledger.").collect();
        assert_eq!(ledger, CheckId::RUN[..8]);
        assert_eq!(ledger.last(), Some(&CheckId::LedgerHead));
        let receipt: Vec<CheckId> = CheckId::run_group("receipt.").collect();
        assert_eq!(receipt, CheckId::RUN[19..]);
        assert_eq!(receipt.first(), Some(&CheckId::ReceiptRead));
        assert_eq!(CheckId::run_group("nothing.").count(), 0);
    }

    #[test]
    fn echo_cuts_long_input() {
        assert_eq!(echo("abc"), "abc");
        let long = "é".repeat(500);
        let e = echo(&long);
        assert_eq!(e.chars().count(), 201);
        assert!(e.ends_with('…'));
    }
}
