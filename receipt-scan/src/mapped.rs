//! Memory-mapped reading of large files for the hashing lanes, where a file truncated while
//! it is mapped reads as zeros past its new end and is flagged for a re-read, instead of
//! killing the process with `SIGBUS`.
//!
//! Reading a file copies it from the page cache into a buffer; hashing a mapping reads the
//! page cache in place. On a cold scan that copy is a tenth of the CPU time, most of it in
//! the few large files, so files of at least [`MAP_AT_LEAST`] bytes are mapped (smaller
//! ones are read: unmapping costs more than copying them).
//!
//! A mapping outlives the file's length if another process truncates the file, and touching
//! a page past the new end raises `SIGBUS`. Git and `b3sum` accept that crash. Here a
//! program opts in by calling [`crate::install_sigbus_guard`] (the `cargo-receipt` and
//! `lake-receipt` binaries do, first thing in `main`; a library never installs a signal
//! handler behind its caller's back): that installs, once, a process-wide `SIGBUS` handler
//! that recognises a fault inside a mapping of the faulting thread, maps zero pages over the rest of that mapping, flags it and returns:
//! the hash goes on over zeros and the lane, seeing the flag, hashes the file again by
//! reading it. A fault anywhere else goes to the handler that was installed before (Rust's
//! stack-overflow handler, say) or to the default action, so it still ends the process.
//! Without the handler nothing is mapped: every file is read.

use std::fs::File;

/// Files of at least this many bytes are mapped rather than read.
pub(super) const MAP_AT_LEAST: u64 = 1 << 20;

pub(super) use imp::{Mapped, install};

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use std::cell::Cell;
    use std::ffi::c_void;
    use std::fs::File;
    use std::os::fd::AsRawFd;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Mappings a thread can hold at once: one per hashing lane.
    const SLOTS: usize = 2;

    /// One registered mapping of the current thread: its page-rounded address range (empty
    /// when the slot is free) and whether a fault was caught in it.
    struct Guard {
        start: Cell<usize>,
        end: Cell<usize>,
        faulted: Cell<bool>,
    }

    thread_local! {
        // Constant-initialised and without a destructor, so the signal handler reads it
        // without any lazy initialisation.
        static GUARDS: [Guard; SLOTS] = const {
            [const {
                Guard {
                    start: Cell::new(0),
                    end: Cell::new(0),
                    faulted: Cell::new(false),
                }
            }; SLOTS]
        };
    }

    /// The page size, set when the handler is installed.
    static PAGE: AtomicUsize = AtomicUsize::new(0);

    /// The `SIGBUS` action that was in place before ours, for faults that are not ours.
    /// `None` when installing failed, in which case nothing is mapped.
    static PREVIOUS: OnceLock<Option<libc::sigaction>> = OnceLock::new();

    /// Whether the handler is installed, so mapping is safe to use.
    fn installed() -> bool {
        matches!(PREVIOUS.get(), Some(Some(_)))
    }

    /// Installs the handler once; whether it is installed.
    pub(crate) fn install() -> bool {
        PREVIOUS
            .get_or_init(|| {
                // SAFETY: plain libc calls with valid, zero-initialised out-parameters; the
                // handler only touches constant-initialised thread-locals and atomics.
                unsafe {
                    let page = libc::sysconf(libc::_SC_PAGESIZE);
                    if page <= 0 {
                        return None;
                    }
                    PAGE.store(page as usize, Ordering::Relaxed);
                    let mut previous: libc::sigaction = std::mem::zeroed();
                    let mut ours: libc::sigaction = std::mem::zeroed();
                    ours.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
                    ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                    libc::sigemptyset(&mut ours.sa_mask);
                    if libc::sigaction(libc::SIGBUS, &ours, &mut previous) != 0 {
                        return None;
                    }
                    Some(previous)
                }
            })
            .is_some()
    }

    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
        // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
        let addr = unsafe { (*info).si_addr() } as usize;
        let page = PAGE.load(Ordering::Relaxed);
        let caught = GUARDS.with(|guards| {
            let Some(g) = guards
                .iter()
                .find(|g| g.start.get() <= addr && addr < g.end.get())
            else {
                return false;
            };
            let from = addr & !(page - 1);
            // SAFETY: [from, end) lies inside a mapping this thread owns and registered;
            // replacing it with anonymous zero pages keeps the address range valid until
            // the owner unmaps it.
            let zeros = unsafe {
                libc::mmap(
                    from as *mut c_void,
                    g.end.get() - from,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if zeros == libc::MAP_FAILED {
                return false;
            }
            g.faulted.set(true);
            true
        });
        if !caught {
            // SAFETY: forwards the signal as the kernel delivered it.
            unsafe { pass_on(sig, info, ctx) }
        }
    }

    /// Hands a fault that is not ours to the action installed before ours; a default (or
    /// ignored) action is restored, so the faulting instruction, run again on return,
    /// takes it.
    unsafe fn pass_on(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
        let Some(Some(previous)) = PREVIOUS.get() else {
            return;
        };
        let handler = previous.sa_sigaction;
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // SAFETY: a valid action restoring the default.
            unsafe {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &default, std::ptr::null_mut());
            }
        } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous action registered this function with SA_SIGINFO.
            unsafe {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
                    std::mem::transmute(handler);
                f(sig, info, ctx);
            }
        } else {
            // SAFETY: the previous action registered this one-argument function.
            unsafe {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
                f(sig);
            }
        }
    }

    /// A read-only mapping of a file's first `len` bytes, guarded against truncation.
    #[derive(Debug)]
    pub(crate) struct Mapped {
        ptr: *mut c_void,
        len: usize,
        slot: usize,
    }

    impl Mapped {
        /// Maps `len` bytes of `file`; `None` when the file should be read instead (no
        /// free guard slot on this thread, the handler or the mapping unavailable).
        pub(crate) fn of(file: &File, len: u64) -> Option<Mapped> {
            let len = usize::try_from(len).ok().filter(|&l| l > 0)?;
            if !installed() {
                return None;
            }
            let slot = GUARDS.with(|g| g.iter().position(|g| g.end.get() == 0))?;
            // SAFETY: a fresh shared read-only mapping of an open file; it is unmapped in
            // Drop and never written.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    file.as_raw_fd(),
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return None;
            }
            let page = PAGE.load(Ordering::Relaxed);
            let end = (ptr as usize + len).next_multiple_of(page);
            GUARDS.with(|g| {
                g[slot].faulted.set(false);
                g[slot].start.set(ptr as usize);
                g[slot].end.set(end);
            });
            // SAFETY: advice on our own mapping; a failure only loses the read-ahead hint.
            unsafe { libc::madvise(ptr, len, libc::MADV_SEQUENTIAL) };
            Some(Mapped { ptr, len, slot })
        }

        /// The mapped bytes. Past a truncation they read as zeros and [`Self::truncated`]
        /// turns true.
        pub(crate) fn bytes(&self) -> &[u8] {
            // SAFETY: `len` bytes mapped readable at `ptr` until Drop. Another process may
            // change the file under the mapping, as under any read; the lane then hashes
            // some mix of old and new bytes, which the file's changed stat key makes the
            // next scan read again.
            unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
        }

        /// Whether the file turned out shorter than mapped while it was read.
        pub(crate) fn truncated(&self) -> bool {
            GUARDS.with(|g| g[self.slot].faulted.get())
        }
    }

    impl Drop for Mapped {
        fn drop(&mut self) {
            GUARDS.with(|g| {
                g[self.slot].start.set(0);
                g[self.slot].end.set(0);
            });
            // SAFETY: unmaps exactly the mapping made in `of`, no longer borrowed.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    use std::fs::File;

    /// Never made on this platform: every file is read.
    #[derive(Debug)]
    pub(crate) struct Mapped(std::convert::Infallible);

    /// No handler on this platform, so nothing is ever mapped.
    pub(crate) fn install() -> bool {
        false
    }

    impl Mapped {
        pub(crate) fn of(_: &File, _: u64) -> Option<Mapped> {
            None
        }

        pub(crate) fn bytes(&self) -> &[u8] {
            match self.0 {}
        }

        pub(crate) fn truncated(&self) -> bool {
            match self.0 {}
        }
    }
}

/// Maps `file` for hashing when it is large enough to gain by it.
pub(super) fn map_for_hashing(file: &File, len: u64) -> Option<Mapped> {
    if len < MAP_AT_LEAST {
        return None;
    }
    Mapped::of(file, len)
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use std::fs::{self, File, OpenOptions};
    use std::os::fd::AsRawFd;

    use super::{MAP_AT_LEAST, Mapped, install, map_for_hashing};

    const MIB: usize = 1 << 20;

    fn file_of(len: usize) -> (tempfile::TempDir, File) {
        assert!(install(), "the SIGBUS guard installs");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8 + 1).collect();
        fs::write(&path, bytes).unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        (dir, file)
    }

    #[test]
    fn only_large_files_are_mapped() {
        let (_dir, file) = file_of(MIB);
        assert!(map_for_hashing(&file, MAP_AT_LEAST - 1).is_none());
        let m = map_for_hashing(&file, MAP_AT_LEAST).expect("mapped");
        assert_eq!(m.bytes().len() as u64, MAP_AT_LEAST);
        assert!(m.bytes().iter().all(|&b| b != 0));
        assert!(!m.truncated());
    }

    /// The file is cut to 1 MiB + 5 bytes while 3 MiB of it are mapped: reading the mapping
    /// does not kill the process; the bytes past the cut's page read as zeros, and the
    /// mapping says it was truncated. A second mapping on the same thread starts clean.
    #[test]
    fn a_truncated_mapping_reads_zeros_and_is_flagged_instead_of_faulting() {
        let (_dir, file) = file_of(3 * MIB);
        let m = Mapped::of(&file, 3 * MIB as u64).expect("mapped");
        file.set_len(MIB as u64 + 5).unwrap();
        let bytes = m.bytes();
        assert!(bytes[..MIB + 5].iter().all(|&b| b != 0));
        assert!(bytes[MIB + 5..].iter().all(|&b| b == 0));
        assert_eq!(bytes.len(), 3 * MIB);
        assert!(m.truncated());
        drop(m);

        let (_dir2, other) = file_of(2 * MIB);
        let m2 = Mapped::of(&other, 2 * MIB as u64).expect("mapped");
        assert!(m2.bytes().iter().all(|&b| b != 0));
        assert!(!m2.truncated());
    }

    /// Two mappings per thread at most, one per lane; a third falls back to reading.
    #[test]
    fn a_thread_holds_two_guarded_mappings_at_most() {
        let (_dir, file) = file_of(MIB);
        let a = Mapped::of(&file, MIB as u64).expect("first");
        let b = Mapped::of(&file, MIB as u64).expect("second");
        assert!(Mapped::of(&file, MIB as u64).is_none());
        drop(a);
        let c = Mapped::of(&file, MIB as u64).expect("a freed slot is reused");
        drop((b, c));
    }

    /// A `SIGBUS` outside the guarded mappings still ends the process: run in a child, this
    /// test's body installs the handler, then touches a truncated mapping of its own.
    #[test]
    fn a_fault_outside_guarded_mappings_still_kills_with_sigbus() {
        const CHILD: &str = "RECEIPT_TEST_FOREIGN_SIGBUS";
        if std::env::var_os(CHILD).is_some() {
            let (_dir, file) = file_of(2 * MIB);
            assert!(install());
            drop(Mapped::of(&file, MIB as u64).expect("mapped"));
            // SAFETY: a mapping of our own, deliberately read past the file's end.
            unsafe {
                let p = libc::mmap(
                    std::ptr::null_mut(),
                    2 * MIB,
                    libc::PROT_READ,
                    libc::MAP_SHARED,
                    file.as_raw_fd(),
                    0,
                );
                assert_ne!(p, libc::MAP_FAILED);
                file.set_len(0).unwrap();
                let v = std::ptr::read_volatile(p.cast::<u8>().add(MIB));
                eprintln!("read {v} past the end without a fault");
            }
            std::process::exit(3);
        }
        use std::os::unix::process::ExitStatusExt;
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "mapped::tests::a_fault_outside_guarded_mappings_still_kills_with_sigbus",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.signal(), Some(libc::SIGBUS), "{status:?}");
    }
}
