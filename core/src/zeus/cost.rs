//! The Zeus cost: energy and time in one unit (joules).

/// The energy/time trade-off knob η ∈ [0, 1]: 0 weighs only time, 1 only energy.
///
/// Checked once at construction so every cost computed with it is finite for finite inputs.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Eta(f64);

/// Why an η was rejected.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("eta must be a number in [0, 1], got {value}")]
pub struct EtaError {
    /// The rejected value.
    pub value: f64,
}

impl Eta {
    /// η = 0.5, the default of the reference optimizers and simulator.
    pub const DEFAULT: Self = Self(0.5);

    /// `value` as an η, or an error unless it is in [0, 1] (NaN rejected).
    pub fn new(value: f64) -> Result<Self, EtaError> {
        if (0.0..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(EtaError { value })
        }
    }

    /// The value in [0, 1].
    pub const fn get(self) -> f64 {
        self.0
    }
}

impl Default for Eta {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `η·E + (1−η)·MaxPower·T` in joules: `energy_j` consumed over `time_s`, with the time term
/// converted to joules by `max_power_w`.
///
/// `max_power_w` is the largest settable power limit of *all* GPUs of the job (per-GPU limit ×
/// GPU count): a constant that prices time, not a measured power. The reference optimizer
/// multiplies by its local GPU count, which under-weights time by the rank count when each
/// data-parallel rank drives one GPU while energy is summed over all ranks; callers here pass
/// the total.
pub fn zeus_cost(energy_j: f64, time_s: f64, eta: Eta, max_power_w: f64) -> f64 {
    eta.0 * energy_j + (1.0 - eta.0) * max_power_w * time_s
}

/// The cost of one epoch at a power limit (the paper's Equation 7):
/// `(η·average_power_w + (1−η)·max_power_w) · time_per_epoch_s`.
///
/// Equal to [`zeus_cost`] of the epoch's energy `average_power_w · time_per_epoch_s`; with a
/// fixed batch size the epoch count does not depend on the power limit, so the limit that
/// minimises this minimises the cost of the whole run.
pub fn epoch_cost(average_power_w: f64, time_per_epoch_s: f64, eta: Eta, max_power_w: f64) -> f64 {
    (eta.0 * average_power_w + (1.0 - eta.0) * max_power_w) * time_per_epoch_s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_bounds() {
        assert!(Eta::new(0.0).is_ok());
        assert!(Eta::new(1.0).is_ok());
        assert_eq!(Eta::new(1.5), Err(EtaError { value: 1.5 }));
        assert!(Eta::new(-0.1).is_err());
        assert!(Eta::new(f64::NAN).is_err());
    }

    #[test]
    fn cost_weighs_energy_and_time() {
        // η = 0.5, 250 W: 1000 J over 10 s costs 500 + 0.5·250·10 = 1750 J.
        let eta = Eta::new(0.5).unwrap();
        assert_eq!(zeus_cost(1000.0, 10.0, eta, 250.0), 1750.0);
        assert_eq!(
            zeus_cost(1000.0, 10.0, Eta::new(1.0).unwrap(), 250.0),
            1000.0
        );
        assert_eq!(
            zeus_cost(1000.0, 10.0, Eta::new(0.0).unwrap(), 250.0),
            2500.0
        );
        // Equation 7 is the same cost of one epoch's energy.
        assert_eq!(
            epoch_cost(100.0, 10.0, eta, 250.0),
            zeus_cost(1000.0, 10.0, eta, 250.0)
        );
    }
}
