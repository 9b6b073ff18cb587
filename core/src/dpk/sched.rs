//! The offline schedulers: DPK, DPF, FCFS, Area (dpk-orloj.md §A3) and the entry point
//! [`schedule`]. The greedy engine here is shared with the online simulation.

use alloc::vec;
use alloc::vec::Vec;

use super::kp::{self, KpItem};
use super::problem::{fits, within};
use super::{KnapsackError, RdpCurve, Workload, optimal};
use crate::names::named_enum;

/// Default DPK precision η: the 1-D knapsacks are solved to within a factor (1 + 2η/3).
pub const DEFAULT_ETA: f64 = 0.05;

/// Which scheduler to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheduler {
    /// DPack: best order per block by 1-D knapsacks, then greedy by efficiency.
    #[default]
    Dpk,
    /// Dominant Private-block Fairness: greedy by smallest dominant share (÷ weight).
    Dpf,
    /// First come, first served (arrival, then id).
    Fcfs,
    /// Greedy by weight over the demand summed over blocks and usable orders.
    Area,
    /// Exact branch and bound (small problems).
    Optimal,
}

named_enum!(Scheduler, "scheduler" {
    Dpk => "dpk",
    Dpf => "dpf",
    Fcfs => "fcfs",
    Area => "area",
    Optimal => "optimal",
});

/// What DPK's per-(block, order) knapsacks maximise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KnapsackMode {
    /// Total task weight (the paper's definition).
    #[default]
    Weighted,
    /// Number of tasks, ignoring weights (what the reference simulator does).
    Count,
}

named_enum!(KnapsackMode, "knapsack objective" {
    Weighted => "weighted",
    Count => "count",
});

/// Which capacity DPF's dominant shares are measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpfCapacity {
    /// The block's full capacity (PrivateKube, the DPack simulator).
    #[default]
    Initial,
    /// The budget remaining at scheduling time.
    Remaining,
}

named_enum!(DpfCapacity, "DPF capacity" {
    Initial => "initial",
    Remaining => "remaining",
});

/// Scheduler settings. `ScheduleOptions::default()` runs weighted DPK with η = 0.05, no
/// recomputation and the single-task fallback.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduleOptions {
    /// The scheduler.
    pub scheduler: Scheduler,
    /// DPK precision η, 0 < η < 0.75: knapsack values within (1 + 2η/3) of optimal.
    pub eta: f64,
    /// DPK knapsack objective.
    pub knapsack: KnapsackMode,
    /// Recompute best orders and efficiencies after every k allocations (0: never). Applies
    /// to DPK, Area and DPF with remaining capacity; FCFS and DPF on initial capacity have
    /// fixed priorities.
    pub recompute_every: usize,
    /// DPK: if one task alone is worth more than the greedy packing, allocate it instead.
    pub single_task_fallback: bool,
    /// DPF: divide the dominant share by the weight.
    pub dpf_weighted: bool,
    /// DPF: capacity the shares are measured against.
    pub dpf_capacity: DpfCapacity,
    /// Optimal: node budget of the branch and bound (best found so far is returned with an
    /// upper bound when it runs out). Large problems get a smaller budget, see
    /// `OPTIMAL_MAX_WORK`.
    pub max_nodes: u64,
}

impl Default for ScheduleOptions {
    fn default() -> Self {
        ScheduleOptions {
            scheduler: Scheduler::Dpk,
            eta: DEFAULT_ETA,
            knapsack: KnapsackMode::Weighted,
            recompute_every: 0,
            single_task_fallback: true,
            dpf_weighted: true,
            dpf_capacity: DpfCapacity::Initial,
            max_nodes: 20_000_000,
        }
    }
}

impl ScheduleOptions {
    /// Defaults with another scheduler.
    pub fn with(scheduler: Scheduler) -> Self {
        ScheduleOptions {
            scheduler,
            ..Self::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), KnapsackError> {
        if !(self.eta > 0.0 && self.eta < 0.75) {
            return Err(KnapsackError::InvalidOption {
                name: "eta",
                message: "must lie strictly between 0 and 0.75",
            });
        }
        Ok(())
    }

    /// FPTAS ε that yields OPT ≤ (1 + 2η/3)·value.
    fn fptas_epsilon(&self) -> f64 {
        let g = 2.0 * self.eta / 3.0;
        g / (1.0 + g)
    }
}

/// The result of an offline schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Ids of the allocated tasks, in allocation order.
    pub allocated: Vec<u64>,
    /// Sum of their weights.
    pub total_weight: f64,
    /// Remaining budget per block (input order) and order; may be negative at unused orders.
    pub remaining: Vec<RdpCurve>,
    /// For [`Scheduler::Optimal`], an upper bound on the optimum: equal to `total_weight` when
    /// the search finished (proven optimal), larger when the node budget ran out.
    pub upper_bound: Option<f64>,
}

impl Allocation {
    /// Number of allocated tasks.
    pub fn num_allocated(&self) -> usize {
        self.allocated.len()
    }

    /// `true` unless an exact search stopped at its node budget. Never `true` when the total
    /// weight or the bound is not finite (no optimality is proven by an infinite sum).
    pub fn proven_optimal(&self) -> bool {
        self.total_weight.is_finite()
            && self
                .upper_bound
                .is_none_or(|ub| ub.is_finite() && ub <= self.total_weight * (1.0 + 1e-9) + 1e-12)
    }
}

/// Runs `options.scheduler` on a workload. Deterministic: tasks are ranked by (arrival, id),
/// which breaks every tie, so the result does not depend on the order tasks are listed in.
pub fn schedule(
    workload: &Workload,
    options: &ScheduleOptions,
) -> Result<Allocation, KnapsackError> {
    options.validate()?;
    let na = workload.alphas().len();
    let capacity = workload.capacity_flat();
    let demands: Vec<RdpCurve> = workload.tasks().iter().map(|t| t.demand.clone()).collect();
    let weights: Vec<f64> = workload.tasks().iter().map(|t| t.weight).collect();
    let rank = canonical_rank(workload);
    let mut candidates: Vec<usize> = (0..workload.tasks().len()).collect();
    candidates.sort_by_key(|&i| rank[i]);
    let engine = Engine {
        na,
        demands: &demands,
        weights: &weights,
        task_blocks: workload.task_blocks(),
        rank: &rank,
        initial: &capacity,
        num_blocks: workload.blocks().len(),
    };
    let mut remaining = capacity.clone();
    let (chosen, upper_bound) = if options.scheduler == Scheduler::Optimal {
        let (c, ub) = optimal::solve(&engine, &candidates, &mut remaining, options)?;
        (c, Some(ub))
    } else {
        (engine.run(&candidates, &mut remaining, options), None)
    };
    let tasks = workload.tasks();
    let allocated: Vec<u64> = chosen
        .iter()
        .filter_map(|&i| tasks.get(i))
        .map(|t| t.id)
        .collect();
    let total_weight = chosen.iter().filter_map(|&i| weights.get(i)).sum();
    let remaining = remaining
        .chunks(na)
        .map(|c| c.iter().copied().collect())
        .collect();
    Ok(Allocation {
        allocated,
        total_weight,
        remaining,
        upper_bound,
    })
}

/// Rank of each task in (arrival, id) order.
fn canonical_rank(workload: &Workload) -> Vec<u32> {
    let tasks = workload.tasks();
    let mut order: Vec<usize> = (0..tasks.len()).collect();
    order.sort_by(|&a, &b| {
        tasks[a]
            .arrival
            .total_cmp(&tasks[b].arrival)
            .then(tasks[a].id.cmp(&tasks[b].id))
    });
    let mut rank = vec![0u32; tasks.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r as u32;
    }
    rank
}

/// Everything the greedy schedulers read, for offline and online use. Task and block indices
/// are global; `initial` and remaining budgets are flat `block × order` arrays.
pub(crate) struct Engine<'a> {
    pub na: usize,
    pub demands: &'a [RdpCurve],
    pub weights: &'a [f64],
    pub task_blocks: &'a [Vec<u32>],
    pub rank: &'a [u32],
    pub initial: &'a [f64],
    pub num_blocks: usize,
}

impl Engine<'_> {
    /// `true` when task `t` fits on all its blocks.
    pub fn fits_all(&self, t: usize, remaining: &[f64]) -> bool {
        let d = &self.demands[t];
        let na = self.na;
        self.task_blocks[t].iter().all(|&j| {
            let j = j as usize;
            fits(
                &remaining[j * na..(j + 1) * na],
                d,
                &self.initial[j * na..(j + 1) * na],
            )
        })
    }

    /// Subtracts task `t`'s demand at every order of its blocks.
    pub fn take(&self, t: usize, remaining: &mut [f64]) {
        let d = &self.demands[t];
        for &j in &self.task_blocks[t] {
            let j = j as usize;
            for (r, x) in remaining[j * self.na..(j + 1) * self.na].iter_mut().zip(d) {
                *r -= x;
            }
        }
    }

    /// Greedy allocation of `candidates` (any order) against `remaining`, which is updated.
    /// Returns the allocated task indices in allocation order.
    pub fn run(
        &self,
        candidates: &[usize],
        remaining: &mut [f64],
        options: &ScheduleOptions,
    ) -> Vec<usize> {
        let start = if options.scheduler == Scheduler::Dpk && options.single_task_fallback {
            Some(remaining.to_vec())
        } else {
            None
        };
        let recompute = match options.scheduler {
            Scheduler::Dpk | Scheduler::Area => options.recompute_every,
            Scheduler::Dpf if options.dpf_capacity == DpfCapacity::Remaining => {
                options.recompute_every
            }
            _ => 0,
        };
        // Tasks that do not fit now never will in this run (budgets only shrink): dropping
        // them up front keeps them out of every knapsack and priority recomputation.
        let mut alive: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&t| self.fits_all(t, remaining))
            .collect();
        alive.sort_by_key(|&t| self.rank[t]);
        let mut is_alive = vec![false; self.demands.len()];
        for &t in &alive {
            is_alive[t] = true;
        }
        let mut cache = DpkCache::default();
        if options.scheduler == Scheduler::Dpk {
            cache.build(self, &alive, options);
        }
        let mut allocated = Vec::new();
        let mut keys = vec![0.0_f64; self.demands.len()];
        loop {
            self.keys(&alive, &is_alive, remaining, options, &mut cache, &mut keys);
            let cmp = |a: &usize, b: &usize| {
                keys[*b]
                    .total_cmp(&keys[*a])
                    .then(self.rank[*a].cmp(&self.rank[*b]))
            };
            // Walk the tasks by decreasing priority, sorting only as far as the walk gets: with
            // recomputation every k allocations, a sweep usually stops long before the end, so
            // the next chunk is selected (O(n)) and only that chunk is sorted.
            let mut order = core::mem::take(&mut alive);
            let n = order.len();
            let mut chunk = if recompute > 0 {
                (4 * recompute).max(256)
            } else {
                n
            };
            let mut from = 0usize;
            let mut count = 0usize;
            let mut stopped_at = None;
            'sweep: while from < n {
                let to = (from + chunk).min(n);
                if to < n {
                    order[from..].select_nth_unstable_by(to - from - 1, cmp);
                }
                order[from..to].sort_unstable_by(cmp);
                for (pos, &t) in order.iter().enumerate().take(to).skip(from) {
                    is_alive[t] = false;
                    if self.fits_all(t, remaining) {
                        self.take(t, remaining);
                        allocated.push(t);
                        count += 1;
                        if recompute > 0 && count == recompute {
                            stopped_at = Some(pos + 1);
                            break 'sweep;
                        }
                    }
                    // A task that does not fit now never will in this run: budgets only shrink.
                }
                from = to;
                chunk = chunk.saturating_mul(2);
            }
            match stopped_at {
                Some(pos) if pos < n => {
                    order.drain(..pos);
                    alive = order;
                }
                _ => break,
            }
        }
        if let Some(start) = start {
            // Best single task that fits alone; ties to the earliest rank.
            let mut single: Option<usize> = None;
            for &t in candidates {
                if self.fits_all(t, &start)
                    && single.is_none_or(|s| {
                        self.weights[t] > self.weights[s]
                            || (self.weights[t] == self.weights[s] && self.rank[t] < self.rank[s])
                    })
                {
                    single = Some(t);
                }
            }
            let greedy: f64 = allocated.iter().map(|&t| self.weights[t]).sum();
            if let Some(s) = single
                && self.weights[s] > greedy * (1.0 + 1e-12)
            {
                remaining.copy_from_slice(&start);
                self.take(s, remaining);
                return vec![s];
            }
        }
        allocated
    }

    /// `(demand, capacity)` of task `t` at every order of every block it requests where the
    /// capacity, read from `caps` (one row of orders per block), is positive.
    fn demand_and_capacity<'a>(
        &'a self,
        t: usize,
        caps: &'a [f64],
    ) -> impl Iterator<Item = (f64, f64)> + 'a {
        let (na, d) = (self.na, &self.demands[t]);
        self.task_blocks[t].iter().flat_map(move |&j| {
            let j = j as usize;
            d.iter()
                .zip(&caps[j * na..(j + 1) * na])
                .filter(|&(_, &c)| c > 0.0)
                .map(|(&x, &c)| (x, c))
        })
    }

    fn keys(
        &self,
        alive: &[usize],
        is_alive: &[bool],
        remaining: &[f64],
        options: &ScheduleOptions,
        cache: &mut DpkCache,
        keys: &mut [f64],
    ) {
        let na = self.na;
        match options.scheduler {
            Scheduler::Fcfs | Scheduler::Optimal => {
                for &t in alive {
                    keys[t] = 0.0;
                }
            }
            Scheduler::Dpf => {
                let cap = match options.dpf_capacity {
                    DpfCapacity::Initial => self.initial,
                    DpfCapacity::Remaining => remaining,
                };
                for &t in alive {
                    let share = self
                        .demand_and_capacity(t, cap)
                        .fold(0.0_f64, |share, (x, c)| share.max(x / c));
                    let w = if options.dpf_weighted {
                        self.weights[t]
                    } else {
                        1.0
                    };
                    keys[t] = per_cost(w, share);
                }
            }
            Scheduler::Area => {
                for &t in alive {
                    // x·(1/c), the same arithmetic as DPK's terms, so that DPK with one order
                    // reproduces Area bit for bit.
                    let area = self
                        .demand_and_capacity(t, remaining)
                        .fold(0.0, |area, (x, c)| area + x * (1.0 / c));
                    keys[t] = per_cost(self.weights[t], area);
                }
            }
            Scheduler::Dpk => {
                let best = cache.best_orders(self, alive, is_alive, remaining, options);
                // Per block: 1/c at its best order (0 where c ≤ 0), and per order the prefix
                // sums of those over the blocks whose best order it is. A task asking for a
                // contiguous run of many more blocks than there are orders (the online "latest k
                // blocks") then costs one subtraction per order instead of one term per block.
                let m = self.num_blocks;
                let mut inv = vec![0.0_f64; m];
                for (j, x) in inv.iter_mut().enumerate() {
                    let c = remaining[j * na + best[j] as usize];
                    if c > 0.0 {
                        *x = 1.0 / c;
                    }
                }
                let use_prefix = cache.has_long_ranges;
                let mut prefix = Vec::new();
                if use_prefix {
                    prefix = vec![0.0_f64; (m + 1) * na];
                    for j in 0..m {
                        for a in 0..na {
                            prefix[(j + 1) * na + a] = prefix[j * na + a];
                        }
                        prefix[(j + 1) * na + best[j] as usize] += inv[j];
                    }
                }
                for &t in alive {
                    let d = &self.demands[t];
                    let mut denom = 0.0;
                    match cache.range.get(t) {
                        Some(&(lo, hi)) if use_prefix && hi > lo => {
                            let (lo, hi) = (lo as usize, hi as usize);
                            for (a, x) in d.iter().enumerate() {
                                denom += x * (prefix[hi * na + a] - prefix[lo * na + a]);
                            }
                        }
                        _ => {
                            for &j in &self.task_blocks[t] {
                                let j = j as usize;
                                denom += d[best[j] as usize] * inv[j];
                            }
                        }
                    }
                    keys[t] = per_cost(self.weights[t], denom);
                }
            }
        }
    }
}

/// A greedy key: `weight` per unit of `cost`, +∞ for a task that costs nothing.
fn per_cost(weight: f64, cost: f64) -> f64 {
    if cost > 0.0 {
        weight / cost
    } else {
        f64::INFINITY
    }
}

/// Per-block data DPK's knapsacks reuse across recomputations: the tasks on each block and,
/// when the knapsack counts tasks, those tasks sorted by demand at each order.
#[derive(Default)]
struct DpkCache {
    /// Counting mode (explicitly, or every candidate has the same weight).
    counting: bool,
    /// Common weight in counting mode (1 in [`KnapsackMode::Count`]).
    unit: f64,
    /// Blocks touched by some candidate.
    blocks: Vec<usize>,
    /// Per block, the candidates on it in rank order.
    on_block: Vec<Vec<usize>>,
    /// Counting mode: per block and order, the candidates sorted by demand (then rank).
    sorted: Vec<Vec<usize>>,
    /// Per list of `sorted`, how many leading entries are known dead (allocated or dropped;
    /// they never come back within a run).
    head: Vec<usize>,
    /// Per task: its blocks as a half-open range `lo..hi` when they are contiguous, ascending
    /// and more than max(2 × orders, 16); (0, 0) otherwise.
    range: Vec<(u32, u32)>,
    /// Some candidate has such a range.
    has_long_ranges: bool,
}

impl DpkCache {
    fn build(&mut self, e: &Engine<'_>, alive: &[usize], options: &ScheduleOptions) {
        let na = e.na;
        let first_w = alive.first().map_or(1.0, |&t| e.weights[t]);
        self.counting = options.knapsack == KnapsackMode::Count
            || alive.iter().all(|&t| e.weights[t] == first_w);
        self.unit = if options.knapsack == KnapsackMode::Count {
            1.0
        } else {
            first_w
        };
        self.range = vec![(0, 0); e.demands.len()];
        self.has_long_ranges = false;
        for &t in alive {
            let b = &e.task_blocks[t];
            // Only long runs: the prefix sums round differently from the direct sum, and short
            // requests keep the direct arithmetic, identical to Area's with one order.
            if b.len() > (2 * na).max(16)
                && b.windows(2).all(|w| w[1] == w[0] + 1)
                && let (Some(&lo), Some(&last)) = (b.first(), b.last())
            {
                self.range[t] = (lo, last + 1);
                self.has_long_ranges = true;
            }
        }
        self.on_block = vec![Vec::new(); e.num_blocks];
        for &t in alive {
            for &j in &e.task_blocks[t] {
                self.on_block[j as usize].push(t);
            }
        }
        self.blocks = (0..e.num_blocks)
            .filter(|&j| !self.on_block[j].is_empty())
            .collect();
        if self.counting {
            self.sorted = vec![Vec::new(); e.num_blocks * na];
            let mut keyed: Vec<(u64, u32, usize)> = Vec::new();
            for &j in &self.blocks {
                for a in 0..na {
                    // An order without initial capacity never has remaining budget.
                    if e.initial[j * na + a] <= 0.0 {
                        continue;
                    }
                    // Demands are finite and ≥ 0, so their bit patterns sort like the numbers.
                    keyed.clear();
                    keyed.extend(
                        self.on_block[j]
                            .iter()
                            .map(|&t| (e.demands[t][a].to_bits(), e.rank[t], t)),
                    );
                    keyed.sort_unstable();
                    self.sorted[j * na + a] = keyed.iter().map(|k| k.2).collect();
                }
            }
            self.head = vec![0; e.num_blocks * na];
        }
    }

    /// α̂ per block (index into the orders): the order with the largest knapsack value, the
    /// smallest order among ties. Blocks without candidates get order 0.
    fn best_orders(
        &mut self,
        e: &Engine<'_>,
        _alive: &[usize],
        is_alive: &[bool],
        remaining: &[f64],
        options: &ScheduleOptions,
    ) -> Vec<u8> {
        let na = e.na;
        let mut best = vec![0u8; e.num_blocks];
        let mut items: Vec<KpItem> = Vec::new();
        for &j in &self.blocks {
            let mut best_value = f64::NEG_INFINITY;
            for a in 0..na {
                let cap = remaining[j * na + a];
                let value = if cap <= 0.0 {
                    0.0
                } else if self.counting {
                    let list = &self.sorted[j * na + a];
                    let head = &mut self.head[j * na + a];
                    while list.get(*head).is_some_and(|&t| !is_alive[t]) {
                        *head += 1;
                    }
                    let mut used = 0.0;
                    let mut n = 0usize;
                    for &t in &list[*head..] {
                        if !is_alive[t] {
                            continue;
                        }
                        let d = e.demands[t][a];
                        if within(used + d, cap, e.initial[j * na + a]) {
                            used += d;
                            n += 1;
                        } else {
                            break;
                        }
                    }
                    n as f64 * self.unit
                } else {
                    items.clear();
                    items.extend(self.on_block[j].iter().filter(|&&t| is_alive[t]).map(|&t| {
                        KpItem {
                            weight: e.demands[t][a],
                            profit: e.weights[t],
                        }
                    }));
                    kp::solve(&items, cap, options.fptas_epsilon()).0
                };
                if value > best_value {
                    best_value = value;
                    best[j] = a as u8;
                }
            }
        }
        best
    }
}
