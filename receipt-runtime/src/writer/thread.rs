//! The writer thread: appends records as hash-chained lines, group-commits and fsyncs them
//! by the durability policy, and writes the head file and the receipt.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use receipt_primitives::fsutil;
use serde_json::Value;

use crate::entry::{Opened, close_line, genesis, json_string, kind, open_line, seal_chained};
use crate::ledger::{HEAD_SCHEMA, Head, head_path, receipt_path};
use crate::receipt::{PayloadView, RunFold};

use super::encode::{Body, split_hash, value_bytes};
use super::queue::Inbox;
use super::{Durability, Enter, Record, RunOutcome, WriterError};

type Finalizer = crossbeam_channel::Sender<Result<RunOutcome, WriterError>>;
type SyncReply = crossbeam_channel::Sender<Result<u64, WriterError>>;

/// Size at which the writer's output buffer is written to the file between group commits.
const OUT_FLUSH_AT: usize = 1 << 18;

/// The writer's state: file, chain position, fold.
pub(crate) struct Writer {
    path: PathBuf,
    file: File,
    /// Lines not yet written to `file`; lines are built here in place, so each is copied
    /// once, by the kernel. Written at group commit, past `OUT_FLUSH_AT`, before every
    /// fsync, and on drop.
    out: Vec<u8>,
    run_id: String,
    /// `run_id` as a JSON string, as every line spells it.
    run_id_json: Vec<u8>,
    durability: Durability,
    seq: u64,
    /// Hex digits of the previous entry's hash (the genesis link before the first entry).
    prev_hex: [u8; 64],
    fold: RunFold,
    since_sync: u64,
    failed: Option<WriterError>,
    head: Option<File>,
    /// Reused for the bytes of payloads built from a JSON value.
    payload: Vec<u8>,
    /// The start of the next record's line (see `open_line`), built while the current
    /// entry was hashed, when `open` is set.
    ahead: Vec<u8>,
    /// The hash of the line in `ahead` so far: set only while the record it was built
    /// from is the next one to be appended.
    open: Option<Opened>,
    /// Length of the ledger file: what it held when the run began plus what was written.
    file_len: u64,
    /// How much of the file the kernel has been asked to start writing back.
    writeback_from: u64,
    /// `Sync` requests of the current batch, answered after its group commit.
    waiting: Vec<SyncReply>,
}

/// Under `OnFinalize`, the kernel is asked to start writing the ledger back to the disk
/// each time this many bytes have been written since the last request, so that the one
/// fsync at finalize finds little left to write and the run's end is not held up by it.
/// A request only starts the write; it changes nothing about what is durable when.
const WRITEBACK_EVERY: u64 = 8 << 20;

/// The most records taken from the queue for one group commit (the queue's capacity).
const BATCH_MAX: usize = super::queue::QUEUE;

impl Writer {
    pub(crate) fn new(path: PathBuf, file: File, run_id: String, durability: Durability) -> Self {
        let prev_hex = genesis(&run_id).hex_bytes();
        let file_len = file.metadata().map_or(0, |m| m.len());
        let mut run_id_json = Vec::with_capacity(run_id.len() + 2);
        json_string(&mut run_id_json, &run_id);
        Writer {
            path,
            file,
            out: Vec::with_capacity(OUT_FLUSH_AT + 4096),
            run_id,
            run_id_json,
            durability,
            seq: 0,
            prev_hex,
            fold: RunFold::new(),
            since_sync: 0,
            failed: None,
            head: None,
            payload: Vec::with_capacity(1024),
            ahead: Vec::with_capacity(1024),
            open: None,
            file_len,
            writeback_from: file_len,
            waiting: Vec::new(),
        }
    }

    fn io(&self, path: &Path) -> impl FnOnce(io::Error) -> WriterError + use<> {
        let path = path.to_owned();
        move |e| WriterError::Io {
            path,
            message: e.to_string(),
        }
    }

    /// Runs until a finalize record is processed or every sender is gone.
    pub(crate) fn run(mut self, mut rx: Inbox) {
        let mut batch: Vec<Record> = Vec::new();
        while let Some(first) = rx.next() {
            // Group commit: drain what is queued, then flush once. Evidence blobs of the
            // batch are stored first, together, so that no entry names a blob not yet
            // written. Each record is appended knowing the one queued after it, if any, so
            // that the two entry hashes can be computed together.
            batch.push(first);
            while batch.len() < BATCH_MAX {
                match rx.try_next() {
                    Some(r) => batch.push(r),
                    None => break,
                }
            }
            self.store_evidence(&mut batch);
            let mut records = batch.drain(..);
            let mut rec = records.next();
            while let Some(r) = rec {
                let next = records.next();
                if let Some(done) = self.append(r, next.as_ref()) {
                    drop(records);
                    let result = self.finalize();
                    let entries = match &result {
                        Ok(outcome) => Ok(outcome.receipt.ledger.entries),
                        Err(e) => Err(e.clone()),
                    };
                    for waiting in self.waiting.drain(..) {
                        let _ = waiting.send(entries.clone());
                    }
                    let _ = done.send(result);
                    return;
                }
                rec = next;
            }
            drop(records);
            self.commit();
        }
    }

    /// The end of a batch (group commit): writes the batch's lines; under `Always`, and
    /// when a `Sync` request is waiting, fsyncs once for all of them and rewrites the head;
    /// then answers the waiting `Sync` requests. Records that arrived meanwhile form the
    /// next batch and are covered by its single fsync.
    fn commit(&mut self) {
        if self.failed.is_none() {
            let due = !self.waiting.is_empty()
                || (self.durability == Durability::Always && self.since_sync > 0);
            if due && self.durability != Durability::Never {
                self.sync();
            } else if let Err(e) = self.write_out() {
                self.failed = Some(self.io(&self.path.clone())(e));
            }
        }
        let reply = match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(self.fold.count()),
        };
        for done in self.waiting.drain(..) {
            let _ = done.send(reply.clone());
        }
    }

    /// Redacts, hashes and stores the evidence values of `batch` (one `put_batch` per
    /// store); a failure stops the writer, as a failed write of the ledger does.
    fn store_evidence(&mut self, batch: &mut [Record]) {
        if self.failed.is_some() {
            return;
        }
        let items = batch.iter_mut().filter_map(|r| match r {
            Record::Evidence(e) => Some(&mut **e),
            _ => None,
        });
        if let Err((location, e)) = crate::evidence::EvidenceRecord::store_all(items) {
            self.failed = Some(WriterError::Evidence {
                location,
                message: e.to_string(),
            });
        }
    }

    /// Writes the buffered lines to the file. On an error the bytes the file took are
    /// dropped from the buffer and the rest kept, as `BufWriter` does.
    fn write_out(&mut self) -> io::Result<()> {
        let mut written = 0;
        let res = loop {
            if written == self.out.len() {
                break Ok(());
            }
            match self.file.write(&self.out[written..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.out.drain(..written);
        self.file_len += written as u64;
        self.start_writeback();
        res
    }

    /// See [`WRITEBACK_EVERY`].
    fn start_writeback(&mut self) {
        let pending = self.file_len - self.writeback_from;
        if self.durability != Durability::OnFinalize || pending < WRITEBACK_EVERY {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (Ok(from), Ok(len)) = (i64::try_from(self.writeback_from), i64::try_from(pending))
            else {
                return;
            };
            // SAFETY: `sync_file_range` reads only its integer arguments and acts on the open
            // descriptor of `self.file`. Its result is ignored on purpose: it only starts
            // writeback early, and the fsync at finalize reports any I/O error.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    from,
                    len,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        self.writeback_from = self.file_len;
    }

    /// Appends one record; returns the finalize reply channel when it was the last one.
    /// `next` is the record to be appended next, when it is already queued.
    fn append(&mut self, rec: Record, next: Option<&Record>) -> Option<Finalizer> {
        if let Record::Finalize { payload, done } = rec {
            if self.failed.is_none() {
                self.append_value(kind::RUN_FINALIZE, None, &payload, None);
            }
            return Some(done);
        }
        if let Record::Sync { done } = rec {
            self.waiting.push(done);
            return None;
        }
        // Nothing is written after a failure; the finalize reply reports it.
        if self.failed.is_none() {
            self.append_record(&rec, next);
        }
        None
    }

    /// Appends one record other than `Finalize`, read in place; `next` as for `append`.
    fn append_record(&mut self, rec: &Record, next: Option<&Record>) {
        // Not called when the payload was already written ahead with the previous entry.
        let payload = |out: &mut Vec<u8>| Body::of(rec).map_or(Ok(()), |b| b.write(out));
        match rec {
            Record::Start { payload } => self.append_value(kind::RUN_START, None, payload, None),
            Record::Enter(Enter {
                stage,
                id,
                parent,
                depth,
                thread,
                input,
                after,
                ..
            }) => {
                let (input_hex, _) = split_hash(input);
                let view = PayloadView {
                    id: Some(*id),
                    parent: *parent,
                    depth: Some(u64::from(*depth)),
                    thread: Some(*thread),
                    input: input_hex.map(Cow::Borrowed),
                    after: after.as_deref().map(Cow::Borrowed),
                    ..PayloadView::default()
                };
                self.append_entry(kind::STAGE_ENTER, Some(stage), &view, payload, next);
            }
            Record::Exit {
                stage,
                id,
                depth,
                thread,
                wall_ns,
                cpu_ns,
                outcome,
                output,
                ..
            } => {
                let (output_hex, _) = split_hash(output);
                let view = PayloadView {
                    id: Some(*id),
                    depth: Some(u64::from(*depth)),
                    thread: Some(*thread),
                    outcome: Some(Cow::Borrowed(outcome.as_str())),
                    output: output_hex.map(Cow::Borrowed),
                    wall_ns: Some(*wall_ns),
                    cpu_ns: cpu_ns.value(),
                    ..PayloadView::default()
                };
                self.append_entry(kind::STAGE_EXIT, Some(stage), &view, payload, next);
            }
            Record::Event { stage, .. } => {
                // The fold reads nothing from an event's payload but its type.
                let view = PayloadView::default();
                self.append_entry(kind::EVENT, Some(stage), &view, payload, next);
            }
            Record::Violation {
                stage,
                pred,
                parent,
                thread,
                ..
            } => {
                let view = PayloadView {
                    parent: *parent,
                    thread: Some(*thread),
                    after: Some(Cow::Borrowed(pred)),
                    ..PayloadView::default()
                };
                self.append_entry(kind::VIOLATION, Some(stage), &view, payload, next);
            }
            // Handled by `append`, which takes their reply channels.
            Record::Finalize { .. } | Record::Sync { .. } => {}
            Record::Evidence(e) => {
                if let Some((stage, payload)) = e.entry() {
                    let view = PayloadView::default();
                    self.append_value(kind::EVIDENCE, Some(stage), &payload, Some(&view));
                }
            }
        }
    }

    /// Appends an entry whose payload is a JSON value; the fold's view is `view`, or is
    /// parsed back from the canonical bytes when `None`.
    fn append_value(
        &mut self,
        kind_: &'static str,
        stage: Option<&'static str>,
        payload: &Value,
        view: Option<&PayloadView<'_>>,
    ) {
        let mut bytes = std::mem::take(&mut self.payload);
        match value_bytes(&mut bytes, payload) {
            Err(message) => self.fail_canonical(message),
            Ok(()) => {
                let copy = |out: &mut Vec<u8>| {
                    out.extend_from_slice(&bytes);
                    Ok(())
                };
                match view {
                    Some(v) => self.append_entry(kind_, stage, v, copy, None),
                    None => match PayloadView::parse(&bytes) {
                        Ok(v) => self.append_entry(kind_, stage, &v, copy, None),
                        Err(e) => self.fail_canonical(e.to_string()),
                    },
                }
            }
        }
        self.payload = bytes;
    }

    /// Seals one entry into the output buffer (`payload` appends its canonical bytes),
    /// folds it, and fsyncs when the durability policy says so.
    ///
    /// When `next` is given and has a typed payload, the start of its line is built in
    /// `ahead` and hashed together with the rest of this entry (two SHA-256 lanes run in
    /// little more than the time of one); the next call, which must be for `next`, then
    /// only appends and hashes the part after `"prev":"`. Only whole lines ever enter `out`,
    /// so what each write and fsync sees is unchanged.
    fn append_entry(
        &mut self,
        kind_: &'static str,
        stage: Option<&'static str>,
        view: &PayloadView<'_>,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), String>,
        next: Option<&Record>,
    ) {
        let next = next.and_then(Body::of);
        let hash = if self.open.is_none() && next.is_none() {
            let sealed = seal_chained(
                &mut self.out,
                self.seq,
                &mut self.prev_hex,
                &self.run_id_json,
                kind_,
                stage,
                payload,
            );
            match sealed {
                Ok(hash) => hash,
                Err(message) => return self.fail_canonical(message),
            }
        } else {
            self.out.reserve(512);
            let base = self.out.len();
            let opened = match self.open.take() {
                // This entry's payload was written and partly hashed with the previous entry.
                Some(opened) => {
                    self.out.extend_from_slice(&self.ahead);
                    opened
                }
                None => {
                    if let Err(message) = open_line(&mut self.out, payload) {
                        return self.fail_canonical(message);
                    }
                    Opened::stamp(&mut self.out[base..])
                }
            };
            close_line(
                &mut self.out,
                &self.prev_hex,
                &self.run_id_json,
                self.seq,
                kind_,
                stage,
            );
            self.ahead.clear();
            // A next payload with no canonical form is left for its own call to report.
            let hash = match next.map(|b| open_line(&mut self.ahead, |out| b.write(out))) {
                Some(Ok(())) => {
                    let line = &mut self.out[base..];
                    let (hash, ahead) =
                        opened.finish_with(line, &mut self.prev_hex, &mut self.ahead);
                    self.open = Some(ahead);
                    hash
                }
                _ => opened.finish(&mut self.out[base..], &mut self.prev_hex),
            };
            self.out.push(b'\n');
            hash
        };
        if self.out.len() >= OUT_FLUSH_AT
            && let Err(e) = self.write_out()
        {
            self.failed = Some(self.io(&self.path.clone())(e));
            self.open = None;
            return;
        }
        self.fold
            .push(self.seq, hash, &self.run_id, kind_, stage, view);
        self.seq += 1;
        self.since_sync += 1;
        // `Always` syncs once per batch, in `commit` (group commit).
        let due = match self.durability {
            Durability::EveryN(n) => self.since_sync >= n.max(1),
            Durability::Always | Durability::Never | Durability::OnFinalize => false,
        };
        // Finalize syncs on its own, after the last entry.
        if due && kind_ != kind::RUN_FINALIZE {
            self.sync();
        }
    }

    fn fail_canonical(&mut self, message: String) {
        self.failed = Some(WriterError::Canonical {
            path: self.path.clone(),
            seq: self.seq,
            message,
        });
    }

    /// Flushes and fsyncs the ledger, then rewrites the head file.
    fn sync(&mut self) {
        let res = self.flush_and_sync().and_then(|()| self.write_head());
        self.since_sync = 0;
        if let Err(e) = res {
            self.failed = Some(e);
        }
    }

    fn flush_and_sync(&mut self) -> Result<(), WriterError> {
        self.write_out().map_err(self.io(&self.path))?;
        if self.durability != Durability::Never {
            self.file.sync_data().map_err(self.io(&self.path))?;
        }
        Ok(())
    }

    fn head_bytes(&self) -> Result<Option<Vec<u8>>, WriterError> {
        let Some(last) = self.fold.last_hash() else {
            return Ok(None);
        };
        let head = Head {
            schema: HEAD_SCHEMA.to_owned(),
            run_id: self.run_id.clone(),
            entries: self.fold.count(),
            last_entry_sha256: last,
            merkle_root: self.fold.merkle_root(),
        };
        receipt_primitives::jcs::to_vec(&head)
            .map(Some)
            .map_err(|e| WriterError::Io {
                path: head_path(&self.path),
                message: e.to_string(),
            })
    }

    /// Rewrites the head file in place after a mid-run fsync of the ledger.
    ///
    /// The head only ever describes entries already fsynced, so a stale head after a crash
    /// is still true; making the head itself durable each time would double the fsyncs of
    /// `Always`. At finalize it is replaced atomically and durably instead.
    fn write_head(&mut self) -> Result<(), WriterError> {
        use std::os::unix::fs::FileExt as _;
        let Some(bytes) = self.head_bytes()? else {
            return Ok(());
        };
        let path = head_path(&self.path);
        if self.head.is_none() {
            let f = File::create(&path).map_err(self.io(&path))?;
            self.head = Some(f);
        }
        if let Some(f) = &self.head {
            f.write_all_at(&bytes, 0).map_err(self.io(&path))?;
            f.set_len(bytes.len() as u64).map_err(self.io(&path))?;
        }
        Ok(())
    }

    /// Atomic replace; durable unless the policy is `Never`.
    fn replace_file(&self, path: &Path, bytes: &[u8]) -> Result<(), WriterError> {
        if self.durability == Durability::Never {
            let tmp = crate::ledger::tmp_sibling(path);
            std::fs::write(&tmp, bytes).map_err(self.io(&tmp))?;
            std::fs::rename(&tmp, path).map_err(self.io(path))
        } else {
            fsutil::atomic_write(path, bytes).map_err(self.io(path))
        }
    }

    fn finalize(&mut self) -> Result<RunOutcome, WriterError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.flush_and_sync()?;
        self.head = None;
        if let Some(bytes) = self.head_bytes()? {
            self.replace_file(&head_path(&self.path), &bytes)?;
        }
        let receipt = self
            .fold
            .receipt()
            .ok_or_else(|| WriterError::Stopped(self.path.clone()))?;
        let rpath = receipt_path(&self.path);
        let bytes = receipt_primitives::jcs::to_vec(&receipt).map_err(|e| WriterError::Io {
            path: rpath.clone(),
            message: e.to_string(),
        })?;
        // `atomic_write` fsyncs the directory after each rename, so both files are durable.
        self.replace_file(&rpath, &bytes)?;
        Ok(RunOutcome {
            ledger: self.path.clone(),
            receipt_path: rpath,
            receipt,
        })
    }
}

impl Drop for Writer {
    /// Writes what is still buffered, as `BufWriter` does when dropped: the lines before a
    /// failure reach the file even though the run cannot be finalized.
    fn drop(&mut self) {
        let _ = self.write_out();
    }
}

#[cfg(test)]
mod tests {
    use super::super::message::field_sets;
    use super::super::start_payload;
    use super::super::{ArgNames, FieldValue, Outcome};
    use super::*;
    use crate::measure::{ALLOC_NOT_INSTALLED, Measure};
    use serde_json::json;

    #[test]
    fn chained_sealing_matches_sealing_each_entry_on_its_own() {
        let run_id = "run \"7\"";
        let mut run_id_json = Vec::new();
        json_string(&mut run_id_json, run_id);
        let mut prev = genesis(run_id);
        let mut chain = prev.hex_bytes();
        let mut chained = Vec::new();
        let mut alone = Vec::new();
        for seq in 0..3u64 {
            let payload = format!("{{\"id\":{seq}}}");
            let write = |out: &mut Vec<u8>| {
                out.extend_from_slice(payload.as_bytes());
                Ok::<(), std::convert::Infallible>(())
            };
            let Ok(hash) = seal_chained(
                &mut chained,
                seq,
                &mut chain,
                &run_id_json,
                kind::STAGE_ENTER,
                Some("s"),
                write,
            );
            let Ok(expected) = crate::entry::seal_into(
                &mut alone,
                seq,
                &prev,
                run_id,
                kind::STAGE_ENTER,
                Some("s"),
                write,
            );
            assert_eq!(hash, expected);
            assert_eq!(chain, hash.hex_bytes());
            prev = hash;
        }
        assert_eq!(chained, alone);
        for line in chained.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            crate::entry::parse_raw(line).expect("each sealed line parses and checks");
        }
    }
    /// Every record kind, with errors, unavailable measures, unhashable inputs, escaped
    /// text and non-finite floats: iteration `i` of a run alternating stages `a` and `b`,
    /// where `b` → `a` is not allowed and so is recorded as a violation.
    fn mixed_records(i: u64, args: ArgNames) -> Vec<Record> {
        let (a, b) = (2 * i, 2 * i + 1);
        let t = 1000 * i;
        let mut recs = Vec::new();
        if i > 0 {
            recs.push(Record::Violation {
                stage: "a",
                pred: "b".to_owned(),
                parent: None,
                t_ns: t,
                thread: 1,
                policy: "record",
            });
        }
        let input = match i % 3 {
            0 => None,
            1 => Some(Ok(receipt_primitives::Digest::of(&i.to_le_bytes()).to_hex())),
            _ => Some(Err(format!("argument {i} has no \"hash\"\n"))),
        };
        recs.push(Record::Enter(Enter {
            stage: "a",
            id: a,
            parent: None,
            depth: 0,
            t_ns: t + 1,
            thread: 1,
            input,
            args,
            after: None,
        }));
        recs.push(Record::Event {
            stage: "a",
            stage_id: a,
            t_ns: t + 2,
            thread: 1,
            level: "INFO",
            target: "mixed",
            fields: vec![
                (
                    "message",
                    FieldValue::Str(format!("step {i} é \u{2028} \"q\"\t")),
                ),
                ("n", FieldValue::U64(i)),
                ("d", FieldValue::I64(-(i as i64))),
                ("ok", FieldValue::Bool(i.is_multiple_of(2))),
                (
                    "x",
                    FieldValue::F64(if i.is_multiple_of(5) {
                        f64::NAN
                    } else {
                        i as f64 / 3.0
                    }),
                ),
            ],
        });
        let unavailable = Measure::unavailable("not sampled on this \"platform\"");
        let (outcome, error) = match i % 4 {
            0 => (Outcome::Ok, None),
            1 => (Outcome::Err, Some(format!("failed at {i}: \\ \"bad\""))),
            2 => (Outcome::Panic, Some("panicked".to_owned())),
            _ => (Outcome::Ok, None),
        };
        recs.push(Record::Exit {
            stage: "a",
            id: a,
            depth: 0,
            t_ns: t + 3 + i,
            thread: 1,
            wall_ns: 2 + i,
            cpu_ns: if i.is_multiple_of(2) {
                Measure::Value(i)
            } else {
                unavailable.clone()
            },
            alloc_bytes: (!i.is_multiple_of(3)).then(|| unavailable.clone()),
            peak_rss_kb: Measure::Value(4096 + i),
            io: (i % 2 == 1).then(|| (Measure::Value(i), unavailable.clone())),
            outcome,
            error,
            output: (i.is_multiple_of(2))
                .then(|| Ok(receipt_primitives::Digest::of(b"out").to_hex())),
        });
        recs.push(Record::Enter(Enter {
            stage: "b",
            id: b,
            parent: None,
            depth: 0,
            t_ns: t + 4,
            thread: 1,
            input: None,
            args,
            after: None,
        }));
        recs.push(Record::Exit {
            stage: "b",
            id: b,
            depth: 0,
            t_ns: t + 5,
            thread: 1,
            wall_ns: 1,
            cpu_ns: Measure::Value(1),
            alloc_bytes: None,
            peak_rss_kb: unavailable,
            io: None,
            outcome: Outcome::Ok,
            error: None,
            output: Some(Err("unhashable".to_owned())),
        });
        recs
    }

    /// Writes a long mixed run with every record already queued, so that each entry's hash
    /// is computed together with the start of the next one; the ledger must verify, and
    /// each line must be the bytes `seal_into` gives the entry on its own.
    #[test]
    fn entries_hashed_in_pairs_verify_and_match_sealing_each_alone() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let graph = crate::graph::StageGraph::builder()
            .first("a")
            .edge("a", "b")
            .build();
        for durability in [
            Durability::Never,
            Durability::OnFinalize,
            Durability::EveryN(7),
            Durability::Always,
        ] {
            let path = dir.path().join(format!("{durability:?}.jsonl"));
            let file = File::create(&path).expect("ledger file");
            let run_id = "mixed.run-1".to_owned();
            let writer = Writer::new(path.clone(), file, run_id.clone(), durability);
            let (tx, rx) = crossbeam_channel::unbounded();
            let start = start_payload(
                "mixed",
                &["mixed".to_owned()],
                &receipt_primitives::Timestamp::now().to_string(),
                &graph,
                crate::graph::ViolationPolicy::Record,
                durability,
                false,
            );
            tx.send(Record::Start { payload: start }).expect("queued");
            let args = ArgNames(field_sets()[2]);
            for i in 0..150 {
                for rec in mixed_records(i, args) {
                    tx.send(rec).expect("queued");
                }
            }
            let (done, reply) = crossbeam_channel::bounded(1);
            let unavailable = Measure::unavailable(crate::measure::IO_DISABLED);
            let totals = crate::receipt::Totals {
                wall_ns: 1,
                cpu_ns: Measure::Value(1),
                peak_rss_kb: Measure::Value(1),
                io_read_bytes: unavailable.clone(),
                io_write_bytes: unavailable,
                alloc_bytes: Measure::unavailable(ALLOC_NOT_INSTALLED),
            };
            let payload = json!({
                "status": "ok",
                "t_ns": 1,
                "finished_at": receipt_primitives::Timestamp::now().to_string(),
                "totals": totals,
            });
            tx.send(Record::Finalize { payload, done }).expect("queued");
            drop(tx);
            writer.run(Inbox::new(rx, durability));
            let outcome = reply.recv().expect("a reply").expect("the run finalizes");
            assert_eq!(outcome.receipt.ledger.entries, 1 + 150 * 6 - 1 + 1);

            let report = crate::verify::verify_run(&path, None);
            assert!(report.ok(), "{durability:?}:\n{report}");
            let ledger = std::fs::read(&path).expect("ledger");
            let mut lines = 0;
            for line in ledger.split_inclusive(|&b| b == b'\n') {
                let e = crate::entry::parse_line(&line[..line.len() - 1]).expect("entry");
                let kind_ = [
                    kind::RUN_START,
                    kind::STAGE_ENTER,
                    kind::STAGE_EXIT,
                    kind::EVENT,
                    kind::VIOLATION,
                    kind::RUN_FINALIZE,
                ]
                .into_iter()
                .find(|k| *k == e.kind)
                .expect("a known type");
                let mut alone = Vec::new();
                let resealed = crate::entry::seal_into(
                    &mut alone,
                    e.seq,
                    &e.prev,
                    &e.run_id,
                    kind_,
                    e.stage.as_deref(),
                    |out| crate::entry::canonical(&e.payload).map(|b| out.extend_from_slice(&b)),
                );
                assert_eq!(
                    String::from_utf8_lossy(line),
                    String::from_utf8_lossy(&alone),
                    "{durability:?}, entry {}",
                    e.seq
                );
                assert_eq!(resealed.expect("canonical payload"), e.hash);
                lines += 1;
            }
            assert_eq!(lines, outcome.receipt.ledger.entries);
        }
    }

    #[test]
    fn writeback_is_started_every_few_mebibytes_under_on_finalize_only() {
        let dir = tempfile::tempdir().expect("temporary directory");
        for (durability, starts) in [
            (Durability::OnFinalize, true),
            (Durability::EveryN(1000), false),
            (Durability::Never, false),
        ] {
            let path = dir.path().join(format!("{durability:?}.jsonl"));
            std::fs::write(&path, b"held before\n").expect("ledger file");
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("ledger file");
            let mut w = Writer::new(path.clone(), file, "r".to_owned(), durability);
            assert_eq!((w.file_len, w.writeback_from), (12, 12));
            let chunk = vec![b'x'; 1 << 20];
            for mib in 1..=20u64 {
                w.out.extend_from_slice(&chunk);
                w.write_out().expect("written");
                assert_eq!(w.file_len, 12 + (mib << 20));
                let expected = if starts && mib >= 8 {
                    12 + ((mib / 8 * 8) << 20)
                } else {
                    12
                };
                assert_eq!(w.writeback_from, expected, "{durability:?} after {mib} MiB");
            }
            assert_eq!(
                std::fs::metadata(&path).expect("ledger").len(),
                12 + (20 << 20)
            );
        }
    }
}
