//! The hashing engine of a scan: every thread keeps two files in flight and hashes them in
//! the two interleaved lanes of [`receipt_primitives::sha256x2`], taking the next path as a lane frees.
//!
//! One SHA-256 stream leaves most of a core's SHA unit idle (its rounds are latency-bound),
//! so two streams per thread hash close to twice as many bytes per CPU-second. Paths are
//! handed out one at a time from a shared counter, those the caller knows to be large
//! first (largest first), then the others in order: a file's cost is otherwise unknown
//! until it is opened, and a large file handed out last keeps one core hashing it alone
//! after the others ran out of work. A lane reads a file in chunks into its buffer, or
//! hashes a large one straight from a memory mapping ([`super::mapped`]).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicUsize, Ordering};

use receipt_primitives::digest::Digest;
use receipt_primitives::sha256x2::{Lane, update2};

use super::mapped::{self, Mapped};

/// Bytes read per lane at a time: most source files take one read, and both lanes' buffers
/// stay in a core's L2 cache while SHA-256 consumes them.
const CHUNK: usize = 128 * 1024;

/// A regular file to hash, as a task handed to a lane.
pub(super) struct Job {
    pub(super) file: File,
    /// Size by `fstat` when opened: a short read reaching it is the end of the file.
    pub(super) expected: u64,
}

/// What preparing a path gives: a result without reading content (a cache hit, a symlink,
/// a vanished path, an error), or a file to hash and what to remember about it.
pub(super) enum Step<T, E, M> {
    Done(Result<T, E>),
    Hash(Job, M),
}

impl<T, E, M> Step<T, E, M> {
    /// The same step with its error mapped.
    pub(super) fn map_err<F>(self, f: impl FnOnce(E) -> F) -> Step<T, F, M> {
        match self {
            Step::Done(r) => Step::Done(r.map_err(f)),
            Step::Hash(job, meta) => Step::Hash(job, meta),
        }
    }
}

/// One lane of a thread: the file being hashed, its SHA-256 state and unread bytes, which
/// are in `buf` or, for a large file, in its mapping.
struct Slot<M> {
    buf: Vec<u8>,
    map: Option<Mapped>,
    start: usize,
    end: usize,
    job: Option<(usize, Job, M)>,
    lane: Lane,
    eof: bool,
}

impl<M> Slot<M> {
    fn new() -> Self {
        Slot {
            buf: vec![0; CHUNK],
            map: None,
            start: 0,
            end: 0,
            job: None,
            lane: Lane::new(),
            eof: false,
        }
    }

    fn begin(&mut self, index: usize, job: Job, meta: M) {
        self.lane.reset();
        self.map = mapped::map_for_hashing(&job.file, job.expected);
        self.start = 0;
        self.end = self.map.as_ref().map_or(0, |m| m.bytes().len());
        self.eof = false;
        self.job = Some((index, job, meta));
    }

    fn available(&self) -> usize {
        self.end - self.start
    }

    /// The lane and its unhashed bytes.
    fn unhashed(&mut self) -> (&mut Lane, &[u8]) {
        let bytes = match &self.map {
            Some(m) => &m.bytes()[self.start..self.end],
            None => &self.buf[self.start..self.end],
        };
        (&mut self.lane, bytes)
    }

    /// Reads the next chunk when the buffer is used up.
    fn fill(&mut self) -> io::Result<()> {
        let Some((_, job, _)) = &mut self.job else {
            return Ok(());
        };
        if self.eof || self.start < self.end {
            return Ok(());
        }
        if let Some(map) = self.map.take() {
            // The mapping is hashed: read on after it, in case the file grew; or, if the file
            // turned out shorter than mapped, hash it again from the start by reading. (A
            // cut within the mapping's last page faults nowhere: its tail just reads as
            // zeros, so the length is checked too.)
            let mapped_len = map.bytes().len() as u64;
            let from = if map.truncated() || job.file.metadata()?.len() < mapped_len {
                self.lane.reset();
                0
            } else {
                mapped_len
            };
            drop(map);
            job.file.seek(SeekFrom::Start(from))?;
        }
        let n = loop {
            match job.file.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        self.start = 0;
        self.end = n;
        // A short read of a regular file that reached its stat size is its end; this saves
        // the extra `read` returning 0 for every small file.
        let read_so_far = self.lane.message_len() + n as u64;
        self.eof = n == 0 || (n < CHUNK && read_so_far >= job.expected);
        Ok(())
    }

    /// The digest and length of a file whose bytes are all hashed.
    fn finish(&mut self) -> Option<(usize, M, Digest, u64)> {
        if self.eof && self.start == self.end {
            let (index, _, meta) = self.job.take()?;
            let len = self.lane.message_len();
            return Some((index, meta, Digest(self.lane.finalize_reset()), len));
        }
        None
    }
}

/// Runs `prepare` for every index below `n` on every thread of the current rayon pool and
/// hashes the files it returns; `hashed` turns a file's digest and length (or the error
/// reading it) into a result. The indices in `first` (distinct, each below `n`) are handed
/// out before all others, in that order. Returns the results in index order.
pub(super) fn run<T: Send, E: Send, M>(
    n: usize,
    first: &[usize],
    prepare: impl Fn(usize) -> Step<T, E, M> + Sync,
    hashed: impl Fn(usize, M, io::Result<(Digest, u64)>) -> Result<T, E> + Sync,
) -> Vec<Result<T, E>> {
    let order = hand_out_order(n, first);
    let next = AtomicUsize::new(0);
    let per_thread = rayon::broadcast(|_| worker(&next, &order, &prepare, &hashed));
    let mut results: Vec<Option<Result<T, E>>> = (0..n).map(|_| None).collect();
    for (i, r) in per_thread.into_iter().flatten() {
        // The shared counter hands each index to exactly one thread, once.
        assert!(
            results[i].replace(r).is_none(),
            "index {i} handed out twice"
        );
    }
    results
        .into_iter()
        .map(|r| r.expect("every index is handed out"))
        .collect()
}

/// `first`, then every other index below `n` in ascending order.
fn hand_out_order(n: usize, first: &[usize]) -> Vec<usize> {
    let mut taken = vec![false; n];
    for &i in first {
        assert!(!taken[i], "index {i} is listed twice");
        taken[i] = true;
    }
    let rest = (0..n).filter(|&i| !taken[i]);
    first.iter().copied().chain(rest).collect()
}

/// One thread's share of [`run`]: the indices it took, each with its result.
fn worker<T, E, M>(
    next: &AtomicUsize,
    order: &[usize],
    prepare: &impl Fn(usize) -> Step<T, E, M>,
    hashed: &impl Fn(usize, M, io::Result<(Digest, u64)>) -> Result<T, E>,
) -> Vec<(usize, Result<T, E>)> {
    let mut done = Vec::new();
    let mut put = |i: usize, r: Result<T, E>| done.push((i, r));
    let mut slots = [Slot::new(), Slot::new()];
    loop {
        // Afterwards each slot has unread bytes of a file, or is empty because no path is
        // left to hand out.
        for slot in &mut slots {
            loop {
                while slot.job.is_none() {
                    let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        break;
                    };
                    match prepare(i) {
                        Step::Done(r) => put(i, r),
                        Step::Hash(job, meta) => slot.begin(i, job, meta),
                    }
                }
                if slot.job.is_none() {
                    break;
                }
                if let Err(e) = slot.fill() {
                    let (i, _, meta) = slot.job.take().expect("fill reads only for a job");
                    put(i, hashed(i, meta, Err(e)));
                    continue;
                }
                match slot.finish() {
                    Some((i, meta, digest, len)) => put(i, hashed(i, meta, Ok((digest, len)))),
                    None => break,
                }
            }
        }
        let [a, b] = &mut slots;
        match (a.available(), b.available()) {
            (0, 0) => return done,
            (x, 0) => {
                let (lane, bytes) = a.unhashed();
                lane.update(bytes);
                a.start += x;
            }
            (0, y) => {
                let (lane, bytes) = b.unhashed();
                lane.update(bytes);
                b.start += y;
            }
            (x, y) => {
                // Equal lengths interleave fully; the longer lane keeps its rest for the
                // other lane's next chunk or file.
                let k = x.min(y);
                let ((lane_a, bytes_a), (lane_b, bytes_b)) = (a.unhashed(), b.unhashed());
                update2(lane_a, &bytes_a[..k], lane_b, &bytes_b[..k]);
                a.start += k;
                b.start += k;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, File};
    use std::io;

    use super::{Job, Step, hand_out_order, run};
    use receipt_primitives::digest::Digest;

    fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    }

    /// Hashes each file with the lanes, telling them the given expected size (what `fstat`
    /// said when the file was opened).
    fn hash_with_expected(files: &[(&std::path::Path, u64)]) -> Vec<(Digest, u64)> {
        run(
            files.len(),
            &[],
            |i| -> Step<(Digest, u64), io::Error, ()> {
                let (path, expected) = files[i];
                Step::Hash(
                    Job {
                        file: File::open(path).unwrap(),
                        expected,
                    },
                    (),
                )
            },
            |_, (), read| read,
        )
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
    }

    /// A file that shrank after its size was taken: mapped at the old size, the bytes past
    /// its end fault; the lane hashes it again by reading and gets its actual content.
    #[test]
    fn a_file_shorter_than_its_stat_size_is_hashed_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let shrunk = dir.path().join("shrunk");
        let small = dir.path().join("small");
        let content = pseudo_random((2 << 20) + 333, 7);
        fs::write(&shrunk, &content).unwrap();
        fs::write(&small, b"beside it").unwrap();
        for expected in [3 << 20, (2 << 20) + 334, (5 << 20) + 1] {
            let got = hash_with_expected(&[(&shrunk, expected), (&small, 9)]);
            assert_eq!(got[0], (Digest::of(&content), content.len() as u64));
            assert_eq!(got[1], (Digest::of(b"beside it"), 9));
        }
    }

    /// A file that grew after its size was taken: the mapping covers the old size and the
    /// lane reads on to the end.
    #[test]
    fn a_file_longer_than_its_stat_size_is_hashed_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let grown = dir.path().join("grown");
        let content = pseudo_random((3 << 20) + 5, 11);
        fs::write(&grown, &content).unwrap();
        for expected in [1 << 20, (3 << 20) + 4] {
            let got = hash_with_expected(&[(&grown, expected)]);
            assert_eq!(got[0], (Digest::of(&content), content.len() as u64));
        }
    }

    #[test]
    fn the_listed_indices_come_first_then_the_rest_in_order() {
        assert_eq!(hand_out_order(6, &[4, 1]), [4, 1, 0, 2, 3, 5]);
        assert_eq!(hand_out_order(3, &[]), [0, 1, 2]);
        assert_eq!(hand_out_order(0, &[]), [0usize; 0]);
    }

    #[test]
    #[should_panic(expected = "listed twice")]
    fn an_index_listed_twice_is_refused() {
        hand_out_order(3, &[1, 1]);
    }
}
