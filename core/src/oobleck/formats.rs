//! Interchange formats of Oobleck (formats.md, `oobleck-profile/v1`): the profile in, the
//! templates / plan / reconfiguration documents out, and the develop profiler's cache files
//! (`mb<N>.json`, `allreduce_in_node.json`, `allreduce_across_nodes.json`: arrays with one entry
//! per layer) in. Everything works on strings.
//!
//! The profile's layer fields are the upstream planners' (`forward`, `backward`,
//! `mem_required` as one number or `[param_bytes, activation_bytes]`, `allreduce_in_node` and
//! `allreduce_across_nodes` as objects keyed by the GPU or replica count), so an upstream
//! profile converts by wrapping its layer list. Unknown fields (`layer_index`, `layer_name`)
//! are ignored. The layer count is checked against [`MAX_LAYERS`] while reading, before the
//! list grows past it.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::{
    Layer, LayerMemory, MAX_GPUS_PER_NODE, MAX_LAYERS, MAX_NODES, OobleckError, Plan, Profile,
    Reconfiguration, Templates,
};
use crate::formats::to_json;

/// Format name of a profile.
pub const PROFILE_FORMAT: &str = "oobleck-profile/v1";

/// Why a profile was rejected (the shared [`crate::formats::FormatError`] over
/// [`OobleckError`]).
pub type FormatError = crate::formats::FormatError<OobleckError>;

/// Most entries of one all-reduce table.
const MAX_TABLE: usize = 64;

#[derive(Deserialize)]
#[serde(untagged)]
enum MemDoc {
    Total(f64),
    Split([f64; 2]),
}

#[derive(Deserialize)]
struct LayerDoc {
    forward: f64,
    backward: f64,
    #[serde(default)]
    mem_required: Option<MemDoc>,
    #[serde(default)]
    allreduce_in_node: Option<BTreeMap<String, f64>>,
    #[serde(default)]
    allreduce_across_nodes: Option<BTreeMap<String, f64>>,
}

/// A list that refuses to grow past `MAX_LAYERS` entries.
struct Bounded<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Bounded<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(core::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Bounded<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a list of at most {MAX_LAYERS} layers")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element()? {
                    if out.len() == MAX_LAYERS {
                        return Err(de::Error::custom(format!("more than {MAX_LAYERS} layers")));
                    }
                    out.push(x);
                }
                Ok(Bounded(out))
            }
        }
        d.deserialize_seq(V(core::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct ProfileDoc {
    layers: Bounded<LayerDoc>,
}

#[derive(Deserialize)]
struct FormatOnly {
    format: String,
}

fn bytes(field: String, v: f64) -> Result<u64, FormatError> {
    if !v.is_finite() || !(0.0..=1.0e18).contains(&v) {
        return Err(FormatError::field(
            field,
            format!("{v} is not a byte count in [0, 1e18]"),
        ));
    }
    Ok(libm::ceil(v) as u64)
}

fn table(
    field: String,
    map: Option<BTreeMap<String, f64>>,
    max_key: u32,
) -> Result<Vec<(u32, f64)>, FormatError> {
    let Some(map) = map else {
        return Ok(Vec::new());
    };
    if map.len() > MAX_TABLE {
        return Err(FormatError::field(
            field,
            format!("{} entries, more than {MAX_TABLE}", map.len()),
        ));
    }
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let key: u32 = k
            .trim()
            .parse()
            .ok()
            .filter(|&g| (1..=max_key).contains(&g))
            .ok_or_else(|| {
                FormatError::field(
                    field.clone(),
                    format!("key \"{k}\" is not a count in 1..={max_key}"),
                )
            })?;
        out.push((key, v));
    }
    out.sort_by_key(|&(k, _)| k);
    Ok(out)
}

fn layer(i: usize, d: LayerDoc) -> Result<Layer, FormatError> {
    let memory = match d.mem_required {
        None => LayerMemory::Total(0),
        Some(MemDoc::Total(b)) => {
            LayerMemory::Total(bytes(format!("layers[{i}].mem_required"), b)?)
        }
        Some(MemDoc::Split([p, a])) => LayerMemory::Split {
            params: bytes(format!("layers[{i}].mem_required[0]"), p)?,
            activations: bytes(format!("layers[{i}].mem_required[1]"), a)?,
        },
    };
    Ok(Layer {
        forward_ms: d.forward,
        backward_ms: d.backward,
        memory,
        allreduce_in_node_ms: table(
            format!("layers[{i}].allreduce_in_node"),
            d.allreduce_in_node,
            MAX_GPUS_PER_NODE,
        )?,
        allreduce_across_nodes_ms: table(
            format!("layers[{i}].allreduce_across_nodes"),
            d.allreduce_across_nodes,
            MAX_NODES,
        )?,
    })
}

/// Parses and validates an `oobleck-profile/v1` document.
pub fn parse_profile(text: &str) -> Result<Profile, FormatError> {
    let f: FormatOnly =
        serde_json::from_str(text).map_err(|e| FormatError::json(PROFILE_FORMAT, &e))?;
    if f.format != PROFILE_FORMAT {
        return Err(FormatError::Schema {
            expected: PROFILE_FORMAT,
            found: f.format,
        });
    }
    let doc: ProfileDoc =
        serde_json::from_str(text).map_err(|e| FormatError::json(PROFILE_FORMAT, &e))?;
    let layers = doc
        .layers
        .0
        .into_iter()
        .enumerate()
        .map(|(i, d)| layer(i, d))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Profile::new(layers)?)
}

/// Reads the develop profiler's cache: the per-layer execution file `mb<N>.json` (a list of
/// `{"forward", "backward", "mem_required": [params, activations]}`) and, when present, the
/// per-layer lists `allreduce_in_node.json` and `allreduce_across_nodes.json` (objects keyed by
/// GPU or replica count). The lists must have one entry per layer.
pub fn parse_develop_cache(
    layers: &str,
    allreduce_in_node: Option<&str>,
    allreduce_across_nodes: Option<&str>,
) -> Result<Profile, FormatError> {
    const SCHEMA: &str = "develop profiler cache";
    let docs: Bounded<LayerDoc> =
        serde_json::from_str(layers).map_err(|e| FormatError::json(SCHEMA, &e))?;
    let n = docs.0.len();
    let read_tables = |text: Option<&str>,
                       name: &str|
     -> Result<Vec<Option<BTreeMap<String, f64>>>, FormatError> {
        let Some(text) = text else {
            return Ok(alloc::vec![None; n]);
        };
        let t: Bounded<BTreeMap<String, f64>> =
            serde_json::from_str(text).map_err(|e| FormatError::json(SCHEMA, &e))?;
        if t.0.len() != n {
            return Err(FormatError::field(
                name.to_string(),
                format!("{} entries for {n} layers", t.0.len()),
            ));
        }
        Ok(t.0.into_iter().map(Some).collect())
    };
    let ins = read_tables(allreduce_in_node, "allreduce_in_node.json")?;
    let across = read_tables(allreduce_across_nodes, "allreduce_across_nodes.json")?;
    let mut out = Vec::with_capacity(n);
    for (i, ((mut d, a), c)) in docs.0.into_iter().zip(ins).zip(across).enumerate() {
        if a.is_some() {
            d.allreduce_in_node = a;
        }
        if c.is_some() {
            d.allreduce_across_nodes = c;
        }
        out.push(layer(i, d)?);
    }
    Ok(Profile::new(out)?)
}

#[derive(Serialize)]
struct StageOut {
    layers: [usize; 2],
    gpus: u32,
    node: u32,
    gpu_offset: u32,
    latency_ms: f64,
}

#[derive(Serialize)]
struct TemplateOut {
    num_nodes: u32,
    stages: Vec<StageOut>,
    bottleneck: usize,
    objective: f64,
    latency_at_128: f64,
}

#[derive(Serialize)]
struct TemplatesOut {
    objective_kind: &'static str,
    n0: u32,
    templates: Vec<TemplateOut>,
}

fn templates_out(ts: &Templates) -> TemplatesOut {
    TemplatesOut {
        objective_kind: ts.objective.name(),
        n0: ts.n0,
        templates: ts
            .templates
            .iter()
            .map(|t| TemplateOut {
                num_nodes: t.num_nodes,
                stages: t
                    .stages
                    .iter()
                    .map(|s| StageOut {
                        layers: [s.first_layer, s.end_layer],
                        gpus: s.gpus,
                        node: s.node,
                        gpu_offset: s.gpu_offset,
                        latency_ms: s.latency_ms,
                    })
                    .collect(),
                bottleneck: t.bottleneck,
                objective: t.objective_ms,
                latency_at_128: t.latency_at_128_ms,
            })
            .collect(),
    }
}

/// The templates document: `{"objective_kind", "n0", "templates": [{"num_nodes", "stages":
/// [{"layers": [a, b], "gpus", "node", "gpu_offset", "latency_ms"}], "bottleneck",
/// "objective", "latency_at_128"}]}` (times in ms).
pub fn templates_json(ts: &Templates) -> String {
    to_json(&templates_out(ts))
}

#[derive(Serialize)]
struct PipelineOut {
    num_nodes: u32,
    microbatches: u64,
    nodes: Vec<u32>,
}

#[derive(Serialize)]
struct TransferOut {
    node: u32,
    layers: [usize; 2],
    from: u32,
}

#[derive(Serialize)]
struct PlanOut {
    objective_kind: &'static str,
    n0: u32,
    templates: Vec<TemplateOut>,
    pipelines: Vec<PipelineOut>,
    iteration_time: f64,
    microbatches: u64,
    options_considered: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    lost: Option<Vec<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transfers: Option<Vec<TransferOut>>,
}

fn plan_out(ts: &Templates, plan: &Plan) -> PlanOut {
    let t = templates_out(ts);
    PlanOut {
        objective_kind: t.objective_kind,
        n0: t.n0,
        templates: t.templates,
        pipelines: plan
            .pipelines
            .iter()
            .map(|p| PipelineOut {
                num_nodes: p.num_nodes,
                microbatches: p.microbatches,
                nodes: p.nodes.clone(),
            })
            .collect(),
        iteration_time: plan.iteration_time_ms,
        microbatches: plan.microbatches,
        options_considered: plan.options_considered,
        lost: None,
        transfers: None,
    }
}

/// The plan document: the templates document plus `"pipelines": [{"num_nodes",
/// "microbatches", "nodes"}]`, `"iteration_time"` (ms), `"microbatches"` and
/// `"options_considered"`.
pub fn plan_json(ts: &Templates, plan: &Plan) -> String {
    to_json(&plan_out(ts, plan))
}

/// The reconfiguration document: the plan document of the new plan plus `"lost"` and
/// `"transfers": [{"node", "layers": [a, b], "from"}]`.
pub fn reconfiguration_json(ts: &Templates, r: &Reconfiguration) -> String {
    let mut out = plan_out(ts, &r.plan);
    out.lost = Some(r.lost.clone());
    out.transfers = Some(
        r.transfers
            .iter()
            .map(|t| TransferOut {
                node: t.node,
                layers: [t.first_layer, t.end_layer],
                from: t.from_node,
            })
            .collect(),
    );
    to_json(&out)
}

/// Format name of a failure/recovery trace.
pub const TRACE_FORMAT: &str = "oobleck-trace/v1";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventDoc {
    time_s: f64,
    #[serde(default)]
    fail: Option<u32>,
    #[serde(default)]
    join: Option<u32>,
}

#[derive(Deserialize)]
struct TraceDoc {
    duration_s: f64,
    #[serde(default)]
    events: Option<Bounded<EventDoc>>,
    #[serde(default)]
    failure_every_s: Option<f64>,
    #[serde(default)]
    rejoin_after_s: Option<f64>,
}

/// Parses an `oobleck-trace/v1` document for a cluster of `nodes` nodes: explicit `events`
/// (`{"time_s", "fail": node}` or `{"time_s", "join": node}`, in time order), or a periodic
/// trace, `failure_every_s` (node `(7k) mod N`, the next live one, fails at `k·interval`) with
/// optional `rejoin_after_s` (each failed node returns that long after).
pub fn parse_trace(
    text: &str,
    nodes: u32,
) -> Result<super::sim::Trace, crate::formats::FormatError<super::sim::SimError>> {
    use super::sim::{Event, MAX_EVENTS, Trace};
    type E = crate::formats::FormatError<super::sim::SimError>;
    let f: FormatOnly = serde_json::from_str(text).map_err(|e| E::json(TRACE_FORMAT, &e))?;
    if f.format != TRACE_FORMAT {
        return Err(E::Schema {
            expected: TRACE_FORMAT,
            found: f.format,
        });
    }
    let doc: TraceDoc = serde_json::from_str(text).map_err(|e| E::json(TRACE_FORMAT, &e))?;
    let mut events = Vec::new();
    match (doc.events, doc.failure_every_s) {
        (Some(list), None) => {
            for (i, e) in list.0.into_iter().enumerate() {
                let (node, fails) = match (e.fail, e.join) {
                    (Some(u), None) => (u, true),
                    (None, Some(u)) => (u, false),
                    _ => {
                        return Err(E::field(
                            format!("events[{i}]"),
                            "needs exactly one of `fail` and `join`",
                        ));
                    }
                };
                events.push(Event {
                    time_s: e.time_s,
                    node,
                    fails,
                });
            }
        }
        (None, Some(every)) => {
            let d = doc.duration_s;
            if !(every.is_finite()
                && every > 0.0
                && d.is_finite()
                && d / every <= MAX_EVENTS as f64 / 2.0)
            {
                return Err(E::field(
                    "failure_every_s",
                    format!(
                        "must be positive and give at most {} failures over duration_s",
                        MAX_EVENTS / 2
                    ),
                ));
            }
            let back = doc.rejoin_after_s;
            if back.is_some_and(|b| !(b.is_finite() && b >= 0.0)) {
                return Err(E::field(
                    "rejoin_after_s",
                    "must be finite and non-negative",
                ));
            }
            let mut alive = alloc::vec![true; nodes as usize];
            let mut returns: Vec<(f64, u32)> = Vec::new();
            let mut k = 1u64;
            while (k as f64) * every <= d && nodes > 0 {
                let t = (k as f64) * every;
                // Returns due by now come first.
                returns.sort_by(|a, b| a.0.total_cmp(&b.0));
                while let Some(&(rt, u)) = returns.first() {
                    if rt > t {
                        break;
                    }
                    returns.remove(0);
                    alive[u as usize] = true;
                    events.push(Event {
                        time_s: rt,
                        node: u,
                        fails: false,
                    });
                }
                let start = ((7 * k) % u64::from(nodes)) as u32;
                if let Some(u) = (0..nodes)
                    .map(|i| (start + i) % nodes)
                    .find(|&u| alive[u as usize])
                {
                    alive[u as usize] = false;
                    events.push(Event {
                        time_s: t,
                        node: u,
                        fails: true,
                    });
                    if let Some(b) = back {
                        returns.push((t + b, u));
                    }
                }
                k += 1;
            }
            returns.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (rt, u) in returns {
                if rt <= d {
                    events.push(Event {
                        time_s: rt,
                        node: u,
                        fails: false,
                    });
                }
            }
        }
        _ => {
            return Err(E::field(
                "events",
                "give either `events` or `failure_every_s`",
            ));
        }
    }
    let trace = Trace {
        duration_s: doc.duration_s,
        events,
    };
    trace.validate(nodes)?;
    Ok(trace)
}

#[derive(Serialize)]
struct SystemOut<'a> {
    system: &'static str,
    effective_share: f64,
    microbatches: f64,
    reconfigurations: u32,
    restarts: u32,
    series: &'a [(f64, f64)],
}

/// The simulation result: `{"systems": [{"system", "effective_share", "microbatches",
/// "reconfigurations", "restarts", "series": [[time_s, microbatches_per_s], ...]}]}`.
pub fn simulation_json(results: &[super::sim::SystemResult]) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        systems: Vec<SystemOut<'a>>,
    }
    to_json(&Out {
        systems: results
            .iter()
            .map(|r| SystemOut {
                system: r.system,
                effective_share: r.effective_share,
                microbatches: r.microbatches,
                reconfigurations: r.reconfigurations,
                restarts: r.restarts,
                series: &r.series,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_memory_shapes_and_tables() {
        let p = parse_profile(
            r#"{"format": "oobleck-profile/v1", "layers": [
                {"forward": 1, "backward": 2, "mem_required": 100, "layer_name": "x"},
                {"forward": 1.5, "backward": 3, "mem_required": [10, 20.5],
                 "allreduce_in_node": {"2": 0.5, "1": 0}, "allreduce_across_nodes": {"4": 2}}]}"#,
        )
        .unwrap();
        assert_eq!(p.layers()[0].memory, LayerMemory::Total(100));
        assert_eq!(
            p.layers()[1].memory,
            LayerMemory::Split {
                params: 10,
                activations: 21
            }
        );
        assert_eq!(
            p.layers()[1].allreduce_in_node_ms,
            alloc::vec![(1, 0.0), (2, 0.5)]
        );
        assert_eq!(p.layers()[1].allreduce_across_nodes(4), 2.0);
    }

    #[test]
    fn rejects_bad_documents() {
        let bad = [
            (r#"{"format": "x/v1", "layers": []}"#, "expected schema"),
            (
                r#"{"format": "oobleck-profile/v1", "layers": []}"#,
                "no layers",
            ),
            (
                r#"{"format": "oobleck-profile/v1", "layers": [{"forward": -1, "backward": 1}]}"#,
                "forward",
            ),
            (
                r#"{"format": "oobleck-profile/v1", "layers": [{"forward": 1, "backward": 1, "allreduce_in_node": {"two": 1}}]}"#,
                "key \"two\"",
            ),
            (
                r#"{"format": "oobleck-profile/v1", "layers": [{"forward": 1, "backward": 1, "mem_required": -5}]}"#,
                "byte count",
            ),
            ("{", "invalid oobleck-profile/v1"),
        ];
        for (text, want) in bad {
            let e = parse_profile(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let many = format!(
            r#"{{"format": "oobleck-profile/v1", "layers": [{}]}}"#,
            alloc::vec![r#"{"forward": 1, "backward": 1}"#; MAX_LAYERS + 1].join(",")
        );
        assert!(
            parse_profile(&many)
                .unwrap_err()
                .to_string()
                .contains("more than 1024")
        );
    }

    #[test]
    fn reads_the_develop_cache() {
        let p = parse_develop_cache(
            r#"[{"forward": 1, "backward": 3, "mem_required": [1024.0, 1024.0]},
                {"forward": 2, "backward": 6, "mem_required": [1024.0, 1024.0]}]"#,
            Some(r#"[{"1": 0.1, "4": 0.4}, {"1": 0.2, "4": 0.8}]"#),
            Some(r#"[{"1": 1.0, "4": 4.0}, {"1": 2.0, "4": 8.0}]"#),
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p.layers()[1].allreduce_in_node(4), 0.8);
        assert_eq!(p.layers()[0].allreduce_across_nodes(4), 4.0);
        let e = parse_develop_cache("[{\"forward\": 1, \"backward\": 3}]", Some("[]"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("0 entries for 1 layers"), "{e}");
    }
}
