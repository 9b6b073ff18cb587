//! Hostile-but-small inputs to the Perseus frontier (issue 12): every size that comes from input
//! is refused against a documented limit before it is allocated, adversarial-but-valid inputs
//! stay near-linear, an explicit DAG decides the GPU count, and messages stay readable.
//!
//! None of these tests allocates more than a few tens of MiB: before the fixes, several of them
//! aborted on allocation (96 GB of per-stage lists, 2 GiB cost tables) or ran for minutes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ergon_core::fit::ExpModel;
use ergon_core::perseus::formats::{self, FormatError, MAX_CSV_LINES};
use ergon_core::perseus::{
    self, Computation, Dag, EffectiveEnergy, FrontierError, Kind, MAX_COMPUTATIONS, MAX_COST_CELLS,
    MAX_OPTIONS_PER_PROFILE, MAX_STAGES, Pipeline, Problem, Profile, ProfileOption,
};
use serde_json::{Value, json};
use support::assert_mentions;
use support::perseus::{dag_json, profiles, profiles_csv, profiles_json};
use support::xorshift::XorShift64;

/// The fastest option of stage `s` takes 20 + s ms forward and 40 + s ms backward.
fn base_ms(stage: u32, kind: Kind) -> f64 {
    let base = if kind == Kind::Forward { 20.0 } else { 40.0 };
    base + f64::from(stage)
}

fn problem(dag: Dag) -> Problem {
    Problem {
        unit_time_s: 0.001,
        p_blocking_w: 80.0,
        effective_energy: EffectiveEnergy::AfterFilter,
        profiles: profiles(dag.num_stages.min(4), base_ms),
        dag,
    }
}

/// A 2-stage × 2-microbatch 1F1B problem as an explicit `dag` next to `pipeline`.
fn dag_doc(pipeline_stages: u64) -> Value {
    json!({
        "schema": "perseus-instance/v1",
        "unit_time_s": 0.001,
        "p_blocking_w": 80.0,
        "pipeline": {"schedule": "1f1b", "num_stages": pipeline_stages, "num_microbatches": 2},
        "profiles": profiles_json(&profiles(2, base_ms)),
        "dag": dag_json(&Pipeline::one_f_one_b(2, 2).dag().unwrap()),
    })
}

const MODEL: ExpModel = ExpModel {
    a: 10.0,
    b: -0.01,
    c: 1.0,
};

// ---------------------------------------------------------------------------------------------
// Stages.

/// Before: the frontier took `pipeline.num_stages` (200) as the GPU count and reported 100×
/// the blocking energy of the 2-stage DAG.
#[test]
fn explicit_dag_decides_the_gpu_count_not_the_informative_pipeline() {
    let reference = perseus::solve(&problem(Pipeline::one_f_one_b(2, 2).dag().unwrap())).unwrap();
    for stages in [2u64, 200] {
        let p = formats::parse_instance(&dag_doc(stages).to_string()).unwrap();
        assert_eq!(p.dag.num_stages, 2);
        let f = perseus::solve(&p).unwrap();
        assert_eq!(f.num_stages, 2);
        assert_eq!(
            f.start.energy_j, reference.start.energy_j,
            "pipeline.num_stages = {stages}"
        );
        let last = f.points.last().unwrap();
        assert_eq!(last.energy_j, reference.points.last().unwrap().energy_j);
    }
}

/// Before: `pipeline.num_stages` = 4·10⁹ next to a DAG was accepted, and the plan allocated one
/// list per stage (96 GB) and aborted.
#[test]
fn four_billion_informative_stages_do_not_reach_the_plan() {
    let p = formats::parse_instance(&dag_doc(4_000_000_000).to_string()).unwrap();
    let f = perseus::solve(&p).unwrap();
    let plan = f.plan(f.fastest()).unwrap();
    assert_eq!(plan.stages.len(), 2);
}

/// Before: a node on stage u32::MAX − 1 (with its profile) made a DAG of 2³² − 1 stages, and the
/// plan aborted on allocation.
#[test]
fn dag_node_on_stage_u32_max_minus_1_is_refused() {
    let mut doc = dag_doc(2);
    doc.as_object_mut().unwrap().remove("pipeline");
    doc["dag"]["nodes"][0]["stage"] = json!(u32::MAX - 1);
    let mut far = profiles(1, base_ms);
    for p in &mut far {
        p.stage = u32::MAX - 1;
    }
    doc["profiles"]
        .as_array_mut()
        .unwrap()
        .extend(profiles_json(&far).as_array().unwrap().iter().cloned());
    let e = formats::parse_instance(&doc.to_string()).unwrap_err();
    assert_eq!(
        e,
        FormatError::Problem(FrontierError::TooManyStages {
            num_stages: u64::from(u32::MAX)
        })
    );
    assert_mentions(&e, &["4294967295", "MAX_STAGES", &MAX_STAGES.to_string()]);
}

#[test]
fn too_many_stages_through_the_rust_api() {
    let mut dag = Pipeline::one_f_one_b(2, 2).dag().unwrap();
    dag.num_stages = 4_000_000_000;
    let e = problem(dag).validate().unwrap_err();
    assert_eq!(
        e,
        FrontierError::TooManyStages {
            num_stages: 4_000_000_000
        }
    );
    let e = Pipeline::one_f_one_b(MAX_STAGES + 1, 1).dag().unwrap_err();
    assert!(matches!(e, FrontierError::TooManyStages { .. }), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Computations.

/// Before: 8 stages × 1 048 576 microbatches was exactly the old limit (2²⁴ computations) and
/// was accepted, then aborted for lack of memory in the solve.
#[test]
fn pipeline_at_the_old_computation_limit_is_refused() {
    let e = Pipeline::one_f_one_b(8, 1 << 20).dag().unwrap_err();
    assert_eq!(e, FrontierError::TooLarge { nodes: 1 << 24 });
    assert_mentions(
        &e,
        &[
            "16777216",
            "MAX_COMPUTATIONS",
            &MAX_COMPUTATIONS.to_string(),
        ],
    );
    let over = MAX_COMPUTATIONS as u32 / 16 + 1;
    assert!(Pipeline::one_f_one_b(8, over).dag().is_err());
    // The instance path reports the same.
    let mut doc = dag_doc(8);
    doc.as_object_mut().unwrap().remove("dag");
    doc["pipeline"]["num_microbatches"] = json!(1 << 20);
    let e = formats::parse_instance(&doc.to_string()).unwrap_err();
    assert_mentions(&e, &["MAX_COMPUTATIONS"]);
}

#[test]
fn too_many_explicit_nodes_are_refused_before_solving() {
    let nodes = vec![
        Computation {
            stage: 0,
            kind: Kind::Forward,
            microbatch: 0,
            chunk: 0,
        };
        MAX_COMPUTATIONS + 1
    ];
    let dag = Dag {
        num_stages: 1,
        nodes,
        edges: Vec::new(),
    };
    let e = problem(dag).validate().unwrap_err();
    assert!(matches!(e, FrontierError::TooLarge { .. }), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Quanta, options, profiles.

/// Before: a profile spanning ~2²⁸ quanta (τ = 1 ns, options of 1 ms and 0.26 s) built a 2 GiB
/// cost table.
#[test]
fn a_profile_spanning_2_pow_28_quanta_is_refused_before_its_table() {
    let mut p = problem(Pipeline::one_f_one_b(1, 1).dag().unwrap());
    p.unit_time_s = 1e-9;
    p.profiles[0].options = vec![
        ProfileOption {
            freq_mhz: 1410,
            time_s: 1e-3,
            energy_j: 10.0,
        },
        ProfileOption {
            freq_mhz: 990,
            time_s: 0.26,
            energy_j: 5.0,
        },
    ];
    let e = perseus::solve(&p).unwrap_err();
    assert!(
        matches!(
            e,
            FrontierError::TooManyCostCells {
                stage: 0,
                kind: Kind::Forward,
                ..
            }
        ),
        "{e:?}"
    );
    assert_mentions(
        &e,
        &["MAX_COST_CELLS", &MAX_COST_CELLS.to_string(), "stage 0"],
    );
}

/// The budget is over all profiles: each table alone fits, together they do not.
#[test]
fn the_cost_cell_budget_is_over_all_profiles() {
    let mut p = problem(Pipeline::one_f_one_b(2, 1).dag().unwrap());
    // τ = 10 ns: each option spread of 50 ms spans 5·10⁶ quanta; four profiles need 2·10⁷.
    p.unit_time_s = 1e-8;
    for prof in &mut p.profiles {
        prof.options = vec![
            ProfileOption {
                freq_mhz: 1410,
                time_s: 0.01,
                energy_j: 10.0,
            },
            ProfileOption {
                freq_mhz: 990,
                time_s: 0.06,
                energy_j: 5.0,
            },
        ];
    }
    match perseus::specs(&p) {
        Err(FrontierError::TooManyCostCells {
            cells, stage, kind, ..
        }) => {
            assert!(cells > MAX_COST_CELLS as u64);
            assert_eq!(
                (stage, kind),
                (1, Kind::Backward),
                "the first three tables fit"
            );
        }
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("accepted"),
    }
}

#[test]
fn too_many_options_in_one_profile_are_refused() {
    let mut p = problem(Pipeline::one_f_one_b(1, 1).dag().unwrap());
    let o = p.profiles[0].options[0];
    p.profiles[0].options = vec![o; MAX_OPTIONS_PER_PROFILE + 1];
    let e = p.validate().unwrap_err();
    assert_mentions(
        &e,
        &["MAX_OPTIONS_PER_PROFILE", "1048577", "stage 0", "forward"],
    );
}

/// Before: the Pareto filter compared every pair of options (10⁵ options: about a minute).
#[test]
fn a_hundred_thousand_options_in_one_profile_are_filtered() {
    let mut p = problem(Pipeline::one_f_one_b(1, 1).dag().unwrap());
    // Times 20.0..40.0 ms, energies falling with time plus a deterministic ripple, so that
    // some options are dominated and many durations repeat.
    p.profiles[0].options = (0..100_000u32)
        .map(|i| {
            let t = 0.020 + 0.020 * f64::from(i) / 100_000.0;
            let ripple = f64::from((i * 7919) % 101) * 1e-3;
            ProfileOption {
                freq_mhz: 990 + i % 500,
                time_s: t,
                energy_j: 20.0 - 200.0 * t + ripple,
            }
        })
        .collect();
    p.profiles[0].fit = Some(MODEL);
    let specs = perseus::specs(&p).unwrap();
    let c = &specs[0].candidates;
    assert!(c.len() > 1 && c.len() <= 21, "{}", c.len());
    assert!(c.windows(2).all(|w| w[0].quanta > w[1].quanta));
}

/// The sorted Pareto filter keeps exactly the options of the all-pairs filter.
#[test]
fn sorted_pareto_filter_matches_the_all_pairs_filter() {
    let mut random = XorShift64(0x2545_f491_4f6c_dd1d);
    let mut next = || random.next_unit();
    for trial in 0..100 {
        let n = 1 + trial % 40;
        let opts: Vec<ProfileOption> = (0..n)
            .map(|i| ProfileOption {
                freq_mhz: 900 + i as u32,
                // Coarse values so that ties in time, quanta and energy occur.
                time_s: 0.010 + (next() * 20.0).floor() * 1e-3 + 2e-4,
                energy_j: 1.0 + (next() * 15.0).floor() * 0.5,
            })
            .collect();
        let mut p = problem(Pipeline::one_f_one_b(1, 1).dag().unwrap());
        p.effective_energy = if trial % 2 == 0 {
            EffectiveEnergy::AfterFilter
        } else {
            EffectiveEnergy::BeforeFilter
        };
        p.profiles[0].options = opts.clone();
        // A given model: the filter is under test, not the fit.
        p.profiles[0].fit = Some(MODEL);
        let got: Vec<(u32, u32)> = perseus::specs(&p).unwrap()[0]
            .candidates
            .iter()
            .map(|c| (c.freq_mhz, c.quanta))
            .collect();
        assert_eq!(got, naive_candidates(&p, &opts), "trial {trial}: {opts:?}");
    }
}

/// lowtime's filter, all pairs, as the core had it before.
fn naive_candidates(p: &Problem, opts: &[ProfileOption]) -> Vec<(u32, u32)> {
    let tau = p.unit_time_s;
    let mut raw: Vec<(u32, f64, u32, f64)> = opts
        .iter()
        .map(|o| {
            let q = (o.time_s / tau).floor();
            // Python floor division agrees with floor here (times are not near multiples).
            let q = q as u32;
            let cost = match p.effective_energy {
                EffectiveEnergy::BeforeFilter => o.energy_j - p.p_blocking_w * f64::from(q) * tau,
                EffectiveEnergy::AfterFilter => o.energy_j,
            };
            (o.freq_mhz, o.time_s, q, cost)
        })
        .collect();
    raw.sort_by(|a, b| b.1.total_cmp(&a.1));
    let filter = |nf: f64| {
        let mut kept: Vec<usize> = (0..raw.len())
            .filter(|&i| {
                !raw.iter()
                    .any(|q| q.1 < nf * raw[i].1 && q.3 < nf * raw[i].3)
            })
            .collect();
        kept.sort_by(|&a, &b| raw[b].3.total_cmp(&raw[a].3));
        let mut seen = Vec::new();
        kept.retain(|&i| {
            if seen.contains(&raw[i].2) {
                false
            } else {
                seen.push(raw[i].2);
                true
            }
        });
        kept.sort_by(|&a, &b| raw[b].2.cmp(&raw[a].2));
        kept
    };
    let mut kept = filter(1.0);
    if kept.len() <= perseus::FALLBACK_IF_CANDIDATES_AT_MOST {
        kept = filter(perseus::SOFT_NOISE_FACTOR);
    }
    kept.iter().map(|&i| (raw[i].0, raw[i].2)).collect()
}

/// Before: duplicate and missing-profile checks scanned every profile per profile and per
/// computation (200 000 profiles: over two minutes).
#[test]
fn two_hundred_thousand_profiles_are_checked_by_index() {
    let dag = Pipeline::one_f_one_b(100_000, 1).dag().unwrap();
    let mut p = problem(dag);
    p.profiles = (0..100_000u32)
        .flat_map(|stage| {
            [Kind::Forward, Kind::Backward].map(|kind| Profile {
                stage,
                kind,
                options: vec![ProfileOption {
                    freq_mhz: 1410,
                    time_s: 0.02,
                    energy_j: 8.0,
                }],
                fit: None,
            })
        })
        .collect();
    p.validate().unwrap();
    // One more profile that repeats the last one is found as well.
    let last = p.profiles.last().unwrap().clone();
    p.profiles.push(last);
    assert_eq!(
        p.validate().unwrap_err(),
        FrontierError::DuplicateProfile {
            stage: 99_999,
            kind: Kind::Backward
        }
    );
}

// ---------------------------------------------------------------------------------------------
// CSV and messages.

fn csv() -> String {
    profiles_csv(&profiles(2, base_ms))
}

/// Before: "the header has no `stage` column".
#[test]
fn csv_with_a_utf8_bom_is_read() {
    let plain = formats::parse_profile_csv(&csv()).unwrap();
    let bom = formats::parse_profile_csv(&format!("\u{feff}{}", csv())).unwrap();
    assert_eq!(plain, bom);
}

#[test]
fn csv_with_too_many_lines_is_refused_before_parsing() {
    // Rows that would each be invalid: the line count is checked first.
    let text = "x\n".repeat(MAX_CSV_LINES);
    let e = formats::parse_profile_csv(&text).unwrap_err();
    assert_mentions(&e, &["MAX_CSV_LINES", &MAX_CSV_LINES.to_string()]);
}

/// Before: 1e300 quanta were printed with 301 digits.
#[test]
fn huge_and_tiny_floats_in_messages_are_short() {
    let mut p = problem(Pipeline::one_f_one_b(1, 1).dag().unwrap());
    p.unit_time_s = 1e-300;
    let e = perseus::solve(&p).unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains("0000000000"), "{msg}");
    assert!(msg.contains("e298"), "{msg}");
    p.unit_time_s = 1e300;
    let msg = perseus::solve(&p).unwrap_err().to_string();
    assert!(msg.contains("1e300"), "{msg}");
    assert!(!msg.contains("0000000000"), "{msg}");
    p.unit_time_s = f64::MAX;
    p.p_blocking_w = -1e200;
    let msg = p.validate().unwrap_err().to_string();
    assert!(msg.contains("-1e200"), "{msg}");
    // Ordinary numbers keep their plain form.
    p.p_blocking_w = -2.5;
    assert!(p.validate().unwrap_err().to_string().contains("-2.5 W"));
}
