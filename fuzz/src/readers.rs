//! Reader targets: arbitrary bytes into one of ergon's input formats. Each reader must return
//! `Ok` or `Err`, never panic, abort or hang. (There is no `ergon-plan/v1` reader: plans are
//! only written.)
//!
//! The readers get every input: the library now bounds every size that comes from input
//! (docs/fuzzing.md, "Limits"), so a huge pipeline, order or block count is a quick error.
//! [`known_open`] remains for the targets that go on to *solve* what they read: the limits
//! bound memory, not solving time, and a valid-but-huge problem would only time the fuzzer out.

use ergon_core::chase;
use ergon_core::dpk::formats as dpk;
use ergon_core::orloj::formats as orloj;
use ergon_core::perseus::formats as perseus;
use ergon_core::zeus::Eta;
use ergon_core::zeus::trace::{PowerTrace, TrainTrace, WORKLOADS, WorkloadTrace};
use serde_json::Value;

/// Largest pipeline (stages, microbatches, stage index, node count) the solving targets hand
/// to the solver, so that one execution stays well under libFuzzer's timeout.
pub const GUARD_MAX_STAGES: u64 = 1 << 12;
/// Largest RDP order the solving DPK targets use (the library accepts up to `MAX_ALPHA`; each
/// order costs time linear in α).
pub const GUARD_MAX_ORDER: f64 = 1024.0;
/// Largest iteration time in quanta (time / unit time) the frontier targets solve (the library
/// bounds the cost tables' memory by `MAX_COST_CELLS`; this bounds the solving time).
pub const GUARD_MAX_QUANTA: f64 = 4096.0;

/// Every number anywhere under `v` (keys included when `key` matches).
fn numbers_under<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == key {
                    collect_numbers(x, out);
                } else {
                    numbers_under(x, key, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| numbers_under(x, key, out)),
        _ => {}
    }
}

fn collect_numbers<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Number(_) => out.push(v),
        Value::Array(a) => a.iter().for_each(|x| collect_numbers(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_numbers(x, out)),
        _ => {}
    }
}

fn any_above(v: &Value, key: &str, limit: f64) -> bool {
    let mut found = Vec::new();
    numbers_under(v, key, &mut found);
    found
        .iter()
        .any(|n| n.as_f64().is_none_or(|x| x.is_nan() || x.abs() > limit))
}

/// `true` when `text` describes a problem too large to *solve* within the fuzzer's timeout
/// (huge pipelines, stage indices or RDP orders; many blocks): the solving targets skip it.
pub fn known_open(text: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    let stages = GUARD_MAX_STAGES as f64;
    any_above(&v, "num_stages", stages)
        || any_above(&v, "num_microbatches", stages)
        || any_above(&v, "virtual_stages", stages)
        || any_above(&v, "stage", stages)
        || any_above(&v, "alphas", GUARD_MAX_ORDER)
        || any_above(&v, "num_blocks", stages)
        || any_above(&v, "initial_blocks", stages)
        || any_above(&v, "total_blocks", stages)
        || any_above(&v, "steps", 1e6)
}

fn utf8(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Reads `data` (when it is UTF-8) with `read`; whatever `read` accepts must keep `promise`,
/// else the body panics with `broken` (a reader may refuse any input, but what it returns must
/// be usable).
fn read_and_check<T, E>(
    data: &[u8],
    read: impl FnOnce(&str) -> Result<T, E>,
    promise: impl FnOnce(&T) -> bool,
    broken: &str,
) {
    let Some(text) = utf8(data) else { return };
    if let Ok(value) = read(text) {
        assert!(promise(&value), "{broken}");
    }
}

/// `perseus-instance/v1`: parse (and validate) an instance.
pub fn perseus_instance(data: &[u8]) {
    read_and_check(
        data,
        perseus::parse_instance,
        |problem| problem.validate().is_ok(),
        "parse_instance returned a problem that does not validate",
    );
}

/// `ergon-plan/v1` (what a planner rank sends the others): an accepted plan is written back
/// to the same text's meaning, i.e. it reads back equal.
pub fn perseus_plan(data: &[u8]) {
    read_and_check(
        data,
        perseus::parse_plan,
        |plan| perseus::parse_plan(&perseus::plan_json(plan)).as_ref() == Ok(plan),
        "an accepted plan does not read back equal from its own JSON",
    );
}

/// The zeus profile CSV (`stage,instruction,frequency,time,energy`).
pub fn zeus_csv(data: &[u8]) {
    read_and_check(
        data,
        perseus::parse_profile_csv,
        |profiles| !profiles.is_empty(),
        "a parsed CSV has at least one profile",
    );
    // The row reader and the merge share the parser: any answer is fine, and whatever the row
    // reader accepts writes and reads back to the same rows.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = perseus::merge_profile_csv(&[text, text]);
        if let Ok(rows) = perseus::read_profile_rows(text)
            && let Ok(written) = perseus::write_profile_csv(&rows)
        {
            let back = perseus::read_profile_rows(&written);
            assert!(
                back.as_ref().is_ok_and(|b| *b == rows),
                "written rows do not read back: {back:?}"
            );
        }
    }
}

/// `dpk-workload/v1`: any answer is fine, as long as there is one.
pub fn dpk_workload(data: &[u8]) {
    read_and_check(data, dpk::parse_workload, |_| true, "");
}

/// `dpk-online/v1`: any answer is fine, as long as there is one.
pub fn dpk_online(data: &[u8]) {
    read_and_check(data, dpk::parse_online, |_| true, "");
}

/// `orloj-sim/v1`.
pub fn orloj_sim(data: &[u8]) {
    read_and_check(
        data,
        orloj::parse_sim,
        |cfg| cfg.validate().is_ok(),
        "parse_sim returned an invalid config",
    );
}

/// Chase's carbon trace CSV (`location,timestamp,duration,value,hist`). An accepted trace has
/// rows with finite intensities ≥ 0 and one positive slot length, and the forecaster trained on
/// it (every method, the largest window that leaves a slot to forecast, at most 48) answers
/// with one finite forecast per remaining slot.
pub fn chase_carbon_csv(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    let Ok(trace) = chase::parse_carbon_csv(text) else {
        return;
    };
    assert!(!trace.records().is_empty(), "an accepted trace has a row");
    let first = trace.interval_min();
    for r in trace.records() {
        assert!(
            r.duration_min == first && first > 0.0 && first.is_finite(),
            "uneven or bad slot length accepted"
        );
        assert!(
            r.hist_g_per_kwh.is_finite() && r.hist_g_per_kwh >= 0.0,
            "bad intensity accepted"
        );
    }
    let hist = trace.hist_g_per_kwh();
    let history = (hist.len().saturating_sub(1)).min(chase::REFERENCE_HISTORY);
    for method in chase::ForecastMethod::ALL {
        let result = chase::forecast_series(&hist, history, history, trace.slots_per_day(), method);
        if history >= 2 {
            let f = result.unwrap_or_else(|e| panic!("{method:?} on an accepted trace: {e}"));
            assert_eq!(f.len(), hist.len() - history);
            assert!(f.iter().all(|v| v.is_finite()), "non-finite forecast");
        } else {
            assert!(result.is_err(), "a window under 2 slots must be refused");
        }
    }
}

/// The frontier `ergon chase simulate --frontier` reads: an accepted one has points with
/// finite positive time and finite non-negative energy per unit.
pub fn chase_frontier(data: &[u8]) {
    read_and_check(
        data,
        chase::formats::parse_frontier_points,
        |(points, _)| {
            !points.is_empty()
                && points.iter().all(|p| {
                    p.time_per_unit_s.is_finite()
                        && p.time_per_unit_s > 0.0
                        && p.energy_per_unit_j.is_finite()
                        && p.energy_per_unit_j >= 0.0
                })
        },
        "parse_frontier_points accepted an empty frontier or a bad point",
    );
}

/// `oobleck-profile/v1`: an accepted profile has layers, and the 0.1.1 templates for up to 4
/// nodes exist and cover every layer once with contiguous stages.
pub fn oobleck_profile(data: &[u8]) {
    use ergon_core::oobleck::{TemplateOptions, formats::parse_profile, generate_templates};
    read_and_check(
        data,
        parse_profile,
        |p| {
            let Ok(ts) = generate_templates(p, &TemplateOptions::new(4)) else {
                return false;
            };
            !p.is_empty()
                && ts.templates.iter().all(|t| {
                    let mut at = 0;
                    t.stages.iter().all(|s| {
                        let ok = s.first_layer == at && s.end_layer > at;
                        at = s.end_layer;
                        ok
                    }) && at == p.len()
                })
        },
        "parse_profile accepted a profile whose templates fail or do not cover it",
    );
}

/// The develop profiler's per-layer cache (`ergon oobleck … --profile DIR`, its `mb<N>.json`
/// read alone): an accepted cache has layers with finite, non-negative times.
pub fn oobleck_develop_cache(data: &[u8]) {
    use ergon_core::oobleck::formats::parse_develop_cache;
    read_and_check(
        data,
        |text| parse_develop_cache(text, None, None),
        |p| {
            !p.is_empty()
                && p.layers().iter().all(|l| {
                    l.forward_ms.is_finite()
                        && l.backward_ms.is_finite()
                        && l.forward_ms >= 0.0
                        && l.backward_ms >= 0.0
                })
        },
        "parse_develop_cache accepted an empty cache or a bad layer time",
    );
}

/// `oobleck-trace/v1` (`ergon oobleck simulate --trace`) for a 16-node cluster: an accepted
/// trace has at most `MAX_EVENTS` events, in time order, inside a finite positive run, on nodes
/// of the cluster.
pub fn oobleck_trace(data: &[u8]) {
    use ergon_core::oobleck::{formats::parse_trace, sim::MAX_EVENTS};
    read_and_check(
        data,
        |text| parse_trace(text, 16),
        |t| {
            t.duration_s.is_finite()
                && t.duration_s > 0.0
                && t.events.len() <= MAX_EVENTS
                && t.events.windows(2).all(|w| w[0].time_s <= w[1].time_s)
                && t.events
                    .iter()
                    .all(|e| e.node < 16 && e.time_s >= 0.0 && e.time_s <= t.duration_s)
        },
        "parse_trace accepted a trace out of order, out of the run or off the cluster",
    );
}

/// The Zeus traces (`ergon zeus optimum|simulate`): the train-trace and power-trace readers;
/// an accepted trace has rows, and when the same text reads as both (a header with every
/// column), every workload's merge, power-limit choice and optimum run without panicking.
pub fn zeus_trace(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    let train = TrainTrace::parse(text);
    let power = PowerTrace::parse(text);
    if let Ok(t) = &train {
        assert!(!t.rows.is_empty(), "an accepted train trace has rows");
    }
    if let Ok(p) = &power {
        assert!(!p.rows.is_empty(), "an accepted power trace has rows");
    }
    if let (Ok(t), Ok(p)) = (train, power) {
        for w in WORKLOADS {
            if let Ok(wt) = WorkloadTrace::new(w, &t, &p) {
                let choices = wt.choices(Eta::DEFAULT);
                assert_eq!(choices.len(), wt.batch_sizes.len());
                let _ = WorkloadTrace::optimum(&choices);
            }
        }
    }
}

/// The Zeus states a job reads back: `zeus-power-profile/v1` (an accepted profile gives an
/// optimizer that is done at a limit of the profile, and its own JSON reads back) and
/// `zeus-bso-state/v1` (an accepted state writes JSON that reads back, and resumes: the next
/// batch size is one of its batch sizes, or a clean error).
pub fn zeus_state(data: &[u8]) {
    use ergon_core::zeus::bso_state::BsoJob;
    use ergon_core::zeus::power_limit::formats::{parse_profile, write_profile};
    use ergon_core::zeus::{PowerLimitOptimizer, PowerLimitOptions, Selector};

    read_and_check(
        data,
        parse_profile,
        |profile| {
            let Ok(o) = PowerLimitOptimizer::with_profile(
                0,
                u32::MAX,
                PowerLimitOptions::default(),
                Selector::default(),
                profile.clone(),
            ) else {
                // Only a measurement with a negative or non-finite value is refused here.
                return profile.iter().any(|m| {
                    !(m.energy_j >= 0.0
                        && m.time_s >= 0.0
                        && m.energy_j.is_finite()
                        && m.time_s.is_finite())
                });
            };
            let chosen = o.optimal_limit_mw();
            chosen.is_some_and(|c| profile.iter().any(|m| m.power_limit_mw == c))
                && parse_profile(&write_profile(profile)).is_ok()
        },
        "an accepted power profile does not choose one of its limits, or does not read back",
    );
    read_and_check(
        data,
        BsoJob::from_json,
        |job| {
            let mut resumed = job.clone();
            let next_ok = match resumed.optimizer.next_batch_size() {
                Ok(b) => job.optimizer.params().batch_sizes.contains(&b),
                Err(_) => true,
            };
            next_ok && BsoJob::from_json(&job.to_json()).is_ok()
        },
        "an accepted batch-size state does not resume to one of its batch sizes, or does not read back",
    );
}
