#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::expect_used)] // benchmark inputs are fixed and valid
//! Criterion benchmarks of the privacy knapsack: offline DPK / DPF / Area on the paper's
//! scaling setting (7 blocks, up to 5 000 tasks), the weighted DPK path, the online
//! Alibaba-like simulation (60 000 tasks over 100 + 90 blocks), and the 1-D FPTAS. Timings go
//! to BENCHMARKS.md, never into tests.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ergon_core::dpk::generate::{AlibabaLike, Microbenchmark};
use ergon_core::dpk::kp::{self, KpItem};
use ergon_core::dpk::{ScheduleOptions, Scheduler, Task, Workload, schedule, simulate};
use xorshift::XorShift64;

#[path = "../tests/support/xorshift.rs"]
mod xorshift;

/// The Fig. 5 setting: 7 blocks, σ_α = 4, σ_blocks = 10, μ_blocks = 1, ε_min = 0.01.
fn fig5(n: usize) -> Workload {
    Microbenchmark::fig5(n)
        .workload()
        .expect("valid generator settings")
}

fn bench_offline(c: &mut Criterion) {
    let mut g = c.benchmark_group("dpk_offline_7_blocks");
    for n in [500usize, 5000] {
        let w = fig5(n);
        for s in [Scheduler::Dpk, Scheduler::Dpf, Scheduler::Area] {
            let opts = ScheduleOptions::with(s);
            g.bench_with_input(BenchmarkId::new(s.name(), n), &w, |b, w| {
                b.iter(|| schedule(black_box(w), &opts).expect("schedules"))
            });
        }
        let opts = ScheduleOptions {
            recompute_every: 100,
            ..ScheduleOptions::default()
        };
        g.bench_with_input(BenchmarkId::new("dpk_recompute_100", n), &w, |b, w| {
            b.iter(|| schedule(black_box(w), &opts).expect("schedules"))
        });
    }
    // Weighted DPK: integer weights 1..=10 exercise the exact DP / B&B / FPTAS knapsacks.
    let w = fig5(5000);
    let tasks: Vec<Task> = w
        .tasks()
        .iter()
        .map(|t| Task {
            weight: 1.0 + (t.id % 10) as f64,
            ..t.clone()
        })
        .collect();
    let weighted = Workload::new(w.alphas(), w.blocks().to_vec(), tasks).expect("valid");
    let opts = ScheduleOptions::default();
    g.bench_function("dpk_weighted/5000", |b| {
        b.iter(|| schedule(black_box(&weighted), &opts).expect("schedules"))
    });
    g.finish();
}

fn bench_online(c: &mut Criterion) {
    let cfg = AlibabaLike::default()
        .config(ScheduleOptions::default())
        .expect("valid generator settings");
    let mut g = c.benchmark_group("dpk_online_alibaba_60k_190_blocks");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    for s in [Scheduler::Dpk, Scheduler::Dpf, Scheduler::Fcfs] {
        let mut c = cfg.clone();
        c.options = ScheduleOptions {
            recompute_every: 50,
            ..ScheduleOptions::with(s)
        };
        g.bench_function(s.name(), |b| {
            b.iter(|| simulate(black_box(&c)).expect("runs"))
        });
    }
    g.finish();
}

fn bench_generate(c: &mut Criterion) {
    let mut g = c.benchmark_group("dpk_generate");
    g.sample_size(10);
    g.bench_function("micro_5000x7", |b| b.iter(|| fig5(black_box(5000))));
    g.finish();
}

fn bench_kp(c: &mut Criterion) {
    // Deterministic uncorrelated instance (xorshift).
    let mut random = XorShift64(0x9e37_79b9_7f4a_7c15);
    let mut next = move || random.next_unit();
    let mut g = c.benchmark_group("kp_1d");
    for n in [100usize, 1000] {
        let items: Vec<KpItem> = (0..n)
            .map(|_| KpItem {
                weight: 1.0 + 99.0 * next(),
                profit: 1.0 + 99.0 * next(),
            })
            .collect();
        let cap = 25.0 * n as f64;
        g.bench_with_input(BenchmarkId::new("fptas_eps_0.033", n), &items, |b, it| {
            b.iter(|| kp::fptas(black_box(it), cap, 0.0323).expect("in limits"))
        });
        g.bench_with_input(BenchmarkId::new("solve", n), &items, |b, it| {
            b.iter(|| kp::solve(black_box(it), cap, 0.0323))
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    bench_offline,
    bench_online,
    bench_generate,
    bench_kp
);
criterion_main!(benches);
