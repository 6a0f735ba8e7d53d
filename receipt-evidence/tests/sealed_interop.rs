//! Sealed blobs interoperate with an independent XChaCha20-Poly1305 implementation
//! (libsodium through PyNaCl, from the test venv): what the store seals, libsodium opens
//! with the documented associated data, and what libsodium seals, the store verifies.

use std::process::Command;

use receipt_evidence::blob::{Class, Prepared};
use receipt_evidence::key::SealKey;
use receipt_evidence::store::{EvidenceStore, Fetched, OpenOptions, blob_key};
use receipt_primitives::Timestamp;
use receipt_testkit::python;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Runs a Python snippet with the arguments; returns its trimmed stdout.
fn py(code: &str, args: &[&str]) -> String {
    let out = Command::new(python::interpreter())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed (is pynacl installed? run `bash scripts/test.sh`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

const OPEN: &str = r#"
import sys, hashlib, nacl.bindings as b
key, obj, digest = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3]
aad = b"receipt.evidence.sealed.v1\x00blob://sha256:" + digest.encode()
pt = b.crypto_aead_xchacha20poly1305_ietf_decrypt(obj[24:], aad, obj[:24], key)
assert hashlib.sha256(pt).hexdigest() == digest
print(pt.hex())
"#;

const SEAL: &str = r#"
import sys, os, hashlib, nacl.bindings as b
key, pt = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])
digest = hashlib.sha256(pt).hexdigest()
nonce = os.urandom(24)
aad = b"receipt.evidence.sealed.v1\x00blob://sha256:" + digest.encode()
print((nonce + b.crypto_aead_xchacha20poly1305_ietf_encrypt(pt, aad, nonce, key)).hex())
"#;

#[test]
fn libsodium_opens_what_the_store_seals_and_the_store_verifies_what_libsodium_seals() {
    let t = tempfile::tempdir().unwrap();
    let raw: [u8; 32] = std::array::from_fn(|i| (i * 7 + 3) as u8);
    let store = EvidenceStore::open(
        t.path().join("ev").to_str().unwrap(),
        &OpenOptions {
            create: true,
            ..OpenOptions::default()
        },
    )
    .unwrap()
    .with_key(SealKey::from_bytes(raw));
    let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    for (i, len) in [0usize, 1, 63, 64, 65, 1000].into_iter().enumerate() {
        let plain: Vec<u8> = (0..len).map(|j| (j * 31 + i) as u8).collect();
        let p = Prepared::new(Class::Sealed, plain.clone());
        store.put(&p, now).unwrap();
        let obj = store
            .backend()
            .get(&blob_key(Class::Sealed, p.digest()), 1 << 20)
            .unwrap()
            .unwrap();
        let opened = py(OPEN, &[&hex(&raw), &hex(&obj), &p.digest().to_hex()]);
        assert_eq!(unhex(&opened), plain, "length {len}");

        // The other way: libsodium seals, the store verifies.
        let plain2: Vec<u8> = plain.iter().map(|b| b ^ 0x5a).chain([i as u8]).collect();
        let q = Prepared::new(Class::Sealed, plain2.clone());
        let sealed = unhex(&py(SEAL, &[&hex(&raw), &hex(&plain2)]));
        store
            .backend()
            .put(&blob_key(Class::Sealed, q.digest()), &sealed)
            .unwrap();
        assert_eq!(
            store.get(Class::Sealed, q.digest()).unwrap(),
            Fetched::Verified(plain2)
        );
    }
}
