//! End-to-end tests of `ergon gpu`: the built binary run against the fake NVML library
//! (`tests/fake-nvml/fake_nvml.c`, compiled here with `$CC`, default `cc`) with its state and
//! call log in a scratch folder, and the GPU state file in another (`ERGON_STATE_DIR`): list and
//! show output and JSON, lock/power-limit then restore back to the fake's original state, reset,
//! a state file left by a killed process, monitor, permission errors and a machine without NVML.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod support;
use support::*;

#[path = "../../hwctl/tests/support/mod.rs"]
mod nvml;

const GPU0: &str = "GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab";
const GPU1: &str = "GPU-f0000001-5a6b-4c3d-8e9f-0123456789ab";
const MIG: &str = "MIG-e0000000-7c6d-4e5f-9a0b-0123456789ab";

/// GPU 0 starts with a lowered power limit and persistence mode on; GPU 1 with the defaults.
const INITIAL: [&str; 2] = [
    "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=300000 persistence=1",
    "gpu=1 gpu_locked=none mem_locked=none power_limit_mw=400000 persistence=0",
];

/// The fake NVML library, built once per test process by hwctl's test support (the same
/// fixture hwctl's own tests load).
fn fake_library() -> &'static Path {
    nvml::fake_library(nvml::Variant::Current)
}

/// A scratch folder with the fake's state and log, the GPU state directory, and the
/// environment every run gets (and nothing else).
struct Gpus {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Gpus {
    /// Two simulated A100s starting from [`INITIAL`].
    fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("gpu-cli")
            .join(name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("fake-state"), INITIAL.join("\n") + "\n").unwrap();
        let gpus = Self {
            dir,
            env: Vec::new(),
        };
        gpus.env("FAKE_NVML_DEVICES", "2")
    }

    fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    fn state_file(&self) -> PathBuf {
        self.state_dir().join("gpu-state.json")
    }

    /// Runs `ergon gpu ARGS`.
    fn run(&self, args: &[&str]) -> Output {
        let mut command = Bin::Ergon.command(&self.dir, &[&["gpu"], args].concat());
        // Nothing is inherited: a CUDA_VISIBLE_DEVICES, XDG_RUNTIME_DIR or FAKE_NVML_* of the
        // caller cannot change what the fake shows or where the state file goes.
        command
            .env_clear()
            .env("ERGON_NVML_LIBRARY", fake_library())
            .env("FAKE_NVML_STATE", self.dir.join("fake-state"))
            .env("FAKE_NVML_LOG", self.dir.join("fake-log"))
            .env("ERGON_STATE_DIR", self.state_dir());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.output().expect("could not run the ergon binary")
    }

    /// The fake's per-GPU settings.
    fn fake_state(&self) -> Vec<String> {
        read_lines(&self.dir.join("fake-state"))
    }

    /// The fake's call log.
    fn fake_log(&self) -> Vec<String> {
        read_lines(&self.dir.join("fake-log"))
    }

    fn clear_log(&self) {
        let _ = fs::remove_file(self.dir.join("fake-log"));
    }

    fn state_json(&self) -> Value {
        serde_json::from_str(&fs::read_to_string(self.state_file()).unwrap()).unwrap()
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Reads

#[test]
fn list_prints_a_table_and_json() {
    let gpus = Gpus::new("list").env("FAKE_NVML_ARCH", "ampere,hopper");
    let text = assert_success(&gpus.run(&["list"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "NVIDIA driver 555.42.06-fake, 2 GPU(s)");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        [
            "index",
            "uuid",
            "name",
            "architecture",
            "pci",
            "bus",
            "id",
            "mig"
        ]
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        [
            "0",
            GPU0,
            "NVIDIA",
            "A100-SXM4-40GB",
            "ampere",
            "00000000:07:00.0",
            "off"
        ]
    );
    assert!(lines[3].starts_with(&format!("1      {GPU1}  NVIDIA H100 80GB HBM3")));
    assert_eq!(lines.len(), 4);

    let json = parse_json(&gpus.run(&["list", "--json"]));
    assert_eq!(json["schema"], "ergon-gpu-list/v1");
    assert_eq!(json["driver_version"], "555.42.06-fake");
    let devices = json["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    assert_eq!(
        devices[1],
        serde_json::json!({
            "index": 1,
            "uuid": GPU1,
            "name": "NVIDIA H100 80GB HBM3",
            "architecture": "hopper",
            "pci_bus_id": "00000000:08:00.0",
            "mig_mode": false,
            "mig_parent": null,
        })
    );
    // Reading changes nothing.
    assert!(
        gpus.fake_log()
            .iter()
            .all(|l| !l.starts_with("nvmlDeviceSet") && !l.starts_with("nvmlDeviceReset"))
    );
    assert_eq!(gpus.fake_state(), INITIAL);
    assert!(!gpus.state_dir().exists());
}

#[test]
fn show_prints_clocks_power_and_energy() {
    let gpus = Gpus::new("show").env("FAKE_NVML_POWER_W", "150");
    let text = assert_success(&gpus.run(&["show", "0"]));
    for expected in [
        "GPU 0: NVIDIA A100-SXM4-40GB",
        &format!("  uuid                 {GPU0}"),
        "  architecture         ampere",
        "  pci bus id           00000000:07:00.0",
        "  mig                  off",
        "  persistence mode     on",
        "  sm       clock       1410 MHz (max 1410 MHz)",
        "  memory   clock       1215 MHz (max 1215 MHz)",
        "    memory 1215 MHz: graphics 210–1410 MHz (81 clocks)",
        "  power limit          300 W",
        "  allowed range        100 W – 400 W",
        "  default limit        400 W",
        "  power draw           150 W",
        "  clock-event reasons  sw_power_cap",
        "  enforced limit       300 W",
    ] {
        assert!(
            text.lines().any(|line| line == expected),
            "no line {expected:?} in:\n{text}"
        );
    }
    assert!(text.contains("  energy counter       "), "{text}");

    // By UUID, as JSON.
    let json = parse_json(&gpus.run(&["show", GPU1, "--json"]));
    assert_eq!(json["schema"], "ergon-gpu-show/v1");
    assert_eq!(json["index"], 1);
    assert_eq!(json["uuid"], GPU1);
    assert_eq!(json["architecture"], "ampere");
    assert_eq!(json["clocks"]["sm"]["current_mhz"], 1410);
    assert_eq!(json["clocks"]["memory"]["max_mhz"], 1215);
    let supported = json["supported_clocks"].as_array().unwrap();
    assert_eq!(supported.len(), 1);
    assert_eq!(supported[0]["memory_mhz"], 1215);
    let graphics = supported[0]["graphics_mhz"].as_array().unwrap();
    assert_eq!((graphics.len(), &graphics[0]), (81, &Value::from(1410)));
    assert_eq!(json["power_limit_mw"], 400_000);
    assert_eq!(json["default_power_limit_mw"], 400_000);
    assert_eq!(json["enforced_power_limit_mw"], 400_000);
    assert_eq!(
        json["power_limit_constraints_mw"],
        serde_json::json!({"min": 100_000, "max": 400_000})
    );
    assert_eq!(json["power_draw_mw"], 150_000);
    assert!(json["total_energy_mj"].as_u64().unwrap() > 0);
    assert_eq!(
        json["clock_event_reasons"],
        serde_json::json!({"mask": 1, "names": ["gpu_idle"]})
    );
    assert_eq!(json["persistence_mode"], false);
    assert_eq!(json["mig_mode"], false);
    assert_eq!(gpus.fake_state(), INITIAL);
}

#[test]
fn show_reports_what_an_old_gpu_lacks() {
    let gpus = Gpus::new("show-old").env("FAKE_NVML_ARCH", "pascal").env(
        "FAKE_NVML_UNSUPPORTED",
        "nvmlDeviceGetTotalEnergyConsumption",
    );
    let text = assert_success(&gpus.run(&["show", "0"]));
    assert!(
        text.contains("  energy counter       n/a (not supported)"),
        "{text}"
    );
    let json = parse_json(&gpus.run(&["show", "0", "--json"]));
    assert_eq!(json["architecture"], "pascal");
    assert_eq!(json["total_energy_mj"], Value::Null);
    assert_eq!(json["mig_mode"], Value::Null);
}

#[test]
fn monitor_prints_power_and_energy_over_time() {
    let gpus = Gpus::new("monitor")
        .env("FAKE_NVML_POWER_W", "150")
        .env("FAKE_NVML_ARCH", "ampere,pascal");
    let text = assert_success(&gpus.run(&["monitor", "--seconds", "0.4", "--interval-ms", "100"]));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("GPU 0 ({GPU0}, NVIDIA A100-SXM4-40GB)"))
            && lines[0].ends_with("energy from the energy counter"),
        "{text}"
    );
    assert!(
        lines[1].ends_with("energy from the power sampling (trapezoid rule)"),
        "{text}"
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["time_s", "gpu", "power_w", "energy_j"]
    );
    // Four samples of each GPU, then one summary line per GPU.
    let samples: Vec<Vec<&str>> = lines[3..11]
        .iter()
        .map(|line| line.split_whitespace().collect())
        .collect();
    let mut previous = [0.0f64; 2];
    for (i, sample) in samples.iter().enumerate() {
        assert_eq!(sample[1..3], ["GPU", if i % 2 == 0 { "0" } else { "1" }]);
        assert_eq!(sample[3], "150.0", "{text}");
        let energy: f64 = sample[4].parse().unwrap();
        assert!(energy > previous[i % 2], "{text}");
        previous[i % 2] = energy;
    }
    let time_s: f64 = samples[7][0].parse().unwrap();
    // Generous bounds: a loaded machine may wake the monitor late.
    assert!((0.4..5.0).contains(&time_s), "{text}");
    for (gpu, energy) in previous.iter().enumerate() {
        // 150 W for about 0.4 s.
        assert!(
            (55.0..750.0).contains(energy),
            "GPU {gpu}: {energy} J\n{text}"
        );
    }
    for (gpu, line) in lines[11..13].iter().enumerate() {
        assert!(line.starts_with(&format!("GPU {gpu}: ")), "{text}");
        let average: f64 = line
            .rsplit("(average ")
            .next()
            .and_then(|rest| rest.strip_suffix(" W)"))
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no average power in {line:?}"));
        assert!((140.0..=160.0).contains(&average), "{text}");
    }
    assert_eq!(lines.len(), 13, "{text}");

    // One device, by index.
    let text = assert_success(&gpus.run(&["monitor", "1", "--seconds", "0.1"]));
    assert!(text.lines().all(|line| !line.contains("GPU 0")), "{text}");
    assert_eq!(gpus.fake_state(), INITIAL);
}

// ---------------------------------------------------------------------------------------------
// Commands and restore

#[test]
fn lock_and_power_limit_then_restore_returns_the_gpus_to_their_original_state() {
    let gpus = Gpus::new("lock-restore");
    let text = assert_success(&gpus.run(&["lock", "0", "--sm", "1200", "--mem", "1215"]));
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            format!(
                "GPU 0 ({GPU0}, NVIDIA A100-SXM4-40GB): SM clock locked at 1200 MHz, memory \
                 clock at 1215 MHz."
            ),
            format!(
                "The original settings are recorded in {}; `ergon gpu restore` puts them back.",
                gpus.state_file().display()
            ),
        ]
    );
    // A UUID prefix names GPU 1.
    let text = assert_success(&gpus.run(&["power-limit", "GPU-f0000001", "250"]));
    assert!(
        text.starts_with(&format!(
            "GPU 1 ({GPU1}, NVIDIA A100-SXM4-40GB): power limit set to 250 W (was 400 W)."
        )),
        "{text}"
    );
    // A second change of a recorded setting keeps the first original.
    assert_success(&gpus.run(&["power-limit", "1", "225.5"]));
    assert_eq!(
        gpus.fake_state(),
        [
            "gpu=0 gpu_locked=1200:1200 mem_locked=1215:1215 power_limit_mw=300000 persistence=1",
            "gpu=1 gpu_locked=none mem_locked=none power_limit_mw=225500 persistence=0",
        ]
    );
    let state = gpus.state_json();
    assert_eq!(state["schema"], "ergon-gpu-state/v1");
    let entries: Vec<(String, String, Value)> = state["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["uuid"].as_str().unwrap().to_owned(),
                e["setting"].as_str().unwrap().to_owned(),
                e["original_mw"].clone(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            (GPU0.into(), "gpu_locked_clocks".into(), Value::Null),
            (GPU0.into(), "memory_locked_clocks".into(), Value::Null),
            (GPU1.into(), "power_limit".into(), Value::from(400_000)),
        ]
    );

    gpus.clear_log();
    let text = assert_success(&gpus.run(&["restore"]));
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            format!("restored {GPU1}: power limit (originally 400000 mW)"),
            format!("restored {GPU0}: locked memory clocks (restored by a reset)"),
            format!("restored {GPU0}: locked GPU clocks (restored by a reset)"),
        ]
    );
    assert_eq!(gpus.fake_state(), INITIAL);
    assert!(!gpus.state_file().exists());
    assert_eq!(
        gpus.fake_log(),
        [
            "nvmlInit_v2 -> SUCCESS".to_owned(),
            format!("nvmlDeviceGetHandleByUUID uuid={GPU1} -> SUCCESS"),
            "nvmlDeviceSetPowerManagementLimit dev=1 limit_mw=400000 -> SUCCESS".into(),
            format!("nvmlDeviceGetHandleByUUID uuid={GPU0} -> SUCCESS"),
            "nvmlDeviceResetMemoryLockedClocks dev=0 -> SUCCESS".into(),
            format!("nvmlDeviceGetHandleByUUID uuid={GPU0} -> SUCCESS"),
            "nvmlDeviceResetGpuLockedClocks dev=0 -> SUCCESS".into(),
            "nvmlShutdown -> SUCCESS".into(),
        ]
    );

    // Nothing left to do.
    gpus.clear_log();
    let text = assert_success(&gpus.run(&["restore"]));
    assert_eq!(
        text,
        format!(
            "Nothing to restore: {} records no GPU setting.\n",
            gpus.state_file().display()
        )
    );
    assert!(
        gpus.fake_log().is_empty(),
        "restore loaded NVML for nothing"
    );
}

#[test]
fn restore_puts_back_what_a_killed_process_left_in_the_state_file() {
    // What a trainer killed with SIGKILL leaves: its changes on the GPUs, and their originals
    // (written before each change) in the state file, owned by a process that is gone.
    let gpus = Gpus::new("killed");
    fs::write(
        gpus.dir.join("fake-state"),
        "gpu=0 gpu_locked=1005:1005 mem_locked=none power_limit_mw=300000 persistence=0\n\
         gpu=1 gpu_locked=none mem_locked=1215:1215 power_limit_mw=150000 persistence=0\n",
    )
    .unwrap();
    fs::create_dir_all(gpus.state_dir()).unwrap();
    let dead_pid = u32::MAX - 1;
    fs::write(
        gpus.state_file(),
        format!(
            r#"{{
  "schema": "ergon-gpu-state/v1",
  "entries": [
    {{ "uuid": "{GPU0}", "setting": "gpu_locked_clocks", "owners": [{dead_pid}], "recorded_unix_s": 1 }},
    {{ "uuid": "{GPU0}", "setting": "persistence_mode", "original_enabled": true, "owners": [{dead_pid}], "recorded_unix_s": 1 }},
    {{ "uuid": "{GPU1}", "setting": "memory_locked_clocks", "owners": [{dead_pid}], "recorded_unix_s": 2 }},
    {{ "uuid": "{GPU1}", "setting": "power_limit", "original_mw": 400000, "owners": [{dead_pid}], "recorded_unix_s": 2 }}
  ]
}}
"#
        ),
    )
    .unwrap();
    let out = gpus.run(&["restore"]);
    let text = assert_success(&out);
    assert_eq!(text.lines().count(), 4, "{text}");
    assert_eq!(stderr(&out), "", "no owner is running");
    assert_eq!(gpus.fake_state(), INITIAL);
    assert!(!gpus.state_file().exists());
}

#[test]
fn restore_keeps_what_it_cannot_restore_and_fails() {
    let gpus = Gpus::new("restore-fails");
    assert_success(&gpus.run(&["lock", "1", "--sm", "1100"]));
    let out = gpus
        .clone_with("FAKE_NVML_UNSUPPORTED", "nvmlDeviceResetGpuLockedClocks")
        .run(&["restore"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with(&format!(
            "FAILED {GPU1}: locked GPU clocks (restored by a reset): \
             nvmlDeviceResetGpuLockedClocks on {GPU1}: not supported"
        )),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        stderr(&out).trim_end(),
        format!(
            "error: 1 GPU setting(s) could not be restored; they stay in {} (fix the cause and \
             run `ergon gpu restore` again)",
            gpus.state_file().display()
        )
    );
    assert!(gpus.state_file().exists());
    // Once the cause is gone, restore finishes the job.
    assert_success(&gpus.run(&["restore"]));
    assert_eq!(gpus.fake_state(), INITIAL);
}

impl Gpus {
    /// The same folder with one more variable.
    fn clone_with(&self, key: &str, value: &str) -> Self {
        let mut env = self.env.clone();
        env.push((key.into(), value.into()));
        Self {
            dir: self.dir.clone(),
            env,
        }
    }
}

#[test]
fn reset_removes_the_clock_locks_and_their_entries() {
    let gpus = Gpus::new("reset");
    assert_success(&gpus.run(&["lock", "0", "--sm", "1200", "--mem", "1215"]));
    assert_success(&gpus.run(&["power-limit", "0", "200"]));
    let text = assert_success(&gpus.run(&["reset", "0"]));
    assert_eq!(
        text,
        format!(
            "GPU 0 ({GPU0}, NVIDIA A100-SXM4-40GB): SM clock lock removed, memory clock lock \
             removed.\n"
        )
    );
    assert_eq!(
        gpus.fake_state()[0],
        "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=200000 persistence=1"
    );
    // Only the power limit is left to restore.
    let entries = gpus.state_json()["entries"].as_array().unwrap().clone();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["setting"], "power_limit");
    assert_success(&gpus.run(&["restore"]));
    assert_eq!(gpus.fake_state(), INITIAL);
}

#[test]
fn a_failed_memory_lock_undoes_the_sm_lock() {
    let gpus = Gpus::new("partial").env("FAKE_NVML_ARCH", "turing");
    assert_one_line_error(
        &gpus.run(&["lock", "0", "--sm", "1200", "--mem", "5001"]),
        &[
            "nvmlDeviceSetMemoryLockedClocks on GPU 0",
            "NVML_ERROR_NOT_SUPPORTED",
            "Ampere",
        ],
    );
    assert_eq!(gpus.fake_state(), INITIAL);
    assert!(!gpus.state_file().exists());
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn permission_errors_explain_how_to_grant_cap_sys_admin() {
    let gpus = Gpus::new("permission").env("FAKE_NVML_ROOT", "0");
    for args in [
        &["lock", "0", "--sm", "1200"][..],
        &["power-limit", "1", "250"],
        &["reset", "0"],
    ] {
        assert_one_line_error(
            &gpus.run(args),
            &[
                "permission denied (NVML_ERROR_NO_PERMISSION)",
                "CAP_SYS_ADMIN",
                "--cap-add SYS_ADMIN",
                "root",
            ],
        );
    }
    assert_eq!(gpus.fake_state(), INITIAL);
    assert!(
        !gpus.state_file().exists(),
        "a refused change left an entry"
    );
    // Reads need no privilege.
    assert_success(&gpus.run(&["show", "0"]));
}

#[test]
fn without_nvml_every_command_fails_with_one_clean_line() {
    let gpus = Gpus::new("no-nvml");
    let missing = gpus.dir.join("no-driver").join("libnvidia-ml.so.1");
    let gpus = gpus.env("ERGON_NVML_LIBRARY", missing.to_str().unwrap());
    for args in [
        &["list"][..],
        &["list", "--json"],
        &["show", "0"],
        &["lock", "0", "--sm", "1200"],
        &["reset", "0"],
        &["power-limit", "0", "250"],
        &["monitor", "--seconds", "1"],
    ] {
        assert_one_line_error(
            &gpus.run(args),
            &[
                "error: NVML is unavailable",
                missing.to_str().unwrap(),
                "ERGON_NVML_LIBRARY",
            ],
        );
    }
    // Nothing recorded: restore has nothing to do and needs no NVML.
    assert!(assert_success(&gpus.run(&["restore"])).starts_with("Nothing to restore"));
    // Something recorded: restore needs NVML and says so.
    fs::create_dir_all(gpus.state_dir()).unwrap();
    fs::write(
        gpus.state_file(),
        format!(
            r#"{{"schema":"ergon-gpu-state/v1","entries":[{{"uuid":"{GPU0}","setting":"gpu_locked_clocks","owners":[1]}}]}}"#
        ),
    )
    .unwrap();
    assert_one_line_error(&gpus.run(&["restore"]), &["NVML is unavailable"]);
    assert!(gpus.state_file().exists());
}

#[test]
fn bad_devices_and_values_are_rejected() {
    let gpus = Gpus::new("bad").env("FAKE_NVML_MIG", "0:1");
    assert_one_line_error(
        &gpus.run(&["show", "7"]),
        &["no GPU matches \"7\"", "no GPU has this NVML index"],
    );
    assert_one_line_error(
        &gpus.run(&["show", "gpu0"]),
        &["expected an NVML index", "GPU-", "MIG-", "cuda:N"],
    );
    // A CUDA ordinal is mapped through CUDA_VISIBLE_DEVICES; one CUDA does not see is refused.
    assert_one_line_error(
        &gpus.run(&["show", "cuda:5"]),
        &["no GPU matches \"cuda:5\"", "this process's CUDA sees"],
    );
    assert_one_line_error(
        &gpus.run(&["power-limit", "0", "50"]),
        &["power limit 50000 mW for GPU 0 is outside the allowed range 100000..=400000 mW"],
    );
    assert_one_line_error(
        &gpus.run(&["power-limit", "0", "--", "-5"]),
        &["not a positive number of watts"],
    );
    // Without `--`, a negative number reaches the same check.
    assert_one_line_error(
        &gpus.run(&["power-limit", "0", "-5"]),
        &["power limit -5 W is not a positive number of watts"],
    );
    // Too large for NVML's milliwatts: the message says so and names the GPU's range.
    let line = assert_one_line_error(
        &gpus.run(&["power-limit", "0", "1e12"]),
        &[
            "power limit 1000000000000 W for GPU 0",
            "above the maximum",
            "100000..=400000 mW",
        ],
    );
    assert!(!line.contains("not a positive"), "{line}");
    assert_one_line_error(&gpus.run(&["lock", "0", "--sm", "0"]), &["0 MHz"]);
    assert_one_line_error(
        &gpus.run(&["lock", MIG, "--sm", "1200"]),
        &["is a MIG device", "refused"],
    );
    assert_one_line_error(
        &gpus.run(&["monitor", "--seconds", "0"]),
        &["--seconds 0 is not a duration"],
    );
    assert_eq!(gpus.fake_state(), INITIAL);
    assert!(!gpus.state_file().exists());
    // A MIG device is shown as such.
    let text = assert_success(&gpus.run(&["show", MIG]));
    assert!(
        text.contains(&format!(
            "  mig                  MIG device of GPU 0 ({GPU0})"
        )),
        "{text}"
    );
    let text = assert_success(&gpus.run(&["list"]));
    assert!(text.lines().nth(2).unwrap().ends_with("  on"), "{text}");
}
