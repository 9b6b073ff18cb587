//! The exact integer batch split (notes A7): integer `B_t ≥ lo` per template with
//! `Σ_t x_t·B_t = B` exactly, minimising `Z = max_t T_t(B_t)` where every `T_t` is affine.
//!
//! No ILP solver: feasibility of a bound `Z` is monotone in `Z` (each template may take at most
//! `⌊(Z − c_t)/s_t⌋` microbatches), and for a fixed `Z` "do bounded multiples `x_t·B_t` add up
//! to exactly `B`" is a bounded-knapsack reachability over sums `0..=B`, `O(T·B)` with a sliding
//! window per residue. A binary search over integer `Z` (ticks) finds the least feasible value,
//! which is exactly the optimum since every `T_t` takes integer values.

use alloc::vec;
use alloc::vec::Vec;

/// `T(B) = offset + slope·B`, ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AffineTime {
    /// Value at `B = 0` (may be negative: the 1F1B formula is only meaningful for `B ≥ S`).
    pub offset: i128,
    /// Increase per microbatch (the bottleneck stage latency).
    pub slope: u64,
}

impl AffineTime {
    /// `T(b)`.
    pub fn at(&self, b: u64) -> i128 {
        self.offset + i128::from(self.slope) * i128::from(b)
    }
}

/// The optimal split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSplit {
    /// Microbatches per pipeline of each template, in input order.
    pub microbatches: Vec<u64>,
    /// `max_t T_t(B_t)`, ticks.
    pub z: i128,
}

/// Splits `total` microbatches over templates `(T_t, x_t)` (time and instance count), every
/// pipeline getting at least `lo`; `None` when no exact split exists.
pub fn split_batch(groups: &[(AffineTime, u64)], total: u64, lo: u64) -> Option<BatchSplit> {
    if groups.is_empty() || groups.iter().any(|&(_, x)| x == 0) {
        return None;
    }
    let floor: u64 = groups
        .iter()
        .try_fold(0u64, |acc, &(_, x)| acc.checked_add(x.checked_mul(lo)?))?;
    if floor > total {
        return None;
    }
    let rest = usize::try_from(total - floor).ok()?;
    // Caps at the loosest bound: every template may take everything.
    let z_hi = groups.iter().map(|(t, _)| t.at(total)).max()?;
    let z_lo = groups.iter().map(|(t, _)| t.at(lo)).max()?;
    let caps = |z: i128| -> Vec<usize> {
        groups
            .iter()
            .map(|(t, _)| {
                let room = if t.slope == 0 {
                    if t.at(0) <= z { total } else { 0 }
                } else {
                    let q = (z - t.offset).div_euclid(i128::from(t.slope));
                    q.clamp(0, i128::from(total)) as u64
                };
                room.saturating_sub(lo) as usize
            })
            .collect()
    };
    let mut scratch = Scratch::new(rest);
    if !scratch.reach(groups, &caps(z_hi), rest, None) {
        return None;
    }
    let (mut a, mut b) = (z_lo, z_hi);
    while a < b {
        let mid = a + (b - a) / 2;
        if scratch.reach(groups, &caps(mid), rest, None) {
            b = mid;
        } else {
            a = mid + 1;
        }
    }
    let caps = caps(a);
    let mut choice = vec![0u32; groups.len() * (rest + 1)];
    scratch.reach(groups, &caps, rest, Some(&mut choice));
    // Walk back from `rest`: template t contributed choice[t][v] extra microbatches.
    let mut extra = vec![0u64; groups.len()];
    let mut v = rest;
    for t in (0..groups.len()).rev() {
        let c = choice[t * (rest + 1) + v] as usize;
        extra[t] = c as u64;
        v -= c * groups[t].1 as usize;
    }
    let microbatches: Vec<u64> = extra.iter().map(|e| e + lo).collect();
    let z = groups
        .iter()
        .zip(&microbatches)
        .map(|((t, _), &b)| t.at(b))
        .max()?;
    Some(BatchSplit { microbatches, z })
}

struct Scratch {
    cur: Vec<bool>,
    next: Vec<bool>,
    last: Vec<usize>,
}

impl Scratch {
    fn new(rest: usize) -> Self {
        Scratch {
            cur: vec![false; rest + 1],
            next: vec![false; rest + 1],
            last: vec![0; rest + 1],
        }
    }

    /// Can `Σ x_t·e_t = rest` with `0 ≤ e_t ≤ caps[t]`? Records `e_t` per reachable sum in
    /// `choice` when given.
    fn reach(
        &mut self,
        groups: &[(AffineTime, u64)],
        caps: &[usize],
        rest: usize,
        mut choice: Option<&mut [u32]>,
    ) -> bool {
        self.cur.fill(false);
        self.cur[0] = true;
        for (t, (&(_, x), &cap)) in groups.iter().zip(caps).enumerate() {
            let x = x as usize;
            // last[v]: the largest w ≤ v with w ≡ v (mod x) and cur[w] (usize::MAX if none).
            for v in 0..=rest {
                self.last[v] = if self.cur[v] {
                    v
                } else if v >= x {
                    self.last[v - x]
                } else {
                    usize::MAX
                };
                let w = self.last[v];
                let ok = w != usize::MAX && (v - w) / x <= cap;
                self.next[v] = ok;
                if ok && let Some(ch) = choice.as_deref_mut() {
                    ch[t * (rest + 1) + v] = ((v - w) / x) as u32;
                }
            }
            core::mem::swap(&mut self.cur, &mut self.next);
        }
        self.cur[rest]
    }
}
