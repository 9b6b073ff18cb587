//! Ergon's solver core: the algorithms of Perseus, DPK, Orloj, Zeus, Chase, Oobleck and Auxo as
//! `no_std` + `alloc` Rust.
//!
//! Core never reads files, never allocates C memory and never talks to a GPU: a problem value
//! goes in, a result value comes out. The outer crates (`ergon-ffi`, `ergon-hwctl`, `ergon-cli`)
//! translate, validate and apply. Each system's module has the name it has in every other layer
//! (the C prefix `ergon_<system>_`, the C++ namespace, the Python module, the CLI subcommand).
//!
//! Modules:
//! - [`perseus`]: Perseus, the iteration-time/energy Pareto frontier of a pipeline-parallel
//!   training iteration by iterative minimum cut, and the per-computation frequency plans.
//! - [`flow`]: maximum flow / minimum cut on flat arrays with exact integer capacities.
//! - [`fit`]: least-squares fitting of the exponential cost model.
//! - [`dpk`]: DPK (DPack), privacy-budget scheduling as a knapsack over data blocks with
//!   Rényi-DP accounting, its baselines, an exact solver and an online simulator.
//! - [`orloj`]: Orloj, batching dynamic-DNN requests on empirical execution-time
//!   distributions: distributions, batch-time model, schedulers, online batcher, simulator.
//! - [`oobleck`]: Oobleck, pipeline templates for every node count, the f+1 instantiation with
//!   an exact batch split, reconfiguration after node failures, and a failure simulator.
//! - [`zeus`]: Zeus, the energy/time cost, the just-in-time power-limit optimizer (a state
//!   machine a driver runs), the batch-size optimizer (pruning + Gaussian Thompson sampling)
//!   and a trace-driven simulator of recurring jobs.
//! - [`chase`]: Chase, carbon-aware power-limit control: the carbon trace, the cost, a
//!   carbon-intensity forecaster, a replay over a trace, and carbon-aware Perseus.
//! - [`auxo`]: Auxo, cohort identification for cross-device federated learning (the client ×
//!   cohort affinity table, the per-cohort clustering step, split tests, the playground replay
//!   and a cohort-training simulator).
//! - [`names`]: the names of core's enum values (`FromStr`/`Display` on one table per enum)
//!   and the [`UnknownName`](names::UnknownName) error.
//! - [`formats`] (feature `serde`): what the systems' interchange formats share, above all
//!   the one [`FormatError`](formats::FormatError) type of a rejected input document.
//!
//! Features: `serde` (default) adds the interchange formats (parsing works on strings; core
//! still touches no file). There is no `std` feature: `core::error::Error` serves hosted and
//! embedded targets alike.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;

pub mod auxo;
pub mod chase;
pub mod dpk;
pub mod fit;
pub mod flow;
#[cfg(feature = "serde")]
pub mod formats;
pub mod names;
pub mod oobleck;
pub mod orloj;
pub mod perseus;
pub mod zeus;
