//! Perseus problems to start tests from: five options per profile and the same problem as a
//! `perseus-instance/v1` document, a zeus CSV and an explicit `dag` section.

use ergon_core::perseus::{Dag, Kind, Profile, ProfileOption};
use serde_json::{Value, json};

/// The clocks of every profile's options, fastest first.
pub const FREQS: [u32; 5] = [1410, 1305, 1200, 1095, 990];

/// Five options of one (stage, kind): slower clocks take longer and less energy, one quantum
/// (1 ms) or more apart, so all five survive the Pareto filter.
pub fn options(base_ms: f64) -> Vec<ProfileOption> {
    FREQS
        .iter()
        .enumerate()
        .map(|(i, &f)| {
            let i = i as f64;
            ProfileOption {
                freq_mhz: f,
                time_s: (base_ms + 2.0 * i + 0.5) * 1e-3,
                energy_j: 8.0 - 0.9 * i + 0.05 * i * i,
            }
        })
        .collect()
}

/// A forward and a backward profile per stage (in that order), the fastest option of each
/// taking `base_ms(stage, kind)`.
pub fn profiles(num_stages: u32, base_ms: impl Fn(u32, Kind) -> f64) -> Vec<Profile> {
    (0..num_stages)
        .flat_map(|stage| [Kind::Forward, Kind::Backward].map(|kind| (stage, kind)))
        .map(|(stage, kind)| Profile {
            stage,
            kind,
            options: options(base_ms(stage, kind)),
            fit: None,
        })
        .collect()
}

/// The `profiles` section of an instance document.
pub fn profiles_json(profiles: &[Profile]) -> Value {
    profiles
        .iter()
        .map(|p| {
            let options: Vec<Value> = p
                .options
                .iter()
                .map(
                    |o| json!({"freq_mhz": o.freq_mhz, "time_s": o.time_s, "energy_j": o.energy_j}),
                )
                .collect();
            json!({"stage": p.stage, "kind": p.kind.name(), "options": options})
        })
        .collect()
}

/// The same profiles as a zeus CSV (`stage,instruction,frequency,time,energy`).
pub fn profiles_csv(profiles: &[Profile]) -> String {
    let mut text = String::from("stage,instruction,frequency,time,energy\n");
    for p in profiles {
        for o in &p.options {
            text.push_str(&format!(
                "{},{},{},{},{}\n",
                p.stage, p.kind, o.freq_mhz, o.time_s, o.energy_j
            ));
        }
    }
    text
}

/// `dag` as an instance's explicit `dag` section (node ids are the indices).
pub fn dag_json(dag: &Dag) -> Value {
    let nodes: Vec<Value> = dag
        .nodes
        .iter()
        .enumerate()
        .map(|(id, c)| {
            json!({"id": id, "stage": c.stage, "kind": c.kind.name(), "microbatch": c.microbatch})
        })
        .collect();
    json!({"nodes": nodes, "edges": dag.edges})
}
