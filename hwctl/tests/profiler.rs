//! `Profiler` against the fake NVML's power model (`FAKE_NVML_IDLE_W`), each scenario in a child
//! process (see `support`). The computations are the fake's own `fakeNvmlRun`, whose duration
//! and power depend on the locked clock, so the profile must follow the model: times grow as
//! `t(f)`, the energy per computation is `P(f) · t`, P_blocking is the idle power, and the
//! sweep stops at the first clock slower than `max_slowdown` times the fastest.
//!
//! Sleeps overshoot on a loaded machine, so times are checked from below exactly (a computation
//! cannot be faster than the model) and from above with a margin; energy is checked as mean
//! power (energy / time), which the overshoot does not change because the fake draws the busy
//! power for as long as the computation really lasts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/fake_model.rs"]
mod fake_model;
mod support;

use std::time::Duration;

use ergon_hwctl::{Profiler, ProfilerError, ProfilerOptions, ProfilerStatus};
use fake_model::FakeModel;
use support::{Scenario, open_gpu, report};

const IDLE_W: f64 = 60.0;
const MAX_W: f64 = 300.0;
/// Durations at the maximum clock of the two instructions, s.
const FORWARD_S: f64 = 0.04;
const BACKWARD_S: f64 = 0.08;

fn model_scenario(name: &'static str) -> Scenario {
    Scenario::new(name)
        .env("FAKE_NVML_ARCH", "ampere")
        .env("FAKE_NVML_IDLE_W", IDLE_W.to_string())
        .env("FAKE_NVML_POWER_W", MAX_W.to_string())
}

fn options() -> ProfilerOptions {
    ProfilerOptions {
        warmup_iters: 1,
        iters_per_clock: 2,
        step_mhz: 300,
        // Ampere's 1410 MHz maximum: 1410, 1110, 810, 510, 210. The model's slowdown is
        // 0.3 + 0.7 · 1410 / f: 1.19 at 1110, 1.52 at 810, so 1.4 stops after 810.
        max_slowdown: 1.4,
        blocking_window: Duration::from_millis(300),
        ..ProfilerOptions::default()
    }
}

/// One training iteration: two microbatches, forward then backward.
fn iteration(profiler: &mut Profiler, model: &FakeModel) -> ProfilerStatus {
    for (name, seconds) in [
        ("forward", FORWARD_S),
        ("forward", FORWARD_S),
        ("backward", BACKWARD_S),
        ("backward", BACKWARD_S),
    ] {
        profiler.instruction_begin(name).unwrap();
        model.run(0, seconds);
        profiler.instruction_end(name).unwrap();
    }
    profiler.step_end().unwrap()
}

#[test]
fn profile_follows_the_fake_power_model() {
    let name = "profile_follows_the_fake_power_model";
    let run = model_scenario(name).run(|| {
        let model = FakeModel::load();
        let gpu = open_gpu("0");
        let mut profiler = Profiler::new(&gpu, 3, options()).unwrap();
        assert_eq!(profiler.clocks(), [1410, 1110, 810, 510, 210]);
        let syncs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&syncs);
        profiler.set_sync(Some(Box::new(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })));
        let first = profiler.progress();
        assert_eq!(
            (first.freq_mhz, first.iters_left, first.eta_s),
            (1410, 15, None)
        );
        let mut iterations = 0;
        while iteration(&mut profiler, &model) == ProfilerStatus::Running {
            iterations += 1;
            let progress = profiler.progress();
            assert!(progress.eta_s.is_some_and(|eta| eta > 0.0), "{progress:?}");
            assert!(iterations < 20, "profiling does not end");
        }
        assert!(profiler.is_done() && profiler.progress().done);
        // 3 clocks of 3 iterations; syncs around the 4 computations of the 6 measured ones,
        // and one before the blocking window.
        assert_eq!(iterations + 1, 9);
        assert_eq!(syncs.load(std::sync::atomic::Ordering::Relaxed), 6 * 8 + 1);
        report(format!("p_blocking {}", profiler.p_blocking_w().unwrap()));
        for entry in profiler.profile() {
            let base = if entry.instruction == "forward" {
                FORWARD_S
            } else {
                BACKWARD_S
            };
            report(format!(
                "entry {} {} {} {} {} {} {}",
                entry.instruction,
                entry.freq_mhz,
                entry.time_s,
                entry.energy_j,
                entry.samples,
                model.seconds(0, entry.freq_mhz, base),
                model.power_w(0, entry.freq_mhz),
            ));
        }
        report(format!(
            "csv {}",
            profiler.to_csv().unwrap().replace('\n', ";")
        ));
        // Every call after the end names the call.
        assert!(matches!(
            profiler.instruction_begin("forward"),
            Err(ProfilerError::Finished {
                call: "instruction_begin"
            })
        ));
        assert!(matches!(
            profiler.step_end(),
            Err(ProfilerError::Finished { .. })
        ));
    });
    let report = run.report();
    let p_blocking: f64 = report[0]
        .strip_prefix("p_blocking ")
        .unwrap()
        .parse()
        .unwrap();
    assert!((p_blocking - IDLE_W).abs() < 0.05 * IDLE_W, "{report:?}");
    let entries: Vec<Vec<&str>> = report
        .iter()
        .filter_map(|l| l.strip_prefix("entry "))
        .map(|l| l.split(' ').collect())
        .collect();
    let clocks: Vec<&str> = entries.iter().map(|e| e[1]).collect();
    assert_eq!(
        clocks,
        ["1410", "1410", "1110", "1110", "810", "810"],
        "{report:?}"
    );
    for e in &entries {
        let [time_s, energy_j, samples, model_s, model_w] =
            [e[2], e[3], e[4], e[5], e[6]].map(|v| v.parse::<f64>().unwrap());
        assert_eq!(
            samples, 4.0,
            "2 microbatches × 2 measured iterations: {e:?}"
        );
        assert!(
            time_s >= model_s * 0.99 && time_s <= model_s * 1.3 + 0.01,
            "time {time_s} s vs the model's {model_s} s: {e:?}"
        );
        let power_w = energy_j / time_s;
        assert!(
            (power_w - model_w).abs() <= 0.08 * model_w,
            "mean power {power_w} W vs the model's {model_w} W: {e:?}"
        );
    }
    // Slower clocks take longer and draw less.
    let forward: Vec<f64> = entries
        .iter()
        .filter(|e| e[0] == "forward")
        .map(|e| e[2].parse().unwrap())
        .collect();
    assert!(forward.windows(2).all(|w| w[1] > w[0]), "{forward:?}");
    // The CSV carries the stage and every row.
    let csv = report.iter().find_map(|l| l.strip_prefix("csv ")).unwrap();
    let rows: Vec<&str> = csv.split(';').filter(|l| !l.is_empty()).collect();
    assert_eq!(rows[0], "stage,instruction,frequency,time,energy");
    assert_eq!(rows.len(), 7);
    assert!(rows[1].starts_with("3,forward,1410,"), "{rows:?}");
    // The clocks were locked in order, then everything restored.
    let locks: Vec<String> = run
        .log()
        .iter()
        .filter(|l| l.starts_with("nvmlDeviceSetGpuLockedClocks"))
        .cloned()
        .collect();
    assert_eq!(
        locks,
        [
            "nvmlDeviceSetGpuLockedClocks dev=0 min=1410 max=1410 -> SUCCESS",
            "nvmlDeviceSetGpuLockedClocks dev=0 min=1110 max=1110 -> SUCCESS",
            "nvmlDeviceSetGpuLockedClocks dev=0 min=810 max=810 -> SUCCESS",
        ]
    );
    // Computations ran at the locked clocks: 12 per clock (3 iterations × 4).
    let runs: Vec<String> = run
        .log()
        .iter()
        .filter(|l| l.starts_with("fakeNvmlRun"))
        .map(|l| l.split(' ').nth(2).unwrap().to_owned())
        .collect();
    assert_eq!(runs.len(), 36);
    assert!(runs[..12].iter().all(|m| m == "mhz=1410"), "{runs:?}");
    assert!(runs[24..].iter().all(|m| m == "mhz=810"), "{runs:?}");
    run.assert_default_state(&[400]);
}

#[test]
fn misuse_is_refused_and_drop_restores() {
    let name = "misuse_is_refused_and_drop_restores";
    let run = model_scenario(name).run(|| {
        let model = FakeModel::load();
        let gpu = open_gpu("0");
        let mut profiler = Profiler::new(
            &gpu,
            0,
            ProfilerOptions {
                warmup_iters: 0,
                ..options()
            },
        )
        .unwrap();
        let errors = [
            profiler.instruction_end("forward").unwrap_err(),
            profiler.instruction_begin("for,ward").unwrap_err(),
            profiler.instruction_begin("").unwrap_err(),
            {
                profiler.instruction_begin("forward").unwrap();
                profiler.instruction_begin("backward").unwrap_err()
            },
            profiler.instruction_end("backward").unwrap_err(),
            profiler.step_end().unwrap_err(),
        ];
        for error in errors {
            report(error.to_string());
        }
        // The open instruction is still open and ends normally.
        model.run(0, 0.01);
        profiler.instruction_end("forward").unwrap();
        assert_eq!(profiler.step_end().unwrap(), ProfilerStatus::Running);
        report(format!("{:?}", profiler.progress().freq_mhz));
        let bad = Profiler::new(
            &gpu,
            0,
            ProfilerOptions {
                min_mhz: 5000,
                ..options()
            },
        )
        .unwrap_err();
        report(bad.to_string());
        // Dropped in the middle of profiling: the settings go back.
        drop(profiler);
        report(std::fs::read_to_string(std::env::var("FAKE_NVML_STATE").unwrap()).unwrap());
    });
    let report = run.report();
    assert_eq!(
        &report[..7],
        [
            "instruction_end(\"forward\") without an instruction_begin",
            "instruction name \"for,ward\": an instruction name must not contain a comma, a quote \
             or a control character",
            "instruction name \"\": an instruction name must not be empty",
            "instruction_begin(\"backward\") while \"forward\" is still open (missing \
             instruction_end?)",
            "instruction_end(\"backward\") while \"forward\" is open",
            "step_end while instruction \"forward\" is open (missing instruction_end?)",
            "1410",
        ]
    );
    assert_eq!(
        report[7],
        "GPU 0 supports no graphics clock at or above min_mhz = 5000 (its highest is 1410 MHz)"
    );
    assert!(report[8].contains("gpu_locked=none mem_locked=none power_limit_mw=400000"));
    run.assert_default_state(&[400]);
}

/// The numbers of the first line a scenario reported.
fn numbers(outcome: &support::Outcome) -> Vec<f64> {
    outcome.report()[0]
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect()
}

/// The fake's own formulas (the ones every harness predicts with): P(f) and t(f) at chosen
/// points, the clamping of clocks, the defaults without FAKE_NVML_IDLE_W, and the idle power
/// on the energy counter.
#[test]
fn fake_power_model_formulas() {
    let name = "fake_power_model_formulas";
    let body = || {
        let model = FakeModel::load();
        let gpu = open_gpu("0");
        // The mean power between two counter reads, bracketed by the instants around the reads
        // (a thread descheduled next to a read widens the bracket instead of biasing a value):
        // "low high", W.
        let counter = |sleep_ms: u64| {
            let outer_start = std::time::Instant::now();
            let before = gpu.total_energy_mj().unwrap();
            let inner_start = std::time::Instant::now();
            std::thread::sleep(Duration::from_millis(sleep_ms));
            let inner_s = inner_start.elapsed().as_secs_f64();
            let after = gpu.total_energy_mj().unwrap();
            let outer_s = outer_start.elapsed().as_secs_f64();
            let energy_j = (after - before) as f64 / 1000.0;
            format!("{} {}", energy_j / outer_s, energy_j / inner_s)
        };
        report(format!(
            "{} {} {} {} {} {} {}",
            model.power_w(0, 705),
            model.power_w(0, 5000),
            model.power_w(0, 0),
            model.seconds(0, 705, 1.0),
            model.seconds(0, 1410, 1.0),
            model.power_w(7, 705),
            counter(200),
        ));
    };
    let with_model = model_scenario(name).param("model").run(body);
    let fields = numbers(&with_model);
    // 60 + 240 · (705/1410)² = 120 W; the clock clamps to 1410 and to the lowest, 210 MHz.
    assert!((fields[0] - 120.0).abs() < 1e-9, "{fields:?}");
    assert!((fields[1] - 300.0).abs() < 1e-9, "{fields:?}");
    assert!(
        (fields[2] - (60.0 + 240.0 * (210.0f64 / 1410.0).powi(2))).abs() < 1e-9,
        "{fields:?}"
    );
    // 0.3 + 0.7 · 1410/705 = 1.7 s; unchanged at the maximum clock.
    assert!((fields[3] - 1.7).abs() < 1e-12 && (fields[4] - 1.0).abs() < 1e-12);
    assert_eq!(fields[5], -1.0, "a GPU that does not exist");
    // Idle, the counter advances at 60 W (within its bracket, ± 0.5 W of rounding).
    assert!(
        fields[6] - 0.5 <= 60.0 && 60.0 <= fields[7] + 0.5,
        "{fields:?}"
    );

    // Other exponent and memory-bound fraction.
    let tuned = model_scenario(name)
        .env("FAKE_NVML_POWER_EXP", "1")
        .env("FAKE_NVML_MEMORY_BOUND", "0")
        .param("tuned")
        .run(body);
    let fields = numbers(&tuned);
    assert!((fields[0] - 180.0).abs() < 1e-9, "{fields:?}");
    assert!((fields[3] - 2.0).abs() < 1e-12, "{fields:?}");

    // Without FAKE_NVML_IDLE_W: FAKE_NVML_POWER_W always, durations unchanged.
    let plain = Scenario::new(name)
        .env("FAKE_NVML_POWER_W", "300")
        .param("plain")
        .run(body);
    let fields = numbers(&plain);
    assert_eq!(&fields[..5], [300.0, 300.0, 300.0, 1.0, 1.0]);
    assert!(
        fields[6] - 0.5 <= 300.0 && 300.0 <= fields[7] + 0.5,
        "{fields:?}"
    );
}
