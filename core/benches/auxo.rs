#![allow(clippy::expect_used)] // a benchmark set-up that fails should stop loudly
#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Criterion benchmarks of Auxo: one clustering step of a cohort in a population of
//! 1 000 000 clients with 200 participants (updates of dimension 2 and 100, two cohorts after
//! a warm-up), and the whole reference playground (1 000 clients, 50 per round, 800 rounds).
//! Timings go to BENCHMARKS.md, never into tests.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ergon_core::auxo::playground::{PlaygroundConfig, run};
use ergon_core::auxo::{Auxo, AuxoConfig, SplitRule};

const CLIENTS: usize = 1_000_000;
const PER_ROUND: usize = 200;

/// Pseudo-random stream (splitmix64) so the set-up needs no RNG crate.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// Participants of one round and their updates: two latent groups (even and odd ids) whose
/// updates point along different axes.
fn round(mix: &mut Mix, dim: usize) -> (Vec<u32>, Vec<f32>) {
    let mut ids: Vec<u32> = Vec::with_capacity(PER_ROUND);
    while ids.len() < PER_ROUND {
        let c = (mix.next() % CLIENTS as u64) as u32;
        if !ids.contains(&c) {
            ids.push(c);
        }
    }
    let mut ups = Vec::with_capacity(PER_ROUND * dim);
    for &c in &ids {
        for j in 0..dim {
            let signal = if j == (c % 2) as usize { 3.0 } else { 0.0 };
            ups.push(signal + mix.unit());
        }
    }
    (ids, ups)
}

fn step_1m(c: &mut Criterion) {
    let mut group = c.benchmark_group("auxo_step_1m_clients_200_participants");
    for dim in [2usize, 100] {
        let mut cfg = AuxoConfig::new(CLIENTS, PER_ROUND as f64 / CLIENTS as f64);
        cfg.split_rule = SplitRule::FixedRounds(vec![20]);
        let mut auxo = Auxo::new(cfg).expect("valid");
        let mut mix = Mix(dim as u64);
        let rounds: Vec<(Vec<u32>, Vec<f32>)> = (0..64).map(|_| round(&mut mix, dim)).collect();
        // Warm-up: 20 rounds in one cohort, the split (O(clients), once), then rounds in
        // both cohorts so known members and main rewards are in play.
        for i in 0..200 {
            let (ids, ups) = &rounds[i % rounds.len()];
            let m = i % auxo.cohorts();
            auxo.step(m, ids, ups, dim).expect("valid");
        }
        assert_eq!(auxo.cohorts(), 2);
        let mut i = 0;
        group.bench_with_input(BenchmarkId::from_parameter(dim), &dim, |b, &dim| {
            b.iter(|| {
                let (ids, ups) = &rounds[i % rounds.len()];
                i += 1;
                black_box(auxo.step(i % 2, ids, ups, dim).expect("valid"))
            })
        });
    }
    group.finish();
}

fn playground(c: &mut Criterion) {
    let mut group = c.benchmark_group("auxo_playground_1000_clients_800_rounds");
    group.sample_size(10);
    for (name, rule) in [
        ("reference", SplitRule::Reference),
        ("fixed_50_100", SplitRule::FixedRounds(vec![50, 100])),
    ] {
        let mut cfg = PlaygroundConfig::reference();
        cfg.split_rule = rule;
        cfg.seed = 1;
        group.bench_function(name, |b| b.iter(|| black_box(run(&cfg).expect("valid"))));
    }
    group.finish();
}

criterion_group!(benches, step_1m, playground);
criterion_main!(benches);
