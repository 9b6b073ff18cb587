//! The just-in-time power-limit optimizer of Zeus (`GlobalPowerLimitOptimizer` in the
//! reference), as a pure state machine: it never touches a GPU or a clock. The driver (hwctl's
//! `PowerLimitOptimizer`, the C ABI, Python) calls [`PowerLimitOptimizer::on_step_begin`] and
//! [`PowerLimitOptimizer::on_epoch_end`] from the training loop and carries out the [`Action`]s
//! they return: set a power limit, open, close or cancel a measurement window. When a window
//! closes, the driver measures it (energy summed over every GPU of every rank, time the maximum
//! over the ranks) and hands the result to [`PowerLimitOptimizer::record_window`].
//!
//! # States and step accounting
//!
//! `Ready → Warmup → Profiling → (next limit) Warmup → … → Done`. With the defaults
//! ([`PowerLimitOptions`]: wait 1, warm-up 10, profile 40 steps, 25 W apart) the first limit is
//! set at the 2nd step's begin, each limit then takes 50 steps, and its window covers the 40
//! steps after its 10 warm-up steps. The candidates run from the maximum settable limit down by
//! the step while at or above the minimum (the reference's `range(max, min - 1, -step)`).
//!
//! An epoch end during warm-up or profiling cancels the window, sets the maximum limit, and
//! profiles the interrupted limit again from scratch at the next step (as the reference does;
//! an epoch shorter than warm-up + profile steps therefore never finishes profiling).
//!
//! # Where ergon differs from the reference
//!
//! - A warm-up of 0 steps goes straight to profiling (the reference accepts 0 in its constructor
//!   and then crashes on its first transition).
//! - [`Selector::ZeusCost`] prices time with the maximum limit times the *total* GPU count of
//!   the job; the reference multiplies by the local GPU count, which under-weights time by the
//!   rank count under DDP while energy is summed over all ranks.
//! - The profile is kept in mW (the reference truncates to integer watts), so a profile saved
//!   and loaded again chooses exactly the same limit.

use alloc::vec::Vec;
use core::fmt;

use super::{Eta, zeus_cost};

/// Default number of steps before the first warm-up ([`PowerLimitOptions::wait_steps`]).
pub const DEFAULT_WAIT_STEPS: u32 = 1;
/// Default warm-up steps per limit.
pub const DEFAULT_WARMUP_STEPS: u32 = 10;
/// Default measured steps per limit.
pub const DEFAULT_PROFILE_STEPS: u32 = 40;
/// Default spacing of the candidate limits, mW (25 W).
pub const DEFAULT_STEP_MW: u32 = 25_000;

/// How the optimizer steps through the candidates (the reference's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PowerLimitOptions {
    /// Steps before the first warm-up begins (default 1: the first limit is set at step 2).
    pub wait_steps: u32,
    /// Steps run at each limit before its window opens (default 10; 0: none).
    pub warmup_steps: u32,
    /// Steps measured at each limit (default 40; at least 1).
    pub profile_steps: u32,
    /// Spacing of the candidate limits, mW (default 25 000; at least 1).
    pub step_mw: u32,
}

impl Default for PowerLimitOptions {
    fn default() -> Self {
        Self {
            wait_steps: DEFAULT_WAIT_STEPS,
            warmup_steps: DEFAULT_WARMUP_STEPS,
            profile_steps: DEFAULT_PROFILE_STEPS,
            step_mw: DEFAULT_STEP_MW,
        }
    }
}

/// How the optimum is chosen from the measured profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Selector {
    /// The least energy.
    Energy,
    /// The least time (on purpose not always the maximum limit: measurements are noisy).
    Time,
    /// The least [`zeus_cost`], time priced at the largest measured limit times `gpu_count`,
    /// the number of GPUs of the whole job (all ranks).
    ZeusCost {
        /// The energy/time trade-off.
        eta: Eta,
        /// GPUs of the whole job, at least 1.
        gpu_count: u32,
    },
    /// The lowest limit whose time is at most `factor` times the time at the largest measured
    /// limit.
    MaxSlowdown {
        /// The allowed slowdown, at least 1.
        factor: f64,
    },
}

impl Default for Selector {
    /// `ZeusCost` with η = 0.5 on one GPU, the reference's default on a single GPU.
    fn default() -> Self {
        Self::ZeusCost {
            eta: Eta::DEFAULT,
            gpu_count: 1,
        }
    }
}

/// What was measured at one power limit: one closed window.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PowerLimitMeasurement {
    /// The limit, mW.
    pub power_limit_mw: u32,
    /// Energy of every GPU of the job over the window, J.
    pub energy_j: f64,
    /// Wall time of the window (the slowest rank's), s.
    pub time_s: f64,
}

/// What the driver must do, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Set every GPU's power limit to `limit_mw`.
    SetPowerLimit {
        /// The limit, mW.
        limit_mw: u32,
    },
    /// Synchronise, then open the measurement window of `limit_mw`.
    BeginWindow {
        /// The limit being profiled, mW.
        limit_mw: u32,
    },
    /// Synchronise, close the window of `limit_mw`, aggregate it over the ranks and pass the
    /// result to [`PowerLimitOptimizer::record_window`] before the next step.
    EndWindow {
        /// The limit profiled, mW.
        limit_mw: u32,
    },
    /// Drop the open window of `limit_mw` without measuring it.
    CancelWindow {
        /// The limit whose profiling was interrupted, mW.
        limit_mw: u32,
    },
}

/// Where the optimizer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerLimitState {
    /// Waiting `steps_left` more step begins before `next_limit_mw` is set.
    Ready {
        /// The next limit to profile, mW.
        next_limit_mw: u32,
        /// Step begins left until it is set.
        steps_left: u32,
    },
    /// Warming up at `limit_mw`.
    Warmup {
        /// The limit, mW.
        limit_mw: u32,
        /// Step begins left until its window opens.
        steps_left: u32,
    },
    /// Measuring `limit_mw`.
    Profiling {
        /// The limit, mW.
        limit_mw: u32,
        /// Step begins left until its window closes.
        steps_left: u32,
    },
    /// The window of `limit_mw` was closed: waiting for [`PowerLimitOptimizer::record_window`].
    Measuring {
        /// The limit, mW.
        limit_mw: u32,
    },
    /// The optimum is set and held.
    Done {
        /// The chosen limit, mW.
        optimal_limit_mw: u32,
    },
}

/// Why an input or a call was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PowerLimitError {
    /// An option out of its domain.
    #[error("power-limit optimizer option `{option}` = {value}: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// Its value.
        value: f64,
        /// The domain.
        reason: &'static str,
    },
    /// The constraints of the GPU give no candidate.
    #[error(
        "power-limit constraints {min_mw}..={max_mw} mW give no candidate limit (the minimum \
         must not exceed the maximum, and the maximum must be positive)"
    )]
    InvalidConstraints {
        /// Smallest settable limit, mW.
        min_mw: u32,
        /// Largest settable limit, mW.
        max_mw: u32,
    },
    /// A measurement with a negative or non-finite energy or time.
    #[error(
        "measurement of {power_limit_mw} mW: energy_j = {energy_j} and time_s = {time_s} must be \
         finite and non-negative"
    )]
    InvalidMeasurement {
        /// The limit, mW.
        power_limit_mw: u32,
        /// The energy given.
        energy_j: f64,
        /// The time given.
        time_s: f64,
    },
    /// A loaded profile is empty.
    #[error("the power-limit profile has no measurement")]
    EmptyProfile,
    /// A loaded profile names a limit outside the GPU's constraints.
    #[error(
        "the power-limit profile measured {power_limit_mw} mW, outside this GPU's settable range \
         {min_mw}..={max_mw} mW (a profile of another GPU model?)"
    )]
    ProfileOutOfRange {
        /// The limit of the profile, mW.
        power_limit_mw: u32,
        /// Smallest settable limit, mW.
        min_mw: u32,
        /// Largest settable limit, mW.
        max_mw: u32,
    },
    /// A call that the current state does not allow.
    #[error("{call} is not allowed while the optimizer is {state}")]
    WrongState {
        /// The call made.
        call: &'static str,
        /// The state, in words.
        state: &'static str,
    },
}

impl PowerLimitState {
    /// One step begin of a counting phase that is not its last: decrements `steps_left` and
    /// returns true. False at a phase's last step begin (and in the other states).
    fn count_down(&mut self) -> bool {
        match self {
            Self::Ready { steps_left, .. }
            | Self::Warmup { steps_left, .. }
            | Self::Profiling { steps_left, .. }
                if *steps_left > 1 =>
            {
                *steps_left -= 1;
                true
            }
            _ => false,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Ready { .. } => "ready",
            Self::Warmup { .. } => "warming up",
            Self::Profiling { .. } => "profiling",
            Self::Measuring { .. } => {
                "waiting for the measurement of its closed window (call record_window)"
            }
            Self::Done { .. } => "done",
        }
    }
}

impl fmt::Display for PowerLimitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Ready {
                next_limit_mw,
                steps_left,
            } => write!(f, "ready ({next_limit_mw} mW in {steps_left} steps)"),
            Self::Warmup {
                limit_mw,
                steps_left,
            } => write!(f, "warming up at {limit_mw} mW ({steps_left} steps left)"),
            Self::Profiling {
                limit_mw,
                steps_left,
            } => write!(f, "profiling {limit_mw} mW ({steps_left} steps left)"),
            Self::Measuring { limit_mw } => write!(f, "measuring {limit_mw} mW"),
            Self::Done { optimal_limit_mw } => write!(f, "done at {optimal_limit_mw} mW"),
        }
    }
}

impl Selector {
    /// Checks the selector's parameters.
    pub fn validate(&self) -> Result<(), PowerLimitError> {
        match *self {
            Self::ZeusCost { gpu_count: 0, .. } => Err(PowerLimitError::InvalidOption {
                option: "gpu_count",
                value: 0.0,
                reason: "the job has at least one GPU",
            }),
            Self::MaxSlowdown { factor } if !(factor >= 1.0 && factor.is_finite()) => {
                Err(PowerLimitError::InvalidOption {
                    option: "max_slowdown",
                    value: factor,
                    reason: "must be a finite number of at least 1",
                })
            }
            _ => Ok(()),
        }
    }

    /// The index of the optimum in `profile` (`None` when it is empty). Ties go to the earlier
    /// entry: in profiling order, the higher limit (the reference's `min` over its list).
    pub fn select(&self, profile: &[PowerLimitMeasurement]) -> Option<usize> {
        let argmin = |key: &dyn Fn(&PowerLimitMeasurement) -> f64| {
            let mut best: Option<(usize, f64)> = None;
            for (i, m) in profile.iter().enumerate() {
                let value = key(m);
                if best.is_none_or(|(_, b)| value < b) {
                    best = Some((i, value));
                }
            }
            best.map(|(i, _)| i)
        };
        match *self {
            Self::Energy => argmin(&|m| m.energy_j),
            Self::Time => argmin(&|m| m.time_s),
            Self::ZeusCost { eta, gpu_count } => {
                let max_w = f64::from(profile.iter().map(|m| m.power_limit_mw).max()?) / 1000.0;
                let max_power_w = max_w * f64::from(gpu_count);
                argmin(&|m| zeus_cost(m.energy_j, m.time_s, eta, max_power_w))
            }
            Self::MaxSlowdown { factor } => {
                let (reference, _) = profile
                    .iter()
                    .enumerate()
                    .max_by_key(|(i, m)| (m.power_limit_mw, core::cmp::Reverse(*i)))?;
                let bound_s = factor * profile[reference].time_s;
                let mut best = reference;
                for (i, m) in profile.iter().enumerate() {
                    if m.time_s <= bound_s && m.power_limit_mw < profile[best].power_limit_mw {
                        best = i;
                    }
                }
                Some(best)
            }
        }
    }
}

/// The candidate limits of a GPU with `[min_mw, max_mw]`, from the maximum down by `step_mw`
/// while at or above the minimum.
pub fn candidate_limits_mw(
    min_mw: u32,
    max_mw: u32,
    step_mw: u32,
) -> Result<Vec<u32>, PowerLimitError> {
    if step_mw == 0 {
        return Err(PowerLimitError::InvalidOption {
            option: "step_mw",
            value: 0.0,
            reason: "the spacing of the limits must be at least 1 mW",
        });
    }
    if max_mw == 0 || min_mw > max_mw {
        return Err(PowerLimitError::InvalidConstraints { min_mw, max_mw });
    }
    let mut limits = Vec::new();
    let mut limit = max_mw;
    loop {
        limits.push(limit);
        match limit.checked_sub(step_mw) {
            Some(next) if next >= min_mw => limit = next,
            _ => break,
        }
    }
    Ok(limits)
}

fn check_measurement(m: &PowerLimitMeasurement) -> Result<(), PowerLimitError> {
    let ok = |v: f64| v.is_finite() && v >= 0.0;
    if ok(m.energy_j) && ok(m.time_s) {
        Ok(())
    } else {
        Err(PowerLimitError::InvalidMeasurement {
            power_limit_mw: m.power_limit_mw,
            energy_j: m.energy_j,
            time_s: m.time_s,
        })
    }
}

/// The power-limit optimizer: see the [module documentation](self).
#[derive(Debug, Clone, PartialEq)]
pub struct PowerLimitOptimizer {
    options: PowerLimitOptions,
    selector: Selector,
    min_mw: u32,
    max_mw: u32,
    candidates: Vec<u32>,
    /// Index of the candidate being (or next to be) profiled.
    next: usize,
    profile: Vec<PowerLimitMeasurement>,
    state: PowerLimitState,
}

impl PowerLimitOptimizer {
    /// An optimizer for GPUs whose limits may be set in `[min_mw, max_mw]`, starting in `Ready`.
    /// The driver must first apply [`Self::startup_actions`] (the maximum limit).
    pub fn new(
        min_mw: u32,
        max_mw: u32,
        options: PowerLimitOptions,
        selector: Selector,
    ) -> Result<Self, PowerLimitError> {
        selector.validate()?;
        if options.profile_steps == 0 {
            return Err(PowerLimitError::InvalidOption {
                option: "profile_steps",
                value: 0.0,
                reason: "at least one step must be measured",
            });
        }
        let candidates = candidate_limits_mw(min_mw, max_mw, options.step_mw)?;
        let state = PowerLimitState::Ready {
            next_limit_mw: candidates[0],
            steps_left: options.wait_steps.saturating_add(1),
        };
        Ok(Self {
            options,
            selector,
            min_mw,
            max_mw,
            candidates,
            next: 0,
            profile: Vec::new(),
            state,
        })
    }

    /// An optimizer that skips profiling: `profile` (a saved one) is checked against the
    /// constraints, the optimum chosen from it, and the optimizer starts `Done`.
    pub fn with_profile(
        min_mw: u32,
        max_mw: u32,
        options: PowerLimitOptions,
        selector: Selector,
        profile: Vec<PowerLimitMeasurement>,
    ) -> Result<Self, PowerLimitError> {
        let mut optimizer = Self::new(min_mw, max_mw, options, selector)?;
        if profile.is_empty() {
            return Err(PowerLimitError::EmptyProfile);
        }
        for m in &profile {
            check_measurement(m)?;
            if m.power_limit_mw < min_mw || m.power_limit_mw > max_mw {
                return Err(PowerLimitError::ProfileOutOfRange {
                    power_limit_mw: m.power_limit_mw,
                    min_mw,
                    max_mw,
                });
            }
        }
        optimizer.profile = profile;
        optimizer.next = optimizer.candidates.len();
        optimizer.state = PowerLimitState::Done {
            optimal_limit_mw: optimizer.optimum_of_profile(),
        };
        Ok(optimizer)
    }

    /// The limit the selector chooses from the profile (non-empty by construction when called).
    fn optimum_of_profile(&self) -> u32 {
        self.selector
            .select(&self.profile)
            .map_or(self.max_mw, |i| self.profile[i].power_limit_mw)
    }

    /// What to do before the first step: set the maximum limit (or, with a loaded profile, the
    /// optimum).
    pub fn startup_actions(&self) -> Vec<Action> {
        let limit_mw = match self.state {
            PowerLimitState::Done { optimal_limit_mw } => optimal_limit_mw,
            _ => self.max_mw,
        };
        alloc::vec![Action::SetPowerLimit { limit_mw }]
    }

    /// The state.
    pub fn state(&self) -> PowerLimitState {
        self.state
    }

    /// The options.
    pub fn options(&self) -> PowerLimitOptions {
        self.options
    }

    /// The selector.
    pub fn selector(&self) -> Selector {
        self.selector
    }

    /// The settable range, mW.
    pub fn constraints_mw(&self) -> (u32, u32) {
        (self.min_mw, self.max_mw)
    }

    /// The candidate limits, highest first, mW.
    pub fn candidates_mw(&self) -> &[u32] {
        &self.candidates
    }

    /// The measurements so far, in profiling order (or the loaded profile).
    pub fn profile(&self) -> &[PowerLimitMeasurement] {
        &self.profile
    }

    /// The chosen limit once `Done`, mW.
    pub fn optimal_limit_mw(&self) -> Option<u32> {
        match self.state {
            PowerLimitState::Done { optimal_limit_mw } => Some(optimal_limit_mw),
            _ => None,
        }
    }

    /// True once the optimum is chosen.
    pub fn is_done(&self) -> bool {
        matches!(self.state, PowerLimitState::Done { .. })
    }

    /// Warm-up of `limit_mw`, or its window at once when there is no warm-up.
    fn enter_warmup(&mut self, limit_mw: u32, actions: &mut Vec<Action>) {
        if self.options.warmup_steps == 0 {
            actions.push(Action::BeginWindow { limit_mw });
            self.state = PowerLimitState::Profiling {
                limit_mw,
                steps_left: self.options.profile_steps,
            };
        } else {
            self.state = PowerLimitState::Warmup {
                limit_mw,
                steps_left: self.options.warmup_steps,
            };
        }
    }

    /// At the beginning of every training step. Refused while a closed window waits for its
    /// measurement.
    pub fn on_step_begin(&mut self) -> Result<Vec<Action>, PowerLimitError> {
        let mut actions = Vec::new();
        if self.state.count_down() {
            return Ok(actions);
        }
        // The phase's last step begin: move on.
        match self.state {
            PowerLimitState::Ready { next_limit_mw, .. } => {
                actions.push(Action::SetPowerLimit {
                    limit_mw: next_limit_mw,
                });
                self.enter_warmup(next_limit_mw, &mut actions);
            }
            PowerLimitState::Warmup { limit_mw, .. } => {
                actions.push(Action::BeginWindow { limit_mw });
                self.state = PowerLimitState::Profiling {
                    limit_mw,
                    steps_left: self.options.profile_steps,
                };
            }
            PowerLimitState::Profiling { limit_mw, .. } => {
                actions.push(Action::EndWindow { limit_mw });
                self.state = PowerLimitState::Measuring { limit_mw };
            }
            PowerLimitState::Measuring { .. } => {
                return Err(PowerLimitError::WrongState {
                    call: "on_step_begin",
                    state: self.state.name(),
                });
            }
            PowerLimitState::Done { .. } => {}
        }
        Ok(actions)
    }

    /// The measurement of the window [`Action::EndWindow`] closed (energy summed over every GPU
    /// of the job, time the slowest rank's). Sets the next candidate, or, after the last one,
    /// the optimum.
    pub fn record_window(
        &mut self,
        energy_j: f64,
        time_s: f64,
    ) -> Result<Vec<Action>, PowerLimitError> {
        let PowerLimitState::Measuring { limit_mw } = self.state else {
            return Err(PowerLimitError::WrongState {
                call: "record_window",
                state: self.state.name(),
            });
        };
        let m = PowerLimitMeasurement {
            power_limit_mw: limit_mw,
            energy_j,
            time_s,
        };
        check_measurement(&m)?;
        self.profile.push(m);
        self.next += 1;
        let mut actions = Vec::new();
        match self.candidates.get(self.next) {
            Some(&next_limit_mw) => {
                actions.push(Action::SetPowerLimit {
                    limit_mw: next_limit_mw,
                });
                self.enter_warmup(next_limit_mw, &mut actions);
            }
            None => {
                let optimal_limit_mw = self.optimum_of_profile();
                actions.push(Action::SetPowerLimit {
                    limit_mw: optimal_limit_mw,
                });
                self.state = PowerLimitState::Done { optimal_limit_mw };
            }
        }
        Ok(actions)
    }

    /// At the end of every epoch: an interrupted warm-up or profiling is dropped (its window
    /// cancelled), the maximum limit set, and that limit profiled again from the next step.
    /// Refused while a closed window waits for its measurement.
    pub fn on_epoch_end(&mut self) -> Result<Vec<Action>, PowerLimitError> {
        let mut actions = Vec::new();
        match self.state {
            PowerLimitState::Warmup { limit_mw, .. }
            | PowerLimitState::Profiling { limit_mw, .. } => {
                if matches!(self.state, PowerLimitState::Profiling { .. }) {
                    actions.push(Action::CancelWindow { limit_mw });
                }
                actions.push(Action::SetPowerLimit {
                    limit_mw: self.max_mw,
                });
                self.state = PowerLimitState::Ready {
                    next_limit_mw: limit_mw,
                    steps_left: 1,
                };
            }
            PowerLimitState::Measuring { .. } => {
                return Err(PowerLimitError::WrongState {
                    call: "on_epoch_end",
                    state: self.state.name(),
                });
            }
            PowerLimitState::Ready { .. } | PowerLimitState::Done { .. } => {}
        }
        Ok(actions)
    }
}

/// The saved profile (`zeus-power-profile/v1`, formats.md): the measurements of a finished
/// profiling run, read back by [`PowerLimitOptimizer::with_profile`].
#[cfg(feature = "serde")]
pub mod formats {
    use alloc::string::String;
    use alloc::vec::Vec;

    use serde::{Deserialize, Serialize};

    use super::{PowerLimitError, PowerLimitMeasurement};
    use crate::formats::{parse_document, to_json};

    /// Schema name of a saved power-limit profile.
    pub const PROFILE_SCHEMA: &str = "zeus-power-profile/v1";

    /// Why a saved profile was rejected.
    pub type FormatError = crate::formats::FormatError<PowerLimitError>;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ProfileDoc {
        schema: String,
        measurements: Vec<PowerLimitMeasurement>,
    }

    /// Reads a `zeus-power-profile/v1` document.
    pub fn parse_profile(text: &str) -> Result<Vec<PowerLimitMeasurement>, FormatError> {
        let doc: ProfileDoc = parse_document(text, PROFILE_SCHEMA)?;
        if doc.measurements.is_empty() {
            return Err(FormatError::Problem(PowerLimitError::EmptyProfile));
        }
        Ok(doc.measurements)
    }

    /// Writes `profile` as a `zeus-power-profile/v1` document.
    pub fn write_profile(profile: &[PowerLimitMeasurement]) -> String {
        to_json(&ProfileDoc {
            schema: PROFILE_SCHEMA.into(),
            measurements: profile.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;

    use super::*;

    /// No wait, 25 W apart, `warmup_steps` and `profile_steps` per limit.
    fn no_wait(warmup_steps: u32, profile_steps: u32) -> PowerLimitOptions {
        PowerLimitOptions {
            wait_steps: 0,
            warmup_steps,
            profile_steps,
            step_mw: 25_000,
        }
    }

    fn m(power_limit_w: u32, energy_j: f64, time_s: f64) -> PowerLimitMeasurement {
        PowerLimitMeasurement {
            power_limit_mw: power_limit_w * 1000,
            energy_j,
            time_s,
        }
    }

    #[test]
    fn candidates_follow_the_reference_range() {
        // Reference notes §1.2: 100–300 W gives 9 limits, 200–700 W gives 21, high to low.
        let c = candidate_limits_mw(100_000, 300_000, 25_000).unwrap();
        assert_eq!(c.len(), 9);
        assert_eq!((c[0], c[8]), (300_000, 100_000));
        assert_eq!(
            candidate_limits_mw(200_000, 700_000, 25_000).unwrap().len(),
            21
        );
        // The minimum is included only when it lies on the grid: range(250, 99, -25).
        assert_eq!(
            candidate_limits_mw(110_000, 250_000, 25_000).unwrap(),
            [250_000, 225_000, 200_000, 175_000, 150_000, 125_000]
        );
        assert_eq!(
            candidate_limits_mw(50_000, 50_000, 25_000).unwrap(),
            [50_000]
        );
        assert!(candidate_limits_mw(300_000, 100_000, 25_000).is_err());
        assert!(candidate_limits_mw(0, 0, 25_000).is_err());
        assert!(candidate_limits_mw(0, 10, 0).is_err());
    }

    /// The step numbers (1-based) at whose begin each action happens, default options.
    #[test]
    fn default_step_accounting() {
        let mut o = PowerLimitOptimizer::new(
            250_000,
            300_000,
            PowerLimitOptions::default(),
            Selector::Energy,
        )
        .unwrap();
        assert_eq!(
            o.startup_actions(),
            [Action::SetPowerLimit { limit_mw: 300_000 }]
        );
        let mut events = Vec::new();
        for step in 1..=200u32 {
            let mut actions = o.on_step_begin().unwrap();
            if let Some(&Action::EndWindow { limit_mw }) = actions.last() {
                // More energy at the higher limit: the lowest wins under Energy.
                let more = o.record_window(f64::from(limit_mw), 1.0).unwrap();
                actions.extend(more);
            }
            for a in actions {
                events.push((step, a));
            }
        }
        use Action::*;
        assert_eq!(
            events,
            [
                (2, SetPowerLimit { limit_mw: 300_000 }),
                (12, BeginWindow { limit_mw: 300_000 }),
                (52, EndWindow { limit_mw: 300_000 }),
                (52, SetPowerLimit { limit_mw: 275_000 }),
                (62, BeginWindow { limit_mw: 275_000 }),
                (102, EndWindow { limit_mw: 275_000 }),
                (102, SetPowerLimit { limit_mw: 250_000 }),
                (112, BeginWindow { limit_mw: 250_000 }),
                (152, EndWindow { limit_mw: 250_000 }),
                (152, SetPowerLimit { limit_mw: 250_000 }),
            ]
        );
        assert_eq!(o.optimal_limit_mw(), Some(250_000));
    }

    #[test]
    fn zero_warmup_goes_straight_to_profiling() {
        let options = no_wait(0, 2);
        let mut o = PowerLimitOptimizer::new(275_000, 300_000, options, Selector::Time).unwrap();
        assert_eq!(
            o.on_step_begin().unwrap(),
            [
                Action::SetPowerLimit { limit_mw: 300_000 },
                Action::BeginWindow { limit_mw: 300_000 }
            ]
        );
        assert_eq!(o.on_step_begin().unwrap(), []);
        assert_eq!(
            o.on_step_begin().unwrap(),
            [Action::EndWindow { limit_mw: 300_000 }]
        );
        assert_eq!(
            o.record_window(10.0, 1.0).unwrap(),
            [
                Action::SetPowerLimit { limit_mw: 275_000 },
                Action::BeginWindow { limit_mw: 275_000 }
            ]
        );
    }

    #[test]
    fn epoch_end_reprofiles_from_scratch() {
        let options = no_wait(1, 3);
        let mut o = PowerLimitOptimizer::new(275_000, 300_000, options, Selector::Time).unwrap();
        o.on_step_begin().unwrap(); // set 300 W, warm-up
        assert_eq!(
            o.on_step_begin().unwrap(),
            [Action::BeginWindow { limit_mw: 300_000 }]
        );
        assert_eq!(
            o.on_epoch_end().unwrap(),
            [
                Action::CancelWindow { limit_mw: 300_000 },
                Action::SetPowerLimit { limit_mw: 300_000 }
            ]
        );
        assert_eq!(
            o.state(),
            PowerLimitState::Ready {
                next_limit_mw: 300_000,
                steps_left: 1
            }
        );
        // The first step of the next epoch sets it again and warms up again.
        assert_eq!(
            o.on_step_begin().unwrap(),
            [Action::SetPowerLimit { limit_mw: 300_000 }]
        );
        assert!(matches!(
            o.state(),
            PowerLimitState::Warmup { steps_left: 1, .. }
        ));
        // Epoch end in warm-up: no window to cancel.
        assert_eq!(
            o.on_epoch_end().unwrap(),
            [Action::SetPowerLimit { limit_mw: 300_000 }]
        );
        assert!(o.profile().is_empty());
    }

    #[test]
    fn misuse_is_refused() {
        let options = no_wait(0, 1);
        let mut o = PowerLimitOptimizer::new(300_000, 300_000, options, Selector::Time).unwrap();
        assert!(matches!(
            o.record_window(1.0, 1.0),
            Err(PowerLimitError::WrongState {
                call: "record_window",
                ..
            })
        ));
        o.on_step_begin().unwrap();
        o.on_step_begin().unwrap(); // closes the window
        assert!(o.on_step_begin().is_err());
        assert!(o.on_epoch_end().is_err());
        assert!(matches!(
            o.record_window(f64::NAN, 1.0),
            Err(PowerLimitError::InvalidMeasurement {
                power_limit_mw: 300_000,
                ..
            })
        ));
        assert!(o.record_window(1.0, -1.0).is_err());
        assert_eq!(
            o.record_window(5.0, 1.0).unwrap(),
            [Action::SetPowerLimit { limit_mw: 300_000 }]
        );
        assert_eq!(o.optimal_limit_mw(), Some(300_000));
        let zero_profile = PowerLimitOptions {
            profile_steps: 0,
            ..PowerLimitOptions::default()
        };
        assert!(PowerLimitOptimizer::new(1, 2, zero_profile, Selector::Time).is_err());
        let bad = Selector::MaxSlowdown { factor: 0.9 };
        assert_eq!(
            PowerLimitOptimizer::new(1, 2, PowerLimitOptions::default(), bad)
                .unwrap_err()
                .to_string(),
            "power-limit optimizer option `max_slowdown` = 0.9: must be a finite number of at least 1"
        );
    }

    #[test]
    fn selectors() {
        // Hand-computed: 300 W at 10 s / 2400 J, 250 W at 11 s / 2100 J, 200 W at 14 s / 2000 J.
        let p = [
            m(300, 2400.0, 10.0),
            m(250, 2100.0, 11.0),
            m(200, 2000.0, 14.0),
        ];
        assert_eq!(Selector::Energy.select(&p), Some(2));
        assert_eq!(Selector::Time.select(&p), Some(0));
        // η = 0.5, one GPU: cost = 0.5·E + 0.5·300·T → 2700, 2700, 3100: the tie goes to 300 W.
        let eta = Eta::new(0.5).unwrap();
        assert_eq!(Selector::ZeusCost { eta, gpu_count: 1 }.select(&p), Some(0));
        // Four GPUs (the quirk fixed): time weighs 4×: 6000+1200, 6600+1050, 8400+1000.
        assert_eq!(Selector::ZeusCost { eta, gpu_count: 4 }.select(&p), Some(0));
        // η = 0.9, one GPU: 0.9E + 0.1·300·T → 2460, 2220, 2220: tie → 250 W.
        let eta = Eta::new(0.9).unwrap();
        assert_eq!(Selector::ZeusCost { eta, gpu_count: 1 }.select(&p), Some(1));
        assert_eq!(Selector::MaxSlowdown { factor: 1.1 }.select(&p), Some(1));
        assert_eq!(Selector::MaxSlowdown { factor: 1.4 }.select(&p), Some(2));
        assert_eq!(Selector::MaxSlowdown { factor: 1.0 }.select(&p), Some(0));
        assert_eq!(Selector::Energy.select(&[]), None);
    }

    #[test]
    fn a_loaded_profile_goes_straight_to_done() {
        let profile = vec![m(300, 2400.0, 10.0), m(250, 2100.0, 11.0)];
        let o = PowerLimitOptimizer::with_profile(
            100_000,
            300_000,
            PowerLimitOptions::default(),
            Selector::Energy,
            profile.clone(),
        )
        .unwrap();
        assert_eq!(o.optimal_limit_mw(), Some(250_000));
        assert_eq!(
            o.startup_actions(),
            [Action::SetPowerLimit { limit_mw: 250_000 }]
        );
        let err = PowerLimitOptimizer::with_profile(
            100_000,
            280_000,
            PowerLimitOptions::default(),
            Selector::Energy,
            profile,
        )
        .unwrap_err();
        assert_eq!(
            err,
            PowerLimitError::ProfileOutOfRange {
                power_limit_mw: 300_000,
                min_mw: 100_000,
                max_mw: 280_000
            }
        );
        assert_eq!(
            PowerLimitOptimizer::with_profile(
                1,
                2,
                PowerLimitOptions::default(),
                Selector::Energy,
                Vec::new()
            ),
            Err(PowerLimitError::EmptyProfile)
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn profile_round_trip() {
        let profile = vec![m(300, 2400.5, 10.25), m(275, 2100.0, 11.0)];
        let text = formats::write_profile(&profile);
        assert_eq!(
            text,
            "{\"schema\":\"zeus-power-profile/v1\",\"measurements\":[{\"power_limit_mw\":300000,\
             \"energy_j\":2400.5,\"time_s\":10.25},{\"power_limit_mw\":275000,\"energy_j\":2100.0,\
             \"time_s\":11.0}]}"
        );
        assert_eq!(formats::parse_profile(&text).unwrap(), profile);
        let other = formats::parse_profile("{\"schema\":\"zeus-sim/v1\"}").unwrap_err();
        assert_eq!(
            other.to_string(),
            "expected schema \"zeus-power-profile/v1\", found \"zeus-sim/v1\""
        );
        assert!(
            formats::parse_profile("{\"schema\":\"zeus-power-profile/v1\",\"measurements\":[]}")
                .is_err()
        );
    }
}

#[cfg(test)]
mod proptests {
    use alloc::vec::Vec;

    use proptest::prelude::*;

    use super::*;

    fn selector() -> impl Strategy<Value = Selector> {
        prop_oneof![
            Just(Selector::Energy),
            Just(Selector::Time),
            (0.0..=1.0f64, 1u32..16).prop_map(|(eta, gpu_count)| Selector::ZeusCost {
                eta: Eta::new(eta).unwrap(),
                gpu_count
            }),
            (1.0..3.0f64).prop_map(|factor| Selector::MaxSlowdown { factor }),
        ]
    }

    fn options() -> impl Strategy<Value = PowerLimitOptions> {
        (0u32..3, 0u32..4, 1u32..5, 1_000u32..60_000).prop_map(
            |(wait_steps, warmup_steps, profile_steps, step_mw)| PowerLimitOptions {
                wait_steps,
                warmup_steps,
                profile_steps,
                step_mw,
            },
        )
    }

    /// The selector's objective for `m` in `profile` (lower is better), for the argmin check.
    fn objective(
        selector: Selector,
        profile: &[PowerLimitMeasurement],
        m: &PowerLimitMeasurement,
    ) -> f64 {
        match selector {
            Selector::Energy => m.energy_j,
            Selector::Time => m.time_s,
            Selector::ZeusCost { eta, gpu_count } => {
                let max_w = profile.iter().map(|p| p.power_limit_mw).max().unwrap();
                zeus_cost(
                    m.energy_j,
                    m.time_s,
                    eta,
                    f64::from(max_w) / 1000.0 * f64::from(gpu_count),
                )
            }
            Selector::MaxSlowdown { .. } => f64::from(m.power_limit_mw),
        }
    }

    proptest! {
        /// Without epoch ends: every candidate is profiled exactly once, highest first, each
        /// window opens after its limit is set and closes before the next is; the chosen limit
        /// is a candidate and the argmin of the selector.
        #[test]
        fn profiles_each_candidate_once_and_picks_the_argmin(
            min_w in 50u32..300,
            span_w in 0u32..300,
            options in options(),
            selector in selector(),
            seeds in proptest::collection::vec((0.0..1e4f64, 0.001..100.0f64), 64),
        ) {
            let (min_mw, max_mw) = (min_w * 1000, (min_w + span_w) * 1000);
            let mut o = PowerLimitOptimizer::new(min_mw, max_mw, options, selector).unwrap();
            let candidates = o.candidates_mw().to_vec();
            prop_assume!(candidates.len() <= 64);
            let mut set = max_mw;
            let mut open: Option<u32> = None;
            let mut windows = Vec::new();
            let mut steps = 0u64;
            while !o.is_done() {
                steps += 1;
                prop_assert!(steps < 10_000);
                let mut pending = o.on_step_begin().unwrap();
                let mut i = 0;
                while i < pending.len() {
                    match pending[i] {
                        Action::SetPowerLimit { limit_mw } => {
                            prop_assert!(open.is_none());
                            set = limit_mw;
                        }
                        Action::BeginWindow { limit_mw } => {
                            prop_assert_eq!(limit_mw, set);
                            prop_assert!(open.replace(limit_mw).is_none());
                        }
                        Action::EndWindow { limit_mw } => {
                            prop_assert_eq!(open.take(), Some(limit_mw));
                            windows.push(limit_mw);
                            let (e, t) = seeds[windows.len() - 1];
                            pending.extend(o.record_window(e, t).unwrap());
                        }
                        Action::CancelWindow { .. } => prop_assert!(false, "no epoch ended"),
                    }
                    i += 1;
                }
            }
            prop_assert_eq!(&windows, &candidates);
            let per_limit = u64::from(options.warmup_steps) + u64::from(options.profile_steps);
            prop_assert_eq!(steps, u64::from(options.wait_steps) + 1 + per_limit * candidates.len() as u64);
            let chosen = o.optimal_limit_mw().unwrap();
            prop_assert_eq!(set, chosen);
            prop_assert!(candidates.contains(&chosen));
            let profile = o.profile();
            let best = profile.iter().find(|m| m.power_limit_mw == chosen).unwrap();
            if let Selector::MaxSlowdown { factor } = selector {
                let bound = factor * profile[0].time_s;
                prop_assert!(best.time_s <= bound);
                for m in profile {
                    prop_assert!(m.time_s > bound || m.power_limit_mw >= chosen);
                }
            } else {
                let value = objective(selector, profile, best);
                for m in profile {
                    prop_assert!(value <= objective(selector, profile, m));
                }
            }
        }

        /// With epoch ends anywhere: windows never overlap, a cancelled limit is profiled again
        /// from its warm-up, no limit is recorded twice, and the order stays highest first.
        #[test]
        fn epoch_ends_never_record_twice(
            options in options(),
            ends in proptest::collection::vec(any::<bool>(), 1..400),
        ) {
            let mut o = PowerLimitOptimizer::new(100_000, 300_000, options, Selector::Energy).unwrap();
            let mut open: Option<u32> = None;
            for end in ends {
                let actions = if end { o.on_epoch_end().unwrap() } else { o.on_step_begin().unwrap() };
                for a in actions {
                    match a {
                        Action::BeginWindow { limit_mw } => prop_assert!(open.replace(limit_mw).is_none()),
                        Action::CancelWindow { limit_mw } => prop_assert_eq!(open.take(), Some(limit_mw)),
                        Action::EndWindow { limit_mw } => {
                            prop_assert_eq!(open.take(), Some(limit_mw));
                            for b in o.record_window(1.0, 1.0).unwrap() {
                                if let Action::BeginWindow { limit_mw } = b {
                                    open = Some(limit_mw);
                                }
                            }
                        }
                        Action::SetPowerLimit { .. } => prop_assert!(open.is_none()),
                    }
                }
            }
            let recorded: Vec<u32> = o.profile().iter().map(|m| m.power_limit_mw).collect();
            prop_assert_eq!(&recorded[..], &o.candidates_mw()[..recorded.len()]);
        }
    }
}
