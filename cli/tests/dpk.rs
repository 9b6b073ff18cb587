//! End-to-end tests of `ergon dpk`: the built binary on small workloads (oracle O4), the
//! generators, online simulations and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

mod support;
use support::*;

/// Oracle O4 (Cohere's 3-order instance) as a dpk-workload/v1 document.
fn o4() -> String {
    let r = ["[1, 0.4, 0.4]", "[0.4, 1, 0.4]", "[0.4, 0.4, 1]"];
    let which = [0, 0, 1, 1, 2, 1, 0];
    let tasks: Vec<String> = (0..7)
        .map(|i| {
            format!(
                r#"{{"id": {i}, "weight": {}, "blocks": [0], "demand": {}}}"#,
                100 + 10 * i,
                r[which[i]]
            )
        })
        .collect();
    format!(
        r#"{{"schema": "dpk-workload/v1", "alphas": [2, 3, 4],
            "blocks": [{{"id": 0, "capacity": [1.05, 1.10, 1.15]}}],
            "tasks": [{}]}}"#,
        tasks.join(",")
    )
}

#[test]
fn schedule_o4_json() {
    let s = Scratch::new("o4");
    let f = s.write("o4.json", &o4());
    let v = parse_json(&ergon(
        s.path(),
        &["dpk", "schedule", "--workload", &f, "--json"],
    ));
    assert_eq!(v["schema"], "dpk-result/v1");
    assert_eq!(v["scheduler"], "dpk");
    assert_eq!(v["allocated"], serde_json::json!([6, 5]));
    assert_eq!(v["num_allocated"], 2);
    assert_eq!(v["total_weight"].as_f64(), Some(310.0));
    let rem: Vec<f64> = v["remaining"]["0"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    for (g, w) in rem.iter().zip([-0.35, -0.30, 0.35]) {
        assert!((g - w).abs() < 1e-9, "{rem:?}");
    }
    let expect = [
        ("dpf", 310.0),
        ("fcfs", 210.0),
        ("area", 310.0),
        ("optimal", 310.0),
    ];
    for (sched, weight) in expect {
        let v = parse_json(&ergon(
            s.path(),
            &[
                "dpk",
                "schedule",
                "--workload",
                &f,
                "--scheduler",
                sched,
                "--json",
            ],
        ));
        assert_eq!(v["total_weight"].as_f64(), Some(weight), "{sched}");
        if sched == "optimal" {
            assert_eq!(v["proven_optimal"], true);
        }
    }
    let v = parse_json(&ergon(
        s.path(),
        &[
            "dpk",
            "schedule",
            "--workload",
            &f,
            "--scheduler",
            "dpf",
            "--dpf-unweighted",
            "--json",
        ],
    ));
    assert_eq!(v["total_weight"].as_f64(), Some(260.0));
}

#[test]
fn schedule_human_summary() {
    let s = Scratch::new("summary");
    let f = s.write("o4.json", &o4());
    let out = assert_success(&ergon(s.path(), &["dpk", "schedule", "--workload", &f]));
    assert!(
        out.contains("scheduler dpk: allocated 2 of 7 tasks, total weight 310"),
        "{out}"
    );
    assert!(out.contains("[6, 5]"), "{out}");
    let out = assert_success(&ergon(
        s.path(),
        &[
            "dpk",
            "schedule",
            "--workload",
            &f,
            "--scheduler",
            "optimal",
        ],
    ));
    assert!(out.contains("proven optimal"), "{out}");
}

#[test]
fn schedule_bad_input() {
    let s = Scratch::new("bad");
    let neg = s.write(
        "neg.json",
        r#"{"schema": "dpk-workload/v1", "alphas": [2], "blocks": [{"id": 0, "capacity": [1]}],
            "tasks": [{"id": 3, "blocks": [0], "demand": [-0.5]}]}"#,
    );
    assert_one_line_error(
        &ergon(s.path(), &["dpk", "schedule", "--workload", &neg]),
        &["neg.json", "task 3"],
    );
    let missing = s.write(
        "missing.json",
        r#"{"schema": "dpk-workload/v1", "alphas": [2], "blocks": [{"id": 0, "capacity": [1]}],
            "tasks": [{"id": 4, "blocks": [7], "demand": [0.5]}]}"#,
    );
    assert_one_line_error(
        &ergon(
            s.path(),
            &["dpk", "schedule", "--workload", &missing, "--json"],
        ),
        &["task 4", "block 7"],
    );
    let schema = s.write("schema.json", r#"{"schema": "dpk-workload/v2"}"#);
    assert_one_line_error(
        &ergon(s.path(), &["dpk", "schedule", "--workload", &schema]),
        &["dpk-workload/v2"],
    );
    let delta = s.write(
        "delta.json",
        r#"{"schema": "dpk-workload/v1", "blocks": [{"id": 2, "epsilon": 10, "delta": 1}], "tasks": []}"#,
    );
    assert_one_line_error(
        &ergon(s.path(), &["dpk", "schedule", "--workload", &delta]),
        &["block 2", "delta"],
    );
    let f = s.write("o4.json", &o4());
    assert_one_line_error(
        &ergon(
            s.path(),
            &["dpk", "schedule", "--workload", &f, "--eta", "2"],
        ),
        &["eta"],
    );
    assert_one_line_error(
        &ergon(s.path(), &["dpk", "schedule", "--workload", "nope.json"]),
        &["nope.json"],
    );
}

#[test]
fn generate_micro_then_schedule() {
    let s = Scratch::new("micro");
    assert_success(&ergon(
        s.path(),
        &[
            "dpk",
            "generate",
            "micro",
            "--out",
            "m.json",
            "--num-tasks",
            "200",
            "--blocks",
            "5",
            "--mu-blocks",
            "2",
            "--sigma-blocks",
            "1",
            "--sigma-alpha",
            "2",
            "--seed",
            "3",
        ],
    ));
    let text = std::fs::read_to_string(s.path().join("m.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], "dpk-workload/v1");
    assert_eq!(v["tasks"].as_array().unwrap().len(), 200);
    assert_eq!(v["blocks"].as_array().unwrap().len(), 5);
    let dpk = parse_json(&ergon(
        s.path(),
        &["dpk", "schedule", "--workload", "m.json", "--json"],
    ));
    let dpf = parse_json(&ergon(
        s.path(),
        &[
            "dpk",
            "schedule",
            "--workload",
            "m.json",
            "--scheduler",
            "dpf",
            "--json",
        ],
    ));
    assert!(dpk["num_allocated"].as_u64().unwrap() > 0);
    assert!(dpk["num_allocated"].as_u64() >= dpf["num_allocated"].as_u64());
    // Same seed, same file.
    assert_success(&ergon(
        s.path(),
        &[
            "dpk",
            "generate",
            "micro",
            "--out",
            "m2.json",
            "--num-tasks",
            "200",
            "--blocks",
            "5",
            "--mu-blocks",
            "2",
            "--sigma-blocks",
            "1",
            "--sigma-alpha",
            "2",
            "--seed",
            "3",
        ],
    ));
    assert_eq!(
        text,
        std::fs::read_to_string(s.path().join("m2.json")).unwrap()
    );
}

#[test]
fn simulate_generated_and_from_file() {
    let s = Scratch::new("sim");
    let out = assert_success(&ergon(
        s.path(),
        &[
            "dpk",
            "simulate",
            "--generate",
            "alibaba",
            "--tasks",
            "400",
            "--scheduler",
            "dpk,dpf,fcfs",
            "--recompute-every",
            "50",
        ],
    ));
    for name in ["| dpk |", "| dpf |", "| fcfs |"] {
        assert!(out.contains(name), "{out}");
    }
    assert_success(&ergon(
        s.path(),
        &[
            "dpk", "generate", "alibaba", "--tasks", "300", "--out", "a.json",
        ],
    ));
    let v = parse_json(&ergon(
        s.path(),
        &["dpk", "simulate", "--config", "a.json", "--json"],
    ));
    assert_eq!(v["schema"], "dpk-online-result/v1");
    assert_eq!(v["num_submitted"], 300);
    let n = v["num_allocated"].as_u64().unwrap();
    assert_eq!(v["allocations"].as_array().unwrap().len() as u64, n);
    let v = parse_json(&ergon(
        s.path(),
        &[
            "dpk",
            "simulate",
            "--config",
            "a.json",
            "--scheduler",
            "dpk,fcfs",
            "--json",
        ],
    ));
    assert_eq!(v.as_array().unwrap().len(), 2);
    let cfg = s.write(
        "small.json",
        r#"{"schema": "dpk-online/v1", "alphas": [4, 8], "initial_blocks": 1, "total_blocks": 2,
            "scheduling_period": 1, "unlocking": {"kind": "time", "period": 1, "steps": 1},
            "tasks": [{"id": 1, "arrival": 0.5, "num_blocks": 1, "mechanism": {"kind": "laplace", "b": 1}},
                      {"id": 2, "arrival": 1.5, "num_blocks": 2, "demand": [100, 100]}]}"#,
    );
    let v = parse_json(&ergon(
        s.path(),
        &["dpk", "simulate", "--config", &cfg, "--json"],
    ));
    assert_eq!(v["num_allocated"], 1);
    assert_eq!(v["allocations"][0]["id"], 1);
    assert_eq!(v["allocations"][0]["time"].as_f64(), Some(1.0));
}

#[test]
fn simulate_bad_input() {
    let s = Scratch::new("simbad");
    let cfg = s.write(
        "bad.json",
        r#"{"schema": "dpk-online/v1", "initial_blocks": 0, "total_blocks": 2,
            "scheduling_period": 1, "unlocking": {"kind": "time", "period": 1, "steps": 1},
            "tasks": []}"#,
    );
    assert_one_line_error(
        &ergon(s.path(), &["dpk", "simulate", "--config", &cfg]),
        &["initial_blocks"],
    );
    assert_one_line_error(&ergon(s.path(), &["dpk", "simulate"]), &["--config"]);
    let cfg = s.write(
        "opt.json",
        r#"{"schema": "dpk-online/v1", "initial_blocks": 1, "total_blocks": 2,
            "scheduling_period": 1, "unlocking": {"kind": "arrivals", "steps": 4},
            "tasks": []}"#,
    );
    assert_one_line_error(
        &ergon(
            s.path(),
            &[
                "dpk",
                "simulate",
                "--config",
                &cfg,
                "--scheduler",
                "optimal",
            ],
        ),
        &["offline"],
    );
}
