//! Blocks, tasks and the ∃-order feasibility rule (dpk-orloj.md §A1).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::online::MAX_BLOCKS;
use super::rdp::Conversion;
use super::{
    KnapsackError, MAX_TASKS, MAX_WEIGHT, RdpCurve, check_block_requests, check_limit, rdp, vec_for,
};

/// Checks the sizes of a workload against [`MAX_BLOCKS`] and [`MAX_TASKS`], before anything
/// of that size is allocated (readers and the C ABI call it first).
pub fn check_sizes(num_blocks: usize, num_tasks: usize) -> Result<(), KnapsackError> {
    check_limit("blocks", "MAX_BLOCKS", num_blocks, MAX_BLOCKS as usize)?;
    check_limit("tasks", "MAX_TASKS", num_tasks, MAX_TASKS)
}

/// Checks a task's weight: positive, finite and at most [`MAX_WEIGHT`].
pub(crate) fn check_weight(task: u64, weight: f64) -> Result<(), KnapsackError> {
    if !(weight.is_finite() && weight > 0.0) {
        return Err(KnapsackError::InvalidWeight {
            task,
            value: weight,
        });
    }
    if weight > MAX_WEIGHT {
        return Err(KnapsackError::WeightTooLarge {
            task,
            value: weight,
            max: MAX_WEIGHT,
        });
    }
    Ok(())
}

/// Relative slack of the budget check: at an order whose full capacity is `c > 0`, a task fits
/// when `remaining − demand ≥ −FEASIBILITY_RTOL·c`. It only absorbs the rounding of
/// incremental subtraction; relative to the capacity, it can never admit more than a
/// `1 + FEASIBILITY_RTOL` fraction of it, whatever the scale of the budget.
pub const FEASIBILITY_RTOL: f64 = 1e-12;

/// A data block with a non-replenishable privacy budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Identifier (unique in a workload).
    pub id: u64,
    /// Capacity at each order.
    pub capacity: RdpCurve,
    /// When the block arrives (informative offline).
    pub arrival: f64,
}

impl Block {
    /// A block whose capacity comes from a global (ε, δ) budget by the classic conversion.
    pub fn from_budget(
        id: u64,
        alphas: &[f64],
        epsilon: f64,
        delta: f64,
        arrival: f64,
    ) -> Result<Self, KnapsackError> {
        Self::from_budget_with(id, alphas, epsilon, delta, Conversion::Classic, arrival)
    }

    /// A block whose capacity comes from a global (ε, δ) budget by `conversion`
    /// ([`rdp::block_capacity_with`]): what the block admits is certified (ε, δ)-DP by that
    /// conversion.
    pub fn from_budget_with(
        id: u64,
        alphas: &[f64],
        epsilon: f64,
        delta: f64,
        conversion: Conversion,
        arrival: f64,
    ) -> Result<Self, KnapsackError> {
        let capacity =
            rdp::block_capacity_with(alphas, epsilon, delta, conversion).map_err(|e| {
                KnapsackError::BlockBudget {
                    block: id,
                    source: Box::new(e),
                }
            })?;
        Ok(Block {
            id,
            capacity,
            arrival,
        })
    }
}

/// A task: a weight (utility) and the same RDP demand on each block it requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Identifier (unique in a workload).
    pub id: u64,
    /// Utility, > 0 (1 to count tasks).
    pub weight: f64,
    /// Arrival time; breaks efficiency ties (earlier first), then the id.
    pub arrival: f64,
    /// Ids of the requested blocks.
    pub blocks: Vec<u64>,
    /// RDP ε at each order, on every requested block.
    pub demand: RdpCurve,
}

/// A validated offline problem: orders, blocks and tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    alphas: RdpCurve,
    blocks: Vec<Block>,
    tasks: Vec<Task>,
    /// Per task, the indices (into `blocks`) of its requested blocks.
    task_blocks: Vec<Vec<u32>>,
}

/// `true` when a task with `demand` fits on a block with `remaining` budget at some order
/// whose full `capacity` is positive.
///
/// This is the block's privacy filter. Its invariant: the total demand ever admitted on a
/// block stays within `(1 + FEASIBILITY_RTOL)·c_α` at one order α with `c_α > 0`, so the
/// block's conversion (the one its capacity was derived with) certifies the block's ε for the
/// whole allocated set. An order with capacity ≤ 0 admits nothing, not even a tiny demand:
/// no demand there can be certified.
#[inline]
pub fn fits(remaining: &[f64], demand: &[f64], capacity: &[f64]) -> bool {
    remaining
        .iter()
        .zip(demand)
        .zip(capacity)
        .any(|((r, d), &c)| c > 0.0 && r - d >= -FEASIBILITY_RTOL * c)
}

/// `true` when a total `used` is within `capacity` up to the rounding slack (the 1-D knapsack
/// rule of the estimates; `limit` is the full capacity that sets the slack).
#[inline]
pub(crate) fn within(used: f64, capacity: f64, limit: f64) -> bool {
    used <= capacity + FEASIBILITY_RTOL * limit.max(0.0)
}

impl Workload {
    /// Validates and builds a workload. Errors name the offending block or task: duplicate ids,
    /// capacity or demand vectors of the wrong length or with NaN / infinite / negative
    /// entries, non-positive weights or weights over [`MAX_WEIGHT`], requests of missing
    /// blocks; and the limits [`MAX_BLOCKS`], [`MAX_TASKS`] and
    /// [`MAX_BLOCK_REQUESTS`](super::MAX_BLOCK_REQUESTS).
    pub fn new(
        alphas: &[f64],
        blocks: Vec<Block>,
        tasks: Vec<Task>,
    ) -> Result<Self, KnapsackError> {
        let alphas = rdp::orders(alphas)?;
        let na = alphas.len();
        if blocks.is_empty() {
            return Err(KnapsackError::NoBlocks);
        }
        check_sizes(blocks.len(), tasks.len())?;
        check_block_requests(tasks.iter().map(|t| t.blocks.len()))?;
        let mut index = BTreeMap::new();
        for (j, b) in blocks.iter().enumerate() {
            if index.insert(b.id, j as u32).is_some() {
                return Err(KnapsackError::DuplicateBlock { block: b.id });
            }
            if b.capacity.len() != na {
                return Err(KnapsackError::CapacityLength {
                    block: b.id,
                    len: b.capacity.len(),
                    expected: na,
                });
            }
            for (&a, &c) in alphas.iter().zip(&b.capacity) {
                if !(c.is_finite() && c >= 0.0) {
                    return Err(KnapsackError::InvalidCapacity {
                        block: b.id,
                        alpha: a,
                        value: c,
                    });
                }
            }
            if !b.arrival.is_finite() {
                return Err(KnapsackError::BlockArrival {
                    block: b.id,
                    value: b.arrival,
                });
            }
        }
        let mut seen = BTreeMap::new();
        let mut task_blocks = vec_for("task block lists", tasks.len())?;
        for t in &tasks {
            if seen.insert(t.id, ()).is_some() {
                return Err(KnapsackError::DuplicateTask { task: t.id });
            }
            check_weight(t.id, t.weight)?;
            if !t.arrival.is_finite() {
                return Err(KnapsackError::TaskArrival {
                    task: t.id,
                    value: t.arrival,
                });
            }
            check_demand(t.id, &alphas, &t.demand)?;
            if t.blocks.is_empty() {
                return Err(KnapsackError::NoRequestedBlocks { task: t.id });
            }
            let mut idx: Vec<u32> = vec_for("block requests", t.blocks.len())?;
            for &b in &t.blocks {
                let j = *index.get(&b).ok_or(KnapsackError::MissingBlock {
                    task: t.id,
                    block: b,
                })?;
                idx.push(j);
            }
            // Repeated requests: sort a copy (not a quadratic scan; a task may list every
            // block), and report the first repeated id in the task's own order.
            let mut sorted = idx.clone();
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w.first() == w.last()) {
                let mut seen = BTreeMap::new();
                for &b in &t.blocks {
                    if seen.insert(b, ()).is_some() {
                        return Err(KnapsackError::DuplicateRequest {
                            task: t.id,
                            block: b,
                        });
                    }
                }
            }
            task_blocks.push(idx);
        }
        Ok(Workload {
            alphas,
            blocks,
            tasks,
            task_blocks,
        })
    }

    /// The RDP orders.
    pub fn alphas(&self) -> &[f64] {
        &self.alphas
    }

    /// The blocks, in input order.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The tasks, in input order.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// Per task, the positions in [`Workload::blocks`] of its requested blocks.
    pub fn task_block_indices(&self, task: usize) -> &[u32] {
        self.task_blocks.get(task).map_or(&[], |v| v.as_slice())
    }

    /// Capacities as one flat row-major array, block by block.
    pub(crate) fn capacity_flat(&self) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.blocks.len() * self.alphas.len());
        for b in &self.blocks {
            out.extend_from_slice(&b.capacity);
        }
        out
    }

    pub(crate) fn task_blocks(&self) -> &[Vec<u32>] {
        &self.task_blocks
    }
}

/// Checks a demand vector against the orders.
pub(crate) fn check_demand(task: u64, alphas: &[f64], demand: &[f64]) -> Result<(), KnapsackError> {
    if demand.len() != alphas.len() {
        return Err(KnapsackError::DemandLength {
            task,
            len: demand.len(),
            expected: alphas.len(),
        });
    }
    for (&a, &d) in alphas.iter().zip(demand) {
        if !(d.is_finite() && d >= 0.0) {
            return Err(KnapsackError::InvalidDemand {
                task,
                alpha: a,
                value: d,
            });
        }
    }
    Ok(())
}
