//! The hashing engine of a scan: every thread keeps two files in flight and hashes them in
//! the two interleaved lanes of [`crate::sha256x2`], taking the next path as a lane frees.
//!
//! One SHA-256 stream leaves most of a core's SHA unit idle (its rounds are latency-bound),
//! so two streams per thread hash close to twice as many bytes per CPU-second. Paths are
//! handed out one at a time from a shared counter, those the caller knows to be large
//! first (largest first), then the others in order: a file's cost is otherwise unknown
//! until it is opened, and a large file handed out last keeps one core hashing it alone
//! after the others ran out of work.

use std::fs::File;
use std::io::{self, Read};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::digest::Digest;
use crate::sha256x2::{Lane, update2};

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

/// One lane of a thread: the file being hashed, its SHA-256 state and unread bytes.
struct Slot<M> {
    buf: Vec<u8>,
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
            start: 0,
            end: 0,
            job: None,
            lane: Lane::new(),
            eof: false,
        }
    }

    fn begin(&mut self, index: usize, job: Job, meta: M) {
        self.job = Some((index, job, meta));
        self.lane.reset();
        self.start = 0;
        self.end = 0;
        self.eof = false;
    }

    fn available(&self) -> usize {
        self.end - self.start
    }

    /// Reads the next chunk when the buffer is used up.
    fn fill(&mut self) -> io::Result<()> {
        let Some((_, job, _)) = &mut self.job else {
            return Ok(());
        };
        if self.eof || self.start < self.end {
            return Ok(());
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
pub(super) fn run<T: Send + Sync, E: Send + Sync, M>(
    n: usize,
    first: &[usize],
    prepare: impl Fn(usize) -> Step<T, E, M> + Sync,
    hashed: impl Fn(usize, M, io::Result<(Digest, u64)>) -> Result<T, E> + Sync,
) -> Vec<Result<T, E>> {
    let order = hand_out_order(n, first);
    let next = AtomicUsize::new(0);
    let results: Vec<OnceLock<Result<T, E>>> = (0..n).map(|_| OnceLock::new()).collect();
    let put = |i: usize, r: Result<T, E>| {
        // The shared counter hands each index to exactly one thread, once.
        assert!(results[i].set(r).is_ok(), "index {i} handed out twice");
    };
    rayon::broadcast(|_| worker(&next, &order, &prepare, &hashed, &put));
    results
        .into_iter()
        .map(|r| r.into_inner().expect("every index is handed out"))
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

fn worker<T, E, M>(
    next: &AtomicUsize,
    order: &[usize],
    prepare: &impl Fn(usize) -> Step<T, E, M>,
    hashed: &impl Fn(usize, M, io::Result<(Digest, u64)>) -> Result<T, E>,
    put: &impl Fn(usize, Result<T, E>),
) {
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
            (0, 0) => return,
            (x, 0) => {
                a.lane.update(&a.buf[a.start..a.end]);
                a.start += x;
            }
            (0, y) => {
                b.lane.update(&b.buf[b.start..b.end]);
                b.start += y;
            }
            (x, y) => {
                // Equal lengths interleave fully; the longer lane keeps its rest for the
                // other lane's next chunk or file.
                let k = x.min(y);
                update2(
                    &mut a.lane,
                    &a.buf[a.start..a.start + k],
                    &mut b.lane,
                    &b.buf[b.start..b.start + k],
                );
                a.start += k;
                b.start += k;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::hand_out_order;

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
