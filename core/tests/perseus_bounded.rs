//! Bounded solves (issue 19): every `SolveOptions` bound and a cancel give a
//! prefix of the whole frontier, point for point and change for change, and stops where its
//! rule says; the work counts add up.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ergon_core::perseus::synthetic::{A100_LIKE, H100_LIKE, Synthetic};
use ergon_core::perseus::{
    self, CostModel, Frontier, PhaseStats, Pipeline, Problem, SolveOptions, Stop, Termination,
};
use proptest::prelude::*;

/// `part` is the first `part.points.len()` points of `full`, bit for bit, with the same changes.
fn assert_prefix(full: &Frontier, part: &Frontier) -> Result<(), TestCaseError> {
    prop_assert!(part.points.len() <= full.points.len());
    prop_assert_eq!(part.start, full.start);
    for (i, (p, q)) in part.points.iter().zip(&full.points).enumerate() {
        prop_assert_eq!(p, q, "point {}", i);
        prop_assert_eq!(part.changes(i).unwrap(), full.changes(i).unwrap());
    }
    Ok(())
}

fn solve(problem: &Problem, stop: Stop) -> Frontier {
    perseus::solve_with_options(
        problem,
        SolveOptions {
            stop,
            ..SolveOptions::default()
        },
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn bounds_give_prefixes_that_stop_where_asked(
        stages in 1u32..=4,
        microbatches in 1u32..=8,
        h100 in any::<bool>(),
        seed in any::<u64>(),
        cut_at in 0.0f64..1.0,
    ) {
        let spec = Synthetic {
            gpu: if h100 { H100_LIKE } else { A100_LIKE },
            pipeline: Pipeline::one_f_one_b(stages, microbatches),
            fwd_s_at_fmax: 0.012,
            unit_time_s: 0.001,
            seed,
        };
        let mut problem = spec.problem().unwrap();
        // Fit once: the four solves below then share the models and skip the 54-start fits.
        let specs = perseus::specs(&problem).unwrap();
        for (profile, s) in problem.profiles.iter_mut().zip(&specs) {
            if let CostModel::Exponential(model) = s.model {
                profile.fit = Some(model);
            }
        }
        let full = perseus::solve(&problem).unwrap();
        prop_assume!(full.termination == Termination::ReachedMinimum && full.points.len() >= 2);
        let n = full.points.len();
        let tau = full.unit_time_s;

        // A time between two points: the first point at or below it ends the frontier.
        let k = ((n - 1) as f64 * cut_at) as usize;
        let time_s = full.points[k].time_s + 0.4 * tau;
        let mut totals = Vec::new();
        let mut record = |_: u64, total: u64| {
            totals.push(total);
            true
        };
        let part = perseus::solve_with_options(
            &problem,
            SolveOptions {
                stop: Stop::AtTime { time_s },
                progress: Some(&mut record),
                ..SolveOptions::default()
            },
        )
        .unwrap();
        assert_prefix(&full, &part)?;
        // The progress total is the points down to the stop time.
        prop_assert!(totals.iter().all(|&t| t == (k + 1) as u64), "{:?}", totals);
        prop_assert_eq!(part.points.len(), k + 1);
        prop_assert!(part.points[k].time_s <= time_s);
        if k + 1 < n {
            prop_assert_eq!(
                part.termination,
                Termination::Stopped { at_quanta: part.points[k].quanta }
            );
        }

        // T*: the same state as on the whole frontier, and at most one point past it.
        let part = solve(&problem, Stop::AtMinEnergy);
        assert_prefix(&full, &part)?;
        let star = full.min_energy();
        prop_assert_eq!(part.min_energy(), star);
        prop_assert!(part.points.len() <= star.map_or(0, |i| i + 1) + 1);

        // Cancel after `k + 1` points; the counts add up.
        let mut stats = PhaseStats::default();
        let mut calls = 0u64;
        let mut progress = |done: u64, total: u64| {
            calls += 1;
            assert_eq!((done, total), (calls, n as u64));
            done < (k + 1) as u64
        };
        let part = perseus::solve_with_options(
            &problem,
            SolveOptions {
                progress: Some(&mut progress),
                stats: Some(&mut stats),
                ..SolveOptions::default()
            },
        )
        .unwrap();
        assert_prefix(&full, &part)?;
        prop_assert_eq!(part.points.len(), k + 1);
        if k + 1 < n {
            prop_assert_eq!(
                part.termination,
                Termination::Cancelled { at_quanta: part.points[k].quanta }
            );
        }
        prop_assert_eq!(stats.points, (k + 1) as u64);
        let changes: usize = (0..=k).map(|i| part.changes(i).unwrap().len()).sum();
        prop_assert_eq!(stats.changes, changes as u64);
        prop_assert!(stats.critical_computations >= stats.points);
    }
}

#[test]
fn a_bad_stop_time_is_an_error() {
    let problem = Synthetic {
        gpu: A100_LIKE,
        pipeline: Pipeline::one_f_one_b(2, 2),
        fwd_s_at_fmax: 0.012,
        unit_time_s: 0.001,
        seed: 1,
    }
    .problem()
    .unwrap();
    for time_s in [f64::NAN, -1.0, f64::INFINITY] {
        let e = perseus::solve_with_options(
            &problem,
            SolveOptions {
                stop: Stop::AtTime { time_s },
                ..SolveOptions::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(e, perseus::FrontierError::InvalidDeadline(_)),
            "{e}"
        );
    }
}
