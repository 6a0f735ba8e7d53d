//! Slow, independent re-implementations of the graph fingerprints, used as test oracles.
//!
//! They share no code with the library: the line graph is materialized as a
//! dense matrix, the seed stream is re-derived from the text of the recipe,
//! and rank uses a fully reduced dense basis instead of leading-column elimination.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

/// Canonical nodes and edges (as indices) of a raw edge list, computed with ordered sets.
pub fn canonical(
    nodes: &[String],
    edges: &[(String, String)],
) -> (Vec<String>, Vec<(usize, usize)>) {
    let mut keys: BTreeSet<String> = nodes.iter().cloned().collect();
    for (a, b) in edges {
        keys.insert(a.clone());
        keys.insert(b.clone());
    }
    let index: BTreeMap<&String, usize> = keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let pairs: BTreeSet<(usize, usize)> = edges
        .iter()
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (index[a], index[b]))
        .collect();
    (keys.iter().cloned().collect(), pairs.into_iter().collect())
}

/// Moments μ_0..μ_16 and partial sums using a materialized dense line graph.
pub fn slow_tau(
    edges: &[(usize, usize)],
    producer: &str,
    timestamp: &str,
    merkle_root: &str,
) -> (usize, Vec<f64>, Vec<f64>) {
    let mut seen = BTreeSet::new();
    let mut line: Vec<(usize, usize)> = Vec::new();
    for &(a, b) in edges {
        if seen.insert((a.min(b), a.max(b))) {
            line.push((a, b));
        }
    }
    let n = line.len();
    if n == 0 {
        return (0, Vec::new(), Vec::new());
    }
    let mut adj = vec![vec![0.0f64; n]; n];
    for i in 0..n {
        for j in 0..n {
            let (a, b) = line[i];
            let (c, d) = line[j];
            if i != j && (a == c || a == d || b == c || b == d) {
                adj[i][j] = 1.0;
            }
        }
    }
    let degree: Vec<f64> = adj.iter().map(|row| row.iter().sum()).collect();
    let mut h = vec![vec![0.0f64; n]; n];
    for i in 0..n {
        for j in 0..n {
            if adj[i][j] != 0.0 {
                h[i][j] = -1.0 / (degree[i] * degree[j]).sqrt();
            }
        }
    }
    // Sign bytes: s, then SHA-256(s || counter_be) for counter = 1, 2, ...
    let s = Sha256::digest([producer, timestamp, merkle_root].concat().as_bytes()).to_vec();
    let mut stream = s.clone();
    let mut counter = 1u64;
    while stream.len() < n {
        let mut block = s.clone();
        block.extend_from_slice(&counter.to_be_bytes());
        stream.extend_from_slice(&Sha256::digest(&block));
        counter += 1;
    }
    let norm = (n as f64).sqrt();
    let u: Vec<f64> = stream[..n]
        .iter()
        .map(|b| if b % 2 == 0 { 1.0 / norm } else { -1.0 / norm })
        .collect();
    let matvec = |x: &[f64]| -> Vec<f64> {
        h.iter()
            .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
            .collect()
    };
    let dot = |a: &[f64], b: &[f64]| -> f64 { a.iter().zip(b).map(|(x, y)| x * y).sum() };
    let mut vs = vec![u.clone(), matvec(&u)];
    for k in 1..16 {
        let hv = matvec(&vs[k]);
        let next: Vec<f64> = hv
            .iter()
            .zip(&vs[k - 1])
            .map(|(h, p)| 2.0 * h - p)
            .collect();
        vs.push(next);
    }
    let moments: Vec<f64> = vs.iter().map(|v| dot(&u, v)).collect();
    let mut partial = Vec::new();
    let mut sum = 0.0;
    for (k, m) in moments.iter().enumerate() {
        sum += m.abs() / 2f64.powi(k as i32);
        partial.push(sum);
    }
    (n, moments, partial)
}

/// Pivots `(row, col)` of the adjacency matrix over GF(p), from a dense fully reduced basis.
pub fn slow_pivots(node_count: usize, edges: &[(usize, usize)], p: u64) -> Vec<(usize, usize)> {
    let mut matrix = vec![vec![0u64; node_count]; node_count];
    for &(a, b) in edges {
        matrix[a][b] = 1;
    }
    let inv = |a: u64| -> u64 {
        let (mut b, mut e, mut r) = (u128::from(a), p - 2, 1u128);
        while e > 0 {
            if e & 1 == 1 {
                r = r * b % u128::from(p);
            }
            b = b * b % u128::from(p);
            e >>= 1;
        }
        r as u64
    };
    // basis: (pivot column, row) kept in reduced row echelon form.
    let mut basis: Vec<(usize, Vec<u64>)> = Vec::new();
    let mut pivots = Vec::new();
    for (i, original) in matrix.iter().enumerate() {
        let mut row = original.clone();
        for (col, b) in &basis {
            let f = row[*col];
            if f != 0 {
                for j in 0..node_count {
                    row[j] = (row[j] + (p - f) * b[j]) % p;
                }
            }
        }
        let Some(lead) = row.iter().position(|&v| v != 0) else {
            continue;
        };
        let scale = if p == 2 { 1 } else { inv(row[lead]) };
        for v in &mut row {
            *v = *v * scale % p;
        }
        for (_, b) in &mut basis {
            let f = b[lead];
            if f != 0 {
                for j in 0..node_count {
                    b[j] = (b[j] + (p - f) * row[j]) % p;
                }
            }
        }
        basis.push((lead, row));
        pivots.push((i, lead));
    }
    pivots
}

/// SHA-256 (lowercase hex) of the transcript lines `"<row> <col>\n"`.
pub fn transcript_sha256(pivots: &[(usize, usize)]) -> String {
    let text: String = pivots.iter().map(|(r, c)| format!("{r} {c}\n")).collect();
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
