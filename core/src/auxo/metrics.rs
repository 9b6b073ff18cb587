//! Agreement between recovered cohorts and true groups: the adjusted Rand index and purity.

use alloc::vec;
use alloc::vec::Vec;

fn choose2(x: f64) -> f64 {
    x * (x - 1.0) / 2.0
}

/// The contingency table of two labelings of the same items (rows: `a`, columns: `b`).
fn contingency(a: &[usize], b: &[usize]) -> (Vec<Vec<f64>>, usize, usize) {
    let ka = a.iter().copied().max().map_or(0, |m| m + 1);
    let kb = b.iter().copied().max().map_or(0, |m| m + 1);
    let mut t = vec![vec![0.0; kb]; ka];
    for (&x, &y) in a.iter().zip(b) {
        t[x][y] += 1.0;
    }
    (t, ka, kb)
}

/// The adjusted Rand index (Hubert and Arabie) of labelings `a` and `b` (equal length): 1 for
/// identical partitions, about 0 for independent ones. Two single-cluster (or empty)
/// labelings count as identical (1); a single cluster against several gives 0.
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let (t, ka, kb) = contingency(a, b);
    let sum_cells: f64 = t.iter().flatten().map(|&x| choose2(x)).sum();
    let sum_rows: f64 = t.iter().map(|r| choose2(r.iter().sum())).sum();
    let sum_cols: f64 = (0..kb)
        .map(|j| choose2((0..ka).map(|i| t[i][j]).sum()))
        .sum();
    let total = choose2(n as f64);
    if total == 0.0 {
        return 1.0;
    }
    let expected = sum_rows * sum_cols / total;
    let max = 0.5 * (sum_rows + sum_cols);
    if max == expected {
        // Both labelings put everything in one cluster (or each item alone): identical.
        return if sum_rows == sum_cols { 1.0 } else { 0.0 };
    }
    (sum_cells - expected) / (max - expected)
}

/// Purity of `cohorts` against `groups` over the items where `mask` holds: each cohort counts
/// its most common group, divided by the masked items (1 when the mask is empty).
pub fn purity(cohorts: &[usize], groups: &[usize], mask: &[bool]) -> f64 {
    let idx: Vec<usize> = (0..cohorts.len().min(groups.len()).min(mask.len()))
        .filter(|&i| mask[i])
        .collect();
    if idx.is_empty() {
        return 1.0;
    }
    let a: Vec<usize> = idx.iter().map(|&i| cohorts[i]).collect();
    let b: Vec<usize> = idx.iter().map(|&i| groups[i]).collect();
    let (t, _, _) = contingency(&a, &b);
    let hits: f64 = t
        .iter()
        .map(|r| r.iter().copied().fold(0.0, f64::max))
        .sum();
    hits / idx.len() as f64
}
