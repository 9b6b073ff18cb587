//! Bad input to `core::batching` gets a clear error naming the application and field:
//! `orloj-sim/v1` documents (unknown distribution kind, non-positive SLO, shares not adding
//! to 1, no applications, …) and the online batcher's API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ergon_core::orloj::formats::{FormatError, parse_sim};
use ergon_core::orloj::{
    BatchScale, Batcher, BatchingError, Distribution, ExecSpec, Orloj, TimeGrid,
};
use support::{assert_mentions, assert_row_mentions, refusal};

fn doc(apps: &str, extra: &str) -> String {
    format!(
        r#"{{"schema": "orloj-sim/v1", "seed": 7, "duration_s": 10.0, "apps": [{apps}],
            "batch": {{"max_size": 4, "scale": [1.0, 1.1, 1.2, 1.3]}},
            "arrivals": {{"kind": "poisson", "load": 0.5}}{extra}}}"#
    )
}

const BERT: &str = r#"{"name": "bert", "share": 0.5, "slo_s": 0.06,
    "exec_time": {"kind": "bimodal", "low_s": 0.006, "high_s": 0.02, "p_low": 0.3}}"#;
const SEQ: &str = r#"{"name": "seq2seq", "share": 0.5, "slo_s": 0.12,
    "exec_time": {"kind": "lognormal", "mean_s": 0.03, "cv": 1.0}}"#;

/// The message the `orloj-sim/v1` document `text` is refused with.
#[track_caller]
fn err(text: &str) -> String {
    refusal(parse_sim(text), text)
}

#[test]
fn the_reference_document_parses() {
    let cfg = parse_sim(&doc(&format!("{BERT}, {SEQ}"), "")).unwrap();
    assert_eq!(cfg.apps.len(), 2);
    assert_eq!(cfg.max_batch(), 4);
    assert_eq!(cfg.policies.len(), 10);
}

/// An app named `vit` (share 1) whose execution time is `exec`.
fn vit(exec: &str) -> String {
    format!(r#"{{"name": "vit", "share": 1.0, "slo_s": 0.05, "exec_time": {exec}}}"#)
}

#[test]
fn bad_apps_name_the_app_and_field() {
    let non_positive_slo = |slo: &str| {
        format!(
            r#"{BERT}, {{"name": "vit", "share": 0.5, "slo_s": {slo}, "exec_time": {{"kind": "constant", "value_s": 0.01}}}}"#
        )
    };
    let cases: [(String, &[&str]); 15] = [
        (
            format!(
                r#"{BERT}, {{"name": "vit", "share": 0.5, "slo_s": 0.05, "exec_time": {{"kind": "gamma", "mean_s": 0.01}}}}"#
            ),
            &["vit", "exec_time.kind", "gamma", "lognormal"],
        ),
        (
            vit(r#"{"kind": "bimodal", "low_s": 0.01, "high_s": 0.02}"#),
            &["vit", "exec_time.p_low", "missing"],
        ),
        (non_positive_slo("0.0"), &["vit", "slo_s"]),
        (non_positive_slo("-0.01"), &["vit", "slo_s"]),
        (
            format!("{BERT}, {}", SEQ.replace("0.5", "0.4")),
            &["shares", "0.9"],
        ),
        (
            format!(
                "{}, {}",
                BERT.replace("\"share\": 0.5", "\"share\": 1.5"),
                SEQ.replace("\"share\": 0.5", "\"share\": -0.5")
            ),
            &["bert", "share"],
        ),
        (String::new(), &["no applications"]),
        (
            vit(r#"{"kind": "constant", "value_s": -1}"#),
            &["vit", "exec_time.value_s"],
        ),
        (
            vit(r#"{"kind": "bimodal", "low_s": 0.03, "high_s": 0.02, "p_low": 0.3}"#),
            &["vit", "exec_time.low_s"],
        ),
        (
            vit(r#"{"kind": "bimodal", "low_s": 0.01, "high_s": 0.02, "p_low": 1.3}"#),
            &["vit", "exec_time.p_low"],
        ),
        (
            vit(r#"{"kind": "lognormal", "mean_s": 0.03, "cv": -1}"#),
            &["vit", "exec_time.cv"],
        ),
        (
            vit(r#"{"kind": "lognormal", "mean_s": 0, "cv": 1}"#),
            &["vit", "exec_time.mean_s"],
        ),
        (
            vit(r#"{"kind": "samples", "values_s": []}"#),
            &["vit", "exec_time.values_s"],
        ),
        (
            vit(r#"{"kind": "samples", "values_s": [0.01, -0.02]}"#),
            &["vit", "exec_time.values_s"],
        ),
        (
            format!("{BERT}, {}", BERT.replace("0.06", "0.07")),
            &["apps[1].name", "bert"],
        ),
    ];
    for (apps, needles) in &cases {
        assert_row_mentions(apps, &err(&doc(apps, "")), needles);
    }
}

#[test]
fn other_fields_are_checked() {
    // Each row edits the valid two-app document: (replace this, by this, extra fields).
    let cases: [(&str, &str, &str, &[&str]); 12] = [
        ("orloj-sim/v1", "orloj-sim/v2", "", &["orloj-sim/v2"]),
        (
            "[1.0, 1.1, 1.2, 1.3]",
            "[1.0, 1.1]",
            "",
            &["scale", "max_size"],
        ),
        (
            "[1.0, 1.1, 1.2, 1.3]",
            "[1.0, 1.1, -1.2, 1.3]",
            "",
            &["size 3"],
        ),
        ("\"load\": 0.5", "\"load\": 0", "", &["arrivals.load"]),
        ("poisson", "uniform", "", &["arrivals.kind", "uniform"]),
        (
            "",
            "",
            ", \"policies\": [\"orloj\", \"triton\"]",
            &["policies[1]", "triton"],
        ),
        ("", "", ", \"policies\": []", &["no policies"]),
        (
            "\"duration_s\": 10.0",
            "\"duration_s\": -1",
            "",
            &["duration_s"],
        ),
        ("", "", ", \"p_min\": 2", &["p_min"]),
        ("\"seed\": 7,", "", "", &["seed"]),
        ("", "", ", \"duration_s\": 1e9", &["duplicate field"]),
        (
            "\"duration_s\": 10.0",
            "\"duration_s\": 1e9",
            "",
            &["limit"],
        ),
    ];
    let both = format!("{BERT}, {SEQ}");
    for (from, to, extra, needles) in cases {
        let mut text = doc(&both, extra);
        if !from.is_empty() {
            text = text.replace(from, to);
        }
        assert_row_mentions(&text, &err(&text), needles);
    }
    assert!(matches!(parse_sim("{"), Err(FormatError::Json { .. })));
}

fn law(spec: &ExecSpec, grid: TimeGrid) -> Distribution {
    Distribution::from_spec(grid, spec, "a").unwrap()
}

fn batcher() -> Batcher {
    let g = TimeGrid::covering(0.1, 128).unwrap();
    Batcher::new(
        vec![law(&ExecSpec::Constant { value_s: 0.01 }, g)],
        Box::new(BatchScale::unit(4).unwrap()),
        Box::new(Orloj::default()),
    )
    .unwrap()
}

#[test]
fn batcher_api_rejects_bad_calls() {
    let mut b = batcher();
    assert_eq!(
        b.enqueue(3, 1, 0.0, 1.0),
        Err(BatchingError::UnknownApp { app: 3, apps: 1 })
    );
    assert!(matches!(
        b.enqueue(0, 1, 0.5, 0.2),
        Err(BatchingError::DeadlineBeforeArrival { request_id: 1, .. })
    ));
    assert!(matches!(
        b.enqueue(0, 1, f64::NAN, 0.2),
        Err(BatchingError::InvalidValue {
            field: "arrival_s",
            ..
        })
    ));
    assert!(matches!(
        b.enqueue(0, 1, 0.0, f64::INFINITY),
        Err(BatchingError::InvalidValue {
            field: "deadline_s",
            ..
        })
    ));
    let (mut small, mut dropped) = ([0u64; 2], [0u64; 2]);
    assert!(matches!(
        b.next_batch(0.0, &mut small, &mut dropped),
        Err(BatchingError::BufferTooSmall {
            buffer: "batch",
            got: 2,
            needed: 4
        })
    ));
    let mut batch = [0u64; 4];
    assert!(matches!(
        b.next_batch(f64::NAN, &mut batch, &mut dropped),
        Err(BatchingError::InvalidValue { field: "now_s", .. })
    ));
    assert!(matches!(
        b.complete(0, -1.0),
        Err(BatchingError::InvalidValue {
            field: "observed_time_s",
            ..
        })
    ));
    assert!(matches!(
        b.complete(7, 0.01),
        Err(BatchingError::UnknownApp { .. })
    ));
    assert!(matches!(
        b.set_decay(0.0),
        Err(BatchingError::InvalidValue { field: "decay", .. })
    ));
    assert!(matches!(
        b.set_decay(f64::NAN),
        Err(BatchingError::InvalidValue { .. })
    ));
    assert!(matches!(
        b.batch_done(f64::NAN),
        Err(BatchingError::InvalidValue { .. })
    ));
}

#[test]
fn batcher_construction_rejects_bad_input() {
    let g1 = TimeGrid::covering(0.1, 128).unwrap();
    let g2 = TimeGrid::covering(0.2, 128).unwrap();
    let c = ExecSpec::Constant { value_s: 0.01 };
    assert!(matches!(
        Batcher::new(
            vec![],
            Box::new(BatchScale::unit(4).unwrap()),
            Box::new(Orloj::default())
        ),
        Err(BatchingError::NoApps)
    ));
    assert!(matches!(
        Batcher::new(
            vec![law(&c, g1), law(&c, g2)],
            Box::new(BatchScale::unit(4).unwrap()),
            Box::new(Orloj::default())
        ),
        Err(BatchingError::GridMismatch { app: 1 })
    ));
}

#[test]
fn distributions_and_scales_reject_bad_input() {
    assert!(matches!(
        TimeGrid::new(0.0, 16),
        Err(BatchingError::InvalidGrid { .. })
    ));
    assert!(matches!(
        TimeGrid::new(0.001, 1),
        Err(BatchingError::InvalidGrid { .. })
    ));
    assert!(matches!(
        TimeGrid::new(f64::NAN, 16),
        Err(BatchingError::InvalidGrid { .. })
    ));
    let g = TimeGrid::new(0.001, 64).unwrap();
    assert!(Distribution::from_samples(g, &[]).is_err());
    let m = Distribution::from_samples(g, &[0.01, f64::NAN])
        .unwrap_err()
        .to_string();
    assert_mentions(&m, &["value 1", "NaN"]);
    assert!(Distribution::from_weights(g, &[0.0; 64]).is_err());
    assert!(Distribution::from_weights(g, &[1.0; 3]).is_err());
    assert!(matches!(
        BatchScale::from_factors(&[1.0, f64::NAN]),
        Err(BatchingError::InvalidScale { size: 2, .. })
    ));
    assert!(matches!(
        BatchScale::from_factors(&[]),
        Err(BatchingError::InvalidMaxBatch { max_size: 0 })
    ));
    assert!(matches!(
        BatchScale::unit(100_000),
        Err(BatchingError::InvalidMaxBatch { .. })
    ));
    let one_size = BatchScale::fit(&[(4, 0.01), (4, 0.02)], 8)
        .unwrap_err()
        .to_string();
    assert_mentions(&one_size, &["two or more distinct batch sizes"]);
    let bad_row = BatchScale::fit(&[(0, 0.01), (4, 0.02)], 8)
        .unwrap_err()
        .to_string();
    assert_mentions(&bad_row, &["row 0"]);
    let falling = BatchScale::fit(&[(1, 0.05), (2, 0.01)], 8)
        .unwrap_err()
        .to_string();
    assert_mentions(&falling, &["not positive"]);
    let spec = ExecSpec::Lognormal {
        mean_s: 0.01,
        cv: f64::INFINITY,
    };
    assert_mentions(
        &spec.validate("vit").unwrap_err().to_string(),
        &["vit", "exec_time.cv"],
    );
}
