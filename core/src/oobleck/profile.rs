//! The layer profile and the minimum pipeline size n0 (notes A2, A3).

use alloc::vec::Vec;

use super::{MAX_LAYER_TIME_MS, MAX_LAYERS, OobleckError};

/// A layer's memory: one number (the 0.1.1 profiler's `mem_required`) or the develop
/// profiler's split into parameters and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerMemory {
    /// Everything the layer needs on its device, bytes.
    Total(u64),
    /// Parameter bytes and activation bytes (the develop rule charges `6 ×` parameters for
    /// weights, gradients and optimizer state).
    Split {
        /// Parameter bytes.
        params: u64,
        /// Activation bytes.
        activations: u64,
    },
}

impl LayerMemory {
    /// Bytes under the 0.1.1 rule (`mem_required`; a split counts parameters plus activations).
    pub fn v011_bytes(self) -> u64 {
        match self {
            LayerMemory::Total(b) => b,
            LayerMemory::Split {
                params,
                activations,
            } => params.saturating_add(activations),
        }
    }

    /// Bytes of weights, gradients and optimizer state under the develop rule (`6 × params`;
    /// a single total is taken as already including them).
    pub fn develop_state_bytes(self) -> u64 {
        match self {
            LayerMemory::Total(b) => b,
            LayerMemory::Split { params, .. } => params.saturating_mul(6),
        }
    }

    /// Activation bytes (0 for a single total).
    pub fn activation_bytes(self) -> u64 {
        match self {
            LayerMemory::Total(_) => 0,
            LayerMemory::Split { activations, .. } => activations,
        }
    }
}

/// One layer of the model, in execution order.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Forward time of one microbatch, milliseconds.
    pub forward_ms: f64,
    /// Backward time of one microbatch, milliseconds.
    pub backward_ms: f64,
    /// Memory.
    pub memory: LayerMemory,
    /// Intra-node all-reduce time of this layer when `g` GPUs share it: `(g, ms)` pairs
    /// (develop objective; a missing `g` counts as 0).
    pub allreduce_in_node_ms: Vec<(u32, f64)>,
    /// Cross-node all-reduce time of this layer over `k` replicas: `(k, ms)` pairs (develop
    /// adds layer 0's value at the pipeline count to the plan's iteration time).
    pub allreduce_across_nodes_ms: Vec<(u32, f64)>,
}

impl Layer {
    /// A layer with forward/backward times and a total memory, no all-reduce times.
    pub fn new(forward_ms: f64, backward_ms: f64, memory_bytes: u64) -> Self {
        Layer {
            forward_ms,
            backward_ms,
            memory: LayerMemory::Total(memory_bytes),
            allreduce_in_node_ms: Vec::new(),
            allreduce_across_nodes_ms: Vec::new(),
        }
    }

    /// The intra-node all-reduce time for `g` GPUs (0 when not profiled).
    pub fn allreduce_in_node(&self, g: u32) -> f64 {
        lookup(&self.allreduce_in_node_ms, g)
    }

    /// The cross-node all-reduce time over `k` replicas (0 when not profiled).
    pub fn allreduce_across_nodes(&self, k: u32) -> f64 {
        lookup(&self.allreduce_across_nodes_ms, k)
    }
}

fn lookup(table: &[(u32, f64)], key: u32) -> f64 {
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(0.0, |(_, v)| *v)
}

/// A validated model profile: at least one layer, at most [`MAX_LAYERS`], every time finite in
/// `[0, MAX_LAYER_TIME_MS]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    layers: Vec<Layer>,
}

impl Profile {
    /// Validates the layers.
    pub fn new(layers: Vec<Layer>) -> Result<Self, OobleckError> {
        if layers.is_empty() {
            return Err(OobleckError::NoLayers);
        }
        if layers.len() > MAX_LAYERS {
            return Err(OobleckError::TooManyLayers {
                layers: layers.len(),
            });
        }
        let ok = |v: f64| v.is_finite() && (0.0..=MAX_LAYER_TIME_MS).contains(&v);
        for (i, l) in layers.iter().enumerate() {
            let fields = [("forward", l.forward_ms), ("backward", l.backward_ms)]
                .into_iter()
                .chain(
                    l.allreduce_in_node_ms
                        .iter()
                        .map(|(_, v)| ("allreduce_in_node", *v)),
                )
                .chain(
                    l.allreduce_across_nodes_ms
                        .iter()
                        .map(|(_, v)| ("allreduce_across_nodes", *v)),
                );
            for (field, value_ms) in fields {
                if !ok(value_ms) {
                    return Err(OobleckError::InvalidTime {
                        layer: i,
                        field,
                        value_ms,
                    });
                }
            }
        }
        Ok(Profile { layers })
    }

    /// The layers.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Always false (a profile has at least one layer); here for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The minimum nodes per pipeline by memory (notes A3): under 0.1.1
    /// `ceil(Σ mem_required / M)`, under develop `ceil((6·Σ params + max activations) / M)`,
    /// with `M` the memory of one node; 1 without a memory limit. A layer that alone exceeds
    /// `M` is an error.
    pub fn min_nodes(
        &self,
        develop: bool,
        node_memory_bytes: Option<u64>,
    ) -> Result<u32, OobleckError> {
        let Some(m) = node_memory_bytes else {
            return Ok(1);
        };
        if m == 0 {
            return Err(OobleckError::InvalidMemory);
        }
        let mut total: u128 = 0;
        let mut max_act: u64 = 0;
        for (i, l) in self.layers.iter().enumerate() {
            let bytes = if develop {
                l.memory
                    .develop_state_bytes()
                    .saturating_add(l.memory.activation_bytes())
            } else {
                l.memory.v011_bytes()
            };
            if bytes > m {
                return Err(OobleckError::LayerTooLarge {
                    layer: i,
                    bytes,
                    node_memory_bytes: m,
                });
            }
            if develop {
                total += u128::from(l.memory.develop_state_bytes());
                max_act = max_act.max(l.memory.activation_bytes());
            } else {
                total += u128::from(bytes);
            }
        }
        total += u128::from(max_act);
        let n0 = total.div_ceil(u128::from(m)).max(1);
        Ok(u32::try_from(n0).unwrap_or(u32::MAX))
    }
}
