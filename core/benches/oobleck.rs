#![allow(clippy::expect_used)] // a benchmark set-up that fails should stop loudly
#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Criterion benchmarks of Oobleck: templates for 96 layers × 64 nodes and 48 × 32 (0.1.1
//! objective, exact solver and the upstream recurrence), and instantiation plus one
//! reconfiguration for 64 nodes with f = 3. Timings go to BENCHMARKS.md, never into tests.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ergon_core::oobleck::{
    Layer, PlanOptions, Profile, Solver, TemplateOptions, generate_templates, instantiate,
    reconfigure,
};

/// A GPT-like profile of `n` layers: a cheap embedding, transformer blocks with a little
/// variation, a heavier head (the shape of oracle C, notes A12.1, stretched).
fn gpt_like(n: usize) -> Profile {
    let layers = (0..n)
        .map(|i| {
            let f = if i == 0 {
                0.5
            } else if i + 1 == n {
                3.0
            } else {
                2.0 + 0.1 * ((7 * i) % 5) as f64
            };
            let mem = if i == 0 || i + 1 == n { 300 } else { 100 };
            Layer::new(f, 2.0 * f, mem)
        })
        .collect();
    Profile::new(layers).expect("profile")
}

fn templates(c: &mut Criterion) {
    for (layers, nodes) in [(96usize, 64u32), (48, 32)] {
        let p = gpt_like(layers);
        for solver in [Solver::Exact, Solver::Recurrence] {
            let mut o = TemplateOptions::new(nodes);
            o.solver = solver;
            c.bench_function(
                &format!("oobleck templates {layers}x{nodes} {solver:?}"),
                |b| b.iter(|| generate_templates(black_box(&p), &o).expect("templates")),
            );
        }
    }
}

fn plan(c: &mut Criterion) {
    let p = gpt_like(96);
    for memory in [None, Some(2_000)] {
        let mut o = TemplateOptions::new(64);
        o.node_memory_bytes = memory;
        let ts = generate_templates(&p, &o).expect("templates");
        let opts = PlanOptions {
            fault_tolerance: 3,
            microbatches: 512,
        };
        let name = format!("n0={}", ts.n0);
        c.bench_function(&format!("oobleck instantiate 64 nodes f=3 {name}"), |b| {
            b.iter(|| instantiate(black_box(&ts), &opts).expect("plan"))
        });
        let plan = instantiate(&ts, &opts).expect("plan");
        let lost = [plan.pipelines[0].nodes[0], 17, 40];
        c.bench_function(
            &format!("oobleck reconfigure 64 nodes lose 3 {name}"),
            |b| b.iter(|| reconfigure(black_box(&ts), &plan, &lost).expect("reconfigure")),
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(2));
    targets = templates, plan
}
criterion_main!(benches);
