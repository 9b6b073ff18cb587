//! Beyond the papers: carbon-aware Perseus. Chase picks a power limit per slot; a Perseus
//! frontier offers more ways to run the same iteration (per-computation clocks that slow only
//! the computations off the critical path). Here the controller picks, per slot, whatever
//! point — a frontier point or a plain power limit — has the least Chase cost at the forecast.
//!
//! How a power limit and a frontier point describe the same job (the assumption, stated once):
//! one unit of work is one training iteration. The job at the maximum power limit is the
//! iteration with every computation at the highest clock (Perseus's "all at the fastest clock"
//! baseline: the time of the frontier's fastest point `T_min`, and the baseline's energy, which
//! is higher than `T_min`'s because `T_min` already slows the computations off the critical
//! path). Where only the frontier is known, the `T_min` point itself stands in for it, which
//! credits the power-limit-only controller with Perseus's savings at `T_min` (conservative for
//! the comparison). A power limit `p` scales the maximum-power iteration by the power trace's
//! ratios at `p`: time × `time(p)/time(max)`, energy × `energy(p)/energy(max)` (energy per
//! epoch = average power × time per epoch). Frontier points are taken as Perseus measured them,
//! without a power limit on top.
//!
//! The candidates of the carbon-aware controller are the frontier points followed by the
//! power-limit points, so in every slot it can choose what Chase's power-limit-only controller
//! chooses, and its Chase cost per unit is never higher in any slot.

use alloc::vec::Vec;

use super::ChaseError;
use super::cost::{ChaseParams, OperatingPoint, check_points};
use super::sim::{CarbonInterval, Policy, RunOutcome, run_job};

/// A power limit's effect relative to the maximum limit, from a power trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerLimitScale {
    /// The limit, W.
    pub power_limit_w: f64,
    /// Time per unit at this limit ÷ time per unit at the maximum limit.
    pub time_ratio: f64,
    /// Energy per unit at this limit ÷ energy per unit at the maximum limit.
    pub energy_ratio: f64,
}

/// The ratios of each `(power_limit_w, point)` of one workload to its maximum limit's point,
/// in the given order. Errors on an empty list or an invalid point.
pub fn power_limit_scales(
    by_limit: &[(f64, OperatingPoint)],
) -> Result<Vec<PowerLimitScale>, ChaseError> {
    let points: Vec<OperatingPoint> = by_limit.iter().map(|(_, p)| *p).collect();
    check_points(&points)?;
    let Some((_, max)) = by_limit.iter().copied().max_by(|a, b| a.0.total_cmp(&b.0)) else {
        return Err(ChaseError::NoPoints);
    };
    if max.energy_per_unit_j <= 0.0 {
        return Err(ChaseError::Point {
            index: 0,
            time_per_unit_s: max.time_per_unit_s,
            energy_per_unit_j: max.energy_per_unit_j,
        });
    }
    Ok(by_limit
        .iter()
        .map(|(w, p)| PowerLimitScale {
            power_limit_w: *w,
            time_ratio: p.time_per_unit_s / max.time_per_unit_s,
            energy_ratio: p.energy_per_unit_j / max.energy_per_unit_j,
        })
        .collect())
}

/// The job at each power limit: the frontier's fastest point scaled by each limit's ratios.
pub fn power_limit_points(
    t_min: OperatingPoint,
    scales: &[PowerLimitScale],
) -> Vec<OperatingPoint> {
    scales
        .iter()
        .map(|s| OperatingPoint {
            time_per_unit_s: t_min.time_per_unit_s * s.time_ratio,
            energy_per_unit_j: t_min.energy_per_unit_j * s.energy_ratio,
        })
        .collect()
}

/// Carbon-aware Perseus against Chase's power-limit-only control on the same slots.
#[derive(Debug, Clone, PartialEq)]
pub struct PerseusComparison {
    /// The candidates: the frontier points, then the power-limit points.
    pub candidates: Vec<OperatingPoint>,
    /// How many of the candidates are frontier points (they come first).
    pub frontier_points: usize,
    /// Chase over the power-limit points only (indices into `candidates`).
    pub power_limit_only: RunOutcome,
    /// Chase over all candidates.
    pub carbon_aware: RunOutcome,
}

impl PerseusComparison {
    /// Emissions saved by the carbon-aware controller, gCO2 (negative if it emitted more).
    pub fn carbon_saved_g(&self) -> f64 {
        self.power_limit_only.carbon_g - self.carbon_aware.carbon_g
    }
}

/// The frontier's fastest point (`T_min`), if any.
pub fn fastest_point(frontier: &[OperatingPoint]) -> Option<OperatingPoint> {
    frontier
        .iter()
        .copied()
        .min_by(|a, b| a.time_per_unit_s.total_cmp(&b.time_per_unit_s))
}

/// Replays `job_units` iterations from the first slot twice: Chase choosing among the power
/// limits (`max_power`, the iteration at the maximum power limit, scaled by `scales`), and
/// Chase choosing among the frontier points and those power limits. Errors as [`run_job`], and
/// on an empty frontier or an invalid `max_power`.
pub fn carbon_aware_perseus(
    frontier: &[OperatingPoint],
    max_power: OperatingPoint,
    scales: &[PowerLimitScale],
    intervals: &[CarbonInterval],
    job_units: f64,
    params: &ChaseParams,
) -> Result<PerseusComparison, ChaseError> {
    check_points(frontier)?;
    check_points(&[max_power])?;
    let limits = power_limit_points(max_power, scales);
    let mut candidates = frontier.to_vec();
    candidates.extend_from_slice(&limits);
    let mut power_limit_only = run_job(&limits, intervals, job_units, Policy::Chase, params)?;
    for slot in &mut power_limit_only.intervals {
        slot.point += frontier.len();
    }
    let carbon_aware = run_job(&candidates, intervals, job_units, Policy::Chase, params)?;
    Ok(PerseusComparison {
        candidates,
        frontier_points: frontier.len(),
        power_limit_only,
        carbon_aware,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chase::cost::choose_point;
    use crate::zeus::Eta;
    use alloc::vec;
    use proptest::prelude::*;

    fn op(t: f64, e: f64) -> OperatingPoint {
        OperatingPoint {
            time_per_unit_s: t,
            energy_per_unit_j: e,
        }
    }

    #[test]
    fn scales_are_relative_to_the_maximum_limit() {
        let s = power_limit_scales(&[(250.0, op(100.0, 25_000.0)), (200.0, op(110.0, 22_000.0))])
            .unwrap();
        assert_eq!(s[0].time_ratio, 1.0);
        assert_eq!(s[1].time_ratio, 1.1);
        assert_eq!(s[1].energy_ratio, 0.88);
        let p = power_limit_points(op(2.0, 1000.0), &s);
        assert_eq!(p[1], op(2.2, 880.0));
        assert!(power_limit_scales(&[]).is_err());
    }

    #[test]
    fn chooses_the_frontier_where_it_beats_every_power_limit() {
        // Max power: 1 s, 1000 J per iteration. The frontier's T_min point removes 10 % of the
        // energy at the same time; a power limit saves 20 % energy for 10 % more time.
        let frontier = [op(1.0, 900.0), op(1.2, 850.0)];
        let max_power = op(1.0, 1000.0);
        let scales =
            power_limit_scales(&[(300.0, op(10.0, 3000.0)), (250.0, op(11.0, 2640.0))]).unwrap();
        let params = ChaseParams::new(Eta::new(0.5).unwrap(), 300.0, 750.0, 1).unwrap();
        let slots = [600.0, 5000.0].map(|ci| CarbonInterval {
            duration_s: 100.0,
            actual_g_per_kwh: ci,
            forecast_g_per_kwh: ci,
        });
        let cmp =
            carbon_aware_perseus(&frontier, max_power, &scales, &slots, 150.0, &params).unwrap();
        // Time costs 0.5·300·750 = 112 500 per second. At CI 600: T_min 270 000 + 112 500 =
        // 382 500; slow point 255 000 + 135 000 = 390 000; 250 W 264 000 + 123 750 = 387 750;
        // max power 412 500. At CI 5000: T_min 2 362 500; slow point 2 125 000 + 135 000 =
        // 2 260 000; 250 W 2 200 000 + 123 750 = 2 323 750; max power 2 612 500.
        let chosen: Vec<usize> = cmp.carbon_aware.intervals.iter().map(|i| i.point).collect();
        assert_eq!(chosen, [0, 1]);
        let pl_only: Vec<usize> = cmp
            .power_limit_only
            .intervals
            .iter()
            .map(|i| i.point)
            .collect();
        assert_eq!(pl_only, [3, 3]);
        assert_eq!(cmp.candidates[3], op(1.1, 880.0));
        assert!(cmp.carbon_saved_g() > 0.0);
    }

    proptest! {
        /// In every slot the carbon-aware choice costs no more than the power-limit-only choice
        /// at the same forecast, and where the frontier offers nothing cheaper it is the same
        /// point.
        #[test]
        fn never_worse_than_power_limit_only(
            frontier in prop::collection::vec((1.0f64..2.0, 500.0f64..1500.0), 1..8),
            ratios in prop::collection::vec((1.0f64..1.6, 0.6f64..1.0), 1..8),
            cis in prop::collection::vec(50.0f64..1000.0, 1..40),
            eta in 0.0f64..1.0,
            bloat in 1.0f64..1.3,
        ) {
            let frontier: Vec<OperatingPoint> = frontier.iter().map(|&(t, e)| op(t, e)).collect();
            let mut by_limit = vec![(300.0, op(1.0, 1.0))];
            by_limit.extend(ratios.iter().enumerate().map(|(i, &(t, e))| (290.0 - i as f64, op(t, e))));
            let scales = power_limit_scales(&by_limit).unwrap();
            let params = ChaseParams::new(Eta::new(eta).unwrap(), 300.0, 750.0, 4).unwrap();
            let t_min = fastest_point(&frontier).unwrap();
            // The all-max-clock iteration: T_min's time, up to 30 % more energy.
            let max_power = op(t_min.time_per_unit_s, t_min.energy_per_unit_j * bloat);
            let limits = power_limit_points(max_power, &scales);
            let mut all = frontier.clone();
            all.extend_from_slice(&limits);
            for &ci in &cis {
                let pl = limits[choose_point(&limits, ci, &params).unwrap()];
                let ca = all[choose_point(&all, ci, &params).unwrap()];
                prop_assert!(ca.chase_cost(ci, &params) <= pl.chase_cost(ci, &params));
            }
            // And over a whole replay, slot by slot where both are still running.
            let slots: Vec<CarbonInterval> = cis.iter().map(|&c| CarbonInterval {
                duration_s: 1800.0, actual_g_per_kwh: c, forecast_g_per_kwh: c }).collect();
            let units = 1800.0 * cis.len() as f64 / 4.0;
            let cmp = carbon_aware_perseus(&frontier, max_power, &scales, &slots, units, &params).unwrap();
            for (a, b) in cmp.carbon_aware.intervals.iter().zip(&cmp.power_limit_only.intervals) {
                let ci = cis[a.interval];
                prop_assert!(cmp.candidates[a.point].chase_cost(ci, &params)
                    <= cmp.candidates[b.point].chase_cost(ci, &params));
            }
        }
    }
}
