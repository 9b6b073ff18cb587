//! The GPU functions of the C ABI against the fake NVML (`tests/fake-nvml/fake_nvml.c`).
//!
//! NVML state and the environment are process-global, so every scenario runs in a child process
//! (the harness of `hwctl/tests/support`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::undocumented_unsafe_blocks
)]

#[path = "../../hwctl/tests/support/mod.rs"]
mod support;

use std::ffi::{CStr, c_char};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::ptr::{null, null_mut};

use common::{
    created, option, pipeline_problem, plan_stage, read_text, stage0_profiles, thread_error,
};
use ergon::*;

mod common;
use support::{Scenario, default_state, report};

fn executor_error(e: *const ergon_gpu_executor) -> String {
    read_text(|buf, cap, len| unsafe { ergon_gpu_executor_last_error(e, buf, cap, len) })
}

fn text(field: &[c_char; 96]) -> String {
    unsafe { CStr::from_ptr(field.as_ptr()) }
        .to_str()
        .unwrap()
        .to_owned()
}

/// True in a scenario's child process (which runs its test from the start: no side effects
/// before the first `Scenario::run` there).
fn in_child() -> bool {
    std::env::var_os("HWCTL_TEST_SCENARIO").is_some()
}

/// A private state directory for `ERGON_STATE_DIR`.
fn state_dir(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("ffi-gpu-state")
        .join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// A one-stage plan (one microbatch: forward then backward) at its minimum-energy point, with
/// clocks the fake Ampere supports (210..=1410 MHz in 15 MHz steps).
fn one_stage_plan() -> *mut ergon_perseus_plan {
    let forward = [
        option(1410, 0.010, 3.0),
        option(1200, 0.012, 2.2),
        // Slower and costlier than 1200 MHz: the forward pass stays at 1200 MHz.
        option(1005, 0.015, 2.5),
    ];
    let backward = [
        option(1410, 0.020, 6.0),
        option(1200, 0.024, 4.4),
        option(1005, 0.030, 4.0),
    ];
    let profiles = stage0_profiles(&forward, &backward);
    let problem = pipeline_problem(&profiles, 1, 1, 60.0);
    let mut f = null_mut();
    let status = unsafe { ergon_perseus_frontier_new(&problem, &mut f) };
    let f = created(status, f).unwrap();
    assert_eq!(unsafe { ergon_perseus_frontier_solve(f) }, ergon_status::Ok);
    let mut plan = null_mut();
    let status =
        unsafe { ergon_perseus_frontier_plan(f, ERGON_PERSEUS_PLAN_T_STAR, 0.0, &mut plan) };
    unsafe { ergon_perseus_frontier_free(f) };
    created(status, plan).unwrap()
}

#[test]
fn ffi_gpu_count_and_info_of_two_gpus() {
    let name = "ffi_gpu_count_and_info_of_two_gpus";
    let run = Scenario::new(name)
        .env("FAKE_NVML_DEVICES", "2")
        .env("FAKE_NVML_ARCH", "ampere,ada")
        .run(|| {
            let mut count = 0u32;
            assert_eq!(
                unsafe { ergon_gpu_device_count(&mut count) },
                ergon_status::Ok
            );
            report(format!("count {count}"));
            for i in 0..count {
                let mut info: ergon_gpu_device_info = unsafe { std::mem::zeroed() };
                assert_eq!(
                    unsafe { ergon_gpu_device_get_info(i, &mut info) },
                    ergon_status::Ok
                );
                report(format!(
                    "{} {} {} {} {}",
                    info.index,
                    info.architecture,
                    info.is_mig,
                    text(&info.uuid).starts_with("GPU-"),
                    text(&info.name)
                ));
            }
            let mut info: ergon_gpu_device_info = unsafe { std::mem::zeroed() };
            let status = unsafe { ergon_gpu_device_get_info(2, &mut info) };
            report(format!("{status:?} {}", thread_error()));
        });
    let lines = run.report();
    assert_eq!(lines[0], "count 2");
    assert_eq!(lines[1], "0 7 false true NVIDIA A100-SXM4-40GB");
    assert_eq!(lines[2], "1 8 false true NVIDIA L40S");
    assert!(
        lines[3].starts_with("OutOfRange ergon_gpu_device_get_info: GPU 2 does not exist"),
        "{}",
        lines[3]
    );
}

/// Two iterations of a one-stage plan: the fake sees the startup lock at the maximum, then each
/// planned clock change, the plan's highest clock at the end of each iteration (for the work
/// between iterations), and everything is restored by `ergon_gpu_executor_free`.
#[test]
fn ffi_plan_executor_runs_two_iterations_and_restores() {
    let name = "ffi_plan_executor_runs_two_iterations_and_restores";
    let dir = state_dir(name);
    let run = Scenario::new(name)
        .env("ERGON_STATE_DIR", dir.to_str().unwrap())
        .run(|| {
            let plan = one_stage_plan();
            let (kinds, freqs) = plan_stage(plan, 0);
            report(format!("freqs {freqs:?}"));
            let mut e = null_mut();
            let status = unsafe { ergon_gpu_executor_new("0".as_ptr().cast(), 1, plan, 0, &mut e) };
            assert_eq!(status, ergon_status::Ok, "{}", thread_error());
            for _ in 0..2 {
                for &k in &kinds {
                    let s = unsafe { ergon_gpu_executor_instruction_begin(e, k) };
                    assert_eq!(s, ergon_status::Ok, "{}", executor_error(e));
                    assert_eq!(
                        unsafe { ergon_gpu_executor_wait_applied(e) },
                        ergon_status::Ok
                    );
                }
                let s = unsafe { ergon_gpu_executor_step_end(e) };
                assert_eq!(s, ergon_status::Ok, "{}", executor_error(e));
            }
            unsafe {
                ergon_gpu_executor_free(e);
                ergon_perseus_plan_free(plan);
            }
        });
    let freqs: Vec<u32> = run.report()[0]
        .trim_start_matches("freqs [")
        .trim_end_matches(']')
        .split(", ")
        .map(|f| f.parse().unwrap())
        .collect();
    let mut expected = vec![1410];
    let mut last = 1410;
    let highest = freqs.iter().copied().max().unwrap();
    for _ in 0..2 {
        for &f in freqs.iter().chain([&highest]) {
            if f != 0 && f != last {
                expected.push(f);
                last = f;
            }
        }
    }
    let locks: Vec<u32> = run
        .log()
        .iter()
        .filter(|l| l.starts_with("nvmlDeviceSetGpuLockedClocks"))
        .map(|l| {
            let min = l.split("min=").nth(1).unwrap();
            min.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(locks, expected, "{:#?}", run.log());
    // The plan has two clocks, so each iteration changes the lock twice, the second time back
    // to the highest at its end.
    assert_eq!(freqs, [1200, 1005], "{:#?}", run.report());
    assert_eq!(expected, [1410, 1200, 1005, 1200, 1005, 1200]);
    assert!(
        run.calls()
            .iter()
            .any(|c| c == "nvmlDeviceResetGpuLockedClocks"),
        "{:#?}",
        run.log()
    );
    assert_eq!(run.state(), [default_state(0, 400)]);
}

#[test]
fn ffi_plan_executor_rejects_a_wrong_instruction_kind() {
    let name = "ffi_plan_executor_rejects_a_wrong_instruction_kind";
    let dir = state_dir(name);
    let run = Scenario::new(name)
        .env("ERGON_STATE_DIR", dir.to_str().unwrap())
        .run(|| {
            let plan = one_stage_plan();
            let mut e = null_mut();
            let status = unsafe { ergon_gpu_executor_new("0".as_ptr().cast(), 1, plan, 0, &mut e) };
            assert_eq!(status, ergon_status::Ok, "{}", thread_error());
            // The plan starts with a forward pass.
            let s = unsafe { ergon_gpu_executor_instruction_begin(e, ERGON_PERSEUS_KIND_BACKWARD) };
            report(format!("{s:?} {}", executor_error(e)));
            let s = unsafe { ergon_gpu_executor_instruction_begin(e, 7) };
            report(format!("{s:?} {}", executor_error(e)));
            let s = unsafe { ergon_gpu_executor_step_end(e) };
            report(format!("{s:?} {}", executor_error(e)));
            let mut other = null_mut();
            let s = unsafe { ergon_gpu_executor_new("0".as_ptr().cast(), 1, plan, 5, &mut other) };
            report(format!("{s:?} {}", thread_error()));
            unsafe {
                ergon_gpu_executor_free(e);
                ergon_perseus_plan_free(plan);
            }
        });
    let lines = run.report();
    assert!(
        lines[0].starts_with("InvalidState ergon_gpu_executor_instruction_begin: plan mismatch")
            && lines[0].contains("\"forward\"")
            && lines[0].contains("\"backward\""),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("InvalidArgument ") && lines[1].contains("unknown instruction kind 7"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("InvalidState ") && lines[2].contains("incomplete iteration"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("OutOfRange ") && lines[3].contains("stage 5 does not exist"),
        "{}",
        lines[3]
    );
    assert_eq!(run.state(), [default_state(0, 400)]);
}

#[test]
fn ffi_energy_window_on_ampere() {
    let name = "ffi_energy_window_on_ampere";
    let run = Scenario::new(name).env("FAKE_NVML_POWER_W", "200").run(|| {
        let mut m = null_mut();
        let s = unsafe { ergon_gpu_energy_monitor_new("0".as_ptr().cast(), 1, &mut m) };
        assert_eq!(s, ergon_status::Ok, "{}", thread_error());
        assert_eq!(
            unsafe { ergon_gpu_energy_monitor_begin(m, "step".as_ptr().cast(), 4) },
            ergon_status::Ok
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (mut t, mut j) = (0.0, 0.0);
        assert_eq!(
            unsafe { ergon_gpu_energy_monitor_end(m, "step".as_ptr().cast(), 4, &mut t, &mut j) },
            ergon_status::Ok
        );
        report(format!("{t} {j}"));
        let s =
            unsafe { ergon_gpu_energy_monitor_end(m, "step".as_ptr().cast(), 4, &mut t, &mut j) };
        let mut len = 0usize;
        unsafe { ergon_gpu_energy_monitor_last_error(m, null_mut(), 0, &mut len) };
        let mut buf = vec![0u8; len + 1];
        unsafe {
            ergon_gpu_energy_monitor_last_error(m, buf.as_mut_ptr().cast(), buf.len(), &mut len)
        };
        buf.truncate(len);
        report(format!("{s:?} {}", String::from_utf8(buf).unwrap()));
        unsafe { ergon_gpu_energy_monitor_free(m) };
    });
    let lines = run.report();
    let mut parts = lines[0].split(' ').map(|v| v.parse::<f64>().unwrap());
    let (t, j) = (parts.next().unwrap(), parts.next().unwrap());
    assert!((0.09..1.0).contains(&t), "{t}");
    // 200 W over the window, within the counter's millijoule resolution.
    assert!(
        (j - 200.0 * t).abs() < 0.05 * 200.0 * t + 0.01,
        "{t} s {j} J"
    );
    assert!(
        lines[1].starts_with("InvalidState ergon_gpu_energy_monitor_end: no energy window"),
        "{}",
        lines[1]
    );
}

#[test]
fn ffi_gpu_calls_without_nvml_are_nvml_unavailable() {
    let name = "ffi_gpu_calls_without_nvml_are_nvml_unavailable";
    let run = Scenario::new(name)
        .env("ERGON_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1")
        .run(|| {
            let mut count = 0u32;
            let s = unsafe { ergon_gpu_device_count(&mut count) };
            report(format!("{s:?}|{}", thread_error()));
            let mut m = null_mut();
            let s = unsafe { ergon_gpu_energy_monitor_new("0".as_ptr().cast(), 1, &mut m) };
            report(format!("{s:?}|{}", thread_error()));
            assert!(m.is_null());
        });
    for line in run.report() {
        assert!(
            line.starts_with("NvmlUnavailable|") && line.contains("/nonexistent/libnvidia-ml.so.1"),
            "{line}"
        );
    }
}

#[test]
fn ffi_gpu_null_pointers_are_null_pointer() {
    // No NVML is needed: pointers are checked first.
    unsafe {
        assert_eq!(
            ergon_gpu_state_restore(null_mut()),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_gpu_device_count(null_mut()),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_gpu_device_get_info(0, null_mut()),
            ergon_status::NullPointer
        );
        let mut e = null_mut();
        assert_eq!(
            ergon_gpu_executor_new(null(), 0, null(), 0, &mut e),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_gpu_executor_new("0".as_ptr().cast(), 1, null(), 0, &mut e),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_gpu_executor_new("0".as_ptr().cast(), 1, null(), 0, null_mut()),
            ergon_status::NullPointer
        );
        assert!(e.is_null());
        assert_eq!(
            ergon_gpu_executor_instruction_begin(null_mut(), ERGON_PERSEUS_KIND_FORWARD),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_gpu_executor_step_end(null_mut()),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_gpu_executor_wait_applied(null_mut()),
            ergon_status::NullPointer
        );
        let mut len = 0usize;
        assert_eq!(
            ergon_gpu_executor_last_error(null(), null_mut(), 0, &mut len),
            ergon_status::NullPointer
        );
        ergon_gpu_executor_free(null_mut());
        let mut m = null_mut();
        assert_eq!(
            ergon_gpu_energy_monitor_new(null(), 0, &mut m),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_gpu_energy_monitor_new("0".as_ptr().cast(), 1, null_mut()),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_gpu_energy_monitor_begin(null_mut(), "w".as_ptr().cast(), 1),
            ergon_status::NullPointer
        );
        let (mut t, mut j) = (0.0, 0.0);
        assert_eq!(
            ergon_gpu_energy_monitor_end(null_mut(), "w".as_ptr().cast(), 1, &mut t, &mut j),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_gpu_energy_monitor_last_error(null(), null_mut(), 0, &mut len),
            ergon_status::NullPointer
        );
        ergon_gpu_energy_monitor_free(null_mut());
        // A plan handle is not an executor.
        let plan = one_stage_plan();
        assert_eq!(
            ergon_gpu_executor_step_end(plan.cast()),
            ergon_status::NullPointer
        );
        ergon_perseus_plan_free(plan);
    }
}

/// GPU settings left behind, for the scenarios of the test `name`: the runs share a fake GPU
/// state and a GPU state file (both removed when the test starts).
struct LeftBehind {
    name: &'static str,
    dir: std::path::PathBuf,
}

impl LeftBehind {
    fn new(name: &'static str) -> Self {
        let dir = state_dir(name);
        if !in_child() {
            let _ = fs::remove_file(dir.join("fake-state"));
            let _ = fs::remove_file(dir.join(ergon_hwctl::STATE_FILE_NAME));
        }
        LeftBehind { name, dir }
    }

    /// Runs `param` ("crash": a process locks a clock through a persistent guard and dies
    /// without restoring it; anything else: `ergon_gpu_state_restore`, reported as
    /// `STATUS|RESTORED|MESSAGE` with RESTORED 7 when nothing was written), against the fake
    /// NVML or, with `nvml` false, without NVML.
    fn run(&self, param: &str, nvml: bool) -> support::Outcome {
        let mut scenario = Scenario::new(self.name)
            .param(param)
            .env("FAKE_NVML_STATE", self.fake_state().to_str().unwrap())
            .env("ERGON_STATE_DIR", self.dir.to_str().unwrap());
        if !nvml {
            scenario = scenario.env("ERGON_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1");
        }
        scenario.run(|| match support::param().as_str() {
            "crash" => {
                let nvml = ergon_hwctl::Nvml::init().unwrap();
                let gpu = nvml.device("0").unwrap();
                let mut guard = ergon_hwctl::PersistentGuard::new().unwrap();
                guard.lock_gpu_clocks(&gpu, 1200, 1200).unwrap();
                std::mem::forget(guard);
                std::process::exit(0);
            }
            _ => {
                let mut restored = 7usize;
                let status = unsafe { ergon_gpu_state_restore(&mut restored) };
                report(format!("{status:?}|{restored}|{}", thread_error()));
            }
        })
    }

    fn fake_state(&self) -> std::path::PathBuf {
        self.dir.join("fake-state")
    }

    /// The first line of the fake GPU's state.
    fn gpu_state(&self) -> String {
        let state = fs::read_to_string(self.fake_state()).unwrap();
        state.lines().next().unwrap().to_owned()
    }
}

/// A process dies with a clock locked; a second one calls `ergon_gpu_state_restore`.
#[test]
fn ffi_gpu_restore_puts_back_a_lock_left_behind() {
    let left = LeftBehind::new("ffi_gpu_restore_puts_back_a_lock_left_behind");
    left.run("crash", true);
    assert!(
        left.gpu_state().contains("gpu_locked=1200:1200"),
        "{}",
        left.gpu_state()
    );
    assert_eq!(left.run("restore", true).report(), ["Ok|1|"]);
    assert_eq!(left.gpu_state(), default_state(0, 400));
    // Nothing left to restore.
    assert_eq!(left.run("again", true).report(), ["Ok|0|"]);
}

#[test]
fn ffi_gpu_restore_without_nvml_is_nvml_unavailable() {
    let left = LeftBehind::new("ffi_gpu_restore_without_nvml_is_nvml_unavailable");
    left.run("crash", true);
    let line = &left.run("restore", false).report()[0];
    assert!(
        line.starts_with("NvmlUnavailable|7|ergon_gpu_state_restore: ")
            && line.contains("/nonexistent/libnvidia-ml.so.1"),
        "{line}"
    );
}
