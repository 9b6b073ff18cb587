//! Where lowtime 0.3.0 stops early or misbehaves (perseus.md §6.2), ergon goes on correctly or
//! says why it stopped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ergon_core::fit::ExpModel;
use ergon_core::perseus::formats::parse_instance;
use ergon_core::perseus::{self, FrontierError, Problem, Termination};
use serde_json::Value;

fn fixture(name: &str) -> (Problem, Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/perseus");
    let problem = parse_instance(
        &std::fs::read_to_string(dir.join(format!("{name}.instance.json"))).unwrap(),
    )
    .unwrap();
    let oracle = serde_json::from_str(
        &std::fs::read_to_string(dir.join(format!("{name}.after_filter.frontier.json"))).unwrap(),
    )
    .unwrap();
    (problem, oracle)
}

/// The oracle's coefficients, scaled by `k`.
fn fits(problem: &mut Problem, oracle: &Value, k: f64) {
    for spec in oracle["specs"].as_array().unwrap() {
        let c = &spec["coefficients"];
        let p = problem
            .profiles
            .iter_mut()
            .find(|p| {
                u64::from(p.stage) == spec["stage"].as_u64().unwrap()
                    && p.kind.name() == spec["kind"]
            })
            .unwrap();
        p.fit = Some(ExpModel {
            a: k * c["a"].as_f64().unwrap(),
            b: c["b"].as_f64().unwrap(),
            c: k * c["c"].as_f64().unwrap(),
        });
    }
}

#[test]
fn flat_cost_models_do_not_stop_the_frontier() {
    // lowtime stops as soon as |cost_change| < 1e-6; a flat model makes every step free.
    let (mut problem, _) = fixture("a100_s2_m4");
    for p in &mut problem.profiles {
        p.fit = Some(ExpModel {
            a: 0.0,
            b: 0.0,
            c: 3.0,
        });
    }
    let f = perseus::solve(&problem).unwrap();
    assert_eq!(f.termination, Termination::ReachedMinimum);
    assert_eq!(f.points.len() as u64, f.t_max_quanta - f.t_min_quanta);
    assert!(f.points.iter().all(|p| p.cost_change_j == 0.0));
    assert_eq!(f.points.last().unwrap().quanta, f.t_min_quanta);
}

#[test]
fn slopes_beyond_lowtimes_infinity_are_handled() {
    // lowtime's "infinite" capacity is 10000 J per quantum. Scaling every energy by 1e4 puts
    // the real slopes far beyond it; the frontier must keep its times and scale its energies.
    let (mut problem, oracle) = fixture("a100_s4_m8");
    let k = 1e4;
    problem.p_blocking_w *= k;
    fits(&mut problem, &oracle, k);
    let f = perseus::solve(&problem).unwrap();
    let want = oracle["frontier"].as_array().unwrap();
    assert_eq!(f.termination, Termination::ReachedMinimum);
    assert_eq!(f.points.len(), want.len());
    for (got, w) in f.points.iter().zip(want) {
        assert_eq!(got.quanta, w["quant_time"].as_u64().unwrap());
        let e = k * w["energy_j"].as_f64().unwrap();
        assert!(
            (got.energy_j - e).abs() < 1e-6 * e,
            "{} vs {e}",
            got.energy_j
        );
    }
}

#[test]
fn energies_beyond_fixed_point_are_an_error_not_a_panic() {
    let (mut problem, oracle) = fixture("a100_s2_m4");
    fits(&mut problem, &oracle, 1e13);
    match perseus::solve(&problem) {
        Err(FrontierError::Overflow) => {}
        other => panic!("expected an overflow error, got {other:?}"),
    }
}
