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
    // The issue's measurements of the reference, reproduced by the fixture.
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

/// The power trace's rows of one workload and batch size: (power limit W, s/epoch, W).
fn power_rows(dataset: &str, batch_size: u32) -> Vec<(f64, f64, f64)> {
    let text = std::fs::read_to_string(shared_data("zeus/summary_power_v100.csv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[0] == dataset && c[2] == batch_size.to_string()).then(|| {
                (
                    c[4].parse().unwrap(),
                    c[5].parse().unwrap(),
                    c[6].parse().unwrap(),
                )
            })
        })
        .collect()
}

/// The mean `target_epoch` of the train trace's paths of imagenet/resnet50/adadelta at batch
/// size 256 for the workload's target 0.65 (all reach it within the 100-epoch budget).
fn imagenet_epochs_to_target() -> f64 {
    let text = std::fs::read_to_string(shared_data("zeus/summary_train.csv")).unwrap();
    let epochs: Vec<f64> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c[0] == "imagenet" && c[1] == "resnet50" && c[2] == "256" && c[6] == "0.65")
                .then(|| c[7].parse().unwrap())
        })
        .collect();
    assert!(!epochs.is_empty());
    epochs.iter().sum::<f64>() / epochs.len() as f64
}

fn simulate(dir: &Path, extra: &[&str]) -> Output {
    let c = carbon();
    let train = shared_data("zeus/summary_train.csv").display().to_string();
    let power = shared_data("zeus/summary_power_v100.csv")
        .display()
        .to_string();
    let base = [
        "chase", "simulate", "--carbon", &c, "--train", &train, "--power", &power,
    ];
    ergon(dir, &[&base[..], extra].concat())
}

fn policy<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["policy"] == name)
        .unwrap_or_else(|| panic!("no policy {name}"))
}

#[test]
fn simulate_replays_chase_and_the_baselines_on_the_shared_traces() {
    let s = Scratch::new("simulate");
    let svg = s.path().join("sim.svg").display().to_string();
    let v = parse_json(&simulate(
        s.path(),
        &["--workload", "imagenet", "--json", "--svg", &svg],
    ));
    assert_eq!(v["format"], "chase-sim/v1");
    assert!(s.read("sim.svg").starts_with("<svg"));
    let epochs = imagenet_epochs_to_target();
    assert!((v["job_units"].as_f64().unwrap() - epochs).abs() < 1e-9);
    let rows = power_rows("imagenet", 256);
    let hist: Vec<f64> = parse_carbon_hist();
    let (max_pl, t_max, p_max) = rows
        .iter()
        .copied()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    assert_eq!(v["max_power_limit_w"].as_f64().unwrap(), max_pl);

    // max-power: every slot at 250 W; time, energy and carbon recomputed from the traces.
    let mp = policy(&v, "max-power");
    let time_s = epochs * t_max;
    assert!((mp["time_s"].as_f64().unwrap() - time_s).abs() < 1e-6);
    assert!((mp["energy_j"].as_f64().unwrap() - time_s * p_max).abs() < 1e-3);
    let mut left = time_s;
    let mut carbon_g = 0.0;
    for ci in &hist[48..] {
        let t = left.min(1800.0);
        carbon_g += t * p_max * ci / 3.6e6;
        left -= t;
        if left <= 0.0 {
            break;
        }
    }
    assert!((mp["carbon_g"].as_f64().unwrap() - carbon_g).abs() < 1e-6);

    // zeus: the limit of least η·E + (1−η)·MaxPL·T per epoch (η 0.5): 175 W on the V100
    // trace, as `ergon zeus optimum` and the reference's own choice give for this batch size.
    let zeus_choice = rows
        .iter()
        .min_by(|a, b| {
            let cost = |r: &(f64, f64, f64)| (0.5 * r.2 + 0.5 * max_pl) * r.1;
            cost(a).total_cmp(&cost(b))
        })
        .unwrap()
        .0;
    assert_eq!(zeus_choice, 175.0);
    for slot in policy(&v, "zeus")["intervals"].as_array().unwrap() {
        assert_eq!(slot["choice"], "175 W");
    }

    // chase: every slot's limit minimises (η·P·CI + (1−η)·MaxPL·MaxCI·N)/throughput at the
    // slot's forecast (throughput ∝ 1/time per epoch), the §3 formula evaluated here.
    let chase = policy(&v, "chase");
    for slot in chase["intervals"].as_array().unwrap() {
        let ci = slot["forecast"].as_f64().unwrap();
        let best = rows
            .iter()
            .min_by(|a, b| {
                let cost = |r: &(f64, f64, f64)| (0.5 * r.2 * ci + 0.5 * max_pl * 750.0) * r.1;
                cost(a).total_cmp(&cost(b))
            })
            .unwrap();
        assert_eq!(slot["choice"], format!("{} W", best.0));
        let row = slot["slot"].as_u64().unwrap() as usize;
        assert_eq!(slot["actual"].as_f64().unwrap(), hist[row]);
    }
    // On this trace Chase emits less than the maximum power limit and takes longer.
    assert!(chase["carbon_change_pct"].as_f64().unwrap() < -5.0);
    assert!(chase["time_change_pct"].as_f64().unwrap() > 0.0);
}

fn parse_carbon_hist() -> Vec<f64> {
    let text = std::fs::read_to_string(shared_data("zeus/carbon_hist.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn carbon_aware_perseus_is_never_worse_than_power_limit_only_chase() {
    let s = Scratch::new("perseus");
    let instance = shared_data("perseus/a100_s4_m8.instance.json")
        .display()
        .to_string();
    let v = parse_json(&simulate(
        s.path(),
        &[
            "--frontier",
            &instance,
            "--iterations",
            "100000",
            "--max-power-limit",
            "400",
            "--json",
        ],
    ));
    assert_eq!(v["unit"], "iteration");
    assert_eq!(v["gpus"], 4);
    let chase = policy(&v, "chase");
    let perseus = policy(&v, "perseus-chase");
    // Slot by slot, the carbon-aware choice costs no more at the forecast; the cost of a
    // choice is recomputed from its time and energy per iteration (slot time / iterations).
    let unit_cost = |slot: &Value| {
        let ci = slot["forecast"].as_f64().unwrap();
        let units = slot["units"].as_f64().unwrap();
        let (t, e) = (
            slot["time_s"].as_f64().unwrap() / units,
            slot["energy_j"].as_f64().unwrap() / units,
        );
        0.5 * e * ci + 0.5 * 400.0 * 750.0 * 4.0 * t
    };
    let (a, b) = (
        perseus["intervals"].as_array().unwrap(),
        chase["intervals"].as_array().unwrap(),
    );
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x["slot"], y["slot"]);
        assert!(unit_cost(x) <= unit_cost(y) * (1.0 + 1e-12));
    }
    // On this pipeline and trace it runs T_min every slot: the all-max-clock bloat removed, no
    // slowdown, and less carbon than Chase's power limit.
    assert!(perseus["carbon_g"].as_f64().unwrap() < chase["carbon_g"].as_f64().unwrap());
    assert!(perseus["time_s"].as_f64().unwrap() <= chase["time_s"].as_f64().unwrap());
    assert!(
        a.iter()
            .all(|x| x["choice"].as_str().unwrap().starts_with("frontier"))
    );
}

#[test]
fn simulate_bad_input_is_a_clear_error() {
    let s = Scratch::new("simulate-bad");
    let cases: [(&[&str], &str); 5] = [
        (&["--epochs", "100"], "did not finish within the 119 slots"),
        (&["--workload", "nope"], "unknown workload"),
        (&["--batch-size", "7"], "batch size 7 is not in the traces"),
        (&["--eta", "2"], "eta must be"),
        (&["--epochs", "-1"], "job_units"),
    ];
    for (args, needle) in cases {
        assert_one_line_error(&simulate(s.path(), args), &[needle]);
    }
    let bad = s.write(
        "frontier.json",
        r#"{"schema":"ergon-frontier/v1","points":[]}"#,
    );
    assert_one_line_error(
        &simulate(s.path(), &["--frontier", &bad, "--iterations", "10"]),
        &["frontier.json", "no point"],
    );
}
