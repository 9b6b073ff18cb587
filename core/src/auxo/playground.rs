//! The reference playground (notes B8): clients at 2-D Gaussian-blob positions, the positions
//! themselves used as the "updates", K random participants per round, the clustering step run
//! for every cohort each round; the recovered cohorts are scored against the blobs.

use alloc::vec::Vec;

use super::cluster::Draw;
use super::metrics::{adjusted_rand_index, purity};
use super::{Auxo, AuxoConfig, AuxoError, Signal, SplitRule};

/// A playground run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaygroundConfig {
    /// Number of blobs.
    pub centers: usize,
    /// Number of clients.
    pub clients: usize,
    /// Participants sampled per round (all cohorts together).
    pub per_round: usize,
    /// Rounds.
    pub rounds: u32,
    /// Standard deviation of each blob.
    pub cluster_std: f64,
    /// `train_ratio` of the engine (the reference playground uses 0.9).
    pub train_ratio: f64,
    /// `known_clients` of the engine (the playground uses 150).
    pub known_clients: f64,
    /// The split rule.
    pub split_rule: SplitRule,
    /// Blob centres are drawn uniformly in `[-center_box, center_box]²` (scikit-learn's
    /// `make_blobs` uses 10).
    pub center_box: f64,
    /// Centres are redrawn until every pair is at least this far apart (0: no constraint,
    /// like `make_blobs`).
    pub min_center_distance: f64,
    /// Seed of the positions, the sampling and the engine.
    pub seed: u64,
}

impl PlaygroundConfig {
    /// The reference playground: 4 blobs of std 2, 1000 clients, 50 per round, 800 rounds,
    /// train ratio 0.9, 150 known clients, the reference split rule, seed 0.
    pub fn reference() -> Self {
        PlaygroundConfig {
            centers: 4,
            clients: 1000,
            per_round: 50,
            rounds: 800,
            cluster_std: 2.0,
            train_ratio: 0.9,
            known_clients: 150.0,
            split_rule: SplitRule::Reference,
            center_box: 10.0,
            min_center_distance: 0.0,
            seed: 0,
        }
    }
}

/// Clients placed around blob centres.
#[derive(Debug, Clone, PartialEq)]
pub struct Blobs {
    /// Positions, two values per client.
    pub positions: Vec<f32>,
    /// Each client's blob.
    pub groups: Vec<usize>,
    /// The centres.
    pub centers: Vec<[f64; 2]>,
}

/// `clients` points around `centers` centres (uniform in the box, pairwise at least
/// `min_center_distance` apart when 10 000 draws allow it), `std` per coordinate; client i
/// belongs to blob `i mod centers`, so blob sizes differ by at most one.
pub fn blobs(
    centers: usize,
    clients: usize,
    std: f64,
    center_box: f64,
    min_center_distance: f64,
    seed: u64,
) -> Blobs {
    let mut rng = Draw::new(seed);
    let centers = centers.max(1);
    let mut cs: Vec<[f64; 2]> = Vec::new();
    for _ in 0..10_000 {
        cs = (0..centers)
            .map(|_| {
                [
                    (2.0 * rng.uniform() - 1.0) * center_box,
                    (2.0 * rng.uniform() - 1.0) * center_box,
                ]
            })
            .collect();
        let ok = cs.iter().enumerate().all(|(i, a)| {
            cs[..i]
                .iter()
                .all(|b| libm::hypot(a[0] - b[0], a[1] - b[1]) >= min_center_distance)
        });
        if ok {
            break;
        }
    }
    let mut positions = Vec::with_capacity(2 * clients);
    let mut groups = Vec::with_capacity(clients);
    for i in 0..clients {
        let g = i % centers;
        positions.push((cs[g][0] + std * rng.gauss()) as f32);
        positions.push((cs[g][1] + std * rng.gauss()) as f32);
        groups.push(g);
    }
    Blobs {
        positions,
        groups,
        centers: cs,
    }
}

/// A split seen during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitEvent {
    /// The round (0-based, as the reference prints it).
    pub round: u32,
    /// Cohorts after the split.
    pub num_cohorts_after: usize,
}

/// The outcome of a playground run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaygroundResult {
    /// Every split, in order.
    pub splits: Vec<SplitEvent>,
    /// Cohorts at the end.
    pub final_cohorts: usize,
    /// ARI of every client's cohort against its blob.
    pub ari: f64,
    /// Purity of the known members (a client known in the cohort it is mapped to).
    pub purity_known: f64,
    /// Each client's final cohort.
    pub assignment: Vec<usize>,
    /// Each client's blob.
    pub groups: Vec<usize>,
}

/// Runs the playground.
pub fn run(cfg: &PlaygroundConfig) -> Result<PlaygroundResult, AuxoError> {
    if cfg.centers == 0 {
        return Err(AuxoError::InvalidConfig {
            field: "centers",
            value: 0.0,
            message: "need at least one blob",
        });
    }
    if cfg.per_round == 0 || cfg.per_round > cfg.clients {
        return Err(AuxoError::InvalidConfig {
            field: "per_round",
            value: cfg.per_round as f64,
            message: "need 1..=clients participants per round",
        });
    }
    if !(cfg.cluster_std.is_finite() && cfg.cluster_std >= 0.0) {
        return Err(AuxoError::InvalidConfig {
            field: "cluster_std",
            value: cfg.cluster_std,
            message: "need a finite standard deviation ≥ 0",
        });
    }
    if !(cfg.center_box.is_finite() && cfg.center_box >= 0.0 && cfg.min_center_distance.is_finite())
    {
        return Err(AuxoError::InvalidConfig {
            field: "center_box",
            value: cfg.center_box,
            message: "need a finite box ≥ 0 and a finite centre distance",
        });
    }
    let mut engine_cfg = AuxoConfig::new(cfg.clients, cfg.train_ratio);
    engine_cfg.known_clients = cfg.known_clients;
    engine_cfg.split_rule = cfg.split_rule.clone();
    // The playground feeds positions as they are.
    engine_cfg.signal = Signal::Raw;
    engine_cfg.seed = cfg.seed;
    let mut auxo = Auxo::new(engine_cfg)?;
    let blobs = blobs(
        cfg.centers,
        cfg.clients,
        cfg.cluster_std,
        cfg.center_box,
        cfg.min_center_distance,
        cfg.seed,
    );
    let mut rng = Draw::new(cfg.seed.wrapping_add(0x5eed));
    let mut perm: Vec<u32> = (0..cfg.clients as u32).collect();
    let mut splits = Vec::new();
    let mut ids: Vec<u32> = Vec::with_capacity(cfg.per_round);
    let mut updates: Vec<f32> = Vec::with_capacity(2 * cfg.per_round);
    for round in 0..cfg.rounds {
        // K distinct participants by a partial Fisher–Yates shuffle: O(K) per round.
        for i in 0..cfg.per_round {
            let j = i + rng.below(cfg.clients - i);
            perm.swap(i, j);
        }
        let cohorts_at_start = auxo.cohorts();
        for m in 0..cohorts_at_start {
            if m >= auxo.cohorts() {
                break;
            }
            ids.clear();
            updates.clear();
            for &c in &perm[..cfg.per_round] {
                if auxo.assignment()[c as usize] as usize == m {
                    ids.push(c);
                    updates.extend_from_slice(&blobs.positions[2 * c as usize..2 * c as usize + 2]);
                }
            }
            if ids.len() < auxo.config().min_reporters {
                continue;
            }
            let out = auxo.step(m, &ids, &updates, 2)?;
            if out.split.is_some() {
                splits.push(SplitEvent {
                    round,
                    num_cohorts_after: auxo.cohorts(),
                });
            }
        }
    }
    let assignment: Vec<usize> = auxo.assignment().iter().map(|&m| m as usize).collect();
    let known: Vec<bool> = (0..cfg.clients)
        .map(|c| auxo.is_known(c as u32, assignment[c]).unwrap_or(false))
        .collect();
    Ok(PlaygroundResult {
        ari: adjusted_rand_index(&assignment, &blobs.groups),
        purity_known: purity(&assignment, &blobs.groups, &known),
        final_cohorts: auxo.cohorts(),
        splits,
        assignment,
        groups: blobs.groups,
    })
}
