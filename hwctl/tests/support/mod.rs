//! Running hwctl against the fake NVML library (`tests/fake-nvml/fake_nvml.c`).
//!
//! NVML state and the environment are process-global, so every scenario runs in a child
//! process: the test re-executes its own binary, filtered to itself, with
//! `HWCTL_TEST_SCENARIO=<test name>`; [`Scenario::run`] then runs the body there and exits. The
//! body reports what it saw with [`report`]; the parent reads that, the fake's call log and its
//! state file.
//!
//! Rules for a test: call [`Scenario::run`] with one body per test function (the same closure
//! may be run several times with different environments or parameters), and do nothing with
//! side effects before the first `run`, since the child executes the test from its start.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ergon_hwctl::{Device, Nvml};

mod fake_build;
use fake_build::compile_fake;

const SCENARIO_ENV: &str = "HWCTL_TEST_SCENARIO";
const DIR_ENV: &str = "HWCTL_TEST_DIR";
const PARAM_ENV: &str = "HWCTL_TEST_PARAM";

/// Which build of the fake library a scenario loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Every symbol hwctl uses.
    Current,
    /// Built with `-DFAKE_NVML_OLD_DRIVER`: lacks the memory-locked-clock functions and
    /// `nvmlDeviceGetCurrentClocksEventReasons`.
    OldDriver,
}

/// Where [`fake_library`] puts a variant (without building it).
pub fn fake_library_dir(variant: Variant) -> PathBuf {
    let name = match variant {
        Variant::Current => "current",
        Variant::OldDriver => "old-driver",
    };
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("fake-nvml")
        .join(name)
}

fn build_fake(variant: Variant) -> PathBuf {
    let mut flags = vec!["-O1", "-Wall", "-Wextra"];
    if variant == Variant::OldDriver {
        flags.push("-DFAKE_NVML_OLD_DRIVER");
    }
    compile_fake(&fake_library_dir(variant), &flags).unwrap_or_else(|error| panic!("{error}"))
}

/// The fake library, compiled once per test process.
pub fn fake_library(variant: Variant) -> &'static Path {
    static CURRENT: OnceLock<PathBuf> = OnceLock::new();
    static OLD: OnceLock<PathBuf> = OnceLock::new();
    match variant {
        Variant::Current => CURRENT.get_or_init(|| build_fake(variant)),
        Variant::OldDriver => OLD.get_or_init(|| build_fake(variant)),
    }
}

/// Appends one line to the scenario's report (child side).
pub fn report(line: impl AsRef<str>) {
    let dir = std::env::var(DIR_ENV).expect("report() outside a scenario child");
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(&dir).join("report"))
        .unwrap();
    writeln!(file, "{}", line.as_ref()).unwrap();
}

/// The parameter the parent passed with [`Scenario::param`] (child side).
pub fn param() -> String {
    std::env::var(PARAM_ENV).unwrap_or_default()
}

/// A command that runs this test binary again, filtered to the test `name` alone, without the
/// variables of the test runner's environment that would steer the fake or hwctl (the `SCRUBBED` list).
pub fn reexec(name: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([name, "--exact", "--nocapture", "--test-threads=1"]);
    for key in SCRUBBED {
        command.env_remove(key);
    }
    command
}

/// A child-process run of a test body against the fake NVML.
pub struct Scenario {
    name: &'static str,
    tag: String,
    variant: Variant,
    set_library: bool,
    env: BTreeMap<String, Option<String>>,
    initial_state: Option<String>,
}

/// Variables the child must not inherit from the test runner's environment.
const SCRUBBED: &[&str] = &[
    "FAKE_NVML_DEVICES",
    "FAKE_NVML_ARCH",
    "FAKE_NVML_ROOT",
    "FAKE_NVML_UNSUPPORTED",
    "FAKE_NVML_FAULT_AT",
    "FAKE_NVML_POWER_W",
    "FAKE_NVML_ENERGY_PERIOD_MS",
    "FAKE_NVML_IDLE_W",
    "FAKE_NVML_POWER_EXP",
    "FAKE_NVML_MEMORY_BOUND",
    "FAKE_NVML_MIG",
    "FAKE_NVML_LOG",
    "FAKE_NVML_STATE",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER",
    "ERGON_NVML_LIBRARY",
    PARAM_ENV,
];

impl Scenario {
    /// `name` must be the test function's name (the child is selected by it).
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            tag: String::new(),
            variant: Variant::Current,
            set_library: true,
            env: BTreeMap::new(),
            initial_state: None,
        }
    }

    /// Sets a variable for the child.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), Some(value.into()));
        self
    }

    /// Simulates `count` GPUs (`FAKE_NVML_DEVICES`; one by default).
    pub fn gpus(self, count: u32) -> Self {
        self.env("FAKE_NVML_DEVICES", count.to_string())
    }

    /// Runs the child without CAP_SYS_ADMIN: the fake refuses every setter with NO_PERMISSION.
    pub fn unprivileged(self) -> Self {
        self.env("FAKE_NVML_ROOT", "0")
    }

    /// Removes a variable from the child's environment.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env.insert(key.into(), None);
        self
    }

    /// Passes a parameter to the body ([`param`]); also names the run's folder.
    pub fn param(mut self, value: impl Into<String>) -> Self {
        let value = value.into();
        self.tag = value
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        self.env.insert(PARAM_ENV.into(), Some(value));
        self
    }

    /// Loads the old-driver build of the fake.
    pub fn old_driver(mut self) -> Self {
        self.variant = Variant::OldDriver;
        self
    }

    /// Starts the fake from these settings (the state file format, one line per GPU; GPUs not
    /// listed keep their defaults).
    pub fn initial_state(mut self, lines: &[&str]) -> Self {
        let mut text = lines.join("\n");
        text.push('\n');
        self.initial_state = Some(text);
        self
    }

    /// Keeps the child's GPU state file in `dir` (`ERGON_STATE_DIR`).
    pub fn gpu_state_dir(self, dir: &Path) -> Self {
        self.env("ERGON_STATE_DIR", dir.to_str().unwrap())
    }

    /// Leaves `ERGON_NVML_LIBRARY` unset (the default search runs).
    pub fn without_library_override(mut self) -> Self {
        self.set_library = false;
        self
    }

    fn dir(&self) -> PathBuf {
        let mut name = self.name.to_owned();
        if !self.tag.is_empty() {
            name.push('-');
            name.push_str(&self.tag);
        }
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("hwctl-scenarios")
            .join(name)
    }

    /// In the child: runs `body` and exits. In the parent: runs the child and returns what it
    /// left behind; panics (with the child's output) if the body failed.
    pub fn run(self, body: impl FnOnce()) -> Outcome {
        if std::env::var(SCENARIO_ENV).as_deref() == Ok(self.name) {
            fs::write(
                Path::new(&std::env::var(DIR_ENV).unwrap()).join("started"),
                "",
            )
            .unwrap();
            body();
            std::process::exit(0);
        }
        let dir = self.dir();
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        if let Some(state) = &self.initial_state {
            fs::write(dir.join("state"), state).unwrap();
        }
        let library = fake_library(self.variant);

        let mut command = reexec(self.name);
        command.env(SCENARIO_ENV, self.name).env(DIR_ENV, &dir);
        command
            .env("FAKE_NVML_LOG", dir.join("log"))
            .env("FAKE_NVML_STATE", dir.join("state"));
        if self.set_library {
            command.env("ERGON_NVML_LIBRARY", library);
        }
        for (key, value) in &self.env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let output = command.output().unwrap();
        let outcome = Outcome {
            dir,
            library: library.to_owned(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(
            output.status.success(),
            "scenario {} ({}) failed with {}:\n--- stdout\n{}\n--- stderr\n{}\n--- fake NVML log\n{}",
            self.name,
            self.tag,
            output.status,
            outcome.stdout,
            outcome.stderr,
            outcome.log().join("\n"),
        );
        assert!(
            outcome.dir.join("started").exists(),
            "the child ran no scenario named {}: is it the test function's name?\n{}",
            self.name,
            outcome.stdout
        );
        outcome
    }
}

/// What a child left behind.
pub struct Outcome {
    /// The scenario folder.
    pub dir: PathBuf,
    /// The fake library the child was pointed at.
    pub library: PathBuf,
    /// The child's standard output.
    pub stdout: String,
    /// The child's standard error.
    pub stderr: String,
}

/// The lines of the file at `path`; none when it does not exist (yet).
pub fn file_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

impl Outcome {
    fn read(&self, name: &str) -> Vec<String> {
        file_lines(&self.dir.join(name))
    }

    /// The fake's call log, one call per line (`name args -> RESULT`).
    pub fn log(&self) -> Vec<String> {
        self.read("log")
    }

    /// Only the NVML function names of the log.
    pub fn calls(&self) -> Vec<String> {
        self.log()
            .iter()
            .map(|line| line.split(' ').next().unwrap_or_default().to_owned())
            .collect()
    }

    /// The lines the body reported.
    pub fn report(&self) -> Vec<String> {
        self.read("report")
    }

    /// Asserts that the first line the body reported contains `needle`.
    #[track_caller]
    pub fn assert_first_report_mentions(&self, needle: &str) {
        let report = self.report();
        assert!(
            report.first().is_some_and(|line| line.contains(needle)),
            "the first reported line does not mention {needle:?}: {report:?}"
        );
    }

    /// The fake's state file, one line per GPU.
    pub fn state(&self) -> Vec<String> {
        self.read("state")
    }

    /// Asserts that every GPU of the fake has its default settings: nothing locked, persistence
    /// off, and the power limit at GPU `i`'s default `power_limits_w[i]`.
    #[track_caller]
    pub fn assert_default_state(&self, power_limits_w: &[u32]) {
        let want: Vec<String> = (0..)
            .zip(power_limits_w)
            .map(|(gpu, &watts)| default_state(gpu, watts))
            .collect();
        assert_eq!(self.state(), want);
    }
}

/// The state line of a GPU the fake has never changed.
pub fn default_state(gpu: u32, power_limit_w: u32) -> String {
    format!(
        "gpu={gpu} gpu_locked=none mem_locked=none power_limit_mw={} persistence=0",
        power_limit_w * 1000
    )
}

/// The device `selector` names (`"0"`, a UUID, …) in a new NVML session, which ends when the
/// device is dropped (child side).
pub fn open_gpu(selector: &str) -> Device {
    Nvml::init().unwrap().device(selector).unwrap()
}

/// The lines of `text`, trimmed: an expected log written as one indented string literal.
pub fn lines(text: &str) -> Vec<String> {
    text.lines().map(|line| line.trim().to_owned()).collect()
}

/// Runs `body` and reports whether it "panicked" or "returned" (child side).
pub fn report_panic(body: impl FnOnce()) {
    let result = std::panic::catch_unwind(AssertUnwindSafe(body));
    report(if result.is_err() {
        "panicked"
    } else {
        "returned"
    });
}

/// Runs `body` (which must panic) in `scenario` and asserts that the fake's GPUs are back in
/// `initial` and that the call log ends with `last_calls` (the restore while unwinding).
pub fn assert_restored_after_panic(
    scenario: Scenario,
    body: impl FnOnce(),
    initial: &[&str],
    last_calls: &[&str],
) {
    let run = scenario.run(|| report_panic(body));
    assert_eq!(run.report(), ["panicked"]);
    assert_eq!(run.state(), initial);
    assert_ends_with(&run.calls(), last_calls);
}

/// Asserts that `lines` ends with `tail`.
#[track_caller]
pub fn assert_ends_with(lines: &[String], tail: &[&str]) {
    assert!(
        lines.len() >= tail.len() && lines[lines.len() - tail.len()..] == *tail,
        "expected the last {} lines to be {tail:#?}, got {lines:#?}",
        tail.len()
    );
}

/// Injects each of `codes` at every NVML call of `body`'s clean run (which must make exactly
/// `calls` calls) and asserts that the fault hit that call and that the fake's GPUs ended as
/// `initial`: whichever call fails, every setting is put back. Returns the clean run.
pub fn assert_every_fault_restores(
    scenario: impl Fn() -> Scenario,
    body: fn(),
    calls: usize,
    codes: &[&str],
    initial: &[&str],
) -> Outcome {
    let clean = scenario().param("none").run(body);
    assert_eq!(clean.log().len(), calls, "{:#?}", clean.log());
    for code in codes {
        for at in 1..=calls {
            let run = scenario()
                .env("FAKE_NVML_FAULT_AT", format!("{at}:{code}"))
                .param(format!("{code}-{at}"))
                .run(body);
            let log = run.log();
            assert!(
                log[at - 1].ends_with(&format!("-> {code}")),
                "fault {code} at {at}: {log:?}"
            );
            assert_eq!(
                run.state(),
                initial,
                "fault {code} at call {at} left the GPUs changed:\n{}\nreport: {:?}",
                log.join("\n"),
                run.report()
            );
        }
    }
    clean
}
