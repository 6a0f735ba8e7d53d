//! Signed receipts end to end with the real binary: `keygen`, `build --sign`, `sign`,
//! `verify --key/--since/--policy`, `consistency`, against the forgeries an attacker without
//! the key can make (every hash recomputed forward).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{BIN, EPOCH, simple, zip_dir};
use receipt_attest::checkpoint::Checkpoint;
use receipt_attest::consistency::ConsistencyProof;
use receipt_attest::keys::PublicKey;
use receipt_graph::CanonicalGraph;
use receipt_protocol::assemble::tau_section;
use receipt_protocol::manifest::Manifest;
use receipt_testkit::fixture::{cargo_receipt, copy_dir, git, text};
use receipt_testkit::python;
use receipt_testkit::{reseal_last, reseal_last_manifest};
use serde_json::Value;

/// Rewrites a copied output directory as an attacker without the key would.
type Forgery = Box<dyn Fn(&Path)>;

/// The one-package fixture whose `f()` returns `n`.
fn project(root: &Path, n: u32) {
    simple(root, &format!("pub fn f() -> u32 {{\n    {n}\n}}\n"));
}

fn run(dir: &Path, args: &[&str]) -> Output {
    cargo_receipt(Path::new(BIN), dir, args, &[("SOURCE_DATE_EPOCH", EPOCH)])
}

fn ok(o: Output) -> Output {
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    o
}

fn fails(o: &Output, check: &str) {
    assert_eq!(o.status.code(), Some(1), "{}", text(o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL") && l.contains(check)),
        "no FAIL {check}:\n{}",
        text(o)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A project with a key pair in `keys/` and `n` signed builds.
struct Signed {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    key: PathBuf,
    public: PathBuf,
}

impl Signed {
    fn new(n: u32) -> Signed {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        project(&dir, 1);
        let keys = tmp.path().join("keys");
        let o = ok(run(&dir, &["keygen", "--out", s(&keys)]));
        let id = String::from_utf8(o.stdout).unwrap();
        let key = keys.join("receipt-signing.key");
        let public = keys.join("receipt-signing.pub");
        assert_eq!(
            id.trim(),
            PublicKey::load(&public).unwrap().key_id().to_string()
        );
        let me = Signed {
            _tmp: tmp,
            dir,
            key,
            public,
        };
        for i in 1..=n {
            me.build(i);
        }
        me
    }

    fn build(&self, i: u32) {
        project(&self.dir, i);
        ok(run(&self.dir, &["build", "--sign", s(&self.key)]));
    }

    fn out(&self) -> PathBuf {
        self.dir.join("target/receipt")
    }

    fn verify(&self, extra: &[&str]) -> Output {
        let mut args = vec!["verify", "--key", s(&self.public)];
        args.extend_from_slice(extra);
        run(&self.dir, &args)
    }
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("k");
    ok(run(tmp.path(), &["keygen", "--out", s(&keys)]));
    let mode = |f: &str| fs::metadata(keys.join(f)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("receipt-signing.key"), 0o600);
    assert_eq!(mode("receipt-signing.pub") & 0o600, 0o600);
    let before = fs::read(keys.join("receipt-signing.key")).unwrap();
    let o = run(tmp.path(), &["keygen", "--out", s(&keys)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    assert_eq!(fs::read(keys.join("receipt-signing.key")).unwrap(), before);
}

#[test]
fn a_group_readable_key_is_refused_before_anything_is_built() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    project(dir, 1);
    let keys = dir.join("keys");
    ok(run(dir, &["keygen", "--out", s(&keys)]));
    let key = keys.join("receipt-signing.key");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o640)).unwrap();
    let o = run(dir, &["build", "--sign", s(&key)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "{}: private key file is readable by group or others (mode 0640); run chmod 600",
            key.display()
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!dir.join("target/receipt").exists());
}

#[test]
fn a_signed_build_verifies_with_its_key_and_plain_forgeries_fail_under_it() {
    let sg = Signed::new(2);
    let out = sg.out();
    for f in [
        "receipts/000002/receipt.dsse.json",
        "receipts/000002/provenance.intoto.jsonl",
        "checkpoint",
        "tree/head",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let o = ok(sg.verify(&[]));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for id in [
        "sign.receipt",
        "sign.provenance",
        "sign.checkpoint",
        "sign.tree",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("PASS") && l.contains(id)),
            "{stdout}"
        );
    }
    // The provenance lists every Cargo.lock package.
    let line = fs::read_to_string(out.join("receipts/000002/provenance.intoto.jsonl")).unwrap();
    let env: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    let payload = base64_decode(env["payload"].as_str().unwrap());
    let st: Value = serde_json::from_slice(&payload).unwrap();
    let deps = &st["predicate"]["buildDefinition"]["resolvedDependencies"];
    assert!(
        deps.as_array()
            .unwrap()
            .iter()
            .any(|d| d["uri"] == "pkg:cargo/fx@0.1.0"),
        "{deps}"
    );
    assert_eq!(
        st["predicate"]["runDetails"]["builder"]["id"],
        format!(
            "https://receipt.dev/cargo-receipt@{}",
            env!("CARGO_PKG_VERSION")
        )
    );

    let forgeries: [(&str, Forgery); 5] = [
        (
            "ingress.rustc_vv",
            Box::new(|d: &Path| {
                let mut r: Value = serde_json::from_slice(
                    &fs::read(d.join("receipts/000002/receipt.json")).unwrap(),
                )
                .unwrap();
                r["ingress"]["rustc_vv"] = "rustc 0.0.0-forged\n".into();
                // The section's `available` flag is not part of the preimage.
                let mut pre = r["ingress"].clone();
                pre.as_object_mut().unwrap().remove("available");
                let h = receipt_primitives::jcs::sha256(&pre).unwrap();
                reseal_last_manifest(d, |m| m.ingress_preimage_sha256 = Some(h));
                reseal_last(d, |x| x["ingress"] = r["ingress"].clone());
            }),
        ),
        (
            "source.git.commit",
            Box::new(|d: &Path| {
                reseal_last(
                    d,
                    |r| r["source"]["git"] = serde_json::json!({"available": true, "commit": "1".repeat(40), "dirty": false}),
                );
            }),
        ),
        (
            "manifest.timestamp",
            Box::new(|d: &Path| {
                reseal_last_manifest(d, |m| {
                    m.timestamp = receipt_primitives::Timestamp::from_unix(1_800_000_000).unwrap()
                });
                retau(d);
            }),
        ),
        (
            "graph.json",
            Box::new(|d: &Path| {
                let gpath = d.join("receipts/000002/graph.json");
                let g = CanonicalGraph::from_json_bytes(&fs::read(&gpath).unwrap()).unwrap();
                let mut edges: Vec<(String, String)> = g
                    .edges()
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .collect();
                edges.push(("evil@6.6.6".into(), g.nodes()[0].clone()));
                let forged = CanonicalGraph::new(g.nodes().to_vec(), edges).unwrap();
                let bytes = forged.to_json_bytes();
                fs::write(&gpath, &bytes).unwrap();
                fs::write(d.join("graph.json"), &bytes).unwrap();
                let mut rank = serde_json::to_value(receipt_graph::rank(&forged)).unwrap();
                rank["available"] = true.into();
                reseal_last(d, |r| {
                    r["graph"]["digest"] = receipt_primitives::Digest::of(&bytes).to_hex().into();
                    r["graph"]["nodes"] = forged.node_count().into();
                    r["graph"]["edges"] = forged.edge_count().into();
                    r["rank"] = rank;
                });
                retau(d);
            }),
        ),
        (
            "rollback",
            Box::new(|d: &Path| {
                let head = fs::read_to_string(d.join("chain.head")).unwrap();
                let first = head.lines().next().unwrap();
                fs::write(d.join("chain.head"), format!("{first}\n")).unwrap();
                fs::remove_dir_all(d.join("receipts/000002")).unwrap();
                for f in ["receipt.json", "manifest.json", "graph.json"] {
                    fs::copy(d.join("receipts/000001").join(f), d.join(f)).unwrap();
                }
            }),
        ),
    ];
    for (what, forge) in forgeries {
        let copy = sg
            ._tmp
            .path()
            .join(format!("forged-{}", what.replace('.', "-")));
        copy_dir(&out, &copy);
        forge(&copy);
        let plain = run(&sg.dir, &["verify", s(&copy)]);
        assert_eq!(
            plain.status.code(),
            Some(0),
            "{what}: plain verify\n{}",
            text(&plain)
        );
        let keyed = run(&sg.dir, &["verify", s(&copy), "--key", s(&sg.public)]);
        assert_eq!(keyed.status.code(), Some(1), "{what}: {}", text(&keyed));
        let expect = if what == "rollback" {
            "sign.checkpoint"
        } else {
            "sign.receipt"
        };
        fails(&keyed, expect);
    }
}

#[test]
fn another_key_fails_and_a_p256_key_from_openssl_works_end_to_end() {
    let sg = Signed::new(1);
    let other = sg._tmp.path().join("other");
    ok(run(&sg.dir, &["keygen", "--out", s(&other)]));
    let o = run(
        &sg.dir,
        &["verify", "--key", s(&other.join("receipt-signing.pub"))],
    );
    fails(&o, "sign.receipt");
    fails(&o, "sign.checkpoint");

    let t = tempfile::tempdir().unwrap();
    let key = t.path().join("p256.pem");
    let public = t.path().join("p256.pub");
    let sh = format!(
        "umask 077 && openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out {} && openssl pkey -in {} -pubout -out {}",
        key.display(),
        key.display(),
        public.display()
    );
    let o = Command::new("sh").args(["-c", &sh]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let dir = t.path().join("p");
    project(&dir, 3);
    ok(run(&dir, &["build", "--sign", s(&key)]));
    ok(run(&dir, &["verify", "--key", s(&public)]));
    let o = run(&dir, &["verify", "--key", s(&sg.public)]);
    fails(&o, "sign.receipt");
}

#[test]
fn sign_consistency_and_since_on_a_growing_chain_and_a_fork() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    project(&dir, 1);
    let keys = tmp.path().join("keys");
    ok(run(&dir, &["keygen", "--out", s(&keys)]));
    let (key, public) = (
        keys.join("receipt-signing.key"),
        keys.join("receipt-signing.pub"),
    );
    // Unsigned builds, then signed afterwards.
    ok(run(&dir, &["build"]));
    project(&dir, 2);
    ok(run(&dir, &["build"]));
    fails(&run(&dir, &["verify", "--key", s(&public)]), "sign.receipt");
    ok(run(&dir, &["sign", "--key", s(&key)]));
    ok(run(&dir, &["verify", "--key", s(&public)]));
    let out = dir.join("target/receipt");
    let kept = tmp.path().join("checkpoint-2");
    fs::copy(out.join("checkpoint"), &kept).unwrap();
    // Two more signed builds.
    for i in 3..=4 {
        project(&dir, i);
        ok(run(&dir, &["build", "--sign", s(&key)]));
    }
    ok(run(
        &dir,
        &["verify", "--key", s(&public), "--since", s(&kept)],
    ));
    let o = ok(run(&dir, &["consistency", s(&kept)]));
    let proof = ConsistencyProof::parse(&o.stdout).unwrap();
    assert_eq!((proof.old_size, proof.new_size), (2, 4));
    let pk = PublicKey::load(&public).unwrap();
    let (old, _) = Checkpoint::open(&fs::read(&kept).unwrap(), std::slice::from_ref(&pk)).unwrap();
    let (new, _) = Checkpoint::open(
        &fs::read(out.join("checkpoint")).unwrap(),
        std::slice::from_ref(&pk),
    )
    .unwrap();
    proof.verify_between(&old, &new).unwrap();

    // A fork: entry 2 onward replaced by other builds, all signed by the same key.
    let fork = tmp.path().join("fork");
    copy_dir(&out, &fork);
    let head = fs::read_to_string(fork.join("chain.head")).unwrap();
    let first = head.lines().next().unwrap();
    fs::write(fork.join("chain.head"), format!("{first}\n")).unwrap();
    for e in 2..=4 {
        fs::remove_dir_all(fork.join(format!("receipts/{e:06}"))).unwrap();
    }
    fs::remove_dir_all(fork.join("tree")).unwrap();
    for f in ["receipt.json", "manifest.json", "graph.json"] {
        fs::copy(fork.join("receipts/000001").join(f), fork.join(f)).unwrap();
    }
    for i in 7..=9 {
        project(&dir, i);
        ok(run(&dir, &["build", "--sign", s(&key), "--out", s(&fork)]));
    }
    ok(run(&dir, &["verify", s(&fork), "--key", s(&public)]));
    let o = run(
        &dir,
        &["verify", s(&fork), "--key", s(&public), "--since", s(&kept)],
    );
    fails(&o, "sign.since");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("rewritten or the chain forked"),
        "{}",
        text(&o)
    );
    let o = run(&dir, &["consistency", s(&kept), s(&fork)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the chain was rewritten"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_policy_is_checked_as_named_checks_and_in_json() {
    let sg = Signed::new(1);
    git(&sg.dir, &["init", "-q", "-b", "main"]);
    git(&sg.dir, &["add", "-A"]);
    git(&sg.dir, &["commit", "-q", "-m", "one"]);
    sg.build(5);
    let id = PublicKey::load(&sg.public).unwrap().key_id().to_string();
    let policy = sg._tmp.path().join("policy.toml");
    fs::write(
        &policy,
        format!(
            "schema = \"tau-crystal.policy/1\"\nbuilder_id = \"https://receipt.dev/cargo-receipt@{}\"\n\
             branches = [\"main\"]\nkey_ids = [\"{id}\"]\nmin_chain_length = 2\nrequired_checks = [\"source.tree\"]\n",
            env!("CARGO_PKG_VERSION")
        ),
    )
    .unwrap();
    let o = ok(sg.verify(&["--source", "--policy", s(&policy), "--json"]));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["verdict"] == "PASS")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for id in [
        "policy.builder",
        "policy.source",
        "policy.keys",
        "policy.chain_length",
        "policy.checks",
    ] {
        assert!(names.contains(&id), "{id}: {names:?}");
    }
    fs::write(
        &policy,
        "schema = \"tau-crystal.policy/1\"\nmin_chain_length = 9\nbranches = [\"release\"]\n",
    )
    .unwrap();
    let o = sg.verify(&["--source", "--policy", s(&policy)]);
    fails(&o, "policy.chain_length");
    assert_eq!(o.status.code(), Some(1));
    fs::write(&policy, "schema = \"tau-crystal.policy/1\"\nbuilder = 1\n").unwrap();
    let o = sg.verify(&["--policy", s(&policy)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("policy.toml"));
}

/// Recomputes the last receipt's τ from its graph and manifest and re-seals it.
fn retau(d: &Path) {
    let g =
        CanonicalGraph::from_json_bytes(&fs::read(d.join("receipts/000002/graph.json")).unwrap())
            .unwrap();
    let m = Manifest::parse(&fs::read(d.join("receipts/000002/manifest.json")).unwrap()).unwrap();
    let tau = serde_json::to_value(tau_section(&g, &m)).unwrap();
    reseal_last(d, |r| r["tau"] = tau);
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// The envelopes of real `cargo receipt build --sign` runs (an Ed25519 key from `keygen`, a
/// P-256 key from openssl) verified by securesystemslib's DSSE code, and their statements
/// parsed by in-toto-attestation (`receipt-attest/tests/python/verify_dsse.py`).
#[test]
fn securesystemslib_and_in_toto_attestation_accept_the_envelopes_of_a_real_build() {
    let sg = Signed::new(1);
    let t = tempfile::tempdir().unwrap();
    let (p_key, p_pub) = (t.path().join("p256.pem"), t.path().join("p256.pub"));
    let sh = format!(
        "umask 077 && openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out {k} && openssl pkey -in {k} -pubout -out {p}",
        k = p_key.display(),
        p = p_pub.display()
    );
    assert!(
        Command::new("sh")
            .args(["-c", &sh])
            .status()
            .unwrap()
            .success()
    );
    let p_dir = t.path().join("p");
    project(&p_dir, 4);
    ok(run(&p_dir, &["build", "--sign", s(&p_key)]));

    let mut cases = Vec::new();
    for (name, out, public) in [
        ("ed25519", sg.out(), sg.public.clone()),
        ("p256", p_dir.join("target/receipt"), p_pub.clone()),
    ] {
        let keyid = PublicKey::load(&public).unwrap().key_id().to_string();
        let entry = out.join("receipts/000001");
        let prov = fs::read_to_string(entry.join("provenance.intoto.jsonl")).unwrap();
        let prov_file = t.path().join(format!("{name}-provenance.json"));
        fs::write(&prov_file, prov.lines().next().unwrap()).unwrap();
        let mut flipped: Value = serde_json::from_str(prov.lines().next().unwrap()).unwrap();
        let p = flipped["payload"].as_str().unwrap().to_owned();
        let c = if p.as_bytes()[40] == b'A' { "B" } else { "A" };
        flipped["payload"] = format!("{}{c}{}", &p[..40], &p[41..]).into();
        let flip_file = t.path().join(format!("{name}-flipped.json"));
        fs::write(&flip_file, serde_json::to_vec(&flipped).unwrap()).unwrap();
        for (what, file, expect) in [
            ("provenance", prov_file, "accept"),
            ("receipt", entry.join("receipt.dsse.json"), "accept"),
            (
                "provenance with a flipped payload byte",
                flip_file,
                "reject",
            ),
        ] {
            cases.push(serde_json::json!({
                "name": format!("{name} {what}"),
                "envelope": s(&file),
                "public_key": s(&public),
                "keyid": keyid,
                "expect": expect,
            }));
        }
    }
    let stdout = python::verify("verify_dsse.py", &Value::from(cases), t.path());
    assert!(
        stdout.contains("buildType https://receipt.dev/build-types/cargo/v1"),
        "{stdout}"
    );
    assert!(stdout.contains("ecdsa-sha2-nistp256"), "{stdout}");
}

/// The checkpoints and the consistency proof of a real signed chain, checked by the
/// independent Python verifier written from the C2SP and RFC 9162 texts
/// (`receipt-attest/tests/python/verify_tlog.py`).
#[test]
fn an_independent_verifier_accepts_the_checkpoints_and_proof_of_a_real_chain() {
    let sg = Signed::new(1);
    let t = tempfile::tempdir().unwrap();
    let old = t.path().join("checkpoint-1");
    fs::copy(sg.out().join("checkpoint"), &old).unwrap();
    sg.build(2);
    sg.build(3);
    let o = ok(run(&sg.dir, &["consistency", s(&old)]));
    let proof = t.path().join("proof.json");
    fs::write(&proof, &o.stdout).unwrap();
    let mut bad: Value = serde_json::from_slice(&o.stdout).unwrap();
    bad["proof"][0] = "0".repeat(64).into();
    let bad_proof = t.path().join("bad-proof.json");
    fs::write(&bad_proof, receipt_primitives::jcs::to_vec(&bad).unwrap()).unwrap();

    let head = fs::read_to_string(sg.out().join("chain.head")).unwrap();
    let hashes: Vec<receipt_primitives::Digest> = head
        .lines()
        .map(|l| receipt_primitives::Digest::from_hex(l.split(' ').next().unwrap()).unwrap())
        .collect();
    let leaves: Vec<String> = hashes
        .iter()
        .map(|h| receipt_attest::checkpoint::chain_leaf(h).to_hex())
        .collect();
    let origin = receipt_attest::checkpoint::origin_for_chain(&hashes[0]);
    let pk = PublicKey::load(&sg.public).unwrap();
    let vkey = receipt_attest::note::NoteVerifier::new(&origin, &pk)
        .unwrap()
        .to_string();
    let new = sg.out().join("checkpoint");
    let cases = serde_json::json!([
        {"name": "checkpoint of 3", "kind": "checkpoint", "note": s(&new), "public_key": s(&sg.public),
         "vkey": vkey, "leaves": leaves, "expect": "accept"},
        {"name": "checkpoint of 1", "kind": "checkpoint", "note": s(&old), "public_key": s(&sg.public),
         "vkey": vkey, "leaves": leaves[..1], "expect": "accept"},
        {"name": "consistency 1 -> 3", "kind": "consistency", "old": s(&old), "new": s(&new),
         "proof": s(&proof), "public_key": s(&sg.public), "expect": "accept"},
        {"name": "consistency with a rewritten proof hash", "kind": "consistency", "old": s(&old),
         "new": s(&new), "proof": s(&bad_proof), "public_key": s(&sg.public), "expect": "reject"},
    ]);
    python::verify("verify_tlog.py", &cases, t.path());
}

#[test]
fn a_downloaded_artifact_verifies_with_the_key_and_a_flipped_checkpoint_byte_fails() {
    let sg = Signed::new(1);
    let t = tempfile::tempdir().unwrap();
    let good = t.path().join("receipt.zip");
    fs::write(&good, zip_dir(&sg.out(), "", |_, _| {})).unwrap();
    ok(run(&sg.dir, &["verify", s(&good), "--key", s(&sg.public)]));
    let bad = t.path().join("flipped.zip");
    fs::write(
        &bad,
        zip_dir(&sg.out(), "", |rel, b| {
            if rel == "checkpoint" {
                let at = b.len() - 10;
                b[at] ^= 0x01;
            }
        }),
    )
    .unwrap();
    let o = run(&sg.dir, &["verify", s(&bad), "--key", s(&sg.public)]);
    fails(&o, "sign.checkpoint");
}
