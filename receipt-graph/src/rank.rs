//! The modular rank kernel: canonical pivot transcripts of the adjacency matrix over GF(p).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::CanonicalGraph;

/// The primes of the rank kernel, in report order.
pub const RANK_PRIMES: [u64; 3] = [2, 65_521, 2_147_483_647];

/// Rank and pivot-transcript digest of the adjacency matrix over one prime field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimeRank {
    /// The prime p.
    pub p: u64,
    /// Rank of the adjacency matrix over GF(p).
    pub rank: u64,
    /// SHA-256 of the pivot transcript, 64 lowercase hex digits.
    pub transcript_sha256: String,
}

/// The rank signature of a graph: one entry per prime of [`RANK_PRIMES`], in that order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankReport {
    /// Entries for p = 2, 65521, 2147483647.
    pub primes: Vec<PrimeRank>,
}

/// The full outcome of the kernel over one prime, with the cost of getting there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRun {
    /// The prime p.
    pub p: u64,
    /// `(row, col)` of each pivot, in the order rows were processed.
    pub pivots: Vec<(u32, u32)>,
    /// Nonzero entries of the adjacency matrix (its edge count).
    pub input_nonzeros: u64,
    /// Nonzero entries held by the final basis; the excess over the pivot rows' own entries is fill-in.
    pub basis_nonzeros: u64,
    /// Row eliminations performed.
    pub eliminations: u64,
}

impl KernelRun {
    /// The transcript: one line `"<row> <col>\n"` per pivot, decimal, in pivot order.
    pub fn transcript(&self) -> String {
        self.pivots
            .iter()
            .map(|(row, col)| format!("{row} {col}\n"))
            .collect()
    }

    /// The report entry: rank and SHA-256 of the transcript.
    pub fn prime_rank(&self) -> PrimeRank {
        let mut hasher = Sha256::new();
        for (row, col) in &self.pivots {
            hasher.update(format!("{row} {col}\n"));
        }
        PrimeRank {
            p: self.p,
            rank: self.pivots.len() as u64,
            transcript_sha256: receipt_primitives::Digest(hasher.finalize().into()).to_hex(),
        }
    }
}

/// What the rank kernel may spend (see [`rank_within`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankLimits {
    /// Work units: accumulator entries scanned plus basis-row entries added or combined,
    /// summed over the three primes. Bounds time.
    pub work: u64,
    /// Entries (columns, or 64-bit words of a packed GF(2) row) held by the basis of one
    /// prime at once. Bounds memory (about 8 bytes an entry).
    pub basis_entries: u64,
}

/// The rank kernel stopped at one of its [`RankLimits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RankBudgetExceeded {
    /// The work budget ran out.
    #[error("the rank recomputation stopped after {0} work units, its budget")]
    Work(u64),
    /// The basis outgrew its memory budget.
    #[error("the rank recomputation stopped when its basis reached {0} entries, its memory budget")]
    Basis(u64),
}

/// What the kernel has left to spend.
struct Budget {
    left: u64,
    limits: RankLimits,
    held: u64,
}

impl Budget {
    fn new(limits: RankLimits) -> Self {
        Budget {
            left: limits.work,
            limits,
            held: 0,
        }
    }

    fn unbounded() -> Self {
        Budget::new(RankLimits {
            work: u64::MAX,
            basis_entries: u64::MAX,
        })
    }

    /// Starts a new prime: its basis starts empty.
    fn next_prime(&mut self) {
        self.held = 0;
    }

    fn spend(&mut self, work: u64) -> Result<(), RankBudgetExceeded> {
        match self.left.checked_sub(work) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => Err(RankBudgetExceeded::Work(self.limits.work)),
        }
    }

    /// Records `entries` more held by the basis.
    fn hold(&mut self, entries: u64) -> Result<(), RankBudgetExceeded> {
        self.held = self.held.saturating_add(entries);
        if self.held > self.limits.basis_entries {
            return Err(RankBudgetExceeded::Basis(self.limits.basis_entries));
        }
        self.spend(entries)
    }

    fn spent(&self) -> u64 {
        self.limits.work - self.left
    }
}

/// [`rank`], stopping with [`RankBudgetExceeded`] at the first of `limits`; on success also
/// the work spent. A verifier uses it so a hostile graph cannot make it run for hours or
/// exhaust memory.
///
/// # Errors
/// [`RankBudgetExceeded`] when a limit is reached.
pub fn rank_within(
    graph: &CanonicalGraph,
    limits: RankLimits,
) -> Result<(RankReport, u64), RankBudgetExceeded> {
    let rows = AdjacencyRows::new(graph);
    let mut budget = Budget::new(limits);
    let mut runs = Vec::with_capacity(3);
    runs.push(eliminate_gf2(&rows, &mut budget)?);
    budget.next_prime();
    runs.push(eliminate_mod::<65_521>(&rows, &mut budget)?);
    budget.next_prime();
    runs.push(eliminate_mod::<2_147_483_647>(&rows, &mut budget)?);
    let report = RankReport {
        primes: runs.iter().map(KernelRun::prime_rank).collect(),
    };
    Ok((report, budget.spent()))
}

/// Computes the rank signature of `graph` over the three primes.
///
/// # Examples
///
/// ```
/// use receipt_graph::{CanonicalGraph, rank};
/// let g = CanonicalGraph::new(Vec::<&str>::new(), [("a", "b"), ("b", "c")])?;
/// let report = rank(&g);
/// assert_eq!(report.primes.iter().map(|e| e.rank).collect::<Vec<_>>(), [2, 2, 2]);
/// # Ok::<(), receipt_graph::GraphError>(())
/// ```
pub fn rank(graph: &CanonicalGraph) -> RankReport {
    RankReport {
        primes: rank_kernel(graph)
            .iter()
            .map(KernelRun::prime_rank)
            .collect(),
    }
}

/// Runs the kernel over each prime of [`RANK_PRIMES`] and returns the pivots and fill-in.
pub fn rank_kernel(graph: &CanonicalGraph) -> Vec<KernelRun> {
    let rows = AdjacencyRows::new(graph);
    let all = "an unbounded budget is never exceeded";
    vec![
        eliminate_gf2(&rows, &mut Budget::unbounded()).expect(all),
        eliminate_mod::<65_521>(&rows, &mut Budget::unbounded()).expect(all),
        eliminate_mod::<2_147_483_647>(&rows, &mut Budget::unbounded()).expect(all),
    ]
}

/// The adjacency matrix in compressed sparse rows; every stored entry is 1.
struct AdjacencyRows<'g> {
    /// Column (target node) of each edge, grouped by row.
    cols: Vec<u32>,
    /// Row i spans `cols[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
    graph: &'g CanonicalGraph,
}

impl<'g> AdjacencyRows<'g> {
    fn new(graph: &'g CanonicalGraph) -> Self {
        let n = graph.node_count();
        let mut starts = vec![0usize; n + 1];
        for &(from, _) in graph.edge_indices() {
            starts[from as usize + 1] += 1;
        }
        for i in 0..n {
            starts[i + 1] += starts[i];
        }
        // Canonical edges are sorted by (from, to), so each row is already sorted.
        let cols = graph.edge_indices().iter().map(|&(_, to)| to).collect();
        Self {
            cols,
            starts,
            graph,
        }
    }

    fn len(&self) -> usize {
        self.graph.node_count()
    }

    fn row(&self, i: usize) -> &[u32] {
        &self.cols[self.starts[i]..self.starts[i + 1]]
    }
}

/// Marks a column without a basis row.
const NO_PIVOT: u32 = u32::MAX;

/// Leading-column elimination over GF(P) with sparse basis rows and a dense accumulator.
fn eliminate_mod<const P: u64>(
    rows: &AdjacencyRows<'_>,
    budget: &mut Budget,
) -> Result<KernelRun, RankBudgetExceeded> {
    let n = rows.len();
    let mut acc = vec![0u64; n];
    // basis_of[c] indexes the basis row whose leading column is c.
    let mut basis_of = vec![NO_PIVOT; n];
    let mut basis: Vec<SparseRow> = Vec::new();
    let mut run = KernelRun::empty(P, rows);
    for i in 0..n {
        let row = rows.row(i);
        let (Some(&first), Some(&last)) = (row.first(), row.last()) else {
            continue;
        };
        for &c in row {
            acc[c as usize] = 1;
        }
        let mut hi = last as usize;
        let mut c = first as usize;
        // The leading column only moves right, so one forward scan finds each next lead.
        loop {
            let from = c;
            while c <= hi && acc[c] == 0 {
                c += 1;
            }
            budget.spend((c - from) as u64 + 1)?;
            if c > hi {
                break; // The row reduced to zero: it depends on earlier rows.
            }
            let slot = basis_of[c];
            if slot == NO_PIVOT {
                budget.spend((hi + 1 - c) as u64)?;
                let inverse = inverse_mod::<P>(acc[c]);
                let mut new_row = SparseRow::default();
                for (j, value) in acc.iter_mut().enumerate().take(hi + 1).skip(c) {
                    if *value != 0 {
                        new_row.cols.push(j as u32);
                        new_row.vals.push(((*value * inverse) % P) as u32);
                        *value = 0;
                    }
                }
                budget.hold(new_row.cols.len() as u64)?;
                run.pivots.push((i as u32, c as u32));
                run.basis_nonzeros += new_row.cols.len() as u64;
                basis_of[c] = basis.len() as u32;
                basis.push(new_row);
                break;
            }
            let b = &basis[slot as usize];
            budget.spend(b.cols.len() as u64)?;
            let factor = P - acc[c];
            for (&j, &v) in b.cols.iter().zip(&b.vals) {
                let a = &mut acc[j as usize];
                *a = (*a + factor * u64::from(v)) % P;
            }
            hi = hi.max(b.cols.last().map_or(0, |&j| j as usize));
            run.eliminations += 1;
            c += 1;
        }
    }
    Ok(run)
}

/// A basis row over GF(P): sorted columns and their values, the first value 1.
#[derive(Default)]
struct SparseRow {
    cols: Vec<u32>,
    vals: Vec<u32>,
}

/// a^(P−2) mod P: the inverse of a nonzero residue.
fn inverse_mod<const P: u64>(a: u64) -> u64 {
    let (mut base, mut exp, mut result) = (a % P, P - 2, 1u64);
    while exp > 0 {
        if exp & 1 == 1 {
            result = result * base % P;
        }
        base = base * base % P;
        exp >>= 1;
    }
    result
}

/// Leading-column elimination over GF(2): a bit-packed accumulator, and basis rows
/// bit-packed or as column lists, whichever is smaller.
fn eliminate_gf2(
    rows: &AdjacencyRows<'_>,
    budget: &mut Budget,
) -> Result<KernelRun, RankBudgetExceeded> {
    let n = rows.len();
    let mut acc = vec![0u64; n.div_ceil(64)];
    let mut basis_of = vec![NO_PIVOT; n];
    let mut basis: Vec<BitRow> = Vec::new();
    let mut run = KernelRun::empty(2, rows);
    for i in 0..n {
        let row = rows.row(i);
        let (Some(&first), Some(&last)) = (row.first(), row.last()) else {
            continue;
        };
        for &c in row {
            acc[c as usize / 64] |= 1 << (c % 64);
        }
        let mut hi_word = last as usize / 64;
        let mut c = first as usize;
        while let Some(lead) = next_set_bit(&acc, c, hi_word) {
            budget.spend(((lead - c) / 64) as u64 + 1)?;
            c = lead;
            let slot = basis_of[c];
            if slot == NO_PIVOT {
                budget.spend((hi_word + 1 - c / 64) as u64)?;
                let row = BitRow::take(&mut acc, c / 64, hi_word);
                budget.hold(row.len())?;
                run.basis_nonzeros += row.ones();
                run.pivots.push((i as u32, c as u32));
                basis_of[c] = basis.len() as u32;
                basis.push(row);
                break;
            }
            let b = &basis[slot as usize];
            budget.spend(b.len())?;
            hi_word = hi_word.max(b.xor_into(&mut acc));
            run.eliminations += 1;
        }
    }
    Ok(run)
}

/// A basis row over GF(2), bit-packed where dense and a column list where sparse,
/// so memory stays within twice the smaller of the two forms.
enum BitRow {
    /// Bits from column `64 · start` on, trailing zero words trimmed.
    Packed { start: usize, words: Vec<u64> },
    /// The set columns, ascending.
    Sparse(Vec<u32>),
}

impl BitRow {
    /// Moves words `start..=hi_word` of `acc` into a row, leaving them zero.
    fn take(acc: &mut [u64], start: usize, hi_word: usize) -> Self {
        let window = &mut acc[start..=hi_word];
        let ones: usize = window.iter().map(|w| w.count_ones() as usize).sum();
        // A column costs 4 bytes in the list, a word 8 bytes in the packed form.
        let row = if ones < 2 * window.len() {
            let mut cols = Vec::with_capacity(ones);
            for (k, &word) in window.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    cols.push(((start + k) * 64) as u32 + bits.trailing_zeros());
                    bits &= bits - 1;
                }
            }
            Self::Sparse(cols)
        } else {
            let mut words = window.to_vec();
            while words.last() == Some(&0) {
                words.pop();
            }
            Self::Packed { start, words }
        };
        window.fill(0);
        row
    }

    /// Words or columns stored: the work of adding the row.
    fn len(&self) -> u64 {
        match self {
            Self::Packed { words, .. } => words.len() as u64,
            Self::Sparse(cols) => cols.len() as u64,
        }
    }

    fn ones(&self) -> u64 {
        match self {
            Self::Packed { words, .. } => words.iter().map(|w| u64::from(w.count_ones())).sum(),
            Self::Sparse(cols) => cols.len() as u64,
        }
    }

    /// Adds the row to `acc` (XOR) and returns the last word it touched.
    fn xor_into(&self, acc: &mut [u64]) -> usize {
        match self {
            Self::Packed { start, words } => {
                for (a, w) in acc[*start..].iter_mut().zip(words) {
                    *a ^= w;
                }
                start + words.len() - 1
            }
            Self::Sparse(cols) => {
                for &c in cols {
                    acc[c as usize / 64] ^= 1 << (c % 64);
                }
                cols.last().map_or(0, |&c| c as usize / 64)
            }
        }
    }
}

/// The first set bit at or after `from`, looking no further than word `hi_word`.
fn next_set_bit(bits: &[u64], from: usize, hi_word: usize) -> Option<usize> {
    let mut w = from / 64;
    if w > hi_word {
        return None;
    }
    let mut word = bits[w] & (u64::MAX << (from % 64));
    loop {
        if word != 0 {
            return Some(w * 64 + word.trailing_zeros() as usize);
        }
        w += 1;
        if w > hi_word {
            return None;
        }
        word = bits[w];
    }
}

impl KernelRun {
    fn empty(p: u64, rows: &AdjacencyRows<'_>) -> Self {
        Self {
            p,
            pivots: Vec::new(),
            input_nonzeros: rows.cols.len() as u64,
            basis_nonzeros: 0,
            eliminations: 0,
        }
    }
}
