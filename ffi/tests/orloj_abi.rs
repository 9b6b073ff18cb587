//! The Orloj batcher through the C ABI, called from Rust: the score oracle of the reference
//! notes (Part C) with and without the early drop, EDF and FIFO orders, completions changing
//! decisions, the buffer-too-small contract, bad input call by call, `orloj-sim/v1` documents
//! and the simulator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ptr::{null, null_mut};

use common::{check_calls, frontier, next_batch, read_text, thread_error};
use ergon::*;

mod common;

const MS: f64 = 1e-3;

/// App A of the notes: 10 ms w.p. ½, 30 ms w.p. ½.
fn app_a() -> ergon_orloj_app {
    ergon_orloj_app {
        kind: ERGON_ORLOJ_EXEC_BIMODAL,
        low_s: 10.0 * MS,
        high_s: 30.0 * MS,
        p_low: 0.5,
        ..constant("A", 0.0)
    }
}

/// A constant law of `value_s`, SLO 100 ms.
fn constant(name: &'static str, value_s: f64) -> ergon_orloj_app {
    ergon_orloj_app {
        name: name.as_ptr().cast(),
        name_len: name.len(),
        slo_s: 0.1,
        kind: ERGON_ORLOJ_EXEC_CONSTANT,
        value_s,
        low_s: 0.0,
        high_s: 0.0,
        p_low: 0.0,
        mean_s: 0.0,
        cv: 0.0,
        samples_s: null(),
        num_samples: 0,
    }
}

/// Options on a 1-ms grid up to `span_ms` (so that the notes' times are grid points).
fn options(policy: u32, span_ms: f64) -> ergon_orloj_batcher_options {
    ergon_orloj_batcher_options {
        policy,
        grid_span_s: span_ms * MS,
        bins: span_ms as usize + 1,
        ..ergon_orloj_batcher_options_default()
    }
}

fn new(
    apps: &[ergon_orloj_app],
    max_batch: usize,
    o: &ergon_orloj_batcher_options,
) -> *mut ergon_orloj_batcher {
    let mut b = null_mut();
    let status =
        unsafe { ergon_orloj_batcher_new(apps.as_ptr(), apps.len(), null(), max_batch, o, &mut b) };
    assert_eq!(status, ergon_status::Ok, "{}", thread_error());
    assert!(!b.is_null());
    b
}

/// The status of a failed `ergon_orloj_batcher_new` and the thread's message.
fn new_fails(
    apps: &[ergon_orloj_app],
    scale: Option<&[f64]>,
    max_batch: usize,
    o: &ergon_orloj_batcher_options,
) -> (ergon_status, String) {
    let mut b = null_mut();
    let status = unsafe {
        ergon_orloj_batcher_new(
            apps.as_ptr(),
            apps.len(),
            scale.map_or(null(), |s| s.as_ptr()),
            max_batch,
            o,
            &mut b,
        )
    };
    assert_ne!(status, ergon_status::Ok);
    assert!(b.is_null(), "a failed constructor wrote its output");
    (status, thread_error())
}

fn enqueue(b: *mut ergon_orloj_batcher, app: usize, id: u64, arrival_ms: f64, deadline_ms: f64) {
    let status =
        unsafe { ergon_orloj_batcher_enqueue(b, app, id, arrival_ms * MS, deadline_ms * MS) };
    assert_eq!(status, ergon_status::Ok, "{}", batcher_error(b));
}

/// One decision with ample buffers: (batch, dropped, expected time in s).
fn decide(b: *mut ergon_orloj_batcher, now_ms: f64) -> (Vec<u64>, Vec<u64>, f64) {
    let (mut batch, mut dropped) = ([0u64; 64], [0u64; 64]);
    let (mut nb, mut nd, mut t) = (0, 0, -1.0);
    let status = unsafe {
        next_batch(
            b,
            now_ms * MS,
            (batch.as_mut_ptr(), batch.len()),
            (dropped.as_mut_ptr(), dropped.len()),
            (&mut nb, &mut nd),
            &mut t,
        )
    };
    assert_eq!(status, ergon_status::Ok, "{}", batcher_error(b));
    (batch[..nb].to_vec(), dropped[..nd].to_vec(), t)
}

fn queued(b: *const ergon_orloj_batcher) -> usize {
    let mut n = usize::MAX;
    assert_eq!(
        unsafe { ergon_orloj_batcher_queued(b, &mut n) },
        ergon_status::Ok
    );
    n
}

fn batcher_error(b: *const ergon_orloj_batcher) -> String {
    read_text(|buf, cap, len| unsafe { ergon_orloj_batcher_last_error(b, buf, cap, len) })
}

fn policy_name(b: *const ergon_orloj_batcher) -> String {
    read_text(|buf, cap, len| unsafe { ergon_orloj_batcher_policy_name(b, buf, cap, len) })
}

fn stats(b: *const ergon_orloj_batcher, app: usize) -> ergon_orloj_app_stats {
    let mut s = ergon_orloj_app_stats::default();
    assert_eq!(
        unsafe { ergon_orloj_batcher_app_stats(b, app, &mut s) },
        ergon_status::Ok
    );
    s
}

#[track_caller]
fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-9 * b.abs().max(1e-3), "{a} != {b}");
}

#[test]
fn default_options() {
    let o = ergon_orloj_batcher_options_default();
    assert_eq!(o.policy, ERGON_ORLOJ_POLICY_ORLOJ);
    assert_eq!(o.estimate, ERGON_ORLOJ_ESTIMATE_MEAN);
    assert_eq!(o.p_min, ergon_core::orloj::sim::DEFAULT_P_MIN);
    assert_eq!(o.bins, 1024);
    assert_eq!(o.grid_span_s, 0.0);
    assert_eq!(o.decay, 0.01);
    assert!(o.single_app && !o.powers_of_two && o.adaptive_floor && o.load_floor);
}

/// The notes' score table (Part C), r1 (A, 35 ms), r2 (A, 12 ms), r3 (B, 25 ms) at now 0 with
/// s(b) = 1. The table's argmax {r1, r3} (0.06) is not a candidate of the core's Orloj: its
/// candidates are prefixes of the deadline order r2, r3, r1 ({r2} 0.025, {r2, r3} 0.02,
/// {r2, r3, r1} 0.04545) and prefixes of one application's queue ({r2, r1} 0.05 for A, {r3}
/// 0.05 for B); the tie at 0.05 goes to the larger batch, so it runs {r2, r1}. r2 is not
/// dropped first: alone it finishes by 12 ms with probability ½ ≥ p_min = 0.05.
#[test]
fn orloj_oracle_runs_the_same_app_pair() {
    let apps = [app_a(), constant("B", 20.0 * MS)];
    let b = new(&apps, 8, &options(ERGON_ORLOJ_POLICY_ORLOJ, 63.0));
    enqueue(b, 0, 1, 0.0, 35.0);
    enqueue(b, 0, 2, 0.0, 12.0);
    enqueue(b, 1, 3, 0.0, 25.0);
    assert_eq!(queued(b), 3);
    let (batch, dropped, expected) = decide(b, 0.0);
    // Per application, in deadline order: A's r2 then r1.
    assert_eq!(batch, vec![2, 1]);
    assert!(dropped.is_empty());
    close(expected, 25.0 * MS); // E[max of two A] = 25 ms
    assert_eq!(queued(b), 1);
    // The batch ends at 25 ms: r3 has no slack left, below B's 20 ms, so it is dropped.
    let (batch, dropped, expected) = decide(b, 25.0);
    assert!(batch.is_empty());
    assert_eq!(dropped, vec![3]);
    assert_eq!(expected, 0.0);
    assert_eq!(queued(b), 0);
    assert_eq!(policy_name(b), "orloj");
    unsafe { ergon_orloj_batcher_free(b) };
}

/// With p_min = 0.6 the early drop removes r2 (P(A ≤ 12 ms) = ½ < 0.6; its threshold is A's
/// 60 % quantile, 30 ms), and among r3, r1 the notes' argmax {r1, r3} wins: 1.5 expected
/// finishes in 25 ms (0.06) against 0.05 for either alone.
#[test]
fn orloj_oracle_after_the_early_drop_is_the_notes_argmax() {
    let apps = [app_a(), constant("B", 20.0 * MS)];
    let o = ergon_orloj_batcher_options {
        p_min: 0.6,
        ..options(ERGON_ORLOJ_POLICY_ORLOJ, 63.0)
    };
    let b = new(&apps, 8, &o);
    enqueue(b, 0, 1, 0.0, 35.0);
    enqueue(b, 0, 2, 0.0, 12.0);
    enqueue(b, 1, 3, 0.0, 25.0);
    let (batch, dropped, expected) = decide(b, 0.0);
    assert_eq!(dropped, vec![2]);
    assert_eq!(batch, vec![1, 3]);
    close(expected, 25.0 * MS); // E[max(A, B)] = ½·20 + ½·30
    assert_eq!(queued(b), 0);
    unsafe { ergon_orloj_batcher_free(b) };
}

/// One slot per batch: EDF serves the earlier deadline first, FIFO the earlier arrival.
#[test]
fn edf_and_fifo_orders() {
    let apps = [constant("x", 10.0 * MS), constant("y", 10.0 * MS)];
    for (policy, name, first, second) in [
        (ERGON_ORLOJ_POLICY_EDF, "edf", 2, 1),
        (ERGON_ORLOJ_POLICY_FIFO, "fifo", 1, 2),
    ] {
        let b = new(&apps, 1, &options(policy, 31.0));
        assert_eq!(policy_name(b), name);
        enqueue(b, 0, 1, 0.0, 500.0);
        enqueue(b, 1, 2, 1.0, 100.0);
        assert_eq!(decide(b, 1.0).0, vec![first], "{name}");
        assert_eq!(decide(b, 11.0).0, vec![second], "{name}");
        assert_eq!(queued(b), 0);
        unsafe { ergon_orloj_batcher_free(b) };
    }
}

/// The baselines drop only expired requests; EDF batches every request that fits.
#[test]
fn edf_drops_only_expired_requests() {
    let apps = [constant("x", 10.0 * MS)];
    let b = new(&apps, 4, &options(ERGON_ORLOJ_POLICY_EDF, 31.0));
    enqueue(b, 0, 7, 0.0, 5.0); // expired at 6 ms
    enqueue(b, 0, 8, 0.0, 8.0); // cannot finish, but not expired: EDF keeps it
    enqueue(b, 0, 9, 0.0, 50.0);
    let (batch, dropped, _) = decide(b, 6.0);
    assert_eq!(dropped, vec![7]);
    // No prefix meets 8 ms, so EDF runs the most urgent request alone.
    assert_eq!(batch, vec![8]);
    let (batch, dropped, _) = decide(b, 16.0);
    assert!(dropped.is_empty());
    assert_eq!(batch, vec![9]);
    unsafe { ergon_orloj_batcher_free(b) };
}

/// A completion moves mass onto the observed time, and the drop decision follows.
#[test]
fn completions_update_the_law_and_change_decisions() {
    let apps = [constant("x", 10.0 * MS)];
    let o = ergon_orloj_batcher_options {
        decay: 1.0,
        ..options(ERGON_ORLOJ_POLICY_ORLOJ, 31.0)
    };
    let b = new(&apps, 4, &o);
    let s = stats(b, 0);
    close(s.mean_s, 10.0 * MS);
    close(s.slo_s, 0.1);
    assert_eq!(s.completions, 0);
    // 15 ms of slack: enough for 10 ms.
    enqueue(b, 0, 1, 0.0, 15.0);
    assert_eq!(decide(b, 0.0).0, vec![1]);
    // Observed 20 ms with decay 1: the law becomes a constant 20 ms.
    assert_eq!(
        unsafe { ergon_orloj_batcher_complete(b, 0, 20.0 * MS) },
        ergon_status::Ok
    );
    let s = stats(b, 0);
    close(s.mean_s, 20.0 * MS);
    close(s.p99_s, 20.0 * MS);
    assert_eq!(s.completions, 1);
    // The same request now: 15 ms of slack is hopeless.
    enqueue(b, 0, 2, 100.0, 115.0);
    let (batch, dropped, _) = decide(b, 100.0);
    assert!(batch.is_empty());
    assert_eq!(dropped, vec![2]);
    unsafe { ergon_orloj_batcher_free(b) };

    // Decay ½ mixes: mean (10 + 20) / 2.
    let o = ergon_orloj_batcher_options { decay: 0.5, ..o };
    let b = new(&apps, 4, &o);
    assert_eq!(
        unsafe { ergon_orloj_batcher_complete(b, 0, 20.0 * MS) },
        ergon_status::Ok
    );
    close(stats(b, 0).mean_s, 15.0 * MS);
    unsafe { ergon_orloj_batcher_free(b) };
}

#[test]
fn enqueue_slo_uses_the_app_slo() {
    let apps = [constant("x", 10.0 * MS)];
    let b = new(&apps, 4, &options(ERGON_ORLOJ_POLICY_EDF, 31.0));
    // SLO 100 ms: due at 105 ms, so alive at 100 ms and expired at 106 ms.
    assert_eq!(
        unsafe { ergon_orloj_batcher_enqueue_slo(b, 0, 5, 5.0 * MS) },
        ergon_status::Ok
    );
    let (batch, dropped, _) = decide(b, 106.0);
    assert!(batch.is_empty());
    assert_eq!(dropped, vec![5]);
    assert_eq!(
        unsafe { ergon_orloj_batcher_enqueue_slo(b, 3, 5, 0.0) },
        ergon_status::OutOfRange
    );
    unsafe { ergon_orloj_batcher_free(b) };
}

/// Short buffers: BUFFER_TOO_SMALL with the needed lengths, and the decision waits in the
/// handle for the next call (whatever its time), after which deciding goes on.
#[test]
fn buffer_too_small_keeps_the_decision() {
    let apps = [constant("x", 10.0 * MS)];
    let b = new(&apps, 4, &options(ERGON_ORLOJ_POLICY_EDF, 31.0));
    enqueue(b, 0, 1, 0.0, 5.0);
    enqueue(b, 0, 2, 0.0, 6.0);
    enqueue(b, 0, 3, 0.0, 100.0);
    enqueue(b, 0, 4, 0.0, 200.0);
    let (mut batch, mut dropped) = ([0u64; 4], [0u64; 4]);
    let (mut nb, mut nd, mut t) = (0, 0, -1.0);
    let (batch_ptr, dropped_ptr) = (batch.as_mut_ptr(), dropped.as_mut_ptr());
    let (nb_ptr, nd_ptr, t_ptr): (*mut usize, *mut usize, *mut f64) = (&mut nb, &mut nd, &mut t);
    // A decision at `now_ms` into the first `batch_cap` and `dropped_cap` ids of the buffers.
    let decide_into = |now_ms: f64, batch_cap: usize, dropped_cap: usize| unsafe {
        let buffers = ((batch_ptr, batch_cap), (dropped_ptr, dropped_cap));
        next_batch(
            b,
            now_ms * MS,
            buffers.0,
            buffers.1,
            (nb_ptr, nd_ptr),
            t_ptr,
        )
    };
    // Ask with no buffers at all: 2 expired, a batch of 2.
    let status = unsafe {
        next_batch(
            b,
            10.0 * MS,
            (null_mut(), 0),
            (null_mut(), 0),
            (nb_ptr, nd_ptr),
            t_ptr,
        )
    };
    assert_eq!(status, ergon_status::BufferTooSmall);
    assert_eq!((nb, nd), (2, 2));
    assert_eq!(t, -1.0, "expected_time_s written on failure");
    assert!(
        batcher_error(b).contains("kept for the next call"),
        "{}",
        batcher_error(b)
    );
    // The requests have left the queue: they are in the kept decision.
    assert_eq!(queued(b), 0);
    // A new request meanwhile waits for the decision after.
    enqueue(b, 0, 5, 10.0, 300.0);
    // Still too small for the dropped ids.
    let status = decide_into(20.0, 4, 1);
    assert_eq!(status, ergon_status::BufferTooSmall);
    assert_eq!((nb, nd), (2, 2));
    // Large enough: the same decision, although the time is later.
    let status = decide_into(50.0, 2, 2);
    assert_eq!(status, ergon_status::Ok, "{}", batcher_error(b));
    assert_eq!(&batch[..nb], &[3, 4]);
    assert_eq!(&dropped[..nd], &[1, 2]);
    close(t, 10.0 * MS);
    // Then the next decision.
    assert_eq!(decide(b, 50.0), (vec![5], vec![], 10.0 * MS));
    unsafe { ergon_orloj_batcher_free(b) };
}

/// Without an expected-time pointer the call still decides.
#[test]
fn expected_time_is_optional() {
    let apps = [constant("x", 10.0 * MS)];
    let b = new(&apps, 4, &ergon_orloj_batcher_options_default());
    enqueue(b, 0, 1, 0.0, 100.0);
    let (mut batch, mut nb, mut nd) = ([0u64; 4], 0, 0);
    let status = unsafe {
        next_batch(
            b,
            0.0,
            (batch.as_mut_ptr(), 4),
            (null_mut(), 0),
            (&mut nb, &mut nd),
            null_mut(),
        )
    };
    assert_eq!(status, ergon_status::Ok);
    assert_eq!((&batch[..nb], nd), (&[1u64][..], 0));
    unsafe { ergon_orloj_batcher_free(b) };
}

#[test]
fn every_policy_constant_builds() {
    let apps = [app_a(), constant("B", 20.0 * MS)];
    for (policy, estimate, name) in [
        (ERGON_ORLOJ_POLICY_ORLOJ, ERGON_ORLOJ_ESTIMATE_MEAN, "orloj"),
        (
            ERGON_ORLOJ_POLICY_CLOCKWORK,
            ERGON_ORLOJ_ESTIMATE_MEAN,
            "clockwork",
        ),
        (
            ERGON_ORLOJ_POLICY_CLOCKWORK,
            ERGON_ORLOJ_ESTIMATE_P99,
            "clockwork-p99",
        ),
        (
            ERGON_ORLOJ_POLICY_NEXUS,
            ERGON_ORLOJ_ESTIMATE_P99,
            "nexus-p99",
        ),
        (
            ERGON_ORLOJ_POLICY_CLIPPER,
            ERGON_ORLOJ_ESTIMATE_P99,
            "clipper",
        ),
        (ERGON_ORLOJ_POLICY_EDF, ERGON_ORLOJ_ESTIMATE_P99, "edf-p99"),
        (ERGON_ORLOJ_POLICY_FIFO, ERGON_ORLOJ_ESTIMATE_MEAN, "fifo"),
    ] {
        let o = ergon_orloj_batcher_options {
            estimate,
            ..options(policy, 63.0)
        };
        let b = new(&apps, 8, &o);
        assert_eq!(policy_name(b), name);
        let mut n = 0;
        unsafe {
            assert_eq!(
                ergon_orloj_batcher_max_batch_size(b, &mut n),
                ergon_status::Ok
            );
            assert_eq!(n, 8);
            assert_eq!(ergon_orloj_batcher_num_apps(b, &mut n), ergon_status::Ok);
            assert_eq!(n, 2);
            assert_eq!(ergon_orloj_batcher_batch_done(b, 0.02), ergon_status::Ok);
            ergon_orloj_batcher_free(b);
        }
    }
}

#[test]
fn lognormal_and_samples_laws() {
    let samples = [0.010, 0.010, 0.020, 0.040];
    let apps = [
        ergon_orloj_app {
            kind: ERGON_ORLOJ_EXEC_LOGNORMAL,
            mean_s: 0.030,
            cv: 1.0,
            ..constant("ln", 0.0)
        },
        ergon_orloj_app {
            kind: ERGON_ORLOJ_EXEC_SAMPLES,
            samples_s: samples.as_ptr(),
            num_samples: samples.len(),
            ..constant("s", 0.0)
        },
    ];
    let o = ergon_orloj_batcher_options {
        grid_span_s: 0.080,
        bins: 81,
        ..ergon_orloj_batcher_options_default()
    };
    let b = new(&apps, 4, &o);
    // Samples: uniform over the four, mean 20 ms, p99 40 ms.
    let s = stats(b, 1);
    close(s.mean_s, 0.020);
    close(s.p99_s, 0.040);
    assert!(stats(b, 0).mean_s > 0.0);
    unsafe { ergon_orloj_batcher_free(b) };
}

#[test]
fn scale_factors_stretch_the_expected_time() {
    let apps = [constant("x", 10.0 * MS)];
    let scale = [1.0, 1.5];
    let mut b = null_mut();
    let o = options(ERGON_ORLOJ_POLICY_EDF, 31.0);
    unsafe {
        assert_eq!(
            ergon_orloj_batcher_new(apps.as_ptr(), 1, scale.as_ptr(), 2, &o, &mut b),
            ergon_status::Ok
        );
    }
    enqueue(b, 0, 1, 0.0, 100.0);
    enqueue(b, 0, 2, 0.0, 100.0);
    let (batch, _, t) = decide(b, 0.0);
    assert_eq!(batch, vec![1, 2]);
    close(t, 15.0 * MS);
    unsafe { ergon_orloj_batcher_free(b) };
}

#[test]
fn bad_construction() {
    let good = [constant("x", 10.0 * MS)];
    let o = ergon_orloj_batcher_options_default();
    // No applications.
    let (s, m) = new_fails(&[], None, 4, &o);
    assert_eq!(s, ergon_status::InvalidProblem);
    assert!(m.contains("no applications"), "{m}");
    // Non-positive and NaN SLOs name the application.
    for slo in [0.0, -1.0, f64::NAN] {
        let apps = [ergon_orloj_app {
            slo_s: slo,
            ..constant("resnet", 0.01)
        }];
        let (s, m) = new_fails(&apps, None, 4, &o);
        assert_eq!(s, ergon_status::InvalidProblem);
        assert!(m.contains("resnet") && m.contains("slo_s"), "{m}");
    }
    // Unknown kind constant.
    let apps = [ergon_orloj_app {
        kind: 9,
        ..constant("x", 0.01)
    }];
    let (s, m) = new_fails(&apps, None, 4, &o);
    assert_eq!(s, ergon_status::InvalidArgument);
    assert!(m.contains("unknown execution-time kind 9"), "{m}");
    // Law parameters.
    for (app, field) in [
        (constant("x", 0.0), "value_s"),
        (constant("x", f64::NAN), "value_s"),
        (
            ergon_orloj_app {
                low_s: 0.05,
                ..app_a()
            },
            "low_s",
        ),
        (
            ergon_orloj_app {
                p_low: 1.5,
                ..app_a()
            },
            "p_low",
        ),
        (
            ergon_orloj_app {
                kind: ERGON_ORLOJ_EXEC_LOGNORMAL,
                mean_s: 0.01,
                cv: -1.0,
                ..constant("x", 0.0)
            },
            "cv",
        ),
        (
            ergon_orloj_app {
                kind: ERGON_ORLOJ_EXEC_SAMPLES,
                ..constant("x", 0.0)
            },
            "values_s",
        ),
    ] {
        let (s, m) = new_fails(&[app], None, 4, &o);
        assert_eq!(s, ergon_status::InvalidProblem, "{m}");
        assert!(m.contains(field), "{field}: {m}");
    }
    // Samples pointer NULL with a length.
    let apps = [ergon_orloj_app {
        kind: ERGON_ORLOJ_EXEC_SAMPLES,
        num_samples: 3,
        ..constant("x", 0.0)
    }];
    assert_eq!(new_fails(&apps, None, 4, &o).0, ergon_status::NullPointer);
    // Options.
    for (bad, what) in [
        (
            ergon_orloj_batcher_options { policy: 6, ..o },
            "unknown policy 6",
        ),
        (
            ergon_orloj_batcher_options { estimate: 2, ..o },
            "unknown estimate 2",
        ),
        (ergon_orloj_batcher_options { p_min: 1.5, ..o }, "p_min"),
        (
            ergon_orloj_batcher_options {
                p_min: f64::NAN,
                ..o
            },
            "p_min",
        ),
        (ergon_orloj_batcher_options { bins: 1, ..o }, "bins"),
        (
            ergon_orloj_batcher_options {
                grid_span_s: f64::INFINITY,
                ..o
            },
            "grid_span_s",
        ),
        (ergon_orloj_batcher_options { decay: 0.0, ..o }, "decay"),
    ] {
        let (s, m) = new_fails(&good, None, 4, &bad);
        assert_eq!(s, ergon_status::InvalidArgument, "{m}");
        assert!(m.contains(what), "{what}: {m}");
    }
    // Batch sizes and scale factors.
    for (scale, max, what) in [
        (None, 0, "max_size 0"),
        (None, 257, "max_size 257"),
        (Some(&[1.0, 0.0][..]), 2, "size 2"),
        (Some(&[1.0, f64::NAN][..]), 2, "size 2"),
    ] {
        let (s, m) = new_fails(&good, scale, max, &o);
        assert_eq!(s, ergon_status::InvalidProblem, "{m}");
        assert!(m.contains(what), "{what}: {m}");
    }
    // NULL pointers.
    let mut b = null_mut();
    unsafe {
        assert_eq!(
            ergon_orloj_batcher_new(null(), 1, null(), 4, &o, &mut b),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_orloj_batcher_new(good.as_ptr(), 1, null(), 4, &o, null_mut()),
            ergon_status::NullPointer
        );
        // NULL options are the defaults.
        assert_eq!(
            ergon_orloj_batcher_new(good.as_ptr(), 1, null(), 4, null(), &mut b),
            ergon_status::Ok
        );
        assert_eq!(policy_name(b), "orloj");
        ergon_orloj_batcher_free(b);
    }
}

#[test]
fn bad_calls() {
    let apps = [constant("x", 10.0 * MS)];
    let b = new(&apps, 4, &ergon_orloj_batcher_options_default());
    let (mut nb, mut nd, mut n) = (0, 0, 0);
    let (nb, nd, n): (*mut usize, *mut usize, *mut usize) = (&mut nb, &mut nd, &mut n);
    let mut ids = [0u64; 4];
    let ids = (ids.as_mut_ptr(), 4);
    let mut s = ergon_orloj_app_stats::default();
    let s: *mut ergon_orloj_app_stats = &mut s;
    let (invalid, null_pointer) = (ergon_status::InvalidArgument, ergon_status::NullPointer);
    // SAFETY (all calls): the handle and buffers above, or NULL where a case says so.
    let enqueue_at = |app, arrival, deadline| unsafe {
        ergon_orloj_batcher_enqueue(b, app, 1, arrival, deadline)
    };
    let decide_at =
        |now, batch, dropped, lens| unsafe { next_batch(b, now, batch, dropped, lens, null_mut()) };
    let none = (null_mut(), 0);
    check_calls(&[
        // Times (the message names the call and the value).
        (invalid, "ergon_orloj_batcher_enqueue: arrival_s", &|| {
            enqueue_at(0, f64::NAN, 1.0)
        }),
        (invalid, "deadline_s", &|| enqueue_at(0, 0.0, f64::INFINITY)),
        (invalid, "before its arrival", &|| enqueue_at(0, 1.0, 0.5)),
    ]);
    assert_eq!(queued(b), 0, "a failed enqueue queued something");
    check_calls(&[
        // Unknown application.
        (ergon_status::OutOfRange, "unknown app 1", &|| {
            enqueue_at(1, 0.0, 1.0)
        }),
        (ergon_status::OutOfRange, "unknown app 5", &|| unsafe {
            ergon_orloj_batcher_complete(b, 5, 0.01)
        }),
        (ergon_status::OutOfRange, "unknown app 1", &|| unsafe {
            ergon_orloj_batcher_app_stats(b, 1, s)
        }),
    ]);
    // Observed times.
    for bad in [f64::NAN, -0.01, f64::INFINITY] {
        check_calls(&[
            (invalid, "", &|| unsafe {
                ergon_orloj_batcher_complete(b, 0, bad)
            }),
            (invalid, "", &|| unsafe {
                ergon_orloj_batcher_batch_done(b, bad)
            }),
        ]);
    }
    assert_eq!(stats(b, 0).completions, 0);
    enqueue(b, 0, 1, 0.0, 100.0);
    check_calls(&[
        // Decision time.
        (invalid, "now_s = NaN", &|| {
            decide_at(f64::NAN, ids, none, (nb, nd))
        }),
        (invalid, "now_s = -inf", &|| {
            decide_at(f64::NEG_INFINITY, ids, none, (nb, nd))
        }),
        // Buffers and outputs.
        (null_pointer, "`batch`", &|| {
            decide_at(0.0, (null_mut(), 4), none, (nb, nd))
        }),
        (null_pointer, "`dropped`", &|| {
            decide_at(0.0, ids, (null_mut(), 2), (nb, nd))
        }),
        (null_pointer, "`batch_len`", &|| {
            decide_at(0.0, ids, none, (null_mut(), nd))
        }),
        (null_pointer, "`dropped_len`", &|| {
            decide_at(0.0, ids, none, (nb, null_mut()))
        }),
        (null_pointer, "`out`", &|| unsafe {
            ergon_orloj_batcher_queued(b, null_mut())
        }),
    ]);
    // Nothing was decided by the failed calls.
    assert_eq!(queued(b), 1);
    // NULL and foreign handles.
    let f = frontier("a100_s2_m4");
    let foreign = f.cast::<ergon_orloj_batcher>();
    check_calls(&[
        (null_pointer, "batcher handle is NULL", &|| unsafe {
            ergon_orloj_batcher_enqueue(null_mut(), 0, 1, 0.0, 1.0)
        }),
        (null_pointer, "batcher handle is NULL", &|| unsafe {
            ergon_orloj_batcher_queued(null(), n)
        }),
        (null_pointer, "not a live batcher handle", &|| unsafe {
            ergon_orloj_batcher_queued(foreign, n)
        }),
    ]);
    unsafe {
        // Freeing a foreign pointer as a batcher does nothing.
        ergon_orloj_batcher_free(foreign);
        ergon_perseus_frontier_free(f);
        ergon_orloj_batcher_free(null_mut());
        ergon_orloj_batcher_free(b);
    }
}

fn sim_doc(duration_s: f64, policies: &str) -> String {
    format!(
        r#"{{"schema": "orloj-sim/v1", "seed": 3, "duration_s": {duration_s},
  "apps": [
    {{"name": "early-exit", "share": 0.5, "slo_s": 0.04,
      "exec_time": {{"kind": "bimodal", "low_s": 0.006, "high_s": 0.02, "p_low": 0.3}}}},
    {{"name": "seq2seq", "share": 0.5, "slo_s": 0.06,
      "exec_time": {{"kind": "lognormal", "mean_s": 0.03, "cv": 1.0}}}}
  ],
  "batch": {{"max_size": 4, "scale": [1.0, 1.1, 1.2, 1.3]}},
  "arrivals": {{"kind": "poisson", "load": 0.8}},
  "policies": {policies}}}"#
    )
}

fn from_json(doc: &str, policy: Option<&str>) -> (ergon_status, *mut ergon_orloj_batcher) {
    let mut b = null_mut();
    let (name, name_len) = policy.map_or((null(), 0), |p| (p.as_ptr().cast(), p.len()));
    let s = unsafe {
        ergon_orloj_batcher_from_json(doc.as_ptr().cast(), doc.len(), name, name_len, &mut b)
    };
    (s, b)
}

#[test]
fn batcher_from_an_orloj_sim_document() {
    let doc = sim_doc(1.0, r#"["clockwork-p99", "orloj"]"#);
    let (s, b) = from_json(&doc, None);
    assert_eq!(s, ergon_status::Ok, "{}", thread_error());
    assert_eq!(policy_name(b), "clockwork-p99");
    close(stats(b, 0).slo_s, 0.04);
    close(stats(b, 1).slo_s, 0.06);
    let mut n = 0;
    unsafe {
        assert_eq!(
            ergon_orloj_batcher_max_batch_size(b, &mut n),
            ergon_status::Ok
        );
        ergon_orloj_batcher_free(b);
    }
    assert_eq!(n, 4);
    let (s, b) = from_json(&doc, Some("orloj"));
    assert_eq!(s, ergon_status::Ok);
    assert_eq!(policy_name(b), "orloj");
    unsafe { ergon_orloj_batcher_free(b) };
    // The policy is pointer + length: the bytes after `policy_len` are not read, an empty name
    // is the document's first policy, and a name with a NUL in it is no policy.
    let (s, b) = from_json(&doc, Some(&"edf-p99, not read"[..7]));
    assert_eq!(s, ergon_status::Ok, "{}", thread_error());
    assert_eq!(policy_name(b), "edf-p99");
    unsafe { ergon_orloj_batcher_free(b) };
    let (s, b) = from_json(&doc, Some(""));
    assert_eq!(s, ergon_status::Ok, "{}", thread_error());
    assert_eq!(policy_name(b), "clockwork-p99");
    unsafe { ergon_orloj_batcher_free(b) };
    let (s, b) = from_json(&doc, Some("orloj\0-p99"));
    assert_eq!(s, ergon_status::InvalidArgument);
    assert!(b.is_null());

    let (s, b) = from_json(&doc, Some("sjf"));
    assert_eq!(s, ergon_status::InvalidArgument);
    assert!(b.is_null());
    assert!(thread_error().contains("unknown policy \"sjf\""));
    let (s, _) = from_json("{not json", None);
    assert_eq!(s, ergon_status::Parse);
    let (s, _) = from_json(&doc.replace("orloj-sim/v1", "orloj-sim/v9"), None);
    assert_eq!(s, ergon_status::Schema);
    let (s, _) = from_json(&doc.replace("\"slo_s\": 0.04", "\"slo_s\": 0"), None);
    assert_eq!(s, ergon_status::InvalidProblem);
    assert!(thread_error().contains("early-exit"));
    let (s, _) = from_json(&doc.replace("bimodal", "gamma"), None);
    assert_eq!(s, ergon_status::InvalidProblem);
    assert!(thread_error().contains("unknown distribution kind \"gamma\""));
}

/// The simulation through the ABI is the CLI's: the same core functions on the same document.
#[test]
fn simulate_json_matches_the_core() {
    use ergon_core::orloj::formats::{parse_sim, result_json};
    use ergon_core::orloj::sim::simulate;
    let doc = sim_doc(2.0, r#"["orloj", "clockwork", "edf-p99"]"#);
    let expected = result_json(&simulate(&parse_sim(&doc).unwrap()).unwrap());
    let mut r = null_mut();
    unsafe {
        assert_eq!(
            ergon_orloj_simulation_run_json(doc.as_ptr().cast(), doc.len(), &mut r),
            ergon_status::Ok
        );
        let mut len = 0;
        assert_eq!(
            ergon_orloj_simulation_to_json(r, null_mut(), 0, &mut len),
            ergon_status::Ok
        );
        assert_eq!(len, expected.len());
        let mut small = [0u8; 8];
        assert_eq!(
            ergon_orloj_simulation_to_json(r, small.as_mut_ptr().cast(), small.len(), &mut len),
            ergon_status::BufferTooSmall
        );
        assert!(
            read_text(|buf, cap, len| ergon_orloj_simulation_last_error(r, buf, cap, len))
                .contains("too small")
        );
    }
    let json =
        read_text(|buf, cap, len| unsafe { ergon_orloj_simulation_to_json(r, buf, cap, len) });
    assert_eq!(json, expected);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema"], "orloj-result/v1");
    assert_eq!(v["results"].as_array().unwrap().len(), 3);
    unsafe {
        ergon_orloj_simulation_free(r);
        ergon_orloj_simulation_free(null_mut());
        let bad = "{\"schema\": \"orloj-sim/v1\"}";
        assert_eq!(
            ergon_orloj_simulation_run_json(bad.as_ptr().cast(), bad.len(), &mut r),
            ergon_status::Parse
        );
        assert_eq!(
            ergon_orloj_simulation_run_json(null(), 0, &mut r),
            ergon_status::NullPointer
        );
    }
}

/// A `num_apps` over MAX_APPS is refused before the array is read (so a one-element array
/// with a huge count is never read past its end), and 65 real apps are refused too.
#[test]
fn too_many_apps_is_a_status_before_reading() {
    let o = options(ERGON_ORLOJ_POLICY_ORLOJ, 63.0);
    let one = [constant("x", 0.01)];
    for n in [65usize, 1 << 40, usize::MAX] {
        let mut b = null_mut();
        let status = unsafe { ergon_orloj_batcher_new(one.as_ptr(), n, null(), 4, &o, &mut b) };
        assert_eq!(status, ergon_status::InvalidProblem);
        assert!(b.is_null());
        assert!(thread_error().contains("limit of 64"), "{}", thread_error());
    }
    let many = vec![constant("x", 0.01); 65];
    let (status, msg) = new_fails(&many, None, 4, &o);
    assert_eq!(status, ergon_status::InvalidProblem, "{msg}");
}
