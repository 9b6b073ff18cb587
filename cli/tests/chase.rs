//! End-to-end tests of `ergon chase` on the shared carbon trace (Chase's carbon_hist.csv),
//! against the reference predictor's numbers in `cli/tests/data/chase_reference_forecast.json`
//! (written by `bench/chase_reference_forecast.py` with scikit-learn's SVR, the reference's
//! settings: history 48, forecasts from slot 48).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod support;
use support::*;

fn carbon() -> String {
    shared_data("zeus/carbon_hist.csv").display().to_string()
}

fn reference() -> Value {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/chase_reference_forecast.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn forecast(dir: &Path, args: &[&str]) -> Output {
    ergon(dir, &[&["chase", "forecast"], args].concat())
}

fn mae_of(v: &Value) -> f64 {
    v["mae"].as_f64().unwrap()
}

#[test]
fn forecast_json_follows_chase_forecast_v1() {
    let s = Scratch::new("forecast-json");
    let c = carbon();
    let v = parse_json(&forecast(
        s.path(),
        &["--carbon", &c, "--history", "48", "--start", "48", "--json"],
    ));
    let r = reference();
    assert_eq!(v["format"], "chase-forecast/v1");
    let f = v["forecasts"].as_array().unwrap();
    let rf = r["forecasts"].as_array().unwrap();
    assert_eq!(f.len(), 119, "slots 48..=166");
    assert_eq!(f.len(), rf.len());
    let mut sum = 0.0;
    for (a, b) in f.iter().zip(rf) {
        assert_eq!(a["timestamp"], b["timestamp"]);
        assert_eq!(a["actual"].as_f64().unwrap(), b["actual"].as_f64().unwrap());
        sum += (a["forecast"].as_f64().unwrap() - a["actual"].as_f64().unwrap()).abs();
    }
    assert!((mae_of(&v) - sum / f.len() as f64).abs() < 1e-9);
}

#[test]
fn ergon_beats_the_reference_svr_and_persistence() {
    let s = Scratch::new("forecast-mae");
    let c = carbon();
    let r = reference();
    let svr = r["svr"]["mae"].as_f64().unwrap();
    let persistence = r["persistence"]["mae"].as_f64().unwrap();
    // The measurements of the reference, reproduced by the fixture.
    assert!((svr - 8.55).abs() < 0.005, "reference SVR MAE {svr}");
    assert!(
        (persistence - 8.28).abs() < 0.005,
        "persistence MAE {persistence}"
    );

    let ergon = parse_json(&forecast(s.path(), &["--carbon", &c, "--json"]));
    assert!(
        mae_of(&ergon) <= svr,
        "ergon {} vs SVR {svr}",
        mae_of(&ergon)
    );
    assert!(mae_of(&ergon) <= persistence);
    // Not only on average: on each half of the steps (the first half is calm, the second
    // holds the volatile last day).
    let f = ergon["forecasts"].as_array().unwrap();
    let half = r["half"].as_u64().unwrap() as usize;
    let mae = |xs: &[Value]| {
        xs.iter()
            .map(|x| (x["forecast"].as_f64().unwrap() - x["actual"].as_f64().unwrap()).abs())
            .sum::<f64>()
            / xs.len() as f64
    };
    for (part, name) in [(&f[..half], "first"), (&f[half..], "second")] {
        let key = format!("mae_{name}_half");
        assert!(
            mae(part) <= r["svr"][&key].as_f64().unwrap(),
            "{name} half vs SVR"
        );
        assert!(
            mae(part) <= r["persistence"][&key].as_f64().unwrap(),
            "{name} half vs persistence"
        );
    }

    // Persistence is the same computation in both: equal to the fixture's forecasts.
    let p = parse_json(&forecast(
        s.path(),
        &["--carbon", &c, "--method", "persistence", "--json"],
    ));
    for (a, b) in p["forecasts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(r["forecasts"].as_array().unwrap())
    {
        assert_eq!(
            a["forecast"].as_f64().unwrap(),
            b["persistence"].as_f64().unwrap()
        );
    }
    assert!((mae_of(&p) - persistence).abs() < 1e-9);

    // The LS-SVM stand-in is close to the reference SVR it replaces (not equal: squared loss
    // instead of the ε-insensitive one, and no wrapped lag on the first training row).
    let l = parse_json(&forecast(
        s.path(),
        &["--carbon", &c, "--method", "svr-like", "--json"],
    ));
    let diffs: Vec<f64> = l["forecasts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(r["forecasts"].as_array().unwrap())
        .map(|(a, b)| (a["forecast"].as_f64().unwrap() - b["svr"].as_f64().unwrap()).abs())
        .collect();
    let mean_diff = diffs.iter().sum::<f64>() / diffs.len() as f64;
    assert!(mean_diff < 2.0, "LS-SVM vs SVR: mean |diff| {mean_diff}");
}

#[test]
fn forecast_table_lists_every_slot_and_the_maes() {
    let s = Scratch::new("forecast-table");
    let c = carbon();
    let o = forecast(
        s.path(),
        &["--carbon", &c, "--start", "160", "--history", "48"],
    );
    assert_success(&o);
    let out = stdout(&o);
    assert!(out.contains("2022-10-23T17:20:00+00:00"), "{out}");
    for m in ["ergon", "persistence", "svr-like"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(m)), "{out}");
    }
}

#[test]
fn forecast_bad_input_is_a_clear_error() {
    let s = Scratch::new("forecast-bad");
    let c = carbon();
    let cases: [(&[&str], &str); 4] = [
        (&["--start", "167"], "beyond the end of the trace"),
        (
            &["--history", "200", "--start", "100"],
            "not shorter than the trace",
        ),
        (
            &["--history", "60", "--start", "50"],
            "does not fit before the start",
        ),
        (&["--history", "1", "--start", "50"], "at least 2"),
    ];
    for (args, needle) in cases {
        let o = forecast(s.path(), &[&["--carbon", c.as_str()], args].concat());
        assert_one_line_error(&o, &[needle]);
    }
    let bad = s.write(
        "bad.csv",
        "location,timestamp,duration,value,hist\nR,t0,30,1,600\nR,t1,30,1,6x0\n",
    );
    assert_one_line_error(
        &forecast(s.path(), &["--carbon", &bad]),
        &["line 3, column 5 (`hist`)"],
    );
    let empty = s.write("empty.csv", "");
    assert_one_line_error(&forecast(s.path(), &["--carbon", &empty]), &["empty"]);
    let header_only = s.write("header.csv", "location,timestamp,duration,value,hist\n");
    assert_one_line_error(
        &forecast(s.path(), &["--carbon", &header_only]),
        &["no data row"],
    );
}
