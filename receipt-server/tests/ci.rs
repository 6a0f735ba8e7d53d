//! The CI integrations are valid and consistent: the composite action and the workflow
//! against GitHub's JSON schemas, the GitLab template against GitLab's (all with
//! `check-jsonschema` from the test venv), and the action's inputs, outputs and pinned
//! actions checked on the parsed YAML (`tests/ci/lint_action.py`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// The test venv's Python; fails loudly when it is missing.
fn python() -> PathBuf {
    let p = match std::env::var_os("RECEIPT_TEST_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => root().join(".venv/bin/python"),
    };
    assert!(
        p.exists(),
        "the test venv's Python ({}) is missing: run `bash scripts/test.sh` (or `. scripts/test-env.sh` first)",
        p.display()
    );
    p
}

const ACTION: &str = ".github/actions/receipt/action.yml";
const WORKFLOW: &str = ".github/workflows/receipt.yml";
const GITLAB: &str = "docs/ci/gitlab-ci.yml";

/// `check-jsonschema --builtin-schema SCHEMA FILE`: (success, output).
fn schema_check(schema: &str, file: &Path) -> (bool, String) {
    let out = Command::new(python())
        .args(["-m", "check_jsonschema", "--builtin-schema", schema])
        .arg(file)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("No module named"),
        "check-jsonschema is not installed in the venv: run `bash scripts/test.sh`\n{text}"
    );
    (out.status.success(), text)
}

fn lint(action: &Path, workflows: &[&Path]) -> Value {
    let out = Command::new(python())
        .arg(root().join("receipt-server/tests/ci/lint_action.py"))
        .arg(action)
        .args(workflows)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lint_action.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn action_and_workflow_match_githubs_schemas() {
    let (ok, out) = schema_check("vendor.github-actions", &root().join(ACTION));
    assert!(ok, "{ACTION}: {out}");
    let (ok, out) = schema_check("vendor.github-workflows", &root().join(WORKFLOW));
    assert!(ok, "{WORKFLOW}: {out}");
}

#[test]
fn gitlab_template_matches_gitlabs_schema() {
    let (ok, out) = schema_check("vendor.gitlab-ci", &root().join(GITLAB));
    assert!(ok, "{GITLAB}: {out}");
}

#[test]
fn the_schema_checks_refuse_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    // A composite step with `run:` but no `shell:` is not a valid action.
    let action = std::fs::read_to_string(root().join(ACTION)).unwrap();
    let broken = action.replacen("      shell: bash\n", "", 1);
    assert_ne!(broken, action);
    let p = dir.path().join("action.yml");
    std::fs::write(&p, broken).unwrap();
    assert!(!schema_check("vendor.github-actions", &p).0);
    // A permission level that does not exist.
    let wf = std::fs::read_to_string(root().join(WORKFLOW)).unwrap();
    let broken = wf.replacen("id-token: write", "id-token: maybe", 1);
    assert_ne!(broken, wf);
    let p = dir.path().join("wf.yml");
    std::fs::write(&p, broken).unwrap();
    assert!(!schema_check("vendor.github-workflows", &p).0);
    // A job whose stage is not a string.
    let gl = std::fs::read_to_string(root().join(GITLAB)).unwrap();
    let broken = gl.replacen("  stage: build\n", "  stage: [1]\n", 1);
    assert_ne!(broken, gl);
    let p = dir.path().join("gl.yml");
    std::fs::write(&p, broken).unwrap();
    assert!(!schema_check("vendor.gitlab-ci", &p).0);
}

#[test]
fn every_declared_input_is_used_and_every_used_input_is_declared() {
    let l = lint(&root().join(ACTION), &[]);
    let declared = strings(&l["declared_inputs"]);
    let used = strings(&l["used_inputs"]);
    assert_eq!(declared, used, "declared vs used inputs");
    for want in [
        "cargo-args",
        "sign-key-secret",
        "keyless",
        "artifact-name",
        "verify-flags",
        "out",
    ] {
        assert!(declared.iter().any(|d| d == want), "{want} is not an input");
    }
    assert!(strings(&l["inputs_used_outside_runs"]).is_empty());
    // Every output reads a step that exists.
    let ids = strings(&l["step_ids"]);
    for (name, steps) in l["output_steps"].as_object().unwrap() {
        let steps = strings(steps);
        assert!(!steps.is_empty(), "output {name} reads no step");
        for s in steps {
            assert!(ids.contains(&s), "output {name} reads the unknown step {s}");
        }
    }
    let outputs: Vec<&String> = l["output_steps"].as_object().unwrap().keys().collect();
    assert_eq!(outputs, ["chain-length", "receipt-path"]);
}

#[test]
fn the_input_check_finds_an_unused_and_an_undeclared_input() {
    let dir = tempfile::tempdir().unwrap();
    let action = std::fs::read_to_string(root().join(ACTION)).unwrap();
    let broken = action
        .replacen(
            "inputs:\n",
            "inputs:\n  never-used:\n    description: x\n    required: false\n",
            1,
        )
        .replacen(
            "OUT: ${{ inputs.out }}",
            "OUT: ${{ inputs.out }}${{ inputs.ghost }}",
            1,
        );
    let p = dir.path().join("action.yml");
    std::fs::write(&p, broken).unwrap();
    let l = lint(&p, &[]);
    let declared = strings(&l["declared_inputs"]);
    let used = strings(&l["used_inputs"]);
    assert!(
        declared.contains(&"never-used".to_owned()) && !used.contains(&"never-used".to_owned())
    );
    assert!(used.contains(&"ghost".to_owned()) && !declared.contains(&"ghost".to_owned()));
}

fn pinned_to_a_major_tag(uses: &str) -> bool {
    let Some((path, tag)) = uses.split_once('@') else {
        return false;
    };
    let parts: Vec<&str> = path.split('/').collect();
    parts.len() >= 2
        && parts.iter().all(|p| !p.is_empty())
        && tag
            .strip_prefix('v')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn third_party_actions_are_pinned_to_a_major_tag() {
    assert!(pinned_to_a_major_tag("actions/attest@v4"));
    for bad in [
        "actions/attest@main",
        "actions/attest",
        "actions/attest@v4.1.0",
        "x@v1",
    ] {
        assert!(!pinned_to_a_major_tag(bad), "{bad}");
    }
    let wf = root().join(WORKFLOW);
    let l = lint(&root().join(ACTION), &[&wf]);
    let mut all = strings(&l["action_uses"]);
    all.extend(strings(&l["workflows"][wf.to_str().unwrap()]["uses"]));
    for u in all.iter().filter(|u| !u.starts_with("./")) {
        assert!(
            pinned_to_a_major_tag(u),
            "{u} is not pinned to a major version tag"
        );
    }
}

#[test]
fn keyless_mode_attests_with_slsa_provenance_and_the_artifact_is_uploaded() {
    let l = lint(&root().join(ACTION), &[]);
    let steps = l["action_with"].as_array().unwrap();
    let find = |prefix: &str| {
        steps
            .iter()
            .find(|s| s["uses"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} step"))["with"]
            .clone()
    };
    let attest = find("actions/attest@");
    assert_eq!(attest["predicate-type"], "https://slsa.dev/provenance/v1");
    assert!(
        attest["predicate-path"]
            .as_str()
            .unwrap()
            .contains("steps.provenance.outputs")
    );
    assert!(
        attest["subject-path"]
            .as_str()
            .unwrap()
            .contains("steps.provenance.outputs")
    );
    let upload = find("actions/upload-artifact@");
    assert_eq!(upload["name"], "${{ inputs.artifact-name }}");
    assert!(upload["path"].as_str().unwrap().contains("inputs.out"));
}

#[test]
fn the_workflow_uses_the_action_with_declared_inputs_and_keyless_permissions() {
    let wf = root().join(WORKFLOW);
    let l = lint(&root().join(ACTION), &[&wf]);
    let declared = strings(&l["declared_inputs"]);
    let w = &l["workflows"][wf.to_str().unwrap()];
    let locals = w["local_actions"].as_array().unwrap();
    assert_eq!(locals.len(), 1);
    assert_eq!(locals[0]["uses"], "./.github/actions/receipt");
    for k in strings(&locals[0]["with"]) {
        assert!(
            declared.contains(&k),
            "the workflow passes the undeclared input {k}"
        );
    }
    assert_eq!(strings(&w["on"]), ["pull_request", "push"]);
    assert_eq!(w["permissions"]["id-token"], "write");
    assert_eq!(w["permissions"]["attestations"], "write");
    assert_eq!(w["permissions"]["contents"], "read");
}

// ---------------------------------------------------------------------------------------
// The action's shell steps, run as a runner runs them
// ---------------------------------------------------------------------------------------

/// A `cargo-receipt` binary of this workspace, copied out of the target directory (a
/// build the action records rewrites nothing of it there).
fn cargo_receipt_on_path(dir: &Path) -> PathBuf {
    let st = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "cargo-receipt"])
        .current_dir(root())
        .status()
        .unwrap();
    assert!(st.success(), "cargo build -p cargo-receipt failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root().join(t) })
        .unwrap_or_else(|| root().join("target"));
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(
        target.join("debug/cargo-receipt"),
        bin.join("cargo-receipt"),
    )
    .unwrap();
    bin
}

fn git(dir: &Path, args: &[&str]) {
    let st = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "git {args:?}");
}

/// A one-package project committed to git, as actions/checkout leaves it.
fn project(dir: &Path) -> PathBuf {
    let p = dir.join("proj");
    let w = |rel: &str, text: &str| {
        let f = p.join(rel);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, text).unwrap();
    };
    w(".gitignore", "/target\n");
    w(
        "Cargo.toml",
        "[package]\nname = \"fx\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    w("src/main.rs", "fn main() {\n    println!(\"hi\");\n}\n");
    let st = Command::new(env!("CARGO"))
        .args(["generate-lockfile", "--offline"])
        .current_dir(&p)
        .status()
        .unwrap();
    assert!(st.success());
    git(&p, &["init", "-q"]);
    git(&p, &["add", "."]);
    git(&p, &["commit", "-q", "-m", "fixture"]);
    p
}

/// Replaces `${{ inputs.X }}` and `${{ github.action_path }}` in an env value.
fn expand(value: &str, inputs: &std::collections::BTreeMap<&str, String>) -> String {
    let mut out = value.to_owned();
    for (k, v) in inputs {
        out = out.replace(&format!("${{{{ inputs.{k} }}}}"), v);
    }
    out.replace(
        "${{ github.action_path }}",
        root().join(".github/actions/receipt").to_str().unwrap(),
    )
}

/// Runs the action's `run:` steps (all but the install, which the binary on PATH stands
/// for; `uses:` steps are GitHub's) with these inputs over the defaults; returns the
/// outputs written to `$GITHUB_OUTPUT`, or the failing step's name and output.
fn run_action(
    proj: &Path,
    bin: &Path,
    tmp: &Path,
    given: &[(&str, &str)],
    extra_env: &[(&str, &str)],
) -> Result<std::collections::BTreeMap<String, String>, (String, String)> {
    let action = lint(&root().join(ACTION), &[]);
    let declared = strings(&action["declared_inputs"]);
    let doc: Value = {
        let out = Command::new(python())
            .args([
                "-c",
                "import json,sys; from ruamel.yaml import YAML; \
                 json.dump(YAML(typ='safe').load(open(sys.argv[1])), sys.stdout)",
            ])
            .arg(root().join(ACTION))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let mut inputs = std::collections::BTreeMap::new();
    for name in &declared {
        let default = doc["inputs"][name]["default"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        inputs.insert(name.as_str(), default);
    }
    for (k, v) in given {
        assert!(inputs.contains_key(k), "{k} is not an input");
        inputs.insert(k, (*v).to_owned());
    }
    let output_file = tmp.join("github_output");
    std::fs::write(&output_file, "").unwrap();
    let runner_temp = tmp.join("runner");
    std::fs::create_dir_all(&runner_temp).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for step in action["steps"].as_array().unwrap() {
        let name = step["name"].as_str().unwrap_or("").to_owned();
        let Some(script) = step["run"].as_str() else {
            continue;
        };
        if name == "Install cargo-receipt" {
            continue;
        }
        if let Some(cond) = step["if"].as_str()
            && cond.contains("inputs.keyless == 'true'")
            && inputs["keyless"] != "true"
        {
            continue;
        }
        assert!(
            !script.contains("${{"),
            "step {name:?} expands an expression inside its script; pass it through env"
        );
        assert_eq!(step["shell"], "bash");
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(proj)
            .env("PATH", &path)
            .env("GITHUB_OUTPUT", &output_file)
            .env("RUNNER_TEMP", &runner_temp)
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("SOURCE_DATE_EPOCH");
        for (k, v) in step["env"].as_object().unwrap() {
            cmd.env(k, expand(v.as_str().unwrap(), &inputs));
        }
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        if !out.status.success() {
            return Err((
                name,
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            ));
        }
    }
    Ok(std::fs::read_to_string(&output_file)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

#[test]
fn the_actions_steps_build_verify_and_report_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = cargo_receipt_on_path(tmp.path());
    let proj = project(tmp.path());
    let out = run_action(&proj, &bin, tmp.path(), &[], &[]).unwrap_or_else(|(s, o)| {
        panic!("step {s:?} failed:\n{o}");
    });
    assert_eq!(out["receipt-path"], "target/receipt/receipt.json");
    assert_eq!(out["chain-length"], "1");
    assert!(proj.join("target/receipt/receipt.json").is_file());
    // The manifest's timestamp is the commit time (SOURCE_DATE_EPOCH from git).
    let ct = Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(&proj)
        .output()
        .unwrap();
    let ct: i64 = String::from_utf8_lossy(&ct.stdout).trim().parse().unwrap();
    let manifest = std::fs::read(proj.join("target/receipt/manifest.json")).unwrap();
    let m = receipt_protocol::manifest::Manifest::parse(&manifest).unwrap();
    assert_eq!(m.timestamp.unix(), ct);
    // A second run extends the chain; a custom `out` and cargo-args are honoured.
    let out = run_action(&proj, &bin, tmp.path(), &[], &[]).unwrap();
    assert_eq!(out["chain-length"], "2");
    let out = run_action(
        &proj,
        &bin,
        tmp.path(),
        &[
            ("out", "ledger"),
            ("cargo-args", "--locked --release"),
            ("verify-flags", ""),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(out["receipt-path"], "ledger/receipt.json");
    assert!(proj.join("target/release/fx").is_file());
}

#[test]
fn the_action_refuses_inconsistent_key_inputs() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let proj = project(tmp.path());
    let (step, out) = run_action(
        &proj,
        &bin,
        tmp.path(),
        &[("keyless", "true"), ("sign-key-secret", "RECEIPT_KEY")],
        &[("RECEIPT_KEY", "-----BEGIN PRIVATE KEY-----")],
    )
    .unwrap_err();
    assert_eq!(step, "Check the inputs");
    assert!(out.contains("exclude each other"), "{out}");
    let (step, out) = run_action(
        &proj,
        &bin,
        tmp.path(),
        &[("sign-key-secret", "RECEIPT_KEY_NOT_SET")],
        &[],
    )
    .unwrap_err();
    assert_eq!(step, "Check the inputs");
    assert!(
        out.contains("RECEIPT_KEY_NOT_SET") && out.contains("is empty"),
        "{out}"
    );
    let (_, out) = run_action(&proj, &bin, tmp.path(), &[("keyless", "yes")], &[]).unwrap_err();
    assert!(out.contains("keyless must be true or false"), "{out}");
}
