//! Orloj through the C ABI: the online batcher a C++ server embeds (`ergon_orloj_batcher_*`: create
//! it with the applications' execution-time laws, enqueue requests, ask for the next batch at
//! time t, report completions to update the laws) and the serving simulator
//! (`ergon_orloj_simulation_run_json`, `orloj-sim/v1` in, `orloj-result/v1` out).
//!
//! The decision path (`ergon_orloj_batcher_next_batch`) does not allocate: the handle keeps a batch
//! buffer of the largest batch and a dropped buffer as long as the queue (grown by
//! `ergon_orloj_batcher_enqueue`), the core decides into those, and the result is copied into the
//! caller's buffers. A decision that does not fit the caller's buffers is kept in the handle
//! and handed out by the next call, so it is never lost.

use std::cell::Cell;
use std::ffi::c_char;
use std::rc::Rc;

use ergon_core::names::UnknownName;
use ergon_core::orloj::formats;
use ergon_core::orloj::sim::{self, PolicySpec};
use ergon_core::orloj::{
    BatchDistribution, BatchModel, BatchScale, Batcher, BatchingError, Distribution, Estimate,
    ExecDistribution, ExecSpec, FinishesPerTime, MAX_APPS, MAX_BINS, Orloj, PolicyKind,
    ProbabilityFloor, Scheduler, Sizes, TimeGrid, View,
};

use crate::boundary::boundary;
use crate::handle::{
    Header, check_buffer, copy_text, into_raw, opaque, opt_out, opt_ref, opt_slice, opt_text,
    out_ref, put, slice, text,
};
use crate::names::codes;
use crate::status::{Failure, Result, argument, ergon_status, invalid_argument, problem};

/// Execution-time law: always `value_s`.
pub const ERGON_ORLOJ_EXEC_CONSTANT: u32 = 0;
/// Execution-time law: `low_s` with probability `p_low`, else `high_s` (early exit).
pub const ERGON_ORLOJ_EXEC_BIMODAL: u32 = 1;
/// Execution-time law: lognormal of mean `mean_s` and coefficient of variation `cv`.
pub const ERGON_ORLOJ_EXEC_LOGNORMAL: u32 = 2;
/// Execution-time law: uniform over the measured `samples_s`.
pub const ERGON_ORLOJ_EXEC_SAMPLES: u32 = 3;
/// Policy: Orloj (batch-aware score over the batch-time distribution, early drop).
pub const ERGON_ORLOJ_POLICY_ORLOJ: u32 = 0;
/// Policy: Clockwork-like (point estimate, power-of-two batches, proactive drop).
pub const ERGON_ORLOJ_POLICY_CLOCKWORK: u32 = 1;
/// Policy: Nexus-like (largest batch with 2·ℓ(b) ≤ SLO, early drop).
pub const ERGON_ORLOJ_POLICY_NEXUS: u32 = 2;
/// Policy: Clipper-like (arrival order, AIMD batch cap fed by `ergon_orloj_batcher_batch_done`).
pub const ERGON_ORLOJ_POLICY_CLIPPER: u32 = 3;
/// Policy: earliest deadline first.
pub const ERGON_ORLOJ_POLICY_EDF: u32 = 4;
/// Policy: first in, first out.
pub const ERGON_ORLOJ_POLICY_FIFO: u32 = 5;
/// Point estimate of the baselines: the mean.
pub const ERGON_ORLOJ_ESTIMATE_MEAN: u32 = 0;
/// Point estimate of the baselines: the 99th percentile.
pub const ERGON_ORLOJ_ESTIMATE_P99: u32 = 1;

codes!(
    /// The policies (`ERGON_ORLOJ_POLICY_*`).
    POLICIES: PolicyKind, "policy", [
        ERGON_ORLOJ_POLICY_ORLOJ => PolicyKind::Orloj,
        ERGON_ORLOJ_POLICY_CLOCKWORK => PolicyKind::Clockwork,
        ERGON_ORLOJ_POLICY_NEXUS => PolicyKind::Nexus,
        ERGON_ORLOJ_POLICY_CLIPPER => PolicyKind::Clipper, ERGON_ORLOJ_POLICY_EDF => PolicyKind::Edf,
        ERGON_ORLOJ_POLICY_FIFO => PolicyKind::Fifo
    ]
);

codes!(
    /// The baselines' point estimates (`ERGON_ORLOJ_ESTIMATE_*`).
    ESTIMATES: Estimate, "estimate", [
        ERGON_ORLOJ_ESTIMATE_MEAN => Estimate::Mean, ERGON_ORLOJ_ESTIMATE_P99 => Estimate::P99
    ]
);

/// The name of a estimate code (`ERGON_ORLOJ_ESTIMATE_*`), "ask the length, then fill";
/// `INVALID_ARGUMENT` for an unknown code (docs/abi.md, "Names").
///
/// # Safety
/// `buf` NULL or writable for `cap` bytes; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_estimate_name(
    code: u32,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(name, ESTIMATES, code, buf, cap, len)
}

/// The estimate code (`ERGON_ORLOJ_ESTIMATE_*`) named `name` (`name_len` bytes of UTF-8); `INVALID_ARGUMENT`
/// listing the accepted names for any other name (docs/abi.md, "Names").
///
/// # Safety
/// `name` NULL or readable for `name_len` bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_estimate_parse(
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> ergon_status {
    boundary!(parse, ESTIMATES, name, name_len, out)
}

/// The policy `policy` (`ERGON_ORLOJ_POLICY_*`) deciding on `estimate`
/// (`ERGON_ORLOJ_ESTIMATE_*`), named as `orloj-sim/v1`'s `policies` name it: `"orloj"`,
/// `"clockwork-p99"`, ... A policy that takes no estimate (Orloj, Clipper) has one name
/// whatever `estimate` is, as a batcher of these options ignores it. Copied into `buf`, "ask
/// the length, then fill"; `INVALID_ARGUMENT` for an unknown code (docs/abi.md, "Names").
///
/// # Safety
/// `buf` NULL or writable for `cap` bytes; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_policy_name(
    policy: u32,
    estimate: u32,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(|| {
        let kind = POLICIES.value_of(policy, "policy")?;
        let spec = PolicySpec::new(kind, ESTIMATES.value_of(estimate, "estimate")?);
        copy_text(spec.name(), buf, cap, len)
    })
}

/// The policy (`*policy`, `ERGON_ORLOJ_POLICY_*`) and estimate (`*estimate`,
/// `ERGON_ORLOJ_ESTIMATE_*`) named `name` (`name_len` bytes of UTF-8): a policy's name, for a
/// baseline optionally followed by `-mean` (the default) or `-p99`. `INVALID_ARGUMENT` listing
/// the accepted names for any other name (docs/abi.md, "Names"); both outputs are written only
/// on success.
///
/// # Safety
/// `name` NULL or readable for `name_len` bytes; `policy` and `estimate` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_policy_parse(
    name: *const c_char,
    name_len: usize,
    policy: *mut u32,
    estimate: *mut u32,
) -> ergon_status {
    boundary!(|| {
        // SAFETY: the caller's contract.
        let spec = policy_spec(unsafe { text(name, name_len, "name")? })?;
        let (policy, estimate) = (out_ref(policy, "policy")?, out_ref(estimate, "estimate")?);
        *policy = POLICIES.code(spec.kind);
        *estimate = ESTIMATES.code(spec.estimate);
        Ok(())
    })
}

/// The policy named `name` (`INVALID_ARGUMENT` with core's message for any other name).
fn policy_spec(name: &str) -> Result<PolicySpec> {
    name.parse()
        .map_err(|e: UnknownName| invalid_argument(e.to_string()))
}

/// One application served by a batcher: its latency SLO and its execution-time law (a request
/// alone, at batch size 1). `kind` says which parameters are read; the others are ignored.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_orloj_app {
    /// Name for messages: `name_len` bytes of UTF-8 (no NUL needed, borrowed during the call);
    /// NULL with `name_len` 0 (or any pointer with `name_len` 0) for `"app <index>"`.
    pub name: *const c_char,
    /// Length of `name` in bytes.
    pub name_len: usize,
    /// Latency SLO, seconds (> 0): `ergon_orloj_batcher_enqueue_slo` sets deadline = arrival + SLO.
    pub slo_s: f64,
    /// `ERGON_ORLOJ_EXEC_*`.
    pub kind: u32,
    /// `ERGON_ORLOJ_EXEC_CONSTANT`: the time, seconds.
    pub value_s: f64,
    /// `ERGON_ORLOJ_EXEC_BIMODAL`: early-exit time, seconds.
    pub low_s: f64,
    /// `ERGON_ORLOJ_EXEC_BIMODAL`: full-depth time, seconds.
    pub high_s: f64,
    /// `ERGON_ORLOJ_EXEC_BIMODAL`: probability of the early exit.
    pub p_low: f64,
    /// `ERGON_ORLOJ_EXEC_LOGNORMAL`: mean, seconds.
    pub mean_s: f64,
    /// `ERGON_ORLOJ_EXEC_LOGNORMAL`: standard deviation over mean (0 is a constant).
    pub cv: f64,
    /// `ERGON_ORLOJ_EXEC_SAMPLES`: measured times, seconds (borrowed during the call).
    pub samples_s: *const f64,
    /// `ERGON_ORLOJ_EXEC_SAMPLES`: number of samples (≥ 1).
    pub num_samples: usize,
}

/// How a batcher decides; start from `ergon_orloj_batcher_options_default()`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_orloj_batcher_options {
    /// `ERGON_ORLOJ_POLICY_*` (default Orloj).
    pub policy: u32,
    /// `ERGON_ORLOJ_ESTIMATE_*`: the baselines' point estimate (ignored by Orloj and Clipper;
    /// default the mean).
    pub estimate: u32,
    /// Orloj's drop floor: a request whose probability of finishing even alone is below it
    /// is dropped, in [0, 1] (default 0.5, the core's `DEFAULT_P_MIN`; docs/orloj.md has the
    /// sweep behind it).
    pub p_min: f64,
    /// Bins of the time grid shared by the laws, 2 to 65536 (default 1024).
    pub bins: usize,
    /// Last time of the grid, seconds; 0 (the default) covers every application's law (its
    /// largest value, or a lognormal's 99.99th percentile). Times beyond count as the last
    /// bin.
    pub grid_span_s: f64,
    /// Weight of one observed time in `ergon_orloj_batcher_complete`, in (0, 1] (default 0.01).
    pub decay: f64,
    /// Orloj also weighs batches of a single application (default true).
    pub single_app: bool,
    /// Orloj forms only batches of power-of-two sizes and the largest (default false: every
    /// size).
    pub powers_of_two: bool,
    /// Orloj raises its drop floor to the recent fraction of requests dropped, an overload
    /// signal (default true).
    pub adaptive_floor: bool,
    /// Orloj raises its drop floor when the load it estimates from arrivals exceeds the
    /// capacity one request at a time (default true; docs/orloj.md).
    pub load_floor: bool,
}

/// What `ergon_orloj_batcher_app_stats` reports about one application's current law.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ergon_orloj_app_stats {
    /// Latency SLO, seconds.
    pub slo_s: f64,
    /// Mean execution time, seconds (on the grid: values are rounded up to it).
    pub mean_s: f64,
    /// 99th percentile, seconds (a grid time).
    pub p99_s: f64,
    /// Completions reported so far.
    pub completions: u64,
}

/// The decision on its way out: what the core wrote into the handle's buffers.
#[derive(Debug, Clone, Copy)]
struct Pending {
    batch_len: usize,
    dropped_len: usize,
    expected_time_s: f64,
}

/// Shared between the handle and the scheduler wrapper inside the core batcher: whether the
/// caller wants the expected batch time, and the wrapper's answer.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    want: bool,
    expected_time_s: f64,
}

/// Wraps the chosen policy to learn the expected time of the batch it picks: the core's
/// [`Batcher`] reports only ids, while the batch's distribution needs the per-application
/// counts, which only the policy's `take` (clipped as the batcher clips it) gives.
struct Recorder {
    inner: Box<dyn Scheduler>,
    tally: Rc<Cell<Tally>>,
}

impl Scheduler for Recorder {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn prepare(&mut self, grid: TimeGrid, max_size: usize) {
        self.inner.prepare(grid, max_size);
    }
    fn min_slack_s(&self, view: &View<'_>, app: usize) -> f64 {
        self.inner.min_slack_s(view, app)
    }
    fn choose(&mut self, view: &View<'_>, take: &mut [usize]) {
        self.inner.choose(view, take);
        let mut tally = self.tally.get();
        if !tally.want {
            return;
        }
        // The batch the batcher forms from `take` (clipping it here changes nothing there).
        view.clip_take(take);
        let members: Vec<(&Distribution, usize)> =
            view.dists().iter().zip(take.iter().copied()).collect();
        tally.expected_time_s = BatchDistribution::new(view.model(), &members)
            .map(|b| b.mean_s())
            .unwrap_or(0.0);
        self.tally.set(tally);
    }
    fn observe_batch(&mut self, batch_size: usize, batch_time_s: f64, slo_s: f64) {
        self.inner.observe_batch(batch_size, batch_time_s, slo_s);
    }
}

/// Opaque handle of an online batcher (see the `ergon_orloj_batcher_*` functions). Not to be used
/// from two threads at once.
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_orloj_batcher {
    header: Header,
    batcher: Batcher,
    slo_s: Vec<f64>,
    completions: Vec<u64>,
    tally: Rc<Cell<Tally>>,
    /// The core's batch buffer: the largest batch.
    batch: Vec<u64>,
    /// The core's dropped buffer: at least as long as the queue, so every drop fits.
    dropped: Vec<u64>,
    pending: Option<Pending>,
}

/// Opaque handle of a simulation's result (see `ergon_orloj_simulation_run_json`).
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_orloj_simulation {
    header: Header,
    json: String,
}

opaque!(ergon_orloj_batcher, 0x4552_474f_4e42_4154, "batcher"); // "ERGONBAT"

opaque!(
    ergon_orloj_simulation,
    0x4552_474f_4e4f_5252,
    "Orloj result"
); // "ERGONORR"

/// The default options (Orloj, p_min 0.5, 1024 bins over the laws' reach, decay 0.01,
/// single-application batches on, every batch size, adaptive and load-driven drop floors on).
/// Never fails.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_orloj_batcher_options_default() -> ergon_orloj_batcher_options {
    boundary!(infallible, {
        ergon_orloj_batcher_options {
            policy: ERGON_ORLOJ_POLICY_ORLOJ,
            estimate: ERGON_ORLOJ_ESTIMATE_MEAN,
            p_min: sim::DEFAULT_P_MIN,
            bins: sim::DEFAULT_BINS,
            grid_span_s: 0.0,
            decay: 0.01,
            single_app: true,
            powers_of_two: false,
            adaptive_floor: true,
            load_floor: true,
        }
    })
}

/// The scheduler the options describe (checked).
fn scheduler(o: &ergon_orloj_batcher_options) -> Result<Box<dyn Scheduler>> {
    let estimate = ESTIMATES.value_of(o.estimate, "options.estimate")?;
    if !(0.0..=1.0).contains(&o.p_min) {
        return Err(invalid_argument(format!(
            "options.p_min = {} is not a probability in [0, 1]",
            o.p_min
        )));
    }
    Ok(match POLICIES.value_of(o.policy, "options.policy")? {
        PolicyKind::Orloj => {
            let mut p = Orloj::new(FinishesPerTime, ProbabilityFloor { p_min: o.p_min });
            p.single_app = o.single_app;
            p.adaptive_floor = o.adaptive_floor;
            p.load_floor = o.load_floor;
            p.sizes = if o.powers_of_two {
                Sizes::PowersOfTwo
            } else {
                Sizes::All
            };
            Box::new(p)
        }
        // The baselines as the simulator builds them.
        kind => PolicySpec::new(kind, estimate).build(o.p_min),
    })
}

/// Reads one application: its name, SLO and law (checked; errors name the application).
///
/// # Safety
/// `a.name` must be NULL or readable for `a.name_len` bytes; `a.samples_s` valid for
/// `a.num_samples` doubles.
unsafe fn read_app(index: usize, a: &ergon_orloj_app) -> Result<(String, f64, ExecSpec)> {
    // SAFETY: the caller's contract.
    let name = match unsafe { opt_text(a.name, a.name_len, &format!("apps[{index}].name"))? } {
        Some(name) => name.to_owned(),
        None => format!("app {index}"),
    };
    if !(a.slo_s.is_finite() && a.slo_s > 0.0) {
        return Err(problem(BatchingError::InvalidSlo {
            app: name,
            slo_s: a.slo_s,
        }));
    }
    let spec = match a.kind {
        ERGON_ORLOJ_EXEC_CONSTANT => ExecSpec::Constant { value_s: a.value_s },
        ERGON_ORLOJ_EXEC_BIMODAL => ExecSpec::Bimodal {
            low_s: a.low_s,
            high_s: a.high_s,
            p_low: a.p_low,
        },
        ERGON_ORLOJ_EXEC_LOGNORMAL => ExecSpec::Lognormal {
            mean_s: a.mean_s,
            cv: a.cv,
        },
        ERGON_ORLOJ_EXEC_SAMPLES => {
            // SAFETY: the caller's contract on `samples_s`.
            let values = unsafe { slice(a.samples_s, a.num_samples, "samples_s")? };
            let mut values_s = Vec::new();
            values_s.try_reserve_exact(values.len()).map_err(|_| {
                invalid_argument(format!(
                    "app `{name}`: out of memory copying {} samples",
                    values.len()
                ))
            })?;
            values_s.extend_from_slice(values);
            ExecSpec::Samples { values_s }
        }
        other => {
            return Err(invalid_argument(format!(
                "app `{name}`: unknown execution-time kind {other} (expected ERGON_ORLOJ_EXEC_CONSTANT 0, \
                 BIMODAL 1, LOGNORMAL 2 or SAMPLES 3)"
            )));
        }
    };
    spec.validate(&name).map_err(problem)?;
    Ok((name, a.slo_s, spec))
}

/// Builds the handle from checked parts.
fn new_batcher(
    apps: &[(String, f64, ExecSpec)],
    grid: TimeGrid,
    scale: BatchScale,
    policy: Box<dyn Scheduler>,
    decay: f64,
) -> Result<ergon_orloj_batcher> {
    let dists = apps
        .iter()
        .map(|(name, _, spec)| Distribution::from_spec(grid, spec, name))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(problem)?;
    let max = scale.max_size();
    let tally = Rc::new(Cell::new(Tally::default()));
    let recorder = Recorder {
        inner: policy,
        tally: Rc::clone(&tally),
    };
    let mut batcher = Batcher::new(dists, Box::new(scale), Box::new(recorder)).map_err(problem)?;
    batcher
        .set_decay(decay)
        .map_err(|e| invalid_argument(format!("options.{e}")))?;
    Ok(ergon_orloj_batcher {
        header: Header::new::<ergon_orloj_batcher>(),
        batcher,
        slo_s: apps.iter().map(|a| a.1).collect(),
        completions: vec![0; apps.len()],
        tally,
        batch: vec![0; max],
        dropped: vec![0; 64],
        pending: None,
    })
}

/// Creates a batcher for `num_apps` applications (index = application id in the other calls),
/// batches of at most `max_batch` requests whose time is `scale[b − 1]` times the slowest
/// member's (`scale` holds `max_batch` positive factors, or is NULL for no batch-size effect,
/// all 1), deciding as `options` says (NULL: `ergon_orloj_batcher_options_default()`). Everything is
/// only read during the call. On success `*out` receives a handle to release with
/// `ergon_orloj_batcher_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE` (a name not UTF-8), `INVALID_ARGUMENT`
/// (an unknown kind, policy or estimate constant, or an option out of its domain),
/// `INVALID_PROBLEM` (no applications or more than 64, an SLO or law parameter out of its
/// domain, `max_batch` not in 1..=256, a scale factor not positive; the message names the
/// application and field) or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `apps` must be NULL or valid for `num_apps` elements as documented on `ergon_orloj_app`; `scale`
/// NULL or readable for `max_batch` doubles; `options` NULL or valid; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_batcher_new(
    apps: *const ergon_orloj_app,
    num_apps: usize,
    scale: *const f64,
    max_batch: usize,
    options: *const ergon_orloj_batcher_options,
    out: *mut *mut ergon_orloj_batcher,
) -> ergon_status {
    boundary!(|| {
        let out = out_ref(out, "out")?;
        // SAFETY: the caller provides NULL or one struct.
        let options = unsafe { opt_ref(options, "options") }?
            .copied()
            .unwrap_or_else(|| ergon_orloj_batcher_options_default());
        // The count first: nothing is read or allocated for more than MAX_APPS apps.
        if num_apps > MAX_APPS {
            return Err(problem(BatchingError::TooManyApps { apps: num_apps }));
        }
        // SAFETY: the caller's contract.
        let descs = unsafe { slice(apps, num_apps, "apps")? };
        if descs.is_empty() {
            return Err(problem(BatchingError::NoApps));
        }
        let apps = descs
            .iter()
            .enumerate()
            // SAFETY: the caller's contract on each element.
            .map(|(i, a)| unsafe { read_app(i, a) })
            .collect::<Result<Vec<_>>>()?;
        // SAFETY: the caller's contract.
        let scale = match unsafe { opt_slice(scale, max_batch, "scale")? } {
            Some(factors) => BatchScale::from_factors(factors),
            None => BatchScale::unit(max_batch),
        }
        .map_err(problem)?;
        if !(2..=MAX_BINS).contains(&options.bins) {
            return Err(invalid_argument(format!(
                "options.bins = {} is not in 2..={MAX_BINS}",
                options.bins
            )));
        }
        let span_s = options.grid_span_s;
        if !(span_s.is_finite() && span_s >= 0.0) {
            return Err(invalid_argument(format!(
                "options.grid_span_s = {span_s} is not a finite non-negative number of seconds"
            )));
        }
        let span_s = if span_s > 0.0 {
            span_s
        } else {
            apps.iter().map(|a| a.2.upper_s()).fold(0.0, f64::max)
        };
        let grid = TimeGrid::covering(span_s, options.bins).map_err(problem)?;
        let policy = scheduler(&options)?;
        *out = into_raw(new_batcher(&apps, grid, scale, policy, options.decay)?);
        Ok(())
    })
}

/// Creates a batcher for the workload of an `orloj-sim/v1` document of `len` bytes (no NUL
/// needed): its applications (index = position in `apps`, with their SLOs), batch scale,
/// `bins` and `p_min`, on the grid the simulator uses, so that the batcher decides as the
/// simulator's does. `policy` (`policy_len` bytes of UTF-8) names the policy as the document's
/// `policies` do (`"orloj"`, `"clockwork-p99"`, ...; see `ergon_orloj_policy_parse`), or is
/// NULL (or empty) for the document's first policy. The
/// whole document is validated (`seed`, `duration_s` and `arrivals` too). Decay: 0.01.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE` (not JSON, not UTF-8, a missing or
/// mistyped field), `SCHEMA`, `INVALID_ARGUMENT` (unknown policy name), `INVALID_PROBLEM` or
/// `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `json` must be NULL or readable for `len` bytes; `policy` NULL or readable for
/// `policy_len` bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_batcher_from_json(
    json: *const c_char,
    len: usize,
    policy: *const c_char,
    policy_len: usize,
    out: *mut *mut ergon_orloj_batcher,
) -> ergon_status {
    boundary!(|| {
        let out = out_ref(out, "out")?;
        // SAFETY: the caller's contract.
        let cfg = formats::parse_sim(unsafe { text(json, len, "json")? })?;
        // SAFETY: the caller's contract.
        let spec = match unsafe { opt_text(policy, policy_len, "policy")? } {
            None => cfg.policies.first().copied().ok_or_else(|| {
                Failure::new(ergon_status::InvalidProblem, "the document lists no policy")
            })?,
            Some(name) => policy_spec(name)?,
        };
        let grid = cfg.grid().map_err(problem)?;
        let apps: Vec<(String, f64, ExecSpec)> = cfg
            .apps
            .iter()
            .map(|a| (a.name.clone(), a.slo_s, a.exec.clone()))
            .collect();
        let b = new_batcher(
            &apps,
            grid,
            cfg.scale.clone(),
            spec.build(cfg.p_min),
            ergon_orloj_batcher_options_default().decay,
        )?;
        *out = into_raw(b);
        Ok(())
    })
}

/// Releases a batcher (queued requests are forgotten). NULL is a no-op.
///
/// # Safety
/// `batcher` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_batcher_free(batcher: *mut ergon_orloj_batcher) {
    boundary!(free, batcher)
}

/// Queues request `request_id` (any value; the batcher hands it back) of application `app`,
/// arrived at `arrival_s` and due by `deadline_s` (absolute seconds on the caller's clock).
/// O(1) when an application's deadlines come in order; may allocate as the queue grows.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `OUT_OF_RANGE` (no application `app`),
/// `INVALID_ARGUMENT` (a time not finite, or the deadline before the arrival) or `PANIC`.
/// Nothing is queued on failure. Messages: `ergon_orloj_batcher_last_error`.
///
/// # Safety
/// `batcher` must be NULL or a live handle not used concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_batcher_enqueue(
    batcher: *mut ergon_orloj_batcher,
    app: usize,
    request_id: u64,
    arrival_s: f64,
    deadline_s: f64,
) -> ergon_status {
    boundary!(batcher, |h| {
        enqueue(h, app, request_id, arrival_s, deadline_s)
    })
}

fn enqueue(
    h: &mut ergon_orloj_batcher,
    app: usize,
    request_id: u64,
    arrival_s: f64,
    deadline_s: f64,
) -> Result<()> {
    h.batcher
        .enqueue(app, request_id, arrival_s, deadline_s)
        .map_err(argument)?;
    // Keep the dropped buffer as long as the queue, so that every drop of a decision fits.
    let queued = h.batcher.queued();
    if h.dropped.len() < queued {
        let grown = queued.max(h.dropped.len().saturating_mul(2));
        h.dropped.resize(grown, 0);
    }
    Ok(())
}

/// `ergon_orloj_batcher_enqueue` with the deadline `arrival_s` + the application's SLO.
///
/// Returns as `ergon_orloj_batcher_enqueue`.
///
/// # Safety
/// `batcher` must be NULL or a live handle not used concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_batcher_enqueue_slo(
    batcher: *mut ergon_orloj_batcher,
    app: usize,
    request_id: u64,
    arrival_s: f64,
) -> ergon_status {
    boundary!(batcher, |h| {
        let apps = h.slo_s.len();
        let slo = *h
            .slo_s
            .get(app)
            .ok_or_else(|| argument(BatchingError::UnknownApp { app, apps }))?;
        enqueue(h, app, request_id, arrival_s, arrival_s + slo)
    })
}

/// Decides at `now_s` (seconds, the clock of the deadlines): removes the requests that are
/// hopeless or expired and picks the next batch. Call it whenever the accelerator is idle and
/// requests wait, and after each arrival while it is idle.
///
/// On success `*batch_len` ids are written to `batch` (run them now as one batch; 0 with a
/// non-empty queue means: wait for the next arrival or completion) and `*dropped_len` ids to
/// `dropped` (answer them as missed); `*expected_time_s`, if not NULL, receives the expected
/// time of the batch under its distribution (0 for an empty batch; asking for it costs
/// O(bins × applications) and one allocation, while a NULL pointer keeps the call free of
/// allocations).
///
/// Buffers: `batch` never needs more than `ergon_orloj_batcher_max_batch_size` ids, `dropped` never
/// more than `ergon_orloj_batcher_queued` before the call. If either is too small for this decision,
/// the call fails with `ERGON_STATUS_BUFFER_TOO_SMALL`, writes the needed lengths to
/// `*batch_len` and `*dropped_len`, and keeps the decision in the handle: the next call returns
/// that same decision (its `now_s` is then only checked, not used; the queue is not touched)
/// once the buffers are large enough, with the expected time computed when it was made (0 if
/// that call passed a NULL `expected_time_s`). Requests enqueued in between wait for the
/// decision after it. A NULL buffer with capacity 0 is allowed.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (`now_s` not finite),
/// `BUFFER_TOO_SMALL` or `PANIC`. Messages: `ergon_orloj_batcher_last_error`.
///
/// # Safety
/// `batcher` must be NULL or a live handle not used concurrently; `batch` NULL or writable for
/// `batch_cap` ids, `dropped` NULL or writable for `dropped_cap` ids; `batch_len`,
/// `dropped_len` and `expected_time_s` NULL or writable.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)] // the C signature: three buffers and their lengths
pub unsafe extern "C" fn ergon_orloj_batcher_next_batch(
    batcher: *mut ergon_orloj_batcher,
    now_s: f64,
    batch: *mut u64,
    batch_cap: usize,
    batch_len: *mut usize,
    dropped: *mut u64,
    dropped_cap: usize,
    dropped_len: *mut usize,
    expected_time_s: *mut f64,
) -> ergon_status {
    boundary!(batcher, |h| {
        // Every pointer is checked before anything is decided.
        check_buffer(batch, batch_cap, "batch", "batch_cap")?;
        check_buffer(dropped, dropped_cap, "dropped", "dropped_cap")?;
        let batch_len = out_ref(batch_len, "batch_len")?;
        let dropped_len = out_ref(dropped_len, "dropped_len")?;
        let expected_time_s = opt_out(expected_time_s, "expected_time_s")?;
        if !now_s.is_finite() {
            return Err(invalid_argument(format!(
                "now_s = {now_s} is not a finite time"
            )));
        }
        let p = match h.pending {
            Some(p) => p,
            None => {
                let queued = h.batcher.queued();
                if h.dropped.len() < queued {
                    h.dropped.resize(queued, 0);
                }
                h.tally.set(Tally {
                    want: expected_time_s.is_some(),
                    expected_time_s: 0.0,
                });
                let d = h
                    .batcher
                    .next_batch(now_s, &mut h.batch, &mut h.dropped)
                    .map_err(argument)?;
                let p = Pending {
                    batch_len: d.batch_len,
                    dropped_len: d.dropped_len,
                    expected_time_s: if d.batch_len > 0 {
                        h.tally.get().expected_time_s
                    } else {
                        0.0
                    },
                };
                h.pending = Some(p);
                p
            }
        };
        *batch_len = p.batch_len;
        *dropped_len = p.dropped_len;
        if batch_cap < p.batch_len || dropped_cap < p.dropped_len {
            return Err(Failure::new(
                ergon_status::BufferTooSmall,
                format!(
                    "the decision has {} batch ids and {} dropped ids but the buffers hold {} \
                     and {}; it is kept for the next call",
                    p.batch_len, p.dropped_len, batch_cap, dropped_cap
                ),
            ));
        }
        let (Some(ids), Some(gone)) = (h.batch.get(..p.batch_len), h.dropped.get(..p.dropped_len))
        else {
            return Err(Failure::new(
                ergon_status::Panic,
                "the decision is longer than the batcher's buffers",
            ));
        };
        // SAFETY: checked non-null and aligned when the lengths are positive, with room for
        // the capacities (caller's contract), which are at least the lengths.
        unsafe {
            if !ids.is_empty() {
                std::ptr::copy_nonoverlapping(ids.as_ptr(), batch, ids.len());
            }
            if !gone.is_empty() {
                std::ptr::copy_nonoverlapping(gone.as_ptr(), dropped, gone.len());
            }
        }
        if let Some(t) = expected_time_s {
            *t = p.expected_time_s;
        }
        h.pending = None;
        Ok(())
    })
}

/// Reports the observed execution time of one finished request of application `app` (its time
/// alone, as the application's law describes it; divide a batch's time by its scale factor
/// first) and moves a fraction `decay` of the law's mass onto it. O(bins), no allocation.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `OUT_OF_RANGE` (no application `app`),
/// `INVALID_ARGUMENT` (a time not finite or negative) or `PANIC`. Messages:
/// `ergon_orloj_batcher_last_error`.
///
/// # Safety
/// `batcher` must be NULL or a live handle not used concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_batcher_complete(
    batcher: *mut ergon_orloj_batcher,
    app: usize,
    observed_time_s: f64,
) -> ergon_status {
    boundary!(batcher, |h| {
        h.batcher.complete(app, observed_time_s).map_err(argument)?;
        if let Some(c) = h.completions.get_mut(app) {
            *c += 1;
        }
        Ok(())
    })
}

/// Reports how long the last batch took, seconds (feedback for Clipper's AIMD batch cap; the
/// other policies ignore it).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (not finite or negative) or
/// `PANIC`. Messages: `ergon_orloj_batcher_last_error`.
///
/// # Safety
/// `batcher` must be NULL or a live handle not used concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_batcher_batch_done(
    batcher: *mut ergon_orloj_batcher,
    batch_time_s: f64,
) -> ergon_status {
    boundary!(batcher, |h| {
        h.batcher.batch_done(batch_time_s).map_err(argument)
    })
}

/// Writes the number of queued requests to `*out` (those of a decision kept after
/// `BUFFER_TOO_SMALL` have left the queue already).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `PANIC`.
///
/// # Safety
/// `batcher` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_batcher_queued(
    batcher: *const ergon_orloj_batcher,
    out: *mut usize,
) -> ergon_status {
    boundary!(batcher, |h| { put(out, "out", h.batcher.queued()) })
}

/// Writes the largest batch the batcher forms to `*out` (enough for the `batch` buffer of
/// `ergon_orloj_batcher_next_batch`).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `PANIC`.
///
/// # Safety
/// `batcher` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_batcher_max_batch_size(
    batcher: *const ergon_orloj_batcher,
    out: *mut usize,
) -> ergon_status {
    boundary!(batcher, |h| { put(out, "out", h.batcher.max_batch_size()) })
}

/// Writes the number of applications to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `PANIC`.
///
/// # Safety
/// `batcher` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_batcher_num_apps(
    batcher: *const ergon_orloj_batcher,
    out: *mut usize,
) -> ergon_status {
    boundary!(batcher, |h| { put(out, "out", h.batcher.apps()) })
}

/// Writes application `app`'s SLO and the mean and 99th percentile of its current law (which
/// `ergon_orloj_batcher_complete` updates) to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `OUT_OF_RANGE` or `PANIC`.
///
/// # Safety
/// `batcher` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_batcher_app_stats(
    batcher: *const ergon_orloj_batcher,
    app: usize,
    out: *mut ergon_orloj_app_stats,
) -> ergon_status {
    boundary!(batcher, |h| {
        let out = out_ref(out, "out")?;
        let apps = h.batcher.apps();
        let (Some(d), Some(&slo_s), Some(&completions)) = (
            h.batcher.distribution(app),
            h.slo_s.get(app),
            h.completions.get(app),
        ) else {
            return Err(argument(BatchingError::UnknownApp { app, apps }));
        };
        *out = ergon_orloj_app_stats {
            slo_s,
            mean_s: d.mean_s(),
            p99_s: d.quantile_s(0.99),
            completions,
        };
        Ok(())
    })
}

/// Copies the policy's name (`"orloj"`, `"clockwork-p99"`, ...) into `buf` ("ask the length,
/// then fill"; `*len` excludes the NUL).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `batcher` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_batcher_policy_name(
    batcher: *const ergon_orloj_batcher,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(batcher, |h| {
        copy_text(h.batcher.policy_name(), buf, cap, len)
    })
}

/// Copies the message of the last failed call on this batcher (empty if none) into `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `batcher` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_batcher_last_error(
    batcher: *const ergon_orloj_batcher,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, batcher, buf, cap, len)
}

/// Runs the serving simulation of an `orloj-sim/v1` document of `len` bytes (every listed
/// policy on one shared, seeded trace), as `ergon orloj simulate --config FILE --json` does.
/// On success `*out` receives a handle holding the `orloj-result/v1` JSON (read it with
/// `ergon_orloj_simulation_to_json`, release it with `ergon_orloj_simulation_free`).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE`, `SCHEMA`, `INVALID_PROBLEM` or `PANIC`.
/// Messages: `ergon_last_error`.
///
/// # Safety
/// `json` must be NULL or readable for `len` bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_simulation_run_json(
    json: *const c_char,
    len: usize,
    out: *mut *mut ergon_orloj_simulation,
) -> ergon_status {
    boundary!(|| {
        let out = out_ref(out, "out")?;
        // SAFETY: the caller's contract.
        let cfg = formats::parse_sim(unsafe { text(json, len, "json")? })?;
        let results = sim::simulate(&cfg).map_err(problem)?;
        *out = into_raw(ergon_orloj_simulation {
            header: Header::new::<ergon_orloj_simulation>(),
            json: formats::result_json(&results),
        });
        Ok(())
    })
}

/// Copies the `orloj-result/v1` JSON into `buf` ("ask the length, then fill"; `*len` excludes
/// the NUL).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `result` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_simulation_to_json(
    result: *const ergon_orloj_simulation,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(result, |h| { copy_text(&h.json, buf, cap, len) })
}

/// Releases a simulation result. NULL is a no-op.
///
/// # Safety
/// `result` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_simulation_free(result: *mut ergon_orloj_simulation) {
    boundary!(free, result)
}

/// Copies the message of the last failed call on this result (empty if none) into `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `result` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_orloj_simulation_last_error(
    result: *const ergon_orloj_simulation,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, result, buf, cap, len)
}
