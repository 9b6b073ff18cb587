//! Deterministic workload generators (dpk-orloj.md §A5). Same parameters and seed, same
//! workload, on every platform.
//!
//! - [`Microbenchmark`]: the paper's 620-curve zoo, normalised against a (10, 1e-7) block,
//!   bucketed by best order, with the σ_blocks and σ_α knobs (offline, Figs. 4–5).
//! - [`AlibabaLike`]: an online workload built with the Alibaba-DP mappings from synthetic trace
//!   statistics (the raw trace is not available; the distributions are documented on the
//!   struct and in docs/dpk.md).
//! - [`AmazonLike`]: the PrivateKube Amazon-reviews mix of subsampled-Gaussian "elephants" and
//!   Laplace "mice" (online), with synthetic curve parameters.

use alloc::vec::Vec;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::rdp::{self, STANDARD_ALPHAS};
use super::{
    Block, KnapsackError, MAX_TASKS, OnlineConfig, OnlineTask, RdpCurve, ScheduleOptions, Task,
    Unlocking, Workload, check_limit, vec_for,
};

/// Seeded random numbers.
struct Draw(Xoshiro256PlusPlus);

impl Draw {
    fn new(seed: u64) -> Self {
        Draw(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in 0..n (n ≥ 1).
    fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// Standard normal (Box–Muller).
    fn gauss(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2)
    }

    /// Index drawn with probability proportional to `weights`.
    fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.uniform() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
    }
}

fn geomspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let (a, b) = (libm::log(lo), libm::log(hi));
    (0..n)
        .map(|i| libm::exp(a + (b - a) * i as f64 / (n - 1).max(1) as f64))
        .collect()
}

/// The 620 curves of the microbenchmark zoo at the standard orders, in the builder's order:
/// 100 Gaussian, 100 DP-FTRL, 100 Laplace, 64 Laplace+Gaussian, 64 Laplace+Laplace, 96
/// subsampled Gaussian, 96 subsampled Laplace.
pub fn zoo() -> Result<Vec<RdpCurve>, KnapsackError> {
    let a = &STANDARD_ALPHAS;
    let mut out = Vec::with_capacity(620);
    for s in geomspace(0.01, 10.0, 100) {
        out.push(rdp::gaussian(a, s)?);
    }
    for s in geomspace(0.01, 10.0, 10) {
        for n in geomspace(1e3, 1e8, 10) {
            out.push(rdp::scale(&rdp::gaussian(a, s)?, libm::ceil(libm::log(n))));
        }
    }
    for b in geomspace(0.01, 10.0, 100) {
        out.push(rdp::laplace(a, b)?);
    }
    let grid = [0.05, 0.1, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0];
    for &x in &grid {
        for &y in &grid {
            out.push(rdp::compose(&rdp::laplace(a, x)?, &rdp::gaussian(a, y)?)?);
        }
    }
    for &x in &grid {
        for &y in &grid {
            out.push(rdp::compose(&rdp::laplace(a, x)?, &rdp::laplace(a, y)?)?);
        }
    }
    let epochs = [1.0, 10.0, 100.0, 200.0];
    let rates = [0.001, 0.01, 0.05, 0.1, 0.2, 0.5];
    let sigmas = [0.1, 0.5, 1.0, 2.0];
    for subsampled_laplace in [false, true] {
        for &k in &epochs {
            for &q in &rates {
                for &s in &sigmas {
                    let steps = k / q;
                    let c = if subsampled_laplace {
                        rdp::subsampled_laplace(a, q, s, steps)?
                    } else {
                        rdp::subsampled_gaussian(a, q, s, steps)?
                    };
                    out.push(
                        c.iter()
                            .map(|x| if x.is_finite() { *x } else { 1e6 })
                            .collect(),
                    );
                }
            }
        }
    }
    Ok(out)
}

/// The best-order buckets of the microbenchmark: α ∈ {3, 4, 5, 6, 8, 16, 32, 64}.
pub const BUCKET_ALPHAS: [f64; 8] = [3.0, 4.0, 5.0, 6.0, 8.0, 16.0, 32.0, 64.0];

/// The offline microbenchmark of the paper (§6.2).
///
/// Each zoo curve is normalised against the capacity of a (10, 1e-7) block (`ε(α)/c_α` over
/// orders with `c_α > 0`); curves with `ε_min` outside [0.05, 1] are dropped, the rest bucketed
/// by best order. A task picks a bucket k with weight `exp(−(k − k₅)²/(2σ_α²))` (centred on
/// α = 5, the paper's sign; σ_α = 0 means the α = 5 bucket only), a curve uniformly in it, and
/// the curve is shifted vertically so that its `ε_min` is a draw of N(eps_min_mean, eps_min_std)
/// (kept ≥ eps_min_mean/10); with `spread` set, its normalised excess over the minimum is also
/// stretched so that the spread over α ∈ {4, 5, 6, 8} is a draw of N(mean, std) (kept > 0).
/// The number of blocks requested is a discrete N(mu_blocks, σ_blocks) redrawn until it lies in
/// [1, min(20, num_blocks)]; the blocks are distinct and uniform. Weights are 1, arrival = task
/// index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Microbenchmark {
    /// Number of tasks.
    pub num_tasks: usize,
    /// Number of blocks, each a (10, 1e-7) block.
    pub num_blocks: usize,
    /// Mean number of blocks per task.
    pub mu_blocks: f64,
    /// Standard deviation of the number of blocks per task.
    pub sigma_blocks: f64,
    /// Spread of best orders around α = 5, in buckets.
    pub sigma_alpha: f64,
    /// Mean normalised ε_min of a task.
    pub eps_min_mean: f64,
    /// Standard deviation of the normalised ε_min.
    pub eps_min_std: f64,
    /// Optional (mean, std) of the normalised spread over α ∈ {4, 5, 6, 8}.
    pub spread: Option<(f64, f64)>,
    /// Seed.
    pub seed: u64,
}

impl Microbenchmark {
    /// The Fig. 5 setting with `num_tasks` tasks: 7 blocks, μ_blocks = 1, σ_blocks = 10,
    /// σ_α = 4, ε_min = 0.01 (the rest as [`Default`]). The benchmarks and the paper-figure
    /// harness both use it.
    pub fn fig5(num_tasks: usize) -> Self {
        Microbenchmark {
            num_tasks,
            num_blocks: 7,
            mu_blocks: 1.0,
            sigma_blocks: 10.0,
            sigma_alpha: 4.0,
            eps_min_mean: 0.01,
            ..Microbenchmark::default()
        }
    }
}

impl Default for Microbenchmark {
    /// The Fig. 4a setting at σ_blocks = 0: 1000 tasks, 20 blocks, μ_blocks = 10, σ_α = 0,
    /// ε_min = 0.1.
    fn default() -> Self {
        Microbenchmark {
            num_tasks: 1000,
            num_blocks: 20,
            mu_blocks: 10.0,
            sigma_blocks: 0.0,
            sigma_alpha: 0.0,
            eps_min_mean: 0.1,
            eps_min_std: 0.0,
            spread: None,
            seed: 64,
        }
    }
}

/// A zoo curve normalised against the default block.
struct Normalised {
    /// ε(α)/c_α where c_α > 0, else +∞.
    norm: RdpCurve,
    curve: RdpCurve,
    min: f64,
}

impl Microbenchmark {
    /// Builds the workload.
    pub fn workload(&self) -> Result<Workload, KnapsackError> {
        let bad = |name, value| Err(KnapsackError::InvalidParameter { name, value });
        if self.num_blocks == 0 || self.num_blocks > 100_000 {
            return bad("num_blocks", self.num_blocks as f64);
        }
        check_limit("tasks", "MAX_TASKS", self.num_tasks, MAX_TASKS)?;
        if !(self.mu_blocks.is_finite() && self.mu_blocks >= 1.0) {
            return bad("mu_blocks", self.mu_blocks);
        }
        for (name, v) in [
            ("sigma_blocks", self.sigma_blocks),
            ("sigma_alpha", self.sigma_alpha),
            ("eps_min_std", self.eps_min_std),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(name, v);
            }
        }
        if !(self.eps_min_mean.is_finite() && self.eps_min_mean > 0.0) {
            return bad("eps_min_mean", self.eps_min_mean);
        }
        let alphas = &STANDARD_ALPHAS;
        let cap = rdp::block_capacity(alphas, 10.0, 1e-7)?;
        let mut buckets: Vec<Vec<Normalised>> =
            (0..BUCKET_ALPHAS.len()).map(|_| Vec::new()).collect();
        for curve in zoo()? {
            let norm: RdpCurve = curve
                .iter()
                .zip(&cap)
                .map(|(e, c)| if *c > 0.0 { e / c } else { f64::INFINITY })
                .collect();
            let (mut min, mut best) = (f64::INFINITY, 0);
            for (i, n) in norm.iter().enumerate() {
                if *n < min {
                    min = *n;
                    best = i;
                }
            }
            if !(0.05..=1.0).contains(&min) {
                continue;
            }
            if let Some(k) = BUCKET_ALPHAS.iter().position(|a| *a == alphas[best]) {
                buckets[k].push(Normalised { norm, curve, min });
            }
        }
        let centre = 2usize; // α = 5
        let weights: Vec<f64> = (0..BUCKET_ALPHAS.len())
            .map(|k| {
                if buckets[k].is_empty() {
                    0.0
                } else if self.sigma_alpha == 0.0 {
                    if k == centre { 1.0 } else { 0.0 }
                } else {
                    let d = k as f64 - centre as f64;
                    libm::exp(-d * d / (2.0 * self.sigma_alpha * self.sigma_alpha))
                }
            })
            .collect();
        if weights.iter().all(|w| *w == 0.0) {
            return bad("sigma_alpha", self.sigma_alpha);
        }
        let mut rng = Draw::new(self.seed);
        let blocks: Vec<Block> = (0..self.num_blocks as u64)
            .map(|id| Block {
                id,
                capacity: cap.clone(),
                arrival: 0.0,
            })
            .collect();
        let max_k = self.num_blocks.min(20);
        let spread_orders = [5usize, 6, 7, 8]; // α = 4, 5, 6, 8
        let mut tasks = vec_for("tasks", self.num_tasks)?;
        for id in 0..self.num_tasks {
            let bucket = &buckets[rng.weighted(&weights)];
            let base = &bucket[rng.below(bucket.len())];
            let target =
                (self.eps_min_mean + self.eps_min_std * rng.gauss()).max(self.eps_min_mean / 10.0);
            let stretch = match self.spread {
                None => 1.0,
                Some((mean, std)) => {
                    let s = spread_orders
                        .iter()
                        .map(|&i| base.norm[i] - base.min)
                        .fold(0.0, f64::max);
                    let want = (mean + std * rng.gauss()).max(mean / 10.0).max(1e-6);
                    if s > 0.0 { want / s } else { 1.0 }
                }
            };
            let demand: RdpCurve = base
                .norm
                .iter()
                .zip(&cap)
                .zip(&base.curve)
                .map(|((n, c), e)| {
                    if *c > 0.0 {
                        (target + (n - base.min) * stretch) * c
                    } else {
                        // Unusable order (zero capacity): keep the raw curve.
                        *e
                    }
                })
                .collect();
            let mut k = 0usize;
            for _ in 0..1000 {
                let x = libm::round(self.mu_blocks + self.sigma_blocks * rng.gauss());
                if x >= 1.0 && x <= max_k as f64 {
                    k = x as usize;
                    break;
                }
            }
            if k == 0 {
                k = (libm::round(self.mu_blocks) as usize).clamp(1, max_k);
            }
            // Partial Fisher–Yates: k distinct blocks.
            let mut pool: Vec<u64> = (0..self.num_blocks as u64).collect();
            for i in 0..k {
                let j = i + rng.below(pool.len() - i);
                pool.swap(i, j);
            }
            pool.truncate(k);
            tasks.push(Task {
                id: id as u64,
                weight: 1.0,
                arrival: id as f64,
                blocks: pool,
                demand,
            });
        }
        Workload::new(alphas, blocks, tasks)
    }
}

/// Bisects a noise parameter in [0.001, 1000] (geometrically) so that the tight (ε, δ)
/// conversion of `curve(noise)` lands in `[(1 − r)·target, target]`; keeps the maximum noise
/// when even that overshoots. The conversion uses only the integer standard orders (a
/// conservative minimum).
fn calibrate(
    target: f64,
    delta: f64,
    r: f64,
    mut curve: impl FnMut(f64) -> Result<RdpCurve, KnapsackError>,
) -> Result<f64, KnapsackError> {
    let ints = [2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 16.0, 32.0, 64.0];
    let idx: Vec<usize> = ints
        .iter()
        .filter_map(|a| STANDARD_ALPHAS.iter().position(|x| x == a))
        .collect();
    let mut eps = |noise: f64| -> Result<f64, KnapsackError> {
        let c = curve(noise)?;
        let sub: Vec<f64> = idx.iter().map(|&i| c[i]).collect();
        Ok(rdp::dp_epsilon_tight(&ints, &sub, delta)?.0)
    };
    let (mut lo, mut hi) = (0.001_f64, 1000.0_f64);
    if eps(hi)? > target {
        return Ok(hi);
    }
    for _ in 0..60 {
        let mid = libm::sqrt(lo * hi);
        let e = eps(mid)?;
        if e > target {
            lo = mid;
        } else if e < (1.0 - r) * target {
            hi = mid;
        } else {
            return Ok(mid);
        }
    }
    Ok(hi)
}

fn finite(c: RdpCurve) -> RdpCurve {
    c.iter()
        .map(|x| if x.is_finite() { x.min(1e6) } else { 1e6 })
        .collect()
}

/// Min–max affine map of samples into [lo, hi].
fn min_max(xs: &[f64], lo: f64, hi: f64) -> Vec<f64> {
    let mn = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let mx = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    xs.iter()
        .map(|x| {
            if mx > mn {
                lo + (hi - lo) * (x - mn) / (mx - mn)
            } else {
                lo
            }
        })
        .collect()
}

/// An Alibaba-DP-like online workload (paper §6.3). The mappings are those of the Alibaba-DP
/// generator; the trace statistics they are applied to are synthetic, since the raw trace is
/// not available:
///
/// - read bytes ~ LogNormal(0, 3) → n_blocks ∈ [1, 100000] (min–max, rounded, ≥ 1); tasks
///   with more than 100 blocks are dropped; dataset size = 1000·n_blocks, δ = 1/dataset size;
/// - half the tasks are GPU tasks; memory × runtime ~ LogNormal(0, 2.5) → ε ∈ [0.1, 1000];
///   runtime ~ LogNormal(0, 1.5) → epochs ∈ [1, 200]; plan_gpu ~ LogNormal(0, 1) → batch size
///   ∈ [64, min(4096, dataset/10)];
/// - CPU mechanisms, uniformly: Laplace (b = 1/ε), Gaussian calibrated to (ε, δ) composed
///   `epochs` times, subsampled Laplace with noise bisected to ε (r = 0.1); GPU mechanisms,
///   uniformly: subsampled Gaussian with σ bisected to ε over epochs/q steps, DP-FTRL (Gaussian
///   calibrated to (ε, δ) composed ⌈ln dataset size⌉ times);
/// - tasks whose normalised ε_min (against a (10, 1e-7) block) is outside [0.001, 1] are
///   redrawn; infinite demands become 1e6;
/// - arrivals uniform over the `total_blocks − initial_blocks` time units, weights 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlibabaLike {
    /// Number of tasks.
    pub num_tasks: usize,
    /// Blocks at t = 0 (paper: 100).
    pub initial_blocks: u32,
    /// Total blocks (paper: 100 + {30 … 180}).
    pub total_blocks: u32,
    /// Scheduling period T (paper: 10).
    pub scheduling_period: f64,
    /// Data lifetime: a block is fully unlocked this long after it arrives (paper: 30).
    pub data_lifetime: f64,
    /// Unlocking steps N (paper: 1000).
    pub unlock_steps: u32,
    /// Seed.
    pub seed: u64,
}

impl Default for AlibabaLike {
    /// The paper's Fig. 6b point: 60 000 tasks over 100 + 90 blocks, T = 10, lifetime 30,
    /// N = 1000.
    fn default() -> Self {
        AlibabaLike {
            num_tasks: 60_000,
            initial_blocks: 100,
            total_blocks: 190,
            scheduling_period: 10.0,
            data_lifetime: 30.0,
            unlock_steps: 1000,
            seed: 64,
        }
    }
}

impl AlibabaLike {
    /// The online configuration with the given scheduler settings.
    pub fn config(&self, options: ScheduleOptions) -> Result<OnlineConfig, KnapsackError> {
        check_limit("tasks", "MAX_TASKS", self.num_tasks, MAX_TASKS)?;
        if self.total_blocks < self.initial_blocks
            || self.initial_blocks == 0
            || self.total_blocks > super::online::MAX_BLOCKS
        {
            return Err(KnapsackError::InvalidParameter {
                name: "total_blocks",
                value: f64::from(self.total_blocks),
            });
        }
        if !(self.data_lifetime.is_finite() && self.data_lifetime > 0.0) || self.unlock_steps == 0 {
            return Err(KnapsackError::InvalidParameter {
                name: "data_lifetime",
                value: self.data_lifetime,
            });
        }
        let alphas = &STANDARD_ALPHAS;
        let cap = rdp::block_capacity(alphas, 10.0, 1e-7)?;
        let mut rng = Draw::new(self.seed);
        let span = f64::from(self.total_blocks - self.initial_blocks).max(1.0);
        let mut tasks = vec_for("tasks", self.num_tasks)?;
        // Draw trace statistics in batches so that the min–max maps see a whole sample.
        let batch = self.num_tasks.clamp(1, 20_000);
        let mut attempts = 0usize;
        while tasks.len() < self.num_tasks {
            attempts += 1;
            if attempts > 1000 {
                break;
            }
            let lognormal = |rng: &mut Draw, s: f64, n: usize| -> Vec<f64> {
                (0..n).map(|_| libm::exp(s * rng.gauss())).collect()
            };
            let read = min_max(&lognormal(&mut rng, 3.0, batch), 1.0, 100_000.0);
            let memrt = min_max(&lognormal(&mut rng, 2.5, batch), 0.1, 1000.0);
            let runtime = min_max(&lognormal(&mut rng, 1.5, batch), 1.0, 200.0);
            let plan = lognormal(&mut rng, 1.0, batch);
            let plan_max = plan.iter().copied().fold(0.0, f64::max);
            for i in 0..batch {
                if tasks.len() >= self.num_tasks {
                    break;
                }
                let n_blocks = libm::round(read[i]).max(1.0);
                if n_blocks > 100.0 {
                    continue;
                }
                let dataset = 1000.0 * n_blocks;
                let delta = 1.0 / dataset;
                let eps = memrt[i];
                let epochs = libm::round(runtime[i]).max(1.0);
                let bmax = (dataset / 10.0).min(4096.0);
                let batch_size = libm::round(64.0 + (bmax - 64.0) * plan[i] / plan_max).max(64.0);
                let q = (batch_size / dataset).min(1.0);
                let gpu = rng.uniform() < 0.5;
                let pick = rng.below(if gpu { 2 } else { 3 });
                let curve = if gpu {
                    if pick == 0 {
                        let steps = epochs / q;
                        let s = calibrate(eps, delta, 0.1, |s| {
                            rdp::subsampled_gaussian(alphas, q, s, steps)
                        })?;
                        rdp::subsampled_gaussian(alphas, q, s, steps)?
                    } else {
                        let s = rdp::reference_generator_sigma(eps, delta)?;
                        rdp::scale(&rdp::gaussian(alphas, s)?, libm::ceil(libm::log(dataset)))
                    }
                } else {
                    match pick {
                        0 => rdp::laplace(alphas, 1.0 / eps)?,
                        1 => {
                            let s = rdp::reference_generator_sigma(eps, delta)?;
                            rdp::scale(&rdp::gaussian(alphas, s)?, epochs)
                        }
                        _ => {
                            let steps = epochs / q;
                            let b = calibrate(eps, delta, 0.1, |b| {
                                rdp::subsampled_laplace(alphas, q, b, steps)
                            })?;
                            rdp::subsampled_laplace(alphas, q, b, steps)?
                        }
                    }
                };
                let curve = finite(curve);
                let eps_min = curve
                    .iter()
                    .zip(&cap)
                    .filter(|(_, c)| **c > 0.0)
                    .map(|(e, c)| e / c)
                    .fold(f64::INFINITY, f64::min);
                if !(0.001..=1.0).contains(&eps_min) {
                    continue;
                }
                tasks.push((n_blocks as u32, curve));
            }
        }
        let mut arrivals: Vec<f64> = (0..tasks.len()).map(|_| rng.uniform() * span).collect();
        arrivals.sort_by(f64::total_cmp);
        let tasks = tasks
            .into_iter()
            .zip(arrivals)
            .enumerate()
            .map(|(id, ((k, demand), arrival))| OnlineTask {
                id: id as u64,
                weight: 1.0,
                arrival,
                num_blocks: k,
                demand,
            })
            .collect();
        Ok(OnlineConfig {
            alphas: alphas.iter().copied().collect(),
            block_epsilon: 10.0,
            block_delta: 1e-7,
            block_conversion: Default::default(),
            initial_blocks: self.initial_blocks,
            total_blocks: self.total_blocks,
            scheduling_period: self.scheduling_period,
            unlocking: Unlocking::Time {
                period: self.data_lifetime / f64::from(self.unlock_steps),
                steps: self.unlock_steps,
            },
            options,
            tasks,
        })
    }
}

/// An Amazon-reviews-like online workload (PrivateKube): 24 subsampled-Gaussian neural-network
/// "elephants" ({product, sentiment} × {bert, bow, feedforward, lstm} × ε ∈ {0.5, 1, 5}) and 18
/// Laplace statistics "mice" (ε ∈ {0.01, 0.05, 0.1}, six queries). The curve parameters are
/// synthetic (the PrivateKube demand files are not available): model m ∈ 0..4 trains with
/// q = 0.005·2^m for 1 + 2m epochs, δ = 1e-9, σ bisected to ε. A task is an elephant with
/// probability `elephant_fraction`; it requests 1 block with probability 0.63, 2–5 with 0.32
/// (uniformly), 6–10 with 0.05; arrivals are Poisson with `tasks_per_block` per time unit.
/// With `weighted`, elephants weigh {10, 50, 100, 500} and mice {1, 5, 10, 50}, uniformly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AmazonLike {
    /// Number of tasks.
    pub num_tasks: usize,
    /// Mean tasks per time unit (= per block).
    pub tasks_per_block: f64,
    /// Fraction of elephants.
    pub elephant_fraction: f64,
    /// Draw weights instead of 1.
    pub weighted: bool,
    /// Blocks at t = 0.
    pub initial_blocks: u32,
    /// Scheduling period T.
    pub scheduling_period: f64,
    /// Data lifetime.
    pub data_lifetime: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for AmazonLike {
    fn default() -> Self {
        AmazonLike {
            num_tasks: 10_000,
            tasks_per_block: 250.0,
            elephant_fraction: 0.25,
            weighted: false,
            initial_blocks: 1,
            scheduling_period: 1.0,
            data_lifetime: 5.0,
            seed: 64,
        }
    }
}

impl AmazonLike {
    /// The 24 elephant and 18 mouse curves.
    pub fn curves() -> Result<(Vec<RdpCurve>, Vec<RdpCurve>), KnapsackError> {
        let alphas = &STANDARD_ALPHAS;
        let mut elephants = Vec::with_capacity(24);
        for _task in 0..2 {
            for m in 0..4 {
                let q = 0.005 * f64::from(1u32 << m);
                let steps = f64::from(1 + 2 * m) / q;
                for eps in [0.5, 1.0, 5.0] {
                    let s = calibrate(eps, 1e-9, 0.01, |s| {
                        rdp::subsampled_gaussian(alphas, q, s, steps)
                    })?;
                    elephants.push(finite(rdp::subsampled_gaussian(alphas, q, s, steps)?));
                }
            }
        }
        let mut mice = Vec::with_capacity(18);
        for _query in 0..6 {
            for eps in [0.01, 0.05, 0.1] {
                mice.push(rdp::laplace(alphas, 1.0 / eps)?);
            }
        }
        Ok((elephants, mice))
    }

    /// The online configuration with the given scheduler settings.
    pub fn config(&self, options: ScheduleOptions) -> Result<OnlineConfig, KnapsackError> {
        check_limit("tasks", "MAX_TASKS", self.num_tasks, MAX_TASKS)?;
        if !(self.tasks_per_block.is_finite() && self.tasks_per_block > 0.0) {
            return Err(KnapsackError::InvalidParameter {
                name: "tasks_per_block",
                value: self.tasks_per_block,
            });
        }
        if !(0.0..=1.0).contains(&self.elephant_fraction) {
            return Err(KnapsackError::InvalidParameter {
                name: "elephant_fraction",
                value: self.elephant_fraction,
            });
        }
        if self.initial_blocks == 0 || !(self.data_lifetime > 0.0 && self.data_lifetime.is_finite())
        {
            return Err(KnapsackError::InvalidParameter {
                name: "initial_blocks",
                value: f64::from(self.initial_blocks),
            });
        }
        let (elephants, mice) = Self::curves()?;
        let mut rng = Draw::new(self.seed);
        let mut t = 0.0;
        let mut tasks = vec_for("tasks", self.num_tasks)?;
        for id in 0..self.num_tasks {
            t += -libm::log(1.0 - rng.uniform()) / self.tasks_per_block;
            let elephant = rng.uniform() < self.elephant_fraction;
            let demand = if elephant {
                elephants[rng.below(elephants.len())].clone()
            } else {
                mice[rng.below(mice.len())].clone()
            };
            let u = rng.uniform();
            let k = if u < 0.63 {
                1
            } else if u < 0.95 {
                2 + rng.below(4) as u32
            } else {
                6 + rng.below(5) as u32
            };
            let weight = if self.weighted {
                let w = if elephant {
                    [10.0, 50.0, 100.0, 500.0]
                } else {
                    [1.0, 5.0, 10.0, 50.0]
                };
                w[rng.below(4)]
            } else {
                1.0
            };
            tasks.push(OnlineTask {
                id: id as u64,
                weight,
                arrival: t,
                num_blocks: k,
                demand,
            });
        }
        let total = self.initial_blocks.saturating_add(libm::ceil(t) as u32);
        Ok(OnlineConfig {
            alphas: STANDARD_ALPHAS.iter().copied().collect(),
            block_epsilon: 10.0,
            block_delta: 1e-7,
            block_conversion: Default::default(),
            initial_blocks: self.initial_blocks,
            total_blocks: total,
            scheduling_period: self.scheduling_period,
            unlocking: Unlocking::Time {
                period: self.data_lifetime / 100.0,
                steps: 100,
            },
            options,
            tasks,
        })
    }
}
