//! End-to-end tests of how `ergon-experiments` writes and reads its command line: the output
//! rules of `ergon-cli-support` (shared with `ergon`, see cli/tests/io.rs) on its commands —
//! standard output on a full disk and into a closed pipe, files replaced whole or not at all,
//! permissions, links and devices — and negative numbers reaching the options' own checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../cli/tests/support/mod.rs"]
mod support;
use support::*;

/// A small sweep that prints a table and writes `o.svg`.
const SWEEP: &str = "orloj sweep --duration 1 --multipliers 2 --cvs 0 --svg o.svg";

/// The harness's commands that print on standard output and are cheap: the small sweep as a
/// table and as JSON.
fn printing() -> [String; 2] {
    [" --no-plot", " --no-plot --json"].map(|flags| format!("{SWEEP}{flags}"))
}

#[test]
fn a_full_disk_or_a_closed_pipe_on_stdout_ends_the_command_as_in_ergon() {
    let dir = Scratch::new("stdout");
    for line in printing() {
        assert_full_disk_is_one_error_line(Bin::Experiments, dir.path(), &words(&line));
        assert_closed_pipe_is_quiet(Bin::Experiments, dir.path(), &words(&line));
    }
}

#[test]
fn an_output_that_cannot_be_completed_leaves_the_old_file_byte_for_byte() {
    assert_cut_write_keeps_the_old_file(
        Bin::Experiments,
        "w.json",
        &words("dpk generate micro --out w.json"),
    );
    assert_cut_write_keeps_the_old_file(Bin::Experiments, "o.svg", &words(SWEEP));
}

/// `dpk generate micro` with a few tasks into `out`.
fn generate_micro(dir: &Scratch, out: &str) -> String {
    assert_success(&experiments(
        dir.path(),
        &["dpk", "generate", "micro", "--num-tasks", "5", "--out", out],
    ))
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
    generate_micro(&dir, "link.json");
    let meta = std::fs::symlink_metadata(dir.path().join("link.json")).unwrap();
    assert!(meta.file_type().is_symlink());
    assert!(
        dir.read("real.json")
            .starts_with("{\"schema\":\"dpk-workload/v1\"")
    );
    let real = dir.path().join("real.json");
    assert_eq!(
        std::fs::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640
    );
    assert_eq!(names_in(dir.path()), ["link.json", "real.json"]);
}

#[test]
fn a_device_is_written_in_place_not_replaced() {
    let dir = Scratch::new("device");
    let text = generate_micro(&dir, "/dev/stdout");
    assert!(
        text.starts_with("{\"schema\":\"dpk-workload/v1\""),
        "{text}"
    );
}

#[test]
fn a_negative_value_after_a_space_gets_the_options_own_message() {
    assert_negative_values_reach_their_checks(
        Bin::Experiments,
        &[
            (
                "orloj sweep --cvs -1,0.5 --no-plot",
                &["CV -1 is not a finite number"],
            ),
            (
                "dpk generate micro --out w.json --mu-blocks -3",
                &["mu_blocks", "-3", "out of range"],
            ),
            (
                "dpk generate micro --out w.json --spread -1,2",
                &["--spread needs MEAN,STD"],
            ),
        ],
    );
}
