//! Edge lists of test graphs (node names `n0000`, `n0001`, …), for fingerprints and ranks
//! that are expensive to compute.

/// A dense random graph on `n` nodes: every ordered pair of distinct nodes an edge with
/// probability one half, drawn by xorshift64 from `seed` (not 0). The same `n` and `seed`
/// give the same edges.
pub fn dense_edges(n: u32, seed: u64) -> Vec<(String, String)> {
    let mut x = seed;
    let mut edges = Vec::new();
    for a in 0..n {
        for b in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if a != b && x & 1 == 0 {
                edges.push((format!("n{a:04}"), format!("n{b:04}")));
            }
        }
    }
    edges
}
