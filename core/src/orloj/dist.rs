//! Empirical execution-time distributions on a shared time grid (\[proposed\] representation of
//! the reference notes, B3): a pmf and its CDF per application, built from samples or a
//! parametric spec, updated on line with exponential decay.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

use super::{BatchingError, MAX_BINS, non_negative};

/// Relative tolerance under which a time that is a whole number of bins (up to rounding error
/// of the division) counts as exactly on the grid point.
const SNAP: f64 = 1e-9;
/// Above this CDF value a bin counts as carrying all the mass (rounding of the cumulative sum).
const FULL: f64 = 1.0 - 1e-12;
/// Standard-normal quantile of 0.9999: how far a lognormal's grid reaches.
const Z_9999: f64 = 3.719_016_485_455_68;

/// A time grid shared by all applications: bin `i` stands for the time `i · bin_s`.
///
/// A value between two grid points is rounded *up* (a request is assumed to take the next grid
/// time), so a distribution on the grid never underestimates a time by more than one bin. A
/// value beyond the last grid point lands in the last bin: the grid should span the times of
/// interest (the simulator spans each spec's 99.99th percentile).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeGrid {
    bin_s: f64,
    bins: usize,
}

impl TimeGrid {
    /// A grid of `bins` points `0, bin_s, …, (bins − 1)·bin_s`.
    pub fn new(bin_s: f64, bins: usize) -> Result<Self, BatchingError> {
        if !(bin_s.is_finite() && bin_s > 0.0 && (2..=MAX_BINS).contains(&bins)) {
            return Err(BatchingError::InvalidGrid { bin_s, bins });
        }
        Ok(TimeGrid { bin_s, bins })
    }

    /// A grid of `bins` points whose last point is `span_s`.
    pub fn covering(span_s: f64, bins: usize) -> Result<Self, BatchingError> {
        let bin_s = span_s / (bins.max(2) - 1) as f64;
        Self::new(bin_s, bins)
    }

    /// Bin width, seconds.
    pub fn bin_s(&self) -> f64 {
        self.bin_s
    }

    /// Number of bins.
    pub fn bins(&self) -> usize {
        self.bins
    }

    /// Time of grid point `i`, seconds.
    pub fn time_s(&self, i: usize) -> f64 {
        i as f64 * self.bin_s
    }

    /// Last grid time, seconds.
    pub fn span_s(&self) -> f64 {
        self.time_s(self.bins - 1)
    }

    /// The bin a value `x_s ≥ 0` is counted in: the first grid point at or above it, clamped
    /// to the last bin.
    pub fn bin_up(&self, x_s: f64) -> usize {
        let q = x_s / self.bin_s;
        // Within SNAP of a grid point counts as on it (division rounding).
        let i = libm::ceil(q - SNAP * q.max(1.0));
        if i <= 0.0 {
            0
        } else if i >= (self.bins - 1) as f64 || i.is_nan() {
            self.bins - 1
        } else {
            i as usize
        }
    }

    /// The last grid point at or below `t_s` (clamped to the last bin), or `None` when `t_s`
    /// is negative (no execution finishes in negative time).
    #[inline]
    pub fn bin_down(&self, t_s: f64) -> Option<usize> {
        if t_s.is_nan() || t_s < 0.0 {
            return None;
        }
        let q = t_s / self.bin_s;
        let i = q + SNAP * q.max(1.0);
        if i >= (self.bins - 1) as f64 {
            Some(self.bins - 1)
        } else {
            // Truncation is the floor here: i ≥ 0.
            Some(i as usize)
        }
    }
}

/// An execution-time distribution on a [`TimeGrid`] — the distribution model of the
/// scheduler. Implementations keep a normalised pmf and its CDF; `cdf()[i]` is
/// `P(X ≤ i · bin_s)` and equals exactly 1 from [`full_bin`](Self::full_bin) on.
pub trait ExecDistribution {
    /// The grid.
    fn grid(&self) -> TimeGrid;
    /// Probability of each grid time.
    fn pmf(&self) -> &[f64];
    /// Cumulative distribution at each grid time.
    fn cdf(&self) -> &[f64];
    /// Mean, seconds.
    fn mean_s(&self) -> f64;
    /// First bin with positive CDF.
    fn first_bin(&self) -> usize;
    /// First bin from which the CDF is exactly 1.
    fn full_bin(&self) -> usize;

    /// `P(X ≤ t_s)`.
    #[inline]
    fn cdf_at(&self, t_s: f64) -> f64 {
        match self.grid().bin_down(t_s) {
            None => 0.0,
            Some(i) => self.cdf().get(i).copied().unwrap_or(1.0),
        }
    }

    /// The smallest grid time `t` with `P(X ≤ t) ≥ p`, seconds.
    fn quantile_s(&self, p: f64) -> f64 {
        let grid = self.grid();
        if p <= 0.0 {
            return grid.time_s(self.first_bin());
        }
        let i = self.cdf().partition_point(|&c| c < p);
        grid.time_s(i.min(grid.bins() - 1))
    }
}

/// Mean and support of a pmf, and its CDF written into `cdf`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    mean_s: f64,
    first: usize,
    full: usize,
}

/// Fills `cdf` from a normalised `pmf` and summarises it. The tail past the first bin where
/// the cumulative sum reaches 1 (up to rounding) is set to exactly 1 so that products of CDFs
/// stop there.
fn rebuild(grid: TimeGrid, pmf: &[f64], cdf: &mut [f64]) -> Summary {
    let mut acc = 0.0;
    let mut weighted = 0.0;
    let mut first = None;
    let mut full = None;
    for (i, (&p, c)) in pmf.iter().zip(cdf.iter_mut()).enumerate() {
        acc += p;
        weighted += p * i as f64;
        if first.is_none() && acc > 0.0 {
            first = Some(i);
        }
        if full.is_none() && acc >= FULL {
            full = Some(i);
        }
        *c = if full.is_some() { 1.0 } else { acc };
    }
    let last = pmf.len().saturating_sub(1);
    if let Some(c) = cdf.last_mut() {
        *c = 1.0;
    }
    Summary {
        mean_s: weighted * grid.bin_s(),
        first: first.unwrap_or(last),
        full: full.unwrap_or(last),
    }
}

/// Normalises non-negative weights in place; `what` names the source in errors.
fn normalise(weights: &mut [f64], app: &str, field: &'static str) -> Result<(), BatchingError> {
    let mut sum = 0.0;
    for (i, &w) in weights.iter().enumerate() {
        if !(w.is_finite() && w >= 0.0) {
            return Err(spec_err(app, field, format!("weight {i} is {w}")));
        }
        sum += w;
    }
    if !(sum > 0.0 && sum.is_finite()) {
        return Err(spec_err(app, field, format!("weights add up to {sum}")));
    }
    for w in weights.iter_mut() {
        *w /= sum;
    }
    Ok(())
}

fn spec_err(app: &str, field: &'static str, message: String) -> BatchingError {
    BatchingError::InvalidSpec {
        app: String::from(app),
        field,
        message,
    }
}

/// Standard normal CDF.
fn phi(z: f64) -> f64 {
    0.5 * libm::erfc(-z / core::f64::consts::SQRT_2)
}

/// A parametric (or sampled) execution-time law of one application, as in `orloj-sim/v1`.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecSpec {
    /// Always `value_s` (a static DNN).
    Constant {
        /// The time, seconds.
        value_s: f64,
    },
    /// Early exit: `low_s` with probability `p_low`, else `high_s`.
    Bimodal {
        /// Early-exit time, seconds.
        low_s: f64,
        /// Full-depth time, seconds.
        high_s: f64,
        /// Probability of the early exit.
        p_low: f64,
    },
    /// Lognormal with the given mean and coefficient of variation (`cv = 0` is a constant).
    Lognormal {
        /// Mean, seconds.
        mean_s: f64,
        /// Standard deviation over mean.
        cv: f64,
    },
    /// Uniform over measured times.
    Samples {
        /// The measurements, seconds.
        values_s: Vec<f64>,
    },
}

impl ExecSpec {
    /// The kind's name in `orloj-sim/v1`.
    pub fn kind(&self) -> &'static str {
        match self {
            ExecSpec::Constant { .. } => "constant",
            ExecSpec::Bimodal { .. } => "bimodal",
            ExecSpec::Lognormal { .. } => "lognormal",
            ExecSpec::Samples { .. } => "samples",
        }
    }

    /// Checks the parameters; errors name `app` and the field.
    pub fn validate(&self, app: &str) -> Result<(), BatchingError> {
        let positive = |field: &'static str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(spec_err(
                    app,
                    field,
                    format!("{v} is not a positive finite number of seconds"),
                ))
            }
        };
        match self {
            ExecSpec::Constant { value_s } => positive("exec_time.value_s", *value_s),
            ExecSpec::Bimodal {
                low_s,
                high_s,
                p_low,
            } => {
                positive("exec_time.low_s", *low_s)?;
                positive("exec_time.high_s", *high_s)?;
                if low_s > high_s {
                    return Err(spec_err(
                        app,
                        "exec_time.low_s",
                        format!("low_s {low_s} is above high_s {high_s}"),
                    ));
                }
                if !(0.0..=1.0).contains(p_low) {
                    return Err(spec_err(
                        app,
                        "exec_time.p_low",
                        format!("{p_low} is not a probability in [0, 1]"),
                    ));
                }
                Ok(())
            }
            ExecSpec::Lognormal { mean_s, cv } => {
                positive("exec_time.mean_s", *mean_s)?;
                if !(cv.is_finite() && (0.0..=100.0).contains(cv)) {
                    return Err(spec_err(
                        app,
                        "exec_time.cv",
                        format!("{cv} is not a finite coefficient of variation in [0, 100]"),
                    ));
                }
                Ok(())
            }
            ExecSpec::Samples { values_s } => {
                if values_s.is_empty() {
                    return Err(spec_err(app, "exec_time.values_s", "is empty".into()));
                }
                for (i, &v) in values_s.iter().enumerate() {
                    if !(v.is_finite() && v > 0.0) {
                        return Err(spec_err(
                            app,
                            "exec_time.values_s",
                            format!("value {i} is {v}, not a positive finite number of seconds"),
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// Mean, seconds.
    pub fn mean_s(&self) -> f64 {
        match self {
            ExecSpec::Constant { value_s } => *value_s,
            ExecSpec::Bimodal {
                low_s,
                high_s,
                p_low,
            } => p_low * low_s + (1.0 - p_low) * high_s,
            ExecSpec::Lognormal { mean_s, .. } => *mean_s,
            ExecSpec::Samples { values_s } => {
                values_s.iter().sum::<f64>() / values_s.len().max(1) as f64
            }
        }
    }

    /// How far a grid must reach to hold this law: the largest value, or the 99.99th
    /// percentile of a lognormal.
    pub fn upper_s(&self) -> f64 {
        match self {
            ExecSpec::Constant { value_s } => *value_s,
            ExecSpec::Bimodal { low_s, high_s, .. } => low_s.max(*high_s),
            ExecSpec::Lognormal { mean_s, cv } => {
                let (mu, sigma) = lognormal_params(*mean_s, *cv);
                libm::exp(mu + sigma * Z_9999)
            }
            ExecSpec::Samples { values_s } => values_s.iter().copied().fold(0.0, f64::max),
        }
    }

    /// Draws one time from the law, given a source of uniform numbers in `[0, 1)`.
    pub fn sample(&self, uniform: &mut impl FnMut() -> f64) -> f64 {
        match self {
            ExecSpec::Constant { value_s } => *value_s,
            ExecSpec::Bimodal {
                low_s,
                high_s,
                p_low,
            } => {
                if uniform() < *p_low {
                    *low_s
                } else {
                    *high_s
                }
            }
            ExecSpec::Lognormal { mean_s, cv } => {
                if *cv == 0.0 {
                    return *mean_s;
                }
                let (mu, sigma) = lognormal_params(*mean_s, *cv);
                // Box–Muller.
                let u1 = 1.0 - uniform();
                let u2 = uniform();
                let z =
                    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2);
                libm::exp(mu + sigma * z)
            }
            ExecSpec::Samples { values_s } => {
                let n = values_s.len();
                let i = ((uniform() * n as f64) as usize).min(n.saturating_sub(1));
                values_s.get(i).copied().unwrap_or(0.0)
            }
        }
    }

    /// Writes this law's grid weights into `out` (one per bin, normalised).
    fn weights(&self, grid: TimeGrid, app: &str, out: &mut [f64]) -> Result<(), BatchingError> {
        self.validate(app)?;
        out.fill(0.0);
        let mut put = |x: f64, w: f64| {
            if let Some(slot) = out.get_mut(grid.bin_up(x)) {
                *slot += w;
            }
        };
        match self {
            ExecSpec::Constant { value_s } => put(*value_s, 1.0),
            ExecSpec::Bimodal {
                low_s,
                high_s,
                p_low,
            } => {
                put(*low_s, *p_low);
                put(*high_s, 1.0 - p_low);
            }
            ExecSpec::Lognormal { mean_s, cv } if *cv == 0.0 => put(*mean_s, 1.0),
            ExecSpec::Lognormal { mean_s, cv } => {
                // Bin i holds the mass of (t_{i-1}, t_i]; the last bin also holds the tail.
                let (mu, sigma) = lognormal_params(*mean_s, *cv);
                let mut prev = 0.0;
                let last = out.len().saturating_sub(1);
                for (i, slot) in out.iter_mut().enumerate().skip(1) {
                    let c = if i == last {
                        1.0
                    } else {
                        phi((libm::log(grid.time_s(i)) - mu) / sigma)
                    };
                    *slot = (c - prev).max(0.0);
                    prev = c;
                }
            }
            ExecSpec::Samples { values_s } => {
                for &v in values_s {
                    put(v, 1.0);
                }
            }
        }
        normalise(out, app, "exec_time")
    }
}

/// (μ, σ) of the normal underlying a lognormal of this mean and CV.
fn lognormal_params(mean_s: f64, cv: f64) -> (f64, f64) {
    let s2 = libm::log(1.0 + cv * cv);
    (libm::log(mean_s) - 0.5 * s2, libm::sqrt(s2))
}

/// Weights of measured samples.
fn sample_weights(grid: TimeGrid, values_s: &[f64], out: &mut [f64]) -> Result<(), BatchingError> {
    if values_s.is_empty() {
        return Err(spec_err("samples", "values_s", "is empty".into()));
    }
    out.fill(0.0);
    for (i, &v) in values_s.iter().enumerate() {
        if !(v.is_finite() && v >= 0.0) {
            return Err(spec_err(
                "samples",
                "values_s",
                format!("value {i} is {v}, not a finite non-negative number of seconds"),
            ));
        }
        if let Some(slot) = out.get_mut(grid.bin_up(v)) {
            *slot += 1.0;
        }
    }
    normalise(out, "samples", "values_s")
}

/// Shifts a fraction `decay` of the mass onto the bin of `x_s`.
fn decay_onto(grid: TimeGrid, pmf: &mut [f64], x_s: f64, decay: f64) -> Result<(), BatchingError> {
    non_negative("observed_time_s", x_s)?;
    if !(decay > 0.0 && decay <= 1.0) {
        return Err(BatchingError::InvalidValue {
            field: "decay",
            value: decay,
            message: "not in (0, 1]",
        });
    }
    let keep = 1.0 - decay;
    for p in pmf.iter_mut() {
        *p *= keep;
    }
    if let Some(slot) = pmf.get_mut(grid.bin_up(x_s)) {
        *slot += decay;
    }
    Ok(())
}

/// An execution-time distribution on a [`TimeGrid`], its probabilities and CDF stored in `S`:
/// [`Distribution`] on the heap, [`FixedDistribution`] in fixed capacity. The storage is the
/// only difference; reading the law and the on-line update are the same code.
#[derive(Debug, Clone, PartialEq)]
pub struct DistributionIn<S> {
    grid: TimeGrid,
    pmf: S,
    cdf: S,
    summary: Summary,
}

/// An execution-time distribution on the heap (allocated once, at construction).
pub type Distribution = DistributionIn<Vec<f64>>;

/// The same distribution in fixed-capacity storage (`heapless`): at most `H` bins, no heap
/// allocation at all, for hot paths and targets without an allocator.
pub type FixedDistribution<const H: usize> = DistributionIn<heapless::Vec<f64, H>>;

impl<S: DerefMut<Target = [f64]>> DistributionIn<S> {
    /// On-line update: moves a fraction `decay ∈ (0, 1]` of the mass onto the observed time
    /// (exponential forgetting, so drift is tracked). O(bins), no allocation.
    pub fn observe(&mut self, observed_time_s: f64, decay: f64) -> Result<(), BatchingError> {
        decay_onto(self.grid, &mut self.pmf, observed_time_s, decay)?;
        self.summary = rebuild(self.grid, &self.pmf, &mut self.cdf);
        Ok(())
    }
}

impl<S: Deref<Target = [f64]>> ExecDistribution for DistributionIn<S> {
    fn grid(&self) -> TimeGrid {
        self.grid
    }
    fn pmf(&self) -> &[f64] {
        &self.pmf
    }
    fn cdf(&self) -> &[f64] {
        &self.cdf
    }
    fn mean_s(&self) -> f64 {
        self.summary.mean_s
    }
    fn first_bin(&self) -> usize {
        self.summary.first
    }
    fn full_bin(&self) -> usize {
        self.summary.full
    }
}

impl Distribution {
    fn from_pmf_unchecked(grid: TimeGrid, pmf: Vec<f64>) -> Self {
        let mut cdf = vec![0.0; pmf.len()];
        let summary = rebuild(grid, &pmf, &mut cdf);
        Distribution {
            grid,
            pmf,
            cdf,
            summary,
        }
    }

    /// The law `spec` of application `app` (its name, for errors) discretised on `grid`.
    pub fn from_spec(grid: TimeGrid, spec: &ExecSpec, app: &str) -> Result<Self, BatchingError> {
        let mut pmf = vec![0.0; grid.bins()];
        spec.weights(grid, app, &mut pmf)?;
        Ok(Self::from_pmf_unchecked(grid, pmf))
    }

    /// The empirical distribution of measured times (each rounded up to the grid).
    pub fn from_samples(grid: TimeGrid, values_s: &[f64]) -> Result<Self, BatchingError> {
        let mut pmf = vec![0.0; grid.bins()];
        sample_weights(grid, values_s, &mut pmf)?;
        Ok(Self::from_pmf_unchecked(grid, pmf))
    }

    /// A distribution from non-negative weights, one per grid bin (normalised here).
    pub fn from_weights(grid: TimeGrid, weights: &[f64]) -> Result<Self, BatchingError> {
        if weights.len() != grid.bins() {
            return Err(spec_err(
                "weights",
                "weights",
                format!("{} weights for {} bins", weights.len(), grid.bins()),
            ));
        }
        let mut pmf = weights.to_vec();
        normalise(&mut pmf, "weights", "weights")?;
        Ok(Self::from_pmf_unchecked(grid, pmf))
    }
}

impl<const H: usize> FixedDistribution<H> {
    fn zeroed(grid: TimeGrid) -> Result<Self, BatchingError> {
        let too_many = || BatchingError::InvalidValue {
            field: "bins",
            value: grid.bins() as f64,
            message: "more bins than the fixed capacity",
        };
        let mut pmf = heapless::Vec::new();
        pmf.resize(grid.bins(), 0.0).map_err(|_| too_many())?;
        let cdf = pmf.clone();
        Ok(FixedDistribution {
            grid,
            pmf,
            cdf,
            summary: Summary {
                mean_s: 0.0,
                first: 0,
                full: 0,
            },
        })
    }

    fn finish(mut self) -> Self {
        self.summary = rebuild(self.grid, &self.pmf, &mut self.cdf);
        self
    }

    /// See [`Distribution::from_spec`].
    pub fn from_spec(grid: TimeGrid, spec: &ExecSpec, app: &str) -> Result<Self, BatchingError> {
        let mut d = Self::zeroed(grid)?;
        spec.weights(grid, app, &mut d.pmf)?;
        Ok(d.finish())
    }

    /// See [`Distribution::from_samples`].
    pub fn from_samples(grid: TimeGrid, values_s: &[f64]) -> Result<Self, BatchingError> {
        let mut d = Self::zeroed(grid)?;
        sample_weights(grid, values_s, &mut d.pmf)?;
        Ok(d.finish())
    }

    /// A copy of a heap distribution (errors if it has more than `H` bins).
    pub fn from_distribution(src: &Distribution) -> Result<Self, BatchingError> {
        let mut d = Self::zeroed(src.grid)?;
        d.pmf.copy_from_slice(&src.pmf);
        Ok(d.finish())
    }
}
