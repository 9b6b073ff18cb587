//! JSON of Auxo results (feature `serde`): `auxo-playground/v1`, the `ergon auxo simulate
//! --positions --json` output.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde_json::json;

use super::playground::PlaygroundResult;

/// The playground result as `{"schema": "auxo-playground/v1", "splits": [{"round",
/// "num_cohorts_after"}], "final_cohorts", "ari", "purity_known"}`.
pub fn playground_json(r: &PlaygroundResult) -> String {
    let splits: Vec<serde_json::Value> = r
        .splits
        .iter()
        .map(|s| json!({"round": s.round, "num_cohorts_after": s.num_cohorts_after}))
        .collect();
    json!({
        "schema": "auxo-playground/v1",
        "splits": splits,
        "final_cohorts": r.final_cohorts,
        "ari": r.ari,
        "purity_known": r.purity_known,
    })
    .to_string()
}
