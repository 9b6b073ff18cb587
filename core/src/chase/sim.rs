//! Chase's controller replayed over a carbon trace: a job of a fixed amount of work runs from a
//! start slot; at the start of every slot the controller picks an operating point (a power
//! limit) from the forecast intensity, and the slot is charged at its actual intensity.

use alloc::vec::Vec;

use super::cost::{ChaseParams, OperatingPoint, check_points, choose_point, emissions_g};
use super::{ChaseError, MAX_INTERVALS, MAX_POINTS};
use crate::zeus::epoch_cost;

/// One slot of the carbon trace as the controller sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CarbonInterval {
    /// The slot's length, s.
    pub duration_s: f64,
    /// The intensity the slot is charged at, gCO2/kWh.
    pub actual_g_per_kwh: f64,
    /// The forecast made before the slot from earlier slots, gCO2/kWh.
    pub forecast_g_per_kwh: f64,
}

/// How the operating point of each slot is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Chase: the least Chase cost at the forecast intensity.
    Chase,
    /// Chase with a perfect forecast (the actual intensity): the bound a better predictor could
    /// reach.
    ChaseOracle,
    /// Always the same point (the maximum power limit, or Zeus's choice).
    Fixed(usize),
}

/// What one slot did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalOutcome {
    /// Index into the intervals given to [`run_job`].
    pub interval: usize,
    /// The point chosen (index into the points).
    pub point: usize,
    /// Work done, units.
    pub units: f64,
    /// Time spent, s (the slot's length, or less in the slot where the job ends).
    pub time_s: f64,
    /// Energy, J.
    pub energy_j: f64,
    /// Emissions at the slot's actual intensity, gCO2.
    pub carbon_g: f64,
}

/// A whole job's replay.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// Every slot the job ran in, in order.
    pub intervals: Vec<IntervalOutcome>,
    /// Time from the start to the end of the job, s.
    pub time_s: f64,
    /// Energy, J.
    pub energy_j: f64,
    /// Emissions, gCO2.
    pub carbon_g: f64,
}

/// Zeus's power-limit choice for the same points: the least `η·E + (1−η)·MaxPL·N·T` per unit
/// (the intensity plays no part). Equal to Chase's choice at `CI = MaxCI`.
pub fn zeus_choice(points: &[OperatingPoint], params: &ChaseParams) -> Option<usize> {
    let max_power_w = params.max_power_limit_w() * f64::from(params.gpu_count());
    let mut best: Option<(usize, f64)> = None;
    for (i, p) in points.iter().enumerate() {
        let c = epoch_cost(
            p.average_power_w(),
            p.time_per_unit_s,
            params.eta(),
            max_power_w,
        );
        if best.is_none_or(|(_, b)| c < b) {
            best = Some((i, c));
        }
    }
    best.map(|(i, _)| i)
}

/// Checks the slots: at most [`MAX_INTERVALS`], each with a positive finite length and finite
/// non-negative intensities.
pub(crate) fn check_intervals(intervals: &[CarbonInterval]) -> Result<(), ChaseError> {
    if intervals.len() > MAX_INTERVALS {
        return Err(ChaseError::TooMany {
            what: "intervals",
            count: intervals.len(),
            max: MAX_INTERVALS,
        });
    }
    for (index, i) in intervals.iter().enumerate() {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        if !(i.duration_s.is_finite()
            && i.duration_s > 0.0
            && ok(i.actual_g_per_kwh)
            && ok(i.forecast_g_per_kwh))
        {
            return Err(ChaseError::Interval { index });
        }
    }
    Ok(())
}

/// Runs `job_units` of work over `intervals` from the first, choosing a point of `points` per
/// slot by `policy`. Errors: no point, a point with a non-positive time or a negative energy,
/// more than [`MAX_POINTS`] points, a bad slot, a fixed index out of range, a job size that is
/// not finite and > 0, and a job that does not finish within the slots (the error says how
/// much work was left).
pub fn run_job(
    points: &[OperatingPoint],
    intervals: &[CarbonInterval],
    job_units: f64,
    policy: Policy,
    params: &ChaseParams,
) -> Result<RunOutcome, ChaseError> {
    check_points(points)?;
    if points.len() > MAX_POINTS {
        return Err(ChaseError::TooMany {
            what: "operating points",
            count: points.len(),
            max: MAX_POINTS,
        });
    }
    check_intervals(intervals)?;
    if !(job_units.is_finite() && job_units > 0.0) {
        return Err(ChaseError::Param {
            name: "job_units",
            value: job_units,
            need: "a finite number > 0",
        });
    }
    if let Policy::Fixed(i) = policy
        && i >= points.len()
    {
        return Err(ChaseError::PointIndex {
            index: i,
            points: points.len(),
        });
    }
    let mut left = job_units;
    let mut out = RunOutcome {
        intervals: Vec::new(),
        time_s: 0.0,
        energy_j: 0.0,
        carbon_g: 0.0,
    };
    for (index, slot) in intervals.iter().enumerate() {
        let choice = match policy {
            Policy::Fixed(i) => Some(i),
            Policy::Chase => choose_point(points, slot.forecast_g_per_kwh, params),
            Policy::ChaseOracle => choose_point(points, slot.actual_g_per_kwh, params),
        };
        let Some(point_index) = choice else {
            return Err(ChaseError::NoPoints);
        };
        let point = points[point_index];
        let slot_units = slot.duration_s / point.time_per_unit_s;
        // The last slot runs only as long as the work left needs.
        let finishes = slot_units >= left;
        let (units, time_s) = if finishes {
            (left, left * point.time_per_unit_s)
        } else {
            (slot_units, slot.duration_s)
        };
        let energy_j = units * point.energy_per_unit_j;
        let carbon_g = emissions_g(energy_j, slot.actual_g_per_kwh);
        out.intervals.push(IntervalOutcome {
            interval: index,
            point: point_index,
            units,
            time_s,
            energy_j,
            carbon_g,
        });
        out.time_s += time_s;
        out.energy_j += energy_j;
        out.carbon_g += carbon_g;
        if finishes {
            return Ok(out);
        }
        left -= units;
    }
    Err(ChaseError::TraceTooShort {
        units_left: left,
        job_units,
        intervals: intervals.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zeus::Eta;

    fn points() -> [OperatingPoint; 2] {
        crate::chase::cost::two_test_limits()
    }

    fn slot(actual: f64, forecast: f64) -> CarbonInterval {
        CarbonInterval {
            duration_s: 1000.0,
            actual_g_per_kwh: actual,
            forecast_g_per_kwh: forecast,
        }
    }

    #[test]
    fn charges_each_slot_at_its_actual_intensity() {
        let params = ChaseParams::new(Eta::new(0.5).unwrap(), 250.0, 750.0, 1).unwrap();
        let slots = [slot(500.0, 500.0), slot(700.0, 700.0), slot(100.0, 100.0)];
        let fixed = run_job(&points(), &slots, 15.0, Policy::Fixed(0), &params).unwrap();
        // 10 units in slot 0 (1000 s), 5 in slot 1 (500 s).
        assert_eq!(fixed.intervals.len(), 2);
        assert_eq!(fixed.time_s, 1500.0);
        assert_eq!(fixed.energy_j, 15.0 * 25_000.0);
        let expected_g = (250_000.0 * 500.0 + 125_000.0 * 700.0) / 3.6e6;
        assert!((fixed.carbon_g - expected_g).abs() < 1e-9);
        let short = run_job(&points(), &slots[..1], 15.0, Policy::Fixed(0), &params);
        assert!(matches!(short, Err(ChaseError::TraceTooShort { .. })));
        assert!(run_job(&points(), &slots, 1.0, Policy::Fixed(2), &params).is_err());
        assert!(run_job(&points(), &slots, f64::NAN, Policy::Chase, &params).is_err());
        assert!(run_job(&[], &slots, 1.0, Policy::Chase, &params).is_err());
    }

    #[test]
    fn chase_follows_the_forecast_and_zeus_ignores_it() {
        let params = ChaseParams::new(Eta::new(0.5).unwrap(), 250.0, 750.0, 1).unwrap();
        // Cost at CI: 0.5·E·CI + 0.5·250·750·T. Point 0 vs 1 break even where
        // 0.5·CI·(25000−19800) = 0.5·187500·10, CI ≈ 360.6 gCO2/kWh.
        let slots = [slot(300.0, 300.0), slot(700.0, 300.0), slot(700.0, 700.0)];
        let run = run_job(&points(), &slots, 25.0, Policy::Chase, &params).unwrap();
        let chosen: Vec<usize> = run.intervals.iter().map(|i| i.point).collect();
        assert_eq!(chosen, [0, 0, 1]);
        let oracle = run_job(&points(), &slots, 25.0, Policy::ChaseOracle, &params).unwrap();
        let chosen: Vec<usize> = oracle.intervals.iter().map(|i| i.point).collect();
        assert_eq!(chosen, [0, 1, 1]);
        // Zeus: 0.5·250 + 0.5·250 = 250 W·100 s = 25000 vs (90 + 125)·110 = 23650 → point 1.
        assert_eq!(zeus_choice(&points(), &params), Some(1));
    }
}
