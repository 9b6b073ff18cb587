//! The geometry of one clustering step: the signal transform, 2-means, nearest neighbours and
//! the separation statistic of the improved split test. Everything works on a small dense
//! row-major matrix of one round's participants (tens to hundreds of rows), so plain loops are
//! the fast path.

use alloc::vec;
use alloc::vec::Vec;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The seeded random source of a clustering engine.
#[derive(Debug, Clone)]
pub(crate) struct Draw(Xoshiro256PlusPlus);

impl Draw {
    pub(crate) fn new(seed: u64) -> Self {
        Draw(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in 0..n (n ≥ 1).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// Standard normal (Box–Muller).
    pub(crate) fn gauss(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2)
    }
}

/// A dense row-major matrix of `rows × dim` f64 values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rows {
    pub(crate) data: Vec<f64>,
    pub(crate) dim: usize,
}

impl Rows {
    pub(crate) fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub(crate) fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Rows minus their mean (the reference's `C = Δ − mean(Δ)`).
    pub(crate) fn centered(&self) -> Rows {
        let n = self.len();
        let mut mean = vec![0.0; self.dim];
        for i in 0..n {
            for (m, x) in mean.iter_mut().zip(self.row(i)) {
                *m += x;
            }
        }
        for m in &mut mean {
            *m /= n.max(1) as f64;
        }
        let mut data = self.data.clone();
        for chunk in data.chunks_exact_mut(self.dim) {
            for (x, m) in chunk.iter_mut().zip(&mean) {
                *x -= m;
            }
        }
        Rows {
            data,
            dim: self.dim,
        }
    }

    /// Every row scaled to unit L2 norm (a zero row stays zero): the cosine geometry of the
    /// bipartition.
    pub(crate) fn row_normalized(&self) -> Rows {
        let mut data = self.data.clone();
        for chunk in data.chunks_exact_mut(self.dim) {
            let norm = libm::sqrt(chunk.iter().map(|x| x * x).sum::<f64>());
            if norm > 0.0 {
                for x in chunk.iter_mut() {
                    *x /= norm;
                }
            }
        }
        Rows {
            data,
            dim: self.dim,
        }
    }

    /// The rows at `idx`, in that order.
    pub(crate) fn select(&self, idx: &[usize]) -> Rows {
        let mut data = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        Rows {
            data,
            dim: self.dim,
        }
    }

    /// Total sum of squares around the mean.
    pub(crate) fn total_ss(&self) -> f64 {
        let c = self.centered();
        c.data.iter().map(|x| x * x).sum()
    }
}

pub(crate) fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// 2-means by Lloyd's iterations from k-means++ seeds, best of `inits` restarts by inertia.
/// Returns the labels (0/1) and the inertia (within-cluster sum of squares). With fewer than
/// two distinct rows every label is 0.
pub(crate) fn two_means(x: &Rows, rng: &mut Draw, inits: usize) -> (Vec<u8>, f64) {
    let n = x.len();
    let d = x.dim;
    let mut best: (Vec<u8>, f64) = (vec![0; n], x.total_ss());
    if n < 2 {
        return best;
    }
    let mut labels = vec![0u8; n];
    let mut centers = [vec![0.0; d], vec![0.0; d]];
    for _ in 0..inits.max(1) {
        // k-means++: the first centre uniformly, the second with probability ∝ squared distance.
        let first = rng.below(n);
        centers[0].copy_from_slice(x.row(first));
        let weights: Vec<f64> = (0..n).map(|i| sq_dist(x.row(i), &centers[0])).collect();
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            return best;
        }
        let mut pick = rng.uniform() * total;
        let mut second = n - 1;
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                second = i;
                break;
            }
            pick -= w;
        }
        centers[1].copy_from_slice(x.row(second));
        let mut inertia = f64::INFINITY;
        for _ in 0..100 {
            let mut changed = false;
            inertia = 0.0;
            for (i, label) in labels.iter_mut().enumerate() {
                let d0 = sq_dist(x.row(i), &centers[0]);
                let d1 = sq_dist(x.row(i), &centers[1]);
                let l = u8::from(d1 < d0);
                inertia += if l == 1 { d1 } else { d0 };
                if *label != l {
                    *label = l;
                    changed = true;
                }
            }
            let mut counts = [0usize; 2];
            for c in &mut centers {
                c.iter_mut().for_each(|v| *v = 0.0);
            }
            for (i, &l) in labels.iter().enumerate() {
                counts[usize::from(l)] += 1;
                for (c, v) in centers[usize::from(l)].iter_mut().zip(x.row(i)) {
                    *c += v;
                }
            }
            for (c, &k) in centers.iter_mut().zip(&counts) {
                if k > 0 {
                    c.iter_mut().for_each(|v| *v /= k as f64);
                }
            }
            if counts[0] == 0 || counts[1] == 0 {
                break;
            }
            if !changed {
                break;
            }
        }
        if inertia < best.1 {
            best = (labels.clone(), inertia);
        }
    }
    best
}

/// Lloyd's iterations of 2-means from the given centres (at most 50); returns the labels.
pub(crate) fn lloyd_from(x: &Rows, mut centers: [Vec<f64>; 2]) -> Vec<u8> {
    let n = x.len();
    let mut labels = vec![0u8; n];
    for _ in 0..50 {
        let mut changed = false;
        for (i, label) in labels.iter_mut().enumerate() {
            let l = u8::from(sq_dist(x.row(i), &centers[1]) < sq_dist(x.row(i), &centers[0]));
            if *label != l {
                *label = l;
                changed = true;
            }
        }
        let mut counts = [0usize; 2];
        let mut sums = [vec![0.0; x.dim], vec![0.0; x.dim]];
        for (i, &l) in labels.iter().enumerate() {
            counts[usize::from(l)] += 1;
            for (c, v) in sums[usize::from(l)].iter_mut().zip(x.row(i)) {
                *c += v;
            }
        }
        if counts[0] == 0 || counts[1] == 0 || !changed {
            break;
        }
        for (sum, &k) in sums.iter_mut().zip(&counts) {
            sum.iter_mut().for_each(|v| *v /= k as f64);
        }
        centers = sums;
    }
    labels
}

/// Indices of the `k` rows nearest to row `center` (itself included), nearest first, ties by
/// index.
pub(crate) fn nearest(x: &Rows, center: usize, k: usize) -> Vec<usize> {
    let mut order: Vec<(f64, usize)> = (0..x.len())
        .map(|i| (sq_dist(x.row(i), x.row(center)), i))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    order.into_iter().take(k).map(|(_, i)| i).collect()
}

/// The label of the nearest of `known` rows (with `labels`) to row `i` (ties to the first).
pub(crate) fn one_nn(x: &Rows, known: &[usize], labels: &[u8], i: usize) -> u8 {
    let mut best = (f64::INFINITY, 0u8);
    for (&k, &l) in known.iter().zip(labels) {
        let d = sq_dist(x.row(k), x.row(i));
        if d < best.0 {
            best = (d, l);
        }
    }
    best.1
}

/// The 2-means cluster index `CI = inertia / total SS` of `x` (small when the rows form two
/// separated groups; about `1 − 2/π` along the main axis of one Gaussian).
pub(crate) fn cluster_index(x: &Rows, rng: &mut Draw) -> f64 {
    let total = x.total_ss();
    if total <= 0.0 {
        return 1.0;
    }
    two_means(x, rng, 2).1 / total
}

/// [`cluster_index`], the share of rows in the smaller of the two clusters, and the labels.
fn cluster_index_split(x: &Rows, rng: &mut Draw) -> (f64, f64, Vec<u8>) {
    let total = x.total_ss();
    if total <= 0.0 {
        return (1.0, 0.0, vec![0; x.len()]);
    }
    let (labels, inertia) = two_means(x, rng, 2);
    let ones = labels.iter().filter(|&&l| l == 1).count();
    let minority = ones.min(labels.len() - ones) as f64 / labels.len().max(1) as f64;
    (inertia / total, minority, labels)
}

/// The result of [`separation_z`].
pub(crate) struct Separation {
    /// Standardised separation (large: two groups).
    pub(crate) z: f64,
    /// Share of rows in the smaller observed cluster.
    pub(crate) minority: f64,
    /// The observed 2-means labels.
    pub(crate) labels: Vec<u8>,
}

/// The separation z-score of `x` against the null of one Gaussian with the rows' own
/// covariance (the SigClust idea of Liu, Hayes, Nobel and Marron, JASA 2008): `null_draws`
/// samples of the same size are drawn from `N(0, Σ̂)` as `G·C/√(n−1)` (G standard normal,
/// C the centered rows, so no d×d covariance is ever formed), and the observed cluster index
/// is standardised by the null ones: `z = (mean_null − CI) / sd_null`. Large z means two
/// groups. A split whose smaller side holds less than `min_minority` of the rows gets z = 0
/// without the null draws.
pub(crate) fn separation_z(
    x: &Rows,
    rng: &mut Draw,
    null_draws: usize,
    min_minority: f64,
) -> Separation {
    let n = x.len();
    let c = x.centered();
    let (observed, minority, labels) = cluster_index_split(&c, rng);
    if minority < min_minority {
        // The caller discards such a round; skip the null draws.
        return Separation {
            z: 0.0,
            minority,
            labels,
        };
    }
    let d = x.dim;
    let scale = 1.0 / libm::sqrt((n.max(2) - 1) as f64);
    // With few dimensions a Cholesky factor L of Σ̂ (Σ̂ = LLᵀ) costs d normals per row; with
    // more dimensions than rows, G·C/√(n−1) costs n.
    let chol = if d <= n { cholesky(&c, scale) } else { None };
    let mut g = vec![0.0; n.max(d)];
    let mut null = Vec::with_capacity(null_draws);
    let mut sample = Rows {
        data: vec![0.0; n * d],
        dim: d,
    };
    for _ in 0..null_draws {
        for row in sample.data.chunks_exact_mut(d) {
            row.iter_mut().for_each(|v| *v = 0.0);
            if let Some(l) = &chol {
                g[..d].iter_mut().for_each(|v| *v = rng.gauss());
                for (i, v) in row.iter_mut().enumerate() {
                    *v = (0..=i).map(|j| l[i * d + j] * g[j]).sum();
                }
            } else {
                g[..n].iter_mut().for_each(|v| *v = rng.gauss() * scale);
                for (j, gj) in g[..n].iter().enumerate() {
                    for (v, cj) in row.iter_mut().zip(c.row(j)) {
                        *v += gj * cj;
                    }
                }
            }
        }
        null.push(cluster_index(&sample, rng));
    }
    let k = null.len().max(1) as f64;
    let mean = null.iter().sum::<f64>() / k;
    let var = null.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (k - 1.0).max(1.0);
    let sd = libm::sqrt(var).max(1e-9);
    Separation {
        z: (mean - observed) / sd,
        minority,
        labels,
    }
}

/// The upper `p` quantile of the standard normal, `z` with `P(Z > z) = p` (bisection on
/// `erfc`, accurate to 1e-9; p is clamped to (1e-300, 0.5]).
pub(crate) fn normal_upper_quantile(p: f64) -> f64 {
    let p = p.clamp(1e-300, 0.5);
    let (mut lo, mut hi) = (0.0f64, 40.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        let tail = 0.5 * libm::erfc(mid / core::f64::consts::SQRT_2);
        if tail > p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-10 {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// The lower Cholesky factor (row-major d×d) of the covariance `(scale·C)ᵀ(scale·C)` of the
/// centered rows C, with a tiny ridge so a rank-deficient covariance still factors; `None`
/// when it does not.
fn cholesky(c: &Rows, scale: f64) -> Option<Vec<f64>> {
    let d = c.dim;
    let mut a = vec![0.0; d * d];
    for r in 0..c.len() {
        let row = c.row(r);
        for i in 0..d {
            for j in 0..=i {
                a[i * d + j] += row[i] * row[j] * scale * scale;
            }
        }
    }
    let trace: f64 = (0..d).map(|i| a[i * d + i]).sum();
    let ridge = 1e-12 * trace.max(1e-300);
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut sum = a[i * d + j];
            for k in 0..j {
                sum -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                let v = sum + ridge;
                if v <= 0.0 {
                    return None;
                }
                l[i * d + i] = libm::sqrt(v);
            } else {
                l[i * d + j] = sum / l[j * d + j];
            }
        }
    }
    Some(l)
}
