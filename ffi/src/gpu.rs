//! GPU control through the C ABI (`ergon-hwctl`): restoring settings left behind, listing GPUs,
//! executing one stage's frequency plan, and measuring energy windows.
//!
//! NVML is loaded at run time at the first call that needs it (`$ERGON_NVML_LIBRARY`, else
//! `libnvidia-ml.so.1`, then `libnvidia-ml.so`); when it cannot be loaded the call fails with
//! `ERGON_STATUS_NVML_UNAVAILABLE` and the message lists every path tried. Other NVML failures
//! (no permission, not supported, a lost GPU...) are `ERGON_STATUS_GPU`.
//!
//! Devices are named by a NUL-terminated UTF-8 string: an NVML index (`"0"`), a `GPU-…` UUID
//! (or a unique prefix of one) or a `MIG-…` UUID.

use std::ffi::{CStr, c_char};

use ergon_hwctl::{
    EnergyError, EnergyMonitor, Error as HwError, ExecutorError, ExecutorOptions, GuardOptions,
    Nvml, PlanExecutor, StagePlan, StateError, StateFile,
};

use crate::ergon_perseus_plan;
use crate::ergon_status;
use crate::handle::{
    Failure, Header, Result, free, guard, handle_mut, into_raw, last_error, opaque, out_ref,
    with_handle_mut,
};
use crate::perseus::{ERGON_PERSEUS_KIND_BACKWARD, ERGON_PERSEUS_KIND_FORWARD};

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

fn hw_failure(e: &HwError) -> Failure {
    let status = match e {
        HwError::LibraryNotFound { .. } | HwError::NotNvmlLibrary { .. } => {
            ergon_status::NvmlUnavailable
        }
        HwError::NoSuchDevice { .. } => ergon_status::InvalidArgument,
        _ => ergon_status::Gpu,
    };
    Failure::new(status, e.to_string())
}

fn state_failure(e: &StateError) -> Failure {
    match e {
        StateError::Nvml(n) => hw_failure(n),
        _ => Failure::new(ergon_status::Gpu, e.to_string()),
    }
}

fn executor_failure(e: &ExecutorError) -> Failure {
    let status = match e {
        ExecutorError::Plan(_) | ExecutorError::UnsupportedFrequency { .. } => {
            ergon_status::InvalidArgument
        }
        ExecutorError::NameMismatch { .. }
        | ExecutorError::PlanExhausted { .. }
        | ExecutorError::Incomplete { .. } => ergon_status::InvalidState,
        ExecutorError::Startup(n) => return hw_failure(n).with_message(e.to_string()),
        ExecutorError::StateFile(s) => return state_failure(s).with_message(e.to_string()),
        _ => ergon_status::Gpu,
    };
    Failure::new(status, e.to_string())
}

fn energy_failure(e: &EnergyError) -> Failure {
    let status = match e {
        EnergyError::DuplicateWindow { .. } | EnergyError::UnknownWindow { .. } => {
            ergon_status::InvalidState
        }
        EnergyError::MigDevice { .. } => ergon_status::InvalidArgument,
        EnergyError::Nvml(n) => return hw_failure(n),
        _ => ergon_status::Gpu,
    };
    Failure::new(status, e.to_string())
}

impl Failure {
    fn with_message(mut self, message: String) -> Self {
        self.message = message;
        self
    }
}

/// Borrows a NUL-terminated UTF-8 string.
///
/// # Safety
/// `ptr` must be NULL or a NUL-terminated string.
unsafe fn c_text<'a>(ptr: *const c_char, what: &str) -> Result<&'a str> {
    if ptr.is_null() {
        return Err(Failure::new(
            ergon_status::NullPointer,
            format!("`{what}` is NULL"),
        ));
    }
    // SAFETY: non-null and NUL-terminated (caller's contract).
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes)
        .map_err(|e| Failure::new(ergon_status::Parse, format!("`{what}` is not UTF-8: {e}")))
}

fn init() -> Result<Nvml> {
    Nvml::init().map_err(|e| hw_failure(&e))
}

fn open_device(spec: &str) -> Result<ergon_hwctl::Device> {
    init()?.device(spec).map_err(|e| hw_failure(&e))
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
    guard(
        "ergon_gpu_state_restore",
        |_| {},
        || {
            let out = out_ref(restored, "restored")?;
            let report = StateFile::default_location()
                .restore()
                .map_err(|e| state_failure(&e))?;
            if !report.is_complete() {
                let failures: Vec<String> =
                    report.failed.iter().map(|f| format!("{f:?}")).collect();
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
        },
    )
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
    guard(
        "ergon_gpu_device_count",
        |_| {},
        || {
            let out = out_ref(out, "out")?;
            *out = init()?.device_count().map_err(|e| hw_failure(&e))?;
            Ok(())
        },
    )
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
pub unsafe extern "C" fn ergon_gpu_device_get_info(index: u32, out: *mut ergon_gpu_device_info) -> ergon_status {
    guard(
        "ergon_gpu_device_get_info",
        |_| {},
        || {
            let out = out_ref(out, "out")?;
            let nvml = init()?;
            let count = nvml.device_count().map_err(|e| hw_failure(&e))?;
            if index >= count {
                return Err(Failure::new(
                    ergon_status::OutOfRange,
                    format!("GPU {index} does not exist ({count} GPUs)"),
                ));
            }
            let info = nvml
                .device_by_index(index)
                .and_then(|d| d.info())
                .map_err(|e| hw_failure(&e))?;
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
        },
    )
}

/// Starts executing stage `stage` of `plan` on `device` (see the module notes for how devices
/// are named): checks the planned clocks against the GPU's, sets the power limit to its default,
/// locks the memory clock and the graphics clock at their maxima and starts a worker thread that
/// applies each instruction's clock. Every original setting is also written to the GPU state
/// file (`$ERGON_STATE_DIR`, else the default), so that `ergon_gpu_state_restore` can put it back
/// after a crash; no signal handlers are installed. Needs CAP_SYS_ADMIN.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE` (`device` not UTF-8), `INVALID_ARGUMENT`
/// (no such device, or a planned clock the GPU does not support), `OUT_OF_RANGE` (no such
/// stage), `NVML_UNAVAILABLE`, `GPU` or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `device` must be NULL or NUL-terminated; `plan` NULL or a live handle; `out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_executor_new(
    device: *const c_char,
    plan: *const ergon_perseus_plan,
    stage: usize,
    out: *mut *mut ergon_gpu_executor,
) -> ergon_status {
    guard(
        "ergon_gpu_executor_new",
        |_| {},
        || {
            let out = out_ref(out, "out")?;
            // SAFETY: the caller's contract.
            let spec = unsafe { c_text(device, "device")? };
            let stage_plan = stage_plan(plan, stage)?;
            let gpu = open_device(spec)?;
            let options = ExecutorOptions {
                guard: Some(GuardOptions {
                    state_file: Some(StateFile::default_location()),
                    restore_on_signal: false,
                }),
                ..ExecutorOptions::default()
            };
            let executor = PlanExecutor::with_options(&gpu, stage_plan, options)
                .map_err(|e| executor_failure(&e))?;
            *out = into_raw(ergon_gpu_executor {
                header: Header::new::<ergon_gpu_executor>(),
                executor: Some(executor),
            });
            Ok(())
        },
    )
}

/// Stage `stage` of a plan handle, read through the public `ergon_perseus_plan_stage` (the plan's
/// fields belong to the frontier module).
fn stage_plan(plan: *const ergon_perseus_plan, stage: usize) -> Result<StagePlan> {
    let forward_status = |status: ergon_status| -> Result<()> {
        if status == ergon_status::Ok {
            return Ok(());
        }
        let mut message = String::new();
        // The failed call recorded its message per thread; forward it.
        let mut len = 0usize;
        // SAFETY: a NULL buffer with cap 0 only asks the length.
        if unsafe { crate::ergon_last_error(std::ptr::null_mut(), 0, &mut len) } == ergon_status::Ok
        {
            let mut buf = vec![0u8; len + 1];
            // SAFETY: `buf` holds `len + 1` bytes.
            if unsafe { crate::ergon_last_error(buf.as_mut_ptr().cast(), buf.len(), &mut len) }
                == ergon_status::Ok
            {
                buf.truncate(len);
                message = String::from_utf8_lossy(&buf).into_owned();
            }
        }
        Err(Failure::new(status, message))
    };
    let mut len = 0usize;
    // SAFETY: NULL arrays with cap 0 ask the length; `plan` is the caller's (checked there).
    forward_status(unsafe {
        crate::ergon_perseus_plan_stage(
            plan,
            stage,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            &mut len,
        )
    })?;
    let mut kinds = vec![0u32; len];
    let mut freqs = vec![0u32; len];
    // SAFETY: both arrays hold `len` elements.
    forward_status(unsafe {
        crate::ergon_perseus_plan_stage(
            plan,
            stage,
            kinds.as_mut_ptr(),
            freqs.as_mut_ptr(),
            len,
            &mut len,
        )
    })?;
    let instructions = kinds.iter().zip(&freqs).map(|(&k, &f)| {
        (
            if k == ERGON_PERSEUS_KIND_FORWARD {
                "forward"
            } else {
                "backward"
            },
            f,
        )
    });
    StagePlan::new(instructions)
        .map_err(|e| Failure::new(ergon_status::InvalidArgument, e.to_string()))
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
    with_handle_mut("ergon_gpu_executor_instruction_begin", executor, |h| {
        let name = match kind {
            ERGON_PERSEUS_KIND_FORWARD => "forward",
            ERGON_PERSEUS_KIND_BACKWARD => "backward",
            _ => {
                return Err(Failure::new(
                    ergon_status::InvalidArgument,
                    format!("unknown instruction kind {kind} (expected ERGON_PERSEUS_KIND_*)"),
                ));
            }
        };
        running(h)?
            .instruction_begin(name)
            .map_err(|e| executor_failure(&e))
    })
}

/// After an iteration: rewinds the plan, then reports an iteration that did not run every
/// planned instruction, else clock changes the worker failed to make since the last report.
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
    with_handle_mut("ergon_gpu_executor_step_end", executor, |h| {
        running(h)?.step_end().map_err(|e| executor_failure(&e))
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
    with_handle_mut("ergon_gpu_executor_wait_applied", executor, |h| {
        running(h)?.wait_applied().map_err(|e| executor_failure(&e))
    })
}

/// Stops the worker, restores every setting the executor changed, and releases the handle.
/// NULL is a no-op. Restore failures cannot be reported here (the settings stay in the GPU state
/// file for `ergon_gpu_state_restore`).
///
/// # Safety
/// `executor` must be NULL or a handle from this library that is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_executor_free(executor: *mut ergon_gpu_executor) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the caller's contract.
        if let Ok(h) = unsafe { handle_mut(executor) }
            && let Some(e) = h.executor.take()
        {
            let _ = e.shutdown();
        }
        // SAFETY: the caller's contract.
        unsafe { free(executor) }
    }));
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
    last_error(executor, buf, cap, len)
}

/// Starts measuring the energy of `device` (the GPU's energy counter where it has one, else
/// power polling on a thread).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE`, `INVALID_ARGUMENT` (no such device, or a
/// MIG device), `NVML_UNAVAILABLE`, `GPU` or `PANIC`. Messages: `ergon_last_error`.
///
/// # Safety
/// `device` must be NULL or NUL-terminated; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_energy_monitor_new(
    device: *const c_char,
    out: *mut *mut ergon_gpu_energy_monitor,
) -> ergon_status {
    guard(
        "ergon_gpu_energy_monitor_new",
        |_| {},
        || {
            let out = out_ref(out, "out")?;
            // SAFETY: the caller's contract.
            let spec = unsafe { c_text(device, "device")? };
            let gpu = open_device(spec)?;
            let monitor = EnergyMonitor::new(&gpu).map_err(|e| energy_failure(&e))?;
            *out = into_raw(ergon_gpu_energy_monitor {
                header: Header::new::<ergon_gpu_energy_monitor>(),
                monitor,
            });
            Ok(())
        },
    )
}

/// Opens the window `name` (NUL-terminated UTF-8); windows may overlap.
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE`, `INVALID_STATE` (a window of that name is
/// open), `GPU` or `PANIC`. Messages: `ergon_gpu_energy_monitor_last_error`.
///
/// # Safety
/// `monitor` must be NULL or a live handle not used concurrently; `name` NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_energy_monitor_begin(
    monitor: *mut ergon_gpu_energy_monitor,
    name: *const c_char,
) -> ergon_status {
    with_handle_mut("ergon_gpu_energy_monitor_begin", monitor, |h| {
        // SAFETY: the caller's contract.
        let name = unsafe { c_text(name, "name")? };
        h.monitor.begin_window(name).map_err(|e| energy_failure(&e))
    })
}

/// Closes the window `name` and writes its wall time (seconds) and GPU energy (joules).
///
/// Returns `ERGON_STATUS_OK`, `NULL_POINTER`, `PARSE`, `INVALID_STATE` (no window of that name
/// is open), `GPU` or `PANIC`. Messages: `ergon_gpu_energy_monitor_last_error`.
///
/// # Safety
/// `monitor` must be NULL or a live handle not used concurrently; `name` NULL or
/// NUL-terminated; `time_s` and `energy_j` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ergon_gpu_energy_monitor_end(
    monitor: *mut ergon_gpu_energy_monitor,
    name: *const c_char,
    time_s: *mut f64,
    energy_j: *mut f64,
) -> ergon_status {
    with_handle_mut("ergon_gpu_energy_monitor_end", monitor, |h| {
        // Check every pointer before closing the window, so that nothing changes on failure.
        let time_s = out_ref(time_s, "time_s")?;
        let energy_j = out_ref(energy_j, "energy_j")?;
        // SAFETY: the caller's contract.
        let name = unsafe { c_text(name, "name")? };
        let m = h.monitor.end_window(name).map_err(|e| energy_failure(&e))?;
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
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the caller's contract.
        unsafe { free(monitor) }
    }));
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
    last_error(monitor, buf, cap, len)
}
