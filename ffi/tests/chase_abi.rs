//! The Chase forecaster through the C ABI, called from Rust: on the shared carbon trace it gives
//! persistence exactly and beats the reference SVR's MAE (the fixture written by
//! `bench/chase_reference_forecast.py`), and bad input fails call by call with a message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ptr::{null, null_mut};

use common::{check_calls, created, fails, read_text, read_value};
use ergon::*;

mod common;

/// The `hist` column of the shared carbon trace.
fn hist() -> Vec<f64> {
    let path = format!(
        "{}/../../shared/data/zeus/carbon_hist.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap().parse().unwrap())
        .collect()
}

/// The reference's MAE values (scikit-learn's SVR and persistence, history 48, from slot 48).
fn reference_mae(which: &str) -> f64 {
    let path = format!(
        "{}/../cli/tests/data/chase_reference_forecast.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v[which]["mae"].as_f64().unwrap()
}

fn train(
    hist: &[f64],
    history: usize,
    start: usize,
    method: &str,
) -> Result<*mut ergon_chase_forecaster, (ergon_status, String)> {
    let mut f = null_mut();
    let status = unsafe {
        ergon_chase_forecaster_train(
            hist.as_ptr(),
            hist.len(),
            history,
            start,
            48,
            method.as_ptr().cast(),
            method.len(),
            &mut f,
        )
    };
    created(status, f)
}

/// MAE of `method`'s one-step forecasts from slot 48 through the C calls.
fn mae(hist: &[f64], method: &str) -> f64 {
    let f = train(hist, 48, 48, method).unwrap();
    let mut sum = 0.0;
    for t in 48..hist.len() {
        let got =
            read_value(|out| unsafe { ergon_chase_forecaster_predict(f, t, hist[t - 1], out) });
        if method == "persistence" {
            assert_eq!(got, hist[t - 1]);
        }
        sum += (got - hist[t]).abs();
    }
    unsafe { ergon_chase_forecaster_free(f) };
    sum / (hist.len() - 48) as f64
}

#[test]
fn forecaster_beats_the_reference_on_the_shared_trace() {
    let h = hist();
    assert_eq!(h.len(), 167);
    assert!((mae(&h, "persistence") - reference_mae("persistence")).abs() < 1e-9);
    let ergon = mae(&h, "ergon");
    assert!(ergon <= reference_mae("svr"), "ergon {ergon}");
    assert!(ergon <= reference_mae("persistence"), "ergon {ergon}");
}

#[test]
fn bad_input_fails_with_a_message() {
    let h = hist();
    fails(
        train(&h, 48, 48, "svr"),
        ergon_status::InvalidArgument,
        &[
            "unknown forecast method \"svr\"",
            "ergon, persistence or svr-like",
        ],
    );
    fails(
        train(&h, 48, 167, "ergon"),
        ergon_status::InvalidArgument,
        &["beyond the end"],
    );
    fails(
        train(&h, 200, 200, "ergon"),
        ergon_status::InvalidArgument,
        &["not shorter than the trace"],
    );
    fails(
        train(&[], 2, 2, "ergon"),
        ergon_status::InvalidArgument,
        &["empty"],
    );
    let mut nan = h.clone();
    nan[3] = f64::NAN;
    fails(
        train(&nan, 48, 48, "ergon"),
        ergon_status::InvalidArgument,
        &["slot 3"],
    );

    let f = train(&h, 48, 48, "ergon").unwrap();
    let out = std::cell::Cell::new(-1.0);
    check_calls(&[
        (
            ergon_status::InvalidArgument,
            "prev_g_per_kwh",
            &|| unsafe { ergon_chase_forecaster_predict(f, 48, f64::NAN, out.as_ptr()) },
        ),
        (ergon_status::NullPointer, "out_g_per_kwh", &|| unsafe {
            ergon_chase_forecaster_predict(f, 48, 600.0, null_mut())
        }),
        (ergon_status::NullPointer, "forecaster", &|| unsafe {
            ergon_chase_forecaster_predict(null(), 48, 600.0, out.as_ptr())
        }),
        (ergon_status::NullPointer, "hist_g_per_kwh", &|| unsafe {
            let mut g = null_mut();
            ergon_chase_forecaster_train(null(), 5, 2, 2, 48, c"ergon".as_ptr(), 5, &mut g)
        }),
    ]);
    assert_eq!(out.get(), -1.0, "a failed call wrote its output");
    let message =
        read_text(|buf, cap, len| unsafe { ergon_chase_forecaster_last_error(f, buf, cap, len) });
    assert!(message.contains("out_g_per_kwh"), "{message}");
    unsafe {
        ergon_chase_forecaster_free(f);
        ergon_chase_forecaster_free(null_mut());
    }
}
