//! End-to-end tests of `cargo receipt verify ARTIFACT` and `cargo receipt diff`: the real
//! binary against fixture projects built in temp directories (path packages only, offline).

mod common;

use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{BIN, EPOCH, zip_dir};
use receipt_testkit::fixture::{cargo_receipt, cargo_workspace, text, write};
use serde_json::Value;
use zip::write::{SimpleFileOptions, ZipWriter};

/// `app` (with an optional feature) depending on the path package `util` at `version`.
fn project(root: &Path, util_version: &str) {
    cargo_workspace(root, &["app", "util"]);
    write(
        root,
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [features]\nloud = []\n\n[dependencies]\nutil = { path = \"../util\" }\n",
    );
    write(
        root,
        "app/src/main.rs",
        "fn main() {\n    println!(\"{}\", util::twice(2));\n}\n",
    );
    write(
        root,
        "util/Cargo.toml",
        &format!("[package]\nname = \"util\"\nversion = \"{util_version}\"\nedition = \"2021\"\n"),
    );
    write(
        root,
        "util/src/lib.rs",
        "pub fn twice(x: u32) -> u32 {\n    2 * x\n}\n",
    );
}

/// Runs `cargo-receipt receipt <args>` in `dir` with its own target directory.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec![("SOURCE_DATE_EPOCH", EPOCH)];
    all.extend_from_slice(env);
    cargo_receipt(Path::new(BIN), dir, args, &all)
}

fn code(o: &Output, want: i32) -> String {
    assert_eq!(o.status.code(), Some(want), "{}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn build(dir: &Path, args: &[&str], env: &[(&str, &str)]) {
    let mut all = vec!["build", "--workspace", "--offline"];
    all.extend_from_slice(args);
    code(&run(dir, &all, env), 0);
}

fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn a_zipped_artifact_verifies_and_a_tampered_or_hostile_one_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("proj");
    project(&dir, "0.2.0");
    build(&dir, &[], &[]);
    let ledger = dir.join("target/receipt");
    let arts = tmp.path();

    // GitHub's layout (files at the root) and a wrapping directory, as ZIP and tar.gz.
    let flat = save(arts, "artifact.zip", &zip_dir(&ledger, "", |_, _| {}));
    let out = code(&run(&dir, &["verify", flat.to_str().unwrap()], &[]), 0);
    assert!(out.contains("verification passed"), "{out}");
    let wrapped = save(
        arts,
        "wrapped.zip",
        &zip_dir(&ledger, "receipt/", |_, _| {}),
    );
    code(&run(&dir, &["verify", wrapped.to_str().unwrap()], &[]), 0);
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    tar.append_dir_all("receipt", &ledger).unwrap();
    let tgz = save(
        arts,
        "artifact.tar.gz",
        &tar.into_inner().unwrap().finish().unwrap(),
    );
    code(&run(&dir, &["verify", tgz.to_str().unwrap()], &[]), 0);
    // --artifacts still means the local target directory.
    let out = code(
        &run(
            &dir,
            &["verify", flat.to_str().unwrap(), "--artifacts"],
            &[],
        ),
        0,
    );
    assert!(
        out.contains("artifacts in the target directory have their recorded SHA-256"),
        "{out}"
    );

    // One byte of the stored receipt changed inside the artifact.
    let tampered = zip_dir(&ledger, "", |rel, bytes| {
        if rel == "receipts/000001/receipt.json" {
            let at = bytes.iter().position(|&b| b == b'0').unwrap();
            bytes[at] = b'1';
        }
    });
    let tampered = save(arts, "tampered.zip", &tampered);
    let o = run(&dir, &["verify", tampered.to_str().unwrap()], &[]);
    let out = code(&o, 1);
    assert!(
        out.contains("FAIL")
            && out.contains("chain.head_hash")
            && out.contains("receipts/000001/receipt.json"),
        "{out}"
    );

    // Hostile archives are refused before anything is verified.
    let hostile: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "slip.zip",
            zip_dir(&ledger, "../", |_, _| {}),
            "has a `..` component",
        ),
        (
            "abs.zip",
            zip_dir(&ledger, "/tmp/", |_, _| {}),
            "is an absolute path",
        ),
        (
            "symlink.zip",
            {
                let mut w = ZipWriter::new(Cursor::new(Vec::new()));
                w.add_symlink("chain.head", "/etc/passwd", SimpleFileOptions::default())
                    .unwrap();
                w.finish().unwrap().into_inner()
            },
            "is a symbolic link",
        ),
        (
            "dup.zip",
            {
                let mut w = ZipWriter::new(Cursor::new(Vec::new()));
                for name in ["chain.head", "./chain.head"] {
                    w.start_file(name, SimpleFileOptions::default()).unwrap();
                    w.write_all(b"x\n").unwrap();
                }
                w.finish().unwrap().into_inner()
            },
            "appears twice",
        ),
        (
            "fifo.tar.gz",
            {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_path("chain.head").unwrap();
                h.set_size(0);
                h.set_cksum();
                let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
                    Vec::new(),
                    flate2::Compression::default(),
                ));
                b.append(&h, std::io::empty()).unwrap();
                b.into_inner().unwrap().finish().unwrap()
            },
            "is a FIFO",
        ),
    ];
    for (name, bytes, sentence) in hostile {
        let p = save(arts, name, &bytes);
        let o = run(&dir, &["verify", p.to_str().unwrap()], &[]);
        code(&o, 2);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("refusing member") && err.contains(sentence) && err.lines().count() == 1,
            "{name}: {err}"
        );
    }
}

/// Runs `diff` and parses its JSON.
fn diff_json(dir: &Path, a: &str, b: &str, want: i32) -> Value {
    let out = code(&run(dir, &["diff", "--json", a, b], &[]), want);
    assert!(out.ends_with('\n'));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "receipt.diff/1");
    assert_eq!(
        serde_jcs::to_string(&v).unwrap(),
        out.trim_end(),
        "the JSON form is canonical"
    );
    v
}

fn change<'v>(d: &'v Value, item: &str) -> &'v Value {
    d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["item"] == item)
        .unwrap_or_else(|| panic!("no change {item:?} in {d:#}"))
}

fn counted(d: &Value) -> Vec<String> {
    d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["counts"] == true)
        .map(|c| c["item"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn diff_names_a_dependency_bump_a_feature_an_edited_file_and_a_toolchain_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("proj");
    project(&dir, "0.2.0");
    build(&dir, &[], &[]); // entry 1
    // A second identical build: nothing that is hashed differs.
    build(&dir, &[], &[]); // entry 2
    let d = diff_json(&dir, "@1", "@2", 0);
    assert_eq!(d["differs"], false);
    assert!(counted(&d).is_empty(), "{d:#}");
    let text = code(&run(&dir, &["diff", "@1", "@-1"], &[]), 0);
    assert!(text.contains("receipts match"), "{text}");

    // The dependency bump: util 0.2.0 → 0.3.0 (a path package, so offline).
    write(
        &dir,
        "util/Cargo.toml",
        "[package]\nname = \"util\"\nversion = \"0.3.0\"\nedition = \"2021\"\n",
    );
    build(&dir, &[], &[]); // entry 3
    let d = diff_json(&dir, "@2", "@3", 1);
    let p = change(&d, "package util");
    assert_eq!(
        (&p["section"], &p["change"]),
        (&Value::from("dependencies"), &Value::from("changed"))
    );
    assert_eq!(p["a"], serde_json::json!(["util@0.2.0"]));
    assert_eq!(p["b"], serde_json::json!(["util@0.3.0"]));
    assert_eq!(change(&d, "Cargo.lock sha256")["counts"], true);
    assert_eq!(
        change(&d, "edge app@0.1.0 -> util@0.2.0")["change"],
        "removed"
    );
    assert_eq!(
        change(&d, "edge app@0.1.0 -> util@0.3.0")["change"],
        "added"
    );
    assert_eq!(change(&d, "file util/Cargo.toml")["section"], "sources");
    assert_eq!(change(&d, "member util@0.3.0")["change"], "added");
    // The text report puts dependencies before sources.
    let text = code(&run(&dir, &["diff", "@2", "@3"], &[]), 1);
    let (deps, srcs) = (
        text.find("\ndependencies").unwrap(),
        text.find("\nsources").unwrap(),
    );
    assert!(deps < srcs, "{text}");
    assert!(
        text.contains("util@0.2.0") && text.contains("receipts differ"),
        "{text}"
    );

    // A feature turned on.
    build(&dir, &["--features", "app/loud"], &[]); // entry 4
    let d = diff_json(&dir, "@3", "@4", 1);
    assert_eq!(change(&d, "feature app/loud")["change"], "added");
    assert_eq!(change(&d, "args")["section"], "build");

    // An edited file, with the mode change of another.
    write(
        &dir,
        "util/src/lib.rs",
        "pub fn twice(x: u32) -> u32 {\n    x + x\n}\n",
    );
    build(&dir, &["--features", "app/loud"], &[]); // entry 5
    let d = diff_json(&dir, "@4", "@5", 1);
    let f = change(&d, "file util/src/lib.rs");
    assert_eq!(f["change"], "changed");
    assert_ne!(f["a"]["content_sha256"], f["b"]["content_sha256"]);
    assert_eq!(
        counted(&d)
            .iter()
            .filter(|i| i.starts_with("file "))
            .count(),
        1,
        "{d:#}"
    );

    // A toolchain change: `RUSTC` is a wrapper that forwards to rustc but reports another
    // commit date for `-vV`, as a different build of the same compiler would.
    let wrapper = tmp.path().join("rustc-other");
    let real = String::from_utf8(
        Command::new("rustup")
            .args(["which", "rustc"])
            .output()
            .map_or_else(
                |_| b"rustc".to_vec(),
                |o| {
                    if o.status.success() {
                        o.stdout
                    } else {
                        b"rustc".to_vec()
                    }
                },
            ),
    )
    .unwrap();
    let real = real.trim();
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = \"-vV\" ]; then\n  \"{real}\" -vV | sed 's/^commit-date: .*/commit-date: 2099-01-01/'\nelse\n  exec \"{real}\" \"$@\"\nfi\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    build(
        &dir,
        &["--features", "app/loud"],
        &[("RUSTC", wrapper.to_str().unwrap())],
    ); // entry 6
    let d = diff_json(&dir, "@5", "@6", 1);
    let t = change(&d, "rustc -vV commit-date");
    assert_eq!(t["section"], "toolchain");
    assert_eq!(t["b"], "2099-01-01");
    assert_eq!(change(&d, "env RUSTC")["b"], "rustc-other");
    assert_eq!(
        d["changes"][0]["section"], "toolchain",
        "the toolchain comes first"
    );

    // A ZIP artifact of the ledger is a side like any other, with positions too.
    let ledger = dir.join("target/receipt");
    let art = save(tmp.path(), "artifact.zip", &zip_dir(&ledger, "", |_, _| {}));
    let a = format!("{}@5", art.display());
    let d = diff_json(&dir, &a, "target/receipt", 1);
    assert_eq!(d["a"]["entry"], 5);
    assert_eq!(d["b"]["entry"], 6);
    change(&d, "rustc -vV commit-date");

    // Errors: a position off the chain, a missing file.
    let o = run(&dir, &["diff", "@1", "@9"], &[]);
    code(&o, 2);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not on the chain"),
        "{}",
        text_of(&o)
    );
    code(&run(&dir, &["diff", "@1", "no/such/receipt.json"], &[]), 2);
}

fn text_of(o: &Output) -> String {
    text(o)
}

#[test]
fn identical_builds_at_two_paths_do_not_differ() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("first");
    let b = tmp.path().join("elsewhere/second");
    for d in [&a, &b] {
        project(d, "0.2.0");
        build(d, &[], &[]);
    }
    let (ra, rb) = (
        a.join("target/receipt"),
        b.join("target/receipt/receipt.json"),
    );
    let d = diff_json(&a, ra.to_str().unwrap(), rb.to_str().unwrap(), 0);
    assert_eq!(d["differs"], false);
    // Artifact contents depend on the checkout path; such changes are shown as measured.
    for c in d["changes"].as_array().unwrap() {
        assert_eq!(c["counts"], false, "{c}");
    }
}

/// A Lake project: `lean-toolchain`, a git dependency pinned at `rev`, and modules.
fn lake_project(root: &Path, toolchain: &str, rev: &str, modules: &[(&str, &str)]) {
    write(
        root,
        "lakefile.toml",
        "name = \"demo\"\n[[require]]\nname = \"dep\"\ngit = \"https://example.invalid/dep\"\nrev = \"main\"\n[[lean_lib]]\nname = \"Demo\"\n",
    );
    write(root, "lean-toolchain", &format!("{toolchain}\n"));
    write(
        root,
        "lake-manifest.json",
        &format!(
            r#"{{"version": 7, "packagesDir": ".lake/packages", "name": "demo", "lakeDir": ".lake", "packages": [{{"url": "https://example.invalid/dep", "type": "git", "subDir": null, "rev": "{rev}", "name": "dep", "manifestFile": "lake-manifest.json", "inputRev": "main", "inherited": false, "configFile": "lakefile.toml"}}]}}"#
        ),
    );
    for (path, text) in modules {
        write(root, path, text);
    }
}

#[test]
fn diff_of_lake_receipts_names_the_toolchain_package_revision_and_modules() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lean");
    let lake = |dir: &Path| {
        // No `lake` on PATH: the receipt covers sources and graph.
        let o = Command::new(BIN)
            .args(["receipt", "lake", "build", "--project"])
            .arg(dir)
            .env("PATH", "/usr/bin:/bin")
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .output()
            .unwrap();
        code(&o, 0);
    };
    lake_project(
        &dir,
        "leanprover/lean4:v4.21.0",
        "0123456789abcdef0123456789abcdef01234567",
        &[("Demo.lean", "import Demo.A\n"), ("Demo/A.lean", "")],
    );
    lake(&dir);
    lake_project(
        &dir,
        "leanprover/lean4:v4.22.0",
        "89abcdef0123456789abcdef0123456789abcdef",
        &[
            ("Demo.lean", "import Demo.A\nimport Demo.B\n"),
            ("Demo/B.lean", ""),
        ],
    );
    lake(&dir);
    let ledger = dir.join(".lake/receipt");
    let (a, b) = (
        format!("{}@1", ledger.display()),
        format!("{}@2", ledger.display()),
    );
    let d = diff_json(&dir, &a, &b, 1);
    assert_eq!(d["a"]["kind"], "lake");
    let t = change(&d, "lean_toolchain");
    assert_eq!(
        (&t["section"], &t["b"]),
        (
            &Value::from("toolchain"),
            &Value::from("leanprover/lean4:v4.22.0")
        )
    );
    assert_eq!(d["changes"][0]["section"], "toolchain");
    let p = change(&d, "lake package dep");
    assert_eq!(p["section"], "dependencies");
    assert_eq!(
        p["b"]["source"]["rev"],
        "89abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(change(&d, "lake-manifest.json sha256")["counts"], true);
    assert_eq!(change(&d, "node Demo.B")["change"], "added");
    assert_eq!(change(&d, "edge Demo -> Demo.B")["section"], "graph");
    // Lake receipts carry no per-file listing: the tracked set shows as its count and root.
    assert_eq!(change(&d, "source.tracked.files")["delta"], "+1");
    assert_eq!(change(&d, "source.tracked.merkle_root")["counts"], true);
}
