//! End-to-end tests of `ergon oobleck`: templates, plan and fail on the 24-layer oracle profile
//! C of the notes (A12.1: the values below are the reference planner's, not ergon's output), the
//! develop profiler's cache directory, and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;

mod support;
use support::*;

/// Oracle C: f = [0.5] + [2 + 0.1·((7i) mod 5), i = 1..22] + [3.0], b = 2f, memory
/// [300] + 22×[100] + [300].
fn oracle_c() -> String {
    let layers: Vec<String> = (0..24)
        .map(|i| {
            let f = match i {
                0 => 0.5,
                23 => 3.0,
                _ => 2.0 + 0.1 * f64::from((7 * i) % 5),
            };
            let mem = if i == 0 || i == 23 { 300 } else { 100 };
            format!(
                r#"{{"forward": {f}, "backward": {}, "mem_required": {mem}}}"#,
                2.0 * f
            )
        })
        .collect();
    format!(
        r#"{{"format": "oobleck-profile/v1", "layers": [{}]}}"#,
        layers.join(",")
    )
}

const PLAN: &[&str] = &[
    "--max-nodes",
    "12",
    "--node-memory",
    "1500",
    "--fault-tolerance",
    "2",
    "--microbatches",
    "128",
    "--json",
];

fn close(v: &Value, want: f64) -> bool {
    (f64_of(v) - want).abs() < 1e-6
}

#[test]
fn templates_json_has_the_oracle_values() {
    let s = Scratch::new("templates");
    let p = s.write("c.json", &oracle_c());
    let o = ergon(
        s.path(),
        &[
            "oobleck",
            "templates",
            "--profile",
            &p,
            "--max-nodes",
            "12",
            "--node-memory",
            "1500",
            "--json",
        ],
    );
    let v = parse_json(&o);
    let ts = v["templates"].as_array().unwrap();
    assert_eq!(ts.len(), 11);
    let t3 = &ts[1];
    assert_eq!(t3["num_nodes"], 3);
    let ranges: Vec<Value> = t3["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["layers"].clone())
        .collect();
    assert_eq!(
        ranges,
        vec![
            serde_json::json!([0, 9]),
            serde_json::json!([9, 17]),
            serde_json::json!([17, 24])
        ]
    );
    assert!(close(&t3["objective"], 749.4));
    assert!(close(&ts[0]["objective"], 719.1));
    assert_eq!(t3["stages"][0]["gpus"], 1);
}

#[test]
fn plan_and_fail_match_the_oracle() {
    let s = Scratch::new("plan");
    let p = s.write("c.json", &oracle_c());
    let o = ergon(
        s.path(),
        &[&["oobleck", "plan", "--profile", &p], PLAN].concat(),
    );
    let v = parse_json(&o);
    let pipes = v["pipelines"].as_array().unwrap();
    assert_eq!(pipes.len(), 4);
    assert!(
        pipes
            .iter()
            .all(|p| p["num_nodes"] == 3 && p["microbatches"] == 32)
    );
    assert!(close(&v["iteration_time"], 1841.4));
    let o = ergon(
        s.path(),
        &[&["oobleck", "fail", "--profile", &p, "--lose", "4"], PLAN].concat(),
    );
    let v = parse_json(&o);
    let got: Vec<(u64, u64)> = v["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["num_nodes"].as_u64().unwrap(),
                p["microbatches"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, vec![(2, 23), (3, 35), (3, 35), (3, 35)]);
    assert!(close(&v["iteration_time"], 2005.2));
    assert!(
        v["transfers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["from"] != 4)
    );
    // Without --json: a table.
    let args = [
        &["oobleck", "fail", "--profile", &p, "--lose", "4"],
        &PLAN[..8],
    ]
    .concat();
    let o = ergon(s.path(), &args);
    let out = assert_success(&o);
    assert!(
        out.contains("after losing nodes [4]") && out.contains("2005.200"),
        "{out}"
    );
}

#[test]
fn reads_the_develop_profiler_cache() {
    let s = Scratch::new("cache");
    s.write("mb1.json", r#"[{"forward": 1, "backward": 2, "mem_required": [10, 5]}, {"forward": 1, "backward": 2, "mem_required": [10, 5]}]"#);
    s.write(
        "allreduce_in_node.json",
        r#"[{"1": 0, "2": 3}, {"1": 0, "2": 3}]"#,
    );
    s.write(
        "allreduce_across_nodes.json",
        r#"[{"1": 0, "2": 1}, {"1": 0, "2": 1}]"#,
    );
    let dir = s.path().display().to_string();
    let o = ergon(
        s.path(),
        &[
            "oobleck",
            "templates",
            "--profile",
            &dir,
            "--max-nodes",
            "1",
            "--gpus-per-node",
            "2",
            "--objective",
            "develop",
            "--json",
        ],
    );
    let v = parse_json(&o);
    // Two 1-GPU stages: L = 3 each, T = 6 + (2·2 + 1 + 1)·3 + 3 = 27; one 2-GPU stage would
    // cost 4·(6/2 + 2·2·3) = 60.
    let t = &v["templates"][0];
    assert!(close(&t["objective"], 27.0), "{t}");
    assert_eq!(t["stages"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_input_is_one_error_line() {
    let s = Scratch::new("bad");
    let c = s.write("c.json", &oracle_c());
    let empty = s.write(
        "empty.json",
        r#"{"format": "oobleck-profile/v1", "layers": []}"#,
    );
    let cases: [(&[&str], &str); 5] = [
        (
            &["templates", "--profile", &empty, "--max-nodes", "4"],
            "no layers",
        ),
        (
            &[
                "templates",
                "--profile",
                &c,
                "--max-nodes",
                "4",
                "--node-memory",
                "200",
            ],
            "layer 0 needs 300 bytes",
        ),
        (
            &[
                &["plan", "--profile", &c],
                &PLAN[..5],
                &["6", "--microbatches", "128"],
            ]
            .concat(),
            "fault tolerance f = 6",
        ),
        (
            &[&["fail", "--profile", &c, "--lose", "0,3,6,9"], PLAN].concat(),
            "training must restart",
        ),
        (
            &[&["fail", "--profile", &c, "--lose", "12"], PLAN].concat(),
            "lost node 12",
        ),
    ];
    for (args, want) in cases {
        let o = ergon(s.path(), &[&["oobleck"], args].concat());
        assert_one_line_error(&o, &[want]);
    }
}

#[test]
fn simulate_prints_shares_and_draws_the_svg() {
    let s = Scratch::new("simulate");
    let p = s.write("c.json", &oracle_c());
    // No failures: Oobleck loses nothing, checkpoint-restart pays 10 s per 300 s of training
    // (3000 of 3100 s), redundant computation also the shadow forward (1/(1 + 1/3)).
    let t = s.write(
        "t.json",
        r#"{"format": "oobleck-trace/v1", "duration_s": 3100, "events": []}"#,
    );
    let svg = s.path().join("f.svg").display().to_string();
    let args = [
        &[
            "oobleck",
            "simulate",
            "--profile",
            &p,
            "--trace",
            &t,
            "--svg",
            &svg,
        ],
        PLAN,
    ]
    .concat();
    let v = parse_json(&ergon(s.path(), &args));
    let share = |i: usize| f64_of(&v["systems"][i]["effective_share"]);
    assert_eq!(v["systems"][0]["system"], "oobleck");
    assert!((share(0) - 1.0).abs() < 1e-12);
    assert!((share(1) - 3000.0 / 3100.0).abs() < 1e-12);
    assert!((share(2) - 0.75 * 3000.0 / 3100.0).abs() < 1e-12);
    assert!(s.read("f.svg").starts_with("<svg"));
    let bad = s.write("bad.json", r#"{"format": "oobleck-trace/v1", "duration_s": 10, "events": [{"time_s": 1, "fail": 99}]}"#);
    let args = [
        &["oobleck", "simulate", "--profile", &p, "--trace", &bad],
        PLAN,
    ]
    .concat();
    assert_one_line_error(&ergon(s.path(), &args), &["node 99 is not in 0..12"]);
}
