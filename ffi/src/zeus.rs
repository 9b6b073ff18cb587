//! Zeus through the C ABI: the just-in-time power-limit optimizer on the GPUs of one process
//! (`ergon_hwctl::PowerLimitOptimizer`), and the batch-size optimizer of a recurring job
//! (`ergon_core::zeus::BatchSizeOptimizer` with its cost model, saved as `zeus-bso-state/v1`
//! between recurrences).
//!
//! A C or C++ trainer creates an optimizer for its GPUs, calls
//! `ergon_zeus_power_limit_optimizer_on_step_begin` at the beginning of every step and
//! `ergon_zeus_power_limit_optimizer_on_epoch_end` at the end of every epoch. Under data
//! parallelism the options' `aggregate` callback combines each window with the other ranks'
//! (sum of energy, max of time), so every rank chooses the same limit.

use std::ffi::{c_char, c_void};

use ergon_core::zeus::bso_state::{BsoJob, FormatError as BsoFormatError};
use ergon_core::zeus::power_limit::formats::write_profile;
use ergon_core::zeus::{
    BatchSizeOptimizer, BsoParams, Eta, PowerLimitError, PowerLimitOptions, PowerLimitState,
    Selector, ZeusError as ZeusCoreError,
};
use ergon_hwctl::{
    GuardOptions, Nvml, PowerLimitOptimizer, StateFile, WindowTotals, ZeusError, ZeusOptions,
};

use crate::boundary::boundary;
use crate::handle::{Header, copy_text, into_raw, opaque, opt_ref, out_ref, slice, text};
use crate::status::{
    Failure, Result, energy_status, ergon_status, hw_status, invalid_argument, state_status,
};

/// Selector: the least Zeus cost `η·E + (1−η)·MaxPower·T` (MaxPower: the maximum limit times
/// `gpu_count`).
pub const ERGON_ZEUS_SELECTOR_ZEUS_COST: u32 = 0;
/// Selector: the least energy.
pub const ERGON_ZEUS_SELECTOR_ENERGY: u32 = 1;
/// Selector: the least time.
pub const ERGON_ZEUS_SELECTOR_TIME: u32 = 2;
/// Selector: the lowest limit at most `max_slowdown` times slower than the maximum limit.
pub const ERGON_ZEUS_SELECTOR_MAX_SLOWDOWN: u32 = 3;

/// Phase: waiting before the next limit is set.
pub const ERGON_ZEUS_PHASE_READY: u32 = 0;
/// Phase: warming up at a limit.
pub const ERGON_ZEUS_PHASE_WARMUP: u32 = 1;
/// Phase: measuring a limit.
pub const ERGON_ZEUS_PHASE_PROFILING: u32 = 2;
/// Phase: the optimum is set and held.
pub const ERGON_ZEUS_PHASE_DONE: u32 = 3;
/// Phase: stopped after a failure (settings restored).
pub const ERGON_ZEUS_PHASE_STOPPED: u32 = 4;

/// Settings of a power-limit optimizer; start from
/// `ergon_zeus_power_limit_options_default()` and change what you need.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_zeus_power_limit_options {
    /// Steps before the first warm-up (default 1).
    pub wait_steps: u32,
    /// Steps at each limit before its window opens (default 10; 0: none).
    pub warmup_steps: u32,
    /// Steps measured at each limit (default 40; at least 1).
    pub profile_steps: u32,
    /// Spacing of the candidate limits, mW (default 25000).
    pub step_mw: u32,
    /// `ERGON_ZEUS_SELECTOR_*` (default `ZEUS_COST`).
    pub selector: u32,
    /// η of the Zeus cost, in [0, 1] (default 0.5).
    pub eta: f64,
    /// GPUs of the whole job (every rank) for the Zeus cost; 0 (default): the devices given.
    pub gpu_count: u32,
    /// The allowed slowdown of `MAX_SLOWDOWN`, at least 1 (default 1.1).
    pub max_slowdown: f64,
    /// Path of the profile to read (if it exists: no profiling) and write at the end, UTF-8,
    /// `profile_path_len` bytes; NULL (default): none.
    pub profile_path: *const c_char,
    /// Bytes of `profile_path`.
    pub profile_path_len: usize,
    /// Restore the GPUs' settings on SIGINT and SIGTERM, then end the process (default true).
    /// The originals are written to the GPU state file either way.
    pub restore_on_signal: bool,
    /// Called (with `user_data`) before a window opens or closes, to wait for the GPU's queued
    /// work (e.g. `cudaDeviceSynchronize`); NULL: none (default).
    pub sync: Option<unsafe extern "C" fn(user_data: *mut c_void)>,
    /// Called (with `user_data`) with this process's energy (J, the sum over its GPUs) and time
    /// (s, the slowest GPU's) of a window; replaces them with the job's (energy summed, time the
    /// maximum over every rank) and returns true, or returns false to stop the optimizer. NULL
    /// (default): this process's values are used.
    pub aggregate: Option<
        unsafe extern "C" fn(user_data: *mut c_void, energy_j: *mut f64, time_s: *mut f64) -> bool,
    >,
    /// Passed to `sync` and `aggregate`.
    pub user_data: *mut c_void,
}

/// Where the optimizer stands (`ergon_zeus_power_limit_optimizer_get_state`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_zeus_power_limit_state {
    /// `ERGON_ZEUS_PHASE_*`.
    pub phase: u32,
    /// The limit being (or next to be) profiled, or the optimum once done, mW.
    pub limit_mw: u32,
    /// Step begins left in the phase (0 when done or stopped).
    pub steps_left: u32,
    /// The chosen limit once done, else 0, mW.
    pub optimal_limit_mw: u32,
    /// Limits measured so far.
    pub profiled: usize,
    /// Candidate limits in all.
    pub candidates: usize,
}

/// Opaque handle of a power-limit optimizer (see the `ergon_zeus_power_limit_optimizer_*`
/// functions). Not to be used from two threads at once.
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_zeus_power_limit_optimizer {
    header: Header,
    optimizer: PowerLimitOptimizer,
}

opaque!(
    ergon_zeus_power_limit_optimizer,
    0x4552_474f_4e5a_504c,
    "power-limit optimizer"
); // "ERGONZPL"

/// The C callbacks and their data. The optimizer calls them only from the thread that calls
/// its functions, which the handle's contract makes one thread at a time.
#[derive(Clone, Copy)]
struct CCallbacks {
    sync: Option<unsafe extern "C" fn(*mut c_void)>,
    aggregate: Option<unsafe extern "C" fn(*mut c_void, *mut f64, *mut f64) -> bool>,
    user_data: *mut c_void,
}

// SAFETY: the callbacks and their data are only used by the calls on the handle, which the
// caller serializes (see `ergon_zeus_power_limit_options`).
unsafe impl Send for CCallbacks {}

impl CCallbacks {
    fn sync(&self) {
        if let Some(sync) = self.sync {
            // SAFETY: the caller's contract for `sync` and `user_data`.
            unsafe { sync(self.user_data) }
        }
    }

    fn aggregate(&self, local: WindowTotals) -> std::result::Result<WindowTotals, String> {
        let (mut energy_j, mut time_s) = (local.energy_j, local.time_s);
        let ok = match self.aggregate {
            // SAFETY: the caller's contract; both pointers are valid locals.
            Some(aggregate) => unsafe { aggregate(self.user_data, &mut energy_j, &mut time_s) },
            None => true,
        };
        if ok {
            Ok(WindowTotals { energy_j, time_s })
        } else {
            Err("the aggregate callback returned false".into())
        }
    }
}

impl From<ZeusError> for Failure {
    fn from(e: ZeusError) -> Self {
        let status = match &e {
            ZeusError::NoDevices | ZeusError::NotHomogeneous { .. } => {
                ergon_status::InvalidArgument
            }
            ZeusError::Optimizer(PowerLimitError::WrongState { .. })
            | ZeusError::Stopped { .. } => ergon_status::InvalidState,
            ZeusError::Optimizer(_) => ergon_status::InvalidArgument,
            ZeusError::Profile { .. } => ergon_status::Parse,
            ZeusError::Startup(n) => hw_status(n),
            ZeusError::Change { source, .. } => state_status(source),
            ZeusError::Energy(m) | ZeusError::Measure { source: m, .. } => energy_status(m),
            _ => ergon_status::Gpu,
        };
        Failure::new(status, e.to_string())
    }
}

/// The default settings: the reference's schedule (wait 1, warm-up 10, profile 40 steps, 25 W
/// apart), the Zeus cost with η = 0.5 over the given devices, no profile file, restore on
/// SIGINT/SIGTERM, no callbacks. Never fails.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_zeus_power_limit_options_default() -> ergon_zeus_power_limit_options {
    boundary!(infallible, {
        let d = PowerLimitOptions::default();
        ergon_zeus_power_limit_options {
            wait_steps: d.wait_steps,
            warmup_steps: d.warmup_steps,
            profile_steps: d.profile_steps,
            step_mw: d.step_mw,
            selector: ERGON_ZEUS_SELECTOR_ZEUS_COST,
            eta: Eta::DEFAULT.get(),
            gpu_count: 0,
            max_slowdown: 1.1,
            profile_path: std::ptr::null(),
            profile_path_len: 0,
            restore_on_signal: true,
            sync: None,
            aggregate: None,
            user_data: std::ptr::null_mut(),
        }
    })
}

/// The hwctl options of C options for `devices` GPUs.
///
/// # Safety
/// `o.profile_path` must be NULL or readable for `o.profile_path_len` bytes.
unsafe fn options_of(o: &ergon_zeus_power_limit_options, devices: usize) -> Result<ZeusOptions> {
    let selector = match o.selector {
        ERGON_ZEUS_SELECTOR_ZEUS_COST => Selector::ZeusCost {
            eta: Eta::new(o.eta).map_err(|e| invalid_argument(format!("option `eta`: {e}")))?,
            gpu_count: if o.gpu_count == 0 {
                u32::try_from(devices).unwrap_or(u32::MAX)
            } else {
                o.gpu_count
            },
        },
        ERGON_ZEUS_SELECTOR_ENERGY => Selector::Energy,
        ERGON_ZEUS_SELECTOR_TIME => Selector::Time,
        ERGON_ZEUS_SELECTOR_MAX_SLOWDOWN => Selector::MaxSlowdown {
            factor: o.max_slowdown,
        },
        other => {
            return Err(invalid_argument(format!(
                "option `selector` = {other} is not an ERGON_ZEUS_SELECTOR_* code (0 zeus-cost, \
                 1 energy, 2 time, 3 max-slowdown)"
            )));
        }
    };
    let profile_path = if o.profile_path.is_null() {
        None
    } else {
        // SAFETY: the caller's contract.
        Some(unsafe { text(o.profile_path, o.profile_path_len, "profile_path")? }.into())
    };
    Ok(ZeusOptions {
        schedule: PowerLimitOptions {
            wait_steps: o.wait_steps,
            warmup_steps: o.warmup_steps,
            profile_steps: o.profile_steps,
            step_mw: o.step_mw,
        },
        selector,
        profile_path,
        guard: Some(GuardOptions {
            state_file: Some(StateFile::default_location()),
            restore_on_signal: o.restore_on_signal,
        }),
        ..ZeusOptions::default()
    })
}

/// Starts optimizing the power limit of `device_count` GPUs (device `i` is `devices[i]`,
/// `device_lens[i]` bytes of UTF-8: an NVML index or a `GPU-…` UUID or unique prefix) with
/// `options` (NULL: the defaults): checks that they share one power-limit range, reads the
/// profile file if one is named and exists (then no profiling: the optimum is set at once),
/// turns persistence mode on, and sets the maximum limit, each original written to the GPU
/// state file first (`$ERGON_STATE_DIR`, else the default). Every setting is restored when the
/// optimizer fails or the handle is freed. Needs CAP_SYS_ADMIN. On success `*out` receives a
/// handle to release with `ergon_zeus_power_limit_optimizer_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE` (a name not UTF-8, a profile file that
/// cannot be read or used), `INVALID_ARGUMENT` (no device, no such device, GPUs of different
/// power-limit ranges, an option out of range: η outside [0, 1], no measured step, a
/// slowdown below 1, an unknown selector), `NVML_UNAVAILABLE`, `GPU` or `PANIC`. Messages:
/// `ergon_last_error`.
///
/// # Safety
/// `devices` and `device_lens` must be NULL or readable for `device_count` elements, each
/// `devices[i]` readable for `device_lens[i]` bytes; `options` NULL or readable (with its
/// `profile_path` readable for `profile_path_len` bytes); `out` NULL or writable. The
/// callbacks, if set, must be callable with `options->user_data` for as long as the handle
/// lives.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_power_limit_optimizer_new(
    devices: *const *const c_char,
    device_lens: *const usize,
    device_count: usize,
    options: *const ergon_zeus_power_limit_options,
    out: *mut *mut ergon_zeus_power_limit_optimizer,
) -> ergon_status {
    boundary!(|| {
        let out = out_ref(out, "out")?;
        // SAFETY: the caller's contract.
        let (pointers, lengths, options) = unsafe {
            (
                slice(devices, device_count, "devices")?,
                slice(device_lens, device_count, "device_lens")?,
                opt_ref(options, "options")?
                    .copied()
                    .unwrap_or_else(|| ergon_zeus_power_limit_options_default()),
            )
        };
        let mut specs = Vec::with_capacity(device_count);
        for (i, (&p, &n)) in pointers.iter().zip(lengths).enumerate() {
            // SAFETY: the caller's contract for each name.
            specs.push(unsafe { text(p, n, &format!("devices[{i}]"))? });
        }
        // SAFETY: the caller's contract for `profile_path`.
        let settings = unsafe { options_of(&options, specs.len())? };
        let nvml = Nvml::init()?;
        let gpus = specs
            .iter()
            .map(|spec| nvml.device(spec))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut optimizer = PowerLimitOptimizer::new(&gpus, settings)?;
        let callbacks = CCallbacks {
            sync: options.sync,
            aggregate: options.aggregate,
            user_data: options.user_data,
        };
        // Whole-struct moves: a closure that named a field would capture only that field.
        if callbacks.sync.is_some() {
            optimizer.set_sync(Some(Box::new(move || callbacks.sync())));
        }
        if callbacks.aggregate.is_some() {
            optimizer.set_aggregate(Some(Box::new(move |local| callbacks.aggregate(local))));
        }
        *out = into_raw(ergon_zeus_power_limit_optimizer {
            header: Header::new::<ergon_zeus_power_limit_optimizer>(),
            optimizer,
        });
        Ok(())
    })
}

/// At the beginning of every training step: advances the schedule, setting limits and opening
/// or closing windows (a closed window is measured, aggregated and, after the last limit, the
/// optimum set and the profile written).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_STATE` (the optimizer was stopped),
/// `GPU` (an NVML call or a measurement failed, or the aggregate callback returned false: the
/// optimizer stopped and every setting was restored; or the profile could not be written) or
/// `PANIC`. Messages: `ergon_zeus_power_limit_optimizer_last_error`.
///
/// # Safety
/// `optimizer` must be NULL or a live handle not used concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_power_limit_optimizer_on_step_begin(
    optimizer: *mut ergon_zeus_power_limit_optimizer,
) -> ergon_status {
    boundary!(optimizer, |h| Ok(h.optimizer.on_step_begin()?))
}

/// At the end of every epoch: a limit interrupted in warm-up or profiling is profiled again
/// from scratch in the next epoch (the maximum limit is set meanwhile).
///
/// Returns as `ergon_zeus_power_limit_optimizer_on_step_begin`.
///
/// # Safety
/// `optimizer` must be NULL or a live handle not used concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_power_limit_optimizer_on_epoch_end(
    optimizer: *mut ergon_zeus_power_limit_optimizer,
) -> ergon_status {
    boundary!(optimizer, |h| Ok(h.optimizer.on_epoch_end()?))
}

/// Writes where the optimizer stands to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `PANIC`.
///
/// # Safety
/// `optimizer` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_power_limit_optimizer_get_state(
    optimizer: *const ergon_zeus_power_limit_optimizer,
    out: *mut ergon_zeus_power_limit_state,
) -> ergon_status {
    boundary!(optimizer, |h| {
        let out = out_ref(out, "out")?;
        let o = &h.optimizer;
        let (phase, limit_mw, steps_left) = match o.state() {
            PowerLimitState::Ready {
                next_limit_mw,
                steps_left,
            } => (ERGON_ZEUS_PHASE_READY, next_limit_mw, steps_left),
            PowerLimitState::Warmup {
                limit_mw,
                steps_left,
            } => (ERGON_ZEUS_PHASE_WARMUP, limit_mw, steps_left),
            PowerLimitState::Profiling {
                limit_mw,
                steps_left,
            } => (ERGON_ZEUS_PHASE_PROFILING, limit_mw, steps_left),
            PowerLimitState::Measuring { limit_mw } => (ERGON_ZEUS_PHASE_PROFILING, limit_mw, 0),
            PowerLimitState::Done { optimal_limit_mw } => {
                (ERGON_ZEUS_PHASE_DONE, optimal_limit_mw, 0)
            }
        };
        let phase = if o.is_stopped() {
            ERGON_ZEUS_PHASE_STOPPED
        } else {
            phase
        };
        *out = ergon_zeus_power_limit_state {
            phase,
            limit_mw,
            steps_left,
            optimal_limit_mw: o.optimal_limit_mw().unwrap_or(0),
            profiled: o.profile().len(),
            candidates: o.candidates_mw().len(),
        };
        Ok(())
    })
}

/// Copies the measurements so far as a `zeus-power-profile/v1` document (formats.md) into
/// `buf` ("ask the length, then fill"; `*len` excludes the NUL).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `optimizer` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_power_limit_optimizer_profile_json(
    optimizer: *const ergon_zeus_power_limit_optimizer,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(optimizer, |h| {
        copy_text(&write_profile(h.optimizer.profile()), buf, cap, len)
    })
}

/// Restores every setting the optimizer holds (the limits, persistence mode) and releases the
/// handle. NULL is a no-op. Restore failures cannot be reported here (the settings stay in the
/// GPU state file for `ergon_gpu_state_restore`).
///
/// # Safety
/// `optimizer` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_power_limit_optimizer_free(
    optimizer: *mut ergon_zeus_power_limit_optimizer,
) {
    boundary!(free, optimizer)
}

/// Copies the message of the last failed call on this optimizer (empty if none) into `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `optimizer` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_power_limit_optimizer_last_error(
    optimizer: *const ergon_zeus_power_limit_optimizer,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, optimizer, buf, cap, len)
}

// ------------------------------------------------------------------------------------------
// The batch-size optimizer

/// Settings of a batch-size optimizer beyond its batch sizes; start from
/// `ergon_zeus_batch_size_options_default()` and change what you need.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_zeus_batch_size_options {
    /// η of the Zeus cost a report's time and energy are priced with, in [0, 1] (default 0.5).
    pub eta: f64,
    /// The power that prices time, W: the maximum power limit of the job's GPUs times their
    /// count (default 0: must be set).
    pub max_power_w: f64,
    /// Early-stopping multiplier, at least 1; `INFINITY` disables early stopping (default 2).
    pub beta: f64,
    /// Rounds of pruning exploration (default 2).
    pub num_pruning_rounds: u32,
    /// Observations an arm needs before its posterior is sampled (default 2).
    pub num_explorations: u32,
    /// How many of an arm's latest observations the posterior uses; 0: all (default).
    pub window_size: u32,
    /// Seed of the Thompson-sampling stream (default 1).
    pub seed: u64,
    /// Mean of the Gaussian prior of each arm's reward (default 0).
    pub prior_mean: f64,
    /// Precision of that prior; 0: the flat prior (default).
    pub prior_precision: f64,
}

/// Opaque handle of a batch-size optimizer (see the `ergon_zeus_batch_size_optimizer_*`
/// functions). Not to be used from two threads at once.
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_zeus_batch_size_optimizer {
    header: Header,
    job: BsoJob,
}

opaque!(
    ergon_zeus_batch_size_optimizer,
    0x4552_474f_4e5a_4253,
    "batch-size optimizer"
); // "ERGONZBS"

impl From<ZeusCoreError> for Failure {
    fn from(e: ZeusCoreError) -> Self {
        let status = match &e {
            ZeusCoreError::UnexpectedBatchSize { .. } | ZeusCoreError::NoSurvivors { .. } => {
                ergon_status::InvalidState
            }
            _ => ergon_status::InvalidArgument,
        };
        Failure::new(status, e.to_string())
    }
}

/// The status of a rejected `zeus-bso-state/v1` document.
fn bso_format_failure(e: BsoFormatError) -> Failure {
    let status = match &e {
        BsoFormatError::Json { .. } | BsoFormatError::Csv { .. } => ergon_status::Parse,
        BsoFormatError::Schema { .. } => ergon_status::Schema,
        BsoFormatError::Field { .. } | BsoFormatError::Problem(_) => ergon_status::InvalidProblem,
    };
    Failure::new(status, e.to_string())
}

/// The reference's settings: η = 0.5, β = 2, two pruning rounds, two explorations, the whole
/// history, seed 1, the flat prior; `max_power_w` 0 (to be set). Never fails.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_zeus_batch_size_options_default() -> ergon_zeus_batch_size_options {
    boundary!(infallible, {
        let d = BsoParams::new(Vec::new(), 0);
        ergon_zeus_batch_size_options {
            eta: Eta::DEFAULT.get(),
            max_power_w: 0.0,
            beta: d.beta,
            num_pruning_rounds: d.num_pruning_rounds,
            num_explorations: d.num_explorations,
            window_size: d.window_size,
            seed: d.seed,
            prior_mean: d.prior_mean,
            prior_precision: d.prior_precision,
        }
    })
}

/// A new batch-size optimizer over `count` batch sizes (`batch_sizes[i]`, any order, no
/// duplicates, none zero) starting from `default_batch_size` (one of them), with `options`
/// (NULL: the defaults, whose `max_power_w` of 0 is refused). On success `*out` receives a
/// handle to release with `ergon_zeus_batch_size_optimizer_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (no batch sizes, a duplicate
/// or zero, a default not listed, η outside [0, 1], β below 1, `max_power_w` not positive, a
/// prior out of range) or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `batch_sizes` must be NULL or readable for `count` elements; `options` NULL or readable;
/// `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_batch_size_optimizer_new(
    batch_sizes: *const u32,
    count: usize,
    default_batch_size: u32,
    options: *const ergon_zeus_batch_size_options,
    out: *mut *mut ergon_zeus_batch_size_optimizer,
) -> ergon_status {
    boundary!(|| {
        let out = out_ref(out, "out")?;
        // SAFETY: the caller's contract.
        let (sizes, o) = unsafe {
            (
                slice(batch_sizes, count, "batch_sizes")?,
                opt_ref(options, "options")?
                    .copied()
                    .unwrap_or_else(|| ergon_zeus_batch_size_options_default()),
            )
        };
        let eta = Eta::new(o.eta).map_err(|e| invalid_argument(format!("option `eta`: {e}")))?;
        let params = BsoParams {
            beta: o.beta,
            num_pruning_rounds: o.num_pruning_rounds,
            num_explorations: o.num_explorations,
            window_size: o.window_size,
            seed: o.seed,
            prior_mean: o.prior_mean,
            prior_precision: o.prior_precision,
            ..BsoParams::new(sizes.to_vec(), default_batch_size)
        };
        let job = BsoJob::new(eta, o.max_power_w, BatchSizeOptimizer::new(params)?)?;
        *out = into_raw(ergon_zeus_batch_size_optimizer {
            header: Header::new::<ergon_zeus_batch_size_optimizer>(),
            job,
        });
        Ok(())
    })
}

/// A batch-size optimizer from its saved state, a `zeus-bso-state/v1` document (`len` bytes of
/// UTF-8, from `ergon_zeus_batch_size_optimizer_to_json`): the recurrence it is in, its
/// history and its random stream continue exactly. On success `*out` receives a handle.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE` (not UTF-8, not JSON, a field missing or
/// of the wrong type), `SCHEMA` (another format), `INVALID_PROBLEM` (a value out of range) or
/// `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `json` must be NULL or readable for `len` bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_batch_size_optimizer_from_json(
    json: *const c_char,
    len: usize,
    out: *mut *mut ergon_zeus_batch_size_optimizer,
) -> ergon_status {
    boundary!(|| {
        let out = out_ref(out, "out")?;
        // SAFETY: the caller's contract.
        let text = unsafe { text(json, len, "json")? };
        let job = BsoJob::from_json(text).map_err(bso_format_failure)?;
        *out = into_raw(ergon_zeus_batch_size_optimizer {
            header: Header::new::<ergon_zeus_batch_size_optimizer>(),
            job,
        });
        Ok(())
    })
}

/// Copies the optimizer's state as a `zeus-bso-state/v1` document into `buf` ("ask the
/// length, then fill"; `*len` excludes the NUL). Save it after every call that changes it
/// (`_next_batch_size` advances the random stream, `_report` the history).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `optimizer` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_batch_size_optimizer_to_json(
    optimizer: *const ergon_zeus_batch_size_optimizer,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(optimizer, |h| copy_text(&h.job.to_json(), buf, cap, len))
}

/// Writes the batch size to run next to `*out` (during pruning, the next one to explore, the
/// same again until it is reported; then a Thompson-sampling draw).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_STATE` (a pruning round ended with no
/// batch size that reached the target) or `PANIC`. Messages:
/// `ergon_zeus_batch_size_optimizer_last_error`.
///
/// # Safety
/// `optimizer` must be NULL or a live handle not used concurrently; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_batch_size_optimizer_next_batch_size(
    optimizer: *mut ergon_zeus_batch_size_optimizer,
    out: *mut u32,
) -> ergon_status {
    boundary!(optimizer, |h| {
        let out = out_ref(out, "out")?;
        *out = h.job.optimizer.next_batch_size()?;
        Ok(())
    })
}

/// Records an attempt at `batch_size` that ran for `time_s` seconds and `energy_j` joules (all
/// its epochs, every GPU) and whether it `reached` the target; its cost is
/// `η·energy_j + (1−η)·max_power_w·time_s`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (a batch size it does not
/// know, a negative or non-finite time or energy), `INVALID_STATE` (during pruning, another
/// batch size than the one handed out) or `PANIC`. Messages:
/// `ergon_zeus_batch_size_optimizer_last_error`.
///
/// # Safety
/// `optimizer` must be NULL or a live handle not used concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_batch_size_optimizer_report(
    optimizer: *mut ergon_zeus_batch_size_optimizer,
    batch_size: u32,
    time_s: f64,
    energy_j: f64,
    reached: bool,
) -> ergon_status {
    boundary!(optimizer, |h| {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        if !(ok(time_s) && ok(energy_j)) {
            return Err(invalid_argument(format!(
                "time_s = {time_s} and energy_j = {energy_j} must be finite and non-negative"
            )));
        }
        let cost = h.job.cost(time_s, energy_j);
        Ok(h.job.optimizer.report(batch_size, cost, reached)?)
    })
}

/// Records an attempt at `batch_size` that ran and cost `cost` J (priced by the caller, e.g.
/// `ergon_zeus_batch_size_optimizer_report` does it from time and energy), and whether it
/// `reached` the target.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (a batch size it does not
/// know, a negative or non-finite cost), `INVALID_STATE` (during pruning, another batch size
/// than the one handed out) or `PANIC`. Messages:
/// `ergon_zeus_batch_size_optimizer_last_error`.
///
/// # Safety
/// `optimizer` must be NULL or a live handle not used concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_batch_size_optimizer_report_cost(
    optimizer: *mut ergon_zeus_batch_size_optimizer,
    batch_size: u32,
    cost: f64,
    reached: bool,
) -> ergon_status {
    boundary!(optimizer, |h| Ok(h
        .job
        .optimizer
        .report(batch_size, cost, reached)?))
}

/// Writes the cost limit of the next attempt to `*out`, J: β × the lowest cost of a finished
/// recurrence (`INFINITY` before one finished, or without early stopping). The launcher stops
/// an attempt before an epoch would take its cost past it.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `PANIC`.
///
/// # Safety
/// `optimizer` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_batch_size_optimizer_cost_limit(
    optimizer: *const ergon_zeus_batch_size_optimizer,
    out: *mut f64,
) -> ergon_status {
    boundary!(optimizer, |h| {
        *out_ref(out, "out")? = h.job.optimizer.cost_limit();
        Ok(())
    })
}

/// Releases the handle. NULL is a no-op.
///
/// # Safety
/// `optimizer` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_batch_size_optimizer_free(
    optimizer: *mut ergon_zeus_batch_size_optimizer,
) {
    boundary!(free, optimizer)
}

/// Copies the message of the last failed call on this optimizer (empty if none) into `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `optimizer` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_zeus_batch_size_optimizer_last_error(
    optimizer: *const ergon_zeus_batch_size_optimizer,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, optimizer, buf, cap, len)
}
