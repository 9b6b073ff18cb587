//! `PlanExecutor` against the fake NVML library (`tests/fake-nvml/fake_nvml.c`), each scenario in
//! a child process (see `support`): the exact NVML call sequence of a 2-iteration plan (startup,
//! the locks in order, skip-if-unchanged, shutdown), plan violations as typed errors, worker
//! errors surfacing on `step_end`, a fault injected at every NVML call position ending with every
//! setting restored, the hot path not waiting for slow setters, and startup on GPUs that lack a
//! feature.
//!
//! Needs a C compiler (`$CC`, default `cc`); the fake is built into `CARGO_TARGET_TMPDIR`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use ergon_hwctl::{
    Error, ExecutorError, ExecutorOptions, GuardOptions, Nvml, PlanExecutor, StagePlan, StateFile,
};
use support::{
    Scenario, assert_ends_with, assert_every_fault_restores, assert_restored_after_panic, lines,
    open_gpu, param, report,
};

/// GPU 0 starts with a power limit below its 400 W default, so that the startup changes it and
/// the restore must bring back 300 W, not the default.
const INITIAL: [&str; 1] =
    ["gpu=0 gpu_locked=none mem_locked=none power_limit_mw=300000 persistence=0"];

/// One iteration: 1410 is the startup lock (skipped), 1200 once (the second 1200 is skipped),
/// 0 leaves the clock alone, 1410 again. The next iteration starts at 1410 (skipped).
const PLAN: [(&str, u32); 5] = [
    ("forward", 1410),
    ("forward", 1200),
    ("backward", 1200),
    ("backward", 0),
    ("backward", 1410),
];

/// The fake's state file as the child sees it now.
fn current_state() -> String {
    let path = std::env::var("FAKE_NVML_STATE").unwrap();
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

fn scenario(name: &'static str) -> Scenario {
    Scenario::new(name).initial_state(&INITIAL)
}

/// An executor of `plan` on GPU 0 with the default options (child side).
fn planned<const N: usize>(plan: [(&str, u32); N]) -> PlanExecutor {
    PlanExecutor::new(&open_gpu("0"), StagePlan::new(plan).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The call sequence

/// The worker's waiting: polling (the default) or woken on every request.
fn options() -> ExecutorOptions {
    match param().as_str() {
        "wake" => ExecutorOptions {
            poll_interval: Duration::ZERO,
            ..ExecutorOptions::default()
        },
        _ => ExecutorOptions::default(),
    }
}

#[test]
fn two_iterations_make_exactly_these_calls() {
    for mode in ["poll", "wake"] {
        two_iterations(mode);
    }
}

fn two_iterations(mode: &str) {
    let run = scenario("two_iterations_make_exactly_these_calls")
        .param(mode)
        .run(|| {
            let gpu = open_gpu("0");
            let plan = StagePlan::new(PLAN).unwrap();
            let mut executor = PlanExecutor::with_options(&gpu, plan, options()).unwrap();
            assert_eq!(executor.max_mhz(), 1410);
            report(format!("after startup: {}", current_state()));
            for step in 0..2 {
                let mut requested = Vec::new();
                for (name, _) in PLAN {
                    executor.instruction_begin(name).unwrap();
                    executor.wait_applied().unwrap();
                    executor.instruction_end();
                    requested.push(executor.requested_mhz().to_string());
                }
                executor.step_end().unwrap();
                report(format!("step {step}: {}", requested.join(" ")));
            }
            report(format!("before shutdown: {}", current_state()));
            executor.shutdown().unwrap();
        });
    assert_eq!(
        run.report(),
        [
            "after startup: gpu=0 gpu_locked=1410:1410 mem_locked=1215:1215 \
             power_limit_mw=400000 persistence=0",
            "step 0: 1410 1200 1200 1200 1410",
            "step 1: 1410 1200 1200 1200 1410",
            "before shutdown: gpu=0 gpu_locked=1410:1410 mem_locked=1215:1215 \
             power_limit_mw=400000 persistence=0",
        ]
    );
    assert_eq!(
        run.log(),
        lines(
            "nvmlInit_v2 -> SUCCESS
             nvmlDeviceGetHandleByIndex_v2 index=0 -> SUCCESS
             nvmlDeviceGetSupportedMemoryClocks dev=0 -> SUCCESS
             nvmlDeviceGetSupportedGraphicsClocks dev=0 mem=1215 -> SUCCESS
             nvmlDeviceGetPowerManagementDefaultLimit dev=0 -> SUCCESS
             nvmlDeviceGetUUID dev=0 -> SUCCESS
             nvmlDeviceGetPowerManagementLimit dev=0 -> SUCCESS
             nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=400000 -> SUCCESS
             nvmlDeviceSetMemoryLockedClocks dev=0 min=1215 max=1215 -> SUCCESS
             nvmlDeviceSetGpuLockedClocks dev=0 min=1410 max=1410 -> SUCCESS
             nvmlDeviceSetGpuLockedClocks dev=0 min=1200 max=1200 -> SUCCESS
             nvmlDeviceSetGpuLockedClocks dev=0 min=1410 max=1410 -> SUCCESS
             nvmlDeviceSetGpuLockedClocks dev=0 min=1200 max=1200 -> SUCCESS
             nvmlDeviceSetGpuLockedClocks dev=0 min=1410 max=1410 -> SUCCESS
             nvmlDeviceResetGpuLockedClocks dev=0 -> SUCCESS
             nvmlDeviceResetMemoryLockedClocks dev=0 -> SUCCESS
             nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=300000 -> SUCCESS
             nvmlShutdown -> SUCCESS"
        )
    );
    assert_eq!(run.state(), INITIAL);
}

/// A plan set within an iteration waits for its end (an iteration never runs part of two
/// plans); between iterations the GPU runs at the plan's highest clock; a plan with a clock the
/// GPU lacks is refused and the current one stays.
#[test]
fn a_new_plan_takes_effect_at_the_next_iteration_boundary() {
    let run = scenario("a_new_plan_takes_effect_at_the_next_iteration_boundary").run(|| {
        let gpu = open_gpu("0");
        let first = StagePlan::new([("forward", 1200), ("backward", 1100)]).unwrap();
        let second = StagePlan::new([("forward", 1000), ("backward", 1300)]).unwrap();
        let mut executor = PlanExecutor::with_options(&gpu, first.clone(), options()).unwrap();
        let clocks = |executor: &mut PlanExecutor, names: &[&str]| {
            let mut got = Vec::new();
            for name in names {
                executor.instruction_begin(name).unwrap();
                executor.wait_applied().unwrap();
                got.push(executor.requested_mhz().to_string());
            }
            executor.step_end().unwrap();
            executor.wait_applied().unwrap();
            got.push(format!("| {}", executor.requested_mhz()));
            got.join(" ")
        };
        executor.instruction_begin("forward").unwrap();
        executor.wait_applied().unwrap();
        executor.set_plan(second.clone()).unwrap();
        assert_eq!(executor.plan(), &first);
        assert_eq!(executor.pending_plan(), Some(&second));
        // The rest of the iteration still runs the first plan.
        executor.instruction_begin("backward").unwrap();
        executor.wait_applied().unwrap();
        report(format!("first plan ends at {}", executor.requested_mhz()));
        executor.step_end().unwrap();
        executor.wait_applied().unwrap();
        assert_eq!(executor.plan(), &second);
        assert_eq!(executor.pending_plan(), None);
        report(format!(
            "step 1: {}",
            clocks(&mut executor, &["forward", "backward"])
        ));
        let unsupported = StagePlan::new([("forward", 99_999)]).unwrap();
        let error = executor.set_plan(unsupported).unwrap_err();
        assert!(matches!(
            error,
            ExecutorError::UnsupportedFrequency {
                freq_mhz: 99_999,
                ..
            }
        ));
        assert_eq!(executor.plan(), &second);
        // Between iterations the switch is immediate, with the new plan's highest clock.
        executor.set_plan(first.clone()).unwrap();
        executor.wait_applied().unwrap();
        report(format!(
            "switched between iterations: {}",
            executor.requested_mhz()
        ));
        report(format!(
            "step 2: {}",
            clocks(&mut executor, &["forward", "backward"])
        ));
        executor.shutdown().unwrap();
    });
    assert_eq!(
        run.report(),
        [
            "first plan ends at 1100",
            "step 1: 1000 1300 | 1300",
            "switched between iterations: 1200",
            "step 2: 1200 1100 | 1200",
        ]
    );
    let locks: Vec<String> = run
        .log()
        .into_iter()
        .filter(|l| l.starts_with("nvmlDeviceSetGpuLockedClocks"))
        .collect();
    // Startup's 1410, then every change once, in order (1300 ends the first plan's iteration:
    // the new plan's highest clock; the second plan's last instruction is already at 1300).
    let mhz = [1410, 1200, 1100, 1300, 1000, 1300, 1200, 1100, 1200];
    let want: Vec<String> = mhz
        .iter()
        .map(|m| format!("nvmlDeviceSetGpuLockedClocks dev=0 min={m} max={m} -> SUCCESS"))
        .collect();
    assert_eq!(locks, want);
    assert_eq!(run.state(), INITIAL);
}

#[test]
fn dropping_the_executor_restores_like_shutdown() {
    let crash = || {
        let mut executor = planned(PLAN);
        executor.instruction_begin("forward").unwrap();
        executor.instruction_begin("forward").unwrap();
        executor.wait_applied().unwrap();
        panic!("the training step crashed");
    };
    assert_restored_after_panic(
        scenario("dropping_the_executor_restores_like_shutdown"),
        crash,
        &INITIAL,
        &[
            "nvmlDeviceResetGpuLockedClocks",
            "nvmlDeviceResetMemoryLockedClocks",
            "nvmlDeviceSetPowerManagementLimit",
            "nvmlShutdown",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Plan violations

#[test]
fn a_name_mismatch_is_an_error_naming_position_expected_and_got() {
    let run = scenario("a_name_mismatch_is_an_error_naming_position_expected_and_got").run(|| {
        let mut executor = planned([("forward", 1410), ("forward", 1200), ("backward", 1305)]);
        executor.instruction_begin("forward").unwrap();
        let error = executor.instruction_begin("backward").unwrap_err();
        assert!(
            matches!(
                &error,
                ExecutorError::NameMismatch { position: 1, expected, got }
                    if expected == "forward" && got == "backward"
            ),
            "{error:?}"
        );
        report(error.to_string());
        // Nothing advanced, nothing was requested: the same instruction is still expected.
        assert_eq!(executor.position(), 1);
        assert_eq!(executor.requested_mhz(), 1410);
        executor.instruction_begin("forward").unwrap();
        executor.instruction_begin("backward").unwrap();
        let error = executor.instruction_begin("forward").unwrap_err();
        assert!(
            matches!(&error, ExecutorError::PlanExhausted { len: 3, got } if got == "forward"),
            "{error:?}"
        );
        report(error.to_string());
        executor.step_end().unwrap();
        executor.shutdown().unwrap();
    });
    assert_eq!(
        run.report(),
        [
            "plan mismatch at instruction 1: the plan expects \"forward\", the trainer began \
             \"backward\"",
            "plan overrun: the trainer began \"forward\" after all 3 instructions of the stage \
             plan (missing step_end?)",
        ]
    );
    assert_eq!(run.state(), INITIAL);
}

#[test]
fn an_incomplete_iteration_is_an_error_naming_how_many_were_left() {
    let run = scenario("an_incomplete_iteration_is_an_error_naming_how_many_were_left").run(|| {
        let mut executor = planned(PLAN);
        executor.instruction_begin("forward").unwrap();
        executor.instruction_begin("forward").unwrap();
        let error = executor.step_end().unwrap_err();
        assert!(
            matches!(
                &error,
                ExecutorError::Incomplete { done: 2, len: 5, left: 3, next } if next == "backward"
            ),
            "{error:?}"
        );
        report(error.to_string());
        // step_end rewound: the next iteration runs from the start.
        assert_eq!(executor.position(), 0);
        for (name, _) in PLAN {
            executor.instruction_begin(name).unwrap();
        }
        executor.step_end().unwrap();
        executor.shutdown().unwrap();
    });
    assert_eq!(
        run.report(),
        [
            "incomplete iteration: step_end after 2 of the plan's 5 instructions, 3 left (next \
          expected: \"backward\")"
        ]
    );
    assert_eq!(run.state(), INITIAL);
}

#[test]
fn an_unsupported_frequency_is_refused_before_any_change() {
    let run = scenario("an_unsupported_frequency_is_refused_before_any_change").run(|| {
        let gpu = open_gpu("0");
        let plan = StagePlan::new([("forward", 1410), ("backward", 1980)]).unwrap();
        let error = PlanExecutor::new(&gpu, plan).unwrap_err();
        assert!(
            matches!(
                error,
                ExecutorError::UnsupportedFrequency {
                    position: 1,
                    freq_mhz: 1980,
                    min_mhz: 210,
                    max_mhz: 1410,
                    ..
                }
            ),
            "{error:?}"
        );
        report(error.to_string());
    });
    assert_eq!(
        run.report(),
        [
            "instruction 1 (backward) of the stage plan asks for 1980 MHz, outside the graphics \
          clocks GPU 0 supports (210..=1410 MHz)"
        ]
    );
    assert!(
        !run.calls().iter().any(|call| call.contains("Set")),
        "{:?}",
        run.log()
    );
    assert_eq!(run.state(), INITIAL);
}

// ---------------------------------------------------------------------------------------------
// Worker errors and faults

#[test]
fn worker_errors_surface_on_the_next_step_end() {
    // Call 11 is the first lock the worker makes (see two_iterations_make_exactly_these_calls).
    let run = scenario("worker_errors_surface_on_the_next_step_end")
        .env("FAKE_NVML_FAULT_AT", "11:FREQ_NOT_SUPPORTED,13:GPU_IS_LOST")
        .run(|| {
            let mut executor = planned(PLAN);
            for step in 0..2 {
                for (name, _) in PLAN {
                    // Plan checks never depend on the worker.
                    executor.instruction_begin(name).unwrap();
                    executor.wait_applied().unwrap();
                }
                match executor.step_end() {
                    Ok(()) => report(format!("step {step}: ok")),
                    Err(error) => {
                        assert!(
                            matches!(&error, ExecutorError::Worker { errors, dropped: 0 }
                                if errors.len() == 1)
                        );
                        report(format!("step {step}: {error}"));
                    }
                }
            }
            assert!(executor.take_errors().is_empty());
            executor.shutdown().unwrap();
        });
    assert_eq!(
        run.report(),
        [
            "step 0: setting GPU clocks failed on the executor's worker: \
             nvmlDeviceSetGpuLockedClocks on GPU 0: NVML_ERROR_FREQ_NOT_SUPPORTED (24): \
             frequency not supported",
            "step 1: setting GPU clocks failed on the executor's worker: \
             nvmlDeviceSetGpuLockedClocks on GPU 0: the GPU is lost (NVML_ERROR_GPU_IS_LOST): it \
             fell off the bus or is otherwise inaccessible; check nvidia-smi and the kernel log, \
             a GPU reset or reboot may be needed",
        ]
    );
    assert_eq!(run.state(), INITIAL);
}

/// The 2-iteration scenario, tolerating (and reporting) every error.
fn tolerant_plan_run() {
    let run = || -> Result<(), String> {
        let nvml = Nvml::init().map_err(|e| format!("init: {e}"))?;
        let gpu = nvml.device("0").map_err(|e| format!("device: {e}"))?;
        let plan = StagePlan::new(PLAN).map_err(|e| e.to_string())?;
        let mut executor = PlanExecutor::new(&gpu, plan).map_err(|e| e.to_string())?;
        for _ in 0..2 {
            for (name, _) in PLAN {
                executor
                    .instruction_begin(name)
                    .map_err(|e| e.to_string())?;
                executor.wait_applied().map_err(|e| e.to_string())?;
            }
            if let Err(error) = executor.step_end() {
                report(format!("step_end: {error}"));
            }
        }
        executor.shutdown().map_err(|e| format!("shutdown: {e}"))
    };
    if let Err(error) = run() {
        report(format!("error: {error}"));
    }
}

#[test]
fn a_fault_at_any_call_of_plan_execution_restores_every_setting() {
    let name = "a_fault_at_any_call_of_plan_execution_restores_every_setting";
    // Answers that may be transient, so the guard retries a failed restore once. (A restore
    // refused with NO_PERMISSION is not retried, since that answer proves the call changed
    // nothing and would not change on a retry: shutdown reports it as a restore failure.)
    let clean = assert_every_fault_restores(
        || scenario(name),
        tolerant_plan_run,
        18,
        &["GPU_IS_LOST", "TIMEOUT"],
        &INITIAL,
    );
    assert!(clean.report().is_empty(), "{:?}", clean.report());
}

// ---------------------------------------------------------------------------------------------
// Off the hot path

#[test]
fn instruction_begin_does_not_wait_for_slow_setters() {
    // Every setter of the fake takes 200 ms; four frequency changes are requested at once.
    let run = scenario("instruction_begin_does_not_wait_for_slow_setters")
        .env("FAKE_NVML_SET_DELAY_MS", "200")
        .run(|| {
            let mut executor = planned([
                ("forward", 1200),
                ("forward", 1410),
                ("backward", 1200),
                ("backward", 1410),
            ]);
            let start = Instant::now();
            for name in ["forward", "forward", "backward", "backward"] {
                executor.instruction_begin(name).unwrap();
            }
            let elapsed = start.elapsed();
            executor.wait_applied().unwrap();
            report(format!("{}", elapsed < Duration::from_millis(200)));
            report(current_state());
            executor.step_end().unwrap();
            executor.shutdown().unwrap();
        });
    // Four calls that each handed a change to the worker returned before one setter could finish.
    assert_eq!(run.report()[0], "true");
    // The worker coalesced the requests and ended at the latest one.
    assert_eq!(
        run.report()[1],
        "gpu=0 gpu_locked=1410:1410 mem_locked=1215:1215 power_limit_mw=400000 persistence=0"
    );
    let locks = run
        .calls()
        .iter()
        .filter(|call| *call == "nvmlDeviceSetGpuLockedClocks")
        .count();
    assert!(
        (1..=3).contains(&locks),
        "startup + at most 2 coalesced locks: {:?}",
        run.log()
    );
    assert_eq!(run.state(), INITIAL);
}

#[test]
fn a_worker_asleep_after_its_linger_is_woken_by_the_next_request() {
    let run = scenario("a_worker_asleep_after_its_linger_is_woken_by_the_next_request").run(|| {
        let gpu = open_gpu("0");
        let options = ExecutorOptions {
            poll_interval: Duration::from_millis(1),
            linger: Duration::from_millis(10),
            ..ExecutorOptions::default()
        };
        let plan = StagePlan::new([("forward", 1200), ("backward", 1410)]).unwrap();
        let mut executor = PlanExecutor::with_options(&gpu, plan, options).unwrap();
        for _ in 0..3 {
            for name in ["forward", "backward"] {
                // Long enough for the worker to stop polling and sleep until woken.
                std::thread::sleep(Duration::from_millis(30));
                executor.instruction_begin(name).unwrap();
                executor.wait_applied().unwrap();
                report(current_state());
            }
            executor.step_end().unwrap();
        }
        executor.shutdown().unwrap();
    });
    let locked = |mhz: u32| {
        format!(
            "gpu=0 gpu_locked={mhz}:{mhz} mem_locked=1215:1215 power_limit_mw=400000 \
             persistence=0"
        )
    };
    assert_eq!(
        run.report(),
        [1200, 1410, 1200, 1410, 1200, 1410].map(locked)
    );
    assert_eq!(run.state(), INITIAL);
}

// ---------------------------------------------------------------------------------------------
// A persistent guard: the GPU state file

const STATE_FILE_ENV: &str = "HWCTL_TEST_GPU_STATE_FILE";

#[test]
fn a_persistent_executor_is_restored_from_its_state_file_after_a_kill() {
    let body = || {
        let path = std::env::var(STATE_FILE_ENV).unwrap();
        match param().as_str() {
            "run-and-die" => {
                let gpu = open_gpu("0");
                let options = ExecutorOptions {
                    guard: Some(GuardOptions {
                        state_file: Some(StateFile::new(&path)),
                        restore_on_signal: true,
                    }),
                    ..ExecutorOptions::default()
                };
                let plan = StagePlan::new(PLAN).unwrap();
                let mut executor = PlanExecutor::with_options(&gpu, plan, options).unwrap();
                executor.instruction_begin("forward").unwrap();
                executor.instruction_begin("forward").unwrap();
                executor.wait_applied().unwrap();
                for entry in StateFile::new(&path).entries().unwrap() {
                    report(entry.record.setting.to_string());
                }
                // Ends like a SIGKILL: no destructor runs, nothing is restored.
                std::process::exit(0);
            }
            "restore" => {
                let report_ = StateFile::new(&path).restore().unwrap();
                assert!(report_.is_complete(), "{report_:?}");
                report(format!("restored {}", report_.restored.len()));
                report(format!(
                    "file left: {}",
                    std::path::Path::new(&path).exists()
                ));
            }
            other => panic!("unknown step {other}"),
        }
    };
    let name = "a_persistent_executor_is_restored_from_its_state_file_after_a_kill";
    let dir = std::env::temp_dir().join(format!("hwctl-executor-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gpu-state.json");
    let _ = std::fs::remove_file(&path);
    let died = scenario(name)
        .env(STATE_FILE_ENV, path.to_str().unwrap())
        .param("run-and-die")
        .run(body);
    assert_eq!(
        died.report(),
        [
            "power limit (originally 300000 mW)",
            "locked memory clocks (restored by a reset)",
            "locked GPU clocks (restored by a reset)",
        ]
    );
    assert_eq!(
        died.state(),
        ["gpu=0 gpu_locked=1200:1200 mem_locked=1215:1215 power_limit_mw=400000 persistence=0"]
    );
    let fake_state = died.dir.join("state");
    let restored = Scenario::new(name)
        .env(STATE_FILE_ENV, path.to_str().unwrap())
        .env("FAKE_NVML_STATE", fake_state.to_str().unwrap())
        .param("restore")
        .run(body);
    assert_eq!(restored.report(), ["restored 3", "file left: false"]);
    assert_eq!(died.state(), INITIAL);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// GPUs without a feature, and permissions

#[test]
fn startup_ignores_unsupported_memory_locks() {
    let run = Scenario::new("startup_ignores_unsupported_memory_locks")
        .env("FAKE_NVML_ARCH", "volta")
        .run(|| {
            let mut executor = planned([("forward", 1530), ("backward", 1200)]);
            executor.instruction_begin("forward").unwrap();
            executor.instruction_begin("backward").unwrap();
            executor.wait_applied().unwrap();
            executor.step_end().unwrap();
            executor.shutdown().unwrap();
        });
    let log = run.log();
    assert!(log.contains(
        &"nvmlDeviceSetMemoryLockedClocks dev=0 min=877 max=877 -> NOT_SUPPORTED".into()
    ));
    assert!(
        !run.calls()
            .contains(&"nvmlDeviceResetMemoryLockedClocks".into())
    );
    assert_ends_with(
        &log,
        &[
            "nvmlDeviceResetGpuLockedClocks dev=0 -> SUCCESS",
            "nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=300000 -> SUCCESS",
            "nvmlShutdown -> SUCCESS",
        ],
    );
    // The Volta fake's defaults (300 W) are back.
    run.assert_default_state(&[300]);
}

#[test]
fn a_failed_startup_restores_what_it_changed() {
    let body = || {
        let gpu = open_gpu("0");
        let plan = StagePlan::new([("forward", 0)]).unwrap();
        let error = PlanExecutor::new(&gpu, plan).unwrap_err();
        let ExecutorError::Startup(cause) = &error else {
            panic!("{error:?}");
        };
        match param().as_str() {
            "pascal" => assert!(matches!(cause, Error::NotSupported { .. }), "{cause:?}"),
            _ => assert!(matches!(cause, Error::NoPermission { .. }), "{cause:?}"),
        }
        report(error.to_string());
    };
    let name = "a_failed_startup_restores_what_it_changed";
    // Pascal: the power limit and memory steps work (memory: NOT_SUPPORTED, ignored), then
    // locking the graphics clock is NOT_SUPPORTED; the power limit goes back.
    let pascal = Scenario::new(name)
        .env("FAKE_NVML_ARCH", "pascal")
        .initial_state(&[
            "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=200000 persistence=0",
        ])
        .param("pascal")
        .run(body);
    pascal.assert_first_report_mentions("Volta or newer");
    assert_ends_with(
        &pascal.log(),
        &[
            "nvmlDeviceSetMemoryLockedClocks dev=0 min=715 max=715 -> NOT_SUPPORTED",
            "nvmlDeviceSetGpuLockedClocks dev=0 min=1328 max=1328 -> NOT_SUPPORTED",
            "nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=200000 -> SUCCESS",
            "nvmlShutdown -> SUCCESS",
        ],
    );
    assert_eq!(
        pascal.state(),
        ["gpu=0 gpu_locked=none mem_locked=none power_limit_mw=200000 persistence=0"]
    );
    // Without CAP_SYS_ADMIN the first setter fails, says how to grant it, and nothing changes.
    let unprivileged = scenario(name)
        .unprivileged()
        .param("unprivileged")
        .run(body);
    unprivileged.assert_first_report_mentions("CAP_SYS_ADMIN");
    assert_eq!(unprivileged.state(), INITIAL);
}
