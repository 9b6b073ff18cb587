//! Least-squares fit of `cost(d) = a·exp(b·d) + c` as lowtime 0.3.0's
//! `ExponentialModel(search_strategy="best")` does it: Levenberg–Marquardt from each of 54
//! initial guesses, keeping the accepted fit with the lowest mean squared error.
//!
//! The reference runs scipy's `curve_fit` (MINPACK `lmdif`). This is an independent
//! Levenberg–Marquardt: analytic Jacobian, Marquardt's scaling of the damping by the running
//! maximum of the Jacobian's column norms (so that parameters of very different magnitude —
//! `a` in the hundreds, `b` around −0.1 — are damped alike), Nielsen's update of the damping
//! from the ratio of actual to predicted reduction, and MINPACK's default tolerances. The
//! tolerances matter: on nearly linear data the exponential has a flat valley towards
//! `b → 0, a → ∞`; scipy stops in it with a usable convex fit, while a tighter tolerance walks
//! on until the fit degenerates (measured on the 8×32 benchmark instance: with 1e-13 every
//! start of one profile was rejected). From the same start the iteration usually falls into
//! the same basin as MINPACK's; across the 54 starts the best minimum is what matters, and on
//! the reference fixtures the model values agree with scipy's to the measured tolerance in
//! `tests/fit_oracle.rs`.
//!
//! A start is rejected as lowtime rejects it: when the covariance of the parameters would be
//! infinite (fewer than four points, or a singular `JᵀJ` at the solution), when the mean squared
//! error is not finite, or when `a < 0` (the model must be convex). A start that exhausts the
//! evaluation budget is skipped (scipy raises there, and lowtime with it).

use nalgebra::{Matrix3, Vector3};

use super::ExpModel;

/// lowtime's `maxfev`: calls of the model function per start, counted as MINPACK's `lmdif`
/// counts them (see [`JACOBIAN_EVALUATIONS`]).
const MAX_EVALUATIONS: usize = 50_000;
/// Function calls one Jacobian costs in the reference: scipy's `curve_fit` without `jac` runs
/// `lmdif`, which approximates the Jacobian by forward differences, one call per parameter,
/// and adds them to the count that `maxfev` bounds. The Jacobian here is analytic, but the
/// budget is charged the same, so that a start is given up where scipy gives it up (and a
/// start that never converges costs a quarter of the work it did when only the trial points
/// were counted: 54 such starts per profile made a 52-byte fuzz input take 15 s).
const JACOBIAN_EVALUATIONS: usize = 3;
/// Relative reduction of the squared error below which a start has converged (MINPACK's
/// default as scipy passes it).
const FTOL: f64 = 1.49012e-8;
/// Relative step below which a start has converged.
const XTOL: f64 = 1.49012e-8;
/// Grid of initial guesses of lowtime's `ExponentialModel`: `a` and `c` candidates.
const A_CANDIDATES: [f64; 3] = [1e1, 1e2, 1e3];
const C_CANDIDATES: [f64; 3] = [1e1, 1e2, 1e3];
/// Rates per quantum for a 1 ms quantum; scaled by `unit_time_s / 0.001`.
const B_RATES: [f64; 6] = [0.01, 0.02, 0.03, 0.04, 0.05, 0.1];
/// Number of initial guesses in the grid.
const GRID_SIZE: usize = A_CANDIDATES.len() * B_RATES.len() * C_CANDIDATES.len();

/// Result of a fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpFit {
    /// The fitted model.
    pub model: ExpModel,
    /// Mean squared error of the model over the input points, in J².
    pub mse: f64,
    /// Which initial guess produced the fit: the position in lowtime's grid (a-major, then b,
    /// then c; 0..54) for [`fit_exponential`], always 0 for `fit_exponential_from`.
    pub start_index: usize,
}

/// Why a fit could not be produced.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    /// The duration and cost slices differ in length.
    #[error("{durations} durations but {costs} costs: pass one cost per duration")]
    LengthMismatch {
        /// Number of durations given.
        durations: usize,
        /// Number of costs given.
        costs: usize,
    },
    /// Three parameters need at least four points for a least-squares fit with an error
    /// estimate (scipy reports an infinite covariance otherwise and lowtime rejects the fit).
    #[error("{n} points are too few to fit a·exp(b·d)+c: give at least 4")]
    TooFewPoints {
        /// Number of points given.
        n: usize,
    },
    /// An input value is NaN or infinite.
    #[error("{field} at index {index} is not finite: remove or fix that point")]
    NonFinite {
        /// Position of the offending point.
        index: usize,
        /// `"duration"` or `"cost"`.
        field: &'static str,
    },
    /// The time quantum is not a positive finite number of seconds.
    #[error("time quantum {unit_time_s} s is not a positive finite number")]
    InvalidUnitTime {
        /// The quantum given.
        unit_time_s: f64,
    },
    /// A user-supplied initial guess contains NaN or an infinity.
    #[error("initial guess {start:?} is not finite")]
    InvalidStart {
        /// The guess given, as `[a, b, c]`.
        start: [f64; 3],
    },
    /// Levenberg–Marquardt spent its evaluation budget without converging.
    #[error("the fit did not converge within {evaluations} evaluations: try another initial guess")]
    NotConverged {
        /// Evaluations spent.
        evaluations: usize,
    },
    /// The parameter covariance at the solution is infinite (singular Jacobian: the data do
    /// not determine all three parameters, e.g. too few distinct durations or `exp` underflow).
    #[error("the fitted parameters are not determined by the data (singular Jacobian)")]
    SingularCovariance,
    /// The fitted parameters or their mean squared error are not finite.
    #[error("the fit diverged to non-finite parameters or error")]
    NonFiniteFit,
    /// The fit has `a < 0`, i.e. a concave cost curve, which the frontier solver cannot use.
    #[error("the fit is concave (a = {a} < 0): cost must fall convexly with duration")]
    NotConvex {
        /// The fitted scale.
        a: f64,
    },
    /// None of the initial guesses of the grid gave an acceptable fit.
    #[error(
        "none of the {starts} initial guesses gave a convex fit with finite error: \
         check the data or pass an initial guess"
    )]
    NoStartConverged {
        /// Number of initial guesses tried.
        starts: usize,
    },
}

/// Fits `cost(d) = a·exp(b·d) + c` to `(durations, costs)` the way lowtime 0.3.0's
/// `ExponentialModel(search_strategy="best")` does: Levenberg–Marquardt from each of 54
/// initial guesses, keeping the accepted fit with the lowest mean squared error (the earliest
/// on ties).
///
/// `durations` are in time quanta (lowtime's integer `quant_time`), `costs` in joules, and
/// `unit_time_s` is the quantum in seconds; it scales the grid of initial rates `b` so that
/// they mean the same per second whatever the quantum.
///
/// # Errors
/// Invalid input ([`FitError::LengthMismatch`], [`FitError::TooFewPoints`] for ≤ 3 points,
/// [`FitError::NonFinite`], [`FitError::InvalidUnitTime`]) or
/// [`FitError::NoStartConverged`] when every start was rejected.
pub fn fit_exponential(
    durations: &[f64],
    costs: &[f64],
    unit_time_s: f64,
) -> Result<ExpFit, FitError> {
    check_input(durations, costs)?;
    if !(unit_time_s.is_finite() && unit_time_s > 0.0) {
        return Err(FitError::InvalidUnitTime { unit_time_s });
    }
    let mut best: Option<ExpFit> = None;
    for (start_index, start) in grid(unit_time_s).enumerate() {
        if let Ok(mut fit) = fit_one(durations, costs, start) {
            // Strictly lower replaces: the earliest start wins ties, as in lowtime.
            if best.is_none_or(|b| fit.mse < b.mse) {
                fit.start_index = start_index;
                best = Some(fit);
            }
        }
    }
    best.ok_or(FitError::NoStartConverged { starts: GRID_SIZE })
}

/// Fits `cost(d) = a·exp(b·d) + c` from one initial guess `start = [a, b, c]` (lowtime's
/// `initial_guess`, the artifact's `--initial-guess`).
///
/// The fit is accepted under the same rules as each start of [`fit_exponential`]; unlike
/// lowtime, which only checks the covariance for a user guess, a concave (`a < 0`) or
/// non-finite fit is an error too, because the frontier solver needs a convex model.
pub fn fit_exponential_from(
    durations: &[f64],
    costs: &[f64],
    start: [f64; 3],
) -> Result<ExpFit, FitError> {
    check_input(durations, costs)?;
    if start.iter().any(|v| !v.is_finite()) {
        return Err(FitError::InvalidStart { start });
    }
    fit_one(durations, costs, start)
}

/// lowtime's grid of starts, a-major, then b, then c.
fn grid(unit_time_s: f64) -> impl Iterator<Item = [f64; 3]> {
    A_CANDIDATES.into_iter().flat_map(move |a| {
        B_RATES.into_iter().flat_map(move |rate| {
            let b = -rate * unit_time_s / 0.001;
            C_CANDIDATES.into_iter().map(move |c| [a, b, c])
        })
    })
}

fn check_input(durations: &[f64], costs: &[f64]) -> Result<(), FitError> {
    if durations.len() != costs.len() {
        return Err(FitError::LengthMismatch {
            durations: durations.len(),
            costs: costs.len(),
        });
    }
    for (index, (&d, &c)) in durations.iter().zip(costs).enumerate() {
        if !d.is_finite() {
            return Err(FitError::NonFinite {
                index,
                field: "duration",
            });
        }
        if !c.is_finite() {
            return Err(FitError::NonFinite {
                index,
                field: "cost",
            });
        }
    }
    // With as many points as parameters scipy's covariance is infinite and lowtime rejects.
    if durations.len() <= 3 {
        return Err(FitError::TooFewPoints { n: durations.len() });
    }
    Ok(())
}

/// Half the sum of squared residuals at `p`; `None` if not finite.
fn half_sse(xs: &[f64], ys: &[f64], p: &Vector3<f64>) -> Option<f64> {
    let model = ExpModel {
        a: p[0],
        b: p[1],
        c: p[2],
    };
    let s: f64 = xs
        .iter()
        .zip(ys)
        .map(|(&x, &y)| {
            let r = model.eval(x) - y;
            r * r
        })
        .sum();
    (s.is_finite()).then_some(0.5 * s)
}

/// `JᵀJ` and `Jᵀr` at `p`, with the analytic Jacobian of the residuals `model(x) − y`.
fn normal_equations(xs: &[f64], ys: &[f64], p: &Vector3<f64>) -> (Matrix3<f64>, Vector3<f64>) {
    let mut jtj = Matrix3::zeros();
    let mut jtr = Vector3::zeros();
    for (&x, &y) in xs.iter().zip(ys) {
        let e = libm::exp(p[1] * x);
        let row = Vector3::new(e, p[0] * x * e, 1.0);
        let r = p[0] * e + p[2] - y;
        jtj += row * row.transpose();
        jtr += row * r;
    }
    (jtj, jtr)
}

/// One Levenberg–Marquardt run from `start`, judged by lowtime's acceptance rules.
fn fit_one(xs: &[f64], ys: &[f64], start: [f64; 3]) -> Result<ExpFit, FitError> {
    let mut p = Vector3::from(start);
    let mut cost = half_sse(xs, ys, &p).ok_or(FitError::NonFiniteFit)?;
    let mut evaluations = 1 + JACOBIAN_EVALUATIONS;
    // Marquardt scaling: damp each parameter by the largest squared column norm seen so far.
    let mut scale = Vector3::zeros();
    let mut mu = 0.0;
    let mut nu = 2.0;
    let (mut jtj, mut jtr) = normal_equations(xs, ys, &p);
    'outer: loop {
        for k in 0..3 {
            scale[k] = f64::max(scale[k], jtj[(k, k)]);
        }
        if mu == 0.0 {
            mu = 1e-3;
        }
        if jtr.amax() == 0.0 || cost == 0.0 {
            break;
        }
        // Inner loop: raise the damping until a step reduces the error.
        loop {
            if evaluations >= MAX_EVALUATIONS {
                return Err(FitError::NotConverged { evaluations });
            }
            let mut damped = jtj;
            for k in 0..3 {
                damped[(k, k)] += mu * scale[k].max(f64::MIN_POSITIVE);
            }
            let Some(step) = damped.cholesky().map(|c| c.solve(&(-jtr))) else {
                mu *= nu;
                nu *= 2.0;
                continue;
            };
            let trial = p + step;
            evaluations += 1;
            let trial_cost = half_sse(xs, ys, &trial);
            // Predicted reduction of the linearized model: ½·hᵀ(μ·D·h − Jᵀr).
            let scaled = Vector3::new(scale[0] * step[0], scale[1] * step[1], scale[2] * step[2]);
            let predicted = 0.5 * step.dot(&(scaled * mu - jtr));
            match trial_cost {
                Some(c) if c < cost && predicted > 0.0 => {
                    let rho = (cost - c) / predicted;
                    let small_step = step.norm() <= XTOL * (p.norm() + XTOL);
                    let small_gain = cost - c <= FTOL * cost;
                    p = trial;
                    cost = c;
                    mu *= f64::max(1.0 / 3.0, 1.0 - libm::pow(2.0 * rho - 1.0, 3.0));
                    nu = 2.0;
                    (jtj, jtr) = normal_equations(xs, ys, &p);
                    if small_step || small_gain {
                        break 'outer;
                    }
                    // lmdif evaluates the next iteration's Jacobian only when it goes on.
                    evaluations += JACOBIAN_EVALUATIONS;
                    continue 'outer;
                }
                _ => {
                    // No step of any length helps: the start sits at a (numerical) minimum.
                    if step.norm() <= XTOL * (p.norm() + XTOL) || mu > 1e300 {
                        break 'outer;
                    }
                    mu *= nu;
                    nu *= 2.0;
                }
            }
        }
    }
    if p.iter().any(|v| !v.is_finite()) {
        return Err(FitError::NonFiniteFit);
    }
    // scipy reports an infinite covariance when JᵀJ at the solution is singular.
    if !covariance_is_finite(&jtj) {
        return Err(FitError::SingularCovariance);
    }
    let mse = 2.0 * cost / xs.len() as f64;
    if !mse.is_finite() {
        return Err(FitError::NonFiniteFit);
    }
    if p[0] < 0.0 {
        return Err(FitError::NotConvex { a: p[0] });
    }
    Ok(ExpFit {
        model: ExpModel {
            a: p[0],
            b: p[1],
            c: p[2],
        },
        mse,
        start_index: 0,
    })
}

/// Whether `JᵀJ` is invertible, as scipy decides it: only an exactly singular matrix (a failed
/// factorization) gives an infinite covariance. Nearly linear data make `JᵀJ` badly conditioned
/// without being singular, and scipy accepts those fits (measured on the 8×128 benchmark
/// instance, where a stricter condition test rejected every start of one profile).
fn covariance_is_finite(jtj: &Matrix3<f64>) -> bool {
    // Scaled to unit diagonal so that the parameters' magnitudes do not matter.
    let d: [f64; 3] = core::array::from_fn(|k| libm::sqrt(jtj[(k, k)]));
    if d.iter().any(|&v| !(v.is_finite() && v > 0.0)) {
        return false;
    }
    let scaled = Matrix3::from_fn(|i, j| jtj[(i, j)] / (d[i] * d[j]));
    scaled
        .cholesky()
        .is_some_and(|c| c.l().diagonal().iter().all(|&v| v.is_finite() && v > 0.0))
}

#[cfg(test)]
#[allow(clippy::expect_used)] // a failed expectation is the test failing
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A convex cost falling steeply over 20–34 quanta: the noise-free data of two tests.
    const STEEP: ExpModel = ExpModel {
        a: 250.0,
        b: -0.12,
        c: 4.5,
    };

    fn sample(model: ExpModel, xs: &[f64]) -> Vec<f64> {
        xs.iter().map(|&x| model.eval(x)).collect()
    }

    #[test]
    fn grid_matches_lowtime_order() {
        let starts: Vec<[f64; 3]> = grid(0.001).collect();
        assert_eq!(starts.len(), GRID_SIZE);
        assert_eq!(starts[0], [10.0, -0.01 * 0.001 / 0.001, 10.0]);
        assert_eq!(starts[1], [10.0, starts[0][1], 100.0]);
        assert_eq!(starts[3][1], -0.02 * 0.001 / 0.001);
        assert_eq!(starts[18][0], 100.0);
        assert_eq!(starts[53], [1000.0, -0.1 * 0.001 / 0.001, 1000.0]);
        // A 0.1 ms quantum scales the rates by 0.1.
        let fine: Vec<[f64; 3]> = grid(1e-4).collect();
        assert!((fine[0][1] + 0.001).abs() < 1e-15);
    }

    #[test]
    fn recovers_exact_coefficients_from_noise_free_data() {
        let truth = STEEP;
        let xs: Vec<f64> = (20..=34).map(f64::from).collect();
        let ys = sample(truth, &xs);
        let fit = fit_exponential(&xs, &ys, 0.001).expect("noise-free data must fit");
        let m = fit.model;
        assert!((m.a / truth.a - 1.0).abs() < 1e-6, "{m:?}");
        assert!((m.b / truth.b - 1.0).abs() < 1e-6, "{m:?}");
        assert!((m.c / truth.c - 1.0).abs() < 1e-6, "{m:?}");
        for (&x, &y) in xs.iter().zip(&ys) {
            assert!((m.eval(x) / y - 1.0).abs() < 1e-9);
        }
        assert!(fit.mse < 1e-18, "mse {}", fit.mse);
        assert!(fit.start_index < GRID_SIZE);

        let single = fit_exponential_from(&xs, &ys, [100.0, -0.1, 1.0]).expect("close start");
        assert_eq!(single.start_index, 0);
        assert!((single.model.b / truth.b - 1.0).abs() < 1e-6, "{single:?}");
    }

    #[test]
    fn recovers_with_a_fine_quantum() {
        // 0.1 ms quanta: durations ten times larger, rates ten times smaller.
        let truth = ExpModel {
            a: 80.0,
            b: -0.011,
            c: 2.0,
        };
        let xs: Vec<f64> = (0..12).map(|k| f64::from(200 + 10 * k)).collect();
        let ys = sample(truth, &xs);
        let fit = fit_exponential(&xs, &ys, 1e-4).expect("fits");
        for (&x, &y) in xs.iter().zip(&ys) {
            assert!((fit.model.eval(x) / y - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn rejects_three_or_fewer_points() {
        let xs = [21.0, 22.0, 23.0];
        let ys = [6.8, 6.4, 5.6];
        assert_eq!(
            fit_exponential(&xs, &ys, 0.001),
            Err(FitError::TooFewPoints { n: 3 })
        );
        assert_eq!(
            fit_exponential(&xs[..1], &ys[..1], 0.001),
            Err(FitError::TooFewPoints { n: 1 })
        );
        assert_eq!(
            fit_exponential_from(&xs, &ys, [10.0, -0.1, 1.0]),
            Err(FitError::TooFewPoints { n: 3 })
        );
        assert_eq!(
            fit_exponential(&[], &[], 0.001),
            Err(FitError::TooFewPoints { n: 0 })
        );
    }

    #[test]
    fn rejects_non_finite_and_mismatched_input() {
        let xs = [21.0, 22.0, 23.0, 24.0, 25.0];
        let mut ys = [6.8, 6.4, 5.6, 5.1, 4.7];
        ys[2] = f64::NAN;
        assert_eq!(
            fit_exponential(&xs, &ys, 0.001),
            Err(FitError::NonFinite {
                index: 2,
                field: "cost"
            })
        );
        let mut xs_bad = xs;
        xs_bad[4] = f64::INFINITY;
        assert_eq!(
            fit_exponential(&xs_bad, &[1.0; 5], 0.001),
            Err(FitError::NonFinite {
                index: 4,
                field: "duration"
            })
        );
        assert_eq!(
            fit_exponential(&xs, &ys[..4], 0.001),
            Err(FitError::LengthMismatch {
                durations: 5,
                costs: 4
            })
        );
        let ok_ys = [6.8, 6.4, 5.6, 5.1, 4.7];
        assert!(matches!(
            fit_exponential(&xs, &ok_ys, 0.0),
            Err(FitError::InvalidUnitTime { .. })
        ));
        assert!(matches!(
            fit_exponential_from(&xs, &ok_ys, [1.0, f64::NAN, 1.0]),
            Err(FitError::InvalidStart { .. })
        ));
    }

    #[test]
    fn enforces_convexity() {
        // Concave data: the least-squares optimum has a < 0.
        let truth = ExpModel {
            a: -60.0,
            b: -0.1,
            c: 12.0,
        };
        let xs: Vec<f64> = (20..=30).map(f64::from).collect();
        let ys = sample(truth, &xs);
        assert!(matches!(
            fit_exponential_from(&xs, &ys, [-50.0, -0.1, 10.0]),
            Err(FitError::NotConvex { a }) if a < 0.0
        ));
        // Most grid starts reach the concave optimum and are rejected; scipy's accepted fits
        // are near-linear convex ones (a ≈ 2e4, b ≈ 2e-5).
        let fit = fit_exponential(&xs, &ys, 0.001).expect("some start stays convex");
        assert!(fit.model.a >= 0.0, "{fit:?}");
        assert!(
            fit.mse > 1e-3,
            "a convex model cannot fit concave data: {fit:?}"
        );
    }

    #[test]
    fn rejects_singular_covariance() {
        // With b = -50 every exp(b·d) underflows to 0, so the a and b columns of the
        // Jacobian vanish: LM only moves c, R is singular and scipy's covariance is inf.
        let truth = STEEP;
        let xs: Vec<f64> = (20..=30).map(f64::from).collect();
        let ys = sample(truth, &xs);
        assert_eq!(
            fit_exponential_from(&xs, &ys, [10.0, -50.0, 10.0]),
            Err(FitError::SingularCovariance)
        );
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // Deterministic pseudo-random junk: wild magnitudes, duplicates, negative durations.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for case in 0..15 {
            let m = 4 + (next() % 9) as usize;
            let scale = [1e-300, 1e-3, 1.0, 1e3, 1e300][case % 5];
            let xs: Vec<f64> = (0..m).map(|_| (next() % 200) as f64 - 50.0).collect();
            let ys: Vec<f64> = (0..m)
                .map(|_| ((next() % 2001) as f64 - 1000.0) / 100.0 * scale)
                .collect();
            let unit = [1e-3, 1e-4, 1.0][case % 3];
            if let Ok(fit) = fit_exponential(&xs, &ys, unit) {
                assert!(fit.mse.is_finite() && fit.model.a >= 0.0, "{fit:?}");
                assert!(
                    fit.model.b.is_finite() && fit.model.c.is_finite(),
                    "{fit:?}"
                );
            }
        }
    }
}
