#![allow(clippy::expect_used)] // a benchmark set-up that fails should stop loudly
#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Criterion benchmarks of Orloj: one scheduling decision of the online batcher with 1 000
//! queued requests from 4 applications on 1 024-bin distributions (every policy), and whole
//! 60-second simulated traces of the high-variance mix at 80 % and 250 % load. Timings go to
//! BENCHMARKS.md, never into tests.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ergon_core::orloj::sim::{PolicySpec, SimConfig, run_policy, simulate, trace};
use ergon_core::orloj::{
    BatchScale, Batcher, Distribution, ExecSpec, Orloj, Scheduler, Sizes, TimeGrid,
};

const QUEUED: usize = 1000;

const APPS: usize = 4;

/// Four applications on one 1 024-bin grid up to 0.25 s: early exit, two lognormals, a
/// constant.
fn laws() -> Vec<Distribution> {
    let grid = TimeGrid::covering(0.25, 1024).expect("grid");
    [
        ExecSpec::Bimodal {
            low_s: 0.006,
            high_s: 0.020,
            p_low: 0.3,
        },
        ExecSpec::Lognormal {
            mean_s: 0.030,
            cv: 1.0,
        },
        ExecSpec::Lognormal {
            mean_s: 0.015,
            cv: 0.5,
        },
        ExecSpec::Constant { value_s: 0.010 },
    ]
    .iter()
    .map(|s| Distribution::from_spec(grid, s, "bench").expect("law"))
    .collect()
}

/// A batcher holding 1 000 requests, round-robin over the apps, deadlines 50–150 ms ahead.
fn loaded(policy: Box<dyn Scheduler>) -> (Batcher, Vec<(usize, f64)>) {
    let mut b =
        Batcher::new(laws(), Box::new(BatchScale::linear(16, 0.05)), policy).expect("batcher");
    let mut meta = Vec::with_capacity(QUEUED);
    for i in 0..QUEUED {
        let app = i % APPS;
        let deadline = 0.05 + 0.1 * i as f64 / QUEUED as f64;
        b.enqueue(app, i as u64, 0.0, deadline).expect("enqueue");
        meta.push((app, deadline));
    }
    (b, meta)
}

/// Turns the default Orloj settings into one of the benchmarked variants.
type EditOrloj = fn(&mut Orloj);

/// One scheduling decision of `make()`'s policy on the loaded batcher, the batch put back at
/// the end of the queue after each decision so that it stays at 1 000 requests.
fn bench_policy<M: criterion::measurement::Measurement>(
    group: &mut criterion::BenchmarkGroup<'_, M>,
    name: &str,
    make: &dyn Fn() -> Box<dyn Scheduler>,
) {
    group.bench_function(BenchmarkId::from_parameter(name), |bench| {
        let (mut b, mut meta) = loaded(make());
        let (mut batch, mut dropped) = ([0u64; 16], [0u64; 64]);
        let mut tail = 0.15;
        bench.iter(|| {
            let d = b
                .next_batch(black_box(0.0), &mut batch, &mut dropped)
                .expect("decision");
            for &id in &batch[..d.batch_len] {
                tail += 1e-4;
                let (app, _) = meta[id as usize];
                meta[id as usize].1 = tail;
                b.enqueue(app, id, 0.0, tail).expect("enqueue");
            }
            black_box(d)
        });
    });
}

fn bench_decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("decision_1000q_4apps_1024bins");
    // Orloj with its defaults, then with one feature turned off each.
    let variants: [(&str, EditOrloj); 5] = [
        ("orloj", |_| {}),
        ("orloj-prefixes-only", |o| o.single_app = false),
        ("orloj-fixed-floor", |o| {
            o.adaptive_floor = false;
            o.load_floor = false;
        }),
        ("orloj-no-load-floor", |o| o.load_floor = false),
        ("orloj-pow2-sizes", |o| o.sizes = Sizes::PowersOfTwo),
    ];
    for (name, edit) in variants {
        bench_policy(&mut group, name, &|| {
            let mut o = Orloj::default();
            edit(&mut o);
            Box::new(o)
        });
    }
    for name in ["clockwork", "nexus", "clipper", "edf", "fifo"] {
        bench_policy(&mut group, name, &|| {
            name.parse::<PolicySpec>().expect("policy").build(0.05)
        });
    }
    group.finish();
}

fn bench_sim(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim_60s");
    group.sample_size(10);
    for load in [0.8, 2.5] {
        let cfg = SimConfig::high_variance(2.0).with_load(load);
        let requests = trace(&cfg).expect("trace");
        for name in ["orloj", "clockwork"] {
            let p = name.parse::<PolicySpec>().expect("policy");
            let id = format!("{name}/load{load}_{}req", requests.len());
            group.bench_function(BenchmarkId::from_parameter(id), |bench| {
                bench.iter(|| black_box(run_policy(&cfg, &requests, p).expect("sim")));
            });
        }
        group.bench_function(
            BenchmarkId::from_parameter(format!("all_10_policies_with_trace/load{load}")),
            |bench| bench.iter(|| black_box(simulate(&cfg).expect("sim"))),
        );
    }
    group.finish();
}

criterion_group!(benches, bench_decision, bench_sim);
criterion_main!(benches);
