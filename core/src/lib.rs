//! Ergon's solver core: the algorithms of Perseus, Zeus, Chase, DPK, Orloj, Oobleck and Auxo
//! as `no_std` + `alloc` Rust.
//!
//! Core never reads files, never allocates C memory and never talks to a GPU: a problem value
//! goes in, a result value comes out. The outer crates (`ergon-ffi`, `ergon-hwctl`, `ergon-cli`)
//! translate, validate and apply.
//!
//! Modules:
//! - [`frontier`]: Perseus, the iteration-time/energy Pareto frontier of a pipeline-parallel
//!   training iteration by iterative minimum cut, and the per-computation frequency plans.
//! - [`flow`]: maximum flow / minimum cut on flat arrays with exact integer capacities.
//! - [`fit`]: least-squares fitting of the exponential cost model.
//! - [`knapsack`]: DPK (DPack), privacy-budget scheduling as a knapsack over data blocks with
//!   Rényi-DP accounting, its baselines, an exact solver and an online simulator.
//! - [`batching`]: Orloj, batching dynamic-DNN requests on empirical execution-time
//!   distributions: distributions, batch-time model, schedulers, online batcher, simulator.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod batching;
pub mod fit;
pub mod flow;
pub mod frontier;
pub mod knapsack;
