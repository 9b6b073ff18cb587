//! **Chase** (Jie You, Jae-Won Chung and Mosharaf Chowdhury, "Chasing Low-Carbon Electricity
//! for Practical and Sustainable DNN Training", ICLR'23 CCAI workshop, arXiv 2303.02508): Zeus's
//! power-limit choice made carbon-aware. Every 30 minutes the controller forecasts the grid's
//! carbon intensity for the next slot and sets the power limit of least
//! `(η·P·CI + (1−η)·MaxPL·MaxCI·N) / throughput` (a high intensity weighs energy more and
//! lowers the limit).
//!
//! - [`parse_carbon_csv`] reads the carbon trace (`location,timestamp,duration,value,hist`).
//! - [`chase_cost`], [`OperatingPoint::chase_cost`] and [`choose_point`]: the cost and the
//!   choice; [`ChaseParams`] holds η, MaxPL, MaxCI and N.
//! - [`CarbonForecaster`] and [`forecast_series`]: one-step-ahead forecasts
//!   ([`ForecastMethod::Ergon`] by default, see the `forecast` module's notes for how it was
//!   chosen and how it compares with the reference's SVR).
//! - [`run_job`]: the controller replayed over a trace, with [`zeus_choice`] and a fixed maximum
//!   limit as baselines.
//! - [`carbon_aware_perseus`]: beyond the paper, the same choice over a Perseus frontier.
//!
//! Interchange formats (`chase-forecast/v1`, `chase-sim/v1`) live in `formats` behind the
//! `serde` feature.

mod cost;
mod forecast;
mod perseus;
mod sim;
mod trace;

/// Interchange formats: `chase-forecast/v1`, `chase-sim/v1`, and frontier points in.
#[cfg(feature = "serde")]
pub mod formats;

pub use cost::{
    ChaseParams, DEFAULT_MAX_CI_G_PER_KWH, J_PER_KWH, OperatingPoint, chase_cost, choose_point,
    emissions_g,
};
pub use forecast::{
    CarbonForecaster, ForecastMethod, LsSvm, MAX_HISTORY, REFERENCE_C, REFERENCE_GAMMA,
    REFERENCE_HISTORY, forecast_series, mean_absolute_error,
};
pub use perseus::{
    PerseusComparison, PowerLimitScale, carbon_aware_perseus, fastest_point, power_limit_points,
    power_limit_scales,
};
pub use sim::{CarbonInterval, IntervalOutcome, Policy, RunOutcome, run_job, zeus_choice};
pub use trace::{
    CARBON_CSV_COLUMNS, CarbonCsvError, CarbonRecord, CarbonTrace, MAX_CARBON_ROWS,
    MAX_CARBON_TEXT_CELL, MAX_DURATION_MIN, MAX_INTENSITY_G_PER_KWH, parse_carbon_csv,
};

/// Most operating points (power limits, frontier points) a replay chooses among.
pub const MAX_POINTS: usize = 1 << 16;
/// Most slots a replay walks (as many as a trace may have rows).
pub const MAX_INTERVALS: usize = MAX_CARBON_ROWS;

/// Why a Chase computation was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChaseError {
    /// The intensity series is empty.
    #[error("the carbon trace is empty")]
    EmptyTrace,
    /// A window setting is unusable.
    #[error("{message}")]
    Window {
        /// What is wrong.
        message: &'static str,
    },
    /// The training window is longer than [`MAX_HISTORY`].
    #[error("history of {history} slots is longer than the limit of {max}")]
    HistoryTooLong {
        /// The window asked for.
        history: usize,
        /// [`MAX_HISTORY`].
        max: usize,
    },
    /// The training window leaves no slot of the trace to forecast.
    #[error(
        "history of {history} slots is not shorter than the trace ({rows} rows): no slot is left to forecast"
    )]
    HistoryLongerThanTrace {
        /// The window asked for.
        history: usize,
        /// Rows of the trace.
        rows: usize,
    },
    /// The window before the first forecast is shorter than the history.
    #[error(
        "history of {history} slots does not fit before the start at slot {start} (need history <= start)"
    )]
    HistoryBeforeStart {
        /// The window asked for.
        history: usize,
        /// The first slot forecast.
        start: usize,
    },
    /// The first slot to forecast is past the last row.
    #[error(
        "start at slot {start} is beyond the end of the trace ({rows} rows, slots 0..{rows}): nothing to forecast"
    )]
    StartBeyondEnd {
        /// The first slot asked for.
        start: usize,
        /// Rows of the trace.
        rows: usize,
    },
    /// An intensity is negative or not finite.
    #[error("carbon intensity of slot {row} is {value} (need a number in 0..=1e5 gCO2/kWh)")]
    Intensity {
        /// The 0-based row.
        row: usize,
        /// Its value.
        value: f64,
    },
    /// The kernel system could not be factorised (only with extreme inputs).
    #[error("the forecaster's kernel system is not positive definite (intensities too large?)")]
    Numeric,
    /// A constant is out of its domain.
    #[error("{name} = {value}: need {need}")]
    Param {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: f64,
        /// Its domain.
        need: &'static str,
    },
    /// No operating point to choose from.
    #[error("no operating point (power limit or frontier point) to choose from")]
    NoPoints,
    /// An operating point has a non-positive time or a negative energy.
    #[error(
        "operating point {index}: time per unit {time_per_unit_s} s, energy per unit {energy_per_unit_j} J (need time > 0 and energy >= 0, finite)"
    )]
    Point {
        /// Its index.
        index: usize,
        /// Its time per unit, s.
        time_per_unit_s: f64,
        /// Its energy per unit, J.
        energy_per_unit_j: f64,
    },
    /// A fixed point index is out of range.
    #[error("point index {index} is out of range ({points} points)")]
    PointIndex {
        /// The index.
        index: usize,
        /// Points there are.
        points: usize,
    },
    /// A slot has a non-positive length or a bad intensity.
    #[error("interval {index}: need a length > 0 and finite intensities >= 0")]
    Interval {
        /// Its index.
        index: usize,
    },
    /// Too many of something.
    #[error("{count} {what}, more than the limit of {max}")]
    TooMany {
        /// What.
        what: &'static str,
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The job did not finish within the trace.
    #[error(
        "the job did not finish within the {intervals} slots of the trace: {units_left} of {job_units} units of work left (shorten the job or start earlier)"
    )]
    TraceTooShort {
        /// Work left at the end of the trace.
        units_left: f64,
        /// The job's work.
        job_units: f64,
        /// Slots walked.
        intervals: usize,
    },
}
