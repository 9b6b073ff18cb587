//! Maximum flow and minimum cut on flat arrays with exact integer capacities.
//!
//! Shared machinery: Perseus ([`crate::perseus`]) solves one minimum cut with lower bounds per
//! frontier point, so the network is rebuilt thousands of times per solve. [`MaxFlow`] keeps
//! its buffers between solves and stores the graph in compressed sparse rows (arcs of a node
//! are contiguous), and capacities are `i64` so that ties between equal-cost cuts are decided
//! by exact arithmetic rather than by summation order.

mod dinic;
mod lower_bounds;

pub use dinic::{ArcId, MaxFlow};
pub use lower_bounds::{BoundedArc, BoundedCut, CutError};
