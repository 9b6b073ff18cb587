//! Rényi-DP accounting (dpk-orloj.md §A2): orders, block capacities, the curves of the usual
//! mechanisms, composition, conversion back to (ε, δ)-DP in both directions, and calibration of
//! the Gaussian mechanism.
//!
//! Two kinds of order grid are in use. Workloads and the schedulers keep one ε per order in a
//! fixed-capacity [`RdpCurve`] (at most [`MAX_ORDERS`]), so budget checks never allocate. The
//! accounting functions themselves (`*_into`, [`dp_epsilon_with`], [`dp_delta`]) take any grid
//! of up to [`MAX_ACCOUNTING_ORDERS`] orders — [`dense_orders`] is the 156-order grid that
//! Google's `dp-accounting` uses by default — and write into a caller's slice.
//!
//! Every value here errs on the side of less privacy: where a computation cannot be carried out
//! exactly (a series that does not converge, a bound at fractional orders) it returns a larger
//! ε, never a smaller one.

use alloc::vec::Vec;

use super::{KnapsackError, MAX_ORDERS, RdpCurve};
use crate::names::named_enum;

/// The 12 orders used by the DPack paper and its simulator.
pub const STANDARD_ALPHAS: [f64; 12] = [
    1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 16.0, 32.0, 64.0,
];

/// Most orders an accounting helper accepts (a bound on what input may make it allocate).
pub const MAX_ACCOUNTING_ORDERS: usize = 4096;

/// Largest RDP order accepted anywhere (workload orders and the accounting helpers' grids).
///
/// The integer-order series of the subsampled Gaussian and the subsampled-Laplace bound sum
/// ⌈α⌉ + 1 terms, so an order's cost grows linearly with its magnitude (and past 2⁵³ a loop
/// counter in `f64` stops advancing: order 10³⁰⁸ hung, order 10⁷ took 1.4 s). At this limit
/// one order costs about 1.1 ms for the subsampled Laplace (the slowest) and 0.4 ms for the
/// subsampled Gaussian (release build, one core of the 2-core development machine, measured by
/// `cargo test --release -p ergon-core --test dpk_bad_input order_cost -- --ignored
/// --nocapture`), so even a 4096-order accounting grid packed just under the limit stays
/// under 5 s, and a workload's 16 orders under 20 ms per task. `dp-accounting`'s default grid
/// tops out at 1024 and the DPack paper's at 64; orders of thousands already certify nothing
/// better for any practical δ.
/// Not overridable: larger orders only cost time.
pub const MAX_ALPHA: f64 = 10_000.0;

/// Below this order the tight conversion is numerically unstable (as α → 1); `dp-accounting`
/// skips such orders, and here they fall back to the classic bound, which stays valid.
const TIGHT_MIN_ORDER: f64 = 1.01;

/// How an RDP curve becomes an (ε, δ)-DP guarantee, and so how a block's (ε, δ) budget becomes
/// a capacity per order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Conversion {
    /// Mironov (2017), Prop. 3: `ε = min_α ε(α) + ln(1/δ)/(α − 1)`. The DPack paper's rule and
    /// the default.
    #[default]
    Classic,
    /// Balle et al. (2020) / Asoodeh et al. (2020), as `dp-accounting` and Opacus use it:
    /// `ε = min_α ε(α) + ln(1 − 1/α) − (ln δ + ln α)/(α − 1)`, clamped at 0, with the
    /// small-divergence shortcut `δ² > 1 − e^{−ε(α)} ⇒ ε = 0`. Smaller ε for the same curve,
    /// so a block converted this way holds more RDP budget.
    Tight,
}

named_enum!(Conversion, "conversion" {
    Classic => "classic",
    Tight => "tight",
});

/// Checks an order grid against a length limit: non-empty, every α finite and > 1, at most
/// [`MAX_ALPHA`], strictly increasing.
fn check_orders_up_to(alphas: &[f64], max: usize) -> Result<(), KnapsackError> {
    if alphas.is_empty() {
        return Err(KnapsackError::EmptyOrders);
    }
    if alphas.len() > max {
        return Err(KnapsackError::TooManyOrders {
            count: alphas.len(),
            max,
        });
    }
    let mut prev = f64::NEG_INFINITY;
    for (index, &a) in alphas.iter().enumerate() {
        if !(a.is_finite() && a > 1.0 && a > prev) {
            return Err(KnapsackError::InvalidOrder { index, value: a });
        }
        if a > MAX_ALPHA {
            return Err(KnapsackError::OrderTooLarge {
                index,
                value: a,
                max: MAX_ALPHA,
            });
        }
        prev = a;
    }
    Ok(())
}

/// Checks an order list for a workload (non-empty, at most [`MAX_ORDERS`], every α finite,
/// > 1 and at most [`MAX_ALPHA`], strictly increasing) and returns it as a fixed-capacity vector.
pub fn orders(alphas: &[f64]) -> Result<RdpCurve, KnapsackError> {
    check_orders_up_to(alphas, MAX_ORDERS)?;
    Ok(alphas.iter().copied().collect())
}

/// Checks an order grid for the accounting helpers: as [`orders`], up to
/// [`MAX_ACCOUNTING_ORDERS`].
pub fn check_orders(alphas: &[f64]) -> Result<(), KnapsackError> {
    check_orders_up_to(alphas, MAX_ACCOUNTING_ORDERS)
}

/// The default grid of `dp-accounting`'s RDP accountant (156 orders): 1.1 to 10.9 in steps of
/// 0.1, the integers 11 to 63, and 128, 256, 512, 1024.
pub fn dense_orders() -> Vec<f64> {
    let mut v: Vec<f64> = (1..100).map(|x| 1.0 + f64::from(x) / 10.0).collect();
    v.extend((11..64).map(f64::from));
    v.extend([128.0, 256.0, 512.0, 1024.0]);
    v
}

fn check_delta(delta: f64) -> Result<(), KnapsackError> {
    if delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(KnapsackError::InvalidDelta { delta })
    }
}

fn check_epsilon(epsilon: f64) -> Result<(), KnapsackError> {
    if epsilon.is_finite() && epsilon > 0.0 {
        Ok(())
    } else {
        Err(KnapsackError::InvalidEpsilon { epsilon })
    }
}

fn positive(name: &'static str, value: f64) -> Result<(), KnapsackError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(KnapsackError::InvalidParameter { name, value })
    }
}

fn check_out(out: &[f64], alphas: &[f64]) -> Result<(), KnapsackError> {
    if out.len() == alphas.len() {
        Ok(())
    } else {
        Err(KnapsackError::CurveLength {
            len: out.len(),
            expected: alphas.len(),
        })
    }
}

/// Checks an RDP curve given against a grid: one value per order, none NaN or negative (+∞,
/// "no guarantee at this order", is allowed).
fn check_curve(alphas: &[f64], curve: &[f64]) -> Result<(), KnapsackError> {
    if curve.len() != alphas.len() {
        return Err(KnapsackError::CurveLength {
            len: curve.len(),
            expected: alphas.len(),
        });
    }
    for (&alpha, &value) in alphas.iter().zip(curve) {
        if value.is_nan() || value < 0.0 {
            return Err(KnapsackError::InvalidCurve { alpha, value });
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------- capacities

/// The (ε, δ)-DP ε that an RDP value `rdp` at order `a` certifies under `conversion`, without
/// the clamp at 0 (δ in (0, 1), `rdp` ≥ 0).
fn certified_epsilon(a: f64, rdp: f64, delta: f64, conversion: Conversion) -> f64 {
    let ln_delta = libm::log(delta);
    match conversion {
        Conversion::Tight if delta * delta + libm::expm1(-rdp) > 0.0 => 0.0,
        Conversion::Tight if a > TIGHT_MIN_ORDER => {
            rdp + libm::log1p(-1.0 / a) - (ln_delta + libm::log(a)) / (a - 1.0)
        }
        _ => rdp - ln_delta / (a - 1.0),
    }
}

/// Capacity of a block with global budget (ε, δ) at order `a`: the largest RDP value that
/// `conversion` turns into at most ε, and 0 where even a zero curve would not.
fn capacity_at(a: f64, epsilon: f64, delta: f64, conversion: Conversion) -> f64 {
    // certified_epsilon is rdp + offset (the shortcut only lowers it), so the inverse is
    // ε − offset.
    let offset = match conversion {
        Conversion::Tight if a > TIGHT_MIN_ORDER => {
            libm::log1p(-1.0 / a) - (libm::log(delta) + libm::log(a)) / (a - 1.0)
        }
        _ => -libm::log(delta) / (a - 1.0),
    };
    (epsilon - offset).max(0.0)
}

/// Capacity of a block with global budget (ε, δ) at each order, by the classic conversion:
/// `c_α = max(ε − ln(1/δ)/(α − 1), 0)` (the inverse of [`dp_epsilon`]).
pub fn block_capacity(alphas: &[f64], epsilon: f64, delta: f64) -> Result<RdpCurve, KnapsackError> {
    block_capacity_with(alphas, epsilon, delta, Conversion::Classic)
}

/// Capacity of a block with global budget (ε, δ) at each order, as the inverse of
/// `conversion`: a total demand within `c_α` at one order α certifies (ε, δ)-DP by that
/// conversion. Orders where no demand can be certified get 0.
pub fn block_capacity_with(
    alphas: &[f64],
    epsilon: f64,
    delta: f64,
    conversion: Conversion,
) -> Result<RdpCurve, KnapsackError> {
    let alphas = orders(alphas)?;
    let mut out = RdpCurve::new();
    out.resize(alphas.len(), 0.0)
        .map_err(|_| KnapsackError::TooManyOrders {
            count: alphas.len(),
            max: MAX_ORDERS,
        })?;
    block_capacity_into(&alphas, epsilon, delta, conversion, &mut out)?;
    Ok(out)
}

/// [`block_capacity_with`] on any grid of up to [`MAX_ACCOUNTING_ORDERS`] orders, written to
/// `out` (one value per order).
pub fn block_capacity_into(
    alphas: &[f64],
    epsilon: f64,
    delta: f64,
    conversion: Conversion,
    out: &mut [f64],
) -> Result<(), KnapsackError> {
    check_epsilon(epsilon)?;
    check_delta(delta)?;
    check_orders(alphas)?;
    check_out(out, alphas)?;
    for (o, &a) in out.iter_mut().zip(alphas) {
        *o = capacity_at(a, epsilon, delta, conversion);
    }
    Ok(())
}

// ------------------------------------------------------------------------ log-space helpers

/// ln(e^a + e^b) without overflow.
fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    if lo == f64::NEG_INFINITY {
        return hi;
    }
    hi + libm::log1p(libm::exp(lo - hi))
}

/// ln(e^a − e^b) for a ≥ b (−∞ when they are equal).
fn log_sub(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    if a <= b {
        return f64::NEG_INFINITY;
    }
    a + libm::log(-libm::expm1(b - a))
}

/// ln C(n, k) for real n ≥ k ≥ 0 integers k.
fn log_binom(n: f64, k: f64) -> f64 {
    libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0)
}

/// ln erfc(x), accurate also where erfc underflows (asymptotic series for large x).
fn log_erfc(x: f64) -> f64 {
    if x < 25.0 {
        libm::log(libm::erfc(x))
    } else {
        // erfc(x) = e^{−x²}/(x√π) · Σ_n (−1)^n (2n − 1)!!/(2x²)^n; at x ≥ 25 eight terms reach
        // 1e-19 relative.
        let inv = 1.0 / (2.0 * x * x);
        let (mut term, mut series) = (1.0, 1.0);
        for n in 1..8 {
            term *= -f64::from(2 * n - 1) * inv;
            series += term;
        }
        -x * x - libm::log(x) - 0.5 * libm::log(core::f64::consts::PI) + libm::log(series)
    }
}

/// ln Φ(x), the standard normal CDF, accurate in both tails.
fn log_ndtr(x: f64) -> f64 {
    let y = x * core::f64::consts::FRAC_1_SQRT_2;
    if x > 0.0 {
        libm::log1p(-0.5 * libm::erfc(y))
    } else {
        libm::log(0.5) + log_erfc(-y)
    }
}

// ------------------------------------------------------------------------------- mechanisms

/// `e^y − 1 − y` without cancellation (the Taylor series near 0).
fn expm1_minus_x(y: f64) -> f64 {
    if libm::fabs(y) >= 0.5 {
        return libm::expm1(y) - y;
    }
    let (mut term, mut sum) = (y * y / 2.0, 0.0);
    let mut k = 2.0;
    while libm::fabs(term) > 1e-18 * libm::fabs(sum) || sum == 0.0 {
        sum += term;
        k += 1.0;
        term *= y / k;
        if k > 40.0 || term == 0.0 {
            break;
        }
    }
    sum
}

/// Laplace RDP at one order (Mironov 2017, Table II; sensitivity 1, scale `b`):
/// `ε(α) = ln(A·e^{(α−1)/b} + B·e^{−α/b})/(α − 1)` with `A = α/(2α−1)`, `B = (α−1)/(2α−1)`.
///
/// For large b the sum inside the logarithm is 1 + O(1/b²): since A + B = 1 and the linear
/// terms cancel exactly (A(α−1) = Bα), it equals `1 + A·g((α−1)/b) + B·g(−α/b)` with
/// `g(y) = e^y − 1 − y ≥ 0`, a sum of non-negative terms taken through `log1p`. For small b
/// the log-sum-exp form cannot overflow.
fn laplace_at(a: f64, b: f64) -> f64 {
    let x = 1.0 / b;
    let (wa, wb) = (a / (2.0 * a - 1.0), (a - 1.0) / (2.0 * a - 1.0));
    if (a - 1.0) * x <= 1.0 {
        let s = wa * expm1_minus_x((a - 1.0) * x) + wb * expm1_minus_x(-a * x);
        return libm::log1p(s) / (a - 1.0);
    }
    let t1 = libm::log(wa) + (a - 1.0) * x;
    let t2 = libm::log(wb) - a * x;
    log_add(t1, t2) / (a - 1.0)
}

/// Terms of the fractional-order series after which its tail is bounded instead of summed.
const SGM_MAX_TERMS: u32 = 4000;

/// ln A_α of the sampled Gaussian mechanism for an integer order (binomial expansion), and the
/// number of terms summed.
fn sgm_log_a_int(a: f64, q: f64, sigma: f64) -> (f64, f64) {
    let n = a as u64;
    let (lq, l1q) = (libm::log(q), libm::log1p(-q));
    let mut acc = f64::NEG_INFINITY;
    for k in 0..=n {
        let kf = k as f64;
        let term =
            log_binom(a, kf) + kf * lq + (a - kf) * l1q + (kf * kf - kf) / (2.0 * sigma * sigma);
        acc = log_add(acc, term);
    }
    (acc, a + 1.0)
}

/// A generous bound on the absolute rounding error of a computed ln A_α: 16 ulps of 1 per
/// term summed (each `log_add` rounds a running sum near 1) plus 16 ulps of the largest
/// logarithm a term carries, ln Γ(α + 1).
fn sgm_rounding(a: f64, terms: f64) -> f64 {
    16.0 * f64::EPSILON * (terms + libm::lgamma(a + 1.0).max(1.0))
}

/// Below this multiple of its rounding bound a computed ln A_α is not trusted as it stands.
const SGM_TRUST: f64 = 1024.0;

/// ε(α)/steps of the subsampled Gaussian (0 < q < 1), never negative and never below the true
/// value by more than ordinary rounding.
///
/// For a large σ (≳ 10⁶), ln A_α is close to 0 and the series computes it as a difference of
/// numbers near 1, so it can come out below its rounding error, even negative. Where the
/// computed ln A is under [`SGM_TRUST`] times its rounding bound `r` ([`sgm_rounding`]), the
/// value used is `max(ln A, 0) + r`, which is ≥ the truth (the rounding error is at most `r`)
/// and at most `r` above it. Everything is capped by the unsampled Gaussian's
/// `ln A = α(α − 1)/(2σ²)`, a valid upper bound since subsampling only helps; for σ ≥ 10⁷ the
/// cap is what remains, `ε(α) ≤ α/(2σ²)`.
fn sgm_at(a: f64, q: f64, sigma: f64) -> f64 {
    let (log_a, terms) = if a == libm::floor(a) {
        sgm_log_a_int(a, q, sigma)
    } else {
        sgm_log_a_frac(a, q, sigma)
    };
    let r = sgm_rounding(a, terms);
    let unsampled = a * (a - 1.0) / (2.0 * sigma * sigma);
    let log_a = if log_a.is_nan() {
        unsampled
    } else if log_a < SGM_TRUST * r {
        log_a.max(0.0) + r
    } else {
        log_a
    };
    log_a.min(unsampled) / (a - 1.0)
}

/// ln A_α of the sampled Gaussian mechanism for a fractional order, and the number of terms
/// summed: the two-sided series of
/// Mironov–Talwar–Zhang (2019, §3.3) in log space, with the signed generalised binomial
/// coefficients (exact; `dp-accounting` adds their magnitudes, an upper bound that is up to a
/// few percent larger at α = 1.5).
///
/// It stops once both terms are decreasing and below e^−37 (under half an ulp) of the running
/// total. Past α + 1 the terms alternate in sign, and their magnitudes can decay only
/// polynomially (small σ, q near ½); after [`SGM_MAX_TERMS`] terms the tail is bounded by twice
/// the last magnitude (an alternating series' tail is at most its first term), so the result
/// errs upwards, never below the truth. A series that is neither converged nor alternating
/// there gives +∞ (no guarantee).
fn sgm_log_a_frac(a: f64, q: f64, sigma: f64) -> (f64, f64) {
    let (mut log_a0, mut log_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let z0 = sigma * sigma * libm::log(1.0 / q - 1.0) + 0.5;
    let (lq, l1q) = (libm::log(q), libm::log1p(-q));
    let s2 = core::f64::consts::SQRT_2 * sigma;
    let (mut last0, mut last1) = (f64::INFINITY, f64::INFINITY);
    // Generalised binomial C(α, i) as (sign, ln |C|), updated term by term.
    let (mut sign, mut log_coef) = (1.0_f64, 0.0_f64);
    let mut i = 0u32;
    loop {
        let fi = f64::from(i);
        let j = a - fi;
        let log_t0 = log_coef + fi * lq + j * l1q;
        let log_t1 = log_coef + j * lq + fi * l1q;
        let log_e0 = libm::log(0.5) + log_erfc((fi - z0) / s2);
        let log_e1 = libm::log(0.5) + log_erfc((z0 - j) / s2);
        let log_s0 = log_t0 + (fi * fi - fi) / (2.0 * sigma * sigma) + log_e0;
        let log_s1 = log_t1 + (j * j - j) / (2.0 * sigma * sigma) + log_e1;
        if sign > 0.0 {
            log_a0 = log_add(log_a0, log_s0);
            log_a1 = log_add(log_a1, log_s1);
        } else {
            log_a0 = log_sub(log_a0, log_s0);
            log_a1 = log_sub(log_a1, log_s1);
        }
        let total = log_add(log_a0, log_a1);
        let decreasing = log_s0 < last0 && log_s1 < last1;
        let largest = log_s0.max(log_s1);
        let terms = 2.0 * (fi + 1.0);
        if decreasing && largest < total - 37.0 {
            return (total, terms);
        }
        if i >= SGM_MAX_TERMS {
            let bounded = if decreasing && fi > a + 1.0 {
                log_add(total, largest + core::f64::consts::LN_2)
            } else {
                f64::INFINITY
            };
            return (bounded, terms);
        }
        (last0, last1) = (log_s0, log_s1);
        // C(α, i+1) = C(α, i)·(α − i)/(i + 1).
        let factor = (a - fi) / (fi + 1.0);
        if factor == 0.0 {
            return (total, terms);
        }
        if factor < 0.0 {
            sign = -sign;
        }
        log_coef += libm::log(libm::fabs(factor));
        i += 1;
    }
}

/// Subsampled Laplace at one order: the Zhu–Wang (2019) general upper bound at ⌈α⌉, capped by
/// the unsampled Laplace value (0 < q < 1).
fn subsampled_laplace_at(a: f64, q: f64, b: f64) -> f64 {
    let plain = laplace_at(a, b);
    let n = libm::ceil(a).max(2.0);
    let (lq, l1q) = (libm::log(q), libm::log1p(-q));
    // (1−q)^{n−1}(nq − q + 1), the last factor as log1p((n − 1)q): exact for small q.
    let mut acc = (n - 1.0) * l1q + libm::log1p((n - 1.0) * q);
    acc = log_add(
        acc,
        log_binom(n, 2.0) + 2.0 * lq + (n - 2.0) * l1q + laplace_at(2.0, b),
    );
    let mut l = 3.0;
    while l <= n {
        let term = libm::log(3.0)
            + log_binom(n, l)
            + (n - l) * l1q
            + l * lq
            + (l - 1.0) * laplace_at(l, b);
        acc = log_add(acc, term);
        l += 1.0;
    }
    (acc / (n - 1.0)).min(plain)
}

/// A noise mechanism whose RDP curve can be computed (sensitivity 1).
#[derive(Debug, Clone, PartialEq)]
pub enum Mechanism {
    /// Gaussian with standard deviation `sigma`: `ε(α) = α/(2σ²)`.
    Gaussian {
        /// σ.
        sigma: f64,
    },
    /// Laplace with scale `b` (calibrated as b = 1/ε), exact.
    Laplace {
        /// b.
        b: f64,
    },
    /// Poisson-subsampled Gaussian (DP-SGD), exact series at integer and fractional orders;
    /// where the series cannot resolve ln A_α from its rounding error (σ ≳ 10⁶) the value is
    /// raised by that error, and it is always capped by the unsampled Gaussian `α/(2σ²)` per
    /// step (see `sgm_at`), so it is never negative and never below the truth.
    SubsampledGaussian {
        /// Sampling rate, in [0, 1].
        q: f64,
        /// Noise multiplier.
        sigma: f64,
        /// Number of steps (≥ 0).
        steps: f64,
    },
    /// Poisson-subsampled Laplace: the general upper bound of Zhu & Wang (2019) at integer
    /// orders; a fractional α uses the bound at ⌈α⌉ (RDP is non-decreasing in α, so that stays
    /// an upper bound), capped by the unsampled Laplace curve. Not autodp's tighter bound.
    SubsampledLaplace {
        /// Sampling rate, in [0, 1].
        q: f64,
        /// Scale.
        b: f64,
        /// Number of steps (≥ 0).
        steps: f64,
    },
    /// Composition of several mechanisms: their curves added order by order.
    Compose(Vec<Mechanism>),
}

fn check_q(q: f64) -> Result<(), KnapsackError> {
    if (0.0..=1.0).contains(&q) {
        Ok(())
    } else {
        Err(KnapsackError::InvalidParameter {
            name: "q",
            value: q,
        })
    }
}

fn check_steps(steps: f64) -> Result<(), KnapsackError> {
    if steps.is_finite() && steps >= 0.0 {
        Ok(())
    } else {
        Err(KnapsackError::InvalidParameter {
            name: "steps",
            value: steps,
        })
    }
}

impl Mechanism {
    /// Checks every parameter against its domain.
    pub fn validate(&self) -> Result<(), KnapsackError> {
        match self {
            Mechanism::Gaussian { sigma } => positive("sigma", *sigma),
            Mechanism::Laplace { b } => positive("b", *b),
            Mechanism::SubsampledGaussian { q, sigma, steps } => {
                check_q(*q)?;
                positive("sigma", *sigma)?;
                check_steps(*steps)
            }
            Mechanism::SubsampledLaplace { q, b, steps } => {
                check_q(*q)?;
                positive("b", *b)?;
                check_steps(*steps)
            }
            Mechanism::Compose(parts) => parts.iter().try_for_each(Mechanism::validate),
        }
    }

    /// ε at order `a` of a validated mechanism.
    fn at(&self, a: f64) -> f64 {
        match *self {
            Mechanism::Gaussian { sigma } => a / (2.0 * sigma * sigma),
            Mechanism::Laplace { b } => laplace_at(a, b),
            Mechanism::SubsampledGaussian { q, sigma, steps } => {
                if q == 0.0 || steps == 0.0 {
                    0.0
                } else if q == 1.0 {
                    steps * a / (2.0 * sigma * sigma)
                } else {
                    steps * sgm_at(a, q, sigma)
                }
            }
            Mechanism::SubsampledLaplace { q, b, steps } => {
                if q == 0.0 || steps == 0.0 {
                    0.0
                } else if q == 1.0 {
                    steps * laplace_at(a, b)
                } else {
                    steps * subsampled_laplace_at(a, q, b)
                }
            }
            Mechanism::Compose(ref parts) => parts.iter().map(|p| p.at(a)).sum(),
        }
    }

    /// The curve at the orders of a workload (at most [`MAX_ORDERS`]).
    pub fn curve(&self, alphas: &[f64]) -> Result<RdpCurve, KnapsackError> {
        let alphas = orders(alphas)?;
        self.validate()?;
        Ok(alphas.iter().map(|&a| self.at(a)).collect())
    }

    /// The curve on any grid of up to [`MAX_ACCOUNTING_ORDERS`] orders, written to `out` (one
    /// value per order).
    pub fn curve_into(&self, alphas: &[f64], out: &mut [f64]) -> Result<(), KnapsackError> {
        check_orders(alphas)?;
        check_out(out, alphas)?;
        self.validate()?;
        for (o, &a) in out.iter_mut().zip(alphas) {
            *o = self.at(a);
        }
        Ok(())
    }
}

/// Gaussian mechanism with standard deviation `sigma`: `ε(α) = α / (2σ²)`.
pub fn gaussian(alphas: &[f64], sigma: f64) -> Result<RdpCurve, KnapsackError> {
    Mechanism::Gaussian { sigma }.curve(alphas)
}

/// Laplace mechanism with scale `b` (calibrated as b = 1/ε).
pub fn laplace(alphas: &[f64], b: f64) -> Result<RdpCurve, KnapsackError> {
    Mechanism::Laplace { b }.curve(alphas)
}

/// Sampled Gaussian mechanism (Poisson sampling rate `q`, noise multiplier `sigma`, `steps`
/// steps): `ε(α) = steps · ln(A_α)/(α − 1)`, exact series for integer and fractional orders.
/// q = 0 gives 0 and q = 1 the plain Gaussian.
pub fn subsampled_gaussian(
    alphas: &[f64],
    q: f64,
    sigma: f64,
    steps: f64,
) -> Result<RdpCurve, KnapsackError> {
    Mechanism::SubsampledGaussian { q, sigma, steps }.curve(alphas)
}

/// Subsampled Laplace (Poisson rate `q`, scale `b`, `steps` steps); see
/// [`Mechanism::SubsampledLaplace`].
pub fn subsampled_laplace(
    alphas: &[f64],
    q: f64,
    b: f64,
    steps: f64,
) -> Result<RdpCurve, KnapsackError> {
    Mechanism::SubsampledLaplace { q, b, steps }.curve(alphas)
}

/// Order-by-order sum of two curves (RDP composition).
pub fn compose(a: &[f64], b: &[f64]) -> Result<RdpCurve, KnapsackError> {
    if a.len() != b.len() {
        return Err(KnapsackError::CurveLength {
            len: b.len(),
            expected: a.len(),
        });
    }
    if a.len() > MAX_ORDERS {
        return Err(KnapsackError::TooManyOrders {
            count: a.len(),
            max: MAX_ORDERS,
        });
    }
    Ok(a.iter().zip(b).map(|(x, y)| x + y).collect())
}

/// Composition of `counts[i]` runs of each curve `curves[i]` (rows of `num_alphas` values,
/// row-major; `counts` `None` for one run each), written to `out`: `Σ_i counts[i]·curves[i]`
/// order by order. Curves must be ≥ 0 (+∞ allowed), counts finite and ≥ 0.
pub fn compose_into(
    curves: &[f64],
    counts: Option<&[f64]>,
    num_alphas: usize,
    out: &mut [f64],
) -> Result<(), KnapsackError> {
    if num_alphas == 0 {
        return Err(KnapsackError::EmptyOrders);
    }
    if num_alphas > MAX_ACCOUNTING_ORDERS {
        return Err(KnapsackError::TooManyOrders {
            count: num_alphas,
            max: MAX_ACCOUNTING_ORDERS,
        });
    }
    if !curves.len().is_multiple_of(num_alphas) {
        return Err(KnapsackError::CurveLength {
            len: curves.len() % num_alphas,
            expected: num_alphas,
        });
    }
    let rows = curves.len() / num_alphas;
    if let Some(c) = counts
        && c.len() != rows
    {
        return Err(KnapsackError::InvalidParameter {
            name: "counts (length)",
            value: c.len() as f64,
        });
    }
    if out.len() != num_alphas {
        return Err(KnapsackError::CurveLength {
            len: out.len(),
            expected: num_alphas,
        });
    }
    out.fill(0.0);
    for (row, curve) in curves.chunks_exact(num_alphas).enumerate() {
        let k = counts.and_then(|c| c.get(row).copied()).unwrap_or(1.0);
        check_steps(k).map_err(|_| KnapsackError::InvalidParameter {
            name: "count",
            value: k,
        })?;
        for (position, (o, &v)) in out.iter_mut().zip(curve).enumerate() {
            if v.is_nan() || v < 0.0 {
                return Err(KnapsackError::InvalidCurveEntry {
                    curve: row,
                    position,
                    value: v,
                });
            }
            // 0·∞ is 0: a mechanism run zero times costs nothing.
            if k > 0.0 {
                *o += k * v;
            }
        }
    }
    Ok(())
}

/// `k`-fold composition of one curve: every entry times `k`. (A workload curve, so its length
/// is bounded by the type; longer grids go through [`compose_into`].)
pub fn scale(curve: &RdpCurve, k: f64) -> RdpCurve {
    curve.iter().map(|x| x * k).collect()
}

// ------------------------------------------------------------------------------ conversions

/// RDP → (ε, δ)-DP by Mironov's bound, `min_α ε(α) + ln(1/δ)/(α − 1)`. Returns ε and the index
/// of the order that attains it.
pub fn dp_epsilon(
    alphas: &[f64],
    curve: &[f64],
    delta: f64,
) -> Result<(f64, usize), KnapsackError> {
    dp_epsilon_with(alphas, curve, delta, Conversion::Classic)
}

/// RDP → (ε, δ)-DP by the tighter bound of Balle et al. (2020), as `dp-accounting` and Opacus
/// use it; see [`Conversion::Tight`]. Returns ε (≥ 0) and the index of the order.
pub fn dp_epsilon_tight(
    alphas: &[f64],
    curve: &[f64],
    delta: f64,
) -> Result<(f64, usize), KnapsackError> {
    dp_epsilon_with(alphas, curve, delta, Conversion::Tight)
}

/// RDP → (ε, δ)-DP by `conversion`, on any grid of up to [`MAX_ACCOUNTING_ORDERS`] orders.
/// Returns the smallest certified ε (≥ 0) and the index of the order attaining it (the first
/// among ties). A curve that is +∞ everywhere gives +∞.
pub fn dp_epsilon_with(
    alphas: &[f64],
    curve: &[f64],
    delta: f64,
    conversion: Conversion,
) -> Result<(f64, usize), KnapsackError> {
    check_delta(delta)?;
    check_orders(alphas)?;
    check_curve(alphas, curve)?;
    let mut best = (f64::INFINITY, 0);
    for (i, (&a, &r)) in alphas.iter().zip(curve).enumerate() {
        let e = certified_epsilon(a, r, delta, conversion).max(0.0);
        if e < best.0 {
            best = (e, i);
        }
    }
    Ok(best)
}

/// RDP → (ε, δ)-DP the other way: the smallest δ that the curve certifies for a given ε ≥ 0,
/// and the index of the order attaining it. Classic: `δ = min_α e^{(α−1)(ε(α) − ε)}`; tight
/// (Balle et al. 2020, Prop. 12, as `dp-accounting`): `ln δ = min_α (α−1)(ε(α) − ε +
/// ln(1 − 1/α)) − ln α`, together with the small-divergence bound `δ ≤ √(1 − e^{−ε(α)})`.
/// δ is capped at 1.
pub fn dp_delta(
    alphas: &[f64],
    curve: &[f64],
    epsilon: f64,
    conversion: Conversion,
) -> Result<(f64, usize), KnapsackError> {
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return Err(KnapsackError::NegativeEpsilon { epsilon });
    }
    check_orders(alphas)?;
    check_curve(alphas, curve)?;
    let mut best = (f64::INFINITY, 0);
    for (i, (&a, &r)) in alphas.iter().zip(curve).enumerate() {
        let classic = (a - 1.0) * (r - epsilon);
        let log_delta = match conversion {
            Conversion::Classic => classic,
            Conversion::Tight => {
                let kl = if r == 0.0 {
                    f64::NEG_INFINITY
                } else {
                    0.5 * libm::log1p(-libm::exp(-r))
                };
                if a > TIGHT_MIN_ORDER {
                    kl.min((a - 1.0) * (r - epsilon + libm::log1p(-1.0 / a)) - libm::log(a))
                } else {
                    kl.min(classic)
                }
            }
        };
        if log_delta < best.0 {
            best = (log_delta, i);
        }
    }
    Ok((libm::exp(best.0).min(1.0), best.1))
}

// ------------------------------------------------------------------- Gaussian calibration

/// ln δ(ε) of the Gaussian mechanism with standard deviation σ (sensitivity 1): its exact
/// privacy profile (Balle & Wang 2018, Thm. 8),
/// `δ(ε) = Φ(1/(2σ) − εσ) − e^ε Φ(−1/(2σ) − εσ)`.
fn gaussian_log_delta(sigma: f64, epsilon: f64) -> f64 {
    let x = log_ndtr(0.5 / sigma - epsilon * sigma);
    let y = epsilon + log_ndtr(-0.5 / sigma - epsilon * sigma);
    if y < x {
        x + libm::log1p(-libm::exp(y - x))
    } else {
        f64::NEG_INFINITY
    }
}

/// δ at which the Gaussian mechanism with standard deviation `sigma` (sensitivity 1) is
/// (ε, δ)-DP, exactly (its privacy profile; Balle & Wang 2018). ε ≥ 0.
pub fn gaussian_delta(sigma: f64, epsilon: f64) -> Result<f64, KnapsackError> {
    positive("sigma", sigma)?;
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return Err(KnapsackError::NegativeEpsilon { epsilon });
    }
    Ok(libm::exp(gaussian_log_delta(sigma, epsilon)))
}

/// σ of the Gaussian mechanism (sensitivity 1) calibrated to (ε, δ) exactly: the analytic
/// Gaussian mechanism of Balle & Wang (2018), the smallest σ whose privacy profile meets δ at
/// ε, found by bisection to a relative 1e-15 and rounded up (the returned σ satisfies the
/// target as computed). Valid for every ε ≥ 0, unlike [`gaussian_sigma_classic`].
pub fn gaussian_sigma(epsilon: f64, delta: f64) -> Result<f64, KnapsackError> {
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return Err(KnapsackError::NegativeEpsilon { epsilon });
    }
    check_delta(delta)?;
    let target = libm::log(delta);
    let meets = |s: f64| gaussian_log_delta(s, epsilon) <= target;
    // δ(ε; σ) falls as σ grows: bracket [lo, hi] with lo failing and hi meeting the target.
    let (mut lo, mut hi) = (0.1_f64, 1.0_f64);
    while meets(lo) {
        hi = lo;
        lo /= 10.0;
        if lo < 1e-300 {
            return Ok(hi);
        }
    }
    while !meets(hi) {
        lo = hi;
        hi *= 10.0;
        if hi > 1e300 {
            return Err(KnapsackError::InvalidParameter {
                name: "delta",
                value: delta,
            });
        }
    }
    for _ in 0..200 {
        if hi - lo <= 1e-15 * hi {
            break;
        }
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if meets(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// σ of the Gaussian mechanism by the classic bound `sqrt(2 ln(1.25/δ)) / ε` (Dwork & Roth,
/// Thm. A.1). That bound is a proof of (ε, δ)-DP only for ε < 1, so larger ε are refused
/// (at δ = 1e-5 the formula stops being private from ε ≈ 8.45); use [`gaussian_sigma`].
pub fn gaussian_sigma_classic(epsilon: f64, delta: f64) -> Result<f64, KnapsackError> {
    check_epsilon(epsilon)?;
    check_delta(delta)?;
    if epsilon >= 1.0 {
        return Err(KnapsackError::ClassicGaussianRange { epsilon });
    }
    Ok(libm::sqrt(2.0 * libm::log(1.25 / delta)) / epsilon)
}

/// The noise level the reference workload generators pick for a Gaussian task with target
/// (ε, δ): the classic formula applied at any ε. Only the generators use it, to reproduce the
/// reference workloads' noise levels; the task is then charged the true RDP curve of that σ,
/// so no privacy is promised by the formula.
pub(crate) fn reference_generator_sigma(epsilon: f64, delta: f64) -> Result<f64, KnapsackError> {
    check_epsilon(epsilon)?;
    check_delta(delta)?;
    Ok(libm::sqrt(2.0 * libm::log(1.25 / delta)) / epsilon)
}
