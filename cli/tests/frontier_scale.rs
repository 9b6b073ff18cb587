//! `ergon frontier`'s controls for large pipelines (issue 19): `--until-deadline`, `--until
//! t-star`, `--quantum`, `--stats`, checked on the shared `a100_s4_m8` fixture
//! against lowtime's frontier for it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod support;
use support::*;

fn instance_path() -> PathBuf {
    shared_data("perseus/a100_s4_m8.instance.json")
}

/// lowtime 0.3.0's after-filter frontier of the fixture.
fn oracle() -> Vec<Value> {
    let path = shared_data("perseus/a100_s4_m8.after_filter.frontier.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["frontier"].as_array().unwrap().clone()
}

fn frontier(dir: &Path, extra: &[&str]) -> Output {
    let instance = instance_path();
    let mut args = vec![
        "frontier",
        "--instance",
        instance.to_str().unwrap(),
        "--no-plot",
    ];
    args.extend(extra);
    ergon(dir, &args)
}

fn times(v: &Value) -> Vec<f64> {
    v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| f64_of(&p["time_s"]))
        .collect()
}

#[test]
fn until_deadline_stops_at_the_first_point_at_or_below_it() {
    let dir = Scratch::new("until_deadline");
    let want = oracle();
    // Halfway between lowtime's points 100 and 101.
    let deadline = f64_of(&want[100]["real_time"]) + 0.0004;
    let o = frontier(
        dir.path(),
        &["--json", "--until-deadline", &deadline.to_string()],
    );
    let v = parse_json(&o);
    let got = times(&v);
    assert_eq!(got.len(), 101);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - f64_of(&w["real_time"])).abs() < 1e-9, "{g} vs {w}");
    }
    assert!(*got.last().unwrap() <= deadline && got[got.len() - 2] > deadline);
    assert_eq!(v["complete"], Value::Bool(false));
    assert!(stderr(&o).contains("stopped as asked"), "{}", stderr(&o));
}

#[test]
fn until_t_star_stops_just_past_the_minimum_energy() {
    let dir = Scratch::new("until_t_star");
    let want = oracle();
    let energies: Vec<f64> = want.iter().map(|p| f64_of(&p["energy_j"])).collect();
    // lowtime's T*: lowest energy, the faster one on ties.
    let mut star = 0;
    for (i, &e) in energies.iter().enumerate() {
        if e <= energies[star] {
            star = i;
        }
    }
    let v = parse_json(&frontier(dir.path(), &["--json", "--until", "t-star"]));
    assert_eq!(times(&v).len(), star + 2);
    let t_star = f64_of(&v["t_star_s"]);
    assert!((t_star - f64_of(&want[star]["real_time"])).abs() < 1e-9);
}

#[test]
fn stats_report_every_phase_and_change_nothing() {
    let dir = Scratch::new("stats");
    let one = frontier(dir.path(), &["--json", "--stats"]);
    let two = frontier(dir.path(), &["--json"]);
    let err = stderr(&one);
    assert!(
        err.contains(&format!("solve profile: {} points", oracle().len())),
        "{err}"
    );
    for phase in [
        "critical-path recomputation",
        "critical subgraph + capacities",
        "minimum cut (max flow)",
        "cut application",
    ] {
        assert!(err.contains(phase), "{err}");
    }
    assert_eq!(assert_success(&one), assert_success(&two));
}

#[test]
fn coarser_quantum_states_its_error_and_bad_ones_are_refused() {
    let dir = Scratch::new("quantum");
    let fine = times(&parse_json(&frontier(dir.path(), &["--json"])));
    let o = frontier(dir.path(), &["--json", "--quantum", "0.002"]);
    let coarse = times(&parse_json(&o));
    // Points are two milliseconds apart, so about half as many.
    assert!(
        coarse.len() < fine.len() * 6 / 10,
        "{} vs {}",
        coarse.len(),
        fine.len()
    );
    for w in coarse.windows(2) {
        assert!((w[0] - w[1] - 0.002).abs() < 1e-9);
    }
    assert!(stderr(&o).contains("quantum 0.002 s"), "{}", stderr(&o));
    let bad = frontier(dir.path(), &["--quantum", "0"]);
    assert_one_line_error(&bad, &["--quantum"]);
}
