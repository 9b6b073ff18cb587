#![allow(clippy::expect_used)] // a benchmark set-up that fails should stop loudly
#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Criterion benchmarks of the Zeus trace-driven simulator: the workload, all six
//! NSDI'23 workloads × 10 seeds × the artifact's recurrence count (2·|B|·|P|) on the V100
//! trace, Zeus policy; plus reading and merging the traces. Timings go to BENCHMARKS.md
//! (section "Zeus simulator"), never into tests; bench/zeus_sim_speed.sh times the reference
//! simulator on the same work.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use ergon_core::zeus::Eta;
use ergon_core::zeus::sim::{Policy, SimConfig, simulate};
use ergon_core::zeus::trace::{PowerTrace, TrainTrace, WORKLOADS, WorkloadTrace};

/// The shared traces (`../shared/data/zeus/` beside the repository), read at run time.
fn texts() -> (String, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/zeus");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect("shared Zeus trace");
    (read("summary_train.csv"), read("summary_power_v100.csv"))
}

fn workloads(train: &str, power: &str) -> Vec<WorkloadTrace> {
    let (t, p) = (
        TrainTrace::parse(train).expect("train"),
        PowerTrace::parse(power).expect("power"),
    );
    WORKLOADS
        .iter()
        .map(|w| WorkloadTrace::new(*w, &t, &p).expect("workload"))
        .collect()
}

/// Six workloads × seeds 1..=10 × 2·|B|·|P| recurrences; returns the summed cost.
fn all_runs(traces: &[WorkloadTrace]) -> f64 {
    let mut total = 0.0;
    for t in traces {
        for seed in 1..=10 {
            let cfg = SimConfig {
                eta: Eta::DEFAULT,
                beta: 2.0,
                recurrences: t.recurrences(),
                seed,
                policy: Policy::Zeus,
            };
            total += simulate(t, &cfg).expect("simulate").cumulative.cost;
        }
    }
    total
}

fn bench(c: &mut Criterion) {
    let (train, power) = texts();
    c.bench_function("zeus/read+merge traces (6 workloads)", |b| {
        b.iter(|| workloads(black_box(&train), black_box(&power)));
    });
    let traces = workloads(&train, &power);
    c.bench_function("zeus/simulate 6 workloads x 10 seeds x 2|B||P|", |b| {
        b.iter(|| all_runs(black_box(&traces)));
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
