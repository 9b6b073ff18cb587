//! Oracle tests: ergon's frontier against lowtime 0.3.0's on the shared fixtures
//! (`shared/data/perseus`, perseus.md §7.5).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ergon_core::fit::ExpModel;
use ergon_core::perseus::formats::parse_instance;
use ergon_core::perseus::{self, EffectiveEnergy, Kind, Problem};
use serde_json::Value;

const INSTANCES: [&str; 2] = ["a100_s2_m4", "a100_s4_m8"];
const ORDERS: [(&str, EffectiveEnergy); 2] = [
    ("after_filter", EffectiveEnergy::AfterFilter),
    ("before_filter", EffectiveEnergy::BeforeFilter),
];

fn data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/perseus");
    assert!(
        dir.is_dir(),
        "fixtures not found at {} (the shared folder must sit beside the repository)",
        dir.display()
    );
    dir
}

fn load(name: &str, order: &str) -> (Problem, Value) {
    let dir = data_dir();
    let text = std::fs::read_to_string(dir.join(format!("{name}.instance.json"))).unwrap();
    let problem = parse_instance(&text).unwrap();
    let oracle: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{name}.{order}.frontier.json"))).unwrap(),
    )
    .unwrap();
    (problem, oracle)
}

fn kind(v: &Value) -> Kind {
    match v.as_str().unwrap() {
        "forward" => Kind::Forward,
        "backward" => Kind::Backward,
        k => panic!("unknown kind {k}"),
    }
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

/// One instance with one effective-energy order: its name, the order, the problem and
/// lowtime's results for it.
type Case = (&'static str, &'static str, Problem, Value);

/// Every instance in every order; with `lowtime_fits`, each profile gets lowtime's fitted
/// coefficients (so that the frontier can be compared exactly), else ergon fits its own.
fn cases(lowtime_fits: bool) -> Vec<Case> {
    let mut out = Vec::new();
    for name in INSTANCES {
        for (order, mode) in ORDERS {
            let (mut problem, oracle) = load(name, order);
            problem.effective_energy = mode;
            if lowtime_fits {
                inject_fits(&mut problem, &oracle);
            }
            out.push((name, order, problem, oracle));
        }
    }
    out
}

/// lowtime's frontier points, after checking that `f` has as many.
#[track_caller]
fn oracle_points<'a>(
    f: &perseus::Frontier,
    oracle: &'a Value,
    name: &str,
    order: &str,
) -> &'a [Value] {
    let want = oracle["frontier"].as_array().unwrap();
    assert_eq!(
        f.points.len(),
        want.len(),
        "{name} {order}: number of points"
    );
    want
}

/// Gives every profile the oracle's fitted coefficients.
fn inject_fits(problem: &mut Problem, oracle: &Value) {
    for spec in oracle["specs"].as_array().unwrap() {
        let (stage, k) = (spec["stage"].as_u64().unwrap() as u32, kind(&spec["kind"]));
        let c = &spec["coefficients"];
        let model = ExpModel {
            a: c["a"].as_f64().unwrap(),
            b: c["b"].as_f64().unwrap(),
            c: c["c"].as_f64().unwrap(),
        };
        let profile = problem
            .profiles
            .iter_mut()
            .find(|p| p.stage == stage && p.kind == k)
            .unwrap();
        profile.fit = Some(model);
    }
}

#[test]
fn candidates_match_lowtime() {
    for (name, order, problem, oracle) in cases(true) {
        let specs = perseus::specs(&problem).unwrap();
        for o in oracle["specs"].as_array().unwrap() {
            let (stage, k) = (o["stage"].as_u64().unwrap() as u32, kind(&o["kind"]));
            let spec = specs
                .iter()
                .find(|s| s.stage == stage && s.kind == k)
                .unwrap();
            let want = o["candidates"].as_array().unwrap();
            assert_eq!(
                spec.candidates.len(),
                want.len(),
                "{name} {order} stage {stage} {k}: candidate count"
            );
            for (got, want) in spec.candidates.iter().zip(want) {
                assert_eq!(
                    u64::from(got.freq_mhz),
                    want["freq_mhz"].as_u64().unwrap(),
                    "{name} {order} {stage} {k}"
                );
                assert_eq!(u64::from(got.quanta), want["quant_time"].as_u64().unwrap());
                let cost = want["effective_cost"].as_f64().unwrap();
                assert!(
                    rel(got.effective_cost_j, cost) < 1e-12,
                    "{name} {order}: cost {} vs {cost}",
                    got.effective_cost_j
                );
            }
            assert_eq!(spec.noise_factor, o["noise_factor_used"].as_f64().unwrap());
            assert_eq!(
                u64::from(spec.min_quanta),
                o["min_duration"].as_u64().unwrap()
            );
            assert_eq!(
                u64::from(spec.max_quanta),
                o["max_duration"].as_u64().unwrap()
            );
        }
    }
}

#[test]
fn frontier_matches_lowtime_with_its_fit() {
    for (name, order, problem, oracle) in cases(true) {
        let f = perseus::solve(&problem).unwrap();
        let bounds = &oracle["bounds"];
        assert_eq!(
            f.t_max_quanta,
            bounds["t_max_quant"].as_u64().unwrap(),
            "{name} {order}"
        );
        assert_eq!(
            f.t_min_quanta,
            bounds["t_min_quant"].as_u64().unwrap(),
            "{name} {order}"
        );
        assert_eq!(f.termination, perseus::Termination::ReachedMinimum);
        let initial = &oracle["initial_point_not_yielded"];
        assert!(
            rel(
                f.start.effective_cost_j,
                initial["effective_cost"].as_f64().unwrap()
            ) < 1e-9
        );
        let want = oracle_points(&f, &oracle, name, order);
        for (i, (got, w)) in f.points.iter().zip(want).enumerate() {
            let ctx = format!("{name} {order} point {i}");
            assert_eq!(got.quanta, w["quant_time"].as_u64().unwrap(), "{ctx}: time");
            let changes: Vec<(u32, u32)> = w["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| (c[0].as_u64().unwrap() as u32, c[1].as_u64().unwrap() as u32))
                .collect();
            assert_eq!(f.changes(i).unwrap(), changes.as_slice(), "{ctx}: changes");
            assert!(
                rel(got.effective_cost_j, w["effective_cost"].as_f64().unwrap()) < 1e-9,
                "{ctx}: cost"
            );
            assert!(
                rel(got.energy_j, w["energy_j"].as_f64().unwrap()) < 1e-9,
                "{ctx}: energy"
            );
            let cc = w["cost_change"].as_f64().unwrap();
            assert!(
                (got.cost_change_j - cc).abs() <= 1e-9 * cc.abs().max(1.0),
                "{ctx}: cost change"
            );
        }
        for snap in oracle["snapshots"].as_array().unwrap() {
            let q = snap["quant_time"].as_u64().unwrap();
            let idx = f.points.iter().position(|p| p.quanta == q).unwrap();
            let durations = f.durations(Some(idx)).unwrap();
            assert_eq!(
                f.makespan(&durations).unwrap(),
                snap["independent_makespan_check"].as_u64().unwrap()
            );
            for node in snap["plan"].as_array().unwrap() {
                let id = node["node"].as_u64().unwrap() as usize;
                assert_eq!(
                    u64::from(durations[id]),
                    node["duration"].as_u64().unwrap(),
                    "{name} {order} node {id}"
                );
                let spec = f.spec_of(id).unwrap();
                assert_eq!(
                    u64::from(spec.freq_for(durations[id])),
                    node["freq_mhz"].as_u64().unwrap()
                );
            }
        }
    }
}

#[test]
fn frontier_with_own_fit_matches_lowtime() {
    let mut worst: f64 = 0.0;
    for (name, order, problem, oracle) in cases(false) {
        let f = perseus::solve(&problem).unwrap();
        let want = oracle_points(&f, &oracle, name, order);
        for (got, w) in f.points.iter().zip(want) {
            assert_eq!(got.quanta, w["quant_time"].as_u64().unwrap());
            let r = rel(got.energy_j, w["energy_j"].as_f64().unwrap());
            worst = worst.max(r);
            // The requirement is 0.5 %; measured worst 2.0e-8 (fits agree to ~2e-7).
            assert!(
                r < 1e-6,
                "{name} {order} at {} quanta: energy off by {r}",
                got.quanta
            );
        }
    }
    eprintln!("worst relative energy difference with ergon's own fit: {worst:e}");
}
