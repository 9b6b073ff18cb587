//! Oobleck through the C ABI: pipeline templates from an `oobleck-profile/v1` document, the
//! f+1 instantiation with its exact batch split, and the reconfiguration after node failures.
//! Details (stages, node lists, layer copies) come out as JSON, in the documents of
//! docs/formats.md (`oobleck-profile/v1` section).

use std::ffi::c_char;
use std::sync::Arc;

use ergon_core::oobleck::formats as oobleck_formats;
use ergon_core::oobleck::{
    MAX_NODES, Objective, OobleckError, Plan, PlanOptions, Reconfiguration, Solver,
    TemplateOptions, Templates, generate_templates, instantiate, reconfigure,
};

use crate::boundary::boundary;
use crate::handle::{Header, copy_text, in_ref, into_raw, opaque, out_ref, put, slice, text};
use crate::status::{Blame, Blamed, Result, ergon_status, invalid_argument, problem};

/// Objective: PyPI 0.1.1, one stage per node, compared by `T(128)`.
pub const ERGON_OOBLECK_OBJECTIVE_V011: u32 = 0;
/// Objective: the develop planner, power-of-two GPU groups per node with intra-node
/// all-reduce.
pub const ERGON_OOBLECK_OBJECTIVE_DEVELOP: u32 = 1;
/// Search of the v011 objective: exact minimisation (default).
pub const ERGON_OOBLECK_SOLVER_EXACT: u32 = 0;
/// Search of the v011 objective: the upstream divide-and-conquer recurrence.
pub const ERGON_OOBLECK_SOLVER_RECURRENCE: u32 = 1;

/// How templates are built (`ergon_oobleck_options_default` for the defaults).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ergon_oobleck_options {
    /// `ERGON_OOBLECK_OBJECTIVE_*`.
    pub objective: u32,
    /// `ERGON_OOBLECK_SOLVER_*`.
    pub solver: u32,
    /// Cluster size N: templates for every node count in [n0, N].
    pub max_nodes: u32,
    /// GPUs per node (a power of two).
    pub gpus_per_node: u32,
    /// Memory of one node in bytes; 0: memory does not constrain.
    pub node_memory_bytes: u64,
}

/// What a templates handle holds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ergon_oobleck_templates_info {
    /// Minimum nodes per pipeline by memory.
    pub n0: u32,
    /// Smallest template node count.
    pub min_nodes: u32,
    /// Largest template node count.
    pub max_nodes: u32,
    /// Number of templates.
    pub num_templates: usize,
    /// Number of layers.
    pub num_layers: usize,
}

/// One template (see `ergon_oobleck_templates_get`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ergon_oobleck_template {
    /// Nodes it spans.
    pub num_nodes: u32,
    /// Stages.
    pub num_stages: usize,
    /// Index of the bottleneck stage.
    pub bottleneck: usize,
    /// What the reference planner minimises (0.1.1 pseudo latency or develop's estimate), ms.
    pub objective_ms: f64,
    /// `T(128)`, ms.
    pub latency_at_128_ms: f64,
}

/// What a plan handle holds.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ergon_oobleck_plan_info {
    /// Number of pipelines.
    pub num_pipelines: usize,
    /// Predicted iteration time, ms.
    pub iteration_time_ms: f64,
    /// The global batch in microbatches.
    pub microbatches: u64,
    /// Node ids are `0..num_nodes`.
    pub num_nodes: u32,
    /// Layer copies of a reconfiguration (0 for a fresh plan).
    pub num_transfers: usize,
}

/// One pipeline of a plan (see `ergon_oobleck_plan_pipeline`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct ergon_oobleck_pipeline {
    /// Nodes it spans.
    pub num_nodes: u32,
    /// Microbatches per iteration.
    pub microbatches: u64,
    /// Its first node id (the JSON lists all).
    pub first_node: u32,
}

/// Opaque handle of the templates of one profile and cluster. Not to be used from two
/// threads at once.
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_oobleck_templates {
    header: Header,
    templates: Arc<Templates>,
}

/// Opaque handle of a plan (an instantiation, or a reconfiguration of one); it keeps its
/// templates alive.
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_oobleck_plan {
    header: Header,
    templates: Arc<Templates>,
    plan: Plan,
    reconfiguration: Option<Reconfiguration>,
}

opaque!(
    ergon_oobleck_templates,
    0x4552_474f_4f42_544d,
    "Oobleck templates"
); // "ERGOOBTM"
opaque!(ergon_oobleck_plan, 0x4552_474f_4f42_504c, "Oobleck plan"); // "ERGOOBPL"

impl Blamed for OobleckError {
    fn status(&self, blame: Blame) -> ergon_status {
        use OobleckError as E;
        match self {
            E::UnknownNode { .. } => ergon_status::OutOfRange,
            E::InvalidNodes { .. }
            | E::InvalidGpus { .. }
            | E::InvalidMemory
            | E::InvalidMicrobatches { .. }
            | E::FaultToleranceTooLarge { .. }
                if blame == Blame::Argument =>
            {
                ergon_status::InvalidArgument
            }
            // A lost replica or no feasible split: the state of the plan, not a bad argument.
            E::MustRestart { .. } | E::NoFeasiblePlan { .. } | E::NoTemplateForSize { .. } => {
                ergon_status::InvalidState
            }
            _ => ergon_status::InvalidProblem,
        }
    }
}

fn arg(e: OobleckError) -> crate::status::Failure {
    crate::status::argument(e)
}

/// The default options: objective 0.1.1, exact solver, 1 node of 1 GPU, no memory limit.
/// Never fails.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_oobleck_options_default() -> ergon_oobleck_options {
    boundary!(infallible, {
        ergon_oobleck_options {
            objective: ERGON_OOBLECK_OBJECTIVE_V011,
            solver: ERGON_OOBLECK_SOLVER_EXACT,
            max_nodes: 1,
            gpus_per_node: 1,
            node_memory_bytes: 0,
        }
    })
}

fn options_of(o: &ergon_oobleck_options) -> Result<TemplateOptions> {
    let objective = match o.objective {
        ERGON_OOBLECK_OBJECTIVE_V011 => Objective::V011,
        ERGON_OOBLECK_OBJECTIVE_DEVELOP => Objective::Develop,
        other => {
            return Err(invalid_argument(format!(
                "options.objective: unknown code {other} (0 = v011, 1 = develop)"
            )));
        }
    };
    let solver = match o.solver {
        ERGON_OOBLECK_SOLVER_EXACT => Solver::Exact,
        ERGON_OOBLECK_SOLVER_RECURRENCE => Solver::Recurrence,
        other => {
            return Err(invalid_argument(format!(
                "options.solver: unknown code {other} (0 = exact, 1 = recurrence)"
            )));
        }
    };
    Ok(TemplateOptions {
        objective,
        solver,
        max_nodes: o.max_nodes,
        gpus_per_node: o.gpus_per_node,
        node_memory_bytes: (o.node_memory_bytes > 0).then_some(o.node_memory_bytes),
    })
}

/// Builds the templates of an `oobleck-profile/v1` document of `len` bytes (no NUL needed)
/// for every node count from n0 to `options->max_nodes`. On success `*out` receives a handle to
/// release with `ergon_oobleck_templates_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE`, `SCHEMA`, `INVALID_PROBLEM` (no layers, a
/// layer larger than a node, too large an instance), `INVALID_ARGUMENT` (an option) or `PANIC`.
/// Messages: `ergon_last_error`.
///
/// # Safety
/// `json` NULL or readable for `len` bytes; `options` NULL or readable; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_oobleck_templates_from_json(
    json: *const c_char,
    len: usize,
    options: *const ergon_oobleck_options,
    out: *mut *mut ergon_oobleck_templates,
) -> ergon_status {
    boundary!(|| {
        // SAFETY: the caller's contract.
        let s = unsafe { text(json, len, "json")? };
        // SAFETY: the caller's contract.
        let o = options_of(unsafe { in_ref(options, "options")? })?;
        let slot = out_ref(out, "out")?;
        let profile = oobleck_formats::parse_profile(s)?;
        let templates = generate_templates(&profile, &o).map_err(|e| match e {
            OobleckError::InvalidNodes { .. }
            | OobleckError::InvalidGpus { .. }
            | OobleckError::InvalidMemory => arg(e),
            e => problem(e),
        })?;
        *slot = into_raw(ergon_oobleck_templates {
            header: Header::new::<ergon_oobleck_templates>(),
            templates: Arc::new(templates),
        });
        Ok(())
    })
}

/// Releases a templates handle. NULL is a no-op. Plans made from it stay valid.
///
/// # Safety
/// `templates` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_oobleck_templates_free(templates: *mut ergon_oobleck_templates) {
    boundary!(free, templates)
}

/// Writes n0, the node-count range, the number of templates and of layers to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `PANIC`.
///
/// # Safety
/// `templates` NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_oobleck_templates_summary(
    templates: *const ergon_oobleck_templates,
    out: *mut ergon_oobleck_templates_info,
) -> ergon_status {
    boundary!(templates, |h| {
        let t = &h.templates;
        let (min_nodes, max_nodes) = t.size_range();
        put(
            out,
            "out",
            ergon_oobleck_templates_info {
                n0: t.n0,
                min_nodes,
                max_nodes,
                num_templates: t.templates.len(),
                num_layers: t.layers,
            },
        )
    })
}

/// Writes the template for `num_nodes` nodes to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `OUT_OF_RANGE` (no template of that size) or
/// `PANIC`.
///
/// # Safety
/// `templates` NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_oobleck_templates_get(
    templates: *const ergon_oobleck_templates,
    num_nodes: u32,
    out: *mut ergon_oobleck_template,
) -> ergon_status {
    boundary!(templates, |h| {
        let t = h.templates.get(num_nodes).ok_or_else(|| {
            let (a, b) = h.templates.size_range();
            crate::status::Failure::new(
                ergon_status::OutOfRange,
                format!("no template for {num_nodes} nodes (templates exist for {a}..={b})"),
            )
        })?;
        put(
            out,
            "out",
            ergon_oobleck_template {
                num_nodes: t.num_nodes,
                num_stages: t.stages.len(),
                bottleneck: t.bottleneck,
                objective_ms: t.objective_ms,
                latency_at_128_ms: t.latency_at_128_ms,
            },
        )
    })
}

/// Copies the templates document (docs/formats.md) into `buf` ("ask the length, then fill";
/// `*len` excludes the NUL).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `templates` NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_oobleck_templates_to_json(
    templates: *const ergon_oobleck_templates,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(templates, |h| {
        copy_text(
            &oobleck_formats::templates_json(&h.templates),
            buf,
            cap,
            len,
        )
    })
}

/// Copies the message of the last failed call on these templates (empty if none) into `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `templates` NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_oobleck_templates_last_error(
    templates: *const ergon_oobleck_templates,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, templates, buf, cap, len)
}

/// Instantiates at least `fault_tolerance + 1` pipelines over all N nodes with the exact split
/// of `microbatches`. On success `*out` receives a handle to release with
/// `ergon_oobleck_plan_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (f too large, a microbatch
/// count outside 1..=65536), `INVALID_STATE` (no instantiation splits the batch exactly),
/// `INVALID_PROBLEM` (too many options) or `PANIC`.
///
/// # Safety
/// `templates` NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_oobleck_plan_create(
    templates: *const ergon_oobleck_templates,
    fault_tolerance: u32,
    microbatches: u64,
    out: *mut *mut ergon_oobleck_plan,
) -> ergon_status {
    boundary!(templates, |h| {
        let slot = out_ref(out, "out")?;
        let plan = instantiate(
            &h.templates,
            &PlanOptions {
                fault_tolerance,
                microbatches,
            },
        )
        .map_err(arg)?;
        *slot = into_raw(ergon_oobleck_plan {
            header: Header::new::<ergon_oobleck_plan>(),
            templates: Arc::clone(&h.templates),
            plan,
            reconfiguration: None,
        });
        Ok(())
    })
}

/// Reconfigures `plan` after losing the `num_lost` nodes of `lost` (shrink, borrow, merge,
/// re-split the batch). On success `*out` receives a new plan handle (its JSON adds the lost
/// nodes and the layer copies); `plan` is unchanged.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `OUT_OF_RANGE` (a node id not in the plan),
/// `INVALID_STATE` (a layer lost every replica: training must restart from a checkpoint; or
/// no exact split) or `PANIC`.
///
/// # Safety
/// `plan` NULL or a live handle; `lost` NULL (with `num_lost` 0) or readable for `num_lost`
/// ids; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_oobleck_plan_reconfigure(
    plan: *const ergon_oobleck_plan,
    lost: *const u32,
    num_lost: usize,
    out: *mut *mut ergon_oobleck_plan,
) -> ergon_status {
    boundary!(plan, |h| {
        if num_lost > MAX_NODES as usize {
            return Err(invalid_argument(format!(
                "num_lost {num_lost} is more than the {MAX_NODES} nodes a plan may have"
            )));
        }
        // SAFETY: the caller's contract.
        let lost = unsafe { slice(lost, num_lost, "lost")? };
        let slot = out_ref(out, "out")?;
        let r = reconfigure(&h.templates, &h.plan, lost).map_err(arg)?;
        *slot = into_raw(ergon_oobleck_plan {
            header: Header::new::<ergon_oobleck_plan>(),
            templates: Arc::clone(&h.templates),
            plan: r.plan.clone(),
            reconfiguration: Some(r),
        });
        Ok(())
    })
}

/// Releases a plan handle. NULL is a no-op.
///
/// # Safety
/// `plan` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_oobleck_plan_free(plan: *mut ergon_oobleck_plan) {
    boundary!(free, plan)
}

/// Writes the pipeline count, iteration time, batch, node count and copy count to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `PANIC`.
///
/// # Safety
/// `plan` NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_oobleck_plan_summary(
    plan: *const ergon_oobleck_plan,
    out: *mut ergon_oobleck_plan_info,
) -> ergon_status {
    boundary!(plan, |h| {
        put(
            out,
            "out",
            ergon_oobleck_plan_info {
                num_pipelines: h.plan.pipelines.len(),
                iteration_time_ms: h.plan.iteration_time_ms,
                microbatches: h.plan.microbatches,
                num_nodes: h.plan.num_nodes,
                num_transfers: h.reconfiguration.as_ref().map_or(0, |r| r.transfers.len()),
            },
        )
    })
}

/// Writes pipeline `index` to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `OUT_OF_RANGE` or `PANIC`.
///
/// # Safety
/// `plan` NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_oobleck_plan_pipeline(
    plan: *const ergon_oobleck_plan,
    index: usize,
    out: *mut ergon_oobleck_pipeline,
) -> ergon_status {
    boundary!(plan, |h| {
        let p = h.plan.pipelines.get(index).ok_or_else(|| {
            crate::status::Failure::new(
                ergon_status::OutOfRange,
                format!(
                    "pipeline {index} out of range (the plan has {})",
                    h.plan.pipelines.len()
                ),
            )
        })?;
        put(
            out,
            "out",
            ergon_oobleck_pipeline {
                num_nodes: p.num_nodes,
                microbatches: p.microbatches,
                first_node: p.nodes.first().copied().unwrap_or(0),
            },
        )
    })
}

/// Copies the plan document (or, for a reconfigured plan, the reconfiguration document with
/// `lost` and `transfers`; docs/formats.md) into `buf` ("ask the length, then fill").
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `plan` NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_oobleck_plan_to_json(
    plan: *const ergon_oobleck_plan,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(plan, |h| {
        let json = match &h.reconfiguration {
            Some(r) => oobleck_formats::reconfiguration_json(&h.templates, r),
            None => oobleck_formats::plan_json(&h.templates, &h.plan),
        };
        copy_text(&json, buf, cap, len)
    })
}

/// Copies the message of the last failed call on this plan (empty if none) into `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `plan` NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_oobleck_plan_last_error(
    plan: *const ergon_oobleck_plan,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, plan, buf, cap, len)
}
