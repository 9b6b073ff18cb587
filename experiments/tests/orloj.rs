//! End-to-end tests of `ergon-experiments orloj sweep`: both tables, the JSON and the figure,
//! and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

#[path = "../../cli/tests/support/mod.rs"]
mod support;
use support::*;

/// Runs `ergon-experiments orloj sweep --duration 2 ARGS` in `dir` (see [`words`]).
fn sweep(dir: &Path, args: &str) -> Output {
    experiments(dir, &words(&format!("orloj sweep --duration 2 {args}")))
}

#[test]
fn sweep_prints_both_tables_and_writes_the_plot() {
    let s = Scratch::new("sweep");
    let both = "--multipliers 1.5,4 --cvs 0,1 --policies orloj,clockwork,nexus-p99 --svg sweep.svg";
    let out = assert_success(&sweep(s.path(), both));
    assert!(out.contains("finish rate vs SLO multiplier"), "{out}");
    assert!(
        out.contains("finish rate vs coefficient of variation"),
        "{out}"
    );
    assert!(out.contains("orloj/best"));
    let svg = s.read("sweep.svg");
    assert!(svg.starts_with("<svg") && svg.contains("orloj") && svg.contains("nexus-p99"));

    let v = parse_json(&sweep(
        s.path(),
        "--multipliers 2 --cvs 0.5 --json --no-plot --policies orloj,fifo",
    ));
    let rates = v["slo_sweep"]["finish_rates"].as_array().unwrap();
    assert_eq!(rates.len(), 1);
    assert_eq!(rates[0].as_array().unwrap().len(), 2);
    assert_eq!(v["cv_sweep"]["xs"][0], 0.5);
}

#[test]
fn bad_input_fails_cleanly() {
    let s = Scratch::new("bad");
    let cases: [(&str, &[&str]); 3] = [
        ("--cvs=-1 --no-plot", &["CV -1"]),
        ("--cv-slo-multiplier 0 --no-plot", &["SLO multiplier 0"]),
        ("--config missing.json --no-plot", &["missing.json"]),
    ];
    for (args, needles) in cases {
        assert_one_line_error(&sweep(s.path(), args), needles);
    }
    assert_eq!(names_in(s.path()), Vec::<String>::new(), "no plot written");
}
