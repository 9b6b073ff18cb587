//! C ABI targets: a handle is created from the fuzz bytes by one of the `*_from_json`
//! functions, then a sequence of op codes from the input calls its accessors with arbitrary
//! indices and buffer sizes, NULL outputs, frees and NULL frees, in any order. Every call
//! must return a defined status other than `ERGON_STATUS_PANIC`, and never unwind (an unwind
//! out of an `extern "C"` function aborts the process, which libFuzzer reports).
//!
//! Buffers are always as large as the capacity passed (or NULL): lying about a capacity is
//! outside the ABI's contract, not something it can defend against.

use std::ffi::c_char;
use std::ptr;

use arbitrary::{Arbitrary, Unstructured};
use ergon::*;

use crate::readers::{GUARD_MAX_QUANTA, known_open};

/// Largest buffer a fuzz op passes (elements or bytes).
const MAX_CAP: usize = 4096;

fn check(status: ergon_status, call: &str) {
    let code = status as i32;
    assert!(
        ergon_status::from_code(code) == Some(status),
        "{call}: status {code} is not an ergon_status"
    );
    assert!(
        status != ergon_status::Panic,
        "{call}: returned ERGON_STATUS_PANIC"
    );
    // The message of every status is a static string.
    assert!(!ergon_status_str(code).is_null());
}

/// A caller buffer of `cap` elements, or NULL (`cap` stays as given: NULL with a positive
/// capacity must be refused, NULL with 0 asks the length).
struct Buf<T> {
    data: Vec<T>,
    null: bool,
}

impl<T: Default + Clone> Buf<T> {
    fn new(cap: u16, null: bool) -> Self {
        let cap = usize::from(cap) % (MAX_CAP + 1);
        Buf {
            data: vec![T::default(); if null { 0 } else { cap }],
            null,
        }
    }
    fn ptr(&mut self) -> *mut T {
        if self.null {
            ptr::null_mut()
        } else {
            self.data.as_mut_ptr()
        }
    }
    fn cap(&self, asked: u16) -> usize {
        if self.null {
            usize::from(asked)
        } else {
            self.data.len()
        }
    }
}

/// Calls an "ask the length, then fill" function `f(buf, cap, len)` with a [`Buf`] of `cap`
/// elements (or NULL) and checks its status.
fn fill<T: Default + Clone>(
    cap: u16,
    null: bool,
    call: &str,
    f: impl FnOnce(*mut T, usize, *mut usize) -> ergon_status,
) {
    let mut buf = Buf::<T>::new(cap, null);
    let mut len = 0usize;
    check(f(buf.ptr(), buf.cap(cap), &mut len), call);
}

/// Calls a function that writes one value `f(out)` with a local output (or NULL) and checks its
/// status.
fn one<T: Default>(null: bool, call: &str, f: impl FnOnce(*mut T) -> ergon_status) {
    let mut slot = T::default();
    check(f(out(&mut slot, null)), call);
}

fn out<T>(slot: &mut T, null: bool) -> *mut T {
    if null { ptr::null_mut() } else { slot }
}

/// `(pointer, length)` of the document; `lie_len` may shorten the length (never lengthen).
fn doc(bytes: &[u8], cut: Option<u16>) -> (*const c_char, usize) {
    let len = cut.map_or(bytes.len(), |c| usize::from(c).min(bytes.len()));
    (bytes.as_ptr().cast(), len)
}

/// Splits an ABI input: a little-endian `u16` header length `h`, `h` bytes decoded as the
/// structured part (ops, sizes, flags), and the rest: the document handed to `*_from_json`.
/// (A seed is a header followed by a fixture file.)
fn split<'a, T: Arbitrary<'a>>(data: &'a [u8]) -> Option<(T, &'a [u8])> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    let h = usize::from(u16::from_le_bytes(*len)).min(rest.len());
    let (header, json) = rest.split_at(h);
    let input = T::arbitrary_take_rest(Unstructured::new(header)).ok()?;
    Some((input, json))
}

/// The `which`-th live handle, or NULL past the end (every call must accept a NULL handle).
fn nth<T>(handles: &[*mut T], which: u8) -> *mut T {
    handles
        .get(usize::from(which))
        .copied()
        .unwrap_or(ptr::null_mut())
}

fn global_last_error(cap: u16, null: bool) {
    // SAFETY: the buffer holds `cap` bytes (or is NULL).
    fill::<c_char>(cap, null, "ergon_last_error", |b, c, l| unsafe {
        ergon_last_error(b, c, l)
    });
}

// ---------------------------------------------------------------------------------------
// Frontier and plans
// ---------------------------------------------------------------------------------------

#[derive(Debug, Arbitrary)]
enum FrontierOp {
    Solve,
    NumPoints {
        null: bool,
    },
    Point {
        index: usize,
        null: bool,
    },
    Points {
        cap: u16,
        null: bool,
    },
    Summary {
        null: bool,
    },
    ToJson {
        cap: u16,
        null: bool,
    },
    Plan {
        at: u32,
        deadline_s: f64,
        null: bool,
    },
    LastError {
        cap: u16,
        null: bool,
    },
    GlobalLastError {
        cap: u16,
    },
    Free,
    PlanSummary {
        which: u8,
        null: bool,
    },
    PlanStage {
        which: u8,
        stage: usize,
        cap: u16,
        null: bool,
    },
    PlanToJson {
        which: u8,
        cap: u16,
        null: bool,
    },
    PlanLastError {
        which: u8,
        cap: u16,
    },
    PlanFree {
        which: u8,
    },
}

#[derive(Debug, Arbitrary)]
struct FrontierIn {
    cut: Option<u16>,
    null_out: bool,
    ops: Vec<FrontierOp>,
}

/// `true` when the instance's slowest option spans at most [`GUARD_MAX_QUANTA`] quanta and the
/// pipeline is small: solving it is quick (issue 12 item 1 bounds the rest).
fn quick_to_solve(json: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(json) else {
        return false;
    };
    let Ok(p) = ergon_core::perseus::formats::parse_instance(text) else {
        return true; // the ABI refuses it before solving
    };
    p.dag.nodes.len() <= 512
        && p.profiles.iter().all(|pr| {
            pr.options
                .iter()
                .all(|o| o.time_s / p.unit_time_s <= GUARD_MAX_QUANTA)
        })
}

/// Instance JSON → `ergon_perseus_frontier`, then accessors, plans and frees in any order.
pub fn abi_frontier(data: &[u8]) {
    let Some((input, json_bytes)) = split::<FrontierIn>(data) else {
        return;
    };
    if std::str::from_utf8(json_bytes).is_ok_and(known_open) {
        return;
    }
    let (json, len) = doc(json_bytes, input.cut);
    let mut frontier: *mut ergon_perseus_frontier = ptr::null_mut();
    // SAFETY: `json` is readable for `len` bytes; `out` is NULL or a local.
    let s = unsafe {
        ergon_perseus_frontier_from_instance_json(json, len, out(&mut frontier, input.null_out))
    };
    check(s, "ergon_perseus_frontier_from_instance_json");
    let solvable = quick_to_solve(&json_bytes[..len]);
    let mut plans: Vec<*mut ergon_perseus_plan> = Vec::new();
    for op in input.ops.iter().take(64) {
        // SAFETY (every call below): `frontier` and the plans are live handles or NULL (freed
        // ones are replaced by NULL), buffers hold the capacity passed, outputs are locals.
        unsafe {
            match *op {
                FrontierOp::Solve => {
                    if solvable {
                        check(
                            ergon_perseus_frontier_solve(frontier),
                            "ergon_perseus_frontier_solve",
                        );
                    }
                }
                FrontierOp::NumPoints { null } => {
                    one(null, "ergon_perseus_frontier_num_points", |o| {
                        ergon_perseus_frontier_num_points(frontier, o)
                    });
                }
                FrontierOp::Point { index, null } => {
                    one(null, "ergon_perseus_frontier_point", |o| {
                        ergon_perseus_frontier_point(frontier, index, o)
                    });
                }
                FrontierOp::Points { cap, null } => {
                    fill::<ergon_perseus_point>(
                        cap,
                        null,
                        "ergon_perseus_frontier_points",
                        |b, c, l| ergon_perseus_frontier_points(frontier, b, c, l),
                    );
                }
                FrontierOp::Summary { null } => {
                    one(null, "ergon_perseus_frontier_summary", |o| {
                        ergon_perseus_frontier_summary(frontier, o)
                    });
                }
                FrontierOp::ToJson { cap, null } => {
                    fill::<c_char>(cap, null, "ergon_perseus_frontier_to_json", |b, c, l| {
                        ergon_perseus_frontier_to_json(frontier, b, c, l)
                    });
                }
                FrontierOp::Plan {
                    at,
                    deadline_s,
                    null,
                } => {
                    let mut plan: *mut ergon_perseus_plan = ptr::null_mut();
                    check(
                        ergon_perseus_frontier_plan(
                            frontier,
                            at % 4,
                            deadline_s,
                            out(&mut plan, null),
                        ),
                        "ergon_perseus_frontier_plan",
                    );
                    if !plan.is_null() {
                        plans.push(plan);
                    }
                }
                FrontierOp::LastError { cap, null } => {
                    fill::<c_char>(cap, null, "ergon_perseus_frontier_last_error", |b, c, l| {
                        ergon_perseus_frontier_last_error(frontier, b, c, l)
                    });
                }
                FrontierOp::GlobalLastError { cap } => global_last_error(cap, false),
                FrontierOp::Free => {
                    ergon_perseus_frontier_free(frontier);
                    frontier = ptr::null_mut();
                    ergon_perseus_frontier_free(frontier);
                }
                FrontierOp::PlanSummary { which, null } => {
                    one(null, "ergon_perseus_plan_summary", |o| {
                        ergon_perseus_plan_summary(nth(&plans, which), o)
                    });
                }
                FrontierOp::PlanStage {
                    which,
                    stage,
                    cap,
                    null,
                } => {
                    let mut kinds = Buf::<u32>::new(cap, null);
                    let mut freqs = Buf::<u32>::new(cap, null);
                    let mut len = 0usize;
                    check(
                        ergon_perseus_plan_stage(
                            nth(&plans, which),
                            stage,
                            kinds.ptr(),
                            freqs.ptr(),
                            kinds.cap(cap),
                            &mut len,
                        ),
                        "ergon_perseus_plan_stage",
                    );
                }
                FrontierOp::PlanToJson { which, cap, null } => {
                    fill::<c_char>(cap, null, "ergon_perseus_plan_to_json", |b, c, l| {
                        ergon_perseus_plan_to_json(nth(&plans, which), b, c, l)
                    });
                }
                FrontierOp::PlanLastError { which, cap } => {
                    fill::<c_char>(cap, false, "ergon_perseus_plan_last_error", |b, c, l| {
                        ergon_perseus_plan_last_error(nth(&plans, which), b, c, l)
                    });
                }
                FrontierOp::PlanFree { which } => {
                    let i = usize::from(which);
                    if i < plans.len() {
                        ergon_perseus_plan_free(plans.swap_remove(i));
                    } else {
                        ergon_perseus_plan_free(ptr::null_mut());
                    }
                }
            }
        }
    }
    // SAFETY: live handles or NULL; a plan outlives its frontier.
    unsafe {
        ergon_perseus_frontier_free(frontier);
        for p in plans {
            ergon_perseus_plan_free(p);
        }
    }
}

// ---------------------------------------------------------------------------------------
// DPK workloads and results
// ---------------------------------------------------------------------------------------

#[derive(Debug, Arbitrary)]
enum DpkOp {
    Summary { null: bool },
    Alphas { cap: u16, null: bool },
    ToJson { cap: u16, null: bool },
    LastError { cap: u16 },
    Schedule { options: Option<OptionsIn> },
    Free,
    ResultSummary { which: u8, null: bool },
    ResultAllocated { which: u8, cap: u16, null: bool },
    ResultBlockIds { which: u8, cap: u16, null: bool },
    ResultRemaining { which: u8, cap: u16, null: bool },
    ResultToJson { which: u8, cap: u16, null: bool },
    ResultLastError { which: u8, cap: u16 },
    ResultFree { which: u8 },
    GlobalLastError { cap: u16 },
}

#[derive(Debug, Arbitrary)]
struct OptionsIn {
    scheduler: u32,
    eta: f64,
    knapsack: u32,
    recompute_every: u8,
    single_task_fallback: bool,
    dpf_weighted: bool,
    dpf_capacity: u32,
    max_nodes: u16,
}

#[derive(Debug, Arbitrary)]
struct DpkIn {
    cut: Option<u16>,
    null_out: bool,
    ops: Vec<DpkOp>,
}

/// Workload JSON → `ergon_dpk_workload`, then summaries, schedules (arbitrary options, bounded
/// exact search), result accessors and frees in any order.
pub fn abi_dpk(data: &[u8]) {
    let Some((input, json_bytes)) = split::<DpkIn>(data) else {
        return;
    };
    if std::str::from_utf8(json_bytes).is_ok_and(known_open) {
        return;
    }
    let (json, len) = doc(json_bytes, input.cut);
    let mut workload: *mut ergon_dpk_workload = ptr::null_mut();
    // SAFETY: `json` readable for `len` bytes; `out` NULL or a local.
    let s = unsafe { ergon_dpk_workload_from_json(json, len, out(&mut workload, input.null_out)) };
    check(s, "ergon_dpk_workload_from_json");
    let mut results: Vec<*mut ergon_dpk_result> = Vec::new();
    for op in input.ops.iter().take(64) {
        // SAFETY (every call below): live handles or NULL, buffers of the capacity passed.
        unsafe {
            match op {
                DpkOp::Summary { null } => {
                    one(*null, "ergon_dpk_workload_summary", |o| {
                        ergon_dpk_workload_summary(workload, o)
                    });
                }
                DpkOp::Alphas { cap, null } => {
                    fill::<f64>(*cap, *null, "ergon_dpk_workload_alphas", |b, c, l| {
                        ergon_dpk_workload_alphas(workload, b, c, l)
                    });
                }
                DpkOp::ToJson { cap, null } => {
                    fill::<c_char>(*cap, *null, "ergon_dpk_workload_to_json", |b, c, l| {
                        ergon_dpk_workload_to_json(workload, b, c, l)
                    });
                }
                DpkOp::LastError { cap } => {
                    fill::<c_char>(*cap, false, "ergon_dpk_workload_last_error", |b, c, l| {
                        ergon_dpk_workload_last_error(workload, b, c, l)
                    });
                }
                DpkOp::Schedule { options } => {
                    let opts = options.as_ref().map(|o| {
                        let mut d = ergon_dpk_options_default();
                        d.scheduler = o.scheduler % 6;
                        d.eta = o.eta;
                        d.knapsack = o.knapsack % 3;
                        d.recompute_every = usize::from(o.recompute_every % 4);
                        d.single_task_fallback = o.single_task_fallback;
                        d.dpf_weighted = o.dpf_weighted;
                        d.dpf_capacity = o.dpf_capacity % 3;
                        // The exact search is exponential: keep its node budget small.
                        d.max_nodes = u64::from(o.max_nodes);
                        d
                    });
                    let mut defaults = ergon_dpk_options_default();
                    defaults.max_nodes = 10_000;
                    let opts_ptr: *const ergon_dpk_options = opts.as_ref().map_or(&defaults, |o| o);
                    let mut result: *mut ergon_dpk_result = ptr::null_mut();
                    check(
                        ergon_dpk_workload_schedule(workload, opts_ptr, &mut result),
                        "ergon_dpk_workload_schedule",
                    );
                    if !result.is_null() {
                        results.push(result);
                    }
                }
                DpkOp::Free => {
                    ergon_dpk_workload_free(workload);
                    workload = ptr::null_mut();
                    ergon_dpk_workload_free(workload);
                }
                DpkOp::ResultSummary { which, null } => {
                    one(*null, "ergon_dpk_result_summary", |o| {
                        ergon_dpk_result_summary(nth(&results, *which), o)
                    });
                }
                DpkOp::ResultAllocated { which, cap, null } => {
                    fill::<u64>(*cap, *null, "ergon_dpk_result_allocated", |b, c, l| {
                        ergon_dpk_result_allocated(nth(&results, *which), b, c, l)
                    });
                }
                DpkOp::ResultBlockIds { which, cap, null } => {
                    fill::<u64>(*cap, *null, "ergon_dpk_result_block_ids", |b, c, l| {
                        ergon_dpk_result_block_ids(nth(&results, *which), b, c, l)
                    });
                }
                DpkOp::ResultRemaining { which, cap, null } => {
                    fill::<f64>(*cap, *null, "ergon_dpk_result_remaining", |b, c, l| {
                        ergon_dpk_result_remaining(nth(&results, *which), b, c, l)
                    });
                }
                DpkOp::ResultToJson { which, cap, null } => {
                    fill::<c_char>(*cap, *null, "ergon_dpk_result_to_json", |b, c, l| {
                        ergon_dpk_result_to_json(nth(&results, *which), b, c, l)
                    });
                }
                DpkOp::ResultLastError { which, cap } => {
                    fill::<c_char>(*cap, false, "ergon_dpk_result_last_error", |b, c, l| {
                        ergon_dpk_result_last_error(nth(&results, *which), b, c, l)
                    });
                }
                DpkOp::ResultFree { which } => {
                    let i = usize::from(*which);
                    if i < results.len() {
                        ergon_dpk_result_free(results.swap_remove(i));
                    } else {
                        ergon_dpk_result_free(ptr::null_mut());
                    }
                }
                DpkOp::GlobalLastError { cap } => global_last_error(*cap, false),
            }
        }
    }
    // SAFETY: live handles or NULL.
    unsafe {
        ergon_dpk_workload_free(workload);
        for r in results {
            ergon_dpk_result_free(r);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Orloj batcher
// ---------------------------------------------------------------------------------------

#[derive(Debug, Arbitrary)]
enum BatcherOp {
    Enqueue {
        app: u8,
        id: u64,
        arrival_s: f64,
        deadline_s: f64,
    },
    EnqueueSlo {
        app: u8,
        id: u64,
        arrival_s: f64,
    },
    NextBatch {
        now_s: f64,
        cap: u16,
        dropped_cap: u16,
        null: bool,
        null_time: bool,
    },
    Complete {
        app: u8,
        observed_s: f64,
    },
    BatchDone {
        time_s: f64,
    },
    Queued {
        null: bool,
    },
    MaxBatchSize {
        null: bool,
    },
    NumApps {
        null: bool,
    },
    AppStats {
        app: u8,
        null: bool,
    },
    PolicyName {
        cap: u16,
        null: bool,
    },
    LastError {
        cap: u16,
    },
    GlobalLastError {
        cap: u16,
    },
    Free,
}

#[derive(Debug, Arbitrary)]
struct BatcherIn {
    cut: Option<u16>,
    null_out: bool,
    /// Index into the policy names; past the end: NULL; `Some(bytes)` after that: any bytes.
    policy: u8,
    policy_bytes: Vec<u8>,
    ops: Vec<BatcherOp>,
}

/// `orloj-sim/v1` JSON (+ a policy name) → `ergon_orloj_batcher`, then enqueues, batches,
/// completions and queries in any order.
pub fn abi_batcher(data: &[u8]) {
    let Some((input, json_bytes)) = split::<BatcherIn>(data) else {
        return;
    };
    // The canonical policy names, then two aliases, as when the regressions were recorded.
    let names: Vec<&str> = ergon_core::orloj::sim::PolicySpec::all()
        .iter()
        .map(|p| p.name())
        .chain(["clockwork-mean", "nexus-mean"])
        .collect();
    // A name is pointer + length: arbitrary bytes go in as they are, NULs included.
    let policy: Option<&[u8]> = match names.get(usize::from(input.policy)) {
        Some(n) => Some(n.as_bytes()),
        None if input.policy % 2 == 0 => None,
        None => Some(&input.policy_bytes),
    };
    let (name, name_len) = policy.map_or((ptr::null(), 0), |p| (p.as_ptr().cast(), p.len()));
    let (json, len) = doc(json_bytes, input.cut);
    let mut batcher: *mut ergon_orloj_batcher = ptr::null_mut();
    // SAFETY: `json` readable for `len` bytes, `name` for `name_len`; `out` a local.
    let s = unsafe {
        ergon_orloj_batcher_from_json(json, len, name, name_len, out(&mut batcher, input.null_out))
    };
    check(s, "ergon_orloj_batcher_from_json");
    for op in input.ops.iter().take(128) {
        // SAFETY (every call below): `batcher` live or NULL, buffers of the capacity passed.
        unsafe {
            match *op {
                BatcherOp::Enqueue {
                    app,
                    id,
                    arrival_s,
                    deadline_s,
                } => check(
                    ergon_orloj_batcher_enqueue(
                        batcher,
                        usize::from(app),
                        id,
                        arrival_s,
                        deadline_s,
                    ),
                    "ergon_orloj_batcher_enqueue",
                ),
                BatcherOp::EnqueueSlo { app, id, arrival_s } => check(
                    ergon_orloj_batcher_enqueue_slo(batcher, usize::from(app), id, arrival_s),
                    "ergon_orloj_batcher_enqueue_slo",
                ),
                BatcherOp::NextBatch {
                    now_s,
                    cap,
                    dropped_cap,
                    null,
                    null_time,
                } => {
                    let mut batch = Buf::<u64>::new(cap, null);
                    let mut dropped = Buf::<u64>::new(dropped_cap, null);
                    let (mut bl, mut dl, mut t) = (0usize, 0usize, 0f64);
                    check(
                        ergon_orloj_batcher_next_batch(
                            batcher,
                            now_s,
                            batch.ptr(),
                            batch.cap(cap),
                            &mut bl,
                            dropped.ptr(),
                            dropped.cap(dropped_cap),
                            &mut dl,
                            out(&mut t, null_time),
                        ),
                        "ergon_orloj_batcher_next_batch",
                    );
                }
                BatcherOp::Complete { app, observed_s } => check(
                    ergon_orloj_batcher_complete(batcher, usize::from(app), observed_s),
                    "ergon_orloj_batcher_complete",
                ),
                BatcherOp::BatchDone { time_s } => check(
                    ergon_orloj_batcher_batch_done(batcher, time_s),
                    "ergon_orloj_batcher_batch_done",
                ),
                BatcherOp::Queued { null } => {
                    one(null, "ergon_orloj_batcher_queued", |o| {
                        ergon_orloj_batcher_queued(batcher, o)
                    });
                }
                BatcherOp::MaxBatchSize { null } => {
                    one(null, "ergon_orloj_batcher_max_batch_size", |o| {
                        ergon_orloj_batcher_max_batch_size(batcher, o)
                    });
                }
                BatcherOp::NumApps { null } => {
                    one(null, "ergon_orloj_batcher_num_apps", |o| {
                        ergon_orloj_batcher_num_apps(batcher, o)
                    });
                }
                BatcherOp::AppStats { app, null } => {
                    one(null, "ergon_orloj_batcher_app_stats", |o| {
                        ergon_orloj_batcher_app_stats(batcher, usize::from(app), o)
                    });
                }
                BatcherOp::PolicyName { cap, null } => {
                    fill::<c_char>(cap, null, "ergon_orloj_batcher_policy_name", |b, c, l| {
                        ergon_orloj_batcher_policy_name(batcher, b, c, l)
                    });
                }
                BatcherOp::LastError { cap } => {
                    fill::<c_char>(cap, false, "ergon_orloj_batcher_last_error", |b, c, l| {
                        ergon_orloj_batcher_last_error(batcher, b, c, l)
                    });
                }
                BatcherOp::GlobalLastError { cap } => global_last_error(cap, false),
                BatcherOp::Free => {
                    ergon_orloj_batcher_free(batcher);
                    batcher = ptr::null_mut();
                    ergon_orloj_batcher_free(batcher);
                }
            }
        }
    }
    // SAFETY: live or NULL.
    unsafe { ergon_orloj_batcher_free(batcher) };
}

/// Parse and name functions of one enumeration.
struct NameTable {
    name: unsafe extern "C" fn(u32, *mut c_char, usize, *mut usize) -> ergon_status,
    parse: unsafe extern "C" fn(*const c_char, usize, *mut u32) -> ergon_status,
}

const NAME_TABLES: [NameTable; 8] = [
    NameTable {
        name: ergon_dpk_scheduler_name,
        parse: ergon_dpk_scheduler_parse,
    },
    NameTable {
        name: ergon_dpk_knapsack_name,
        parse: ergon_dpk_knapsack_parse,
    },
    NameTable {
        name: ergon_dpk_dpf_capacity_name,
        parse: ergon_dpk_dpf_capacity_parse,
    },
    NameTable {
        name: ergon_dpk_conversion_name,
        parse: ergon_dpk_conversion_parse,
    },
    NameTable {
        name: ergon_orloj_estimate_name,
        parse: ergon_orloj_estimate_parse,
    },
    NameTable {
        name: ergon_perseus_schedule_name,
        parse: ergon_perseus_schedule_parse,
    },
    NameTable {
        name: ergon_perseus_kind_name,
        parse: ergon_perseus_kind_parse,
    },
    NameTable {
        name: ergon_perseus_effective_energy_name,
        parse: ergon_perseus_effective_energy_parse,
    },
];

/// One call on the name tables.
#[derive(Arbitrary, Debug)]
enum NameOp {
    Parse {
        table: u8,
        name: Vec<u8>,
        null_out: bool,
    },
    Name {
        table: u8,
        code: u32,
        cap: u16,
        null: bool,
    },
    PolicyParse {
        name: Vec<u8>,
    },
    PolicyName {
        policy: u32,
        estimate: u32,
        cap: u16,
        null: bool,
    },
}

/// The name and parse functions of every enumeration on arbitrary names (any bytes, NULs and
/// invalid UTF-8 included), codes and buffers: every status is defined and not a panic, and a
/// name that parses names its code: the code's own name parses back to the same code.
pub fn abi_names(data: &[u8]) {
    let mut u = Unstructured::new(data);
    for _ in 0..64 {
        let Ok(op) = NameOp::arbitrary(&mut u) else {
            return;
        };
        match op {
            NameOp::Parse {
                table,
                name,
                null_out,
            } => {
                let t = &NAME_TABLES[usize::from(table) % NAME_TABLES.len()];
                let mut code = u32::MAX;
                let out = if null_out {
                    ptr::null_mut()
                } else {
                    &mut code as *mut u32
                };
                // SAFETY: `name` is readable for its length; `out` is NULL or a local.
                let status = unsafe { (t.parse)(name.as_ptr().cast(), name.len(), out) };
                check(status, "parse");
                if status == ergon_status::Ok {
                    assert_eq!(
                        canonical(t, code),
                        Some(code),
                        "the name of {code} does not parse back"
                    );
                }
            }
            NameOp::Name {
                table,
                code,
                cap,
                null,
            } => {
                let t = &NAME_TABLES[usize::from(table) % NAME_TABLES.len()];
                // SAFETY: `fill` passes a buffer of the capacity it names, or NULL.
                fill::<c_char>(cap, null, "name", |b, c, l| unsafe {
                    (t.name)(code, b, c, l)
                });
            }
            NameOp::PolicyParse { name } => {
                let (mut policy, mut estimate) = (0u32, 0u32);
                // SAFETY: `name` is readable for its length; the outputs are locals.
                let status = unsafe {
                    ergon_orloj_policy_parse(
                        name.as_ptr().cast(),
                        name.len(),
                        &mut policy,
                        &mut estimate,
                    )
                };
                check(status, "ergon_orloj_policy_parse");
            }
            NameOp::PolicyName {
                policy,
                estimate,
                cap,
                null,
            } => {
                // SAFETY: `fill` passes a buffer of the capacity it names, or NULL.
                fill::<c_char>(cap, null, "ergon_orloj_policy_name", |b, c, l| unsafe {
                    ergon_orloj_policy_name(policy, estimate, b, c, l)
                });
            }
        }
    }
}

/// The code `t` gives back for the name it gives `code`, or `None` where either call fails.
fn canonical(t: &NameTable, code: u32) -> Option<u32> {
    let mut buf = [0 as c_char; 64];
    let mut len = 0usize;
    // SAFETY: `buf` holds 64 bytes, `len` is a local.
    if unsafe { (t.name)(code, buf.as_mut_ptr(), buf.len(), &mut len) } != ergon_status::Ok {
        return None;
    }
    let mut back = u32::MAX;
    // SAFETY: the name is `len` bytes of `buf`; `back` is a local.
    let status = unsafe { (t.parse)(buf.as_ptr(), len, &mut back) };
    (status == ergon_status::Ok).then_some(back)
}
