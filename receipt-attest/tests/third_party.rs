//! What this crate writes, checked by code it does not share: securesystemslib's DSSE
//! verification and in-toto-attestation's Statement / SLSA Provenance v1 bindings for the
//! envelopes, and an independent Python verifier (written from the C2SP and RFC 9162 texts)
//! for signed checkpoints and consistency proofs.
//!
//! Needs the test venv: `$RECEIPT_TEST_PYTHON`, else `<workspace>/.venv/bin/python`
//! (`bash scripts/test.sh` or `. scripts/test-env.sh` creates it).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use receipt_attest::checkpoint::{Checkpoint, origin_for_chain};
use receipt_attest::consistency::ConsistencyProof;
use receipt_attest::dsse::Envelope;
use receipt_attest::intoto::{
    BuildDefinition, BuildMetadata, Builder, DigestSet, PAYLOAD_TYPE, Provenance,
    ResourceDescriptor, RunDetails, SLSA_PROVENANCE_V1, Statement,
};
use receipt_attest::keys::{PublicKey, SigningKey};
use receipt_attest::note::NoteVerifier;
use receipt_attest::tree::TreeStore;
use receipt_primitives::merkle::leaf_hash;
use receipt_primitives::{Digest, Timestamp};
use receipt_testkit::python;
use serde_json::{Map, json};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The committed test key, copied to `dir` with mode 0600 (git does not keep modes).
fn private_key(dir: &Path, name: &str) -> SigningKey {
    let p = dir.join(name);
    fs::copy(data(name), &p).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    }
    SigningKey::load(&p).unwrap()
}

fn statement() -> Statement<Provenance> {
    let mut external = Map::new();
    external.insert("args".into(), json!(["--release", "--locked"]));
    external.insert("profile".into(), json!("release"));
    external.insert(
        "source".into(),
        json!({"repository": "https://example.com/app.git", "commit": "0123456789abcdef0123456789abcdef01234567", "dirty": false}),
    );
    let mut internal = Map::new();
    internal.insert(
        "rustc_vv".into(),
        json!("rustc 1.95.0\nhost: x86_64-unknown-linux-gnu\n"),
    );
    internal.insert("env".into(), json!({"SOURCE_DATE_EPOCH": "1735787045"}));
    let sha = |b: &[u8]| DigestSet::from([("sha256".to_owned(), Digest::of(b).to_hex())]);
    Statement::new(
        vec![
            ResourceDescriptor::file("release/app", &Digest::of(b"app")),
            ResourceDescriptor::file("release/libapp.rlib", &Digest::of(b"rlib")),
        ],
        SLSA_PROVENANCE_V1,
        Provenance {
            build_definition: BuildDefinition {
                build_type: "https://receipt.dev/build-types/cargo/v1".into(),
                external_parameters: external,
                internal_parameters: Some(internal),
                resolved_dependencies: Some(vec![
                    ResourceDescriptor {
                        name: Some("source".into()),
                        uri: Some(
                            "git+https://example.com/app.git@0123456789abcdef0123456789abcdef01234567"
                                .into(),
                        ),
                        digest: Some(DigestSet::from([(
                            "gitCommit".to_owned(),
                            "0123456789abcdef0123456789abcdef01234567".to_owned(),
                        )])),
                        ..Default::default()
                    },
                    ResourceDescriptor {
                        name: Some("serde".into()),
                        uri: Some("pkg:cargo/serde@1.0.228".into()),
                        digest: Some(sha(b"serde crate")),
                        ..Default::default()
                    },
                    ResourceDescriptor {
                        name: Some("app".into()),
                        uri: Some("pkg:cargo/app@0.1.0".into()),
                        ..Default::default()
                    },
                ]),
            },
            run_details: RunDetails {
                builder: Builder {
                    id: "https://receipt.dev/cargo-receipt@0.1.0".into(),
                    version: Some(BTreeMap::from([(
                        "cargo-receipt".to_owned(),
                        "0.1.0".to_owned(),
                    )])),
                    builder_dependencies: None,
                },
                metadata: Some(BuildMetadata {
                    invocation_id: Some(format!("sha256:{}", Digest::of(b"receipt"))),
                    started_on: Some(Timestamp::parse("2025-01-02T03:03:04Z").unwrap()),
                    finished_on: Some(Timestamp::parse("2025-01-02T03:04:05Z").unwrap()),
                }),
                byproducts: Some(vec![
                    ResourceDescriptor::file("receipt.json", &Digest::of(b"receipt")),
                    ResourceDescriptor::file("manifest.json", &Digest::of(b"manifest")),
                ]),
            },
        },
    )
}

/// Replaces one base64 character of the payload by another valid one: same length, valid
/// JSON and base64, different payload.
fn flip_payload(json: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(json.to_vec()).unwrap();
    let at = text.find("\"payload\":\"").unwrap() + 11 + 8;
    let mut b = text.into_bytes();
    b[at] = if b[at] == b'A' { b'B' } else { b'A' };
    b
}

#[test]
fn securesystemslib_and_in_toto_attestation_accept_our_envelopes() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let ed = private_key(dir, "ed25519.key");
    let p256 = private_key(dir, "p256.key");
    let ed_pub = PublicKey::load(&data("ed25519.pub")).unwrap();
    let p256_pub = PublicKey::load(&data("p256.pub")).unwrap();
    assert_eq!(ed.public_key(), &ed_pub);
    assert_eq!(p256.public_key(), &p256_pub);
    let other = SigningKey::ed25519_from_seed(&[99; 32]);
    let other_pem = dir.join("other.pub");
    fs::write(&other_pem, other.public_key().to_spki_pem()).unwrap();

    let payload = statement().to_json().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let by_ed = Envelope::sign(PAYLOAD_TYPE, payload.clone(), &[&ed]).unwrap();
    let by_p256 = Envelope::sign(PAYLOAD_TYPE, payload.clone(), &[&p256]).unwrap();
    let by_both = Envelope::sign(PAYLOAD_TYPE, payload, &[&ed, &p256]).unwrap();
    let receipt = Envelope::sign(
        "application/vnd.tau-crystal.receipt+json",
        br#"{"kind":"cargo","schema":"tau-crystal.receipt/1"}"#.to_vec(),
        &[&ed],
    )
    .unwrap();
    let mut bad_sig = by_p256.to_json();
    let sig_at = String::from_utf8(bad_sig.clone())
        .unwrap()
        .find("\"sig\":\"")
        .unwrap()
        + 7
        + 20;
    bad_sig[sig_at] = if bad_sig[sig_at] == b'A' { b'B' } else { b'A' };

    let ed_pem = data("ed25519.pub").to_str().unwrap().to_owned();
    let p_pem = data("p256.pub").to_str().unwrap().to_owned();
    let case = |name: &str, env: &str, pem: &str, keyid: String, expect: &str| json!({"name": name, "envelope": env, "public_key": pem, "keyid": keyid, "expect": expect});
    let (ed_id, p_id) = (ed.key_id().to_string(), p256.key_id().to_string());
    let cases = json!([
        case(
            "ed25519 provenance",
            &write("ed.json", &by_ed.to_json()),
            &ed_pem,
            ed_id.clone(),
            "accept"
        ),
        case(
            "p256 provenance",
            &write("p256.json", &by_p256.to_json()),
            &p_pem,
            p_id.clone(),
            "accept"
        ),
        case(
            "two signatures, ed25519 key",
            &write("both.json", &by_both.to_json()),
            &ed_pem,
            ed_id.clone(),
            "accept"
        ),
        case(
            "two signatures, p256 key",
            &write("both.json", &by_both.to_json()),
            &p_pem,
            p_id.clone(),
            "accept"
        ),
        case(
            "receipt envelope",
            &write("receipt.json", &receipt.to_json()),
            &ed_pem,
            ed_id.clone(),
            "accept"
        ),
        case(
            "flipped payload byte (ed25519)",
            &write("ed-flip.json", &flip_payload(&by_ed.to_json())),
            &ed_pem,
            ed_id.clone(),
            "reject"
        ),
        case(
            "flipped payload byte (p256)",
            &write("p256-flip.json", &flip_payload(&by_p256.to_json())),
            &p_pem,
            p_id.clone(),
            "reject"
        ),
        case(
            "flipped signature byte (p256)",
            &write("p256-sig.json", &bad_sig),
            &p_pem,
            p_id.clone(),
            "reject"
        ),
        case(
            "wrong key under the signer's key id",
            &write("ed.json", &by_ed.to_json()),
            other_pem.to_str().unwrap(),
            ed_id,
            "reject"
        ),
        case(
            "wrong key with its own key id",
            &write("ed.json", &by_ed.to_json()),
            other_pem.to_str().unwrap(),
            other.key_id().to_string(),
            "reject"
        ),
        case(
            "p256 envelope, ed25519 key",
            &write("p256.json", &by_p256.to_json()),
            &ed_pem,
            p_id,
            "reject"
        ),
    ]);
    let out = python::verify("verify_dsse.py", &cases, dir);
    assert!(out.contains("statement ok: 2 subjects"), "{out}");
    assert!(out.contains("ecdsa-sha2-nistp256"), "{out}");
}

#[test]
fn an_independent_verifier_accepts_our_checkpoints_and_consistency_proofs() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let key = private_key(dir, "ed25519.key");
    let other = SigningKey::ed25519_from_seed(&[98; 32]);
    let pem = data("ed25519.pub").to_str().unwrap().to_owned();

    // Leaves as the chain makes them: the RFC 6962 leaf hash of each receipt file's SHA-256.
    let receipts: Vec<Digest> = (0u32..13).map(|i| Digest::of(&i.to_be_bytes())).collect();
    let leaves: Vec<Digest> = receipts.iter().map(|r| leaf_hash(&r.0)).collect();
    let origin = origin_for_chain(&receipts[0]);
    let mut store = TreeStore::create(&dir.join("tree")).unwrap();
    store.extend_to(&leaves[..5]).unwrap();
    let cp = |store: &TreeStore| Checkpoint {
        origin: origin.clone(),
        size: store.size(),
        root: store.root_now(),
        extensions: vec![],
    };
    let old = cp(&store);
    store.extend_to(&leaves).unwrap();
    let new = cp(&store);
    let proof = ConsistencyProof::generate(&store, &origin, 5, 13).unwrap();

    // The same chain with leaf 2 rewritten and every hash recomputed forward.
    let mut forked_leaves = leaves.clone();
    forked_leaves[2] = leaf_hash(&Digest::of(b"rewritten receipt").0);
    let forked_store = TreeStore::rebuild(&dir.join("forked"), &forked_leaves).unwrap();
    let forked_new = cp(&forked_store);
    let forked_proof = ConsistencyProof::generate(&forked_store, &origin, 5, 13).unwrap();
    // The forger's best attempt: the forked log's proof, claiming the honest old root.
    let mut forged_proof = forked_proof.clone();
    forged_proof.old_root = old.root;
    assert!(forged_proof.verify().is_err());

    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let old_note = write("old.checkpoint", &old.sign(&[&key]).unwrap());
    let new_signed = new.sign(&[&key]).unwrap();
    let new_note = write("new.checkpoint", &new_signed);
    let mut tampered = new_signed.clone();
    let root_line = origin.len() + 1 + 3 + 5;
    tampered[root_line] = if tampered[root_line] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let vkey = NoteVerifier::new(&origin, key.public_key())
        .unwrap()
        .to_string();
    let hex: Vec<String> = leaves.iter().map(Digest::to_hex).collect();
    let mut bad_proof = proof.clone();
    bad_proof.proof[1].0[0] ^= 1;
    let cases = json!([
        {"name": "signed checkpoint", "kind": "checkpoint", "note": new_note, "public_key": pem,
         "vkey": vkey, "leaves": hex, "expect": "accept"},
        {"name": "old checkpoint", "kind": "checkpoint", "note": old_note, "public_key": pem,
         "vkey": vkey, "leaves": &hex[..5], "expect": "accept"},
        {"name": "tampered root line", "kind": "checkpoint", "note": write("tampered", &tampered),
         "public_key": pem, "vkey": vkey, "leaves": hex, "expect": "reject"},
        {"name": "signed by another key", "kind": "checkpoint",
         "note": write("other.checkpoint", &new.sign(&[&other]).unwrap()), "public_key": pem,
         "vkey": vkey, "leaves": hex, "expect": "reject"},
        {"name": "consistency 5 -> 13", "kind": "consistency", "old": old_note, "new": new_note,
         "proof": write("proof.json", &proof.to_json()), "public_key": pem, "expect": "accept"},
        {"name": "consistency with a flipped proof hash", "kind": "consistency", "old": old_note,
         "new": new_note, "proof": write("bad-proof.json", &bad_proof.to_json()),
         "public_key": pem, "expect": "reject"},
        {"name": "forked log (leaf 2 rewritten)", "kind": "consistency", "old": old_note,
         "new": write("forked.checkpoint", &forked_new.sign(&[&key]).unwrap()),
         "proof": write("forked-proof.json", &forked_proof.to_json()), "public_key": pem,
         "expect": "reject"},
        {"name": "forked log, proof claiming the honest old root", "kind": "consistency",
         "old": old_note, "new": dir.join("forked.checkpoint"),
         "proof": write("forged-proof.json", &forged_proof.to_json()), "public_key": pem,
         "expect": "reject"},
    ]);
    python::verify("verify_tlog.py", &cases, dir);
}
