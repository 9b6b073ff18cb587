//! Least-squares fitting of the exponential cost model `cost(d) = a·exp(b·d) + c` that Perseus
//! (via lowtime's `ExponentialModel`) fits to each computation's Pareto-optimal
//! (duration, effective energy) candidates.

mod lm;

pub use lm::{ExpFit, FitError, fit_exponential, fit_exponential_from};

/// The exponential cost model `cost(d) = a·exp(b·d) + c`, `d` in time quanta, cost in joules.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ExpModel {
    /// Scale; must be ≥ 0 for the model to be convex.
    pub a: f64,
    /// Rate per quantum; negative for a cost that falls with duration.
    pub b: f64,
    /// Offset in joules.
    pub c: f64,
}

impl ExpModel {
    /// The model's cost at duration `d` quanta, evaluated as `a * exp(b * d) + c` (the same
    /// operation order as the reference so that values agree to the last bits).
    #[inline]
    pub fn eval(&self, d: f64) -> f64 {
        self.a * libm::exp(self.b * d) + self.c
    }
}
