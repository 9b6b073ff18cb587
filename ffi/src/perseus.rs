//! Perseus through the C ABI: a frontier problem from arrays, JSON or CSV; the solve; points;
//! plans.

use std::ffi::{c_char, c_int, c_void};

use ergon_core::fit::ExpModel;
use ergon_core::perseus::formats;
use ergon_core::perseus::{
    self, Computation, Dag, EffectiveEnergy, Frontier, Kind, Pipeline, Plan, PlanAt, PlanStage,
    Problem, Profile, ProfileOption, Schedule, Termination,
};

use crate::boundary::boundary;
use crate::handle::{
    Header, check_buffer, copy_items, copy_text, in_ref, into_raw, opaque, opt_ref, out_ref, put,
    slice, text,
};
use crate::names::codes;
use crate::status::{Failure, Result, ergon_status, invalid_argument};

/// Computation kind: forward pass.
pub const ERGON_PERSEUS_KIND_FORWARD: u32 = 0;
/// Computation kind: backward pass.
pub const ERGON_PERSEUS_KIND_BACKWARD: u32 = 1;
/// Schedule: synchronous 1F1B (DeepSpeed / Megatron order).
pub const ERGON_PERSEUS_SCHEDULE_1F1B: u32 = 0;
/// Schedule: GPipe.
pub const ERGON_PERSEUS_SCHEDULE_GPIPE: u32 = 1;
/// Schedule: Megatron's interleaved 1F1B (`virtual_stages` ≥ 2).
pub const ERGON_PERSEUS_SCHEDULE_INTERLEAVED_1F1B: u32 = 2;
/// Subtract blocking energy after the Pareto filter (SOSP'24 artifact; default).
pub const ERGON_PERSEUS_EFFECTIVE_ENERGY_AFTER_FILTER: u32 = 0;
/// Subtract blocking energy before the Pareto filter (zeus driver).
pub const ERGON_PERSEUS_EFFECTIVE_ENERGY_BEFORE_FILTER: u32 = 1;
/// Plan at the fastest point (T_min).
pub const ERGON_PERSEUS_PLAN_FASTEST: u32 = 0;
/// Plan at the minimum-energy point (T*).
pub const ERGON_PERSEUS_PLAN_T_STAR: u32 = 1;
/// Plan for a straggler deadline: least energy including waiting until it.
pub const ERGON_PERSEUS_PLAN_DEADLINE: u32 = 2;
/// `ergon_perseus_solve_options.stop`: solve the whole frontier, down to T_min.
pub const ERGON_PERSEUS_STOP_T_MIN: u32 = 0;
/// `ergon_perseus_solve_options.stop`: stop once the energy rises past its minimum T*.
pub const ERGON_PERSEUS_STOP_T_STAR: u32 = 1;
/// `ergon_perseus_solve_options.stop`: stop at the first point at or below `stop_time_s`.
pub const ERGON_PERSEUS_STOP_TIME: u32 = 2;

codes!(
    /// The computation kinds (`ERGON_PERSEUS_KIND_*`).
    KINDS: Kind, "kind", [
        ERGON_PERSEUS_KIND_FORWARD => Kind::Forward, ERGON_PERSEUS_KIND_BACKWARD => Kind::Backward
    ]
);

codes!(
    /// The pipeline schedules (`ERGON_PERSEUS_SCHEDULE_*`); a pipeline gives the virtual stages.
    SCHEDULES: Schedule, "schedule", [
        ERGON_PERSEUS_SCHEDULE_1F1B => Schedule::OneFOneB,
        ERGON_PERSEUS_SCHEDULE_GPIPE => Schedule::GPipe,
        ERGON_PERSEUS_SCHEDULE_INTERLEAVED_1F1B => Schedule::Interleaved1F1B { virtual_stages: 0 }
    ]
);

codes!(
    /// Where blocking energy is subtracted (`ERGON_PERSEUS_EFFECTIVE_ENERGY_*`).
    EFFECTIVE_ENERGIES: EffectiveEnergy, "effective-energy order", [
        ERGON_PERSEUS_EFFECTIVE_ENERGY_AFTER_FILTER => EffectiveEnergy::AfterFilter,
        ERGON_PERSEUS_EFFECTIVE_ENERGY_BEFORE_FILTER => EffectiveEnergy::BeforeFilter
    ]
);

/// The name of a schedule code (`ERGON_PERSEUS_SCHEDULE_*`), "ask the length, then fill";
/// `INVALID_ARGUMENT` for an unknown code (docs/abi.md, "Names").
///
/// # Safety
/// `buf` NULL or writable for `cap` bytes; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_schedule_name(
    code: u32,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(name, SCHEDULES, code, buf, cap, len)
}

/// The schedule code (`ERGON_PERSEUS_SCHEDULE_*`) named `name` (`name_len` bytes of UTF-8); `INVALID_ARGUMENT`
/// listing the accepted names for any other name (docs/abi.md, "Names").
///
/// # Safety
/// `name` NULL or readable for `name_len` bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_schedule_parse(
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> ergon_status {
    boundary!(parse, SCHEDULES, name, name_len, out)
}

/// The name of a computation kind code (`ERGON_PERSEUS_KIND_*`), "ask the length, then fill";
/// `INVALID_ARGUMENT` for an unknown code (docs/abi.md, "Names").
///
/// # Safety
/// `buf` NULL or writable for `cap` bytes; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_kind_name(
    code: u32,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(name, KINDS, code, buf, cap, len)
}

/// The computation kind code (`ERGON_PERSEUS_KIND_*`) named `name` (`name_len` bytes of UTF-8); `INVALID_ARGUMENT`
/// listing the accepted names for any other name (docs/abi.md, "Names").
///
/// # Safety
/// `name` NULL or readable for `name_len` bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_kind_parse(
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> ergon_status {
    boundary!(parse, KINDS, name, name_len, out)
}

/// The name of a effective-energy order code (`ERGON_PERSEUS_EFFECTIVE_ENERGY_*`), "ask the length, then fill";
/// `INVALID_ARGUMENT` for an unknown code (docs/abi.md, "Names").
///
/// # Safety
/// `buf` NULL or writable for `cap` bytes; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_effective_energy_name(
    code: u32,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(name, EFFECTIVE_ENERGIES, code, buf, cap, len)
}

/// The effective-energy order code (`ERGON_PERSEUS_EFFECTIVE_ENERGY_*`) named `name` (`name_len` bytes of UTF-8); `INVALID_ARGUMENT`
/// listing the accepted names for any other name (docs/abi.md, "Names").
///
/// # Safety
/// `name` NULL or readable for `name_len` bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_effective_energy_parse(
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> ergon_status {
    boundary!(parse, EFFECTIVE_ENERGIES, name, name_len, out)
}

/// One measurement of a computation type at one SM clock.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_perseus_option {
    /// SM clock, MHz (> 0).
    pub freq_mhz: u32,
    /// Time of one computation, seconds (> 0).
    pub time_s: f64,
    /// Energy of one computation, joules (> 0).
    pub energy_j: f64,
}

/// Coefficients of the cost model `a·exp(b·d) + c` (d in quanta, cost in J).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_perseus_fit {
    /// Scale (≥ 0).
    pub a: f64,
    /// Rate per quantum (≤ 0).
    pub b: f64,
    /// Offset, J.
    pub c: f64,
}

/// The measurements of one (stage, kind).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_perseus_profile {
    /// Pipeline stage.
    pub stage: u32,
    /// `ERGON_PERSEUS_KIND_FORWARD` or `ERGON_PERSEUS_KIND_BACKWARD`.
    pub kind: u32,
    /// `num_options` measurements (borrowed during the call only).
    pub options: *const ergon_perseus_option,
    /// Number of measurements (≥ 1).
    pub num_options: usize,
    /// A cost model to use instead of fitting one, or NULL to fit.
    pub fit: *const ergon_perseus_fit,
}

/// A pipeline shape.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_perseus_pipeline {
    /// `ERGON_PERSEUS_SCHEDULE_*`.
    pub schedule: u32,
    /// Stages (GPUs).
    pub num_stages: u32,
    /// Microbatches per iteration.
    pub num_microbatches: u32,
    /// Model chunks per GPU for interleaved 1F1B; 0 otherwise.
    pub virtual_stages: u32,
}

/// A computation of an explicit DAG; nodes of one stage in program order.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_perseus_node {
    /// Stage.
    pub stage: u32,
    /// `ERGON_PERSEUS_KIND_*`.
    pub kind: u32,
    /// Microbatch.
    pub microbatch: u32,
}

/// A precedence of an explicit DAG: node `from` finishes before node `to` starts.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_perseus_edge {
    /// Index into the nodes.
    pub from: u32,
    /// Index into the nodes.
    pub to: u32,
}

/// A frontier problem given as arrays. All arrays are borrowed during the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_perseus_problem {
    /// Time quantum τ, seconds.
    pub unit_time_s: f64,
    /// Power of a GPU while not computing, watts.
    pub p_blocking_w: f64,
    /// `ERGON_PERSEUS_EFFECTIVE_ENERGY_*`.
    pub effective_energy: u32,
    /// One profile per (stage, kind).
    pub profiles: *const ergon_perseus_profile,
    /// Number of profiles.
    pub num_profiles: usize,
    /// The pipeline; used when `num_nodes` is 0.
    pub pipeline: ergon_perseus_pipeline,
    /// An explicit DAG instead of `pipeline` (NULL with `num_nodes` 0 to use the pipeline).
    pub nodes: *const ergon_perseus_node,
    /// Number of nodes.
    pub num_nodes: usize,
    /// Precedences of the explicit DAG.
    pub edges: *const ergon_perseus_edge,
    /// Number of edges.
    pub num_edges: usize,
    /// Stages of the explicit DAG (GPUs drawing blocking power); ignored with `pipeline`. At
    /// most 524 288 (`MAX_STAGES`; every limit is listed in docs/fuzzing.md).
    pub num_stages: u32,
}

/// One point of the frontier.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ergon_perseus_point {
    /// Iteration time, seconds.
    pub time_s: f64,
    /// Total iteration energy (effective cost + stages · time · blocking power), joules.
    pub energy_j: f64,
    /// Sum of the cost model over all computations, joules.
    pub effective_cost_j: f64,
    /// Effective cost of this point minus the previous one's, joules.
    pub cost_change_j: f64,
    /// Iteration time in quanta.
    pub quanta: u64,
}

/// Facts about a solved frontier.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ergon_perseus_summary {
    /// Fastest iteration time, seconds.
    pub t_min_s: f64,
    /// Slowest iteration time (all computations at their slowest), seconds.
    pub t_max_s: f64,
    /// Iteration time of least total energy, seconds.
    pub t_star_s: f64,
    /// Energy at T*, joules.
    pub t_star_energy_j: f64,
    /// Number of points (T_max − T_min when complete).
    pub num_points: usize,
    /// Pipeline stages.
    pub num_stages: u32,
    /// Whether the frontier reaches T_min; if not, the last error message says why it stopped.
    pub complete: bool,
}

/// Facts about a plan.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ergon_perseus_plan_info {
    /// Iteration time of the plan, seconds.
    pub time_s: f64,
    /// Energy of one iteration, joules (for a deadline plan, including waiting until it).
    pub energy_j: f64,
    /// Number of stages.
    pub num_stages: usize,
}

/// Opaque handle of a frontier problem and, once solved, its frontier (see the
/// `ergon_perseus_frontier_*` functions). Not to be used from two threads at once.
// repr(C): the header (and its tag) first, as `handle` reads the tag of any handle type; through
// cfg_attr so that cbindgen, which reads only plain `#[repr]`, still emits an opaque type.
#[cfg_attr(all(), repr(C))]
pub struct ergon_perseus_frontier {
    header: Header,
    problem: Problem,
    frontier: Option<Frontier>,
}

/// Opaque handle of a frequency plan (see the `ergon_perseus_plan_*` functions).
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_perseus_plan {
    header: Header,
    plan: Plan,
}

opaque!(ergon_perseus_frontier, 0x4552_474f_4e46_5254, "frontier"); // "ERGONFRT"

opaque!(ergon_perseus_plan, 0x4552_474f_4e50_4c4e, "plan"); // "ERGONPLN"

impl ergon_perseus_plan {
    /// The program of stage `stage` (`OUT_OF_RANGE` if the plan has no such stage).
    pub(crate) fn stage(&self, stage: usize) -> Result<&PlanStage> {
        let stages = &self.plan.stages;
        stages.get(stage).ok_or_else(|| {
            Failure::new(
                ergon_status::OutOfRange,
                format!("stage {stage} does not exist ({} stages)", stages.len()),
            )
        })
    }
}

fn to_pipeline(p: &ergon_perseus_pipeline) -> Result<Pipeline> {
    let schedule = match (SCHEDULES.value(p.schedule)?, p.virtual_stages) {
        (Schedule::Interleaved1F1B { .. }, v) => Schedule::Interleaved1F1B { virtual_stages: v },
        (s, 0) => s,
        (_, v) => {
            return Err(invalid_argument(format!(
                "virtual_stages = {v} is only for ERGON_PERSEUS_SCHEDULE_INTERLEAVED_1F1B"
            )));
        }
    };
    Ok(Pipeline {
        schedule,
        num_stages: p.num_stages,
        num_microbatches: p.num_microbatches,
    })
}

/// Reads an `ergon_perseus_problem` into a validated core problem.
///
/// # Safety
/// Every pointer in `p` must satisfy the contract documented on [`ergon_perseus_problem`].
unsafe fn problem_from_arrays(p: &ergon_perseus_problem) -> Result<Problem> {
    // Every length the caller gives is checked against core's limits before anything of that
    // size is allocated, and the copies are reserved fallibly: a status, never an abort.
    // A length no array of that type can have stays INVALID_ARGUMENT (as `slice` reports it);
    // a possible one beyond a limit is INVALID_PROBLEM.
    let over = |what: &str, len: usize, size: usize, name: &str, limit: usize| -> Result<()> {
        if len > isize::MAX as usize / size.max(1) {
            return Err(invalid_argument(format!(
                "`{what}` length {len} is impossibly large"
            )));
        }
        if len > limit {
            return Err(Failure::new(
                ergon_status::InvalidProblem,
                format!("{what} = {len} is more than the limit {name} = {limit}"),
            ));
        }
        Ok(())
    };
    over(
        "num_profiles",
        p.num_profiles,
        size_of::<ergon_perseus_profile>(),
        "MAX_PROFILES",
        perseus::MAX_PROFILES,
    )?;
    if p.num_nodes > 0 {
        over(
            "num_nodes",
            p.num_nodes,
            size_of::<ergon_perseus_node>(),
            "MAX_COMPUTATIONS",
            perseus::MAX_COMPUTATIONS,
        )?;
        over(
            "num_edges",
            p.num_edges,
            size_of::<ergon_perseus_edge>(),
            "MAX_EDGES",
            perseus::MAX_EDGES,
        )?;
        over(
            "num_stages",
            p.num_stages as usize,
            1,
            "MAX_STAGES",
            perseus::MAX_STAGES as usize,
        )?;
    }
    // SAFETY (all `slice` calls): lengths and pointers come from the caller's description.
    let profiles_in = unsafe { slice(p.profiles, p.num_profiles, "profiles")? };
    let mut profiles = try_vec(profiles_in.len(), "profiles")?;
    let mut total_options = 0usize;
    for (i, prof) in profiles_in.iter().enumerate() {
        over(
            &format!("profiles[{i}].num_options"),
            prof.num_options,
            size_of::<ergon_perseus_option>(),
            "MAX_OPTIONS_PER_PROFILE",
            perseus::MAX_OPTIONS_PER_PROFILE,
        )?;
        total_options = total_options.saturating_add(prof.num_options);
        over(
            "the total of num_options",
            total_options,
            1,
            "MAX_OPTIONS",
            perseus::MAX_OPTIONS,
        )?;
        let options = unsafe { slice(prof.options, prof.num_options, "profiles[].options")? };
        // SAFETY: the caller provides NULL or one ergon_perseus_fit.
        let fit = unsafe { opt_ref(prof.fit, &format!("profiles[{i}].fit"))? }.map(|f| ExpModel {
            a: f.a,
            b: f.b,
            c: f.c,
        });
        profiles.push(Profile {
            stage: prof.stage,
            kind: KINDS.value_of(prof.kind, &format!("profiles[{i}]"))?,
            options: {
                let mut v = try_vec(options.len(), "options")?;
                v.extend(options.iter().map(|o| ProfileOption {
                    freq_mhz: o.freq_mhz,
                    time_s: o.time_s,
                    energy_j: o.energy_j,
                }));
                v
            },
            fit,
        });
    }
    let dag = if p.num_nodes == 0 {
        to_pipeline(&p.pipeline)?.dag()?
    } else {
        let nodes = unsafe { slice(p.nodes, p.num_nodes, "nodes")? };
        let edges = unsafe { slice(p.edges, p.num_edges, "edges")? };
        let mut dag_nodes = try_vec(nodes.len(), "nodes")?;
        for (i, n) in nodes.iter().enumerate() {
            dag_nodes.push(Computation {
                stage: n.stage,
                kind: KINDS.value_of(n.kind, &format!("nodes[{i}]"))?,
                microbatch: n.microbatch,
                chunk: 0,
            });
        }
        let mut dag_edges = try_vec(edges.len(), "edges")?;
        dag_edges.extend(edges.iter().map(|e| (e.from, e.to)));
        Dag {
            num_stages: p.num_stages,
            nodes: dag_nodes,
            edges: dag_edges,
        }
    };
    let problem = Problem {
        unit_time_s: p.unit_time_s,
        p_blocking_w: p.p_blocking_w,
        effective_energy: EFFECTIVE_ENERGIES.value_of(p.effective_energy, "effective_energy")?,
        profiles,
        dag,
    };
    problem.validate()?;
    Ok(problem)
}

/// An empty vector with room for `count` items, or an `INVALID_PROBLEM` failure naming them.
fn try_vec<T>(count: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(count).map_err(|_| {
        Failure::new(
            ergon_status::InvalidProblem,
            format!("out of memory: could not allocate {count} {what}"),
        )
    })?;
    Ok(v)
}

fn new_frontier(problem: Problem, out_ptr: *mut *mut ergon_perseus_frontier) -> Result<()> {
    let slot = out_ref(out_ptr, "out")?;
    *slot = into_raw(ergon_perseus_frontier {
        header: Header::new::<ergon_perseus_frontier>(),
        problem,
        frontier: None,
    });
    Ok(())
}

/// Creates a frontier problem from arrays (`problem` and everything it points to is only read
/// during the call). On success `*out` receives a handle to release with
/// `ergon_perseus_frontier_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (unknown kind, schedule or
/// energy order), `INVALID_PROBLEM` (the message names the profile, option, node or edge, or
/// the size limit exceeded and its value: docs/fuzzing.md; checked before copying) or
/// `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `problem` must be NULL or valid as documented on `ergon_perseus_problem`; `out` must be NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_frontier_new(
    problem: *const ergon_perseus_problem,
    out: *mut *mut ergon_perseus_frontier,
) -> ergon_status {
    boundary!(|| {
        // SAFETY: the caller's contract covers the struct and the arrays it points to.
        let p = unsafe { problem_from_arrays(in_ref(problem, "problem")?)? };
        new_frontier(p, out)
    })
}

/// Creates a frontier problem from a `perseus-instance/v1` JSON document of `len` bytes (no
/// NUL needed). On success `*out` receives a handle to release with `ergon_perseus_frontier_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE` (not JSON, not UTF-8, a missing or
/// mistyped field), `SCHEMA`, `INVALID_PROBLEM` or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `json` must be NULL or readable for `len` bytes; `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_frontier_from_instance_json(
    json: *const c_char,
    len: usize,
    out: *mut *mut ergon_perseus_frontier,
) -> ergon_status {
    boundary!(|| {
        // SAFETY: the caller's contract.
        let s = unsafe { text(json, len, "json")? };
        new_frontier(formats::parse_instance(s)?, out)
    })
}

/// Creates a frontier problem from a zeus profile CSV (`stage,instruction,frequency,time,
/// energy`) of `len` bytes and a pipeline description. On success `*out` receives a handle to
/// release with `ergon_perseus_frontier_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT`, `PARSE` (the message names the
/// CSV line), `INVALID_PROBLEM` or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `csv` must be NULL or readable for `len` bytes, `pipeline` NULL or valid, `out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_frontier_from_profile_csv(
    csv: *const c_char,
    len: usize,
    pipeline: *const ergon_perseus_pipeline,
    unit_time_s: f64,
    p_blocking_w: f64,
    effective_energy: u32,
    out: *mut *mut ergon_perseus_frontier,
) -> ergon_status {
    boundary!(|| {
        // SAFETY: the caller's contract.
        let (s, p) = unsafe {
            (
                text(csv, len, "csv")?,
                to_pipeline(in_ref(pipeline, "pipeline")?)?,
            )
        };
        let problem = formats::problem_from_csv(
            s,
            p,
            unit_time_s,
            p_blocking_w,
            EFFECTIVE_ENERGIES.value_of(effective_energy, "effective_energy")?,
        )?;
        new_frontier(problem, out)
    })
}

/// Releases a frontier handle. NULL is a no-op.
///
/// # Safety
/// `frontier` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_frontier_free(frontier: *mut ergon_perseus_frontier) {
    boundary!(free, frontier)
}

fn solved(h: &ergon_perseus_frontier) -> Result<&Frontier> {
    h.frontier.as_ref().ok_or_else(|| {
        Failure::new(
            ergon_status::NotSolved,
            "the frontier is not solved yet: call ergon_perseus_frontier_solve",
        )
    })
}

/// Solves the frontier (once; a second call fails with `INVALID_STATE`). A frontier that stops
/// before T_min (see `ergon_perseus_summary.complete`) is still a success; the handle's last error then
/// says why it stopped.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_STATE`, `INVALID_PROBLEM`, `OVERFLOW` or
/// `PANIC`. Messages: `ergon_perseus_frontier_last_error`.
///
/// # Safety
/// `frontier` must be NULL or a live handle not used concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_frontier_solve(
    frontier: *mut ergon_perseus_frontier,
) -> ergon_status {
    boundary!(frontier, |h| solve_into(
        h,
        perseus::Stop::AtMinimum,
        &mut |_, _| true
    ))
}

/// Options of `ergon_perseus_frontier_solve_with_options`; start from
/// `ergon_perseus_solve_options_default()`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_perseus_solve_options {
    /// `ERGON_PERSEUS_STOP_*`: how far down to solve (default `T_MIN`, the whole frontier).
    /// The solve walks down from T_max, so the points above the stop are always computed.
    pub stop: u32,
    /// Iteration time in seconds for `ERGON_PERSEUS_STOP_TIME` (finite, ≥ 0); else ignored.
    pub stop_time_s: f64,
    /// Progress: called synchronously on the calling thread after every point with
    /// `user_data`, the points done and the points expected (T_max − T_min, or down to
    /// `stop_time_s` with `ERGON_PERSEUS_STOP_TIME`);
    /// return 0 to go on, anything else to stop (the frontier then ends at that point and the
    /// solve still succeeds, `complete` false). NULL: none (default). It must not unwind
    /// (throw) into the library and must not use this frontier handle.
    pub progress:
        Option<unsafe extern "C" fn(user_data: *mut c_void, done: u64, total: u64) -> c_int>,
    /// Passed to `progress`.
    pub user_data: *mut c_void,
}

/// The default solve options: the whole frontier, no progress callback. Never fails.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_perseus_solve_options_default() -> ergon_perseus_solve_options {
    boundary!(infallible, {
        ergon_perseus_solve_options {
            stop: ERGON_PERSEUS_STOP_T_MIN,
            stop_time_s: 0.0,
            progress: None,
            user_data: std::ptr::null_mut(),
        }
    })
}

/// [`ergon_perseus_frontier_solve`] with options (`options` NULL = the defaults): how far
/// down to solve and a progress callback that may stop the solve. A frontier that stops where
/// asked, or where the callback said so, is solved (`complete` false in the summary; the last
/// error message says where it stopped).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_STATE` (already solved),
/// `INVALID_ARGUMENT` (the problem, an unknown `stop`, a bad `stop_time_s`) or `PANIC`.
/// Messages: `ergon_perseus_frontier_last_error`.
///
/// # Safety
/// `frontier` must be NULL or a live handle not used concurrently; `options` NULL or readable;
/// `options->progress`, if set, must be callable with `options->user_data` during this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_frontier_solve_with_options(
    frontier: *mut ergon_perseus_frontier,
    options: *const ergon_perseus_solve_options,
) -> ergon_status {
    boundary!(frontier, |h| {
        // SAFETY: the caller's contract.
        let options = unsafe { opt_ref(options, "options")? }
            .copied()
            .unwrap_or_else(|| ergon_perseus_solve_options_default());
        let stop = match options.stop {
            ERGON_PERSEUS_STOP_T_MIN => perseus::Stop::AtMinimum,
            ERGON_PERSEUS_STOP_T_STAR => perseus::Stop::AtMinEnergy,
            ERGON_PERSEUS_STOP_TIME => perseus::Stop::AtTime {
                time_s: options.stop_time_s,
            },
            other => {
                return Err(invalid_argument(format!(
                    "options.stop = {other} is not an ERGON_PERSEUS_STOP_* value (0, 1 or 2)"
                )));
            }
        };
        let mut call = |done: u64, total: u64| match options.progress {
            // SAFETY: the caller's contract for `progress` and `user_data`.
            Some(f) => {
                let stop = unsafe { f(options.user_data, done, total) };
                stop == 0
            }
            None => true,
        };
        solve_into(h, stop, &mut call)
    })
}

/// Solves the problem of `h` and stores the frontier (the shared body of both solve calls).
fn solve_into(
    h: &mut ergon_perseus_frontier,
    stop: perseus::Stop,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<()> {
    if h.frontier.is_some() {
        return Err(Failure::new(
            ergon_status::InvalidState,
            "the frontier is already solved",
        ));
    }
    let options = perseus::SolveOptions {
        stop,
        progress: Some(progress),
        ..perseus::SolveOptions::default()
    };
    let f = perseus::solve_with_options(&h.problem, options)?;
    match f.termination {
        Termination::ReachedMinimum => {}
        Termination::Stopped { at_quanta } | Termination::Cancelled { at_quanta } => {
            h.header.record(&format!(
                "the frontier stops at {at_quanta} quanta as asked ({:?}); points below it were not computed",
                f.termination
            ));
        }
        Termination::InfeasibleCut { at_quanta } | Termination::NoFiniteCut { at_quanta } => {
            h.header.record(&format!(
                "the frontier stops early at {} quanta ({:?}); points below it are missing",
                at_quanta, f.termination
            ));
        }
    }
    h.frontier = Some(f);
    Ok(())
}

/// Writes the number of points of the solved frontier to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `NOT_SOLVED` or `PANIC`.
///
/// # Safety
/// `frontier` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_frontier_num_points(
    frontier: *const ergon_perseus_frontier,
    out: *mut usize,
) -> ergon_status {
    boundary!(frontier, |h| { put(out, "out", solved(h)?.points.len()) })
}

fn point(p: &perseus::Point) -> ergon_perseus_point {
    ergon_perseus_point {
        time_s: p.time_s,
        energy_j: p.energy_j,
        effective_cost_j: p.effective_cost_j,
        cost_change_j: p.cost_change_j,
        quanta: p.quanta,
    }
}

/// Writes point `index` (0 is the slowest point, T_max − 1 quanta) to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `NOT_SOLVED`, `OUT_OF_RANGE` or `PANIC`.
///
/// # Safety
/// `frontier` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_frontier_point(
    frontier: *const ergon_perseus_frontier,
    index: usize,
    out: *mut ergon_perseus_point,
) -> ergon_status {
    boundary!(frontier, |h| {
        let f = solved(h)?;
        let p = f.points.get(index).ok_or_else(|| {
            Failure::new(
                ergon_status::OutOfRange,
                format!("point {index} does not exist ({} points)", f.points.len()),
            )
        })?;
        put(out, "out", point(p))
    })
}

/// Copies all points, slowest first, into `buf` ("ask the length, then fill": `*len` receives
/// the number of points; `buf` may be NULL with `cap` 0).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `NOT_SOLVED`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `frontier` must be NULL or a live handle; `buf` NULL or writable for `cap` points; `len`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_frontier_points(
    frontier: *const ergon_perseus_frontier,
    buf: *mut ergon_perseus_point,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(frontier, |h| {
        let points: Vec<ergon_perseus_point> = solved(h)?.points.iter().map(point).collect();
        copy_items(&points, buf, cap, len)
    })
}

/// Writes T_min, T_max, T* and the other facts of the solved frontier to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `NOT_SOLVED` or `PANIC`.
///
/// # Safety
/// `frontier` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_frontier_summary(
    frontier: *const ergon_perseus_frontier,
    out: *mut ergon_perseus_summary,
) -> ergon_status {
    boundary!(frontier, |h| {
        let f = solved(h)?;
        let star = f.point(f.min_energy())?;
        let info = ergon_perseus_summary {
            t_min_s: f.t_min_s(),
            t_max_s: f.t_max_s(),
            t_star_s: star.time_s,
            t_star_energy_j: star.energy_j,
            num_points: f.points.len(),
            num_stages: f.num_stages,
            complete: f.is_complete(),
        };
        put(out, "out", info)
    })
}

/// Copies the solved frontier as `ergon-frontier/v1` JSON into `buf` ("ask the length, then
/// fill"; `*len` excludes the NUL).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `NOT_SOLVED`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `frontier` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_frontier_to_json(
    frontier: *const ergon_perseus_frontier,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(frontier, |h| {
        let f = solved(h)?;
        copy_text(
            &formats::frontier_json(f, f.dag().num_microbatches(), false),
            buf,
            cap,
            len,
        )
    })
}

/// Makes a frequency plan: `at` is `ERGON_PERSEUS_PLAN_FASTEST`, `ERGON_PERSEUS_PLAN_T_STAR` or
/// `ERGON_PERSEUS_PLAN_DEADLINE` (then `deadline_s` is the straggler's iteration time, and the plan is
/// the one of least energy including the wait; otherwise `deadline_s` is ignored). On success
/// `*out` receives a handle to release with `ergon_perseus_plan_free`; it does not borrow the frontier.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `NOT_SOLVED`, `INVALID_ARGUMENT` (unknown `at`,
/// non-finite deadline), `DEADLINE` (shorter than T_min) or `PANIC`.
///
/// # Safety
/// `frontier` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_frontier_plan(
    frontier: *const ergon_perseus_frontier,
    at: u32,
    deadline_s: f64,
    out: *mut *mut ergon_perseus_plan,
) -> ergon_status {
    boundary!(frontier, |h| {
        let f = solved(h)?;
        let slot = out_ref(out, "out")?;
        let at = match at {
            ERGON_PERSEUS_PLAN_FASTEST => PlanAt::Fastest,
            ERGON_PERSEUS_PLAN_T_STAR => PlanAt::TStar,
            ERGON_PERSEUS_PLAN_DEADLINE => PlanAt::Deadline(deadline_s),
            _ => return Err(invalid_argument(format!("unknown plan selector {at}"))),
        };
        let plan = f.plan_at(at)?;
        *slot = into_raw(ergon_perseus_plan {
            header: Header::new::<ergon_perseus_plan>(),
            plan,
        });
        Ok(())
    })
}

/// Copies the message of the last failed call on this frontier (empty if none) into `buf`
/// ("ask the length, then fill"; `*len` excludes the NUL).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `frontier` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_frontier_last_error(
    frontier: *const ergon_perseus_frontier,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, frontier, buf, cap, len)
}

/// Reads a plan from an `ergon-plan/v1` JSON document of `len` bytes (no NUL needed), as
/// `ergon_perseus_plan_to_json` writes it: the way a plan solved on one process (a planner rank)
/// reaches the others. On success `*out` receives a handle to release with
/// `ergon_perseus_plan_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE` (not JSON, not UTF-8, a missing or
/// mistyped field), `SCHEMA`, `INVALID_PROBLEM` (stages not listed 0, 1, … or without
/// instructions, a negative or non-finite time or energy, more stages or computations than the
/// solver's limits; the message names the field) or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `json` must be NULL or readable for `len` bytes; `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_plan_from_json(
    json: *const c_char,
    len: usize,
    out: *mut *mut ergon_perseus_plan,
) -> ergon_status {
    boundary!(|| {
        let slot = out_ref(out, "out")?;
        // SAFETY: the caller's contract.
        let s = unsafe { text(json, len, "json")? };
        let plan = formats::parse_plan(s)?;
        *slot = into_raw(ergon_perseus_plan {
            header: Header::new::<ergon_perseus_plan>(),
            plan,
        });
        Ok(())
    })
}

/// Releases a plan handle. NULL is a no-op.
///
/// # Safety
/// `plan` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_plan_free(plan: *mut ergon_perseus_plan) {
    boundary!(free, plan)
}

/// Writes the plan's time, energy and number of stages to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `PANIC`.
///
/// # Safety
/// `plan` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_plan_summary(
    plan: *const ergon_perseus_plan,
    out: *mut ergon_perseus_plan_info,
) -> ergon_status {
    boundary!(plan, |h| {
        let info = ergon_perseus_plan_info {
            time_s: h.plan.time_s,
            energy_j: h.plan.energy_j,
            num_stages: h.plan.stages.len(),
        };
        put(out, "out", info)
    })
}

/// Copies stage `stage`'s program for one iteration: `kinds[i]` (`ERGON_PERSEUS_KIND_*`) and
/// `freqs_mhz[i]` (the SM clock to set before computation i). "Ask the length, then fill":
/// `*len` receives the number of computations; both arrays must hold `cap` elements (both NULL
/// with `cap` 0 to ask).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `OUT_OF_RANGE` (no such stage),
/// `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `plan` must be NULL or a live handle; `kinds` and `freqs_mhz` NULL or writable for `cap`
/// elements; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_plan_stage(
    plan: *const ergon_perseus_plan,
    stage: usize,
    kinds: *mut u32,
    freqs_mhz: *mut u32,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(plan, |h| {
        let s = h.stage(stage)?;
        let k: Vec<u32> = s.instructions.iter().map(|&(k, _)| KINDS.code(k)).collect();
        let f: Vec<u32> = s.instructions.iter().map(|&(_, freq)| freq).collect();
        // Check both buffers before writing either, so that outputs change only on success.
        check_buffer(kinds, cap, "kinds", "cap")?;
        check_buffer(freqs_mhz, cap, "freqs_mhz", "cap")?;
        out_ref(len, "len")?;
        copy_items(&k, kinds, cap, len)?;
        copy_items(&f, freqs_mhz, cap, len)
    })
}

/// Copies the plan as `ergon-plan/v1` JSON into `buf` ("ask the length, then fill").
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `plan` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_plan_to_json(
    plan: *const ergon_perseus_plan,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(plan, |h| {
        copy_text(&formats::plan_json(&h.plan), buf, cap, len)
    })
}

/// Copies the message of the last failed call on this plan (empty if none) into `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `plan` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_plan_last_error(
    plan: *const ergon_perseus_plan,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, plan, buf, cap, len)
}
