//! **DPK / DPack** (Tholoniat, Kostopoulou, McNeely, Sodhi, Varanasi, Case, Cidon, Geambasu,
//! Lécuyer, "Packing Privacy Budget Efficiently", EuroSys'25; preprint arXiv 2212.13228 as
//! "DPK"): scheduling training tasks onto data blocks whose differential-privacy budget is never
//! replenished, so that as many (or as valuable) tasks as possible run under the same global
//! (ε, δ) guarantee.
//!
//! The problem is a multidimensional 0/1 knapsack with a twist from Rényi DP: a set of tasks is
//! feasible when **every** block it touches stays within its capacity at **some** RDP order
//! (AND over blocks, OR over orders). Allocating a task subtracts its demand at every order, so
//! the unused orders may go negative ([`Workload`], [`fits`]).
//!
//! - [`rdp`]: RDP curves (Gaussian, Laplace, subsampled Gaussian and Laplace), composition,
//!   capacities from (ε, δ) and conversions back to (ε, δ).
//! - [`schedule`]: the offline schedulers — DPK (per block and order a 1-D knapsack picks the
//!   best order, then tasks are packed greedily by efficiency), DPF (dominant-share fairness,
//!   the PrivateKube baseline), FCFS, Area, and an exact branch and bound.
//! - [`kp`]: the 1-D 0/1 knapsack solvers DPK uses (exact dynamic programming and branch and
//!   bound, an FPTAS with guarantee profit ≥ (1 − ε)·OPT, and the count-only greedy).
//! - [`simulate`]: online operation — blocks arriving, budget unlocked over time or by task
//!   arrivals, scheduling every T time units.
//! - [`generate`]: deterministic workloads (the 620-curve microbenchmark, an Alibaba-like and
//!   an Amazon-reviews-like workload).
//! - `formats` (feature `serde`): `dpk-workload/v1`, `dpk-result/v1`, `dpk-online/v1` and
//!   `dpk-online-result/v1`.
//!
//! Deviations from the reference code, and the tie rules, are listed in `docs/dpk.md`.

pub mod generate;
pub mod kp;
mod online;
mod optimal;
mod problem;
pub mod rdp;
mod sched;

#[cfg(feature = "serde")]
pub mod formats;

pub use online::{
    MAX_BLOCKS, MAX_ROUNDS, OnlineAllocation, OnlineConfig, OnlineResult, OnlineTask, Unlocking,
    block_arrival, simulate, unlocked_fraction,
};
pub use optimal::{MAX_OPTIMAL_TASKS, OPTIMAL_MAX_WORK};
pub use problem::{Block, FEASIBILITY_RTOL, Task, Workload, check_sizes, fits};
pub use rdp::{Conversion, MAX_ACCOUNTING_ORDERS, MAX_ALPHA, Mechanism, STANDARD_ALPHAS};
pub use sched::{
    Allocation, DEFAULT_ETA, DpfCapacity, KnapsackMode, ScheduleOptions, Scheduler, schedule,
};

/// Largest number of RDP orders a problem may use (the standard set has 12).
pub const MAX_ORDERS: usize = 16;

/// Most tasks in a workload, an online configuration or a generated workload (checked before
/// the task list is allocated). A million tasks is 16 times the largest workload of the DPack
/// paper; the schedulers keep a few vectors of this length. Not overridable.
pub const MAX_TASKS: usize = 1_000_000;

/// Most block requests summed over the tasks of a workload (offline: the lengths of the tasks'
/// `blocks` lists; online: each task's `num_blocks`, capped by the number of blocks). The
/// schedulers keep one 4-byte index per request, so this bounds that memory to 200 MB.
pub const MAX_BLOCK_REQUESTS: usize = 50_000_000;

/// Largest task weight. With at most [`MAX_TASKS`] tasks, every sum of weights stays below
/// 10¹⁸, finite and exact to 10⁻⁴ relative of the largest weight.
pub const MAX_WEIGHT: f64 = 1e12;

/// An empty vector with room for `count` items, or [`KnapsackError::Allocation`] naming
/// `what` when the memory cannot be had (a size that came from input).
pub(crate) fn vec_for<T>(
    what: &'static str,
    count: usize,
) -> Result<alloc::vec::Vec<T>, KnapsackError> {
    let mut v = alloc::vec::Vec::new();
    v.try_reserve_exact(count)
        .map_err(|_| KnapsackError::Allocation { what, count })?;
    Ok(v)
}

/// [`KnapsackError::LimitExceeded`] unless `count ≤ max`.
pub(crate) fn check_limit(
    what: &'static str,
    limit: &'static str,
    count: usize,
    max: usize,
) -> Result<(), KnapsackError> {
    if count > max {
        Err(KnapsackError::LimitExceeded {
            what,
            count: count as u64,
            limit,
            max: max as u64,
        })
    } else {
        Ok(())
    }
}

/// Checks the block requests of a workload, one count per task summed (saturating), against
/// [`MAX_BLOCK_REQUESTS`].
pub(crate) fn check_block_requests(
    per_task: impl Iterator<Item = usize>,
) -> Result<(), KnapsackError> {
    let requests = per_task.fold(0usize, usize::saturating_add);
    check_limit(
        "block requests",
        "MAX_BLOCK_REQUESTS",
        requests,
        MAX_BLOCK_REQUESTS,
    )
}

/// One ε per RDP order: a demand curve, a capacity or a remaining budget. Fixed capacity, so
/// scheduling never allocates per task.
pub type RdpCurve = heapless::Vec<f64, MAX_ORDERS>;

/// Why a privacy-knapsack problem, mechanism or simulation was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KnapsackError {
    /// The order list is empty.
    #[error("the list of RDP orders (alphas) is empty")]
    EmptyOrders,
    /// More orders than [`MAX_ORDERS`].
    #[error("{count} RDP orders given; at most {max} are supported")]
    TooManyOrders {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An order is not finite, not above 1, or not increasing.
    #[error(
        "RDP order #{index} = {value} must be finite, greater than 1 and larger than the previous order"
    )]
    InvalidOrder {
        /// Position in the list.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// An order is larger than [`rdp::MAX_ALPHA`].
    #[error("RDP order #{index} = {value:e} exceeds the limit MAX_ALPHA = {max}")]
    OrderTooLarge {
        /// Position in the list.
        index: usize,
        /// Its value.
        value: f64,
        /// The limit.
        max: f64,
    },
    /// δ is outside (0, 1).
    #[error("delta = {delta} must lie strictly between 0 and 1")]
    InvalidDelta {
        /// δ.
        delta: f64,
    },
    /// ε is not a positive finite number.
    #[error("epsilon = {epsilon} must be a positive finite number")]
    InvalidEpsilon {
        /// ε.
        epsilon: f64,
    },
    /// An ε that may be 0 is negative or not finite.
    #[error("epsilon = {epsilon} must be a finite number >= 0")]
    NegativeEpsilon {
        /// ε.
        epsilon: f64,
    },
    /// A mechanism or generator parameter is out of its domain.
    #[error("parameter `{name}` = {value} is out of range")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// Two curves to combine have different lengths.
    #[error("curve has {len} entries but {expected} orders are in use")]
    CurveLength {
        /// Its length.
        len: usize,
        /// Number of orders.
        expected: usize,
    },
    /// A value of an RDP curve is NaN or negative.
    #[error("RDP curve at alpha = {alpha} is {value}; it must be >= 0 (+inf allowed)")]
    InvalidCurve {
        /// The order.
        alpha: f64,
        /// The value.
        value: f64,
    },
    /// A value of one of several curves to compose is NaN or negative.
    #[error("curve #{curve}, entry #{position} is {value}; it must be >= 0 (+inf allowed)")]
    InvalidCurveEntry {
        /// Which curve.
        curve: usize,
        /// Which entry of it.
        position: usize,
        /// The value.
        value: f64,
    },
    /// The classic Gaussian calibration was asked for outside its range of validity.
    #[error(
        "the classic Gaussian calibration sqrt(2 ln(1.25/delta))/epsilon is (epsilon, delta)-DP \
         only for epsilon < 1, and epsilon = {epsilon}; use the analytic calibration"
    )]
    ClassicGaussianRange {
        /// The ε asked for.
        epsilon: f64,
    },
    /// A problem without blocks.
    #[error("the workload has no blocks")]
    NoBlocks,
    /// Two blocks share an id.
    #[error("block {block} is defined twice")]
    DuplicateBlock {
        /// Block id.
        block: u64,
    },
    /// A block's capacity vector does not have one entry per order.
    #[error("block {block}: capacity has {len} entries but there are {expected} orders")]
    CapacityLength {
        /// Block id.
        block: u64,
        /// Its length.
        len: usize,
        /// Number of orders.
        expected: usize,
    },
    /// A capacity entry is NaN, infinite or negative.
    #[error("block {block}: capacity at alpha = {alpha} is {value}; it must be finite and >= 0")]
    InvalidCapacity {
        /// Block id.
        block: u64,
        /// The order.
        alpha: f64,
        /// The value.
        value: f64,
    },
    /// A block's (ε, δ) is invalid.
    #[error("block {block}: {source}")]
    BlockBudget {
        /// Block id.
        block: u64,
        /// What is wrong.
        source: alloc::boxed::Box<KnapsackError>,
    },
    /// A block's arrival time is not finite.
    #[error("block {block}: arrival {value} is not a finite number")]
    BlockArrival {
        /// Block id.
        block: u64,
        /// The value.
        value: f64,
    },
    /// Two tasks share an id.
    #[error("task {task} is defined twice")]
    DuplicateTask {
        /// Task id.
        task: u64,
    },
    /// A size read from input is over one of the documented limits.
    #[error("{count} {what} exceed the limit {limit} = {max}")]
    LimitExceeded {
        /// What was counted (`tasks`, `blocks`...).
        what: &'static str,
        /// How many the input asks for.
        count: u64,
        /// The name of the limit's constant.
        limit: &'static str,
        /// The limit.
        max: u64,
    },
    /// Memory for a size read from input could not be allocated.
    #[error("out of memory allocating {count} {what}")]
    Allocation {
        /// What was to be allocated.
        what: &'static str,
        /// How many.
        count: usize,
    },
    /// A task's weight is above [`MAX_WEIGHT`].
    #[error("task {task}: weight {value:e} exceeds the limit MAX_WEIGHT = {max:e}")]
    WeightTooLarge {
        /// Task id.
        task: u64,
        /// The value.
        value: f64,
        /// The limit.
        max: f64,
    },
    /// A task's weight is not positive and finite.
    #[error("task {task}: weight {value} must be a positive finite number")]
    InvalidWeight {
        /// Task id.
        task: u64,
        /// The value.
        value: f64,
    },
    /// A task's arrival time is not finite.
    #[error("task {task}: arrival {value} is not a finite number")]
    TaskArrival {
        /// Task id.
        task: u64,
        /// The value.
        value: f64,
    },
    /// A task requests no block.
    #[error("task {task} requests no blocks")]
    NoRequestedBlocks {
        /// Task id.
        task: u64,
    },
    /// A task names a block that does not exist.
    #[error("task {task} requests block {block}, which does not exist")]
    MissingBlock {
        /// Task id.
        task: u64,
        /// Block id.
        block: u64,
    },
    /// A task names the same block twice.
    #[error("task {task} requests block {block} twice")]
    DuplicateRequest {
        /// Task id.
        task: u64,
        /// Block id.
        block: u64,
    },
    /// A task's demand vector does not have one entry per order.
    #[error("task {task}: demand has {len} entries but there are {expected} orders")]
    DemandLength {
        /// Task id.
        task: u64,
        /// Its length.
        len: usize,
        /// Number of orders.
        expected: usize,
    },
    /// A demand entry is NaN, infinite or negative.
    #[error("task {task}: demand at alpha = {alpha} is {value}; it must be finite and >= 0")]
    InvalidDemand {
        /// Task id.
        task: u64,
        /// The order.
        alpha: f64,
        /// The value.
        value: f64,
    },
    /// A task's mechanism is invalid.
    #[error("task {task}: mechanism: {source}")]
    TaskMechanism {
        /// Task id.
        task: u64,
        /// What is wrong.
        source: alloc::boxed::Box<KnapsackError>,
    },
    /// A scheduler option is out of range.
    #[error("option `{name}`: {message}")]
    InvalidOption {
        /// Option name.
        name: &'static str,
        /// What is wrong.
        message: &'static str,
    },
    /// The exact solver was given more tasks than it accepts.
    #[error("the exact solver accepts at most {max} tasks; the workload has {count}")]
    TooManyTasks {
        /// Number of tasks.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An online-simulation setting is out of range.
    #[error("simulation setting `{name}` = {value} is out of range: {message}")]
    InvalidSetting {
        /// Setting name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What is required.
        message: &'static str,
    },
}
