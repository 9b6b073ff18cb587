//! **Zeus** (You, Chung and Chowdhury, "Zeus: Understanding and Optimizing GPU Energy
//! Consumption of DNN Training", NSDI'23): the GPU power limit (chosen just in time, inside one
//! run) and the batch size (chosen across recurrences of the same job) that minimise a tunable
//! mix of energy and time.
//!
//! This module holds the cost model every Zeus component shares ([`Eta`], [`zeus_cost`],
//! [`epoch_cost`]); the optimizers and the trace-driven simulator build on it.
//!
//! - [`power_limit`]: the just-in-time power-limit optimizer as a pure state machine
//!   ([`PowerLimitOptimizer`]), which hwctl drives on real GPUs.
//! - [`BatchSizeOptimizer`]: pruning exploration, early stopping and Gaussian Thompson
//!   sampling across recurrences, as a library object whose state serializes
//!   ([`bso_state`]: `zeus-bso-state/v1`, the optimizer with its cost model).
//! - [`trace`]: the NSDI'23 train and power traces (CSV text), the six workloads, and the
//!   just-in-time power-limit choice and expected time/energy/cost per batch size.
//! - [`sim`]: the trace-driven simulator of recurring jobs (Zeus and the baselines).

mod batch_size;
#[cfg(feature = "serde")]
pub mod bso_state;
mod cost;
mod error;
#[cfg(feature = "serde")]
pub mod formats;
pub mod power_limit;
mod rng;
pub mod sim;
pub mod trace;

pub use batch_size::{
    BatchSizeOptimizer, BsoParams, DEFAULT_BETA, DEFAULT_NUM_EXPLORATIONS, DEFAULT_PRUNING_ROUNDS,
    Stage,
};
pub use cost::{Eta, EtaError, epoch_cost, zeus_cost};
pub use error::ZeusError;
pub use power_limit::{
    Action, PowerLimitError, PowerLimitMeasurement, PowerLimitOptimizer, PowerLimitOptions,
    PowerLimitState, Selector,
};
pub use rng::ZeusRng;
