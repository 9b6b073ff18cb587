//! The C ABI called from Rust: the same facts the C, C++ and Python tests assert, and the
//! error model call by call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::CStr;
use std::ptr::{null, null_mut};

use ergon::*;
use common::{read_text, thread_error};

mod common;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../shared/data/perseus/{name}.instance.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn solved(name: &str) -> *mut ergon_perseus_frontier {
    let json = fixture(name);
    let mut f = null_mut();
    unsafe {
        assert_eq!(
            ergon_perseus_frontier_from_instance_json(json.as_ptr().cast(), json.len(), &mut f),
            ergon_status::Ok
        );
        assert_eq!(ergon_perseus_frontier_solve(f), ergon_status::Ok);
    }
    f
}

fn frontier_error(f: *const ergon_perseus_frontier) -> String {
    read_text(|buf, cap, len| unsafe { ergon_perseus_frontier_last_error(f, buf, cap, len) })
}

#[test]
fn fixture_frontiers_through_the_abi() {
    for (name, points, first, last) in [("a100_s2_m4", 97, 431, 335), ("a100_s4_m8", 174, 896, 723)]
    {
        let f = solved(name);
        let mut n = 0;
        let mut summary = ergon_perseus_summary::default();
        unsafe {
            assert_eq!(
                ergon_perseus_frontier_num_points(f, &mut n),
                ergon_status::Ok
            );
            assert_eq!(
                ergon_perseus_frontier_summary(f, &mut summary),
                ergon_status::Ok
            );
        }
        assert_eq!(n, points, "{name}");
        assert!(summary.complete);
        assert_eq!(summary.num_points, points);
        let mut all = vec![ergon_perseus_point::default(); n];
        let mut len = 0;
        unsafe {
            assert_eq!(
                ergon_perseus_frontier_points(f, all.as_mut_ptr(), all.len(), &mut len),
                ergon_status::Ok
            );
        }
        assert_eq!(len, n);
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
    let options: Vec<Vec<ergon_perseus_option>> = doc_profiles
        .iter()
        .map(|p| {
            p["options"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| ergon_perseus_option {
                    freq_mhz: o["freq_mhz"].as_u64().unwrap() as u32,
                    time_s: o["time_s"].as_f64().unwrap(),
                    energy_j: o["energy_j"].as_f64().unwrap(),
                })
                .collect()
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
    let problem = ergon_perseus_problem {
        unit_time_s: 0.001,
        p_blocking_w: 83.64,
        effective_energy: ERGON_PERSEUS_EFFECTIVE_ENERGY_AFTER_FILTER,
        profiles: profiles.as_ptr(),
        num_profiles: profiles.len(),
        pipeline: ergon_perseus_pipeline {
            schedule: ERGON_PERSEUS_SCHEDULE_1F1B,
            num_stages: 2,
            num_microbatches: 4,
            virtual_stages: 0,
        },
        nodes: null(),
        num_nodes: 0,
        edges: null(),
        num_edges: 0,
        num_stages: 0,
    };
    let mut a = null_mut();
    unsafe {
        assert_eq!(
            ergon_perseus_frontier_new(&problem, &mut a),
            ergon_status::Ok,
            "{}",
            thread_error()
        );
        assert_eq!(ergon_perseus_frontier_solve(a), ergon_status::Ok);
    }
    let b = solved("a100_s2_m4");
    let (mut na, mut nb) = (0, 0);
    unsafe {
        ergon_perseus_frontier_num_points(a, &mut na);
        ergon_perseus_frontier_num_points(b, &mut nb);
    }
    assert_eq!(na, nb);
    for i in 0..na {
        let (mut pa, mut pb) = (
            ergon_perseus_point::default(),
            ergon_perseus_point::default(),
        );
        unsafe {
            ergon_perseus_frontier_point(a, i, &mut pa);
            ergon_perseus_frontier_point(b, i, &mut pb);
        }
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
        let mut s = ergon_perseus_plan_info::default();
        unsafe {
            assert_eq!(
                ergon_perseus_frontier_plan(f, at, deadline, &mut plan),
                ergon_status::Ok
            );
            assert_eq!(ergon_perseus_plan_summary(plan, &mut s), ergon_status::Ok);
        }
        assert_eq!(s.num_stages, 4);
        let mut len = 0;
        unsafe {
            assert_eq!(
                ergon_perseus_plan_stage(plan, 0, null_mut(), null_mut(), 0, &mut len),
                ergon_status::Ok
            )
        };
        assert_eq!(len, 16);
        let (mut kinds, mut freqs) = (vec![9u32; len], vec![0u32; len]);
        unsafe {
            assert_eq!(
                ergon_perseus_plan_stage(
                    plan,
                    0,
                    kinds.as_mut_ptr(),
                    freqs.as_mut_ptr(),
                    len,
                    &mut len
                ),
                ergon_status::Ok
            );
        }
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
    let mut plan = null_mut();
    unsafe {
        // NULL handles and outputs.
        assert_eq!(
            ergon_perseus_frontier_num_points(null(), &mut n),
            ergon_status::NullPointer
        );
        assert!(thread_error().contains("frontier handle is NULL"));
        assert_eq!(
            ergon_perseus_frontier_num_points(f, null_mut()),
            ergon_status::NullPointer
        );
        assert!(frontier_error(f).contains("output pointer"));
        // Double solve, then the handle still works.
        assert_eq!(ergon_perseus_frontier_solve(f), ergon_status::InvalidState);
        assert!(frontier_error(f).contains("already solved"));
        assert_eq!(
            ergon_perseus_frontier_num_points(f, &mut n),
            ergon_status::Ok
        );
        // Out of range, bad selector, deadline too short, NaN deadline.
        let mut p = ergon_perseus_point::default();
        assert_eq!(
            ergon_perseus_frontier_point(f, 10_000, &mut p),
            ergon_status::OutOfRange
        );
        assert_eq!(
            ergon_perseus_frontier_plan(f, 7, 0.0, &mut plan),
            ergon_status::InvalidArgument
        );
        assert_eq!(
            ergon_perseus_frontier_plan(f, ERGON_PERSEUS_PLAN_DEADLINE, 0.1, &mut plan),
            ergon_status::Deadline
        );
        assert!(frontier_error(f).contains("shorter than the fastest"));
        assert_eq!(
            ergon_perseus_frontier_plan(f, ERGON_PERSEUS_PLAN_DEADLINE, f64::NAN, &mut plan),
            ergon_status::InvalidArgument
        );
        assert!(plan.is_null(), "outputs are written only on success");
        // A buffer too small for the message: the needed length comes back.
        let mut len = 0;
        let mut small = [0u8; 4];
        assert_eq!(
            ergon_perseus_frontier_last_error(f, small.as_mut_ptr().cast(), small.len(), &mut len),
            ergon_status::BufferTooSmall
        );
        assert!(len > 4);
        // A plan handle where a frontier is expected.
        assert_eq!(
            ergon_perseus_frontier_plan(f, ERGON_PERSEUS_PLAN_FASTEST, 0.0, &mut plan),
            ergon_status::Ok
        );
        assert_eq!(
            ergon_perseus_frontier_num_points(plan.cast(), &mut n),
            ergon_status::NullPointer
        );
        assert!(thread_error().contains("not a live frontier handle"));
        ergon_perseus_plan_free(plan);
        // Freeing NULL is a no-op.
        ergon_perseus_frontier_free(null_mut());
        ergon_perseus_plan_free(null_mut());
        ergon_perseus_frontier_free(f);
    }
}

#[test]
fn bad_documents_and_arrays() {
    let mut f = null_mut();
    unsafe {
        let bad = "{not json";
        assert_eq!(
            ergon_perseus_frontier_from_instance_json(bad.as_ptr().cast(), bad.len(), &mut f),
            ergon_status::Parse
        );
        let other = r#"{"schema":"ergon-plan/v1"}"#;
        assert_eq!(
            ergon_perseus_frontier_from_instance_json(other.as_ptr().cast(), other.len(), &mut f),
            ergon_status::Schema
        );
        assert!(thread_error().contains("perseus-instance/v1"));
        assert_eq!(
            ergon_perseus_frontier_from_instance_json(null(), 0, &mut f),
            ergon_status::NullPointer
        );
        let invalid_utf8 = [0xffu8, 0xfe];
        assert_eq!(
            ergon_perseus_frontier_from_instance_json(invalid_utf8.as_ptr().cast(), 2, &mut f),
            ergon_status::Parse
        );
        assert!(f.is_null());
        // Arrays: NaN time, unknown kind, NULL options with a length, zero profiles.
        let nan = [ergon_perseus_option {
            freq_mhz: 1000,
            time_s: f64::NAN,
            energy_j: 1.0,
        }];
        let mut profile = ergon_perseus_profile {
            stage: 0,
            kind: ERGON_PERSEUS_KIND_FORWARD,
            options: nan.as_ptr(),
            num_options: 1,
            fit: null(),
        };
        let mut problem = ergon_perseus_problem {
            unit_time_s: 0.001,
            p_blocking_w: 80.0,
            effective_energy: 0,
            profiles: &profile,
            num_profiles: 1,
            pipeline: ergon_perseus_pipeline {
                schedule: ERGON_PERSEUS_SCHEDULE_1F1B,
                num_stages: 1,
                num_microbatches: 1,
                virtual_stages: 0,
            },
            nodes: null(),
            num_nodes: 0,
            edges: null(),
            num_edges: 0,
            num_stages: 0,
        };
        assert_eq!(
            ergon_perseus_frontier_new(&problem, &mut f),
            ergon_status::InvalidProblem
        );
        assert!(thread_error().contains("time_s"), "{}", thread_error());
        profile.kind = 7;
        problem.profiles = &profile;
        assert_eq!(
            ergon_perseus_frontier_new(&problem, &mut f),
            ergon_status::InvalidArgument
        );
        profile.kind = ERGON_PERSEUS_KIND_FORWARD;
        profile.options = null();
        problem.profiles = &profile;
        assert_eq!(
            ergon_perseus_frontier_new(&problem, &mut f),
            ergon_status::NullPointer
        );
        problem.num_profiles = 0;
        assert_eq!(
            ergon_perseus_frontier_new(&problem, &mut f),
            ergon_status::InvalidProblem
        );
        assert!(thread_error().contains("no profile"), "{}", thread_error());
        assert_eq!(
            ergon_perseus_frontier_new(null(), &mut f),
            ergon_status::NullPointer
        );
        assert!(f.is_null());
    }
}

#[test]
fn status_strings_cover_every_code() {
    for code in 0..=12 {
        let s = unsafe { CStr::from_ptr(ergon_status_str(code)) }
            .to_str()
            .unwrap();
        assert_ne!(s, "unknown status", "code {code}");
    }
    assert_eq!(
        unsafe { CStr::from_ptr(ergon_status_str(-3)) }
            .to_str()
            .unwrap(),
        "unknown status"
    );
    assert_eq!(
        unsafe { CStr::from_ptr(ergon_version()) }.to_str().unwrap(),
        env!("CARGO_PKG_VERSION")
    );
}

/// Issue 12: sizes from the caller beyond core's limits are a status, checked before anything
/// of that size is allocated (before: one list per stage for `num_stages` = 4·10⁹, the solve of
/// a pipeline at the old computation limit, a 2 GiB cost table, and a copy of whatever length
/// the caller claimed, each an abort of the host process).
#[test]
fn sizes_beyond_the_limits_are_a_status() {
    let opts = [
        ergon_perseus_option {
            freq_mhz: 1410,
            time_s: 0.020,
            energy_j: 10.0,
        },
        ergon_perseus_option {
            freq_mhz: 990,
            time_s: 0.030,
            energy_j: 6.0,
        },
    ];
    let profiles = [ERGON_PERSEUS_KIND_FORWARD, ERGON_PERSEUS_KIND_BACKWARD].map(|kind| {
        ergon_perseus_profile {
            stage: 0,
            kind,
            options: opts.as_ptr(),
            num_options: opts.len(),
            fit: null(),
        }
    });
    let nodes = [
        ergon_perseus_node {
            stage: 0,
            kind: ERGON_PERSEUS_KIND_FORWARD,
            microbatch: 0,
        },
        ergon_perseus_node {
            stage: 0,
            kind: ERGON_PERSEUS_KIND_BACKWARD,
            microbatch: 0,
        },
    ];
    let edges = [ergon_perseus_edge { from: 0, to: 1 }];
    let base = ergon_perseus_problem {
        unit_time_s: 0.001,
        p_blocking_w: 80.0,
        effective_energy: ERGON_PERSEUS_EFFECTIVE_ENERGY_AFTER_FILTER,
        profiles: profiles.as_ptr(),
        num_profiles: profiles.len(),
        pipeline: ergon_perseus_pipeline {
            schedule: ERGON_PERSEUS_SCHEDULE_1F1B,
            num_stages: 1,
            num_microbatches: 1,
            virtual_stages: 0,
        },
        nodes: nodes.as_ptr(),
        num_nodes: nodes.len(),
        edges: edges.as_ptr(),
        num_edges: edges.len(),
        num_stages: 1,
    };
    let refused = |problem: &ergon_perseus_problem, needles: &[&str]| {
        let mut f = null_mut();
        let status = unsafe { ergon_perseus_frontier_new(problem, &mut f) };
        let msg = thread_error();
        assert_eq!(status, ergon_status::InvalidProblem, "{msg}");
        assert!(f.is_null());
        for n in needles {
            assert!(msg.contains(n), "{msg:?} does not mention {n:?}");
        }
    };
    // The base is valid: one stage, a plan with one list.
    let mut f = null_mut();
    unsafe {
        assert_eq!(ergon_perseus_frontier_new(&base, &mut f), ergon_status::Ok);
        ergon_perseus_frontier_free(f);
    }
    refused(
        &ergon_perseus_problem {
            num_stages: 4_000_000_000,
            ..base
        },
        &["num_stages = 4000000000", "MAX_STAGES"],
    );
    // Exactly the old limit of 2²⁴ computations: 8 stages × 1 048 576 microbatches.
    refused(
        &ergon_perseus_problem {
            nodes: null(),
            num_nodes: 0,
            pipeline: ergon_perseus_pipeline {
                schedule: ERGON_PERSEUS_SCHEDULE_1F1B,
                num_stages: 8,
                num_microbatches: 1 << 20,
                virtual_stages: 0,
            },
            ..base
        },
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
    let wide = [
        ergon_perseus_option {
            freq_mhz: 1410,
            time_s: 1e-3,
            energy_j: 10.0,
        },
        ergon_perseus_option {
            freq_mhz: 990,
            time_s: 0.26,
            energy_j: 5.0,
        },
    ];
    let wide_profiles = profiles.map(|p| ergon_perseus_profile {
        options: wide.as_ptr(),
        ..p
    });
    let problem = ergon_perseus_problem {
        unit_time_s: 1e-9,
        profiles: wide_profiles.as_ptr(),
        ..base
    };
    let mut f = null_mut();
    unsafe {
        assert_eq!(
            ergon_perseus_frontier_new(&problem, &mut f),
            ergon_status::Ok
        );
        assert_eq!(
            ergon_perseus_frontier_solve(f),
            ergon_status::InvalidProblem
        );
        let msg = frontier_error(f);
        assert!(msg.contains("MAX_COST_CELLS"), "{msg}");
        ergon_perseus_frontier_free(f);
    }
}
