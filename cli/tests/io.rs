//! End-to-end tests of how `ergon` writes: standard output on a full disk (`/dev/full`) and into
//! a closed pipe, and output files that must be replaced whole or not at all (issue 12).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod support;
use support::*;

fn instance_path() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/perseus/a100_s2_m4.instance.json");
    assert!(p.is_file(), "fixture not found at {}", p.display());
    p
}

/// A small `dpk-workload/v1` file in `dir`.
fn workload(dir: &Scratch) -> String {
    assert_success(&ergon(
        dir.path(),
        &[
            "dpk",
            "generate",
            "micro",
            "--num-tasks",
            "50",
            "--out",
            "w.json",
        ],
    ));
    "w.json".into()
}

/// Every command that prints a result on standard output, cheap enough to run twice each.
fn printing_commands(dir: &Scratch) -> Vec<Vec<String>> {
    let w = workload(dir);
    let instance = instance_path().display().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["frontier", "--instance", &instance, "--no-plot"],
        vec!["frontier", "--instance", &instance, "--no-plot", "--json"],
        vec!["dpk", "schedule", "--workload", &w],
        vec!["dpk", "schedule", "--workload", &w, "--json"],
        vec!["dpk", "simulate", "--generate", "amazon", "--tasks", "50"],
        vec![
            "dpk",
            "simulate",
            "--generate",
            "amazon",
            "--tasks",
            "50",
            "--json",
        ],
        vec!["orloj", "config"],
        vec!["orloj", "simulate", "--duration", "1"],
        vec!["orloj", "simulate", "--duration", "1", "--json"],
        vec![
            "orloj",
            "sweep",
            "--duration",
            "1",
            "--multipliers",
            "2",
            "--cvs",
            "0",
            "--no-plot",
        ],
        vec![
            "orloj",
            "sweep",
            "--duration",
            "1",
            "--cvs",
            "0",
            "--no-plot",
            "--json",
        ],
    ];
    cases
        .into_iter()
        .map(|c| c.into_iter().map(String::from).collect())
        .collect()
}

fn run_with_stdout(dir: &Path, args: &[String], out: impl Into<Stdio>) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ergon"))
        .args(args)
        .current_dir(dir)
        .stdout(out)
        .output()
        .expect("could not run the ergon binary")
}

#[test]
fn a_full_disk_on_stdout_ends_every_command_with_one_error_line_and_status_1() {
    let dir = Scratch::new("full");
    for args in printing_commands(&dir) {
        let full = File::options().write(true).open("/dev/full").unwrap();
        let o = run_with_stdout(dir.path(), &args, full);
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
        assert_eq!(o.status.code(), Some(1), "{args:?}: {:?}\n{err}", o.status);
        let last = err.lines().last().unwrap_or_default();
        assert_eq!(
            last, "error: writing to standard output: No space left on device (os error 28)",
            "{args:?}:\n{err}"
        );
        assert_eq!(err.matches("error:").count(), 1, "{args:?}:\n{err}");
    }
}

#[test]
fn a_closed_pipe_on_stdout_ends_every_command_quietly_with_the_sigpipe_status() {
    let dir = Scratch::new("pipe");
    for args in printing_commands(&dir) {
        // The reader is gone before ergon starts: its first write fails with EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = run_with_stdout(dir.path(), &args, writer);
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
        assert!(!err.contains("error"), "{args:?}:\n{err}");
        assert_eq!(
            o.status.code(),
            Some(141),
            "{args:?}: {:?}\n{err}",
            o.status
        );
    }
}

/// Runs `ergon ARGS` in `dir` with files limited to a few KiB (`ulimit -f 8`: 4 KiB in dash's
/// 512-byte blocks, 8 KiB in bash's) and SIGXFSZ ignored, so a write past the limit fails with
/// EFBIG — a full disk that works as root, where permissions stop nothing.
fn ergon_with_small_file_limit(dir: &Path, args: &[&str]) -> Output {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 8 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_ergon"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("could not run /bin/sh")
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_output_that_cannot_be_completed_leaves_the_old_file_byte_for_byte() {
    let instance = instance_path().display().to_string();
    let cases: [(&str, Vec<&str>); 3] = [
        (
            "w.json",
            vec!["dpk", "generate", "micro", "--out", "w.json"],
        ),
        (
            "f.svg",
            vec!["frontier", "--instance", &instance, "--svg", "f.svg"],
        ),
        (
            "o.svg",
            vec![
                "orloj",
                "sweep",
                "--duration",
                "1",
                "--multipliers",
                "2",
                "--cvs",
                "0",
                "--svg",
                "o.svg",
            ],
        ),
    ];
    for (name, args) in cases {
        let dir = Scratch::new("atomic");
        // Larger than the limit, so that an in-place write would visibly cut it.
        let old: Vec<u8> = (0..12_600u32)
            .map(|i| b"old output\n"[i as usize % 11])
            .collect();
        let target = dir.path().join(name);
        std::fs::write(&target, &old).unwrap();
        let o = ergon_with_small_file_limit(dir.path(), &args);
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}:\n{err}");
        assert_eq!(o.status.code(), Some(1), "{args:?}: {:?}\n{err}", o.status);
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!("error: writing {name}: ")) && last.contains("too large"),
            "{args:?}:\n{err}"
        );
        assert!(
            std::fs::read(&target).unwrap() == old,
            "{args:?} changed {name}"
        );
        // The temporary file is gone too.
        assert_eq!(names_in(dir.path()), [name], "{args:?}");
    }
}

#[test]
fn plans_are_written_whole_and_nothing_is_left_beside_them() {
    let dir = Scratch::new("plans");
    let instance = instance_path().display().to_string();
    std::fs::create_dir(dir.path().join("plans")).unwrap();
    dir.write("plans/plan_fastest.json", &"x".repeat(12_600));
    assert_success(&ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            &instance,
            "--no-plot",
            "--plan-out",
            "plans",
        ],
    ));
    let plan = std::fs::read_to_string(dir.path().join("plans/plan_fastest.json")).unwrap();
    assert!(plan.starts_with("{\"schema\":\"ergon-plan/v1\""), "{plan}");
    assert!(plan.ends_with("}\n"), "{plan}");
    assert_eq!(
        names_in(&dir.path().join("plans")),
        ["plan_fastest.json", "plan_t_star.json"]
    );
}

#[cfg(unix)]
#[test]
fn a_replaced_file_keeps_its_permissions_and_a_link_stays_a_link() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let dir = Scratch::new("perm");
    dir.write("real.json", "old");
    std::fs::set_permissions(
        dir.path().join("real.json"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    symlink("real.json", dir.path().join("link.json")).unwrap();
    assert_success(&ergon(
        dir.path(),
        &[
            "dpk",
            "generate",
            "micro",
            "--num-tasks",
            "5",
            "--out",
            "link.json",
        ],
    ));
    let meta = std::fs::symlink_metadata(dir.path().join("link.json")).unwrap();
    assert!(meta.file_type().is_symlink());
    let real = dir.path().join("real.json");
    assert!(
        std::fs::read_to_string(&real)
            .unwrap()
            .starts_with("{\"schema\":\"dpk-workload/v1\"")
    );
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(names_in(dir.path()), ["link.json", "real.json"]);
}

#[test]
fn a_device_is_written_in_place_not_replaced() {
    let dir = Scratch::new("device");
    let o = ergon(
        dir.path(),
        &[
            "dpk",
            "generate",
            "micro",
            "--num-tasks",
            "5",
            "--out",
            "/dev/stdout",
        ],
    );
    let text = assert_success(&o);
    assert!(
        text.starts_with("{\"schema\":\"dpk-workload/v1\""),
        "{text}"
    );
}
