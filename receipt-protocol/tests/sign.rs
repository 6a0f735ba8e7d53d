//! Signed ledgers (docs/SPEC.md §14): appending signed, signing an existing chain, and every
//! `sign.*` and `policy.*` check, against real forgeries.

mod common;

use std::fs;
use std::path::Path;

use common::{failed, record, show};
use receipt_attest::SigningKey;
use receipt_attest::keys::PublicKey;
use receipt_protocol::ledger::{AppendStep, BuildRecord, Ledger};
use receipt_protocol::policy::Policy;
use receipt_protocol::receipt::Section;
use receipt_protocol::sign::{BuildFacts, Signer, sign_chain};
use receipt_protocol::verify::{CheckId, KeyOptions, Report, Verdict, verify_dir, verify_dir_with};
use receipt_testkit::reseal_last;
use receipt_testkit::sample::SampleRecord;

fn ed25519(seed: u8) -> SigningKey {
    SigningKey::ed25519_from_seed(&[seed; 32])
}

fn p256() -> SigningKey {
    let mut s = [0u8; 32];
    s[31] = 7;
    SigningKey::p256_from_scalar(&s).unwrap()
}

fn facts() -> BuildFacts {
    BuildFacts {
        builder_id: "https://receipt.dev/test-builder@1".into(),
        repository: Some("https://example.com/app.git".into()),
        ..BuildFacts::default()
    }
}

/// A record with a git source and two artifacts, so the entry gets provenance.
fn with_artifacts(n: u64) -> BuildRecord {
    SampleRecord::new(n, "ledger-test 1.0")
        .git_source(1)
        .artifacts("debug", [10 + n, 20 + n])
        .build()
}

/// A signer with the one key `k`.
fn signer(k: &SigningKey) -> Signer<'_> {
    Signer {
        keys: std::slice::from_ref(k),
    }
}

fn signed_chain(dir: &Path, keys: &[SigningKey], n: u64) -> Ledger {
    let l = Ledger::create(dir).unwrap();
    for i in 1..=n {
        l.append_signed(with_artifacts(i), &Signer { keys }, &facts())
            .unwrap();
    }
    l
}

fn with_keys(dir: &Path, keys: &[&SigningKey]) -> Report {
    verify_dir_with(
        dir,
        &KeyOptions {
            keys: keys.iter().map(|k| k.public_key().clone()).collect(),
            since: None,
        },
    )
    .0
}

fn verdict(r: &Report, id: CheckId) -> Verdict {
    r.checks
        .iter()
        .filter(|c| c.id == id)
        .map(|c| c.verdict)
        .max()
        .unwrap_or_else(|| panic!("no {id} check in\n{}", show(r)))
}

fn assert_fails(r: &Report, id: CheckId, says: &str) {
    let c = r
        .checks
        .iter()
        .find(|c| c.id == id && !c.verdict.is_ok())
        .unwrap_or_else(|| panic!("{id} did not fail:\n{}", show(r)));
    assert!(
        c.detail.contains(says),
        "{id}: {:?} lacks {says:?}",
        c.detail
    );
}

#[test]
fn a_signed_chain_verifies_with_its_key_and_every_sign_check_passes() {
    let t = tempfile::tempdir().unwrap();
    let k = ed25519(1);
    signed_chain(t.path(), std::slice::from_ref(&k), 3);
    for f in [
        "receipts/000001/receipt.dsse.json",
        "receipts/000003/provenance.intoto.jsonl",
        "checkpoint",
        "tree/head",
    ] {
        assert!(t.path().join(f).is_file(), "{f} missing");
    }
    let r = with_keys(t.path(), &[&k]);
    assert!(r.ok(), "{}", show(&r));
    for id in [
        CheckId::SignReceipt,
        CheckId::SignProvenance,
        CheckId::SignCheckpoint,
        CheckId::SignTree,
    ] {
        assert_eq!(verdict(&r, id), Verdict::Pass, "{}", show(&r));
    }
    // Without keys, the signature files change nothing.
    assert!(verify_dir(t.path()).ok());
}

#[test]
fn signing_is_deterministic_for_the_same_chain() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let k = ed25519(1);
    signed_chain(a.path(), std::slice::from_ref(&k), 2);
    signed_chain(b.path(), std::slice::from_ref(&k), 2);
    for f in [
        "receipts/000002/receipt.dsse.json",
        "receipts/000002/provenance.intoto.jsonl",
        "checkpoint",
    ] {
        assert_eq!(
            fs::read(a.path().join(f)).unwrap(),
            fs::read(b.path().join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn a_forward_recomputed_forgery_passes_plain_verify_but_fails_with_the_key() {
    let t = tempfile::tempdir().unwrap();
    let k = ed25519(1);
    signed_chain(t.path(), std::slice::from_ref(&k), 2);
    // Not caught by any protocol rule: a measured field, re-sealed forward.
    reseal_last(t.path(), |r| r["work"]["wall_ms"] = 1.into());
    assert!(verify_dir(t.path()).ok(), "{}", show(&verify_dir(t.path())));
    let r = with_keys(t.path(), &[&k]);
    assert_fails(&r, CheckId::SignReceipt, "signs a receipt with SHA-256");
    assert_fails(&r, CheckId::SignCheckpoint, "do not give its root");
}

#[test]
fn a_rolled_back_chain_fails_with_the_key_and_since_names_the_removed_entry() {
    let t = tempfile::tempdir().unwrap();
    let k = ed25519(1);
    let dir = t.path();
    signed_chain(dir, std::slice::from_ref(&k), 3);
    let kept = dir.join("../kept-checkpoint");
    fs::copy(dir.join("checkpoint"), &kept).unwrap();
    // Roll back: drop the last head line and entry, restore the previous view.
    let head = fs::read_to_string(dir.join("chain.head")).unwrap();
    let lines: Vec<&str> = head.lines().collect();
    fs::write(
        dir.join("chain.head"),
        format!("{}\n{}\n", lines[0], lines[1]),
    )
    .unwrap();
    fs::remove_dir_all(dir.join("receipts/000003")).unwrap();
    for f in ["receipt.json", "manifest.json", "graph.json"] {
        fs::copy(dir.join("receipts/000002").join(f), dir.join(f)).unwrap();
    }
    assert!(verify_dir(dir).ok(), "{}", show(&verify_dir(dir)));
    let r = with_keys(dir, &[&k]);
    assert_fails(&r, CheckId::SignCheckpoint, "entry 3 onwards was removed");
    // Signing refuses a chain shorter than its tree store; a key holder who removes the
    // store and re-signs is still caught by a checkpoint kept from before.
    let l = Ledger::existing(dir).unwrap();
    let e = sign_chain(&l, &signer(&k), &mut |_| facts()).unwrap_err();
    assert!(
        e.to_string()
            .contains("holds 3 leaves but the chain has only 2"),
        "{e}"
    );
    fs::remove_dir_all(dir.join("tree")).unwrap();
    sign_chain(&l, &signer(&k), &mut |_| facts()).unwrap();
    assert!(with_keys(dir, &[&k]).ok());
    let (r, _) = verify_dir_with(
        dir,
        &KeyOptions {
            keys: vec![k.public_key().clone()],
            since: Some(kept.clone()),
        },
    );
    assert_fails(&r, CheckId::SignSince, "entry 3 onwards was removed");
    fs::remove_file(kept).unwrap();
}

#[test]
fn since_passes_for_a_grown_chain_and_fails_for_a_fork() {
    let t = tempfile::tempdir().unwrap();
    let k = ed25519(1);
    let dir = t.path().join("out");
    let l = signed_chain(&dir, std::slice::from_ref(&k), 2);
    let kept = t.path().join("checkpoint-2");
    fs::copy(dir.join("checkpoint"), &kept).unwrap();
    l.append_signed(with_artifacts(3), &signer(&k), &facts())
        .unwrap();
    let opts = KeyOptions {
        keys: vec![k.public_key().clone()],
        since: Some(kept.clone()),
    };
    let (r, _) = verify_dir_with(&dir, &opts);
    assert!(r.ok(), "{}", show(&r));
    assert_eq!(verdict(&r, CheckId::SignSince), Verdict::Pass);

    // A fork: entry 2 rewritten and the chain re-signed by the key holder from there.
    let fork = t.path().join("fork");
    let l = Ledger::create(&fork).unwrap();
    let s = signer(&k);
    l.append_signed(with_artifacts(1), &s, &facts()).unwrap();
    l.append_signed(with_artifacts(7), &s, &facts()).unwrap();
    l.append_signed(with_artifacts(8), &s, &facts()).unwrap();
    assert!(with_keys(&fork, &[&k]).ok());
    let (r, _) = verify_dir_with(&fork, &opts);
    assert_fails(&r, CheckId::SignSince, "rewritten or the chain forked");
}

#[test]
fn a_checkpoint_of_another_key_or_another_chain_fails() {
    let t = tempfile::tempdir().unwrap();
    let (k, other) = (ed25519(1), ed25519(2));
    let a = t.path().join("a");
    signed_chain(&a, std::slice::from_ref(&k), 2);
    let r = with_keys(&a, &[&other]);
    assert_fails(&r, CheckId::SignReceipt, "");
    assert_fails(&r, CheckId::SignCheckpoint, "");
    // The envelopes by the trusted key, the checkpoint by another.
    let b = t.path().join("b");
    signed_chain(&b, std::slice::from_ref(&other), 2);
    fs::copy(b.join("checkpoint"), a.join("checkpoint")).unwrap();
    let r = with_keys(&a, &[&k]);
    assert_eq!(verdict(&r, CheckId::SignReceipt), Verdict::Pass);
    assert_fails(&r, CheckId::SignCheckpoint, "");
}

#[test]
fn flipping_any_byte_of_an_envelope_or_the_checkpoint_fails() {
    let t = tempfile::tempdir().unwrap();
    let k = ed25519(1);
    let mut small = record(1);
    small.graph_json = None;
    small.receipt.graph = Section::unavailable("none");
    small.receipt.tau = Section::unavailable("none");
    small.receipt.rank = Section::unavailable("none");
    small.receipt.artifacts = with_artifacts(1).receipt.artifacts;
    Ledger::create(t.path())
        .unwrap()
        .append_signed(small, &signer(&k), &facts())
        .unwrap();
    assert!(with_keys(t.path(), &[&k]).ok());
    for f in [
        "checkpoint",
        "receipts/000001/receipt.dsse.json",
        "receipts/000001/provenance.intoto.jsonl",
    ] {
        let p = t.path().join(f);
        let orig = fs::read(&p).unwrap();
        for i in 0..orig.len() {
            let mut b = orig.clone();
            b[i] ^= 0x01;
            fs::write(&p, &b).unwrap();
            let r = with_keys(t.path(), &[&k]);
            assert!(!r.ok(), "{f}: flipping byte {i} still verifies");
        }
        fs::write(&p, &orig).unwrap();
    }
    assert!(with_keys(t.path(), &[&k]).ok());
}

#[test]
fn missing_envelopes_fail_under_a_key_and_sign_chain_signs_what_is_missing() {
    let t = tempfile::tempdir().unwrap();
    let k = ed25519(1);
    let l = Ledger::create(t.path()).unwrap();
    l.append(with_artifacts(1)).unwrap();
    l.append(record(2)).unwrap();
    let r = with_keys(t.path(), &[&k]);
    assert_fails(&r, CheckId::SignReceipt, "is not signed");
    assert_fails(
        &r,
        CheckId::SignProvenance,
        "has no provenance.intoto.jsonl",
    );
    assert_fails(&r, CheckId::SignCheckpoint, "checkpoint is missing");
    let s = signer(&k);
    let done = sign_chain(&l, &s, &mut |_| facts()).unwrap();
    assert_eq!(done.signed, vec![1, 2]);
    assert!(
        !t.path()
            .join("receipts/000002/provenance.intoto.jsonl")
            .exists()
    );
    let r = with_keys(t.path(), &[&k]);
    assert!(r.ok(), "{}", show(&r));
    // An unsigned append leaves a stale checkpoint, which signing again repairs.
    l.append(with_artifacts(3)).unwrap();
    let r = with_keys(t.path(), &[&k]);
    assert_fails(
        &r,
        CheckId::SignCheckpoint,
        "covers 2 of the chain's 3 receipts",
    );
    assert_eq!(
        sign_chain(&l, &s, &mut |_| facts()).unwrap().signed,
        vec![3]
    );
    assert!(with_keys(t.path(), &[&k]).ok());
}

#[test]
fn sign_chain_refuses_to_sign_a_forged_entry() {
    let t = tempfile::tempdir().unwrap();
    let k = ed25519(1);
    let l = Ledger::create(t.path()).unwrap();
    l.append(with_artifacts(1)).unwrap();
    fs::write(t.path().join("receipts/000001/receipt.json"), b"{}").unwrap();
    let e = sign_chain(&l, &signer(&k), &mut |_| facts()).unwrap_err();
    assert!(e.to_string().contains("does not hash to line 1"), "{e}");
    assert!(!t.path().join("receipts/000001/receipt.dsse.json").exists());
    assert!(!t.path().join("checkpoint").exists());
}

#[test]
fn p256_and_ed25519_keys_sign_together_and_each_verifies_alone() {
    let t = tempfile::tempdir().unwrap();
    let keys = [ed25519(1), p256()];
    signed_chain(t.path(), &keys, 2);
    for k in &keys {
        let r = with_keys(t.path(), &[k]);
        assert!(r.ok(), "{:?}: {}", k.algorithm(), show(&r));
    }
    let p = p256();
    let r = with_keys(t.path(), &[&p]);
    assert_eq!(verdict(&r, CheckId::SignCheckpoint), Verdict::Pass);
}

#[test]
fn a_damaged_tree_store_is_a_warning_and_the_next_signing_rebuilds_it() {
    let t = tempfile::tempdir().unwrap();
    let k = ed25519(1);
    let l = signed_chain(t.path(), std::slice::from_ref(&k), 3);
    fs::write(t.path().join("tree/level-00"), [0u8; 96]).unwrap();
    let r = with_keys(t.path(), &[&k]);
    assert!(r.ok(), "{}", show(&r));
    assert_eq!(verdict(&r, CheckId::SignTree), Verdict::Warn);
    l.append_signed(with_artifacts(4), &signer(&k), &facts())
        .unwrap();
    let r = with_keys(t.path(), &[&k]);
    assert_eq!(
        verdict(&r, CheckId::SignTree),
        Verdict::Pass,
        "{}",
        show(&r)
    );
}

fn policy(text: &str) -> Policy {
    Policy::parse(text, Path::new("policy.toml")).unwrap()
}

#[test]
fn policy_checks_pass_and_fail_on_what_was_signed() {
    let t = tempfile::tempdir().unwrap();
    let k = ed25519(1);
    signed_chain(t.path(), std::slice::from_ref(&k), 2);
    let opts = KeyOptions {
        keys: vec![k.public_key().clone()],
        since: None,
    };
    let good = format!(
        "schema = \"tau-crystal.policy/1\"\nbuilder_id = \"https://receipt.dev/test-builder@1\"\n\
         repository = \"https://example.com/app.git\"\nkey_ids = [\"{}\"]\nmin_chain_length = 2\n\
         required_checks = [\"sign.checkpoint\", \"graph.tau\"]\n",
        k.key_id()
    );
    let (mut r, f) = verify_dir_with(t.path(), &opts);
    policy(&good).evaluate(&f, &mut r, &|_, _| None);
    assert!(r.ok(), "{}", show(&r));
    for id in [
        CheckId::PolicyBuilder,
        CheckId::PolicyRepository,
        CheckId::PolicyKeys,
        CheckId::PolicyChainLength,
        CheckId::PolicyChecks,
    ] {
        assert_eq!(verdict(&r, id), Verdict::Pass);
    }
    let bad = format!(
        "schema = \"tau-crystal.policy/1\"\nbuilder_id = \"https://evil.example/builder\"\n\
         repository = \"https://example.com/other.git\"\nkey_ids = [\"{}\"]\nmin_chain_length = 3\n\
         required_checks = [\"artifacts.hashes\"]\ncommits = [\"{}\"]\n",
        ed25519(2).key_id(),
        "a".repeat(40)
    );
    let (mut r, f) = verify_dir_with(t.path(), &opts);
    let latest = format!("{:040x}", 2);
    policy(&format!(
        "schema = \"tau-crystal.policy/1\"\ncommits = [\"{latest}\"]\n"
    ))
    .evaluate(&f, &mut r, &|_, _| None);
    assert_eq!(verdict(&r, CheckId::PolicySource), Verdict::Pass);
    let (mut r, f) = verify_dir_with(t.path(), &opts);
    policy("schema = \"tau-crystal.policy/1\"\nbranches = [\"main\"]\n").evaluate(
        &f,
        &mut r,
        &|c, b| Some(c == latest && b == "main"),
    );
    assert_eq!(verdict(&r, CheckId::PolicySource), Verdict::Pass);
    let (mut r, f) = verify_dir_with(t.path(), &opts);
    policy("schema = \"tau-crystal.policy/1\"\nbranches = [\"main\"]\n").evaluate(
        &f,
        &mut r,
        &|_, _| None,
    );
    assert_eq!(verdict(&r, CheckId::PolicySource), Verdict::Unknown);
    let (mut r, f) = verify_dir_with(t.path(), &opts);
    policy(&bad).evaluate(&f, &mut r, &|_, _| None);
    let names: Vec<String> = failed(&r).into_iter().map(|(n, _)| n).collect();
    for id in [
        "policy.builder",
        "policy.repository",
        "policy.keys",
        "policy.chain_length",
        "policy.checks",
        "policy.source",
    ] {
        assert!(
            names.iter().any(|n| n == id),
            "{id} did not fail: {}",
            show(&r)
        );
    }
}

#[test]
fn policy_files_are_read_strictly() {
    for (text, says) in [
        ("builder_id = \"x\"\n", "schema"),
        ("schema = \"tau-crystal.policy/2\"\n", "schema"),
        (
            "schema = \"tau-crystal.policy/1\"\nbuilder = \"x\"\n",
            "unknown field",
        ),
        (
            "schema = \"tau-crystal.policy/1\"\ncommits = [\"main\"]\n",
            "commits",
        ),
        (
            "schema = \"tau-crystal.policy/1\"\nkey_ids = [\"ABC\"]\n",
            "key_ids",
        ),
        (
            "schema = \"tau-crystal.policy/1\"\nrequired_checks = [\"no.such\"]\n",
            "required_checks",
        ),
        (
            "schema = \"tau-crystal.policy/1\"\nbranches = []\n",
            "branches",
        ),
    ] {
        let e = Policy::parse(text, Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.toml: "), "{e}");
        assert!(e.contains(says), "{text:?}: {e}");
    }
}

#[test]
fn a_public_key_reads_back_from_its_pem() {
    let k = p256();
    let pem = k.public_key().to_spki_pem();
    assert_eq!(&PublicKey::from_spki_pem(&pem).unwrap(), k.public_key());
}

const STEPS: [(&str, AppendStep); 6] = [
    ("locked", AppendStep::Locked),
    ("entry-written", AppendStep::EntryWritten),
    ("entry-renamed", AppendStep::EntryRenamed),
    ("head-written", AppendStep::HeadWritten),
    ("view-written", AppendStep::ViewWritten),
    ("checkpoint-written", AppendStep::CheckpointWritten),
];

/// Runs only as a child of the crash test: appends signed, and kills itself with SIGKILL at
/// the step named in the environment.
#[test]
#[ignore = "child process of a_kill_at_any_step_of_a_signed_append_leaves_no_half_signed_entry, which runs it"]
fn signed_crash_child() {
    let (Ok(dir), Ok(step)) = (
        std::env::var("SIGNED_CRASH_DIR"),
        std::env::var("SIGNED_CRASH_STEP"),
    ) else {
        return;
    };
    let target = STEPS.iter().find(|(n, _)| *n == step).unwrap().1;
    let k = ed25519(1);
    let l = Ledger::create(&dir).unwrap();
    let signer = signer(&k);
    l.append_with(with_artifacts(3), Some((&signer, &facts())), &mut |s| {
        if s == target {
            // SAFETY: plain libc calls with valid arguments.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    })
    .unwrap();
}

#[test]
fn a_kill_at_any_step_of_a_signed_append_leaves_no_half_signed_entry() {
    use std::os::unix::process::ExitStatusExt;
    let k = ed25519(1);
    for (name, step) in STEPS {
        let t = tempfile::tempdir().unwrap();
        let l = signed_chain(t.path(), std::slice::from_ref(&k), 2);
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "signed_crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SIGNED_CRASH_DIR", t.path())
            .env("SIGNED_CRASH_STEP", name)
            .status()
            .unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{name}: {status:?}");
        // Every entry on the chain is signed whole: the envelopes came with the entry.
        for line in l.head().unwrap() {
            let dir = t.path().join(line.path.rsplit_once('/').unwrap().0);
            assert!(
                dir.join("receipt.dsse.json").is_file(),
                "{name}: {}",
                line.path
            );
            assert!(
                dir.join("provenance.intoto.jsonl").is_file(),
                "{name}: {}",
                line.path
            );
        }
        let r = with_keys(t.path(), &[&k]);
        assert_eq!(
            verdict(&r, CheckId::SignReceipt),
            Verdict::Pass,
            "{name}: {}",
            show(&r)
        );
        assert_eq!(
            verdict(&r, CheckId::SignProvenance),
            Verdict::Pass,
            "{name}"
        );
        let committed = !matches!(
            step,
            AppendStep::Locked | AppendStep::EntryWritten | AppendStep::EntryRenamed
        );
        // Before the checkpoint is replaced, it is the previous one: stale by one entry.
        let stale = committed && step != AppendStep::CheckpointWritten;
        assert_eq!(
            verdict(&r, CheckId::SignCheckpoint),
            if stale { Verdict::Fail } else { Verdict::Pass },
            "{name}: {}",
            show(&r)
        );
        // Signing again (or the next signed append) repairs what a crash left.
        let s = signer(&k);
        sign_chain(&l, &s, &mut |_| facts()).unwrap();
        l.append_signed(with_artifacts(4), &s, &facts()).unwrap();
        let r = with_keys(t.path(), &[&k]);
        assert!(r.ok(), "{name}: {}", show(&r));
    }
}
