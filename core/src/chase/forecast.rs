//! One-step-ahead carbon-intensity forecasts.
//!
//! Chase's reference predictor is an ε-SVR (RBF kernel, C = 100, γ = 1e-4, no feature scaling)
//! on `[sin(2π·slot/48), cos(2π·slot/48), CI_{t−1}]`, trained once on the 48 slots before the
//! start and fed the actual previous intensity at every step. On the shared trace (MISO, 167
//! slots, forecasts from step 48) it scores MAE 8.55 gCO2/kWh, worse than persistence (8.28):
//! the series is close to a random walk with a volatile, mean-reverting last day.
//!
//! [`ForecastMethod::Ergon`] combines, with equal weights, persistence and a least-squares SVM
//! (kernel ridge regression with a bias) on the reference's own features and hyper-parameters,
//! reading C as the LS-SVM regulariser (ridge λ = 1/C). Nothing in it was fitted to the steps it
//! is scored on: C, γ, the features and the window are the reference's, and the weights ½/½ are
//! the textbook combination of two forecasts whose errors are not the same (persistence follows
//! every jump, the kernel model pulls towards the levels of its training day). On the shared
//! trace it scores MAE 8.05 (first half of the steps 3.15, second half 12.87) against the SVR's
//! 8.55 (3.55 / 13.46) and persistence's 8.28 (3.26 / 13.22); `docs/chase.md` has the numbers
//! for other starts and windows, including those where it does not win.
//!
//! Differences from the reference, on purpose: a training row needs a real previous value (the
//! reference wraps the first row's lag around to the *last* row of the trace, a value from the
//! future), so a window that starts at row 0 trains on one row fewer; and the time of day is the
//! row index modulo the slots per day (the reference counts rows 1..48 from the first row; the
//! phase does not matter, since the RBF kernel sees only differences of angles).

use alloc::vec;
use alloc::vec::Vec;

use super::ChaseError;
use super::trace::MAX_INTENSITY_G_PER_KWH;
use crate::names::named_enum;

/// The reference SVR's C, read here as the LS-SVM regulariser (ridge λ = 1/C).
pub const REFERENCE_C: f64 = 100.0;
/// The reference SVR's RBF γ (on unscaled features: gCO2/kWh for the lag).
pub const REFERENCE_GAMMA: f64 = 1e-4;
/// The reference's training window, slots (24 h of 30-minute slots).
pub const REFERENCE_HISTORY: usize = 48;
/// Longest training window: the kernel system is `history²` numbers and `history³/3` steps.
pub const MAX_HISTORY: usize = 1024;

/// How the next slot's intensity is forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForecastMethod {
    /// ½ persistence + ½ [`LsSvm`] (the default).
    #[default]
    Ergon,
    /// The previous slot's actual intensity.
    Persistence,
    /// The [`LsSvm`] alone: the reference SVR's features and hyper-parameters as a least-squares
    /// SVM (deterministic, one Cholesky solve), trained once on the window before the start.
    SvrLike,
}

named_enum!(ForecastMethod, "forecast method" {
    Ergon => "ergon",
    Persistence => "persistence",
    SvrLike => "svr-like",
});

/// The features of row `t`: the time of day as a point on the unit circle, and the previous
/// row's intensity.
fn features(t: usize, slots_per_day: usize, prev_g_per_kwh: f64) -> [f64; 3] {
    let phase = (t % slots_per_day) as f64 / slots_per_day as f64;
    let angle = 2.0 * core::f64::consts::PI * phase;
    [libm::sin(angle), libm::cos(angle), prev_g_per_kwh]
}

fn rbf(a: &[f64; 3], b: &[f64; 3], gamma: f64) -> f64 {
    let d2: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    libm::exp(-gamma * d2)
}

/// A least-squares SVM (Suykens): kernel ridge regression with a bias `b`, solving
/// `[0 1ᵀ; 1 K + I/C] [b; α] = [0; y]` through one Cholesky factorisation of `K + I/C`.
#[derive(Debug, Clone, PartialEq)]
pub struct LsSvm {
    train_x: Vec<[f64; 3]>,
    alpha: Vec<f64>,
    bias: f64,
    gamma: f64,
    slots_per_day: usize,
}

impl LsSvm {
    /// Trains on rows `lo..hi` of `hist_g_per_kwh` (each needs its previous row, so row 0 is
    /// skipped), with time-of-day period `slots_per_day`.
    pub fn fit(
        hist_g_per_kwh: &[f64],
        lo: usize,
        hi: usize,
        slots_per_day: usize,
        c: f64,
        gamma: f64,
    ) -> Result<Self, ChaseError> {
        let lo = lo.max(1);
        if hi > hist_g_per_kwh.len() || hi <= lo {
            return Err(ChaseError::Window {
                message: "the training window has no row with a previous value",
            });
        }
        if hi - lo > MAX_HISTORY {
            return Err(ChaseError::HistoryTooLong {
                history: hi - lo,
                max: MAX_HISTORY,
            });
        }
        if !(c.is_finite() && c > 0.0 && gamma.is_finite() && gamma >= 0.0) {
            return Err(ChaseError::Param {
                name: "c/gamma",
                value: if c.is_finite() && c > 0.0 { gamma } else { c },
                need: "C finite > 0 and gamma finite ≥ 0",
            });
        }
        let spd = slots_per_day.max(1);
        let train_x: Vec<[f64; 3]> = (lo..hi)
            .map(|t| features(t, spd, hist_g_per_kwh[t - 1]))
            .collect();
        let y = &hist_g_per_kwh[lo..hi];
        let m = y.len();
        let mut k = vec![0.0; m * m];
        for i in 0..m {
            for j in 0..=i {
                let v = rbf(&train_x[i], &train_x[j], gamma);
                k[i * m + j] = v;
                k[j * m + i] = v;
            }
            k[i * m + i] += 1.0 / c;
        }
        cholesky_in_place(&mut k, m)?;
        let eta = cholesky_solve(&k, m, vec![1.0; m]);
        let nu = cholesky_solve(&k, m, y.to_vec());
        let sum_eta: f64 = eta.iter().sum();
        let bias = nu.iter().sum::<f64>() / sum_eta;
        let alpha = nu.iter().zip(&eta).map(|(n, e)| n - bias * e).collect();
        Ok(Self {
            train_x,
            alpha,
            bias,
            gamma,
            slots_per_day: spd,
        })
    }

    /// The forecast for row `t` given the actual intensity of row `t − 1`.
    pub fn predict(&self, t: usize, prev_g_per_kwh: f64) -> f64 {
        let x = features(t, self.slots_per_day, prev_g_per_kwh);
        self.bias
            + self
                .train_x
                .iter()
                .zip(&self.alpha)
                .map(|(xi, a)| a * rbf(&x, xi, self.gamma))
                .sum::<f64>()
    }
}

/// Cholesky `A = L·Lᵀ` of a symmetric positive-definite `m×m` row-major matrix, `L` written
/// over the lower triangle.
fn cholesky_in_place(a: &mut [f64], m: usize) -> Result<(), ChaseError> {
    for j in 0..m {
        let mut d = a[j * m + j];
        for k in 0..j {
            d -= a[j * m + k] * a[j * m + k];
        }
        if !(d > 0.0 && d.is_finite()) {
            return Err(ChaseError::Numeric);
        }
        let d = libm::sqrt(d);
        a[j * m + j] = d;
        for i in j + 1..m {
            let mut s = a[i * m + j];
            for k in 0..j {
                s -= a[i * m + k] * a[j * m + k];
            }
            a[i * m + j] = s / d;
        }
    }
    Ok(())
}

/// Solves `L·Lᵀ x = b` with the factor from [`cholesky_in_place`].
fn cholesky_solve(l: &[f64], m: usize, mut b: Vec<f64>) -> Vec<f64> {
    for i in 0..m {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * m + k] * b[k];
        }
        b[i] = s / l[i * m + i];
    }
    for i in (0..m).rev() {
        let mut s = b[i];
        for k in i + 1..m {
            s -= l[k * m + i] * b[k];
        }
        b[i] = s / l[i * m + i];
    }
    b
}

/// A forecaster that has been trained on the window before `start` and forecasts each later
/// slot from the slots before it.
#[derive(Debug, Clone, PartialEq)]
pub struct CarbonForecaster {
    method: ForecastMethod,
    model: Option<LsSvm>,
}

impl CarbonForecaster {
    /// Trains `method` on the `history` rows of `hist_g_per_kwh` before row `start` (only rows
    /// before `start` are read). Errors: `history` < 2 or > [`MAX_HISTORY`], `history` >
    /// `start`, `start` ≥ the number of rows (nothing to forecast), an intensity before `start`
    /// outside 0..=[`MAX_INTENSITY_G_PER_KWH`] (NaN included).
    pub fn train(
        hist_g_per_kwh: &[f64],
        history: usize,
        start: usize,
        slots_per_day: usize,
        method: ForecastMethod,
    ) -> Result<Self, ChaseError> {
        check_window(hist_g_per_kwh.len(), history, start)?;
        if let Some(row) = hist_g_per_kwh[..start]
            .iter()
            .position(|v| !(0.0..=MAX_INTENSITY_G_PER_KWH).contains(v))
        {
            return Err(ChaseError::Intensity {
                row,
                value: hist_g_per_kwh[row],
            });
        }
        let model = match method {
            ForecastMethod::Persistence => None,
            ForecastMethod::Ergon | ForecastMethod::SvrLike => Some(LsSvm::fit(
                hist_g_per_kwh,
                start - history,
                start,
                slots_per_day,
                REFERENCE_C,
                REFERENCE_GAMMA,
            )?),
        };
        Ok(Self { method, model })
    }

    /// The method.
    pub fn method(&self) -> ForecastMethod {
        self.method
    }

    /// The forecast for row `t` given the actual intensity of row `t − 1`.
    pub fn predict(&self, t: usize, prev_g_per_kwh: f64) -> f64 {
        match (&self.model, self.method) {
            (Some(m), ForecastMethod::SvrLike) => m.predict(t, prev_g_per_kwh),
            (Some(m), _) => 0.5 * (prev_g_per_kwh + m.predict(t, prev_g_per_kwh)),
            (None, _) => prev_g_per_kwh,
        }
    }
}

fn check_window(rows: usize, history: usize, start: usize) -> Result<(), ChaseError> {
    if rows == 0 {
        return Err(ChaseError::EmptyTrace);
    }
    if history < 2 {
        return Err(ChaseError::Window {
            message: "history must be at least 2 slots",
        });
    }
    if history > MAX_HISTORY {
        return Err(ChaseError::HistoryTooLong {
            history,
            max: MAX_HISTORY,
        });
    }
    if history >= rows {
        return Err(ChaseError::HistoryLongerThanTrace { history, rows });
    }
    if history > start {
        return Err(ChaseError::HistoryBeforeStart { history, start });
    }
    if start >= rows {
        return Err(ChaseError::StartBeyondEnd { start, rows });
    }
    Ok(())
}

/// One-step-ahead forecasts of every row from `start` to the end, each from the rows before it
/// (the model trained once on the `history` rows before `start`, then fed each row's actual
/// previous value). Errors as [`CarbonForecaster::train`], and for an intensity anywhere
/// outside 0..=[`MAX_INTENSITY_G_PER_KWH`].
pub fn forecast_series(
    hist_g_per_kwh: &[f64],
    history: usize,
    start: usize,
    slots_per_day: usize,
    method: ForecastMethod,
) -> Result<Vec<f64>, ChaseError> {
    let model = CarbonForecaster::train(hist_g_per_kwh, history, start, slots_per_day, method)?;
    if let Some(row) = hist_g_per_kwh
        .iter()
        .position(|v| !(0.0..=MAX_INTENSITY_G_PER_KWH).contains(v))
    {
        return Err(ChaseError::Intensity {
            row,
            value: hist_g_per_kwh[row],
        });
    }
    Ok((start..hist_g_per_kwh.len())
        .map(|t| model.predict(t, hist_g_per_kwh[t - 1]))
        .collect())
}

/// Mean absolute error of `forecast` against `actual` (over the shorter length; NaN when empty).
pub fn mean_absolute_error(forecast: &[f64], actual: &[f64]) -> f64 {
    let n = forecast.len().min(actual.len());
    let sum: f64 = forecast
        .iter()
        .zip(actual)
        .map(|(f, a)| libm::fabs(f - a))
        .sum();
    sum / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn persistence_repeats_the_previous_value() {
        let hist = [1.0, 2.0, 3.0, 5.0, 8.0];
        let f = forecast_series(&hist, 2, 2, 48, ForecastMethod::Persistence).unwrap();
        assert_eq!(f, [2.0, 3.0, 5.0]);
        assert_eq!(mean_absolute_error(&f, &hist[2..]), (1.0 + 2.0 + 3.0) / 3.0);
    }

    #[test]
    fn window_errors() {
        let hist = [1.0; 10];
        let m = ForecastMethod::Ergon;
        assert_eq!(
            forecast_series(&[], 2, 2, 48, m),
            Err(ChaseError::EmptyTrace)
        );
        assert_eq!(
            forecast_series(&hist, 10, 10, 48, m),
            Err(ChaseError::HistoryLongerThanTrace {
                history: 10,
                rows: 10
            })
        );
        assert_eq!(
            forecast_series(&hist, 5, 4, 48, m),
            Err(ChaseError::HistoryBeforeStart {
                history: 5,
                start: 4
            })
        );
        assert_eq!(
            forecast_series(&hist, 4, 10, 48, m),
            Err(ChaseError::StartBeyondEnd {
                start: 10,
                rows: 10
            })
        );
        assert!(forecast_series(&hist, 1, 4, 48, m).is_err());
        assert!(matches!(
            forecast_series(&hist, MAX_HISTORY + 1, 4, 48, m),
            Err(ChaseError::HistoryTooLong { .. })
        ));
        let mut bad = hist;
        bad[7] = f64::NAN;
        assert!(matches!(
            forecast_series(&bad, 4, 4, 48, m),
            Err(ChaseError::Intensity { row: 7, .. })
        ));
    }

    #[test]
    fn ls_svm_solves_its_linear_system() {
        // The fitted (b, α) satisfy Σα = 0 and (K + I/C)α + b = y on the training rows.
        let hist: Vec<f64> = (0..30)
            .map(|i| 600.0 + 10.0 * libm::sin(i as f64))
            .collect();
        let m = LsSvm::fit(&hist, 0, 30, 48, 100.0, 1e-3).unwrap();
        let sum: f64 = m.alpha.iter().sum();
        assert!(sum.abs() < 1e-9, "Σα = {sum}");
        for (i, t) in (1..30).enumerate() {
            let fitted = m.predict(t, hist[t - 1]) + m.alpha[i] / 100.0;
            assert!((fitted - hist[t]).abs() < 1e-6, "row {t}");
        }
    }

    #[test]
    fn a_constant_series_is_forecast_exactly() {
        let hist = [620.0; 60];
        for method in ForecastMethod::ALL {
            let f = forecast_series(&hist, 48, 48, 48, method).unwrap();
            assert!(f.iter().all(|v| (v - 620.0).abs() < 1e-9), "{method:?}");
        }
        assert_eq!("svr-like".parse(), Ok(ForecastMethod::SvrLike));
        assert_eq!(
            "svr".parse::<ForecastMethod>().unwrap_err().to_string(),
            "unknown forecast method \"svr\" (expected ergon, persistence or svr-like)"
        );
    }
}
