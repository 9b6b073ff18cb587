//! Bad input gets a clear error that names the offending profile, row or field — never a
//! panic. Documents are built as `perseus-instance/v1` JSON and zeus CSV strings (a small valid
//! base, then one mutation per test) and as `Problem` values through the Rust API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ergon_core::fit::ExpModel;
use ergon_core::perseus::formats::{self, FormatError};
use ergon_core::perseus::{
    self, Computation, CostModel, Dag, EffectiveEnergy, FrontierError, HullReason, Kind, Pipeline,
    Problem, Profile, ProfileOption, Termination,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The valid base problem: 2 stages × 2 microbatches, 1F1B, τ = 1 ms, 4 profiles of 5 options.

const FREQS: [u32; 5] = [1410, 1305, 1200, 1095, 990];

/// Five options of one (stage, kind): slower clocks take longer and less energy, one quantum
/// or more apart, so all five survive the Pareto filter.
fn options(base_ms: f64) -> Vec<ProfileOption> {
    FREQS
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let i = i as f64;
            ProfileOption {
                freq_mhz: f,
                time_s: (base_ms + 2.0 * i + 0.5) * 1e-3,
                energy_j: 8.0 - 0.9 * i + 0.05 * i * i,
            }
        })
        .collect()
}

fn base_ms(stage: u32, kind: Kind) -> f64 {
    let f = [20.0, 22.0][stage as usize];
    match kind {
        Kind::Forward => f,
        Kind::Backward => 2.0 * f,
    }
}

fn options_json(opts: &[ProfileOption]) -> Value {
    opts.iter()
        .map(|o| json!({"freq_mhz": o.freq_mhz, "time_s": o.time_s, "energy_j": o.energy_j}))
        .collect()
}

fn base_doc() -> Value {
    let mut profiles = Vec::new();
    for stage in 0..2 {
        for kind in [Kind::Forward, Kind::Backward] {
            profiles.push(json!({
                "stage": stage,
                "kind": kind.as_str(),
                "options": options_json(&options(base_ms(stage, kind))),
            }));
        }
    }
    json!({
        "schema": "perseus-instance/v1",
        "name": "bad_input_base",
        "unit_time_s": 0.001,
        "p_blocking_w": 80.0,
        "pipeline": {"schedule": "1f1b", "num_stages": 2, "num_microbatches": 2},
        "profiles": profiles,
    })
}

/// The base pipeline's DAG as an explicit `dag` section (ids 0..8, stage-major program order).
fn explicit_dag() -> Value {
    let dag = Pipeline::one_f_one_b(2, 2).dag().unwrap();
    let nodes: Vec<Value> = dag
        .nodes
        .iter()
        .enumerate()
        .map(|(id, c)| {
            json!({"id": id, "stage": c.stage, "kind": c.kind.as_str(), "microbatch": c.microbatch})
        })
        .collect();
    let edges: Vec<Value> = dag.edges.iter().map(|&(u, v)| json!([u, v])).collect();
    json!({"nodes": nodes, "edges": edges})
}

fn profile_mut<'a>(doc: &'a mut Value, stage: u64, kind: &str) -> &'a mut Value {
    doc["profiles"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["stage"] == stage && p["kind"] == kind)
        .unwrap()
}

fn parse(doc: &Value) -> Result<Problem, FormatError> {
    formats::parse_instance(&doc.to_string())
}

/// Parses and solves; the first error of either.
fn parse_and_solve(doc: &Value) -> Result<perseus::Frontier, FormatError> {
    let problem = parse(doc)?;
    Ok(perseus::solve(&problem)?)
}

fn base_problem() -> Problem {
    let mut profiles = Vec::new();
    for stage in 0..2 {
        for kind in [Kind::Forward, Kind::Backward] {
            profiles.push(Profile {
                stage,
                kind,
                options: options(base_ms(stage, kind)),
                fit: None,
            });
        }
    }
    Problem {
        unit_time_s: 0.001,
        p_blocking_w: 80.0,
        effective_energy: EffectiveEnergy::AfterFilter,
        profiles,
        dag: Pipeline::one_f_one_b(2, 2).dag().unwrap(),
    }
}

fn base_csv() -> String {
    let mut s = String::from("stage,instruction,frequency,time,energy\n");
    for stage in 0..2 {
        for kind in [Kind::Forward, Kind::Backward] {
            for o in options(base_ms(stage, kind)) {
                s.push_str(&format!(
                    "{stage},{kind},{},{},{}\n",
                    o.freq_mhz, o.time_s, o.energy_j
                ));
            }
        }
    }
    s
}

fn csv_problem(text: &str) -> Result<Problem, FormatError> {
    formats::problem_from_csv(
        text,
        Pipeline::one_f_one_b(2, 2),
        0.001,
        80.0,
        EffectiveEnergy::AfterFilter,
    )
}

/// Asserts that the Display message contains every needle.
#[track_caller]
fn assert_mentions(err: &impl std::fmt::Display, needles: &[&str]) {
    let msg = err.to_string();
    for n in needles {
        assert!(
            msg.contains(n),
            "error message {msg:?} does not mention {n:?}"
        );
    }
}

#[track_caller]
fn problem_err(r: Result<impl std::fmt::Debug, FormatError>) -> FrontierError {
    match r {
        Err(FormatError::Problem(e)) => e,
        other => panic!("expected FormatError::Problem, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The base documents are valid.

#[test]
fn base_instance_csv_and_problem_are_valid_and_agree() {
    let from_json = parse(&base_doc()).unwrap();
    let from_csv = csv_problem(&base_csv()).unwrap();
    let direct = base_problem();
    assert_eq!(from_json, direct);
    assert_eq!(from_csv, direct);
    let f = perseus::solve(&direct).unwrap();
    assert_eq!(f.termination, Termination::ReachedMinimum);
    assert!(!f.points.is_empty());
    assert_eq!(f.points.last().unwrap().quanta, f.t_min_quanta);
    // Five candidates per profile: the exponential model is fitted.
    for s in f.specs() {
        assert_eq!(s.candidates.len(), 5, "{s:?}");
    }
    // With an explicit dag as well, the problem is the same.
    let mut doc = base_doc();
    doc["dag"] = explicit_dag();
    assert_eq!(parse(&doc).unwrap(), direct);
}

// ---------------------------------------------------------------------------------------------
// Profiles and their measurements.

#[test]
fn empty_profile_is_rejected_naming_it() {
    let mut doc = base_doc();
    profile_mut(&mut doc, 1, "backward")["options"] = json!([]);
    let e = problem_err(parse(&doc));
    assert_eq!(
        e,
        FrontierError::EmptyProfile {
            stage: 1,
            kind: Kind::Backward
        }
    );
    assert_mentions(&e, &["stage 1", "backward", "no options"]);

    let mut p = base_problem();
    p.profiles[2].options.clear();
    let e = perseus::solve(&p).unwrap_err();
    assert_eq!(
        e,
        FrontierError::EmptyProfile {
            stage: 1,
            kind: Kind::Forward
        }
    );
}

#[test]
fn nan_in_csv_is_rejected_naming_profile_option_and_field() {
    // Line 4 is the third option (row 2) of stage 0 forward.
    for (field, column) in [("time_s", 3), ("energy_j", 4)] {
        let text: String = base_csv()
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if i == 3 {
                    let mut cells: Vec<&str> = l.split(',').collect();
                    cells[column] = "nan";
                    cells.join(",") + "\n"
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        let e = problem_err(csv_problem(&text));
        match &e {
            FrontierError::InvalidOption {
                stage: 0,
                kind: Kind::Forward,
                row: 2,
                field: f,
                value,
            } => {
                assert_eq!(*f, field);
                assert!(value.is_nan());
            }
            other => panic!("expected InvalidOption for {field}, got {other:?}"),
        }
        assert_mentions(&e, &["stage 0", "forward", "option 2", field, "NaN"]);
    }
}

#[test]
fn nan_and_infinity_through_the_rust_api() {
    let mut p = base_problem();
    p.profiles[3].options[4].time_s = f64::NAN;
    let e = perseus::solve(&p).unwrap_err();
    assert!(
        matches!(
            e,
            FrontierError::InvalidOption {
                stage: 1,
                kind: Kind::Backward,
                row: 4,
                field: "time_s",
                ..
            }
        ),
        "{e:?}"
    );
    assert_mentions(&e, &["stage 1", "backward", "option 4", "time_s", "NaN"]);

    let mut p = base_problem();
    p.profiles[1].options[0].energy_j = f64::INFINITY;
    let e = perseus::solve(&p).unwrap_err();
    assert!(
        matches!(
            e,
            FrontierError::InvalidOption {
                stage: 0,
                kind: Kind::Backward,
                row: 0,
                field: "energy_j",
                ..
            }
        ),
        "{e:?}"
    );
    assert_mentions(&e, &["energy_j", "inf"]);

    let mut p = base_problem();
    p.unit_time_s = f64::NAN;
    let e = perseus::solve(&p).unwrap_err();
    assert!(matches!(e, FrontierError::InvalidUnitTime(t) if t.is_nan()));
    assert_mentions(&e, &["unit time"]);

    let mut p = base_problem();
    p.p_blocking_w = f64::NAN;
    let e = perseus::solve(&p).unwrap_err();
    assert!(matches!(e, FrontierError::InvalidBlockingPower(w) if w.is_nan()));
    assert_mentions(&e, &["blocking power"]);
}

#[test]
fn negative_and_zero_measurements_are_rejected() {
    let cases = [
        ("time_s", -0.02, "-0.02"),
        ("time_s", 0.0, "time_s = 0"),
        ("energy_j", -1.5, "-1.5"),
        ("energy_j", 0.0, "energy_j = 0"),
    ];
    for (field, value, shown) in cases {
        let mut doc = base_doc();
        profile_mut(&mut doc, 0, "backward")["options"][1][field] = json!(value);
        let e = problem_err(parse(&doc));
        match &e {
            FrontierError::InvalidOption {
                stage: 0,
                kind: Kind::Backward,
                row: 1,
                field: f,
                value: v,
            } => {
                assert_eq!(*f, field);
                assert_eq!(*v, value);
            }
            other => panic!("expected InvalidOption for {field} = {value}, got {other:?}"),
        }
        assert_mentions(&e, &["stage 0", "backward", "option 1", field, shown]);
    }
    // A zero frequency is no clock at all.
    let mut doc = base_doc();
    profile_mut(&mut doc, 1, "forward")["options"][3]["freq_mhz"] = json!(0);
    let e = problem_err(parse(&doc));
    assert!(
        matches!(
            e,
            FrontierError::InvalidOption {
                stage: 1,
                kind: Kind::Forward,
                row: 3,
                field: "freq_mhz",
                ..
            }
        ),
        "{e:?}"
    );
    // A negative frequency does not fit the type: serde names the field.
    let mut doc = base_doc();
    profile_mut(&mut doc, 1, "forward")["options"][3]["freq_mhz"] = json!(-1410);
    let e = parse(&doc).unwrap_err();
    assert!(matches!(e, FormatError::Json { .. }), "{e:?}");
    assert_mentions(&e, &["perseus-instance/v1", "-1410"]);
}

#[test]
fn negative_blocking_power_and_unit_time_are_rejected() {
    let mut doc = base_doc();
    doc["p_blocking_w"] = json!(-5.0);
    let e = problem_err(parse(&doc));
    assert_eq!(e, FrontierError::InvalidBlockingPower(-5.0));
    assert_mentions(&e, &["blocking power", "-5"]);

    let mut doc = base_doc();
    doc["unit_time_s"] = json!(0.0);
    let e = problem_err(parse(&doc));
    assert_eq!(e, FrontierError::InvalidUnitTime(0.0));
    assert_mentions(&e, &["unit time", "0"]);
}

#[test]
fn missing_profile_is_rejected_naming_stage_and_kind() {
    let mut doc = base_doc();
    doc["profiles"]
        .as_array_mut()
        .unwrap()
        .retain(|p| !(p["stage"] == 1 && p["kind"] == "forward"));
    let e = problem_err(parse(&doc));
    assert_eq!(
        e,
        FrontierError::MissingProfile {
            stage: 1,
            kind: Kind::Forward
        }
    );
    assert_mentions(&e, &["no profile", "stage 1", "forward"]);

    // The same from CSV: drop every stage-1 forward row.
    let text: String = base_csv()
        .lines()
        .filter(|l| !l.starts_with("1,forward"))
        .map(|l| format!("{l}\n"))
        .collect();
    let e = problem_err(csv_problem(&text));
    assert_eq!(
        e,
        FrontierError::MissingProfile {
            stage: 1,
            kind: Kind::Forward
        }
    );
}

#[test]
fn duplicate_profile_is_rejected() {
    let mut doc = base_doc();
    let dup = profile_mut(&mut doc, 0, "forward").clone();
    doc["profiles"].as_array_mut().unwrap().push(dup);
    let e = problem_err(parse(&doc));
    assert_eq!(
        e,
        FrontierError::DuplicateProfile {
            stage: 0,
            kind: Kind::Forward
        }
    );
    assert_mentions(&e, &["stage 0", "forward", "twice"]);
}

#[test]
fn profile_beyond_the_pipeline_is_rejected() {
    let mut doc = base_doc();
    let mut extra = profile_mut(&mut doc, 1, "backward").clone();
    extra["stage"] = json!(2);
    doc["profiles"].as_array_mut().unwrap().push(extra);
    let e = problem_err(parse(&doc));
    assert_eq!(
        e,
        FrontierError::UnusedProfile {
            stage: 2,
            kind: Kind::Backward,
            num_stages: 2
        }
    );
    assert_mentions(&e, &["stage 2", "backward", "2 stages"]);

    // CSV profiled on 3 stages, run with --stages 2.
    let mut text = base_csv();
    text.push_str("2,forward,1410,0.02,8.0\n");
    let e = problem_err(csv_problem(&text));
    assert_eq!(
        e,
        FrontierError::UnusedProfile {
            stage: 2,
            kind: Kind::Forward,
            num_stages: 2
        }
    );
}

#[test]
fn invalid_given_fit_is_rejected() {
    let mut doc = base_doc();
    profile_mut(&mut doc, 0, "forward")["fit"] = json!({"a": -3.0, "b": -0.1, "c": 1.0});
    let e = problem_err(parse(&doc));
    assert!(
        matches!(
            e,
            FrontierError::InvalidFit {
                stage: 0,
                kind: Kind::Forward,
                ..
            }
        ),
        "{e:?}"
    );
    assert_mentions(&e, &["stage 0", "forward", "fit"]);

    let mut p = base_problem();
    p.profiles[1].fit = Some(ExpModel {
        a: 1.0,
        b: 0.5,
        c: 0.0,
    });
    let e = perseus::solve(&p).unwrap_err();
    assert!(
        matches!(
            e,
            FrontierError::InvalidFit {
                stage: 0,
                kind: Kind::Backward,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn unit_time_longer_than_every_computation_is_rejected() {
    let mut doc = base_doc();
    doc["unit_time_s"] = json!(1.0);
    let e = parse_and_solve(&doc).unwrap_err();
    let FormatError::Problem(e) = e else {
        panic!("expected FormatError::Problem, got {e:?}")
    };
    match &e {
        FrontierError::ShorterThanUnitTime {
            stage: 0,
            kind: Kind::Forward,
            unit_time_s,
            ..
        } => assert_eq!(*unit_time_s, 1.0),
        other => panic!("expected ShorterThanUnitTime, got {other:?}"),
    }
    assert_mentions(
        &e,
        &[
            "stage 0",
            "forward",
            "option",
            "shorter than the unit time 1 s",
        ],
    );
}

#[test]
fn too_many_quanta_is_rejected() {
    let mut p = base_problem();
    p.unit_time_s = 1e-12;
    let e = perseus::solve(&p).unwrap_err();
    assert!(
        matches!(
            e,
            FrontierError::TooManyQuanta {
                stage: 0,
                kind: Kind::Forward,
                ..
            }
        ),
        "{e:?}"
    );
    assert_mentions(&e, &["stage 0", "forward", "larger unit time"]);
}

// ---------------------------------------------------------------------------------------------
// Document structure.

#[test]
fn unknown_schema_is_rejected_naming_both() {
    let mut doc = base_doc();
    doc["schema"] = json!("perseus-instance/v2");
    let e = parse(&doc).unwrap_err();
    assert_eq!(
        e,
        FormatError::Schema {
            expected: "perseus-instance/v1",
            found: "perseus-instance/v2".into()
        }
    );
    assert_mentions(&e, &["perseus-instance/v1", "perseus-instance/v2"]);

    let mut doc = base_doc();
    doc.as_object_mut().unwrap().remove("schema");
    let e = parse(&doc).unwrap_err();
    assert!(matches!(e, FormatError::Json { .. }), "{e:?}");
    assert_mentions(&e, &["schema"]);
}

#[test]
fn missing_required_field_is_named() {
    for field in ["unit_time_s", "p_blocking_w", "profiles"] {
        let mut doc = base_doc();
        doc.as_object_mut().unwrap().remove(field);
        let e = parse(&doc).unwrap_err();
        assert!(
            matches!(
                &e,
                FormatError::Json {
                    schema: "perseus-instance/v1",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_mentions(&e, &["missing field", field]);
    }
    // Neither pipeline nor dag.
    let mut doc = base_doc();
    doc.as_object_mut().unwrap().remove("pipeline");
    let e = parse(&doc).unwrap_err();
    assert!(
        matches!(
            &e,
            FormatError::Field { field, .. } if field == "pipeline"
        ),
        "{e:?}"
    );
    assert_mentions(&e, &["pipeline", "dag"]);
    // A profile option without its time.
    let mut doc = base_doc();
    profile_mut(&mut doc, 0, "forward")["options"][0]
        .as_object_mut()
        .unwrap()
        .remove("time_s");
    let e = parse(&doc).unwrap_err();
    assert_mentions(&e, &["missing field", "time_s"]);
}

#[test]
fn malformed_json_reports_the_position() {
    let text = base_doc().to_string();
    let truncated = &text[..text.len() / 2];
    let e = formats::parse_instance(truncated).unwrap_err();
    assert!(matches!(e, FormatError::Json { .. }), "{e:?}");
    assert_mentions(&e, &["perseus-instance/v1", "line 1", "column"]);
    let e = formats::parse_instance("").unwrap_err();
    assert!(matches!(e, FormatError::Json { .. }), "{e:?}");
}

#[test]
fn unknown_kind_is_named() {
    let mut doc = base_doc();
    profile_mut(&mut doc, 0, "forward")["kind"] = json!("recompute");
    let e = parse(&doc).unwrap_err();
    assert!(matches!(e, FormatError::Json { .. }), "{e:?}");
    assert_mentions(&e, &["recompute", "forward", "backward"]);
}

#[test]
fn unknown_schedule_is_rejected_naming_the_field() {
    let mut doc = base_doc();
    doc["pipeline"]["schedule"] = json!("zero_bubble");
    let e = parse(&doc).unwrap_err();
    assert!(
        matches!(
            &e,
            FormatError::Field { field, .. } if field == "pipeline.schedule"
        ),
        "{e:?}"
    );
    assert_mentions(&e, &["pipeline.schedule", "zero_bubble", "1f1b"]);

    // virtual_stages without interleaving, and interleaving without it.
    let mut doc = base_doc();
    doc["pipeline"]["virtual_stages"] = json!(2);
    let e = parse(&doc).unwrap_err();
    assert!(
        matches!(
            &e,
            FormatError::Field { field, .. } if field == "pipeline.virtual_stages"
        ),
        "{e:?}"
    );
    let mut doc = base_doc();
    doc["pipeline"]["schedule"] = json!("interleaved_1f1b");
    let e = parse(&doc).unwrap_err();
    assert!(
        matches!(
            &e,
            FormatError::Field { field, .. } if field == "pipeline.virtual_stages"
        ),
        "{e:?}"
    );
    // Interleaving whose microbatches are not a multiple of the stages.
    let mut doc = base_doc();
    doc["pipeline"]["schedule"] = json!("interleaved_1f1b");
    doc["pipeline"]["virtual_stages"] = json!(2);
    doc["pipeline"]["num_microbatches"] = json!(3);
    let e = problem_err(parse(&doc));
    assert!(matches!(e, FrontierError::InvalidSchedule(_)), "{e:?}");
    assert_mentions(&e, &["multiple of the number of stages"]);
}

#[test]
fn zero_stages_and_zero_microbatches_are_rejected() {
    let mut doc = base_doc();
    doc["pipeline"]["num_stages"] = json!(0);
    let e = problem_err(parse(&doc));
    assert_eq!(e, FrontierError::NoStages);
    assert_mentions(&e, &["0 stages"]);

    let mut doc = base_doc();
    doc["pipeline"]["num_microbatches"] = json!(0);
    let e = problem_err(parse(&doc));
    assert_eq!(e, FrontierError::NoMicrobatches);
    assert_mentions(&e, &["0 microbatches"]);

    // Through the CSV path and the Rust API.
    let e = problem_err(formats::problem_from_csv(
        &base_csv(),
        Pipeline::one_f_one_b(0, 2),
        0.001,
        80.0,
        EffectiveEnergy::AfterFilter,
    ));
    assert_eq!(e, FrontierError::NoStages);
    let mut p = base_problem();
    p.dag = Dag::default();
    assert_eq!(perseus::solve(&p).unwrap_err(), FrontierError::NoStages);
    let mut p = base_problem();
    p.dag.nodes.clear();
    p.dag.edges.clear();
    let e = perseus::solve(&p).unwrap_err();
    assert_eq!(e, FrontierError::EmptyDag);
}

// ---------------------------------------------------------------------------------------------
// Explicit DAGs.

#[test]
fn cycle_in_explicit_dag_is_reported() {
    let mut doc = base_doc();
    let mut dag = explicit_dag();
    // Stage 0's program ends with B1 (id 3); make it precede F0 (id 0).
    dag["edges"].as_array_mut().unwrap().push(json!([3, 0]));
    doc["dag"] = dag;
    let e = parse_and_solve(&doc).unwrap_err();
    let FormatError::Problem(e) = e else {
        panic!("expected FormatError::Problem, got {e:?}")
    };
    assert!(matches!(e, FrontierError::Cycle { .. }), "{e:?}");
    assert_mentions(&e, &["cycle"]);

    // The same through the Rust API.
    let mut p = base_problem();
    p.dag.edges.push((3, 0));
    let e = perseus::solve(&p).unwrap_err();
    let FrontierError::Cycle { node } = e else {
        panic!("expected Cycle, got {e:?}")
    };
    assert!(node < p.dag.nodes.len());
}

#[test]
fn cycle_message_names_a_document_node_id() {
    // Node ids in a document need not be 0..n; the message should use the ids the user wrote.
    let mut doc = base_doc();
    let mut dag = explicit_dag();
    for n in dag["nodes"].as_array_mut().unwrap() {
        n["id"] = json!(n["id"].as_u64().unwrap() + 100);
    }
    for e in dag["edges"].as_array_mut().unwrap() {
        e[0] = json!(e[0].as_u64().unwrap() + 100);
        e[1] = json!(e[1].as_u64().unwrap() + 100);
    }
    dag["edges"].as_array_mut().unwrap().push(json!([103, 100]));
    doc["dag"] = dag;
    let e = parse_and_solve(&doc).unwrap_err();
    let msg = e.to_string();
    let named: u64 = msg
        .rsplit(' ')
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no node id at the end of {msg:?}"));
    assert!(
        (100..108).contains(&named),
        "{msg:?} names node {named}, which is not an id of the document"
    );
}

#[test]
fn duplicate_node_id_is_rejected() {
    let mut doc = base_doc();
    let mut dag = explicit_dag();
    dag["nodes"][5]["id"] = json!(2);
    doc["dag"] = dag;
    let e = parse(&doc).unwrap_err();
    assert!(
        matches!(
            &e,
            FormatError::Field { field, .. } if field == "dag.nodes"
        ),
        "{e:?}"
    );
    assert_mentions(&e, &["dag.nodes", "node id 2", "twice"]);
}

#[test]
fn edge_to_missing_node_is_rejected() {
    let mut doc = base_doc();
    let mut dag = explicit_dag();
    dag["edges"].as_array_mut().unwrap().push(json!([1, 42]));
    doc["dag"] = dag;
    let e = parse(&doc).unwrap_err();
    assert!(
        matches!(
            &e,
            FormatError::Field { field, .. } if field == "dag.edges"
        ),
        "{e:?}"
    );
    assert_mentions(&e, &["dag.edges", "1 -> 42", "not in dag.nodes"]);
}

#[test]
fn self_loop_is_rejected() {
    let mut doc = base_doc();
    let mut dag = explicit_dag();
    dag["edges"].as_array_mut().unwrap().push(json!([4, 4]));
    doc["dag"] = dag;
    let e = problem_err(parse(&doc));
    assert!(
        matches!(e, FrontierError::InvalidEdge { from: 4, to: 4, .. }),
        "{e:?}"
    );
    assert_mentions(&e, &["4 -> 4"]);
}

#[test]
fn explicit_dag_node_beyond_the_pipeline_is_rejected() {
    let mut doc = base_doc();
    let mut dag = explicit_dag();
    dag["nodes"][7]["stage"] = json!(5);
    doc["dag"] = dag;
    let e = problem_err(parse(&doc));
    assert_eq!(
        e,
        FrontierError::StageOutOfRange {
            node: 7,
            stage: 5,
            num_stages: 2
        }
    );
    assert_mentions(&e, &["computation 7", "stage 5", "2 stages"]);
}

#[test]
fn explicit_dag_without_pipeline_takes_stages_from_nodes() {
    let mut doc = base_doc();
    doc.as_object_mut().unwrap().remove("pipeline");
    doc["dag"] = explicit_dag();
    let p = parse(&doc).unwrap();
    assert_eq!(p.dag.num_stages, 2);
    assert_eq!(p, base_problem());
}

#[test]
fn explicit_dag_with_huge_stage_and_no_pipeline_is_an_error() {
    let mut doc = base_doc();
    doc.as_object_mut().unwrap().remove("pipeline");
    let mut dag = explicit_dag();
    dag["nodes"][7]["stage"] = json!(u32::MAX);
    doc["dag"] = dag;
    let r = std::panic::catch_unwind(|| parse(&doc));
    let r = r.expect("parse_instance panicked");
    assert!(r.is_err(), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Zeus CSV.

#[test]
fn csv_missing_column_is_named() {
    let text = base_csv().replacen(",energy\n", ",joules\n", 1);
    let e = csv_problem(&text).unwrap_err();
    assert!(matches!(e, FormatError::Csv { line: 1, .. }), "{e:?}");
    assert_mentions(&e, &["CSV line 1", "`energy`"]);

    let text = base_csv().replacen("stage,instruction,", "stage,", 1);
    let e = csv_problem(&text).unwrap_err();
    assert_mentions(&e, &["CSV line 1", "`instruction`"]);
}

#[test]
fn csv_bad_instruction_names_the_line() {
    // Line 7 is the first stage-0 backward row.
    let text: String = base_csv()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 6 {
                l.replace("backward", "recompute") + "\n"
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let e = csv_problem(&text).unwrap_err();
    assert!(matches!(e, FormatError::Csv { line: 7, .. }), "{e:?}");
    assert_mentions(&e, &["CSV line 7", "instruction", "recompute"]);
}

#[test]
fn csv_non_integer_frequency_names_the_line() {
    for bad in ["1410.5", "abc", "0", "-1410", "nan"] {
        let text = base_csv().replacen(",1410,", &format!(",{bad},"), 1);
        let e = csv_problem(&text).unwrap_err();
        assert!(
            matches!(e, FormatError::Csv { line: 2, .. }),
            "{bad}: {e:?}"
        );
        assert_mentions(&e, &["CSV line 2", "frequency"]);
    }
}

#[test]
fn csv_other_bad_cells_name_the_line() {
    // A bad stage, a non-numeric time, a short row.
    let text = base_csv().replacen("\n1,", "\nx1,", 1);
    let e = csv_problem(&text).unwrap_err();
    assert!(matches!(e, FormatError::Csv { line: 12, .. }), "{e:?}");
    assert_mentions(&e, &["CSV line 12", "stage", "x1"]);

    let mut text = base_csv();
    text.push_str("1,forward,1410,fast,8.0\n");
    let e = csv_problem(&text).unwrap_err();
    assert!(matches!(e, FormatError::Csv { line: 22, .. }), "{e:?}");
    assert_mentions(&e, &["CSV line 22", "time", "fast"]);

    let mut text = base_csv();
    text.push_str("1,forward,1410\n");
    let e = csv_problem(&text).unwrap_err();
    assert!(matches!(e, FormatError::Csv { line: 22, .. }), "{e:?}");
    assert_mentions(&e, &["CSV line 22", "time"]);

    let e = csv_problem("").unwrap_err();
    assert!(matches!(e, FormatError::Csv { .. }), "{e:?}");
    assert_mentions(&e, &["empty"]);
    let e = csv_problem("stage,instruction,frequency,time,energy\n").unwrap_err();
    assert_mentions(&e, &["no data rows"]);
}

#[test]
fn csv_extra_columns_are_ignored() {
    let text: String = base_csv()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("rank,dp_rank,{l},pp_rank\n")
            } else {
                format!("0,0,{l},0\n")
            }
        })
        .collect();
    assert_eq!(csv_problem(&text).unwrap(), base_problem());
}

// ---------------------------------------------------------------------------------------------
// Few options are valid.

#[test]
fn single_option_profile_is_valid_and_solves() {
    // Stage 1 forward runs at one fixed clock.
    let mut doc = base_doc();
    let only = profile_mut(&mut doc, 1, "forward")["options"][2].clone();
    profile_mut(&mut doc, 1, "forward")["options"] = json!([only]);
    let f = parse_and_solve(&doc).unwrap();
    assert_eq!(f.termination, Termination::ReachedMinimum);
    let spec = f
        .specs()
        .iter()
        .find(|s| s.stage == 1 && s.kind == Kind::Forward)
        .unwrap();
    assert_eq!(spec.candidates.len(), 1);
    assert_eq!(spec.min_quanta, spec.max_quanta);
    assert_eq!(
        spec.model,
        CostModel::ConvexHull {
            reason: HullReason::TooFewCandidates(1)
        }
    );
    // Every quantum from T_max − 1 down to T_min is a point.
    assert!(f.t_max_quanta > f.t_min_quanta);
    assert_eq!(f.points.len() as u64, f.t_max_quanta - f.t_min_quanta);
    for (k, p) in f.points.iter().enumerate() {
        assert_eq!(p.quanta, f.t_max_quanta - 1 - k as u64);
        let d = f.durations(Some(k)).unwrap();
        assert_eq!(f.makespan(&d).unwrap(), p.quanta);
    }
    // Its computations keep the one clock in every plan.
    for state in [None, f.fastest(), f.min_energy()] {
        let plan = f.plan(state).unwrap();
        for &(kind, freq) in &plan.stages[1].instructions {
            if kind == Kind::Forward {
                assert_eq!(freq, FREQS[2]);
            }
        }
    }
}

#[test]
fn all_single_option_profiles_give_an_empty_frontier() {
    let mut p = base_problem();
    for prof in &mut p.profiles {
        prof.options.truncate(1);
    }
    let f = perseus::solve(&p).unwrap();
    assert!(f.points.is_empty(), "{:?}", f.points);
    assert_eq!(f.t_max_quanta, f.t_min_quanta);
    assert_eq!(f.start.quanta, f.t_max_quanta);
    assert_eq!(f.fastest(), None);
    assert_eq!(f.min_energy(), None);
    let plan = f.plan(f.fastest()).unwrap();
    assert_eq!(plan.stages.len(), 2);
    for s in &plan.stages {
        assert_eq!(s.instructions.len(), 4);
        assert!(s.instructions.iter().all(|&(_, freq)| freq == FREQS[0]));
    }
    // A deadline at T_min is met by the start state; a shorter one is an error.
    let (state, _) = f.for_deadline(f.start.time_s).unwrap();
    assert_eq!(state, None);
    let e = f.for_deadline(f.start.time_s * 0.5).unwrap_err();
    assert!(matches!(e, FrontierError::DeadlineTooShort { .. }), "{e:?}");
    assert_mentions(&e, &["deadline", "shorter than the fastest"]);
    // The JSON of an empty frontier is still well formed.
    let v: Value = serde_json::from_str(&formats::frontier_json(&f, Some(2), true)).unwrap();
    assert_eq!(v["points"].as_array().unwrap().len(), 0);
    assert_eq!(v["t_min_s"], v["t_max_s"]);
}

#[test]
fn two_or_three_candidates_use_the_convex_hull() {
    for n in [2, 3] {
        let mut p = base_problem();
        p.profiles[3].options.truncate(n);
        let f = perseus::solve(&p).unwrap();
        assert_eq!(f.termination, Termination::ReachedMinimum);
        let spec = &f.specs()[3];
        assert_eq!((spec.stage, spec.kind), (1, Kind::Backward));
        assert_eq!(spec.candidates.len(), n);
        assert_eq!(
            spec.model,
            CostModel::ConvexHull {
                reason: HullReason::TooFewCandidates(n)
            }
        );
        // The others (five candidates) are fitted.
        for s in &f.specs()[..3] {
            assert!(matches!(s.model, CostModel::Exponential(_)), "{s:?}");
        }
        assert_eq!(f.points.len() as u64, f.t_max_quanta - f.t_min_quanta);
    }
}

#[test]
fn hand_built_dag_with_fixed_clock_solves() {
    // Two computations in a chain on one stage, one profile each, one fixed.
    let p = Problem {
        unit_time_s: 0.001,
        p_blocking_w: 50.0,
        effective_energy: EffectiveEnergy::BeforeFilter,
        profiles: vec![
            Profile {
                stage: 0,
                kind: Kind::Forward,
                options: options(10.0),
                fit: None,
            },
            Profile {
                stage: 0,
                kind: Kind::Backward,
                options: vec![ProfileOption {
                    freq_mhz: 1410,
                    time_s: 0.0205,
                    energy_j: 9.0,
                }],
                fit: None,
            },
        ],
        dag: Dag {
            num_stages: 1,
            nodes: vec![
                Computation {
                    stage: 0,
                    kind: Kind::Forward,
                    microbatch: 0,
                    chunk: 0,
                },
                Computation {
                    stage: 0,
                    kind: Kind::Backward,
                    microbatch: 0,
                    chunk: 0,
                },
            ],
            edges: vec![(0, 1)],
        },
    };
    let f = perseus::solve(&p).unwrap();
    assert_eq!(f.termination, Termination::ReachedMinimum);
    assert_eq!(f.t_max_quanta - f.t_min_quanta, f.points.len() as u64);
    assert_eq!(f.t_min_quanta, 10 + 20);
}
