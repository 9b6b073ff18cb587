//! [`Profiler`]: the in-trainer profiling mode of Perseus. Over consecutive training iterations
//! of one pipeline stage on one GPU, it locks each selected graphics clock in turn, from the
//! maximum downward, and measures the time and energy of every computation the trainer reports
//! (`forward`, `backward`, or any other instruction name of the schedule). The result is the
//! zeus profile CSV (formats.md §2) that the frontier solver reads, plus the GPU's blocking
//! power `P_blocking`.
//!
//! # Iterations
//!
//! At each clock the profiler runs [`ProfilerOptions::warmup_iters`] iterations that are
//! discarded (the clock settles, caches warm up), then [`ProfilerOptions::iters_per_clock`]
//! measured iterations. The trainer reports each computation with
//! [`Profiler::instruction_begin`] / [`Profiler::instruction_end`] and each iteration with
//! [`Profiler::step_end`]. A computation's time is wall time between the two calls, after an
//! optional synchronisation callback ([`Profiler::set_sync`], e.g. `torch.cuda.synchronize`) so
//! that the work queued on the GPU is inside the window; its energy comes from an
//! [`EnergyMonitor`] (the total-energy counter, or power polling where the GPU has no counter).
//! The value of an (instruction, clock) is the mean over all its computations in the measured
//! iterations: the microbatches of one iteration and the iterations are averaged alike.
//!
//! # Clocks
//!
//! The candidates are the graphics clocks supported at the highest memory clock, from the
//! maximum downward: the maximum, then each next supported clock at least
//! [`ProfilerOptions::step_mhz`] below the last one taken (0: every supported clock), none below
//! [`ProfilerOptions::min_mhz`]. After each clock the profiler compares, for every instruction,
//! the mean time at this clock with its fastest mean time so far; once one is slower than
//! [`ProfilerOptions::max_slowdown`] times its fastest, no lower clock is profiled (the clock
//! that crossed the limit stays in the profile: it was measured). Lower clocks would only be
//! slower, and the solver would not pick them.
//!
//! Clock changes happen inside `step_end`, synchronously (`nvmlDeviceSetGpuLockedClocks`,
//! 10–20 ms on real GPUs, once per clock, not per computation).
//!
//! # P_blocking, and the end
//!
//! After the last clock, `step_end` measures the blocking power: it locks the lowest profiled
//! clock and leaves the GPU idle for [`ProfilerOptions::blocking_window`] (it blocks the caller
//! that long), with the energy monitor measuring the window. Then it restores the GPU's
//! settings and reports [`ProfilerStatus::Done`].
//!
//! # Settings
//!
//! Like the [`PlanExecutor`](crate::PlanExecutor), the profiler sets the power limit to its
//! default, locks the memory clock at its maximum (ignored before Ampere) and locks the graphics
//! clock, each change recorded in a guard: a plain [`StateGuard`](crate::StateGuard), or with
//! [`ProfilerOptions::guard`] a [`PersistentGuard`](crate::PersistentGuard) that writes the GPU
//! state file and can restore on SIGINT/SIGTERM. The settings are restored when profiling ends,
//! when an NVML call fails (the profiler then refuses further calls with
//! [`ProfilerError::Stopped`]), on [`Profiler::stop`], and when the profiler is dropped.
//!
//! ```no_run
//! use ergon_hwctl::{Nvml, Profiler, ProfilerOptions, ProfilerStatus};
//!
//! let nvml = Nvml::init()?;
//! let gpu = nvml.device("0")?;
//! let mut profiler = Profiler::new(&gpu, 0, ProfilerOptions::default())?; // needs CAP_SYS_ADMIN
//! loop {
//!     for name in ["forward", "forward", "backward", "backward"] {
//!         profiler.instruction_begin(name)?;
//!         // ... run the computation ...
//!         profiler.instruction_end(name)?;
//!     }
//!     if profiler.step_end()? == ProfilerStatus::Done {
//!         break;
//!     }
//! }
//! println!("{}", profiler.to_csv()?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::time::{Duration, Instant};

use ergon_core::perseus::formats::{ProfileRow, instruction_name_error, write_profile_csv};

use crate::device::Device;
use crate::energy::{EnergyError, EnergyMonitor, EnergyOptions};
use crate::error::Error;
use crate::executor::{
    Guard, no_graphics_clocks, pin_gpu_clock, pin_startup_clocks, supported_clocks,
};
use crate::guard::{RestoreFailure, report_restore_failures};
use crate::statefile::{GuardOptions, StateError};

/// Default [`ProfilerOptions::max_slowdown`]: stop lowering the clock once a computation takes
/// more than 1.5 times its fastest time (zeus leaves the factor to the user; 1.5 keeps the
/// clocks the Perseus evaluation profiled, down to ~60 % of the maximum on A100 and A40).
pub const DEFAULT_MAX_SLOWDOWN: f64 = 1.5;

/// At most this many distinct instruction names per profile (a schedule has a handful).
pub const MAX_INSTRUCTION_KINDS: usize = 64;

/// The name of the energy window of the blocking-power measurement.
const BLOCKING_WINDOW: &str = "\u{0}p_blocking";

/// A callback that waits until the work queued on the GPU is done (e.g.
/// `torch.cuda.synchronize`), called before each time and energy reading.
pub type SyncFn = Box<dyn FnMut() + Send>;

/// How a [`Profiler`] runs (see the [module documentation](self)).
#[derive(Clone, Debug)]
pub struct ProfilerOptions {
    /// Iterations discarded after each clock change (default 1).
    pub warmup_iters: u32,
    /// Iterations measured at each clock (default 2; at least 1).
    pub iters_per_clock: u32,
    /// Least spacing of the profiled clocks, MHz: after a clock, the next one profiled is the
    /// highest supported clock at least this much lower (default 0: every supported clock).
    pub step_mhz: u32,
    /// No clock below this is profiled, MHz (default 0: down to the lowest supported).
    pub min_mhz: u32,
    /// Stop lowering the clock once an instruction's mean time exceeds this factor of its
    /// fastest mean time (default [`DEFAULT_MAX_SLOWDOWN`]; at least 1; infinity never stops).
    pub max_slowdown: f64,
    /// How long the idle GPU is measured for `P_blocking` (default 1 s; positive).
    pub blocking_window: Duration,
    /// `None` (default): a plain state guard, restoring at the end, on failure and on drop.
    /// `Some`: a persistent guard (GPU state file; restore on SIGINT/SIGTERM if asked).
    pub guard: Option<GuardOptions>,
    /// How energy is measured (default: the counter where the GPU has one).
    pub energy: EnergyOptions,
}

impl Default for ProfilerOptions {
    fn default() -> Self {
        Self {
            warmup_iters: 1,
            iters_per_clock: 2,
            step_mhz: 0,
            min_mhz: 0,
            max_slowdown: DEFAULT_MAX_SLOWDOWN,
            blocking_window: Duration::from_secs(1),
            guard: None,
            energy: EnergyOptions::default(),
        }
    }
}

/// What [`Profiler::step_end`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfilerStatus {
    /// More iterations are needed.
    Running,
    /// Profiling is complete: the profile and `P_blocking` are ready, the settings restored.
    Done,
}

/// Where profiling stands ([`Profiler::progress`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProfilerProgress {
    /// The clock being profiled, MHz (after the end: the last one profiled).
    pub freq_mhz: u32,
    /// 0-based position of that clock among the candidates.
    pub clock_index: usize,
    /// Number of candidate clocks (profiling may stop earlier, see `max_slowdown`).
    pub clocks_total: usize,
    /// True during the warm-up iterations of the current clock.
    pub warming_up: bool,
    /// Iterations left if every remaining candidate clock is profiled (an upper bound).
    pub iters_left: u64,
    /// Estimated seconds left: `iters_left` times the mean iteration time measured so far, plus
    /// the blocking window; `None` before the first iteration ended.
    pub eta_s: Option<f64>,
    /// True once profiling is done.
    pub done: bool,
}

/// One measured (instruction, clock): the mean over its computations.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileEntry {
    /// The instruction name as the trainer reported it.
    pub instruction: String,
    /// The graphics clock, MHz.
    pub freq_mhz: u32,
    /// Mean time of one computation, seconds.
    pub time_s: f64,
    /// Mean GPU energy of one computation, joules.
    pub energy_j: f64,
    /// Computations averaged.
    pub samples: u64,
}

/// Errors of the profiler; each names the input at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfilerError {
    /// An option is out of its domain.
    #[error("profiler option `{option}`: {reason}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The stage index does not fit the profile CSV (a 32-bit stage number).
    #[error("stage {stage} is out of range (at most {})", u32::MAX)]
    StageOutOfRange {
        /// The stage given.
        stage: usize,
    },
    /// No supported graphics clock is at or above `min_mhz`.
    #[error(
        "{device} supports no graphics clock at or above min_mhz = {min_mhz} (its highest is \
         {max_mhz} MHz)"
    )]
    NoClocks {
        /// The device label.
        device: String,
        /// The cut-off asked for.
        min_mhz: u32,
        /// The GPU's highest graphics clock.
        max_mhz: u32,
    },
    /// An NVML call of the startup failed (everything changed so far was restored).
    #[error("starting the profiler failed: {0}")]
    Startup(#[source] Error),
    /// The GPU state file or signal handlers of a persistent guard could not be set up or
    /// written (everything changed so far was restored).
    #[error("starting the profiler failed: {0}")]
    StateFile(#[source] StateError),
    /// The energy monitor could not be started.
    #[error("starting the profiler's energy monitor failed: {0}")]
    Energy(#[source] EnergyError),
    /// An instruction name that cannot go into a profile CSV.
    #[error("instruction name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// More distinct instruction names than [`MAX_INSTRUCTION_KINDS`].
    #[error(
        "instruction {name:?} would be the profile's {count}th distinct instruction name (at most {MAX_INSTRUCTION_KINDS})"
    )]
    TooManyInstructions {
        /// The name that exceeded the limit.
        name: String,
        /// Distinct names with it.
        count: usize,
    },
    /// `instruction_begin` while another instruction is open.
    #[error("instruction_begin({got:?}) while {open:?} is still open (missing instruction_end?)")]
    AlreadyOpen {
        /// The open instruction.
        open: String,
        /// What was begun.
        got: String,
    },
    /// `instruction_end` with no instruction open.
    #[error("instruction_end({got:?}) without an instruction_begin")]
    NotOpen {
        /// What was ended.
        got: String,
    },
    /// `instruction_end` of another name than the open instruction.
    #[error("instruction_end({got:?}) while {open:?} is open")]
    EndMismatch {
        /// The open instruction.
        open: String,
        /// What was ended.
        got: String,
    },
    /// `step_end` while an instruction is open.
    #[error("step_end while instruction {open:?} is open (missing instruction_end?)")]
    OpenAtStepEnd {
        /// The open instruction.
        open: String,
    },
    /// A call after profiling completed.
    #[error(
        "profiling is done: {call} has nothing to profile (read the profile, or drop the profiler)"
    )]
    Finished {
        /// The call made.
        call: &'static str,
    },
    /// A call after profiling stopped (a failure, or [`Profiler::stop`]).
    #[error("profiling was stopped: {call} cannot continue it")]
    Stopped {
        /// The call made.
        call: &'static str,
    },
    /// Reading the time and energy of a computation failed (profiling stopped, settings
    /// restored).
    #[error(
        "measuring instruction {name:?} failed (profiling stopped, GPU settings restored): {source}"
    )]
    Measure {
        /// The instruction.
        name: String,
        /// The failure.
        #[source]
        source: EnergyError,
    },
    /// Locking the next clock failed (profiling stopped, settings restored).
    #[error(
        "locking the graphics clock at {freq_mhz} MHz failed (profiling stopped, GPU settings restored): {source}"
    )]
    Lock {
        /// The clock.
        freq_mhz: u32,
        /// The failure.
        #[source]
        source: StateError,
    },
    /// Measuring `P_blocking` failed (profiling stopped, settings restored; the profile is kept).
    #[error("measuring the blocking power failed (GPU settings restored): {0}")]
    Blocking(#[source] EnergyError),
    /// Some settings could not be restored.
    #[error("restoring the GPU settings failed: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Restore(Vec<RestoreFailure>),
    /// The profile could not be written as CSV.
    #[error("writing the profile CSV failed: {0}")]
    Csv(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Warmup { left: u32 },
    Measure { left: u32 },
    Done,
    Stopped,
}

/// Running sums of one instruction at the current clock.
#[derive(Clone, Debug)]
struct Sums {
    name: String,
    time_s: f64,
    energy_j: f64,
    samples: u64,
}

/// Profiles one stage on one GPU: see the [module documentation](self).
pub struct Profiler {
    device: Device,
    stage: u32,
    options: ProfilerOptions,
    clocks: Vec<u32>,
    clock_index: usize,
    phase: Phase,
    monitor: EnergyMonitor,
    guard: Option<Guard>,
    sync: Option<SyncFn>,
    /// The open instruction, and whether it is measured.
    open: Option<(String, bool)>,
    /// Sums of the current clock, in order of first appearance.
    current: Vec<Sums>,
    entries: Vec<ProfileEntry>,
    /// Every instruction name seen (bounded by MAX_INSTRUCTION_KINDS), with its fastest mean.
    fastest: Vec<(String, f64)>,
    p_blocking_w: Option<f64>,
    iteration_start: Option<Instant>,
    iteration_time_s: f64,
    iterations: u64,
}

impl fmt::Debug for Profiler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profiler")
            .field("device", &self.device.label())
            .field("stage", &self.stage)
            .field("clocks", &self.clocks)
            .field("clock_index", &self.clock_index)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

/// The candidate clocks: from the highest down, each at least `step_mhz` below the last taken,
/// none below `min_mhz`.
fn select_clocks(supported: &[u32], step_mhz: u32, min_mhz: u32) -> Vec<u32> {
    let mut sorted: Vec<u32> = supported
        .iter()
        .copied()
        .filter(|&c| c >= min_mhz)
        .collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    let mut clocks: Vec<u32> = Vec::with_capacity(sorted.len());
    for c in sorted {
        match clocks.last() {
            Some(&last) if last.saturating_sub(c) < step_mhz.max(1) => {}
            _ => clocks.push(c),
        }
    }
    clocks
}

impl ProfilerOptions {
    fn validate(&self) -> Result<(), ProfilerError> {
        let invalid = |option, reason: &str| {
            Err(ProfilerError::InvalidOption {
                option,
                reason: reason.into(),
            })
        };
        if self.iters_per_clock == 0 {
            return invalid("iters_per_clock", "at least one iteration must be measured");
        }
        if self.max_slowdown.is_nan() || self.max_slowdown < 1.0 {
            return invalid("max_slowdown", "must be a number of at least 1");
        }
        if self.blocking_window.is_zero() {
            return invalid("blocking_window", "must be positive");
        }
        if self.blocking_window > Duration::from_secs(3600) {
            return invalid("blocking_window", "must be at most an hour");
        }
        Ok(())
    }
}

impl Profiler {
    /// Starts profiling stage `stage` on `device`: selects the clocks, starts the energy monitor,
    /// sets the power limit to its default, locks the memory clock at its maximum and the
    /// graphics clock at the highest selected clock. Needs CAP_SYS_ADMIN.
    pub fn new(
        device: &Device,
        stage: usize,
        options: ProfilerOptions,
    ) -> Result<Self, ProfilerError> {
        options.validate()?;
        let stage = u32::try_from(stage).map_err(|_| ProfilerError::StageOutOfRange { stage })?;
        let (max_memory_mhz, graphics_mhz) =
            supported_clocks(device).map_err(ProfilerError::Startup)?;
        let Some(&max_mhz) = graphics_mhz.iter().max() else {
            return Err(ProfilerError::Startup(no_graphics_clocks(device)));
        };
        let clocks = select_clocks(&graphics_mhz, options.step_mhz, options.min_mhz);
        let Some(&first) = clocks.first() else {
            return Err(ProfilerError::NoClocks {
                device: device.label().to_owned(),
                min_mhz: options.min_mhz,
                max_mhz,
            });
        };
        let monitor =
            EnergyMonitor::with_options(device, options.energy).map_err(ProfilerError::Energy)?;
        // From here on every change is recorded; an early return drops (restores) the guard.
        let mut guard = Guard::new(options.guard.clone()).map_err(ProfilerError::StateFile)?;
        if let Err(error) = pin_startup_clocks(device, &mut guard, max_memory_mhz, first) {
            report_restore_failures(guard.restore());
            return Err(match error {
                StateError::Nvml(error) => ProfilerError::Startup(error),
                other => ProfilerError::StateFile(other),
            });
        }
        let phase = first_phase(&options);
        Ok(Self {
            device: device.clone(),
            stage,
            options,
            clocks,
            clock_index: 0,
            phase,
            monitor,
            guard: Some(guard),
            sync: None,
            open: None,
            current: Vec::new(),
            entries: Vec::new(),
            fastest: Vec::new(),
            p_blocking_w: None,
            iteration_start: None,
            iteration_time_s: 0.0,
            iterations: 0,
        })
    }

    /// Sets (or with `None` removes) the callback called before each time and energy reading
    /// of a measured computation and before the blocking-power window.
    pub fn set_sync(&mut self, sync: Option<SyncFn>) {
        self.sync = sync;
    }

    /// The stage profiled.
    pub fn stage(&self) -> u32 {
        self.stage
    }

    /// The candidate clocks, highest first, MHz.
    pub fn clocks(&self) -> &[u32] {
        &self.clocks
    }

    /// True once profiling completed (the profile and `P_blocking` are final).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The blocking power measured at the end, W; `None` before.
    pub fn p_blocking_w(&self) -> Option<f64> {
        self.p_blocking_w
    }

    /// The measurements so far: per clock (highest first), per instruction in order of first
    /// appearance. Complete once [`Profiler::is_done`].
    pub fn profile(&self) -> &[ProfileEntry] {
        &self.entries
    }

    /// The profile as zeus profile CSV rows of this stage.
    pub fn rows(&self) -> Vec<ProfileRow> {
        self.entries
            .iter()
            .map(|e| ProfileRow {
                stage: self.stage,
                instruction: e.instruction.clone(),
                freq_mhz: e.freq_mhz,
                time_s: e.time_s,
                energy_j: e.energy_j,
            })
            .collect()
    }

    /// The profile as zeus profile CSV text (`stage,instruction,frequency,time,energy`), the
    /// input of `ergon frontier --profile` (merge the stages' texts with
    /// `ergon_core::perseus::formats::merge_profile_csv`).
    pub fn to_csv(&self) -> Result<String, ProfilerError> {
        write_profile_csv(&self.rows()).map_err(|e| ProfilerError::Csv(e.to_string()))
    }

    /// Where profiling stands.
    pub fn progress(&self) -> ProfilerProgress {
        let per_clock =
            u64::from(self.options.warmup_iters) + u64::from(self.options.iters_per_clock);
        let later_clocks = self.clocks.len().saturating_sub(self.clock_index + 1) as u64;
        let (iters_left, warming_up, done) = match self.phase {
            Phase::Warmup { left } => (
                u64::from(left)
                    + u64::from(self.options.iters_per_clock)
                    + later_clocks * per_clock,
                true,
                false,
            ),
            Phase::Measure { left } => (u64::from(left) + later_clocks * per_clock, false, false),
            Phase::Done => (0, false, true),
            Phase::Stopped => (0, false, false),
        };
        let eta_s = if done {
            Some(0.0)
        } else if self.iterations == 0 {
            None
        } else {
            let mean_s = self.iteration_time_s / self.iterations as f64;
            Some(iters_left as f64 * mean_s + self.options.blocking_window.as_secs_f64())
        };
        ProfilerProgress {
            freq_mhz: self
                .clocks
                .get(self.clock_index)
                .copied()
                .unwrap_or_default(),
            clock_index: self.clock_index,
            clocks_total: self.clocks.len(),
            warming_up,
            iters_left,
            eta_s,
            done,
        }
    }

    fn check_running(&self, call: &'static str) -> Result<bool, ProfilerError> {
        match self.phase {
            Phase::Warmup { .. } => Ok(false),
            Phase::Measure { .. } => Ok(true),
            Phase::Done => Err(ProfilerError::Finished { call }),
            Phase::Stopped => Err(ProfilerError::Stopped { call }),
        }
    }

    fn sync(&mut self) {
        if let Some(sync) = self.sync.as_mut() {
            sync();
        }
    }

    /// Before a computation named `name`: during measured iterations, synchronises (the
    /// callback) and opens its time and energy window. Refuses a name that cannot go into the
    /// CSV, a begin while another instruction is open, and any call after the end.
    pub fn instruction_begin(&mut self, name: &str) -> Result<(), ProfilerError> {
        let measured = self.check_running("instruction_begin")?;
        if let Some((open, _)) = &self.open {
            return Err(ProfilerError::AlreadyOpen {
                open: open.clone(),
                got: name.to_owned(),
            });
        }
        if let Some(reason) = instruction_name_error(name) {
            return Err(ProfilerError::InvalidName {
                name: name.to_owned(),
                reason,
            });
        }
        if !self.fastest.iter().any(|(n, _)| n == name) {
            if self.fastest.len() >= MAX_INSTRUCTION_KINDS {
                return Err(ProfilerError::TooManyInstructions {
                    name: name.to_owned(),
                    count: self.fastest.len() + 1,
                });
            }
            self.fastest.push((name.to_owned(), f64::INFINITY));
        }
        if self.iteration_start.is_none() {
            self.iteration_start = Some(Instant::now());
        }
        if measured {
            self.sync();
            if let Err(source) = self.monitor.begin_window(name) {
                return Err(self.fail_measure(name, source));
            }
        }
        self.open = Some((name.to_owned(), measured));
        Ok(())
    }

    /// After the computation `name`: during measured iterations, synchronises and closes its
    /// window, adding its time and energy to the current clock's. Refuses an end without a
    /// begin and an end of another name (the open instruction stays open).
    pub fn instruction_end(&mut self, name: &str) -> Result<(), ProfilerError> {
        self.check_running("instruction_end")?;
        let measured = match &self.open {
            None => {
                return Err(ProfilerError::NotOpen {
                    got: name.to_owned(),
                });
            }
            Some((open, _)) if open != name => {
                return Err(ProfilerError::EndMismatch {
                    open: open.clone(),
                    got: name.to_owned(),
                });
            }
            Some((_, measured)) => *measured,
        };
        self.open = None;
        if !measured {
            return Ok(());
        }
        self.sync();
        let m = match self.monitor.end_window(name) {
            Ok(m) => m,
            Err(source) => return Err(self.fail_measure(name, source)),
        };
        match self.current.iter_mut().find(|s| s.name == name) {
            Some(sums) => {
                sums.time_s += m.time_s;
                sums.energy_j += m.energy_j;
                sums.samples += 1;
            }
            None => self.current.push(Sums {
                name: name.to_owned(),
                time_s: m.time_s,
                energy_j: m.energy_j,
                samples: 1,
            }),
        }
        Ok(())
    }

    /// After an iteration: advances warm-up → measured iterations → the next clock (locked
    /// here, synchronously) → after the last clock, the blocking-power window (blocks for
    /// [`ProfilerOptions::blocking_window`]) and the restore of the GPU's settings. Returns
    /// [`ProfilerStatus::Done`] once complete. Refuses a call while an instruction is open.
    pub fn step_end(&mut self) -> Result<ProfilerStatus, ProfilerError> {
        self.check_running("step_end")?;
        if let Some((open, _)) = &self.open {
            return Err(ProfilerError::OpenAtStepEnd { open: open.clone() });
        }
        if let Some(start) = self.iteration_start.take() {
            self.iteration_time_s += start.elapsed().as_secs_f64();
            self.iterations += 1;
        }
        match self.phase {
            Phase::Warmup { left } if left > 1 => self.phase = Phase::Warmup { left: left - 1 },
            Phase::Warmup { .. } => {
                self.phase = Phase::Measure {
                    left: self.options.iters_per_clock,
                }
            }
            Phase::Measure { left } if left > 1 => self.phase = Phase::Measure { left: left - 1 },
            Phase::Measure { .. } => return self.finish_clock(),
            Phase::Done | Phase::Stopped => {}
        }
        Ok(ProfilerStatus::Running)
    }

    /// Folds the current clock's sums into the profile and moves to the next clock, or ends.
    fn finish_clock(&mut self) -> Result<ProfilerStatus, ProfilerError> {
        let freq_mhz = self.clocks[self.clock_index];
        let mut too_slow = false;
        for sums in std::mem::take(&mut self.current) {
            let samples = sums.samples.max(1) as f64;
            let time_s = sums.time_s / samples;
            if let Some((_, fastest)) = self.fastest.iter_mut().find(|(n, _)| *n == sums.name) {
                *fastest = fastest.min(time_s);
                too_slow |= time_s > self.options.max_slowdown * *fastest;
            }
            self.entries.push(ProfileEntry {
                instruction: sums.name,
                freq_mhz,
                time_s,
                energy_j: sums.energy_j / samples,
                samples: sums.samples,
            });
        }
        if too_slow || self.clock_index + 1 >= self.clocks.len() {
            return self.finish();
        }
        self.clock_index += 1;
        let next = self.clocks[self.clock_index];
        if let Err(source) = self.lock(next) {
            self.clock_index -= 1;
            return Err(self.fail(ProfilerError::Lock {
                freq_mhz: next,
                source,
            }));
        }
        self.phase = first_phase(&self.options);
        Ok(ProfilerStatus::Running)
    }

    fn lock(&mut self, freq_mhz: u32) -> Result<(), StateError> {
        match self.guard.as_mut() {
            Some(guard) => guard.change(&self.device, pin_gpu_clock(freq_mhz)),
            None => Ok(()),
        }
    }

    /// The blocking-power window at the lowest profiled clock (the current lock), then the
    /// restore.
    fn finish(&mut self) -> Result<ProfilerStatus, ProfilerError> {
        // The GPU is still locked at the lowest clock profiled, the last one.
        self.sync();
        let measured = self.monitor.begin_window(BLOCKING_WINDOW).and_then(|()| {
            std::thread::sleep(self.options.blocking_window);
            self.monitor.end_window(BLOCKING_WINDOW)
        });
        let m = match measured {
            Ok(m) => m,
            Err(error) => return Err(self.fail(ProfilerError::Blocking(error))),
        };
        self.p_blocking_w = Some(if m.time_s > 0.0 {
            m.energy_j / m.time_s
        } else {
            0.0
        });
        self.phase = Phase::Done;
        self.restore()?;
        Ok(ProfilerStatus::Done)
    }

    fn fail_measure(&mut self, name: &str, source: EnergyError) -> ProfilerError {
        self.fail(ProfilerError::Measure {
            name: name.to_owned(),
            source,
        })
    }

    /// Stops profiling after a failure: restores the settings (a restore failure is printed,
    /// the original error returned).
    fn fail(&mut self, error: ProfilerError) -> ProfilerError {
        self.phase = Phase::Stopped;
        self.open = None;
        if let Some(mut guard) = self.guard.take() {
            report_restore_failures(guard.restore());
        }
        error
    }

    fn restore(&mut self) -> Result<(), ProfilerError> {
        match self.guard.take() {
            Some(mut guard) => guard.restore().map_err(ProfilerError::Restore),
            None => Ok(()),
        }
    }

    /// Stops profiling now and restores the GPU's settings (what was measured stays readable).
    /// Does nothing after the end.
    pub fn stop(&mut self) -> Result<(), ProfilerError> {
        if self.phase != Phase::Done {
            self.phase = Phase::Stopped;
        }
        self.open = None;
        self.restore()
    }
}

fn first_phase(options: &ProfilerOptions) -> Phase {
    if options.warmup_iters == 0 {
        Phase::Measure {
            left: options.iters_per_clock,
        }
    } else {
        Phase::Warmup {
            left: options.warmup_iters,
        }
    }
}

impl Drop for Profiler {
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
    fn clocks_step_down_from_the_maximum() {
        let supported: Vec<u32> = (0..=80).map(|i| 1410 - 15 * i).collect();
        let all = select_clocks(&supported, 0, 0);
        assert_eq!(all.len(), 81);
        assert_eq!((all[0], all[80]), (1410, 210));
        assert_eq!(
            select_clocks(&supported, 100, 1000),
            [1410, 1305, 1200, 1095]
        );
        // A spacing that is not a multiple of the supported step takes the next clock below.
        assert_eq!(
            select_clocks(&[1410, 1400, 1395, 1380, 1000], 20, 0),
            [1410, 1380, 1000]
        );
        assert!(select_clocks(&supported, 0, 2000).is_empty());
    }

    #[test]
    fn options_are_validated() {
        assert!(ProfilerOptions::default().validate().is_ok());
        let bad = |o: ProfilerOptions| o.validate().err().map(|e| e.to_string());
        assert_eq!(
            bad(ProfilerOptions {
                iters_per_clock: 0,
                ..ProfilerOptions::default()
            })
            .as_deref(),
            Some("profiler option `iters_per_clock`: at least one iteration must be measured")
        );
        assert!(
            bad(ProfilerOptions {
                max_slowdown: f64::NAN,
                ..ProfilerOptions::default()
            })
            .is_some_and(|e| e.contains("max_slowdown"))
        );
        assert!(
            bad(ProfilerOptions {
                blocking_window: Duration::ZERO,
                ..ProfilerOptions::default()
            })
            .is_some_and(|e| e.contains("blocking_window"))
        );
    }

    #[test]
    fn profilers_cross_threads() {
        fn assert_send<T: Send>() {}
        assert_send::<Profiler>();
        assert_send::<ProfilerError>();
    }
}
