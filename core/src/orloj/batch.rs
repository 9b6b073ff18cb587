//! The execution-time distribution of a batch (reference notes B4): a batch runs until its
//! slowest member finishes, so under independence its CDF is the product of the members'
//! CDFs, `Π_k F_k^{n_k}`, evaluated at `t / s(b)` for a batch-size factor `s(b)`.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use nalgebra::{Matrix2, Vector2};

use super::{BatchingError, ExecDistribution, MAX_BATCH_SIZE, TimeGrid};

/// How a batch's time follows from its members' — replaceable, since the paper's model is
/// unknown. The default, [`BatchScale`], is the maximum of independent members times `s(b)`.
pub trait BatchModel {
    /// Largest batch size the model describes.
    fn max_size(&self) -> usize;

    /// Time factor `s(b)` of a batch of `batch_size` members (`s(1)` is usually 1): the batch
    /// takes `s(b) · max(member times)`.
    fn scale(&self, batch_size: usize) -> f64;

    /// Folds one member's CDF into the running batch CDF, bin by bin over the same range,
    /// and returns `Σ (1 − acc[i])` over the range afterwards (the batch's tail mass there,
    /// from which its mean follows). The default multiplies (the law of the maximum of
    /// independent times), fused with the sum in one vectorisable pass.
    #[inline]
    fn combine(&self, acc: &mut [f64], member_cdf: &[f64]) -> f64 {
        product_tail(acc, member_cdf)
    }
}

/// `x^n` by repeated squaring (`f64::powi` needs std): the CDF of the maximum of `n`
/// independent members of one application where one member's CDF is `x`.
#[inline]
pub(crate) fn powi(mut x: f64, mut n: usize) -> f64 {
    if n < 32 {
        // Batch sizes: five fixed rounds with selects instead of a data-dependent loop, so
        // the scheduler's inner loops compile without branches. Multiplying by 1.0 is exact,
        // so the result is bit-identical to the loop below.
        let mut acc = 1.0;
        for _ in 0..5 {
            acc *= if n & 1 == 1 { x } else { 1.0 };
            x *= x;
            n >>= 1;
        }
        return acc;
    }
    let mut acc = 1.0;
    while n > 0 {
        if n & 1 == 1 {
            acc *= x;
        }
        x *= x;
        n >>= 1;
    }
    acc
}

/// `acc[i] *= f[i]`, returning `Σ (1 − acc[i])`; eight independent partial sums so the
/// loop vectorises and the additions do not wait on each other.
#[inline]
pub(crate) fn product_tail(acc: &mut [f64], f: &[f64]) -> f64 {
    const L: usize = 8;
    let mut lanes = [0.0f64; L];
    let mut a8 = acc.chunks_exact_mut(L);
    let mut f8 = f.chunks_exact(L);
    for (a, g) in a8.by_ref().zip(f8.by_ref()) {
        if let (Ok(a), Ok(g)) = (<&mut [f64; L]>::try_from(a), <&[f64; L]>::try_from(g)) {
            for j in 0..L {
                a[j] *= g[j];
                lanes[j] += 1.0 - a[j];
            }
        }
    }
    let mut rest = 0.0;
    for (a, &g) in a8.into_remainder().iter_mut().zip(f8.remainder()) {
        *a *= g;
        rest += 1.0 - *a;
    }
    ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
        + rest
}

/// Batch-size factors `s(1..=max_size)`: a batch takes `s(b)` times its slowest member.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchScale {
    factors: Vec<f64>,
}

impl BatchScale {
    /// No batch-size effect: `s(b) = 1` up to `max_size`.
    pub fn unit(max_size: usize) -> Result<Self, BatchingError> {
        check_max(max_size)?;
        Ok(BatchScale {
            factors: vec![1.0; max_size],
        })
    }

    /// Factors given per batch size, `factors[b − 1] = s(b)`; the table's length is the
    /// largest batch size.
    pub fn from_factors(factors: &[f64]) -> Result<Self, BatchingError> {
        check_max(factors.len())?;
        for (i, &value) in factors.iter().enumerate() {
            if !(value.is_finite() && value > 0.0) {
                return Err(BatchingError::InvalidScale { size: i + 1, value });
            }
        }
        Ok(BatchScale {
            factors: factors.to_vec(),
        })
    }

    /// Least-squares fit of an affine profile `T(b) = α + β·b` to measured
    /// `(batch_size, time_s)` pairs at a fixed input, normalised so `s(b) = T(b) / T(1)`.
    pub fn fit(profile: &[(usize, f64)], max_size: usize) -> Result<Self, BatchingError> {
        check_max(max_size)?;
        let mut ata = Matrix2::<f64>::zeros();
        let mut aty = Vector2::<f64>::zeros();
        let (mut lo, mut hi) = (usize::MAX, 0);
        for (row, &(b, t)) in profile.iter().enumerate() {
            if b == 0 || !(t.is_finite() && t > 0.0) {
                return Err(BatchingError::InvalidProfile(format!(
                    "row {row}: batch size {b}, time {t} s (need a size ≥ 1 and a positive finite time)"
                )));
            }
            lo = lo.min(b);
            hi = hi.max(b);
            let x = Vector2::new(1.0, b as f64);
            ata += x * x.transpose();
            aty += x * t;
        }
        if lo >= hi {
            return Err(BatchingError::InvalidProfile(
                "needs measurements at two or more distinct batch sizes".into(),
            ));
        }
        let coef = ata.lu().solve(&aty).ok_or_else(|| {
            BatchingError::InvalidProfile("the least-squares system is singular".into())
        })?;
        let t = |b: usize| coef[0] + coef[1] * b as f64;
        let t1 = t(1);
        let factors: Vec<f64> = (1..=max_size).map(|b| t(b) / t1).collect();
        if t1.is_nan() || t1 <= 0.0 || factors.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(BatchingError::InvalidProfile(format!(
                "the fit T(b) = {:.6} + {:.6}·b s is not positive over 1..={max_size}",
                coef[0], coef[1]
            )));
        }
        Ok(BatchScale { factors })
    }

    /// `s(b) = 1 + step·(b − 1)` up to `max_size` (clamped to 1..=MAX_BATCH_SIZE; a negative
    /// or non-finite step counts as 0).
    pub fn linear(max_size: usize, step: f64) -> Self {
        let step = if step.is_finite() && step > 0.0 {
            step
        } else {
            0.0
        };
        BatchScale {
            factors: (0..max_size.clamp(1, MAX_BATCH_SIZE))
                .map(|i| 1.0 + step * i as f64)
                .collect(),
        }
    }

    /// The factors, `s(1)` first.
    pub fn factors(&self) -> &[f64] {
        &self.factors
    }
}

fn check_max(max_size: usize) -> Result<(), BatchingError> {
    if (1..=MAX_BATCH_SIZE).contains(&max_size) {
        Ok(())
    } else {
        Err(BatchingError::InvalidMaxBatch { max_size })
    }
}

impl BatchModel for BatchScale {
    fn max_size(&self) -> usize {
        self.factors.len()
    }

    #[inline]
    fn scale(&self, batch_size: usize) -> f64 {
        let i = batch_size.clamp(1, self.factors.len()) - 1;
        self.factors.get(i).copied().unwrap_or(1.0)
    }
}

/// A batch CDF under construction, one member at a time, in a caller-owned buffer `g` of one
/// value per grid bin. Only `g[lo..hi]` is stored: below `lo` some member cannot have
/// finished yet (the CDF is 0) and from `hi` on every member has (it is 1), so adding a member
/// costs O(hi − lo) and a constant member costs nothing.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RunningMax {
    lo: usize,
    hi: usize,
    size: usize,
    /// `Σ_{lo ≤ i < hi} (1 − g[i])`.
    tail: f64,
}

impl RunningMax {
    /// The empty batch (CDF 1 everywhere).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Members so far.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Adds a member whose law is `d` (on the same grid as `g`).
    #[inline]
    pub(crate) fn add<D: ExecDistribution + ?Sized>(
        &mut self,
        g: &mut [f64],
        model: &dyn BatchModel,
        d: &D,
    ) {
        let cdf = d.cdf();
        let hi = self.hi.max(d.full_bin()).min(g.len()).min(cdf.len());
        if let Some(fresh) = g.get_mut(self.hi..hi) {
            fresh.fill(1.0);
        }
        let lo = self.lo.max(d.first_bin()).min(hi);
        if let (Some(acc), Some(f)) = (g.get_mut(lo..hi), cdf.get(lo..hi)) {
            self.tail = model.combine(acc, f);
        }
        self.lo = lo;
        self.hi = hi;
        self.size += 1;
    }

    /// The batch CDF at grid bin `i`.
    #[inline]
    pub(crate) fn at(&self, g: &[f64], i: usize) -> f64 {
        if i < self.lo {
            0.0
        } else if i >= self.hi {
            1.0
        } else {
            g.get(i).copied().unwrap_or(1.0)
        }
    }

    /// `P(batch time ≤ t_s)` for a batch scaled by `scale`.
    #[inline]
    pub(crate) fn cdf_at(&self, g: &[f64], grid: TimeGrid, scale: f64, t_s: f64) -> f64 {
        match grid.bin_down(t_s / scale) {
            None => 0.0,
            Some(i) => self.at(g, i),
        }
    }

    /// `P(batch time ≤ slack_s)` given `inv = 1 / (scale · bin_s)`: the look-up of
    /// [`cdf_at`](Self::cdf_at) without a division.
    #[inline]
    pub(crate) fn cdf_scaled(&self, g: &[f64], slack_s: f64, inv: f64) -> f64 {
        match grid_index(slack_s, inv) {
            None => 0.0,
            Some(i) => self.at(g, i),
        }
    }

    /// Expected batch time, `scale · bin_s · Σ_i (1 − G[i])`.
    #[inline]
    pub(crate) fn mean_s(&self, grid: TimeGrid, scale: f64) -> f64 {
        scale * grid.bin_s() * (self.lo as f64 + self.tail)
    }
}

/// The grid bin at or below `t_s` given `inv = 1 / bin width` (same rounding as
/// [`TimeGrid::bin_down`], unclamped: callers clamp through their slices).
#[inline]
pub(crate) fn grid_index(t_s: f64, inv: f64) -> Option<usize> {
    if t_s.is_nan() || t_s < 0.0 {
        return None;
    }
    let q = t_s * inv;
    Some((q + 1e-9 * q.max(1.0)) as usize)
}

/// The distribution of one batch's execution time (for analysis and tests; the scheduler
/// builds the same thing incrementally without allocating).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchDistribution {
    grid: TimeGrid,
    g: Vec<f64>,
    lo: usize,
    hi: usize,
    tail: f64,
    size: usize,
    scale: f64,
}

impl BatchDistribution {
    /// The batch of `count` members of each `(law, count)` entry, under `model`.
    pub fn new<D: ExecDistribution>(
        model: &dyn BatchModel,
        members: &[(&D, usize)],
    ) -> Result<Self, BatchingError> {
        let grid = match members.first() {
            Some((d, _)) => d.grid(),
            None => return Err(BatchingError::EmptyBatch),
        };
        let mut g = vec![1.0; grid.bins()];
        let mut run = RunningMax::new();
        for (app, &(d, count)) in members.iter().enumerate() {
            if d.grid() != grid {
                return Err(BatchingError::GridMismatch { app });
            }
            for _ in 0..count {
                run.add(&mut g, model, d);
            }
        }
        let size = run.size();
        if size == 0 {
            return Err(BatchingError::EmptyBatch);
        }
        if size > model.max_size() {
            return Err(BatchingError::InvalidMaxBatch { max_size: size });
        }
        Ok(BatchDistribution {
            grid,
            g,
            lo: run.lo,
            hi: run.hi,
            tail: run.tail,
            size,
            scale: model.scale(size),
        })
    }

    fn run(&self) -> RunningMax {
        RunningMax {
            lo: self.lo,
            hi: self.hi,
            size: self.size,
            tail: self.tail,
        }
    }

    /// Members.
    pub fn size(&self) -> usize {
        self.size
    }

    /// `s(b)` applied.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// `P(T_B ≤ t_s)`.
    pub fn cdf_at(&self, t_s: f64) -> f64 {
        self.run().cdf_at(&self.g, self.grid, self.scale, t_s)
    }

    /// `E[T_B]`, seconds.
    pub fn mean_s(&self) -> f64 {
        self.run().mean_s(self.grid, self.scale)
    }

    /// The support: `(time_s, probability)` for every grid time with positive mass.
    pub fn points(&self) -> Vec<(f64, f64)> {
        let run = self.run();
        let mut prev = 0.0;
        let mut out = Vec::new();
        for i in 0..self.grid.bins() {
            let c = run.at(&self.g, i);
            if c > prev {
                out.push((self.scale * self.grid.time_s(i), c - prev));
            }
            prev = c;
        }
        out
    }
}
