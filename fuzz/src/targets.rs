//! The harnesses, one per parser: what each runs, and the properties it asserts on every
//! input besides not panicking.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::Command;

use arbitrary::Unstructured;
use receipt_graph::CanonicalGraph;
use receipt_primitives::confine::check_path;
use receipt_primitives::{Digest, Timestamp, jcs, merkle};
use receipt_protocol::ledger::{HeadLine, entry_path, parse_head};
use receipt_protocol::manifest::Manifest;
use receipt_protocol::proof::{FileProof, PROOF_SCHEMA, check_tracked_path};
use receipt_protocol::receipt::Receipt;
use receipt_protocol::tracked::{FileKind, tracked_leaf_hash};
use receipt_runtime::entry::{self, LineError, RawEntry};
use receipt_runtime::fuzzing::LineChecker;
use receipt_runtime::ledger::{HEAD_SCHEMA, Head};
use receipt_runtime::receipt::PayloadView;
use serde_json::Value;

use crate::driver::{Input, Kind, Target, Verdict};
use crate::mutate::{string, tweak_json};

/// Every target, in the order of the README's table.
pub const TARGETS: &[Target] = &[
    Target {
        name: "manifest",
        parser: "receipt_protocol::manifest::Manifest::parse",
        kind: Kind::RoundTrip,
        dict: &[
            b"\"producer\"",
            b"\"ingress_preimage_sha256\"",
            b"\"timestamp\"",
            b"\"merkle_root\"",
            b"2025-02-29T00:00:00Z",
            b"9999-12-31T23:59:60Z",
        ],
        check: manifest,
        generate: gen_manifest,
    },
    Target {
        name: "receipt",
        parser: "receipt_protocol::receipt::Receipt::parse",
        kind: Kind::RoundTrip,
        dict: &[
            b"\"schema\"",
            b"\"tau-crystal.receipt/1\"",
            b"\"unavailable\"",
            b"\"reason\"",
            b"\"graph\"",
            b"\"tracked\"",
            b"\"prev\"",
            b"\"extensions\"",
        ],
        check: receipt,
        generate: gen_receipt,
    },
    Target {
        name: "chain-head",
        parser: "receipt_protocol::ledger::parse_head",
        kind: Kind::RoundTrip,
        dict: &[
            b"receipts/",
            b"/receipt.json",
            b"000001",
            b"999999",
            b"1000000",
            b" ",
        ],
        check: chain_head,
        generate: gen_chain_head,
    },
    Target {
        name: "graph",
        parser: "receipt_graph::CanonicalGraph::from_json_bytes",
        kind: Kind::RoundTrip,
        dict: &[
            b"\"nodes\"",
            b"\"edges\"",
            b"\"schema\"",
            b"[0,0]",
            b"[0,1]",
            b"[1,0]",
            b"[4294967295,0]",
        ],
        check: graph,
        generate: gen_graph,
    },
    Target {
        name: "proof",
        parser: "receipt_protocol::proof::FileProof::from_json_bytes + verify",
        kind: Kind::RoundTrip,
        dict: &[
            b"\"audit_path\"",
            b"\"leaf_index\"",
            b"\"tree_size\"",
            b"\"kind\"",
            b"\"f\"",
            b"\"x\"",
            b"\"l\"",
            b"\"path\"",
        ],
        check: proof,
        generate: gen_proof,
    },
    Target {
        name: "run-ledger",
        parser: "receipt_runtime line checks: skeleton fast path vs scan vs plain JCS and serde",
        kind: Kind::Differential,
        dict: &[
            b"\"hash\"",
            b"\"payload\"",
            b"\"prev\"",
            b"\"run_id\"",
            b"\"seq\"",
            b"\"stage\"",
            b"\"type\"",
            b"\"STAGE_ENTER\"",
            b"\"STAGE_EXIT\"",
            b"\"EVENT\"",
            b"\"VIOLATION\"",
            b"\"RUN_FINALIZE\"",
            b"\"id\"",
            b"\"parent\"",
            b"\"wall_ns\"",
            b"\\n",
            b"\\\"",
        ],
        check: run_ledger,
        generate: gen_run_ledger,
    },
    Target {
        name: "run-verify",
        parser: "receipt_runtime::verify::verify_run over a whole ledger (with its head and receipt)",
        kind: Kind::Differential,
        dict: &[
            b"\"hash\"",
            b"\"payload\"",
            b"\"seq\"",
            b"\"stage\"",
            b"\"type\"",
            b"\"STAGE_ENTER\"",
            b"\"STAGE_EXIT\"",
            b"\"RUN_START\"",
            b"\"RUN_FINALIZE\"",
            b"\"id\"",
            b"\"parent\"",
            b"\"outcome\"",
            b"\"err\"",
            b"\"panic\"",
            b"\n",
        ],
        check: run_verify,
        generate: gen_run_verify,
    },
    Target {
        name: "run-head",
        parser: "receipt_runtime::ledger::Head::read",
        kind: Kind::RoundTrip,
        dict: &[
            b"\"schema\"",
            b"\"run_id\"",
            b"\"entries\"",
            b"\"last_entry_sha256\"",
            b"\"merkle_root\"",
            b"\"receipt.run-head/1\"",
        ],
        check: run_head,
        generate: gen_run_head,
    },
    Target {
        name: "lean-header",
        parser: "lake_bridge::header::parse_header",
        kind: Kind::NoPanic,
        dict: HEADER_TOKENS,
        check: lean_header,
        generate: gen_lean_header,
    },
    Target {
        name: "lakefile-toml",
        parser: "lake_bridge::config::parse_toml",
        kind: Kind::NoPanic,
        dict: &[
            b"[[lean_lib]]",
            b"[[lean_exe]]",
            b"[[require]]",
            b"srcDir = ",
            b"packagesDir = ",
            b"roots = ",
            b"globs = ",
            b"name = ",
            b"git = ",
            b"path = ",
            b"\"../x\"",
            b"\"/etc\"",
            b"\"a/../../b\"",
        ],
        check: lakefile_toml,
        generate: gen_lakefile_toml,
    },
    Target {
        name: "lakefile-lean",
        parser: "lake_bridge::config::scan_lean",
        kind: Kind::NoPanic,
        dict: LEAN_CONFIG_TOKENS,
        check: lakefile_lean,
        generate: gen_lakefile_lean,
    },
    Target {
        name: "git-index",
        parser: "receipt_scan git index reader (listing vs `git ls-files`, size hints)",
        kind: Kind::Differential,
        dict: &[
            b"DIRC",
            b"\0\0\0\x02",
            b"\0\0\0\x03",
            b"\0\0\0\x04",
            b"TREE",
            b"link",
            b"sdir",
            b"REUC",
            b"\xff\xff\xff\xff",
            b"\0\0\0\0",
            b"\x40\x00",
            b"\x0f\xff",
            b"\x81\xa4",
        ],
        check: git_index,
        generate: gen_git_index,
    },
    Target {
        name: "lake-manifest",
        parser: "lake_bridge::lake_manifest::parse_manifest",
        kind: Kind::NoPanic,
        dict: &[
            b"\"version\"",
            b"\"schemaVersion\"",
            b"\"packages\"",
            b"\"type\"",
            b"\"git\"",
            b"\"path\"",
            b"\"dir\"",
            b"\"1.2.0\"",
            b"\"1.99.0\"",
            b"7",
            b"5",
            b"\"subDir\"",
            b"\"inputRev\"",
        ],
        check: lake_manifest,
        generate: gen_lake_manifest,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

fn ensure(cond: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(why()) }
}

fn show(b: &[u8]) -> String {
    let s = b.escape_ascii().to_string();
    if s.len() > 400 {
        format!("{}…", &s[..400])
    } else {
        s
    }
}

/// Where `out` (a serialization) first differs from `b` (the input), with context.
fn diff(b: &[u8], out: &[u8]) -> String {
    let at = b
        .iter()
        .zip(out)
        .position(|(x, y)| x != y)
        .unwrap_or(b.len().min(out.len()));
    let from = at.saturating_sub(40);
    format!(
        "at byte {at} the input has b\"{}\", the serialization b\"{}\"",
        show(&b[from..(at + 40).min(b.len())]),
        show(&out[from..(at + 40).min(out.len())])
    )
}

fn digest(u: &mut Unstructured<'_>) -> arbitrary::Result<Digest> {
    Ok(Digest(u.arbitrary()?))
}

fn timestamp(u: &mut Unstructured<'_>) -> arbitrary::Result<Timestamp> {
    // 0001-01-01 to 9999-12-31.
    let unix = u.int_in_range(-62_135_596_800i64..=253_402_300_799)?;
    Timestamp::from_unix(unix).map_err(|_| arbitrary::Error::IncorrectFormat)
}

/// A seed as JSON with one value replaced, canonicalized.
fn tweaked_seed(
    u: &mut Unstructured<'_>,
    seeds: &[Vec<u8>],
    keys: &[&str],
) -> arbitrary::Result<Input> {
    if seeds.is_empty() {
        return Err(arbitrary::Error::NotEnoughData);
    }
    let seed = u.choose(seeds)?;
    let mut v: Value =
        serde_json::from_slice(seed).map_err(|_| arbitrary::Error::IncorrectFormat)?;
    for _ in 0..u.int_in_range(1..=3)? {
        tweak_json(u, &mut v, keys)?;
    }
    let bytes = jcs::to_vec(&v).map_err(|_| arbitrary::Error::IncorrectFormat)?;
    Ok(Input::any(bytes))
}

// ---- manifest -------------------------------------------------------------------------

fn manifest(b: &[u8]) -> Result<Verdict, String> {
    match Manifest::parse(b) {
        Ok(m) => {
            let out = m.to_bytes();
            ensure(out == b, || {
                format!(
                    "accepted bytes that are not the serialization of what they parse to: {}",
                    diff(b, &out)
                )
            })?;
            // An independent reading: serde sees the same four values.
            let v: Value = serde_json::from_slice(b)
                .map_err(|e| format!("accepted a manifest serde refuses: {e}: {}", show(b)))?;
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
            ensure(
                s("producer").as_deref() == Some(m.producer.as_str()),
                || "producer differs from serde's reading".into(),
            )?;
            ensure(
                s("ingress_preimage_sha256") == m.ingress_preimage_sha256.map(|d| d.to_hex()),
                || "ingress differs from serde's reading".into(),
            )?;
            ensure(s("timestamp") == Some(m.timestamp.to_string()), || {
                "timestamp differs from serde's reading".into()
            })?;
            ensure(s("merkle_root") == Some(m.merkle_root.to_hex()), || {
                "merkle_root differs from serde's reading".into()
            })?;
            ensure(
                v.as_object().is_some_and(|o| {
                    o.len() == 3 + usize::from(m.ingress_preimage_sha256.is_some())
                }),
                || "serde sees other members".into(),
            )?;
            ensure(Manifest::parse(&out).as_ref() == Ok(&m), || {
                "parse(serialize(m)) != m".into()
            })?;
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            ensure(!e.to_string().is_empty(), || {
                "an empty error message".into()
            })?;
            Ok(Verdict::Rejected)
        }
    }
}

fn gen_manifest(u: &mut Unstructured<'_>, _: &[Vec<u8>]) -> arbitrary::Result<Input> {
    let producer = string(u, &["cargo-receipt 0.1.0", "lake-receipt 0.1.0"])?;
    let m = Manifest {
        ingress_preimage_sha256: if u.arbitrary()? {
            Some(digest(u)?)
        } else {
            None
        },
        timestamp: timestamp(u)?,
        merkle_root: digest(u)?,
        producer,
    };
    let bytes = m.to_bytes();
    Ok(if m.producer.is_empty() {
        Input::any(bytes)
    } else {
        Input::valid(bytes)
    })
}

// ---- receipt --------------------------------------------------------------------------

const RECEIPT_KEYS: &[&str] = &[
    "schema",
    "unavailable",
    "reason",
    "graph",
    "tracked",
    "prev",
    "extensions",
    "path",
    "sha256",
    "digest",
    "tau",
    "rank",
    "files",
    "git",
    "dirty",
    "commit",
];

fn receipt(b: &[u8]) -> Result<Verdict, String> {
    match Receipt::parse(b) {
        Ok(r) => {
            let out = r
                .to_bytes()
                .map_err(|e| format!("a parsed receipt does not serialize: {e}"))?;
            ensure(out == b, || {
                format!(
                    "accepted bytes that are not the serialization of what they parse to: {}",
                    diff(b, &out)
                )
            })?;
            let again =
                Receipt::parse(&out).map_err(|e| format!("parse(serialize(r)) fails: {e}"))?;
            ensure(again == r, || "parse(serialize(r)) != r".into())?;
            Ok(Verdict::Accepted)
        }
        Err(_) => Ok(Verdict::Rejected),
    }
}

fn gen_receipt(u: &mut Unstructured<'_>, seeds: &[Vec<u8>]) -> arbitrary::Result<Input> {
    tweaked_seed(u, seeds, RECEIPT_KEYS)
}

// ---- chain head -----------------------------------------------------------------------

fn chain_head(b: &[u8]) -> Result<Verdict, String> {
    match parse_head(b) {
        Ok(lines) => {
            let out: String = lines.iter().map(HeadLine::to_line).collect();
            ensure(out.as_bytes() == b, || {
                format!(
                    "accepted a head that is not its serialization: {}",
                    diff(b, out.as_bytes())
                )
            })?;
            for (i, l) in lines.iter().enumerate() {
                ensure(l.path == entry_path(i as u64 + 1), || {
                    format!("line {} names {:?}", i + 1, l.path)
                })?;
            }
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            let msg = e.to_string();
            ensure(msg.contains("chain.head"), || {
                format!("the error does not name chain.head: {msg}")
            })?;
            Ok(Verdict::Rejected)
        }
    }
}

fn gen_chain_head(u: &mut Unstructured<'_>, _: &[Vec<u8>]) -> arbitrary::Result<Input> {
    let n = u.int_in_range(0..=40u64)?;
    let mut out = String::new();
    for seq in 1..=n {
        out.push_str(
            &HeadLine {
                sha256: digest(u)?,
                path: entry_path(seq),
            }
            .to_line(),
        );
    }
    Ok(Input::valid(out.into_bytes()))
}

// ---- graph.json -----------------------------------------------------------------------

fn graph(b: &[u8]) -> Result<Verdict, String> {
    match CanonicalGraph::from_json_bytes(b) {
        Ok(g) => {
            let out = g.to_json_bytes();
            ensure(out == b, || {
                format!(
                    "accepted bytes that are not the serialization of what they parse to: {}",
                    diff(b, &out)
                )
            })?;
            ensure(g.digest() == *Digest::of(b).as_bytes(), || {
                "the digest is not SHA-256 of the bytes".into()
            })?;
            let rebuilt = CanonicalGraph::new(g.nodes().iter().map(String::as_str), g.edges())
                .map_err(|e| {
                    format!("a parsed graph cannot be rebuilt from its nodes and edges: {e}")
                })?;
            ensure(rebuilt == g, || {
                "rebuilding from nodes and edges gives another graph".into()
            })?;
            Ok(Verdict::Accepted)
        }
        Err(_) => Ok(Verdict::Rejected),
    }
}

fn gen_graph(u: &mut Unstructured<'_>, seeds: &[Vec<u8>]) -> arbitrary::Result<Input> {
    if u.ratio(1, 3)? {
        return tweaked_seed(u, seeds, &["nodes", "edges", "schema"]);
    }
    let n = u.int_in_range(0..=24usize)?;
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let s = string(u, &["core", "std", "a::b", "Demo.Basic"])?;
        nodes.push(if u.ratio(1, 4)? { s } else { format!("{s}{i}") });
    }
    let mut edges = Vec::new();
    if n > 0 {
        for _ in 0..u.int_in_range(0..=3 * n)? {
            edges.push((
                nodes[u.choose_index(n)?].clone(),
                nodes[u.choose_index(n)?].clone(),
            ));
        }
    }
    match CanonicalGraph::new(
        nodes.iter().map(String::as_str),
        edges.iter().map(|(a, b)| (a.as_str(), b.as_str())),
    ) {
        Ok(g) => Ok(Input::valid(g.to_json_bytes())),
        Err(_) => Err(arbitrary::Error::IncorrectFormat),
    }
}

// ---- file proof -----------------------------------------------------------------------

/// Accepted: parsed and verified against its own root.
fn proof(b: &[u8]) -> Result<Verdict, String> {
    match FileProof::from_json_bytes(b) {
        Ok(p) => {
            ensure(p.to_json_bytes() == b, || {
                format!(
                    "accepted bytes that are not the serialization of what they parse to: {}",
                    diff(b, &p.to_json_bytes())
                )
            })?;
            ensure(
                FileProof::from_json_bytes(&p.to_json_bytes()).as_ref() == Ok(&p),
                || "parse(serialize(p)) != p".into(),
            )?;
            let _ = check_tracked_path(&p.path);
            Ok(match p.verify() {
                Ok(()) => Verdict::Accepted,
                Err(_) => Verdict::Rejected,
            })
        }
        Err(_) => Ok(Verdict::Rejected),
    }
}

fn gen_proof(u: &mut Unstructured<'_>, seeds: &[Vec<u8>]) -> arbitrary::Result<Input> {
    if u.ratio(1, 3)? {
        return tweaked_seed(
            u,
            seeds,
            &[
                "audit_path",
                "leaf_index",
                "tree_size",
                "kind",
                "path",
                "merkle_root",
                "content_sha256",
                "schema",
            ],
        );
    }
    // A real proof of one file of an arbitrary tracked set: must parse and verify.
    let n = u.int_in_range(1..=70usize)?;
    let kinds = [FileKind::File, FileKind::Executable, FileKind::Symlink];
    let mut files = Vec::with_capacity(n);
    for i in 0..n {
        let p = string(u, &["src/lib.rs", "a/b", ".gitignore"])?;
        let path = if check_tracked_path(&p).is_ok() {
            format!("{i:03}/{p}")
        } else {
            format!("{i:03}")
        };
        files.push((path, *u.choose(&kinds)?, digest(u)?));
    }
    let leaves: Vec<Digest> = files
        .iter()
        .map(|(p, k, d)| tracked_leaf_hash(p, *k, d))
        .collect();
    let index = u.choose_index(n)?;
    let audit_path =
        merkle::inclusion_proof(&leaves, index).ok_or(arbitrary::Error::IncorrectFormat)?;
    let (path, kind, content_sha256) = files.swap_remove(index);
    let p = FileProof {
        schema: PROOF_SCHEMA.to_owned(),
        merkle_root: merkle::root(&leaves),
        path,
        kind,
        content_sha256,
        leaf_index: index as u64,
        tree_size: n as u64,
        audit_path,
    };
    Ok(Input::valid(p.to_json_bytes()))
}

// ---- run-ledger line (differential) ---------------------------------------------------

const STAGE_KINDS: [&str; 4] = [
    entry::kind::STAGE_ENTER,
    entry::kind::STAGE_EXIT,
    entry::kind::EVENT,
    entry::kind::VIOLATION,
];

fn envelope_matches(raw: &RawEntry<'_>, line: &[u8]) -> Result<(), String> {
    let v: Value = serde_json::from_slice(line)
        .map_err(|e| format!("an accepted line is not JSON to serde: {e}"))?;
    let o = v.as_object().ok_or("an accepted line is not an object")?;
    ensure(o.len() == 7, || {
        format!("an accepted line has {} members", o.len())
    })?;
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    ensure(s("hash") == Some(raw.hash.to_hex().as_str()), || {
        "hash differs from serde's reading".into()
    })?;
    ensure(s("prev") == Some(raw.prev.to_hex().as_str()), || {
        "prev differs from serde's reading".into()
    })?;
    ensure(s("run_id") == Some(&*raw.run_id), || {
        "run_id differs from serde's reading".into()
    })?;
    ensure(s("type") == Some(&*raw.kind), || {
        "type differs from serde's reading".into()
    })?;
    ensure(
        o.get("seq").and_then(Value::as_u64) == Some(raw.seq),
        || "seq differs from serde's reading".into(),
    )?;
    let stage = match o.get("stage") {
        Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        _ => return Err("stage is neither null nor a string to serde".into()),
    };
    ensure(stage == raw.stage.as_deref(), || {
        "stage differs from serde's reading".into()
    })?;
    let payload: Value = serde_json::from_slice(raw.payload)
        .map_err(|e| format!("the payload bytes are not JSON: {e}"))?;
    ensure(Some(&payload) == o.get("payload"), || {
        "the payload bytes differ from serde's reading".into()
    })?;
    Ok(())
}

/// One ledger's lines, each through: the skeleton fast path of a checker reused over the
/// ledger, a fresh scan, the plain JCS check, the verifier's entry check with a reused
/// layout and with a fresh one, serde's reading of the envelope, and the positional vs the
/// general reading of the payload.
fn run_ledger(b: &[u8]) -> Result<Verdict, String> {
    let mut warm_form = LineChecker::new();
    let mut warm_entry = LineChecker::new();
    let mut all_ok = true;
    let body = b.strip_suffix(b"\n").unwrap_or(b);
    for (i, line) in body.split(|&c| c == b'\n').enumerate() {
        let at = |what: String| format!("line {}: {what}: {}", i + 1, show(line));
        let fast = warm_form.form(line);
        let fresh = LineChecker::new().form(line);
        let plain = jcs::is_canonical(line);
        ensure(fast == fresh, || {
            at(format!(
                "the skeleton path says {fast:?}, a fresh scan {fresh:?}"
            ))
        })?;
        if let Some(f) = fast {
            ensure(f == plain, || {
                at(format!(
                    "the fast path says canonical={f}, the JCS check {plain}"
                ))
            })?;
        }
        let warm = warm_entry.entry(line);
        let cold = entry::parse_raw(line);
        let json_ok = serde_json::from_slice::<Value>(line).is_ok();
        match (&warm, &cold) {
            (Ok((w, _)), Ok(c)) => ensure(format!("{w:?}") == format!("{c:?}"), || {
                at(format!("reused layout gives {w:?}, fresh {c:?}"))
            })?,
            (Err(w), Err(c)) => {
                ensure(w == c, || at(format!("reused layout gives {w}, fresh {c}")))?
            }
            _ => {
                return Err(at(format!(
                    "reused layout gives {:?}, fresh {:?}",
                    warm.as_ref().map(|_| ()),
                    cold.as_ref().map(|_| ())
                )));
            }
        }
        match &cold {
            Err(LineError::NotJson(_)) => ensure(!json_ok, || {
                at("refused as not JSON, but serde reads it".into())
            })?,
            Err(LineError::NotCanonical) => {
                ensure(json_ok, || {
                    at("refused as not canonical, but it is not JSON".into())
                })?;
                ensure(!plain, || {
                    at("refused as not canonical, but the JCS check accepts it".into())
                })?;
            }
            Err(LineError::Shape(_) | LineError::HashMismatch { .. }) => {
                ensure(plain, || {
                    at("passed the form check, but the JCS check refuses it".into())
                })?;
            }
            Ok(raw) => {
                ensure(
                    plain,
                    || at("accepted, but the JCS check refuses it".into()),
                )?;
                envelope_matches(raw, line).map_err(at)?;
            }
        }
        match warm {
            Ok((raw, quick)) => {
                if let Some(q) = quick
                    && STAGE_KINDS.contains(&&*raw.kind)
                {
                    let general = PayloadView::parse(raw.payload);
                    let q = format!("{q:?}");
                    let same = general.as_ref().is_ok_and(|g| format!("{g:?}") == q);
                    ensure(same, || {
                        at(format!("positional payload {q}, general {general:?}"))
                    })?;
                }
            }
            Err(_) => all_ok = false,
        }
    }
    Ok(if all_ok {
        Verdict::Accepted
    } else {
        Verdict::Rejected
    })
}

fn gen_run_ledger(u: &mut Unstructured<'_>, seeds: &[Vec<u8>]) -> arbitrary::Result<Input> {
    let seed = u.choose(seeds)?;
    let mut lines: Vec<Vec<u8>> = seed
        .strip_suffix(b"\n")
        .unwrap_or(seed)
        .split(|&c| c == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let keys = [
        "id", "parent", "depth", "thread", "after", "input", "output", "outcome", "wall_ns",
        "cpu_ns", "t_ns", "args", "program", "status",
    ];
    let mut valid = true;
    for _ in 0..u.int_in_range(1..=4)? {
        let k = u.choose_index(lines.len())?;
        let parsed = entry::parse_line(&lines[k]).map_err(|_| arbitrary::Error::IncorrectFormat)?;
        let mut payload: Value = parsed.payload.clone();
        tweak_json(u, &mut payload, &keys)?;
        // A payload is an object (SPEC §10); anything else may be refused.
        valid &= payload.is_object();
        let payload = entry::canonical(&payload).map_err(|_| arbitrary::Error::IncorrectFormat)?;
        let mut kind_ = parsed.kind.clone();
        let mut stage = parsed.stage.clone();
        let mut run_id = parsed.run_id.clone();
        if u.ratio(1, 6)? {
            kind_ = string(u, &STAGE_KINDS)?;
            valid = false;
        }
        if u.ratio(1, 6)? {
            stage = if u.arbitrary()? {
                Some(string(u, &["main", "a::b"])?)
            } else {
                None
            };
        }
        if u.ratio(1, 8)? {
            run_id = string(u, &[])?;
            valid = false;
        }
        let mut line = entry::seal_bytes(
            parsed.seq,
            &parsed.prev,
            &run_id,
            &kind_,
            stage.as_deref(),
            &payload,
        )
        .line;
        line.pop();
        lines[k] = line;
    }
    let mut out = lines.join(&b'\n');
    out.push(b'\n');
    Ok(Input {
        bytes: out,
        must_accept: valid,
    })
}

// ---- run verification -----------------------------------------------------------------

thread_local! {
    static RUN_DIR: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// `verify_run` on the ledger `b` beside the corpus run's head and receipt: no panic, a
/// report that is JSON, and a ledger it passes has every line valid on its own (by the
/// general per-line parser) and verifies the same way twice.
fn run_verify(b: &[u8]) -> Result<Verdict, String> {
    let ledger = RUN_DIR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            let shm = std::path::Path::new("/dev/shm");
            let dir = if shm.is_dir() {
                tempfile::tempdir_in(shm)
            } else {
                tempfile::tempdir()
            }
            .map_err(|e| format!("no scratch directory: {e}"))?;
            let aux = crate::corpus::root().join("run-ledger-aux");
            for name in ["run.jsonl.head", "run.jsonl.receipt.json"] {
                std::fs::copy(aux.join(name), dir.path().join(name))
                    .map_err(|e| format!("cannot copy {name}: {e}"))?;
            }
            *d = Some(dir);
        }
        Ok::<_, String>(d.as_ref().expect("set").path().join("run.jsonl"))
    })?;
    std::fs::write(&ledger, b).map_err(|e| format!("cannot write the scratch ledger: {e}"))?;
    let report = receipt_runtime::verify::verify_run(&ledger, None);
    serde_json::from_str::<Value>(&report.to_json())
        .map_err(|e| format!("the report is not JSON: {e}"))?;
    if !report.ok() {
        return Ok(Verdict::Rejected);
    }
    let body = b
        .strip_suffix(b"\n")
        .ok_or("a passed ledger does not end with LF")?;
    for (i, line) in body.split(|&c| c == b'\n').enumerate() {
        entry::parse_line(line)
            .map_err(|e| format!("verify_run passed a ledger whose line {} {e}", i + 1))?;
    }
    let again = receipt_runtime::verify::verify_run(&ledger, None);
    ensure(again.ok(), || {
        "a second verification of the same ledger fails".into()
    })?;
    Ok(Verdict::Accepted)
}

/// A resealed line breaks the link of the line after it and the receipt's totals: the
/// ledger may fail verification.
fn gen_run_verify(u: &mut Unstructured<'_>, seeds: &[Vec<u8>]) -> arbitrary::Result<Input> {
    gen_run_ledger(u, seeds).map(|i| Input::any(i.bytes))
}

// ---- run head -------------------------------------------------------------------------

thread_local! {
    static SCRATCH: RefCell<Option<(tempfile::TempDir, PathBuf)>> = const { RefCell::new(None) };
}

/// A scratch file of this thread, on a memory file system when there is one.
fn scratch_file() -> PathBuf {
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.is_none() {
            let shm = std::path::Path::new("/dev/shm");
            let dir = if shm.is_dir() {
                tempfile::tempdir_in(shm)
            } else {
                tempfile::tempdir()
            }
            .expect("a temp dir");
            let file = dir.path().join("run.head");
            *s = Some((dir, file));
        }
        s.as_ref().expect("set").1.clone()
    })
}

fn run_head(b: &[u8]) -> Result<Verdict, String> {
    let path = scratch_file();
    std::fs::write(&path, b).map_err(|e| format!("cannot write the scratch file: {e}"))?;
    match Head::read(&path) {
        Ok(h) => {
            let out =
                jcs::to_vec(&h).map_err(|e| format!("a read head does not serialize: {e}"))?;
            ensure(out == b, || {
                format!(
                    "accepted bytes that are not the serialization of what they parse to: {}",
                    diff(b, &out)
                )
            })?;
            ensure(h.schema == HEAD_SCHEMA, || "accepted another schema".into())?;
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            ensure(e.to_string().contains("run.head"), || {
                format!("the error does not name the file: {e}")
            })?;
            Ok(Verdict::Rejected)
        }
    }
}

fn gen_run_head(u: &mut Unstructured<'_>, seeds: &[Vec<u8>]) -> arbitrary::Result<Input> {
    if u.ratio(1, 3)? {
        return tweaked_seed(
            u,
            seeds,
            &[
                "schema",
                "run_id",
                "entries",
                "last_entry_sha256",
                "merkle_root",
            ],
        );
    }
    let h = Head {
        schema: HEAD_SCHEMA.to_owned(),
        run_id: string(u, &["0123456789abcdef0123456789abcdef"])?,
        entries: u.arbitrary()?,
        last_entry_sha256: digest(u)?,
        merkle_root: digest(u)?,
    };
    Ok(Input::valid(
        jcs::to_vec(&h).map_err(|_| arbitrary::Error::IncorrectFormat)?,
    ))
}

// ---- Lean module header ---------------------------------------------------------------

const HEADER_TOKENS: &[&[u8]] = &[
    b"module",
    b"prelude",
    b"public",
    b"meta",
    b"import",
    b"all",
    b"private",
    b" ",
    b"\n",
    b"\t",
    b"--",
    b"/-",
    b"-/",
    b"/-!",
    b"\xc2\xab",
    b"\xc2\xbb",
    b".",
    b"Foo",
    b"Foo.Bar",
    b"\xce\xb1",
    b"_",
    b"'",
    b"!",
    b"?",
    b"def",
    b"section",
    b"0",
    b"\xe2\x84\x95",
];

fn lean_header(b: &[u8]) -> Result<Verdict, String> {
    let text = String::from_utf8_lossy(b);
    let lines: Vec<&str> = text.split('\n').collect();
    let in_bounds = |line: u32, column: u32| -> bool {
        line >= 1
            && (line as usize) <= lines.len()
            && column >= 1
            && (column as usize) <= lines[line as usize - 1].chars().count() + 1
    };
    match lake_bridge::header::parse_header(&text) {
        Ok(h) => {
            for imp in &h.imports {
                ensure(in_bounds(imp.line, imp.column), || {
                    format!(
                        "import {} at {}:{} is outside the text",
                        imp.module, imp.line, imp.column
                    )
                })?;
                ensure(!imp.module.to_string().is_empty(), || {
                    "an import with an empty name".into()
                })?;
            }
            let again = lake_bridge::header::parse_header(&text)
                .map_err(|e| format!("a second parse fails: {e}"))?;
            ensure(again == h, || "two parses differ".into())?;
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            ensure(in_bounds(e.line, e.column), || {
                format!("error position {}:{} is outside the text", e.line, e.column)
            })?;
            Ok(Verdict::Rejected)
        }
    }
}

fn gen_lean_header(u: &mut Unstructured<'_>, _: &[Vec<u8>]) -> arbitrary::Result<Input> {
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0..=40)? {
        if u.ratio(1, 8)? {
            out.extend_from_slice(string(u, &[])?.as_bytes());
        } else {
            out.extend_from_slice(u.choose(HEADER_TOKENS)?);
        }
        if u.ratio(2, 3)? {
            out.push(if u.ratio(1, 3)? { b'\n' } else { b' ' });
        }
    }
    Ok(Input::any(out))
}

// ---- lakefiles ------------------------------------------------------------------------

fn config_confined(cfg: &lake_bridge::config::LakeConfig, b: &[u8]) -> Result<(), String> {
    let ok = |d: &str| d == "." || check_path(d).is_ok();
    for lib in &cfg.libs {
        ensure(ok(&lib.src_dir), || {
            format!(
                "lean_lib {:?} has srcDir {:?} outside the package",
                lib.name, lib.src_dir
            )
        })?;
    }
    for exe in &cfg.exes {
        ensure(ok(&exe.src_dir), || {
            format!(
                "lean_exe {:?} has srcDir {:?} outside the package",
                exe.name, exe.src_dir
            )
        })?;
    }
    if let Some(p) = &cfg.packages_dir {
        ensure(ok(p), || {
            format!("packagesDir {p:?} is outside the package")
        })?;
    }
    ensure(cfg.bytes == b, || {
        "the recorded bytes are not the file's".into()
    })
}

fn lakefile_toml(b: &[u8]) -> Result<Verdict, String> {
    match lake_bridge::config::parse_toml("lakefile.toml", b.to_vec()) {
        Ok(cfg) => {
            config_confined(&cfg, b)?;
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            let msg = e.to_string();
            ensure(msg.contains("lakefile.toml"), || {
                format!("the error does not name the file: {msg}")
            })?;
            Ok(Verdict::Rejected)
        }
    }
}

fn toml_str(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let s = string(
        u,
        &[
            "Demo",
            "src",
            "../outside",
            "/etc",
            "./a/",
            "a/../../b",
            "Demo.+",
            "Demo.*",
            "",
        ],
    )?;
    Ok(serde_json::to_string(&s).expect("a string serializes"))
}

fn gen_lakefile_toml(u: &mut Unstructured<'_>, _: &[Vec<u8>]) -> arbitrary::Result<Input> {
    let mut out = String::new();
    let fields = [
        "name",
        "srcDir",
        "packagesDir",
        "roots",
        "globs",
        "root",
        "path",
        "git",
        "rev",
        "scope",
        "version",
        "defaultTargets",
    ];
    let sections = [
        "",
        "[[lean_lib]]",
        "[[lean_exe]]",
        "[[require]]",
        "[[require]]\ngit = { url = \"u\", subDir = \"../s\" }",
    ];
    for _ in 0..u.int_in_range(0..=12)? {
        let sec = *u.choose(&sections)?;
        if !sec.is_empty() {
            out.push_str(sec);
            out.push('\n');
        }
        for _ in 0..u.int_in_range(0..=4)? {
            let f = *u.choose(&fields)?;
            let v = if matches!(f, "roots" | "globs" | "defaultTargets") {
                let n = u.int_in_range(0..=3)?;
                let items: arbitrary::Result<Vec<String>> = (0..n).map(|_| toml_str(u)).collect();
                format!("[{}]", items?.join(", "))
            } else {
                toml_str(u)?
            };
            out.push_str(&format!("{f} = {v}\n"));
        }
    }
    Ok(Input::any(out.into_bytes()))
}

const LEAN_CONFIG_TOKENS: &[&[u8]] = &[
    b"package",
    b"lean_lib",
    b"lean_exe",
    b"require",
    b"where",
    b"from",
    b"git",
    b"@",
    b"/",
    b"srcDir",
    b"packagesDir",
    b"roots",
    b"globs",
    b"root",
    b":=",
    b"#[",
    b"]",
    b"`Demo",
    b"`Demo.Basic",
    b".submodules",
    b".one",
    b".andSubmodules",
    b"\"../outside\"",
    b"\"/etc\"",
    b"\"src\"",
    b"\"a\\\"b\"",
    b"\xc2\xab",
    b"\xc2\xbb",
    b"--",
    b"/-",
    b"-/",
    b"\n",
    b"  ",
    b"@[default_target]",
    b"{",
    b"}",
    b"with",
    b"Demo",
    b"\"",
    b"r#\"",
    b"\"#",
];

fn lakefile_lean(b: &[u8]) -> Result<Verdict, String> {
    match lake_bridge::config::scan_lean("lakefile.lean", b) {
        Ok(cfg) => {
            config_confined(&cfg, b)?;
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            let msg = e.to_string();
            ensure(msg.contains("lakefile.lean"), || {
                format!("the error does not name the file: {msg}")
            })?;
            Ok(Verdict::Rejected)
        }
    }
}

fn gen_lakefile_lean(u: &mut Unstructured<'_>, _: &[Vec<u8>]) -> arbitrary::Result<Input> {
    let mut out = b"import Lake\nopen Lake DSL\n".to_vec();
    for _ in 0..u.int_in_range(0..=60)? {
        if u.ratio(1, 10)? {
            out.extend_from_slice(
                serde_json::to_string(&string(u, &["src", "../x"])?)
                    .expect("serializes")
                    .as_bytes(),
            );
        } else {
            out.extend_from_slice(u.choose(LEAN_CONFIG_TOKENS)?);
        }
        out.push(if u.ratio(1, 4)? { b'\n' } else { b' ' });
    }
    Ok(Input::any(out))
}

// ---- git index (differential with git) ------------------------------------------------

thread_local! {
    static GIT_REPO: RefCell<Option<Option<tempfile::TempDir>>> = const { RefCell::new(None) };
}

/// `git ls-files -z --cached` over index `b`, in a scratch repository of this thread;
/// `None` when git is not available, `Some(Err)` when git refuses the index.
fn git_listing(b: &[u8]) -> Option<Result<Vec<String>, String>> {
    GIT_REPO.with(|r| {
        let mut r = r.borrow_mut();
        if r.is_none() {
            let dir = tempfile::tempdir().ok();
            let ok = dir.as_ref().is_some_and(|d| {
                Command::new("git")
                    .args(["init", "-q"])
                    .current_dir(d.path())
                    .env("GIT_CONFIG_GLOBAL", "/dev/null")
                    .env("GIT_CONFIG_NOSYSTEM", "1")
                    .status()
                    .is_ok_and(|s| s.success())
            });
            *r = Some(if ok { dir } else { None });
        }
        let dir = r.as_ref().expect("set").as_ref()?;
        std::fs::write(dir.path().join(".git/index"), b).ok()?;
        let out = Command::new("git")
            .args(["ls-files", "-z", "--cached"])
            .current_dir(dir.path())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .ok()?;
        if !out.status.success() {
            return Some(Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
        }
        let mut paths: Vec<String> = out
            .stdout
            .split(|&c| c == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        paths.sort_unstable();
        paths.dedup();
        Some(Ok(paths))
    })
}

/// The seeds of this target, to tell a mutated index from an unchanged one.
fn is_seed(b: &[u8]) -> bool {
    thread_local! {
        static SEEDS: Vec<Vec<u8>> = crate::corpus::seeds("git-index");
    }
    SEEDS.with(|s| s.iter().any(|x| x == b))
}

fn git_index(b: &[u8]) -> Result<Verdict, String> {
    use receipt_scan::fuzzing::{index_large_files, index_tracked_paths};
    let mut accepted = false;
    for hash_len in [20, 32] {
        for prefix in ["", "Demo/", "a/b/"] {
            if let Some(paths) = index_tracked_paths(b, prefix, hash_len) {
                accepted = true;
                ensure(paths.windows(2).all(|w| w[0] < w[1]), || {
                    "the listing is not sorted and unique".into()
                })?;
                ensure(paths.iter().all(|p| !p.is_empty()), || {
                    "an empty path is listed".into()
                })?;
                if hash_len == 20
                    && prefix.is_empty()
                    && !is_seed(b)
                    && let Some(git) = git_listing(b)
                {
                    match git {
                        Ok(g) => ensure(g == paths, || {
                            format!("the reader lists {paths:?}, git {g:?}")
                        })?,
                        Err(e) => {
                            return Err(format!(
                                "the reader lists {paths:?} from an index git refuses: {e}"
                            ));
                        }
                    }
                }
            }
            for min in [0, 1000, u64::from(u32::MAX)] {
                for (p, size) in index_large_files(b, prefix, min) {
                    ensure(size >= min, || {
                        format!("{p} of {size} bytes is below {min}")
                    })?;
                }
            }
        }
    }
    Ok(if accepted {
        Verdict::Accepted
    } else {
        Verdict::Rejected
    })
}

fn gen_git_index(u: &mut Unstructured<'_>, seeds: &[Vec<u8>]) -> arbitrary::Result<Input> {
    // A seed index with some entries' fields overwritten at entry-aligned offsets.
    let mut doc = u.choose(seeds)?.clone();
    for _ in 0..u.int_in_range(1..=6)? {
        if doc.len() < 16 {
            break;
        }
        let at = u.int_in_range(8..=doc.len() - 4)?;
        let word: [u8; 4] = match u.int_in_range(0..=5)? {
            0 => [0, 0, 0, 0],
            1 => [0xff, 0xff, 0xff, 0xff],
            2 => [0, 0, 0x81, 0xa4],
            3 => [0, 0, 0x40, 0],
            4 => [0x0f, 0xff, 0, 0],
            _ => u.arbitrary()?,
        };
        doc[at..at + 4].copy_from_slice(&word);
    }
    Ok(Input::any(doc))
}

// ---- lake-manifest.json ---------------------------------------------------------------

fn lake_manifest(b: &[u8]) -> Result<Verdict, String> {
    match lake_bridge::lake_manifest::parse_manifest("lake-manifest.json", b) {
        Ok(m) => {
            let v: Value = serde_json::from_slice(b)
                .map_err(|e| format!("accepted a manifest serde refuses: {e}"))?;
            let n = v
                .get("packages")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            ensure(m.packages.len() == n, || {
                format!("{} packages read of {n}", m.packages.len())
            })?;
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            let msg = e.to_string();
            ensure(msg.contains("lake-manifest.json"), || {
                format!("the error does not name the file: {msg}")
            })?;
            Ok(Verdict::Rejected)
        }
    }
}

fn gen_lake_manifest(u: &mut Unstructured<'_>, seeds: &[Vec<u8>]) -> arbitrary::Result<Input> {
    tweaked_seed(
        u,
        seeds,
        &[
            "version",
            "schemaVersion",
            "packages",
            "type",
            "git",
            "path",
            "dir",
            "url",
            "rev",
            "name",
            "scope",
            "inherited",
            "subDir",
            "inputRev",
            "configFile",
            "manifestFile",
            "packagesDir",
            "lakeDir",
            "opts",
            "subDir?",
            "inputRev?",
        ],
    )
}
