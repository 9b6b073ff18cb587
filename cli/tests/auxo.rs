//! End-to-end tests of `ergon auxo simulate --positions`: the JSON the acceptance checks read,
//! the fixed-round replay of the reference playground (notes B8), and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;

mod support;
use support::*;

fn simulate(dir: &Path, args: &[&str]) -> Output {
    ergon(dir, &[&["auxo", "simulate", "--positions"], args].concat())
}

const PLAYGROUND: [&str; 12] = [
    "--clients",
    "1000",
    "--per-round",
    "50",
    "--rounds",
    "800",
    "--cluster-std",
    "2",
    "--train-ratio",
    "0.9",
    "--known-clients",
    "150",
];

#[test]
fn fixed_split_rounds_replay_the_reference() {
    let s = Scratch::new("fixed");
    let o = simulate(
        s.path(),
        &[
            &PLAYGROUND[..],
            &[
                "--centers",
                "4",
                "--split-rounds",
                "50,100",
                "--seed",
                "3",
                "--json",
            ],
        ]
        .concat(),
    );
    let v = parse_json(&o);
    assert_eq!(v["final_cohorts"], 4);
    let splits = v["splits"].as_array().unwrap();
    let rounds: Vec<u64> = splits
        .iter()
        .map(|s| s["round"].as_u64().unwrap())
        .collect();
    let after: Vec<u64> = splits
        .iter()
        .map(|s| s["num_cohorts_after"].as_u64().unwrap())
        .collect();
    assert_eq!(rounds, [49, 99, 99]);
    assert_eq!(after, [2, 3, 4]);
    // B8: reference purity of known clients 0.78, ARI 0.56.
    assert!(f64_of(&v["purity_known"]) > 0.6, "{v}");
    assert!(f64_of(&v["ari"]) > 0.3, "{v}");
}

#[test]
fn reference_and_improved_tests_on_one_blob() {
    let s = Scratch::new("oneblob");
    let base = [
        &PLAYGROUND[..],
        &["--centers", "1", "--seed", "1", "--json"],
    ]
    .concat();
    let reference = parse_json(&simulate(s.path(), &base));
    assert!(
        reference["final_cohorts"].as_u64().unwrap() >= 2,
        "{reference}"
    );
    let mut short = base.clone();
    short[5] = "300"; // --rounds 300 keeps the debug-build test short
    let improved = parse_json(&simulate(
        s.path(),
        &[&short[..], &["--split-test", "improved"]].concat(),
    ));
    assert_eq!(improved["final_cohorts"], 1, "{improved}");
    assert_eq!(improved["splits"].as_array().unwrap().len(), 0);
}

#[test]
fn text_output_names_the_splits() {
    let s = Scratch::new("text");
    let o = simulate(
        s.path(),
        &["--centers", "2", "--seed", "1", "--rounds", "100"],
    );
    let out = assert_success(&o);
    assert!(out.contains("split at round"), "{out}");
    assert!(out.contains("final cohorts 2"), "{out}");
}

#[test]
fn bad_input_is_one_error_line() {
    let s = Scratch::new("bad");
    let o = simulate(s.path(), &["--per-round", "2000"]);
    assert_one_line_error(&o, &["per_round"]);
    let o = simulate(s.path(), &["--train-ratio", "0"]);
    assert_one_line_error(&o, &["train_ratio"]);
    let o = ergon(s.path(), &["auxo", "simulate", "--availability", "0"]);
    assert_one_line_error(&o, &["availability"]);
}

/// The training simulator: on 3 latent groups with disagreeing labelling rules, cohort models
/// beat one global FedAvg model in mean accuracy (the paper's shape), and the cohorts match
/// the groups.
#[test]
fn training_simulator_beats_the_global_model() {
    let s = Scratch::new("train");
    let svg = s.path().join("sim.svg");
    let o = ergon(
        s.path(),
        &[
            "auxo",
            "simulate",
            "--clients",
            "300",
            "--per-round",
            "150",
            "--rounds",
            "60",
            "--seed",
            "1",
            "--json",
            "--svg",
            svg.to_str().unwrap(),
        ],
    );
    let v = parse_json(&o);
    assert_eq!(v["schema"], "auxo-train-sim/v1");
    let last = v["curve"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["cohorts"], 3, "{v}");
    let cohort = f64_of(&last["cohort_mean_acc"]);
    let global = f64_of(&last["global_mean_acc"]);
    assert!(cohort > global + 0.1, "cohorts {cohort} vs global {global}");
    assert!(f64_of(&v["ari"]) > 0.9, "{v}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("one global FedAvg model"));
}
