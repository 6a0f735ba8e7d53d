//! Signed receipts: the SLSA Provenance v1 statement of one build entry, the DSSE envelope
//! of the receipt file itself, and the check that a signed statement agrees with the entry
//! it sits beside (docs/SPEC.md, signing section).
//!
//! Per entry of the ledger (`receipts/NNNNNN/`):
//!
//! - `receipt.dsse.json`: a DSSE envelope whose payload is the receipt file's exact bytes,
//!   payload type [`RECEIPT_PAYLOAD_TYPE`];
//! - `provenance.intoto.jsonl`: one DSSE envelope per line, payload type
//!   `application/vnd.in-toto+json`, payload the canonical in-toto Statement v1 that
//!   [`statement`] builds (absent when the build produced no artifacts).
//!
//! **The statement.** Subjects are the receipt's artifacts (name = path relative to the
//! artifacts root, `sha256`), in the receipt's order. `buildType` is [`BUILD_TYPE_CARGO`] or
//! [`BUILD_TYPE_LAKE`] by the receipt's `kind`. `externalParameters` is the ingress
//! preimage without the keys of [`internal_keys`], plus `source` (`repository` when the
//! producer knows it, `commit` when known, `dirty`, from the receipt's `source` section;
//! absent when that section is unavailable). `internalParameters` is the ingress's
//! [`internal_keys`] (Cargo: `rustc_vv`, `env`; Lake: `lean_toolchain`). `resolvedDependencies`
//! is the source commit (`git+<repository>@<commit>` when the repository is known, digest
//! `{"gitCommit": commit}`, annotation `dirty` when the tree was dirty), then the producer's
//! dependencies in the order given. `runDetails.builder.id` (and `version`) are the
//! producer's; `metadata.invocationId` is `sha256:<receipt file SHA-256>`; `finishedOn` is the
//! manifest timestamp and `startedOn` that minus `work.wall_ms` rounded down to whole seconds
//! (both absent when the receipt's `work` is unavailable); `byproducts` are `receipt.json`
//! and `manifest.json` with their SHA-256.
//!
//! Everything in the statement is a function of the receipt, the manifest and the producer's
//! inputs (builder id, repository, dependency list); `startedOn` is measured (it follows
//! `work.wall_ms`), as are the artifact digests.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use receipt_attest::dsse::{DsseError, Envelope};
use receipt_attest::intoto::{
    BuildDefinition, BuildMetadata, Builder, Provenance, RunDetails, SLSA_PROVENANCE_V1, Statement,
    StatementError,
};
use receipt_attest::keys::{KeyId, PublicKey, SigningKey};
use receipt_primitives::check::echo;
use receipt_primitives::{Digest, Timestamp};

use crate::layout::{MANIFEST_FILE, RECEIPT_FILE};
pub use crate::layout::{PROVENANCE_FILE, RECEIPT_ENVELOPE_FILE};
use crate::manifest::Manifest;
use crate::receipt::{KIND_CARGO, KIND_LAKE, Receipt, Section};

pub use receipt_attest::intoto::{
    DigestSet, PAYLOAD_TYPE as INTOTO_PAYLOAD_TYPE, ResourceDescriptor,
};

/// `buildType` of Cargo builds: the parameters are those of the Cargo ingress preimage
/// (docs/SPEC.md §8.5).
pub const BUILD_TYPE_CARGO: &str = "https://receipt.dev/build-types/cargo/v1";

/// `buildType` of Lake builds: the parameters are those of the Lake ingress preimage
/// (docs/SPEC.md §9.5).
pub const BUILD_TYPE_LAKE: &str = "https://receipt.dev/build-types/lake/v1";

/// DSSE payload type of the receipt envelope; its payload is the receipt file's bytes.
pub const RECEIPT_PAYLOAD_TYPE: &str = "application/vnd.tau-crystal.receipt+json";

/// Everything [`statement`] needs besides the receipt.
#[derive(Debug, Clone)]
pub struct ProvenanceInput<'a> {
    /// The receipt as stored.
    pub receipt: &'a Receipt,
    /// SHA-256 of the receipt file.
    pub receipt_sha256: Digest,
    /// The manifest stored beside it (its SHA-256 must be the receipt's `manifest_sha256`).
    pub manifest: &'a Manifest,
    /// `runDetails.builder.id`, e.g. `https://receipt.dev/cargo-receipt@0.1.0` or a CI
    /// builder's id.
    pub builder_id: &'a str,
    /// `runDetails.builder.version` (omitted when empty).
    pub builder_version: BTreeMap<String, String>,
    /// The source repository URL, when the producer knows it (user information such as
    /// `user:token@` is removed before it is recorded).
    pub source_repository: Option<&'a str>,
    /// The resolved dependencies after the source commit (e.g. every package of
    /// `Cargo.lock`, every `lake-manifest.json` package), in the order to record.
    pub dependencies: &'a [ResourceDescriptor],
}

/// Why a statement could not be built, or does not agree with its entry.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    /// No artifacts: a statement needs at least one subject, so the entry gets none.
    #[error("no provenance: the build recorded no artifacts ({0})")]
    NoArtifacts(String),
    /// A receipt kind without a build type.
    #[error("no build type for receipt kind {0:?}")]
    UnknownKind(String),
    /// The ingress preimage is not an object, or uses the reserved key `source`.
    #[error("the receipt's ingress section cannot be split into build parameters: {0}")]
    Ingress(&'static str),
    /// The manifest given is not the one the receipt names.
    #[error("the manifest's SHA-256 is not the receipt's manifest_sha256")]
    ManifestMismatch,
    /// The statement is not valid in-toto / SLSA.
    #[error(transparent)]
    Statement(#[from] StatementError),
    /// The envelope did not verify.
    #[error(transparent)]
    Dsse(#[from] DsseError),
    /// The receipt envelope's payload is not the receipt file.
    #[error("the envelope's payload is not the bytes of the receipt file")]
    PayloadMismatch,
    /// A signed statement field that the entry's files do not give.
    #[error("provenance field `{0}` disagrees with the receipt and manifest")]
    Disagree(&'static str),
}

/// The ingress keys recorded as `internalParameters` for a receipt kind.
pub fn internal_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        KIND_CARGO => &["env", "rustc_vv"],
        KIND_LAKE => &["lean_toolchain"],
        _ => &[],
    }
}

fn build_type(kind: &str) -> Result<&'static str, ProvenanceError> {
    match kind {
        KIND_CARGO => Ok(BUILD_TYPE_CARGO),
        KIND_LAKE => Ok(BUILD_TYPE_LAKE),
        other => Err(ProvenanceError::UnknownKind(echo(other))),
    }
}

/// `url` without user information (`scheme://user:password@host/…` → `scheme://host/…`).
pub fn strip_userinfo(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let auth_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..auth_end].rfind('@') {
            return format!("{scheme}://{}", &rest[at + 1..]);
        }
    }
    url.to_owned()
}

/// The `resolvedDependencies` entry of a git revision: `git+<url>@<rev>` with digest
/// `{"gitCommit": rev}` when `rev` is a 40- or 64-digit lowercase hex commit id (otherwise
/// the URI alone: a branch or tag name is not a digest).
pub fn git_dependency(name: &str, url: &str, rev: &str) -> ResourceDescriptor {
    let url = strip_userinfo(url);
    let url = url.strip_prefix("git+").unwrap_or(&url);
    let is_commit =
        matches!(rev.len(), 40 | 64) && rev.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ResourceDescriptor {
        name: Some(name.to_owned()),
        uri: Some(format!("git+{url}@{rev}")),
        digest: is_commit.then(|| DigestSet::from([("gitCommit".to_owned(), rev.to_owned())])),
        ..ResourceDescriptor::default()
    }
}

/// The parts of the predicate that are functions of the receipt and manifest alone.
struct Derived {
    subject: Vec<ResourceDescriptor>,
    build_type: &'static str,
    external: Map<String, Value>,
    internal: Option<Map<String, Value>>,
    source: Option<ResourceDescriptor>,
    metadata: BuildMetadata,
    byproducts: Vec<ResourceDescriptor>,
}

fn derive(
    receipt: &Receipt,
    receipt_sha256: &Digest,
    manifest: &Manifest,
    repository: Option<&str>,
) -> Result<Derived, ProvenanceError> {
    if Digest::of(&manifest.to_bytes()) != receipt.manifest_sha256 {
        return Err(ProvenanceError::ManifestMismatch);
    }
    let build_type = build_type(&receipt.kind)?;
    let subject: Vec<ResourceDescriptor> = match &receipt.artifacts {
        Section::Available(a) => a
            .files
            .iter()
            .map(|f| ResourceDescriptor::file(&f.path, &f.sha256))
            .collect(),
        Section::Unavailable { reason } => {
            return Err(ProvenanceError::NoArtifacts(echo(reason)));
        }
    };
    if subject.is_empty() {
        return Err(ProvenanceError::NoArtifacts(
            "the artifact list is empty".into(),
        ));
    }
    let mut external = Map::new();
    let mut internal = Map::new();
    if let Section::Available(ingress) = &receipt.ingress {
        let Value::Object(obj) = ingress else {
            return Err(ProvenanceError::Ingress("it is not a JSON object"));
        };
        if obj.contains_key("source") {
            return Err(ProvenanceError::Ingress("it has a key named `source`"));
        }
        let internal_keys = internal_keys(&receipt.kind);
        for (k, v) in obj {
            if internal_keys.contains(&k.as_str()) {
                internal.insert(k.clone(), v.clone());
            } else {
                external.insert(k.clone(), v.clone());
            }
        }
    }
    let repository = repository.map(strip_userinfo);
    let mut source = None;
    if let Section::Available(src) = &receipt.source {
        let mut s = Map::new();
        if let Some(r) = &repository {
            s.insert("repository".into(), Value::String(r.clone()));
        }
        if let Section::Available(git) = &src.git {
            if let Some(c) = &git.commit {
                s.insert("commit".into(), Value::String(c.clone()));
                let mut rd = match &repository {
                    Some(r) => git_dependency("source", r, c),
                    None => ResourceDescriptor {
                        name: Some("source".into()),
                        digest: Some(DigestSet::from([("gitCommit".to_owned(), c.clone())])),
                        ..ResourceDescriptor::default()
                    },
                };
                if git.dirty {
                    rd.annotations =
                        Some(Map::from_iter([("dirty".to_owned(), Value::Bool(true))]));
                }
                source = Some(rd);
            }
            s.insert("dirty".into(), Value::Bool(git.dirty));
        }
        external.insert("source".into(), Value::Object(s));
    }
    let (started_on, finished_on) = match &receipt.work {
        Section::Available(w) => {
            let secs = i64::try_from(w.wall_ms / 1000).unwrap_or(i64::MAX);
            let started = manifest
                .timestamp
                .unix()
                .checked_sub(secs)
                .and_then(|s| Timestamp::from_unix(s).ok());
            (started, Some(manifest.timestamp))
        }
        Section::Unavailable { .. } => (None, None),
    };
    Ok(Derived {
        subject,
        build_type,
        external,
        internal: (!internal.is_empty()).then_some(internal),
        source,
        metadata: BuildMetadata {
            invocation_id: Some(format!("sha256:{receipt_sha256}")),
            started_on,
            finished_on,
        },
        byproducts: vec![
            ResourceDescriptor::file(RECEIPT_FILE, receipt_sha256),
            ResourceDescriptor::file(MANIFEST_FILE, &receipt.manifest_sha256),
        ],
    })
}

/// The in-toto Statement with the SLSA Provenance v1 predicate of one build entry (see the
/// module docs for every field).
///
/// # Errors
/// [`ProvenanceError::NoArtifacts`] when there is nothing to attest (write no provenance
/// for the entry), [`ProvenanceError::ManifestMismatch`], [`ProvenanceError::UnknownKind`],
/// [`ProvenanceError::Ingress`].
pub fn statement(input: &ProvenanceInput<'_>) -> Result<Statement<Provenance>, ProvenanceError> {
    let d = derive(
        input.receipt,
        &input.receipt_sha256,
        input.manifest,
        input.source_repository,
    )?;
    let mut resolved: Vec<ResourceDescriptor> = d.source.into_iter().collect();
    resolved.extend(input.dependencies.iter().cloned());
    let st = Statement::new(
        d.subject,
        SLSA_PROVENANCE_V1,
        Provenance {
            build_definition: BuildDefinition {
                build_type: d.build_type.to_owned(),
                external_parameters: d.external,
                internal_parameters: d.internal,
                resolved_dependencies: (!resolved.is_empty()).then_some(resolved),
            },
            run_details: RunDetails {
                builder: Builder {
                    id: input.builder_id.to_owned(),
                    version: (!input.builder_version.is_empty())
                        .then(|| input.builder_version.clone()),
                    builder_dependencies: None,
                },
                metadata: Some(d.metadata),
                byproducts: Some(d.byproducts),
            },
        },
    );
    st.validate()?;
    st.predicate.validate()?;
    Ok(st)
}

/// Signs a provenance statement: the DSSE envelope of its canonical JSON, payload type
/// `application/vnd.in-toto+json`, one signature per key.
///
/// # Errors
/// [`ProvenanceError::Statement`] (no canonical form) or [`ProvenanceError::Dsse`] (no key).
pub fn sign_statement(
    statement: &Statement<Provenance>,
    keys: &[&SigningKey],
) -> Result<Envelope, ProvenanceError> {
    Ok(Envelope::sign(
        INTOTO_PAYLOAD_TYPE,
        statement.to_json()?,
        keys,
    )?)
}

/// The receipt envelope: the receipt file's exact bytes signed as [`RECEIPT_PAYLOAD_TYPE`].
///
/// # Errors
/// [`ProvenanceError::Dsse`] when `keys` is empty.
pub fn sign_receipt(
    receipt_bytes: &[u8],
    keys: &[&SigningKey],
) -> Result<Envelope, ProvenanceError> {
    Ok(Envelope::sign(
        RECEIPT_PAYLOAD_TYPE,
        receipt_bytes.to_vec(),
        keys,
    )?)
}

/// Verifies a receipt envelope against trusted keys and that its payload is exactly
/// `receipt_bytes`; returns the trusted keys that signed.
///
/// # Errors
/// [`ProvenanceError::Dsse`] (wrong key, bad or missing signature, other payload type) or
/// [`ProvenanceError::PayloadMismatch`].
pub fn verify_receipt_envelope(
    envelope: &Envelope,
    receipt_bytes: &[u8],
    trusted: &[PublicKey],
) -> Result<Vec<KeyId>, ProvenanceError> {
    let v = envelope.verify(trusted, RECEIPT_PAYLOAD_TYPE)?;
    if v.payload != receipt_bytes {
        return Err(ProvenanceError::PayloadMismatch);
    }
    Ok(v.key_ids)
}

/// Checks that a provenance statement read back from an envelope agrees with the entry:
/// every field that is a function of the receipt and manifest (subjects = the artifact list,
/// build type, parameters, the source commit, invocation id, times, byproducts with the
/// receipt's and manifest's SHA-256) must be exactly what [`statement`] gives. The builder,
/// the repository URL and the dependencies after the source commit are the producer's word
/// and are taken as signed.
///
/// # Errors
/// [`ProvenanceError::Disagree`] naming the first field that differs, or the errors of
/// [`statement`] for an entry that cannot have one.
pub fn check_statement(
    st: &Statement<Provenance>,
    receipt: &Receipt,
    receipt_sha256: &Digest,
    manifest: &Manifest,
) -> Result<(), ProvenanceError> {
    let p = &st.predicate;
    let repository = p
        .build_definition
        .external_parameters
        .get("source")
        .and_then(|s| s.get("repository"))
        .and_then(Value::as_str);
    let d = derive(receipt, receipt_sha256, manifest, repository)?;
    let resolved = p
        .build_definition
        .resolved_dependencies
        .as_deref()
        .unwrap_or(&[]);
    let checks: [(&'static str, bool); 9] = [
        ("predicateType", st.predicate_type == SLSA_PROVENANCE_V1),
        ("subject", st.subject == d.subject),
        (
            "predicate.buildDefinition.buildType",
            p.build_definition.build_type == d.build_type,
        ),
        (
            "predicate.buildDefinition.externalParameters",
            p.build_definition.external_parameters == d.external,
        ),
        (
            "predicate.buildDefinition.internalParameters",
            p.build_definition.internal_parameters == d.internal,
        ),
        (
            "predicate.buildDefinition.resolvedDependencies",
            d.source
                .as_ref()
                .is_none_or(|s| resolved.first() == Some(s)),
        ),
        (
            "predicate.runDetails.metadata",
            p.run_details.metadata.as_ref() == Some(&d.metadata),
        ),
        (
            "predicate.runDetails.byproducts",
            p.run_details.byproducts.as_ref() == Some(&d.byproducts),
        ),
        (
            "predicate.runDetails.builder.id",
            !p.run_details.builder.id.is_empty(),
        ),
    ];
    match checks.iter().find(|(_, ok)| !ok) {
        Some((field, _)) => Err(ProvenanceError::Disagree(field)),
        None => Ok(()),
    }
}

/// Verifies one provenance envelope (a line of [`PROVENANCE_FILE`]) against trusted keys,
/// parses its Statement and SLSA v1 predicate, and checks it against the entry with
/// [`check_statement`]; returns the trusted keys that signed.
///
/// # Errors
/// [`ProvenanceError`] naming the first problem.
pub fn verify_provenance_envelope(
    envelope: &Envelope,
    trusted: &[PublicKey],
    receipt: &Receipt,
    receipt_sha256: &Digest,
    manifest: &Manifest,
) -> Result<Vec<KeyId>, ProvenanceError> {
    let v = envelope.verify(trusted, INTOTO_PAYLOAD_TYPE)?;
    let st = Statement::parse(v.payload)?.provenance()?;
    check_statement(&st, receipt, receipt_sha256, manifest)?;
    Ok(v.key_ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::{Artifact, Artifacts, GitInfo, Reflective, Source, TrackedSummary, Work};

    fn entry() -> (Receipt, Vec<u8>, Manifest) {
        let manifest = Manifest {
            producer: "cargo-receipt 0.1.0".into(),
            ingress_preimage_sha256: None,
            timestamp: Timestamp::parse("2025-01-02T03:04:05Z").unwrap(),
            merkle_root: Digest::of(b"tree"),
        };
        let ingress = serde_json::json!({
            "schema": "tau-crystal.cargo-ingress/1",
            "args": ["--release"],
            "profile": "release",
            "target": "x86_64-unknown-linux-gnu",
            "features": {"all": false, "default": true, "list": []},
            "members": ["app@0.1.0"],
            "rustc_vv": "rustc 1.95.0\nhost: x86_64-unknown-linux-gnu\n",
            "cargo_lock_sha256": Digest::of(b"lock").to_hex(),
            "env": {"SOURCE_DATE_EPOCH": "1735787045"},
        });
        let receipt = Receipt {
            schema: crate::receipt::RECEIPT_SCHEMA.into(),
            kind: "cargo".into(),
            producer: manifest.producer.clone(),
            manifest_sha256: Digest::of(&manifest.to_bytes()),
            reflective: Reflective {
                merkle_root: manifest.merkle_root,
            },
            prev: None,
            source: Section::Available(Source {
                git: Section::Available(GitInfo {
                    commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
                    dirty: false,
                }),
                tracked: TrackedSummary {
                    mode: "git".into(),
                    files: 3,
                    merkle_root: manifest.merkle_root,
                },
            }),
            ingress: Section::Available(ingress),
            graph: Section::unavailable("not needed here"),
            tau: Section::unavailable("not needed here"),
            rank: Section::unavailable("not needed here"),
            work: Section::Available(Work {
                status: "success".into(),
                exit_code: Some(0),
                wall_ms: 61_999,
                cpu_ms: None,
                peak_rss_kb: None,
            }),
            artifacts: Section::Available(Artifacts {
                root: "target".into(),
                files: vec![
                    Artifact {
                        path: "release/app".into(),
                        sha256: Digest::of(b"app"),
                        size: 3,
                    },
                    Artifact {
                        path: "release/libapp.rlib".into(),
                        sha256: Digest::of(b"rlib"),
                        size: 4,
                    },
                ],
            }),
            extensions: BTreeMap::new(),
        };
        let bytes = receipt.to_bytes().unwrap();
        (receipt, bytes, manifest)
    }

    fn deps() -> Vec<ResourceDescriptor> {
        vec![ResourceDescriptor {
            name: Some("serde".into()),
            uri: Some("pkg:cargo/serde@1.0.0".into()),
            digest: Some(DigestSet::from([(
                "sha256".into(),
                Digest::of(b"crate").to_hex(),
            )])),
            ..ResourceDescriptor::default()
        }]
    }

    fn input<'a>(
        r: &'a Receipt,
        bytes: &[u8],
        m: &'a Manifest,
        deps: &'a [ResourceDescriptor],
    ) -> ProvenanceInput<'a> {
        ProvenanceInput {
            receipt: r,
            receipt_sha256: Digest::of(bytes),
            manifest: m,
            builder_id: "https://receipt.dev/cargo-receipt@0.1.0",
            builder_version: BTreeMap::new(),
            source_repository: Some("https://user:secret@example.com/app.git"),
            dependencies: deps,
        }
    }

    #[test]
    fn statement_fields_follow_the_receipt() {
        let (r, bytes, m) = entry();
        let deps = deps();
        let st = statement(&input(&r, &bytes, &m, &deps)).unwrap();
        let p = &st.predicate;
        assert_eq!(st.subject.len(), 2);
        assert_eq!(st.subject[0].name.as_deref(), Some("release/app"));
        assert_eq!(
            st.subject[0].sha256(),
            Some(Digest::of(b"app").to_hex().as_str())
        );
        assert_eq!(p.build_definition.build_type, BUILD_TYPE_CARGO);
        let ext = &p.build_definition.external_parameters;
        assert!(ext.contains_key("args") && !ext.contains_key("rustc_vv"));
        assert_eq!(
            ext["source"],
            serde_json::json!({"repository": "https://example.com/app.git",
                "commit": "0123456789abcdef0123456789abcdef01234567", "dirty": false})
        );
        let int = p.build_definition.internal_parameters.as_ref().unwrap();
        assert_eq!(int.keys().collect::<Vec<_>>(), ["env", "rustc_vv"]);
        let res = p.build_definition.resolved_dependencies.as_ref().unwrap();
        assert_eq!(
            res[0].uri.as_deref(),
            Some("git+https://example.com/app.git@0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(res[1], deps[0]);
        let md = p.run_details.metadata.as_ref().unwrap();
        assert_eq!(md.finished_on.unwrap().to_string(), "2025-01-02T03:04:05Z");
        assert_eq!(md.started_on.unwrap().to_string(), "2025-01-02T03:03:04Z");
        assert_eq!(
            md.invocation_id.as_deref(),
            Some(format!("sha256:{}", Digest::of(&bytes)).as_str())
        );
        let text = String::from_utf8(st.to_json().unwrap()).unwrap();
        assert!(!text.contains("null") && !text.contains("secret"), "{text}");
        // The same inputs give the same bytes.
        assert_eq!(
            statement(&input(&r, &bytes, &m, &deps))
                .unwrap()
                .to_json()
                .unwrap(),
            text.as_bytes()
        );
    }

    /// The statement of the documented example entry, byte for byte (the signing spec shows
    /// it pretty-printed).
    #[test]
    fn worked_example_statement_is_stable() {
        let (r, bytes, m) = entry();
        let deps = deps();
        let st = statement(&input(&r, &bytes, &m, &deps)).unwrap();
        let text = String::from_utf8(st.to_json().unwrap()).unwrap();
        assert_eq!(text, WORKED_EXAMPLE);
    }

    const WORKED_EXAMPLE: &str = concat!(
        "{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicate\":{\"buildDefinition\":{\"buildType\":\"ht",
        "tps://receipt.dev/build-types/cargo/v1\",\"externalParameters\":{\"args\":[\"--release\"],\"cargo_",
        "lock_sha256\":\"0c030586945fe504b604ecc2e875c38ede400cd5cd73da9730302162e6b02c6f\",\"features\"",
        ":{\"all\":false,\"default\":true,\"list\":[]},\"members\":[\"app@0.1.0\"],\"profile\":\"release\",\"schem",
        "a\":\"tau-crystal.cargo-ingress/1\",\"source\":{\"commit\":\"0123456789abcdef0123456789abcdef01234",
        "567\",\"dirty\":false,\"repository\":\"https://example.com/app.git\"},\"target\":\"x86_64-unknown-li",
        "nux-gnu\"},\"internalParameters\":{\"env\":{\"SOURCE_DATE_EPOCH\":\"1735787045\"},\"rustc_vv\":\"rustc",
        " 1.95.0\\nhost: x86_64-unknown-linux-gnu\\n\"},\"resolvedDependencies\":[{\"digest\":{\"gitCommit\"",
        ":\"0123456789abcdef0123456789abcdef01234567\"},\"name\":\"source\",\"uri\":\"git+https://example.co",
        "m/app.git@0123456789abcdef0123456789abcdef01234567\"},{\"digest\":{\"sha256\":\"f5fe331d2367a7a6",
        "7ee20bd579c77b929ae49439d8b0d8e9c3b98609797b6b69\"},\"name\":\"serde\",\"uri\":\"pkg:cargo/serde@1",
        ".0.0\"}]},\"runDetails\":{\"builder\":{\"id\":\"https://receipt.dev/cargo-receipt@0.1.0\"},\"byprodu",
        "cts\":[{\"digest\":{\"sha256\":\"e57522751f03506d8469b6d82baf8655c22fd97a06203589a71dd3683446aac",
        "e\"},\"name\":\"receipt.json\"},{\"digest\":{\"sha256\":\"ebf9869f4dfdedadf8b8491518e42620ce6a1959ab",
        "6325d2186df502256bbd68\"},\"name\":\"manifest.json\"}],\"metadata\":{\"finishedOn\":\"2025-01-02T03:",
        "04:05Z\",\"invocationId\":\"sha256:e57522751f03506d8469b6d82baf8655c22fd97a06203589a71dd368344",
        "6aace\",\"startedOn\":\"2025-01-02T03:03:04Z\"}}},\"predicateType\":\"https://slsa.dev/provenance/",
        "v1\",\"subject\":[{\"digest\":{\"sha256\":\"a172cedcae47474b615c54d510a5d84a8dea3032e958587430b413",
        "538be3f333\"},\"name\":\"release/app\"},{\"digest\":{\"sha256\":\"5e98457726bed4aae7c323ba59bdff9fa5",
        "569f53d57039a1bbb99959124bc9a2\"},\"name\":\"release/libapp.rlib\"}]}",
    );

    /// The statement this module builds, signed, read by securesystemslib and
    /// in-toto-attestation (the script of `receipt-attest/tests/python`). Needs the test venv.
    #[test]
    fn the_ecosystem_verifiers_accept_our_provenance() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let python = std::env::var_os("RECEIPT_TEST_PYTHON")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| root.join(".venv/bin/python"));
        assert!(
            python.exists(),
            "the third-party verifiers need the test Python venv ({}); run `bash scripts/test.sh` \
             (or `. scripts/test-env.sh`) to create it",
            python.display()
        );
        let (r, bytes, m) = entry();
        let deps = deps();
        let st = statement(&input(&r, &bytes, &m, &deps)).unwrap();
        let key = SigningKey::p256_from_scalar(&[42; 32]).unwrap();
        let t = tempfile::tempdir().unwrap();
        let env = t.path().join("provenance.json");
        let pem = t.path().join("key.pub");
        std::fs::write(&env, sign_statement(&st, &[&key]).unwrap().to_json()).unwrap();
        std::fs::write(&pem, key.public_key().to_spki_pem()).unwrap();
        let cases = t.path().join("cases.json");
        std::fs::write(
            &cases,
            serde_json::to_vec(&serde_json::json!([{"name": "provenance", "envelope": env,
                "public_key": pem, "keyid": key.key_id().to_string(), "expect": "accept"}]))
            .unwrap(),
        )
        .unwrap();
        let out = std::process::Command::new(python)
            .arg(root.join("receipt-attest/tests/python/verify_dsse.py"))
            .arg(&cases)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("statement ok: 2 subjects"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn unknown_facts_are_absent_not_invented() {
        let (mut r, _, m) = entry();
        r.source = Section::unavailable("not a git work tree");
        r.work = Section::unavailable("lake is not installed");
        r.ingress = Section::unavailable("no ingress");
        let bytes = r.to_bytes().unwrap();
        let mut inp = input(&r, &bytes, &m, &[]);
        inp.source_repository = None;
        let st = statement(&inp).unwrap();
        let p = &st.predicate;
        assert!(p.build_definition.external_parameters.is_empty());
        assert!(p.build_definition.internal_parameters.is_none());
        assert!(p.build_definition.resolved_dependencies.is_none());
        let md = p.run_details.metadata.as_ref().unwrap();
        assert!(md.started_on.is_none() && md.finished_on.is_none());
        r.artifacts = Section::unavailable("lake is not installed");
        let bytes = r.to_bytes().unwrap();
        assert!(matches!(
            statement(&input(&r, &bytes, &m, &[])),
            Err(ProvenanceError::NoArtifacts(_))
        ));
    }

    #[test]
    fn signed_statements_and_receipts_verify_and_tampering_is_named() {
        let (r, bytes, m) = entry();
        let deps = deps();
        let key = SigningKey::ed25519_from_seed(&[42; 32]);
        let other = SigningKey::ed25519_from_seed(&[43; 32]);
        let trusted = [key.public_key().clone()];
        let sha = Digest::of(&bytes);
        let st = statement(&input(&r, &bytes, &m, &deps)).unwrap();
        let env = sign_statement(&st, &[&key]).unwrap();
        assert_eq!(
            verify_provenance_envelope(&env, &trusted, &r, &sha, &m).unwrap(),
            [key.key_id()]
        );
        assert!(matches!(
            verify_provenance_envelope(&env, &[other.public_key().clone()], &r, &sha, &m),
            Err(ProvenanceError::Dsse(DsseError::NoTrustedSignature(_)))
        ));
        // A statement signed by the right key, about other artifacts.
        let mut lying = st.clone();
        lying.subject[0].digest = Some(DigestSet::from([(
            "sha256".into(),
            Digest::of(b"evil").to_hex(),
        )]));
        let env = sign_statement(&lying, &[&key]).unwrap();
        assert!(matches!(
            verify_provenance_envelope(&env, &trusted, &r, &sha, &m),
            Err(ProvenanceError::Disagree("subject"))
        ));
        // About another receipt.
        let mut other_receipt = st.clone();
        other_receipt
            .predicate
            .run_details
            .byproducts
            .as_mut()
            .unwrap()[0] = ResourceDescriptor::file("receipt.json", &Digest::of(b"other"));
        assert!(matches!(
            check_statement(&other_receipt, &r, &sha, &m),
            Err(ProvenanceError::Disagree("predicate.runDetails.byproducts"))
        ));
        let mut moved = st.clone();
        moved
            .predicate
            .build_definition
            .resolved_dependencies
            .as_mut()
            .unwrap()
            .remove(0);
        assert!(matches!(
            check_statement(&moved, &r, &sha, &m),
            Err(ProvenanceError::Disagree(
                "predicate.buildDefinition.resolvedDependencies"
            ))
        ));
        // The receipt envelope carries the receipt's bytes.
        let renv = sign_receipt(&bytes, &[&key]).unwrap();
        assert_eq!(
            verify_receipt_envelope(&renv, &bytes, &trusted).unwrap(),
            [key.key_id()]
        );
        let mut changed = bytes.clone();
        changed[10] ^= 1;
        assert!(matches!(
            verify_receipt_envelope(&renv, &changed, &trusted),
            Err(ProvenanceError::PayloadMismatch)
        ));
        let parsed = Envelope::parse(&renv.to_json()).unwrap();
        assert_eq!(parsed, renv);
    }

    #[test]
    fn git_dependencies_record_commits_as_digests_only() {
        let d = git_dependency(
            "mathlib",
            "https://github.com/leanprover-community/mathlib4",
            &"ab".repeat(20),
        );
        assert_eq!(d.digest.unwrap()["gitCommit"], "ab".repeat(20));
        let d = git_dependency("x", "git+https://t:p@h/x", "main");
        assert_eq!(d.uri.as_deref(), Some("git+https://h/x@main"));
        assert!(d.digest.is_none());
    }
}
