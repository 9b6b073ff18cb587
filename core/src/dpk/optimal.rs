//! Exact privacy knapsack by depth-first branch and bound.
//!
//! Incumbent: the best of DPK, DPF and Area. Branching: tasks in decreasing Area efficiency,
//! "take" before "skip". Bound at a node, over the undecided tasks R that still fit alone:
//! `min(Σ_R w, min_j [Σ_{R off j} w + max_α LP_{j,α}])`, where `LP_{j,α}` is the fractional
//! knapsack of R's tasks on block j in that block's remaining budget at α. It is valid because
//! block j must end within budget at some α, and the tasks not on j are unconstrained by j.

use alloc::vec;
use alloc::vec::Vec;

use super::KnapsackError;
use super::problem::within;
use super::sched::{Engine, ScheduleOptions, Scheduler};

/// Most tasks [`Scheduler::Optimal`] accepts (it is exponential; about 25 tasks finish
/// quickly, larger problems stop at the node budget with an upper bound).
pub const MAX_OPTIMAL_TASKS: usize = 1024;

/// Work budget of one exact search, in elementary bound steps (tens of seconds at most): the
/// node budget is lowered to `OPTIMAL_MAX_WORK / (cost of one bound)` when that is smaller, so
/// that a large problem stops with its best set and a bound instead of running for hours.
pub const OPTIMAL_MAX_WORK: f64 = 2e10;

struct Search<'e, 'a> {
    e: &'e Engine<'a>,
    order: Vec<usize>,
    /// Per block and order: tasks on the block by decreasing weight/demand.
    sorted: Vec<Vec<usize>>,
    remaining: Vec<f64>,
    chosen: Vec<usize>,
    best: f64,
    best_set: Vec<usize>,
    nodes: u64,
    max_nodes: u64,
    aborted: bool,
    in_r: Vec<bool>,
    on_block_weight: Vec<f64>,
    saved: Vec<f64>,
}

pub(crate) fn solve(
    e: &Engine<'_>,
    candidates: &[usize],
    remaining: &mut [f64],
    options: &ScheduleOptions,
) -> Result<(Vec<usize>, f64), KnapsackError> {
    if candidates.len() > MAX_OPTIMAL_TASKS {
        return Err(KnapsackError::TooManyTasks {
            count: candidates.len(),
            max: MAX_OPTIMAL_TASKS,
        });
    }
    let na = e.na;
    // Incumbent from the heuristics.
    let mut best_set = Vec::new();
    let mut best = 0.0;
    for s in [Scheduler::Dpk, Scheduler::Dpf, Scheduler::Area] {
        let mut r = remaining.to_vec();
        let opts = ScheduleOptions {
            scheduler: s,
            ..*options
        };
        let set = e.run(candidates, &mut r, &opts);
        let w: f64 = set.iter().map(|&t| e.weights[t]).sum();
        if w > best {
            best = w;
            best_set = set;
        }
    }
    // Branching order: Area efficiency against the starting budget, ties by rank.
    let mut key = vec![0.0; e.demands.len()];
    for &t in candidates {
        let mut area = 0.0;
        for &j in &e.task_blocks[t] {
            let j = j as usize;
            for (c, x) in remaining[j * na..(j + 1) * na].iter().zip(&e.demands[t]) {
                if *c > 0.0 {
                    area += x / c;
                }
            }
        }
        key[t] = if area > 0.0 {
            e.weights[t] / area
        } else {
            f64::INFINITY
        };
    }
    let mut order = candidates.to_vec();
    order.sort_by(|&a, &b| key[b].total_cmp(&key[a]).then(e.rank[a].cmp(&e.rank[b])));
    let mut sorted = vec![Vec::new(); e.num_blocks * na];
    for &t in &order {
        for &j in &e.task_blocks[t] {
            for a in 0..na {
                sorted[j as usize * na + a].push(t);
            }
        }
    }
    for (idx, list) in sorted.iter_mut().enumerate() {
        let a = idx % na;
        let density = |t: usize| {
            let d = e.demands[t][a];
            if d > 0.0 {
                e.weights[t] / d
            } else {
                f64::INFINITY
            }
        };
        list.sort_by(|&x, &y| {
            density(y)
                .total_cmp(&density(x))
                .then(e.rank[x].cmp(&e.rank[y]))
        });
    }
    // Cost of one bound: a fits check per undecided task plus one scan per (block, order) list.
    let per_node = sorted.iter().map(Vec::len).sum::<usize>() + candidates.len() + 1;
    let work_nodes = (OPTIMAL_MAX_WORK / per_node as f64).max(1000.0) as u64;
    let mut s = Search {
        e,
        order,
        sorted,
        remaining: remaining.to_vec(),
        chosen: Vec::new(),
        best,
        best_set,
        nodes: 0,
        max_nodes: options.max_nodes.min(work_nodes).max(1),
        aborted: false,
        in_r: vec![false; e.demands.len()],
        on_block_weight: vec![0.0; e.num_blocks],
        saved: Vec::new(),
    };
    let root_bound = s.bound(0, 0.0);
    s.dfs(0, 0.0);
    let upper = if s.aborted {
        root_bound.max(s.best)
    } else {
        s.best
    };
    // Apply the best set to the caller's budget, in branching order.
    let mut set = s.best_set;
    set.sort_by_key(|&t| e.rank[t]);
    for &t in &set {
        e.take(t, remaining);
    }
    Ok((set, upper))
}

impl Search<'_, '_> {
    /// Upper bound on the weight reachable from this node (including `current`).
    fn bound(&mut self, depth: usize, current: f64) -> f64 {
        let e = self.e;
        let na = e.na;
        let mut total = 0.0;
        for w in self.on_block_weight.iter_mut() {
            *w = 0.0;
        }
        for (pos, &t) in self.order.iter().enumerate() {
            let r = pos >= depth && e.fits_all(t, &self.remaining);
            self.in_r[t] = r;
            if r {
                total += e.weights[t];
                for &j in &e.task_blocks[t] {
                    self.on_block_weight[j as usize] += e.weights[t];
                }
            }
        }
        let mut ub = total;
        for j in 0..e.num_blocks {
            if self.on_block_weight[j] <= 0.0 {
                continue;
            }
            let mut best_lp = 0.0_f64;
            for a in 0..na {
                let cap = self.remaining[j * na + a];
                let mut used = 0.0;
                let mut lp = 0.0;
                for &t in &self.sorted[j * na + a] {
                    if !self.in_r[t] {
                        continue;
                    }
                    let d = e.demands[t][a];
                    if within(used + d, cap, e.initial[j * na + a]) {
                        used += d;
                        lp += e.weights[t];
                    } else {
                        if d > 0.0 {
                            lp += e.weights[t] * ((cap - used).max(0.0) / d);
                        }
                        break;
                    }
                }
                best_lp = best_lp.max(lp);
            }
            ub = ub.min(total - self.on_block_weight[j] + best_lp);
        }
        current + ub
    }

    fn dfs(&mut self, depth: usize, current: f64) {
        if self.aborted {
            return;
        }
        self.nodes += 1;
        if self.nodes > self.max_nodes {
            self.aborted = true;
            return;
        }
        if current > self.best {
            self.best = current;
            self.best_set = self.chosen.clone();
        }
        if depth >= self.order.len() {
            return;
        }
        if self.bound(depth, current) <= self.best * (1.0 + 1e-12) + 1e-12 {
            return;
        }
        let e = self.e;
        let na = e.na;
        let t = self.order[depth];
        if e.fits_all(t, &self.remaining) {
            let mark = self.saved.len();
            for &j in &e.task_blocks[t] {
                let j = j as usize;
                self.saved
                    .extend_from_slice(&self.remaining[j * na..(j + 1) * na]);
            }
            e.take(t, &mut self.remaining);
            self.chosen.push(t);
            self.dfs(depth + 1, current + e.weights[t]);
            self.chosen.pop();
            let mut k = mark;
            for &j in &e.task_blocks[t] {
                let j = j as usize;
                self.remaining[j * na..(j + 1) * na].copy_from_slice(&self.saved[k..k + na]);
                k += na;
            }
            self.saved.truncate(mark);
        }
        self.dfs(depth + 1, current);
    }
}
