//! Verification of evidence references, as a run ledger's `EVIDENCE` entries record them
//! (key, class, blob URI, size), against a store: one [`Check`] with id `evidence.blob` per
//! reference.
//!
//! | Outcome | Verdict |
//! |---|---|
//! | content read, hashed (sealed: decrypted and authenticated) and matching, size matching | PASS |
//! | sealed blob present with the recorded size, no key to verify its content | PASS, detail says "presence only" |
//! | blob expired by policy (a tombstone of the same blob and size) | WARN |
//! | neither blob nor tombstone; the store cannot be read | UNKNOWN |
//! | content or size does not match, authentication failed, bad tombstone | FAIL |
//!
//! [`Check`]: receipt_primitives::check::Check

use receipt_primitives::check::{CheckId, Report, Verdict};
use serde::{Deserialize, Serialize};

use crate::blob::{BlobUri, Class};
use crate::store::{Corruption, EvidenceStore, Fetched, Tombstone};

/// One evidence reference, as recorded in a ledger. It deserializes from an `EVIDENCE`
/// entry's payload, whose other members (times, thread, redaction record) are ignored, as
/// readers of payloads do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRef {
    /// The evidence key the program chose (e.g. `config`, `http.response`).
    pub key: String,
    /// The class it was stored in.
    pub class: Class,
    /// `blob://sha256:<hex>`.
    pub blob: BlobUri,
    /// Plaintext size in bytes.
    pub size: u64,
}

/// What was found for one reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Content verified against the digest, size as recorded.
    Verified,
    /// Sealed blob present with the recorded size; its content was not verified (no key).
    PresenceOnly,
    /// Expired by the retention policy.
    Expired(Tombstone),
    /// No blob and no tombstone.
    Missing,
    /// Something else is stored under the name.
    Corrupt(Corruption),
    /// The blob (or its tombstone) has another size than the ledger records.
    SizeMismatch {
        /// The size found.
        found: u64,
    },
    /// The store could not be read.
    Unreadable(String),
}

/// A reference and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefOutcome {
    /// The reference.
    pub reference: EvidenceRef,
    /// What was found.
    pub outcome: Outcome,
}

impl RefOutcome {
    /// The verdict of this outcome (see the module table).
    pub fn verdict(&self) -> Verdict {
        match self.outcome {
            Outcome::Verified | Outcome::PresenceOnly => Verdict::Pass,
            Outcome::Expired(_) => Verdict::Warn,
            Outcome::Missing | Outcome::Unreadable(_) => Verdict::Unknown,
            Outcome::Corrupt(_) | Outcome::SizeMismatch { .. } => Verdict::Fail,
        }
    }

    /// One sentence naming the reference and what was found.
    pub fn detail(&self) -> String {
        let r = &self.reference;
        let who = format!(
            "evidence {:?} ({}, {}, {} bytes)",
            receipt_primitives::check::echo(&r.key),
            r.blob,
            r.class,
            r.size
        );
        match &self.outcome {
            Outcome::Verified => format!("{who}: content verified"),
            Outcome::PresenceOnly => format!(
                "{who}: presence only: the sealed blob exists with the recorded size; its content was not verified (no evidence key)"
            ),
            Outcome::Expired(t) => format!(
                "{who}: expired by policy ({}) at {}, created {}",
                t.reason.as_str(),
                t.expired_at,
                t.created
            ),
            Outcome::Missing => format!("{who}: missing from the store (no blob and no tombstone)"),
            Outcome::Corrupt(c) => format!("{who}: corrupt: {c}"),
            Outcome::SizeMismatch { found } => {
                format!("{who}: the store holds {found} bytes under this name")
            }
            Outcome::Unreadable(e) => format!("{who}: the store could not be read: {e}"),
        }
    }
}

/// Looks up one reference.
pub fn verify_ref(store: &EvidenceStore, reference: &EvidenceRef) -> RefOutcome {
    let outcome = match store.get(reference.class, reference.blob.digest()) {
        Err(e) => Outcome::Unreadable(receipt_primitives::check::echo(&e.to_string())),
        Ok(Fetched::Verified(bytes)) if bytes.len() as u64 == reference.size => Outcome::Verified,
        Ok(Fetched::Verified(bytes)) => Outcome::SizeMismatch {
            found: bytes.len() as u64,
        },
        Ok(Fetched::PresentUnverified { plaintext_size }) if plaintext_size == reference.size => {
            Outcome::PresenceOnly
        }
        Ok(Fetched::PresentUnverified { plaintext_size }) => Outcome::SizeMismatch {
            found: plaintext_size,
        },
        Ok(Fetched::Expired(t)) if t.size == reference.size => Outcome::Expired(t),
        Ok(Fetched::Expired(t)) => Outcome::SizeMismatch { found: t.size },
        Ok(Fetched::Missing) => Outcome::Missing,
        Ok(Fetched::Corrupt(c)) => Outcome::Corrupt(c),
    };
    RefOutcome {
        reference: reference.clone(),
        outcome,
    }
}

/// Looks up every reference, in order.
pub fn verify_refs(store: &EvidenceStore, refs: &[EvidenceRef]) -> Vec<RefOutcome> {
    refs.iter().map(|r| verify_ref(store, r)).collect()
}

/// One `evidence.blob` check per outcome, in order.
pub fn report(outcomes: &[RefOutcome]) -> Report {
    let mut rep = Report::default();
    for o in outcomes {
        rep.push(CheckId::EvidenceBlob, o.verdict(), None, o.detail());
    }
    rep
}

/// One UNKNOWN `evidence.blob` check per reference, for when the store itself could not be
/// opened (`why` says so).
pub fn report_store_unavailable(refs: &[EvidenceRef], why: &str) -> Report {
    let outcomes: Vec<RefOutcome> = refs
        .iter()
        .map(|r| RefOutcome {
            reference: r.clone(),
            outcome: Outcome::Unreadable(receipt_primitives::check::echo(why)),
        })
        .collect();
    report(&outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_reads_from_a_ledger_payload_and_refuses_bad_uris() {
        let payload = serde_json::json!({
            "blob": "blob://sha256:ecf59a2696ca44a417e20e2a7eabb1b26e82c779f8546bea354a2cc80e8e1eed",
            "class": "sealed",
            "key": "request",
            "redaction": {"detectors": {}, "spans": 0},
            "size": 13,
            "stage_id": 4,
            "t_ns": 1200,
            "thread": 0
        });
        let r: EvidenceRef = serde_json::from_value(payload.clone()).unwrap();
        assert_eq!(
            (r.key.as_str(), r.class, r.size),
            ("request", Class::Sealed, 13)
        );
        let mut bad = payload;
        bad["blob"] = "blob://sha256:ECF5".into();
        assert!(serde_json::from_value::<EvidenceRef>(bad).is_err());
    }
}
