//! Redaction before persistence: finds secrets in bytes with the built-in detectors and a
//! policy's own patterns, merges overlapping and touching matches into one span, and
//! replaces each span with `[REDACTED]`, recording only which detectors fired and how often.
//!
//! # How a scan works
//!
//! Every built-in detector names a few *anchors*: literals (`ghp_`, `-----BEGIN`, `://`) and
//! words matched in lower, Title or UPPER case (`key`/`Key`/`KEY`, `password`, `bearer`).
//! One packed multi-literal searcher (SIMD Teddy where the CPU has it, Aho-Corasick
//! elsewhere) finds every anchor occurrence. At an anchor, a cheap necessary condition is
//! tested first (an assignment `:`/`=` follows a name; an `@` follows `://`), and only then
//! does that detector's regex run, over the anchor's line only (private-key blocks are
//! followed across lines to their `END` line). A line is scanned at most once per detector,
//! so text without anchors is passed over at the searcher's speed. Policy patterns have no
//! anchors and run over the whole input.
//!
//! # Guarantees
//!
//! - Works on arbitrary bytes; invalid UTF-8 never panics (patterns are byte regexes).
//! - Matches that overlap or touch are merged before replacement, so no fragment of a secret
//!   survives between or around two detections.
//! - Token-shaped secrets are extended over adjacent token bytes, so a token longer than its
//!   format (or glued to more token characters) is removed whole.
//! - Idempotent: redacting redacted output changes nothing (`[REDACTED]` matches no detector).
//!
//! One file over 600 lines on purpose: the anchor search, the span merge and the replacement
//! are one algorithm whose no-fragment guarantee depends on their exact interplay; the
//! detectors themselves live in `detectors.rs`.

mod detectors;

use std::borrow::Cow;
use std::collections::BTreeMap;

use aho_corasick::packed;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};
use regex::bytes::{CaptureLocations, Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use detectors::{Accept, Body, Extend, KeyFamily, SPECS, Scope};

/// The bytes every redacted span is replaced with.
///
/// One fixed token (rather than one naming the detectors) keeps the persisted bytes, and so
/// the blob digest, independent of which detectors found the span; the record says which.
pub const REDACTION_TOKEN: &[u8] = b"[REDACTED]";

/// The largest private-key block followed to its `END` line.
const MAX_KEY_BLOCK: usize = 1 << 20;

/// Compiled size limit of one policy pattern.
const USER_PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// A built-in detector as listed by [`builtin_detectors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorInfo {
    /// Stable id, as it appears in redaction records.
    pub id: &'static str,
    /// What it finds, in one phrase.
    pub description: &'static str,
    /// The byte regex run on an anchored line (`None` for the private-key block scanner).
    pub pattern: Option<&'static str>,
}

/// Every built-in detector, in a fixed order.
pub fn builtin_detectors() -> Vec<DetectorInfo> {
    SPECS
        .iter()
        .map(|s| DetectorInfo {
            id: s.id,
            description: s.what,
            pattern: match s.body {
                Body::Regex { pattern, .. } => Some(pattern),
                Body::KeyBlock(_) => None,
            },
        })
        .collect()
}

/// A pattern from a policy: its matches (or its `secret` named group) are redacted and
/// recorded as `user.<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPattern {
    /// 1 to 64 characters of `[a-z0-9_]`.
    pub id: String,
    /// A byte regex (`regex` crate syntax, Unicode off unless turned on with `(?u)`).
    pub regex: String,
}

/// Why a redactor could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// A policy pattern id is not 1 to 64 characters of `[a-z0-9_]`, or is used twice.
    #[error("pattern id {0:?} is not 1 to 64 characters of [a-z0-9_] or is used twice")]
    BadId(String),
    /// A policy pattern does not compile.
    #[error("pattern {id:?} does not compile: {reason}")]
    BadRegex {
        /// The pattern's id.
        id: String,
        /// The compiler's message, cut to 200 characters.
        reason: String,
    },
    /// A policy pattern matches the empty string, which would redact nothing and loop.
    #[error("pattern {0:?} matches the empty string")]
    EmptyMatch(String),
}

/// One detection: the secret bytes `start..end` and the detector that found them.
///
/// Positions are for the caller's own use (tests, diagnostics); they never enter a record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Detection {
    /// First byte of the secret.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// The detector's id (`user.<id>` for policy patterns).
    pub detector: String,
}

/// What a redaction did: which detectors fired how often, and how many spans were replaced.
/// It holds no matched text and no positions.
///
/// JSON (canonical): `{"detectors":{"github_token":1,"jwt":2},"spans":2}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionRecord {
    /// Detector id → number of detections (before merging).
    pub detectors: BTreeMap<String, u64>,
    /// Number of replaced spans (after merging overlapping and touching detections).
    pub spans: u64,
}

impl RedactionRecord {
    /// Whether nothing was redacted.
    pub fn is_empty(&self) -> bool {
        self.spans == 0
    }
}

/// The output of [`Redactor::redact`].
#[derive(Debug, Clone)]
pub struct Redacted<'a> {
    /// The redacted bytes (borrowed unchanged when nothing was found).
    pub bytes: Cow<'a, [u8]>,
    /// What was redacted.
    pub record: RedactionRecord,
}

struct Compiled {
    id: &'static str,
    pre: Option<fn(&[u8], usize) -> bool>,
    scope: Scope,
    kind: Kind,
}

/// The anchor searcher: SIMD Teddy where available, Aho-Corasick otherwise. Both report the
/// leftmost occurrence at or after a position; the scan restarts one byte after each hit so
/// overlapping anchors are all seen.
enum Anchors {
    Packed(packed::Searcher),
    Automaton(AhoCorasick),
}

impl Anchors {
    fn new(list: &[String]) -> Anchors {
        let mut cfg = packed::Config::new();
        cfg.match_kind(packed::MatchKind::LeftmostFirst);
        match cfg.builder().extend(list).build() {
            Some(s) => Anchors::Packed(s),
            None => Anchors::Automaton(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(list)
                    .expect("anchors compile"),
            ),
        }
    }

    /// `(start, end, anchor index)` of the leftmost anchor at or after `at`.
    fn find(&self, hay: &[u8], at: usize) -> Option<(usize, usize, usize)> {
        let m = match self {
            Anchors::Packed(s) => s.find_in(hay, aho_corasick::Span::from(at..hay.len()))?,
            Anchors::Automaton(a) => a.find(Input::new(hay).span(at..hay.len()))?,
        };
        Some((m.start(), m.end(), m.pattern().as_usize()))
    }
}

enum Kind {
    Regex(Matcher),
    KeyBlock(KeyFamily),
}

/// A compiled regex detector body.
struct Matcher {
    re: Regex,
    extend: Option<Extend>,
    accept: Option<Accept>,
}

struct User {
    id: String,
    re: Regex,
    secret_group: Option<usize>,
}

/// A compiled set of detectors. Build once, share across threads (`Send + Sync`).
pub struct Redactor {
    anchors: Anchors,
    /// Anchor pattern index → detectors it triggers.
    anchor_detectors: Vec<Vec<usize>>,
    detectors: Vec<Compiled>,
    user: Vec<User>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("builtin", &self.detectors.len())
            .field(
                "user",
                &self.user.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn build_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .unicode(false)
        .size_limit(USER_PATTERN_SIZE_LIMIT * 8)
        .build()
}

impl Redactor {
    /// The built-in detectors only.
    pub fn builtin() -> Redactor {
        Redactor::with_patterns(&[]).expect("the built-in detectors compile")
    }

    /// The built-in detectors plus a policy's patterns.
    ///
    /// # Errors
    /// [`RedactError`] naming the first pattern that has a bad id, does not compile or matches
    /// the empty string.
    pub fn with_patterns(patterns: &[UserPattern]) -> Result<Redactor, RedactError> {
        let mut anchor_list: Vec<String> = Vec::new();
        let mut anchor_detectors: Vec<Vec<usize>> = Vec::new();
        let mut detectors = Vec::with_capacity(SPECS.len());
        for (d, spec) in SPECS.iter().enumerate() {
            let mut mine: Vec<String> = spec.literals.iter().map(|&l| l.to_owned()).collect();
            for w in spec.words {
                let mut title = w.to_string();
                title[..1].make_ascii_uppercase();
                mine.extend([w.to_string(), title, w.to_ascii_uppercase()]);
            }
            for a in mine {
                match anchor_list.iter().position(|x| *x == a) {
                    Some(i) => {
                        if !anchor_detectors[i].contains(&d) {
                            anchor_detectors[i].push(d);
                        }
                    }
                    None => {
                        anchor_list.push(a);
                        anchor_detectors.push(vec![d]);
                    }
                }
            }
            let kind = match spec.body {
                Body::Regex {
                    pattern,
                    extend,
                    accept,
                } => Kind::Regex(Matcher {
                    re: build_regex(&match spec.scope {
                        Scope::Line => pattern.to_owned(),
                        Scope::Name => format!(r"\A(?:{pattern})"),
                    })
                    .expect("built-in pattern compiles"),
                    extend,
                    accept,
                }),
                Body::KeyBlock(f) => Kind::KeyBlock(f),
            };
            detectors.push(Compiled {
                id: spec.id,
                pre: spec.pre,
                scope: spec.scope,
                kind,
            });
        }
        let anchors = Anchors::new(&anchor_list);

        let mut user = Vec::with_capacity(patterns.len());
        for p in patterns {
            let id_ok = (1..=64).contains(&p.id.len())
                && p.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                && !user.iter().any(|u: &User| u.id == format!("user.{}", p.id));
            if !id_ok {
                return Err(RedactError::BadId(receipt_primitives::check::echo(&p.id)));
            }
            let re = RegexBuilder::new(&p.regex)
                .unicode(false)
                .size_limit(USER_PATTERN_SIZE_LIMIT)
                .build()
                .map_err(|e| RedactError::BadRegex {
                    id: p.id.clone(),
                    reason: receipt_primitives::check::echo(&e.to_string()),
                })?;
            if re.is_match(b"") {
                return Err(RedactError::EmptyMatch(p.id.clone()));
            }
            let secret_group = re.capture_names().position(|n| n == Some("secret"));
            user.push(User {
                id: format!("user.{}", p.id),
                re,
                secret_group,
            });
        }
        Ok(Redactor {
            anchors,
            anchor_detectors,
            detectors,
            user,
        })
    }

    /// Every detection in `hay`, sorted by position. Overlapping detections are all listed.
    pub fn detect(&self, hay: &[u8]) -> Vec<Detection> {
        let mut out = Vec::new();
        self.scan(hay, &mut |start, end, id| {
            out.push(Detection {
                start,
                end,
                detector: id.to_owned(),
            });
        });
        out.sort();
        out
    }

    /// Redacts `input`: every detection, merged with those it overlaps or touches, becomes
    /// [`REDACTION_TOKEN`].
    pub fn redact<'a>(&self, input: &'a [u8]) -> Redacted<'a> {
        let mut spans: Vec<(usize, usize)> = Vec::new();
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        self.scan(input, &mut |start, end, id| {
            spans.push((start, end));
            *counts.entry(id).or_default() += 1;
        });
        if spans.is_empty() {
            return Redacted {
                bytes: Cow::Borrowed(input),
                record: RedactionRecord::default(),
            };
        }
        let merged = merge(spans);
        let mut out = Vec::with_capacity(input.len());
        let mut at = 0;
        for &(s, e) in &merged {
            out.extend_from_slice(&input[at..s]);
            out.extend_from_slice(REDACTION_TOKEN);
            at = e;
        }
        out.extend_from_slice(&input[at..]);
        Redacted {
            bytes: Cow::Owned(out),
            record: RedactionRecord {
                detectors: counts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                spans: merged.len() as u64,
            },
        }
    }

    fn scan<'s>(&'s self, hay: &[u8], sink: &mut dyn FnMut(usize, usize, &'s str)) {
        // Per detector: the end of the last line it scanned; later anchors before it are
        // already covered.
        let mut done = vec![0usize; self.detectors.len()];
        // Capture slots, made the first time a detector's regex runs (most inputs trigger
        // few detectors, and small values are redacted one by one).
        let mut locs: Vec<Option<CaptureLocations>> = Vec::new();
        locs.resize_with(self.detectors.len(), || None);
        let mut at = 0;
        while let Some((p, end, anchor)) = self.anchors.find(hay, at) {
            at = p + 1;
            let mut line: Option<(usize, usize)> = None;
            for &d in &self.anchor_detectors[anchor] {
                if p < done[d] {
                    continue;
                }
                let det = &self.detectors[d];
                if det.pre.is_some_and(|pre| !pre(hay, end)) {
                    continue;
                }
                match &det.kind {
                    Kind::KeyBlock(family) => {
                        if let Some((s, e)) = key_block(hay, p, *family) {
                            sink(s, e, det.id);
                            done[d] = e;
                        }
                    }
                    Kind::Regex(m) => {
                        let (ls, le) = *line.get_or_insert_with(|| line_around(hay, p));
                        let locs = locs[d].get_or_insert_with(|| m.re.capture_locations());
                        match det.scope {
                            Scope::Line => {
                                scan_regex(m, hay, ls, le, locs, &mut |s, e| sink(s, e, det.id));
                                done[d] = le;
                            }
                            Scope::Name => {
                                let ns = name_start(hay, p, ls);
                                if let Some(end) =
                                    match_anchored(m, hay, ns, le, locs, &mut |s, e| {
                                        sink(s, e, det.id)
                                    })
                                {
                                    done[d] = end;
                                }
                            }
                        }
                    }
                }
            }
        }
        for u in &self.user {
            for caps in u.re.captures_iter(hay) {
                let m = match u.secret_group.and_then(|g| caps.get(g)) {
                    Some(m) => m,
                    None => caps.get(0).expect("group 0 always matches"),
                };
                if m.end() > m.start() {
                    sink(m.start(), m.end(), &u.id);
                }
            }
        }
    }
}

/// The line holding byte `p`: from after the previous `\n` to before the next one.
fn line_around(hay: &[u8], p: usize) -> (usize, usize) {
    let ls = memchr::memrchr(b'\n', &hay[..p]).map_or(0, |i| i + 1);
    let le = memchr::memchr(b'\n', &hay[p..]).map_or(hay.len(), |i| p + i);
    (ls, le)
}

/// Reports the accepted, extended secret of the match `ws..we` whose groups are in `locs`
/// (offsets relative to `base`); returns its end.
fn report_match(
    m: &Matcher,
    hay: &[u8],
    base: usize,
    (ws, we): (usize, usize),
    locs: &CaptureLocations,
    sink: &mut dyn FnMut(usize, usize),
) -> Option<usize> {
    let (mut s, mut e) = (1..locs.len())
        .find_map(|g| locs.get(g))
        .map_or((ws, we), |(a, b)| (base + a, base + b));
    if e <= s || m.accept.is_some_and(|ok| !ok(&hay[ws..we], &hay[s..e])) {
        return None;
    }
    if let Some(ext) = m.extend {
        while s > 0 && ext(hay[s - 1]) {
            s -= 1;
        }
        while e < hay.len() && ext(hay[e]) {
            e += 1;
        }
    }
    sink(s, e);
    Some(e)
}

/// Every match of `m` in the line `ls..le`.
fn scan_regex(
    m: &Matcher,
    hay: &[u8],
    ls: usize,
    le: usize,
    locs: &mut CaptureLocations,
    sink: &mut dyn FnMut(usize, usize),
) {
    let window = &hay[..le];
    let mut at = ls;
    while at <= le {
        let Some(whole) = m.re.captures_read_at(locs, window, at) else {
            break;
        };
        let (ws, we) = (whole.start(), whole.end());
        at = if we > ws { we } else { we + 1 };
        report_match(m, hay, 0, (ws, we), locs, sink);
    }
}

/// The start of the name around an anchor at `p`: back over `[A-Za-z0-9_.-]`, at most 64
/// bytes, not before the line start `ls`.
fn name_start(hay: &[u8], p: usize, ls: usize) -> usize {
    let floor = ls.max(p.saturating_sub(64));
    let mut s = p;
    while s > floor && detectors::is_name_byte(hay[s - 1]) {
        s -= 1;
    }
    s
}

/// Runs an anchored (`\A`) regex on `hay[start..le]`; reports the secret and returns its
/// end when it matches and is accepted.
fn match_anchored(
    m: &Matcher,
    hay: &[u8],
    start: usize,
    le: usize,
    locs: &mut CaptureLocations,
    sink: &mut dyn FnMut(usize, usize),
) -> Option<usize> {
    let whole = m.re.captures_read_at(locs, &hay[start..le], 0)?;
    let span = (start + whole.start(), start + whole.end());
    report_match(m, hay, start, span, locs, sink)
}

/// Sorts spans and merges those that overlap or touch.
fn merge(mut spans: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    spans.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

fn is_base64_line_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
}

/// The private-key block starting at `p` (where an anchor `-----begin` was seen), when it is
/// one of `family`: through its `-----END <label>-----` line, or, when that line is absent
/// (a truncated key), through the last line that still looks like the key's body.
fn key_block(hay: &[u8], p: usize, family: KeyFamily) -> Option<(usize, usize)> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let rest = &hay[p..];
    if !rest.starts_with(BEGIN) {
        return None;
    }
    let label_start = p + BEGIN.len();
    let search = &hay[label_start..hay.len().min(label_start + 80)];
    let label_len = memchr::memmem::find(search, b"-----")?;
    let label = &hay[label_start..label_start + label_len];
    if !label
        .iter()
        .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ')
    {
        return None;
    }
    let found = if label == b"OPENSSH PRIVATE KEY" {
        KeyFamily::OpenSsh
    } else if label == b"PGP PRIVATE KEY BLOCK" {
        KeyFamily::Pgp
    } else if label.ends_with(b"PRIVATE KEY") {
        KeyFamily::Pem
    } else {
        return None;
    };
    if found != family {
        return None;
    }
    let body_start = label_start + label_len + 5;
    let mut end_marker = b"-----END ".to_vec();
    end_marker.extend_from_slice(label);
    end_marker.extend_from_slice(b"-----");
    let limit = hay.len().min(body_start.saturating_add(MAX_KEY_BLOCK));
    if let Some(i) = memchr::memmem::find(&hay[body_start..limit], &end_marker) {
        return Some((p, body_start + i + end_marker.len()));
    }
    Some((p, key_body_end(hay, body_start)))
}

/// The end of a key body without an `END` line: lines (split at newlines or at the two-byte
/// escapes `\n`, `\r` of JSON text) of base64, header lines (`Proc-Type:`, `DEK-Info:`,
/// `Comment:`) and at most one empty line in a row; a line of base64 ended by a quote (the
/// end of a quoted string) is the last body line.
fn key_body_end(hay: &[u8], start: usize) -> usize {
    let mut i = start;
    let mut end = start;
    let mut empties = 0;
    while i < hay.len() {
        // One line: up to a newline byte or a `\n` / `\r` escape.
        let mut j = i;
        let mut sep = 0;
        while j < hay.len() {
            if hay[j] == b'\n' {
                sep = 1;
                break;
            }
            if hay[j] == b'\\' && matches!(hay.get(j + 1), Some(b'n' | b'r')) {
                sep = 2;
                break;
            }
            j += 1;
        }
        let line = &hay[i..j];
        let trimmed: Vec<u8> = line
            .iter()
            .copied()
            .filter(|b| !matches!(b, b'\r' | b' ' | b'\t'))
            .collect();
        let header = [&b"Proc-Type:"[..], b"DEK-Info:", b"Comment:"]
            .iter()
            .any(|h| line.starts_with(h));
        if trimmed.is_empty() {
            empties += 1;
            if empties > 1 {
                break;
            }
        } else if header || trimmed.iter().all(|&b| is_base64_line_byte(b)) {
            empties = 0;
            end = j;
        } else {
            // The body's last line cut short by the end of a quoted string (`…QUJD"`):
            // its base64 belongs to the key. Any other line is not the key's.
            let lead = line.iter().take_while(|&&b| is_base64_line_byte(b)).count();
            if lead > 0 && matches!(line.get(lead), Some(b'"' | b'\'' | b'`' | b'<')) {
                end = i + lead;
            }
            return end;
        }
        if sep == 0 {
            return j;
        }
        i = j + sep;
    }
    end
}

#[cfg(test)]
mod tests;
