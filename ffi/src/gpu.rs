//! GPU control through the C ABI (`ergon-hwctl`): restoring settings left behind, listing GPUs,
//! executing one stage's frequency plan, and measuring energy windows.
//!
//! NVML is loaded at run time at the first call that needs it (`$ERGON_NVML_LIBRARY`, else
//! `libnvidia-ml.so.1`, then `libnvidia-ml.so`); when it cannot be loaded the call fails with
//! `ERGON_STATUS_NVML_UNAVAILABLE` and the message lists every path tried. Other NVML failures
//! (no permission, not supported, a lost GPU...) are `ERGON_STATUS_GPU`.
//!
//! Devices are named by a UTF-8 string of `device_len` bytes (no NUL needed): an NVML index
//! (`"0"`), a `GPU-…` UUID (or a unique prefix of one) or a `MIG-…` UUID.

use std::ffi::c_char;

use ergon_hwctl::{
    EnergyMonitor, ExecutorOptions, GuardOptions, Nvml, PlanExecutor, StagePlan, StateFile,
};

use crate::boundary::boundary;
use crate::ergon_perseus_plan;
use crate::handle::{Header, handle, into_raw, opaque, out_ref, text};
use crate::names::Codes;
use crate::status::{Failure, Result, ergon_status, invalid_argument};

/// Size of the text fields of [`ergon_gpu_device_info`], NUL included (NVML's own buffer size for
/// UUIDs and names).
pub const ERGON_GPU_TEXT_CAP: usize = 96;

/// What [`ergon_gpu_device_get_info`] reports about one GPU (or MIG device).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ergon_gpu_device_info {
    /// NVML index (the parent GPU's for a MIG device).
    pub index: u32,
    /// NVML architecture code (`nvmlDeviceArchitecture_t`: 7 Ampere, 8 Ada, 9 Hopper, ...).
    pub architecture: u32,
    /// True for a MIG device.
    pub is_mig: bool,
    /// `GPU-…` or `MIG-…`, NUL-terminated (truncated at a character boundary if longer than 95
    /// bytes, which NVML never reports).
    pub uuid: [c_char; 96],
    /// Product name, e.g. "NVIDIA A100-SXM4-40GB", NUL-terminated (truncated like `uuid`).
    pub name: [c_char; 96],
}

/// Opaque handle of a plan executor (see the `ergon_gpu_executor_*` functions). Not to be used
/// from two threads at once.
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_gpu_executor {
    header: Header,
    executor: Option<PlanExecutor>,
}

/// Opaque handle of an energy monitor (see the `ergon_gpu_energy_monitor_*` functions). Not to be
/// used from two threads at once.
#[cfg_attr(all(), repr(C))] // the header (and its tag) first (see ergon_perseus_frontier)
pub struct ergon_gpu_energy_monitor {
    header: Header,
    monitor: EnergyMonitor,
}

opaque!(ergon_gpu_executor, 0x4552_474f_4e50_4558, "plan executor"); // "ERGONPEX"

opaque!(
    ergon_gpu_energy_monitor,
    0x4552_474f_4e45_4e4d,
    "energy monitor"
); // "ERGONENM"

fn open_device(spec: &str) -> Result<ergon_hwctl::Device> {
    Ok(Nvml::init()?.device(spec)?)
}

fn copy_fixed(s: &str, out: &mut [c_char; 96]) {
    let mut end = s.len().min(out.len() - 1);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    *out = [0; 96];
    for (o, &b) in out.iter_mut().zip(&s.as_bytes()[..end]) {
        *o = b as c_char;
    }
}

/// Puts back every GPU setting recorded in the GPU state file (`$ERGON_STATE_DIR/…`, else the
/// default location): what `ergon gpu restore` does after a process that changed settings was
/// killed. Writes the number of settings restored to `*restored`. With no state file there is
/// nothing to do and NVML is not loaded.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `NVML_UNAVAILABLE` (the message names every path
/// tried), `GPU` (a setting could not be put back, or the state file is unreadable; what could
/// not be restored stays in the file) or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `restored` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_state_restore(restored: *mut usize) -> ergon_status {
    boundary!(|| {
        let out = out_ref(restored, "restored")?;
        let report = StateFile::default_location().restore()?;
        if !report.is_complete() {
            let failures: Vec<String> = report.failed.iter().map(|f| format!("{f:?}")).collect();
            return Err(Failure::new(
                ergon_status::Gpu,
                format!(
                    "{} settings restored, {} could not be: {}",
                    report.restored.len(),
                    report.failed.len(),
                    failures.join("; ")
                ),
            ));
        }
        *out = report.restored.len();
        Ok(())
    })
}

/// Writes the number of GPUs NVML sees to `*out` (MIG devices not counted).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `NVML_UNAVAILABLE`, `GPU` or `PANIC`. Messages:
/// `ergon_last_error`.
///
/// # Safety
/// `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_device_count(out: *mut u32) -> ergon_status {
    boundary!(|| {
        let out = out_ref(out, "out")?;
        *out = Nvml::init()?.device_count()?;
        Ok(())
    })
}

/// Writes what NVML reports about GPU `index` (0 ≤ index < `ergon_gpu_device_count`) to `*out`. The
/// UUID and name are copied into the fixed `ERGON_GPU_TEXT_CAP`-byte arrays of the struct,
/// NUL-terminated, so nothing needs freeing.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `OUT_OF_RANGE`, `NVML_UNAVAILABLE`, `GPU` or
/// `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `out` must be NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_device_get_info(
    index: u32,
    out: *mut ergon_gpu_device_info,
) -> ergon_status {
    boundary!(|| {
        let out = out_ref(out, "out")?;
        let nvml = Nvml::init()?;
        let count = nvml.device_count()?;
        if index >= count {
            return Err(Failure::new(
                ergon_status::OutOfRange,
                format!("GPU {index} does not exist ({count} GPUs)"),
            ));
        }
        let info = nvml.device_by_index(index).and_then(|d| d.info())?;
        let mut result = ergon_gpu_device_info {
            index: info.index,
            architecture: info.architecture.raw(),
            is_mig: info.mig_parent.is_some(),
            uuid: [0; 96],
            name: [0; 96],
        };
        copy_fixed(&info.uuid, &mut result.uuid);
        copy_fixed(&info.name, &mut result.name);
        *out = result;
        Ok(())
    })
}

/// Starts executing stage `stage` of `plan` on `device` (see the module notes for how devices
/// are named): checks the planned clocks against the GPU's, sets the power limit to its default,
/// locks the memory clock and the graphics clock at their maxima and starts a worker thread that
/// applies each instruction's clock. Every original setting is also written to the GPU state
/// file (`$ERGON_STATE_DIR`, else the default), so that `ergon_gpu_state_restore` can put it back
/// after a crash, and SIGINT and SIGTERM restore every setting before the process ends (a
/// watcher thread of the library does it, so a launcher tearing the job down leaves the GPU as it
/// was even when the host language's exit hooks do not run; handlers installed before are
/// chained). Between iterations the GPU runs at the stage plan's highest clock (the optimizer
/// step, the gradient all-reduce). Needs CAP_SYS_ADMIN.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE` (`device` not UTF-8), `INVALID_ARGUMENT`
/// (no such device, or a planned clock the GPU does not support), `OUT_OF_RANGE` (no such
/// stage), `NVML_UNAVAILABLE`, `GPU` or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `device` must be NULL or readable for `device_len` bytes; `plan` NULL or a live handle;
/// `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_executor_new(
    device: *const c_char,
    device_len: usize,
    plan: *const ergon_perseus_plan,
    stage: usize,
    out: *mut *mut ergon_gpu_executor,
) -> ergon_status {
    boundary!(|| {
        let out = out_ref(out, "out")?;
        // SAFETY: the caller's contract.
        let (spec, plan) = unsafe { (text(device, device_len, "device")?, handle(plan)?) };
        let stage_plan = stage_plan(plan, stage)?;
        let gpu = open_device(spec)?;
        let options = ExecutorOptions {
            guard: Some(GuardOptions {
                state_file: Some(StateFile::default_location()),
                // The signal path restores in hwctl's watcher thread, so a launcher's SIGTERM
                // (which Python's atexit never sees) leaves the GPU as it was.
                restore_on_signal: true,
            }),
            ..ExecutorOptions::default()
        };
        let executor = PlanExecutor::with_options(&gpu, stage_plan, options)?;
        *out = into_raw(ergon_gpu_executor {
            header: Header::new::<ergon_gpu_executor>(),
            executor: Some(executor),
        });
        Ok(())
    })
}

/// Stage `stage` of a plan, as the executor takes it.
fn stage_plan(plan: &ergon_perseus_plan, stage: usize) -> Result<StagePlan> {
    let instructions = plan
        .stage(stage)?
        .instructions
        .iter()
        .map(|&(k, f)| (k.name(), f));
    StagePlan::new(instructions).map_err(|e| invalid_argument(e.to_string()))
}

fn running(h: &mut ergon_gpu_executor) -> Result<&mut PlanExecutor> {
    h.executor.as_mut().ok_or_else(|| {
        Failure::new(
            ergon_status::InvalidState,
            "the plan executor has been shut down",
        )
    })
}

/// Before a computation: checks that `kind` (`ERGON_PERSEUS_KIND_*`) is the plan's next instruction and
/// hands its clock to the worker. Never calls NVML, never waits and never allocates on success.
/// On a mismatch nothing advances.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (unknown kind),
/// `INVALID_STATE` (not the plan's next instruction, or past its end) or `PANIC`. Messages:
/// `ergon_gpu_executor_last_error`.
///
/// # Safety
/// `executor` must be NULL or a live handle not used concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_executor_instruction_begin(
    executor: *mut ergon_gpu_executor,
    kind: u32,
) -> ergon_status {
    boundary!(executor, |h| {
        let kinds = Codes {
            what: "instruction kind",
            ..crate::perseus::KINDS
        };
        let name = kinds.value(kind)?.name();
        Ok(running(h)?.instruction_begin(name)?)
    })
}

/// After an iteration: rewinds the plan, installs a plan set by `ergon_gpu_executor_set_plan`
/// during the iteration, requests the plan's highest clock for the work between iterations,
/// then reports an iteration that did not run every planned instruction, else clock changes the
/// worker failed to make since the last report.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_STATE` (incomplete iteration), `GPU`
/// (the worker's errors) or `PANIC`. Messages: `ergon_gpu_executor_last_error`.
///
/// # Safety
/// `executor` must be NULL or a live handle not used concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_executor_step_end(
    executor: *mut ergon_gpu_executor,
) -> ergon_status {
    boundary!(executor, |h| { Ok(running(h)?.step_end()?) })
}

/// Replaces the executed plan by stage `stage` of `plan` (a re-plan after a straggler report) at
/// an iteration boundary: at once when called between iterations, else at the next
/// `ergon_gpu_executor_step_end`, so that no iteration runs part of two plans. The stage's clocks
/// are checked against the GPU's first; on an error the current plan stays. The plan is copied:
/// it may be freed after the call.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `INVALID_ARGUMENT` (a planned clock the GPU does
/// not support), `OUT_OF_RANGE` (no such stage), `INVALID_STATE` (shut down) or `PANIC`.
/// Messages: `ergon_gpu_executor_last_error`.
///
/// # Safety
/// `executor` must be NULL or a live handle not used concurrently; `plan` NULL or a live handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_executor_set_plan(
    executor: *mut ergon_gpu_executor,
    plan: *const ergon_perseus_plan,
    stage: usize,
) -> ergon_status {
    boundary!(executor, |h| {
        // SAFETY: the caller's contract.
        let plan = unsafe { handle(plan)? };
        let stage_plan = stage_plan(plan, stage)?;
        Ok(running(h)?.set_plan(stage_plan)?)
    })
}

/// Blocks until the worker has handled the latest clock request (applied it, or recorded its
/// failure for `ergon_gpu_executor_step_end`).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `GPU` (the worker is gone) or `PANIC`.
///
/// # Safety
/// `executor` must be NULL or a live handle not used concurrently.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_executor_wait_applied(
    executor: *mut ergon_gpu_executor,
) -> ergon_status {
    boundary!(executor, |h| { Ok(running(h)?.wait_applied()?) })
}

/// Stops the worker, restores every setting the executor changed, and releases the handle.
/// NULL is a no-op. Restore failures cannot be reported here (the settings stay in the GPU state
/// file for `ergon_gpu_state_restore`).
///
/// # Safety
/// `executor` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_executor_free(executor: *mut ergon_gpu_executor) {
    boundary!(free, executor, |h| {
        if let Some(e) = h.executor.take() {
            // Nothing to report it to: what could not be restored stays in the state file.
            let _ = e.shutdown();
        }
    })
}

/// Copies the message of the last failed call on this executor (empty if none) into `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `executor` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_executor_last_error(
    executor: *const ergon_gpu_executor,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, executor, buf, cap, len)
}

/// Starts measuring the energy of `device` (the GPU's energy counter where it has one, else
/// power polling on a thread).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE`, `INVALID_ARGUMENT` (no such device, or a
/// MIG device), `NVML_UNAVAILABLE`, `GPU` or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `device` must be NULL or readable for `device_len` bytes; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_energy_monitor_new(
    device: *const c_char,
    device_len: usize,
    out: *mut *mut ergon_gpu_energy_monitor,
) -> ergon_status {
    boundary!(|| {
        let out = out_ref(out, "out")?;
        // SAFETY: the caller's contract.
        let spec = unsafe { text(device, device_len, "device")? };
        let monitor = EnergyMonitor::new(&open_device(spec)?)?;
        *out = into_raw(ergon_gpu_energy_monitor {
            header: Header::new::<ergon_gpu_energy_monitor>(),
            monitor,
        });
        Ok(())
    })
}

/// Opens the window `name` (`name_len` bytes of UTF-8, no NUL needed); windows may overlap.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE`, `INVALID_STATE` (a window of that name is
/// open), `GPU` or `PANIC`. Messages: `ergon_gpu_energy_monitor_last_error`.
///
/// # Safety
/// `monitor` must be NULL or a live handle not used concurrently; `name` NULL or readable for
/// `name_len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_energy_monitor_begin(
    monitor: *mut ergon_gpu_energy_monitor,
    name: *const c_char,
    name_len: usize,
) -> ergon_status {
    boundary!(monitor, |h| {
        // SAFETY: the caller's contract.
        let name = unsafe { text(name, name_len, "name")? };
        Ok(h.monitor.begin_window(name)?)
    })
}

/// Closes the window `name` (`name_len` bytes of UTF-8) and writes its wall time (seconds) and GPU energy (joules).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE`, `INVALID_STATE` (no window of that name
/// is open), `GPU` or `PANIC`. Messages: `ergon_gpu_energy_monitor_last_error`.
///
/// # Safety
/// `monitor` must be NULL or a live handle not used concurrently; `name` NULL or readable for
/// `name_len` bytes; `time_s` and `energy_j` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_energy_monitor_end(
    monitor: *mut ergon_gpu_energy_monitor,
    name: *const c_char,
    name_len: usize,
    time_s: *mut f64,
    energy_j: *mut f64,
) -> ergon_status {
    boundary!(monitor, |h| {
        // Check every pointer before closing the window, so that nothing changes on failure.
        let time_s = out_ref(time_s, "time_s")?;
        let energy_j = out_ref(energy_j, "energy_j")?;
        // SAFETY: the caller's contract.
        let name = unsafe { text(name, name_len, "name")? };
        let m = h.monitor.end_window(name)?;
        *time_s = m.time_s;
        *energy_j = m.energy_j;
        Ok(())
    })
}

/// Releases an energy monitor (open windows are dropped). NULL is a no-op.
///
/// # Safety
/// `monitor` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_energy_monitor_free(monitor: *mut ergon_gpu_energy_monitor) {
    boundary!(free, monitor)
}

/// Copies the message of the last failed call on this monitor (empty if none) into `buf`.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER` or `BUFFER_TOO_SMALL`.
///
/// # Safety
/// `monitor` must be NULL or a live handle; `buf` NULL or writable for `cap` bytes; `len` NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_energy_monitor_last_error(
    monitor: *const ergon_gpu_energy_monitor,
    buf: *mut c_char,
    cap: usize,
    len: *mut usize,
) -> ergon_status {
    boundary!(last_error, monitor, buf, cap, len)
}
