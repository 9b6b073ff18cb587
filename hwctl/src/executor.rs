//! [`PlanExecutor`]: applies one pipeline stage's Perseus frequency plan (`ergon-plan/v1`) while
//! the trainer runs, the way the Perseus client of zeus (`PipelineFrequencyOptimizer` and its
//! `FrequencyController`) does, without its separate process.
//!
//! A plan lists, for one training iteration of one stage, every computation in program order with
//! the SM clock to run it at: `[("forward", 1410), ("forward", 1395), ("backward", 1410), …]`. The
//! trainer calls [`PlanExecutor::instruction_begin`] before each forward or backward computation
//! and [`PlanExecutor::step_end`] after the iteration; the executor checks that the trainer runs
//! what the plan says and has the GPU's graphics clock locked to the planned frequency.
//!
//! # Off the hot path
//!
//! NVML setters take 10–20 ms on real GPUs, far longer than a computation may wait.
//! `instruction_begin` never calls NVML: it checks the name, and when the planned frequency differs
//! from the previous request it stores the frequency in one atomic word ("latest request") for a
//! worker thread. The worker reads the latest request and calls
//! `nvmlDeviceSetGpuLockedClocks(f, f)` only when `f` differs from the lock it last set. Requests
//! that arrive while the worker is inside an NVML call are coalesced: the worker jumps straight to
//! the newest one, so a slow NVML never builds a backlog of stale frequencies (zeus queues every
//! change instead). As in zeus, the lock is therefore only loosely time-aligned with the start of
//! the computation; [`PlanExecutor::wait_applied`] blocks until the latest request was applied, for
//! callers (and tests) that need the clock set before they go on.
//!
//! Waking a sleeping thread is a system call (a futex wake: about 1–3 µs on bare metal, 7–20 µs
//! measured in a VM), more than the 1 µs `instruction_begin` may take. So while requests keep
//! coming the worker does not sleep until woken: it looks at the request word every
//! [`ExecutorOptions::poll_interval`] (default 1 ms, which adds at most 1 ms to the 10–20 ms an
//! NVML setter takes anyway, for about a thousand short wake-ups per second of one core), and
//! `instruction_begin` is a plain atomic store and load (no fence). After
//! [`ExecutorOptions::linger`] (default 1 s) without a request the worker raises a "sleeping"
//! flag and sleeps until the next request wakes it (only that one call pays the system call). A
//! zero `poll_interval` makes the worker sleep whenever it is idle, so every request that finds it
//! idle wakes it. Without a fence, a request stored in the nanoseconds in which the worker raises
//! its flag can miss the wake-up; the sleeping worker therefore also looks by itself every
//! [`MISSED_WAKE_BOUND`] (50 ms), which bounds that rare delay (a fence would cost the hot path
//! a wait for the cache line, about 100 ns measured in a VM, on every request).
//!
//! The caller owns the CUDA side: zeus synchronizes the device before each instruction; a hook that
//! wants that must do it before calling `instruction_begin`.
//!
//! # Startup and shutdown
//!
//! [`PlanExecutor::new`] reads the supported memory clocks and the graphics clocks at the highest
//! memory clock, checks every planned frequency against that range, then (recording each setting in
//! a [`StateGuard`], or with [`ExecutorOptions::guard`] in a [`PersistentGuard`] that also writes
//! the GPU state file and restores on SIGINT/SIGTERM) sets the power limit to its default, locks
//! the memory clock at its maximum (`NOT_SUPPORTED` — before Ampere — is ignored, as zeus does)
//! and locks the graphics clock at its maximum. [`PlanExecutor::shutdown`], or dropping the executor, lets the worker
//! apply the latest request, stops it and restores exactly what was changed: the locks are reset and the power limit goes back to the value it had
//! before (not to the default). A startup that fails half-way restores what it had changed.
//!
//! # Between iterations, and a new plan
//!
//! What a trainer runs between two iterations (the optimizer step, the gradient all-reduce of
//! data parallelism, data loading) is not in the plan. [`PlanExecutor::step_end`] therefore
//! requests the plan's highest clock (its fastest instruction clock; the GPU's maximum for a plan
//! of zeros only): that work is then never slowed down by the clock the last computation left,
//! and, when the plan's last instruction already runs at that clock, no NVML call is made.
//!
//! [`PlanExecutor::set_plan`] replaces the plan (a straggler re-plan) only at an iteration
//! boundary: called between iterations it takes effect at once, called within one it is kept
//! and takes effect at the next `step_end`, so an iteration never runs part of two plans.
//!
//! # Errors
//!
//! Plan violations are returned at once by `instruction_begin` (a name that is not the next
//! planned instruction, an instruction after the end of the plan) and by `step_end` (an iteration
//! that stopped before the end of the plan). NVML failures on the worker are recorded, never
//! panic, and come back from the next `step_end` or [`PlanExecutor::take_errors`].
//!
//! ```no_run
//! use ergon_hwctl::{Nvml, PlanExecutor, StagePlan};
//!
//! let nvml = Nvml::init()?;
//! let gpu = nvml.device("0")?;
//! let plan = StagePlan::new([("forward", 1410), ("forward", 1305), ("backward", 1410)])?;
//! let mut executor = PlanExecutor::new(&gpu, plan)?; // needs CAP_SYS_ADMIN
//! for _step in 0..3 {
//!     for name in ["forward", "forward", "backward"] {
//!         executor.instruction_begin(name)?;
//!         // ... run the computation ...
//!     }
//!     executor.step_end()?;
//! }
//! executor.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use crate::device::Device;
use crate::error::Error;
use crate::guard::{Command, RestoreFailure, StateGuard, report_restore_failures};
use crate::statefile::{GuardOptions, PersistentGuard, StateError};

/// How the executor records what it changes, and how its worker waits for requests (see the
/// [module documentation](self)).
#[derive(Clone, Debug)]
pub struct ExecutorOptions {
    /// `None` (default): a plain [`StateGuard`], restoring on shutdown, drop and panic.
    /// `Some`: a [`PersistentGuard`] with these options, which also writes the originals to the
    /// GPU state file before changing them (for `ergon gpu restore` after a SIGKILL) and, with
    /// `restore_on_signal`, restores on SIGINT and SIGTERM.
    pub guard: Option<GuardOptions>,
    /// How often the idle worker looks for a new request while requests keep coming (default
    /// 1 ms). Zero: it sleeps whenever idle and every request that finds it asleep wakes it
    /// (lowest delay, a system call in `instruction_begin`).
    pub poll_interval: Duration,
    /// After this long without a request, the worker stops polling and sleeps until the next
    /// request wakes it (default 1 s).
    pub linger: Duration,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            guard: None,
            poll_interval: Duration::from_millis(1),
            linger: Duration::from_secs(1),
        }
    }
}

/// The longest a sleeping worker waits before it looks for a request by itself; bounds the
/// delay of a request whose wake-up was missed (see the [module documentation](self)).
pub const MISSED_WAKE_BOUND: Duration = Duration::from_millis(50);

/// The guard that records and restores the executor's (and the profiler's) changes.
pub(crate) enum Guard {
    Plain(StateGuard),
    Persistent(PersistentGuard),
}

impl Guard {
    /// A plain guard (`None`) or a persistent one with these options.
    pub(crate) fn new(options: Option<GuardOptions>) -> Result<Self, StateError> {
        Ok(match options {
            None => Self::Plain(StateGuard::new()),
            Some(options) => Self::Persistent(PersistentGuard::with_options(options)?),
        })
    }

    pub(crate) fn change(&mut self, device: &Device, command: Command) -> Result<(), StateError> {
        match self {
            Self::Plain(guard) => Ok(guard.change(device, command)?),
            Self::Persistent(guard) => guard.change(device, command),
        }
    }

    pub(crate) fn restore(&mut self) -> Result<(), Vec<RestoreFailure>> {
        match self {
            Self::Plain(guard) => guard.restore(),
            Self::Persistent(guard) => guard.restore(),
        }
    }
}

/// At most this many worker errors are kept between two [`PlanExecutor::take_errors`]; later
/// ones are only counted.
pub const MAX_KEPT_ERRORS: usize = 64;

/// One planned computation: its name and the graphics clock to lock before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedInstruction {
    /// The instruction name as the trainer reports it (`"forward"`, `"backward"`).
    pub name: Box<str>,
    /// The graphics (SM) clock to run it at, MHz; 0 leaves the clock as it is (as in zeus).
    pub freq_mhz: u32,
}

/// One stage's plan for one iteration: the instructions in program order (the `instructions` of
/// one `stages` entry of `ergon-plan/v1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagePlan {
    instructions: Vec<PlannedInstruction>,
}

/// Why a list of instructions is not a plan.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The plan has no instruction at all.
    #[error("the stage plan has no instructions")]
    Empty,
    /// An instruction has an empty name.
    #[error("instruction {position} of the stage plan has an empty name")]
    EmptyName {
        /// 0-based position in the plan.
        position: usize,
    },
}

impl StagePlan {
    /// A plan from `(name, MHz)` pairs in program order.
    pub fn new<N: Into<Box<str>>>(
        instructions: impl IntoIterator<Item = (N, u32)>,
    ) -> Result<Self, PlanError> {
        let instructions: Vec<PlannedInstruction> = instructions
            .into_iter()
            .map(|(name, freq_mhz)| PlannedInstruction {
                name: name.into(),
                freq_mhz,
            })
            .collect();
        if instructions.is_empty() {
            return Err(PlanError::Empty);
        }
        if let Some(position) = instructions.iter().position(|i| i.name.is_empty()) {
            return Err(PlanError::EmptyName { position });
        }
        Ok(Self { instructions })
    }

    /// The instructions in program order.
    pub fn instructions(&self) -> &[PlannedInstruction] {
        &self.instructions
    }

    /// The number of instructions in one iteration.
    pub fn len(&self) -> usize {
        self.instructions.len()
    }

    /// Always false: a plan has at least one instruction.
    pub fn is_empty(&self) -> bool {
        self.instructions.is_empty()
    }
}

impl TryFrom<&ergon_core::perseus::PlanStage> for StagePlan {
    type Error = PlanError;

    /// The plan of one stage of an `ergon_core::perseus::Plan`.
    fn try_from(stage: &ergon_core::perseus::PlanStage) -> Result<Self, PlanError> {
        Self::new(
            stage
                .instructions
                .iter()
                .map(|&(kind, freq_mhz)| (kind.name(), freq_mhz)),
        )
    }
}

/// Errors of the plan executor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecutorError {
    /// The stage plan itself is invalid.
    #[error(transparent)]
    Plan(#[from] PlanError),

    /// An NVML call of the startup failed (everything changed so far was restored).
    #[error("starting the plan executor failed: {0}")]
    Startup(#[source] Error),

    /// The GPU state file (or the signal handlers) of a persistent guard could not be set up or
    /// written at startup (everything changed so far was restored).
    #[error("starting the plan executor failed: {0}")]
    StateFile(#[source] StateError),

    /// The worker thread could not be started (the startup settings were restored).
    #[error("starting the plan executor's worker thread failed: {0}")]
    Spawn(#[source] std::io::Error),

    /// A planned frequency the GPU does not support.
    #[error(
        "instruction {position} ({name}) of the stage plan asks for {freq_mhz} MHz, outside the \
         graphics clocks {device} supports ({min_mhz}..={max_mhz} MHz)"
    )]
    UnsupportedFrequency {
        /// 0-based position in the plan.
        position: usize,
        /// The instruction's name.
        name: String,
        /// The planned frequency.
        freq_mhz: u32,
        /// The device label.
        device: String,
        /// Lowest supported graphics clock.
        min_mhz: u32,
        /// Highest supported graphics clock.
        max_mhz: u32,
    },

    /// The trainer began an instruction other than the plan's next one.
    #[error(
        "plan mismatch at instruction {position}: the plan expects {expected:?}, the trainer \
         began {got:?}"
    )]
    NameMismatch {
        /// 0-based position in the iteration.
        position: usize,
        /// The plan's instruction at that position.
        expected: String,
        /// What the trainer began.
        got: String,
    },

    /// The trainer began an instruction after the plan's last one.
    #[error(
        "plan overrun: the trainer began {got:?} after all {len} instructions of the stage plan \
         (missing step_end?)"
    )]
    PlanExhausted {
        /// Instructions in one iteration of the plan.
        len: usize,
        /// What the trainer began.
        got: String,
    },

    /// The iteration ended before the plan did.
    #[error(
        "incomplete iteration: step_end after {done} of the plan's {len} instructions, {left} \
         left (next expected: {next:?})"
    )]
    Incomplete {
        /// Instructions begun in the iteration.
        done: usize,
        /// Instructions in one iteration of the plan.
        len: usize,
        /// Instructions not begun.
        left: usize,
        /// The first instruction not begun.
        next: String,
    },

    /// Setting clocks failed on the worker thread.
    #[error("setting GPU clocks failed on the executor's worker: {}{}", join_errors(.errors), dropped_note(*.dropped))]
    Worker {
        /// The errors, oldest first (at most [`MAX_KEPT_ERRORS`]).
        errors: Vec<Error>,
        /// Errors not kept beyond those.
        dropped: usize,
    },

    /// Some settings could not be restored at shutdown.
    #[error("restoring the GPU after the plan executor failed: {}", join_errors(.0))]
    Restore(Vec<RestoreFailure>),

    /// The worker thread panicked (its state guard restored the GPU while unwinding).
    #[error("the plan executor's worker thread panicked")]
    WorkerPanicked,
}

/// Refuses a plan with a clock outside `min_mhz..=max_mhz` (0, "leave the clock", is allowed).
fn check_frequencies(
    plan: &StagePlan,
    device: &str,
    min_mhz: u32,
    max_mhz: u32,
) -> Result<(), ExecutorError> {
    for (position, instruction) in plan.instructions.iter().enumerate() {
        let freq = instruction.freq_mhz;
        if freq != 0 && !(min_mhz..=max_mhz).contains(&freq) {
            return Err(ExecutorError::UnsupportedFrequency {
                position,
                name: instruction.name.to_string(),
                freq_mhz: freq,
                device: device.to_owned(),
                min_mhz,
                max_mhz,
            });
        }
    }
    Ok(())
}

/// The messages of `items`, separated by semicolons.
fn join_errors(items: &[impl fmt::Display]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn dropped_note(dropped: usize) -> String {
    if dropped == 0 {
        String::new()
    } else {
        format!(" (and {dropped} more)")
    }
}

/// Locks the graphics clock at exactly `mhz`.
pub(crate) fn pin_gpu_clock(mhz: u32) -> Command {
    Command::LockGpuClocks {
        min_mhz: mhz,
        max_mhz: mhz,
    }
}

/// The latest request: sequence number (high 32 bits) and frequency (low 32 bits).
fn pack(sequence: u32, freq_mhz: u32) -> u64 {
    (u64::from(sequence) << 32) | u64::from(freq_mhz)
}

fn unpack_freq(word: u64) -> u32 {
    (word & 0xffff_ffff) as u32
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct WorkerErrors {
    errors: Vec<Error>,
    dropped: usize,
}

/// What `instruction_begin` touches, on cache lines of its own: the worker only reads them
/// (except `sleeping`, around a long sleep), so the trainer's loads hit its own cache.
#[repr(align(128))]
struct Handoff {
    /// The latest request ([`pack`]); written by the trainer, read by the worker.
    request: AtomicU64,
    /// Set while the worker sleeps until woken (rather than polling).
    sleeping: AtomicBool,
    /// Set by shutdown.
    stop: AtomicBool,
}

/// The worker's answer, away from the hand-off line.
#[repr(align(128))]
struct Applied(AtomicU64);

/// What the trainer's thread and the worker share.
struct Shared {
    handoff: Handoff,
    /// The last request word the worker finished with; written by the worker.
    applied: Applied,
    /// Lock and condition variable for [`PlanExecutor::wait_applied`] to sleep on.
    applied_lock: Mutex<()>,
    applied_changed: Condvar,
    /// Set when `errors` is not empty, so `step_end` reads one atomic in the common case.
    has_errors: AtomicBool,
    errors: Mutex<WorkerErrors>,
}

impl Shared {
    fn record(&self, error: Error) {
        let mut kept = lock(&self.errors);
        if kept.errors.len() < MAX_KEPT_ERRORS {
            kept.errors.push(error);
        } else {
            kept.dropped += 1;
        }
        self.has_errors.store(true, Ordering::Release);
    }

    fn take(&self) -> WorkerErrors {
        if !self.has_errors.load(Ordering::Acquire) {
            return WorkerErrors::default();
        }
        let mut kept = lock(&self.errors);
        self.has_errors.store(false, Ordering::Release);
        std::mem::take(&mut *kept)
    }
}

/// The worker: applies the latest request whenever it changes, until stopped. Returns the guard
/// so that the caller restores (and sees failures).
fn worker(
    shared: Arc<Shared>,
    device: Device,
    mut guard: Guard,
    start_mhz: u32,
    options: ExecutorOptions,
) -> Guard {
    // The initial word (nothing requested); a request made before this thread runs is seen.
    let mut seen = 0;
    // The lock last attempted (set at startup); a failed attempt is not retried until a
    // different frequency is requested.
    let mut attempted = start_mhz;
    let mut last_request = Instant::now();
    let mut sleeping = false;
    loop {
        if shared.handoff.stop.load(Ordering::Acquire) {
            break;
        }
        let word = shared.handoff.request.load(Ordering::Acquire);
        if word == seen {
            if !options.poll_interval.is_zero() && last_request.elapsed() < options.linger {
                thread::park_timeout(options.poll_interval);
            } else if !sleeping {
                // Announce the sleep, then look at the request again before parking.
                sleeping = true;
                shared.handoff.sleeping.store(true, Ordering::SeqCst);
            } else {
                // The trainer's hot path has no fence, so a request stored just as the flag was
                // raised may come without an unpark; the timeout bounds that rare delay.
                thread::park_timeout(MISSED_WAKE_BOUND);
            }
            continue;
        }
        if sleeping {
            sleeping = false;
            shared.handoff.sleeping.store(false, Ordering::Release);
        }
        last_request = Instant::now();
        seen = word;
        let freq_mhz = unpack_freq(word);
        if freq_mhz != attempted {
            attempted = freq_mhz;
            match guard.change(&device, pin_gpu_clock(freq_mhz)) {
                Ok(()) => {}
                Err(StateError::Nvml(error)) => shared.record(error),
                // The lock was recorded (and the state file written) at startup, so later locks
                // do not touch the file; this arm is for completeness.
                Err(other) => eprintln!("ergon-hwctl: plan executor: {other}"),
            }
        }
        shared.applied.0.store(word, Ordering::Release);
        // Under the lock, so that a waiter that saw the old value is already waiting.
        drop(lock(&shared.applied_lock));
        shared.applied_changed.notify_all();
    }
    guard
}

/// The highest supported memory clock (`None` if the GPU lists none) and the graphics clocks
/// supported at it, as NVML lists them (highest first).
pub(crate) fn supported_clocks(device: &Device) -> Result<(Option<u32>, Vec<u32>), Error> {
    let memory_mhz = device.supported_memory_clocks_mhz()?;
    let max_memory_mhz = memory_mhz.iter().copied().max();
    let graphics_mhz = match max_memory_mhz {
        Some(memory) => device.supported_graphics_clocks_mhz(memory)?,
        None => Vec::new(),
    };
    Ok((max_memory_mhz, graphics_mhz))
}

/// The error of a GPU that lists no graphics clock.
pub(crate) fn no_graphics_clocks(device: &Device) -> Error {
    Error::NotSupported {
        call: crate::error::Call {
            function: "nvmlDeviceGetSupportedGraphicsClocks",
            device: Some(device.label().to_owned()),
        },
    }
}

/// The settings a plan is executed (or profiled) under, recorded in `guard`: the default power
/// limit, the memory clock locked at `max_memory_mhz` (`NOT_SUPPORTED`, before Ampere, is
/// ignored, as zeus does) and the graphics clock locked at `gpu_mhz`.
pub(crate) fn pin_startup_clocks(
    device: &Device,
    guard: &mut Guard,
    max_memory_mhz: Option<u32>,
    gpu_mhz: u32,
) -> Result<(), StateError> {
    let limit_mw = device.default_power_limit_mw()?;
    guard.change(device, Command::SetPowerLimit { limit_mw })?;
    if let Some(mhz) = max_memory_mhz {
        let pin = Command::LockMemoryClocks {
            min_mhz: mhz,
            max_mhz: mhz,
        };
        match guard.change(device, pin) {
            Err(StateError::Nvml(error)) if error.is_not_supported() => {}
            other => other?,
        }
    }
    guard.change(device, pin_gpu_clock(gpu_mhz))
}

/// Applies one stage's frequency plan: see the [module documentation](self).
pub struct PlanExecutor {
    plan: StagePlan,
    /// A plan set within an iteration, installed by the next `step_end`.
    pending: Option<StagePlan>,
    /// Instructions begun in the current iteration.
    position: usize,
    /// The frequency last handed to the worker (initially the startup lock).
    last_requested: u32,
    /// Sequence number of the last request.
    sequence: u32,
    shared: Arc<Shared>,
    worker_thread: Thread,
    worker: Option<JoinHandle<Guard>>,
    device_label: String,
    min_mhz: u32,
    max_mhz: u32,
}

impl fmt::Debug for PlanExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlanExecutor")
            .field("device", &self.device_label)
            .field("len", &self.plan.len())
            .field("position", &self.position)
            .field("last_requested_mhz", &self.last_requested)
            .finish_non_exhaustive()
    }
}

impl PlanExecutor {
    /// Starts executing `plan` on `device`: checks the planned frequencies against the supported
    /// graphics clocks, sets the power limit to its default, locks the memory clock at its
    /// maximum (ignored where not supported) and the graphics clock at its maximum, and starts the
    /// worker thread. Changing these settings needs CAP_SYS_ADMIN.
    pub fn new(device: &Device, plan: StagePlan) -> Result<Self, ExecutorError> {
        Self::with_options(device, plan, ExecutorOptions::default())
    }

    /// [`PlanExecutor::new`] with `options`: a persistent guard (state file, signals) and the
    /// worker's waiting.
    pub fn with_options(
        device: &Device,
        plan: StagePlan,
        options: ExecutorOptions,
    ) -> Result<Self, ExecutorError> {
        let device = device.clone();
        let (max_memory_mhz, graphics_mhz) =
            supported_clocks(&device).map_err(ExecutorError::Startup)?;
        let (Some(&min_mhz), Some(&max_mhz)) =
            (graphics_mhz.iter().min(), graphics_mhz.iter().max())
        else {
            return Err(ExecutorError::Startup(no_graphics_clocks(&device)));
        };
        check_frequencies(&plan, device.label(), min_mhz, max_mhz)?;

        // From here on every change is recorded; an early return drops (restores) the guard.
        let mut guard = Guard::new(options.guard.clone()).map_err(ExecutorError::StateFile)?;
        if let Err(error) = pin_startup_clocks(&device, &mut guard, max_memory_mhz, max_mhz) {
            report_restore_failures(guard.restore());
            return Err(match error {
                StateError::Nvml(error) => ExecutorError::Startup(error),
                other => ExecutorError::StateFile(other),
            });
        }

        let shared = Arc::new(Shared {
            handoff: Handoff {
                request: AtomicU64::new(0),
                sleeping: AtomicBool::new(false),
                stop: AtomicBool::new(false),
            },
            applied: Applied(AtomicU64::new(0)),
            applied_lock: Mutex::new(()),
            applied_changed: Condvar::new(),
            has_errors: AtomicBool::new(false),
            errors: Mutex::new(WorkerErrors::default()),
        });
        let device_label = device.label().to_owned();
        let spawned = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("ergon-plan-executor".into())
                .spawn(move || worker(shared, device, guard, max_mhz, options))
        };
        // If the spawn fails, the closure (and the guard in it) is dropped, which restores.
        let handle = spawned.map_err(ExecutorError::Spawn)?;
        Ok(Self {
            plan,
            pending: None,
            position: 0,
            last_requested: max_mhz,
            sequence: 0,
            shared,
            worker_thread: handle.thread().clone(),
            worker: Some(handle),
            device_label,
            min_mhz,
            max_mhz,
        })
    }

    /// The plan being executed.
    pub fn plan(&self) -> &StagePlan {
        &self.plan
    }

    /// A plan set by [`PlanExecutor::set_plan`] within an iteration, waiting for its end.
    pub fn pending_plan(&self) -> Option<&StagePlan> {
        self.pending.as_ref()
    }

    /// Replaces the plan at an iteration boundary (see the [module documentation](self)):
    /// between iterations at once (and the new plan's between-iterations clock is requested),
    /// within one at the next [`PlanExecutor::step_end`] (a plan set earlier in the same
    /// iteration is replaced). The planned clocks are checked against the GPU's first; an
    /// unsupported one is refused and the current plan stays.
    pub fn set_plan(&mut self, plan: StagePlan) -> Result<(), ExecutorError> {
        check_frequencies(&plan, &self.device_label, self.min_mhz, self.max_mhz)?;
        if self.position == 0 {
            self.plan = plan;
            self.pending = None;
            self.request(self.between_iterations_mhz());
        } else {
            self.pending = Some(plan);
        }
        Ok(())
    }

    /// The clock requested between iterations: the plan's highest (see the
    /// [module documentation](self)).
    pub fn between_iterations_mhz(&self) -> u32 {
        match self.plan.instructions.iter().map(|i| i.freq_mhz).max() {
            Some(0) | None => self.max_mhz,
            Some(mhz) => mhz,
        }
    }

    /// Instructions begun in the current iteration.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The graphics clock the GPU was locked at by the startup (its maximum), MHz.
    pub fn max_mhz(&self) -> u32 {
        self.max_mhz
    }

    /// The frequency last handed to the worker, MHz (the lock the GPU has or is about to get).
    pub fn requested_mhz(&self) -> u32 {
        self.last_requested
    }

    /// Before a computation: checks that `name` is the plan's next instruction and requests its
    /// frequency from the worker if it differs from the previous request. Never calls NVML and
    /// never waits for the worker; it makes a system call only to wake a worker that went to sleep
    /// (after [`ExecutorOptions::linger`] without requests, or whenever idle with a zero
    /// [`ExecutorOptions::poll_interval`]).
    ///
    /// On a mismatch nothing advances: the same instruction is still expected.
    #[inline]
    pub fn instruction_begin(&mut self, name: &str) -> Result<(), ExecutorError> {
        let Some(instruction) = self.plan.instructions.get(self.position) else {
            return Err(self.exhausted(name));
        };
        if *instruction.name != *name {
            return Err(self.mismatch(name));
        }
        let freq_mhz = instruction.freq_mhz;
        self.position += 1;
        self.request(freq_mhz);
        Ok(())
    }

    /// Hands `freq_mhz` to the worker unless it is 0 (leave the clock) or already requested.
    #[inline]
    fn request(&mut self, freq_mhz: u32) {
        if freq_mhz != 0 && freq_mhz != self.last_requested {
            self.last_requested = freq_mhz;
            // Never 0 again after wrapping: 0 means "nothing requested yet".
            self.sequence = self.sequence.wrapping_add(1).max(1);
            self.shared
                .handoff
                .request
                .store(pack(self.sequence, freq_mhz), Ordering::Release);
            if self.shared.handoff.sleeping.load(Ordering::Relaxed) {
                self.worker_thread.unpark();
            }
        }
    }

    #[cold]
    fn exhausted(&self, name: &str) -> ExecutorError {
        ExecutorError::PlanExhausted {
            len: self.plan.len(),
            got: name.to_owned(),
        }
    }

    #[cold]
    fn mismatch(&self, name: &str) -> ExecutorError {
        ExecutorError::NameMismatch {
            position: self.position,
            expected: self
                .plan
                .instructions
                .get(self.position)
                .map(|i| i.name.to_string())
                .unwrap_or_default(),
            got: name.to_owned(),
        }
    }

    /// After a computation. Does nothing: the clock stays locked until the next instruction
    /// asks for another one (zeus does not reset between instructions either). Exists so that
    /// trainer hooks can mirror `instruction_begin`.
    #[inline]
    pub fn instruction_end(&mut self) {}

    /// After an iteration: rewinds the plan for the next iteration, installs a plan set during
    /// the iteration ([`PlanExecutor::set_plan`]), requests the between-iterations clock, then
    /// reports an iteration that did not run every planned instruction of the plan it ran
    /// ([`ExecutorError::Incomplete`]), else errors the worker recorded since the last report
    /// ([`ExecutorError::Worker`]). Worker errors stay pending behind an `Incomplete` and come
    /// with the next call.
    pub fn step_end(&mut self) -> Result<(), ExecutorError> {
        let done = self.position;
        self.position = 0;
        let len = self.plan.len();
        let incomplete = (done < len).then(|| ExecutorError::Incomplete {
            done,
            len,
            left: len - done,
            next: self
                .plan
                .instructions
                .get(done)
                .map(|i| i.name.to_string())
                .unwrap_or_default(),
        });
        if let Some(plan) = self.pending.take() {
            self.plan = plan;
        }
        self.request(self.between_iterations_mhz());
        match incomplete {
            Some(error) => Err(error),
            None => self.worker_result(),
        }
    }

    /// Starts the iteration over without checking it (e.g. after a plan error the trainer
    /// recovered from).
    /// A plan set during the iteration ([`PlanExecutor::set_plan`]) is installed, as at
    /// `step_end`.
    pub fn rewind(&mut self) {
        self.position = 0;
        if let Some(plan) = self.pending.take() {
            self.plan = plan;
        }
    }

    fn worker_result(&self) -> Result<(), ExecutorError> {
        let WorkerErrors { errors, dropped } = self.shared.take();
        if errors.is_empty() && dropped == 0 {
            Ok(())
        } else {
            Err(ExecutorError::Worker { errors, dropped })
        }
    }

    /// The errors the worker recorded since the last report, oldest first (at most
    /// [`MAX_KEPT_ERRORS`]; the count of others is dropped).
    pub fn take_errors(&mut self) -> Vec<Error> {
        self.shared.take().errors
    }

    /// Blocks until the worker has handled the latest request (applied it, skipped it as
    /// unchanged, or recorded its failure). Returns [`ExecutorError::WorkerPanicked`] if the
    /// worker is gone.
    pub fn wait_applied(&self) -> Result<(), ExecutorError> {
        if self.is_applied() {
            return Ok(());
        }
        let mut held = lock(&self.shared.applied_lock);
        while !self.is_applied() {
            if self.worker.as_ref().is_none_or(JoinHandle::is_finished) {
                return Err(ExecutorError::WorkerPanicked);
            }
            held = self
                .shared
                .applied_changed
                .wait_timeout(held, Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }

    /// True if the worker has handled the latest request (see [`PlanExecutor::wait_applied`]);
    /// never blocks.
    pub fn is_applied(&self) -> bool {
        self.sequence == 0
            || self.shared.applied.0.load(Ordering::Acquire)
                == pack(self.sequence, self.last_requested)
    }

    /// Stops the worker and restores every setting the executor changed. Reports restore
    /// failures, else worker errors not yet reported.
    pub fn shutdown(mut self) -> Result<(), ExecutorError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ExecutorError> {
        if self.worker.is_none() {
            return Ok(());
        }
        // The latest request is applied before the restore, so that what NVML sees does not
        // depend on whether the worker happened to look before the stop (one call at most; a
        // worker that is gone is reported by the join below).
        let _ = self.wait_applied();
        let Some(handle) = self.worker.take() else {
            return Ok(());
        };
        self.shared.handoff.stop.store(true, Ordering::Release);
        self.worker_thread.unpark();
        let mut guard = handle.join().map_err(|_| ExecutorError::WorkerPanicked)?;
        guard.restore().map_err(ExecutorError::Restore)?;
        self.worker_result()
    }
}

impl Drop for PlanExecutor {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            eprintln!("ergon-hwctl: plan executor: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_validated() {
        assert_eq!(
            StagePlan::new(Vec::<(&str, u32)>::new()),
            Err(PlanError::Empty)
        );
        assert_eq!(
            StagePlan::new([("forward", 1410), ("", 1200)]),
            Err(PlanError::EmptyName { position: 1 })
        );
        let plan = StagePlan::new([("forward", 1410), ("backward", 0)]).unwrap_or_else(|e| {
            panic!("{e}");
        });
        assert_eq!(plan.len(), 2);
        assert_eq!(&*plan.instructions()[1].name, "backward");
    }

    #[test]
    fn plans_come_from_core_plan_stages() {
        use ergon_core::perseus::{Kind, PlanStage};
        let stage = PlanStage {
            stage: 3,
            instructions: vec![(Kind::Forward, 1410), (Kind::Backward, 1305)],
        };
        let plan = StagePlan::try_from(&stage).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            plan,
            StagePlan::new([("forward", 1410), ("backward", 1305)])
                .unwrap_or_else(|e| panic!("{e}"))
        );
    }

    #[test]
    fn executors_and_errors_cross_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<PlanExecutor>();
        assert_send_sync::<ExecutorError>();
        assert_send_sync::<StagePlan>();
    }

    #[test]
    fn requests_pack_sequence_and_frequency() {
        let word = pack(7, 1410);
        assert_eq!(unpack_freq(word), 1410);
        assert_eq!(word >> 32, 7);
        assert_ne!(pack(1, 1410), pack(2, 1410));
    }

    #[test]
    fn errors_name_positions_and_counts() {
        let error = ExecutorError::NameMismatch {
            position: 3,
            expected: "backward".into(),
            got: "forward".into(),
        };
        assert_eq!(
            error.to_string(),
            "plan mismatch at instruction 3: the plan expects \"backward\", the trainer began \
             \"forward\""
        );
        let error = ExecutorError::Incomplete {
            done: 2,
            len: 5,
            left: 3,
            next: "backward".into(),
        };
        assert!(error.to_string().contains("3 left"), "{error}");
    }
}
