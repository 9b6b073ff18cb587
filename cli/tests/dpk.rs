//! End-to-end tests of `ergon dpk`: the built binary on small workloads (oracle O4), online
//! simulations of files and of generated workloads (the `--generate` alias), and bad input. The
//! generators themselves are tested with `ergon-experiments` (experiments/tests/dpk.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

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

/// Runs `ergon dpk schedule --workload FILE EXTRA` in `dir`.
fn schedule(dir: &Path, file: &str, extra: &[&str]) -> Output {
    let mut args = vec!["dpk", "schedule", "--workload", file];
    args.extend(extra);
    ergon(dir, &args)
}

/// Runs `ergon dpk simulate ARGS` in `dir` (see [`words`]).
fn simulate(dir: &Path, args: &str) -> Output {
    ergon(dir, &words(&format!("dpk simulate {args}")))
}

#[test]
fn schedule_o4_json() {
    let s = Scratch::new("o4");
    let f = s.write("o4.json", &o4());
    let v = parse_json(&schedule(s.path(), &f, &["--json"]));
    assert_eq!(v["schema"], "dpk-result/v1");
    assert_eq!(v["scheduler"], "dpk");
    assert_eq!(v["allocated"], serde_json::json!([6, 5]));
    assert_eq!(v["num_allocated"], 2);
    assert_eq!(v["total_weight"].as_f64(), Some(310.0));
    let rem: Vec<f64> = v["remaining"]["0"]
        .as_array()
        .unwrap()
        .iter()
        .map(f64_of)
        .collect();
    for (g, w) in rem.iter().zip([-0.35, -0.30, 0.35]) {
        assert!((g - w).abs() < 1e-9, "{rem:?}");
    }
    let expect: [(&[&str], f64); 5] = [
        (&["--scheduler", "dpf"], 310.0),
        (&["--scheduler", "fcfs"], 210.0),
        (&["--scheduler", "area"], 310.0),
        (&["--scheduler", "optimal"], 310.0),
        (&["--scheduler", "dpf", "--dpf-unweighted"], 260.0),
    ];
    for (flags, weight) in expect {
        let v = parse_json(&schedule(s.path(), &f, &[flags, &["--json"]].concat()));
        assert_eq!(v["total_weight"].as_f64(), Some(weight), "{flags:?}");
        if flags[1] == "optimal" {
            assert_eq!(v["proven_optimal"], true);
        }
    }
}

#[test]
fn schedule_human_summary() {
    let s = Scratch::new("summary");
    let f = s.write("o4.json", &o4());
    let out = assert_success(&schedule(s.path(), &f, &[]));
    assert!(
        out.contains("scheduler dpk: allocated 2 of 7 tasks, total weight 310"),
        "{out}"
    );
    assert!(out.contains("[6, 5]"), "{out}");
    let out = assert_success(&schedule(s.path(), &f, &["--scheduler", "optimal"]));
    assert!(out.contains("proven optimal"), "{out}");
}

#[test]
fn schedule_bad_input() {
    let s = Scratch::new("bad");
    let one_block = |tasks: &str| {
        format!(
            r#"{{"schema": "dpk-workload/v1", "alphas": [2], "blocks": [{{"id": 0, "capacity": [1]}}],
                "tasks": [{tasks}]}}"#
        )
    };
    let cases: [(String, &[&str], &[&str]); 6] = [
        (
            s.write(
                "neg.json",
                &one_block(r#"{"id": 3, "blocks": [0], "demand": [-0.5]}"#),
            ),
            &[],
            &["neg.json", "task 3"],
        ),
        (
            s.write(
                "missing.json",
                &one_block(r#"{"id": 4, "blocks": [7], "demand": [0.5]}"#),
            ),
            &["--json"],
            &["task 4", "block 7"],
        ),
        (
            s.write("schema.json", r#"{"schema": "dpk-workload/v2"}"#),
            &[],
            &["dpk-workload/v2"],
        ),
        (
            s.write(
                "delta.json",
                r#"{"schema": "dpk-workload/v1", "blocks": [{"id": 2, "epsilon": 10, "delta": 1}], "tasks": []}"#,
            ),
            &[],
            &["block 2", "delta"],
        ),
        (s.write("o4.json", &o4()), &["--eta", "2"], &["eta"]),
        ("nope.json".into(), &[], &["nope.json"]),
    ];
    for (file, extra, needles) in cases {
        assert_one_line_error(&schedule(s.path(), &file, extra), needles);
    }
}

#[test]
fn simulate_generated_and_from_file() {
    let s = Scratch::new("sim");
    let generated = "--generate alibaba --tasks 400 --scheduler dpk,dpf,fcfs --recompute-every 50";
    let out = assert_success(&simulate(s.path(), generated));
    for name in ["| dpk |", "| dpf |", "| fcfs |"] {
        assert!(out.contains(name), "{out}");
    }
    assert_success(&ergon(
        s.path(),
        &words("dpk generate alibaba --tasks 300 --out a.json"),
    ));
    let v = parse_json(&simulate(s.path(), "--config a.json --json"));
    assert_eq!(v["schema"], "dpk-online-result/v1");
    assert_eq!(v["num_submitted"], 300);
    let n = v["num_allocated"].as_u64().unwrap();
    assert_eq!(v["allocations"].as_array().unwrap().len() as u64, n);
    let v = parse_json(&simulate(
        s.path(),
        "--config a.json --scheduler dpk,fcfs --json",
    ));
    assert_eq!(v.as_array().unwrap().len(), 2);
    s.write(
        "small.json",
        r#"{"schema": "dpk-online/v1", "alphas": [4, 8], "initial_blocks": 1, "total_blocks": 2,
            "scheduling_period": 1, "unlocking": {"kind": "time", "period": 1, "steps": 1},
            "tasks": [{"id": 1, "arrival": 0.5, "num_blocks": 1, "mechanism": {"kind": "laplace", "b": 1}},
                      {"id": 2, "arrival": 1.5, "num_blocks": 2, "demand": [100, 100]}]}"#,
    );
    let v = parse_json(&simulate(s.path(), "--config small.json --json"));
    assert_eq!(v["num_allocated"], 1);
    assert_eq!(v["allocations"][0]["id"], 1);
    assert_eq!(v["allocations"][0]["time"].as_f64(), Some(1.0));
}

/// `ergon dpk simulate --generate KIND SETTINGS` is `dpk generate KIND SETTINGS --out FILE`
/// (`ergon-experiments dpk generate`) followed by `ergon dpk simulate --config FILE`: the
/// migration docs/dpk.md gives for scripts.
#[test]
fn simulate_generate_equals_generate_then_simulate_the_file() {
    let s = Scratch::new("sim-generate");
    for (kind, settings) in [
        ("amazon", "--tasks 120 --weighted --seed 5"),
        ("alibaba", "--tasks 150 --period 5"),
    ] {
        let run = "--json --scheduler dpk,dpf";
        let direct = assert_success(&simulate(
            s.path(),
            &format!("--generate {kind} {settings} {run}"),
        ));
        let line = format!("dpk generate {kind} {settings} --out {kind}.json");
        assert_success(&ergon(s.path(), &words(&line)));
        let from_file = assert_success(&simulate(s.path(), &format!("--config {kind}.json {run}")));
        assert!(
            direct.starts_with("[{\"schema\":\"dpk-online-result/v1\""),
            "{direct}"
        );
        assert_eq!(direct, from_file, "{kind}");
    }
}

#[test]
fn simulate_bad_input() {
    let s = Scratch::new("simbad");
    let online = |blocks: &str, unlocking: &str| {
        format!(
            r#"{{"schema": "dpk-online/v1", {blocks}, "scheduling_period": 1,
                "unlocking": {unlocking}, "tasks": []}}"#
        )
    };
    s.write(
        "bad.json",
        &online(
            r#""initial_blocks": 0, "total_blocks": 2"#,
            r#"{"kind": "time", "period": 1, "steps": 1}"#,
        ),
    );
    s.write(
        "opt.json",
        &online(
            r#""initial_blocks": 1, "total_blocks": 2"#,
            r#"{"kind": "arrivals", "steps": 4}"#,
        ),
    );
    let cases = [
        ("--config bad.json", "initial_blocks"),
        ("", "--config"),
        ("--config opt.json --scheduler optimal", "offline"),
    ];
    for (args, needle) in cases {
        assert_one_line_error(&simulate(s.path(), args), &[needle]);
    }
}
