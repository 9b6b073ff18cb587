//! **Oobleck** (Jang et al., "Oobleck: Resilient Distributed Training of Large Models Using
//! Pipeline Templates", SOSP'23): hybrid-parallel training that survives node failures without
//! a restart. Before training it computes a *pipeline template* (a stage layout) for every node
//! count in `[n0, N]`, instantiates at least `f + 1` heterogeneous pipelines (each a full model
//! replica) so that any `f` simultaneous node failures leave a replica of every layer, splits
//! the global batch across them, and on a failure reconfigures (shrink, borrow, merge) in place.
//!
//! - [`Profile`] / [`Layer`]: per-layer forward/backward time, memory, optional intra-node and
//!   cross-node all-reduce times (the upstream planners' layer fields).
//! - [`generate_templates`]: the templates under either objective ([`Objective::V011`], the
//!   PyPI 0.1.1 planner: one stage per node; [`Objective::Develop`], the `develop` C++ planner:
//!   power-of-two GPU groups inside a node with intra-node all-reduce).
//! - [`instantiate`]: the multiset of templates with `Σ nodes = N` and `≥ f + 1` pipelines of
//!   least iteration time, with the exact integer batch split ([`split_batch`]).
//! - [`reconfigure`]: the plan after losing a set of nodes, and which layers each surviving
//!   node fetches from which replica; [`sync_groups`]: the per-layer gradient-sync groups.
//! - [`sim`]: a failure/recovery trace replayed for Oobleck against checkpoint-restart and
//!   redundant-computation baselines.
//!
//! Times are read in milliseconds and resolved internally to integer *ticks* (1 ns, divided by
//! the GPUs per node under the develop objective so that `Σ t / g` stays exact): sums, ties of
//! the bottleneck stage and the batch split's min-max are then exact, never subject to rounding.

mod batch;
mod plan;
mod profile;
pub mod sim;
mod template;

#[cfg(feature = "serde")]
pub mod formats;

pub use batch::{AffineTime, BatchSplit, split_batch};
pub use plan::{
    Pipeline, Plan, PlanOptions, Reconfiguration, SyncMember, Transfer, instantiate, reconfigure,
    sync_groups,
};
pub use profile::{Layer, LayerMemory, Profile};
pub use template::{
    Objective, Solver, Stage, Template, TemplateOptions, Templates, generate_templates,
};

/// Most layers a profile may have.
pub const MAX_LAYERS: usize = 1024;
/// Most nodes a cluster may have.
pub const MAX_NODES: u32 = 1024;
/// Most GPUs per node.
pub const MAX_GPUS_PER_NODE: u32 = 64;
/// Largest per-layer time (forward, backward or an all-reduce), milliseconds.
pub const MAX_LAYER_TIME_MS: f64 = 1.0e6;
/// Largest global batch, in microbatches.
pub const MAX_MICROBATCHES: u64 = 1 << 16;
/// Most instantiation options (template multisets) the enumeration visits.
pub const MAX_OPTIONS: u64 = 50_000_000;
/// Most memo states of the upstream recurrence ([`Solver::Recurrence`], and the develop
/// objective, which has no other solver).
pub const MAX_RECURRENCE_STATES: u64 = 1 << 22;

/// Why an Oobleck input was rejected or has no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OobleckError {
    /// The profile has no layers.
    #[error("the profile has no layers")]
    NoLayers,
    /// More layers than [`MAX_LAYERS`].
    #[error("{layers} layers, more than the limit of {MAX_LAYERS}")]
    TooManyLayers {
        /// How many were given.
        layers: usize,
    },
    /// A layer time is negative, not finite or above [`MAX_LAYER_TIME_MS`].
    #[error("layer {layer}: {field} = {value_ms} ms is not in [0, {MAX_LAYER_TIME_MS}]")]
    InvalidTime {
        /// Layer index.
        layer: usize,
        /// The field at fault.
        field: &'static str,
        /// Its value, milliseconds.
        value_ms: f64,
    },
    /// A layer needs more memory than one node has.
    #[error(
        "layer {layer} needs {bytes} bytes, more than a node's memory of {node_memory_bytes} bytes"
    )]
    LayerTooLarge {
        /// Layer index.
        layer: usize,
        /// What it needs (under the objective's memory rule).
        bytes: u64,
        /// The node memory.
        node_memory_bytes: u64,
    },
    /// Node count outside `1..=MAX_NODES`.
    #[error("{nodes} nodes: need 1..={MAX_NODES}")]
    InvalidNodes {
        /// The node count.
        nodes: u32,
    },
    /// GPUs per node not a power of two in `1..=MAX_GPUS_PER_NODE`.
    #[error("{gpus} GPUs per node: need a power of two in 1..={MAX_GPUS_PER_NODE}")]
    InvalidGpus {
        /// The GPU count.
        gpus: u32,
    },
    /// Node memory of zero bytes.
    #[error("node memory must be positive")]
    InvalidMemory,
    /// The model does not fit even when spread over every node.
    #[error("the model needs at least {n0} nodes by memory, the cluster has {nodes}")]
    ModelTooLarge {
        /// Minimum nodes per pipeline.
        n0: u32,
        /// Nodes available.
        nodes: u32,
    },
    /// No template could be built (more nodes than layers for every size).
    #[error(
        "no pipeline template exists for any node count in [{n0}, {nodes}] with {layers} layers"
    )]
    NoTemplates {
        /// Minimum nodes per pipeline.
        n0: u32,
        /// Nodes available.
        nodes: u32,
        /// Layers.
        layers: usize,
    },
    /// The upstream recurrence would need too many memo states.
    #[error(
        "the {objective} recurrence needs about {states} memo states for this instance, more than the limit of {MAX_RECURRENCE_STATES}"
    )]
    TooLarge {
        /// Objective name.
        objective: &'static str,
        /// Estimated states.
        states: u64,
    },
    /// f so large that f + 1 pipelines of at least n0 nodes do not fit in N nodes.
    #[error(
        "fault tolerance f = {f} needs {f}+1 pipelines of at least {n0} nodes each ({need} nodes), the cluster has {nodes}"
    )]
    FaultToleranceTooLarge {
        /// Requested f.
        f: u32,
        /// Minimum nodes per pipeline.
        n0: u32,
        /// Nodes needed.
        need: u64,
        /// Nodes available.
        nodes: u32,
    },
    /// Microbatch count outside `1..=MAX_MICROBATCHES`.
    #[error("{microbatches} microbatches: need 1..={MAX_MICROBATCHES}")]
    InvalidMicrobatches {
        /// The count.
        microbatches: u64,
    },
    /// No multiset of templates admits an exact batch split.
    #[error(
        "no instantiation with at least {pipelines} pipelines splits {microbatches} microbatches exactly"
    )]
    NoFeasiblePlan {
        /// Minimum pipeline count (f + 1).
        pipelines: u64,
        /// Global batch in microbatches.
        microbatches: u64,
    },
    /// The enumeration of template multisets exceeded [`MAX_OPTIONS`].
    #[error(
        "more than {MAX_OPTIONS} instantiation options for {nodes} nodes; raise n0 (node memory) or use fewer nodes"
    )]
    TooManyOptions {
        /// Nodes.
        nodes: u32,
    },
    /// A lost node id is not in the plan.
    #[error("lost node {node} is not in the plan (nodes are 0..{nodes})")]
    UnknownNode {
        /// The id given.
        node: u32,
        /// Nodes in the plan.
        nodes: u32,
    },
    /// A layer lost every replica, or too few nodes survive for one pipeline.
    #[error("{reason}: no full model replica survives, training must restart from a checkpoint")]
    MustRestart {
        /// What was lost.
        reason: alloc::string::String,
    },
    /// After reconfiguration a pipeline has a node count with no template.
    #[error("no template for a pipeline of {nodes} nodes (templates exist for {min}..={max})")]
    NoTemplateForSize {
        /// Pipeline size.
        nodes: u32,
        /// Smallest template size.
        min: u32,
        /// Largest template size.
        max: u32,
    },
    /// A plan does not match the templates it is used with.
    #[error("the plan does not match the templates: {0}")]
    PlanMismatch(&'static str),
}

#[cfg(test)]
mod tests;
