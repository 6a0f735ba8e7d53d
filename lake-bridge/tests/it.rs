//! End-to-end tests over Lake projects generated in temporary directories: the library API
//! for each kind of project, and the `lake-receipt` binary with a fake `lake` on its PATH.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use lake_bridge::Error;
use lake_bridge::emit::{BuildOptions, BuildOutcome, build};
use receipt_graph::CanonicalGraph;
use receipt_primitives::Timestamp;
use receipt_protocol::receipt::{Receipt, Section};
use receipt_protocol::verify::verify_dir;
use receipt_testkit::fixture::write_tree;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_lake-receipt");

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write_tree(d.path(), files);
    d
}

fn options(root: &Path) -> BuildOptions {
    BuildOptions {
        project: root.to_path_buf(),
        out: None,
        lake: lake_bridge::LakeProgram::NotRun("lake is not on PATH in this test".into()),
        lake_args: Vec::new(),
        timestamp: Timestamp::parse("2026-01-02T03:04:05Z").unwrap(),
    }
}

fn build_ok(root: &Path) -> BuildOutcome {
    let outcome = build(&options(root)).unwrap_or_else(|e| panic!("build failed: {e}"));
    let report = verify_dir(&outcome.out_dir);
    assert!(report.ok(), "verification failed: {report:#?}");
    outcome
}

fn graph_of(out: &BuildOutcome) -> CanonicalGraph {
    CanonicalGraph::from_json_bytes(&fs::read(out.out_dir.join("graph.json")).unwrap()).unwrap()
}

fn has_edge(g: &CanonicalGraph, a: &str, b: &str) -> bool {
    g.edges().any(|e| e == (a, b))
}

fn lake_ext(out: &BuildOutcome) -> Value {
    out.appended.receipt.extensions["lake"].clone()
}

fn external(out: &BuildOutcome) -> Vec<(String, String)> {
    lake_ext(out)["modules"]["external"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn manifest_v7(entries: &str) -> String {
    format!(
        r#"{{"version": 7, "packagesDir": ".lake/packages", "name": "demo", "lakeDir": ".lake", "packages": [{entries}]}}"#
    )
}

const GIT_DEP_ENTRY: &str = r#"{"url": "https://example.invalid/dep", "type": "git", "subDir": null, "rev": "0123456789abcdef0123456789abcdef01234567", "name": "dep", "manifestFile": "lake-manifest.json", "inputRev": "main", "inherited": false, "configFile": "lakefile.toml"}"#;

#[test]
fn toml_project_with_dependencies_under_packages_dir() {
    let util_entry = r#"{"type": "path", "name": "util", "dir": ".lake/packages/util", "inherited": false, "configFile": "lakefile.toml", "manifestFile": "lake-manifest.json", "scope": ""}"#;
    let d = project(&[
        (
            "lakefile.toml",
            "name = \"demo\"\n[[require]]\nname = \"dep\"\ngit = \"https://example.invalid/dep\"\nrev = \"main\"\n[[require]]\nname = \"util\"\npath = \".lake/packages/util\"\n[[lean_lib]]\nname = \"Demo\"\n",
        ),
        ("lean-toolchain", "leanprover/lean4:v4.21.0\n"),
        (
            "lake-manifest.json",
            &manifest_v7(&format!("{GIT_DEP_ENTRY}, {util_entry}")),
        ),
        ("Demo.lean", "import Demo.Basic\n"),
        (
            "Demo/Basic.lean",
            "import Dep.Core\nimport Util\nimport Mathlib.Tactic\n",
        ),
        (
            ".lake/packages/dep/lakefile.toml",
            "name = \"dep\"\n[[lean_lib]]\nname = \"Dep\"\n[[require]]\nname = \"util\"\npath = \"../util\"\n",
        ),
        (".lake/packages/dep/Dep/Core.lean", "import Std.Data\n"),
        (
            ".lake/packages/util/lakefile.toml",
            "name = \"util\"\n[[lean_lib]]\nname = \"Util\"\n",
        ),
        (".lake/packages/util/Util.lean", "prelude\n"),
    ]);
    let out = build_ok(d.path());
    let g = graph_of(&out);
    assert_eq!(
        g.nodes(),
        [
            "Demo",
            "Demo.Basic",
            "Dep.Core",
            "Init",
            "Mathlib.Tactic",
            "Std.Data",
            "Util"
        ]
    );
    assert!(has_edge(&g, "Demo", "Demo.Basic"));
    assert!(has_edge(&g, "Demo.Basic", "Dep.Core"));
    assert!(has_edge(&g, "Demo.Basic", "Util"));
    assert!(has_edge(&g, "Dep.Core", "Std.Data"));
    assert!(has_edge(&g, "Dep.Core", "Init"));
    assert!(
        !has_edge(&g, "Util", "Init"),
        "`prelude` drops the implicit Init import"
    );
    assert_eq!(
        external(&out),
        [
            ("Init".to_owned(), "toolchain".to_owned()),
            ("Mathlib.Tactic".to_owned(), "not-present".to_owned()),
            ("Std.Data".to_owned(), "toolchain".to_owned()),
        ]
    );
    let ext = lake_ext(&out);
    assert_eq!(ext["config"]["method"], "toml");
    assert_eq!(ext["toolchain"]["value"], "leanprover/lean4:v4.21.0");
    assert_eq!(ext["manifest"]["version"], "7");
    assert_eq!(
        ext["package_edges"],
        serde_json::json!([["demo", "dep"], ["demo", "util"], ["dep", "util"]])
    );
    assert_eq!(ext["packages"][1]["present"], true);
    assert_eq!(ext["packages"][1]["requires_from"], "lakefile.toml");
    assert_eq!(ext["modules"]["per_package"]["dep"], 1);
    assert_eq!(ext["build"]["available"], false);
    let r = &out.appended.receipt;
    assert_eq!(r.kind, "lake");
    assert!(r.producer.starts_with("lake-receipt "));
    assert_eq!(r.graph.get().unwrap().kind, "lean-modules");
    assert!(matches!(r.work, Section::Unavailable { .. }));
    let ingress = r.ingress.get().unwrap();
    assert_eq!(ingress["lean_toolchain"], "leanprover/lean4:v4.21.0");
    assert_eq!(ingress["lakefile"]["path"], "lakefile.toml");
    // `.lake/` is build output: the dependency sources there are not in the tracked set.
    let tracked = &r.source.get().unwrap().tracked;
    assert_eq!(
        tracked.files, 5,
        "lakefile, toolchain, manifest and two sources"
    );
}

#[test]
fn lakefile_lean_project_is_read_by_a_scan() {
    let d = project(&[
        (
            "lakefile.lean",
            "import Lake\nopen Lake DSL\n\npackage demo where\n  srcDir := \"src\"\n\n@[default_target]\nlean_lib Demo where\n  roots := #[`Demo]\n  globs := #[.andSubmodules `Demo]\n\nlean_exe cli where\n  root := `Main\n",
        ),
        ("lakefile.toml", "name = \"ignored\"\n"),
        ("src/Demo.lean", "import Demo.A\n"),
        ("src/Demo/A.lean", ""),
        ("src/Demo/Unreferenced/B.lean", "import Demo.A\n"),
        ("src/Main.lean", "import Demo\n"),
    ]);
    let out = build_ok(d.path());
    let g = graph_of(&out);
    assert_eq!(
        g.nodes(),
        ["Demo", "Demo.A", "Demo.Unreferenced.B", "Init", "Main"]
    );
    assert!(has_edge(&g, "Main", "Demo"));
    assert!(has_edge(&g, "Demo.Unreferenced.B", "Demo.A"));
    let ext = lake_ext(&out);
    assert_eq!(ext["config"]["file"], "lakefile.lean");
    assert_eq!(ext["config"]["method"], "lean-lexical-scan");
    assert_eq!(ext["config"]["package"], "demo");
    let notes = ext["config"]["notes"].as_array().unwrap();
    assert!(notes.iter().any(|n| {
        n.as_str()
            .unwrap()
            .contains("lakefile.toml is also present")
    }));
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("not evaluated"))
    );
    assert_eq!(ext["manifest"]["available"], false);
}

#[test]
fn module_system_headers() {
    let d = project(&[
        (
            "lakefile.toml",
            "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\n",
        ),
        (
            "Demo.lean",
            "module\n\npublic import Demo.Pub\nmeta import Demo.Meta\nimport all Demo.All\npublic meta import Demo.Both\n\npublic section\n",
        ),
        ("Demo/Pub.lean", "module\nprelude\n"),
        ("Demo/Meta.lean", "module\n"),
        ("Demo/All.lean", ""),
        ("Demo/Both.lean", ""),
    ]);
    let out = build_ok(d.path());
    let g = graph_of(&out);
    for m in ["Demo.Pub", "Demo.Meta", "Demo.All", "Demo.Both", "Init"] {
        assert!(has_edge(&g, "Demo", m), "Demo → {m}");
    }
    assert!(!has_edge(&g, "Demo.Pub", "Init"));
    assert_eq!(lake_ext(&out)["modules"]["module_system"], 3);
}

#[test]
fn guillemet_names_map_to_directories() {
    let d = project(&[
        (
            "lakefile.toml",
            "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\n",
        ),
        ("Demo.lean", "import Demo.«my part».«x.y»\n"),
        ("Demo/my part/x.y.lean", ""),
    ]);
    let out = build_ok(d.path());
    let g = graph_of(&out);
    assert!(
        has_edge(&g, "Demo", "Demo.«my part».«x.y»"),
        "{:?}",
        g.nodes()
    );
}

#[test]
fn imports_in_comments_and_docstrings_are_ignored() {
    let d = project(&[
        (
            "lakefile.toml",
            "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\n",
        ),
        (
            "Demo.lean",
            "-- import Demo.Ghost\n/- import Demo.Ghost2\n   /- nested import Demo.Ghost3 -/ -/\nimport Demo.Real -- import Demo.Ghost4\n/-- A docstring: import Demo.Ghost5 -/\nimport Demo.AfterDoc\ndef x := 1\n",
        ),
        (
            "Demo/Real.lean",
            "/-! Module doc.\nimport Demo.Ghost6\n-/\n",
        ),
    ]);
    let out = build_ok(d.path());
    assert_eq!(graph_of(&out).nodes(), ["Demo", "Demo.Real", "Init"]);
}

#[test]
fn unterminated_comment_is_a_clear_error() {
    let d = project(&[
        (
            "lakefile.toml",
            "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\n",
        ),
        ("Demo.lean", "import Demo.A\n"),
        ("Demo/A.lean", "import Init\n/- this comment\n never ends\n"),
    ]);
    let e = build(&options(d.path())).unwrap_err();
    assert!(matches!(e, Error::Header { .. }), "{e:?}");
    assert_eq!(e.to_string(), "Demo/A.lean:2:1: unterminated comment");
    assert!(
        !d.path().join(".lake/receipt/chain.head").exists(),
        "nothing written"
    );
}

#[test]
fn missing_import_names_file_and_line() {
    let d = project(&[
        (
            "lakefile.toml",
            "name = \"demo\"\nsrcDir = \"src\"\n[[lean_lib]]\nname = \"Demo\"\n",
        ),
        ("src/Demo.lean", "import Demo.A\n"),
        ("src/Demo/A.lean", "import Init\n\nimport Demo.Missing\n"),
    ]);
    let e = build(&options(d.path())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "src/Demo/A.lean:3: bad import 'Demo.Missing': no such file src/Demo/Missing.lean"
    );
}

#[test]
fn missing_library_root_names_the_config() {
    let d = project(&[(
        "lakefile.toml",
        "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\n",
    )]);
    let e = build(&options(d.path())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "lakefile.toml: lean_lib Demo names module 'Demo', but Demo.lean does not exist"
    );
}

#[test]
fn manifests_of_every_supported_version() {
    let v6_entry = r#"{"git": {"url": "https://example.invalid/dep", "subDir?": null, "rev": "0123", "opts": {}, "name": "dep", "inputRev?": "main", "inherited": false}}"#;
    let cases: Vec<(String, &str)> = vec![
        (
            format!(
                r#"{{"version": 5, "packagesDir": "lake-packages", "packages": [{v6_entry}]}}"#
            ),
            "5",
        ),
        (
            format!(
                r#"{{"version": 6, "packagesDir": ".lake/packages", "name": "demo", "lakeDir": ".lake", "packages": [{v6_entry}]}}"#
            ),
            "6",
        ),
        (manifest_v7(GIT_DEP_ENTRY), "7"),
        (
            manifest_v7(GIT_DEP_ENTRY).replace("\"version\": 7", "\"version\": \"1.0.0\""),
            "1.0.0",
        ),
        (
            manifest_v7(GIT_DEP_ENTRY).replace("\"version\": 7", "\"version\": \"1.1.0\""),
            "1.1.0",
        ),
        (
            manifest_v7(GIT_DEP_ENTRY).replace("\"version\": 7", "\"version\": \"1.2.0\""),
            "1.2.0",
        ),
        (
            manifest_v7(GIT_DEP_ENTRY).replace("\"version\": 7", "\"version\": \"1.4.0\""),
            "1.4.0",
        ),
    ];
    for (text, version) in cases {
        let d = project(&[
            (
                "lakefile.toml",
                "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\n",
            ),
            ("lake-manifest.json", &text),
            ("Demo.lean", "import Dep\n"),
        ]);
        let out = build_ok(d.path());
        let ext = lake_ext(&out);
        assert_eq!(ext["manifest"]["version"], version);
        assert_eq!(ext["packages"][1]["name"], "dep");
        assert_eq!(ext["packages"][1]["present"], false);
        assert_eq!(
            ext["packages"][1]["source"]["url"],
            "https://example.invalid/dep"
        );
        let expected_dir = if version == "5" {
            "lake-packages/dep"
        } else {
            ".lake/packages/dep"
        };
        assert_eq!(ext["packages"][1]["dir"], expected_dir, "version {version}");
        let notes = ext["manifest"]["notes"].as_array().unwrap().len();
        assert_eq!(notes, usize::from(version == "1.4.0"), "version {version}");
        assert_eq!(
            external(&out)[0],
            ("Dep".to_owned(), "not-present".to_owned())
        );
    }
}

#[test]
fn bad_manifest_names_file_and_field() {
    let d = project(&[
        (
            "lakefile.toml",
            "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\n",
        ),
        (
            "lake-manifest.json",
            r#"{"version": "3.0.0", "packages": []}"#,
        ),
        ("Demo.lean", ""),
    ]);
    let e = build(&options(d.path())).unwrap_err().to_string();
    assert!(e.starts_with("lake-manifest.json: field `version`"), "{e}");
}

fn copy_tree(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            fs::create_dir_all(&dest).unwrap();
            copy_tree(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn same_project_at_two_paths_gives_identical_manifest_graph_and_receipt() {
    let a = project(&[
        (
            "lakefile.toml",
            "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\nglobs = [\"Demo.+\"]\n",
        ),
        ("lean-toolchain", "leanprover/lean4:v4.21.0\n"),
        ("Demo/A.lean", "import Demo.B\nimport Lean\n"),
        ("Demo/B.lean", "import Demo.C\n"),
        ("Demo/C.lean", "prelude\n"),
        ("Demo/D/E.lean", "import Demo.A\nimport Demo.C\n"),
    ]);
    let b = tempfile::tempdir().unwrap();
    let nested = b.path().join("some/other/place");
    fs::create_dir_all(&nested).unwrap();
    copy_tree(a.path(), &nested);
    let oa = build_ok(a.path());
    let ob = build_ok(&nested);
    for f in ["manifest.json", "graph.json", "receipt.json", "chain.head"] {
        assert_eq!(
            fs::read(oa.out_dir.join(f)).unwrap(),
            fs::read(ob.out_dir.join(f)).unwrap(),
            "{f} differs between checkout paths"
        );
    }
    assert_eq!(graph_of(&oa).node_count(), 6);
}

fn fake_lake(dir: &Path, exit: i32) -> PathBuf {
    let bin = dir.join("fakebin");
    fs::create_dir_all(&bin).unwrap();
    let lake = bin.join("lake");
    fs::write(
        &lake,
        format!(
            "#!/bin/sh\nmkdir -p .lake/build/lib/Demo\nprintf '%s\\n' \"$@\" > .lake/args.txt\nprintf 'olean bytes' > .lake/build/lib/Demo.olean\nprintf '{{\"depHash\": \"9876\", \"log\": []}}' > .lake/build/lib/Demo.trace\nprintf 'ilean' > .lake/build/lib/Demo/A.ilean\nexit {exit}\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&lake, fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn small_project() -> tempfile::TempDir {
    project(&[
        (
            "lakefile.toml",
            "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\n",
        ),
        ("Demo.lean", "import Demo.A\n"),
        ("Demo/A.lean", ""),
    ])
}

const BASE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn run_bin(root: &Path, path_env: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root)
        .env("PATH", path_env)
        .env("SOURCE_DATE_EPOCH", "1767322800")
        .output()
        .unwrap()
}

fn read_receipt(root: &Path) -> Receipt {
    Receipt::parse(&fs::read(root.join(".lake/receipt/receipt.json")).unwrap()).unwrap()
}

#[test]
fn fake_lake_on_path_is_run_with_forwarded_args_and_recorded() {
    let d = small_project();
    let bin = fake_lake(d.path(), 3);
    let path_env = format!("{}:{BASE_PATH}", bin.display());
    let out = run_bin(
        d.path(),
        &path_env,
        &["build", "--", "--verbose", "Demo:olean"],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "lake's exit code is ours: {out:?}"
    );
    assert_eq!(
        fs::read_to_string(d.path().join(".lake/args.txt")).unwrap(),
        "build\n--verbose\nDemo:olean\n"
    );
    let r = read_receipt(d.path());
    let work = r.work.get().expect("work is recorded");
    assert_eq!((work.status.as_str(), work.exit_code), ("failed", Some(3)));
    let arts = r.artifacts.get().expect("artifacts are recorded");
    assert_eq!(arts.root, ".lake/build");
    let paths: Vec<&str> = arts.files.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(
        paths,
        ["lib/Demo.olean", "lib/Demo.trace", "lib/Demo/A.ilean"]
    );
    assert_eq!(
        arts.files[0].sha256,
        receipt_primitives::Digest::of(b"olean bytes")
    );
    let build = &r.extensions["lake"]["build"];
    assert_eq!(build["available"], true);
    assert_eq!(
        build["command"],
        serde_json::json!(["lake", "build", "--verbose", "Demo:olean"])
    );
    assert_eq!(build["traces"]["lib/Demo.trace"], "9876");
    assert_eq!(
        r.ingress.get().unwrap()["lake_build_args"],
        serde_json::json!(["--verbose", "Demo:olean"])
    );
    assert_eq!(
        r.manifest_sha256,
        receipt_primitives::Digest::of(
            &fs::read(d.path().join(".lake/receipt/manifest.json")).unwrap()
        )
    );

    // A successful build exits 0 and extends the chain.
    let bin = fake_lake(d.path(), 0);
    let path_env = format!("{}:{BASE_PATH}", bin.display());
    let out = run_bin(d.path(), &path_env, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r2 = read_receipt(d.path());
    assert_eq!(
        r2.prev.as_ref().unwrap().path,
        "receipts/000001/receipt.json"
    );
    assert_eq!(r2.work.get().unwrap().exit_code, Some(0));
    let out = run_bin(d.path(), &path_env, &["verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn without_lake_the_receipt_says_so_and_verify_catches_tampering() {
    let d = small_project();
    let out = run_bin(d.path(), BASE_PATH, &["build"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let r = read_receipt(d.path());
    let build = &r.extensions["lake"]["build"];
    assert_eq!(build["available"], false);
    assert!(build["reason"].as_str().unwrap().contains("not on PATH"));
    assert!(matches!(r.artifacts, Section::Unavailable { .. }));
    assert_eq!(
        r.manifest_sha256,
        receipt_primitives::Digest::of(
            &fs::read(d.path().join(".lake/receipt/manifest.json")).unwrap()
        )
    );
    let manifest = fs::read_to_string(d.path().join(".lake/receipt/manifest.json")).unwrap();
    assert!(
        manifest.contains("\"timestamp\":\"2026-01-02T03:00:00Z\""),
        "{manifest}"
    );

    let ok = run_bin(d.path(), BASE_PATH, &["verify"]);
    assert_eq!(ok.status.code(), Some(0));
    // Tamper: one byte of the stored receipt entry.
    let entry = d.path().join(".lake/receipt/receipts/000001/receipt.json");
    let mut bytes = fs::read(&entry).unwrap();
    let i = bytes.iter().position(|&b| b == b'l').unwrap();
    bytes[i] = b'L';
    fs::write(&entry, bytes).unwrap();
    let bad = run_bin(d.path(), BASE_PATH, &["verify"]);
    assert_eq!(
        bad.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&bad.stdout)
    );
}

#[test]
fn usage_and_project_errors_exit_2() {
    let d = tempfile::tempdir().unwrap();
    let out = run_bin(d.path(), BASE_PATH, &["build"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no lakefile.lean or lakefile.toml"));
    let out = run_bin(d.path(), BASE_PATH, &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = run_bin(d.path(), BASE_PATH, &["verify"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "no chain to verify is a failed verification"
    );
}

fn git(root: &Path, args: &[&str]) {
    let st = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(root)
        .output()
        .unwrap();
    assert!(st.status.success(), "git {args:?}: {st:?}");
}

#[test]
fn git_work_tree_excludes_lake_dir_even_when_not_ignored() {
    let d = small_project();
    write_tree(d.path(), &[(".lake/build/lib/Old.olean", "stale")]);
    git(d.path(), &["init", "-q"]);
    git(
        d.path(),
        &["add", "lakefile.toml", "Demo.lean", "Demo/A.lean"],
    );
    git(d.path(), &["commit", "-q", "-m", "init"]);
    let out = build_ok(d.path());
    let source = out.appended.receipt.source.get().unwrap();
    assert_eq!(source.tracked.mode, "git");
    assert_eq!(
        source.tracked.files, 3,
        "only the sources; .lake/ is excluded"
    );
    let git = source.git.get().expect("git info");
    assert_eq!(git.commit.as_deref().map(str::len), Some(40));
    assert_eq!(
        lake_ext(&out)["tracked_excludes"],
        serde_json::json!([".lake/"])
    );
}

#[test]
fn first_bad_import_in_file_order_is_reported_across_traversal_levels() {
    let d = project(&[
        (
            "lakefile.toml",
            "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\nglobs = [\"Demo.Z\"]\n",
        ),
        ("Demo/Z.lean", "import Demo.A\nimport Demo.Missing1\n"),
        ("Demo/A.lean", "import Demo.Missing2\n"),
    ]);
    let e = build(&options(d.path())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Demo/A.lean:1: bad import 'Demo.Missing2': no such file Demo/Missing2.lean"
    );
}

// --- attacks found with the release binaries, each pinned by a test named after it --------

#[test]
fn a_planted_receipts_symlink_is_refused_and_nothing_is_deleted() {
    let d = small_project();
    let elsewhere = d.path().join("elsewhere");
    fs::create_dir_all(elsewhere.join("000001")).unwrap();
    fs::write(elsewhere.join("000001/precious.txt"), "keep me").unwrap();
    fs::create_dir_all(d.path().join(".lake/receipt")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, d.path().join(".lake/receipt/receipts")).unwrap();
    let out = run_bin(d.path(), BASE_PATH, &["build"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a symbolic link"));
    assert_eq!(
        fs::read_to_string(elsewhere.join("000001/precious.txt")).unwrap(),
        "keep me"
    );
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 1);
    assert_eq!(fs::read_dir(elsewhere.join("000001")).unwrap().count(), 1);
}

#[test]
fn a_src_dir_outside_the_project_is_refused_naming_file_and_field() {
    let outer = tempfile::tempdir().unwrap();
    write_tree(
        outer.path(),
        &[
            ("outside/Secret.lean", ""),
            (
                "proj/lakefile.toml",
                "name = \"demo\"\nsrcDir = \"../outside\"\n[[lean_lib]]\nname = \"Secret\"\n",
            ),
        ],
    );
    let e = build(&options(&outer.path().join("proj")))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("lakefile.toml: field `srcDir` \"../outside\" has a `..` component"),
        "{e}"
    );
    for (field, toml) in [
        (
            "lean_lib[0].srcDir",
            "[[lean_lib]]\nname = \"A\"\nsrcDir = \"/etc\"\n",
        ),
        (
            "lean_exe[0].srcDir",
            "[[lean_exe]]\nname = \"A\"\nsrcDir = \"a/../../b\"\n",
        ),
        ("packagesDir", "packagesDir = \"../pkgs\"\n"),
    ] {
        let p = project(&[("lakefile.toml", &format!("name = \"demo\"\n{toml}"))]);
        let e = build(&options(p.path())).unwrap_err().to_string();
        assert!(e.contains(&format!("field `{field}`")), "{field}: {e}");
    }
    let lean = project(&[(
        "lakefile.lean",
        "import Lake\nopen Lake DSL\n\npackage demo where\n  srcDir := \"../outside\"\n",
    )]);
    let e = build(&options(lean.path())).unwrap_err().to_string();
    assert!(e.contains("srcDir") && e.contains("`..` component"), "{e}");
}

#[test]
fn a_module_symlinked_to_etc_passwd_is_not_parsed() {
    let d = project(&[
        (
            "lakefile.toml",
            "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\n",
        ),
        ("Demo.lean", "import Demo.Leak\n"),
    ]);
    fs::create_dir(d.path().join("Demo")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", d.path().join("Demo/Leak.lean")).unwrap();
    let e = build(&options(d.path())).unwrap_err().to_string();
    assert!(
        e.contains("Demo/Leak.lean is reached through the symbolic link Demo/Leak.lean"),
        "{e}"
    );
    // A symlinked source directory is not walked either.
    let d = project(&[(
        "lakefile.toml",
        "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\nsrcDir = \"src\"\nglobs = [\"Demo.*\"]\n",
    )]);
    std::os::unix::fs::symlink("/etc", d.path().join("src")).unwrap();
    let e = build(&options(d.path())).unwrap_err().to_string();
    assert!(e.contains("symbolic link src"), "{e}");
}

#[test]
fn a_dependency_outside_the_project_is_not_read() {
    let outer = tempfile::tempdir().unwrap();
    write_tree(
        outer.path(),
        &[
            (
                "dep/lakefile.toml",
                "name = \"dep\"\n[[lean_lib]]\nname = \"Dep\"\n",
            ),
            ("dep/Dep.lean", ""),
            (
                "proj/lakefile.toml",
                "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\n[[require]]\nname = \"dep\"\npath = \"../dep\"\n",
            ),
            ("proj/Demo.lean", "import Dep\n"),
            (
                "proj/lake-manifest.json",
                &manifest_v7(
                    r#"{"type": "path", "name": "dep", "dir": "../dep", "inherited": false, "configFile": "lakefile.toml", "manifestFile": "lake-manifest.json", "scope": ""}"#,
                ),
            ),
        ],
    );
    let out = build_ok(&outer.path().join("proj"));
    let ext = lake_ext(&out);
    let notes = ext["config"]["notes"].to_string();
    assert!(
        notes.contains("dependency dep") && notes.contains("`..` component"),
        "{notes}"
    );
    assert_eq!(ext["packages"][1]["present"], false);
    assert!(external(&out).contains(&("Dep".to_owned(), "not-present".to_owned())));
}
