//! Bad input gets a clear error that names the offending profile, row or field — never a
//! panic. Documents are built as `perseus-instance/v1` JSON and zeus CSV strings (a small valid
//! base, then one mutation per case) and as `Problem` values through the Rust API.
//!
//! The refusals are tables of cases: each row makes one bad input, says which error it must get
//! and what the message must mention, and [`check`] runs them all, naming the failing row.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ergon_core::fit::ExpModel;
use ergon_core::perseus::formats::{self, FormatError};
use ergon_core::perseus::{
    self, Computation, CostModel, Dag, EffectiveEnergy, FrontierError, HullReason, Kind, Pipeline,
    Problem, Profile, ProfileOption, Termination,
};
use serde_json::{Value, json};
use support::perseus::{FREQS, dag_json, options, profiles, profiles_csv, profiles_json};
use support::{assert_mentions, assert_row_mentions};

// ---------------------------------------------------------------------------------------------
// The valid base problem: 2 stages × 2 microbatches, 1F1B, τ = 1 ms, 4 profiles of 5 options.

fn base_ms(stage: u32, kind: Kind) -> f64 {
    let f = [20.0, 22.0][stage as usize];
    match kind {
        Kind::Forward => f,
        Kind::Backward => 2.0 * f,
    }
}

fn base_doc() -> Value {
    json!({
        "schema": "perseus-instance/v1",
        "name": "bad_input_base",
        "unit_time_s": 0.001,
        "p_blocking_w": 80.0,
        "pipeline": {"schedule": "1f1b", "num_stages": 2, "num_microbatches": 2},
        "profiles": profiles_json(&profiles(2, base_ms)),
    })
}

/// The base pipeline's DAG as an explicit `dag` section (ids 0..8, stage-major program order).
fn explicit_dag() -> Value {
    dag_json(&Pipeline::one_f_one_b(2, 2).dag().unwrap())
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
    Problem {
        unit_time_s: 0.001,
        p_blocking_w: 80.0,
        effective_energy: EffectiveEnergy::AfterFilter,
        profiles: profiles(2, base_ms),
        dag: Pipeline::one_f_one_b(2, 2).dag().unwrap(),
    }
}

fn base_csv() -> String {
    profiles_csv(&profiles(2, base_ms))
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

// ---------------------------------------------------------------------------------------------
// Tables of refusals: each attempt edits one of the valid bases and reads (or solves) it.

/// The base document edited by `edit`, parsed.
fn parse_edited(edit: impl FnOnce(&mut Value)) -> Result<(), FormatError> {
    let mut doc = base_doc();
    edit(&mut doc);
    parse(&doc).map(drop)
}

/// The base document with an explicit `dag` section edited by `edit`, parsed.
fn parse_dag_edited(edit: impl FnOnce(&mut Value)) -> Result<(), FormatError> {
    parse_edited(|doc| {
        let mut dag = explicit_dag();
        edit(&mut dag);
        doc["dag"] = dag;
    })
}

/// The base document edited by `edit`, parsed and solved.
fn solve_edited(edit: impl FnOnce(&mut Value)) -> Result<(), FormatError> {
    let mut doc = base_doc();
    edit(&mut doc);
    parse_and_solve(&doc).map(drop)
}

/// The base problem edited by `edit`, solved through the Rust API (its error wrapped as
/// [`FormatError::Problem`], whose message is the problem error's own).
fn solve_problem_edited(edit: impl FnOnce(&mut Problem)) -> Result<(), FormatError> {
    let mut problem = base_problem();
    edit(&mut problem);
    perseus::solve(&problem)
        .map(drop)
        .map_err(FormatError::from)
}

/// The base CSV rewritten by `edit`, read onto the base pipeline.
fn csv_edited(edit: impl FnOnce(String) -> String) -> Result<(), FormatError> {
    csv_problem(&edit(base_csv())).map(drop)
}

/// `text` with the cell `column` of line `index` (0-based) replaced by `value`.
fn set_cell(text: &str, index: usize, column: usize, value: &str) -> String {
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            if i == index {
                let mut cells: Vec<&str> = line.split(',').collect();
                cells[column] = value;
                cells.join(",") + "\n"
            } else {
                format!("{line}\n")
            }
        })
        .collect()
}

/// `doc` without its top-level `field`.
fn without(doc: &mut Value, field: &str) {
    doc.as_object_mut().unwrap().remove(field);
}

/// Asserts that `result` is refused with an error whose `Debug` form starts with `want` and
/// whose message mentions every needle; failures name the `case`.
///
/// `want` is the error variant with its leading fields as the derived `Debug` writes them (for
/// example `Problem(EmptyProfile { stage: 1, kind: Backward })`): the same check as a
/// `matches!` on those fields, and equality when it is the whole form.
#[track_caller]
fn assert_refused(case: &str, result: Result<(), FormatError>, want: &str, mentions: &[&str]) {
    let error = match result {
        Ok(()) => panic!("{case}: accepted"),
        Err(error) => error,
    };
    let debug = format!("{error:?}");
    assert!(
        debug.starts_with(want),
        "{case}: expected {want} …, got {debug}"
    );
    assert_row_mentions(case, &error, mentions);
}

/// One bad input: its name, the attempt, the start of its error's `Debug` form and what the
/// message must mention (see [`assert_refused`]).
type Case = (
    &'static str,
    fn() -> Result<(), FormatError>,
    &'static str,
    &'static [&'static str],
);

/// Runs every case of a table.
#[track_caller]
fn check(cases: &[Case]) {
    for &(case, attempt, want, mentions) in cases {
        assert_refused(case, attempt(), want, mentions);
    }
}

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
fn bad_profiles_are_rejected_naming_stage_and_kind() {
    check(&[
        (
            "empty profile in a document",
            || parse_edited(|d| profile_mut(d, 1, "backward")["options"] = json!([])),
            "Problem(EmptyProfile { stage: 1, kind: Backward })",
            &["stage 1", "backward", "no options"],
        ),
        (
            "empty profile through the Rust API",
            || solve_problem_edited(|p| p.profiles[2].options.clear()),
            "Problem(EmptyProfile { stage: 1, kind: Forward })",
            &[],
        ),
        (
            "missing profile in a document",
            || {
                parse_edited(|d| {
                    let profiles = d["profiles"].as_array_mut().unwrap();
                    profiles.retain(|p| !(p["stage"] == 1 && p["kind"] == "forward"));
                })
            },
            "Problem(MissingProfile { stage: 1, kind: Forward })",
            &["no profile", "stage 1", "forward"],
        ),
        (
            "missing profile in a CSV (every stage-1 forward row dropped)",
            || {
                csv_edited(|text| {
                    let rows = text.lines().filter(|l| !l.starts_with("1,forward"));
                    rows.map(|l| format!("{l}\n")).collect()
                })
            },
            "Problem(MissingProfile { stage: 1, kind: Forward })",
            &[],
        ),
        (
            "duplicate profile",
            || {
                parse_edited(|d| {
                    let dup = profile_mut(d, 0, "forward").clone();
                    d["profiles"].as_array_mut().unwrap().push(dup);
                })
            },
            "Problem(DuplicateProfile { stage: 0, kind: Forward })",
            &["stage 0", "forward", "twice"],
        ),
        (
            "profile beyond the pipeline in a document",
            || {
                parse_edited(|d| {
                    let mut extra = profile_mut(d, 1, "backward").clone();
                    extra["stage"] = json!(2);
                    d["profiles"].as_array_mut().unwrap().push(extra);
                })
            },
            "Problem(UnusedProfile { stage: 2, kind: Backward, num_stages: 2 })",
            &["stage 2", "backward", "2 stages"],
        ),
        (
            "CSV profiled on 3 stages, run with --stages 2",
            || csv_edited(|text| text + "2,forward,1410,0.02,8.0\n"),
            "Problem(UnusedProfile { stage: 2, kind: Forward, num_stages: 2 })",
            &[],
        ),
        (
            "invalid given fit in a document",
            || {
                let fit = json!({"a": -3.0, "b": -0.1, "c": 1.0});
                parse_edited(|d| profile_mut(d, 0, "forward")["fit"] = fit)
            },
            "Problem(InvalidFit { stage: 0, kind: Forward,",
            &["stage 0", "forward", "fit"],
        ),
        (
            "invalid given fit through the Rust API",
            || {
                let fit = ExpModel {
                    a: 1.0,
                    b: 0.5,
                    c: 0.0,
                };
                solve_problem_edited(|p| p.profiles[1].fit = Some(fit))
            },
            "Problem(InvalidFit { stage: 0, kind: Backward,",
            &[],
        ),
    ]);
}

#[test]
fn nan_in_csv_is_rejected_naming_profile_option_and_field() {
    // Line 4 is the third option (row 2) of stage 0 forward.
    for (field, column) in [("time_s", 3), ("energy_j", 4)] {
        assert_refused(
            field,
            csv_edited(|text| set_cell(&text, 3, column, "nan")),
            &format!(
                "Problem(InvalidOption {{ stage: 0, kind: Forward, row: 2, field: {field:?}, \
                 value: NaN }})"
            ),
            &["stage 0", "forward", "option 2", field, "NaN"],
        );
    }
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
        assert_refused(
            &format!("{field} = {value}"),
            parse_edited(|d| profile_mut(d, 0, "backward")["options"][1][field] = json!(value)),
            &format!(
                "Problem(InvalidOption {{ stage: 0, kind: Backward, row: 1, field: {field:?}, \
                 value: {value:?} }})"
            ),
            &["stage 0", "backward", "option 1", field, shown],
        );
    }
}

#[test]
fn other_bad_numbers_are_rejected() {
    check(&[
        (
            "NaN time through the Rust API",
            || solve_problem_edited(|p| p.profiles[3].options[4].time_s = f64::NAN),
            "Problem(InvalidOption { stage: 1, kind: Backward, row: 4, field: \"time_s\",",
            &["stage 1", "backward", "option 4", "time_s", "NaN"],
        ),
        (
            "infinite energy through the Rust API",
            || solve_problem_edited(|p| p.profiles[1].options[0].energy_j = f64::INFINITY),
            "Problem(InvalidOption { stage: 0, kind: Backward, row: 0, field: \"energy_j\",",
            &["energy_j", "inf"],
        ),
        (
            "NaN unit time through the Rust API",
            || solve_problem_edited(|p| p.unit_time_s = f64::NAN),
            "Problem(InvalidUnitTime(NaN))",
            &["unit time"],
        ),
        (
            "NaN blocking power through the Rust API",
            || solve_problem_edited(|p| p.p_blocking_w = f64::NAN),
            "Problem(InvalidBlockingPower(NaN))",
            &["blocking power"],
        ),
        (
            // A zero frequency is no clock at all.
            "zero frequency",
            || parse_edited(|d| profile_mut(d, 1, "forward")["options"][3]["freq_mhz"] = json!(0)),
            "Problem(InvalidOption { stage: 1, kind: Forward, row: 3, field: \"freq_mhz\",",
            &[],
        ),
        (
            // A negative frequency does not fit the type: serde names the field.
            "negative frequency",
            || {
                let freq = json!(-1410);
                parse_edited(|d| profile_mut(d, 1, "forward")["options"][3]["freq_mhz"] = freq)
            },
            "Json {",
            &["perseus-instance/v1", "-1410"],
        ),
        (
            "negative blocking power",
            || parse_edited(|d| d["p_blocking_w"] = json!(-5.0)),
            "Problem(InvalidBlockingPower(-5.0))",
            &["blocking power", "-5"],
        ),
        (
            "zero unit time",
            || parse_edited(|d| d["unit_time_s"] = json!(0.0)),
            "Problem(InvalidUnitTime(0.0))",
            &["unit time", "0"],
        ),
        (
            "unit time longer than every computation",
            || solve_edited(|d| d["unit_time_s"] = json!(1.0)),
            "Problem(ShorterThanUnitTime { stage: 0, kind: Forward,",
            &[
                "stage 0",
                "forward",
                "option",
                "shorter than the unit time 1 s",
            ],
        ),
        (
            "too many quanta",
            || solve_problem_edited(|p| p.unit_time_s = 1e-12),
            "Problem(TooManyQuanta { stage: 0, kind: Forward,",
            &["stage 0", "forward", "larger unit time"],
        ),
    ]);
    // The unit time the message names is the document's.
    let e = solve_edited(|d| d["unit_time_s"] = json!(1.0)).unwrap_err();
    assert!(
        matches!(
            e,
            FormatError::Problem(FrontierError::ShorterThanUnitTime { unit_time_s, .. })
                if unit_time_s == 1.0
        ),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Document structure.

#[test]
fn missing_required_field_is_named() {
    for field in ["unit_time_s", "p_blocking_w", "profiles"] {
        assert_refused(
            field,
            parse_edited(|d| without(d, field)),
            "Json { schema: \"perseus-instance/v1\",",
            &["missing field", field],
        );
    }
}

#[test]
fn bad_document_structure_is_named() {
    check(&[
        (
            "unknown schema",
            || parse_edited(|d| d["schema"] = json!("perseus-instance/v2")),
            "Schema { expected: \"perseus-instance/v1\", found: \"perseus-instance/v2\" }",
            &["perseus-instance/v1", "perseus-instance/v2"],
        ),
        (
            "no schema",
            || parse_edited(|d| without(d, "schema")),
            "Json {",
            &["schema"],
        ),
        (
            "neither pipeline nor dag",
            || parse_edited(|d| without(d, "pipeline")),
            "Field { record: None, field: \"pipeline\",",
            &["pipeline", "dag"],
        ),
        (
            "a profile option without its time",
            || {
                parse_edited(|d| {
                    let option = profile_mut(d, 0, "forward")["options"][0].as_object_mut();
                    option.unwrap().remove("time_s");
                })
            },
            "Json {",
            &["missing field", "time_s"],
        ),
        (
            "truncated JSON",
            || {
                let text = base_doc().to_string();
                formats::parse_instance(&text[..text.len() / 2]).map(drop)
            },
            "Json {",
            &["perseus-instance/v1", "line 1", "column"],
        ),
        (
            "empty text",
            || formats::parse_instance("").map(drop),
            "Json {",
            &[],
        ),
        (
            "unknown kind",
            || parse_edited(|d| profile_mut(d, 0, "forward")["kind"] = json!("recompute")),
            "Json {",
            &["recompute", "forward", "backward"],
        ),
        (
            "unknown schedule",
            || parse_edited(|d| d["pipeline"]["schedule"] = json!("zero_bubble")),
            "Field { record: None, field: \"pipeline.schedule\",",
            &["pipeline.schedule", "zero_bubble", "1f1b"],
        ),
        (
            "virtual_stages without interleaving",
            || parse_edited(|d| d["pipeline"]["virtual_stages"] = json!(2)),
            "Field { record: None, field: \"pipeline.virtual_stages\",",
            &[],
        ),
        (
            "interleaving without virtual_stages",
            || parse_edited(|d| d["pipeline"]["schedule"] = json!("interleaved_1f1b")),
            "Field { record: None, field: \"pipeline.virtual_stages\",",
            &[],
        ),
        (
            "interleaving whose microbatches are not a multiple of the stages",
            || {
                parse_edited(|d| {
                    let pipeline = &mut d["pipeline"];
                    pipeline["schedule"] = json!("interleaved_1f1b");
                    pipeline["virtual_stages"] = json!(2);
                    pipeline["num_microbatches"] = json!(3);
                })
            },
            "Problem(InvalidSchedule(",
            &["multiple of the number of stages"],
        ),
        (
            "zero stages",
            || parse_edited(|d| d["pipeline"]["num_stages"] = json!(0)),
            "Problem(NoStages)",
            &["0 stages"],
        ),
        (
            "zero microbatches",
            || parse_edited(|d| d["pipeline"]["num_microbatches"] = json!(0)),
            "Problem(NoMicrobatches)",
            &["0 microbatches"],
        ),
        (
            "zero stages through the CSV path",
            || {
                let pipeline = Pipeline::one_f_one_b(0, 2);
                let energy = EffectiveEnergy::AfterFilter;
                formats::problem_from_csv(&base_csv(), pipeline, 0.001, 80.0, energy).map(drop)
            },
            "Problem(NoStages)",
            &[],
        ),
        (
            "an empty DAG through the Rust API",
            || solve_problem_edited(|p| p.dag = Dag::default()),
            "Problem(NoStages)",
            &[],
        ),
        (
            "a DAG without nodes through the Rust API",
            || {
                solve_problem_edited(|p| {
                    p.dag.nodes.clear();
                    p.dag.edges.clear();
                })
            },
            "Problem(EmptyDag)",
            &[],
        ),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Explicit DAGs.

#[test]
fn bad_explicit_dags_are_rejected() {
    check(&[
        (
            // Stage 0's program ends with B1 (id 3); make it precede F0 (id 0).
            "a cycle",
            || {
                solve_edited(|d| {
                    let mut dag = explicit_dag();
                    dag["edges"].as_array_mut().unwrap().push(json!([3, 0]));
                    d["dag"] = dag;
                })
            },
            "Problem(Cycle {",
            &["cycle"],
        ),
        (
            "a duplicate node id",
            || parse_dag_edited(|dag| dag["nodes"][5]["id"] = dag["nodes"][2]["id"].clone()),
            "Field { record: None, field: \"dag.nodes\",",
            &["dag.nodes", "node id 2", "twice"],
        ),
        (
            "an edge to a missing node",
            || parse_dag_edited(|dag| dag["edges"].as_array_mut().unwrap().push(json!([1, 42]))),
            "Field { record: None, field: \"dag.edges\",",
            &["dag.edges", "1 -> 42", "not in dag.nodes"],
        ),
        (
            "a self loop",
            || parse_dag_edited(|dag| dag["edges"].as_array_mut().unwrap().push(json!([4, 4]))),
            "Problem(InvalidEdge {",
            &["4 -> 4"],
        ),
        (
            "a node beyond the pipeline",
            || parse_dag_edited(|dag| dag["nodes"][7]["stage"] = json!(5)),
            "Problem(StageOutOfRange { node: 7, stage: 5, num_stages: 2 })",
            &["computation 7", "stage 5", "2 stages"],
        ),
    ]);
    // The self loop is the edge 4 -> 4.
    let e = parse_dag_edited(|dag| dag["edges"].as_array_mut().unwrap().push(json!([4, 4])));
    assert!(
        matches!(
            e,
            Err(FormatError::Problem(FrontierError::InvalidEdge {
                from: 4,
                to: 4,
                ..
            }))
        ),
        "{e:?}"
    );
    // The same cycle through the Rust API names one of the problem's nodes.
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
fn explicit_dag_without_pipeline_takes_stages_from_nodes() {
    let mut doc = base_doc();
    without(&mut doc, "pipeline");
    doc["dag"] = explicit_dag();
    let p = parse(&doc).unwrap();
    assert_eq!(p.dag.num_stages, 2);
    assert_eq!(p, base_problem());
}

#[test]
fn explicit_dag_with_huge_stage_and_no_pipeline_is_an_error() {
    let mut doc = base_doc();
    without(&mut doc, "pipeline");
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
fn bad_csv_names_the_line() {
    check(&[
        (
            "no energy column",
            || csv_edited(|t| t.replacen(",energy\n", ",joules\n", 1)),
            "Csv { line: 1,",
            &["CSV line 1", "`energy`"],
        ),
        (
            "no instruction column",
            || csv_edited(|t| t.replacen("stage,instruction,", "stage,", 1)),
            "Csv { line: 1,",
            &["CSV line 1", "`instruction`"],
        ),
        (
            // Line 7 is the first stage-0 backward row.
            "an unknown instruction",
            || csv_edited(|t| set_cell(&t, 6, 1, "recompute")),
            "Csv { line: 7,",
            &["CSV line 7", "instruction", "recompute"],
        ),
        (
            "a bad stage",
            || csv_edited(|t| t.replacen("\n1,", "\nx1,", 1)),
            "Csv { line: 12,",
            &["CSV line 12", "stage", "x1"],
        ),
        (
            "a non-numeric time",
            || csv_edited(|t| t + "1,forward,1410,fast,8.0\n"),
            "Csv { line: 22,",
            &["CSV line 22", "time", "fast"],
        ),
        (
            "a short row",
            || csv_edited(|t| t + "1,forward,1410\n"),
            "Csv { line: 22,",
            &["CSV line 22", "time"],
        ),
        (
            "empty text",
            || csv_problem("").map(drop),
            "Csv {",
            &["empty"],
        ),
        (
            "a header and no rows",
            || csv_problem("stage,instruction,frequency,time,energy\n").map(drop),
            "Csv {",
            &["no data rows"],
        ),
    ]);
}

#[test]
fn csv_non_integer_frequency_names_the_line() {
    for bad in ["1410.5", "abc", "0", "-1410", "nan"] {
        let result = csv_edited(|t| t.replacen(",1410,", &format!(",{bad},"), 1));
        assert_refused(bad, result, "Csv { line: 2,", &["CSV line 2", "frequency"]);
    }
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
