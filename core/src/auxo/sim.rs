//! The cohort-training simulator: synthetic non-IID clients, a multinomial logistic regression
//! trained by FedAvg per cohort (Auxo) against one global FedAvg model.
//!
//! Each client belongs to one of `groups` latent groups. A group has its own labelling rule
//! (a random linear map from features to class scores: concept skew), its own feature mean
//! (`feature_skew` × a random direction: feature skew) and its own class prior (`label_skew`:
//! the share of samples relabelled to the group's two favourite classes). One global model
//! cannot fit rules that disagree; per-cohort models can, once the cohorts match the groups.
//!
//! Every round each client is online with probability `availability`; each cohort trains
//! `⌊K / cohorts⌋` online members (local gradient steps from the cohort model, FedAvg mean),
//! then its clustering step runs on the participants' full model updates. The global baseline
//! trains K online clients per round on the same population.

use alloc::vec;
use alloc::vec::Vec;

use super::cluster::Draw;
use super::metrics::{adjusted_rand_index, purity};
use super::{Auxo, AuxoConfig, AuxoError, SplitRule};

/// A simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSimConfig {
    /// Clients.
    pub clients: usize,
    /// Latent groups.
    pub groups: usize,
    /// Classes.
    pub classes: usize,
    /// Features per sample.
    pub features: usize,
    /// Training samples per client.
    pub train_samples: usize,
    /// Test samples per client.
    pub test_samples: usize,
    /// Share of each client's samples relabelled to its group's two favourite classes.
    pub label_skew: f64,
    /// Distance of each group's feature mean from the origin.
    pub feature_skew: f64,
    /// Participants per round, all cohorts together (K).
    pub per_round: usize,
    /// Probability that a client is online in a round.
    pub availability: f64,
    /// Rounds.
    pub rounds: u32,
    /// Local full-batch gradient steps per participation.
    pub local_steps: u32,
    /// Learning rate.
    pub learning_rate: f64,
    /// The split rule of the cohort engine.
    pub split_rule: SplitRule,
    /// Seed.
    pub seed: u64,
}

impl Default for TrainSimConfig {
    fn default() -> Self {
        TrainSimConfig {
            clients: 1000,
            groups: 3,
            classes: 6,
            features: 10,
            train_samples: 40,
            test_samples: 200,
            label_skew: 0.3,
            feature_skew: 1.0,
            per_round: 200,
            availability: 0.8,
            rounds: 300,
            local_steps: 5,
            learning_rate: 0.5,
            split_rule: SplitRule::Reference,
            seed: 0,
        }
    }
}

/// One evaluation point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalPoint {
    /// Round (1-based: after this many rounds).
    pub round: u32,
    /// Cohorts at that time.
    pub cohorts: usize,
    /// Mean per-client test accuracy with cohort models (each client served by its
    /// highest-affinity cohort).
    pub cohort_mean: f64,
    /// Standard deviation of per-client accuracy with cohort models.
    pub cohort_std: f64,
    /// Mean per-client accuracy of the global model.
    pub global_mean: f64,
    /// Standard deviation of per-client accuracy of the global model.
    pub global_std: f64,
}

/// The outcome of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSimResult {
    /// Evaluations over the run (every `rounds / 20` rounds and at the end).
    pub curve: Vec<EvalPoint>,
    /// Rounds at which a split happened.
    pub split_rounds: Vec<u32>,
    /// ARI of the clients' serving cohorts against the latent groups.
    pub ari: f64,
    /// Purity of the serving cohorts over clients that trained at least once.
    pub purity: f64,
}

struct Client {
    group: usize,
    train: Vec<(Vec<f64>, usize)>,
    test: Vec<(Vec<f64>, usize)>,
}

/// Softmax-regression weights: classes × (features + 1), bias last.
type Model = Vec<f64>;

fn scores(w: &[f64], x: &[f64], classes: usize, out: &mut [f64]) {
    let f = x.len();
    for (k, o) in out.iter_mut().enumerate().take(classes) {
        let row = &w[k * (f + 1)..(k + 1) * (f + 1)];
        *o = row[f] + row[..f].iter().zip(x).map(|(a, b)| a * b).sum::<f64>();
    }
}

fn train(w: &mut Model, data: &[(Vec<f64>, usize)], classes: usize, steps: u32, lr: f64) {
    let f = data.first().map_or(0, |d| d.0.len());
    let mut grad = vec![0.0; w.len()];
    let mut p = vec![0.0; classes];
    for _ in 0..steps {
        grad.iter_mut().for_each(|g| *g = 0.0);
        for (x, y) in data {
            scores(w, x, classes, &mut p);
            let max = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut z = 0.0;
            for v in p.iter_mut() {
                *v = libm::exp(*v - max);
                z += *v;
            }
            for (k, v) in p.iter().enumerate() {
                let e = v / z - if k == *y { 1.0 } else { 0.0 };
                let g = &mut grad[k * (f + 1)..(k + 1) * (f + 1)];
                for (gj, xj) in g.iter_mut().zip(x) {
                    *gj += e * xj;
                }
                g[f] += e;
            }
        }
        let scale = lr / data.len().max(1) as f64;
        for (wj, gj) in w.iter_mut().zip(&grad) {
            *wj -= scale * gj;
        }
    }
}

fn accuracy(w: &Model, data: &[(Vec<f64>, usize)], classes: usize) -> f64 {
    let mut p = vec![0.0; classes];
    let hits = data
        .iter()
        .filter(|(x, y)| {
            scores(w, x, classes, &mut p);
            let best = (0..classes)
                .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                .unwrap_or(0);
            best == *y
        })
        .count();
    hits as f64 / data.len().max(1) as f64
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n;
    (m, libm::sqrt(var))
}

fn population(cfg: &TrainSimConfig, rng: &mut Draw) -> Vec<Client> {
    let (f, k) = (cfg.features, cfg.classes);
    let rules: Vec<Vec<f64>> = (0..cfg.groups)
        .map(|_| (0..k * f).map(|_| rng.gauss()).collect())
        .collect();
    let means: Vec<Vec<f64>> = (0..cfg.groups)
        .map(|_| {
            let d: Vec<f64> = (0..f).map(|_| rng.gauss()).collect();
            let norm = libm::sqrt(d.iter().map(|v| v * v).sum::<f64>()).max(1e-12);
            d.iter().map(|v| v / norm * cfg.feature_skew).collect()
        })
        .collect();
    let favourites: Vec<[usize; 2]> = (0..cfg.groups)
        .map(|_| [rng.below(k), rng.below(k)])
        .collect();
    let sample = |g: usize, rng: &mut Draw| {
        let x: Vec<f64> = (0..f).map(|j| means[g][j] + rng.gauss()).collect();
        let y = if rng.uniform() < cfg.label_skew {
            favourites[g][rng.below(2)]
        } else {
            (0..k)
                .max_by(|&a, &b| {
                    let sa: f64 = (0..f).map(|j| rules[g][a * f + j] * x[j]).sum();
                    let sb: f64 = (0..f).map(|j| rules[g][b * f + j] * x[j]).sum();
                    sa.total_cmp(&sb)
                })
                .unwrap_or(0)
        };
        (x, y)
    };
    (0..cfg.clients)
        .map(|c| {
            let g = c % cfg.groups;
            Client {
                group: g,
                train: (0..cfg.train_samples).map(|_| sample(g, rng)).collect(),
                test: (0..cfg.test_samples).map(|_| sample(g, rng)).collect(),
            }
        })
        .collect()
}

/// Runs the simulation.
pub fn run(cfg: &TrainSimConfig) -> Result<TrainSimResult, AuxoError> {
    let check = |ok: bool, field: &'static str, value: f64, message: &'static str| {
        if ok {
            Ok(())
        } else {
            Err(AuxoError::InvalidConfig {
                field,
                value,
                message,
            })
        }
    };
    check(
        cfg.groups >= 1,
        "groups",
        cfg.groups as f64,
        "need at least one group",
    )?;
    check(
        cfg.classes >= 2,
        "classes",
        cfg.classes as f64,
        "need at least 2 classes",
    )?;
    check(
        cfg.features >= 1,
        "features",
        cfg.features as f64,
        "need at least 1 feature",
    )?;
    check(
        cfg.train_samples >= 1 && cfg.test_samples >= 1,
        "train_samples",
        cfg.train_samples as f64,
        "need at least one training and one test sample",
    )?;
    check(
        cfg.per_round >= 1 && cfg.per_round <= cfg.clients,
        "per_round",
        cfg.per_round as f64,
        "need 1..=clients participants per round",
    )?;
    check(
        cfg.availability > 0.0 && cfg.availability <= 1.0,
        "availability",
        cfg.availability,
        "need a probability in (0, 1]",
    )?;
    check(
        (0.0..=1.0).contains(&cfg.label_skew),
        "label_skew",
        cfg.label_skew,
        "need a share in [0, 1]",
    )?;
    check(
        cfg.feature_skew.is_finite() && cfg.learning_rate.is_finite() && cfg.learning_rate > 0.0,
        "learning_rate",
        cfg.learning_rate,
        "need a positive finite rate and a finite feature skew",
    )?;
    let mut engine_cfg = AuxoConfig::new(cfg.clients, cfg.per_round as f64 / cfg.clients as f64);
    engine_cfg.split_rule = cfg.split_rule.clone();
    engine_cfg.seed = cfg.seed;
    let mut auxo = Auxo::new(engine_cfg)?;
    let mut rng = Draw::new(cfg.seed.wrapping_add(0xa0c0));
    let clients = population(cfg, &mut rng);
    let mut global_rng = Draw::new(cfg.seed.wrapping_add(0x610b));
    let dim = cfg.classes * (cfg.features + 1);
    let mut models: Vec<Model> = vec![vec![0.0; dim]];
    let mut global: Model = vec![0.0; dim];
    let mut curve = Vec::new();
    let mut split_rounds = Vec::new();
    let every = (cfg.rounds / 20).max(1);
    let mut trained = vec![false; cfg.clients];
    for round in 0..cfg.rounds {
        let online: Vec<u32> = (0..cfg.clients as u32)
            .filter(|_| global_rng.uniform() < cfg.availability)
            .collect();
        // Global FedAvg baseline: K online clients.
        // Availability and the baseline use their own random stream, so the baseline is the
        // same run whatever the cohorts do.
        let picked = sample(&online, cfg.per_round, &mut global_rng);
        if !picked.is_empty() {
            global = fed_avg(&global, &picked, &clients, cfg, |_, _| {});
        }
        // Auxo: ⌊K / cohorts⌋ online members per cohort.
        let cohorts = auxo.cohorts();
        let budget = cfg.per_round / cohorts;
        for m in 0..cohorts {
            if m >= auxo.cohorts() {
                break;
            }
            let members: Vec<u32> = online
                .iter()
                .copied()
                .filter(|&c| auxo.assignment()[c as usize] as usize == m)
                .collect();
            let picked = sample(&members, budget, &mut rng);
            if picked.is_empty() {
                continue;
            }
            let mut updates: Vec<f32> = Vec::with_capacity(picked.len() * dim);
            let start = models[m].clone();
            models[m] = fed_avg(&start, &picked, &clients, cfg, |c, w| {
                updates.extend(start.iter().zip(w).map(|(a, b)| (a - b) as f32));
                trained[c as usize] = true;
            });
            let out = auxo.step(m, &picked, &updates, dim)?;
            out.apply_to(&mut models);
            if out.split.is_some() {
                split_rounds.push(round);
            }
        }
        if (round + 1) % every == 0 || round + 1 == cfg.rounds {
            let mut ca = Vec::with_capacity(cfg.clients);
            let mut ga = Vec::with_capacity(cfg.clients);
            for (c, client) in clients.iter().enumerate() {
                let m = auxo.best_cohort(c as u32)?;
                ca.push(accuracy(&models[m], &client.test, cfg.classes));
                ga.push(accuracy(&global, &client.test, cfg.classes));
            }
            let (cohort_mean, cohort_std) = mean_std(&ca);
            let (global_mean, global_std) = mean_std(&ga);
            curve.push(EvalPoint {
                round: round + 1,
                cohorts: auxo.cohorts(),
                cohort_mean,
                cohort_std,
                global_mean,
                global_std,
            });
        }
    }
    let serving: Vec<usize> = (0..cfg.clients)
        .map(|c| auxo.best_cohort(c as u32))
        .collect::<Result<_, _>>()?;
    let groups: Vec<usize> = clients.iter().map(|c| c.group).collect();
    Ok(TrainSimResult {
        curve,
        split_rounds,
        ari: adjusted_rand_index(&serving, &groups),
        purity: purity(&serving, &groups, &trained),
    })
}

/// One FedAvg round from `start`: every picked client trains a copy locally (`each` sees the
/// client and its trained weights), and the result is the plain mean.
fn fed_avg(
    start: &Model,
    picked: &[u32],
    clients: &[Client],
    cfg: &TrainSimConfig,
    mut each: impl FnMut(u32, &Model),
) -> Model {
    let mut sum = vec![0.0; start.len()];
    for &c in picked {
        let mut w = start.clone();
        train(
            &mut w,
            &clients[c as usize].train,
            cfg.classes,
            cfg.local_steps,
            cfg.learning_rate,
        );
        each(c, &w);
        sum.iter_mut().zip(&w).for_each(|(s, v)| *s += v);
    }
    sum.iter().map(|s| s / picked.len().max(1) as f64).collect()
}

/// Up to `k` distinct entries of `from`, uniformly (partial Fisher–Yates on a copy).
fn sample(from: &[u32], k: usize, rng: &mut Draw) -> Vec<u32> {
    let mut v = from.to_vec();
    let k = k.min(v.len());
    for i in 0..k {
        let j = i + rng.below(v.len() - i);
        v.swap(i, j);
    }
    v.truncate(k);
    v
}
