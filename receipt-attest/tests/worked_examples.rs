//! The worked examples of the signing spec, produced from fixed public test keys and pinned
//! byte for byte: `tests/data/worked/*` are exactly what the documentation shows.
//!
//! Keys: Ed25519 with the RFC 8032 §7.1 test 1 seed, ECDSA P-256 with the RFC 6979 §A.2.5
//! private key. Run with `RECEIPT_BLESS=1` to rewrite the files after an intended change.

use std::fs;
use std::path::PathBuf;

use receipt_attest::checkpoint::{Checkpoint, origin_for_chain};
use receipt_attest::consistency::ConsistencyProof;
use receipt_attest::dsse::{Envelope, pae};
use receipt_attest::keys::{PublicKey, SigningKey};
use receipt_attest::note::NoteVerifier;
use receipt_attest::tree::{TreeStore, level_file};
use receipt_primitives::Digest;
use receipt_primitives::merkle::leaf_hash;

const ED25519_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const P256_SCALAR: &str = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";

fn unhex32(s: &str) -> [u8; 32] {
    let v: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    v.try_into().unwrap()
}

fn golden(name: &str, actual: &[u8]) {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/worked")
        .join(name);
    if std::env::var_os("RECEIPT_BLESS").is_some() {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, actual).unwrap();
        return;
    }
    let want = fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(
        want == actual,
        "{name} changed:\n--- documented\n{}\n--- now\n{}",
        String::from_utf8_lossy(&want),
        String::from_utf8_lossy(actual)
    );
}

#[test]
fn keys_envelopes_checkpoints_and_proofs_are_as_documented() {
    let ed = SigningKey::ed25519_from_seed(&unhex32(ED25519_SEED));
    let p256 = SigningKey::p256_from_scalar(&unhex32(P256_SCALAR)).unwrap();

    // Keys and key ids.
    let mut keys = String::new();
    for (name, k) in [("ed25519", &ed), ("p256", &p256)] {
        keys.push_str(&format!("# {name}\n{}", k.to_pkcs8_pem().as_str()));
        keys.push_str(&k.public_key().to_spki_pem());
        keys.push_str(&format!("key id: {}\n\n", k.key_id()));
        // The files read back.
        assert_eq!(
            PublicKey::from_spki_pem(&k.public_key().to_spki_pem()).unwrap(),
            *k.public_key()
        );
    }
    golden("keys.txt", keys.as_bytes());

    // DSSE: PAE and envelopes (both signatures are deterministic).
    let payload = br#"{"kind":"cargo","schema":"tau-crystal.receipt/1"}"#.to_vec();
    let ty = "application/vnd.tau-crystal.receipt+json";
    golden("pae.txt", &pae(ty, &payload));
    let env = Envelope::sign(ty, payload.clone(), &[&ed, &p256]).unwrap();
    golden("receipt.dsse.json", &env.to_json());
    let trusted = [ed.public_key().clone(), p256.public_key().clone()];
    assert_eq!(
        Envelope::parse(&env.to_json())
            .unwrap()
            .verify(&trusted, ty)
            .unwrap()
            .key_ids
            .len(),
        2
    );

    // A chain of three receipts: leaves, tree store, checkpoints, proof.
    let receipts: Vec<Digest> = (1..=3)
        .map(|i| Digest::of(format!("receipt {i}").as_bytes()))
        .collect();
    let leaves: Vec<Digest> = receipts.iter().map(|r| leaf_hash(&r.0)).collect();
    let t = tempfile::tempdir().unwrap();
    let mut store = TreeStore::create(t.path()).unwrap();
    store.extend_to(&leaves[..1]).unwrap();
    let origin = origin_for_chain(&receipts[0]);
    let old = Checkpoint {
        origin: origin.clone(),
        size: store.size(),
        root: store.root_now(),
        extensions: vec![],
    };
    store.extend_to(&leaves).unwrap();
    let new = Checkpoint {
        origin: origin.clone(),
        size: store.size(),
        root: store.root_now(),
        extensions: vec![],
    };
    let mut tree = String::new();
    for (r, l) in receipts.iter().zip(&leaves) {
        tree.push_str(&format!("receipt sha256 {r}\nleaf           {l}\n"));
    }
    for level in 0..2 {
        let bytes = fs::read(t.path().join(level_file(level))).unwrap();
        let hex: Vec<String> = bytes
            .chunks(32)
            .map(|c| Digest(c.try_into().unwrap()).to_hex())
            .collect();
        tree.push_str(&format!("{}: {}\n", level_file(level), hex.join(" ")));
    }
    tree.push_str(&format!(
        "head: {}",
        fs::read_to_string(t.path().join("head")).unwrap()
    ));
    golden("tree.txt", tree.as_bytes());
    let signed_old = old.sign(&[&ed]).unwrap();
    let signed_new = new.sign(&[&ed, &p256]).unwrap();
    golden("checkpoint-1", &signed_old);
    golden("checkpoint-3", &signed_new);
    let vkeys = format!(
        "{}\n{}\n",
        NoteVerifier::new(&origin, ed.public_key()).unwrap(),
        NoteVerifier::new(&origin, p256.public_key()).unwrap()
    );
    golden("verifier-keys.txt", vkeys.as_bytes());
    let (cp, ids) = Checkpoint::open(&signed_new, &trusted).unwrap();
    assert_eq!((cp, ids.len()), (new.clone(), 2));
    let proof = ConsistencyProof::generate(&store, &origin, 1, 3).unwrap();
    proof.verify_between(&old, &new).unwrap();
    golden("consistency-1-3.json", &proof.to_json());
}
