//! The one error type of the Zeus optimizers, traces and simulator.

use alloc::string::String;
use alloc::vec::Vec;

/// Why a Zeus input, optimizer call or simulation was rejected. Every variant names the input
/// and the value or limit it broke; none of them is raised by a panic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ZeusError {
    /// The batch-size list is empty.
    #[error("the batch-size list is empty")]
    NoBatchSizes,
    /// A batch size is zero or listed twice.
    #[error("batch size {batch_size} is zero or listed twice")]
    BadBatchSize {
        /// The offending batch size.
        batch_size: u32,
    },
    /// The default batch size is not one of the batch sizes.
    #[error("default batch size {default} is not one of the batch sizes {batch_sizes:?}")]
    DefaultNotListed {
        /// The default batch size.
        default: u32,
        /// The list it was looked up in.
        batch_sizes: Vec<u32>,
    },
    /// β (the early-stopping threshold) must be a number ≥ 1 or infinite.
    #[error("beta must be a number >= 1 (or infinite to disable early stopping), got {value}")]
    BadBeta {
        /// The rejected value.
        value: f64,
    },
    /// The prior, the window or another optimizer parameter is out of range.
    #[error("parameter `{name}` out of range: {value}")]
    BadParameter {
        /// The parameter's name.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// A reported batch size is not one the optimizer knows.
    #[error("batch size {batch_size} is not one of the optimizer's batch sizes")]
    UnknownBatchSize {
        /// The reported batch size.
        batch_size: u32,
    },
    /// During pruning exploration, a result was reported for a batch size other than the one
    /// [`crate::zeus::BatchSizeOptimizer::next_batch_size`] last returned (or none was asked).
    #[error("pruning exploration expected a result for batch size {expected:?}, got {got}")]
    UnexpectedBatchSize {
        /// The batch size exploration is waiting for (`None`: none was handed out).
        expected: Option<u32>,
        /// The batch size reported.
        got: u32,
    },
    /// A reported cost is negative or not finite.
    #[error("cost must be a finite number >= 0, got {value}")]
    BadCost {
        /// The rejected cost.
        value: f64,
    },
    /// A never-ran attempt was reported while there is no finite cost limit (so no attempt
    /// can have been stopped before its first epoch).
    #[error(
        "batch size {batch_size}: a never-ran attempt needs a finite cost limit, there is none yet"
    )]
    NeverRanWithoutLimit {
        /// The reported batch size.
        batch_size: u32,
    },
    /// Every batch size failed during a pruning round: no arm is left for Thompson sampling.
    #[error("pruning round {round} left no batch size that reached the target")]
    NoSurvivors {
        /// The 1-based round.
        round: u32,
    },
    /// The workload name is not one of the six the simulator knows.
    #[error("unknown workload `{name}` (known: {known})")]
    UnknownWorkload {
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// No batch size of the workload is in both the train and the power trace.
    #[error(
        "workload `{workload}`: no batch size has rows in both the train trace (target metric {target_metric}) and the power trace"
    )]
    NoBatchSizesInTraces {
        /// The workload's dataset.
        workload: String,
        /// Its target metric.
        target_metric: f64,
    },
    /// A batch size of the workload lacks power-trace rows for some of the power limits the
    /// other batch sizes have.
    #[error(
        "workload `{workload}`: batch size {batch_size} has no power-trace rows for power limit(s) {missing_w:?} W"
    )]
    MissingPowerLimits {
        /// The workload's dataset.
        workload: String,
        /// The batch size.
        batch_size: u32,
        /// The power limits it lacks, in W.
        missing_w: Vec<u32>,
    },
    /// The default batch size of the workload is not in both traces.
    #[error(
        "workload `{workload}`: default batch size {batch_size} is not in both traces (batch sizes {batch_sizes:?})"
    )]
    DefaultNotInTraces {
        /// The workload's dataset.
        workload: String,
        /// The default batch size.
        batch_size: u32,
        /// The batch sizes found in both traces.
        batch_sizes: Vec<u32>,
    },
    /// The default batch size never reaches the target in the first recurrence (the reference
    /// simulator stops there too).
    #[error("the default batch size {batch_size} did not reach the target in the first recurrence")]
    DefaultDidNotConverge {
        /// The default batch size.
        batch_size: u32,
    },
    /// A recurrence failed to reach the target in its 20 attempts.
    #[error("recurrence {recurrence} did not reach the target in {attempts} attempts")]
    TooManyAttempts {
        /// The 0-based recurrence.
        recurrence: u32,
        /// The attempts made.
        attempts: u32,
    },
    /// The recurrence count is zero or above the limit.
    #[error("recurrences must be in 1..={limit}, got {value}")]
    BadRecurrences {
        /// The rejected count.
        value: u64,
        /// The limit.
        limit: u64,
    },
    /// A policy needs a batch size where every training path reaches the target, and none is.
    #[error("workload `{workload}`: no batch size reaches the target on every training path")]
    NoFeasibleBatchSize {
        /// The workload's dataset.
        workload: String,
    },
}
