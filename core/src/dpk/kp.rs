//! One-dimensional 0/1 knapsack solvers: the per-(block, order) subproblem of DPK.
//!
//! An item fits in capacity `c` when `weight ≤ c·(1 + FEASIBILITY_RTOL)`, the rounding slack of
//! [`fits`](super::fits). All solvers return the best total profit (DPK needs only the value).
//!
//! - [`max_count`]: the most items that fit (take the lightest first) — exact for counts.
//! - [`exact_dp`]: dynamic programming over integer profits, exact, for small profit sums.
//! - [`branch_and_bound`]: depth-first search with the Dantzig (LP) bound, exact, under a node
//!   budget.
//! - [`fptas`]: profit scaling against a ½-approximate lower bound; profit ≥ (1 − ε)·OPT in
//!   O(n²/ε) time and O(n/ε) memory.
//! - [`greedy_with_fallback`]: density greedy or the best single item, whichever is better;
//!   profit ≥ OPT/2. (Density greedy alone is unbounded; oracle O9.)
//! - [`solve`]: the policy DPK uses.

use alloc::vec;
use alloc::vec::Vec;

use super::problem::FEASIBILITY_RTOL;

/// Rounding slack of a knapsack of capacity `capacity` (relative, as in [`fits`](super::fits)).
fn tol(capacity: f64) -> f64 {
    FEASIBILITY_RTOL * capacity.max(0.0)
}

/// An item of a 1-D knapsack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KpItem {
    /// Its size (a demand).
    pub weight: f64,
    /// Its value (a task weight).
    pub profit: f64,
}

/// Largest profit sum [`exact_dp`] accepts.
pub const DP_MAX_PROFIT: u64 = 1 << 20;
/// Largest items × profit-sum product [`exact_dp`] accepts (its running time).
pub const DP_MAX_WORK: u64 = 50_000_000;
/// Node budget of the branch and bound inside [`solve`] before it falls back to the FPTAS.
pub const SOLVE_MAX_NODES: u64 = 20_000;
/// Most scaled-profit states [`fptas`] keeps (two `f64` each, so 64 MiB).
pub const FPTAS_MAX_STATES: usize = 1 << 22;
/// Most items × states [`fptas`] works through (a few seconds).
pub const FPTAS_MAX_WORK: f64 = 2e9;

/// Items with positive profit that fit, and the profit of the zero-weight ones (always taken).
fn prepare(items: &[KpItem], capacity: f64) -> (Vec<KpItem>, f64) {
    let mut base = 0.0;
    let mut out = Vec::with_capacity(items.len());
    if capacity.is_nan() || capacity < 0.0 {
        return (out, 0.0);
    }
    for it in items {
        // NaN fails both comparisons and is skipped too.
        let useful = it.profit > 0.0 && it.weight <= capacity + tol(capacity);
        if !useful {
            continue;
        }
        if it.weight <= 0.0 {
            base += it.profit;
        } else {
            out.push(*it);
        }
    }
    (out, base)
}

/// The largest number of items (of the given weights) that fit in `capacity`.
pub fn max_count(weights: &[f64], capacity: f64) -> usize {
    let mut w: Vec<f64> = weights.iter().copied().filter(|x| !x.is_nan()).collect();
    w.sort_by(f64::total_cmp);
    count_sorted(&w, capacity)
}

/// [`max_count`] on weights already sorted ascending.
pub fn count_sorted(sorted: &[f64], capacity: f64) -> usize {
    let mut used = 0.0;
    let mut n = 0;
    for &x in sorted {
        if used + x <= capacity + tol(capacity) {
            used += x;
            n += 1;
        } else {
            break;
        }
    }
    n
}

/// Sorts by decreasing profit density, ties by input position (deterministic).
fn by_density(items: &mut [KpItem]) {
    // Stable sort keeps input order among equal densities.
    items.sort_by(|a, b| (b.profit / b.weight).total_cmp(&(a.profit / a.weight)));
}

/// The LP-relaxation (Dantzig) bound: whole items by decreasing density, then a fraction.
fn lp_bound(items: &[KpItem], capacity: f64) -> f64 {
    let mut v = items.to_vec();
    by_density(&mut v);
    let (mut used, mut profit) = (0.0, 0.0);
    for it in &v {
        if used + it.weight <= capacity {
            used += it.weight;
            profit += it.profit;
        } else {
            profit += it.profit * ((capacity - used).max(0.0) / it.weight);
            break;
        }
    }
    profit
}

/// Density greedy or the best single item, whichever is better: profit ≥ OPT/2.
pub fn greedy_with_fallback(items: &[KpItem], capacity: f64) -> f64 {
    let (mut v, base) = prepare(items, capacity);
    by_density(&mut v);
    base + greedy_sorted(&v, capacity)
}

fn greedy_sorted(v: &[KpItem], capacity: f64) -> f64 {
    let (mut used, mut profit, mut single) = (0.0, 0.0, 0.0_f64);
    for it in v {
        single = single.max(it.profit);
        if used + it.weight <= capacity + tol(capacity) {
            used += it.weight;
            profit += it.profit;
        }
    }
    profit.max(single)
}

/// Exact optimum by dynamic programming over profits, when every profit is a non-negative
/// integer and the profit sum is at most [`DP_MAX_PROFIT`] (and items × sum ≤ [`DP_MAX_WORK`]);
/// `None` otherwise.
pub fn exact_dp(items: &[KpItem], capacity: f64) -> Option<f64> {
    let (v, base) = prepare(items, capacity);
    let mut total: u64 = 0;
    for it in &v {
        if it.profit != libm::floor(it.profit) || it.profit > DP_MAX_PROFIT as f64 {
            return None;
        }
        total += it.profit as u64;
    }
    // No subset beats the LP relaxation, so profits above it need no table entries.
    total = total.min(libm::floor(lp_bound(&v, capacity + tol(capacity)) + 1e-9) as u64);
    if total > DP_MAX_PROFIT || total.saturating_mul(v.len() as u64) > DP_MAX_WORK {
        return None;
    }
    let total = total as usize;
    // min_weight[p] = least weight of a subset with profit exactly p.
    let mut min_weight = vec![f64::INFINITY; total + 1];
    min_weight[0] = 0.0;
    let mut reach = 0usize;
    for it in &v {
        let p = it.profit as usize;
        if p > total {
            continue;
        }
        reach = (reach + p).min(total);
        for q in (p..=reach).rev() {
            let cand = min_weight[q - p] + it.weight;
            if cand < min_weight[q] {
                min_weight[q] = cand;
            }
        }
    }
    let best = (0..=total)
        .rev()
        .find(|&p| min_weight[p] <= capacity + tol(capacity))
        .unwrap_or(0);
    Some(base + best as f64)
}

/// Exact optimum by depth-first branch and bound with the Dantzig bound; `None` when more
/// than `max_nodes` nodes would be needed.
pub fn branch_and_bound(items: &[KpItem], capacity: f64, max_nodes: u64) -> Option<f64> {
    let (mut v, base) = prepare(items, capacity);
    by_density(&mut v);
    let n = v.len();
    let mut wsum = Vec::with_capacity(n + 1);
    let mut psum = Vec::with_capacity(n + 1);
    let (mut w, mut p) = (0.0, 0.0);
    wsum.push(0.0);
    psum.push(0.0);
    for it in &v {
        w += it.weight;
        p += it.profit;
        wsum.push(w);
        psum.push(p);
    }
    // LP bound of items i.. in capacity `cap`: whole items while they fit, then a fraction.
    let bound = |i: usize, cap: f64| -> f64 {
        let target = wsum[i] + cap;
        // wsum[i] itself always qualifies in exact arithmetic; max(i) guards the rounding.
        let k = (i + wsum[i..].partition_point(|&x| x <= target + tol(capacity)))
            .saturating_sub(1)
            .max(i);
        let mut b = psum[k] - psum[i];
        if let Some(it) = v.get(k) {
            b += (target - wsum[k]).max(0.0) * it.profit / it.weight;
        }
        b
    };
    let mut best = greedy_sorted(&v, capacity);
    let mut stack: Vec<(usize, f64, f64)> = vec![(0, capacity, 0.0)];
    let mut nodes = 0u64;
    while let Some((i, cap, profit)) = stack.pop() {
        nodes += 1;
        if nodes > max_nodes {
            return None;
        }
        if profit > best {
            best = profit;
        }
        if i >= n || profit + bound(i, cap) <= best * (1.0 + 1e-12) {
            continue;
        }
        stack.push((i + 1, cap, profit));
        let it = v[i];
        if it.weight <= cap + tol(capacity) {
            stack.push((i + 1, cap - it.weight, profit + it.profit));
        }
    }
    Some(base + best)
}

/// FPTAS: the profit of a feasible subset with profit ≥ (1 − ε)·OPT, for 0 < ε < 1.
///
/// Profits are scaled by K = ε·LB/n, where LB ≥ OPT/2 is [`greedy_with_fallback`], and a
/// dynamic program over scaled profits (at most 2n/ε of them) keeps the least weight per
/// scaled profit together with that subset's true profit. The subset reaching the optimum's
/// scaled profit loses at most n·K = ε·LB ≤ ε·OPT. `None` when ε is outside (0, 1) or the
/// table would exceed [`FPTAS_MAX_STATES`] states or [`FPTAS_MAX_WORK`] steps.
pub fn fptas(items: &[KpItem], capacity: f64, epsilon: f64) -> Option<f64> {
    if !(epsilon > 0.0 && epsilon < 1.0) {
        return None;
    }
    let (v, base) = prepare(items, capacity);
    let n = v.len();
    if n == 0 {
        return Some(base);
    }
    let mut sorted = v.clone();
    by_density(&mut sorted);
    let lb = greedy_sorted(&sorted, capacity);
    let k = epsilon * lb / n as f64;
    let scaled: Vec<usize> = v
        .iter()
        .map(|it| libm::floor(it.profit / k) as usize)
        .collect();
    let total: usize = scaled.iter().sum();
    // OPT/K ≤ min(2·LB, LP bound)/K scaled-profit units (plus rounding slack).
    let ub = lp_bound(&v, capacity + tol(capacity)).min(2.0 * lb);
    let bound = libm::ceil(ub / k) + 1.0;
    let limit_f = bound.min(total as f64);
    if limit_f > FPTAS_MAX_STATES as f64 || limit_f * n as f64 > FPTAS_MAX_WORK {
        return None;
    }
    let limit = limit_f as usize;
    let mut min_weight = vec![f64::INFINITY; limit + 1];
    let mut profit = vec![0.0_f64; limit + 1];
    min_weight[0] = 0.0;
    let mut reach = 0usize;
    for (it, &s) in v.iter().zip(&scaled) {
        if s == 0 {
            continue;
        }
        reach = (reach + s).min(limit);
        for q in (s..=reach).rev() {
            let cand = min_weight[q - s] + it.weight;
            if cand <= capacity + tol(capacity) && cand < min_weight[q] {
                min_weight[q] = cand;
                profit[q] = profit[q - s] + it.profit;
            }
        }
    }
    let best = min_weight
        .iter()
        .zip(&profit)
        .filter(|(w, _)| w.is_finite())
        .map(|(_, p)| *p)
        .fold(lb, f64::max);
    Some(base + best)
}

/// How [`solve`] reached its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// All profits equal: the count greedy (exact).
    Count,
    /// [`exact_dp`] (exact).
    Dp,
    /// [`branch_and_bound`] within [`SOLVE_MAX_NODES`] (exact).
    BranchAndBound,
    /// [`fptas`] (≥ (1 − ε)·OPT).
    Fptas,
    /// [`greedy_with_fallback`] (≥ OPT/2): the FPTAS table would have been too large.
    Greedy,
}

/// DPK's 1-D knapsack: exact where that is cheap (equal profits, small integer profits, or a
/// branch and bound that finishes within [`SOLVE_MAX_NODES`] nodes), otherwise the FPTAS with
/// `epsilon`: the value is then ≥ (1 − ε)·OPT. Only when the FPTAS table would exceed its limits
/// (about n²/ε > 2·10⁹) does it settle for the ½-approximation [`greedy_with_fallback`].
pub fn solve(items: &[KpItem], capacity: f64, epsilon: f64) -> (f64, Method) {
    let (v, base) = prepare(items, capacity);
    let Some(first) = v.first() else {
        return (base, Method::Count);
    };
    if v.iter().all(|it| it.profit == first.profit) {
        let w: Vec<f64> = v.iter().map(|it| it.weight).collect();
        return (
            base + first.profit * max_count(&w, capacity) as f64,
            Method::Count,
        );
    }
    if let Some(x) = exact_dp(&v, capacity) {
        return (base + x, Method::Dp);
    }
    if let Some(x) = branch_and_bound(&v, capacity, SOLVE_MAX_NODES) {
        return (base + x, Method::BranchAndBound);
    }
    match fptas(&v, capacity, epsilon) {
        Some(x) => (base + x, Method::Fptas),
        None => (base + greedy_with_fallback(&v, capacity), Method::Greedy),
    }
}
