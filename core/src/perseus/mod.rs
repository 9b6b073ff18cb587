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
//! From a [`Frontier`] one picks a plan ([`Frontier::plan_at`] with a [`PlanAt`]): the
//! fastest point (removes intrinsic energy bloat at no slowdown), the minimum-energy point
//! T\*, or the minimum-energy point for a straggler deadline T' (removes extrinsic bloat); a
//! plan is the per-stage (instruction, frequency) lists a trainer applies. Savings are
//! measured against [`Frontier::baseline_energy_j`], every computation at its fastest clock.

mod pipeline;
mod plan;
mod prep;
mod problem;
pub(crate) mod pyfloat;
mod solve;
pub mod synthetic;

#[cfg(feature = "serde")]
pub mod formats;
#[cfg(feature = "serde")]
mod profile_csv;

use alloc::vec::Vec;

pub use pipeline::{Pipeline, Schedule};
pub use plan::{Plan, PlanAt, PlanStage, State};
pub use prep::{
    Candidate, CostModel, FALLBACK_IF_CANDIDATES_AT_MOST, HullReason, MAX_QUANTA,
    SOFT_NOISE_FACTOR, Spec, specs,
};
pub use problem::{Computation, Dag, EffectiveEnergy, Kind, Problem, Profile, ProfileOption};

/// An empty vector with room for `count` items, or [`FrontierError::OutOfMemory`].
pub(crate) fn try_vec<T>(count: usize, what: &'static str) -> Result<Vec<T>, FrontierError> {
    let mut v = Vec::new();
    v.try_reserve_exact(count)
        .map_err(|_| FrontierError::OutOfMemory { what, count })?;
    Ok(v)
}

use crate::fit::ExpModel;

// Resource limits. Every size that comes from input is checked against one of these before
// anything of that size is allocated, so that an absurd input is an error naming the limit and
// the value, never an out-of-memory abort (which no panic boundary, C or Python, can catch).
// docs/fuzzing.md ("Limits (Perseus)") lists them.

/// Largest number of computations of a problem: 1 048 576. The solver keeps several hundred
/// bytes per computation (DAG, CSR adjacency, critical-path times, the flow network with its
/// residual arcs and warm-start flows): 576 MB measured at 2²⁰, so the former limit of 2²⁴
/// needed about 9 GB and aborted.
pub const MAX_COMPUTATIONS: usize = 1 << 20;
/// Largest number of pipeline stages (GPUs): 524 288 (a pipeline needs at least two
/// computations per stage, so no larger count can be solved within [`MAX_COMPUTATIONS`]).
/// Plans keep one list per stage.
pub const MAX_STAGES: u32 = 1 << 19;
/// Largest number of precedence edges of a DAG: 16 777 216 (pipeline schedules have two to
/// three per computation).
pub const MAX_EDGES: usize = 1 << 24;
/// Largest number of profiles: 1 048 576 (one per stage and kind).
pub const MAX_PROFILES: usize = 2 * MAX_STAGES as usize;
/// Largest number of options (measurements) of one profile: 1 048 576.
pub const MAX_OPTIONS_PER_PROFILE: usize = 1 << 20;
/// Largest number of options over all profiles together: 4 194 304.
pub const MAX_OPTIONS: usize = 1 << 22;
/// Largest number of cost-table cells over all profiles together: 16 777 216 (128 MiB). A
/// profile's table has one cell per quantum between its fastest and slowest duration, so this
/// bounds `Σ (max_quanta − min_quanta + 1)`; a finer unit time or a wider spread of measured
/// times needs more cells.
pub const MAX_COST_CELLS: usize = 1 << 24;

/// A float in an error message: the shortest representation that reads back to the same
/// value, in scientific notation when it is very large or very small (never 300 digits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Num(pub f64);

impl core::fmt::Display for Num {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let a = libm::fabs(self.0);
        if a.is_finite() && a != 0.0 && !(1e-5..1e16).contains(&a) {
            write!(f, "{:e}", self.0)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

fn num(x: &f64) -> Num {
    Num(*x)
}

use crate::flow::CutError;

/// Why a frontier problem was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrontierError {
    /// τ must be a positive finite number of seconds.
    #[error("unit time {} s is not a positive finite number", num(.0))]
    InvalidUnitTime(f64),
    /// Blocking power must be finite and non-negative.
    #[error("blocking power {} W is not a finite non-negative number", num(.0))]
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
        "profile (stage {stage}, {kind}) option {row}: {field} = {} must be a positive finite number",
        num(.value)
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
        "profile (stage {stage}, {kind}) option {row}: time {} s is shorter than the unit time {} s; use a smaller unit time",
        num(.time_s),
        num(.unit_time_s)
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
        "profile (stage {stage}, {kind}) option {row}: {} quanta exceed the limit MAX_QUANTA = {MAX_QUANTA}; use a larger unit time",
        num(.quanta)
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
    /// More computations than [`MAX_COMPUTATIONS`].
    #[error(
        "the DAG has {nodes} computations, more than the limit MAX_COMPUTATIONS = {MAX_COMPUTATIONS}"
    )]
    TooLarge {
        /// Number of computations.
        nodes: usize,
    },
    /// More edges than [`MAX_EDGES`].
    #[error("the DAG has {edges} edges, more than the limit MAX_EDGES = {MAX_EDGES}")]
    TooManyEdges {
        /// Number of edges.
        edges: usize,
    },
    /// More stages than [`MAX_STAGES`].
    #[error("the pipeline has {num_stages} stages, more than the limit MAX_STAGES = {MAX_STAGES}")]
    TooManyStages {
        /// Number of stages.
        num_stages: u64,
    },
    /// More profiles than [`MAX_PROFILES`].
    #[error("{profiles} profiles, more than the limit MAX_PROFILES = {MAX_PROFILES}")]
    TooManyProfiles {
        /// Number of profiles.
        profiles: usize,
    },
    /// A profile with more options than [`MAX_OPTIONS_PER_PROFILE`], or more options in all
    /// than [`MAX_OPTIONS`].
    #[error("{what} has {options} options, more than the limit {limit_name} = {limit}")]
    TooManyOptions {
        /// "profile (stage s, kind)" or "the problem".
        what: alloc::string::String,
        /// Number of options.
        options: usize,
        /// Name of the limit.
        limit_name: &'static str,
        /// Its value.
        limit: usize,
    },
    /// The profiles' cost tables together need more cells than [`MAX_COST_CELLS`].
    #[error(
        "profile (stage {stage}, {kind}) spans {quanta} quanta ({min_quanta}..={max_quanta}), bringing the cost tables to {cells} cells, more than the limit MAX_COST_CELLS = {MAX_COST_CELLS}; use a larger unit time"
    )]
    TooManyCostCells {
        /// Stage.
        stage: u32,
        /// Kind.
        kind: Kind,
        /// Quanta spanned by this profile.
        quanta: u64,
        /// Its fastest duration.
        min_quanta: u32,
        /// Its slowest duration.
        max_quanta: u32,
        /// Cells of every table so far, this one included.
        cells: u64,
    },
    /// Memory for a buffer sized by the input could not be allocated.
    #[error("out of memory: could not allocate {count} {what}")]
    OutOfMemory {
        /// What the buffer holds.
        what: &'static str,
        /// How many of them.
        count: usize,
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
    #[error("deadline {} s is not a finite non-negative number of seconds", num(.0))]
    InvalidDeadline(f64),
    /// A deadline shorter than the fastest iteration.
    #[error(
        "deadline {} s is shorter than the fastest iteration time {} s",
        num(.deadline_s),
        num(.t_min_s)
    )]
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
    /// The solve stopped where [`SolveOptions::stop`] asked (a time, or past T\*); the points
    /// below `at_quanta` were not computed.
    Stopped {
        /// Iteration time, quanta, of the last point.
        at_quanta: u64,
    },
    /// The progress callback asked to stop; the frontier ends at `at_quanta`.
    Cancelled {
        /// Iteration time, quanta, of the last point.
        at_quanta: u64,
    },
}

/// How far down a solve goes. The method walks from T_max down one quantum per point, so every
/// choice computes the points from T_max − 1 down to where it stops; the saving is the part
/// below.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Stop {
    /// Every point down to T_min (the whole frontier).
    #[default]
    AtMinimum,
    /// Down to the energy-optimal point T\*: stops at the first point whose energy exceeds
    /// the lowest so far (the energy is convex along the frontier, so T\* is then known and
    /// [`Frontier::min_energy`] finds it). A straggler deadline at or above T\* needs nothing
    /// faster.
    AtMinEnergy,
    /// Down to the first point at or below `time_s` seconds (e.g. a straggler deadline T',
    /// whose plan never uses a faster point); T_min if that is slower.
    AtTime {
        /// The time, seconds.
        time_s: f64,
    },
}

/// Work and time per phase of a solve (see [`SolveOptions::stats`]). Ticks come from
/// [`SolveOptions::clock`] (zero without one); counts are always filled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PhaseStats {
    /// Points computed.
    pub points: u64,
    /// Σ over points of the critical computations (arcs of the flow network).
    pub critical_computations: u64,
    /// Σ over points of the critical precedence edges.
    pub critical_edges: u64,
    /// Σ over points of the durations changed.
    pub changes: u64,
    /// Ticks in the critical-path recomputation after each cut.
    pub cpm_ticks: u64,
    /// Ticks finding the critical subgraph and building the flow network with its capacities.
    pub subgraph_ticks: u64,
    /// Ticks in the minimum cut (both max-flow phases and the cut extraction).
    pub flow_ticks: u64,
    /// Ticks applying the cut (duration and cost updates).
    pub apply_ticks: u64,
}

/// Options of [`solve_with_options`]; `SolveOptions::default()` solves the whole frontier.
#[derive(Default)]
pub struct SolveOptions<'a> {
    /// How far down to solve.
    pub stop: Stop,
    /// Called after every point with `(points_done, points_expected)` (`points_expected` =
    /// T_max − T_min, the whole frontier, or the points down to the time of
    /// [`Stop::AtTime`]); returning `false` stops the solve with [`Termination::Cancelled`].
    pub progress: Option<&'a mut dyn FnMut(u64, u64) -> bool>,
    /// A monotonic clock (any unit, e.g. nanoseconds) for [`PhaseStats`]'s ticks: core has no
    /// clock of its own. Read four times per point, so leave it `None` unless profiling.
    pub clock: Option<&'a dyn Fn() -> u64>,
    /// Where to write the work counts and ticks of the solve.
    pub stats: Option<&'a mut PhaseStats>,
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
/// Points store only the durations that changed from the previous point;
/// [`durations`](Self::durations) replays them.
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
    let mut go_on = |done, total| {
        progress(done, total);
        true
    };
    solve_with_options(
        problem,
        SolveOptions {
            progress: Some(&mut go_on),
            ..SolveOptions::default()
        },
    )
}

/// [`solve`] with [`SolveOptions`]: a bound on how far down to solve, a progress callback
/// that can cancel, and per-phase statistics.
pub fn solve_with_options(
    problem: &Problem,
    mut options: SolveOptions<'_>,
) -> Result<Frontier, FrontierError> {
    problem.validate()?;
    let specs = prep::specs(problem)?;
    solve::solve(problem, specs, &mut options)
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
