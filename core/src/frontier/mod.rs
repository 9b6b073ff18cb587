//! **Perseus** (Chung et al., "Perseus: Reducing Energy Bloat in Large Model Training",
//! SOSP'24, arXiv 2312.06902): the iteration-time/energy Pareto frontier of a
//! pipeline-parallel training iteration, and per-computation GPU frequency plans.
//!
//! Given each computation's measured time and energy at every GPU frequency, [`solve`] returns
//! every point of the frontier from the all-slowest iteration time T_max down to the fastest
//! T_min, one time quantum apart, by the Phillips–Dessouky iterative minimum cut. Its results
//! match the reference solver lowtime 0.3.0 (same points, same per-step changes), including its
//! preprocessing: floor quantization with Python semantics, the strict Pareto filter with the
//! 0.95 fallback, dedup by integer duration, effective energy, and the exponential cost model.
//!
//! From a [`Frontier`] one picks a plan: the fastest point (removes intrinsic energy bloat at
//! no slowdown), the minimum-energy point T\*, or the minimum-energy point for a straggler
//! deadline T' (removes extrinsic bloat); [`Frontier::plan`] turns a point into the
//! per-stage (instruction, frequency) lists a trainer applies.

mod pipeline;
mod plan;
mod prep;
mod problem;
pub(crate) mod pyfloat;
mod solve;
pub mod synthetic;

#[cfg(feature = "serde")]
pub mod formats;

use alloc::vec::Vec;

pub use pipeline::{Pipeline, Schedule};
pub use plan::{Plan, PlanStage, State};
pub use prep::{
    Candidate, CostModel, FALLBACK_IF_CANDIDATES_AT_MOST, HullReason, MAX_QUANTA,
    SOFT_NOISE_FACTOR, Spec, specs,
};
pub use problem::{Computation, Dag, EffectiveEnergy, Kind, Problem, Profile, ProfileOption};

use crate::fit::ExpModel;

/// Largest number of computations of a problem: 16.7 million. The solver keeps a few dozen
/// bytes per computation, and a bound checked before anything is allocated keeps an absurd
/// pipeline shape (say 10⁹ microbatches) an error instead of an out-of-memory abort, which no
/// panic boundary can catch.
pub const MAX_COMPUTATIONS: usize = 1 << 24;
use crate::flow::CutError;

/// Why a frontier problem was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrontierError {
    /// τ must be a positive finite number of seconds.
    #[error("unit time {0} s is not a positive finite number")]
    InvalidUnitTime(f64),
    /// Blocking power must be finite and non-negative.
    #[error("blocking power {0} W is not a finite non-negative number")]
    InvalidBlockingPower(f64),
    /// A profile has no options.
    #[error("profile (stage {stage}, {kind}) has no options")]
    EmptyProfile {
        /// Stage.
        stage: u32,
        /// Kind.
        kind: Kind,
    },
    /// Two profiles for the same (stage, kind).
    #[error("profile (stage {stage}, {kind}) is given twice")]
    DuplicateProfile {
        /// Stage.
        stage: u32,
        /// Kind.
        kind: Kind,
    },
    /// Some computation has no profile.
    #[error("no profile for stage {stage}, {kind}, which the pipeline runs")]
    MissingProfile {
        /// Stage.
        stage: u32,
        /// Kind.
        kind: Kind,
    },
    /// A profile for a stage the pipeline does not have (often a wrong stage count).
    #[error(
        "profile (stage {stage}, {kind}) is for a stage beyond the pipeline's {num_stages} stages"
    )]
    UnusedProfile {
        /// Stage.
        stage: u32,
        /// Kind.
        kind: Kind,
        /// Number of stages.
        num_stages: u32,
    },
    /// A measurement is NaN, infinite, zero or negative.
    #[error(
        "profile (stage {stage}, {kind}) option {row}: {field} = {value} must be a positive finite number"
    )]
    InvalidOption {
        /// Stage.
        stage: u32,
        /// Kind.
        kind: Kind,
        /// Index of the option in the profile.
        row: usize,
        /// The field.
        field: &'static str,
        /// Its value.
        value: f64,
    },
    /// A measured time is shorter than one quantum.
    #[error(
        "profile (stage {stage}, {kind}) option {row}: time {time_s} s is shorter than the unit time {unit_time_s} s; use a smaller unit time"
    )]
    ShorterThanUnitTime {
        /// Stage.
        stage: u32,
        /// Kind.
        kind: Kind,
        /// Index of the option in the profile.
        row: usize,
        /// Its time.
        time_s: f64,
        /// τ.
        unit_time_s: f64,
    },
    /// A measured time spans too many quanta.
    #[error(
        "profile (stage {stage}, {kind}) option {row}: {quanta} quanta exceed the limit of {MAX_QUANTA}; use a larger unit time"
    )]
    TooManyQuanta {
        /// Stage.
        stage: u32,
        /// Kind.
        kind: Kind,
        /// Index of the option in the profile.
        row: usize,
        /// Its duration in quanta.
        quanta: f64,
    },
    /// A given cost model is unusable.
    #[error(
        "profile (stage {stage}, {kind}): fit {model:?} must have finite coefficients, a >= 0 and b <= 0 (convex, not rising with duration)"
    )]
    InvalidFit {
        /// Stage.
        stage: u32,
        /// Kind.
        kind: Kind,
        /// The model.
        model: ExpModel,
    },
    /// The cost model is not finite at some duration.
    #[error("profile (stage {stage}, {kind}): the cost model is not finite at {quanta} quanta")]
    NonFiniteCost {
        /// Stage.
        stage: u32,
        /// Kind.
        kind: Kind,
        /// Duration.
        quanta: u32,
    },
    /// Zero pipeline stages.
    #[error("the pipeline has 0 stages")]
    NoStages,
    /// Zero microbatches.
    #[error("the pipeline has 0 microbatches")]
    NoMicrobatches,
    /// A schedule's parameters do not fit.
    #[error("invalid schedule: {0}")]
    InvalidSchedule(&'static str),
    /// No computations.
    #[error("the DAG has no computations")]
    EmptyDag,
    /// More computations than the solver's 32-bit ids allow.
    #[error("the DAG has {nodes} computations, more than the limit of {MAX_COMPUTATIONS}")]
    TooLarge {
        /// Number of computations.
        nodes: usize,
    },
    /// A node names a stage beyond the pipeline.
    #[error("computation {node} runs on stage {stage}, but the pipeline has {num_stages} stages")]
    StageOutOfRange {
        /// Node id.
        node: usize,
        /// Its stage.
        stage: u32,
        /// Number of stages.
        num_stages: u32,
    },
    /// An edge names a missing node or is a self-loop.
    #[error(
        "edge {index} ({from} -> {to}) does not join two distinct computations of 0..{num_nodes}"
    )]
    InvalidEdge {
        /// Index of the edge.
        index: usize,
        /// Tail.
        from: u32,
        /// Head.
        to: u32,
        /// Number of computations.
        num_nodes: usize,
    },
    /// The DAG has a cycle.
    #[error("the DAG has a cycle through computation {node}")]
    Cycle {
        /// A node on (or after) the cycle.
        node: usize,
    },
    /// Costs too large for the fixed-point capacities.
    #[error(
        "energy differences are too large for 64-bit fixed point at 1e-6 J; scale the energies down"
    )]
    Overflow,
    /// A bug: the flow network was malformed.
    #[error("internal error in the minimum cut: {0}")]
    Internal(CutError),
    /// A deadline that is not a finite non-negative number of seconds.
    #[error("deadline {0} s is not a finite non-negative number of seconds")]
    InvalidDeadline(f64),
    /// A deadline shorter than the fastest iteration.
    #[error("deadline {deadline_s} s is shorter than the fastest iteration time {t_min_s} s")]
    DeadlineTooShort {
        /// The requested deadline.
        deadline_s: f64,
        /// T_min.
        t_min_s: f64,
    },
    /// A point index beyond the frontier.
    #[error("point {index} does not exist (the frontier has {len} points)")]
    NoSuchPoint {
        /// The index.
        index: usize,
        /// Number of points.
        len: usize,
    },
}

/// Why the iteration stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// The frontier reaches T_min: every point from T_max − 1 down to T_min is present.
    ReachedMinimum,
    /// The lower bounds of the cut network admit no flow at this iteration time (lowtime
    /// 0.3.0 panics here); the frontier ends at `at_quanta`.
    InfeasibleCut {
        /// Iteration time, quanta, of the last point.
        at_quanta: u64,
    },
    /// Every cut crosses a computation that cannot get faster although the time is above
    /// T_min (only possible with an inconsistent model); the frontier ends at `at_quanta`.
    NoFiniteCut {
        /// Iteration time, quanta, of the last point.
        at_quanta: u64,
    },
}

/// One point of the frontier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Iteration time, quanta.
    pub quanta: u64,
    /// Iteration time, seconds (`quanta · τ`).
    pub time_s: f64,
    /// Σ of the cost model over all computations (effective energy), joules.
    pub effective_cost_j: f64,
    /// Total iteration energy: effective cost + stages · time · blocking power, joules.
    pub energy_j: f64,
    /// Cost of this step: effective cost here minus at the previous point (0 for the start).
    pub cost_change_j: f64,
    /// Range into the frontier's change log.
    changes: (u32, u32),
}

/// A solved frontier: every point from T_max − 1 down to T_min, slowest first, plus the start
/// state at T_max (all computations at their slowest), which lowtime does not report.
///
/// Points store only the durations that changed from the previous point; [`durations`]
/// (Self::durations) replays them.
#[derive(Debug, Clone)]
pub struct Frontier {
    /// τ, seconds.
    pub unit_time_s: f64,
    /// Blocking power, watts.
    pub p_blocking_w: f64,
    /// GPUs that draw blocking power.
    pub num_stages: u32,
    /// Fastest iteration time, quanta.
    pub t_min_quanta: u64,
    /// Slowest iteration time, quanta.
    pub t_max_quanta: u64,
    /// All computations at their slowest: time T_max (not a lowtime frontier point).
    pub start: Point,
    /// Frontier points, slowest first.
    pub points: Vec<Point>,
    /// Why the iteration stopped.
    pub termination: Termination,
    specs: Vec<Spec>,
    spec_of: Vec<u32>,
    dag: Dag,
    start_durations: Vec<u32>,
    changes: Vec<(u32, u32)>,
}

/// Validates and preprocesses `problem`, then solves its frontier.
pub fn solve(problem: &Problem) -> Result<Frontier, FrontierError> {
    solve_with_progress(problem, &mut |_, _| {})
}

/// [`solve`], calling `progress(points_done, points_expected)` after every point.
pub fn solve_with_progress(
    problem: &Problem,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Frontier, FrontierError> {
    problem.validate()?;
    let specs = prep::specs(problem)?;
    solve::solve(problem, specs, progress)
}

impl Frontier {
    /// The preprocessed profiles, in the order of the problem's profiles.
    pub fn specs(&self) -> &[Spec] {
        &self.specs
    }

    /// The DAG that was solved.
    pub fn dag(&self) -> &Dag {
        &self.dag
    }

    /// The spec used by computation `node`.
    pub fn spec_of(&self, node: usize) -> Option<&Spec> {
        self.spec_of
            .get(node)
            .and_then(|&s| self.specs.get(s as usize))
    }

    /// Durations (quanta) that changed at point `index` relative to the previous point (the
    /// start state for index 0), as `(computation, new duration)`, computations ascending.
    pub fn changes(&self, index: usize) -> Result<&[(u32, u32)], FrontierError> {
        let p = self.points.get(index).ok_or(FrontierError::NoSuchPoint {
            index,
            len: self.points.len(),
        })?;
        Ok(&self.changes[p.changes.0 as usize..p.changes.1 as usize])
    }

    /// Duration of every computation (quanta) at point `index`; `None` for the start state.
    pub fn durations(&self, index: Option<usize>) -> Result<Vec<u32>, FrontierError> {
        let mut dur = self.start_durations.clone();
        let Some(index) = index else { return Ok(dur) };
        let p = self.points.get(index).ok_or(FrontierError::NoSuchPoint {
            index,
            len: self.points.len(),
        })?;
        for &(node, d) in &self.changes[..p.changes.1 as usize] {
            dur[node as usize] = d;
        }
        Ok(dur)
    }

    /// Makespan (quanta) of the DAG under `durations`, by an independent longest-path pass.
    pub fn makespan(&self, durations: &[u32]) -> Result<u64, FrontierError> {
        solve::makespan(self.dag.nodes.len(), &self.dag.edges, durations)
    }
}
