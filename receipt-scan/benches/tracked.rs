//! Tracked-set scan speed against the baselines named in `docs/SPEC.md`: a generated git
//! tree of 50,000 files / 1 GiB, hashed cold (no digest cache) and warm (cache present,
//! nothing changed) up to its Merkle root, next to `git ls-files | xargs sha256sum`, `git status` and the
//! `openssl speed` hashing limit, all measured in the same run.
//!
//! Run: `cargo bench -p receipt-scan --bench tracked`. Environment knobs:
//! `RECEIPT_BENCH_DIR` (where the tree is generated; default under cargo's target tmp dir),
//! `RECEIPT_BENCH_FILES` (50000), `RECEIPT_BENCH_MIB` (1024), `RECEIPT_BENCH_REPS` (5),
//! `RECEIPT_BENCH_DROP_CACHES=1` (also time both cold contenders after dropping the page
//! cache before every repetition; needs root).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand_xoshiro::SplitMix64;
use rand_xoshiro::rand_core::{Rng as _, SeedableRng as _};
use receipt_scan::{ScanOptions, scan_with_stats};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// SplitMix64 with a fixed seed, so the tree is the same on every machine.
struct Rng(SplitMix64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }
    fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }
}

/// File sizes: 11 in 12 small (0-8 KiB), 1 in 12 medium (16-128 KiB), and ten large files that take
/// the rest of the byte budget, like a source tree with a few vendored blobs.
fn sizes(files: usize, total: u64, rng: &mut Rng) -> Vec<u64> {
    let large = 10.min(files);
    let mut out = Vec::with_capacity(files);
    for i in 0..files - large {
        out.push(if i % 12 == 0 {
            16 * 1024 + rng.below(112 * 1024)
        } else {
            rng.below(8 * 1024)
        });
    }
    let used: u64 = out.iter().sum();
    let rest = total.saturating_sub(used);
    for i in 0..large as u64 {
        out.push(rest / large as u64 + u64::from(i < rest % large as u64));
    }
    out
}

fn path_of(i: usize) -> String {
    format!("src/d{:03}/s{}/f{i:05}.rs", i / 250, (i / 25) % 10)
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("spawn");
    assert!(out.status.success(), "{cmd:?} failed: {out:?}");
    out
}

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C")
        .arg(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.invalid")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.invalid");
    c
}

/// Generates the tree and commits it, unless a tree with the same parameters exists.
fn generate(dir: &Path, files: usize, total: u64) {
    let marker = dir.join(".git/receipt-bench-tree");
    let want = format!("v1 files={files} bytes={total}\n");
    if fs::read_to_string(&marker).is_ok_and(|m| m == want) {
        return;
    }
    eprintln!(
        "generating {files} files / {total} bytes in {}",
        dir.display()
    );
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap();
    }
    fs::create_dir_all(dir).unwrap();
    let mut rng = Rng(SplitMix64::seed_from_u64(0x7265_6365_6970_7421));
    let sizes = sizes(files, total, &mut rng);
    let mut buf = vec![0u8; 1 << 20];
    for (i, &size) in sizes.iter().enumerate() {
        let p = dir.join(path_of(i));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut f = fs::File::create(&p).unwrap();
        let mut left = size;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            rng.fill(&mut buf[..n]);
            f.write_all(&buf[..n]).unwrap();
            left -= n as u64;
        }
        if i % 50 == 0 {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    eprintln!("committing it (git add of {total} bytes takes a while)");
    run(git(dir).args(["init", "-q"]));
    // A background `git gc --auto` after the commit would compete with the measurements.
    run(git(dir).args(["config", "gc.auto", "0"]));
    run(git(dir).args(["-c", "core.compression=0", "add", "-A"]));
    run(git(dir).args(["commit", "-q", "-m", "generated tree"]));
    fs::write(marker, want).unwrap();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// User + system CPU seconds of this process (all threads) and of its waited-for children.
fn cpu_seconds() -> f64 {
    let of = |who| {
        // SAFETY: `rusage` is plain integers, for which all-zero bytes are a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage only writes the struct it is given.
        let rc = unsafe { libc::getrusage(who, &mut ru) };
        assert_eq!(rc, 0, "getrusage failed");
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    };
    of(libc::RUSAGE_SELF) + of(libc::RUSAGE_CHILDREN)
}

/// One contender: a name, what to do before each timed run, and the run itself.
struct Contender<'a> {
    name: &'static str,
    before: Box<dyn FnMut() + 'a>,
    run: Box<dyn FnMut() + 'a>,
    wall: Vec<f64>,
    cpu: Vec<f64>,
}

impl<'a> Contender<'a> {
    fn new(name: &'static str, run: impl FnMut() + 'a) -> Self {
        Contender {
            name,
            before: Box::new(|| {}),
            run: Box::new(run),
            wall: Vec::new(),
            cpu: Vec::new(),
        }
    }
    fn before(mut self, f: impl FnMut() + 'a) -> Self {
        self.before = Box::new(f);
        self
    }
    fn median(&self) -> f64 {
        median(self.wall.clone())
    }
    fn median_cpu(&self) -> f64 {
        median(self.cpu.clone())
    }
}

/// Runs the contenders round-robin, `reps` rounds, so that all of them see the same
/// background load (the machine may be shared).
fn measure(reps: usize, group: &mut [Contender<'_>]) {
    for _ in 0..reps {
        for c in group.iter_mut() {
            (c.before)();
            let cpu = cpu_seconds();
            let t = Instant::now();
            (c.run)();
            c.wall.push(t.elapsed().as_secs_f64());
            c.cpu.push(cpu_seconds() - cpu);
        }
    }
}

fn shell(dir: &Path, script: &str) -> impl FnMut() + use<> {
    let dir = dir.to_path_buf();
    let script = script.to_string();
    move || {
        let status = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(&dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
    }
}

/// SHA-256 throughput of `openssl speed -evp sha256` on 16 KiB blocks over `seconds`,
/// bytes/s: one process, or with `processes` the sum of that many run at once (`-multi`).
fn openssl_rate(processes: Option<usize>, seconds: u32) -> Option<f64> {
    let mut args: Vec<String> = ["speed", "-evp", "sha256", "-bytes", "16384", "-seconds"]
        .map(String::from)
        .to_vec();
    args.push(seconds.to_string());
    if let Some(n) = processes {
        args.extend(["-multi".to_string(), n.to_string()]);
    }
    let out = Command::new("openssl")
        .args(&args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.starts_with("sha256"))?;
    let k: f64 = line
        .split_whitespace()
        .last()?
        .strip_suffix('k')?
        .parse()
        .ok()?;
    Some(k * 1000.0)
}

/// Single-core throughput of the `sha2` crate as this crate uses it, bytes/s, averaged
/// over three seconds as `openssl speed -seconds 3` does.
fn sha2_rate() -> f64 {
    let mut buf = vec![0u8; 16 << 20];
    Rng(SplitMix64::seed_from_u64(1)).fill(&mut buf);
    let t = Instant::now();
    let mut hashed = 0u64;
    while t.elapsed() < Duration::from_secs(3) {
        std::hint::black_box(receipt_primitives::Digest::of(&buf));
        hashed += buf.len() as u64;
    }
    hashed as f64 / t.elapsed().as_secs_f64()
}

/// Lists the tracked set with git and reads every byte of it on all cores as the scan does
/// (open without following links, `fstat`, 128 KiB reads), hashing nothing: the
/// file-system share of a cold scan, for reference. Returns the bytes read.
fn read_only(root: &Path) -> u64 {
    use rustix::fs::{Mode, OFlags};
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let out = run(git(root).args([
        "ls-files",
        "-z",
        "--cached",
        "--others",
        "--exclude-standard",
    ]));
    let paths: Vec<&[u8]> = out
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .collect();
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let dir = rustix::fs::open(root, dir_flags, Mode::empty()).unwrap();
    let next = AtomicUsize::new(0);
    let total = AtomicU64::new(0);
    rayon::broadcast(|_| {
        let mut buf = vec![0u8; 128 * 1024];
        let mut bytes = 0;
        while let Some(&path) = paths.get(next.fetch_add(1, Ordering::Relaxed)) {
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(&dir, path, flags, Mode::empty()).unwrap();
            let size = rustix::fs::fstat(&fd).unwrap().st_size as u64;
            let mut got = 0;
            loop {
                let n = rustix::io::read(&fd, &mut buf).unwrap();
                got += n as u64;
                if n == 0 || (n < buf.len() && got >= size) {
                    break;
                }
            }
            bytes += got;
        }
        total.fetch_add(bytes, Ordering::Relaxed);
    });
    total.into_inner()
}

fn drop_caches() {
    let _ = Command::new("sync").status();
    if let Err(e) = fs::write("/proc/sys/vm/drop_caches", "3\n") {
        panic!("RECEIPT_BENCH_DROP_CACHES=1 but the page cache cannot be dropped: {e}");
    }
}

fn main() {
    // As the binaries do: large files are hashed from guarded memory mappings.
    assert!(receipt_scan::install_sigbus_guard());
    // `cargo bench` passes `--bench`; accept and ignore libtest-style arguments.
    let default_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tracked-bench");
    let dir = std::env::var_os("RECEIPT_BENCH_DIR").map_or(default_dir, PathBuf::from);
    let files: usize = env_or("RECEIPT_BENCH_FILES", 50_000);
    let mib: u64 = env_or("RECEIPT_BENCH_MIB", 1024);
    let reps: usize = env_or("RECEIPT_BENCH_REPS", 5);
    let drop = std::env::var("RECEIPT_BENCH_DROP_CACHES").is_ok_and(|v| v == "1");
    let tree = dir.join("tree");
    let cache = dir.join("digest-cache");
    generate(&tree, files, mib << 20);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    // Page cache and git index warm for everyone; racy index entries refreshed.
    run(git(&tree).args(["status", "-s"]).stdout(Stdio::null()));
    let _ = fs::remove_file(&cache);
    let (t, stats) = scan_with_stats(&tree, &ScanOptions::default()).unwrap();
    let bytes = stats.bytes;
    let timer = Instant::now();
    let root = t.root();
    println!(
        "tree: {} files, {bytes} bytes, root {root} (computed from the scan in {:.1} ms); {cores} cores",
        t.files.len(),
        timer.elapsed().as_secs_f64() * 1e3
    );

    // A quick loop over one scan alone, for profiling and for comparing changes.
    if let Ok(only) = std::env::var("RECEIPT_BENCH_ONLY") {
        let opts = match only.as_str() {
            "cold" => ScanOptions::default(),
            "warm" => {
                let opts = ScanOptions {
                    cache_path: Some(cache.clone()),
                    ..ScanOptions::default()
                };
                scan_with_stats(&tree, &opts).unwrap();
                std::thread::sleep(Duration::from_millis(1100));
                scan_with_stats(&tree, &opts).unwrap();
                opts
            }
            other => panic!("RECEIPT_BENCH_ONLY must be cold or warm, not {other:?}"),
        };
        let mut group = vec![Contender::new("receipt scan", || {
            let (t, s) = scan_with_stats(&tree, &opts).unwrap();
            let read = if only == "cold" { bytes } else { 0 };
            assert_eq!(s.bytes_hashed, read, "{s:?}");
            assert_eq!(t.root(), root);
        })];
        measure(reps, &mut group);
        println!(
            "{only} scan, {reps} runs: median {:.3} s wall, {:.3} s CPU",
            group[0].median(),
            group[0].median_cpu()
        );
        return;
    }

    let rate = openssl_rate(None, 3);
    // What the cores deliver together at this moment: on a shared VM it can fall short of
    // cores × the single-core rate, which the target's limit assumes.
    let together = openssl_rate(Some(cores), 3);
    let own = sha2_rate();
    match rate {
        Some(r) => println!(
            "sha256 single core: openssl speed -evp sha256 (16 KiB blocks) {:.0} MB/s, sha2 crate {:.0} MB/s (ratio {:.2})",
            r / 1e6,
            own / 1e6,
            own / r
        ),
        None => println!(
            "openssl speed unavailable; sha2 crate {:.0} MB/s",
            own / 1e6
        ),
    }

    let cold_opts = ScanOptions::default();
    let warm_opts = ScanOptions {
        cache_path: Some(cache.clone()),
        ..ScanOptions::default()
    };
    let xargs = "git ls-files -z | xargs -0 -P2 sha256sum";
    let mut cold = vec![
        Contender::new("receipt scan, cold (no digest cache)", || {
            let (t, s) = scan_with_stats(&tree, &cold_opts).unwrap();
            assert_eq!(s.bytes_hashed, bytes);
            assert_eq!(t.root(), root);
        }),
        Contender::new(
            "git ls-files -z | xargs -0 -P2 sha256sum",
            shell(&tree, xargs),
        ),
        Contender::new("reference: list and read every file, no hashing", || {
            assert_eq!(read_only(&tree), bytes);
        }),
    ];
    // The OpenSSL rate is sampled once a round as well (one second each), so the limit the
    // cold scan is held to sees the same moment-to-moment speed of the machine as the scans.
    let mut sampled = Vec::new();
    for _ in 0..reps {
        measure(1, &mut cold);
        sampled.extend(openssl_rate(None, 1));
    }
    sampled.sort_by(f64::total_cmp);
    let round_rate = (!sampled.is_empty()).then(|| sampled[sampled.len() / 2]);

    scan_with_stats(&tree, &warm_opts).unwrap();
    // Let the file-system clock pass the cache's write time so no entry is racy; the
    // second scan also makes the record of git's untracked listing trusted.
    std::thread::sleep(Duration::from_millis(1100));
    scan_with_stats(&tree, &warm_opts).unwrap();
    let reused = std::cell::Cell::new(0usize);
    let mut warm = vec![
        Contender::new("receipt scan, warm (cache, nothing changed)", || {
            let (t, s) = scan_with_stats(&tree, &warm_opts).unwrap();
            assert_eq!(s.files_hashed, 0, "{s:?}");
            assert_eq!(t.root(), root);
            reused.set(reused.get() + usize::from(s.untracked_reused));
        }),
        Contender::new("git status", shell(&tree, "git status")),
        Contender::new(
            "git ls-files -z --cached --others --exclude-standard",
            shell(
                &tree,
                "git ls-files -z --cached --others --exclude-standard",
            ),
        ),
    ];
    measure(reps * 4, &mut warm);

    let mut dropped = Vec::new();
    if drop {
        dropped = vec![
            Contender::new("receipt scan, cold, page cache dropped", || {
                let (t, _) = scan_with_stats(&tree, &cold_opts).unwrap();
                assert_eq!(t.root(), root);
            })
            .before(drop_caches),
            Contender::new(
                "git ls-files | xargs -P2 sha256sum, page cache dropped",
                shell(&tree, xargs),
            )
            .before(drop_caches),
        ];
        measure(reps, &mut dropped);
    }

    println!(
        "\nround-robin: {reps} rounds of the cold trio, {} of the warm trio; page cache warm unless noted\n",
        reps * 4
    );
    println!(
        "| {:<56} | {:>8} | {:>8} | {:>8} | {:>8} | {:>8} |",
        "contender", "median s", "min s", "max s", "CPU s", "MB/s"
    );
    println!(
        "|{:-<58}|{:->10}|{:->10}|{:->10}|{:->10}|{:->10}|",
        "", "", "", "", "", ""
    );
    for c in cold.iter().chain(&warm).chain(&dropped) {
        let min = c.wall.iter().copied().fold(f64::INFINITY, f64::min);
        let max = c.wall.iter().copied().fold(0.0, f64::max);
        println!(
            "| {:<56} | {:>8.3} | {:>8.3} | {:>8.3} | {:>8.3} | {:>8.0} |",
            c.name,
            c.median(),
            min,
            max,
            c.median_cpu(),
            bytes as f64 / c.median() / 1e6
        );
    }

    println!();
    println!(
        "cold speed-up over `{xargs}`: {:.1}x wall, {:.1}x CPU (target >= 5x)",
        cold[1].median() / cold[0].median(),
        cold[1].median_cpu() / cold[0].median_cpu()
    );
    if let Some(r) = round_rate.or(rate) {
        let limit = bytes as f64 / (cores as f64 * r);
        println!(
            "openssl speed -evp sha256, sampled for 1 s after each cold round: median {:.0} MB/s (min {:.0}, max {:.0})",
            r / 1e6,
            sampled.first().copied().unwrap_or(r) / 1e6,
            sampled.last().copied().unwrap_or(r) / 1e6
        );
        println!(
            "cold vs hashing limit bytes/(cores x openssl rate) = {limit:.3} s: {:.2}x wall (target <= 1.5x); \
             CPU spent {:.3} s = {:.2}x the {:.3} s of pure single-core hashing",
            cold[0].median() / limit,
            cold[0].median_cpu(),
            cold[0].median_cpu() / (bytes as f64 / r),
            bytes as f64 / r
        );
        println!(
            "file-system share (list and read every file on all cores, no hashing): {:.3} s = {:.2}x the limit, \
             leaving {:.3} s = {:.2}x the limit for hashing within the 1.5x target",
            cold[2].median(),
            cold[2].median() / limit,
            1.5 * limit - cold[2].median(),
            1.5 - cold[2].median() / limit
        );
        if let (Some(t), Some(first)) = (together, rate) {
            println!(
                "(for reference: {cores} openssl processes at once hashed {:.0} MB/s = {:.2}x one (3 s each, before the rounds); \
                 against that measured limit of {:.3} s the cold scan is {:.2}x)",
                t / 1e6,
                t / first,
                bytes as f64 / t,
                cold[0].median() / (bytes as f64 / t)
            );
        }
    }
    println!(
        "warm scans that took the untracked files from their record, running no git: {} of {}",
        reused.get(),
        warm[0].wall.len()
    );
    println!(
        "warm vs git status: {:.2}x wall, {:.2}x CPU (target <= 1.0x)",
        warm[0].median() / warm[1].median(),
        warm[0].median_cpu() / warm[1].median_cpu()
    );
}
