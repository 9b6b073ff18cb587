//! From raw profile rows to what the solver sees per (stage, kind): integer durations, the
//! candidate options, and a convex cost model over effective energy (perseus.md §1.3–1.5).

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
        // Candidates are sorted by duration, descending.
        self.candidates
            .iter()
            .find(|c| c.quanta <= d)
            .or(self.candidates.last())
            .map_or(0, |c| c.freq_mhz)
    }

    /// Measured time and energy of the candidate chosen for duration `d`.
    pub fn candidate_for(&self, d: u32) -> Option<&Candidate> {
        self.candidates
            .iter()
            .find(|c| c.quanta <= d)
            .or(self.candidates.last())
    }
}

/// Preprocesses every profile of `problem` (which must have passed `validate`).
pub fn specs(problem: &Problem) -> Result<Vec<Spec>, FrontierError> {
    problem.profiles.iter().map(|p| spec(problem, p)).collect()
}

struct Raw {
    freq_mhz: u32,
    time_s: f64,
    quanta: u32,
    energy_j: f64,
    cost: f64,
}

fn spec(problem: &Problem, profile: &Profile) -> Result<Spec, FrontierError> {
    let tau = problem.unit_time_s;
    let p_b = problem.p_blocking_w;
    let (stage, kind) = (profile.stage, profile.kind);
    let effective = |energy: f64, quanta: u32| energy - p_b * f64::from(quanta) * tau;
    let mut raw = Vec::with_capacity(profile.options.len());
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
            let xs: Vec<f64> = candidates.iter().map(|c| f64::from(c.quanta)).collect();
            let ys: Vec<f64> = candidates.iter().map(|c| c.effective_cost_j).collect();
            match fit_exponential(&xs, &ys, tau) {
                Ok(fit) => CostModel::Exponential(fit.model),
                Err(e) => CostModel::ConvexHull {
                    reason: HullReason::FitFailed(e),
                },
            }
        }
    };
    let costs = match &model {
        CostModel::Exponential(m) => (min_quanta..=max_quanta)
            .map(|d| m.eval(f64::from(d)))
            .collect(),
        CostModel::ConvexHull { .. } => hull_costs(&candidates, min_quanta, max_quanta),
    };
    if let Some(d) = costs.iter().position(|c: &f64| !c.is_finite()) {
        return Err(FrontierError::NonFiniteCost {
            stage,
            kind,
            quanta: min_quanta + d as u32,
        });
    }
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

/// Indices into `raw` (sorted slowest first) of the options lowtime keeps: not strictly
/// dominated within `nf`, then one per duration (the most expensive, i.e. the one whose true
/// time is closest to its floor-quantized duration), slowest first.
fn pareto_dedup(raw: &[Raw], nf: f64) -> Vec<usize> {
    let mut kept: Vec<usize> = (0..raw.len())
        .filter(|&i| {
            let o = &raw[i];
            !raw.iter()
                .any(|p| p.time_s < nf * o.time_s && p.cost < nf * o.cost)
        })
        .collect();
    kept.sort_by(|&a, &b| raw[b].cost.total_cmp(&raw[a].cost));
    let mut seen: Vec<u32> = Vec::with_capacity(kept.len());
    kept.retain(|&i| {
        if seen.contains(&raw[i].quanta) {
            false
        } else {
            seen.push(raw[i].quanta);
            true
        }
    });
    kept.sort_by(|&a, &b| raw[b].quanta.cmp(&raw[a].quanta));
    kept
}

/// Costs at every integer duration in `[lo, hi]` from the lower convex hull of the candidates.
fn hull_costs(candidates: &[Candidate], lo: u32, hi: u32) -> Vec<f64> {
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
    (lo..=hi)
        .map(|d| {
            let x = f64::from(d);
            match hull.windows(2).find(|w| x <= w[1].0) {
                Some(w) => w[0].1 + (w[1].1 - w[0].1) * (x - w[0].0) / (w[1].0 - w[0].0),
                None => hull.last().map_or(0.0, |p| p.1),
            }
        })
        .collect()
}
