//! [`EnergyMonitor`]: the energy and time of named windows of one GPU, as zeus's `ZeusMonitor`
//! measures them (`begin_window` / `end_window`), with NVML as the only source.
//!
//! # Two methods
//!
//! - **Counter** (Volta and newer): each end of a window reads the total energy counter
//!   (`nvmlDeviceGetTotalEnergyConsumption`, mJ since the driver loaded); the window's energy is
//!   the difference. Two NVML calls per window, no thread.
//! - **Polling** (Kepler, Maxwell, Pascal, and any GPU whose counter answers `NOT_SUPPORTED`): a
//!   background thread reads the power draw (`nvmlDeviceGetPowerUsage`) every
//!   [`EnergyOptions::poll_interval`] while at least one window is open, and the energy is the
//!   trapezoid-rule integral of the samples. Unlike zeus's `PowerMonitor`, `begin_window` and
//!   `end_window` also take a sample themselves, so every window is integrated over exactly
//!   `[begin, end]` (no extrapolation at the edges, and no "no samples" case: a window shorter
//!   than the poll interval is the trapezoid of its two end samples). The integral is kept as a
//!   running sum, so memory does not grow with the length of a window. Every sample is kept (zeus
//!   keeps only changed values, which bends the trapezoids of flat stretches).
//!
//! # Short windows
//!
//! The counter advances only every few to ~100 ms, so a short window can see a difference of 0
//! (reference: zeus-chase-nvml.md §4). Zeus warns and returns 0 unless `approx_instant_energy`,
//! which replaces the 0 with the instant power times the window time. Here the default,
//! [`ZeroDelta::Approximate`], does that replacement (a 0 J answer for a window in which a GPU was
//! powered is always wrong): on a zero difference only, it reads the power draw once and reports
//! `power × time` with [`Measurement::approximated`] set. [`ZeroDelta::Keep`] reports the 0.
//! Windows that do see the counter move are still quantized by its update period; the counter is
//! only accurate for windows much longer than that period.
//!
//! The caller owns the CUDA side: zeus synchronizes the device before both timestamps; a caller
//! that wants the window to cover queued GPU work must synchronize before `begin_window` and
//! `end_window`.
//!
//! ```no_run
//! use ergon_hwctl::{EnergyMonitor, Nvml};
//!
//! let nvml = Nvml::init()?;
//! let gpu = nvml.device("0")?;
//! let mut monitor = EnergyMonitor::new(&gpu)?;
//! monitor.begin_window("epoch")?;
//! monitor.begin_window("step")?;
//! // ... work ...
//! let step = monitor.end_window("step")?;
//! let epoch = monitor.end_window("epoch")?;
//! println!("step: {:.3} s, {:.1} J; epoch: {:.1} J", step.time_s, step.energy_j, epoch.energy_j);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::device::Device;
use crate::error::Error;

/// How the energy of a window is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EnergyMethod {
    /// Difference of the total energy counter (Volta and newer).
    Counter,
    /// Trapezoid integral of the power draw polled by a background thread.
    Polling,
}

impl fmt::Display for EnergyMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Counter => "counter",
            Self::Polling => "polling",
        })
    }
}

/// What a counter difference of 0 becomes (see the [module documentation](self)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ZeroDelta {
    /// Instant power × window time, flagged as [`Measurement::approximated`] (default).
    #[default]
    Approximate,
    /// 0 J, as measured.
    Keep,
}

/// Settings of an [`EnergyMonitor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnergyOptions {
    /// The method; `None` picks the counter on Volta and newer when it answers, else polling.
    pub method: Option<EnergyMethod>,
    /// How often the polling thread reads the power draw (default 100 ms, zeus's cap).
    pub poll_interval: Duration,
    /// What a zero counter difference becomes.
    pub zero_delta: ZeroDelta,
}

impl Default for EnergyOptions {
    fn default() -> Self {
        Self {
            method: None,
            poll_interval: Duration::from_millis(100),
            zero_delta: ZeroDelta::Approximate,
        }
    }
}

/// The time and energy of one window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    /// Wall time from `begin_window` to `end_window`, seconds.
    pub time_s: f64,
    /// GPU energy over the window, joules.
    pub energy_j: f64,
    /// How the energy was obtained.
    pub method: EnergyMethod,
    /// True when the counter did not move and the energy is instant power × time.
    pub approximated: bool,
}

/// Errors of the energy monitor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnergyError {
    /// `begin_window` with the name of a window that is still open.
    #[error("energy window {name:?} is already open")]
    DuplicateWindow {
        /// The window name.
        name: String,
    },
    /// `end_window` or `cancel_window` with a name that is not open.
    #[error("no energy window named {name:?} is open")]
    UnknownWindow {
        /// The window name.
        name: String,
    },
    /// The energy counter went down during a window (the driver was reloaded).
    #[error(
        "the energy counter of {device} went backwards during window {name:?} ({begin_mj} mJ \
         -> {end_mj} mJ): was the driver reloaded?"
    )]
    CounterWentBackwards {
        /// The device label.
        device: String,
        /// The window name.
        name: String,
        /// Counter at the start, mJ.
        begin_mj: u64,
        /// Counter at the end, mJ.
        end_mj: u64,
    },
    /// Energy measurement was asked of a MIG device.
    #[error(
        "{device} is a MIG device: NVML cannot measure the power or energy of a MIG instance; \
         measure its parent GPU (which includes every instance on it)"
    )]
    MigDevice {
        /// The device label.
        device: String,
    },
    /// A poll interval of zero.
    #[error("the power polling interval must be positive")]
    InvalidPollInterval,
    /// The polling thread could not be started.
    #[error("starting the power polling thread failed: {0}")]
    Spawn(#[source] std::io::Error),
    /// An NVML read failed.
    #[error(transparent)]
    Nvml(#[from] Error),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Running trapezoid integral of the power samples.
#[derive(Default)]
struct Integrator {
    /// The latest sample: when, and power in W.
    last: Option<(Instant, f64)>,
    /// Integral from the first sample to `last`, J.
    cumulative_j: f64,
    errors: Vec<Error>,
    dropped_errors: usize,
}

impl Integrator {
    /// Adds a sample (not older than the previous one); returns the integral up to it, J.
    fn push(&mut self, at: Instant, power_w: f64) -> f64 {
        if let Some((then, last_w)) = self.last {
            let dt_s = at.saturating_duration_since(then).as_secs_f64();
            self.cumulative_j += 0.5 * (last_w + power_w) * dt_s;
        }
        self.last = Some((at, power_w));
        self.cumulative_j
    }
}

/// At most this many polling errors are kept between two [`EnergyMonitor::take_errors`].
const MAX_KEPT_ERRORS: usize = 64;

struct PollShared {
    device: Device,
    interval: Duration,
    integrator: Mutex<Integrator>,
    open_windows: AtomicUsize,
    stop: AtomicBool,
}

impl PollShared {
    /// Reads the power draw and adds it to the integral; returns the sample's time and the
    /// integral up to it. Serialized by the integrator's lock, so samples stay in time order.
    fn sample(&self) -> Result<(Instant, f64), Error> {
        let mut integrator = lock(&self.integrator);
        Self::sample_locked(&self.device, &mut integrator)
    }

    fn sample_locked(
        device: &Device,
        integrator: &mut Integrator,
    ) -> Result<(Instant, f64), Error> {
        let power_w = f64::from(device.power_usage_mw()?) / 1000.0;
        let now = Instant::now();
        Ok((now, integrator.push(now, power_w)))
    }

    /// The poller's sample: only while a window is open (checked under the lock, so that no
    /// sample lands after the closing sample of the last window). False if the read failed.
    fn poll_sample(&self) -> bool {
        let mut integrator = lock(&self.integrator);
        if self.open_windows.load(Ordering::Acquire) == 0 {
            return true;
        }
        match Self::sample_locked(&self.device, &mut integrator) {
            Ok(_) => true,
            Err(error) => {
                Self::record_locked(&mut integrator, error);
                false
            }
        }
    }

    fn record_locked(integrator: &mut Integrator, error: Error) {
        if integrator.errors.len() < MAX_KEPT_ERRORS {
            integrator.errors.push(error);
        } else {
            integrator.dropped_errors += 1;
        }
    }

    fn last_sample(&self) -> Option<Instant> {
        lock(&self.integrator).last.map(|(at, _)| at)
    }
}

fn poll(shared: &PollShared) {
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        if shared.open_windows.load(Ordering::Acquire) == 0 {
            thread::park();
            continue;
        }
        if let Some(at) = shared.last_sample() {
            let age = at.elapsed();
            if age < shared.interval {
                thread::park_timeout(shared.interval - age);
                continue;
            }
        }
        if !shared.poll_sample() {
            // Do not hammer a failing GPU.
            thread::park_timeout(shared.interval);
        }
    }
}

struct Poller {
    shared: Arc<PollShared>,
    handle: Option<JoinHandle<()>>,
}

impl Poller {
    fn wake(&self) {
        if let Some(handle) = &self.handle {
            handle.thread().unpark();
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(handle) = self.handle.take() {
            handle.thread().unpark();
            let _ = handle.join();
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Start {
    Counter { at: Instant, energy_mj: u64 },
    Polling { at: Instant, cumulative_j: f64 },
}

/// Named energy windows over one GPU: see the [module documentation](self).
///
/// Any number of windows may be open at once, nested or overlapping; names are unique among the
/// open windows.
pub struct EnergyMonitor {
    device: Device,
    method: EnergyMethod,
    zero_delta: ZeroDelta,
    windows: HashMap<String, Start>,
    poller: Option<Poller>,
}

impl fmt::Debug for EnergyMonitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnergyMonitor")
            .field("device", &self.device.label())
            .field("method", &self.method)
            .field("open_windows", &self.windows.len())
            .finish_non_exhaustive()
    }
}

impl EnergyMonitor {
    /// A monitor with the default options (method picked by architecture, 100 ms polling).
    pub fn new(device: &Device) -> Result<Self, EnergyError> {
        Self::with_options(device, EnergyOptions::default())
    }

    /// A monitor with `options`. Probes the chosen source once (the counter, or the power
    /// draw), so that an unreadable GPU fails here rather than at the first window.
    pub fn with_options(device: &Device, options: EnergyOptions) -> Result<Self, EnergyError> {
        if device.is_mig() {
            return Err(EnergyError::MigDevice {
                device: device.label().to_owned(),
            });
        }
        if options.poll_interval.is_zero() {
            return Err(EnergyError::InvalidPollInterval);
        }
        let method = match options.method {
            Some(EnergyMethod::Counter) => {
                device.total_energy_mj()?;
                EnergyMethod::Counter
            }
            Some(EnergyMethod::Polling) => {
                device.power_usage_mw()?;
                EnergyMethod::Polling
            }
            None if device.architecture()?.has_energy_counter() => match device.total_energy_mj() {
                Ok(_) => EnergyMethod::Counter,
                Err(error) if error.is_not_supported() => {
                    device.power_usage_mw()?;
                    EnergyMethod::Polling
                }
                Err(error) => return Err(error.into()),
            },
            None => {
                device.power_usage_mw()?;
                EnergyMethod::Polling
            }
        };
        let poller = if method == EnergyMethod::Polling {
            let shared = Arc::new(PollShared {
                device: device.clone(),
                interval: options.poll_interval,
                integrator: Mutex::new(Integrator::default()),
                open_windows: AtomicUsize::new(0),
                stop: AtomicBool::new(false),
            });
            let handle = {
                let shared = Arc::clone(&shared);
                thread::Builder::new()
                    .name("ergon-power-poll".into())
                    .spawn(move || poll(&shared))
                    .map_err(EnergyError::Spawn)?
            };
            Some(Poller {
                shared,
                handle: Some(handle),
            })
        } else {
            None
        };
        Ok(Self {
            device: device.clone(),
            method,
            zero_delta: options.zero_delta,
            windows: HashMap::new(),
            poller,
        })
    }

    /// The method in use.
    pub fn method(&self) -> EnergyMethod {
        self.method
    }

    /// The device measured.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The names of the open windows (in no particular order).
    pub fn open_windows(&self) -> impl Iterator<Item = &str> {
        self.windows.keys().map(String::as_str)
    }

    /// True if a window of this name is open.
    pub fn is_open(&self, name: &str) -> bool {
        self.windows.contains_key(name)
    }

    /// Opens window `name`: takes the start time and reads the counter (or takes a power
    /// sample). A name that is already open is [`EnergyError::DuplicateWindow`]; an NVML failure
    /// opens nothing.
    pub fn begin_window(&mut self, name: &str) -> Result<(), EnergyError> {
        if self.windows.contains_key(name) {
            return Err(EnergyError::DuplicateWindow {
                name: name.to_owned(),
            });
        }
        let start = match &self.poller {
            None => {
                let at = Instant::now();
                let energy_mj = self.device.total_energy_mj()?;
                Start::Counter { at, energy_mj }
            }
            Some(poller) => {
                let (at, cumulative_j) = poller.shared.sample()?;
                poller.shared.open_windows.fetch_add(1, Ordering::AcqRel);
                poller.wake();
                Start::Polling { at, cumulative_j }
            }
        };
        self.windows.insert(name.to_owned(), start);
        Ok(())
    }

    /// Closes window `name` and returns its time and energy. An unknown name is
    /// [`EnergyError::UnknownWindow`]. The window is closed even when the final NVML read fails.
    pub fn end_window(&mut self, name: &str) -> Result<Measurement, EnergyError> {
        let start = self.close(name)?;
        match start {
            Start::Counter { at, energy_mj } => {
                let end = Instant::now();
                let end_mj = self.device.total_energy_mj()?;
                let time_s = end.saturating_duration_since(at).as_secs_f64();
                let delta_mj = end_mj.checked_sub(energy_mj).ok_or_else(|| {
                    EnergyError::CounterWentBackwards {
                        device: self.device.label().to_owned(),
                        name: name.to_owned(),
                        begin_mj: energy_mj,
                        end_mj,
                    }
                })?;
                if delta_mj == 0 && self.zero_delta == ZeroDelta::Approximate && time_s > 0.0 {
                    let power_w = f64::from(self.device.power_usage_mw()?) / 1000.0;
                    return Ok(Measurement {
                        time_s,
                        energy_j: power_w * time_s,
                        method: EnergyMethod::Counter,
                        approximated: true,
                    });
                }
                Ok(Measurement {
                    time_s,
                    energy_j: delta_mj as f64 / 1000.0,
                    method: EnergyMethod::Counter,
                    approximated: false,
                })
            }
            Start::Polling { at, cumulative_j } => {
                let poller = self
                    .poller
                    .as_ref()
                    .ok_or_else(|| EnergyError::UnknownWindow {
                        name: name.to_owned(),
                    })?;
                let (end, end_j) = poller.shared.sample()?;
                Ok(Measurement {
                    time_s: end.saturating_duration_since(at).as_secs_f64(),
                    energy_j: (end_j - cumulative_j).max(0.0),
                    method: EnergyMethod::Polling,
                    approximated: false,
                })
            }
        }
    }

    /// Closes window `name` without measuring (no NVML call).
    pub fn cancel_window(&mut self, name: &str) -> Result<(), EnergyError> {
        self.close(name).map(|_| ())
    }

    fn close(&mut self, name: &str) -> Result<Start, EnergyError> {
        let start = self
            .windows
            .remove(name)
            .ok_or_else(|| EnergyError::UnknownWindow {
                name: name.to_owned(),
            })?;
        if let Some(poller) = &self.poller {
            poller.shared.open_windows.fetch_sub(1, Ordering::AcqRel);
        }
        Ok(start)
    }

    /// Errors of the polling thread since the last call (failed samples are skipped: the
    /// trapezoid bridges the gap between the samples around them). Empty for the counter.
    pub fn take_errors(&mut self) -> Vec<Error> {
        match &self.poller {
            Some(poller) => {
                let mut integrator = lock(&poller.shared.integrator);
                integrator.dropped_errors = 0;
                std::mem::take(&mut integrator.errors)
            }
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_default_to_auto_and_100_ms() {
        let options = EnergyOptions::default();
        assert_eq!(options.method, None);
        assert_eq!(options.poll_interval, Duration::from_millis(100));
        assert_eq!(options.zero_delta, ZeroDelta::Approximate);
        assert_eq!(EnergyMethod::Polling.to_string(), "polling");
    }

    #[test]
    fn samples_integrate_by_trapezoids() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut integrator = Integrator::default();
        assert_eq!(integrator.push(at(0), 100.0), 0.0);
        // A ramp from 100 W to 300 W over 1 s: 200 J.
        assert!((integrator.push(at(1000), 300.0) - 200.0).abs() < 1e-9);
        // Flat 300 W for 0.5 s: +150 J.
        assert!((integrator.push(at(1500), 300.0) - 350.0).abs() < 1e-9);
        // A window from 1.0 s to 1.5 s is the difference of the running integrals.
        let begin = 200.0;
        assert!((integrator.cumulative_j - begin - 150.0).abs() < 1e-9);
        // A sample at the same instant adds nothing.
        assert!((integrator.push(at(1500), 50.0) - 350.0).abs() < 1e-9);
    }

    #[test]
    fn monitors_and_errors_cross_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<EnergyMonitor>();
        assert_send_sync::<EnergyError>();
    }

    #[test]
    fn errors_name_the_window() {
        let error = EnergyError::UnknownWindow {
            name: "step".into(),
        };
        assert_eq!(error.to_string(), "no energy window named \"step\" is open");
        let error = EnergyError::DuplicateWindow {
            name: "epoch".into(),
        };
        assert_eq!(error.to_string(), "energy window \"epoch\" is already open");
    }
}
