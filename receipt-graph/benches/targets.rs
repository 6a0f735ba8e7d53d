//! Prints the performance targets: τ on a hub-heavy million-edge graph,
//! linear growth of τ, τ against a line-graph-materializing baseline, and the rank kernel.
//!
//! Run with `cargo bench -p receipt-graph --bench targets`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;

use common::{SEED, hub_graph, shuffled_dag, tau_materialized};
use receipt_graph::{rank_kernel, tau};

/// The system allocator, counting live and peak heap bytes so a computation's own footprint can be read.
struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counters only observe sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            let live = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Heap bytes `f` holds at its peak beyond what was live when it started.
fn heap_peak<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed) - before)
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Wall-clock and on-CPU medians of repeated runs.
#[derive(Clone, Copy)]
struct Timing {
    wall: Duration,
    /// Time this thread actually ran, which other load on the machine inflates far less.
    cpu: Option<Duration>,
}

impl Timing {
    /// The figure to compare: on-CPU time where the kernel reports it, else wall time.
    fn best(self) -> Duration {
        self.cpu.unwrap_or(self.wall)
    }

    fn show(self) -> String {
        match self.cpu {
            Some(cpu) => format!("{:.2} ms on-CPU ({:.2} ms wall)", ms(cpu), ms(self.wall)),
            None => format!("{:.2} ms wall", ms(self.wall)),
        }
    }
}

/// CPU time consumed by this thread (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time_median<T>(runs: usize, mut f: impl FnMut() -> T) -> Timing {
    let mut wall = Vec::with_capacity(runs);
    let mut cpu = Vec::with_capacity(runs);
    for _ in 0..runs {
        let cpu_start = thread_cpu();
        let start = Instant::now();
        black_box(f());
        wall.push(start.elapsed());
        if let (Some(begin), Some(end)) = (cpu_start, thread_cpu()) {
            cpu.push(end - begin);
        }
    }
    Timing {
        wall: median(wall),
        cpu: (cpu.len() == runs).then(|| median(cpu)),
    }
}

/// Reads a `kB` field of /proc/self/status (Linux only).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes harness-free benches this way.
    }
    println!("# receipt-graph targets (single thread, medians)");

    println!("\n## tau: 1,000,000 edges, hub of in-degree 100,000");
    let graph = hub_graph(1_000_000, 1);
    let (report, tau_heap) = heap_peak(|| tau(&graph, &SEED));
    let t = time_median(7, || tau(&graph, &SEED));
    println!(
        "nodes {} edges {} line_nodes {} tau {}",
        graph.node_count(),
        graph.edge_count(),
        report.line_nodes,
        report.tau
    );
    println!("tau, median of 7: {}", t.show());
    println!(
        "heap: graph {:.1} MiB live, tau peak {:.1} MiB on top of it; process peak RSS so far {}",
        mib(LIVE.load(Ordering::Relaxed)),
        mib(tau_heap),
        status_kib("VmHWM:").map_or("unknown".to_owned(), |k| format!(
            "{:.1} MiB",
            k as f64 / 1024.0
        ))
    );
    drop(graph);

    println!("\n## tau: linear growth (hub of in-degree |E|/10), median of 7");
    let mut previous: Option<(usize, Timing)> = None;
    for edges in [10_000, 100_000, 1_000_000] {
        let graph = hub_graph(edges, 2);
        let t = time_median(7, || tau(&graph, &SEED));
        let per_edge = t.best().as_secs_f64() * 1e9 / edges as f64;
        let ratio = previous.map_or(String::new(), |(pe, pt)| {
            format!(
                ", time x{:.2} for edges x{}",
                t.best().as_secs_f64() / pt.best().as_secs_f64(),
                edges / pe
            )
        });
        println!(
            "|E| = {edges:>9}: {} = {per_edge:.1} ns/edge{ratio}",
            t.show()
        );
        previous = Some((edges, t));
    }

    println!("\n## tau: incidence identity vs materialized line graph");
    for edges in [10_000, 30_000] {
        let graph = hub_graph(edges, 3);
        let fast = time_median(7, || tau(&graph, &SEED));
        let ((slow_tau, line_edges), slow_heap) = heap_peak(|| tau_materialized(&graph));
        let (_, fast_heap) = heap_peak(|| tau(&graph, &SEED));
        let slow = time_median(3, || tau_materialized(&graph));
        let fast_tau = *tau(&graph, &SEED).partial_sums.last().unwrap_or(&0.0);
        println!(
            "|E| = {edges}: line graph has {line_edges} edges; incidence {}, heap {:.1} MiB; materialized {}, heap {:.1} MiB; x{:.0} slower; |tau diff| = {:.1e}",
            fast.show(),
            mib(fast_heap),
            slow.show(),
            mib(slow_heap),
            slow.best().as_secs_f64() / fast.best().as_secs_f64(),
            (fast_tau - slow_tau).abs()
        );
    }

    println!("\n## rank: random DAG, 5,000 nodes, 30,000 edges, keys not in topological order");
    let graph = shuffled_dag(5_000, 30_000, 4);
    let (runs, rank_heap) = heap_peak(|| rank_kernel(&graph));
    let t = time_median(5, || rank_kernel(&graph));
    for run in &runs {
        println!(
            "p = {:>10}: rank {}, eliminations {}, basis nonzeros {} vs {} input nonzeros (fill-in x{:.1})",
            run.p,
            run.pivots.len(),
            run.eliminations,
            run.basis_nonzeros,
            run.input_nonzeros,
            run.basis_nonzeros as f64 / run.input_nonzeros as f64
        );
    }
    println!(
        "all three primes, median of 5: {}; heap peak {:.1} MiB",
        t.show(),
        mib(rank_heap)
    );
}
