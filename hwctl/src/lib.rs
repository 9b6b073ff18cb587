//! Ergon hardware control: NVIDIA GPU clocks, power limits and energy through NVML.
//!
//! NVML (`libnvidia-ml`) is loaded at run time through the generated bindings of
//! `nvml-wrapper-sys`; nothing links it at build time, so every binary starts on a machine
//! without a GPU and reports [`Error::LibraryNotFound`] there. The library is looked for at
//! `$ERGON_NVML_LIBRARY` if set, else as `libnvidia-ml.so.1`, then `libnvidia-ml.so`
//! ([`library_candidates`]). Every NVML function other than `nvmlInit_v2` and `nvmlShutdown` is
//! optional: one the driver does not export fails that call with [`Error::FunctionNotFound`]
//! ("not supported by this driver"), never a panic. Init, device count and handle lookup use the
//! explicit `_v2` entry points.
//!
//! Units follow NVML: clocks in MHz, power in mW, energy in mJ. Reads work unprivileged; the
//! commands (locked clocks, power limit, persistence mode) need CAP_SYS_ADMIN, and
//! [`Error::NoPermission`] says how to grant it. MIG devices are listed as such, and commands on
//! them are refused ([`Error::MigDevice`]).
//!
//! [`StateGuard`] applies the same commands while recording each setting before its first change,
//! and puts every one back on drop (also during a panic); [`StateGuard::records`] and
//! [`restore_record`] are the pieces a state file for a later `restore` needs. [`Nvml`] and
//! [`Device`] are `Send + Sync` (NVML is thread-safe); a `Device` keeps its session alive.
//!
//! [`Profiler`] is Perseus's in-trainer profiling mode: over consecutive iterations it locks
//! each graphics clock in turn and measures every computation's time and energy, giving the zeus
//! profile CSV the frontier solver reads (see [`profiler`]).
//!
//! [`PowerLimitOptimizer`] is Zeus's just-in-time power-limit optimizer on real GPUs (see
//! [`zeus`]).
//!
//! `CUDA_VISIBLE_DEVICES` (indices, `GPU-` UUIDs or unique prefixes, `MIG-` UUIDs) is mapped to
//! NVML devices by [`Nvml::cuda_devices`].
//!
//! ```no_run
//! use ergon_hwctl::Nvml;
//!
//! let nvml = Nvml::init()?;
//! for info in nvml.list()? {
//!     println!("{} {} {} {}", info.index, info.uuid, info.name, info.architecture);
//! }
//! let gpu = nvml.device("0")?;
//! let constraints = gpu.power_limit_constraints()?;
//! gpu.lock_gpu_clocks(1410, 1410)?; // needs CAP_SYS_ADMIN
//! gpu.reset_gpu_clocks()?;
//! # Ok::<(), ergon_hwctl::Error>(())
//! ```

mod cuda;
mod device;
pub mod energy;
mod error;
pub mod executor;
mod guard;
mod nvml;
pub mod profiler;
mod signals;
mod statefile;
pub mod zeus;

pub use cuda::{
    CUDA_DEVICE_ORDER, CUDA_VISIBLE_DEVICES, CudaDevices, CudaEntry, IgnoredEntry, parse_cuda_entry,
};
pub use device::{
    Architecture, ClockEventReasons, ClockType, Device, DeviceInfo, MigParent,
    PowerLimitConstraints,
};
pub use energy::{EnergyError, EnergyMethod, EnergyMonitor, EnergyOptions, Measurement, ZeroDelta};
pub use error::{Call, Error, LibraryAttempt, Result, ReturnCode};
pub use executor::{
    ExecutorError, ExecutorOptions, PlanError, PlanExecutor, PlannedInstruction, StagePlan,
};
pub use guard::{Record, RestoreFailure, Setting, StateGuard, restore_record};
pub use nvml::{DEFAULT_LIBRARIES, LIBRARY_ENV, Nvml, library_candidates};
pub use profiler::{
    ProfileEntry, Profiler, ProfilerError, ProfilerOptions, ProfilerProgress, ProfilerStatus,
    SyncFn,
};
pub use signals::{RESTORE_SIGNALS, install_signal_handlers};
pub use statefile::{
    GuardOptions, PersistentGuard, RestoreReport, STATE_DIR_ENV, STATE_FILE_NAME, STATE_SCHEMA,
    StateEntry, StateError, StateFile, default_state_dir, restore_from_state_file,
};
pub use zeus::{AggregateFn, PowerLimitOptimizer, WindowTotals, ZeusError, ZeusOptions};

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_and_errors_cross_threads() {
        assert_send_sync::<super::Nvml>();
        assert_send_sync::<super::Device>();
        assert_send_sync::<super::StateGuard>();
        assert_send_sync::<super::Error>();
    }
}
