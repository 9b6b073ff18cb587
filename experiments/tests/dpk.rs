//! End-to-end tests of `ergon-experiments dpk`: the generators (files, determinism, what the
//! schedulers make of them) and one experiment's table and figure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ergon_core::dpk::formats::parse_workload;
use ergon_core::dpk::{ScheduleOptions, Scheduler, schedule};
use serde_json::Value;

#[path = "../../cli/tests/support/mod.rs"]
mod support;
use support::*;

/// `dpk generate micro` with a small Fig. 4-like setting.
const MICRO: &str = concat!(
    "dpk generate micro --num-tasks 200 --blocks 5 --mu-blocks 2 --sigma-blocks 1 ",
    "--sigma-alpha 2 --seed 3"
);

#[test]
fn generate_micro_is_deterministic_and_dpk_allocates_at_least_dpf() {
    let s = Scratch::new("micro");
    let texts = ["m.json", "m2.json"].map(|out| {
        assert_success(&experiments(
            s.path(),
            &words(&format!("{MICRO} --out {out}")),
        ));
        s.read(out)
    });
    assert_eq!(texts[0], texts[1], "same seed, same file");
    let v: Value = serde_json::from_str(&texts[0]).unwrap();
    assert_eq!(v["schema"], "dpk-workload/v1");
    assert_eq!(v["tasks"].as_array().unwrap().len(), 200);
    assert_eq!(v["blocks"].as_array().unwrap().len(), 5);
    let w = parse_workload(&texts[0]).unwrap();
    let [dpk, dpf] = [Scheduler::Dpk, Scheduler::Dpf].map(|s| {
        schedule(&w, &ScheduleOptions::with(s))
            .unwrap()
            .num_allocated()
    });
    assert!(dpk > 0);
    assert!(dpk >= dpf, "DPK {dpk} < DPF {dpf}");
}

#[test]
fn generate_online_writes_the_requested_traces() {
    let s = Scratch::new("online");
    for (kind, extra) in [("alibaba", ""), ("amazon", " --weighted")] {
        let out = format!("{kind}.json");
        let line = format!("dpk generate {kind} --tasks 300 --out {out}{extra}");
        assert_success(&experiments(s.path(), &words(&line)));
        let v: Value = serde_json::from_str(&s.read(&out)).unwrap();
        assert_eq!(v["schema"], "dpk-online/v1", "{kind}");
        let tasks = v["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 300, "{kind}");
        let weights: std::collections::BTreeSet<u64> =
            tasks.iter().map(|t| f64_of(&t["weight"]) as u64).collect();
        if kind == "amazon" {
            // Elephants draw from {10, 50, 100, 500}, mice from {1, 5, 10, 50}.
            assert!(weights.len() > 1, "{weights:?}");
            assert!(
                weights.is_subset(&[1, 5, 10, 50, 100, 500].into()),
                "{weights:?}"
            );
        } else {
            assert_eq!(weights, [1].into(), "unit weights");
        }
    }
}

#[test]
fn an_experiment_prints_its_table_and_writes_its_figure() {
    let s = Scratch::new("fig4b");
    let out = assert_success(&experiments(
        s.path(),
        &words("dpk experiment fig4b --seeds 1 --spread 0.05,0.03 --out-dir figs"),
    ));
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows[0], "| sigma_alpha | DPK | DPF | Area | DPK/DPF |");
    assert_eq!(rows.len(), 2 + 9, "{out}");
    // One block and unit weights: DPK is exact, never below DPF.
    for row in &rows[2..] {
        let cells: Vec<f64> = row
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().parse().unwrap())
            .collect();
        assert!(cells[1] >= cells[2], "{row}");
    }
    assert_eq!(names_in(&s.path().join("figs")), ["dpk-fig4b-spread.svg"]);
    let svg = s.read("figs/dpk-fig4b-spread.svg");
    for text in [
        "Microbenchmark: allocated tasks vs σ_α (1 block, 1000 tasks), spread N(0.05, 0.03)",
        "allocated tasks (mean over seeds)",
        "\nDPK\n",
        "\nDPF\n",
        "\nArea\n",
    ] {
        assert!(svg.contains(text), "no {text:?} in the figure");
    }
    assert_one_line_error(
        &experiments(s.path(), &words("dpk experiment fig4a --spread 0.05")),
        &["--spread needs MEAN,STD"],
    );
}
