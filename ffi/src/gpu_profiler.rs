//! The Perseus profiler through the C ABI (`ergon_hwctl::Profiler`): profiling one pipeline
//! stage's computations at each GPU clock inside a training job, and the merge of the stages'
//! profile CSVs into the pipeline's.
//!
//! A C or C++ trainer creates a profiler for its GPU and stage, reports every computation with
//! `ergon_gpu_profiler_instruction_begin`/`_end` and every iteration with
//! `ergon_gpu_profiler_step_end`, until `*done`; then `ergon_gpu_profiler_to_csv` gives the
//! stage's zeus profile CSV and `ergon_gpu_profiler_p_blocking_w` the blocking power, the inputs
//! of `ergon_perseus_frontier_from_profile_csv`.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use ergon_core::perseus::formats::merge_profile_csv;
use ergon_hwctl::{
    GuardOptions, Nvml, Profiler, ProfilerError, ProfilerOptions, ProfilerStatus, StateFile,
};

use crate::boundary::boundary;
use crate::handle::{Header, copy_text, into_raw, opaque, opt_ref, out_ref, slice, text};
use crate::status::{
    Failure, Result, energy_status, ergon_status, hw_status, invalid_argument, state_status,
};

/// Settings of a profiler; start from `ergon_gpu_profiler_options_default()` and change what you
/// need.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_gpu_profiler_options {
    /// Iterations discarded after each clock change (default 1).
    pub warmup_iters: u32,
    /// Iterations measured at each clock (default 2; at least 1).
    pub iters_per_clock: u32,
    /// Least spacing of the profiled clocks, MHz: from the maximum down, the next clock profiled
    /// is the highest supported one at least this much lower (default 0: every clock).
    pub step_mhz: u32,
    /// No clock below this is profiled, MHz (default 0).
    pub min_mhz: u32,
    /// Stop lowering the clock once a computation's mean time exceeds this factor of its
    /// fastest (default 1.5; at least 1; `INFINITY` never stops).
    pub max_slowdown: f64,
    /// Seconds the idle GPU is measured for P_blocking at the end (default 1; positive, at
    /// most 3600).
    pub blocking_window_s: f64,
    /// Restore the GPU's settings on SIGINT and SIGTERM, then end the process (default true).
    /// The original settings are written to the GPU state file either way
    /// (`ergon_gpu_state_restore` after a SIGKILL).
    pub restore_on_signal: bool,
    /// Called (with `user_data`) before each time and energy reading of a measured
    /// computation, on the thread that called the profiler, to wait for the GPU's queued work
    /// (e.g. `cudaDeviceSynchronize`); NULL: no synchronisation (default).
    pub sync: Option<unsafe extern "C" fn(user_data: *mut c_void)>,
    /// Passed to `sync`.
    pub user_data: *mut c_void,
}

/// Where profiling stands (`ergon_gpu_profiler_get_progress`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_gpu_profiler_progress {
    /// The clock being profiled (after the end: the last one profiled), MHz.
    pub freq_mhz: u32,
    /// 0-based position of that clock among the candidates.
    pub clock_index: usize,
    /// Number of candidate clocks (profiling may stop earlier, see `max_slowdown`).
    pub clocks_total: usize,
    /// True during the warm-up iterations of the current clock.
    pub warming_up: bool,
    /// Iterations left if every remaining candidate is profiled (an upper bound).
    pub iters_left: u64,
    /// Estimated seconds left (including the blocking window); NaN before the first iteration
    /// ended.
    pub eta_s: f64,
    /// True once profiling is done.
    pub done: bool,
}

/// Opaque handle of a profiler (see the `ergon_gpu_profiler_*` functions). Not to be used from
/// two threads at once.
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_gpu_profiler {
    header: Header,
    profiler: Profiler,
}

opaque!(ergon_gpu_profiler, 0x4552_474f_4e50_5246, "profiler"); // "ERGONPRF"

/// The C sync callback as the profiler's closure. The profiler calls it only from the thread
/// that calls the profiler's functions, which the handle's contract makes one thread at a time.
struct CSync {
    sync: unsafe extern "C" fn(*mut c_void),
    user_data: *mut c_void,
}

// SAFETY: the callback and its data are only used by the calls on the handle, which the caller
// serializes (see `ergon_gpu_profiler_options::sync`).
unsafe impl Send for CSync {}

impl CSync {
    fn call(&mut self) {
        // SAFETY: the caller's contract for `sync` and `user_data`.
        unsafe { (self.sync)(self.user_data) }
    }
}

impl From<ProfilerError> for Failure {
    fn from(e: ProfilerError) -> Self {
        let status = match &e {
            ProfilerError::InvalidOption { .. }
            | ProfilerError::StageOutOfRange { .. }
            | ProfilerError::NoClocks { .. }
            | ProfilerError::InvalidName { .. }
            | ProfilerError::TooManyInstructions { .. } => ergon_status::InvalidArgument,
            ProfilerError::AlreadyOpen { .. }
            | ProfilerError::NotOpen { .. }
            | ProfilerError::EndMismatch { .. }
            | ProfilerError::OpenAtStepEnd { .. }
            | ProfilerError::Finished { .. }
            | ProfilerError::Stopped { .. } => ergon_status::InvalidState,
            ProfilerError::Startup(n) => hw_status(n),
            ProfilerError::StateFile(s) | ProfilerError::Lock { source: s, .. } => state_status(s),
            ProfilerError::Energy(m)
            | ProfilerError::Measure { source: m, .. }
            | ProfilerError::Blocking(m) => energy_status(m),
            _ => ergon_status::Gpu,
        };
        Failure::new(status, e.to_string())
    }
}

/// The default profiler settings: 1 warm-up and 2 measured iterations per clock, every
/// supported clock from the maximum down, max slowdown 1.5, a 1 s blocking window, restore on
/// SIGINT/SIGTERM, no sync callback. Never fails.
#[unsafe(no_mangle)]
pub extern "C" fn ergon_gpu_profiler_options_default() -> ergon_gpu_profiler_options {
    boundary!(infallible, {
        let d = ProfilerOptions::default();
        ergon_gpu_profiler_options {
            warmup_iters: d.warmup_iters,
            iters_per_clock: d.iters_per_clock,
            step_mhz: d.step_mhz,
            min_mhz: d.min_mhz,
            max_slowdown: d.max_slowdown,
            blocking_window_s: d.blocking_window.as_secs_f64(),
            restore_on_signal: true,
            sync: None,
            user_data: std::ptr::null_mut(),
        }
    })
}

/// The hwctl options of C options (the window checked here: `Duration` cannot hold every
/// double).
fn options_of(o: &ergon_gpu_profiler_options) -> Result<ProfilerOptions> {
    if !(o.blocking_window_s > 0.0 && o.blocking_window_s <= 3600.0) {
        return Err(invalid_argument(format!(
            "profiler option `blocking_window_s` = {} must be positive and at most 3600",
            o.blocking_window_s
        )));
    }
    Ok(ProfilerOptions {
        warmup_iters: o.warmup_iters,
        iters_per_clock: o.iters_per_clock,
        step_mhz: o.step_mhz,
        min_mhz: o.min_mhz,
        max_slowdown: o.max_slowdown,
        blocking_window: Duration::from_secs_f64(o.blocking_window_s),
        guard: Some(GuardOptions {
            state_file: Some(StateFile::default_location()),
            restore_on_signal: o.restore_on_signal,
        }),
        ..ProfilerOptions::default()
    })
}

/// Starts profiling stage `stage` on `device` (`device_len` bytes of UTF-8: an NVML index, a
/// `GPU-…` UUID or unique prefix, or a `MIG-…` UUID) with `options` (NULL: the defaults): selects
/// the clocks, sets the power limit to its default, locks the memory clock at its maximum and
/// the graphics clock at the highest selected one, each original written to the GPU state file
/// first (`$ERGON_STATE_DIR`, else the default). Every setting is restored when profiling ends,
/// fails, or the handle is freed. Needs CAP_SYS_ADMIN. On success `*out` receives a handle to
/// release with `ergon_gpu_profiler_free`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE` (`device` not UTF-8), `INVALID_ARGUMENT`
/// (no such device, an option out of range, no clock at or above `min_mhz`), `NVML_UNAVAILABLE`,
/// `GPU` or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `device` must be NULL or readable for `device_len` bytes; `options` NULL or readable; `out`
/// NULL or writable. `options->sync`, if set, must be callable with `options->user_data` for as
/// long as the handle lives.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_profiler_new(
    device: *const c_char,
    device_len: usize,
    stage: usize,
    options: *const ergon_gpu_profiler_options,
    out: *mut *mut ergon_gpu_profiler,
) -> ergon_status {
    boundary!(|| {
        let out = out_ref(out, "out")?;
        // SAFETY: the caller's contract.
        let (spec, options) = unsafe {
            (
                text(device, device_len, "device")?,
                opt_ref(options, "options")?
                    .copied()
                    .unwrap_or_else(|| ergon_gpu_profiler_options_default()),
            )
        };
        let settings = options_of(&options)?;
        let gpu = Nvml::init()?.device(spec)?;
        let mut profiler = Profiler::new(&gpu, stage, settings)?;
        if let Some(sync) = options.sync {
            let mut c = CSync {
                sync,
                user_data: options.user_data,
            };
            profiler.set_sync(Some(Box::new(move || c.call())));
        }
        *out = into_raw(ergon_gpu_profiler {
            header: Header::new::<ergon_gpu_profiler>(),
            profiler,
        });
        Ok(())
    })
}

/// Runs `call` (instruction begin or end) with the name `name` of `name_len` bytes.
///
/// # Safety
/// `name` must be NULL or readable for `name_len` bytes.
unsafe fn on_instruction(
    h: &mut ergon_gpu_profiler,
    name: *const c_char,
    name_len: usize,
    call: fn(&mut Profiler, &str) -> std::result::Result<(), ProfilerError>,
) -> Result<()> {
    // SAFETY: forwarded.
    let name = unsafe { text(name, name_len, "name")? };
    Ok(call(&mut h.profiler, name)?)
}

/// Before a computation named `name` (`name_len` bytes of UTF-8, e.g. `"forward"`; any name
/// without commas, quotes or control characters): during measured iterations, calls the sync
/// callback and opens its time and energy window.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE`, `INVALID_ARGUMENT` (a name the CSV cannot
/// carry), `INVALID_STATE` (an instruction is open, or profiling is over), `GPU` (the reading
/// failed: profiling stopped and the settings were restored) or `PANIC`. Messages:
/// `ergon_gpu_profiler_last_error`.
///
/// # Safety
/// `profiler` must be NULL or a live handle not used concurrently; `name` NULL or readable for
/// `name_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_profiler_instruction_begin(
    profiler: *mut ergon_gpu_profiler,
    name: *const c_char,
    name_len: usize,
) -> ergon_status {
    boundary!(profiler, |h| {
        // SAFETY: the caller's contract.
        unsafe { on_instruction(h, name, name_len, Profiler::instruction_begin) }
    })
}

/// After the computation `name`: during measured iterations, calls the sync callback and adds
/// the computation's time and energy to the current clock's.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE`, `INVALID_STATE` (no instruction open,
/// another one open, or profiling is over), `GPU` or `PANIC`. Messages:
/// `ergon_gpu_profiler_last_error`.
///
/// # Safety
/// As `ergon_gpu_profiler_instruction_begin`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_profiler_instruction_end(
    profiler: *mut ergon_gpu_profiler,
    name: *const c_char,
    name_len: usize,
) -> ergon_status {
    boundary!(profiler, |h| {
        // SAFETY: the caller's contract.
        unsafe { on_instruction(h, name, name_len, Profiler::instruction_end) }
    })
}

/// After an iteration: advances warm-up, measured iterations and clocks (locking the next clock
/// here); after the last clock measures P_blocking (blocking for `blocking_window_s`) and
/// restores the GPU's settings. Writes true to `*done` once profiling is complete.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_STATE` (an instruction is open, or
/// profiling is over), `GPU` (profiling stopped, settings restored) or `PANIC`. Messages:
/// `ergon_gpu_profiler_last_error`.
///
/// # Safety
/// `profiler` must be NULL or a live handle not used concurrently; `done` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_profiler_step_end(
    profiler: *mut ergon_gpu_profiler,
    done: *mut bool,
) -> ergon_status {
    boundary!(profiler, |h| {
        let done = out_ref(done, "done")?;
        *done = h.profiler.step_end()? == ProfilerStatus::Done;
        Ok(())
    })
}

/// Writes where profiling stands to `*out`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `PANIC`.
///
/// # Safety
/// `profiler` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_profiler_get_progress(
    profiler: *const ergon_gpu_profiler,
    out: *mut ergon_gpu_profiler_progress,
) -> ergon_status {
    boundary!(profiler, |h| {
        let out = out_ref(out, "out")?;
        let p = h.profiler.progress();
        *out = ergon_gpu_profiler_progress {
            freq_mhz: p.freq_mhz,
            clock_index: p.clock_index,
            clocks_total: p.clocks_total,
            warming_up: p.warming_up,
            iters_left: p.iters_left,
            eta_s: p.eta_s.unwrap_or(f64::NAN),
            done: p.done,
        };
        Ok(())
    })
}

/// Writes the blocking power measured at the end of profiling to `*out`, W.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_STATE` (profiling is not done) or
/// `PANIC`. Messages: `ergon_gpu_profiler_last_error`.
///
/// # Safety
/// `profiler` must be NULL or a live handle; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_profiler_p_blocking_w(
    profiler: *const ergon_gpu_profiler,
    out: *mut f64,
) -> ergon_status {
    boundary!(profiler, |h| {
        let out = out_ref(out, "out")?;
        *out = h.profiler.p_blocking_w().ok_or_else(|| {
            Failure::new(
                ergon_status::InvalidState,
                "P_blocking is measured at the end of profiling, which has not been reached",
            )
        })?;
        Ok(())
    })
}

/// Copies the profile measured so far (complete once done) as zeus profile CSV
/// (`stage,instruction,frequency,time,energy`, one row per instruction and clock) into `buf`
/// ("ask the length, then fill"; `*len` excludes the NUL).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `BUFFER_TOO_SMALL` or `PANIC`.
///
/// # Safety
/// `profiler` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_profiler_to_csv(
    profiler: *const ergon_gpu_profiler,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(profiler, |h| {
        copy_text(&h.profiler.to_csv()?, buf, cap, len)
    })
}

/// Restores every setting the profiler still holds and releases the handle. NULL is a no-op.
/// Restore failures cannot be reported here (the settings stay in the GPU state file for
/// `ergon_gpu_state_restore`).
///
/// # Safety
/// `profiler` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_profiler_free(profiler: *mut ergon_gpu_profiler) {
    boundary!(free, profiler)
}

/// Copies the message of the last failed call on this profiler (empty if none) into `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `profiler` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_profiler_last_error(
    profiler: *const ergon_gpu_profiler,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, profiler, buf, cap, len)
}

/// Merges `count` profile CSVs (typically one per pipeline stage; text `i` is `texts[i]`,
/// `lens[i]` bytes of UTF-8) into one pipeline profile and copies it into `buf` ("ask the
/// length, then fill"; `*len` excludes the NUL): the header once, then every text's rows in
/// order.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE` (a text that is not UTF-8 or not a profile
/// CSV: the message names the text and line), `INVALID_PROBLEM` (a stage, instruction and
/// frequency listed twice, or no text: the message names them), `BUFFER_TOO_SMALL` or `PANIC`.
/// Messages: `ergon_last_error`.
///
/// # Safety
/// `texts` and `lens` must be NULL or readable for `count` elements, each `texts[i]` readable
/// for `lens[i]` bytes; `buf` NULL or writable for `cap` bytes; `len` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_perseus_profile_merge_csv(
    texts: *const *const c_char,
    lens: *const usize,
    count: usize,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(|| {
        // SAFETY: the caller's contract.
        let (pointers, lengths) =
            unsafe { (slice(texts, count, "texts")?, slice(lens, count, "lens")?) };
        let mut parts = Vec::with_capacity(count);
        for (i, (&p, &n)) in pointers.iter().zip(lengths).enumerate() {
            // SAFETY: the caller's contract for each text.
            parts.push(unsafe { text(p, n, &format!("texts[{i}]"))? });
        }
        copy_text(&merge_profile_csv(&parts)?, buf, cap, len)
    })
}
