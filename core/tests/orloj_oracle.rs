//! Orloj oracles of the reference notes (Part C, "Orloj oracles"): batch-maximum
//! distributions and means, P(T_{A,A} ≤ 15), and the score table of the proposed rule with its
//! argmax. Times are in ms on a 1-ms grid, as in the notes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ergon_core::orloj::{
    BatchDistribution, BatchModel, BatchScale, Batcher, Distribution, ExecDistribution, ExecSpec,
    FinishesPerTime, FixedDistribution, Orloj, ProbabilityFloor, Score, TimeGrid,
};

const TOL: f64 = 1e-12;

fn grid() -> TimeGrid {
    TimeGrid::new(1.0, 64).unwrap()
}

/// App A's law: 10 w.p. ½, 30 w.p. ½.
const APP_A: ExecSpec = ExecSpec::Bimodal {
    low_s: 10.0,
    high_s: 30.0,
    p_low: 0.5,
};

/// App A on the heap-allocated distribution.
fn app_a() -> Distribution {
    Distribution::from_spec(grid(), &APP_A, "A").unwrap()
}

/// App B: constant 20.
fn app_b() -> Distribution {
    Distribution::from_spec(grid(), &ExecSpec::Constant { value_s: 20.0 }, "B").unwrap()
}

fn unit() -> BatchScale {
    BatchScale::unit(8).unwrap()
}

#[track_caller]
fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= TOL * b.abs().max(1.0), "{a} != {b}");
}

#[track_caller]
fn check(members: &[(&Distribution, usize)], points: &[(f64, f64)], mean: f64) {
    let d = BatchDistribution::new(&unit(), members).unwrap();
    let got = d.points();
    assert_eq!(got.len(), points.len(), "support {got:?} vs {points:?}");
    for (&(t, p), &(te, pe)) in got.iter().zip(points) {
        close(t, te);
        close(p, pe);
    }
    close(d.mean_s(), mean);
}

#[test]
fn batch_max_distributions_and_means() {
    let (a, b) = (app_a(), app_b());
    check(&[(&a, 2)], &[(10.0, 0.25), (30.0, 0.75)], 25.0);
    check(&[(&a, 1), (&b, 1)], &[(20.0, 0.5), (30.0, 0.5)], 25.0);
    check(&[(&a, 2), (&b, 1)], &[(20.0, 0.25), (30.0, 0.75)], 27.5);
    check(&[(&a, 3)], &[(10.0, 0.125), (30.0, 0.875)], 27.5);
    // Member order does not matter.
    check(&[(&b, 1), (&a, 2)], &[(20.0, 0.25), (30.0, 0.75)], 27.5);
}

#[test]
fn single_members_are_their_own_law() {
    let (a, b) = (app_a(), app_b());
    close(a.mean_s(), 20.0);
    close(b.mean_s(), 20.0);
    check(&[(&a, 1)], &[(10.0, 0.5), (30.0, 0.5)], 20.0);
    check(&[(&b, 3)], &[(20.0, 1.0)], 20.0);
}

#[test]
fn probability_two_a_within_15_is_a_quarter() {
    let a = app_a();
    let d = BatchDistribution::new(&unit(), &[(&a, 2)]).unwrap();
    close(d.cdf_at(15.0), 0.25);
    close(d.cdf_at(9.999), 0.0);
    close(d.cdf_at(10.0), 0.25);
    close(d.cdf_at(30.0), 1.0);
    close(d.cdf_at(-1.0), 0.0);
}

#[test]
fn heapless_variant_gives_the_same_oracles() {
    let a: FixedDistribution<64> = FixedDistribution::from_spec(grid(), &APP_A, "A").unwrap();
    let d = BatchDistribution::new(&unit(), &[(&a, 3)]).unwrap();
    close(d.mean_s(), 27.5);
    close(d.cdf_at(15.0), 0.125);
}

#[test]
fn scale_stretches_the_batch_time() {
    let a = app_a();
    let s = BatchScale::from_factors(&[1.0, 1.5]).unwrap();
    let d = BatchDistribution::new(&s, &[(&a, 2)]).unwrap();
    close(d.mean_s(), 37.5);
    close(d.cdf_at(15.0), 0.25);
    close(d.cdf_at(14.9), 0.0);
    assert_eq!(s.scale(2), 1.5);
}

#[test]
fn scale_fit_recovers_an_affine_profile() {
    // T(b) = 8 + 2b ms: s(b) = (8 + 2b) / 10.
    let profile: Vec<(usize, f64)> = [1, 2, 4, 8, 16]
        .iter()
        .map(|&b| (b, 8.0 + 2.0 * b as f64))
        .collect();
    let s = BatchScale::fit(&profile, 16).unwrap();
    for b in 1..=16 {
        close(s.scale(b), (8.0 + 2.0 * b as f64) / 10.0);
    }
}

/// Score of a batch of requests `(app law, deadline)` at now = 0 with s(b) = 1: expected
/// on-time finishes, E[T] and the score.
fn score(members: &[(&Distribution, f64)]) -> (f64, f64, f64) {
    let (a, b) = (app_a(), app_b());
    let na = members
        .iter()
        .filter(|m| m.0.mean_s() == a.mean_s() && m.0.pmf() == a.pmf())
        .count();
    let nb = members.iter().filter(|m| m.0.pmf() == b.pmf()).count();
    let d = BatchDistribution::new(&unit(), &[(&a, na), (&b, nb)]).unwrap();
    let on_time: f64 = members.iter().map(|&(_, dl)| d.cdf_at(dl)).sum();
    let mean = d.mean_s();
    (
        on_time,
        mean,
        FinishesPerTime.score(on_time, mean, members.len()),
    )
}

#[test]
fn score_table_and_argmax() {
    let (a, b) = (app_a(), app_b());
    let r1 = (&a, 35.0);
    let r2 = (&a, 12.0);
    let r3 = (&b, 25.0);
    // (name, members, expected on-time finishes, E[T], score)
    type Row<'a> = (&'a str, Vec<(&'a Distribution, f64)>, f64, f64, f64);
    let table: [Row; 7] = [
        ("r1", vec![r1], 1.0, 20.0, 0.05),
        ("r2", vec![r2], 0.5, 20.0, 0.025),
        ("r3", vec![r3], 1.0, 20.0, 0.05),
        ("r1r2", vec![r1, r2], 1.25, 25.0, 0.05),
        ("r1r3", vec![r1, r3], 1.5, 25.0, 0.06),
        ("r2r3", vec![r2, r3], 0.5, 25.0, 0.02),
        ("r1r2r3", vec![r1, r2, r3], 1.25, 27.5, 1.25 / 27.5),
    ];
    let mut best = ("", f64::MIN);
    for (name, members, on_time, mean, sc) in &table {
        let (o, m, s) = score(members);
        close(o, *on_time);
        close(m, *mean);
        close(s, *sc);
        if s > best.1 {
            best = (name, s);
        }
    }
    assert_eq!(best.0, "r1r3");
    close(best.1, 0.06);
    close(1.25 / 27.5, 0.045_454_545_454_545_456);
}

#[test]
fn batcher_prefers_same_app_batch_when_it_scores_higher() {
    // Through the online batcher: the queue r1 (A, 35), r2 (A, 12), r3 (B, 25) at now = 0.
    // Deadline-order prefixes score {r2} 0.025, {r2, r3} 0.02, {r1, r2, r3} 0.04545; the
    // single-app candidates add {r3} 0.05 and {r2, r1} 0.05 (tie → larger batch), so Orloj
    // runs {r2, r1}.
    let mut b = Batcher::new(
        vec![app_a(), app_b()],
        Box::new(unit()),
        Box::new(Orloj::new(
            FinishesPerTime,
            ProbabilityFloor { p_min: 0.05 },
        )),
    )
    .unwrap();
    b.enqueue(0, 1, 0.0, 35.0).unwrap();
    b.enqueue(0, 2, 0.0, 12.0).unwrap();
    b.enqueue(1, 3, 0.0, 25.0).unwrap();
    let (mut batch, mut dropped) = ([0u64; 8], [0u64; 8]);
    let d = b.next_batch(0.0, &mut batch, &mut dropped).unwrap();
    assert_eq!(d.dropped_len, 0);
    let mut ids = batch[..d.batch_len].to_vec();
    ids.sort();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(b.queued(), 1);
}

#[test]
fn batcher_drops_requests_below_the_probability_floor() {
    // With p_min = 0.6, an A request with 12 ms left finishes alone with probability ½ only.
    let mut b = Batcher::new(
        vec![app_a(), app_b()],
        Box::new(unit()),
        Box::new(Orloj::new(FinishesPerTime, ProbabilityFloor { p_min: 0.6 })),
    )
    .unwrap();
    b.enqueue(0, 2, 0.0, 12.0).unwrap();
    b.enqueue(0, 1, 0.0, 35.0).unwrap();
    let (mut batch, mut dropped) = ([0u64; 8], [0u64; 8]);
    let d = b.next_batch(0.0, &mut batch, &mut dropped).unwrap();
    assert_eq!(&dropped[..d.dropped_len], &[2]);
    assert_eq!(&batch[..d.batch_len], &[1]);
}

#[test]
fn quantiles_and_cdf_of_a_law() {
    let a = app_a();
    close(a.quantile_s(0.5), 10.0);
    close(a.quantile_s(0.51), 30.0);
    close(a.quantile_s(0.99), 30.0);
    close(a.cdf_at(29.0), 0.5);
    close(a.cdf_at(30.0), 1.0);
}

/// Feeds one app-A request (on a seconds grid: 10 ms w.p. ½, 30 ms w.p. ½, mean 20 ms) every
/// `gap_s` for 2 s, deciding after each, then asks about a probe with 20 ms of slack, which
/// finishes alone with probability ½, that arrived `waited_s` ago. Returns whether the probe
/// was dropped.
fn probe_dropped_after_arrivals(gap_s: f64, load_floor: bool, waited_s: f64) -> bool {
    let g = TimeGrid::new(0.001, 64).unwrap();
    let a = Distribution::from_spec(
        g,
        &ExecSpec::Bimodal {
            low_s: 0.010,
            high_s: 0.030,
            p_low: 0.5,
        },
        "A",
    )
    .unwrap();
    let mut policy = Orloj::new(FinishesPerTime, ProbabilityFloor { p_min: 0.05 });
    policy.load_floor = load_floor;
    let mut b = Batcher::new(vec![a], Box::new(unit()), Box::new(policy)).unwrap();
    let (mut batch, mut dropped) = ([0u64; 8], [0u64; 8]);
    let mut id = 0u64;
    let mut now = 0.0;
    while now < 2.0 {
        b.enqueue(0, id, now, now + 1.0).unwrap();
        id += 1;
        b.next_batch(now, &mut batch, &mut dropped).unwrap();
        now += gap_s;
    }
    b.enqueue(0, 9999, now - waited_s, now + 0.020).unwrap();
    let d = b.next_batch(now, &mut batch, &mut dropped).unwrap();
    dropped[..d.dropped_len].contains(&9999)
}

#[test]
fn load_floor_drops_likely_misses_only_under_overload() {
    // One arrival per 5 ms at 20 ms each: ρ = 4, floor 1 − 4⁻³ ≈ 0.98, so the probe (P = ½),
    // which has waited 100 ms, goes.
    assert!(probe_dropped_after_arrivals(0.005, true, 0.1));
    assert!(!probe_dropped_after_arrivals(0.005, false, 0.1));
    // The load floor never exceeds the SLO: a fresh probe (SLO 20 ms) stays.
    assert!(!probe_dropped_after_arrivals(0.005, true, 0.0));
    // One per 40 ms: ρ = ½, no load floor; the probe stays (p_min 0.05).
    assert!(!probe_dropped_after_arrivals(0.040, true, 0.1));
}
