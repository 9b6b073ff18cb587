//! Rényi-DP accounting (dpk-orloj.md §A2): the standard orders, block capacities, the curves of
//! the usual mechanisms, composition and conversion back to (ε, δ)-DP.
//!
//! Every curve is a fixed-capacity [`RdpCurve`] (one ε per order, sensitivity 1), so budget
//! checks on the scheduling path never allocate.

use super::{KnapsackError, MAX_ORDERS, RdpCurve};

/// The 12 orders used by the DPack paper and its simulator.
pub const STANDARD_ALPHAS: [f64; 12] = [
    1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 16.0, 32.0, 64.0,
];

/// Checks an order list (non-empty, at most [`MAX_ORDERS`], every α finite and > 1, strictly
/// increasing) and returns it as a fixed-capacity vector.
pub fn orders(alphas: &[f64]) -> Result<RdpCurve, KnapsackError> {
    if alphas.is_empty() {
        return Err(KnapsackError::EmptyOrders);
    }
    if alphas.len() > MAX_ORDERS {
        return Err(KnapsackError::TooManyOrders {
            count: alphas.len(),
            max: MAX_ORDERS,
        });
    }
    let mut out = RdpCurve::new();
    let mut prev = f64::NEG_INFINITY;
    for (index, &a) in alphas.iter().enumerate() {
        if !(a.is_finite() && a > 1.0 && a > prev) {
            return Err(KnapsackError::InvalidOrder { index, value: a });
        }
        prev = a;
        let _ = out.push(a);
    }
    Ok(out)
}

fn check_delta(delta: f64) -> Result<(), KnapsackError> {
    if delta > 0.0 && delta < 1.0 {
        Ok(())
    } else {
        Err(KnapsackError::InvalidDelta { delta })
    }
}

fn positive(name: &'static str, value: f64) -> Result<(), KnapsackError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(KnapsackError::InvalidParameter { name, value })
    }
}

fn map(
    alphas: &[f64],
    mut f: impl FnMut(f64) -> Result<f64, KnapsackError>,
) -> Result<RdpCurve, KnapsackError> {
    let alphas = orders(alphas)?;
    let mut out = RdpCurve::new();
    for &a in &alphas {
        let _ = out.push(f(a)?);
    }
    Ok(out)
}

/// Capacity of a block with global budget (ε, δ) at each order:
/// `c_α = max(ε − ln(1/δ)/(α − 1), 0)` (the inverse of [`dp_epsilon`]).
pub fn block_capacity(alphas: &[f64], epsilon: f64, delta: f64) -> Result<RdpCurve, KnapsackError> {
    positive("epsilon", epsilon).map_err(|_| KnapsackError::InvalidEpsilon { epsilon })?;
    check_delta(delta)?;
    let log_inv_delta = -libm::log(delta);
    map(alphas, |a| {
        Ok((epsilon - log_inv_delta / (a - 1.0)).max(0.0))
    })
}

/// Gaussian mechanism with standard deviation `sigma`: `ε(α) = α / (2σ²)`.
pub fn gaussian(alphas: &[f64], sigma: f64) -> Result<RdpCurve, KnapsackError> {
    positive("sigma", sigma)?;
    map(alphas, |a| Ok(a / (2.0 * sigma * sigma)))
}

/// σ of the Gaussian mechanism calibrated to (ε, δ) by the classic bound:
/// `σ = sqrt(2 ln(1.25/δ)) / ε`.
pub fn gaussian_sigma(epsilon: f64, delta: f64) -> Result<f64, KnapsackError> {
    positive("epsilon", epsilon).map_err(|_| KnapsackError::InvalidEpsilon { epsilon })?;
    check_delta(delta)?;
    Ok(libm::sqrt(2.0 * libm::log(1.25 / delta)) / epsilon)
}

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

/// Laplace RDP at one order, in log space (Mironov 2017, Table II). Summing the two terms as a
/// log-sum-exp is the overflow-safe form: when the first term dominates it reduces to
/// `(ln(α/(2α−1)) + (α−1)/b)/(α−1)`.
fn laplace_at(a: f64, b: f64) -> f64 {
    let t1 = libm::log(a / (2.0 * a - 1.0)) + (a - 1.0) / b;
    let t2 = libm::log((a - 1.0) / (2.0 * a - 1.0)) - a / b;
    log_add(t1, t2) / (a - 1.0)
}

/// Laplace mechanism with scale `b` (calibrated as b = 1/ε).
pub fn laplace(alphas: &[f64], b: f64) -> Result<RdpCurve, KnapsackError> {
    positive("b", b)?;
    map(alphas, |a| Ok(laplace_at(a, b)))
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

/// ln C(n, k) for real n ≥ k ≥ 0 integers k.
fn log_binom(n: f64, k: f64) -> f64 {
    libm::lgamma(n + 1.0) - libm::lgamma(k + 1.0) - libm::lgamma(n - k + 1.0)
}

/// ln erfc(x), accurate also where erfc underflows (asymptotic series for large x).
fn log_erfc(x: f64) -> f64 {
    if x < 25.0 {
        libm::log(libm::erfc(x))
    } else {
        let x2 = x * x;
        let series = 1.0 - 1.0 / (2.0 * x2) + 3.0 / (4.0 * x2 * x2) - 15.0 / (8.0 * x2 * x2 * x2);
        -x2 - libm::log(x) - 0.5 * libm::log(core::f64::consts::PI) + libm::log(series)
    }
}

/// ln A_α of the sampled Gaussian mechanism for an integer order (binomial expansion).
fn sgm_log_a_int(a: f64, q: f64, sigma: f64) -> f64 {
    let n = a as u64;
    let (lq, l1q) = (libm::log(q), libm::log1p(-q));
    let mut acc = f64::NEG_INFINITY;
    for k in 0..=n {
        let kf = k as f64;
        let term =
            log_binom(a, kf) + kf * lq + (a - kf) * l1q + (kf * kf - kf) / (2.0 * sigma * sigma);
        acc = log_add(acc, term);
    }
    acc
}

/// ln A_α of the sampled Gaussian mechanism for a fractional order: the two-sided series of
/// Mironov–Talwar–Zhang (2019, §3.3) in log space, stopped once both terms fall below e^−30.
fn sgm_log_a_frac(a: f64, q: f64, sigma: f64) -> f64 {
    let (mut log_a0, mut log_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let z0 = sigma * sigma * libm::log(1.0 / q - 1.0) + 0.5;
    let (lq, l1q) = (libm::log(q), libm::log1p(-q));
    let s2 = core::f64::consts::SQRT_2 * sigma;
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
        if (log_s0.max(log_s1) < -30.0 && i > 0) || i > 100_000 {
            break;
        }
        // C(α, i+1) = C(α, i)·(α − i)/(i + 1).
        let factor = (a - fi) / (fi + 1.0);
        if factor == 0.0 {
            break;
        }
        if factor < 0.0 {
            sign = -sign;
        }
        log_coef += libm::log(libm::fabs(factor));
        i += 1;
    }
    log_add(log_a0, log_a1)
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
    check_q(q)?;
    positive("sigma", sigma)?;
    check_steps(steps)?;
    map(alphas, |a| {
        Ok(if q == 0.0 || steps == 0.0 {
            0.0
        } else if q == 1.0 {
            steps * a / (2.0 * sigma * sigma)
        } else if a == libm::floor(a) {
            steps * sgm_log_a_int(a, q, sigma) / (a - 1.0)
        } else {
            steps * sgm_log_a_frac(a, q, sigma) / (a - 1.0)
        })
    })
}

/// Subsampled Laplace (Poisson rate `q`, scale `b`, `steps` steps) by the general upper bound
/// of Zhu & Wang (2019) at integer orders; a fractional α uses the bound at ⌈α⌉ (RDP is
/// non-decreasing in α, so that stays an upper bound), and the result is capped by the
/// unsampled Laplace curve, which is also a bound. This is not autodp's tighter bound.
pub fn subsampled_laplace(
    alphas: &[f64],
    q: f64,
    b: f64,
    steps: f64,
) -> Result<RdpCurve, KnapsackError> {
    check_q(q)?;
    positive("b", b)?;
    check_steps(steps)?;
    map(alphas, |a| {
        if q == 0.0 || steps == 0.0 {
            return Ok(0.0);
        }
        let plain = laplace_at(a, b);
        if q == 1.0 {
            return Ok(steps * plain);
        }
        let n = libm::ceil(a).max(2.0);
        let (lq, l1q) = (libm::log(q), libm::log1p(-q));
        let mut acc = (n - 1.0) * l1q + libm::log(n * q - q + 1.0);
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
        let bound = acc / (n - 1.0);
        Ok(steps * bound.min(plain))
    })
}

/// Order-by-order sum of two curves (RDP composition).
pub fn compose(a: &[f64], b: &[f64]) -> Result<RdpCurve, KnapsackError> {
    if a.len() != b.len() {
        return Err(KnapsackError::CurveLength {
            len: b.len(),
            expected: a.len(),
        });
    }
    let mut out = RdpCurve::new();
    for (x, y) in a.iter().zip(b) {
        let _ = out.push(x + y);
    }
    Ok(out)
}

/// `k`-fold composition of one curve: every entry times `k`.
pub fn scale(curve: &[f64], k: f64) -> RdpCurve {
    curve.iter().take(MAX_ORDERS).map(|x| x * k).collect()
}

fn convert(
    alphas: &[f64],
    curve: &[f64],
    delta: f64,
    f: impl Fn(f64, f64) -> f64,
) -> Result<(f64, usize), KnapsackError> {
    check_delta(delta)?;
    let alphas = orders(alphas)?;
    if curve.len() != alphas.len() {
        return Err(KnapsackError::CurveLength {
            len: curve.len(),
            expected: alphas.len(),
        });
    }
    let mut best = (f64::INFINITY, 0);
    for (i, (&a, &e)) in alphas.iter().zip(curve).enumerate() {
        let v = f(a, e);
        if v < best.0 {
            best = (v, i);
        }
    }
    Ok(best)
}

/// RDP → (ε, δ)-DP by Mironov's bound, `min_α ε(α) + ln(1/δ)/(α − 1)`. Returns ε and the index
/// of the order that attains it.
pub fn dp_epsilon(
    alphas: &[f64],
    curve: &[f64],
    delta: f64,
) -> Result<(f64, usize), KnapsackError> {
    let l = -libm::log(delta);
    convert(alphas, curve, delta, |a, e| e + l / (a - 1.0))
}

/// RDP → (ε, δ)-DP by the tighter bound of Balle et al. (2020), as used by Opacus:
/// `min_α ε(α) + ln((α−1)/α) − (ln δ + ln α)/(α − 1)`. Returns ε and the index of the order.
pub fn dp_epsilon_tight(
    alphas: &[f64],
    curve: &[f64],
    delta: f64,
) -> Result<(f64, usize), KnapsackError> {
    let ld = libm::log(delta);
    convert(alphas, curve, delta, |a, e| {
        e + libm::log((a - 1.0) / a) - (ld + libm::log(a)) / (a - 1.0)
    })
}

/// A noise mechanism whose RDP curve can be computed.
#[derive(Debug, Clone, PartialEq)]
pub enum Mechanism {
    /// Gaussian with standard deviation `sigma`.
    Gaussian {
        /// σ.
        sigma: f64,
    },
    /// Laplace with scale `b`.
    Laplace {
        /// b.
        b: f64,
    },
    /// Poisson-subsampled Gaussian (DP-SGD).
    SubsampledGaussian {
        /// Sampling rate.
        q: f64,
        /// Noise multiplier.
        sigma: f64,
        /// Number of steps.
        steps: f64,
    },
    /// Poisson-subsampled Laplace (upper bound, see [`subsampled_laplace`]).
    SubsampledLaplace {
        /// Sampling rate.
        q: f64,
        /// Scale.
        b: f64,
        /// Number of steps.
        steps: f64,
    },
    /// Composition of several mechanisms.
    Compose(alloc::vec::Vec<Mechanism>),
}

impl Mechanism {
    /// The curve at `alphas`.
    pub fn curve(&self, alphas: &[f64]) -> Result<RdpCurve, KnapsackError> {
        match self {
            Mechanism::Gaussian { sigma } => gaussian(alphas, *sigma),
            Mechanism::Laplace { b } => laplace(alphas, *b),
            Mechanism::SubsampledGaussian { q, sigma, steps } => {
                subsampled_gaussian(alphas, *q, *sigma, *steps)
            }
            Mechanism::SubsampledLaplace { q, b, steps } => {
                subsampled_laplace(alphas, *q, *b, *steps)
            }
            Mechanism::Compose(parts) => {
                let mut acc = map(alphas, |_| Ok(0.0))?;
                for p in parts {
                    acc = compose(&acc, &p.curve(alphas)?)?;
                }
                Ok(acc)
            }
        }
    }
}
