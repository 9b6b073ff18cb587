//! From raw profile rows to what the solver sees per (stage, kind): integer durations, the
//! candidate options, and a convex cost model over effective energy (perseus.md §1.3–1.5).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::FrontierError;
use super::problem::{EffectiveEnergy, Kind, Problem, Profile};
use super::pyfloat::floor_div;
use crate::fit::{ExpModel, FitError, fit_exponential};

/// If this many candidates or fewer survive the strict Pareto filter, the filter is redone
/// with [`SOFT_NOISE_FACTOR`] (the reference drivers' handling of noisy measurements).
pub const FALLBACK_IF_CANDIDATES_AT_MOST: usize = 3;
/// Noise factor of the soft Pareto filter.
pub const SOFT_NOISE_FACTOR: f64 = 0.95;
/// Largest accepted duration of one computation, in quanta.
pub const MAX_QUANTA: u32 = 1 << 28;

/// A measured option that survived filtering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// SM clock, MHz.
    pub freq_mhz: u32,
    /// Measured time, seconds.
    pub time_s: f64,
    /// Duration in quanta (`time_s // unit_time_s`, Python semantics).
    pub quanta: u32,
    /// Measured energy, joules.
    pub energy_j: f64,
    /// Energy minus the blocking energy of its quantized duration, joules.
    pub effective_cost_j: f64,
}

/// The cost model of one (stage, kind) over integer durations.
#[derive(Debug, Clone, PartialEq)]
pub enum CostModel {
    /// `a·exp(b·d) + c`: fitted (as lowtime does) or given in the input.
    Exponential(ExpModel),
    /// Linear interpolation of the lower convex hull of the candidates' (duration, effective
    /// cost). Used where lowtime cannot fit: one candidate (a fixed clock), two or three
    /// candidates (the fit is under-determined), or no start of the fit converged.
    ConvexHull {
        /// Why the exponential model was not used.
        reason: HullReason,
    },
}

/// Why a profile uses the convex-hull model.
#[derive(Debug, Clone, PartialEq)]
pub enum HullReason {
    /// Fewer than four distinct durations survived filtering.
    TooFewCandidates(usize),
    /// The exponential fit failed.
    FitFailed(FitError),
}

/// Everything the solver needs about one (stage, kind).
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Pipeline stage.
    pub stage: u32,
    /// Forward or backward.
    pub kind: Kind,
    /// Surviving options, one per distinct duration, slowest first (lowtime's order).
    pub candidates: Vec<Candidate>,
    /// Noise factor of the Pareto filter that produced them (1.0 or 0.95).
    pub noise_factor: f64,
    /// The cost model.
    pub model: CostModel,
    /// Shortest duration, quanta.
    pub min_quanta: u32,
    /// Longest duration, quanta.
    pub max_quanta: u32,
    /// `cost[d − min_quanta]`: the model's effective energy at duration `d`.
    costs: Vec<f64>,
}

impl Spec {
    /// Model cost (effective energy, J) at duration `d` quanta, clamped to `[min, max]`.
    #[inline]
    pub fn cost(&self, d: u32) -> f64 {
        let i = d.clamp(self.min_quanta, self.max_quanta) - self.min_quanta;
        self.costs[i as usize]
    }

    /// The clock to run at for duration `d`: the slowest candidate whose duration is at most
    /// `d` (the fastest one if none is).
    pub fn freq_for(&self, d: u32) -> u32 {
        self.candidate_for(d).map_or(0, |c| c.freq_mhz)
    }

    /// Measured time and energy of the candidate chosen for duration `d`.
    pub fn candidate_for(&self, d: u32) -> Option<&Candidate> {
        // Candidates are sorted by duration, strictly descending: binary search.
        let i = self.candidates.partition_point(|c| c.quanta > d);
        self.candidates.get(i).or(self.candidates.last())
    }
}

/// Preprocesses every profile of `problem` (which must have passed `validate`).
///
/// The cost tables of all profiles together are bounded by [`MAX_COST_CELLS`](super::MAX_COST_CELLS),
/// checked before each table is allocated.
pub fn specs(problem: &Problem) -> Result<Vec<Spec>, FrontierError> {
    let mut cells: u64 = 0;
    let mut fits = Fits::new();
    let mut out = super::try_vec(problem.profiles.len(), "profiles")?;
    for p in &problem.profiles {
        out.push(spec(problem, p, &mut cells, &mut fits)?);
    }
    Ok(out)
}

/// Fits already made for this problem, keyed by the bits of their (duration, cost) points: the
/// fit is deterministic, and profiles with the same candidates (every stage of a uniform
/// pipeline, every profile of some fuzz inputs) need it only once. A fit that fails costs
/// 54 starts × lowtime's evaluation budget, the bulk of the time of such a problem.
type Fits = BTreeMap<Vec<(u32, u64)>, Result<ExpModel, FitError>>;

struct Raw {
    freq_mhz: u32,
    time_s: f64,
    quanta: u32,
    energy_j: f64,
    cost: f64,
}

fn spec(
    problem: &Problem,
    profile: &Profile,
    cells: &mut u64,
    fits: &mut Fits,
) -> Result<Spec, FrontierError> {
    let tau = problem.unit_time_s;
    let p_b = problem.p_blocking_w;
    let (stage, kind) = (profile.stage, profile.kind);
    let effective = |energy: f64, quanta: u32| energy - p_b * f64::from(quanta) * tau;
    let mut raw: Vec<Raw> = super::try_vec(profile.options.len(), "profile options")?;
    for (row, o) in profile.options.iter().enumerate() {
        let q = floor_div(o.time_s, tau);
        if q < 1.0 {
            return Err(FrontierError::ShorterThanUnitTime {
                stage,
                kind,
                row,
                time_s: o.time_s,
                unit_time_s: tau,
            });
        }
        if q > f64::from(MAX_QUANTA) {
            return Err(FrontierError::TooManyQuanta {
                stage,
                kind,
                row,
                quanta: q,
            });
        }
        let quanta = q as u32;
        let cost = match problem.effective_energy {
            EffectiveEnergy::BeforeFilter => effective(o.energy_j, quanta),
            EffectiveEnergy::AfterFilter => o.energy_j,
        };
        raw.push(Raw {
            freq_mhz: o.freq_mhz,
            time_s: o.time_s,
            quanta,
            energy_j: o.energy_j,
            cost,
        });
    }
    // Stable sort, slowest first, as lowtime orders options before filtering.
    raw.sort_by(|a, b| b.time_s.total_cmp(&a.time_s));
    let mut noise_factor = 1.0;
    let mut kept = pareto_dedup(&raw, noise_factor);
    if kept.len() <= FALLBACK_IF_CANDIDATES_AT_MOST {
        noise_factor = SOFT_NOISE_FACTOR;
        kept = pareto_dedup(&raw, noise_factor);
    }
    let candidates: Vec<Candidate> = kept
        .iter()
        .map(|&i| {
            let r = &raw[i];
            let effective_cost_j = match problem.effective_energy {
                EffectiveEnergy::BeforeFilter => r.cost,
                EffectiveEnergy::AfterFilter => effective(r.cost, r.quanta),
            };
            Candidate {
                freq_mhz: r.freq_mhz,
                time_s: r.time_s,
                quanta: r.quanta,
                energy_j: r.energy_j,
                effective_cost_j,
            }
        })
        .collect();
    // kept is non-empty: the fastest option is never dominated.
    let max_quanta = candidates.first().map_or(1, |c| c.quanta);
    let min_quanta = candidates.last().map_or(1, |c| c.quanta);
    let model = match profile.fit {
        Some(m) => CostModel::Exponential(m),
        None if candidates.len() <= FALLBACK_IF_CANDIDATES_AT_MOST => CostModel::ConvexHull {
            reason: HullReason::TooFewCandidates(candidates.len()),
        },
        None => {
            let key: Vec<(u32, u64)> = candidates
                .iter()
                .map(|c| (c.quanta, c.effective_cost_j.to_bits()))
                .collect();
            let fit = match fits.get(&key) {
                Some(fit) => fit.clone(),
                None => {
                    let xs: Vec<f64> = candidates.iter().map(|c| f64::from(c.quanta)).collect();
                    let ys: Vec<f64> = candidates.iter().map(|c| c.effective_cost_j).collect();
                    let fit = fit_exponential(&xs, &ys, tau).map(|f| f.model);
                    fits.insert(key, fit.clone());
                    fit
                }
            };
            match fit {
                Ok(model) => CostModel::Exponential(model),
                Err(e) => CostModel::ConvexHull {
                    reason: HullReason::FitFailed(e),
                },
            }
        }
    };
    // One cell per quantum of the table: bounded over all profiles before it is allocated.
    let quanta = u64::from(max_quanta - min_quanta) + 1;
    *cells += quanta;
    if *cells > super::MAX_COST_CELLS as u64 {
        return Err(FrontierError::TooManyCostCells {
            stage,
            kind,
            quanta,
            min_quanta,
            max_quanta,
            cells: *cells,
        });
    }
    let mut costs: Vec<f64> = super::try_vec(quanta as usize, "cost-table cells")?;
    match &model {
        CostModel::Exponential(m) => {
            costs.extend((min_quanta..=max_quanta).map(|d| m.eval(f64::from(d))));
        }
        CostModel::ConvexHull { .. } => hull_costs(&candidates, min_quanta, max_quanta, &mut costs),
    }
    if let Some(d) = costs.iter().position(|c: &f64| !c.is_finite()) {
        return Err(FrontierError::NonFiniteCost {
            stage,
            kind,
            quanta: min_quanta + d as u32,
        });
    }
    let (max_quanta, candidates) = cut_rising_tail(min_quanta, &mut costs, candidates);
    Ok(Spec {
        stage,
        kind,
        candidates,
        noise_factor,
        model,
        min_quanta,
        max_quanta,
        costs,
    })
}

/// Drops the durations past the model's minimum, and the candidates there; returns the new
/// longest duration.
///
/// A duration slower than the cheapest one that also costs more is dominated: no frontier
/// point should use it. lowtime starts from every computation at its slowest and assumes that
/// is the cheapest state, true when the model does not rise with duration (every fit on real
/// profiles). The soft Pareto filter (nf = 0.95) can keep an option that is slower *and* costlier
/// than one within 5 % of its time, and then the model rises towards the slow end: the start
/// was not the cheapest state, the first steps got faster *and* cheaper, and their reported
/// cost change had the wrong sign (fuzz finding `crash-5a423c31…`). Cut at the slowest duration
/// of least cost, the model is non-increasing over what remains (it is convex); where it
/// already was, nothing changes.
fn cut_rising_tail(
    min_quanta: u32,
    costs: &mut Vec<f64>,
    mut candidates: Vec<Candidate>,
) -> (u32, Vec<Candidate>) {
    let least = costs.iter().copied().fold(f64::INFINITY, f64::min);
    let keep = costs
        .iter()
        .rposition(|&c| c == least)
        .map_or(costs.len(), |i| i + 1);
    costs.truncate(keep);
    let max_quanta = min_quanta + (keep as u32).saturating_sub(1);
    // Candidates are slowest first; the fastest is at min_quanta and always stays.
    candidates.retain(|c| c.quanta <= max_quanta);
    (max_quanta, candidates)
}

/// Indices into `raw` (sorted slowest first) of the options lowtime keeps: not strictly
/// dominated within `nf`, then one per duration (the most expensive, i.e. the one whose true
/// time is closest to its floor-quantized duration; the first of equals), slowest first.
///
/// O(n log n): option `o` is dominated when some `p` has `p.time < nf·o.time` and
/// `p.cost < nf·o.cost`, i.e. when the least cost among the options faster than `nf·o.time`
/// (a prefix minimum over the options in ascending time, found by binary search) is below
/// `nf·o.cost`. That is the same comparison as lowtime's all-pairs test, so the same options
/// survive.
fn pareto_dedup(raw: &[Raw], nf: f64) -> Vec<usize> {
    let n = raw.len();
    // raw is sorted by time descending, so reversed it is ascending.
    let asc = |j: usize| &raw[n - 1 - j];
    let mut prefix_min: Vec<f64> = Vec::with_capacity(n);
    let mut m = f64::INFINITY;
    for j in 0..n {
        m = m.min(asc(j).cost);
        prefix_min.push(m);
    }
    let mut kept: Vec<usize> = (0..n)
        .filter(|&i| {
            let o = &raw[i];
            let limit = nf * o.time_s;
            // Number of options with time < limit: a prefix of the ascending order.
            let (mut lo, mut hi) = (0, n);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if asc(mid).time_s < limit {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            !(lo > 0 && prefix_min[lo - 1] < nf * o.cost)
        })
        .collect();
    // Slowest duration first; within a duration the most expensive first, ties in input order
    // (the sort is stable and `kept` ascends); then keep the first of each duration.
    kept.sort_by(|&a, &b| {
        raw[b]
            .quanta
            .cmp(&raw[a].quanta)
            .then(raw[b].cost.total_cmp(&raw[a].cost))
    });
    kept.dedup_by_key(|&mut i| raw[i].quanta);
    kept
}

/// Costs at every integer duration in `[lo, hi]` from the lower convex hull of the candidates,
/// appended to `out`. Linear in the number of candidates plus the number of durations.
fn hull_costs(candidates: &[Candidate], lo: u32, hi: u32, out: &mut Vec<f64>) {
    // Candidates are slowest first; the hull is built fastest first.
    let mut hull: Vec<(f64, f64)> = Vec::with_capacity(candidates.len());
    for c in candidates.iter().rev() {
        let p = (f64::from(c.quanta), c.effective_cost_j);
        while hull.len() >= 2 {
            let (a, b) = (hull[hull.len() - 2], hull[hull.len() - 1]);
            // Drop b if it lies on or above the segment a–p.
            if (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0) <= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(p);
    }
    // Durations ascend, so the segment that holds d only moves right: one sweep.
    let mut j = 0;
    out.extend((lo..=hi).map(|d| {
        let x = f64::from(d);
        while j + 1 < hull.len() && x > hull[j + 1].0 {
            j += 1;
        }
        match (hull.get(j), hull.get(j + 1)) {
            (Some(a), Some(b)) => a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0),
            _ => hull.last().map_or(0.0, |p| p.1),
        }
    }));
}
