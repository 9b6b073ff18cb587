//! The plans a frontier offers (`Frontier::plan_at`), its all-fastest baseline energy and a
//! DAG's microbatch count, on the built-in instance and the oracle instances
//! (`shared/data/perseus`). The expected numbers are what `ergon frontier` and the C ABI
//! computed before these rules moved into core (their outputs are unchanged).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ergon_core::perseus::formats::parse_instance;
use ergon_core::perseus::{
    self, Dag, EffectiveEnergy, FrontierError, Pipeline, PlanAt, Problem, Schedule, State,
    synthetic,
};

/// One instance and what the former CLI/FFI code computed for it.
struct Expected {
    name: &'static str,
    microbatches: u32,
    baseline_energy_j: f64,
    /// (state, energy) of the fastest point and of T*.
    fastest: (State, f64),
    t_star: (State, f64),
    /// A deadline between T_min and T_max, and the (state, energy with the wait) it selects.
    deadline_s: f64,
    deadline: (State, f64),
    t_min_quanta: u64,
    t_max_quanta: u64,
}

const EXPECTED: [Expected; 5] = [
    Expected {
        name: "builtin",
        microbatches: 32,
        baseline_energy_j: 8344.191802506102,
        fastest: (Some(996), 6580.030383175525),
        t_star: (Some(657), 6323.356984039828),
        deadline_s: 3.5,
        deadline: (Some(781), 6349.311268679159),
        t_min_quanta: 3285,
        t_max_quanta: 4282,
    },
    Expected {
        name: "a100_s2_m4.after_filter",
        microbatches: 4,
        baseline_energy_j: 226.66390394660527,
        fastest: (Some(96), 211.73223791021658),
        t_star: (None, 174.5979722439091),
        deadline_s: 0.4,
        deadline: (Some(31), 178.08359801966012),
        t_min_quanta: 335,
        t_max_quanta: 432,
    },
    Expected {
        name: "a100_s2_m4.before_filter",
        microbatches: 4,
        baseline_energy_j: 228.77507787114112,
        fastest: (Some(176), 211.5010691195877),
        t_star: (Some(75), 175.0506335572341),
        deadline_s: 0.4,
        deadline: (Some(111), 177.62745962923015),
        t_min_quanta: 335,
        t_max_quanta: 512,
    },
    Expected {
        name: "a100_s4_m8.after_filter",
        microbatches: 8,
        baseline_energy_j: 884.5890406857995,
        fastest: (Some(173), 759.2377225709724),
        t_star: (Some(21), 692.420187238062),
        deadline_s: 0.8,
        deadline: (Some(96), 699.9037384685039),
        t_min_quanta: 723,
        t_max_quanta: 897,
    },
    Expected {
        name: "a100_s4_m8.before_filter",
        microbatches: 8,
        baseline_energy_j: 893.7862199507441,
        fastest: (Some(394), 760.6804520517943),
        t_star: (Some(240), 684.0387955899156),
        deadline_s: 0.8,
        deadline: (Some(317), 697.0014065667089),
        t_min_quanta: 723,
        t_max_quanta: 1118,
    },
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
    for e in &EXPECTED {
        let p = problem(e.name);
        assert_eq!(p.dag.num_microbatches(), Some(e.microbatches), "{}", e.name);
        let f = perseus::solve(&p).unwrap();
        assert_eq!(
            f.dag().num_microbatches(),
            Some(e.microbatches),
            "{}",
            e.name
        );
        assert!(f.is_complete(), "{}", e.name);
        assert_eq!(
            (f.t_min_quanta, f.t_max_quanta),
            (e.t_min_quanta, e.t_max_quanta)
        );
        close(f.t_min_s(), e.t_min_quanta as f64 * f.unit_time_s, e.name);
        close(f.t_max_s(), e.t_max_quanta as f64 * f.unit_time_s, e.name);
        close(f.baseline_energy_j(), e.baseline_energy_j, e.name);
        // Perseus' fastest plan never takes more energy than the all-fastest baseline.
        assert!(f.baseline_energy_j() >= e.fastest.1, "{}", e.name);
        for (at, (state, energy_j)) in [
            (PlanAt::Fastest, e.fastest),
            (PlanAt::TStar, e.t_star),
            (PlanAt::Deadline(e.deadline_s), e.deadline),
        ] {
            let what = format!("{} {at:?}", e.name);
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
        }
        // The primitives the selectors stand for.
        assert_eq!(f.state_at(PlanAt::Fastest).unwrap().0, f.fastest());
        assert_eq!(f.state_at(PlanAt::TStar).unwrap().0, f.min_energy());
        // A deadline plan pays for the wait: a deadline past T_max costs more than T_max.
        let (_, at_slowest) = f.state_at(PlanAt::Deadline(f.t_max_s())).unwrap();
        let (_, later) = f.state_at(PlanAt::Deadline(f.t_max_s() + 1.0)).unwrap();
        assert!(later > at_slowest, "{}", e.name);
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
