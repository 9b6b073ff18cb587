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
    shared_data("perseus/a100_s4_m8.instance.json")
}

fn instance() -> Value {
    serde_json::from_str(&std::fs::read_to_string(instance_path()).unwrap()).unwrap()
}

/// Runs `ergon frontier --instance <a100_s4_m8> EXTRA` in `dir`.
fn frontier(dir: &Path, extra: &[&str]) -> Output {
    let instance = instance_path();
    let mut args = vec!["frontier", "--instance", instance.to_str().unwrap()];
    args.extend(extra);
    ergon(dir, &args)
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

/// Runs `ergon frontier --profile FILE --stages STAGES` with the rest of [`CSV_FLAGS`] and
/// `extra` in `dir`.
fn csv_frontier(dir: &Path, file: &str, stages: &str, extra: &[&str]) -> Output {
    let mut args = vec!["frontier", "--profile", file, "--stages", stages];
    args.extend(&CSV_FLAGS[2..]);
    args.extend(extra);
    ergon(dir, &args)
}

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
    let o = frontier(dir.path(), &["--svg", "out.svg"]);
    assert_success(&o);
    let svg = std::fs::read_to_string(dir.path().join("out.svg")).unwrap();
    assert!(svg.starts_with("<svg"));
    assert!(!dir.path().join("frontier.svg").exists());

    let dir = Scratch::new("no_plot");
    let o = frontier(dir.path(), &["--no-plot"]);
    assert_success(&o);
    assert!(stdout(&o).contains("174 points"), "{}", stdout(&o));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

// ---------------------------------------------------------------------------------------------
// (b) The shared instance as JSON.

#[test]
fn instance_json_output() {
    let dir = Scratch::new("instance_json");
    let o = frontier(dir.path(), &["--json", "--no-plot"]);
    let v = parse_json(&o);
    check_a100_s4_m8_frontier(&v);
    // The summary goes to stderr with --json.
    assert!(stderr(&o).contains("T_min"), "{}", stderr(&o));
    assert!(v["points"][0].get("changes").is_none());
}

#[test]
fn instance_json_has_num_microbatches() {
    let dir = Scratch::new("instance_mb");
    let o = frontier(dir.path(), &["--json", "--no-plot"]);
    let v = parse_json(&o);
    assert_eq!(
        v["num_microbatches"], 8,
        "formats.md §3 lists num_microbatches"
    );
}

#[test]
fn instance_json_with_changes_lists_each_points_changes() {
    let dir = Scratch::new("changes");
    let o = frontier(dir.path(), &["--json", "--with-changes", "--no-plot"]);
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
    let o = frontier(
        dir.path(),
        &["--effective-energy", "before-filter", "--json", "--no-plot"],
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
    let from_csv = parse_json(&csv_frontier(
        dir.path(),
        "x.csv",
        "4",
        &["--json", "--no-plot"],
    ));
    check_a100_s4_m8_frontier(&from_csv);
    assert_eq!(from_csv["num_microbatches"], 8);

    let from_instance = parse_json(&frontier(dir.path(), &["--json", "--no-plot"]));
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
    let o = csv_frontier(dir.path(), "bom.csv", "4", &["--json", "--no-plot"]);
    check_a100_s4_m8_frontier(&parse_json(&o));
}

/// Issue 12: an explicit DAG next to an informative `pipeline` whose `num_stages` disagrees.
/// The GPUs drawing blocking power are the DAG's; before, 400 "informative" stages multiplied
/// the blocking energy by 100, and 4·10⁹ made the plan allocate one list per stage (96 GB) and
/// abort.
#[test]
fn explicit_dag_decides_the_gpu_count_over_the_informative_pipeline() {
    let dir = Scratch::new("dag-stages");
    let plain = parse_json(&frontier(dir.path(), &["--json", "--no-plot"]));
    let dag = ergon_core::perseus::Pipeline::one_f_one_b(4, 8)
        .dag()
        .unwrap();
    let nodes: Vec<Value> = dag
        .nodes
        .iter()
        .enumerate()
        .map(|(id, c)| {
            serde_json::json!({"id": id, "stage": c.stage, "kind": c.kind.name(), "microbatch": c.microbatch})
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
    let o = frontier(dir.path(), &["--json", "--no-plot", "--plan-out", "plans"]);
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
    let o = frontier(
        dir.path(),
        &["--no-plot", "--plan-out", "p", "--at", "t-star"],
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
    let o = frontier(
        dir.path(),
        &[
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

/// A deadline the pipeline cannot meet fails naming it and T_min, writing no plan; one that is
/// not a number fails without calling itself "shorter" than anything.
#[test]
fn bad_deadlines_fail_clearly_and_write_no_plan() {
    let cases: [(&str, &[&str], &str); 2] = [
        ("0.7", &["deadline 0.7", "0.723"], ""),
        ("NaN", &[], "shorter"),
    ];
    for (deadline, needles, absent) in cases {
        let dir = Scratch::new("deadline");
        let o = frontier(
            dir.path(),
            &["--no-plot", "--plan-out", "p", "--deadline", deadline],
        );
        assert!(!o.status.success());
        let err = stderr(&o);
        let line = err
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("no error line in:\n{err}"));
        for needle in needles {
            assert!(line.contains(needle), "{line}");
        }
        assert!(absent.is_empty() || !err.contains(absent), "{err}");
        let written = std::fs::read_dir(dir.path().join("p"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(written, 0, "no plan for deadline {deadline}");
    }
}

// ---------------------------------------------------------------------------------------------
// (e) Bad input.

#[test]
fn missing_instance_file() {
    let dir = Scratch::new("missing");
    let o = ergon(dir.path(), &["frontier", "--instance", "nope.json"]);
    assert_one_line_error(&o, &["nope.json", "reading"]);
    let o = csv_frontier(dir.path(), "nope.csv", "4", &[]);
    assert_one_line_error(&o, &["nope.csv", "reading"]);
    assert!(!dir.path().join("frontier.svg").exists());
}

#[test]
fn bad_json_instance() {
    let dir = Scratch::new("bad_json");
    let text = std::fs::read_to_string(instance_path()).unwrap();
    let changed = |change: fn(&mut Value)| {
        let mut v = instance();
        change(&mut v);
        v.to_string()
    };
    let empty = instance()["profiles"][5].clone();
    let empty_needle = format!(
        "profile (stage {}, {}) has no options",
        empty["stage"].as_u64().unwrap(),
        empty["kind"].as_str().unwrap()
    );
    let cases: [(&str, String, &[&str]); 4] = [
        (
            "cut.json",
            text[..text.len() / 3].to_string(),
            &["perseus-instance/v1", "line", "column"],
        ),
        (
            "no_tau.json",
            changed(|v| {
                v.as_object_mut().unwrap().remove("unit_time_s");
            }),
            &["missing field", "unit_time_s"],
        ),
        (
            "schema.json",
            changed(|v| v["schema"] = "ergon-frontier/v1".into()),
            &["perseus-instance/v1", "ergon-frontier/v1"],
        ),
        (
            "empty.json",
            changed(|v| v["profiles"][5]["options"] = Value::Array(vec![])),
            &[&empty_needle],
        ),
    ];
    for (name, contents, needles) in cases {
        dir.write(name, &contents);
        let o = ergon(dir.path(), &["frontier", "--instance", name]);
        let mut all = vec![name];
        all.extend(needles);
        assert_one_line_error(&o, &all);
    }
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
    assert_usage_error(&o, &["--microbatches", "--unit-time", "--p-blocking"]);
}

#[test]
fn bad_csv_contents() {
    let dir = Scratch::new("csv_bad");
    // A valid CSV of the instance's 4 stages, for the flags' errors.
    write_csv(&instance(), &dir.path().join("ok.csv"));
    let header = "stage,instruction,frequency,time,energy\n";
    // The file (written first when there is a text), --stages, more flags, what the error names.
    type Case<'a> = (
        &'a str,
        Option<String>,
        &'a str,
        &'a [&'a str],
        &'a [&'a str],
    );
    let cases: [Case; 7] = [
        (
            "cols.csv",
            Some("stage,instruction,frequency,time\n0,forward,1410,0.02\n".into()),
            "4",
            &[],
            &["CSV line 1", "`energy`"],
        ),
        (
            "kind.csv",
            Some(format!(
                "{header}0,forward,1410,0.02,8\n0,recompute,1410,0.02,8\n"
            )),
            "4",
            &[],
            &["CSV line 3", "recompute"],
        ),
        (
            "freq.csv",
            Some(format!("{header}0,forward,1410.5,0.02,8\n")),
            "4",
            &[],
            &["CSV line 2", "frequency"],
        ),
        // Valid rows that do not cover the pipeline.
        (
            "partial.csv",
            Some(format!("{header}0,forward,1410,0.02,8\n")),
            "4",
            &[],
            &["no profile for stage 0, backward"],
        ),
        // A pipeline of zero stages.
        ("ok.csv", None, "0", &[], &["0 stages"]),
        // The profiles cover 4 stages; a 3-stage pipeline leaves stage 3's unused.
        (
            "ok.csv",
            None,
            "3",
            &[],
            &["stage 3", "beyond the pipeline's 3 stages"],
        ),
        // An unknown schedule (the message need not name the file).
        (
            "ok.csv",
            None,
            "4",
            &["--schedule", "zero_bubble"],
            &["zero_bubble", "schedule"],
        ),
    ];
    for (name, text, stages, extra, needles) in cases {
        if let Some(text) = text {
            dir.write(name, &text);
        }
        let line = assert_one_line_error(&csv_frontier(dir.path(), name, stages, extra), needles);
        if extra.is_empty() {
            assert!(line.contains(name), "{line}");
        }
    }
}

#[test]
fn conflicting_and_dependent_flags() {
    let dir = Scratch::new("flags");
    write_csv(&instance(), &dir.path().join("x.csv"));
    let mut with_profile = vec!["--profile", "x.csv"];
    with_profile.extend(CSV_FLAGS);
    let cases: [(&[&str], &str); 3] = [
        (&with_profile, "--profile"),
        (&["--deadline", "1.0"], "--plan-out"),
        (&["--with-changes"], "--json"),
    ];
    for (extra, needle) in cases {
        assert_usage_error(&frontier(dir.path(), extra), &[needle]);
    }
}

#[test]
fn unwritable_outputs_fail_naming_the_path() {
    let dir = Scratch::new("unwritable");
    dir.write("afile", "");
    let cases: [(&[&str], &str); 2] = [
        (&["--no-plot", "--plan-out", "afile"], "afile"),
        (&["--svg", "no/such/dir/f.svg"], "no/such/dir/f.svg"),
    ];
    for (extra, path) in cases {
        let o = frontier(dir.path(), extra);
        assert!(!o.status.success());
        let err = stderr(&o);
        assert!(
            err.lines()
                .any(|l| l.starts_with("error:") && l.contains(path)),
            "{err}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// (f) The command line names the systems.

#[test]
fn help_lists_the_systems_by_name() {
    let dir = Scratch::new("help");
    let help = assert_success(&ergon(dir.path(), &["--help"]));
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        [
            "frontier", "dpk", "orloj", "zeus", "chase", "oobleck", "auxo", "gpu", "help"
        ],
        "{help}"
    );
    let line_of = |name: &str| {
        help.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{help}"))
    };
    for (command, system) in [
        ("frontier", "Perseus"),
        ("dpk", "DPK"),
        ("orloj", "Orloj"),
        ("zeus", "Zeus"),
        ("chase", "Chase"),
        ("oobleck", "Oobleck"),
        ("auxo", "Auxo"),
        ("gpu", "GPU"),
    ] {
        assert!(line_of(command).contains(system), "{help}");
    }
    assert!(
        line_of("frontier").contains("perseus"),
        "the alias is listed:\n{help}"
    );
    // The research harness is not part of the command's help (its aliases stay for scripts),
    // which names its new home.
    let sub = assert_success(&ergon(dir.path(), &["dpk", "--help"]))
        + &assert_success(&ergon(dir.path(), &["orloj", "--help"]));
    assert_eq!(sub.matches("ergon-experiments").count(), 2, "{sub}");
    for harness in ["generate", "experiment", "sweep"] {
        assert!(
            !sub.lines().any(|l| l.trim_start().starts_with(harness)),
            "{harness}:\n{sub}"
        );
    }
}

#[test]
fn perseus_is_frontier() {
    let runs = ["frontier", "perseus"].map(|name| {
        let dir = Scratch::new(name);
        let json = assert_success(&ergon(dir.path(), &[name, "--json"]));
        (json, dir.read("frontier.svg"))
    });
    assert!(
        runs[0].0.starts_with("{\"schema\":\"ergon-frontier/v1\""),
        "{}",
        runs[0].0
    );
    assert_eq!(runs[0], runs[1]);
}
