//! End-to-end tests of how `ergon` writes: standard output on a full disk (`/dev/full`) and into
//! a closed pipe, and output files that must be replaced whole or not at all (issue 12). The
//! rules live in `ergon-cli-support`, shared with `ergon-experiments`, whose tests
//! (experiments/tests/io.rs) also check permissions, links and devices.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::*;

fn instance() -> String {
    shared_data("perseus/a100_s2_m4.instance.json")
        .display()
        .to_string()
}

/// Runs `f` on every command that prints a result on standard output, cheap enough to run
/// twice each (the harness's are checked in experiments/tests/io.rs).
fn for_each_printing_command(dir: &Scratch, f: impl Fn(&[&str])) {
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
    let instance = instance();
    let amazon = ["dpk", "simulate", "--generate", "amazon", "--tasks", "50"];
    let cases: [&[&str]; 9] = [
        &["frontier", "--instance", &instance, "--no-plot"],
        &["frontier", "--instance", &instance, "--no-plot", "--json"],
        &["dpk", "schedule", "--workload", "w.json"],
        &["dpk", "schedule", "--workload", "w.json", "--json"],
        &amazon,
        &[&amazon[..], &["--json"]].concat(),
        &["orloj", "config"],
        &["orloj", "simulate", "--duration", "1"],
        &["orloj", "simulate", "--duration", "1", "--json"],
    ];
    for args in cases {
        f(args);
    }
}

#[test]
fn a_full_disk_on_stdout_ends_every_command_with_one_error_line_and_status_1() {
    let dir = Scratch::new("full");
    for_each_printing_command(&dir, |args| {
        assert_full_disk_is_one_error_line(Bin::Ergon, dir.path(), args);
    });
}

#[test]
fn a_closed_pipe_on_stdout_ends_every_command_quietly_with_the_sigpipe_status() {
    let dir = Scratch::new("pipe");
    for_each_printing_command(&dir, |args| {
        assert_closed_pipe_is_quiet(Bin::Ergon, dir.path(), args);
    });
}

#[test]
fn an_output_that_cannot_be_completed_leaves_the_old_file_byte_for_byte() {
    let instance = instance();
    assert_cut_write_keeps_the_old_file(
        Bin::Ergon,
        "f.svg",
        &["frontier", "--instance", &instance, "--svg", "f.svg"],
    );
}

#[test]
fn plans_are_written_whole_and_nothing_is_left_beside_them() {
    let dir = Scratch::new("plans");
    let instance = instance();
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
