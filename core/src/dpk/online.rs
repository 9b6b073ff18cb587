//! Online operation (dpk-orloj.md §A4): blocks arrive one per time unit after an initial
//! batch, each block's budget is unlocked gradually, and every T time units the scheduler runs
//! on all pending tasks against the unlocked, unconsumed budget. Unscheduled tasks wait.
//!
//! Timeline: blocks `0..initial_blocks` exist at t = 0; block `j ≥ initial_blocks` arrives at
//! `t = j − initial_blocks + 1`, up to `total_blocks`. A task arriving at t requests the latest
//! `num_blocks` blocks existing at t (all of them if fewer exist). Scheduling happens at
//! t = T, 2T, … until every block is fully unlocked and every task has arrived (one round past
//! that time).

use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;

use super::problem::{check_demand, check_weight};
use super::rdp::Conversion;
use super::sched::{Engine, ScheduleOptions, Scheduler};
use super::{KnapsackError, MAX_TASKS, RdpCurve, check_block_requests, check_limit, rdp};

/// How a block's capacity becomes available.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unlocking {
    /// T-unlocking: `min(⌈(t − t_j)/period⌉, steps)/steps` of the capacity at time t (the
    /// paper uses period = T; the reference simulator period = data lifetime / steps).
    Time {
        /// Time between two unlocking steps.
        period: f64,
        /// Number of steps N.
        steps: u32,
    },
    /// N-unlocking: each arriving task that requests the block unlocks `1/steps` of it.
    Arrivals {
        /// Number of steps N.
        steps: u32,
    },
}

/// Fraction of a block's capacity unlocked at `time`: for [`Unlocking::Time`],
/// `min(⌈(time − block_arrival)/period⌉, steps)/steps` (0 before the block arrives); for
/// [`Unlocking::Arrivals`], `min(arrivals, steps)/steps`. Never above 1.
pub fn unlocked_fraction(
    unlocking: &Unlocking,
    time: f64,
    block_arrival: f64,
    arrivals: u64,
) -> f64 {
    match *unlocking {
        Unlocking::Time { period, steps } => {
            if time < block_arrival || steps == 0 {
                return 0.0;
            }
            let k = libm::ceil((time - block_arrival) / period).min(f64::from(steps));
            k / f64::from(steps)
        }
        Unlocking::Arrivals { steps } => {
            if steps == 0 {
                return 0.0;
            }
            (arrivals.min(u64::from(steps))) as f64 / f64::from(steps)
        }
    }
}

/// Arrival time of block `j` when `initial_blocks` exist at t = 0 and one more arrives per time
/// unit.
pub fn block_arrival(initial_blocks: u32, j: u32) -> f64 {
    if j < initial_blocks {
        0.0
    } else {
        f64::from(j - initial_blocks + 1)
    }
}

/// A task of an online run.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineTask {
    /// Identifier (unique).
    pub id: u64,
    /// Utility, > 0.
    pub weight: f64,
    /// Arrival time, ≥ 0.
    pub arrival: f64,
    /// How many of the latest blocks it requests, ≥ 1.
    pub num_blocks: u32,
    /// RDP demand per order on each requested block.
    pub demand: RdpCurve,
}

/// An online simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineConfig {
    /// RDP orders.
    pub alphas: RdpCurve,
    /// Global ε of every block.
    pub block_epsilon: f64,
    /// Global δ of every block.
    pub block_delta: f64,
    /// How the blocks' (ε, δ) becomes a capacity per order (and so which conversion certifies
    /// what is allocated).
    pub block_conversion: Conversion,
    /// Blocks present at t = 0 (≥ 1).
    pub initial_blocks: u32,
    /// Total number of blocks (≥ initial_blocks).
    pub total_blocks: u32,
    /// Scheduling period T.
    pub scheduling_period: f64,
    /// Budget unlocking.
    pub unlocking: Unlocking,
    /// The scheduler ([`Scheduler::Optimal`] is not available online).
    pub options: ScheduleOptions,
    /// The tasks.
    pub tasks: Vec<OnlineTask>,
}

/// One allocation of an online run.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineAllocation {
    /// Task id.
    pub id: u64,
    /// Scheduling time at which it was allocated.
    pub time: f64,
    /// Scheduling delay: allocation time − arrival.
    pub delay: f64,
    /// Indices of the blocks it consumed.
    pub blocks: Vec<u32>,
}

/// Outcome of an online run.
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineResult {
    /// Allocations in order.
    pub allocations: Vec<OnlineAllocation>,
    /// Number of tasks submitted.
    pub num_submitted: usize,
    /// Sum of the allocated tasks' weights.
    pub total_weight: f64,
    /// Mean scheduling delay of the allocated tasks (0 if none).
    pub mean_delay: f64,
    /// Number of scheduling rounds run.
    pub num_rounds: usize,
    /// Consumed budget per block and order at the end.
    pub consumed: Vec<RdpCurve>,
}

impl OnlineResult {
    /// Number of allocated tasks.
    pub fn num_allocated(&self) -> usize {
        self.allocations.len()
    }
}

/// Most scheduling rounds a simulation may need (guards against a tiny T).
pub const MAX_ROUNDS: f64 = 10_000_000.0;
/// Most blocks a simulation or a workload may have (checked before they are allocated).
pub const MAX_BLOCKS: u32 = 1_000_000;

fn setting(name: &'static str, value: f64, message: &'static str) -> KnapsackError {
    KnapsackError::InvalidSetting {
        name,
        value,
        message,
    }
}

/// Runs an online simulation.
pub fn simulate(config: &OnlineConfig) -> Result<OnlineResult, KnapsackError> {
    let cfg = config;
    cfg.options.validate()?;
    if cfg.options.scheduler == Scheduler::Optimal {
        return Err(KnapsackError::InvalidOption {
            name: "scheduler",
            message: "the exact solver is offline only",
        });
    }
    let capacity = rdp::block_capacity_with(
        &cfg.alphas,
        cfg.block_epsilon,
        cfg.block_delta,
        cfg.block_conversion,
    )?;
    let na = capacity.len();
    if cfg.initial_blocks == 0 {
        return Err(setting(
            "initial_blocks",
            0.0,
            "at least one block must exist at t = 0",
        ));
    }
    if cfg.total_blocks < cfg.initial_blocks {
        return Err(setting(
            "total_blocks",
            f64::from(cfg.total_blocks),
            "must be at least initial_blocks",
        ));
    }
    if cfg.total_blocks > MAX_BLOCKS {
        return Err(setting(
            "total_blocks",
            f64::from(cfg.total_blocks),
            "at most 1000000 blocks",
        ));
    }
    let period = cfg.scheduling_period;
    if !(period.is_finite() && period > 0.0) {
        return Err(setting(
            "scheduling_period",
            period,
            "must be positive and finite",
        ));
    }
    let horizon = match cfg.unlocking {
        Unlocking::Time { period: p, steps } => {
            if !(p.is_finite() && p > 0.0) {
                return Err(setting("unlock_period", p, "must be positive and finite"));
            }
            if steps == 0 {
                return Err(setting("unlock_steps", 0.0, "must be at least 1"));
            }
            p * f64::from(steps)
        }
        Unlocking::Arrivals { steps } => {
            if steps == 0 {
                return Err(setting("unlock_steps", 0.0, "must be at least 1"));
            }
            0.0
        }
    };
    check_limit("tasks", "MAX_TASKS", cfg.tasks.len(), MAX_TASKS)?;
    // A task requests at most every block there will be.
    check_block_requests(
        cfg.tasks
            .iter()
            .map(|t| (t.num_blocks as usize).min(cfg.total_blocks as usize)),
    )?;
    let mut ids = BTreeSet::new();
    let mut last_arrival = 0.0_f64;
    for t in &cfg.tasks {
        if !ids.insert(t.id) {
            return Err(KnapsackError::DuplicateTask { task: t.id });
        }
        check_weight(t.id, t.weight)?;
        if !(t.arrival.is_finite() && t.arrival >= 0.0) {
            return Err(KnapsackError::TaskArrival {
                task: t.id,
                value: t.arrival,
            });
        }
        if t.num_blocks == 0 {
            return Err(KnapsackError::NoRequestedBlocks { task: t.id });
        }
        check_demand(t.id, &cfg.alphas, &t.demand)?;
        last_arrival = last_arrival.max(t.arrival);
    }
    let m = cfg.total_blocks as usize;
    let last_block = block_arrival(cfg.initial_blocks, cfg.total_blocks - 1);
    let end = last_block.max(last_arrival) + horizon;
    let rounds = libm::floor(end / period) + 1.0;
    if rounds > MAX_ROUNDS {
        return Err(setting(
            "scheduling_period",
            period,
            "too small for the simulated time span (over 10 million rounds)",
        ));
    }
    let rounds = rounds as usize;

    // Tasks in (arrival, id) order; that order is also the rank.
    let mut order: Vec<usize> = (0..cfg.tasks.len()).collect();
    order.sort_by(|&a, &b| {
        let (x, y) = (&cfg.tasks[a], &cfg.tasks[b]);
        x.arrival.total_cmp(&y.arrival).then(x.id.cmp(&y.id))
    });
    let tasks: Vec<&OnlineTask> = order.iter().map(|&i| &cfg.tasks[i]).collect();
    let demands: Vec<RdpCurve> = tasks.iter().map(|t| t.demand.clone()).collect();
    let weights: Vec<f64> = tasks.iter().map(|t| t.weight).collect();
    let rank: Vec<u32> = (0..tasks.len() as u32).collect();
    let task_blocks: Vec<Vec<u32>> = tasks
        .iter()
        .map(|t| {
            let existing = existing_blocks(cfg.initial_blocks, cfg.total_blocks, t.arrival);
            let k = t.num_blocks.min(existing);
            (existing - k..existing).collect()
        })
        .collect();
    let mut initial = Vec::with_capacity(m * na);
    for _ in 0..m {
        initial.extend_from_slice(&capacity);
    }
    let engine = Engine {
        na,
        demands: &demands,
        weights: &weights,
        task_blocks: &task_blocks,
        rank: &rank,
        initial: &initial,
        num_blocks: m,
    };
    let arrivals_of: Vec<f64> = (0..cfg.total_blocks)
        .map(|j| block_arrival(cfg.initial_blocks, j))
        .collect();
    let mut consumed = vec![0.0; m * na];
    let mut arrivals_on = vec![0u64; m];
    let mut remaining = vec![0.0; m * na];
    let mut pending: Vec<usize> = Vec::new();
    let mut next = 0usize;
    let mut allocations = Vec::new();
    let (mut total_weight, mut delay_sum) = (0.0, 0.0);
    for r in 1..=rounds {
        let now = r as f64 * period;
        while next < tasks.len() && tasks[next].arrival <= now {
            for &j in &task_blocks[next] {
                arrivals_on[j as usize] += 1;
            }
            pending.push(next);
            next += 1;
        }
        if pending.is_empty() {
            continue;
        }
        for j in 0..m {
            let f = unlocked_fraction(&cfg.unlocking, now, arrivals_of[j], arrivals_on[j]);
            for a in 0..na {
                remaining[j * na + a] = f * capacity[a] - consumed[j * na + a];
            }
        }
        let chosen = engine.run(&pending, &mut remaining, &cfg.options);
        if chosen.is_empty() {
            continue;
        }
        let mut taken = vec![false; tasks.len()];
        for &t in &chosen {
            taken[t] = true;
            for &j in &task_blocks[t] {
                let j = j as usize;
                for (c, d) in consumed[j * na..(j + 1) * na].iter_mut().zip(&demands[t]) {
                    *c += d;
                }
            }
            let delay = now - tasks[t].arrival;
            total_weight += weights[t];
            delay_sum += delay;
            allocations.push(OnlineAllocation {
                id: tasks[t].id,
                time: now,
                delay,
                blocks: task_blocks[t].clone(),
            });
        }
        pending.retain(|&t| !taken[t]);
    }
    let mean_delay = if allocations.is_empty() {
        0.0
    } else {
        delay_sum / allocations.len() as f64
    };
    Ok(OnlineResult {
        allocations,
        num_submitted: tasks.len(),
        total_weight,
        mean_delay,
        num_rounds: rounds,
        consumed: consumed
            .chunks(na)
            .map(|c| c.iter().copied().collect())
            .collect(),
    })
}

/// Number of blocks that exist at time `t`.
fn existing_blocks(initial: u32, total: u32, t: f64) -> u32 {
    let extra = libm::floor(t.max(0.0)).min(f64::from(total - initial));
    initial + extra as u32
}
