//! End-to-end tests of `ergon frontier`: the built binary run in a scratch directory on the
//! built-in default, the shared `a100_s4_m8` instance, the same instance as a zeus CSV, plans,
//! deadlines and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod support;
use support::*;

fn instance_path() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/perseus/a100_s4_m8.instance.json");
    assert!(
        p.is_file(),
        "fixture not found at {} (the shared folder must sit beside the repository)",
        p.display()
    );
    p
}

fn instance() -> Value {
    serde_json::from_str(&std::fs::read_to_string(instance_path()).unwrap()).unwrap()
}

fn parse_json(o: &Output) -> Value {
    assert_success(o);
    serde_json::from_str(&stdout(o))
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", stdout(o)))
}

fn f64_of(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

/// Writes the instance's profiles as a zeus CSV (with an ignored extra column up front).
fn write_csv(inst: &Value, path: &Path) {
    let mut s = String::from("rank,stage,instruction,frequency,time,energy\n");
    for p in inst["profiles"].as_array().unwrap() {
        for o in p["options"].as_array().unwrap() {
            s.push_str(&format!(
                "{},{},{},{},{},{}\n",
                p["stage"],
                p["stage"],
                p["kind"].as_str().unwrap(),
                o["freq_mhz"],
                f64_of(&o["time_s"]),
                f64_of(&o["energy_j"]),
            ));
        }
    }
    std::fs::write(path, s).unwrap();
}

const CSV_FLAGS: [&str; 8] = [
    "--stages",
    "4",
    "--microbatches",
    "8",
    "--unit-time",
    "0.001",
    "--p-blocking",
    "83.64",
];

/// The `ergon-frontier/v1` checks shared by the instance and CSV runs.
fn check_a100_s4_m8_frontier(v: &Value) {
    assert_eq!(v["schema"], "ergon-frontier/v1");
    assert_eq!(v["num_stages"], 4);
    assert_eq!(f64_of(&v["unit_time_s"]), 0.001);
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 174);
    let quanta: Vec<u64> = points
        .iter()
        .map(|p| p["quanta"].as_u64().unwrap())
        .collect();
    assert_eq!(quanta[0], 896);
    assert_eq!(*quanta.last().unwrap(), 723);
    for w in quanta.windows(2) {
        assert_eq!(w[0], w[1] + 1, "quanta must fall by exactly 1: {w:?}");
    }
    for p in points {
        let q = p["quanta"].as_u64().unwrap() as f64;
        assert!((f64_of(&p["time_s"]) - q * 1e-3).abs() < 1e-12, "{p}");
        // energy = effective cost + stages · time · blocking power (formats.md §3)
        let e = f64_of(&p["effective_cost_j"]) + 4.0 * f64_of(&p["time_s"]) * 83.64;
        assert!((f64_of(&p["energy_j"]) - e).abs() < 1e-9, "{p}");
    }
    assert!((f64_of(&v["t_min_s"]) - 0.723).abs() < 1e-12);
    assert!((f64_of(&v["t_max_s"]) - 0.897).abs() < 1e-12);
    let t_star = f64_of(&v["t_star_s"]);
    assert!((0.723..=0.897).contains(&t_star), "{t_star}");
    // T* is where the energy is least (the start state at T_max is not a point but is more
    // expensive here).
    let best = points
        .iter()
        .min_by(|a, b| f64_of(&a["energy_j"]).total_cmp(&f64_of(&b["energy_j"])))
        .unwrap();
    assert!((f64_of(&best["time_s"]) - t_star).abs() < 1e-12);
    assert_eq!(v["complete"], true);
}

// ---------------------------------------------------------------------------------------------
// (a) The built-in default.

#[test]
fn default_prints_summary_and_writes_svg() {
    let dir = Scratch::new("default");
    let o = ergon(dir.path(), &["frontier"]);
    assert_success(&o);
    let out = stdout(&o);
    assert!(out.contains("built-in GPT-3-like pipeline"), "{out}");
    assert!(out.contains("512 computations on 8 stages"), "{out}");
    let time_of = |label: &str| -> f64 {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} row in:\n{out}"));
        let tokens: Vec<&str> = line.split_whitespace().collect();
        // label …, time, energy, saved%
        assert!(tokens[tokens.len() - 1].ends_with('%'), "{line}");
        tokens[tokens.len() - 3].parse().unwrap()
    };
    let (t_min, t_star, t_max) = (time_of("T_min"), time_of("T*"), time_of("T_max"));
    assert!(t_min > 0.0 && t_min <= t_star && t_star <= t_max, "{out}");
    assert!(t_min < t_max, "{out}");
    assert!(out.contains("points (1 ms apart)"), "{out}");

    let svg_path = dir.path().join("frontier.svg");
    let svg = std::fs::read_to_string(&svg_path).expect("frontier.svg was not written");
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    for label in [
        "frontier (all points)",
        "all at max frequency",
        "T_min (fastest plan)",
        "T* (minimum energy)",
        "iteration time (s)",
        "iteration energy (J)",
    ] {
        assert!(svg.contains(label), "the SVG has no {label:?}");
    }
    assert!(stderr(&o).contains("wrote frontier.svg"));
}

#[test]
fn svg_flag_and_no_plot() {
    let dir = Scratch::new("svg");
    let inst = instance_path();
    let inst = inst.to_str().unwrap();
    let o = ergon(
        dir.path(),
        &["frontier", "--instance", inst, "--svg", "out.svg"],
    );
    assert_success(&o);
    let svg = std::fs::read_to_string(dir.path().join("out.svg")).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(!dir.path().join("frontier.svg").exists());

    let dir = Scratch::new("no_plot");
    let o = ergon(dir.path(), &["frontier", "--instance", inst, "--no-plot"]);
    assert_success(&o);
    assert!(stdout(&o).contains("174 points"), "{}", stdout(&o));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

// ---------------------------------------------------------------------------------------------
// (b) The shared instance as JSON.

#[test]
fn instance_json_output() {
    let dir = Scratch::new("instance_json");
    let o = ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            instance_path().to_str().unwrap(),
            "--json",
            "--no-plot",
        ],
    );
    let v = parse_json(&o);
    check_a100_s4_m8_frontier(&v);
    // The summary goes to stderr with --json.
    assert!(stderr(&o).contains("T_min"), "{}", stderr(&o));
    assert!(v["points"][0].get("changes").is_none());
}

#[test]
fn instance_json_has_num_microbatches() {
    let dir = Scratch::new("instance_mb");
    let o = ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            instance_path().to_str().unwrap(),
            "--json",
            "--no-plot",
        ],
    );
    let v = parse_json(&o);
    assert_eq!(
        v["num_microbatches"], 8,
        "formats.md §3 lists num_microbatches"
    );
}

#[test]
fn instance_json_with_changes_lists_each_points_changes() {
    let dir = Scratch::new("changes");
    let o = ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            instance_path().to_str().unwrap(),
            "--json",
            "--with-changes",
            "--no-plot",
        ],
    );
    let v = parse_json(&o);
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 174);
    for p in points {
        let changes = p["changes"].as_array().unwrap();
        assert!(!changes.is_empty(), "{p}");
        for c in changes {
            let c = c.as_array().unwrap();
            assert_eq!(c.len(), 2);
            assert!(c[0].as_u64().unwrap() < 64);
            assert!(c[1].as_u64().unwrap() > 0);
        }
    }
}

#[test]
fn effective_energy_before_filter_matches_the_oracle_count() {
    // The fixtures' README: 174 points after the filter, 395 before.
    let dir = Scratch::new("before_filter");
    let o = ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            instance_path().to_str().unwrap(),
            "--effective-energy",
            "before-filter",
            "--json",
            "--no-plot",
        ],
    );
    let v = parse_json(&o);
    assert_eq!(v["points"].as_array().unwrap().len(), 395);
    assert!((f64_of(&v["t_min_s"]) - 0.723).abs() < 1e-12);
}

// ---------------------------------------------------------------------------------------------
// (c) The same instance as a zeus CSV.

#[test]
fn csv_gives_the_same_frontier_as_the_instance() {
    let dir = Scratch::new("csv");
    let inst = instance();
    write_csv(&inst, &dir.path().join("x.csv"));
    let mut args = vec!["frontier", "--profile", "x.csv"];
    args.extend(CSV_FLAGS);
    args.extend(["--json", "--no-plot"]);
    let from_csv = parse_json(&ergon(dir.path(), &args));
    check_a100_s4_m8_frontier(&from_csv);
    assert_eq!(from_csv["num_microbatches"], 8);

    let from_instance = parse_json(&ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            instance_path().to_str().unwrap(),
            "--json",
            "--no-plot",
        ],
    ));
    for key in [
        "t_min_s",
        "t_max_s",
        "t_star_s",
        "p_blocking_w",
        "unit_time_s",
    ] {
        assert_eq!(from_csv[key], from_instance[key], "{key}");
    }
    let (a, b) = (
        from_csv["points"].as_array().unwrap(),
        from_instance["points"].as_array().unwrap(),
    );
    assert_eq!(a.len(), b.len());
    for (p, q) in a.iter().zip(b) {
        assert_eq!(p["quanta"], q["quanta"]);
        for key in ["energy_j", "effective_cost_j"] {
            let (x, y) = (f64_of(&p[key]), f64_of(&q[key]));
            assert!(
                (x - y).abs() <= 1e-9 * y.abs(),
                "{key} at {} quanta: CSV {x} vs instance {y}",
                p["quanta"]
            );
        }
    }
}

/// Issue 12: a UTF-8 byte-order mark before the header (as spreadsheet tools write) is ignored;
/// before, the run failed with "the header has no `stage` column".
#[test]
fn csv_with_a_utf8_bom_is_read() {
    let dir = Scratch::new("csv-bom");
    let inst = instance();
    write_csv(&inst, &dir.path().join("plain.csv"));
    let text = std::fs::read_to_string(dir.path().join("plain.csv")).unwrap();
    dir.write("bom.csv", &format!("\u{feff}{text}"));
    let mut args = vec!["frontier", "--profile", "bom.csv"];
    args.extend(CSV_FLAGS);
    args.extend(["--json", "--no-plot"]);
    check_a100_s4_m8_frontier(&parse_json(&ergon(dir.path(), &args)));
}

/// Issue 12: an explicit DAG next to an informative `pipeline` whose `num_stages` disagrees.
/// The GPUs drawing blocking power are the DAG's; before, 400 "informative" stages multiplied
/// the blocking energy by 100, and 4·10⁹ made the plan allocate one list per stage (96 GB) and
/// abort.
#[test]
fn explicit_dag_decides_the_gpu_count_over_the_informative_pipeline() {
    let dir = Scratch::new("dag-stages");
    let plain = parse_json(&ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            instance_path().to_str().unwrap(),
            "--json",
            "--no-plot",
        ],
    ));
    let dag = ergon_core::perseus::Pipeline::one_f_one_b(4, 8)
        .dag()
        .unwrap();
    let nodes: Vec<Value> = dag
        .nodes
        .iter()
        .enumerate()
        .map(|(id, c)| {
            serde_json::json!({"id": id, "stage": c.stage, "kind": c.kind.as_str(), "microbatch": c.microbatch})
        })
        .collect();
    for stages in [400u64, 4_000_000_000] {
        let mut inst = instance();
        inst["pipeline"]["num_stages"] = stages.into();
        inst["dag"] = serde_json::json!({"nodes": nodes, "edges": dag.edges});
        dir.write("dag.json", &inst.to_string());
        let v = parse_json(&ergon(
            dir.path(),
            &[
                "frontier",
                "--instance",
                "dag.json",
                "--json",
                "--no-plot",
                "--plan-out",
                "plans",
            ],
        ));
        assert_eq!(v["num_stages"], 4, "pipeline.num_stages = {stages}");
        assert_eq!(
            v["points"], plain["points"],
            "pipeline.num_stages = {stages}"
        );
        let plan: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("plans/plan_fastest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(plan["stages"].as_array().unwrap().len(), 4);
    }
}

/// Issue 12: limits reach the command line as a one-line error naming the limit.
#[test]
fn instance_beyond_the_stage_limit_is_a_one_line_error() {
    let dir = Scratch::new("too-many-stages");
    let mut inst = instance();
    inst.as_object_mut().unwrap().remove("dag");
    inst["pipeline"]["num_stages"] = 4_000_000_000u64.into();
    dir.write("big.json", &inst.to_string());
    let o = ergon(
        dir.path(),
        &["frontier", "--instance", "big.json", "--no-plot"],
    );
    assert_one_line_error(&o, &["MAX_STAGES", "4000000000"]);
}

// ---------------------------------------------------------------------------------------------
// (d) Plans and deadlines.

/// Stage `s`'s 1F1B program for S = 4, M = 8 as a string of F and B.
fn one_f_one_b(s: usize) -> String {
    let (stages, m) = (4, 8);
    let warmup = (stages - s).min(m);
    let mut out = "F".repeat(warmup);
    let (mut f, mut b) = (warmup, 0);
    while b < m {
        out.push('B');
        b += 1;
        if f < m {
            out.push('F');
            f += 1;
        }
    }
    out
}

/// The frequencies of each (stage, kind) in the instance.
fn profile_freqs(inst: &Value, stage: u64, kind: &str) -> Vec<u64> {
    inst["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["stage"] == stage && p["kind"] == kind)
        .unwrap()["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["freq_mhz"].as_u64().unwrap())
        .collect()
}

fn check_plan(plan: &Value, inst: &Value) {
    assert_eq!(plan["schema"], "ergon-plan/v1");
    let stages = plan["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 4);
    for (s, st) in stages.iter().enumerate() {
        assert_eq!(st["stage"], s);
        let instructions = st["instructions"].as_array().unwrap();
        assert_eq!(instructions.len(), 16);
        let order: String = instructions
            .iter()
            .map(|i| match i[0].as_str().unwrap() {
                "forward" => 'F',
                "backward" => 'B',
                k => panic!("unknown instruction {k}"),
            })
            .collect();
        assert_eq!(order, one_f_one_b(s), "stage {s}");
        for i in instructions {
            let freq = i[1].as_u64().unwrap();
            let allowed = profile_freqs(inst, s as u64, i[0].as_str().unwrap());
            assert!(
                allowed.contains(&freq),
                "stage {s} {i}: {freq} MHz is not a profiled frequency"
            );
        }
    }
    assert!(f64_of(&plan["time_s"]) > 0.0);
    assert!(f64_of(&plan["energy_j"]) > 0.0);
}

#[test]
fn plan_out_writes_fastest_and_t_star() {
    assert_eq!(one_f_one_b(0), "FFFFBFBFBFBFBBBB");
    assert_eq!(one_f_one_b(3), "FBFBFBFBFBFBFBFB");
    let dir = Scratch::new("plans");
    let inst = instance();
    let o = ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            instance_path().to_str().unwrap(),
            "--json",
            "--no-plot",
            "--plan-out",
            "plans",
        ],
    );
    let frontier = parse_json(&o);
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["plan_fastest.json", "plan_t_star.json"]);
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plans").join(name)).unwrap())
            .unwrap()
    };
    let fastest = read("plan_fastest.json");
    let t_star = read("plan_t_star.json");
    check_plan(&fastest, &inst);
    check_plan(&t_star, &inst);
    assert_eq!(fastest["time_s"], frontier["t_min_s"]);
    assert_eq!(t_star["time_s"], frontier["t_star_s"]);
    let last = frontier["points"].as_array().unwrap().last().unwrap();
    assert_eq!(fastest["energy_j"], last["energy_j"]);
    // The fastest plan runs stage 0's first forward at the top clock (it is on every
    // critical path) and T* uses less energy.
    assert_eq!(fastest["stages"][0]["instructions"][0][1], 1410);
    assert!(f64_of(&t_star["energy_j"]) <= f64_of(&fastest["energy_j"]));
    let err = stderr(&o);
    assert!(err.contains("plan_fastest.json") && err.contains("plan_t_star.json"));
}

#[test]
fn plan_out_at_selects_one_plan() {
    let dir = Scratch::new("plans_at");
    let o = ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            instance_path().to_str().unwrap(),
            "--no-plot",
            "--plan-out",
            "p",
            "--at",
            "t-star",
        ],
    );
    assert_success(&o);
    let names: Vec<String> = std::fs::read_dir(dir.path().join("p"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["plan_t_star.json"]);
}

#[test]
fn deadline_plan_minimizes_energy_including_the_wait() {
    let dir = Scratch::new("deadline");
    let inst = instance();
    let o = ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            instance_path().to_str().unwrap(),
            "--json",
            "--no-plot",
            "--plan-out",
            "p",
            "--deadline",
            "0.8",
        ],
    );
    let frontier = parse_json(&o);
    let path = dir.path().join("p").join("plan_deadline_0.8s.json");
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    check_plan(&plan, &inst);
    // Only the deadline plan is written when --at is not given.
    assert_eq!(std::fs::read_dir(dir.path().join("p")).unwrap().count(), 1);
    let wait = |p: &Value| f64_of(&p["energy_j"]) + 4.0 * 83.64 * (0.8 - f64_of(&p["time_s"]));
    let best = frontier["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| f64_of(&p["time_s"]) <= 0.8 + 1e-12)
        .min_by(|a, b| wait(a).total_cmp(&wait(b)))
        .unwrap();
    assert_eq!(plan["time_s"], best["time_s"]);
    assert!((f64_of(&plan["energy_j"]) - wait(best)).abs() < 1e-9);
}

#[test]
fn deadline_below_t_min_fails_naming_the_deadline() {
    let dir = Scratch::new("deadline_short");
    let o = ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            instance_path().to_str().unwrap(),
            "--no-plot",
            "--plan-out",
            "p",
            "--deadline",
            "0.7",
        ],
    );
    assert!(!o.status.success());
    assert_ne!(o.status.code(), Some(0));
    let err = stderr(&o);
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in:\n{err}"));
    assert!(line.contains("deadline 0.7"), "{line}");
    assert!(line.contains("0.723"), "{line}");
    // No plan was written.
    let written = std::fs::read_dir(dir.path().join("p"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(written, 0);
}

#[test]
fn non_finite_deadline_message_is_not_misleading() {
    let dir = Scratch::new("deadline_nan");
    let o = ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            instance_path().to_str().unwrap(),
            "--no-plot",
            "--plan-out",
            "p",
            "--deadline",
            "NaN",
        ],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(!err.contains("shorter"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// (e) Bad input.

#[test]
fn missing_instance_file() {
    let dir = Scratch::new("missing");
    let o = ergon(dir.path(), &["frontier", "--instance", "nope.json"]);
    assert_one_line_error(&o, &["nope.json", "reading"]);
    let o = ergon(
        dir.path(),
        &["frontier", "--profile", "nope.csv", "--stages", "4"]
            .into_iter()
            .chain(CSV_FLAGS[2..].iter().copied())
            .collect::<Vec<_>>(),
    );
    assert_one_line_error(&o, &["nope.csv", "reading"]);
    assert!(!dir.path().join("frontier.svg").exists());
}

#[test]
fn bad_json_instance() {
    let dir = Scratch::new("bad_json");
    let text = std::fs::read_to_string(instance_path()).unwrap();
    std::fs::write(dir.path().join("cut.json"), &text[..text.len() / 3]).unwrap();
    let o = ergon(dir.path(), &["frontier", "--instance", "cut.json"]);
    assert_one_line_error(&o, &["cut.json", "perseus-instance/v1", "line", "column"]);

    let mut v = instance();
    v.as_object_mut().unwrap().remove("unit_time_s");
    std::fs::write(dir.path().join("no_tau.json"), v.to_string()).unwrap();
    let o = ergon(dir.path(), &["frontier", "--instance", "no_tau.json"]);
    assert_one_line_error(&o, &["no_tau.json", "missing field", "unit_time_s"]);

    let mut v = instance();
    v["schema"] = "ergon-frontier/v1".into();
    std::fs::write(dir.path().join("schema.json"), v.to_string()).unwrap();
    let o = ergon(dir.path(), &["frontier", "--instance", "schema.json"]);
    assert_one_line_error(
        &o,
        &["schema.json", "perseus-instance/v1", "ergon-frontier/v1"],
    );

    let mut v = instance();
    v["profiles"][5]["options"] = Value::Array(vec![]);
    std::fs::write(dir.path().join("empty.json"), v.to_string()).unwrap();
    let o = ergon(dir.path(), &["frontier", "--instance", "empty.json"]);
    let stage = v["profiles"][5]["stage"].as_u64().unwrap();
    let kind = v["profiles"][5]["kind"].as_str().unwrap().to_string();
    assert_one_line_error(
        &o,
        &[
            "empty.json",
            &format!("profile (stage {stage}, {kind}) has no options"),
        ],
    );
}

#[test]
fn csv_without_its_flags() {
    let dir = Scratch::new("csv_flags");
    write_csv(&instance(), &dir.path().join("x.csv"));
    let o = ergon(
        dir.path(),
        &["frontier", "--profile", "x.csv", "--stages", "4"],
    );
    // clap's usage error: the first line is `error: ...`, then the missing flags.
    assert!(!o.status.success());
    assert_ne!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(err.starts_with("error:"), "{err}");
    for flag in ["--microbatches", "--unit-time", "--p-blocking"] {
        assert!(err.contains(flag), "{err} does not name {flag}");
    }
    assert_eq!(stdout(&o), "");
}

#[test]
fn bad_csv_contents() {
    let dir = Scratch::new("csv_bad");
    let run = |name: &str, text: &str, extra: &[&str]| {
        std::fs::write(dir.path().join(name), text).unwrap();
        let mut args = vec!["frontier", "--profile", name];
        args.extend(CSV_FLAGS);
        args.extend(extra);
        ergon(dir.path(), &args)
    };
    let o = run(
        "cols.csv",
        "stage,instruction,frequency,time\n0,forward,1410,0.02\n",
        &[],
    );
    assert_one_line_error(&o, &["cols.csv", "CSV line 1", "`energy`"]);

    let o = run(
        "kind.csv",
        "stage,instruction,frequency,time,energy\n0,forward,1410,0.02,8\n0,recompute,1410,0.02,8\n",
        &[],
    );
    assert_one_line_error(&o, &["kind.csv", "CSV line 3", "recompute"]);

    let o = run(
        "freq.csv",
        "stage,instruction,frequency,time,energy\n0,forward,1410.5,0.02,8\n",
        &[],
    );
    assert_one_line_error(&o, &["freq.csv", "CSV line 2", "frequency"]);

    // Valid rows that do not cover the pipeline.
    let o = run(
        "partial.csv",
        "stage,instruction,frequency,time,energy\n0,forward,1410,0.02,8\n",
        &[],
    );
    assert_one_line_error(&o, &["partial.csv", "no profile for stage 0, backward"]);

    // A valid CSV with a pipeline of zero stages.
    write_csv(&instance(), &dir.path().join("ok.csv"));
    let mut args = vec!["frontier", "--profile", "ok.csv", "--stages", "0"];
    args.extend(&CSV_FLAGS[2..]);
    let o = ergon(dir.path(), &args);
    assert_one_line_error(&o, &["ok.csv", "0 stages"]);

    // The profiles cover 4 stages; a 3-stage pipeline leaves stage 3's unused.
    let mut args = vec!["frontier", "--profile", "ok.csv", "--stages", "3"];
    args.extend(&CSV_FLAGS[2..]);
    let o = ergon(dir.path(), &args);
    assert_one_line_error(&o, &["ok.csv", "stage 3", "beyond the pipeline's 3 stages"]);

    // An unknown schedule.
    let mut args = vec!["frontier", "--profile", "ok.csv"];
    args.extend(CSV_FLAGS);
    args.extend(["--schedule", "zero_bubble"]);
    let o = ergon(dir.path(), &args);
    assert_one_line_error(&o, &["zero_bubble", "schedule"]);
}

#[test]
fn conflicting_and_dependent_flags() {
    let dir = Scratch::new("flags");
    write_csv(&instance(), &dir.path().join("x.csv"));
    let inst = instance_path();
    let mut args = vec![
        "frontier",
        "--instance",
        inst.to_str().unwrap(),
        "--profile",
        "x.csv",
    ];
    args.extend(CSV_FLAGS);
    let o = ergon(dir.path(), &args);
    assert!(!o.status.success());
    assert!(stderr(&o).starts_with("error:"));
    assert!(stderr(&o).contains("--profile"));

    let o = ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            inst.to_str().unwrap(),
            "--deadline",
            "1.0",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--plan-out"), "{}", stderr(&o));

    let o = ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            inst.to_str().unwrap(),
            "--with-changes",
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--json"), "{}", stderr(&o));
}

#[test]
fn unwritable_outputs_fail_naming_the_path() {
    let dir = Scratch::new("unwritable");
    let inst = instance_path();
    std::fs::write(dir.path().join("afile"), "").unwrap();
    let o = ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            inst.to_str().unwrap(),
            "--no-plot",
            "--plan-out",
            "afile",
        ],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.lines()
            .any(|l| l.starts_with("error:") && l.contains("afile")),
        "{err}"
    );

    let o = ergon(
        dir.path(),
        &[
            "frontier",
            "--instance",
            inst.to_str().unwrap(),
            "--svg",
            "no/such/dir/f.svg",
        ],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.lines()
            .any(|l| l.starts_with("error:") && l.contains("no/such/dir/f.svg")),
        "{err}"
    );
}
