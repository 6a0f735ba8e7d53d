//! One store test suite, run against the directory backend (one test per case) and against
//! a real local S3 API (moto in server mode, started here and killed at the end).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use receipt_evidence::blob::{Class, Prepared};
use receipt_evidence::key::SealKey;
use receipt_evidence::policy::{ClassLimits, Retention};
use receipt_evidence::retention::{gc, plan};
use receipt_evidence::store::{
    Corruption, EvidenceStore, ExpiryReason, Fetched, OpenOptions, PutOutcome, StoreError,
    blob_key, meta_key, tombstone_key,
};
use receipt_evidence::verify::{EvidenceRef, Outcome, report, verify_refs};
use receipt_primitives::check::Verdict;
use receipt_primitives::{Digest, Timestamp};
use receipt_testkit::python;

/// Where fresh stores are made.
enum Harness {
    Dir(tempfile::TempDir),
    S3 { endpoint: String, bucket: String },
}

static FRESH: AtomicU64 = AtomicU64::new(0);

impl Harness {
    fn location(&self) -> String {
        let n = FRESH.fetch_add(1, Ordering::Relaxed);
        match self {
            Harness::Dir(t) => t.path().join(format!("store-{n}")).display().to_string(),
            Harness::S3 { bucket, .. } => format!("s3://{bucket}/case-{n}/evidence"),
        }
    }

    fn options(&self, create: bool) -> OpenOptions {
        #[allow(unused_mut)]
        let mut o = OpenOptions {
            create,
            ..OpenOptions::default()
        };
        if let Harness::S3 { endpoint, .. } = self {
            o.s3.endpoint = Some(endpoint.clone());
            o.s3.region = Some("us-east-1".into());
            o.s3.access_key_id = Some("testing".into());
            o.s3.secret_access_key = Some("testing".into());
        }
        o
    }

    fn open(&self, location: &str, create: bool) -> Result<EvidenceStore, StoreError> {
        EvidenceStore::open(location, &self.options(create))
    }

    /// A new, empty store.
    fn fresh(&self) -> (String, EvidenceStore) {
        let loc = self.location();
        let s = self.open(&loc, true).unwrap();
        (loc, s)
    }
}

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

const T0: &str = "2026-01-01T00:00:00Z";

fn key() -> SealKey {
    SealKey::from_bytes([0x5a; 32])
}

fn evref(p: &Prepared, key: &str) -> EvidenceRef {
    EvidenceRef {
        key: key.to_owned(),
        class: p.class(),
        blob: p.uri(),
        size: p.size(),
    }
}

fn put_get_public_round_trip_is_idempotent(h: &Harness) {
    let (loc, s) = h.fresh();
    let p = Prepared::new(Class::Public, b"{\"answer\":42}".to_vec());
    assert_eq!(s.put(&p, at(T0)).unwrap(), PutOutcome::Written);
    assert_eq!(
        s.get(Class::Public, p.digest()).unwrap(),
        Fetched::Verified(p.bytes().to_vec())
    );
    assert_eq!(
        s.put(&p, at("2026-02-01T00:00:00Z")).unwrap(),
        PutOutcome::AlreadyPresent
    );
    // The first creation time is kept.
    assert_eq!(
        s.meta(Class::Public, p.digest()).unwrap().unwrap().created,
        at(T0)
    );
    // The public object is the plaintext, under the documented key.
    assert_eq!(
        s.backend()
            .get(&blob_key(Class::Public, p.digest()), 1 << 20)
            .unwrap()
            .unwrap(),
        p.bytes()
    );
    // Reopening the store (without create) finds it.
    let again = h.open(&loc, false).unwrap();
    assert!(matches!(
        again.get(Class::Public, p.digest()).unwrap(),
        Fetched::Verified(_)
    ));
    // An unknown digest is missing, in either class.
    for c in Class::ALL {
        assert_eq!(s.get(c, &Digest::of(b"nothing")).unwrap(), Fetched::Missing);
    }
}

fn sealed_blobs_verify_with_the_key_and_show_presence_only_without(h: &Harness) {
    let (loc, s) = h.fresh();
    let s = s.with_key(key());
    let p = Prepared::new(
        Class::Sealed,
        b"sealed evidence: the prompt was ...".to_vec(),
    );
    assert_eq!(s.put(&p, at(T0)).unwrap(), PutOutcome::Written);
    assert_eq!(
        s.get(Class::Sealed, p.digest()).unwrap(),
        Fetched::Verified(p.bytes().to_vec())
    );
    assert_eq!(s.put(&p, at(T0)).unwrap(), PutOutcome::AlreadyPresent);
    // At rest: nonce ‖ ciphertext ‖ tag, not the plaintext.
    let raw = s
        .backend()
        .get(&blob_key(Class::Sealed, p.digest()), 1 << 20)
        .unwrap()
        .unwrap();
    assert_eq!(raw.len() as u64, p.size() + 40);
    assert!(!raw.windows(7).any(|w| w == b"evidenc"));
    // Without the key: presence and size only, said explicitly.
    let nokey = h.open(&loc, false).unwrap();
    assert_eq!(
        nokey.get(Class::Sealed, p.digest()).unwrap(),
        Fetched::PresentUnverified {
            plaintext_size: p.size()
        }
    );
    let e = nokey
        .put(&Prepared::new(Class::Sealed, b"x".to_vec()), at(T0))
        .unwrap_err();
    assert!(matches!(e, StoreError::NoKey { .. }), "{e}");
    // With another key: authentication fails.
    let wrong = h
        .open(&loc, false)
        .unwrap()
        .with_key(SealKey::from_bytes([1; 32]));
    assert_eq!(
        wrong.get(Class::Sealed, p.digest()).unwrap(),
        Fetched::Corrupt(Corruption::Authentication)
    );
}

fn a_flipped_byte_of_a_sealed_blob_fails_authentication(h: &Harness) {
    let (_, s) = h.fresh();
    let s = s.with_key(key());
    let p = Prepared::new(Class::Sealed, vec![7u8; 300]);
    s.put(&p, at(T0)).unwrap();
    let k = blob_key(Class::Sealed, p.digest());
    let good = s.backend().get(&k, 1 << 20).unwrap().unwrap();
    for i in [0, 23, 24, 100, good.len() - 17, good.len() - 1] {
        let mut bad = good.clone();
        bad[i] ^= 0x80;
        s.backend().put(&k, &bad).unwrap();
        assert_eq!(
            s.get(Class::Sealed, p.digest()).unwrap(),
            Fetched::Corrupt(Corruption::Authentication),
            "flipped byte {i}"
        );
    }
    s.backend().put(&k, &good[..39]).unwrap();
    assert_eq!(
        s.get(Class::Sealed, p.digest()).unwrap(),
        Fetched::Corrupt(Corruption::TooShort { size: 39 })
    );
    // A put repairs it.
    assert_eq!(s.put(&p, at(T0)).unwrap(), PutOutcome::Repaired);
    assert!(matches!(
        s.get(Class::Sealed, p.digest()).unwrap(),
        Fetched::Verified(_)
    ));
}

fn a_sealed_ciphertext_moved_to_another_name_fails(h: &Harness) {
    let (_, s) = h.fresh();
    let s = s.with_key(key());
    let a = Prepared::new(Class::Sealed, b"first".to_vec());
    let b = Prepared::new(Class::Sealed, b"second".to_vec());
    s.put(&a, at(T0)).unwrap();
    s.put(&b, at(T0)).unwrap();
    let a_obj = s
        .backend()
        .get(&blob_key(Class::Sealed, a.digest()), 1 << 20)
        .unwrap()
        .unwrap();
    s.backend()
        .put(&blob_key(Class::Sealed, b.digest()), &a_obj)
        .unwrap();
    assert_eq!(
        s.get(Class::Sealed, b.digest()).unwrap(),
        Fetched::Corrupt(Corruption::Authentication)
    );
}

fn a_tampered_public_blob_is_corrupt_and_a_put_repairs_it(h: &Harness) {
    let (_, s) = h.fresh();
    let p = Prepared::new(Class::Public, b"public evidence".to_vec());
    s.put(&p, at(T0)).unwrap();
    s.backend()
        .put(&blob_key(Class::Public, p.digest()), b"public evidencE")
        .unwrap();
    assert_eq!(
        s.get(Class::Public, p.digest()).unwrap(),
        Fetched::Corrupt(Corruption::DigestMismatch)
    );
    let out = report(&verify_refs(&s, &[evref(&p, "k")]));
    assert_eq!(out.verdict(), Verdict::Fail);
    assert_eq!(
        s.put(&p, at("2026-03-01T00:00:00Z")).unwrap(),
        PutOutcome::Repaired
    );
    assert!(matches!(
        s.get(Class::Public, p.digest()).unwrap(),
        Fetched::Verified(_)
    ));
    // The repair keeps the first creation time.
    assert_eq!(
        s.meta(Class::Public, p.digest()).unwrap().unwrap().created,
        at(T0)
    );
}

fn a_location_without_the_marker_is_not_a_store(h: &Harness) {
    let loc = h.location();
    assert!(matches!(
        h.open(&loc, false),
        Err(StoreError::NotAStore { .. }) | Err(StoreError::Backend(_))
    ));
    // A location holding other objects is not adopted.
    let (loc, s) = h.fresh();
    s.backend().delete("receipt-evidence-store.json").unwrap();
    s.put(&Prepared::new(Class::Public, b"x".to_vec()), at(T0))
        .unwrap_or_else(|e| panic!("{e}"));
    let e = h.open(&loc, true).unwrap_err();
    assert!(matches!(e, StoreError::NotAStore { .. }), "{e}");
    assert!(e.to_string().contains("already holds other files"), "{e}");
    // A wrong marker is refused.
    s.backend()
        .put("receipt-evidence-store.json", b"{}")
        .unwrap();
    assert!(matches!(
        h.open(&loc, false),
        Err(StoreError::NotAStore { .. })
    ));
}

fn gc_leaves_tombstones_and_get_reports_expired(h: &Harness) {
    let (_, s) = h.fresh();
    let old = Prepared::new(Class::Public, b"old".to_vec());
    let new = Prepared::new(Class::Public, b"new".to_vec());
    s.put(&old, at(T0)).unwrap();
    s.put(&new, at("2026-01-03T00:00:00Z")).unwrap();
    let policy = Retention {
        public: ClassLimits {
            max_age_secs: Some(86_400),
            max_total_bytes: None,
        },
        ..Retention::default()
    };
    let now = at("2026-01-03T01:00:00Z");
    // A plan changes nothing.
    let planned = plan(&s, &policy, now).unwrap();
    assert_eq!(planned.expired.len(), 1);
    assert!(matches!(
        s.get(Class::Public, old.digest()).unwrap(),
        Fetched::Verified(_)
    ));
    let rep = gc(&s, &policy, now).unwrap();
    assert_eq!(rep, planned);
    let t = &rep.expired[0];
    assert_eq!(
        (t.digest, t.reason, t.size),
        (*old.digest(), ExpiryReason::MaxAge, 3)
    );
    assert_eq!((t.created, t.expired_at), (at(T0), now));
    assert_eq!(
        s.get(Class::Public, old.digest()).unwrap(),
        Fetched::Expired(t.clone())
    );
    assert!(matches!(
        s.get(Class::Public, new.digest()).unwrap(),
        Fetched::Verified(_)
    ));
    // Blob and metadata record are gone; the tombstone is canonical JSON at its key.
    assert_eq!(
        s.backend()
            .size(&blob_key(Class::Public, old.digest()))
            .unwrap(),
        None
    );
    assert_eq!(
        s.backend()
            .size(&meta_key(Class::Public, old.digest()))
            .unwrap(),
        None
    );
    let tomb = s
        .backend()
        .get(&tombstone_key(Class::Public, old.digest()), 4096)
        .unwrap()
        .unwrap();
    assert!(receipt_primitives::jcs::is_canonical(&tomb));
    // Verification: expired is WARN (the run still verifies), present is PASS, unknown is
    // UNKNOWN.
    let unknown = Prepared::new(Class::Public, b"never stored".to_vec());
    let outs = verify_refs(
        &s,
        &[evref(&old, "a"), evref(&new, "b"), evref(&unknown, "c")],
    );
    let verdicts: Vec<_> = outs.iter().map(|o| o.verdict()).collect();
    assert_eq!(verdicts, [Verdict::Warn, Verdict::Pass, Verdict::Unknown]);
    assert!(
        outs[0].detail().contains("expired by policy (max_age)"),
        "{}",
        outs[0].detail()
    );
    assert!(!report(&outs).ok());
    assert!(report(&outs[..2]).ok());
    // A second run at the same time does nothing more: deterministic and idempotent.
    assert!(gc(&s, &policy, now).unwrap().expired.is_empty());
}

fn the_size_cap_evicts_the_oldest_first(h: &Harness) {
    let (_, s) = h.fresh();
    let blobs: Vec<Prepared> = (0..5u8)
        .map(|i| Prepared::new(Class::Public, vec![i; 100]))
        .collect();
    for (i, p) in blobs.iter().enumerate() {
        s.put(p, at(&format!("2026-01-0{}T00:00:00Z", i + 1)))
            .unwrap();
    }
    let policy = Retention {
        public: ClassLimits {
            max_age_secs: None,
            max_total_bytes: Some(250),
        },
        ..Retention::default()
    };
    let rep = gc(&s, &policy, at("2026-01-09T00:00:00Z")).unwrap();
    let gone: Vec<Digest> = rep.expired.iter().map(|t| t.digest).collect();
    assert_eq!(
        gone,
        [*blobs[0].digest(), *blobs[1].digest(), *blobs[2].digest()]
    );
    assert!(
        rep.expired
            .iter()
            .all(|t| t.reason == ExpiryReason::MaxTotalBytes)
    );
    assert_eq!(rep.kept[&Class::Public], (2, 200));
    for (i, p) in blobs.iter().enumerate() {
        let f = s.get(Class::Public, p.digest()).unwrap();
        assert_eq!(matches!(f, Fetched::Expired(_)), i < 3, "{i}: {f:?}");
    }
}

fn the_sealed_class_expires_with_its_own_shorter_age(h: &Harness) {
    let (loc, s) = h.fresh();
    let s = s.with_key(key());
    let public = Prepared::new(Class::Public, b"log excerpt".to_vec());
    let sealed = Prepared::new(Class::Sealed, b"raw request body".to_vec());
    s.put(&public, at(T0)).unwrap();
    s.put(&sealed, at(T0)).unwrap();
    let policy = Retention {
        public: ClassLimits {
            max_age_secs: Some(30 * 86_400),
            max_total_bytes: None,
        },
        sealed: ClassLimits {
            max_age_secs: Some(12 * 3600),
            max_total_bytes: None,
        },
    };
    // gc needs no key: it reads metadata records only.
    let nokey = h.open(&loc, false).unwrap();
    let rep = gc(&nokey, &policy, at("2026-01-01T13:00:00Z")).unwrap();
    assert_eq!(rep.expired.len(), 1);
    assert_eq!(
        (rep.expired[0].class, rep.expired[0].digest),
        (Class::Sealed, *sealed.digest())
    );
    assert!(matches!(
        s.get(Class::Sealed, sealed.digest()).unwrap(),
        Fetched::Expired(_)
    ));
    assert!(matches!(
        s.get(Class::Public, public.digest()).unwrap(),
        Fetched::Verified(_)
    ));
    let outs = verify_refs(&nokey, &[evref(&sealed, "body")]);
    assert_eq!(outs[0].verdict(), Verdict::Warn);
}

fn gc_touches_only_what_the_store_layout_created(h: &Harness) {
    let (_, s) = h.fresh();
    let p = Prepared::new(Class::Public, b"kept?".to_vec());
    s.put(&p, at(T0)).unwrap();
    let be = s.backend();
    // Foreign objects under the class prefix, and a blob whose record was removed by hand.
    be.put("public/sha256/ab/notes.txt", b"mine").unwrap();
    be.put("public/readme", b"mine").unwrap();
    let unmanaged = Prepared::new(Class::Public, b"no record".to_vec());
    be.put(
        &blob_key(Class::Public, unmanaged.digest()),
        unmanaged.bytes(),
    )
    .unwrap();
    // A metadata record without its blob (an interrupted write).
    let orphan = Prepared::new(Class::Public, b"interrupted".to_vec());
    s.put(&orphan, at(T0)).unwrap();
    be.delete(&blob_key(Class::Public, orphan.digest()))
        .unwrap();
    let policy = Retention {
        public: ClassLimits {
            max_age_secs: Some(0),
            max_total_bytes: Some(0),
        },
        ..Retention::default()
    };
    let rep = gc(&s, &policy, at("2026-01-05T00:00:00Z")).unwrap();
    assert_eq!(rep.expired.len(), 1);
    assert_eq!(rep.unmanaged, [(Class::Public, *unmanaged.digest())]);
    assert_eq!(rep.orphan_meta_removed, [(Class::Public, *orphan.digest())]);
    assert_eq!(rep.foreign, ["public/sha256/ab/notes.txt"]);
    assert_eq!(
        be.get("public/sha256/ab/notes.txt", 10).unwrap().unwrap(),
        b"mine"
    );
    assert_eq!(be.get("public/readme", 10).unwrap().unwrap(), b"mine");
    assert!(
        be.size(&blob_key(Class::Public, unmanaged.digest()))
            .unwrap()
            .is_some()
    );
    assert_eq!(
        be.size(&meta_key(Class::Public, orphan.digest())).unwrap(),
        None
    );
}

fn verification_names_every_outcome(h: &Harness) {
    let (loc, s) = h.fresh();
    let s = s.with_key(key());
    let public = Prepared::new(Class::Public, b"p".to_vec());
    let sealed = Prepared::new(Class::Sealed, b"s".to_vec());
    s.put(&public, at(T0)).unwrap();
    s.put(&sealed, at(T0)).unwrap();
    let mut wrong_size = evref(&public, "wrong size");
    wrong_size.size = 2;
    let refs = [evref(&public, "p"), evref(&sealed, "s"), wrong_size];
    let with_key = verify_refs(&s, &refs);
    assert_eq!(with_key[0].outcome, Outcome::Verified);
    assert_eq!(with_key[1].outcome, Outcome::Verified);
    assert_eq!(with_key[2].outcome, Outcome::SizeMismatch { found: 1 });
    assert_eq!(with_key[2].verdict(), Verdict::Fail);
    let nokey = h.open(&loc, false).unwrap();
    let without = verify_refs(&nokey, &refs[..2]);
    assert_eq!(without[1].outcome, Outcome::PresenceOnly);
    assert_eq!(without[1].verdict(), Verdict::Pass);
    assert!(
        without[1].detail().contains("presence only"),
        "{}",
        without[1].detail()
    );
    let rep = report(&without);
    assert!(rep.ok());
    assert!(rep.checks.iter().all(|c| c.id.as_str() == "evidence.blob"));
}

fn a_batch_put_writes_checks_and_repairs_in_input_order(h: &Harness) {
    let (_, s) = h.fresh();
    let s = s.with_key(key());
    let existing = Prepared::new(Class::Public, b"already".to_vec());
    let damaged = Prepared::new(Class::Sealed, b"damaged".to_vec());
    s.put(&existing, at(T0)).unwrap();
    s.put(&damaged, at(T0)).unwrap();
    s.backend()
        .put(&blob_key(Class::Sealed, damaged.digest()), &[0u8; 50])
        .unwrap();
    let fresh: Vec<Prepared> = (0..20u8)
        .map(|i| {
            Prepared::new(
                if i % 2 == 0 {
                    Class::Public
                } else {
                    Class::Sealed
                },
                vec![i; 64 + usize::from(i)],
            )
        })
        .collect();
    let mut batch = vec![existing.clone(), damaged.clone()];
    batch.extend(fresh.iter().cloned());
    batch.push(fresh[0].clone());
    let out = s.put_batch(&batch, at("2026-01-02T00:00:00Z")).unwrap();
    assert_eq!(out[0], PutOutcome::AlreadyPresent);
    assert_eq!(out[1], PutOutcome::Repaired);
    assert!(
        out[2..22].iter().all(|o| *o == PutOutcome::Written),
        "{out:?}"
    );
    assert_eq!(out[22], PutOutcome::AlreadyPresent);
    for p in batch.iter() {
        assert_eq!(
            s.get(p.class(), p.digest()).unwrap(),
            Fetched::Verified(p.bytes().to_vec())
        );
    }
    assert_eq!(
        s.meta(Class::Sealed, damaged.digest())
            .unwrap()
            .unwrap()
            .created,
        at(T0)
    );
    assert_eq!(
        s.meta(Class::Public, fresh[0].digest())
            .unwrap()
            .unwrap()
            .created,
        at("2026-01-02T00:00:00Z")
    );
    // A sealed item without a key refuses the whole batch before anything is written.
    let (_, nokey) = h.fresh();
    let p = Prepared::new(Class::Public, b"first".to_vec());
    let e = nokey
        .put_batch(
            &[p.clone(), Prepared::new(Class::Sealed, b"x".to_vec())],
            at(T0),
        )
        .unwrap_err();
    assert!(matches!(e, StoreError::NoKey { .. }));
    assert_eq!(
        nokey.get(Class::Public, p.digest()).unwrap(),
        Fetched::Missing
    );
}

type Case = (&'static str, fn(&Harness));

const CASES: &[Case] = &[
    (
        "put_get_public_round_trip_is_idempotent",
        put_get_public_round_trip_is_idempotent,
    ),
    (
        "sealed_blobs_verify_with_the_key_and_show_presence_only_without",
        sealed_blobs_verify_with_the_key_and_show_presence_only_without,
    ),
    (
        "a_flipped_byte_of_a_sealed_blob_fails_authentication",
        a_flipped_byte_of_a_sealed_blob_fails_authentication,
    ),
    (
        "a_sealed_ciphertext_moved_to_another_name_fails",
        a_sealed_ciphertext_moved_to_another_name_fails,
    ),
    (
        "a_tampered_public_blob_is_corrupt_and_a_put_repairs_it",
        a_tampered_public_blob_is_corrupt_and_a_put_repairs_it,
    ),
    (
        "a_location_without_the_marker_is_not_a_store",
        a_location_without_the_marker_is_not_a_store,
    ),
    (
        "gc_leaves_tombstones_and_get_reports_expired",
        gc_leaves_tombstones_and_get_reports_expired,
    ),
    (
        "the_size_cap_evicts_the_oldest_first",
        the_size_cap_evicts_the_oldest_first,
    ),
    (
        "the_sealed_class_expires_with_its_own_shorter_age",
        the_sealed_class_expires_with_its_own_shorter_age,
    ),
    (
        "gc_touches_only_what_the_store_layout_created",
        gc_touches_only_what_the_store_layout_created,
    ),
    (
        "verification_names_every_outcome",
        verification_names_every_outcome,
    ),
    (
        "a_batch_put_writes_checks_and_repairs_in_input_order",
        a_batch_put_writes_checks_and_repairs_in_input_order,
    ),
];

mod dir {
    use super::*;

    fn run(name: &str) {
        let h = Harness::Dir(tempfile::tempdir().unwrap());
        let (_, case) = CASES.iter().find(|(n, _)| *n == name).unwrap();
        case(&h);
    }

    macro_rules! dir_cases {
        ($($name:ident),* $(,)?) => {
            $( #[test] fn $name() { run(stringify!($name)); } )*

            #[test]
            fn every_case_runs_on_the_directory_backend() {
                let names = [$(stringify!($name)),*];
                assert_eq!(names.len(), CASES.len());
                for (n, _) in CASES {
                    assert!(names.contains(n), "{n} is not run on the directory backend");
                }
            }
        };
    }

    dir_cases!(
        put_get_public_round_trip_is_idempotent,
        sealed_blobs_verify_with_the_key_and_show_presence_only_without,
        a_flipped_byte_of_a_sealed_blob_fails_authentication,
        a_sealed_ciphertext_moved_to_another_name_fails,
        a_tampered_public_blob_is_corrupt_and_a_put_repairs_it,
        a_location_without_the_marker_is_not_a_store,
        gc_leaves_tombstones_and_get_reports_expired,
        the_size_cap_evicts_the_oldest_first,
        the_sealed_class_expires_with_its_own_shorter_age,
        gc_touches_only_what_the_store_layout_created,
        verification_names_every_outcome,
        a_batch_put_writes_checks_and_repairs_in_input_order,
    );

    #[test]
    fn the_directory_layout_is_the_documented_one() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("ev");
        let s = EvidenceStore::open(
            root.to_str().unwrap(),
            &OpenOptions {
                create: true,
                ..Default::default()
            },
        )
        .unwrap()
        .with_key(key());
        let p = Prepared::new(Class::Public, b"abc".to_vec());
        let q = Prepared::new(Class::Sealed, b"abc".to_vec());
        s.put(&p, at(T0)).unwrap();
        s.put(&q, at(T0)).unwrap();
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(
            std::fs::read(root.join(format!("public/sha256/ba/{hex}"))).unwrap(),
            b"abc"
        );
        assert_eq!(
            std::fs::read(root.join(format!("public/sha256/ba/{hex}.meta.json"))).unwrap(),
            format!("{{\"class\":\"public\",\"created\":\"{T0}\",\"digest\":\"{hex}\",\"schema\":\"receipt.evidence-meta/1\",\"size\":3}}").as_bytes()
        );
        assert_eq!(
            std::fs::metadata(root.join(format!("sealed/sha256/ba/{hex}.enc")))
                .unwrap()
                .len(),
            43
        );
        assert_eq!(
            std::fs::read(root.join("receipt-evidence-store.json")).unwrap(),
            br#"{"layout":"sha256/2","schema":"receipt.evidence-store/1"}"#
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(root.join(format!("sealed/sha256/ba/{hex}.enc")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let rep = gc(
            &s,
            &Retention {
                sealed: ClassLimits {
                    max_age_secs: Some(0),
                    max_total_bytes: None,
                },
                ..Retention::default()
            },
            at("2026-01-01T00:00:01Z"),
        )
        .unwrap();
        assert_eq!(rep.expired.len(), 1);
        assert!(
            root.join(format!("tombstones/sealed/sha256/ba/{hex}.json"))
                .is_file()
        );
    }
}

/// The moto server of this test, killed when dropped.
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http(port: u16, request: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn start_moto() -> (Moto, u16) {
    let python = python::interpreter();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&python)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start moto with {}: {e}; run `bash scripts/test.sh`",
                python.display()
            )
        });
    let moto = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "moto did not listen on 127.0.0.1:{port} within 60 s; is moto[server] installed in the venv? run `bash scripts/test.sh`"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (moto, port)
}

#[cfg(feature = "s3")]
#[test]
fn every_case_passes_on_an_s3_api_served_by_moto() {
    let (_moto, port) = start_moto();
    let bucket = "receipt-evidence-test";
    let resp = http(
        port,
        &format!("PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    )
    .unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "creating the bucket: {resp}"
    );
    let h = Harness::S3 {
        endpoint: format!("http://127.0.0.1:{port}"),
        bucket: bucket.into(),
    };
    for (name, case) in CASES {
        eprintln!("s3: {name}");
        case(&h);
    }
    // The objects really are in the bucket, under the prefix, in the layout.
    let list = http(
        port,
        &format!("GET /{bucket}?list-type=2&prefix=case- HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"),
    )
    .unwrap();
    assert!(
        list.contains("/evidence/receipt-evidence-store.json"),
        "{list}"
    );
    assert!(
        list.contains("/evidence/tombstones/sealed/sha256/"),
        "{list}"
    );
}
