//! Resource measurements at stage boundaries: thread CPU time, peak RSS, process I/O and
//! allocated bytes, each either a number or a recorded reason why it is unavailable.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// A measured quantity, or why it could not be measured. Serialized as a JSON number or as
/// `{"unavailable":"<reason>"}`; an unavailable value is never written as 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Measure {
    /// The measured value.
    Value(u64),
    /// The value could not be measured here.
    Unavailable {
        /// One sentence saying why.
        unavailable: String,
    },
}

impl Measure {
    /// An unavailable value with its reason.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Measure::Unavailable {
            unavailable: reason.into(),
        }
    }

    /// The value, if measured.
    pub fn value(&self) -> Option<u64> {
        match self {
            Measure::Value(v) => Some(*v),
            Measure::Unavailable { .. } => None,
        }
    }

    /// `self - start` when both were measured (saturating: counters never run backwards,
    /// but a clock source may be coarse).
    pub fn since(&self, start: &Measure) -> Measure {
        match (self, start) {
            (Measure::Value(a), Measure::Value(b)) => Measure::Value(a.saturating_sub(*b)),
            (Measure::Unavailable { .. }, _) => self.clone(),
            (_, Measure::Unavailable { .. }) => start.clone(),
        }
    }
}

/// CPU time consumed by the calling thread, in nanoseconds.
pub fn thread_cpu_ns() -> Measure {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID, "thread CPU clock")
}

/// CPU time consumed by the whole process, in nanoseconds.
pub fn process_cpu_ns() -> Measure {
    clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID, "process CPU clock")
}

#[cfg(unix)]
fn clock_ns(clock: libc::clockid_t, what: &str) -> Measure {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Measure::unavailable(format!("clock_gettime of the {what} failed"));
    }
    let ns = u64::try_from(ts.tv_sec)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000_000))
        .and_then(|s| s.checked_add(u64::try_from(ts.tv_nsec).ok()?));
    ns.map_or_else(
        || Measure::unavailable(format!("the {what} reported an out-of-range time")),
        Measure::Value,
    )
}

/// The `getrusage` target for the peak RSS. On Linux `ru_maxrss` is the process's peak for
/// every target, and `RUSAGE_THREAD` skips summing the CPU time of every thread (which takes
/// a scheduler lock per thread), the costliest part of `RUSAGE_SELF`.
#[cfg(target_os = "linux")]
const RUSAGE_PEAK: libc::c_int = libc::RUSAGE_THREAD;
#[cfg(not(target_os = "linux"))]
const RUSAGE_PEAK: libc::c_int = libc::RUSAGE_SELF;

/// Peak resident set size of the process so far, in KiB (`getrusage` `ru_maxrss`).
pub fn peak_rss_kb() -> Measure {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage for the duration of the call.
    let rc = unsafe { libc::getrusage(RUSAGE_PEAK, &mut ru) };
    if rc != 0 {
        return Measure::unavailable("getrusage failed");
    }
    // Linux reports ru_maxrss in KiB; macOS in bytes.
    let raw = u64::try_from(ru.ru_maxrss).unwrap_or(0);
    if raw == 0 {
        return Measure::unavailable("getrusage reported no peak resident set size");
    }
    if cfg!(target_os = "macos") {
        Measure::Value(raw / 1024)
    } else {
        Measure::Value(raw)
    }
}

/// Bytes read and written by the process so far (`read_bytes`/`write_bytes` of
/// `/proc/self/io`: storage I/O, not page-cache hits).
pub fn process_io() -> (Measure, Measure) {
    match std::fs::read_to_string("/proc/self/io") {
        Ok(text) => {
            let field = |name: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map_or_else(
                        || Measure::unavailable(format!("/proc/self/io has no {name} field")),
                        Measure::Value,
                    )
            };
            (field("read_bytes"), field("write_bytes"))
        }
        Err(e) => {
            let m = Measure::unavailable(format!("/proc/self/io is not readable: {e}"));
            (m.clone(), m)
        }
    }
}

/// Reason recorded when I/O sampling was not requested.
pub const IO_DISABLED: &str = "I/O sampling is off";

/// Reason recorded when the counting allocator is not the global allocator.
pub const ALLOC_NOT_INSTALLED: &str = "CountingAlloc is not the global allocator";

static ALLOC_ACTIVE: AtomicBool = AtomicBool::new(false);
static ALLOC_TOTAL: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static THREAD_ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

/// Called by the counting allocator on every allocation of `size` bytes.
pub(crate) fn note_alloc(size: usize) {
    let size = size as u64;
    if !ALLOC_ACTIVE.load(Ordering::Relaxed) {
        ALLOC_ACTIVE.store(true, Ordering::Relaxed);
    }
    ALLOC_TOTAL.fetch_add(size, Ordering::Relaxed);
    // A thread being torn down has no thread-locals left; its bytes still count in the total.
    let _ = THREAD_ALLOCATED.try_with(|c| c.set(c.get().wrapping_add(size)));
}

/// Bytes allocated so far by the calling thread, when the counting allocator is installed.
pub fn thread_allocated() -> Measure {
    thread_allocated_bytes().map_or_else(Measure::unavailable, Measure::Value)
}

/// As [`thread_allocated`], with the reason as a static string: the layer reads this at
/// every stage entry and exit, and building a `Measure` for an unavailable value would
/// allocate each time when the counting allocator is not installed.
pub(crate) fn thread_allocated_bytes() -> Result<u64, &'static str> {
    if !ALLOC_ACTIVE.load(Ordering::Relaxed) {
        return Err(ALLOC_NOT_INSTALLED);
    }
    THREAD_ALLOCATED
        .try_with(Cell::get)
        .map_err(|_| "thread-local allocation counter is gone")
}

/// Bytes allocated so far by the whole process, when the counting allocator is installed.
pub fn process_allocated() -> Measure {
    if !ALLOC_ACTIVE.load(Ordering::Relaxed) {
        return Measure::unavailable(ALLOC_NOT_INSTALLED);
    }
    Measure::Value(ALLOC_TOTAL.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_counting_allocator_both_readings_give_its_reason() {
        // Unit tests run on the system allocator, so nothing has been counted.
        assert_eq!(thread_allocated_bytes(), Err(ALLOC_NOT_INSTALLED));
        assert_eq!(
            thread_allocated(),
            Measure::unavailable(ALLOC_NOT_INSTALLED)
        );
    }

    #[test]
    fn peak_rss_is_the_whole_process_peak() {
        let before = peak_rss_kb().value().unwrap();
        // 64 MiB touched on another thread must show in this thread's reading.
        let grown = std::thread::spawn(|| {
            let v = vec![1u8; 64 << 20];
            std::hint::black_box(&v);
            v.iter().map(|&b| u64::from(b)).sum::<u64>()
        })
        .join()
        .unwrap();
        assert_eq!(grown, 64 << 20);
        let after = peak_rss_kb().value().unwrap();
        assert!(
            after >= before.max(64 << 10),
            "{before} KiB, then {after} KiB"
        );
    }
}
