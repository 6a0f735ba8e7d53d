//! What `cargo receipt diff` compares: a receipt named by a file, an output directory, a
//! CI artifact archive, or a position on a chain (`DIR@3`, `@-1`), read with the files that
//! sit beside it (manifest, graph, provenance).

use std::io::Read;
use std::path::{Path, PathBuf};

use receipt_graph::CanonicalGraph;
use receipt_primitives::Digest;
use receipt_protocol::ledger::{CHAIN_HEAD, MANIFEST_FILE, RECEIPT_FILE, parse_head};
use receipt_protocol::manifest::Manifest;
use receipt_protocol::receipt::{RECEIPT_SCHEMA, Receipt, Section};

use crate::DiffError;

/// Largest receipt, manifest, graph, chain head or provenance file read: 256 MiB.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// The provenance file another producer may write beside a receipt.
pub const PROVENANCE_FILE: &str = "provenance.intoto.jsonl";

/// A position on a chain: `@N` is entry N (1-based, as in `receipts/NNNNNN/`), `@-N` the
/// N-th from the end (`@-1` the latest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Entry N, counted from 1.
    FromStart(u64),
    /// The N-th entry from the end, counted from 1.
    FromEnd(u64),
}

/// One side of a diff as the user wrote it: a path, a position, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The file, directory or archive; `None` for a bare `@N` (the default output directory).
    pub path: Option<PathBuf>,
    /// The chain position, when one was given.
    pub position: Option<Position>,
}

impl Spec {
    /// Reads `PATH`, `PATH@N`, `PATH@-N`, `@N` or `@-N`. A text ending in `@` followed by
    /// an optional `-` and decimal digits is always a position: a file whose name ends that
    /// way is named with a trailing `@-1`, or as `./NAME/` for a directory.
    ///
    /// # Errors
    /// [`DiffError::Usage`] for an empty text, `@0`, `@-0` or a position too large.
    pub fn parse(text: &str) -> Result<Spec, DiffError> {
        let bad = |why: &str| {
            DiffError::Usage(format!("{:?} {why}", receipt_primitives::check::echo(text)))
        };
        if text.is_empty() {
            return Err(bad("is empty; name a receipt, directory, archive or @N"));
        }
        let (path, position) = match text.rsplit_once('@') {
            Some((p, n))
                if !n.is_empty()
                    && n.strip_prefix('-')
                        .unwrap_or(n)
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                    && n != "-" =>
            {
                let (neg, digits) = match n.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, n),
                };
                let v: u64 = digits
                    .parse()
                    .map_err(|_| bad("has a chain position that is too large"))?;
                if v == 0 {
                    return Err(bad(
                        "names position 0; entries count from @1 (the first) or from @-1 (the latest)",
                    ));
                }
                let pos = if neg {
                    Position::FromEnd(v)
                } else {
                    Position::FromStart(v)
                };
                ((!p.is_empty()).then(|| PathBuf::from(p)), Some(pos))
            }
            _ => (Some(PathBuf::from(text)), None),
        };
        Ok(Spec { path, position })
    }
}

/// One receipt to compare, with what was found beside it.
#[derive(Debug)]
pub struct Side {
    /// How the user named it, for the report.
    pub label: String,
    /// The receipt.
    pub receipt: Receipt,
    /// SHA-256 of the receipt file.
    pub receipt_sha256: Digest,
    /// 1-based chain position, when read from a ledger.
    pub entry: Option<u64>,
    /// The manifest beside the receipt, when present and readable.
    pub manifest: Option<Manifest>,
    /// The graph file, when present, readable and equal to the receipt's digest.
    pub graph: Option<CanonicalGraph>,
    /// Dependency checksums from a provenance file beside the receipt: name → digests.
    pub checksums: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// What could not be read, one sentence each.
    pub notes: Vec<String>,
    /// Keeps an extracted archive alive while the side is in use.
    _archive: Option<receipt_archive::Extracted>,
}

/// Opens `path` for reading without blocking on a FIFO, and refuses anything but a regular
/// file.
///
/// # Errors
/// [`DiffError::Io`] when it cannot be opened; [`DiffError::BadFile`] when it is not a
/// regular file.
pub fn open_regular(path: &Path) -> Result<(std::fs::File, std::fs::Metadata), DiffError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| DiffError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(DiffError::BadFile {
            path: path.to_owned(),
            what: "is not a regular file".into(),
        });
    }
    Ok((file, meta))
}

/// Reads at most `max` bytes of a regular file (no FIFO or device is opened).
///
/// # Errors
/// [`DiffError::Io`] when it cannot be read; [`DiffError::BadFile`] when it is not a regular
/// file or is too large.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, DiffError> {
    let io = |source| DiffError::Io {
        path: path.to_owned(),
        source,
    };
    let (file, meta) = open_regular(path)?;
    if meta.len() > max {
        return Err(DiffError::BadFile {
            path: path.to_owned(),
            what: format!("is {} bytes, over the limit of {max} bytes", meta.len()),
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(DiffError::BadFile {
            path: path.to_owned(),
            what: format!("grew past the limit of {max} bytes while being read"),
        });
    }
    Ok(bytes)
}

/// Loads the receipt `spec` names; a bare `@N` is read in `default_dir`.
///
/// # Errors
/// [`DiffError`] when the receipt cannot be found or read, a chain position does not
/// exist, or a chain head line's hash is not its receipt file's.
pub fn load(spec: &Spec, label: &str, default_dir: Option<&Path>) -> Result<Side, DiffError> {
    let path = match (&spec.path, default_dir) {
        (Some(p), _) => p.clone(),
        (None, Some(d)) => d.to_owned(),
        (None, None) => {
            return Err(DiffError::Usage(format!(
                "{label:?} names a chain position but no output directory is known"
            )));
        }
    };
    let meta = std::fs::metadata(&path).map_err(|source| DiffError::Io {
        path: path.clone(),
        source,
    })?;
    let (root, archive) = if meta.is_dir() {
        (path.clone(), None)
    } else if receipt_archive::is_archive(&path)? {
        let x = receipt_archive::open(&path)?;
        (x.root().to_owned(), Some(x))
    } else {
        if spec.position.is_some() {
            return Err(DiffError::Usage(format!(
                "{label:?} gives a chain position, but {} is a receipt file, not a directory or archive",
                path.display()
            )));
        }
        return read_side(&path, label.to_owned(), None, None);
    };
    let head_path = root.join(CHAIN_HEAD);
    if !head_path.exists() && spec.position.is_none() {
        // An output directory without a chain: the receipt file in it.
        return read_side(&root.join(RECEIPT_FILE), label.to_owned(), None, None);
    }
    let lines =
        parse_head(&read_bounded(&head_path, MAX_FILE_BYTES)?).map_err(|e| DiffError::BadFile {
            path: head_path.clone(),
            what: e.to_string(),
        })?;
    let n = lines.len() as u64;
    let index = match spec.position.unwrap_or(Position::FromEnd(1)) {
        Position::FromStart(k) if k <= n => k,
        Position::FromEnd(k) if k <= n => n + 1 - k,
        _ => {
            return Err(DiffError::Usage(format!(
                "{label:?} names a position that is not on the chain in {}, which has {n} entr{}",
                root.display(),
                if n == 1 { "y" } else { "ies" }
            )));
        }
    };
    let line = &lines[(index - 1) as usize];
    // The ledger root's provenance file, if any, describes the latest entry (like the view).
    let latest_root = (index == n).then_some(root.as_path());
    let mut side = read_side(
        &root.join(&line.path),
        label.to_owned(),
        Some(index),
        latest_root,
    )?;
    if side.receipt_sha256 != line.sha256 {
        return Err(DiffError::BadFile {
            path: root.join(&line.path),
            what: format!(
                "has SHA-256 {}, but line {index} of {CHAIN_HEAD} says {}; run `cargo receipt verify`",
                side.receipt_sha256, line.sha256
            ),
        });
    }
    side._archive = archive;
    Ok(side)
}

/// A receipt of the receipt schema (unknown keys refused, `schema` checked). Its canonical
/// byte form is not re-checked here: that is `verify`'s (docs/SPEC.md §7), and re-encoding
/// a receipt listing 50,000 files costs more than the whole comparison.
fn read_receipt(bytes: &[u8]) -> Result<Receipt, String> {
    let r: Receipt = serde_json::from_slice(bytes).map_err(|e| format!("not a receipt: {e}"))?;
    if r.schema != RECEIPT_SCHEMA {
        return Err(format!(
            "field `schema` is {:?}, expected {RECEIPT_SCHEMA:?}",
            receipt_primitives::check::echo(&r.schema)
        ));
    }
    Ok(r)
}

/// Reads the receipt at `path` and what lies beside it; the provenance file is looked for
/// beside the receipt, then in `view_root` (the ledger root, for the latest entry).
fn read_side(
    path: &Path,
    label: String,
    entry: Option<u64>,
    view_root: Option<&Path>,
) -> Result<Side, DiffError> {
    let bytes = read_bounded(path, MAX_FILE_BYTES)?;
    let receipt = read_receipt(&bytes).map_err(|what| DiffError::BadFile {
        path: path.to_owned(),
        what,
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut notes = Vec::new();
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest = match read_bounded(&manifest_path, MAX_FILE_BYTES)
        .map_err(|e| e.to_string())
        .and_then(|b| {
            let m = Manifest::parse(&b).map_err(|e| format!("{}: {e}", manifest_path.display()))?;
            if Digest::of(&b) == receipt.manifest_sha256 {
                Ok(m)
            } else {
                Err(format!(
                    "{} is not the manifest the receipt names",
                    manifest_path.display()
                ))
            }
        }) {
        Ok(m) => Some(m),
        Err(why) => {
            notes.push(format!("no manifest: {why}"));
            None
        }
    };
    let graph = match &receipt.graph {
        Section::Available(g) => {
            let gp = dir.join(&g.path);
            match read_bounded(&gp, MAX_FILE_BYTES)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    if Digest::of(&b) != g.digest {
                        return Err(format!(
                            "{} does not hash to the receipt's graph digest",
                            gp.display()
                        ));
                    }
                    CanonicalGraph::from_json_bytes(&b)
                        .map_err(|e| format!("{}: {e}", gp.display()))
                }) {
                Ok(g) => Some(g),
                Err(why) => {
                    notes.push(format!("no graph: {why}"));
                    None
                }
            }
        }
        Section::Unavailable { .. } => None,
    };
    let prov = std::iter::once(dir)
        .chain(view_root)
        .map(|d| d.join(PROVENANCE_FILE))
        .find(|p| p.exists());
    let checksums = if let Some(prov) = prov {
        match read_bounded(&prov, MAX_FILE_BYTES)
            .map_err(|e| e.to_string())
            .and_then(|b| crate::provenance::resolved_dependencies(&b))
        {
            Ok(c) => Some(c),
            Err(why) => {
                notes.push(format!("{PROVENANCE_FILE} not read: {why}"));
                None
            }
        }
    } else {
        None
    };
    Ok(Side {
        label,
        receipt_sha256: Digest::of(&bytes),
        receipt,
        entry,
        manifest,
        graph,
        checksums,
        notes,
        _archive: None,
    })
}
