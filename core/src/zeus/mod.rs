//! **Zeus** (You, Chung and Chowdhury, "Zeus: Understanding and Optimizing GPU Energy
//! Consumption of DNN Training", NSDI'23): the GPU power limit (chosen just in time, inside one
//! run) and the batch size (chosen across recurrences of the same job) that minimise a tunable
//! mix of energy and time.
//!
//! This module holds the cost model every Zeus component shares ([`Eta`], [`zeus_cost`],
//! [`epoch_cost`]); the optimizers and the trace-driven simulator build on it.
//! [`power_limit`] is the just-in-time power-limit optimizer as a pure state machine.

mod cost;
pub mod power_limit;

pub use cost::{Eta, EtaError, epoch_cost, zeus_cost};
pub use power_limit::{
    Action, PowerLimitError, PowerLimitMeasurement, PowerLimitOptimizer, PowerLimitOptions,
    PowerLimitState, Selector,
};
