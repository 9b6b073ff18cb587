//! [`PowerLimitOptimizer`]: Zeus's just-in-time power-limit optimizer driving real GPUs. The
//! decisions are `ergon_core::zeus::power_limit`'s pure state machine; this driver carries out
//! its actions on every GPU of the process through NVML, measures each profiling window with an
//! [`EnergyMonitor`] per GPU, and lets the ranks of a data-parallel job agree on each window's
//! energy and time through an [`AggregateFn`] before the optimum is chosen, so every rank applies
//! the same limit.
//!
//! # What it changes, and how it is put back
//!
//! At startup it checks that every GPU reports the same power-limit constraints (the reference
//! requires homogeneous GPUs), turns persistence mode on where it is off (as the reference does:
//! without it the driver may unload between processes and drop the limit; `NOT_SUPPORTED` is
//! ignored) and sets the maximum limit (or, with a saved profile, the optimum at once). Every
//! change goes through a guard: a plain [`StateGuard`](crate::StateGuard), or with
//! [`ZeusOptions::guard`] a [`PersistentGuard`](crate::PersistentGuard) that writes the GPU state
//! file first (for `ergon gpu restore` after a SIGKILL) and restores on SIGINT/SIGTERM. The
//! originals (persistence mode, the limit the GPU had — not the maximum the reference resets to)
//! come back on drop, on [`PowerLimitOptimizer::stop`], and after any failed NVML call or
//! measurement (the optimizer then refuses further calls with [`ZeusError::Stopped`]).
//!
//! # Calls
//!
//! [`PowerLimitOptimizer::on_step_begin`] at the beginning of every training step,
//! [`PowerLimitOptimizer::on_epoch_end`] at the end of every epoch. A window is opened and
//! closed after the sync callback ([`PowerLimitOptimizer::set_sync`], e.g.
//! `torch.cuda.synchronize`), so it holds whole steps. When the last candidate was measured the
//! optimum is set and, with [`ZeusOptions::profile_path`], the profile is written there
//! (`zeus-power-profile/v1`, atomically); a later job that finds the file skips profiling.
//!
//! ```no_run
//! use ergon_hwctl::{Nvml, zeus::{PowerLimitOptimizer, ZeusOptions}};
//!
//! let nvml = Nvml::init()?;
//! let gpus = [nvml.device("0")?];
//! let mut plo = PowerLimitOptimizer::new(&gpus, ZeusOptions::default())?; // CAP_SYS_ADMIN
//! for _epoch in 0..3 {
//!     for _step in 0..100 {
//!         plo.on_step_begin()?;
//!         // ... one training step ...
//!     }
//!     plo.on_epoch_end()?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use ergon_core::zeus::power_limit::formats::{parse_profile, write_profile};
use ergon_core::zeus::{
    Action, PowerLimitError, PowerLimitMeasurement, PowerLimitOptimizer as Core, PowerLimitOptions,
    PowerLimitState, Selector,
};

use crate::device::Device;
use crate::energy::{EnergyError, EnergyMonitor, EnergyOptions};
use crate::error::Error;
use crate::executor::Guard;
use crate::guard::{Command, RestoreFailure, report_restore_failures};
use crate::profiler::SyncFn;
use crate::statefile::{GuardOptions, StateError};

/// One window's measurement, energy and time, as [`AggregateFn`] receives and returns it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowTotals {
    /// Energy, J (this process: the sum over its GPUs).
    pub energy_j: f64,
    /// Time, s (this process: the slowest of its GPUs' windows).
    pub time_s: f64,
}

/// Combines this process's [`WindowTotals`] with the other ranks' (sum of energy, max of time,
/// e.g. two `all_reduce`s); every rank must call it for the same window. An error stops the
/// optimizer (settings restored).
pub type AggregateFn = Box<dyn FnMut(WindowTotals) -> Result<WindowTotals, String> + Send>;

/// How a [`PowerLimitOptimizer`] runs.
#[derive(Clone, Debug, Default)]
pub struct ZeusOptions {
    /// Steps and spacing of the candidates (the reference's defaults).
    pub schedule: PowerLimitOptions,
    /// How the optimum is chosen (default: Zeus cost, η = 0.5, one GPU; a data-parallel job
    /// passes the GPU count of all ranks).
    pub selector: Selector,
    /// Where the measured profile is read from (if the file exists: no profiling) and written
    /// to (when profiling ends).
    pub profile_path: Option<PathBuf>,
    /// `None` (default): a plain state guard. `Some`: a persistent guard (GPU state file,
    /// restore on SIGINT/SIGTERM).
    pub guard: Option<GuardOptions>,
    /// How energy is measured.
    pub energy: EnergyOptions,
}

/// Errors of the power-limit optimizer; each names what is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZeusError {
    /// No GPU was given.
    #[error("the power-limit optimizer needs at least one GPU")]
    NoDevices,
    /// The GPUs do not share one power-limit range.
    #[error(
        "the GPUs are not homogeneous: {first} allows {first_min_mw}..={first_max_mw} mW, \
         {device} allows {min_mw}..={max_mw} mW (one power-limit optimizer per GPU model)"
    )]
    NotHomogeneous {
        /// The first GPU.
        first: String,
        /// Its minimum, mW.
        first_min_mw: u32,
        /// Its maximum, mW.
        first_max_mw: u32,
        /// The GPU that differs.
        device: String,
        /// Its minimum, mW.
        min_mw: u32,
        /// Its maximum, mW.
        max_mw: u32,
    },
    /// The options or a measurement were refused by the optimizer.
    #[error(transparent)]
    Optimizer(#[from] PowerLimitError),
    /// The saved profile could not be read or used.
    #[error("power-limit profile {path}: {message}")]
    Profile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An NVML read of the startup failed (nothing changed yet).
    #[error("starting the power-limit optimizer failed: {0}")]
    Startup(#[source] Error),
    /// The energy monitor of a GPU could not be started.
    #[error("starting the power-limit optimizer's energy monitor failed: {0}")]
    Energy(#[source] EnergyError),
    /// Changing a setting failed (the optimizer stopped; everything restored).
    #[error("{what} failed (power-limit optimizer stopped, GPU settings restored): {source}")]
    Change {
        /// The change, in words.
        what: String,
        /// The failure.
        #[source]
        source: StateError,
    },
    /// Measuring a window failed (the optimizer stopped; everything restored).
    #[error(
        "measuring the window of {limit_mw} mW failed (power-limit optimizer stopped, GPU \
         settings restored): {source}"
    )]
    Measure {
        /// The limit profiled, mW.
        limit_mw: u32,
        /// The failure.
        #[source]
        source: EnergyError,
    },
    /// The aggregate callback failed (the optimizer stopped; everything restored).
    #[error(
        "aggregating the window of {limit_mw} mW across ranks failed (power-limit optimizer \
         stopped, GPU settings restored): {message}"
    )]
    Aggregate {
        /// The limit profiled, mW.
        limit_mw: u32,
        /// The callback's message.
        message: String,
    },
    /// Writing the profile failed (the optimum is applied all the same).
    #[error("writing the power-limit profile to {path} failed: {source}")]
    SaveProfile {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A call after the optimizer stopped.
    #[error("the power-limit optimizer was stopped: {call} cannot continue it")]
    Stopped {
        /// The call made.
        call: &'static str,
    },
    /// Some settings could not be restored.
    #[error("restoring the GPU settings failed: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Restore(Vec<RestoreFailure>),
}

/// The name of the energy window of one limit.
fn window_name(limit_mw: u32) -> String {
    format!("zeus_power_limit_{limit_mw}")
}

/// Writes `text` to `path` atomically: a temporary file beside it, synced, renamed over it.
pub(crate) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp.{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Drives the power-limit optimizer on real GPUs: see the [module documentation](self).
pub struct PowerLimitOptimizer {
    devices: Vec<Device>,
    monitors: Vec<EnergyMonitor>,
    core: Core,
    guard: Option<Guard>,
    sync: Option<SyncFn>,
    aggregate: Option<AggregateFn>,
    profile_path: Option<PathBuf>,
    /// The limit last set on every GPU, mW: a request for the same limit makes no call (the
    /// reference reads the limit back before each write instead).
    applied_mw: Option<u32>,
    stopped: bool,
}

impl fmt::Debug for PowerLimitOptimizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowerLimitOptimizer")
            .field(
                "devices",
                &self.devices.iter().map(Device::label).collect::<Vec<_>>(),
            )
            .field("state", &self.core.state())
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

/// Reads a saved profile: `None` when the file does not exist.
fn load_profile(path: &Path) -> Result<Option<Vec<PowerLimitMeasurement>>, ZeusError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(ZeusError::Profile {
                path: path.to_owned(),
                message: error.to_string(),
            });
        }
    };
    parse_profile(&text)
        .map(Some)
        .map_err(|error| ZeusError::Profile {
            path: path.to_owned(),
            message: error.to_string(),
        })
}

impl PowerLimitOptimizer {
    /// Starts optimizing the power limit of `devices` (all GPUs of this process): checks that
    /// they share one power-limit range, reads the saved profile if there is one, starts an
    /// energy monitor per GPU, turns persistence mode on, and sets the maximum limit (or the
    /// profile's optimum). Needs CAP_SYS_ADMIN. A failure restores whatever was changed.
    pub fn new(devices: &[Device], options: ZeusOptions) -> Result<Self, ZeusError> {
        let Some(first) = devices.first() else {
            return Err(ZeusError::NoDevices);
        };
        let range = first
            .power_limit_constraints()
            .map_err(ZeusError::Startup)?;
        for device in &devices[1..] {
            let other = device
                .power_limit_constraints()
                .map_err(ZeusError::Startup)?;
            if other != range {
                return Err(ZeusError::NotHomogeneous {
                    first: first.label().to_owned(),
                    first_min_mw: range.min_mw,
                    first_max_mw: range.max_mw,
                    device: device.label().to_owned(),
                    min_mw: other.min_mw,
                    max_mw: other.max_mw,
                });
            }
        }
        let saved = match &options.profile_path {
            Some(path) => load_profile(path)?,
            None => None,
        };
        let core = match saved {
            Some(profile) => Core::with_profile(
                range.min_mw,
                range.max_mw,
                options.schedule,
                options.selector,
                profile,
            )
            .map_err(|error| ZeusError::Profile {
                path: options.profile_path.clone().unwrap_or_default(),
                message: error.to_string(),
            })?,
            None => Core::new(
                range.min_mw,
                range.max_mw,
                options.schedule,
                options.selector,
            )?,
        };
        let monitors = devices
            .iter()
            .map(|device| EnergyMonitor::with_options(device, options.energy))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ZeusError::Energy)?;
        let guard = Guard::new(options.guard.clone()).map_err(|source| ZeusError::Change {
            what: "setting up the GPU state file".into(),
            source,
        })?;
        let mut optimizer = Self {
            devices: devices.to_vec(),
            monitors,
            core,
            guard: Some(guard),
            sync: None,
            aggregate: None,
            profile_path: options.profile_path,
            applied_mw: None,
            stopped: false,
        };
        optimizer.enable_persistence()?;
        let startup = optimizer.core.startup_actions();
        optimizer.apply(startup)?;
        Ok(optimizer)
    }

    /// Turns persistence mode on where it is off (ignored where the GPU does not support it).
    fn enable_persistence(&mut self) -> Result<(), ZeusError> {
        for i in 0..self.devices.len() {
            let device = self.devices[i].clone();
            let on = match device.persistence_mode() {
                Ok(on) => on,
                Err(error) if error.is_not_supported() => continue,
                Err(error) => {
                    return Err(self.fail(ZeusError::Change {
                        what: format!("reading the persistence mode of {}", device.label()),
                        source: StateError::Nvml(error),
                    }));
                }
            };
            if on {
                continue;
            }
            let result = match self.guard.as_mut() {
                Some(guard) => guard.change(&device, Command::SetPersistenceMode { enabled: true }),
                None => Ok(()),
            };
            match result {
                Err(StateError::Nvml(error)) if error.is_not_supported() => {}
                Err(source) => {
                    return Err(self.fail(ZeusError::Change {
                        what: format!("turning persistence mode on on {}", device.label()),
                        source,
                    }));
                }
                Ok(()) => {}
            }
        }
        Ok(())
    }

    /// Sets (or with `None` removes) the callback called before a window opens or closes.
    pub fn set_sync(&mut self, sync: Option<SyncFn>) {
        self.sync = sync;
    }

    /// Sets (or with `None` removes) the callback that combines a window's totals with the
    /// other ranks'. Without one, this process's totals are used as they are.
    pub fn set_aggregate(&mut self, aggregate: Option<AggregateFn>) {
        self.aggregate = aggregate;
    }

    /// The optimizer's state.
    pub fn state(&self) -> PowerLimitState {
        self.core.state()
    }

    /// The candidate limits, highest first, mW.
    pub fn candidates_mw(&self) -> &[u32] {
        self.core.candidates_mw()
    }

    /// The measurements so far (aggregated across ranks), in profiling order.
    pub fn profile(&self) -> &[PowerLimitMeasurement] {
        self.core.profile()
    }

    /// The chosen limit once profiling is done, mW.
    pub fn optimal_limit_mw(&self) -> Option<u32> {
        self.core.optimal_limit_mw()
    }

    /// True after a failure or [`Self::stop`].
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    fn check(&self, call: &'static str) -> Result<(), ZeusError> {
        if self.stopped {
            Err(ZeusError::Stopped { call })
        } else {
            Ok(())
        }
    }

    /// At the beginning of every training step.
    pub fn on_step_begin(&mut self) -> Result<(), ZeusError> {
        self.check("on_step_begin")?;
        let actions = self.core.on_step_begin()?;
        self.apply(actions)
    }

    /// At the end of every epoch: an interrupted limit is profiled again from scratch.
    pub fn on_epoch_end(&mut self) -> Result<(), ZeusError> {
        self.check("on_epoch_end")?;
        let actions = self.core.on_epoch_end()?;
        self.apply(actions)
    }

    fn sync(&mut self) {
        if let Some(sync) = self.sync.as_mut() {
            sync();
        }
    }

    /// Carries out `actions` in order; a closed window's measurement may add more.
    fn apply(&mut self, actions: Vec<Action>) -> Result<(), ZeusError> {
        let mut pending = std::collections::VecDeque::from(actions);
        while let Some(action) = pending.pop_front() {
            match action {
                Action::SetPowerLimit { limit_mw } => self.set_limit(limit_mw)?,
                Action::BeginWindow { limit_mw } => {
                    self.sync();
                    let name = window_name(limit_mw);
                    for i in 0..self.monitors.len() {
                        if let Err(source) = self.monitors[i].begin_window(&name) {
                            return Err(self.fail(ZeusError::Measure { limit_mw, source }));
                        }
                    }
                }
                Action::CancelWindow { limit_mw } => {
                    let name = window_name(limit_mw);
                    for monitor in &mut self.monitors {
                        // No NVML call; a window that is not open has nothing to cancel.
                        let _ = monitor.cancel_window(&name);
                    }
                }
                Action::EndWindow { limit_mw } => {
                    let totals = self.end_window(limit_mw)?;
                    let more = self.core.record_window(totals.energy_j, totals.time_s);
                    match more {
                        Ok(more) => pending.extend(more),
                        Err(error) => return Err(self.fail(error.into())),
                    }
                    if self.core.is_done() {
                        // Set the optimum first; the profile is written after it.
                        while let Some(action) = pending.pop_front() {
                            if let Action::SetPowerLimit { limit_mw } = action {
                                self.set_limit(limit_mw)?;
                            }
                        }
                        self.save_profile()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Closes the window of `limit_mw` on every GPU and aggregates it across ranks.
    fn end_window(&mut self, limit_mw: u32) -> Result<WindowTotals, ZeusError> {
        self.sync();
        let name = window_name(limit_mw);
        let mut local = WindowTotals {
            energy_j: 0.0,
            time_s: 0.0,
        };
        for i in 0..self.monitors.len() {
            match self.monitors[i].end_window(&name) {
                Ok(m) => {
                    local.energy_j += m.energy_j;
                    local.time_s = local.time_s.max(m.time_s);
                }
                Err(source) => return Err(self.fail(ZeusError::Measure { limit_mw, source })),
            }
        }
        match self.aggregate.as_mut().map(|aggregate| aggregate(local)) {
            None => Ok(local),
            Some(Ok(total)) => Ok(total),
            Some(Err(message)) => Err(self.fail(ZeusError::Aggregate { limit_mw, message })),
        }
    }

    /// Sets every GPU's limit (recorded by the guard).
    fn set_limit(&mut self, limit_mw: u32) -> Result<(), ZeusError> {
        if self.applied_mw == Some(limit_mw) {
            return Ok(());
        }
        for i in 0..self.devices.len() {
            let device = self.devices[i].clone();
            let result = match self.guard.as_mut() {
                Some(guard) => guard.change(&device, Command::SetPowerLimit { limit_mw }),
                None => Ok(()),
            };
            if let Err(source) = result {
                return Err(self.fail(ZeusError::Change {
                    what: format!(
                        "setting the power limit of {} to {limit_mw} mW",
                        device.label()
                    ),
                    source,
                }));
            }
        }
        self.applied_mw = Some(limit_mw);
        Ok(())
    }

    fn save_profile(&mut self) -> Result<(), ZeusError> {
        let Some(path) = &self.profile_path else {
            return Ok(());
        };
        write_atomically(path, &write_profile(self.core.profile())).map_err(|source| {
            ZeusError::SaveProfile {
                path: path.clone(),
                source,
            }
        })
    }

    /// Stops after a failure: restores the settings (a restore failure is printed, the
    /// original error returned).
    fn fail(&mut self, error: ZeusError) -> ZeusError {
        self.stopped = true;
        if let Some(mut guard) = self.guard.take() {
            report_restore_failures(guard.restore());
        }
        error
    }

    /// Stops now and restores the GPUs' settings (the profile stays readable).
    pub fn stop(&mut self) -> Result<(), ZeusError> {
        self.stopped = true;
        match self.guard.take() {
            Some(mut guard) => guard.restore().map_err(ZeusError::Restore),
            None => Ok(()),
        }
    }
}

impl Drop for PowerLimitOptimizer {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            report_restore_failures(guard.restore());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optimizers_cross_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<PowerLimitOptimizer>();
        assert_send::<ZeusError>();
    }

    #[test]
    fn profiles_are_written_atomically() {
        let dir = std::env::temp_dir().join(format!("ergon-zeus-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("profile.json");
        write_atomically(&path, "one").unwrap();
        write_atomically(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        assert!(load_profile(&dir.join("missing.json")).unwrap().is_none());
        let error = load_profile(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("power-limit profile {}: invalid", path.display())),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
