//! DPK (DPack, privacy-budget scheduling) through the C ABI: a workload from arrays or from a
//! `dpk-workload/v1` document, an offline schedule with any of the schedulers, the allocation,
//! and the Rényi-DP helpers a training job needs to describe its demand.
//!
//! Blocks and tasks are named by their ids, as in `dpk-workload/v1`; every message about a
//! block or a task names its id (and, for the arrays, its position).

use std::ffi::c_char;
use std::sync::Arc;

use ergon_core::dpk;
use ergon_core::dpk::formats as dpk_formats;
use ergon_core::dpk::{
    Allocation, Block, Conversion, DpfCapacity, KnapsackError, KnapsackMode, MAX_ORDERS, Mechanism,
    OnlineResult, RdpCurve, STANDARD_ALPHAS, ScheduleOptions, Scheduler, Task, Workload, rdp,
    schedule, simulate,
};

use crate::boundary::boundary;
use crate::handle::{
    Header, copy_items, copy_text, in_ref, into_raw, opaque, opt_ref, opt_slice, out_ref, put,
    put_with, slice, text,
};
use crate::names::codes;
use crate::status::{Failure, Result, argument, ergon_status, invalid_argument, problem};

/// Scheduler: DPK / DPack (best RDP order per block by 1-D knapsacks, then greedy).
pub const ERGON_DPK_SCHEDULER_DPK: u32 = 0;
/// Scheduler: DPF, dominant private-block fairness (the PrivateKube baseline).
pub const ERGON_DPK_SCHEDULER_DPF: u32 = 1;
/// Scheduler: first come, first served (arrival, then id).
pub const ERGON_DPK_SCHEDULER_FCFS: u32 = 2;
/// Scheduler: greedy by weight over the demand summed over blocks and usable orders.
pub const ERGON_DPK_SCHEDULER_AREA: u32 = 3;
/// Scheduler: exact branch and bound (small workloads; see `max_nodes`).
pub const ERGON_DPK_SCHEDULER_OPTIMAL: u32 = 4;
/// DPK knapsack objective: total task weight (the paper's definition; default).
pub const ERGON_DPK_KNAPSACK_WEIGHTED: u32 = 0;
/// DPK knapsack objective: number of tasks (what the reference simulator does).
pub const ERGON_DPK_KNAPSACK_COUNT: u32 = 1;
/// DPF shares against each block's full capacity (default).
pub const ERGON_DPK_DPF_CAPACITY_INITIAL: u32 = 0;
/// DPF shares against the budget remaining at scheduling time.
pub const ERGON_DPK_DPF_CAPACITY_REMAINING: u32 = 1;
/// RDP → (ε, δ) by Mironov's bound `min_α ε(α) + ln(1/δ)/(α − 1)`.
pub const ERGON_DPK_CONVERSION_CLASSIC: u32 = 0;
/// RDP → (ε, δ) by the tighter bound of Balle et al. (2020), as Opacus uses.
pub const ERGON_DPK_CONVERSION_TIGHT: u32 = 1;

codes!(
    /// The schedulers (`ERGON_DPK_SCHEDULER_*`).
    SCHEDULERS: Scheduler, "scheduler", [
        ERGON_DPK_SCHEDULER_DPK => Scheduler::Dpk, ERGON_DPK_SCHEDULER_DPF => Scheduler::Dpf,
        ERGON_DPK_SCHEDULER_FCFS => Scheduler::Fcfs, ERGON_DPK_SCHEDULER_AREA => Scheduler::Area,
        ERGON_DPK_SCHEDULER_OPTIMAL => Scheduler::Optimal
    ]
);

codes!(
    /// DPK's knapsack objectives (`ERGON_DPK_KNAPSACK_*`).
    KNAPSACKS: KnapsackMode, "knapsack objective", [
        ERGON_DPK_KNAPSACK_WEIGHTED => KnapsackMode::Weighted,
        ERGON_DPK_KNAPSACK_COUNT => KnapsackMode::Count
    ]
);

codes!(
    /// What DPF's shares are taken against (`ERGON_DPK_DPF_CAPACITY_*`).
    DPF_CAPACITIES: DpfCapacity, "DPF capacity", [
        ERGON_DPK_DPF_CAPACITY_INITIAL => DpfCapacity::Initial,
        ERGON_DPK_DPF_CAPACITY_REMAINING => DpfCapacity::Remaining
    ]
);

codes!(
    /// RDP → (ε, δ) conversions (`ERGON_DPK_CONVERSION_*`).
    CONVERSIONS: Conversion, "conversion", [
        ERGON_DPK_CONVERSION_CLASSIC => Conversion::Classic,
        ERGON_DPK_CONVERSION_TIGHT => Conversion::Tight
    ]
);

/// The name of a scheduler code (`ERGON_DPK_SCHEDULER_*`), "ask the length, then fill";
/// `INVALID_ARGUMENT` for an unknown code (docs/abi.md, "Names").
///
/// # Safety
/// `buf` NULL or writable for `cap` bytes; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_scheduler_name(
    code: u32,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(name, SCHEDULERS, code, buf, cap, len)
}

/// The scheduler code (`ERGON_DPK_SCHEDULER_*`) named `name` (`name_len` bytes of UTF-8); `INVALID_ARGUMENT`
/// listing the accepted names for any other name (docs/abi.md, "Names").
///
/// # Safety
/// `name` NULL or readable for `name_len` bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_scheduler_parse(
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> ergon_status {
    boundary!(parse, SCHEDULERS, name, name_len, out)
}

/// The name of a knapsack objective code (`ERGON_DPK_KNAPSACK_*`), "ask the length, then fill";
/// `INVALID_ARGUMENT` for an unknown code (docs/abi.md, "Names").
///
/// # Safety
/// `buf` NULL or writable for `cap` bytes; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_knapsack_name(
    code: u32,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(name, KNAPSACKS, code, buf, cap, len)
}

/// The knapsack objective code (`ERGON_DPK_KNAPSACK_*`) named `name` (`name_len` bytes of UTF-8); `INVALID_ARGUMENT`
/// listing the accepted names for any other name (docs/abi.md, "Names").
///
/// # Safety
/// `name` NULL or readable for `name_len` bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_knapsack_parse(
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> ergon_status {
    boundary!(parse, KNAPSACKS, name, name_len, out)
}

/// The name of a DPF capacity code (`ERGON_DPK_DPF_CAPACITY_*`), "ask the length, then fill";
/// `INVALID_ARGUMENT` for an unknown code (docs/abi.md, "Names").
///
/// # Safety
/// `buf` NULL or writable for `cap` bytes; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_dpf_capacity_name(
    code: u32,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(name, DPF_CAPACITIES, code, buf, cap, len)
}

/// The DPF capacity code (`ERGON_DPK_DPF_CAPACITY_*`) named `name` (`name_len` bytes of UTF-8); `INVALID_ARGUMENT`
/// listing the accepted names for any other name (docs/abi.md, "Names").
///
/// # Safety
/// `name` NULL or readable for `name_len` bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_dpf_capacity_parse(
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> ergon_status {
    boundary!(parse, DPF_CAPACITIES, name, name_len, out)
}

/// The name of a conversion code (`ERGON_DPK_CONVERSION_*`), "ask the length, then fill";
/// `INVALID_ARGUMENT` for an unknown code (docs/abi.md, "Names").
///
/// # Safety
/// `buf` NULL or writable for `cap` bytes; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_conversion_name(
    code: u32,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(name, CONVERSIONS, code, buf, cap, len)
}

/// The conversion code (`ERGON_DPK_CONVERSION_*`) named `name` (`name_len` bytes of UTF-8); `INVALID_ARGUMENT`
/// listing the accepted names for any other name (docs/abi.md, "Names").
///
/// # Safety
/// `name` NULL or readable for `name_len` bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_conversion_parse(
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> ergon_status {
    boundary!(parse, CONVERSIONS, name, name_len, out)
}

/// A data block of a workload given as arrays.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_dpk_block {
    /// Identifier, unique in the workload.
    pub id: u64,
    /// Global ε of the block (> 0); used when `capacity_len` is 0.
    pub epsilon: f64,
    /// Global δ of the block, in (0, 1); used when `capacity_len` is 0.
    pub delta: f64,
    /// Explicit capacity, one value (≥ 0) per order, or NULL with `capacity_len` 0 to derive
    /// it from (`epsilon`, `delta`).
    pub capacity: *const f64,
    /// Number of values at `capacity`: 0 or the number of orders.
    pub capacity_len: usize,
    /// When the block arrives (informative offline; finite).
    pub arrival: f64,
}

/// A task of a workload given as arrays.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_dpk_task {
    /// Identifier, unique in the workload.
    pub id: u64,
    /// Utility (> 0; 1 to count tasks).
    pub weight: f64,
    /// Arrival time (finite); breaks ties, earlier first.
    pub arrival: f64,
    /// Ids of the requested blocks (at least one, no repeats).
    pub blocks: *const u64,
    /// Number of ids at `blocks`.
    pub num_blocks: usize,
    /// RDP ε at each order (finite, ≥ 0), the same on every requested block.
    pub demand: *const f64,
    /// Number of values at `demand`: the number of orders.
    pub demand_len: usize,
}

/// A workload given as arrays. All arrays are borrowed during the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_dpk_problem {
    /// RDP orders, finite, > 1 and increasing (`ergon_dpk_alphas_standard` gives the usual 12).
    pub alphas: *const f64,
    /// Number of orders (1 to 16).
    pub num_alphas: usize,
    /// The blocks.
    pub blocks: *const ergon_dpk_block,
    /// Number of blocks (≥ 1).
    pub num_blocks: usize,
    /// The tasks.
    pub tasks: *const ergon_dpk_task,
    /// Number of tasks.
    pub num_tasks: usize,
}

/// Scheduler settings; start from `ergon_dpk_options_default()` and change what you need.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_dpk_options {
    /// `ERGON_DPK_SCHEDULER_DPK`, `_DPF`, `_FCFS`, `_AREA` or `_OPTIMAL`.
    pub scheduler: u32,
    /// DPK precision η, 0 < η < 0.75: knapsack values within a factor 1 + 2η/3 of optimal.
    pub eta: f64,
    /// DPK knapsack objective: `ERGON_DPK_KNAPSACK_WEIGHTED` or `ERGON_DPK_KNAPSACK_COUNT`.
    pub knapsack: u32,
    /// Recompute priorities after every k allocations (0: never); DPK, Area, DPF on remaining
    /// capacity.
    pub recompute_every: usize,
    /// DPK: allocate the best single task instead when it is worth more than the packing.
    pub single_task_fallback: bool,
    /// DPF: divide the dominant share by the weight.
    pub dpf_weighted: bool,
    /// DPF: `ERGON_DPK_DPF_CAPACITY_INITIAL` or `ERGON_DPK_DPF_CAPACITY_REMAINING`.
    pub dpf_capacity: u32,
    /// Optimal: node budget of the branch and bound (the best found so far is returned, with
    /// an upper bound, when it runs out).
    pub max_nodes: u64,
}

/// Sizes of a workload.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ergon_dpk_workload_info {
    /// Number of RDP orders.
    pub num_alphas: usize,
    /// Number of blocks.
    pub num_blocks: usize,
    /// Number of tasks.
    pub num_tasks: usize,
}

/// Facts about a schedule.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ergon_dpk_result_info {
    /// The scheduler that made it (`ERGON_DPK_*`).
    pub scheduler: u32,
    /// Number of allocated tasks.
    pub num_allocated: usize,
    /// Sum of their weights.
    pub total_weight: f64,
    /// Number of blocks (rows of `ergon_dpk_result_remaining`).
    pub num_blocks: usize,
    /// Number of RDP orders (columns of `ergon_dpk_result_remaining`).
    pub num_alphas: usize,
    /// `ERGON_DPK_SCHEDULER_OPTIMAL`: an upper bound on the optimum (equal to `total_weight` when the
    /// search finished); NaN for the other schedulers.
    pub upper_bound: f64,
    /// False only when the exact search stopped at its node budget.
    pub proven_optimal: bool,
}

/// Facts about an online simulation.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ergon_dpk_online_info {
    /// The scheduler that ran (`ERGON_DPK_*`).
    pub scheduler: u32,
    /// Number of tasks submitted.
    pub num_submitted: usize,
    /// Number of tasks allocated.
    pub num_allocated: usize,
    /// Sum of the allocated tasks' weights.
    pub total_weight: f64,
    /// Mean scheduling delay of the allocated tasks, time units (0 if none).
    pub mean_delay: f64,
    /// Number of scheduling rounds run.
    pub num_rounds: usize,
}

/// Opaque handle of a validated workload (see the `ergon_dpk_workload_*` functions). Not to be
/// used from two threads at once.
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_dpk_workload {
    header: Header,
    workload: Arc<Workload>,
}

/// Opaque handle of a schedule (see the `ergon_dpk_result_*` functions); it does not borrow
/// its workload handle.
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_dpk_result {
    header: Header,
    scheduler: Scheduler,
    workload: Arc<Workload>,
    allocation: Allocation,
}

/// Opaque handle of the outcome of an online simulation (see the `ergon_dpk_online_*`
/// functions).
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_dpk_online {
    header: Header,
    scheduler: Scheduler,
    result: OnlineResult,
}

opaque!(ergon_dpk_online, 0x4552_4744_504b_4f4e, "DPK online result"); // "ERGDPKON"

opaque!(ergon_dpk_workload, 0x4552_4744_504b_574c, "DPK workload"); // "ERGDPKWL"

opaque!(ergon_dpk_result, 0x4552_4744_504b_5253, "DPK result"); // "ERGDPKRS"

fn options_of(o: &ergon_dpk_options) -> Result<ScheduleOptions> {
    let knapsack = KNAPSACKS.value_of(o.knapsack, "options.knapsack")?;
    let dpf_capacity = DPF_CAPACITIES.value_of(o.dpf_capacity, "options.dpf_capacity")?;
    if !(o.eta > 0.0 && o.eta < 0.75) {
        return Err(invalid_argument(format!(
            "eta = {} must lie strictly between 0 and 0.75",
            o.eta
        )));
    }
    Ok(ScheduleOptions {
        scheduler: SCHEDULERS.value(o.scheduler)?,
        eta: o.eta,
        knapsack,
        recompute_every: o.recompute_every,
        single_task_fallback: o.single_task_fallback,
        dpf_weighted: o.dpf_weighted,
        dpf_capacity,
        max_nodes: o.max_nodes,
    })
}

/// A curve of exactly `expected` values, checked before it is copied into a fixed-capacity
/// vector (so that a long array is an error, not a truncation).
fn curve(
    values: &[f64],
    expected: usize,
    too_long: impl FnOnce(usize) -> Failure,
) -> Result<RdpCurve> {
    if values.len() != expected || values.len() > MAX_ORDERS {
        return Err(too_long(values.len()));
    }
    Ok(values.iter().copied().collect())
}

/// An empty vector with room for `count` items; an allocation failure is
/// `ERGON_STATUS_INVALID_PROBLEM` naming `what`, never an abort.
fn reserved<T>(count: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(count).map_err(|_| {
        Failure::new(
            ergon_status::InvalidProblem,
            format!("out of memory allocating {count} {what}"),
        )
    })?;
    Ok(v)
}

/// Reads an `ergon_dpk_problem` into a validated workload.
///
/// # Safety
/// Every pointer in `p` must satisfy the contract documented on [`ergon_dpk_problem`].
unsafe fn workload_from_arrays(p: &ergon_dpk_problem) -> Result<Workload> {
    // SAFETY (all `slice` calls): lengths and pointers come from the caller's description.
    let alphas_in = unsafe { slice(p.alphas, p.num_alphas, "alphas")? };
    let alphas = rdp::orders(alphas_in).map_err(problem)?;
    let na = alphas.len();
    // Limits before anything of the caller's sizes is allocated.
    dpk::check_sizes(p.num_blocks, p.num_tasks).map_err(problem)?;
    let blocks_in = unsafe { slice(p.blocks, p.num_blocks, "blocks")? };
    let tasks_in = unsafe { slice(p.tasks, p.num_tasks, "tasks")? };
    let requests = tasks_in
        .iter()
        .fold(0usize, |n, t| n.saturating_add(t.num_blocks));
    if requests > dpk::MAX_BLOCK_REQUESTS {
        return Err(problem(KnapsackError::LimitExceeded {
            what: "block requests",
            count: requests as u64,
            limit: "MAX_BLOCK_REQUESTS",
            max: dpk::MAX_BLOCK_REQUESTS as u64,
        }));
    }
    let mut blocks = reserved(blocks_in.len(), "blocks")?;
    for (j, b) in blocks_in.iter().enumerate() {
        let what = format!("blocks[{j}] (block {}).capacity", b.id);
        let capacity = unsafe { slice(b.capacity, b.capacity_len, &what)? };
        let block = if capacity.is_empty() {
            Block::from_budget(b.id, &alphas, b.epsilon, b.delta, b.arrival).map_err(problem)?
        } else {
            let capacity = curve(capacity, na, |len| {
                problem(KnapsackError::CapacityLength {
                    block: b.id,
                    len,
                    expected: na,
                })
            })?;
            Block {
                id: b.id,
                capacity,
                arrival: b.arrival,
            }
        };
        blocks.push(block);
    }
    let mut tasks = reserved(tasks_in.len(), "tasks")?;
    for (i, t) in tasks_in.iter().enumerate() {
        let ids = unsafe {
            slice(
                t.blocks,
                t.num_blocks,
                &format!("tasks[{i}] (task {}).blocks", t.id),
            )?
        };
        let demand = unsafe {
            slice(
                t.demand,
                t.demand_len,
                &format!("tasks[{i}] (task {}).demand", t.id),
            )?
        };
        let demand = curve(demand, na, |len| {
            problem(KnapsackError::DemandLength {
                task: t.id,
                len,
                expected: na,
            })
        })?;
        let mut blocks = reserved(ids.len(), "block ids")?;
        blocks.extend_from_slice(ids);
        tasks.push(Task {
            id: t.id,
            weight: t.weight,
            arrival: t.arrival,
            blocks,
            demand,
        });
    }
    Workload::new(&alphas, blocks, tasks).map_err(problem)
}

fn new_workload(workload: Workload, out: *mut *mut ergon_dpk_workload) -> Result<()> {
    let slot = out_ref(out, "out")?;
    *slot = into_raw(ergon_dpk_workload {
        header: Header::new::<ergon_dpk_workload>(),
        workload: Arc::new(workload),
    });
    Ok(())
}

/// The default scheduler settings: weighted DPK with η = 0.05, no recomputation, the
/// single-task fallback, weighted DPF on initial capacity, 20 000 000 branch-and-bound nodes.
/// Never fails.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_dpk_options_default() -> ergon_dpk_options {
    boundary!(infallible, {
        let d = ScheduleOptions::default();
        ergon_dpk_options {
            scheduler: SCHEDULERS.code(d.scheduler),
            eta: d.eta,
            knapsack: KNAPSACKS.code(d.knapsack),
            recompute_every: d.recompute_every,
            single_task_fallback: d.single_task_fallback,
            dpf_weighted: d.dpf_weighted,
            dpf_capacity: DPF_CAPACITIES.code(d.dpf_capacity),
            max_nodes: d.max_nodes,
        }
    })
}

/// Creates a workload from arrays (`problem` and everything it points to is only read during
/// the call). On success `*out` receives a handle to release with `ergon_dpk_workload_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` (the message names the array), `INVALID_PROBLEM`
/// (the message names the block or task: empty or invalid orders, δ outside (0, 1), a NaN or
/// negative demand or capacity, a missing or repeated block, a duplicate id, a wrong length...)
/// or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `problem` must be NULL or valid as documented on `ergon_dpk_problem`; `out` must be NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_workload_new(
    problem: *const ergon_dpk_problem,
    out: *mut *mut ergon_dpk_workload,
) -> ergon_status {
    boundary!(|| {
        // SAFETY: the caller's contract covers the struct and the arrays it points to.
        let w = unsafe { workload_from_arrays(in_ref(problem, "problem")?)? };
        new_workload(w, out)
    })
}

/// Creates a workload from a `dpk-workload/v1` JSON document of `len` bytes (no NUL needed).
/// On success `*out` receives a handle to release with `ergon_dpk_workload_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE` (not JSON, not UTF-8, a missing or
/// mistyped field), `SCHEMA`, `INVALID_PROBLEM` (the message names the block or task) or
/// `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `json` must be NULL or readable for `len` bytes; `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_workload_from_json(
    json: *const c_char,
    len: usize,
    out: *mut *mut ergon_dpk_workload,
) -> ergon_status {
    boundary!(|| {
        // SAFETY: the caller's contract.
        let s = unsafe { text(json, len, "json")? };
        new_workload(dpk_formats::parse_workload(s)?, out)
    })
}

/// Releases a workload handle. NULL is a no-op. Results made from it stay valid.
///
/// # Safety
/// `workload` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_workload_free(workload: *mut ergon_dpk_workload) {
    boundary!(free, workload)
}

/// Writes the numbers of orders, blocks and tasks to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `PANIC`.
///
/// # Safety
/// `workload` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_workload_summary(
    workload: *const ergon_dpk_workload,
    out: *mut ergon_dpk_workload_info,
) -> ergon_status {
    boundary!(workload, |h| {
        let w = &h.workload;
        let info = ergon_dpk_workload_info {
            num_alphas: w.alphas().len(),
            num_blocks: w.blocks().len(),
            num_tasks: w.tasks().len(),
        };
        put(out, "out", info)
    })
}

/// Copies the workload's RDP orders into `buf` ("ask the length, then fill").
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `workload` must be NULL or a live handle; `buf` NULL or writable for `cap` values; `len`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_workload_alphas(
    workload: *const ergon_dpk_workload,
    buf: *mut f64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(workload, |h| {
        copy_items(h.workload.alphas(), buf, cap, len)
    })
}

/// Copies the workload as `dpk-workload/v1` JSON (explicit capacities and demands) into `buf`
/// ("ask the length, then fill"; `*len` excludes the NUL).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `workload` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_workload_to_json(
    workload: *const ergon_dpk_workload,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(workload, |h| {
        copy_text(&dpk_formats::workload_json(&h.workload), buf, cap, len)
    })
}

/// Copies the message of the last failed call on this workload (empty if none) into `buf`
/// ("ask the length, then fill"; `*len` excludes the NUL).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `workload` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_workload_last_error(
    workload: *const ergon_dpk_workload,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, workload, buf, cap, len)
}

/// Schedules the workload's tasks offline with `options` (NULL: `ergon_dpk_options_default()`).
/// On success `*out` receives a result handle to release with `ergon_dpk_result_free`; the
/// workload handle is not modified and may be scheduled again.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (an unknown scheduler,
/// objective or DPF capacity constant, η outside (0, 0.75), `ERGON_DPK_SCHEDULER_OPTIMAL` on more tasks
/// than it accepts) or `PANIC`. Messages: `ergon_dpk_workload_last_error`.
///
/// # Safety
/// `workload` must be NULL or a live handle; `options` NULL or valid; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_workload_schedule(
    workload: *const ergon_dpk_workload,
    options: *const ergon_dpk_options,
    out: *mut *mut ergon_dpk_result,
) -> ergon_status {
    boundary!(workload, |h| {
        // SAFETY: the caller's contract.
        let opts = unsafe { options_arg(options)? }.unwrap_or_default();
        let slot = out_ref(out, "out")?;
        let allocation = schedule(&h.workload, &opts).map_err(argument)?;
        *slot = into_raw(ergon_dpk_result {
            header: Header::new::<ergon_dpk_result>(),
            scheduler: opts.scheduler,
            workload: Arc::clone(&h.workload),
            allocation,
        });
        Ok(())
    })
}

/// Releases a result handle. NULL is a no-op.
///
/// # Safety
/// `result` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_result_free(result: *mut ergon_dpk_result) {
    boundary!(free, result)
}

/// Writes the number of allocated tasks, their total weight and the other facts of the
/// schedule to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `PANIC`.
///
/// # Safety
/// `result` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_result_summary(
    result: *const ergon_dpk_result,
    out: *mut ergon_dpk_result_info,
) -> ergon_status {
    boundary!(result, |h| {
        let a = &h.allocation;
        let info = ergon_dpk_result_info {
            scheduler: SCHEDULERS.code(h.scheduler),
            num_allocated: a.num_allocated(),
            total_weight: a.total_weight,
            num_blocks: h.workload.blocks().len(),
            num_alphas: h.workload.alphas().len(),
            upper_bound: a.upper_bound.unwrap_or(f64::NAN),
            proven_optimal: a.proven_optimal(),
        };
        put(out, "out", info)
    })
}

/// Copies the ids of the allocated tasks, in allocation order, into `buf` ("ask the length,
/// then fill").
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `result` must be NULL or a live handle; `buf` NULL or writable for `cap` ids; `len` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_result_allocated(
    result: *const ergon_dpk_result,
    buf: *mut u64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(result, |h| {
        copy_items(&h.allocation.allocated, buf, cap, len)
    })
}

/// Copies the ids of the blocks, in workload order (the rows of `ergon_dpk_result_remaining`),
/// into `buf` ("ask the length, then fill").
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `result` must be NULL or a live handle; `buf` NULL or writable for `cap` ids; `len` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_result_block_ids(
    result: *const ergon_dpk_result,
    buf: *mut u64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(result, |h| {
        let ids: Vec<u64> = h.workload.blocks().iter().map(|b| b.id).collect();
        copy_items(&ids, buf, cap, len)
    })
}

/// Copies the remaining budget, block by block (workload order) and within a block order by
/// order, into `buf` ("ask the length, then fill": `*len` receives blocks × orders). Values
/// may be negative at the orders a block did not use.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `result` must be NULL or a live handle; `buf` NULL or writable for `cap` values; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_result_remaining(
    result: *const ergon_dpk_result,
    buf: *mut f64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(result, |h| {
        let flat: Vec<f64> = h
            .allocation
            .remaining
            .iter()
            .flat_map(|r| r.iter().copied())
            .collect();
        copy_items(&flat, buf, cap, len)
    })
}

/// Copies the schedule as `dpk-result/v1` JSON into `buf` ("ask the length, then fill";
/// `*len` excludes the NUL). The text is the one `ergon dpk schedule --json` prints.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `result` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_result_to_json(
    result: *const ergon_dpk_result,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(result, |h| {
        let json = dpk_formats::result_json(h.scheduler, &h.workload, &h.allocation);
        copy_text(&json, buf, cap, len)
    })
}

/// Copies the message of the last failed call on this result (empty if none) into `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `result` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_result_last_error(
    result: *const ergon_dpk_result,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, result, buf, cap, len)
}

// ------------------------------------------------------------------------------ online

/// Reads scheduler options: NULL gives `None`.
///
/// # Safety
/// `options` must be NULL or point to one readable `ergon_dpk_options`.
unsafe fn options_arg(options: *const ergon_dpk_options) -> Result<Option<ScheduleOptions>> {
    // SAFETY: forwarded.
    unsafe { opt_ref(options, "options") }?
        .map(options_of)
        .transpose()
}

/// Runs an online simulation described by a `dpk-online/v1` JSON document of `len` bytes
/// (blocks arriving over time, budget unlocked gradually, scheduling every T): with the
/// document's scheduler settings when `options` is NULL, else with `options` instead. On
/// success `*out` receives a handle to release with `ergon_dpk_online_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE`, `SCHEMA`, `INVALID_PROBLEM` (a setting
/// or task of the document, naming it), `INVALID_ARGUMENT` (an unknown constant in `options`,
/// or `ERGON_DPK_SCHEDULER_OPTIMAL`, which is offline only) or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `json` must be NULL or readable for `len` bytes; `options` NULL or valid; `out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_online_run_json(
    json: *const c_char,
    len: usize,
    options: *const ergon_dpk_options,
    out: *mut *mut ergon_dpk_online,
) -> ergon_status {
    boundary!(|| {
        // SAFETY: the caller's contract.
        let (s, o) = unsafe { (text(json, len, "json")?, options_arg(options)?) };
        let slot = out_ref(out, "out")?;
        let mut config = dpk_formats::parse_online(s)?;
        if let Some(o) = o {
            config.options = o;
        }
        // A problem of the document, except the options (an offline-only scheduler).
        let result = simulate(&config).map_err(problem)?;
        *slot = into_raw(ergon_dpk_online {
            header: Header::new::<ergon_dpk_online>(),
            scheduler: config.options.scheduler,
            result,
        });
        Ok(())
    })
}

/// Releases an online-simulation handle. NULL is a no-op.
///
/// # Safety
/// `online` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_online_free(online: *mut ergon_dpk_online) {
    boundary!(free, online)
}

/// Writes the numbers submitted and allocated, the total weight, the mean delay and the number
/// of rounds to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `PANIC`.
///
/// # Safety
/// `online` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_online_summary(
    online: *const ergon_dpk_online,
    out: *mut ergon_dpk_online_info,
) -> ergon_status {
    boundary!(online, |h| {
        let r = &h.result;
        let info = ergon_dpk_online_info {
            scheduler: SCHEDULERS.code(h.scheduler),
            num_submitted: r.num_submitted,
            num_allocated: r.num_allocated(),
            total_weight: r.total_weight,
            mean_delay: r.mean_delay,
            num_rounds: r.num_rounds,
        };
        put(out, "out", info)
    })
}

/// Copies the ids of the allocated tasks, in allocation order, into `buf` ("ask the length,
/// then fill").
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `online` must be NULL or a live handle; `buf` NULL or writable for `cap` ids; `len` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_online_allocated(
    online: *const ergon_dpk_online,
    buf: *mut u64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(online, |h| {
        let ids: Vec<u64> = h.result.allocations.iter().map(|a| a.id).collect();
        copy_items(&ids, buf, cap, len)
    })
}

/// Copies the outcome as `dpk-online-result/v1` JSON (every allocation with its time, delay
/// and block indices) into `buf` ("ask the length, then fill"; `*len` excludes the NUL). The
/// text is the one `ergon dpk simulate --json` prints for one scheduler.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `online` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_online_to_json(
    online: *const ergon_dpk_online,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(online, |h| {
        let json = dpk_formats::online_result_json(h.scheduler, &h.result);
        copy_text(&json, buf, cap, len)
    })
}

/// Copies the message of the last failed call on this online result (empty if none) into
/// `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `online` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_online_last_error(
    online: *const ergon_dpk_online,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, online, buf, cap, len)
}

// ------------------------------------------------------------------------------ RDP helpers
//
// The helpers take any grid of 1 to 4096 orders (`ERGON_DPK_MAX_ACCOUNTING_ORDERS`); only
// workloads are limited to 16. Curves are written with "ask the length, then fill": `*len`
// receives `num_alphas` even when `buf` is too small (or NULL with `cap` 0).

/// Most orders an RDP helper accepts.
pub const ERGON_DPK_MAX_ACCOUNTING_ORDERS: usize = 4096;
const _: () = assert!(ERGON_DPK_MAX_ACCOUNTING_ORDERS == rdp::MAX_ACCOUNTING_ORDERS);

/// Borrows an order grid of a helper call and checks it (`INVALID_ARGUMENT` when it is wrong).
///
/// # Safety
/// As [`slice`].
unsafe fn grid_arg<'a>(alphas: *const f64, num_alphas: usize) -> Result<&'a [f64]> {
    // SAFETY: forwarded contract.
    let a = unsafe { slice(alphas, num_alphas, "alphas")? };
    rdp::check_orders(a).map_err(argument)?;
    Ok(a)
}

/// A caller's order grid: (pointer, number of orders).
type Grid = (*const f64, usize);

/// A caller's output buffer, filled by "ask the length, then fill": (buf, cap, len).
type OutBuf = (*mut f64, usize, *mut usize);

/// The body of every helper that writes one value per order of a caller's grid: checks the
/// grid, lets `fill` compute the values, and copies them out.
///
/// # Safety
/// As [`slice`] for the grid; the buffer as [`copy_items`].
unsafe fn copy_on_grid(
    (alphas, num_alphas): Grid,
    (buf, cap, len): OutBuf,
    fill: impl FnOnce(&[f64], &mut [f64]) -> Result<()>,
) -> Result<()> {
    // SAFETY: the caller's contract.
    let a = unsafe { grid_arg(alphas, num_alphas)? };
    let mut out = vec![0.0; a.len()];
    fill(a, &mut out)?;
    copy_items(&out, buf, cap, len)
}

/// [`copy_on_grid`] for a mechanism's RDP curve.
///
/// # Safety
/// As [`copy_on_grid`].
unsafe fn copy_curve(mechanism: Mechanism, grid: Grid, out: OutBuf) -> Result<()> {
    // SAFETY: forwarded contract.
    unsafe {
        copy_on_grid(grid, out, |a, o| {
            mechanism.curve_into(a, o).map_err(argument)
        })
    }
}

/// [`copy_on_grid`] for the capacity of a block of budget (ε, δ) under `conversion`.
///
/// # Safety
/// As [`copy_on_grid`].
unsafe fn copy_capacity(
    (epsilon, delta, conversion): (f64, f64, u32),
    grid: Grid,
    out: OutBuf,
) -> Result<()> {
    // SAFETY: forwarded contract.
    unsafe {
        copy_on_grid(grid, out, |a, o| {
            let conversion = CONVERSIONS.value(conversion)?;
            rdp::block_capacity_into(a, epsilon, delta, conversion, o).map_err(argument)
        })
    }
}

/// `rdp::dp_epsilon_with` or `rdp::dp_delta`: (orders, curve, δ or ε, conversion) → (ε or δ,
/// index of the order attaining it).
type CurveConversion =
    fn(&[f64], &[f64], f64, Conversion) -> std::result::Result<(f64, usize), KnapsackError>;

/// The body of the two RDP → (ε, δ) conversions: checks the grid, the curve and both outputs,
/// converts with `convert(alphas, curve, value, conversion)`, and writes the result (named
/// `result_name` in messages) and the index of its order only on success.
///
/// # Safety
/// `alphas` and `curve` must be NULL or readable for their lengths.
unsafe fn convert_curve(
    convert: CurveConversion,
    (alphas, num_alphas): (*const f64, usize),
    (curve, curve_len): (*const f64, usize),
    (value, conversion): (f64, u32),
    (result, result_name): (*mut f64, &str),
    alpha_index: *mut usize,
) -> Result<()> {
    // SAFETY: the caller's contract.
    let (a, c) = unsafe {
        (
            grid_arg(alphas, num_alphas)?,
            slice(curve, curve_len, "curve")?,
        )
    };
    let result = out_ref(result, result_name)?;
    let index = out_ref(alpha_index, "alpha_index")?;
    let conversion = CONVERSIONS.value(conversion)?;
    (*result, *index) = convert(a, c, value, conversion).map_err(argument)?;
    Ok(())
}

/// Copies the 12 standard RDP orders of the DPack paper (1.5, 1.75, 2, 2.5, 3, 4, 5, 6, 8, 16,
/// 32, 64) into `buf` ("ask the length, then fill").
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`. Messages:
/// `ergon_last_error`.
///
/// # Safety
/// `buf` must be NULL or writable for `cap` values; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_alphas_standard(
    buf: *mut f64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(|| copy_items(&STANDARD_ALPHAS, buf, cap, len))
}

/// Copies the 156-order default grid of Google's `dp-accounting` (1.1 to 10.9 by 0.1, 11 to
/// 63, 128, 256, 512, 1024) into `buf` ("ask the length, then fill"). For accounting; a
/// workload takes at most 16 orders.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`. Messages:
/// `ergon_last_error`.
///
/// # Safety
/// `buf` must be NULL or writable for `cap` values; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_alphas_dense(
    buf: *mut f64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(|| copy_items(&rdp::dense_orders(), buf, cap, len))
}

/// Copies the capacity of a block with global budget (ε, δ) at each order by the classic
/// conversion, `max(ε − ln(1/δ)/(α − 1), 0)`, into `buf` ("ask the length, then fill": `*len`
/// receives `num_alphas`). Same as `ergon_dpk_block_capacity_with` with
/// `ERGON_DPK_CONVERSION_CLASSIC`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (ε not positive and finite, δ
/// outside (0, 1), empty or invalid orders), `BUFFER_TOO_SMALL` or `PANIC`. Messages:
/// `ergon_last_error`.
///
/// # Safety
/// `alphas` must be NULL or readable for `num_alphas` values; `buf` NULL or writable for `cap`
/// values; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_block_capacity(
    alphas: *const f64,
    num_alphas: usize,
    epsilon: f64,
    delta: f64,
    buf: *mut f64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(|| {
        let budget = (epsilon, delta, ERGON_DPK_CONVERSION_CLASSIC);
        // SAFETY: the caller's contract.
        unsafe { copy_capacity(budget, (alphas, num_alphas), (buf, cap, len)) }
    })
}

/// Copies the capacity of a block with global budget (ε, δ) at each order as the inverse of
/// `conversion` (`ERGON_DPK_CONVERSION_CLASSIC` or `_TIGHT`): a total demand within the
/// capacity at one order is certified (ε, δ)-DP by that conversion; orders where nothing can
/// be certified get 0. Pass the result as a block's `capacity` to schedule with tight
/// capacities.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (ε not positive and finite, δ
/// outside (0, 1), invalid orders, unknown conversion), `BUFFER_TOO_SMALL` or `PANIC`.
/// Messages: `ergon_last_error`.
///
/// # Safety
/// As `ergon_dpk_block_capacity`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ergon_dpk_block_capacity_with(
    alphas: *const f64,
    num_alphas: usize,
    epsilon: f64,
    delta: f64,
    conversion: u32,
    buf: *mut f64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(|| {
        let budget = (epsilon, delta, conversion);
        // SAFETY: the caller's contract.
        unsafe { copy_capacity(budget, (alphas, num_alphas), (buf, cap, len)) }
    })
}

/// Copies the RDP curve of the Gaussian mechanism with standard deviation `sigma`
/// (sensitivity 1), `α / (2σ²)`, into `buf` ("ask the length, then fill").
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (σ not positive and finite,
/// invalid orders), `BUFFER_TOO_SMALL` or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// As `ergon_dpk_block_capacity`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_curve_gaussian(
    alphas: *const f64,
    num_alphas: usize,
    sigma: f64,
    buf: *mut f64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(|| {
        let mechanism = Mechanism::Gaussian { sigma };
        // SAFETY: the caller's contract.
        unsafe { copy_curve(mechanism, (alphas, num_alphas), (buf, cap, len)) }
    })
}

/// Copies the RDP curve of the Laplace mechanism with scale `b` (sensitivity 1; b = 1/ε for
/// ε-DP), exact at every scale, into `buf` ("ask the length, then fill").
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (b not positive and finite,
/// invalid orders), `BUFFER_TOO_SMALL` or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// As `ergon_dpk_block_capacity`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_curve_laplace(
    alphas: *const f64,
    num_alphas: usize,
    b: f64,
    buf: *mut f64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(|| {
        let mechanism = Mechanism::Laplace { b };
        // SAFETY: the caller's contract.
        unsafe { copy_curve(mechanism, (alphas, num_alphas), (buf, cap, len)) }
    })
}

/// Copies the RDP curve of the Poisson-subsampled Gaussian mechanism (DP-SGD: sampling rate
/// `q` in [0, 1], noise multiplier `sigma`, `steps` steps) into `buf` ("ask the length, then
/// fill"). Exact series at integer and fractional orders.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (a parameter out of its
/// domain, invalid orders), `BUFFER_TOO_SMALL` or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// As `ergon_dpk_block_capacity`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_curve_subsampled_gaussian(
    alphas: *const f64,
    num_alphas: usize,
    q: f64,
    sigma: f64,
    steps: f64,
    buf: *mut f64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(|| {
        let mechanism = Mechanism::SubsampledGaussian { q, sigma, steps };
        // SAFETY: the caller's contract.
        unsafe { copy_curve(mechanism, (alphas, num_alphas), (buf, cap, len)) }
    })
}

/// Copies an upper bound on the RDP curve of the Poisson-subsampled Laplace mechanism
/// (sampling rate `q` in [0, 1], scale `b`, `steps` steps; the general bound of Zhu & Wang
/// 2019 at ⌈α⌉, capped by the unsampled curve) into `buf` ("ask the length, then fill").
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (a parameter out of its
/// domain, invalid orders), `BUFFER_TOO_SMALL` or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// As `ergon_dpk_block_capacity`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_curve_subsampled_laplace(
    alphas: *const f64,
    num_alphas: usize,
    q: f64,
    b: f64,
    steps: f64,
    buf: *mut f64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(|| {
        let mechanism = Mechanism::SubsampledLaplace { q, b, steps };
        // SAFETY: the caller's contract.
        unsafe { copy_curve(mechanism, (alphas, num_alphas), (buf, cap, len)) }
    })
}

/// Composes RDP curves (adds them order by order): `curves` holds `num_curves` rows of
/// `num_alphas` values each (row-major), `counts` NULL for one run of each or `num_curves`
/// run counts (finite, ≥ 0), and `buf` receives `Σ counts[i]·curves[i]` ("ask the length,
/// then fill": `*len` receives `num_alphas`). Curve values must be ≥ 0 (+∞ allowed).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (no orders, more than 4096,
/// a negative or NaN value or count, sizes that overflow), `BUFFER_TOO_SMALL` or `PANIC`.
/// Messages: `ergon_last_error`.
///
/// # Safety
/// `curves` must be NULL or readable for `num_curves·num_alphas` values; `counts` NULL or
/// readable for `num_curves` values; `buf` NULL or writable for `cap` values; `len` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_curve_compose(
    curves: *const f64,
    num_curves: usize,
    num_alphas: usize,
    counts: *const f64,
    buf: *mut f64,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(|| {
        if num_alphas == 0 || num_alphas > ERGON_DPK_MAX_ACCOUNTING_ORDERS {
            return Err(invalid_argument(format!(
                "num_alphas = {num_alphas}; it must be 1 to {ERGON_DPK_MAX_ACCOUNTING_ORDERS}"
            )));
        }
        let total = num_curves.checked_mul(num_alphas).ok_or_else(|| {
            invalid_argument(format!(
                "{num_curves} curves of {num_alphas} values overflow"
            ))
        })?;
        // SAFETY: the caller's contract.
        let (rows, counts) = unsafe {
            (
                slice(curves, total, "curves")?,
                opt_slice(counts, num_curves, "counts")?,
            )
        };
        let mut out = vec![0.0; num_alphas];
        rdp::compose_into(rows, counts, num_alphas, &mut out).map_err(argument)?;
        copy_items(&out, buf, cap, len)
    })
}

/// Writes σ of the Gaussian mechanism (sensitivity 1) calibrated to (ε, δ) exactly — the
/// analytic Gaussian mechanism of Balle & Wang (2018), the smallest σ whose privacy profile
/// meets δ at ε, valid for every ε ≥ 0 — to `*sigma`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (ε negative or not finite, δ
/// outside (0, 1)) or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `sigma` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_gaussian_sigma(
    epsilon: f64,
    delta: f64,
    sigma: *mut f64,
) -> ergon_status {
    boundary!(|| put_with(sigma, "sigma", || {
        rdp::gaussian_sigma(epsilon, delta).map_err(argument)
    }))
}

/// Writes σ by the classic bound `sqrt(2 ln(1.25/δ)) / ε` to `*sigma`. The bound proves
/// (ε, δ)-DP only for ε < 1, so ε ≥ 1 is refused; `ergon_dpk_gaussian_sigma` is exact and
/// never larger.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (ε outside (0, 1), δ outside
/// (0, 1)) or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `sigma` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_gaussian_sigma_classic(
    epsilon: f64,
    delta: f64,
    sigma: *mut f64,
) -> ergon_status {
    boundary!(|| put_with(sigma, "sigma", || {
        rdp::gaussian_sigma_classic(epsilon, delta).map_err(argument)
    }))
}

/// Writes the exact δ at which the Gaussian mechanism with standard deviation `sigma`
/// (sensitivity 1) is (ε, δ)-DP (its privacy profile, Balle & Wang 2018) to `*delta`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (σ not positive and finite, ε
/// negative or not finite) or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `delta` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_dpk_gaussian_delta(
    sigma: f64,
    epsilon: f64,
    delta: *mut f64,
) -> ergon_status {
    boundary!(|| put_with(delta, "delta", || {
        rdp::gaussian_delta(sigma, epsilon).map_err(argument)
    }))
}

/// Converts an RDP curve (one ε per order, ≥ 0, +∞ allowed) to (ε, δ)-DP: `conversion` is
/// `ERGON_DPK_CONVERSION_CLASSIC` or `ERGON_DPK_CONVERSION_TIGHT` (clamped at 0, with the
/// small-divergence shortcut). Writes ε to `*epsilon` and the index of the order attaining it
/// to `*alpha_index`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (δ outside (0, 1), a curve of
/// another length than the orders or with a NaN or negative value, invalid orders, an unknown
/// conversion) or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `alphas` and `curve` must be NULL or readable for their lengths; `epsilon` and
/// `alpha_index` NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ergon_dpk_curve_dp_epsilon(
    alphas: *const f64,
    num_alphas: usize,
    curve: *const f64,
    curve_len: usize,
    delta: f64,
    conversion: u32,
    epsilon: *mut f64,
    alpha_index: *mut usize,
) -> ergon_status {
    boundary!(|| {
        let (grid, values) = ((alphas, num_alphas), (curve, curve_len));
        let (input, output) = ((delta, conversion), (epsilon, "epsilon"));
        // SAFETY: the caller's contract.
        unsafe {
            convert_curve(
                rdp::dp_epsilon_with,
                grid,
                values,
                input,
                output,
                alpha_index,
            )
        }
    })
}

/// Converts an RDP curve to (ε, δ)-DP the other way: the smallest δ (capped at 1) that the
/// curve certifies for `epsilon` ≥ 0 under `conversion`, written to `*delta`, and the index of
/// the order attaining it to `*alpha_index`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (ε negative or not finite, a
/// curve of another length or with a NaN or negative value, invalid orders, an unknown
/// conversion) or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// As `ergon_dpk_curve_dp_epsilon`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn ergon_dpk_curve_dp_delta(
    alphas: *const f64,
    num_alphas: usize,
    curve: *const f64,
    curve_len: usize,
    epsilon: f64,
    conversion: u32,
    delta: *mut f64,
    alpha_index: *mut usize,
) -> ergon_status {
    boundary!(|| {
        let (grid, values) = ((alphas, num_alphas), (curve, curve_len));
        let (input, output) = ((epsilon, conversion), (delta, "delta"));
        // SAFETY: the caller's contract.
        unsafe { convert_curve(rdp::dp_delta, grid, values, input, output, alpha_index) }
    })
}
