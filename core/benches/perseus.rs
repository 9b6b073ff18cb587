#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Criterion benchmarks: the max-flow / min-cut kernel on layered networks, and whole
//! frontier solves of synthetic pipelines. Timings go to BENCHMARKS.md, never into tests.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ergon_core::flow::{BoundedArc, BoundedCut, MaxFlow};
use ergon_core::perseus::synthetic::{self, A100_LIKE, GpuModel, H100_LIKE, Synthetic};
use ergon_core::perseus::{self, Pipeline};
use xorshift::XorShift64;

#[allow(dead_code)] // this benchmark draws words only, not unit floats
#[path = "../tests/support/xorshift.rs"]
mod xorshift;

/// A layered network `layers × width` with random arcs between consecutive layers: deep and
/// narrow like the critical networks of pipelines. Deterministic (xorshift).
fn layered(layers: usize, width: usize) -> (usize, Vec<(usize, usize, i64)>) {
    let mut random = XorShift64(0x2545_f491_4f6c_dd1d);
    let mut next = move || random.next_u64();
    let n = layers * width + 2;
    let (s, t) = (n - 2, n - 1);
    let mut arcs = Vec::new();
    for w in 0..width {
        arcs.push((s, w, 1 << 40));
        arcs.push(((layers - 1) * width + w, t, 1 << 40));
    }
    for l in 0..layers - 1 {
        for w in 0..width {
            for _ in 0..2 {
                let to = (l + 1) * width + (next() as usize % width);
                arcs.push((l * width + w, to, 1 + (next() % 1_000_000) as i64));
            }
        }
    }
    (n, arcs)
}

fn bench_flow(c: &mut Criterion) {
    let mut group = c.benchmark_group("maxflow");
    for (layers, width) in [(250, 4), (1000, 4), (2500, 20)] {
        let (n, arcs) = layered(layers, width);
        let label = format!("{}arcs", arcs.len());
        group.bench_with_input(BenchmarkId::new("dinic", &label), &arcs, |b, arcs| {
            let mut mf = MaxFlow::new();
            b.iter(|| {
                mf.reset(n);
                for &(u, v, cap) in arcs {
                    mf.add_arc(u, v, cap);
                }
                black_box(mf.max_flow(n - 2, n - 1))
            });
        });
        let bounded: Vec<BoundedArc> = arcs
            .iter()
            .map(|&(u, v, cap)| BoundedArc {
                tail: u as u32,
                head: v as u32,
                lower: 0,
                upper: cap,
            })
            .collect();
        group.bench_with_input(
            BenchmarkId::new("bounded_min_cut", &label),
            &bounded,
            |b, arcs| {
                let mut cut = BoundedCut::new();
                let mut side = Vec::new();
                b.iter(|| black_box(cut.min_cut(n, arcs, n - 2, n - 1, &mut side)));
            },
        );
    }
    group.finish();
}

/// A synthetic 1F1B pipeline at τ = 1 ms.
fn one_f_one_b(
    gpu: GpuModel,
    stages: u32,
    microbatches: u32,
    fwd_s_at_fmax: f64,
    seed: u64,
) -> Synthetic {
    Synthetic {
        gpu,
        pipeline: Pipeline::one_f_one_b(stages, microbatches),
        fwd_s_at_fmax,
        unit_time_s: 0.001,
        seed,
    }
}

fn bench_frontier(c: &mut Criterion) {
    let mut group = c.benchmark_group("frontier");
    group.sample_size(10);
    let small = one_f_one_b(A100_LIKE, 4, 8, 0.020, 11);
    for (name, spec) in [
        ("a100_4x8", small),
        ("gpt3_default_8x32", synthetic::gpt3_default()),
    ] {
        let Ok(problem) = spec.problem() else {
            continue;
        };
        // Preprocessing alone (filter + 54-start fit per profile), then the whole solve.
        group.bench_function(format!("{name}/prep"), |b| {
            b.iter(|| black_box(perseus::specs(&problem)))
        });
        group.bench_function(format!("{name}/solve"), |b| {
            b.iter(|| black_box(perseus::solve(&problem)))
        });
    }
    group.finish();
}

/// One mid-size production-like case (issue 19): an H100-like 8 × 128 1F1B pipeline, 2 048
/// computations, about 1 600 frontier points. The fits are done once outside the loop, so
/// the numbers are the frontier iteration alone (per point: divide by the point count).
fn bench_scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("frontier_scale");
    group.sample_size(10);
    let spec = one_f_one_b(H100_LIKE, 8, 128, 0.010, 13);
    let Ok(mut problem) = spec.problem() else {
        return;
    };
    let Ok(specs) = perseus::specs(&problem) else {
        return;
    };
    // Pin every profile's fitted model so that the loop measures the iteration, not the fit.
    for (profile, s) in problem.profiles.iter_mut().zip(&specs) {
        if let perseus::CostModel::Exponential(model) = s.model {
            profile.fit = Some(model);
        }
    }
    let points = perseus::solve(&problem).map_or(0, |f| f.points.len());
    group.bench_function(format!("h100_8x128/solve_{points}_points"), |b| {
        b.iter(|| black_box(perseus::solve(&problem)))
    });
    group.finish();
}

criterion_group!(benches, bench_flow, bench_frontier, bench_scale);
criterion_main!(benches);
