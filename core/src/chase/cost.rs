//! Chase's carbon-aware cost and the choice of an operating point by it.

use super::ChaseError;
use crate::zeus::Eta;

/// Joules per kilowatt-hour: emissions in g = energy in J × intensity in g/kWh / this.
pub const J_PER_KWH: f64 = 3.6e6;

/// The reference's default normaliser of the carbon intensity, gCO2/kWh (`max_carbon=750`).
pub const DEFAULT_MAX_CI_G_PER_KWH: f64 = 750.0;

/// The constants of Chase's cost: η, the largest power limit of one GPU, the carbon intensity
/// that prices time, and the GPU count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChaseParams {
    eta: Eta,
    max_power_limit_w: f64,
    max_ci_g_per_kwh: f64,
    gpu_count: u32,
}

impl ChaseParams {
    /// Checked constants: `max_power_limit_w` and `max_ci_g_per_kwh` finite and > 0,
    /// `gpu_count` ≥ 1.
    pub fn new(
        eta: Eta,
        max_power_limit_w: f64,
        max_ci_g_per_kwh: f64,
        gpu_count: u32,
    ) -> Result<Self, ChaseError> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(max_power_limit_w) {
            return Err(ChaseError::Param {
                name: "max_power_limit_w",
                value: max_power_limit_w,
                need: "a finite number > 0",
            });
        }
        if !positive(max_ci_g_per_kwh) {
            return Err(ChaseError::Param {
                name: "max_ci_g_per_kwh",
                value: max_ci_g_per_kwh,
                need: "a finite number > 0",
            });
        }
        if gpu_count == 0 {
            return Err(ChaseError::Param {
                name: "gpu_count",
                value: 0.0,
                need: "at least 1",
            });
        }
        Ok(Self {
            eta,
            max_power_limit_w,
            max_ci_g_per_kwh,
            gpu_count,
        })
    }

    /// η.
    pub fn eta(&self) -> Eta {
        self.eta
    }
    /// The largest settable power limit of one GPU, W.
    pub fn max_power_limit_w(&self) -> f64 {
        self.max_power_limit_w
    }
    /// The intensity that prices time, gCO2/kWh.
    pub fn max_ci_g_per_kwh(&self) -> f64 {
        self.max_ci_g_per_kwh
    }
    /// GPUs of the job.
    pub fn gpu_count(&self) -> u32 {
        self.gpu_count
    }
}

/// Chase's cost of one sample at a power limit (zeus-chase-nvml.md §3):
/// `(η·P·CI + (1−η)·MaxPL·MaxCI·N) / throughput`, with `average_power_w` the GPU power at that
/// limit, `throughput_per_s` samples per second, `ci_g_per_kwh` the (forecast) intensity.
///
/// The unit is W·(gCO2/kWh)·s per sample: the reference drops the 1/3.6e6 that would make the
/// first term grams, from both terms alike, so the choice is unchanged. With `ci = MaxCI` it is
/// MaxCI × the Zeus per-sample cost.
pub fn chase_cost(
    average_power_w: f64,
    throughput_per_s: f64,
    ci_g_per_kwh: f64,
    params: &ChaseParams,
) -> f64 {
    let eta = params.eta.get();
    (eta * average_power_w * ci_g_per_kwh
        + (1.0 - eta)
            * params.max_power_limit_w
            * params.max_ci_g_per_kwh
            * f64::from(params.gpu_count))
        / throughput_per_s
}

/// One way to run the job: the time and the energy of one unit of work (an epoch, an
/// iteration) at it. A power limit of the Zeus trace is one; a Perseus frontier point another.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatingPoint {
    /// Time of one unit, s.
    pub time_per_unit_s: f64,
    /// Energy of one unit (all GPUs), J.
    pub energy_per_unit_j: f64,
}

impl OperatingPoint {
    /// Chase's cost of one unit at `ci_g_per_kwh`: [`chase_cost`] × samples per unit, i.e.
    /// `η·E·CI + (1−η)·MaxPL·MaxCI·N·T` (E = P·T, T = samples / throughput).
    pub fn chase_cost(&self, ci_g_per_kwh: f64, params: &ChaseParams) -> f64 {
        let eta = params.eta.get();
        eta * self.energy_per_unit_j * ci_g_per_kwh
            + (1.0 - eta)
                * params.max_power_limit_w
                * params.max_ci_g_per_kwh
                * f64::from(params.gpu_count)
                * self.time_per_unit_s
    }

    /// Average power, W.
    pub fn average_power_w(&self) -> f64 {
        self.energy_per_unit_j / self.time_per_unit_s
    }
}

/// Checks that every point has a finite positive time and a finite non-negative energy.
pub(crate) fn check_points(points: &[OperatingPoint]) -> Result<(), ChaseError> {
    if points.is_empty() {
        return Err(ChaseError::NoPoints);
    }
    for (index, p) in points.iter().enumerate() {
        if !(p.time_per_unit_s.is_finite()
            && p.time_per_unit_s > 0.0
            && p.energy_per_unit_j.is_finite()
            && p.energy_per_unit_j >= 0.0)
        {
            return Err(ChaseError::Point {
                index,
                time_per_unit_s: p.time_per_unit_s,
                energy_per_unit_j: p.energy_per_unit_j,
            });
        }
    }
    Ok(())
}

/// The index of the point of least Chase cost at `ci_g_per_kwh`; on a tie the first (the
/// reference takes the first minimum in its table's order). `None` for an empty slice.
pub fn choose_point(
    points: &[OperatingPoint],
    ci_g_per_kwh: f64,
    params: &ChaseParams,
) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, p) in points.iter().enumerate() {
        let c = p.chase_cost(ci_g_per_kwh, params);
        if best.is_none_or(|(_, b)| c < b) {
            best = Some((i, c));
        }
    }
    best.map(|(i, _)| i)
}

/// Emissions of `energy_j` at `ci_g_per_kwh`, gCO2 (`J × g/kWh / 3.6e6`; the reference
/// multiplies by the rounded 2.77778e-7).
pub fn emissions_g(energy_j: f64, ci_g_per_kwh: f64) -> f64 {
    energy_j * ci_g_per_kwh / J_PER_KWH
}

/// Two power limits for the unit tests: the maximum (100 s per unit at 250 W) and a lower one
/// (110 s per unit at 180 W).
#[cfg(test)]
pub(crate) fn two_test_limits() -> [OperatingPoint; 2] {
    [
        OperatingPoint {
            time_per_unit_s: 100.0,
            energy_per_unit_j: 25_000.0,
        },
        OperatingPoint {
            time_per_unit_s: 110.0,
            energy_per_unit_j: 19_800.0,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zeus::epoch_cost;

    fn params(eta: f64) -> ChaseParams {
        ChaseParams::new(Eta::new(eta).unwrap(), 300.0, 750.0, 1).unwrap()
    }

    #[test]
    fn cost_is_the_reference_formula() {
        // Reference carbon_cost with power 200 W, tput 10 samples/s, CI 600, max_carbon 750,
        // max_pl 300, eta 0.24, world_size 2: (0.24·200·600 + 0.76·300·750·2)/10.
        let p = ChaseParams::new(Eta::new(0.24).unwrap(), 300.0, 750.0, 2).unwrap();
        let expected = (0.24 * 200.0 * 600.0 + 0.76 * 300.0 * 750.0 * 2.0) / 10.0;
        assert_eq!(chase_cost(200.0, 10.0, 600.0, &p), expected);
        assert_eq!(expected, 37080.0);
        // Per unit = per sample × samples per unit (100 samples: T = 10 s, E = 2000 J).
        let point = OperatingPoint {
            time_per_unit_s: 10.0,
            energy_per_unit_j: 2000.0,
        };
        assert!((point.chase_cost(600.0, &p) - 100.0 * expected).abs() < 1e-6);
    }

    #[test]
    fn at_max_ci_it_is_the_zeus_cost() {
        // Chase at CI = MaxCI is MaxCI × Zeus's epoch cost with MaxPower = MaxPL·N.
        let p = params(0.5);
        let point = OperatingPoint {
            time_per_unit_s: 40.0,
            energy_per_unit_j: 40.0 * 180.0,
        };
        let zeus = epoch_cost(180.0, 40.0, Eta::new(0.5).unwrap(), 300.0);
        assert!((point.chase_cost(750.0, &p) - 750.0 * zeus).abs() < 1e-6);
    }

    #[test]
    fn high_intensity_lowers_the_limit() {
        // Two limits: fast and power-hungry, slow and frugal.
        let points = two_test_limits();
        let p = params(0.5);
        assert_eq!(choose_point(&points, 100.0, &p), Some(0));
        assert_eq!(choose_point(&points, 1500.0, &p), Some(1));
        assert_eq!(choose_point(&[], 100.0, &p), None);
        // Tie: the first.
        assert_eq!(choose_point(&[points[0], points[0]], 100.0, &p), Some(0));
    }

    #[test]
    fn params_checked() {
        let eta = Eta::DEFAULT;
        assert!(ChaseParams::new(eta, 0.0, 750.0, 1).is_err());
        assert!(ChaseParams::new(eta, 300.0, f64::NAN, 1).is_err());
        assert!(ChaseParams::new(eta, 300.0, 750.0, 0).is_err());
        assert_eq!(emissions_g(3.6e6, 500.0), 500.0);
    }
}
