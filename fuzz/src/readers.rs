//! Reader targets: arbitrary bytes into one of ergon's input formats. Each reader must return
//! `Ok` or `Err`, never panic, abort or hang. (There is no `ergon-plan/v1` reader: plans are
//! only written.)
//!
//! Inputs that reach a crash already filed in issue 12 and being fixed elsewhere are skipped
//! by [`known_open`], so that fuzzing keeps exploring; each guard names its case and goes away
//! once the library bounds that dimension itself.

use ergon_core::batching::formats as orloj;
use ergon_core::frontier::formats as perseus;
use ergon_core::knapsack::formats as dpk;
use serde_json::Value;

/// Largest pipeline (stages, microbatches, stage index, node count) the frontier targets
/// hand to the library while issue 12 item 1 (one allocation per stage, computation limit
/// aborts) is open.
pub const GUARD_MAX_STAGES: u64 = 1 << 12;
/// Largest RDP order the DPK targets hand to the library while issue 12 item 2 (series over
/// 0..=α hang at huge orders) is open.
pub const GUARD_MAX_ORDER: f64 = 1024.0;
/// Largest iteration time in quanta (time / unit time) the frontier targets solve while issue
/// 12 item 1 (a cost table per quantum) is open.
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

/// `true` when `text` reaches a crash that issue 12 already lists (huge pipelines, stage
/// indices or RDP orders; many tasks or blocks): the targets skip such inputs.
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

/// `perseus-instance/v1`: parse (and validate) an instance.
pub fn perseus_instance(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    if known_open(text) {
        return;
    }
    if let Ok(problem) = perseus::parse_instance(text) {
        assert!(
            problem.validate().is_ok(),
            "parse_instance returned a problem that does not validate"
        );
    }
}

/// The zeus profile CSV (`stage,instruction,frequency,time,energy`).
pub fn zeus_csv(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    if let Ok(profiles) = perseus::parse_profile_csv(text) {
        assert!(
            !profiles.is_empty(),
            "a parsed CSV has at least one profile"
        );
    }
}

/// `dpk-workload/v1`.
pub fn dpk_workload(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    if known_open(text) {
        return;
    }
    let _ = dpk::parse_workload(text);
}

/// `dpk-online/v1`.
pub fn dpk_online(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    if known_open(text) {
        return;
    }
    let _ = dpk::parse_online(text);
}

/// `orloj-sim/v1`.
pub fn orloj_sim(data: &[u8]) {
    let Some(text) = utf8(data) else { return };
    if let Ok(cfg) = orloj::parse_sim(text) {
        assert!(
            cfg.validate().is_ok(),
            "parse_sim returned an invalid config"
        );
    }
}
