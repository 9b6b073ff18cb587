//! hwctl against the fake NVML library (`tests/fake-nvml/fake_nvml.c`), each scenario in a child
//! process (see `support`): exact NVML call sequences of the commands, the reads, permission and
//! NOT_SUPPORTED errors with their messages, missing driver functions, injected faults,
//! `CUDA_VISIBLE_DEVICES` mapping, MIG refusal, and a machine without NVML.
//!
//! Needs a C compiler (`$CC`, default `cc`); the fake is built into `CARGO_TARGET_TMPDIR`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use ergon_hwctl::{Architecture, ClockEventReasons, ClockType, Error, Nvml};
use support::{Scenario, default_state, lines, open_gpu, param, report};

/// The variant name of an error (`GpuIsLost`, …).
fn kind(error: &Error) -> String {
    let debug = format!("{error:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn outcome<T>(result: Result<T, Error>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(error) => format!("{}: {error}", kind(&error)),
    }
}

// ---------------------------------------------------------------------------------------------
// Commands: exact call sequences and resulting state

#[test]
fn lock_and_reset_clocks_make_exactly_these_calls() {
    let run = Scenario::new("lock_and_reset_clocks_make_exactly_these_calls").run(|| {
        let gpu = open_gpu("0");
        gpu.lock_gpu_clocks(1410, 1410).unwrap();
        gpu.reset_gpu_clocks().unwrap();
        gpu.lock_memory_clocks(1215, 1215).unwrap();
        gpu.reset_memory_clocks().unwrap();
    });
    assert_eq!(
        run.log(),
        lines(
            "nvmlInit_v2 -> SUCCESS
             nvmlDeviceGetHandleByIndex_v2 index=0 -> SUCCESS
             nvmlDeviceSetGpuLockedClocks dev=0 min=1410 max=1410 -> SUCCESS
             nvmlDeviceResetGpuLockedClocks dev=0 -> SUCCESS
             nvmlDeviceSetMemoryLockedClocks dev=0 min=1215 max=1215 -> SUCCESS
             nvmlDeviceResetMemoryLockedClocks dev=0 -> SUCCESS
             nvmlShutdown -> SUCCESS"
        )
    );
    run.assert_default_state(&[400]);
}

#[test]
fn set_power_limit_makes_exactly_these_calls() {
    let run = Scenario::new("set_power_limit_makes_exactly_these_calls")
        .gpus(2)
        .run(|| {
            let gpu = open_gpu("1");
            gpu.set_power_limit_mw(250_000).unwrap();
            let error = gpu.set_power_limit_mw(50_000).unwrap_err();
            assert!(matches!(
                error,
                Error::PowerLimitOutOfRange {
                    requested_mw: 50_000,
                    min_mw: 100_000,
                    max_mw: 400_000,
                    ..
                }
            ));
            report(error.to_string());
        });
    assert_eq!(
        run.log(),
        lines(
            "nvmlInit_v2 -> SUCCESS
             nvmlDeviceGetHandleByIndex_v2 index=1 -> SUCCESS
             nvmlDeviceSetPowerManagementLimit dev=1 limit_mw=250000 -> SUCCESS
             nvmlDeviceSetPowerManagementLimit dev=1 limit_mw=50000 -> INVALID_ARGUMENT
             nvmlDeviceGetPowerManagementLimitConstraints dev=1 -> SUCCESS
             nvmlShutdown -> SUCCESS"
        )
    );
    assert_eq!(
        run.report(),
        ["power limit 50000 mW for GPU 1 is outside the allowed range 100000..=400000 mW"]
    );
    assert_eq!(
        run.state(),
        vec![
            default_state(0, 400),
            "gpu=1 gpu_locked=none mem_locked=none power_limit_mw=250000 persistence=0".into()
        ]
    );
}

#[test]
fn persistence_mode_round_trips() {
    let run = Scenario::new("persistence_mode_round_trips").run(|| {
        let nvml = Nvml::init().unwrap();
        let gpu = nvml.device_by_index(0).unwrap();
        assert!(!gpu.persistence_mode().unwrap());
        gpu.set_persistence_mode(true).unwrap();
        assert!(gpu.persistence_mode().unwrap());
    });
    assert_eq!(
        run.calls(),
        [
            "nvmlInit_v2",
            "nvmlDeviceGetHandleByIndex_v2",
            "nvmlDeviceGetPersistenceMode",
            "nvmlDeviceSetPersistenceMode",
            "nvmlDeviceGetPersistenceMode",
            "nvmlShutdown"
        ]
    );
    assert!(run.log()[3].contains("mode=1"));
    assert_eq!(
        run.state(),
        ["gpu=0 gpu_locked=none mem_locked=none power_limit_mw=400000 persistence=1"]
    );
}

#[test]
fn settings_outlive_the_process_in_the_state_file() {
    let body = || {
        let gpu = open_gpu("1");
        match param().as_str() {
            "apply" => {
                gpu.lock_gpu_clocks(1305, 1305).unwrap();
                gpu.lock_memory_clocks(1215, 1215).unwrap();
                gpu.set_power_limit_mw(275_000).unwrap();
                gpu.set_persistence_mode(true).unwrap();
            }
            "inspect-and-reset" => {
                report(format!(
                    "sm={} mem={} limit={} persistence={} reasons={}",
                    gpu.clock_mhz(ClockType::Sm).unwrap(),
                    gpu.clock_mhz(ClockType::Memory).unwrap(),
                    gpu.power_limit_mw().unwrap(),
                    gpu.persistence_mode().unwrap(),
                    gpu.clock_event_reasons().unwrap(),
                ));
                gpu.reset_gpu_clocks().unwrap();
                gpu.reset_memory_clocks().unwrap();
                gpu.set_power_limit_mw(gpu.default_power_limit_mw().unwrap())
                    .unwrap();
                gpu.set_persistence_mode(false).unwrap();
            }
            other => panic!("unknown step {other}"),
        }
    };
    let name = "settings_outlive_the_process_in_the_state_file";
    let first = Scenario::new(name).gpus(2).param("apply").run(body);
    let changed = "gpu=1 gpu_locked=1305:1305 mem_locked=1215:1215 power_limit_mw=275000 \
                   persistence=1";
    assert_eq!(first.state(), vec![default_state(0, 400), changed.into()]);

    let state = first.dir.join("state");
    let second = Scenario::new(name)
        .gpus(2)
        .env("FAKE_NVML_STATE", state.to_str().unwrap())
        .param("inspect-and-reset")
        .run(body);
    assert_eq!(
        second.report(),
        ["sm=1305 mem=1215 limit=275000 persistence=true \
          reasons=applications_clocks_setting|sw_power_cap"]
    );
    first.assert_default_state(&[400, 400]);
}

// ---------------------------------------------------------------------------------------------
// Reads

#[test]
fn reads_report_the_simulated_gpus() {
    let run = Scenario::new("reads_report_the_simulated_gpus")
        .gpus(2)
        .env("FAKE_NVML_ARCH", "ampere,hopper")
        .env("FAKE_NVML_POWER_W", "150")
        .run(|| {
            let nvml = Nvml::init().unwrap();
            report(format!("driver {}", nvml.driver_version().unwrap()));
            report(format!("count {}", nvml.device_count().unwrap()));
            for info in nvml.list().unwrap() {
                report(format!(
                    "{} {} {} {} {} mig_mode={:?} mig_parent={:?}",
                    info.index,
                    info.uuid,
                    info.name,
                    info.architecture,
                    info.pci_bus_id.unwrap(),
                    info.mig_mode,
                    info.mig_parent
                ));
            }
            let gpu = nvml.device_by_index(0).unwrap();
            assert_eq!(gpu.architecture().unwrap(), Architecture::Ampere);
            let memory = gpu.supported_memory_clocks_mhz().unwrap();
            assert_eq!(memory, [1215]);
            let graphics = gpu.supported_graphics_clocks_mhz(1215).unwrap();
            assert_eq!(graphics.len(), 81);
            assert_eq!(graphics.first(), Some(&1410));
            assert_eq!(graphics.last(), Some(&210));
            let error = gpu.supported_graphics_clocks_mhz(999).unwrap_err();
            assert!(matches!(error, Error::NotFound { .. }), "{error}");
            assert_eq!(gpu.clock_mhz(ClockType::Graphics).unwrap(), 1410);
            assert_eq!(gpu.clock_mhz(ClockType::Memory).unwrap(), 1215);
            assert_eq!(gpu.max_clock_mhz(ClockType::Sm).unwrap(), 1410);
            assert_eq!(gpu.max_clock_mhz(ClockType::Memory).unwrap(), 1215);
            let range = gpu.power_limit_constraints().unwrap();
            assert_eq!((range.min_mw, range.max_mw), (100_000, 400_000));
            assert_eq!(gpu.power_limit_mw().unwrap(), 400_000);
            assert_eq!(gpu.default_power_limit_mw().unwrap(), 400_000);
            assert_eq!(gpu.enforced_power_limit_mw().unwrap(), 400_000);
            assert_eq!(gpu.power_usage_mw().unwrap(), 150_000);
            assert_eq!(
                gpu.clock_event_reasons().unwrap(),
                ClockEventReasons(ClockEventReasons::GPU_IDLE)
            );
            assert!(!gpu.persistence_mode().unwrap());

            // The energy counter advances with wall time at the configured power (150 W).
            let start = std::time::Instant::now();
            let before = gpu.total_energy_mj().unwrap();
            std::thread::sleep(Duration::from_millis(200));
            let after = gpu.total_energy_mj().unwrap();
            let elapsed_ms = start.elapsed().as_millis() as u64;
            let delta = after - before;
            assert!(
                delta >= 150 * 195 && delta <= 150 * (elapsed_ms + 5),
                "energy delta {delta} mJ over {elapsed_ms} ms"
            );

            let hopper = nvml.device_by_index(1).unwrap();
            let graphics = hopper.supported_graphics_clocks_mhz(2619).unwrap();
            assert_eq!((graphics.len(), graphics[0]), (110, 1980));
            assert_eq!(hopper.power_limit_mw().unwrap(), 700_000);
        });
    assert_eq!(
        run.report(),
        [
            "driver 555.42.06-fake",
            "count 2",
            "0 GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab NVIDIA A100-SXM4-40GB ampere \
             00000000:07:00.0 mig_mode=Some(false) mig_parent=None",
            "1 GPU-f0000001-5a6b-4c3d-8e9f-0123456789ab NVIDIA H100 80GB HBM3 hopper \
             00000000:08:00.0 mig_mode=Some(false) mig_parent=None",
        ]
    );
    // Reads never change anything.
    assert!(
        run.calls()
            .iter()
            .all(|call| !call.starts_with("nvmlDeviceSet") && !call.starts_with("nvmlDeviceReset"))
    );
    run.assert_default_state(&[400, 700]);
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn permission_denied_explains_how_to_grant_cap_sys_admin() {
    let run = Scenario::new("permission_denied_explains_how_to_grant_cap_sys_admin")
        .unprivileged()
        .run(|| {
            let gpu = open_gpu("0");
            let results = [
                gpu.lock_gpu_clocks(1410, 1410),
                gpu.reset_gpu_clocks(),
                gpu.lock_memory_clocks(1215, 1215),
                gpu.reset_memory_clocks(),
                gpu.set_power_limit_mw(300_000),
                gpu.set_persistence_mode(true),
            ];
            for result in results {
                let error = result.unwrap_err();
                assert!(matches!(error, Error::NoPermission { .. }), "{error}");
                report(error.to_string());
            }
            // Reads need no privilege.
            assert_eq!(gpu.power_limit_mw().unwrap(), 400_000);
        });
    let report = run.report();
    assert_eq!(report.len(), 6);
    assert!(report[0].starts_with(
        "nvmlDeviceSetGpuLockedClocks on GPU 0: permission denied (NVML_ERROR_NO_PERMISSION)."
    ));
    assert!(report[4].starts_with("nvmlDeviceSetPowerManagementLimit on GPU 0: permission denied"));
    for message in &report {
        assert!(message.contains("needs CAP_SYS_ADMIN"), "{message}");
        assert!(message.contains("run as root"), "{message}");
        assert!(message.contains("--cap-add SYS_ADMIN"), "{message}");
    }
    let denied = run
        .log()
        .iter()
        .filter(|line| line.ends_with("-> NO_PERMISSION"))
        .count();
    assert_eq!(denied, 6);
    run.assert_default_state(&[400]);
}

#[test]
fn not_supported_errors_name_the_call_and_the_requirement() {
    let body = || {
        let gpu = open_gpu("0");
        match param().as_str() {
            "env" => {
                report(outcome(gpu.lock_gpu_clocks(1200, 1200)));
                report(outcome(gpu.power_usage_mw()));
                assert!(gpu.power_usage_mw().unwrap_err().is_not_supported());
            }
            "volta" => {
                report(outcome(gpu.lock_memory_clocks(877, 877)));
                report(outcome(gpu.lock_gpu_clocks(1200, 1200)));
            }
            "pascal" => {
                let arch = gpu.architecture().unwrap();
                assert_eq!(arch, Architecture::Pascal);
                assert!(!arch.has_energy_counter());
                report(outcome(gpu.lock_gpu_clocks(1200, 1200)));
                report(outcome(gpu.total_energy_mj()));
                assert!(gpu.power_usage_mw().is_ok());
            }
            other => panic!("unknown case {other}"),
        }
    };
    let name = "not_supported_errors_name_the_call_and_the_requirement";
    let env = Scenario::new(name)
        .env(
            "FAKE_NVML_UNSUPPORTED",
            "nvmlDeviceSetGpuLockedClocks, nvmlDeviceGetPowerUsage",
        )
        .param("env")
        .run(body);
    assert_eq!(
        env.report(),
        [
            "NotSupported: nvmlDeviceSetGpuLockedClocks on GPU 0: not supported by this GPU or \
             driver (NVML_ERROR_NOT_SUPPORTED) (locked GPU clocks need a Volta or newer GPU)",
            "NotSupported: nvmlDeviceGetPowerUsage on GPU 0: not supported by this GPU or driver \
             (NVML_ERROR_NOT_SUPPORTED)",
        ]
    );
    let volta = Scenario::new(name)
        .env("FAKE_NVML_ARCH", "volta")
        .param("volta")
        .run(body);
    assert_eq!(
        volta.report(),
        [
            "NotSupported: nvmlDeviceSetMemoryLockedClocks on GPU 0: not supported by this GPU \
             or driver (NVML_ERROR_NOT_SUPPORTED) (locked memory clocks need an Ampere or newer \
             GPU)",
            "ok",
        ]
    );
    let pascal = Scenario::new(name)
        .env("FAKE_NVML_ARCH", "pascal")
        .param("pascal")
        .run(body);
    let report = pascal.report();
    assert!(report[0].starts_with("NotSupported: nvmlDeviceSetGpuLockedClocks on GPU 0"));
    assert!(report[1].starts_with("NotSupported: nvmlDeviceGetTotalEnergyConsumption on GPU 0"));
    assert!(report[1].contains("Volta"));
}

#[test]
fn functions_missing_from_an_old_driver_are_typed_errors() {
    let run = Scenario::new("functions_missing_from_an_old_driver_are_typed_errors")
        .old_driver()
        .run(|| {
            let gpu = open_gpu("0");
            let error = gpu.lock_memory_clocks(1215, 1215).unwrap_err();
            assert!(matches!(
                error,
                Error::FunctionNotFound {
                    function: "nvmlDeviceSetMemoryLockedClocks"
                }
            ));
            assert!(error.is_not_supported());
            report(error.to_string());
            report(outcome(gpu.reset_memory_clocks()));
            // The older name of the clock-event query is used instead.
            report(gpu.clock_event_reasons().unwrap().to_string());
            gpu.lock_gpu_clocks(1005, 1005).unwrap();
        });
    assert_eq!(
        run.report(),
        [
            "nvmlDeviceSetMemoryLockedClocks is not available in the loaded NVML library: not \
             supported by this driver (a newer NVIDIA driver may provide it)",
            "FunctionNotFound: nvmlDeviceResetMemoryLockedClocks is not available in the loaded \
             NVML library: not supported by this driver (a newer NVIDIA driver may provide it)",
            "gpu_idle",
        ]
    );
    assert_eq!(
        run.calls(),
        [
            "nvmlInit_v2",
            "nvmlDeviceGetHandleByIndex_v2",
            "nvmlDeviceGetCurrentClocksThrottleReasons",
            "nvmlDeviceSetGpuLockedClocks",
            "nvmlShutdown"
        ]
    );
}

#[test]
fn a_fault_at_any_call_is_a_typed_error() {
    // The sequence: 1 nvmlInit_v2, 2 handle, 3 lock, 4 power limit, 5 reset, 6 nvmlShutdown.
    let body = || {
        let nvml = match Nvml::init() {
            Ok(nvml) => nvml,
            Err(error) => {
                report(format!("init {}", outcome::<()>(Err(error))));
                return;
            }
        };
        let gpu = match nvml.device("0") {
            Ok(gpu) => gpu,
            Err(error) => {
                report(format!("device {}", outcome::<()>(Err(error))));
                return;
            }
        };
        report(format!("lock {}", outcome(gpu.lock_gpu_clocks(1200, 1200))));
        report(format!(
            "limit {}",
            outcome(gpu.set_power_limit_mw(300_000))
        ));
        report(format!("reset {}", outcome(gpu.reset_gpu_clocks())));
    };
    let name = "a_fault_at_any_call_is_a_typed_error";
    let lost = "GpuIsLost: {} on GPU 0: the GPU is lost (NVML_ERROR_GPU_IS_LOST): it fell off \
                the bus or is otherwise inaccessible; check nvidia-smi and the kernel log, a GPU \
                reset or reboot may be needed";
    for (at, expected) in [
        (
            1,
            vec![
                "init GpuIsLost: nvmlInit_v2: the GPU is lost (NVML_ERROR_GPU_IS_LOST): it fell \
                  off the bus or is otherwise inaccessible; check nvidia-smi and the kernel log, \
                  a GPU reset or reboot may be needed"
                    .to_owned(),
            ],
        ),
        (
            2,
            vec![format!(
                "device {}",
                lost.replace("{}", "nvmlDeviceGetHandleByIndex_v2")
            )],
        ),
        (
            3,
            vec![
                format!(
                    "lock {}",
                    lost.replace("{}", "nvmlDeviceSetGpuLockedClocks")
                ),
                "limit ok".into(),
                "reset ok".into(),
            ],
        ),
        (
            4,
            vec![
                "lock ok".into(),
                format!(
                    "limit {}",
                    lost.replace("{}", "nvmlDeviceSetPowerManagementLimit")
                ),
                "reset ok".into(),
            ],
        ),
        (
            5,
            vec![
                "lock ok".into(),
                "limit ok".into(),
                format!(
                    "reset {}",
                    lost.replace("{}", "nvmlDeviceResetGpuLockedClocks")
                ),
            ],
        ),
        (
            6,
            vec!["lock ok".into(), "limit ok".into(), "reset ok".into()],
        ),
    ] {
        let run = Scenario::new(name)
            .env("FAKE_NVML_FAULT_AT", format!("{at}:GPU_IS_LOST"))
            .param(at.to_string())
            .run(body);
        assert_eq!(run.report(), expected, "fault at call {at}");
        let log = run.log();
        assert!(
            log[at - 1].ends_with("-> GPU_IS_LOST"),
            "fault at call {at}: {log:?}"
        );
        assert_eq!(
            log.iter()
                .filter(|line| !line.ends_with("-> SUCCESS"))
                .count(),
            1,
            "fault at call {at}: {log:?}"
        );
        // A failed setter changes nothing; the others took effect.
        let expected_state = match at {
            1 | 2 | 4 => default_state(0, 400),
            5 => "gpu=0 gpu_locked=1200:1200 mem_locked=none power_limit_mw=300000 persistence=0"
                .to_owned(),
            _ => "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=300000 persistence=0"
                .to_owned(),
        };
        assert_eq!(run.state(), vec![expected_state], "fault at call {at}");
    }

    // Other codes map to their own variants.
    let body_codes = body;
    for (code, expected) in [
        (
            "UNINITIALIZED",
            "device Uninitialized: nvmlDeviceGetHandleByIndex_v2 on GPU 0: NVML is not initialized (NVML_ERROR_UNINITIALIZED)",
        ),
        (
            "9",
            "device DriverNotLoaded: nvmlDeviceGetHandleByIndex_v2 on GPU 0: the NVIDIA kernel driver is not loaded (NVML_ERROR_DRIVER_NOT_LOADED); check that the driver is installed and nvidia-smi works",
        ),
        (
            "NVML_ERROR_FREQ_NOT_SUPPORTED",
            "device Nvml: nvmlDeviceGetHandleByIndex_v2 on GPU 0: NVML_ERROR_FREQ_NOT_SUPPORTED (24): frequency not supported",
        ),
        (
            "4242",
            "device Nvml: nvmlDeviceGetHandleByIndex_v2 on GPU 0: NVML error 4242",
        ),
    ] {
        let run = Scenario::new(name)
            .env("FAKE_NVML_FAULT_AT", format!("2:{code}"))
            .param(code)
            .run(body_codes);
        assert_eq!(run.report(), [expected], "code {code}");
    }
}

#[test]
fn invalid_requests_are_refused_before_nvml() {
    let run = Scenario::new("invalid_requests_are_refused_before_nvml").run(|| {
        let gpu = open_gpu("0");
        report(outcome(gpu.lock_gpu_clocks(1410, 1005)));
        report(outcome(gpu.lock_memory_clocks(1215, 405)));
        report(outcome(gpu.nvml().device("3")));
        report(outcome(gpu.nvml().device("GPU-00000000")));
        report(outcome(gpu.nvml().device("nvidia0")));
    });
    assert_eq!(
        run.report(),
        [
            "InvalidClockRange: invalid clock range for GPU 0: minimum 1410 MHz exceeds maximum \
             1005 MHz",
            "InvalidClockRange: invalid clock range for GPU 0: minimum 1215 MHz exceeds maximum \
             405 MHz",
            "NoSuchDevice: no GPU matches \"3\": no GPU has this NVML index",
            "NoSuchDevice: no GPU matches \"GPU-00000000\": no GPU UUID starts with this",
            "NoSuchDevice: no GPU matches \"nvidia0\": expected an NVML index (0, 1, …), a UUID \
             starting with GPU- or MIG-, or a CUDA ordinal cuda:N",
        ]
    );
    assert!(
        run.calls()
            .iter()
            .all(|call| !call.starts_with("nvmlDeviceSet"))
    );
}

// ---------------------------------------------------------------------------------------------
// CUDA_VISIBLE_DEVICES and MIG

/// Reports the NVML indices CUDA's devices map to, and the first ignored entry.
fn report_cuda_mapping() {
    let nvml = Nvml::init().unwrap();
    match nvml.cuda_devices() {
        Ok(mapped) => {
            let indices: Vec<String> = mapped
                .devices
                .iter()
                .map(|device| {
                    let index = device.index().unwrap().to_string();
                    if device.is_mig() {
                        format!("{index}(mig)")
                    } else {
                        index
                    }
                })
                .collect();
            let ignored = match mapped.ignored {
                Some(entry) => format!("{}:{}:{}", entry.position, entry.entry, entry.reason),
                None => "none".into(),
            };
            report(format!("devices=[{}] ignored={ignored}", indices.join(",")));
        }
        Err(error) => report(outcome::<()>(Err(error))),
    }
}

/// `cuda:N` names the N-th device CUDA sees, as a trainer knows it (`local_rank`).
#[test]
fn cuda_ordinals_name_the_devices_cuda_sees() {
    let name = "cuda_ordinals_name_the_devices_cuda_sees";
    let cases = [
        (None, "cuda:2", "2"),
        (Some("3,1"), "cuda:0", "3"),
        (Some("3,1"), " cuda:1 ", "1"),
        (
            Some("3,1"),
            "cuda:2",
            "NoSuchDevice: no GPU matches \"cuda:2\": this process's CUDA sees 2 device(s) \
             (CUDA_VISIBLE_DEVICES=3,1)",
        ),
        (
            None,
            "cuda:-1",
            "NoSuchDevice: no GPU matches \"cuda:-1\": expected cuda:N with N a CUDA device \
             ordinal (0, 1, …)",
        ),
        (
            None,
            "cuda:",
            "NoSuchDevice: no GPU matches \"cuda:\": expected cuda:N with N a CUDA device \
             ordinal (0, 1, …)",
        ),
    ];
    for (visible, spec, expected) in cases {
        let mut scenario = Scenario::new(name)
            .gpus(4)
            .param(spec)
            .env("ERGON_SPEC", spec);
        if let Some(visible) = visible {
            scenario = scenario.env("CUDA_VISIBLE_DEVICES", visible);
        }
        let run = scenario.run(|| {
            let nvml = Nvml::init().unwrap();
            let spec = std::env::var("ERGON_SPEC").unwrap();
            match nvml.device(&spec).and_then(|d| d.index()) {
                Ok(index) => report(index.to_string()),
                Err(error) => report(outcome::<()>(Err(error))),
            }
        });
        assert_eq!(run.report(), [expected], "{visible:?} {spec}");
    }
}

#[test]
fn cuda_visible_devices_map_to_nvml_devices() {
    let name = "cuda_visible_devices_map_to_nvml_devices";
    let uuid = |i: u32| format!("GPU-f000000{i}-5a6b-4c3d-8e9f-0123456789ab");
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "devices=[0,1,2,3] ignored=none"),
        (Some("2,0".into()), "devices=[2,0] ignored=none"),
        (Some(format!("{},1", uuid(3))), "devices=[3,1] ignored=none"),
        (Some("GPU-f0000002".into()), "devices=[2] ignored=none"),
        (
            Some("GPU-f000000".into()),
            "devices=[] ignored=0:GPU-f000000:this UUID prefix matches more than one GPU",
        ),
        (
            Some("1,7,2".into()),
            "devices=[1] ignored=1:7:there are only 4 GPUs",
        ),
        (
            Some(format!("1, {}", uuid(1))),
            "devices=[1] ignored=1:GPU-f0000001-5a6b-4c3d-8e9f-0123456789ab:repeats a device \
             listed earlier",
        ),
        (Some(String::new()), "devices=[] ignored=none"),
        (
            Some("-1".into()),
            "devices=[] ignored=0:-1:expected a device index, a GPU-… UUID or a MIG-… UUID",
        ),
        (Some("3,,1".into()), "devices=[3] ignored=1::empty entry"),
        (
            Some("MIG-GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab/1/0".into()),
            "devices=[] ignored=0:MIG-GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab/1/0:the legacy \
             MIG-GPU-<uuid>/<gi>/<ci> form is not supported; use the MIG UUID that nvidia-smi \
             -L prints",
        ),
    ];
    for (visible, expected) in cases {
        let mut scenario = Scenario::new(name).gpus(4).param(format!("{visible:?}"));
        if let Some(visible) = &visible {
            scenario = scenario.env("CUDA_VISIBLE_DEVICES", visible.as_str());
        }
        let run = scenario.run(report_cuda_mapping);
        assert_eq!(run.report(), [expected], "CUDA_VISIBLE_DEVICES={visible:?}");
    }

    // Two different GPU models: integer indices are only mapped under PCI_BUS_ID order.
    let ambiguous = "AmbiguousCudaOrder: cannot map CUDA device indices to NVML devices: the GPUs \
                     differ (NVIDIA A100-SXM4-40GB, Tesla V100-SXM2-32GB) and CUDA_DEVICE_ORDER \
                     is not PCI_BUS_ID, so CUDA's index order (fastest first) may differ from \
                     NVML's (PCI bus order). Set CUDA_DEVICE_ORDER=PCI_BUS_ID or list GPU UUIDs \
                     in CUDA_VISIBLE_DEVICES";
    let mixed: Vec<(Option<&str>, Option<&str>, String)> = vec![
        (None, None, ambiguous.into()),
        (Some("1,0"), None, ambiguous.into()),
        (
            Some("1,0"),
            Some("PCI_BUS_ID"),
            "devices=[1,0] ignored=none".into(),
        ),
        (
            None,
            Some("PCI_BUS_ID"),
            "devices=[0,1] ignored=none".into(),
        ),
        (
            Some("GPU-f0000001,GPU-f0000000"),
            Some("FASTEST_FIRST"),
            "devices=[1,0] ignored=none".into(),
        ),
    ];
    for (visible, order, expected) in mixed {
        let mut scenario = Scenario::new(name)
            .gpus(2)
            .env("FAKE_NVML_ARCH", "ampere,volta")
            .param(format!("mixed {visible:?} {order:?}"));
        if let Some(visible) = visible {
            scenario = scenario.env("CUDA_VISIBLE_DEVICES", visible);
        }
        if let Some(order) = order {
            scenario = scenario.env("CUDA_DEVICE_ORDER", order);
        }
        let run = scenario.run(report_cuda_mapping);
        assert_eq!(run.report(), [expected], "{visible:?} {order:?}");
    }
}

#[test]
fn mig_devices_are_listed_and_refused_for_control() {
    let mig = "MIG-e0000001-7c6d-4e5f-9a0b-0123456789ab";
    let run = Scenario::new("mig_devices_are_listed_and_refused_for_control")
        .gpus(2)
        .env("FAKE_NVML_MIG", "0:2")
        .env("CUDA_VISIBLE_DEVICES", mig)
        .run(|| {
            let nvml = Nvml::init().unwrap();
            for info in nvml.list().unwrap() {
                report(format!("gpu {} mig_mode={:?}", info.index, info.mig_mode));
            }
            let mapped = nvml.cuda_devices().unwrap();
            assert!(mapped.ignored.is_none());
            let [device] = mapped.devices.as_slice() else {
                panic!("expected one device, got {:?}", mapped.devices);
            };
            assert!(device.is_mig());
            let info = device.info().unwrap();
            report(format!(
                "{} {} index={} parent={} arch={}",
                info.uuid,
                info.name,
                info.index,
                info.mig_parent.unwrap().uuid,
                info.architecture
            ));
            report(outcome(device.lock_gpu_clocks(1200, 1200)));
            report(outcome(device.reset_gpu_clocks()));
            report(outcome(device.lock_memory_clocks(1215, 1215)));
            report(outcome(device.set_power_limit_mw(300_000)));
            report(outcome(device.set_persistence_mode(true)));
            // Reads still work on the MIG device.
            assert_eq!(device.clock_mhz(ClockType::Sm).unwrap(), 1410);
            // The parent GPU itself can be controlled.
            let parent = device.parent().unwrap().unwrap();
            assert!(!parent.is_mig());
            assert_eq!(parent.index().unwrap(), 0);
        });
    let refused = |operation: &str| {
        format!(
            "MigDevice: {mig} is a MIG device: {operation} is refused on MIG instances, because \
             clocks and power limits belong to the whole physical GPU that all its instances \
             share; address the parent GPU if you own every instance on it"
        )
    };
    assert_eq!(
        run.report(),
        [
            "gpu 0 mig_mode=Some(true)".to_owned(),
            "gpu 1 mig_mode=Some(false)".to_owned(),
            format!(
                "{mig} NVIDIA A100-SXM4-40GB MIG 1g.5gb index=0 \
                 parent=GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab arch=ampere"
            ),
            refused("locking GPU clocks"),
            refused("resetting GPU clocks"),
            refused("locking memory clocks"),
            refused("setting the power limit"),
            refused("changing persistence mode"),
        ]
    );
    assert!(
        run.calls()
            .iter()
            .all(|call| !call.starts_with("nvmlDeviceSet") && !call.starts_with("nvmlDeviceReset")),
        "{:?}",
        run.log()
    );
    assert!(
        run.log()
            .contains(&format!("nvmlDeviceGetHandleByUUID uuid={mig} -> SUCCESS"))
    );
}

// ---------------------------------------------------------------------------------------------
// No NVML

#[test]
fn no_nvml_library_is_a_clean_error() {
    let body = || match Nvml::init() {
        Ok(nvml) => report(format!("loaded {}", nvml.library_path())),
        Err(error) => report(outcome::<()>(Err(error))),
    };
    let name = "no_nvml_library_is_a_clean_error";

    let missing = "/nonexistent/ergon/libnvidia-ml.so.1";
    let run = Scenario::new(name)
        .env("ERGON_NVML_LIBRARY", missing)
        .param("missing")
        .run(body);
    let [message] = run.report().try_into().unwrap();
    assert!(
        message.starts_with(&format!(
            "LibraryNotFound: NVML is unavailable: no NVIDIA management library could be loaded \
             (tried {missing}: "
        )),
        "{message}"
    );
    assert!(message.contains("No such file or directory"), "{message}");
    assert!(
        message.contains("set ERGON_NVML_LIBRARY to its path"),
        "{message}"
    );
    assert!(
        !message.contains("; libnvidia-ml.so"),
        "an explicit path must not fall back to the default search: {message}"
    );

    // The default search, with the loader's path emptied (and an empty override = unset).
    for (tag, override_value) in [("default", None), ("empty-override", Some(""))] {
        let mut scenario = Scenario::new(name)
            .without_library_override()
            .env("LD_LIBRARY_PATH", "")
            .param(tag);
        if let Some(value) = override_value {
            scenario = scenario.env("ERGON_NVML_LIBRARY", value);
        }
        let run = scenario.run(body);
        let [message] = run.report().try_into().unwrap();
        if message.starts_with("loaded ") {
            eprintln!("a real NVML is installed on this machine ({message}); skipping");
            continue;
        }
        assert!(
            message.starts_with(
                "LibraryNotFound: NVML is unavailable: no NVIDIA management library could be \
                 loaded (tried libnvidia-ml.so.1: "
            ),
            "{message}"
        );
        assert!(message.contains("; libnvidia-ml.so: "), "{message}");
    }

    // A shared library that is not NVML.
    let run = Scenario::new(name)
        .env("ERGON_NVML_LIBRARY", "libm.so.6")
        .param("not-nvml")
        .run(body);
    assert_eq!(
        run.report(),
        ["NotNvmlLibrary: libm.so.6 is not a usable NVML library: it does not export nvmlInit_v2"]
    );
}

#[test]
fn the_default_search_honours_ld_library_path() {
    let directory = support::fake_library_dir(support::Variant::Current);
    let run = Scenario::new("the_default_search_honours_ld_library_path")
        .without_library_override()
        .env("LD_LIBRARY_PATH", directory.to_str().unwrap())
        .run(|| {
            let nvml = Nvml::init().unwrap();
            report(nvml.library_path());
            report(nvml.device_count().unwrap().to_string());
        });
    assert_eq!(run.report(), ["libnvidia-ml.so.1", "1"]);
}
