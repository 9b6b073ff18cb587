//! End-to-end tests of `ergon orloj`: the built binary run in a scratch directory on the
//! built-in workloads, a written `orloj-sim/v1` file, sweeps with their plot, and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;

use serde_json::Value;

mod support;
use support::*;

/// Fails with exit status 1, a message on stderr containing every word, and no panic.
#[track_caller]
fn assert_fails_with(o: &Output, words: &[&str]) {
    assert_eq!(o.status.code(), Some(1), "stderr:\n{}", stderr(o));
    let e = stderr(o);
    assert!(!e.contains("panicked"), "{e}");
    for w in words {
        assert!(e.contains(w), "stderr does not mention `{w}`:\n{e}");
    }
}

#[test]
fn simulate_builtin_prints_a_table_of_every_policy() {
    let s = Scratch::new("table");
    let o = ergon(s.path(), &["orloj", "simulate", "--duration", "3"]);
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
    let o = ergon(
        s.path(),
        &[
            "orloj",
            "simulate",
            "--duration",
            "3",
            "--json",
            "--mix",
            "static",
        ],
    );
    assert_success(&o);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
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
    let o = ergon(s.path(), &["orloj", "config", "--slo-multiplier", "3"]);
    assert_success(&o);
    let text = stdout(&o);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], "orloj-sim/v1");
    let mut doc = v.clone();
    doc["duration_s"] = Value::from(2.0);
    doc["policies"] = serde_json::json!(["orloj", "edf-p99"]);
    std::fs::write(s.path().join("sim.json"), doc.to_string()).unwrap();
    let a = ergon(
        s.path(),
        &["orloj", "simulate", "--config", "sim.json", "--json"],
    );
    assert_success(&a);
    let b = ergon(
        s.path(),
        &["orloj", "simulate", "--config", "sim.json", "--json"],
    );
    assert_eq!(stdout(&a), stdout(&b), "same seed, same result");
    let r: Value = serde_json::from_str(&stdout(&a)).unwrap();
    let names: Vec<&str> = r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["policy"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orloj", "edf-p99"]);
}

#[test]
fn sweep_prints_both_tables_and_writes_the_plot() {
    let s = Scratch::new("sweep");
    let o = ergon(
        s.path(),
        &[
            "orloj",
            "sweep",
            "--duration",
            "2",
            "--multipliers",
            "1.5,4",
            "--cvs",
            "0,1",
            "--policies",
            "orloj,clockwork,nexus-p99",
            "--svg",
            "sweep.svg",
        ],
    );
    assert_success(&o);
    let out = stdout(&o);
    assert!(out.contains("finish rate vs SLO multiplier"), "{out}");
    assert!(
        out.contains("finish rate vs coefficient of variation"),
        "{out}"
    );
    assert!(out.contains("orloj/best"));
    let svg = std::fs::read_to_string(s.path().join("sweep.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("orloj") && svg.contains("nexus-p99"));

    let j = ergon(
        s.path(),
        &[
            "orloj",
            "sweep",
            "--duration",
            "2",
            "--multipliers",
            "2",
            "--cvs",
            "0.5",
            "--json",
            "--no-plot",
            "--policies",
            "orloj,fifo",
        ],
    );
    assert_success(&j);
    let v: Value = serde_json::from_str(&stdout(&j)).unwrap();
    let rates = v["slo_sweep"]["finish_rates"].as_array().unwrap();
    assert_eq!(rates.len(), 1);
    assert_eq!(rates[0].as_array().unwrap().len(), 2);
    assert_eq!(v["cv_sweep"]["xs"][0], 0.5);
}

#[test]
fn bad_input_fails_cleanly() {
    let s = Scratch::new("bad");
    let dir = s.path();
    assert_fails_with(
        &ergon(dir, &["orloj", "simulate", "--config", "missing.json"]),
        &["missing.json"],
    );
    std::fs::write(
        dir.join("gamma.json"),
        r#"{"schema": "orloj-sim/v1", "seed": 1, "duration_s": 1, "apps": [
            {"name": "vit", "share": 1.0, "slo_s": 0.05, "exec_time": {"kind": "gamma"}}],
            "batch": {"max_size": 2}, "arrivals": {"kind": "poisson", "load": 0.5}}"#,
    )
    .unwrap();
    assert_fails_with(
        &ergon(dir, &["orloj", "simulate", "--config", "gamma.json"]),
        &["vit", "exec_time.kind", "gamma"],
    );
    std::fs::write(
        dir.join("slo.json"),
        r#"{"schema": "orloj-sim/v1", "seed": 1, "duration_s": 1, "apps": [
            {"name": "vit", "share": 1.0, "slo_s": 0, "exec_time": {"kind": "constant", "value_s": 0.01}}],
            "batch": {"max_size": 2}, "arrivals": {"kind": "poisson", "load": 0.5}}"#,
    )
    .unwrap();
    assert_fails_with(
        &ergon(dir, &["orloj", "simulate", "--config", "slo.json"]),
        &["vit", "slo_s"],
    );
    assert_fails_with(
        &ergon(dir, &["orloj", "simulate", "--slo-multiplier=-2"]),
        &["SLO multiplier"],
    );
    assert_fails_with(
        &ergon(dir, &["orloj", "simulate", "--duration", "0"]),
        &["duration_s"],
    );
    assert_fails_with(
        &ergon(dir, &["orloj", "simulate", "--policies", "orloj,triton"]),
        &["triton"],
    );
    assert_fails_with(
        &ergon(dir, &["orloj", "sweep", "--cvs=-1", "--no-plot"]),
        &["CV -1"],
    );
}
