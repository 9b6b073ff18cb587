//! The Zeus power-limit optimizer (`ergon_hwctl::PowerLimitOptimizer`) against the fake NVML
//! library (`tests/fake-nvml/fake_nvml.c`), each scenario in a child process (see `support`):
//! the exact NVML call sequence of a whole profiling run, the optimum applied and the profile
//! saved and reused, a fault injected at every NVML call position ending with every setting
//! restored, the aggregate callback deciding the optimum, and non-homogeneous GPUs refused.
//!
//! Needs a C compiler (`$CC`, default `cc`); the fake is built into `CARGO_TARGET_TMPDIR`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ergon_core::zeus::{PowerLimitOptions, PowerLimitState, Selector};
use ergon_hwctl::{
    EnergyMethod, EnergyOptions, GuardOptions, Nvml, PowerLimitOptimizer, StateFile, WindowTotals,
    ZeroDelta, ZeusError, ZeusOptions,
};
use support::{Scenario, assert_every_fault_restores, lines, open_gpu, param, report};

/// GPU 0 (an A100 of the fake: 100–400 W) starts at 300 W with persistence off, so that the
/// restore must bring back 300 W, not the maximum the reference resets to.
const INITIAL: [&str; 1] =
    ["gpu=0 gpu_locked=none mem_locked=none power_limit_mw=300000 persistence=0"];

fn scenario(name: &'static str) -> Scenario {
    Scenario::new(name)
        .initial_state(&INITIAL)
        // The GPU draws 250 W, capped by the limit: 250, 250 and 100 W at 400, 250, 100 W.
        .env("FAKE_NVML_POWER_W", "250")
}

/// Candidates 400, 250 and 100 W; no wait, one warm-up and two measured steps each.
fn options() -> ZeusOptions {
    ZeusOptions {
        schedule: PowerLimitOptions {
            wait_steps: 0,
            warmup_steps: 1,
            profile_steps: 2,
            step_mw: 150_000,
        },
        selector: Selector::Energy,
        // The counter, and no extra power reading for a zero difference: a fixed call sequence.
        energy: EnergyOptions {
            method: Some(EnergyMethod::Counter),
            zero_delta: ZeroDelta::Keep,
            ..EnergyOptions::default()
        },
        ..ZeusOptions::default()
    }
}

/// True in the test process itself, false in a scenario's child (which runs the test function
/// again from its start): files the parent prepares must not be touched by the child.
fn in_parent() -> bool {
    std::env::var("HWCTL_TEST_SCENARIO").is_err()
}

/// A fresh folder for a test's files (parent side only).
fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if in_parent() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
    }
    dir
}

/// One training step: 20 ms of "work".
fn step(plo: &mut PowerLimitOptimizer) -> Result<(), ZeusError> {
    plo.on_step_begin()?;
    std::thread::sleep(Duration::from_millis(20));
    Ok(())
}

/// Runs steps until the optimizer is done (at most 50), reporting what it chose.
fn run_to_done(plo: &mut PowerLimitOptimizer) -> Result<(), ZeusError> {
    for _ in 0..50 {
        if plo.optimal_limit_mw().is_some() {
            break;
        }
        step(plo)?;
    }
    report(format!("optimum {:?}", plo.optimal_limit_mw()));
    Ok(())
}

#[test]
fn a_profiling_run_makes_exactly_these_calls() {
    let run = scenario("a_profiling_run_makes_exactly_these_calls").run(|| {
        let gpu = open_gpu("0");
        let mut plo = PowerLimitOptimizer::new(&[gpu], options()).unwrap();
        run_to_done(&mut plo).unwrap();
        // Done: further steps and epoch ends make no call.
        step(&mut plo).unwrap();
        plo.on_epoch_end().unwrap();
        let profile: Vec<u32> = plo.profile().iter().map(|m| m.power_limit_mw).collect();
        report(format!("profiled {profile:?}"));
        drop(plo);
    });
    // Energy: 250 W × 40 ms at 400 and 250 W, 100 W × 40 ms at 100 W: 100 W wins.
    assert_eq!(
        run.report(),
        ["optimum Some(100000)", "profiled [400000, 250000, 100000]"]
    );
    let log: Vec<String> = run
        .log()
        .into_iter()
        .filter(|l| !l.starts_with("nvmlInit") && !l.starts_with("nvmlShutdown"))
        .collect();
    assert_eq!(
        log,
        lines(
            "nvmlDeviceGetHandleByIndex_v2 index=0 -> SUCCESS
             nvmlDeviceGetPowerManagementLimitConstraints dev=0 -> SUCCESS
             nvmlDeviceGetTotalEnergyConsumption dev=0 -> SUCCESS
             nvmlDeviceGetPersistenceMode dev=0 -> SUCCESS
             nvmlDeviceGetUUID dev=0 -> SUCCESS
             nvmlDeviceGetPersistenceMode dev=0 -> SUCCESS
             nvmlDeviceSetPersistenceMode dev=0 mode=1 -> SUCCESS
             nvmlDeviceGetPowerManagementLimit dev=0 -> SUCCESS
             nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=400000 -> SUCCESS
             nvmlDeviceGetTotalEnergyConsumption dev=0 -> SUCCESS
             nvmlDeviceGetTotalEnergyConsumption dev=0 -> SUCCESS
             nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=250000 -> SUCCESS
             nvmlDeviceGetTotalEnergyConsumption dev=0 -> SUCCESS
             nvmlDeviceGetTotalEnergyConsumption dev=0 -> SUCCESS
             nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=100000 -> SUCCESS
             nvmlDeviceGetTotalEnergyConsumption dev=0 -> SUCCESS
             nvmlDeviceGetTotalEnergyConsumption dev=0 -> SUCCESS
             nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=300000 -> SUCCESS
             nvmlDeviceSetPersistenceMode dev=0 mode=0 -> SUCCESS"
        )
    );
    assert_eq!(run.state(), INITIAL);
}

/// A whole run that reports errors instead of panicking (for the fault injection).
fn tolerant_run() {
    let run = || -> Result<(), String> {
        let gpu = Nvml::init()
            .and_then(|nvml| nvml.device("0"))
            .map_err(|e| format!("open: {e}"))?;
        let mut plo =
            PowerLimitOptimizer::new(&[gpu], options()).map_err(|e| format!("new: {e}"))?;
        run_to_done(&mut plo).map_err(|e| format!("step: {e}"))?;
        plo.stop().map_err(|e| format!("stop: {e}"))
    };
    if let Err(error) = run() {
        report(format!("error: {error}"));
    }
}

#[test]
fn a_fault_at_any_call_restores_every_setting() {
    let clean = assert_every_fault_restores(
        || scenario("a_fault_at_any_call_restores_every_setting"),
        tolerant_run,
        21,
        &["GPU_IS_LOST", "TIMEOUT"],
        &INITIAL,
    );
    assert_eq!(clean.report(), ["optimum Some(100000)"]);
}

#[test]
fn the_profile_is_saved_and_a_later_job_skips_profiling() {
    let name = "the_profile_is_saved_and_a_later_job_skips_profiling";
    let body = || {
        let profile_path = std::path::PathBuf::from(param());
        let gpu = open_gpu("0");
        let options = ZeusOptions {
            profile_path: Some(profile_path),
            ..options()
        };
        let mut plo = PowerLimitOptimizer::new(&[gpu], options).unwrap();
        report(format!("state {:?}", plo.state()));
        run_to_done(&mut plo).unwrap();
        // The optimum is held while the job runs.
        report(
            std::fs::read_to_string(std::env::var("FAKE_NVML_STATE").unwrap())
                .unwrap()
                .trim(),
        );
    };
    let dir = fresh_dir("zeus-profile");
    let path = dir.join("profile.json");
    let first = scenario(name).param(path.to_str().unwrap()).run(body);
    let held = "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=100000 persistence=1";
    assert_eq!(first.report()[1..], ["optimum Some(100000)", held]);
    let saved = std::fs::read_to_string(&path).unwrap();
    assert!(
        saved.starts_with(
            "{\"schema\":\"zeus-power-profile/v1\",\"measurements\":[{\"power_limit_mw\":400000,"
        ),
        "{saved}"
    );
    assert_eq!(first.state(), INITIAL);
    // The second job reads it: Done at once, and its only limit change is the optimum.
    let second = scenario(name).param(path.to_str().unwrap()).run(body);
    assert_eq!(
        second.report(),
        [
            format!(
                "state {:?}",
                PowerLimitState::Done {
                    optimal_limit_mw: 100_000
                }
            )
            .as_str(),
            "optimum Some(100000)",
            held
        ]
    );
    let sets: Vec<String> = second
        .log()
        .into_iter()
        .filter(|l| l.starts_with("nvmlDeviceSetPowerManagementLimit"))
        .collect();
    assert_eq!(
        sets,
        lines(
            "nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=100000 -> SUCCESS
             nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=300000 -> SUCCESS"
        )
    );
}

#[test]
fn a_profile_of_another_gpu_model_is_refused() {
    let dir = fresh_dir("zeus-profile-other");
    let path = dir.join("profile.json");
    std::fs::write(
        &path,
        "{\"schema\":\"zeus-power-profile/v1\",\"measurements\":[{\"power_limit_mw\":700000,\"energy_j\":1,\"time_s\":1}]}",
    )
    .unwrap();
    let refused = scenario("a_profile_of_another_gpu_model_is_refused")
        .param(path.to_str().unwrap())
        .run(|| {
            let options = ZeusOptions {
                profile_path: Some(param().into()),
                ..options()
            };
            let error = PowerLimitOptimizer::new(&[open_gpu("0")], options).unwrap_err();
            report(error.to_string());
        });
    assert_eq!(
        refused.report(),
        [format!(
            "power-limit profile {}: the power-limit profile measured 700000 mW, outside this GPU's \
             settable range 100000..=400000 mW (a profile of another GPU model?)",
            path.display()
        )]
    );
    assert_eq!(refused.state(), INITIAL);
}

#[test]
fn the_aggregate_decides_and_two_gpus_are_summed() {
    let run = scenario("the_aggregate_decides_and_two_gpus_are_summed")
        .gpus(2)
        .initial_state(&[
            INITIAL[0],
            "gpu=1 gpu_locked=none mem_locked=none power_limit_mw=300000 persistence=0",
        ])
        .run(|| {
            let nvml = Nvml::init().unwrap();
            let gpus = [nvml.device("0").unwrap(), nvml.device("1").unwrap()];
            let mut plo = PowerLimitOptimizer::new(&gpus, options()).unwrap();
            // "The other ranks" draw a lot after the first window: 400 W is the least energy.
            let mut windows = 0;
            plo.set_aggregate(Some(Box::new(move |local: WindowTotals| {
                report(format!("local {:.0}", local.energy_j / local.time_s));
                windows += 1;
                let other_j = if windows == 1 { 0.0 } else { 1e6 };
                Ok(WindowTotals {
                    energy_j: local.energy_j + other_j,
                    time_s: local.time_s,
                })
            })));
            run_to_done(&mut plo).unwrap();
            let state = std::fs::read_to_string(std::env::var("FAKE_NVML_STATE").unwrap()).unwrap();
            report(state.trim().replace('\n', "; "));
        });
    // Local power: two GPUs at 250 W each (500 W), then 200 W at 100 W.
    let report = run.report();
    assert_eq!(
        report[..3],
        ["local 500", "local 500", "local 200"],
        "{report:?}"
    );
    assert_eq!(report[3], "optimum Some(400000)");
    assert_eq!(
        report[4],
        "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=400000 persistence=1; \
         gpu=1 gpu_locked=none mem_locked=none power_limit_mw=400000 persistence=1"
    );
}

#[test]
fn a_failing_aggregate_stops_and_restores() {
    let failed = scenario("a_failing_aggregate_stops_and_restores").run(|| {
        let mut plo = PowerLimitOptimizer::new(&[open_gpu("0")], options()).unwrap();
        plo.set_aggregate(Some(Box::new(|_| Err("all_reduce timed out".into()))));
        let error = run_to_done(&mut plo).unwrap_err();
        report(error.to_string());
        report(format!(
            "{:?}",
            plo.on_step_begin().unwrap_err().to_string()
        ));
    });
    assert_eq!(
        failed.report(),
        [
            "aggregating the window of 400000 mW across ranks failed (power-limit optimizer \
             stopped, GPU settings restored): all_reduce timed out",
            "\"the power-limit optimizer was stopped: on_step_begin cannot continue it\""
        ]
    );
    assert_eq!(failed.state(), INITIAL);
}

#[test]
fn non_homogeneous_gpus_and_bad_options_are_refused_before_any_change() {
    let run = Scenario::new("non_homogeneous_gpus_and_bad_options_are_refused_before_any_change")
        .gpus(2)
        .env("FAKE_NVML_ARCH", "ampere,hopper")
        .run(|| {
            let nvml = Nvml::init().unwrap();
            let gpus = [nvml.device("0").unwrap(), nvml.device("1").unwrap()];
            report(
                PowerLimitOptimizer::new(&gpus, options())
                    .unwrap_err()
                    .to_string(),
            );
            report(
                PowerLimitOptimizer::new(&[], options())
                    .unwrap_err()
                    .to_string(),
            );
            let bad = ZeusOptions {
                selector: Selector::MaxSlowdown { factor: 0.5 },
                ..options()
            };
            report(
                PowerLimitOptimizer::new(&gpus[..1], bad)
                    .unwrap_err()
                    .to_string(),
            );
        });
    let report = run.report();
    assert!(
        report[0].starts_with("the GPUs are not homogeneous: ")
            && report[0].contains("allows 100000..=400000 mW")
            && report[0].contains("allows 200000..=700000 mW"),
        "{report:?}"
    );
    assert_eq!(
        report[1],
        "the power-limit optimizer needs at least one GPU"
    );
    assert_eq!(
        report[2],
        "power-limit optimizer option `max_slowdown` = 0.5: must be a finite number of at least 1"
    );
    assert!(
        !run.log().iter().any(|l| l.contains("Set")),
        "{:?}",
        run.log()
    );
}

#[test]
fn a_persistent_guard_records_the_originals_in_the_state_file() {
    let dir = fresh_dir("zeus-state-dir");
    let run = scenario("a_persistent_guard_records_the_originals_in_the_state_file")
        .param(dir.to_str().unwrap())
        .run(|| {
            let file = StateFile::new(std::path::Path::new(&param()).join("gpu-state.json"));
            let options = ZeusOptions {
                guard: Some(GuardOptions {
                    state_file: Some(file.clone()),
                    restore_on_signal: true,
                }),
                ..options()
            };
            let mut plo = PowerLimitOptimizer::new(&[open_gpu("0")], options).unwrap();
            step(&mut plo).unwrap();
            for entry in file.entries().unwrap() {
                report(format!("{}", entry.record.setting));
            }
            drop(plo);
            report(format!("after drop {}", file.entries().unwrap().len()));
        });
    assert_eq!(
        run.report(),
        [
            "persistence mode (originally off)",
            "power limit (originally 300000 mW)",
            "after drop 0"
        ]
    );
    assert_eq!(run.state(), INITIAL);
}
