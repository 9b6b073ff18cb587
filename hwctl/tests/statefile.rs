//! The GPU state file and `PersistentGuard` against the fake NVML library: originals are written
//! before each change (and a change is refused when they cannot be), entries of several
//! processes merge (the first original wins), a child process killed with SIGTERM or SIGINT
//! restores everything, one killed with SIGKILL leaves the state file and
//! `restore_from_state_file` puts the GPUs back, ignored signals stay ignored, and a forked child
//! does not trigger its parent's restore.
//!
//! Needs a C compiler (`$CC`, default `cc`); the fake is built into `CARGO_TARGET_TMPDIR`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use ergon_hwctl::{
    Device, Error, GuardOptions, PersistentGuard, Record, STATE_FILE_NAME, Setting, StateEntry,
    StateError, StateFile, restore_from_state_file,
};
use support::{Scenario, Variant, fake_library, file_lines, open_gpu, param, reexec, report};

const GPU0: &str = "GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab";
const GPU1: &str = "GPU-f0000001-5a6b-4c3d-8e9f-0123456789ab";

/// GPU 0 starts with a lowered power limit; GPU 1 with the defaults.
const INITIAL: [&str; 2] = [
    "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=300000 persistence=1",
    "gpu=1 gpu_locked=none mem_locked=none power_limit_mw=400000 persistence=0",
];

/// What the blocking child changes (see [`change_and_block`]).
const CHANGED: [&str; 2] = [
    "gpu=0 gpu_locked=1200:1200 mem_locked=none power_limit_mw=300000 persistence=1",
    "gpu=1 gpu_locked=none mem_locked=1215:1215 power_limit_mw=250000 persistence=0",
];

/// True in a child that `support::Scenario` started: it runs the test function from its start,
/// so everything with side effects before `Scenario::run` must be skipped there.
fn in_scenario_child() -> bool {
    std::env::var_os("HWCTL_TEST_SCENARIO").is_some()
}

/// A folder for one test, emptied first (only named in a scenario child).
fn test_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("statefile-tests")
        .join(name);
    if !in_scenario_child() {
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
    }
    dir
}

/// [`test_dir`], and the GPU state directory in it.
fn test_dirs(name: &str) -> (PathBuf, PathBuf) {
    let dir = test_dir(name);
    let state_dir = dir.join("state");
    (dir, state_dir)
}

/// A scenario whose GPU state file is in this test's folder, and that state directory.
fn with_state_dir(name: &'static str) -> (Scenario, PathBuf) {
    let (_, state_dir) = test_dirs(name);
    (Scenario::new(name).gpu_state_dir(&state_dir), state_dir)
}

/// GPU 0 and a [`PersistentGuard`] with the default options (child side).
fn gpu0_and_guard() -> (Device, PersistentGuard) {
    (open_gpu("0"), PersistentGuard::new().unwrap())
}

fn record(uuid: &str, setting: Setting) -> Record {
    Record {
        uuid: uuid.into(),
        setting,
    }
}

/// The entries as `uuid setting owners`, for comparisons.
fn summary(entries: &[StateEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|entry| format!("{} / {:?}", entry.record, entry.owners))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Blocking children: a process that changes settings through a PersistentGuard and waits to be
// killed. The test re-executes its own binary filtered to itself with CHILD_ENV set.

const CHILD_ENV: &str = "STATEFILE_TEST_CHILD";
const CHILD_DIR_ENV: &str = "STATEFILE_TEST_CHILD_DIR";

/// In the child: true if this test's child should run now.
fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(name)
}

fn child_dir() -> PathBuf {
    PathBuf::from(std::env::var(CHILD_DIR_ENV).unwrap())
}

/// Child side: changes three settings on two GPUs through a `PersistentGuard` with the default
/// options (state file from `ERGON_STATE_DIR`, restore on SIGINT/SIGTERM), says it is ready, and
/// waits (at most two minutes, in case the parent died).
fn change_and_block() -> ! {
    let gpu0 = open_gpu("0");
    let gpu1 = gpu0.nvml().device("1").unwrap();
    let mut guard = PersistentGuard::new().unwrap();
    guard.lock_gpu_clocks(&gpu0, 1200, 1200).unwrap();
    guard.set_power_limit_mw(&gpu1, 250_000).unwrap();
    guard.lock_memory_clocks(&gpu1, 1215, 1215).unwrap();
    block(guard)
}

fn block(guard: PersistentGuard) -> ! {
    fs::write(child_dir().join("ready"), "").unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(guard);
    std::process::exit(3)
}

/// Parent side: a running child and the files it uses.
struct Blocked {
    child: Child,
    dir: PathBuf,
}

impl Blocked {
    /// Starts this test's child with the fake (two GPUs, [`INITIAL`] unless `fake_state` names
    /// another state file) and the state directory `state_dir`; waits until it is ready.
    fn start(
        name: &str,
        dir: &Path,
        state_dir: &Path,
        fake_state: Option<&Path>,
        ignore_sigint: bool,
    ) -> Self {
        let fake_state = fake_state.map_or_else(
            || {
                let path = dir.join("fake-state");
                fs::write(&path, INITIAL.join("\n") + "\n").unwrap();
                path
            },
            Path::to_owned,
        );
        let mut command = reexec(name);
        // The state directory is always given; a runtime directory must not decide it.
        command
            .env_remove("XDG_RUNTIME_DIR")
            .env(CHILD_ENV, name)
            .env(CHILD_DIR_ENV, dir)
            .env("ERGON_NVML_LIBRARY", fake_library(Variant::Current))
            .env("FAKE_NVML_DEVICES", "2")
            .env("FAKE_NVML_LOG", dir.join("fake-log"))
            .env("FAKE_NVML_STATE", &fake_state)
            .env("ERGON_STATE_DIR", state_dir)
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("stdout")).unwrap())
            .stderr(fs::File::create(dir.join("stderr")).unwrap());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                // Start from known dispositions, whatever the test runner inherited.
                let sigint = if ignore_sigint {
                    libc::SIG_IGN
                } else {
                    libc::SIG_DFL
                };
                libc::signal(libc::SIGINT, sigint);
                libc::signal(libc::SIGTERM, libc::SIG_DFL);
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        let mut blocked = Self {
            child,
            dir: dir.to_owned(),
        };
        let start = Instant::now();
        while !dir.join("ready").exists() {
            if let Some(status) = blocked.child.try_wait().unwrap() {
                panic!("the child ended early with {status}\n{}", blocked.output());
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the child never got ready\n{}",
                blocked.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        blocked
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, signal: i32) {
        let pid = libc::pid_t::try_from(self.pid()).unwrap();
        // SAFETY: plain system call on our own child.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("the child did not end\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn output(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}\n--- fake NVML log\n{}",
            fs::read_to_string(self.dir.join("stdout")).unwrap_or_default(),
            fs::read_to_string(self.dir.join("stderr")).unwrap_or_default(),
            file_lines(&self.dir.join("fake-log")).join("\n")
        )
    }

    fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    fn fake_state(&self) -> Vec<String> {
        file_lines(&self.dir.join("fake-state"))
    }

    fn fake_log(&self) -> Vec<String> {
        file_lines(&self.dir.join("fake-log"))
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The state file the blocking child leaves while it holds its changes.
fn expected_entries(pid: u32) -> Vec<String> {
    vec![
        format!("{GPU0}: locked GPU clocks (restored by a reset) / [{pid}]"),
        format!("{GPU1}: power limit (originally 400000 mW) / [{pid}]"),
        format!("{GPU1}: locked memory clocks (restored by a reset) / [{pid}]"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Signals

#[test]
fn sigterm_and_sigint_restore_every_setting_and_end_the_process() {
    let name = "sigterm_and_sigint_restore_every_setting_and_end_the_process";
    if is_child(name) {
        change_and_block();
    }
    for (signal, signal_name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let (dir, state_dir) = test_dirs(&format!("{name}-{signal_name}"));
        let mut child = Blocked::start(name, &dir, &state_dir, None, false);
        assert_eq!(child.fake_state(), CHANGED, "{}", child.output());
        let file = StateFile::new(state_dir.join(STATE_FILE_NAME));
        assert_eq!(
            summary(&file.entries().unwrap()),
            expected_entries(child.pid())
        );

        child.signal(signal);
        let status = child.wait();
        assert_eq!(
            status.signal(),
            Some(signal),
            "{status}\n{}",
            child.output()
        );
        assert_eq!(child.fake_state(), INITIAL, "{}", child.output());
        assert!(!file.path().exists(), "the state file is left behind");
        assert!(
            child.stderr().contains(&format!(
                "ergon-hwctl: {signal_name} received: restored 3 GPU setting(s); exiting"
            )),
            "{}",
            child.output()
        );
        let log = child.fake_log();
        assert_eq!(
            log.iter()
                .filter(|l| l.starts_with("nvmlDeviceReset") || l.contains("limit_mw=400000"))
                .cloned()
                .collect::<Vec<_>>(),
            [
                "nvmlDeviceResetMemoryLockedClocks dev=1 -> SUCCESS",
                "nvmlDeviceSetPowerManagementLimit dev=1 limit_mw=400000 -> SUCCESS",
                "nvmlDeviceResetGpuLockedClocks dev=0 -> SUCCESS",
            ],
            "{}",
            child.output()
        );
        assert_ne!(
            log.last().map(String::as_str),
            Some("nvmlShutdown -> SUCCESS")
        );
    }
}

#[test]
fn an_ignored_sigint_stays_ignored() {
    let name = "an_ignored_sigint_stays_ignored";
    if is_child(name) {
        change_and_block();
    }
    let (dir, state_dir) = test_dirs(name);
    let mut child = Blocked::start(name, &dir, &state_dir, None, true);
    child.signal(libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.is_running(),
        "SIGINT ended the child\n{}",
        child.output()
    );
    assert_eq!(child.fake_state(), CHANGED);
    child.signal(libc::SIGTERM);
    assert_eq!(child.wait().signal(), Some(libc::SIGTERM));
    assert_eq!(child.fake_state(), INITIAL, "{}", child.output());
}

#[test]
fn a_forked_child_does_not_restore_its_parents_settings() {
    let name = "a_forked_child_does_not_restore_its_parents_settings";
    if is_child(name) {
        let gpu0 = open_gpu("0");
        let mut guard = PersistentGuard::new().unwrap();
        guard.lock_gpu_clocks(&gpu0, 1200, 1200).unwrap();
        // SAFETY: the forked child only calls async-signal-safe functions (alarm, pause).
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: see above. SIGALRM ends it if the test never does.
            unsafe { libc::alarm(60) };
            loop {
                // SAFETY: see above.
                unsafe { libc::pause() };
            }
        }
        assert!(pid > 0);
        let dir = child_dir();
        fs::write(dir.join("grandchild"), pid.to_string()).unwrap();
        std::thread::spawn(move || {
            let mut status = 0;
            // SAFETY: waits for our own child; `status` is a valid out pointer.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            let how = if libc::WIFSIGNALED(status) {
                format!("signal {}", libc::WTERMSIG(status))
            } else {
                format!("exit {}", libc::WEXITSTATUS(status))
            };
            fs::write(dir.join("grandchild-ended"), how).unwrap();
        });
        block(guard);
    }
    let dir = test_dir(name);
    let mut child = Blocked::start(name, &dir, &dir.join("state"), None, false);
    let grandchild: libc::pid_t = fs::read_to_string(dir.join("grandchild"))
        .unwrap()
        .parse()
        .unwrap();
    // SAFETY: plain system call.
    assert_eq!(unsafe { libc::kill(grandchild, libc::SIGTERM) }, 0);
    let start = Instant::now();
    while !dir.join("grandchild-ended").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            child.output()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The forked child took SIGTERM's default action; the guard's owner noticed nothing.
    assert_eq!(
        fs::read_to_string(dir.join("grandchild-ended")).unwrap(),
        format!("signal {}", libc::SIGTERM)
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(child.is_running(), "{}", child.output());
    assert!(child.fake_state()[0].contains("gpu_locked=1200:1200"));
    child.signal(libc::SIGTERM);
    assert_eq!(child.wait().signal(), Some(libc::SIGTERM));
    assert_eq!(child.fake_state(), INITIAL, "{}", child.output());
}

// ---------------------------------------------------------------------------------------------
// SIGKILL and restore_from_state_file

/// Child side of a restore step: restores from the default state file and reports what it did.
fn restore_step() {
    let report_text = match restore_from_state_file() {
        Ok(done) => format!(
            "restored={} failed={} not_found={} running_owners={}",
            done.restored.len(),
            done.failed.len(),
            done.not_found.len(),
            done.running_owners.len()
        ),
        Err(error) => format!("error: {error}"),
    };
    report(report_text);
}

/// The next process on the blocking child's machine: the same two fake GPUs (the fake's state
/// file in `dir`) and the same GPU state directory.
fn next_process(name: &'static str, dir: &Path, state_dir: &Path) -> Scenario {
    Scenario::new(name)
        .gpus(2)
        .env("FAKE_NVML_STATE", dir.join("fake-state").to_str().unwrap())
        .gpu_state_dir(state_dir)
}

/// Runs `restore` (a [`restore_step`]) in `next`, and asserts that it put back all three of the
/// blocking child's settings and removed the state file.
#[track_caller]
fn assert_restores_everything(
    next: Scenario,
    restore: impl FnOnce(),
    child: &Blocked,
    file: &StateFile,
) -> support::Outcome {
    let run = next.run(restore);
    assert_eq!(
        run.report(),
        ["restored=3 failed=0 not_found=0 running_owners=0"]
    );
    assert_eq!(child.fake_state(), INITIAL);
    assert!(!file.path().exists());
    run
}

#[test]
fn sigkill_leaves_the_state_file_and_restore_puts_the_gpus_back() {
    let name = "sigkill_leaves_the_state_file_and_restore_puts_the_gpus_back";
    if is_child(name) {
        change_and_block();
    }
    if in_scenario_child() {
        Scenario::new(name).run(restore_step);
    }
    let (dir, state_dir) = test_dirs(name);
    let mut child = Blocked::start(name, &dir, &state_dir, None, false);
    let pid = child.pid();
    child.child.kill().unwrap();
    assert_eq!(child.wait().signal(), Some(libc::SIGKILL));
    assert_eq!(child.fake_state(), CHANGED);
    let file = StateFile::new(state_dir.join(STATE_FILE_NAME));
    assert_eq!(summary(&file.entries().unwrap()), expected_entries(pid));

    let next = next_process(name, &dir, &state_dir);
    let run = assert_restores_everything(next, restore_step, &child, &file);
    // Most recent first.
    assert_eq!(
        run.log(),
        [
            "nvmlInit_v2 -> SUCCESS".to_owned(),
            format!("nvmlDeviceGetHandleByUUID uuid={GPU1} -> SUCCESS"),
            "nvmlDeviceResetMemoryLockedClocks dev=1 -> SUCCESS".into(),
            format!("nvmlDeviceGetHandleByUUID uuid={GPU1} -> SUCCESS"),
            "nvmlDeviceSetPowerManagementLimit dev=1 limit_mw=400000 -> SUCCESS".into(),
            format!("nvmlDeviceGetHandleByUUID uuid={GPU0} -> SUCCESS"),
            "nvmlDeviceResetGpuLockedClocks dev=0 -> SUCCESS".into(),
            "nvmlShutdown -> SUCCESS".into(),
        ]
    );
}

#[test]
fn entries_of_several_processes_merge_and_the_first_original_wins() {
    let name = "entries_of_several_processes_merge_and_the_first_original_wins";
    if is_child(name) {
        change_and_block();
    }
    let steps = || match param().as_str() {
        "second" => {
            let gpu1 = open_gpu("1");
            let mut guard = PersistentGuard::new().unwrap();
            guard.set_power_limit_mw(&gpu1, 200_000).unwrap();
            // The guard itself will put back what it found (the first process's 250 W) ...
            assert_eq!(
                guard.records(),
                [record(
                    GPU1,
                    Setting::PowerLimit {
                        original_mw: 250_000
                    }
                )]
            );
            // ... while the file keeps the first original (400 W) with both owners.
            let file = guard.state_file().unwrap();
            for entry in file.entries().unwrap() {
                report(format!("{} / {}", entry.record, entry.owners.len()));
            }
        }
        "restore" => restore_step(),
        other => panic!("unknown step {other}"),
    };
    if in_scenario_child() {
        Scenario::new(name).run(steps);
    }
    let (dir, state_dir) = test_dirs(name);
    let mut first = Blocked::start(name, &dir, &state_dir, None, false);
    let first_pid = first.pid();

    // A second process lowers the limit that the first one set, and ends normally.
    let second = next_process(name, &dir, &state_dir)
        .param("second")
        .run(steps);
    assert_eq!(
        second.report(),
        [
            format!("{GPU0}: locked GPU clocks (restored by a reset) / 1"),
            format!("{GPU1}: power limit (originally 400000 mW) / 2"),
            format!("{GPU1}: locked memory clocks (restored by a reset) / 1"),
        ]
    );
    // The second process restored its own change and left the first one's entries alone.
    assert_eq!(first.fake_state(), CHANGED);
    let file = StateFile::new(state_dir.join(STATE_FILE_NAME));
    assert_eq!(
        summary(&file.entries().unwrap()),
        expected_entries(first_pid)
    );

    first.child.kill().unwrap();
    first.wait();
    let next = next_process(name, &dir, &state_dir).param("restore");
    assert_restores_everything(next, steps, &first, &file);
}

#[test]
fn restore_keeps_the_entries_it_cannot_restore() {
    let name = "restore_keeps_the_entries_it_cannot_restore";
    let (scenario, state_dir) = with_state_dir(name);
    let file = StateFile::new(state_dir.join(STATE_FILE_NAME));
    let unknown = "GPU-0badc0de-0000-0000-0000-000000000000";
    if !in_scenario_child() {
        let power = Setting::PowerLimit {
            original_mw: 300_000,
        };
        file.add(&record(unknown, Setting::GpuLockedClocks), 1)
            .unwrap();
        file.add(&record(GPU0, power), 1).unwrap();
        file.add(&record(GPU0, Setting::MemoryLockedClocks), 1)
            .unwrap();
    }
    let run = scenario
        .env("FAKE_NVML_UNSUPPORTED", "nvmlDeviceResetMemoryLockedClocks")
        .initial_state(&[
            "gpu=0 gpu_locked=none mem_locked=none power_limit_mw=250000 persistence=0",
        ])
        .run(|| {
            let done = restore_from_state_file().unwrap();
            assert!(!done.is_complete());
            report(format!("restored {}", done.restored[0]));
            report(format!("not found {}", done.not_found[0]));
            report(format!("failed {}", done.failed[0]));
        });
    assert_eq!(
        run.report(),
        [
            format!("restored {GPU0}: power limit (originally 300000 mW)"),
            format!("not found {unknown}: locked GPU clocks (restored by a reset)"),
            format!(
                "failed {GPU0}: locked memory clocks (restored by a reset): \
                 nvmlDeviceResetMemoryLockedClocks on {GPU0}: not supported by this GPU or \
                 driver (NVML_ERROR_NOT_SUPPORTED) (locked memory clocks need an Ampere or newer \
                 GPU)"
            ),
        ]
    );
    assert_eq!(
        run.state(),
        ["gpu=0 gpu_locked=none mem_locked=none power_limit_mw=300000 persistence=0"]
    );
    assert_eq!(
        summary(&file.entries().unwrap()),
        [
            format!("{unknown}: locked GPU clocks (restored by a reset) / [1]"),
            format!("{GPU0}: locked memory clocks (restored by a reset) / [1]"),
        ]
    );
}

#[test]
fn restore_with_nothing_recorded_does_not_need_nvml() {
    let dir = test_dir("restore_with_nothing_recorded_does_not_need_nvml");
    let file = StateFile::new(dir.join("absent").join(STATE_FILE_NAME));
    let done = file.restore().unwrap();
    assert!(done.restored.is_empty() && done.is_complete());
    assert!(
        !dir.join("absent").exists(),
        "restore created the directory"
    );
}

// ---------------------------------------------------------------------------------------------
// PersistentGuard writes before it changes

#[test]
fn the_guard_records_before_each_change_and_cleans_up_after_restoring() {
    let name = "the_guard_records_before_each_change_and_cleans_up_after_restoring";
    let (scenario, _) = with_state_dir(name);
    let run = scenario.gpus(2).initial_state(&INITIAL).run(|| {
        let gpu0 = open_gpu("0");
        let mut guard = PersistentGuard::new().unwrap();
        let file = guard.state_file().unwrap();
        guard.set_power_limit_mw(&gpu0, 250_000).unwrap();
        report(summary(&file.entries().unwrap()).join(" | "));
        guard.set_persistence_mode(&gpu0, false).unwrap();
        guard.set_power_limit_mw(&gpu0, 200_000).unwrap();
        report(summary(&file.entries().unwrap()).join(" | "));
        drop(guard);
        report(format!("after drop: exists={}", file.path().exists()));
    });
    let report = run.report();
    let pid = report[0]
        .rsplit('[')
        .next()
        .unwrap()
        .trim_end_matches(']')
        .to_owned();
    assert!(pid.parse::<u32>().is_ok(), "{report:?}");
    assert_eq!(
        report,
        [
            format!("{GPU0}: power limit (originally 300000 mW) / [{pid}]"),
            format!(
                "{GPU0}: power limit (originally 300000 mW) / [{pid}] | {GPU0}: persistence \
                 mode (originally on) / [{pid}]"
            ),
            "after drop: exists=false".into(),
        ]
    );
    assert_eq!(run.state(), INITIAL);
    // The original is read once by the guard for the file and once by the inner StateGuard;
    // the second change of the same setting reads nothing.
    assert_eq!(
        run.log(),
        [
            "nvmlInit_v2 -> SUCCESS",
            "nvmlDeviceGetHandleByIndex_v2 index=0 -> SUCCESS",
            "nvmlDeviceGetUUID dev=0 -> SUCCESS",
            "nvmlDeviceGetPowerManagementLimit dev=0 -> SUCCESS",
            "nvmlDeviceGetUUID dev=0 -> SUCCESS",
            "nvmlDeviceGetPowerManagementLimit dev=0 -> SUCCESS",
            "nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=250000 -> SUCCESS",
            "nvmlDeviceGetPersistenceMode dev=0 -> SUCCESS",
            "nvmlDeviceGetPersistenceMode dev=0 -> SUCCESS",
            "nvmlDeviceSetPersistenceMode dev=0 mode=0 -> SUCCESS",
            "nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=200000 -> SUCCESS",
            "nvmlDeviceSetPersistenceMode dev=0 mode=1 -> SUCCESS",
            "nvmlDeviceSetPowerManagementLimit dev=0 limit_mw=300000 -> SUCCESS",
            "nvmlShutdown -> SUCCESS",
        ]
    );
}

#[test]
fn an_unwritable_state_file_refuses_the_change() {
    let name = "an_unwritable_state_file_refuses_the_change";
    let dir = test_dir(name);
    // The state "directory" is a regular file: nothing can be created inside it.
    let blocker = dir.join("not-a-directory");
    if !in_scenario_child() {
        fs::write(&blocker, "").unwrap();
    }
    let run = Scenario::new(name).gpu_state_dir(&blocker).run(|| {
        let (gpu, mut guard) = gpu0_and_guard();
        let error = guard.lock_gpu_clocks(&gpu, 1200, 1200).unwrap_err();
        assert!(matches!(error, StateError::Io { .. }), "{error:?}");
        report(error.to_string());
        assert!(guard.records().is_empty());
    });
    let message = &run.report()[0];
    assert!(
        message.starts_with("GPU state file ") && message.contains("cannot create the directory"),
        "{message}"
    );
    assert!(
        run.calls()
            .iter()
            .all(|call| !call.starts_with("nvmlDeviceSet")),
        "{:?}",
        run.log()
    );
}

#[test]
fn commands_that_change_nothing_leave_no_entry() {
    let name = "commands_that_change_nothing_leave_no_entry";
    let (scenario, state_dir) = with_state_dir(name);
    let run = scenario.unprivileged().env("FAKE_NVML_MIG", "0:1").run(|| {
        let (gpu, mut guard) = gpu0_and_guard();
        let error = guard.lock_gpu_clocks(&gpu, 1200, 1200).unwrap_err();
        assert!(
            matches!(error, StateError::Nvml(Error::NoPermission { .. })),
            "{error:?}"
        );
        report(error.to_string());
        let error = guard.set_power_limit_mw(&gpu, 250_000).unwrap_err();
        assert!(matches!(
            error,
            StateError::Nvml(Error::NoPermission { .. })
        ));
        let mig = gpu
            .nvml()
            .device("MIG-e0000000-7c6d-4e5f-9a0b-0123456789ab")
            .unwrap();
        let error = guard.lock_gpu_clocks(&mig, 1200, 1200).unwrap_err();
        assert!(matches!(error, StateError::Nvml(Error::MigDevice { .. })));
        assert!(guard.records().is_empty());
        assert!(guard.state_file().unwrap().entries().unwrap().is_empty());
    });
    run.assert_first_report_mentions("CAP_SYS_ADMIN");
    assert!(!state_dir.join(STATE_FILE_NAME).exists());
}

#[test]
fn a_fault_during_the_change_keeps_the_entry_until_restored() {
    let name = "a_fault_during_the_change_keeps_the_entry_until_restored";
    let (scenario, state_dir) = with_state_dir(name);
    let run = scenario
        // Calls: init, handle, uuid, get limit (file), uuid, get limit (guard), set limit.
        .env("FAKE_NVML_FAULT_AT", "7:GPU_IS_LOST")
        .run(|| {
            let (gpu, mut guard) = gpu0_and_guard();
            let error = guard.set_power_limit_mw(&gpu, 250_000).unwrap_err();
            assert!(matches!(error, StateError::Nvml(Error::GpuIsLost { .. })));
            // The setter may have acted: the guard keeps the record, the file its entry.
            report(
                summary(&guard.state_file().unwrap().entries().unwrap())
                    .len()
                    .to_string(),
            );
            let _ = guard.keep_changes();
        });
    assert_eq!(run.report(), ["1"]);
    let file = StateFile::new(state_dir.join(STATE_FILE_NAME));
    let entries = file.entries().unwrap();
    assert_eq!(
        entries[0].record,
        record(
            GPU0,
            Setting::PowerLimit {
                original_mw: 400_000
            }
        )
    );
}

// ---------------------------------------------------------------------------------------------
// The file itself (no NVML)

#[test]
fn the_file_merges_entries_first_original_wins() {
    let dir = test_dir("the_file_merges_entries_first_original_wins");
    let file = StateFile::new(dir.join("nested").join(STATE_FILE_NAME));
    assert!(file.entries().unwrap().is_empty());
    let first = record(
        GPU0,
        Setting::PowerLimit {
            original_mw: 300_000,
        },
    );
    let second = record(
        GPU0,
        Setting::PowerLimit {
            original_mw: 250_000,
        },
    );
    assert!(file.add(&first, 10).unwrap());
    assert!(!file.add(&second, 11).unwrap());
    assert!(!file.add(&first, 10).unwrap());
    assert!(
        file.add(&record(GPU1, Setting::GpuLockedClocks), 11)
            .unwrap()
    );
    assert_eq!(
        summary(&file.entries().unwrap()),
        [
            format!("{GPU0}: power limit (originally 300000 mW) / [10, 11]"),
            format!("{GPU1}: locked GPU clocks (restored by a reset) / [11]"),
        ]
    );
    let text = fs::read_to_string(file.path()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["schema"], "ergon-gpu-state/v1");
    assert_eq!(json["entries"][0]["uuid"], GPU0);
    assert_eq!(json["entries"][0]["setting"], "power_limit");
    assert_eq!(json["entries"][0]["original_mw"], 300_000);
    assert_eq!(json["entries"][0]["owners"], serde_json::json!([10, 11]));
    assert!(json["entries"][0]["recorded_unix_s"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(json["entries"][1]["setting"], "gpu_locked_clocks");
    assert!(json["entries"][1].get("original_mw").is_none());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
    }

    // Process 11 restored its settings (matched by kind): the entry of 10 stays.
    file.release(
        &[second.clone(), record(GPU1, Setting::GpuLockedClocks)],
        11,
    )
    .unwrap();
    assert_eq!(
        summary(&file.entries().unwrap()),
        [format!("{GPU0}: power limit (originally 300000 mW) / [10]")]
    );
    // Removing needs the exact record; the last entry gone deletes the file.
    file.remove(&[second]).unwrap();
    assert_eq!(file.entries().unwrap().len(), 1);
    file.remove(&[first]).unwrap();
    assert!(!file.path().exists());
    // No temporary files are left.
    let names: Vec<String> = fs::read_dir(dir.join("nested"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["gpu-state.json.lock"]);
}

#[test]
fn concurrent_writers_lose_no_entry() {
    let dir = test_dir("concurrent_writers_lose_no_entry");
    let file = StateFile::new(dir.join(STATE_FILE_NAME));
    std::thread::scope(|scope| {
        for thread in 0..6u32 {
            let file = file.clone();
            scope.spawn(move || {
                for gpu in 0..8u32 {
                    let uuid = format!("GPU-{thread}-{gpu}");
                    file.add(&record(&uuid, Setting::GpuLockedClocks), thread)
                        .unwrap();
                }
            });
        }
    });
    assert_eq!(file.entries().unwrap().len(), 48);
}

#[test]
fn a_corrupt_file_is_reported_and_left_alone() {
    let dir = test_dir("a_corrupt_file_is_reported_and_left_alone");
    let file = StateFile::new(dir.join(STATE_FILE_NAME));
    fs::write(
        file.path(),
        "{\"schema\": \"ergon-gpu-state/v1\", \"entries\": [",
    )
    .unwrap();
    let error = file
        .add(&record(GPU0, Setting::GpuLockedClocks), 1)
        .unwrap_err();
    assert!(matches!(error, StateError::Format { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains("is not a valid ergon-gpu-state/v1 file")
    );
    assert!(fs::read_to_string(file.path()).unwrap().ends_with('['));
}

#[test]
fn guards_without_a_state_file_or_signals_are_plain_guards() {
    let name = "guards_without_a_state_file_or_signals_are_plain_guards";
    let run = Scenario::new(name).initial_state(&INITIAL[..1]).run(|| {
        let gpu = open_gpu("0");
        let mut guard = PersistentGuard::with_options(GuardOptions {
            state_file: None,
            restore_on_signal: false,
        })
        .unwrap();
        guard.lock_gpu_clocks(&gpu, 1305, 1305).unwrap();
        assert!(guard.state_file().is_none());
        guard.restore().unwrap();
    });
    assert_eq!(run.state(), INITIAL[..1]);
    assert_eq!(
        run.calls(),
        [
            "nvmlInit_v2",
            "nvmlDeviceGetHandleByIndex_v2",
            "nvmlDeviceGetUUID",
            "nvmlDeviceSetGpuLockedClocks",
            "nvmlDeviceResetGpuLockedClocks",
            "nvmlShutdown"
        ]
    );
}
