//! Dinic's maximum-flow algorithm over a compressed-sparse-row residual graph.

use alloc::vec::Vec;

/// Identifies an arc by the order in which it was added with [`MaxFlow::add_arc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArcId(pub u32);

const UNREACHED: u32 = u32::MAX;

/// A reusable max-flow solver (Dinic) with `i64` capacities.
///
/// Usage: [`reset`](Self::reset) with the node count, [`add_arc`](Self::add_arc) for every
/// arc, then [`max_flow`](Self::max_flow) (any number of times, e.g. between capacity
/// changes made with [`set_residual`](Self::set_residual)). All buffers are kept between
/// uses, so solving many networks of similar size does not allocate.
///
/// Capacities must be non-negative and the caller must keep every flow value within `i64`
/// (the sum of the capacities leaving the source is a safe bound).
#[derive(Debug, Default, Clone)]
pub struct MaxFlow {
    num_nodes: usize,
    pending: Vec<(u32, u32, i64, i64)>,
    built: bool,
    /// CSR: arcs of node `u` are `start[u]..start[u + 1]`.
    start: Vec<u32>,
    to: Vec<u32>,
    residual: Vec<i64>,
    rev: Vec<u32>,
    /// Position in the CSR arrays of the forward arc added as `ArcId(k)`.
    position: Vec<u32>,
    original: Vec<i64>,
    level: Vec<u32>,
    next_arc: Vec<u32>,
    queue: Vec<u32>,
    path: Vec<u32>,
}

impl MaxFlow {
    /// An empty solver; buffers grow on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new network with `num_nodes` nodes and no arcs, keeping allocated buffers.
    pub fn reset(&mut self, num_nodes: usize) {
        self.num_nodes = num_nodes;
        self.pending.clear();
        self.built = false;
    }

    /// Number of nodes of the current network.
    pub fn num_nodes(&self) -> usize {
        self.num_nodes
    }

    /// Adds the arc `u → v` with capacity `capacity` (≥ 0) and returns its id.
    ///
    /// Node ids must be below the count given to [`reset`](Self::reset); arcs added after a
    /// flow was computed start a fresh build (flows are discarded).
    pub fn add_arc(&mut self, u: usize, v: usize, capacity: i64) -> ArcId {
        self.add_arc_with_flow(u, v, capacity, 0)
    }

    /// [`add_arc`](Self::add_arc) with an initial flow `0 ≤ flow ≤ capacity` on the arc (the
    /// caller keeps flow conservation, e.g. through helper arcs), so that a warm start needs
    /// no second pass over the arcs.
    pub fn add_arc_with_flow(&mut self, u: usize, v: usize, capacity: i64, flow: i64) -> ArcId {
        debug_assert!(u < self.num_nodes && v < self.num_nodes && capacity >= 0);
        debug_assert!((0..=capacity).contains(&flow));
        self.built = false;
        self.pending.push((u as u32, v as u32, capacity, flow));
        ArcId((self.pending.len() - 1) as u32)
    }

    fn build(&mut self) {
        let n = self.num_nodes;
        let m = self.pending.len();
        self.start.clear();
        self.start.resize(n + 2, 0);
        for &(u, v, _, _) in &self.pending {
            self.start[u as usize + 2] += 1;
            self.start[v as usize + 2] += 1;
        }
        // After this loop start[x + 1] is the first slot of node x (a counting sort whose
        // cursor doubles as the final offsets).
        for x in 2..n + 2 {
            self.start[x] += self.start[x - 1];
        }
        let slots = 2 * m;
        self.to.clear();
        self.to.resize(slots, 0);
        self.residual.clear();
        self.residual.resize(slots, 0);
        self.rev.clear();
        self.rev.resize(slots, 0);
        self.position.clear();
        self.original.clear();
        for &(u, v, cap, flow) in &self.pending {
            let fwd = self.start[u as usize + 1];
            self.start[u as usize + 1] += 1;
            let bwd = self.start[v as usize + 1];
            self.start[v as usize + 1] += 1;
            let (f, b) = (fwd as usize, bwd as usize);
            self.to[f] = v;
            self.residual[f] = cap - flow;
            self.rev[f] = bwd;
            self.to[b] = u;
            self.residual[b] = flow;
            self.rev[b] = fwd;
            self.position.push(fwd);
            self.original.push(cap);
        }
        self.level.clear();
        self.level.resize(n, UNREACHED);
        self.next_arc.clear();
        self.next_arc.resize(n, 0);
        self.built = true;
    }

    /// Augments the current flow to a maximum `s → t` flow and returns the amount added.
    pub fn max_flow(&mut self, s: usize, t: usize) -> i64 {
        if !self.built {
            self.build();
        }
        if s == t || s >= self.num_nodes || t >= self.num_nodes {
            return 0;
        }
        let mut total = 0i64;
        while self.bfs_levels(s, t) {
            for u in 0..self.num_nodes {
                self.next_arc[u] = self.start[u];
            }
            total += self.blocking_flow(s, t);
        }
        total
    }

    /// Labels every node with its residual distance to `t` (a backward breadth-first search),
    /// so that the depth-first search below only enters nodes from which `t` is reachable:
    /// the critical networks of pipelines have many dead ends reachable from `s`.
    fn bfs_levels(&mut self, s: usize, t: usize) -> bool {
        self.level.fill(UNREACHED);
        self.queue.clear();
        self.level[t] = 0;
        self.queue.push(t as u32);
        let mut head = 0;
        while head < self.queue.len() {
            let v = self.queue[head] as usize;
            head += 1;
            let next = self.level[v] + 1;
            // Nodes farther from t than s cannot lie on a shortest augmenting path.
            if self.level[s] != UNREACHED && next > self.level[s] {
                break;
            }
            for a in self.start[v] as usize..self.start[v + 1] as usize {
                // Slot `a` is v → u; its partner is u → v.
                let u = self.to[a] as usize;
                if self.level[u] == UNREACHED && self.residual[self.rev[a] as usize] > 0 {
                    self.level[u] = next;
                    self.queue.push(u as u32);
                }
            }
        }
        self.level[s] != UNREACHED
    }

    /// Iterative depth-first search for augmenting paths in the level graph (no recursion:
    /// critical paths of large pipelines are thousands of arcs long).
    fn blocking_flow(&mut self, s: usize, t: usize) -> i64 {
        let mut total = 0i64;
        self.path.clear();
        let mut u = s;
        loop {
            if u == t {
                let mut bottleneck = i64::MAX;
                for &a in &self.path {
                    bottleneck = bottleneck.min(self.residual[a as usize]);
                }
                let mut retreat_to = None;
                for (k, &a) in self.path.iter().enumerate() {
                    let a = a as usize;
                    self.residual[a] -= bottleneck;
                    self.residual[self.rev[a] as usize] += bottleneck;
                    if retreat_to.is_none() && self.residual[a] == 0 {
                        retreat_to = Some(k);
                    }
                }
                total += bottleneck;
                let k = retreat_to.unwrap_or(0);
                self.path.truncate(k);
                u = match self.path.last() {
                    Some(&a) => self.to[a as usize] as usize,
                    None => s,
                };
                continue;
            }
            let end = self.start[u + 1];
            let mut advanced = false;
            while self.next_arc[u] < end {
                let a = self.next_arc[u] as usize;
                let v = self.to[a] as usize;
                if self.residual[a] > 0 && self.level[v].wrapping_add(1) == self.level[u] {
                    self.path.push(a as u32);
                    u = v;
                    advanced = true;
                    break;
                }
                self.next_arc[u] += 1;
            }
            if advanced {
                continue;
            }
            // Dead end: no augmenting path continues through u in this phase.
            self.level[u] = UNREACHED;
            match self.path.pop() {
                None => return total,
                Some(a) => {
                    u = self.to[self.rev[a as usize] as usize] as usize;
                    self.next_arc[u] += 1;
                }
            }
        }
    }

    /// Current flow on the arc `id` (its capacity minus its residual capacity).
    pub fn flow(&self, id: ArcId) -> i64 {
        let k = id.0 as usize;
        if !self.built {
            return 0;
        }
        self.original[k] - self.residual[self.position[k] as usize]
    }

    /// Residual capacity of arc `id` (0 before the network is built).
    pub fn residual(&self, id: ArcId) -> i64 {
        if !self.built {
            return 0;
        }
        self.residual[self.position[id.0 as usize] as usize]
    }

    /// Sets the residual capacity of arc `id` and of its reverse arc, e.g. to remove an arc
    /// from the network after a flow was computed (both zero). Builds the network if needed.
    pub fn set_residual(&mut self, id: ArcId, forward: i64, backward: i64) {
        if !self.built {
            self.build();
        }
        let pos = self.position[id.0 as usize] as usize;
        self.residual[pos] = forward;
        let rev = self.rev[pos] as usize;
        self.residual[rev] = backward;
    }

    /// Marks in `side` (resized to the node count) every node reachable from `s` over arcs with
    /// positive residual capacity: after a maximum flow, the source side of the minimum cut
    /// that is contained in every other minimum cut.
    pub fn source_side(&mut self, s: usize, side: &mut Vec<bool>) {
        if !self.built {
            self.build();
        }
        side.clear();
        side.resize(self.num_nodes, false);
        if s >= self.num_nodes {
            return;
        }
        self.queue.clear();
        side[s] = true;
        self.queue.push(s as u32);
        let mut head = 0;
        while head < self.queue.len() {
            let u = self.queue[head] as usize;
            head += 1;
            for a in self.start[u] as usize..self.start[u + 1] as usize {
                let v = self.to[a] as usize;
                if self.residual[a] > 0 && !side[v] {
                    side[v] = true;
                    self.queue.push(v as u32);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_network() {
        // CLRS figure 26.1: max flow 23.
        let mut mf = MaxFlow::new();
        mf.reset(6);
        let arcs = [
            (0, 1, 16),
            (0, 2, 13),
            (2, 1, 4),
            (1, 3, 12),
            (3, 2, 9),
            (2, 4, 14),
            (4, 3, 7),
            (3, 5, 20),
            (4, 5, 4),
        ];
        let ids: Vec<_> = arcs.iter().map(|&(u, v, c)| mf.add_arc(u, v, c)).collect();
        assert_eq!(mf.max_flow(0, 5), 23);
        // Conservation at every inner node.
        for node in 1..5 {
            let mut net = 0;
            for (k, &(u, v, _)) in arcs.iter().enumerate() {
                if u == node {
                    net -= mf.flow(ids[k]);
                }
                if v == node {
                    net += mf.flow(ids[k]);
                }
            }
            assert_eq!(net, 0, "node {node}");
        }
        let mut side = Vec::new();
        mf.source_side(0, &mut side);
        assert_eq!(side, [true, true, true, false, true, false]);
        // A second call adds nothing: the flow is already maximum.
        assert_eq!(mf.max_flow(0, 5), 0);
    }

    #[test]
    fn reuse_after_reset() {
        let mut mf = MaxFlow::new();
        for cap in [0, 1, 7] {
            mf.reset(3);
            mf.add_arc(0, 1, cap);
            mf.add_arc(1, 2, 5);
            assert_eq!(mf.max_flow(0, 2), cap.min(5));
        }
    }
}
