//! **Orloj** (Yu et al., "Orloj: Predictably Serving Unpredictable DNNs", MLSys'23,
//! arXiv 2209.00159): serving dynamic DNNs (early-exit vision models, variable-length NLP) by
//! batching on *empirical distributions* of per-request execution time instead of point
//! estimates.
//!
//! The paper's body and code were not available; this module implements what is confirmed
//! (per-application empirical distributions, a batch-time distribution derived from the
//! members', a batch-aware priority score, finish rate as the metric) and isolates every
//! reconstructed part behind a trait so it can be replaced once the paper is checked:
//!
//! - [`ExecDistribution`]: the distribution model. [`Distribution`] (heap, built once) and
//!   [`FixedDistribution`] (`heapless`, allocation-free) put probability mass on a shared
//!   [`TimeGrid`]; values are rounded *up* to the grid so estimates are conservative.
//! - [`BatchModel`]: the batch time. The default [`BatchScale`] treats members as independent
//!   (the batch CDF is `Π_k F_k(t / s(b))^{n_k}`, the law of the maximum) and multiplies by a
//!   batch-size factor `s(b)` given as a table or fitted to a profile by least squares.
//! - [`Score`] and [`DropRule`]: the Orloj policy's priority score (expected on-time finishes
//!   per unit of expected batch time, [`FinishesPerTime`]) and its early-drop rule (drop a
//!   request whose probability of finishing even alone is below `p_min`, [`ProbabilityFloor`]).
//! - [`Scheduler`]: the policy. [`Orloj`] and the baselines [`Clockwork`], [`Nexus`],
//!   [`Clipper`], [`Edf`] and [`Fifo`], which see only a point estimate (mean or p99,
//!   [`Estimate`]) of each application's time.
//!
//! [`Batcher`] is the online scheduler a server embeds (enqueue, next batch, completion
//! feedback; the hot path does not allocate), and [`sim`] a deterministic discrete-event
//! simulator built on it. Interchange formats (`orloj-sim/v1`, `orloj-result/v1`) live in
//! `formats` behind the `serde` feature.

mod batch;
mod batcher;
mod dist;
mod policy;
pub mod sim;

#[cfg(feature = "serde")]
pub mod formats;

use alloc::string::String;

pub use batch::{BatchDistribution, BatchModel, BatchScale};
pub use batcher::{Batcher, DEFAULT_DECAY, Decision, Queued, View};
pub use dist::{
    Distribution, DistributionIn, ExecDistribution, ExecSpec, FixedDistribution, TimeGrid,
};
pub use policy::{
    Clipper, Clockwork, DropRule, Edf, Estimate, Fifo, FinishesPerTime, LOAD_FLOOR_EXPONENT,
    LOAD_FLOOR_MAX, Nexus, Orloj, PolicyKind, PolicySpec, ProbabilityFloor, RATE_WINDOW_S,
    Scheduler, Score, Sizes,
};

/// Most applications a [`Batcher`] serves (fixed so per-decision cursors live on the stack).
pub const MAX_APPS: usize = 64;
/// Largest batch a [`Batcher`] forms.
pub const MAX_BATCH_SIZE: usize = 256;
/// Most bins of a [`TimeGrid`] (a 0.1 ms grid up to 6.5 s).
pub const MAX_BINS: usize = 1 << 16;

/// Why a batching input was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchingError {
    /// The time grid needs a positive finite bin width and 2..=MAX_BINS bins.
    #[error(
        "time grid: bin width {bin_s} s and {bins} bins (need a positive finite width and 2..={MAX_BINS} bins)"
    )]
    InvalidGrid {
        /// Bin width, seconds.
        bin_s: f64,
        /// Number of bins.
        bins: usize,
    },
    /// A distribution of an application is invalid.
    #[error("app `{app}`: {field}: {message}")]
    InvalidSpec {
        /// Application name (or index when it has none).
        app: String,
        /// The field at fault.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No applications.
    #[error("no applications: at least one is needed")]
    NoApps,
    /// More applications than [`MAX_APPS`].
    #[error("{apps} applications, more than the limit of {MAX_APPS}")]
    TooManyApps {
        /// How many were given.
        apps: usize,
    },
    /// An application index out of range.
    #[error("unknown app {app} (there are {apps} applications)")]
    UnknownApp {
        /// The index given.
        app: usize,
        /// How many applications there are.
        apps: usize,
    },
    /// An application's distribution is on another grid than the first one.
    #[error("app {app}: its distribution is on a different time grid from app 0")]
    GridMismatch {
        /// Application index.
        app: usize,
    },
    /// An application's traffic share is not in (0, 1].
    #[error("app `{app}`: share {share} is not in (0, 1]")]
    InvalidShare {
        /// Application name.
        app: String,
        /// The share.
        share: f64,
    },
    /// The shares do not add up to 1.
    #[error("app shares add up to {sum}, not 1")]
    ShareSum {
        /// Their sum.
        sum: f64,
    },
    /// An SLO is not a positive finite number of seconds.
    #[error("app `{app}`: slo_s {slo_s} is not a positive finite number of seconds")]
    InvalidSlo {
        /// Application name.
        app: String,
        /// The SLO.
        slo_s: f64,
    },
    /// A batch-size scale factor is not positive and finite.
    #[error("batch scale factor for size {size} is {value}, not a positive finite number")]
    InvalidScale {
        /// Batch size (1-based).
        size: usize,
        /// The factor.
        value: f64,
    },
    /// The largest batch size is out of range.
    #[error("batch max_size {max_size} is not in 1..={MAX_BATCH_SIZE}")]
    InvalidMaxBatch {
        /// The size.
        max_size: usize,
    },
    /// The scale table does not have one factor per batch size.
    #[error("batch scale has {len} factors but max_size is {max_size}: give one per batch size")]
    ScaleLength {
        /// Factors given.
        len: usize,
        /// Largest batch size.
        max_size: usize,
    },
    /// A batch-time profile cannot be fitted.
    #[error("batch profile: {0}")]
    InvalidProfile(String),
    /// A parameter or time value is out of its domain.
    #[error("{field} = {value}: {message}")]
    InvalidValue {
        /// The parameter.
        field: &'static str,
        /// The value.
        value: f64,
        /// Its domain.
        message: &'static str,
    },
    /// A request's deadline is before its arrival.
    #[error("request {request_id}: deadline {deadline_s} s is before its arrival {arrival_s} s")]
    DeadlineBeforeArrival {
        /// The request.
        request_id: u64,
        /// Arrival, seconds.
        arrival_s: f64,
        /// Deadline, seconds.
        deadline_s: f64,
    },
    /// A caller-provided buffer is too small.
    #[error("the {buffer} buffer holds {got} ids; it needs at least {needed}")]
    BufferTooSmall {
        /// Which buffer.
        buffer: &'static str,
        /// Its length.
        got: usize,
        /// The minimum.
        needed: usize,
    },
    /// A batch distribution of no members.
    #[error("a batch needs at least one member")]
    EmptyBatch,
    /// No policies to simulate.
    #[error("no policies to simulate")]
    NoPolicies,
    /// The simulation would generate more requests than the limit.
    #[error("the trace would have about {expected} requests, more than the limit of {limit}")]
    TooManyRequests {
        /// Expected count.
        expected: f64,
        /// The limit.
        limit: usize,
    },
}

/// Checks that `value` is finite and ≥ 0.
pub(crate) fn non_negative(field: &'static str, value: f64) -> Result<f64, BatchingError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(BatchingError::InvalidValue {
            field,
            value,
            message: "not a finite non-negative number",
        })
    }
}

/// Checks that `value` is a probability.
pub(crate) fn probability(field: &'static str, value: f64) -> Result<f64, BatchingError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(BatchingError::InvalidValue {
            field,
            value,
            message: "not a probability in [0, 1]",
        })
    }
}
