//! The one home of the status rules: the codes (`ergon_status`), their text
//! (`ergon_status_str`), and the mapping of every core and hwctl error to a code.
//!
//! The matches below name every variant of the core errors, without a wildcard: a variant
//! added to `ergon-core` does not compile here until it is given a code (the compile-time proof
//! that every core error maps to one). The hwctl errors are `#[non_exhaustive]`, so their
//! matches need a wildcard, which maps to `ERGON_STATUS_GPU`.

use std::ffi::CStr;
use std::fmt::Display;

use ergon_core::dpk::KnapsackError;
use ergon_core::formats::FormatError;
use ergon_core::orloj::BatchingError;
use ergon_core::perseus::FrontierError;
use ergon_hwctl::{EnergyError, Error as HwError, ExecutorError, StateError};

/// Result of every fallible call. Codes are never reused.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ergon_status {
    /// Success.
    Ok = 0,
    /// An argument of the call itself is out of its domain (an unknown constant, a NaN
    /// deadline...); values inside a problem description are `INVALID_PROBLEM`.
    InvalidArgument = 1,
    /// A required pointer is NULL or misaligned, or a handle is not of the expected type.
    NullPointer = 2,
    /// A document could not be parsed (JSON syntax, CSV shape, not UTF-8).
    Parse = 3,
    /// A document names another schema.
    Schema = 4,
    /// The problem is invalid (a profile, row, node or edge is wrong; see the message).
    InvalidProblem = 5,
    /// The call needs a solved frontier and the frontier is not solved yet.
    NotSolved = 6,
    /// The call is not valid in the handle's state (e.g. solving twice).
    InvalidState = 7,
    /// An index is beyond the end.
    OutOfRange = 8,
    /// A caller buffer is too small; the needed length was written.
    BufferTooSmall = 9,
    /// No plan meets the deadline.
    Deadline = 10,
    /// The numbers are too large for the solver's fixed-point arithmetic.
    Overflow = 11,
    /// An internal error (a bug); the handle should be freed.
    Panic = 12,
    /// The NVML library could not be loaded (no NVIDIA driver, or `$ERGON_NVML_LIBRARY` is
    /// wrong); the message names every path tried.
    NvmlUnavailable = 13,
    /// A GPU operation failed: an NVML call (no permission, not supported, GPU lost...), the GPU
    /// state file, or a setting that could not be restored; see the message.
    Gpu = 14,
}

/// Every status in code order (checked at compile time: the codes are 0, 1, 2, ... with no
/// gap, so that a code is its index here).
const ALL_STATUSES: [ergon_status; 15] = [
    ergon_status::Ok,
    ergon_status::InvalidArgument,
    ergon_status::NullPointer,
    ergon_status::Parse,
    ergon_status::Schema,
    ergon_status::InvalidProblem,
    ergon_status::NotSolved,
    ergon_status::InvalidState,
    ergon_status::OutOfRange,
    ergon_status::BufferTooSmall,
    ergon_status::Deadline,
    ergon_status::Overflow,
    ergon_status::Panic,
    ergon_status::NvmlUnavailable,
    ergon_status::Gpu,
];

const _: () = {
    let mut i = 0;
    while i < ALL_STATUSES.len() {
        assert!(
            ALL_STATUSES[i] as usize == i,
            "ALL_STATUSES is not in code order"
        );
        i += 1;
    }
};

impl ergon_status {
    /// Every status, in code order (`ALL[code]` is the status of `code`).
    pub const ALL: &'static [ergon_status] = &ALL_STATUSES;

    /// The status of a C integer, if it is one.
    pub fn from_code(code: i32) -> Option<ergon_status> {
        usize::try_from(code)
            .ok()
            .and_then(|i| ALL_STATUSES.get(i).copied())
    }

    /// The text `ergon_status_str` returns (the match names every status: a new one does not
    /// compile without its text).
    pub const fn text(self) -> &'static CStr {
        match self {
            ergon_status::Ok => c"ok",
            ergon_status::InvalidArgument => c"invalid argument",
            ergon_status::NullPointer => c"NULL or invalid pointer",
            ergon_status::Parse => c"parse error",
            ergon_status::Schema => c"wrong schema",
            ergon_status::InvalidProblem => c"invalid problem",
            ergon_status::NotSolved => c"not solved",
            ergon_status::InvalidState => c"invalid state",
            ergon_status::OutOfRange => c"index out of range",
            ergon_status::BufferTooSmall => c"buffer too small",
            ergon_status::Deadline => c"deadline cannot be met",
            ergon_status::Overflow => c"numbers too large",
            ergon_status::Panic => c"internal error (panic)",
            ergon_status::NvmlUnavailable => c"NVML unavailable",
            ergon_status::Gpu => c"GPU operation failed",
        }
    }
}

/// What `ergon_status_str` says about an integer that is no status.
pub(crate) const UNKNOWN_STATUS: &CStr = c"unknown status";

/// A failed call: its status and a message for the user.
#[derive(Debug)]
pub(crate) struct Failure {
    pub status: ergon_status,
    pub message: String,
}

impl Failure {
    pub fn new(status: ergon_status, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }

    /// A failure of `status` carrying `e`'s message.
    fn of(status: ergon_status, e: &impl Display) -> Self {
        Failure::new(status, e.to_string())
    }
}

/// What every body of an exported function returns.
pub(crate) type Result<T> = std::result::Result<T, Failure>;

/// `INVALID_ARGUMENT` with `message`.
pub(crate) fn invalid_argument(message: impl Into<String>) -> Failure {
    Failure::new(ergon_status::InvalidArgument, message)
}

// ---------------------------------------------------------------------------------- Perseus

/// The status of a frontier error.
fn frontier_status(e: &FrontierError) -> ergon_status {
    use FrontierError as E;
    match e {
        E::Overflow => ergon_status::Overflow,
        E::DeadlineTooShort { .. } => ergon_status::Deadline,
        E::InvalidDeadline(_) => ergon_status::InvalidArgument,
        E::NoSuchPoint { .. } => ergon_status::OutOfRange,
        // A cut the solver should always find: a bug, not the caller's input.
        E::Internal(_) => ergon_status::Panic,
        E::InvalidUnitTime(_)
        | E::InvalidBlockingPower(_)
        | E::EmptyProfile { .. }
        | E::DuplicateProfile { .. }
        | E::MissingProfile { .. }
        | E::UnusedProfile { .. }
        | E::InvalidOption { .. }
        | E::ShorterThanUnitTime { .. }
        | E::TooManyQuanta { .. }
        | E::InvalidFit { .. }
        | E::NonFiniteCost { .. }
        | E::NoStages
        | E::NoMicrobatches
        | E::InvalidSchedule(_)
        | E::EmptyDag
        | E::TooLarge { .. }
        | E::TooManyEdges { .. }
        | E::TooManyStages { .. }
        | E::TooManyProfiles { .. }
        | E::TooManyOptions { .. }
        | E::TooManyCostCells { .. }
        | E::OutOfMemory { .. }
        | E::StageOutOfRange { .. }
        | E::InvalidEdge { .. }
        | E::Cycle { .. } => ergon_status::InvalidProblem,
    }
}

impl From<FrontierError> for Failure {
    fn from(e: FrontierError) -> Self {
        Failure::of(frontier_status(&e), &e)
    }
}

// ------------------------------------------------------------------------------- Orloj, DPK

/// Whose value a core check rejected, for the errors that both kinds of input raise: a value
/// the call takes itself (`INVALID_ARGUMENT` and its kin) or a value inside a problem
/// description (`INVALID_PROBLEM`; see `ergon_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blame {
    /// An argument of the call.
    Argument,
    /// A value inside a problem description.
    Problem,
}

/// A core error whose status depends on [`Blame`].
pub(crate) trait Blamed: Display {
    /// Its status when `blame` is at fault.
    fn status(&self, blame: Blame) -> ergon_status;
}

/// The failure of a core error raised by a problem description.
pub(crate) fn problem<E: Blamed>(e: E) -> Failure {
    Failure::of(e.status(Blame::Problem), &e)
}

/// The failure of a core error raised by an argument of the call.
pub(crate) fn argument<E: Blamed>(e: E) -> Failure {
    Failure::of(e.status(Blame::Argument), &e)
}

impl Blamed for BatchingError {
    fn status(&self, blame: Blame) -> ergon_status {
        use BatchingError as E;
        let of_a_call = match self {
            E::UnknownApp { .. } => ergon_status::OutOfRange,
            E::BufferTooSmall { .. } => ergon_status::BufferTooSmall,
            E::InvalidValue { .. } | E::DeadlineBeforeArrival { .. } => {
                ergon_status::InvalidArgument
            }
            E::InvalidGrid { .. }
            | E::InvalidSpec { .. }
            | E::NoApps
            | E::TooManyApps { .. }
            | E::GridMismatch { .. }
            | E::InvalidShare { .. }
            | E::ShareSum { .. }
            | E::InvalidSlo { .. }
            | E::InvalidScale { .. }
            | E::InvalidMaxBatch { .. }
            | E::ScaleLength { .. }
            | E::InvalidProfile(_)
            | E::EmptyBatch
            | E::NoPolicies
            | E::TooManyRequests { .. } => ergon_status::InvalidProblem,
        };
        match blame {
            Blame::Argument => of_a_call,
            // Whatever a description holds (an app index, a time...) is part of the problem.
            Blame::Problem => ergon_status::InvalidProblem,
        }
    }
}

impl Blamed for KnapsackError {
    fn status(&self, blame: Blame) -> ergon_status {
        use KnapsackError as E;
        let blamed = match blame {
            Blame::Argument => ergon_status::InvalidArgument,
            Blame::Problem => ergon_status::InvalidProblem,
        };
        match self {
            // Scheduler options are always the call's (an online simulation refuses the
            // offline-only scheduler through them).
            E::InvalidOption { .. } => ergon_status::InvalidArgument,
            E::EmptyOrders
            | E::TooManyOrders { .. }
            | E::InvalidOrder { .. }
            | E::OrderTooLarge { .. }
            | E::InvalidDelta { .. }
            | E::InvalidEpsilon { .. }
            | E::NegativeEpsilon { .. }
            | E::InvalidParameter { .. }
            | E::CurveLength { .. }
            | E::InvalidCurve { .. }
            | E::InvalidCurveEntry { .. }
            | E::ClassicGaussianRange { .. }
            | E::NoBlocks
            | E::DuplicateBlock { .. }
            | E::CapacityLength { .. }
            | E::InvalidCapacity { .. }
            | E::BlockBudget { .. }
            | E::BlockArrival { .. }
            | E::DuplicateTask { .. }
            | E::LimitExceeded { .. }
            | E::Allocation { .. }
            | E::WeightTooLarge { .. }
            | E::InvalidWeight { .. }
            | E::TaskArrival { .. }
            | E::NoRequestedBlocks { .. }
            | E::MissingBlock { .. }
            | E::DuplicateRequest { .. }
            | E::DemandLength { .. }
            | E::InvalidDemand { .. }
            | E::TaskMechanism { .. }
            | E::TooManyTasks { .. }
            | E::InvalidSetting { .. } => blamed,
        }
    }
}

impl Blamed for FrontierError {
    /// A frontier error says itself whose fault it is (a deadline, an index, the problem).
    fn status(&self, _: Blame) -> ergon_status {
        frontier_status(self)
    }
}

/// Every system's rejected document, one mapping: syntax is `PARSE`, another schema is
/// `SCHEMA`, a field or the described problem is the problem's (its own error may say more,
/// e.g. `OVERFLOW`).
impl<E: Blamed> From<FormatError<E>> for Failure {
    fn from(e: FormatError<E>) -> Self {
        let status = match &e {
            FormatError::Json { .. } | FormatError::Csv { .. } => ergon_status::Parse,
            FormatError::Schema { .. } => ergon_status::Schema,
            FormatError::Field { .. } => ergon_status::InvalidProblem,
            FormatError::Problem(p) => p.status(Blame::Problem),
        };
        Failure::of(status, &e)
    }
}

// ------------------------------------------------------------------------------------- GPU

/// The status of an NVML error.
pub(crate) fn hw_status(e: &HwError) -> ergon_status {
    match e {
        HwError::LibraryNotFound { .. } | HwError::NotNvmlLibrary { .. } => {
            ergon_status::NvmlUnavailable
        }
        HwError::NoSuchDevice { .. } => ergon_status::InvalidArgument,
        _ => ergon_status::Gpu,
    }
}

/// The status of a state-file (or guarded NVML) error.
pub(crate) fn state_status(e: &StateError) -> ergon_status {
    match e {
        StateError::Nvml(n) => hw_status(n),
        _ => ergon_status::Gpu,
    }
}

impl From<HwError> for Failure {
    fn from(e: HwError) -> Self {
        Failure::of(hw_status(&e), &e)
    }
}

impl From<StateError> for Failure {
    fn from(e: StateError) -> Self {
        Failure::of(state_status(&e), &e)
    }
}

impl From<ExecutorError> for Failure {
    fn from(e: ExecutorError) -> Self {
        let status = match &e {
            ExecutorError::Plan(_) | ExecutorError::UnsupportedFrequency { .. } => {
                ergon_status::InvalidArgument
            }
            ExecutorError::NameMismatch { .. }
            | ExecutorError::PlanExhausted { .. }
            | ExecutorError::Incomplete { .. } => ergon_status::InvalidState,
            ExecutorError::Startup(n) => hw_status(n),
            ExecutorError::StateFile(s) => state_status(s),
            _ => ergon_status::Gpu,
        };
        Failure::of(status, &e)
    }
}

/// The status of an energy monitor error.
pub(crate) fn energy_status(e: &EnergyError) -> ergon_status {
    match e {
        EnergyError::DuplicateWindow { .. } | EnergyError::UnknownWindow { .. } => {
            ergon_status::InvalidState
        }
        EnergyError::MigDevice { .. } => ergon_status::InvalidArgument,
        EnergyError::Nvml(n) => hw_status(n),
        _ => ergon_status::Gpu,
    }
}

impl From<EnergyError> for Failure {
    fn from(e: EnergyError) -> Self {
        Failure::of(energy_status(&e), &e)
    }
}
