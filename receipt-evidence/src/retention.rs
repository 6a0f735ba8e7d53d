//! Retention: expires blobs by age and by total size per class, leaving a tombstone for each
//! so that verification reports "expired by policy" rather than "missing". Deterministic
//! given `now`; touches only objects of the store layout.
//!
//! Per class, in this order:
//! 1. every blob whose age (`now` − its metadata record's `created`) is more than `max_age`
//!    is expired with reason `max_age`;
//! 2. if the remaining blobs take more than `max_total_bytes` (stored bytes: sealed blobs
//!    count their 40 bytes of nonce and tag), the oldest are expired, ordered by `created`
//!    then digest, until the rest fits, with reason `max_total_bytes`.
//!
//! A blob without a valid metadata record is never expired (its age is unknown) and is not
//! counted; it is listed in the report. A metadata record without a blob (an interrupted
//! write) is removed once it is more than an hour old.

use std::collections::BTreeMap;

use receipt_primitives::{Digest, Timestamp};

use crate::blob::Class;
use crate::policy::Retention;
use crate::store::{EvidenceStore, ExpiryReason, StoreError, TOMBSTONE_SCHEMA, Tombstone};

/// How long a metadata record without its blob is left alone (a write may be in progress).
pub const ORPHAN_GRACE_SECS: i64 = 3600;

/// What a retention run did (or, from [`plan`], would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Tombstones written, in the order the blobs were expired.
    pub expired: Vec<Tombstone>,
    /// Metadata records without a blob that were removed.
    pub orphan_meta_removed: Vec<(Class, Digest)>,
    /// Blobs without a valid metadata record, left alone.
    pub unmanaged: Vec<(Class, Digest)>,
    /// Keys under a class prefix that the layout does not produce, left alone.
    pub foreign: Vec<String>,
    /// Per class: blobs kept and their stored bytes.
    pub kept: BTreeMap<Class, (u64, u64)>,
}

/// What retention would do at `now`, without changing anything.
///
/// # Errors
/// Backend errors while listing.
pub fn plan(
    store: &EvidenceStore,
    retention: &Retention,
    now: Timestamp,
) -> Result<GcReport, StoreError> {
    let mut report = GcReport::default();
    for class in Class::ALL {
        let limits = retention.limits(class);
        let inv = store.inventory(class)?;
        report.foreign.extend(inv.foreign);
        for m in inv.orphan_meta {
            if now.unix() - m.created.unix() > ORPHAN_GRACE_SECS {
                report.orphan_meta_removed.push((class, m.digest));
            }
        }
        // (created, digest, stored size, plaintext size)
        let mut live = Vec::new();
        for b in inv.blobs {
            match b.meta {
                Some(m) => live.push((m.created, b.digest, b.stored_size, m.size)),
                None => report.unmanaged.push((class, b.digest)),
            }
        }
        live.sort();
        let tomb = |(created, digest, _, size): (Timestamp, Digest, u64, u64), reason| Tombstone {
            schema: TOMBSTONE_SCHEMA.to_owned(),
            class,
            digest,
            size,
            created,
            expired_at: now,
            reason,
        };
        let mut kept = Vec::with_capacity(live.len());
        for b in live {
            let too_old = limits
                .max_age_secs
                .is_some_and(|max| now.unix() - b.0.unix() > max as i64);
            if too_old {
                report.expired.push(tomb(b, ExpiryReason::MaxAge));
            } else {
                kept.push(b);
            }
        }
        let mut total: u64 = kept.iter().map(|b| b.2).sum();
        let mut first_kept = 0;
        if let Some(cap) = limits.max_total_bytes {
            while total > cap && first_kept < kept.len() {
                total -= kept[first_kept].2;
                report
                    .expired
                    .push(tomb(kept[first_kept], ExpiryReason::MaxTotalBytes));
                first_kept += 1;
            }
        }
        report
            .kept
            .insert(class, ((kept.len() - first_kept) as u64, total));
    }
    Ok(report)
}

/// Applies retention at `now`: computes [`plan`], then writes each tombstone and deletes its
/// blob and metadata record, and removes stale orphan metadata records.
///
/// # Errors
/// Backend errors; blobs expired before the error stay expired, the rest are untouched.
pub fn gc(
    store: &EvidenceStore,
    retention: &Retention,
    now: Timestamp,
) -> Result<GcReport, StoreError> {
    let report = plan(store, retention, now)?;
    for t in &report.expired {
        store.expire(t)?;
    }
    for (class, digest) in &report.orphan_meta_removed {
        store.remove_orphan_meta(*class, digest)?;
    }
    Ok(report)
}
