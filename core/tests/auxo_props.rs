//! Auxo invariants (notes B10) under random rounds: every client in exactly one cohort, the
//! cohort count grows by exactly one per split, a child starts as a copy of its parent, the
//! per-cohort half counts match the table, ε never grows, and a seed reproduces a run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use ergon_core::auxo::{Auxo, AuxoConfig, Signal, SplitRule, UNDECIDED};
use proptest::prelude::*;

/// Deterministic pseudo-random updates: clients of group g sit near direction g.
fn update(client: u32, groups: u32, noise: &mut u64, dim: usize) -> Vec<f32> {
    let g = client % groups;
    (0..dim)
        .map(|j| {
            *noise = noise
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = ((*noise >> 40) as f32) / (1u64 << 24) as f32 - 0.5;
            if j == g as usize % dim { 5.0 + u } else { u }
        })
        .collect()
}

fn check_consistent(a: &Auxo) {
    let k = a.cohorts();
    let mut counts = vec![[0usize; 3]; k];
    for (c, &m) in a.assignment().iter().enumerate() {
        assert!((m as usize) < k, "client {c} in cohort {m} of {k}");
        let e = a.entry(c as u32, m as usize).expect("entry");
        counts[m as usize][usize::from(e.preferred_half())] += 1;
    }
    for (m, want) in counts.iter().enumerate() {
        assert_eq!(a.half_counts(m).expect("cohort"), *want, "cohort {m}");
    }
    assert_eq!(
        (0..k).map(|m| a.members(m).expect("cohort")).sum::<usize>(),
        a.clients()
    );
    let _ = UNDECIDED;
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn invariants_hold(
        clients in 40usize..300,
        groups in 1u32..4,
        per_round in 5usize..40,
        rounds in 5usize..60,
        seed in any::<u64>(),
        fixed in any::<bool>(),
        merge in any::<bool>(),
        normalized in any::<bool>(),
    ) {
        let mut cfg = AuxoConfig::new(clients, per_round.min(clients) as f64 / clients as f64);
        cfg.known_clients = clients as f64 / 20.0;
        cfg.seed = seed;
        cfg.merge = merge;
        cfg.signal = if normalized { Signal::CenteredNormalized } else { Signal::Raw };
        if fixed {
            cfg.split_rule = SplitRule::FixedRounds(vec![3, 6, 9]);
        }
        let mut a = Auxo::new(cfg.clone()).expect("valid");
        let mut b = Auxo::new(cfg).expect("valid");
        // One "model" per cohort: a vector the test mutates between rounds.
        let mut models: Vec<Vec<f64>> = vec![vec![0.0; 3]];
        let mut noise = seed;
        let mut eps = a.epsilon();
        let dim = 4;
        for round in 0..rounds {
            let k = a.cohorts();
            for m in 0..k {
                if m >= a.cohorts() {
                    break;
                }
                let ids: Vec<u32> = (0..clients as u32)
                    .filter(|&c| a.assignment()[c as usize] as usize == m)
                    .filter(|&c| (c as usize + round * 7).is_multiple_of((clients / per_round.min(clients)).max(1)))
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                let ups: Vec<f32> = ids.iter().flat_map(|&c| update(c, groups, &mut noise, dim)).collect();
                let before = a.cohorts();
                let out = a.step(m, &ids, &ups, dim).expect("valid step");
                let out_b = b.step(m, &ids, &ups, dim).expect("valid step");
                prop_assert_eq!(out, out_b);
                prop_assert_eq!(a.assignment(), b.assignment());
                // Train the cohort's model a little so parent and child differ from zero.
                models[m][round % 3] += 1.0 + m as f64;
                out.apply_to(&mut models);
                match (out.split, out.merged) {
                    (Some(s), None) => {
                        prop_assert_eq!(a.cohorts(), before + 1);
                        prop_assert_eq!(s.child, before);
                        prop_assert_eq!(s.parent, m);
                        prop_assert_eq!(&models[s.child], &models[s.parent]);
                    }
                    (None, Some(_)) => prop_assert_eq!(a.cohorts(), before - 1),
                    (None, None) => prop_assert_eq!(a.cohorts(), before),
                    (Some(_), Some(_)) => prop_assert!(false, "split and merge in one step"),
                }
                prop_assert_eq!(models.len(), a.cohorts());
                prop_assert!(a.epsilon() <= eps);
                eps = a.epsilon();
                check_consistent(&a);
            }
        }
    }
}

/// Clients that never trained anywhere are spread uniformly over the cohorts after a split.
#[test]
fn untrained_clients_are_spread_uniformly() {
    let clients = 20_000;
    let mut cfg = AuxoConfig::new(clients, 0.01);
    cfg.split_rule = SplitRule::FixedRounds(vec![1]);
    cfg.signal = Signal::Raw;
    let mut a = Auxo::new(cfg).expect("valid");
    let ids: Vec<u32> = (0..200).collect();
    let ups: Vec<f32> = ids
        .iter()
        .flat_map(|&c| {
            if c % 2 == 0 {
                [1.0f32, 0.0]
            } else {
                [-1.0, 0.0]
            }
        })
        .collect();
    let out = a.step(0, &ids, &ups, 2).expect("valid");
    assert!(out.split.is_some());
    let untrained = (200..clients as u32)
        .filter(|&c| a.assignment()[c as usize] == 1)
        .count();
    let n = (clients - 200) as f64;
    // Binomial(n, 1/2): 5 standard deviations.
    let sd = (n * 0.25).sqrt();
    assert!(
        ((untrained as f64) - n / 2.0).abs() < 5.0 * sd,
        "{untrained} of {n}"
    );
    // The participants voted by side, so they follow their half.
    for c in 0..200u32 {
        let e0 = a.entry(c, 0).expect("entry");
        let e1 = a.entry(c, 1).expect("entry");
        assert!(
            e0.n_trained + e1.n_trained == 1,
            "client {c}: {e0:?} {e1:?}"
        );
    }
}
