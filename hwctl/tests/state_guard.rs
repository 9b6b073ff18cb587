//! `StateGuard` against the fake NVML library: it records each setting before its first change
//! and restores exactly that state on drop, during a panic, and after a fault injected at any
//! NVML call; it records nothing for commands that provably changed nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ergon_hwctl::{Error, Nvml, Record, Setting, StateGuard, restore_record};
use support::{
    Scenario, assert_ends_with, assert_every_fault_restores, assert_restored_after_panic, lines,
    open_gpu, report,
};

/// GPU 0 starts with a lowered power limit and persistence mode on; GPU 1 with the defaults.
const INITIAL: [&str; 2] = [
    "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=300000 persistence=1",
    "gpu=1 gpu_locked=none mem_locked=none power_limit_mw=400000 persistence=0",
];

/// Changes five settings on two GPUs (one of them twice), then drops the guard.
fn change_everything() -> Result<(), Error> {
    let nvml = Nvml::init()?;
    let gpu0 = nvml.device("0")?;
    let gpu1 = nvml.device("1")?;
    let mut guard = StateGuard::new();
    guard.set_power_limit_mw(&gpu0, 250_000)?;
    guard.lock_gpu_clocks(&gpu0, 1200, 1200)?;
    guard.lock_memory_clocks(&gpu1, 1215, 1215)?;
    guard.set_persistence_mode(&gpu0, false)?;
    guard.lock_gpu_clocks(&gpu0, 1100, 1100)?;
    guard.set_power_limit_mw(&gpu1, 200_000)?;
    report(
        guard
            .records()
            .iter()
            .map(Record::to_string)
            .collect::<Vec<_>>()
            .join(" / "),
    );
    Ok(())
}

fn guarded_body() {
    if let Err(error) = change_everything() {
        report(format!("error: {error}"));
    }
}

fn scenario(name: &'static str) -> Scenario {
    Scenario::new(name).gpus(2).initial_state(&INITIAL)
}

#[test]
fn guard_restores_every_setting_on_drop() {
    let run = scenario("guard_restores_every_setting_on_drop").run(guarded_body);
    assert_eq!(
        run.report(),
        [
            "GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab: power limit (originally 300000 mW) / \
             GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab: locked GPU clocks (restored by a reset) / \
             GPU-f0000001-5a6b-4c3d-8e9f-0123456789ab: locked memory clocks (restored by a \
             reset) / GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab: persistence mode (originally \
             on) / GPU-f0000001-5a6b-4c3d-8e9f-0123456789ab: power limit (originally 400000 mW)"
        ]
    );
    let expected = "nvmlInit_v2 -> SUCCESS
        nvmlDeviceGetHandleByIndex_v2 index=0 -> SUCCESS
        nvmlDeviceGetHandleByIndex_v2 index=1 -> SUCCESS
        nvmlDeviceGetUUID dev=0 -> SUCCESS
        nvmlDeviceGetPowerManagementLimit dev=0 -> SUCCESS
        nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=250000 -> SUCCESS
        nvmlDeviceSetGpuLockedClocks dev=0 min=1200 max=1200 -> SUCCESS
        nvmlDeviceGetUUID dev=1 -> SUCCESS
        nvmlDeviceSetMemoryLockedClocks dev=1 min=1215 max=1215 -> SUCCESS
        nvmlDeviceGetPersistenceMode dev=0 -> SUCCESS
        nvmlDeviceSetPersistenceMode dev=0 mode=0 -> SUCCESS
        nvmlDeviceSetGpuLockedClocks dev=0 min=1100 max=1100 -> SUCCESS
        nvmlDeviceGetPowerManagementLimit dev=1 -> SUCCESS
        nvmlDeviceSetPowerManagementLimit dev=1 limit_mw=200000 -> SUCCESS
        nvmlDeviceSetPowerManagementLimit dev=1 limit_mw=400000 -> SUCCESS
        nvmlDeviceSetPersistenceMode dev=0 mode=1 -> SUCCESS
        nvmlDeviceResetMemoryLockedClocks dev=1 -> SUCCESS
        nvmlDeviceResetGpuLockedClocks dev=0 -> SUCCESS
        nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=300000 -> SUCCESS
        nvmlShutdown -> SUCCESS";
    assert_eq!(run.log(), lines(expected));
    assert_eq!(run.state(), INITIAL);
}

#[test]
fn guard_restores_after_a_fault_at_any_call() {
    let name = "guard_restores_after_a_fault_at_any_call";
    assert_every_fault_restores(
        || scenario(name),
        guarded_body,
        20,
        &["GPU_IS_LOST"],
        &INITIAL,
    );
}

#[test]
fn guard_restores_during_a_panic() {
    let crash = || {
        let gpu = open_gpu("1");
        let mut guard = StateGuard::new();
        guard.lock_gpu_clocks(&gpu, 1005, 1005).unwrap();
        guard.set_power_limit_mw(&gpu, 150_000).unwrap();
        panic!("the training step crashed");
    };
    assert_restored_after_panic(
        scenario("guard_restores_during_a_panic"),
        crash,
        &INITIAL,
        &[
            "nvmlDeviceSetPowerManagementLimit",
            "nvmlDeviceResetGpuLockedClocks",
            "nvmlShutdown",
        ],
    );
}

#[test]
fn guard_records_nothing_a_command_did_not_change() {
    let mig = "MIG-e0000010-7c6d-4e5f-9a0b-0123456789ab";
    let run = scenario("guard_records_nothing_a_command_did_not_change")
        .unprivileged()
        .env("FAKE_NVML_MIG", "1:1")
        .run(move || {
            let gpu = open_gpu("0");
            let mut guard = StateGuard::new();
            let error = guard.lock_gpu_clocks(&gpu, 1200, 1200).unwrap_err();
            assert!(matches!(error, Error::NoPermission { .. }), "{error}");
            let error = guard.set_power_limit_mw(&gpu, 250_000).unwrap_err();
            assert!(matches!(error, Error::NoPermission { .. }), "{error}");
            let mig = gpu.nvml().device(mig).unwrap();
            let error = guard.lock_gpu_clocks(&mig, 1200, 1200).unwrap_err();
            assert!(matches!(error, Error::MigDevice { .. }), "{error}");
            assert!(guard.records().is_empty());
        });
    assert_eq!(
        run.log(),
        [
            "nvmlInit_v2 -> SUCCESS",
            "nvmlDeviceGetHandleByIndex_v2 index=0 -> SUCCESS",
            "nvmlDeviceGetUUID dev=0 -> SUCCESS",
            "nvmlDeviceSetGpuLockedClocks dev=0 min=1200 max=1200 -> NO_PERMISSION",
            "nvmlDeviceGetPowerManagementLimit dev=0 -> SUCCESS",
            "nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=250000 -> NO_PERMISSION",
            "nvmlDeviceGetHandleByUUID uuid=MIG-e0000010-7c6d-4e5f-9a0b-0123456789ab -> SUCCESS",
            "nvmlShutdown -> SUCCESS",
        ]
    );
    assert_eq!(run.state(), INITIAL);
}

#[test]
fn kept_changes_can_be_restored_from_their_records() {
    let run = scenario("kept_changes_can_be_restored_from_their_records").run(|| {
        let nvml = Nvml::init().unwrap();
        let gpu = nvml.device("0").unwrap();
        let mut guard = StateGuard::new();
        guard.lock_gpu_clocks(&gpu, 1305, 1305).unwrap();
        guard.set_power_limit_mw(&gpu, 200_000).unwrap();
        let records = guard.keep_changes();
        assert_eq!(
            records,
            [
                Record {
                    uuid: "GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab".into(),
                    setting: Setting::GpuLockedClocks,
                },
                Record {
                    uuid: "GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab".into(),
                    setting: Setting::PowerLimit {
                        original_mw: 300_000
                    },
                },
            ]
        );
        // Nothing was restored when the guard went away.
        assert_eq!(gpu.power_limit_mw().unwrap(), 200_000);
        for record in records.iter().rev() {
            restore_record(&nvml, record).unwrap();
        }
    });
    assert_eq!(run.state(), INITIAL);
    assert_ends_with(
        &run.log(),
        &[
            "nvmlDeviceGetHandleByUUID uuid=GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab -> SUCCESS",
            "nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=300000 -> SUCCESS",
            "nvmlDeviceGetHandleByUUID uuid=GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab -> SUCCESS",
            "nvmlDeviceResetGpuLockedClocks dev=0 -> SUCCESS",
            "nvmlShutdown -> SUCCESS",
        ],
    );
}
