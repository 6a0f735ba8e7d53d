//! Tracked-set scan speed against the baselines named in `docs/SPEC.md`: a generated git
//! tree of 50,000 files / 1 GiB, hashed cold (no digest cache) and warm (cache present,
//! nothing changed), next to `git ls-files | xargs sha256sum`, `git status` and the
//! `openssl speed` hashing limit, all measured in the same run.
//!
//! Run: `cargo bench -p receipt-core --bench tracked`. Environment knobs:
//! `RECEIPT_BENCH_DIR` (where the tree is generated; default under cargo's target tmp dir),
//! `RECEIPT_BENCH_FILES` (50000), `RECEIPT_BENCH_MIB` (1024), `RECEIPT_BENCH_REPS` (5),
//! `RECEIPT_BENCH_DROP_CACHES=1` (also time both cold contenders after dropping the page
//! cache before every repetition; needs root).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use receipt_core::tracked::{ScanOptions, scan_with_stats};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// splitmix64: a tiny deterministic generator, so the tree is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
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
    let mut rng = Rng(0x7265_6365_6970_7421);
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

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Row {
    name: String,
    times: Vec<Duration>,
}

impl Row {
    fn median(&self) -> f64 {
        median(self.times.clone()).as_secs_f64()
    }
}

fn time<F: FnMut()>(reps: usize, before: &mut dyn FnMut(), mut f: F) -> Vec<Duration> {
    (0..reps)
        .map(|_| {
            before();
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

fn shell(dir: &Path, script: &str) -> impl FnMut() {
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

/// Single-core SHA-256 throughput of `openssl speed -evp sha256` on 16 KiB blocks, bytes/s.
fn openssl_rate() -> Option<f64> {
    let out = Command::new("openssl")
        .args([
            "speed", "-evp", "sha256", "-seconds", "3", "-bytes", "16384",
        ])
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

/// Single-core throughput of the `sha2` crate as this crate uses it, bytes/s.
fn sha2_rate() -> f64 {
    let mut buf = vec![0u8; 64 << 20];
    Rng(1).fill(&mut buf);
    let t = time(5, &mut || {}, || {
        std::hint::black_box(receipt_core::Digest::of(&buf));
    });
    buf.len() as f64 / median(t).as_secs_f64()
}

fn drop_caches() {
    let _ = Command::new("sync").status();
    if let Err(e) = fs::write("/proc/sys/vm/drop_caches", "3\n") {
        panic!("RECEIPT_BENCH_DROP_CACHES=1 but the page cache cannot be dropped: {e}");
    }
}

fn main() {
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
    println!(
        "tree: {} files, {bytes} bytes, root {}; {cores} cores",
        t.files.len(),
        t.root()
    );

    let rate = openssl_rate();
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

    let mut rows = Vec::new();
    let mut nothing = || {};
    let cold_opts = ScanOptions::default();
    rows.push(Row {
        name: "receipt scan, cold (no digest cache)".into(),
        times: time(reps, &mut nothing, || {
            let (_, s) = scan_with_stats(&tree, &cold_opts).unwrap();
            assert_eq!(s.bytes_hashed, bytes);
        }),
    });
    rows.push(Row {
        name: "git ls-files -z | xargs -0 -P2 sha256sum".into(),
        times: time(
            reps,
            &mut nothing,
            shell(&tree, "git ls-files -z | xargs -0 -P2 sha256sum"),
        ),
    });
    let warm_opts = ScanOptions {
        cache_path: Some(cache.clone()),
        ..ScanOptions::default()
    };
    scan_with_stats(&tree, &warm_opts).unwrap();
    // Let the file-system clock pass the cache's write time so no entry is racy.
    std::thread::sleep(Duration::from_millis(1100));
    scan_with_stats(&tree, &warm_opts).unwrap();
    rows.push(Row {
        name: "receipt scan, warm (cache, nothing changed)".into(),
        times: time(reps, &mut nothing, || {
            let (_, s) = scan_with_stats(&tree, &warm_opts).unwrap();
            assert_eq!(s.files_hashed, 0, "{s:?}");
        }),
    });
    rows.push(Row {
        name: "git status".into(),
        times: time(reps, &mut nothing, shell(&tree, "git status")),
    });
    rows.push(Row {
        name: "git ls-files -z --cached --others --exclude-standard".into(),
        times: time(
            reps,
            &mut nothing,
            shell(
                &tree,
                "git ls-files -z --cached --others --exclude-standard",
            ),
        ),
    });
    if drop {
        rows.push(Row {
            name: "receipt scan, cold, page cache dropped".into(),
            times: time(reps, &mut drop_caches, || {
                scan_with_stats(&tree, &cold_opts).unwrap();
            }),
        });
        rows.push(Row {
            name: "git ls-files | xargs -P2 sha256sum, page cache dropped".into(),
            times: time(
                reps,
                &mut drop_caches,
                shell(&tree, "git ls-files -z | xargs -0 -P2 sha256sum"),
            ),
        });
    }

    println!("\n{reps} repetitions each; page cache warm unless noted\n");
    println!(
        "| {:<56} | {:>9} | {:>9} | {:>9} | {:>9} |",
        "contender", "median s", "min s", "max s", "MB/s"
    );
    println!(
        "|{:-<58}|{:->11}|{:->11}|{:->11}|{:->11}|",
        "", "", "", "", ""
    );
    for r in &rows {
        let min = r.times.iter().min().unwrap().as_secs_f64();
        let max = r.times.iter().max().unwrap().as_secs_f64();
        println!(
            "| {:<56} | {:>9.3} | {:>9.3} | {:>9.3} | {:>9.0} |",
            r.name,
            r.median(),
            min,
            max,
            bytes as f64 / r.median() / 1e6
        );
    }

    let m = |i: usize| rows[i].median();
    println!();
    println!(
        "cold speed-up over git ls-files | xargs -P2 sha256sum: {:.1}x (target >= 5x)",
        m(1) / m(0)
    );
    if let Some(r) = rate {
        let limit = bytes as f64 / (cores as f64 * r);
        println!(
            "cold vs hashing limit bytes/(cores x openssl rate) = {limit:.3} s: {:.2}x (target <= 1.5x)",
            m(0) / limit
        );
    }
    println!("warm vs git status: {:.2}x (target <= 1.0x)", m(2) / m(3));
}
