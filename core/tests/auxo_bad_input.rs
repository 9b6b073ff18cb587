//! Auxo rejects bad input with errors that name the input, and changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use ergon_core::auxo::{Auxo, AuxoConfig, AuxoError, ImprovedTest, SplitRule};

fn engine() -> Auxo {
    Auxo::new(AuxoConfig::new(10, 0.5)).expect("valid")
}

#[test]
fn bad_steps_are_rejected_and_change_nothing() {
    let mut a = engine();
    let before = a.clone();
    let cases: Vec<(usize, Vec<u32>, Vec<f32>, usize, &str)> = vec![
        (0, vec![], vec![], 2, "at least one participant"),
        (3, vec![1], vec![0.0, 0.0], 2, "unknown cohort 3"),
        (
            0,
            vec![1, 2],
            vec![0.0; 3],
            2,
            "3 values for 2 participants",
        ),
        (0, vec![1, 2], vec![], 0, "dimension 0"),
        (0, vec![1, 12], vec![0.0; 4], 2, "unknown client id 12"),
        (0, vec![1, 1], vec![0.0; 4], 2, "client 1 appears twice"),
        (
            0,
            vec![1, 2],
            vec![0.0, 0.0, f32::NAN, 0.0],
            2,
            "client 2: value 0 is NaN",
        ),
        (
            0,
            vec![1, 2],
            vec![0.0, f32::INFINITY, 0.0, 0.0],
            2,
            "value 1 is inf",
        ),
    ];
    for (cohort, ids, ups, dim, want) in cases {
        let err = a.step(cohort, &ids, &ups, dim).expect_err(want);
        let msg = err.to_string();
        assert!(msg.contains(want), "{msg:?} lacks {want:?}");
        assert_eq!(a.assignment(), before.assignment());
        assert_eq!(a.entry(1, 0), before.entry(1, 0));
    }
}

#[test]
fn too_few_reporters_do_nothing() {
    let mut a = engine();
    let out = a.step(0, &[1, 2, 3], &[0.0, 1.0, 2.0], 1).expect("valid");
    assert!(!out.ran);
    assert_eq!(a.round(0), Ok(0));
    assert_eq!(a.entry(1, 0).expect("entry").n_trained, 0);
}

#[test]
fn bad_configs_are_rejected() {
    let bad = |f: &dyn Fn(&mut AuxoConfig), field: &str| {
        let mut cfg = AuxoConfig::new(10, 0.5);
        f(&mut cfg);
        match Auxo::new(cfg) {
            Err(AuxoError::InvalidConfig { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: {other:?}"),
        }
    };
    bad(&|c| c.clients = 0, "clients");
    bad(&|c| c.train_ratio = 0.0, "train_ratio");
    bad(&|c| c.train_ratio = f64::NAN, "train_ratio");
    bad(&|c| c.epsilon = 1.5, "epsilon");
    bad(&|c| c.min_reporters = 1, "min_reporters");
    bad(&|c| c.base_reward = -1.0, "base_reward");
    bad(
        &|c| {
            c.split_rule = SplitRule::Improved(ImprovedTest {
                alpha: 0.0,
                ..ImprovedTest::default()
            })
        },
        "split_rule.alpha",
    );
}

#[test]
fn lookups_name_the_bad_id() {
    let a = engine();
    assert_eq!(
        a.cohort_of(10).expect_err("unknown").to_string(),
        "unknown client id 10 (the population has ids 0..10)"
    );
    assert!(a.entry(0, 1).is_err());
    assert!(a.half_counts(2).is_err());
}
