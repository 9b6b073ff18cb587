//! The plans a frontier offers (`Frontier::plan_at`), its all-fastest baseline energy and a
//! DAG's microbatch count, on the built-in instance and the oracle instances
//! (`shared/data/perseus`). The expected numbers are what `ergon frontier` and the C ABI
//! computed before these rules moved into core (their outputs are unchanged).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ergon_core::perseus::formats::{parse_instance, parse_plan, plan_json};
use ergon_core::perseus::{
    self, Dag, EffectiveEnergy, FrontierError, Pipeline, PlanAt, Problem, Schedule, State,
    synthetic,
};

/// One instance and what the former CLI/FFI code computed for it: its name, microbatches,
/// all-fastest baseline energy (J), (state, energy J) of the fastest point and of T*, a
/// deadline (s) between T_min and T_max with the (state, energy J including the wait) it
/// selects, and T_min and T_max in quanta.
type Expected = (
    &'static str,
    u32,
    f64,
    (State, f64),
    (State, f64),
    f64,
    (State, f64),
    u64,
    u64,
);

#[rustfmt::skip]
const EXPECTED: [Expected; 5] = [
    ("builtin", 32, 8344.191802506102, (Some(996), 6580.030383175525), (Some(657), 6323.356984039828), 3.5, (Some(781), 6349.311268679159), 3285, 4282),
    ("a100_s2_m4.after_filter", 4, 226.66390394660527, (Some(96), 211.73223791021658), (None, 174.5979722439091), 0.4, (Some(31), 178.08359801966012), 335, 432),
    ("a100_s2_m4.before_filter", 4, 228.77507787114112, (Some(176), 211.5010691195877), (Some(75), 175.0506335572341), 0.4, (Some(111), 177.62745962923015), 335, 512),
    ("a100_s4_m8.after_filter", 8, 884.5890406857995, (Some(173), 759.2377225709724), (Some(21), 692.420187238062), 0.8, (Some(96), 699.9037384685039), 723, 897),
    ("a100_s4_m8.before_filter", 8, 893.7862199507441, (Some(394), 760.6804520517943), (Some(240), 684.0387955899156), 0.8, (Some(317), 697.0014065667089), 723, 1118),
];

fn problem(name: &str) -> Problem {
    if name == "builtin" {
        return synthetic::gpt3_default().problem().unwrap();
    }
    let (instance, order) = name.split_once('.').unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/perseus")
        .join(format!("{instance}.instance.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared folder must sit beside the repository)",
            path.display()
        )
    });
    let mut p = parse_instance(&text).unwrap();
    p.effective_energy = match order {
        "after_filter" => EffectiveEnergy::AfterFilter,
        _ => EffectiveEnergy::BeforeFilter,
    };
    p
}

#[track_caller]
fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs(),
        "{what}: got {got:?}, want {want:?}"
    );
}

#[test]
fn plans_baseline_and_microbatches_match_the_former_computation() {
    for &(name, microbatches, baseline_j, fastest, t_star, deadline_s, deadline, t_min, t_max) in
        &EXPECTED
    {
        let p = problem(name);
        assert_eq!(p.dag.num_microbatches(), Some(microbatches), "{name}");
        let f = perseus::solve(&p).unwrap();
        assert_eq!(f.dag().num_microbatches(), Some(microbatches), "{name}");
        assert!(f.is_complete(), "{name}");
        assert_eq!((f.t_min_quanta, f.t_max_quanta), (t_min, t_max));
        close(f.t_min_s(), t_min as f64 * f.unit_time_s, name);
        close(f.t_max_s(), t_max as f64 * f.unit_time_s, name);
        close(f.baseline_energy_j(), baseline_j, name);
        // Perseus' fastest plan never takes more energy than the all-fastest baseline.
        assert!(f.baseline_energy_j() >= fastest.1, "{name}");
        for (at, (state, energy_j)) in [
            (PlanAt::Fastest, fastest),
            (PlanAt::TStar, t_star),
            (PlanAt::Deadline(deadline_s), deadline),
        ] {
            let what = format!("{name} {at:?}");
            let (got_state, got_energy) = f.state_at(at).unwrap();
            assert_eq!(got_state, state, "{what}");
            close(got_energy, energy_j, &what);
            // The plan is the state's plan with that energy.
            let plan = f.plan_at(at).unwrap();
            let mut by_state = f.plan(state).unwrap();
            by_state.energy_j = energy_j;
            assert_eq!(plan.stages, by_state.stages, "{what}");
            close(plan.energy_j, energy_j, &what);
            assert_eq!(plan.time_s, f.point(state).unwrap().time_s, "{what}");
            // What a planner rank sends is what every other rank reads back, exactly.
            assert_eq!(parse_plan(&plan_json(&plan)).unwrap(), plan, "{what}");
        }
        // The primitives the selectors stand for.
        assert_eq!(f.state_at(PlanAt::Fastest).unwrap().0, f.fastest());
        assert_eq!(f.state_at(PlanAt::TStar).unwrap().0, f.min_energy());
        // A deadline plan pays for the wait: a deadline past T_max costs more than T_max.
        let (_, at_slowest) = f.state_at(PlanAt::Deadline(f.t_max_s())).unwrap();
        let (_, later) = f.state_at(PlanAt::Deadline(f.t_max_s() + 1.0)).unwrap();
        assert!(later > at_slowest, "{name}");
    }
}

#[test]
fn a_deadline_plan_rejects_what_for_deadline_rejects() {
    let f = perseus::solve(&problem("a100_s2_m4.after_filter")).unwrap();
    let short = f.t_min_s() / 2.0;
    assert!(matches!(
        f.plan_at(PlanAt::Deadline(short)),
        Err(FrontierError::DeadlineTooShort { deadline_s, .. }) if deadline_s == short
    ));
    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        assert!(matches!(
            f.plan_at(PlanAt::Deadline(bad)),
            Err(FrontierError::InvalidDeadline(_))
        ));
    }
}

#[test]
fn microbatches_of_every_schedule_and_of_an_empty_dag() {
    assert_eq!(Dag::default().num_microbatches(), None);
    for schedule in [
        Schedule::OneFOneB,
        Schedule::GPipe,
        Schedule::Interleaved1F1B { virtual_stages: 2 },
    ] {
        let dag = Pipeline {
            schedule,
            num_stages: 3,
            num_microbatches: 6,
        }
        .dag()
        .unwrap();
        assert_eq!(dag.num_microbatches(), Some(6), "{schedule:?}");
    }
}

/// A plan document that is not a plan is refused with the field (or limit) at fault, never
/// taken in part.
#[test]
fn a_plan_document_is_checked() {
    let good = r#"{"schema":"ergon-plan/v1","time_s":0.5,"energy_j":10.0,
        "stages":[{"stage":0,"instructions":[["forward",1410],["backward",1305]]},
                  {"stage":1,"instructions":[["forward",0]]}]}"#;
    let plan = parse_plan(good).unwrap();
    assert_eq!(plan.stages.len(), 2);
    assert_eq!(
        plan.stages[0].instructions[1],
        (perseus::Kind::Backward, 1305)
    );
    for (doc, needle) in [
        (
            good.replace("ergon-plan/v1", "ergon-frontier/v1"),
            "expected schema",
        ),
        (good.replace("0.5", "-0.5"), "field `time_s`"),
        (good.replace("10.0", "-10.0"), "field `energy_j`"),
        (
            good.replace(r#""stage":1"#, r#""stage":2"#),
            "field `stages[1].stage`",
        ),
        (
            good.replace(r#"["forward",0]"#, ""),
            "field `stages[1].instructions`",
        ),
        (
            good.replace("backward", "optimizer"),
            "invalid ergon-plan/v1 document",
        ),
        (good.replace("1305", "-1"), "invalid ergon-plan/v1 document"),
        (
            r#"{"schema":"ergon-plan/v1","time_s":0,"energy_j":0,"stages":[]}"#.to_owned(),
            "no stages",
        ),
        (
            good[..good.len() / 2].to_owned(),
            "invalid ergon-plan/v1 document",
        ),
    ] {
        let e = parse_plan(&doc).unwrap_err().to_string();
        assert!(e.contains(needle), "{doc}: {e}");
    }
}
