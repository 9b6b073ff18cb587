//! End-to-end tests of `ergon orloj`: the built binary run in a scratch directory on the
//! built-in workloads, a written `orloj-sim/v1` file, and bad input. The sweeps are tested with
//! `ergon-experiments` (experiments/tests/orloj.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

use serde_json::Value;

mod support;
use support::*;

/// Runs `ergon orloj simulate ARGS` in `dir`.
fn simulate(dir: &Path, args: &[&str]) -> Output {
    ergon(dir, &[&["orloj", "simulate"], args].concat())
}

#[test]
fn simulate_builtin_prints_a_table_of_every_policy() {
    let s = Scratch::new("table");
    let o = simulate(s.path(), &["--duration", "3"]);
    assert_success(&o);
    let out = stdout(&o);
    for p in [
        "orloj",
        "clockwork",
        "clockwork-p99",
        "nexus",
        "clipper",
        "edf",
        "fifo",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(p)),
            "no row for {p}:\n{out}"
        );
    }
    assert!(out.contains("bert-early-exit") && out.contains("seq2seq"));
}

#[test]
fn simulate_json_follows_orloj_result_v1() {
    let s = Scratch::new("json");
    let v = parse_json(&simulate(
        s.path(),
        &["--duration", "3", "--json", "--mix", "static"],
    ));
    assert_eq!(v["schema"], "orloj-result/v1");
    let rows = v["results"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    for r in rows {
        let arrived = r["arrived"].as_u64().unwrap();
        let finished = r["finished"].as_u64().unwrap();
        let (dropped, late) = (r["dropped"].as_u64().unwrap(), r["late"].as_u64().unwrap());
        assert!(arrived > 0);
        assert_eq!(finished + dropped + late, arrived);
        let rate = r["finish_rate"].as_f64().unwrap();
        assert!((rate - finished as f64 / arrived as f64).abs() < 1e-12);
        assert!(r["p99_latency_s"].as_f64().unwrap() >= 0.0);
        assert!(r["policy"].is_string());
    }
}

#[test]
fn config_round_trips_through_simulate() {
    let s = Scratch::new("config");
    let v = parse_json(&ergon(
        s.path(),
        &["orloj", "config", "--slo-multiplier", "3"],
    ));
    assert_eq!(v["schema"], "orloj-sim/v1");
    let mut doc = v.clone();
    doc["duration_s"] = Value::from(2.0);
    doc["policies"] = serde_json::json!(["orloj", "edf-p99"]);
    s.write("sim.json", &doc.to_string());
    let [a, b] = [(); 2].map(|()| simulate(s.path(), &["--config", "sim.json", "--json"]));
    let r = parse_json(&a);
    assert_eq!(stdout(&a), stdout(&b), "same seed, same result");
    let names: Vec<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["policy"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orloj", "edf-p99"]);
}

#[test]
fn bad_input_fails_cleanly() {
    let s = Scratch::new("bad");
    let one_app = |app: &str| {
        format!(
            r#"{{"schema": "orloj-sim/v1", "seed": 1, "duration_s": 1, "apps": [{app}],
                "batch": {{"max_size": 2}}, "arrivals": {{"kind": "poisson", "load": 0.5}}}}"#
        )
    };
    s.write(
        "gamma.json",
        &one_app(r#"{"name": "vit", "share": 1.0, "slo_s": 0.05, "exec_time": {"kind": "gamma"}}"#),
    );
    s.write(
        "slo.json",
        &one_app(
            r#"{"name": "vit", "share": 1.0, "slo_s": 0, "exec_time": {"kind": "constant", "value_s": 0.01}}"#,
        ),
    );
    let cases: [(&[&str], &[&str]); 6] = [
        (&["--config", "missing.json"], &["missing.json"]),
        (
            &["--config", "gamma.json"],
            &["vit", "exec_time.kind", "gamma"],
        ),
        (&["--config", "slo.json"], &["vit", "slo_s"]),
        (&["--slo-multiplier=-2"], &["SLO multiplier"]),
        (&["--duration", "0"], &["duration_s"]),
        (&["--policies", "orloj,triton"], &["triton"]),
    ];
    for (args, needles) in cases {
        assert_one_line_error(&simulate(s.path(), args), needles);
    }
}
