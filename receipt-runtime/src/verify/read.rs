//! The reading pipeline: a thread reads the ledger in blocks of whole lines, the lines of a
//! block are checked on their own in parallel, and each group goes through the ordered
//! checks while the next is being checked.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use rayon::prelude::*;

use receipt_primitives::Digest;
use receipt_primitives::check::{CheckId, Verdict};

use super::MAX_LINE_BYTES;
use super::findings::Findings;
use super::ordered::{Checked, Ordered};
use crate::canon::Layout;
use crate::entry::{LineError, RawEntry, kind, line_hash, line_hashes2, parse_hashed};
use crate::ledger::{Head, head_path};
use crate::receipt::{PayloadView, RunFold};

/// Lines per group checked in parallel while the previous group goes through the ordered
/// checks; with [`BATCH_BYTES`] it bounds verification memory.
const BATCH_LINES: usize = 1024;
/// Lines of each group whose shapes every worker's layout starts out with.
const SEED_LINES: usize = 4;
/// Lines split off a block per round.
const MAX_SPANS: usize = 16 * BATCH_LINES;
/// Bytes read from the ledger per block; a block grows only to hold a longer line, up to
/// [`MAX_LINE_BYTES`] and one more read.
const BATCH_BYTES: usize = 4 << 20;
/// [`MAX_LINE_BYTES`] as a length in memory.
const MAX_LINE: usize = MAX_LINE_BYTES as usize;
/// The [`line_hash`] of each of up to four lines (`spans` of `text`) into `out`, two at a
/// time: lines 0 and 2, then 1 and 3, which in a ledger that alternates stage enters and
/// exits are of one kind and of about one length, so their blocks pair up.
fn hash_lines(text: &[u8], spans: &[(usize, usize, bool)], out: &mut [Option<Digest>]) {
    let line = |k: usize| &text[spans[k].0..spans[k].1];
    match spans.len() {
        4 => {
            (out[0], out[2]) = line_hashes2(line(0), line(2));
            (out[1], out[3]) = line_hashes2(line(1), line(3));
        }
        3 => {
            (out[0], out[2]) = line_hashes2(line(0), line(2));
            out[1] = line_hash(line(1));
        }
        2 => (out[0], out[1]) = line_hashes2(line(0), line(1)),
        _ => {
            for (k, o) in out.iter_mut().enumerate().take(spans.len()) {
                *o = line_hash(line(k));
            }
        }
    }
}

/// Checks one line on its own, given its [`line_hash`], and reads the payload fields the
/// ordered checks need.
fn check_line<'a>(
    line: &'a [u8],
    layout: &mut Layout,
    hash: Option<Digest>,
) -> Result<(RawEntry<'a>, Result<PayloadView<'a>, String>), LineError> {
    let (raw, text) = parse_hashed(line, layout, hash)?;
    // Stage entries are most of a ledger; their few fields are read where the scan found
    // them. The rest, or anything unusual, goes through serde.
    let quick = match &*raw.kind {
        kind::STAGE_ENTER | kind::STAGE_EXIT | kind::EVENT | kind::VIOLATION
            if !layout.overflow =>
        {
            text.and_then(|t| PayloadView::from_layout(t, layout.payload()))
        }
        _ => None,
    };
    let view = match quick {
        Some(v) => Ok(v),
        None => PayloadView::parse(raw.payload).map_err(|e| e.to_string()),
    };
    Ok((raw, view))
}
/// Checks the lines at `spans` of `text`: each on its own in parallel, one group while the
/// previous group goes through the ordered checks on this thread.
fn check_spans(text: &[u8], spans: &[(usize, usize, bool)], seq: &mut Ordered, f: &mut Findings) {
    let mut pending: Vec<Option<Checked<'_>>> = Vec::new();
    // Every worker's layout starts out knowing the shapes of the group's first lines, so
    // that its own first lines need no full scan (see `canon::check_layout`).
    let mut seed = Layout::default();
    for group in spans.chunks(BATCH_LINES) {
        for &(s, e, _) in group.iter().take(SEED_LINES) {
            crate::canon::check_layout(&text[s..e], &mut seed);
        }
        let ((), next) = rayon::join(
            || {
                // By reference: a checked line is a few hundred bytes, not worth moving.
                for checked in pending.iter().flatten() {
                    seq.take(f, checked);
                }
            },
            || {
                // Results are written where they belong, four lines at a time.
                let mut out: Vec<Option<Checked<'_>>> = group.iter().map(|_| None).collect();
                out.par_chunks_mut(4)
                    .zip(group.par_chunks(4))
                    .for_each_init(
                        || seed.shapes(),
                        |layout, (out, quad)| check_quad(text, quad, layout, out),
                    );
                out
            },
        );
        pending = next;
    }
    for checked in pending.iter().flatten() {
        seq.take(f, checked);
    }
}

/// Checks up to four lines (`spans` of `text`) into `out`, hashing them two at a time.
fn check_quad<'a>(
    text: &'a [u8],
    spans: &[(usize, usize, bool)],
    layout: &mut Layout,
    out: &mut [Option<Checked<'a>>],
) {
    let mut hashes = [None; 4];
    hash_lines(text, spans, &mut hashes);
    for ((slot, &(s, e, complete)), hash) in out.iter_mut().zip(spans).zip(hashes) {
        *slot = Some((complete, check_line(&text[s..e], layout, hash)));
    }
}

/// Why the reader stopped before the end of the ledger.
enum Stopped {
    /// Reading failed.
    Io(io::Error),
    /// The line after the blocks already sent is longer than [`MAX_LINE_BYTES`].
    LongLine,
}

/// The thread reading a ledger in blocks of whole lines, and its channels.
struct Reader {
    /// Blocks as read (the last may end in a line without its newline), or why reading
    /// stopped.
    blocks: crossbeam_channel::Receiver<Result<Vec<u8>, Stopped>>,
    /// Blocks handed back to be reused.
    recycle: crossbeam_channel::Sender<Vec<u8>>,
    thread: std::thread::JoinHandle<()>,
}

/// Starts the thread that reads `file` in blocks of whole lines. Blocks come back through
/// [`Reader::recycle`] to be reused, so at most three are ever allocated; a block grows
/// only to hold a line longer than [`BATCH_BYTES`], and a line longer than
/// [`MAX_LINE_BYTES`] stops the reader ([`Stopped::LongLine`]) once that many bytes of it
/// are read. Each byte is searched for a newline once, so reading is linear in the length
/// of the ledger whatever the length of its lines.
fn spawn_reader(mut file: File) -> Reader {
    let (tx, rx) = crossbeam_channel::bounded::<Result<Vec<u8>, Stopped>>(1);
    let (recycle_tx, recycle_rx) = crossbeam_channel::bounded::<Vec<u8>>(2);
    let reader = std::thread::spawn(move || {
        let mut carry: Vec<u8> = Vec::new();
        let mut eof = false;
        while !eof {
            let mut block = recycle_rx
                .try_recv()
                .ok()
                // A block that grew for a long line is not kept at that size.
                .filter(|b| b.capacity() <= 4 * BATCH_BYTES)
                .unwrap_or_else(|| Vec::with_capacity(BATCH_BYTES));
            block.clear();
            block.append(&mut carry);
            // The carried bytes are the start of a line: they hold no newline.
            let mut searched = block.len();
            loop {
                let filled = block.len();
                if filled >= BATCH_BYTES {
                    // A full block: cut after its last newline, if it has one.
                    if let Some(nl) = memchr::memrchr(b'\n', &block[searched..filled]) {
                        let nl = searched + nl;
                        carry.extend_from_slice(&block[nl + 1..]);
                        block.truncate(nl + 1);
                        break;
                    }
                    searched = filled;
                    // No newline in the block: all of it is one line.
                    if filled > MAX_LINE {
                        let _ = tx.send(Err(Stopped::LongLine));
                        return;
                    }
                }
                // Up to BATCH_BYTES more, read into spare capacity without zeroing it first.
                block.reserve(BATCH_BYTES);
                match (&mut file).take(BATCH_BYTES as u64).read_to_end(&mut block) {
                    Ok(n) if n < BATCH_BYTES => {
                        eof = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(Stopped::Io(e)));
                        return;
                    }
                }
            }
            if tx.send(Ok(block)).is_err() {
                return;
            }
        }
    });
    Reader {
        blocks: rx,
        recycle: recycle_tx,
        thread: reader,
    }
}

pub(super) fn scan_ledger(path: &Path, f: &mut Findings) -> Option<RunFold> {
    // A regular file only: a FIFO would block the reader forever and a device never end.
    let file = match receipt_primitives::confine::open_file(path) {
        Ok(opened) => opened.file,
        Err(e) => {
            f.add(
                CheckId::LedgerRead,
                Verdict::Unknown,
                format!("cannot read the ledger: {e}."),
            );
            return None;
        }
    };
    let head_file = head_path(path);
    let head = if head_file.exists() {
        match Head::read(&head_file) {
            Ok(h) => Some(h),
            Err(e) => {
                // Rewritten in place mid-run, a head file can be torn by a power loss; it
                // then proves nothing either way, like a missing one.
                f.add(
                    CheckId::LedgerHead,
                    Verdict::Warn,
                    format!("{e}, so only the receipt can show truncation."),
                );
                None
            }
        }
    } else {
        f.add(
            CheckId::LedgerHead,
            Verdict::Warn,
            format!(
                "{} does not exist, so only the receipt can show truncation.",
                head_file.display()
            ),
        );
        None
    };
    let mut seq = Ordered::new(head.as_ref().map(|h| h.entries));
    // Reading runs on its own thread, a block of whole lines ahead of the checks.
    let Reader {
        blocks,
        recycle,
        thread: reader,
    } = spawn_reader(file);
    let mut spans: Vec<(usize, usize, bool)> = Vec::new();
    for block in &blocks {
        let block = match block {
            Ok(b) => b,
            Err(stopped) => {
                let why = match stopped {
                    Stopped::Io(e) => format!(
                        "reading {} failed after line {}: {e}.",
                        path.display(),
                        seq.lines()
                    ),
                    Stopped::LongLine => long_line(path, seq.lines() + 1),
                };
                f.add(CheckId::LedgerRead, Verdict::Unknown, why);
                drop(blocks);
                let _ = reader.join();
                return None;
            }
        };
        let mut start = 0;
        let mut lines = memchr::memchr_iter(b'\n', &block);
        loop {
            spans.clear();
            // Bounds the span list however short the lines are.
            for end in lines.by_ref().take(MAX_SPANS) {
                spans.push((start, end, true));
                start = end + 1;
            }
            if spans.len() < MAX_SPANS && start < block.len() {
                // Only the last block can end without a newline: a torn last line.
                spans.push((start, block.len(), false));
                start = block.len();
            }
            if spans.is_empty() {
                break;
            }
            // A line the reader let through because its newline came in the read that
            // went past the limit.
            let long = spans.iter().position(|&(s, e, _)| e - s > MAX_LINE);
            if let Some(k) = long {
                spans.truncate(k);
            }
            check_spans(&block, &spans, &mut seq, f);
            if long.is_some() {
                f.add(
                    CheckId::LedgerRead,
                    Verdict::Unknown,
                    long_line(path, seq.lines() + 1),
                );
                drop(blocks);
                let _ = reader.join();
                return None;
            }
        }
        let _ = recycle.send(block);
    }
    drop(recycle);
    let _ = reader.join();
    Some(seq.conclude(head.as_ref(), path, f))
}

/// The finding for line `line_no` of `path` being longer than [`MAX_LINE_BYTES`].
fn long_line(path: &Path, line_no: u64) -> String {
    format!(
        "{} line {line_no} is longer than {MAX_LINE_BYTES} bytes (64 MiB), the limit for a ledger line, so the ledger is not verified past it.",
        path.display()
    )
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{genesis, parse_with_layout, seal_bytes};

    /// The general path: serde for the envelope and for the payload.
    fn general(line: &[u8]) -> String {
        let raw = crate::entry::parse_raw_general(line);
        let view = raw
            .as_ref()
            .map(|r| PayloadView::parse(r.payload).map_err(|e| e.to_string()));
        format!("{raw:?} {view:?}")
    }

    #[test]
    fn quick_field_reading_matches_the_general_parser() {
        let payloads: [&[u8]; 9] = [
            br#"{"args":["x"],"depth":0,"id":3,"input":null,"parent":null,"t_ns":5,"thread":0}"#,
            br#"{"after":"parse","args":[],"depth":1,"id":4,"input":"00ff","parent":3,"t_ns":9,"thread":1}"#,
            br#"{"alloc_bytes":null,"cpu_ns":{"unavailable":"no clock"},"depth":0,"id":3,"io_read_bytes":null,"io_write_bytes":null,"outcome":"ok","output":null,"peak_rss_kb":12,"t_ns":7,"thread":0,"wall_ns":2}"#,
            br#"{"cpu_ns":17,"depth":0,"id":3,"outcome":"err","output":"a\"b","wall_ns":2}"#,
            "{\"fields\":{\"message\":\"na\u{ef}ve \u{1f980}\"},\"level\":\"INFO\",\"stage_id\":3,\"t_ns\":8,\"target\":\"t\",\"thread\":0}".as_bytes(),
            br#"{"after":"<start>","parent":null,"policy":"record","t_ns":1,"thread":0}"#,
            // Wrong types: the general parser's error must come out either way.
            br#"{"depth":"zero","id":3}"#,
            br#"{"id":-1}"#,
            br#"{"depth":0,"id":3,"wall_ns":9007199254740993}"#,
        ];
        let kinds = [
            kind::STAGE_ENTER,
            kind::STAGE_EXIT,
            kind::EVENT,
            kind::VIOLATION,
        ];
        let mut layout = Layout::default();
        let mut quick_taken = 0;
        for (i, payload) in payloads.iter().enumerate() {
            for k in kinds {
                for stage in [Some("st\u{e9}p"), Some("a\"b"), None] {
                    let prev = genesis("r");
                    let sealed = seal_bytes(i as u64, &prev, "r", k, stage, payload);
                    let line = &sealed.line[..sealed.line.len() - 1];
                    let text = parse_with_layout(line, &mut layout).map(|(_, t)| t);
                    if let Ok(Some(t)) = text
                        && PayloadView::from_layout(t, layout.payload()).is_some()
                    {
                        quick_taken += 1;
                    }
                    let quick = check_line(line, &mut layout, line_hash(line));
                    let quick = format!(
                        "{:?} {:?}",
                        quick.as_ref().map(|(r, _)| r),
                        quick.as_ref().map(|(_, v)| v)
                    );
                    assert_eq!(quick, general(line), "payload {i}, {k}, {stage:?}");
                }
            }
        }
        // Plain stage names (two of three) with the five well-typed payloads whose strings
        // have no escapes; everything else went the general way.
        assert_eq!(quick_taken, 5 * kinds.len() * 2);
    }

    #[test]
    fn quick_reading_reports_the_same_errors() {
        let prev = genesis("r");
        let good = seal_bytes(0, &prev, "r", kind::STAGE_ENTER, Some("s"), br#"{"id":1}"#).line;
        let good = &good[..good.len() - 1];
        let text = String::from_utf8(good.to_vec()).unwrap();
        let bad: Vec<Vec<u8>> = vec![
            text.replacen("\"seq\":0", "\"seq\":1", 1).into_bytes(),
            text.replacen("\"run_id\":\"r\"", "\"run_id\":\"r\",\"x\":1", 1)
                .into_bytes(),
            text.replacen("\"seq\":0", "\"seq\":-1", 1).into_bytes(),
            text.replacen("\"seq\":0", "\"seq\": 0", 1).into_bytes(),
            text.replacen("\"stage\":\"s\"", "\"stage\":7", 1)
                .into_bytes(),
            text.replacen("{\"hash\":\"", "{\"hash\":\"A", 1)
                .into_bytes(),
            text.replacen("\"payload\":{\"id\":1}", "\"payload\":[1]", 1)
                .into_bytes(),
            {
                let mut b = good.to_vec();
                let at = b.len() - 4;
                b[at] = 0xff;
                b
            },
        ];
        let mut layout = Layout::default();
        for line in &bad {
            let quick = format!(
                "{:?}",
                check_line(line, &mut layout, line_hash(line)).map(|_| ())
            );
            let general = format!("{:?}", crate::entry::parse_raw_general(line).map(|_| ()));
            assert!(
                quick.starts_with("Err"),
                "{}",
                String::from_utf8_lossy(line)
            );
            assert_eq!(quick, general, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn lines_checked_four_at_a_time_are_checked_as_one_at_a_time() {
        let prev = genesis("r");
        let mut lines: Vec<Vec<u8>> = (0..9u64)
            .map(|i| {
                let payload = format!(r#"{{"depth":0,"id":{}}}"#, i * 997);
                let kind_ = [kind::STAGE_ENTER, kind::STAGE_EXIT, kind::EVENT][i as usize % 3];
                let mut l = seal_bytes(i, &prev, "r", kind_, Some("s"), payload.as_bytes()).line;
                l.pop();
                l
            })
            .collect();
        // A line too short to carry a hash, one with a wrong hash, one not JSON.
        lines.insert(2, b"{}".to_vec());
        lines[4][20] = if lines[4][20] == b'0' { b'1' } else { b'0' };
        lines.insert(
            7,
            b"{\"hash\":\""
                .iter()
                .chain([b'a'; 80].iter())
                .copied()
                .collect(),
        );
        let mut text = Vec::new();
        let mut spans = Vec::new();
        for l in &lines {
            spans.push((text.len(), text.len() + l.len(), true));
            text.extend_from_slice(l);
            text.push(b'\n');
        }
        let one = |span: &(usize, usize, bool)| {
            let line = &text[span.0..span.1];
            format!(
                "{:?}",
                check_line(line, &mut Layout::default(), line_hash(line))
            )
        };
        for n in 1..=4 {
            for start in 0..spans.len() - n {
                let quad = &spans[start..start + n];
                let mut got = [None, None, None, None];
                check_quad(&text, quad, &mut Layout::default(), &mut got[..n]);
                for (k, span) in quad.iter().enumerate() {
                    let (complete, checked) = got[k].as_ref().expect("a result per line");
                    assert!(*complete);
                    assert_eq!(
                        format!("{checked:?}"),
                        one(span),
                        "line {} of {n}",
                        start + k
                    );
                }
            }
        }
        // The tampered line is caught by its hash.
        let mut tampered = [None];
        check_quad(&text, &spans[4..5], &mut Layout::default(), &mut tampered);
        assert!(matches!(
            tampered[0].as_ref().map(|(_, c)| c),
            Some(Err(LineError::HashMismatch { .. }))
        ));
    }
}
