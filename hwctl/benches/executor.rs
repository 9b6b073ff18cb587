#![allow(missing_docs)] // criterion_group! generates undocumented items
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Criterion benchmark of `PlanExecutor::instruction_begin`, the call a trainer makes before
//! every forward and backward computation, against the fake NVML library
//! (`tests/fake-nvml/fake_nvml.c`, compiled here with `$CC`, default `cc`; without a C compiler
//! the benchmark is skipped with a message). Plans of 64 instructions:
//!
//! - `changing`: the frequency changes at every instruction, so every call hands a request to the
//!   worker, back to back: the worker never catches up, and requests coalesce.
//! - `changing_idle_worker`: the same, but every timed call finds the worker idle (the case of a
//!   real trainer; see `bench_idle`), with the default options (the idle worker polls).
//! - `changing_idle_worker_wake_mode`: the same with a zero poll interval: the idle worker sleeps
//!   and each call wakes it (a futex wake system call).
//! - `changing_10ms_setter`: the same with the fake's setters taking 10 ms, like real NVML: the
//!   worker is mostly busy and requests coalesce.
//! - `unchanged`: the frequency never changes (only the name check and the position advance).
//!
//! `step_end` runs once per 64 calls, inside the measured loop. Timings go to BENCHMARKS.md.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ergon_hwctl::{ExecutorOptions, Nvml, PlanExecutor, StagePlan};
use fake_build::compile_fake;

#[path = "../tests/support/fake_build.rs"]
mod fake_build;

const PLAN_LEN: usize = 64;

/// Builds the fake `libnvidia-ml.so.1` as the tests do (optimised), or says why it cannot.
fn build_fake() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fake-nvml-bench");
    compile_fake(&dir, &["-O2"])
}

fn plan(changing: bool) -> (StagePlan, Vec<&'static str>) {
    let instructions: Vec<(&'static str, u32)> = (0..PLAN_LEN)
        .map(|i| {
            let name = if i % 2 == 0 { "forward" } else { "backward" };
            let freq = if changing && i % 2 == 1 { 1200 } else { 1410 };
            (name, freq)
        })
        .collect();
    let names = instructions.iter().map(|&(name, _)| name).collect();
    (StagePlan::new(instructions).unwrap(), names)
}

fn bench_one(c: &mut Criterion, nvml: &Nvml, id: &str, changing: bool) {
    let gpu = nvml.device("0").unwrap();
    let (plan, names) = plan(changing);
    let mut executor = PlanExecutor::new(&gpu, plan).unwrap();
    let mut i = 0;
    c.bench_function(id, |b| {
        b.iter(|| {
            if i == PLAN_LEN {
                executor.step_end().unwrap();
                i = 0;
            }
            executor.instruction_begin(black_box(names[i])).unwrap();
            i += 1;
        });
    });
    executor.rewind();
    executor.shutdown().unwrap();
}

/// One call that finds the worker idle, timed alone. Before it (untimed), the previous request
/// is applied and the worker gets 20 µs to go idle; the trainer spins meanwhile rather than
/// sleeping, so that it stays on its core, as a trainer launching GPU work does.
fn timed_idle_call(executor: &mut PlanExecutor, names: &[&'static str], i: &mut usize) -> Duration {
    if *i == PLAN_LEN {
        executor.step_end().unwrap();
        *i = 0;
    }
    while !executor.is_applied() {
        std::hint::spin_loop();
    }
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_micros(20) {
        std::hint::spin_loop();
    }
    let start = Instant::now();
    executor.instruction_begin(black_box(names[*i])).unwrap();
    let elapsed = start.elapsed();
    *i += 1;
    elapsed
}

/// Each timed call finds the worker idle, as in a real trainer, whose computations last far
/// longer than a setter call (see [`timed_idle_call`]). With the default options the idle worker
/// polls, so the call is an atomic store and load (plus taking the cache line back from the
/// worker, which has just read it); with a zero poll interval the worker sleeps, so the call
/// includes the futex wake. Criterion's statistics average the calls of each sample, so the
/// distribution of single calls is printed too; every figure includes two `Instant::now()`
/// (about 30 ns here, printed as the `empty` line).
fn bench_idle(c: &mut Criterion, nvml: &Nvml, id: &str, options: ExecutorOptions) {
    let gpu = nvml.device("0").unwrap();
    let (plan, names) = plan(true);
    let mut executor = PlanExecutor::with_options(&gpu, plan, options).unwrap();
    let mut i = 0;

    let mut empty: Vec<u128> = (0..20_000)
        .map(|_| {
            let start = Instant::now();
            start.elapsed().as_nanos()
        })
        .collect();
    let mut calls: Vec<u128> = (0..20_000)
        .map(|_| timed_idle_call(&mut executor, &names, &mut i).as_nanos())
        .collect();
    for (what, samples) in [("empty", &mut empty), ("calls", &mut calls)] {
        samples.sort_unstable();
        let at = |q: usize| samples[samples.len() * q / 100];
        eprintln!(
            "{id}: 20000 single {what}: median {} ns, p10 {} ns, p90 {} ns, p99 {} ns",
            at(50),
            at(10),
            at(90),
            at(99)
        );
    }

    c.bench_function(id, |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| timed_idle_call(&mut executor, &names, &mut i))
                .sum()
        });
    });
    executor.rewind();
    executor.shutdown().unwrap();
}

fn bench_instruction_begin(c: &mut Criterion) {
    let library = match build_fake() {
        Ok(library) => library,
        Err(reason) => {
            eprintln!("skipping the executor benchmark: {reason}");
            return;
        }
    };
    // SAFETY: no other thread of this process reads or writes the environment at this point
    // (criterion runs benchmark functions one after the other on the main thread, and the
    // executor's worker threads are started only below and stopped before the next change).
    unsafe {
        std::env::set_var("ERGON_NVML_LIBRARY", &library);
        for key in ["FAKE_NVML_LOG", "FAKE_NVML_STATE", "FAKE_NVML_FAULT_AT"] {
            std::env::remove_var(key);
        }
        std::env::remove_var("FAKE_NVML_SET_DELAY_MS");
    }
    let nvml = Nvml::init().unwrap();
    bench_one(c, &nvml, "instruction_begin/changing", true);
    bench_idle(
        c,
        &nvml,
        "instruction_begin/changing_idle_worker",
        ExecutorOptions::default(),
    );
    bench_idle(
        c,
        &nvml,
        "instruction_begin/changing_idle_worker_wake_mode",
        ExecutorOptions {
            poll_interval: Duration::ZERO,
            ..ExecutorOptions::default()
        },
    );
    bench_one(c, &nvml, "instruction_begin/unchanged", false);
    // SAFETY: as above; the previous executor's worker has been joined.
    unsafe { std::env::set_var("FAKE_NVML_SET_DELAY_MS", "10") };
    bench_one(c, &nvml, "instruction_begin/changing_10ms_setter", true);
    // SAFETY: as above.
    unsafe { std::env::remove_var("FAKE_NVML_SET_DELAY_MS") };
}

criterion_group!(benches, bench_instruction_begin);
criterion_main!(benches);
