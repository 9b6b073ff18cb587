//! The trace-driven simulator of a recurring training job (zeus-simulator.md §1.5–1.6): each
//! recurrence samples a training path of the chosen batch size from the train trace and
//! charges the time and energy the power trace gives at the chosen power limit, as the
//! artifact's `Simulator.simulate_one_job` does. Policies: Zeus (the
//! [`BatchSizeOptimizer`] with the just-in-time power limit), the default batch size at the
//! maximum power limit, and the grid-search oracle (the optimum of
//! [`WorkloadTrace::optimum`] every time).

use alloc::vec::Vec;

use super::trace::WorkloadTrace;
use super::{BatchSizeOptimizer, BsoParams, Eta, ZeusError, ZeusRng, zeus_cost};

/// Most attempts of one recurrence (the reference's `range(1, 21)`).
pub const MAX_ATTEMPTS: u32 = 20;
/// Most recurrences of one simulation.
pub const MAX_RECURRENCES: u64 = 1_000_000;

/// Which policy picks each recurrence's batch size and power limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Zeus: pruning exploration and Thompson sampling over batch sizes, early stopping, and
    /// the just-in-time power limit (profiled during the first epoch of a batch size's first
    /// run).
    Zeus,
    /// The workload's default batch size at its maximum power limit, no early stopping.
    Default,
    /// The feasible batch size and power limit of lowest expected cost, known in advance.
    Oracle,
}

impl Policy {
    /// Its name in the CLI and in documents.
    pub fn name(self) -> &'static str {
        match self {
            Self::Zeus => "zeus",
            Self::Default => "default",
            Self::Oracle => "oracle",
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    /// The cost's energy/time knob.
    pub eta: Eta,
    /// Early-stopping multiplier (Zeus only; ≥ 1, `f64::INFINITY` disables it).
    pub beta: f64,
    /// Recurrences of the job.
    pub recurrences: u32,
    /// Seed of the path sampling and of the Thompson sampling (one stream each, both from
    /// this seed, as in the reference).
    pub seed: u64,
    /// The policy.
    pub policy: Policy,
}

/// One recurrence: every attempt until the target was reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recurrence {
    /// Batch size of the last attempt (the one that reached the target, if one did; a
    /// never-ran attempt counts when it is the last).
    pub batch_size: u32,
    /// Its power limit, watts.
    pub power_limit_w: u32,
    /// Time of all attempts, seconds.
    pub time_s: f64,
    /// Energy of all attempts, joules.
    pub energy_j: f64,
    /// Cost of all attempts, joules.
    pub cost: f64,
    /// Whether an attempt reached the target (false only after [`MAX_ATTEMPTS`] failures).
    pub reached: bool,
    /// Attempts made, never-ran ones included.
    pub attempts: u32,
}

/// Time, energy and cost summed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    /// Seconds.
    pub time_s: f64,
    /// Joules.
    pub energy_j: f64,
    /// Joules.
    pub cost: f64,
}

/// A simulation's result.
#[derive(Debug, Clone, PartialEq)]
pub struct SimResult {
    /// The policy simulated.
    pub policy: Policy,
    /// One entry per recurrence.
    pub recurrences: Vec<Recurrence>,
    /// Their sums.
    pub cumulative: Totals,
}

/// Python's float floor division `a // b` for a ≥ 0, b > 0 (computed the way CPython does,
/// from the remainder, so that epoch budgets at exact multiples agree with the reference).
fn floor_div(a: f64, b: f64) -> f64 {
    let m = libm::fmod(a, b);
    let div = (a - m) / b;
    let mut f = libm::floor(div);
    if div - f > 0.5 {
        f += 1.0;
    }
    f
}

/// The outcome of one attempt.
struct Attempt {
    energy_j: f64,
    time_s: f64,
    reached: bool,
}

/// Runs one attempt at batch-size index `b`, power-limit index `pl` along path `e`
/// (`_run_job`): `None` when not even one epoch fits under `cost_limit`.
fn run_attempt(
    t: &WorkloadTrace,
    b: usize,
    pl: usize,
    target_epoch: Option<f64>,
    cost_limit: f64,
    eta: Eta,
    profile: bool,
) -> Option<Attempt> {
    let prof = t.profiles[b][pl];
    let job_max = f64::from(t.spec.max_epochs);
    let max_epochs = if cost_limit == f64::INFINITY {
        job_max
    } else {
        let per_epoch = zeus_cost(
            prof.energy_per_epoch_j(),
            prof.time_per_epoch_s,
            eta,
            f64::from(t.max_power_limit_w()),
        );
        floor_div(cost_limit, per_epoch).min(job_max)
    };
    if max_epochs == 0.0 {
        return None;
    }
    let reached = WorkloadTrace::reaches(target_epoch, max_epochs);
    let epochs = match target_epoch {
        Some(e) if reached => e,
        _ => max_epochs,
    };
    let (energy_j, time_s) = if profile {
        // The first epoch is split evenly over every power limit while profiling.
        let n = t.profiles[b].len() as f64;
        let e1 = t.profiles[b]
            .iter()
            .map(|p| p.energy_per_epoch_j())
            .sum::<f64>()
            / n;
        let t1 = t.profiles[b]
            .iter()
            .map(|p| p.time_per_epoch_s)
            .sum::<f64>()
            / n;
        (
            e1 + prof.energy_per_epoch_j() * (epochs - 1.0),
            t1 + prof.time_per_epoch_s * (epochs - 1.0),
        )
    } else {
        (
            prof.energy_per_epoch_j() * epochs,
            prof.time_per_epoch_s * epochs,
        )
    };
    Some(Attempt {
        energy_j,
        time_s,
        reached,
    })
}

/// Simulates `cfg.recurrences` recurrences of the workload of `trace` under `cfg.policy`.
pub fn simulate(trace: &WorkloadTrace, cfg: &SimConfig) -> Result<SimResult, ZeusError> {
    if cfg.recurrences == 0 || u64::from(cfg.recurrences) > MAX_RECURRENCES {
        return Err(ZeusError::BadRecurrences {
            value: u64::from(cfg.recurrences),
            limit: MAX_RECURRENCES,
        });
    }
    let eta = cfg.eta;
    let mut rng = ZeusRng::new(cfg.seed);
    let choices: Vec<usize> = (0..trace.batch_sizes.len())
        .map(|b| trace.power_limit_choice(b, eta))
        .collect();
    let mut chooser = match cfg.policy {
        Policy::Zeus => {
            let mut p = BsoParams::new(trace.batch_sizes.clone(), trace.default_batch_size);
            p.beta = cfg.beta;
            p.seed = cfg.seed;
            Chooser::Zeus(alloc::boxed::Box::new(BatchSizeOptimizer::new(p)?))
        }
        Policy::Default => {
            let b = trace.index_of(trace.default_batch_size).unwrap_or(0);
            Chooser::Fixed(b, trace.power_limits_w.len().saturating_sub(1))
        }
        Policy::Oracle => {
            let opt = WorkloadTrace::optimum(&trace.choices(eta)).ok_or_else(|| {
                ZeusError::NoFeasibleBatchSize {
                    workload: trace.spec.dataset.into(),
                }
            })?;
            let b = trace.index_of(opt.batch_size).unwrap_or(0);
            let pl = trace
                .power_limits_w
                .binary_search(&opt.power_limit_w)
                .unwrap_or(0);
            Chooser::Fixed(b, pl)
        }
    };
    let mut profiled = alloc::vec![false; trace.batch_sizes.len()];
    let mut recurrences = Vec::with_capacity(cfg.recurrences as usize);
    let mut cumulative = Totals::default();
    for i in 0..cfg.recurrences {
        let mut rec = Recurrence {
            batch_size: 0,
            power_limit_w: 0,
            time_s: 0.0,
            energy_j: 0.0,
            cost: 0.0,
            reached: false,
            attempts: 0,
        };
        while rec.attempts < MAX_ATTEMPTS && !rec.reached {
            rec.attempts += 1;
            let (b, pl, profile, limit) = match &mut chooser {
                Chooser::Zeus(bso) => {
                    let bs = bso.next_batch_size()?;
                    let b = trace
                        .index_of(bs)
                        .ok_or(ZeusError::UnknownBatchSize { batch_size: bs })?;
                    let profile = !core::mem::replace(&mut profiled[b], true);
                    (b, choices[b], profile, bso.cost_limit())
                }
                Chooser::Fixed(b, pl) => (*b, *pl, false, f64::INFINITY),
            };
            // The path is drawn even if the attempt then never runs, as in the reference.
            let paths = &trace.paths[b];
            let path = paths[rng.below(paths.len())];
            // The recurrence reports its last attempt's configuration (the reaching one if any).
            rec.batch_size = trace.batch_sizes[b];
            rec.power_limit_w = trace.power_limits_w[pl];
            let Some(a) = run_attempt(trace, b, pl, path, limit, eta, profile) else {
                if let Chooser::Zeus(bso) = &mut chooser {
                    bso.report_never_ran(trace.batch_sizes[b])?;
                }
                continue;
            };
            let cost = zeus_cost(a.energy_j, a.time_s, eta, trace.max_power_w);
            if let Chooser::Zeus(bso) = &mut chooser {
                bso.report(trace.batch_sizes[b], cost, a.reached)?;
            }
            rec.time_s += a.time_s;
            rec.energy_j += a.energy_j;
            rec.cost += cost;
            rec.reached = a.reached;
            if !a.reached && i == 0 && cfg.policy == Policy::Zeus {
                // The reference requires the default batch size to converge first.
                return Err(ZeusError::DefaultDidNotConverge {
                    batch_size: trace.default_batch_size,
                });
            }
        }
        cumulative.time_s += rec.time_s;
        cumulative.energy_j += rec.energy_j;
        cumulative.cost += rec.cost;
        recurrences.push(rec);
    }
    Ok(SimResult {
        policy: cfg.policy,
        recurrences,
        cumulative,
    })
}

/// How a policy picks an attempt's batch size and power limit.
enum Chooser {
    /// The batch-size optimizer and the just-in-time power limit.
    Zeus(alloc::boxed::Box<BatchSizeOptimizer>),
    /// Always these indices (batch size, power limit), no early stopping.
    Fixed(usize, usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zeus::trace::{EpochProfile, WORKLOADS};
    use alloc::vec;
    use proptest::prelude::*;

    /// A random workload slice: 1–5 batch sizes, 1–4 power limits, 1–4 paths each.
    fn arb_trace() -> impl Strategy<Value = WorkloadTrace> {
        (1usize..=5, 1usize..=4, 1u32..=12)
            .prop_flat_map(|(nb, np, max_epochs)| {
                let paths = proptest::collection::vec(
                    proptest::collection::vec(proptest::option::weighted(0.8, 1u32..=15), 1..=4),
                    nb,
                );
                let profiles = proptest::collection::vec(
                    proptest::collection::vec((0.1f64..1e4, 1.0f64..400.0), np),
                    nb,
                );
                (Just((nb, np, max_epochs)), paths, profiles, 0..nb)
            })
            .prop_map(|((nb, np, max_epochs), paths, profiles, b0)| {
                let mut spec = WORKLOADS[0];
                spec.max_epochs = max_epochs;
                let batch_sizes: Vec<u32> = (0..nb as u32).map(|i| 8 << i).collect();
                let power_limits_w: Vec<u32> = (0..np as u32).map(|i| 100 + 25 * i).collect();
                WorkloadTrace {
                    spec,
                    default_batch_size: batch_sizes[b0],
                    max_power_w: f64::from(*power_limits_w.last().unwrap()),
                    paths: paths
                        .into_iter()
                        .map(|p| p.into_iter().map(|e| e.map(f64::from)).collect())
                        .collect(),
                    profiles: profiles
                        .into_iter()
                        .map(|row| {
                            row.into_iter()
                                .map(|(t, p)| EpochProfile {
                                    time_per_epoch_s: t,
                                    average_power_w: p,
                                })
                                .collect()
                        })
                        .collect(),
                    batch_sizes,
                    power_limits_w,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever the trace, a simulation either fails with one of the reference's own
        /// errors or returns one recurrence per request whose figures add up.
        #[test]
        fn simulations_add_up(
            t in arb_trace(),
            eta in 0.0f64..=1.0,
            seed in any::<u64>(),
            policy in prop_oneof![Just(Policy::Zeus), Just(Policy::Default), Just(Policy::Oracle)],
            beta in prop_oneof![Just(2.0), Just(1.0), Just(f64::INFINITY)],
        ) {
            let eta = Eta::new(eta).unwrap();
            let cfg = SimConfig { eta, beta, recurrences: 25, seed, policy };
            match simulate(&t, &cfg) {
                Err(ZeusError::DefaultDidNotConverge { .. })
                | Err(ZeusError::NoFeasibleBatchSize { .. })
                | Err(ZeusError::NoSurvivors { .. }) => {}
                Err(e) => prop_assert!(false, "unexpected error {e}"),
                Ok(r) => {
                    prop_assert_eq!(r.recurrences.len(), 25);
                    let mut sum = Totals::default();
                    for rec in &r.recurrences {
                        prop_assert!(rec.attempts >= 1 && rec.attempts <= MAX_ATTEMPTS);
                        prop_assert!(t.batch_sizes.contains(&rec.batch_size));
                        prop_assert!(t.power_limits_w.contains(&rec.power_limit_w));
                        prop_assert!(rec.cost >= 0.0 && rec.time_s >= 0.0 && rec.energy_j >= 0.0);
                        prop_assert!(rec.reached || rec.attempts == MAX_ATTEMPTS);
                        let c = zeus_cost(rec.energy_j, rec.time_s, eta, t.max_power_w);
                        prop_assert!((c - rec.cost).abs() <= 1e-9 * c.max(1.0));
                        sum.time_s += rec.time_s;
                        sum.energy_j += rec.energy_j;
                        sum.cost += rec.cost;
                    }
                    prop_assert_eq!(r.cumulative, sum);
                    if policy != Policy::Zeus {
                        let first = r.recurrences[0].batch_size;
                        prop_assert!(r.recurrences.iter().all(|x| x.batch_size == first));
                    }
                    if policy == Policy::Default {
                        prop_assert_eq!(r.recurrences[0].batch_size, t.default_batch_size);
                        prop_assert_eq!(r.recurrences[0].power_limit_w, t.max_power_limit_w());
                    }
                }
            }
        }
    }

    #[test]
    fn floor_div_is_pythons() {
        // Python: 1.0 // 0.1 == 9.0 (0.1 is slightly above 1/10), 6.0 // 2.0 == 3.0.
        assert_eq!(floor_div(1.0, 0.1), 9.0);
        assert_eq!(floor_div(6.0, 2.0), 3.0);
        assert_eq!(floor_div(0.5, 2.0), 0.0);
        assert_eq!(floor_div(7.0, 2.0), 3.0);
    }

    #[test]
    fn profiling_epoch_and_early_stop_follow_the_reference() {
        // One batch size, two limits: 100 W (10 s, 50 W) and 200 W (5 s, 160 W); paths 4 and
        // never. η = 1: epoch cost 500 vs 800 J → 100 W. First recurrence: path drawn by the
        // seed; with profiling the first epoch is the mean of both limits: (500 + 800)/2 J,
        // (10 + 5)/2 s.
        let mut spec = WORKLOADS[0];
        spec.max_epochs = 6;
        let t = WorkloadTrace {
            spec,
            default_batch_size: 8,
            batch_sizes: vec![8],
            power_limits_w: vec![100, 200],
            max_power_w: 200.0,
            paths: vec![vec![Some(4.0)]],
            profiles: vec![vec![
                EpochProfile {
                    time_per_epoch_s: 10.0,
                    average_power_w: 50.0,
                },
                EpochProfile {
                    time_per_epoch_s: 5.0,
                    average_power_w: 160.0,
                },
            ]],
        };
        let eta = Eta::new(1.0).unwrap();
        let a = run_attempt(&t, 0, 0, Some(4.0), f64::INFINITY, eta, true).unwrap();
        assert_eq!(
            (a.energy_j, a.time_s, a.reached),
            (650.0 + 3.0 * 500.0, 7.5 + 30.0, true)
        );
        // Early stop: a limit of 1 250 J allows ⌊1250 / 500⌋ = 2 epochs < 4: fails after 2.
        let a = run_attempt(&t, 0, 0, Some(4.0), 1250.0, eta, false).unwrap();
        assert_eq!((a.energy_j, a.time_s, a.reached), (1000.0, 20.0, false));
        // Below one epoch: never runs.
        assert!(run_attempt(&t, 0, 0, Some(4.0), 499.0, eta, false).is_none());
        // A never-reaching path runs the whole budget.
        let a = run_attempt(&t, 0, 0, None, f64::INFINITY, eta, false).unwrap();
        assert_eq!((a.time_s, a.reached), (60.0, false));
    }
}
