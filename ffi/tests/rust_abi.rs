//! The C ABI called from Rust: the same facts the C, C++ and Python tests assert, and the
//! error model call by call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ptr::{null, null_mut};

use common::{
    check_calls, created, fails, fixture, frontier_error, option, pipeline_problem, plan_stage,
    read_items, read_value, solved, stage0_profiles,
};
use ergon::*;

mod common;

#[test]
fn fixture_frontiers_through_the_abi() {
    for (name, points, first, last) in [("a100_s2_m4", 97, 431, 335), ("a100_s4_m8", 174, 896, 723)]
    {
        let f = solved(name);
        let n = read_value(|n| unsafe { ergon_perseus_frontier_num_points(f, n) });
        let summary = read_value(|s| unsafe { ergon_perseus_frontier_summary(f, s) });
        assert_eq!(n, points, "{name}");
        assert!(summary.complete);
        assert_eq!(summary.num_points, points);
        let all = read_items(|b, c, l| unsafe { ergon_perseus_frontier_points(f, b, c, l) });
        assert_eq!(all.len(), n);
        assert_eq!(all[0].quanta, first);
        assert_eq!(all[n - 1].quanta, last);
        assert!((summary.t_min_s - last as f64 * 0.001).abs() < 1e-12);
        unsafe { ergon_perseus_frontier_free(f) };
    }
}

#[test]
fn arrays_and_json_give_the_same_frontier() {
    let json = fixture("a100_s2_m4");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let doc_profiles = doc["profiles"].as_array().unwrap();
    let value = |o: &serde_json::Value, key: &str| o[key].as_f64().unwrap();
    let options: Vec<Vec<ergon_perseus_option>> = doc_profiles
        .iter()
        .map(|p| {
            let measured = p["options"].as_array().unwrap().iter();
            let read = |o| {
                option(
                    value(o, "freq_mhz") as u32,
                    value(o, "time_s"),
                    value(o, "energy_j"),
                )
            };
            measured.map(read).collect()
        })
        .collect();
    let profiles: Vec<ergon_perseus_profile> = doc_profiles
        .iter()
        .zip(&options)
        .map(|(p, o)| ergon_perseus_profile {
            stage: p["stage"].as_u64().unwrap() as u32,
            kind: if p["kind"] == "forward" {
                ERGON_PERSEUS_KIND_FORWARD
            } else {
                ERGON_PERSEUS_KIND_BACKWARD
            },
            options: o.as_ptr(),
            num_options: o.len(),
            fit: null(),
        })
        .collect();
    let problem = pipeline_problem(&profiles, 2, 4, 83.64);
    let mut a = null_mut();
    let a = created(unsafe { ergon_perseus_frontier_new(&problem, &mut a) }, a).unwrap();
    assert_eq!(unsafe { ergon_perseus_frontier_solve(a) }, ergon_status::Ok);
    let b = solved("a100_s2_m4");
    let num_points = |f| read_value(|n| unsafe { ergon_perseus_frontier_num_points(f, n) });
    assert_eq!(num_points(a), num_points(b));
    for i in 0..num_points(a) {
        let point = |f| read_value(|p| unsafe { ergon_perseus_frontier_point(f, i, p) });
        let (pa, pb) = (point(a), point(b));
        assert_eq!(pa.quanta, pb.quanta);
        assert_eq!(pa.energy_j, pb.energy_j);
    }
    unsafe {
        ergon_perseus_frontier_free(a);
        ergon_perseus_frontier_free(b);
    }
}

#[test]
fn plans_through_the_abi() {
    let f = solved("a100_s4_m8");
    for (at, deadline) in [
        (ERGON_PERSEUS_PLAN_FASTEST, 0.0),
        (ERGON_PERSEUS_PLAN_T_STAR, 0.0),
        (ERGON_PERSEUS_PLAN_DEADLINE, 0.8),
    ] {
        let mut plan = null_mut();
        let status = unsafe { ergon_perseus_frontier_plan(f, at, deadline, &mut plan) };
        let plan = created(status, plan).unwrap();
        let s = read_value(|s| unsafe { ergon_perseus_plan_summary(plan, s) });
        assert_eq!(s.num_stages, 4);
        let (kinds, freqs) = plan_stage(plan, 0);
        // Stage 0 of 4×8 1F1B: F F F F B F B F B F B F B B B B.
        let expected = [0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1];
        assert_eq!(kinds, expected);
        assert!(freqs.iter().all(|&f| (810..=1410).contains(&f)));
        if at == ERGON_PERSEUS_PLAN_DEADLINE {
            assert!(s.time_s <= 0.8 + 1e-12);
        }
        unsafe { ergon_perseus_plan_free(plan) };
    }
    unsafe { ergon_perseus_frontier_free(f) };
}

#[test]
fn errors_call_by_call() {
    let f = solved("a100_s2_m4");
    let mut n = 0;
    let mut p = ergon_perseus_point::default();
    let mut plan = null_mut();
    let (n_ptr, p_ptr, plan_ptr): (
        *mut usize,
        *mut ergon_perseus_point,
        *mut *mut ergon_perseus_plan,
    ) = (&mut n, &mut p, &mut plan);
    let plan_at = |at: u32, deadline_s: f64| unsafe {
        ergon_perseus_frontier_plan(f, at, deadline_s, plan_ptr)
    };
    let deadline = ERGON_PERSEUS_PLAN_DEADLINE;
    let invalid = ergon_status::InvalidArgument;
    // SAFETY (all calls): the handle and outputs above, or NULL where a case says so.
    check_calls(&[
        // NULL handles and outputs.
        (
            ergon_status::NullPointer,
            "frontier handle is NULL",
            &|| unsafe { ergon_perseus_frontier_num_points(null(), n_ptr) },
        ),
        (ergon_status::NullPointer, "output pointer", &|| unsafe {
            ergon_perseus_frontier_num_points(f, null_mut())
        }),
        // Double solve, then the handle still works.
        (ergon_status::InvalidState, "already solved", &|| unsafe {
            ergon_perseus_frontier_solve(f)
        }),
        (ergon_status::Ok, "", &|| unsafe {
            ergon_perseus_frontier_num_points(f, n_ptr)
        }),
        // Out of range, bad selector, deadline too short, NaN deadline.
        (ergon_status::OutOfRange, "point 10000", &|| unsafe {
            ergon_perseus_frontier_point(f, 10_000, p_ptr)
        }),
        (invalid, "unknown plan selector 7", &|| plan_at(7, 0.0)),
        (ergon_status::Deadline, "shorter than the fastest", &|| {
            plan_at(deadline, 0.1)
        }),
        (invalid, "not a finite", &|| plan_at(deadline, f64::NAN)),
    ]);
    assert!(plan.is_null(), "outputs are written only on success");
    // The handle keeps the message of its last failure.
    assert!(
        frontier_error(f).contains("ergon_perseus_frontier_plan: "),
        "{}",
        frontier_error(f)
    );
    // A buffer too small for the message: the needed length comes back.
    let mut len = 0;
    let mut small = [0u8; 4];
    let status =
        unsafe { ergon_perseus_frontier_last_error(f, small.as_mut_ptr().cast(), 4, &mut len) };
    assert_eq!(status, ergon_status::BufferTooSmall);
    assert!(len > 4);
    // A plan handle where a frontier is expected.
    let plan = created(plan_at(ERGON_PERSEUS_PLAN_FASTEST, 0.0), plan).unwrap();
    check_calls(&[(
        ergon_status::NullPointer,
        "not a live frontier handle",
        &|| unsafe { ergon_perseus_frontier_num_points(plan.cast(), n_ptr) },
    )]);
    unsafe {
        ergon_perseus_plan_free(plan);
        // Freeing NULL is a no-op.
        ergon_perseus_frontier_free(null_mut());
        ergon_perseus_plan_free(null_mut());
        ergon_perseus_frontier_free(f);
    }
}

#[test]
fn bad_documents_and_arrays() {
    let from_json = |bytes: &[u8]| {
        let mut f = null_mut();
        let status = unsafe {
            ergon_perseus_frontier_from_instance_json(bytes.as_ptr().cast(), bytes.len(), &mut f)
        };
        created(status, f)
    };
    fails(
        from_json(b"{not json"),
        ergon_status::Parse,
        &["perseus-instance/v1"],
    );
    fails(
        from_json(br#"{"schema":"ergon-plan/v1"}"#),
        ergon_status::Schema,
        &["perseus-instance/v1"],
    );
    fails(from_json(&[0xff, 0xfe]), ergon_status::Parse, &["UTF-8"]);
    let mut f = null_mut();
    let status = unsafe { ergon_perseus_frontier_from_instance_json(null(), 0, &mut f) };
    fails(created(status, f), ergon_status::NullPointer, &["`json`"]);
    // Arrays: NaN time, unknown kind, NULL options with a length, zero profiles, NULL problem.
    let nan = [option(1000, f64::NAN, 1.0)];
    let [forward, _] = stage0_profiles(&nan, &nan);
    type Change = fn(&mut ergon_perseus_profile, &mut ergon_perseus_problem);
    let cases: [(Change, ergon_status, &str); 4] = [
        (|_, _| {}, ergon_status::InvalidProblem, "time_s"),
        (
            |profile, _| profile.kind = 7,
            ergon_status::InvalidArgument,
            "unknown kind 7",
        ),
        (
            |profile, _| profile.options = null(),
            ergon_status::NullPointer,
            "options",
        ),
        (
            |_, problem| problem.num_profiles = 0,
            ergon_status::InvalidProblem,
            "no profile",
        ),
    ];
    for (change, status, needle) in cases {
        let mut profile = forward;
        let mut problem = ergon_perseus_problem {
            num_profiles: 1,
            ..pipeline_problem(&[], 1, 1, 80.0)
        };
        change(&mut profile, &mut problem);
        problem.profiles = &profile;
        let mut f = null_mut();
        let got = created(unsafe { ergon_perseus_frontier_new(&problem, &mut f) }, f);
        fails(got, status, &[needle]);
    }
    let mut f = null_mut();
    let status = unsafe { ergon_perseus_frontier_new(null(), &mut f) };
    fails(
        created(status, f),
        ergon_status::NullPointer,
        &["`problem`"],
    );
}

/// Issue 12: sizes from the caller beyond core's limits are a status, checked before anything
/// of that size is allocated (before: one list per stage for `num_stages` = 4·10⁹, the solve of
/// a pipeline at the old computation limit, a 2 GiB cost table, and a copy of whatever length
/// the caller claimed, each an abort of the host process).
#[test]
fn sizes_beyond_the_limits_are_a_status() {
    let opts = [option(1410, 0.020, 10.0), option(990, 0.030, 6.0)];
    let profiles = stage0_profiles(&opts, &opts);
    let nodes =
        [ERGON_PERSEUS_KIND_FORWARD, ERGON_PERSEUS_KIND_BACKWARD].map(|kind| ergon_perseus_node {
            stage: 0,
            kind,
            microbatch: 0,
        });
    let edges = [ergon_perseus_edge { from: 0, to: 1 }];
    let base = ergon_perseus_problem {
        nodes: nodes.as_ptr(),
        num_nodes: nodes.len(),
        edges: edges.as_ptr(),
        num_edges: edges.len(),
        num_stages: 1,
        ..pipeline_problem(&profiles, 1, 1, 80.0)
    };
    fn new(
        problem: &ergon_perseus_problem,
    ) -> Result<*mut ergon_perseus_frontier, (ergon_status, String)> {
        let mut f = null_mut();
        created(unsafe { ergon_perseus_frontier_new(problem, &mut f) }, f)
    }
    fn refused(problem: &ergon_perseus_problem, needles: &[&str]) {
        fails(new(problem), ergon_status::InvalidProblem, needles);
    }
    // The base is valid: one stage, a plan with one list.
    unsafe { ergon_perseus_frontier_free(new(&base).unwrap()) };
    refused(
        &ergon_perseus_problem {
            num_stages: 4_000_000_000,
            ..base
        },
        &["num_stages = 4000000000", "MAX_STAGES"],
    );
    // Exactly the old limit of 2²⁴ computations: 8 stages × 1 048 576 microbatches.
    refused(
        &pipeline_problem(&profiles, 8, 1 << 20, 80.0),
        &["16777216", "MAX_COMPUTATIONS"],
    );
    // Claimed lengths far beyond the limits are refused before the arrays are read.
    refused(
        &ergon_perseus_problem {
            num_profiles: usize::MAX / 1024,
            ..base
        },
        &["num_profiles", "MAX_PROFILES"],
    );
    refused(
        &ergon_perseus_problem {
            num_nodes: 1 << 40,
            ..base
        },
        &["num_nodes", "MAX_COMPUTATIONS"],
    );
    let huge = [ergon_perseus_profile {
        num_options: 1 << 40,
        ..profiles[0]
    }];
    refused(
        &ergon_perseus_problem {
            profiles: huge.as_ptr(),
            num_profiles: 1,
            ..base
        },
        &["profiles[0].num_options", "MAX_OPTIONS_PER_PROFILE"],
    );
    // τ = 1 ns and options of 1 ms and 0.26 s: ~2²⁸ quanta, a 2 GiB cost table before.
    let wide = [option(1410, 1e-3, 10.0), option(990, 0.26, 5.0)];
    let wide_profiles = stage0_profiles(&wide, &wide);
    let problem = ergon_perseus_problem {
        unit_time_s: 1e-9,
        profiles: wide_profiles.as_ptr(),
        ..base
    };
    let f = new(&problem).unwrap();
    assert_eq!(
        unsafe { ergon_perseus_frontier_solve(f) },
        ergon_status::InvalidProblem
    );
    let msg = frontier_error(f);
    assert!(msg.contains("MAX_COST_CELLS"), "{msg}");
    unsafe { ergon_perseus_frontier_free(f) };
}
