//! File inclusion proofs from a real scanned tree: they verify, survive JSON, and every
//! tampered field is refused.

use std::fs;
use std::path::Path;

use receipt_primitives::Digest;
use receipt_protocol::proof::{FileProof, FileProofError, PROOF_SCHEMA};
use receipt_scan::{FileKind, ScanOptions, TrackedTree, scan};

/// A walk-mode tree of 37 files (not a power of two, so audit paths have uneven lengths),
/// one executable and one symlink.
fn scanned() -> (tempfile::TempDir, TrackedTree) {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..35 {
        let p = dir.path().join(format!("d{}/f{i:02}.txt", i % 4));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, format!("file {i}\n").repeat(i + 1)).unwrap();
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.path().join("tool.sh");
        fs::write(&p, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::os::unix::fs::symlink("d0/f00.txt", dir.path().join("link")).unwrap();
    let tree = scan(dir.path(), &ScanOptions::default()).unwrap();
    assert_eq!(tree.files.len(), 37);
    (dir, tree)
}

/// What a third party would hold for a file: its content (the link target for a symlink).
fn content(root: &Path, tree: &TrackedTree, path: &str) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    let full = root.join(path);
    match tree.get(path).unwrap().kind {
        FileKind::Symlink => fs::read_link(full).unwrap().as_os_str().as_bytes().to_vec(),
        _ => fs::read(full).unwrap(),
    }
}

#[test]
fn a_proof_for_every_file_verifies_against_the_root_and_the_content() {
    let (dir, tree) = scanned();
    let root = tree.root();
    for (i, f) in tree.files.iter().enumerate() {
        let proof = tree.proof(&f.path).unwrap();
        assert_eq!(proof.schema, PROOF_SCHEMA);
        assert_eq!((proof.leaf_index, proof.tree_size), (i as u64, 37));
        assert_eq!(proof.merkle_root, root);
        proof.verify().unwrap();
        proof
            .verify_against(&root, &content(dir.path(), &tree, &f.path))
            .unwrap();
    }
    assert!(tree.proof("not/there").is_none());
}

#[test]
fn proofs_round_trip_through_canonical_json() {
    let (_dir, tree) = scanned();
    let proof = tree.proof("tool.sh").unwrap();
    let bytes = proof.to_json_bytes();
    assert!(receipt_primitives::jcs::is_canonical(&bytes));
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.starts_with(r#"{"audit_path":[""#), "{text}");
    assert!(text.contains(r#""kind":"x""#), "{text}");
    assert_eq!(FileProof::from_json_bytes(&bytes).unwrap(), proof);

    // Unknown fields, another schema, and non-canonical spelling are refused.
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["extra"] = 1.into();
    let extra = receipt_primitives::jcs::to_vec(&v).unwrap();
    assert!(matches!(
        FileProof::from_json_bytes(&extra),
        Err(FileProofError::Json(m)) if m.contains("extra")
    ));
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["schema"] = "tau-crystal.tracked-proof/2".into();
    let other = receipt_primitives::jcs::to_vec(&v).unwrap();
    assert!(matches!(
        FileProof::from_json_bytes(&other),
        Err(FileProofError::Schema(_))
    ));
    let pretty = serde_json::to_vec_pretty(&proof).unwrap();
    assert_eq!(
        FileProof::from_json_bytes(&pretty),
        Err(FileProofError::NotCanonical)
    );
}

#[test]
fn every_tampered_field_is_refused() {
    let (dir, tree) = scanned();
    let root = tree.root();
    // Index 5 of 37: an audit path of six hashes, with left and right siblings.
    let path = tree.files[5].path.clone();
    let good = tree.proof(&path).unwrap();
    let bytes = content(dir.path(), &tree, &path);
    good.verify_against(&root, &bytes).unwrap();
    assert_eq!(good.audit_path.len(), 6);

    let refused = |p: &FileProof, what: &str| {
        assert!(p.verify().is_err(), "{what}: verify accepted");
        assert!(
            p.verify_against(&root, &bytes).is_err(),
            "{what}: verify_against accepted"
        );
    };

    let mut p = good.clone();
    p.path = tree.files[6].path.clone();
    refused(&p, "path");
    let mut p = good.clone();
    p.path.push('x');
    refused(&p, "path suffix");
    for kind in [FileKind::Executable, FileKind::Symlink] {
        let mut p = good.clone();
        p.kind = kind;
        refused(&p, "kind");
    }
    let mut p = good.clone();
    p.content_sha256.0[31] ^= 1;
    refused(&p, "content digest");
    for index in [4, 6, 36, 37, 1000] {
        let mut p = good.clone();
        p.leaf_index = index;
        refused(&p, "leaf index");
    }
    for size in [5, 32, 65, 1000] {
        let mut p = good.clone();
        p.tree_size = size;
        refused(&p, "tree size");
    }
    // RFC 9162 paths bind the root, not `tree_size` by itself: leaf 5 has the same path in
    // every tree of 33..=64 leaves whose first 32 leaves agree. The trusted root is what
    // fixes the size (docs/SPEC.md says so).
    let mut p = good.clone();
    p.tree_size = 36;
    p.verify_against(&root, &bytes).unwrap();
    let mut p = good.clone();
    p.merkle_root.0[0] ^= 0x80;
    refused(&p, "root");
    for i in 0..good.audit_path.len() {
        for bit in [0u8, 7] {
            let mut p = good.clone();
            p.audit_path[i].0[usize::from(bit) * 4] ^= 1 << bit;
            refused(&p, &format!("audit hash {i} bit {bit}"));
        }
    }
    let mut p = good.clone();
    p.audit_path.pop();
    refused(&p, "shortened audit path");
    let mut p = good.clone();
    p.audit_path.push(root);
    refused(&p, "lengthened audit path");
    let mut p = good.clone();
    p.audit_path.swap(0, 1);
    refused(&p, "reordered audit path");
    let mut p = good.clone();
    p.schema = "x".into();
    refused(&p, "schema");

    // Another file's content, and a root other than the trusted one.
    assert!(matches!(
        good.verify_content(b"something else"),
        Err(FileProofError::Content { .. })
    ));
    let other_root = Digest::of(b"another tree");
    assert!(matches!(
        good.verify_against(&other_root, &bytes),
        Err(FileProofError::Root { .. })
    ));
}

#[test]
fn a_proof_from_an_edited_tree_does_not_verify_against_the_old_root() {
    let (dir, tree) = scanned();
    let old_root = tree.root();
    fs::write(dir.path().join("d1/f01.txt"), "edited\n").unwrap();
    let edited = scan(dir.path(), &ScanOptions::default()).unwrap();
    let proof = edited.proof("d1/f01.txt").unwrap();
    proof.verify_content(b"edited\n").unwrap();
    assert!(proof.verify_against(&old_root, b"edited\n").is_err());
    // Forging the old root into the new proof fails the path check.
    let mut forged = proof.clone();
    forged.merkle_root = old_root;
    assert!(forged.verify_against(&old_root, b"edited\n").is_err());
}
