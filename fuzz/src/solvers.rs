//! Structure-aware targets: the fuzz bytes become small local structs (`arbitrary`), which are
//! turned into valid but extreme problems (tiny and huge energies, capacities and demands at
//! the edges of `f64`, zero and subnormal budgets, one-request and many-policy simulations).
//! The solvers run on them and their invariants are checked; a broken invariant panics.

use arbitrary::{Arbitrary, Unstructured};
use ergon_core::dpk::{
    self, Block, FEASIBILITY_RTOL, KnapsackMode, RdpCurve, STANDARD_ALPHAS, ScheduleOptions,
    Scheduler, Task, Workload,
};
use ergon_core::orloj::sim::{self, AppConfig, Arrivals, PolicySpec, SimConfig};
use ergon_core::orloj::{BatchScale, ExecSpec};
use ergon_core::perseus::{
    self, EffectiveEnergy, Frontier, FrontierError, Kind, Pipeline, Problem, Profile,
    ProfileOption, Schedule,
};

/// Magnitudes at the edges of `f64` and of the formats' domains, picked by small codes.
const EXTREMES: [f64; 16] = [
    0.0,
    f64::MIN_POSITIVE,
    5e-324,
    1e-300,
    1e-12,
    1e-6,
    1e-3,
    0.1,
    0.5,
    1.0,
    2.0,
    10.0,
    1e6,
    1e12,
    1e300,
    f64::MAX / 4.0,
];

/// A non-negative magnitude: an extreme value for codes below 16, else `code / 32`.
fn magnitude(code: u8) -> f64 {
    EXTREMES
        .get(usize::from(code))
        .copied()
        .unwrap_or(f64::from(code) / 32.0)
}

// ---------------------------------------------------------------------------------------
// Frontier (Perseus)
// ---------------------------------------------------------------------------------------

/// One measured option: frequency, time in (fractional) quanta, energy.
#[derive(Debug, Arbitrary)]
struct OptionIn {
    freq: u16,
    quanta: u8,
    fraction: u8,
    energy_scale: u8,
    energy: u16,
}

#[derive(Debug, Arbitrary)]
struct FrontierIn {
    stages: u8,
    microbatches: u8,
    schedule: u8,
    unit: u8,
    blocking: u8,
    before_filter: bool,
    profiles: Vec<Vec<OptionIn>>,
}

const UNITS_S: [f64; 4] = [1e-3, 1e-6, 0.5, 1.0];
const BLOCKING_W: [f64; 5] = [0.0, 1e-9, 1.0, 83.64, 1e4];
const ENERGY_SCALES_J: [f64; 6] = [1e-6, 1e-3, 1.0, 1e3, 1e6, 1e9];

fn pick<T: Copy>(table: &[T], code: u8) -> T {
    table[usize::from(code) % table.len()]
}

fn frontier_problem(input: &FrontierIn) -> Option<Problem> {
    let s = 1 + u32::from(input.stages % 4);
    let mut m = 1 + u32::from(input.microbatches % 6);
    let schedule = match input.schedule % 3 {
        0 => Schedule::OneFOneB,
        1 => Schedule::GPipe,
        _ if s > 1 => {
            m = s * m.div_ceil(s);
            Schedule::Interleaved1F1B { virtual_stages: 2 }
        }
        _ => Schedule::OneFOneB,
    };
    let unit_time_s = pick(&UNITS_S, input.unit);
    let pipeline = Pipeline {
        schedule,
        num_stages: s,
        num_microbatches: m,
    };
    let dag = pipeline.dag().ok()?;
    let mut profiles = Vec::new();
    for stage in 0..s {
        for (k, kind) in [Kind::Forward, Kind::Backward].into_iter().enumerate() {
            let index = (stage as usize) * 2 + k;
            let raw = if input.profiles.is_empty() {
                &[][..]
            } else {
                &input.profiles[index % input.profiles.len()][..]
            };
            let mut options: Vec<ProfileOption> = raw
                .iter()
                .take(12)
                .map(|o| ProfileOption {
                    freq_mhz: 100 + u32::from(o.freq % 2000),
                    // 1 to 16 quanta, plus a fraction of one: bounded so the frontier stays short.
                    time_s: (1.0 + f64::from(o.quanta % 16) + f64::from(o.fraction) / 256.0)
                        * unit_time_s,
                    energy_j: pick(&ENERGY_SCALES_J, o.energy_scale)
                        * (1.0 + f64::from(o.energy) / 1024.0),
                })
                .collect();
            if options.is_empty() {
                options.push(ProfileOption {
                    freq_mhz: 1410,
                    time_s: 4.0 * unit_time_s,
                    energy_j: 1.0,
                });
            }
            profiles.push(Profile {
                stage,
                kind,
                options,
                fit: None,
            });
        }
    }
    let problem = Problem {
        unit_time_s,
        p_blocking_w: pick(&BLOCKING_W, input.blocking),
        effective_energy: if input.before_filter {
            EffectiveEnergy::BeforeFilter
        } else {
            EffectiveEnergy::AfterFilter
        },
        profiles,
        dag,
    };
    problem.validate().ok()?;
    Some(problem)
}

/// The problem `frontier_solve` builds from `data`, or `None` where it skips the input (for
/// tests that examine a finding more closely than the target does).
pub fn frontier_solve_problem(data: &[u8]) -> Option<Problem> {
    let input = FrontierIn::arbitrary_take_rest(Unstructured::new(data)).ok()?;
    frontier_problem(&input)
}

/// Solves a small extreme pipeline; checks that the frontier is monotone (each point is
/// faster and costs at least as much effective energy as the one before) and that its plans
/// only use frequencies of the stage's options.
pub fn frontier_solve(data: &[u8]) {
    let Some(problem) = frontier_solve_problem(data) else {
        return;
    };
    let f = match perseus::solve(&problem) {
        Ok(f) => f,
        // A documented refusal: energies too far apart for the cut's 1e-6 J fixed point.
        Err(FrontierError::Overflow) => return,
        Err(e) => panic!("a valid problem failed to solve: {e}"),
    };
    check_monotone(&problem, &f);
    let mut states = vec![None, f.fastest(), f.min_energy()];
    if !f.points.is_empty() {
        states.push(Some(f.points.len() / 2));
    }
    for state in states {
        let plan = match f.plan(state) {
            Ok(p) => p,
            Err(e) => panic!("plan of state {state:?} failed: {e}"),
        };
        assert_eq!(plan.stages.len(), problem.dag.num_stages as usize);
        for stage in &plan.stages {
            for &(kind, freq) in &stage.instructions {
                let profile = problem
                    .profiles
                    .iter()
                    .find(|p| p.stage == stage.stage && p.kind == kind);
                let ok = profile.is_some_and(|p| p.options.iter().any(|o| o.freq_mhz == freq));
                assert!(
                    ok,
                    "plan {state:?}: stage {} {kind} runs at {freq} MHz, not one of its options",
                    stage.stage
                );
            }
        }
    }
}

/// Times strictly decrease from the start; the effective cost never decreases as the
/// iteration gets faster, and each point's `cost_change_j` is its change of effective cost.
pub fn check_monotone(problem: &Problem, f: &Frontier) {
    let n = problem.dag.nodes.len() as f64;
    assert_eq!(f.start.quanta, f.t_max_quanta, "the start is at T_max");
    let mut prev = f.start;
    for (i, p) in f.points.iter().enumerate() {
        assert!(
            p.quanta < prev.quanta,
            "point {i}: time {} does not decrease from {}",
            p.quanta,
            prev.quanta
        );
        // lowtime's capacities are on a 1e-6 J grid; allow that per computation.
        let tol = 1e-9 * prev.effective_cost_j.abs() + 1e-5 * n;
        assert!(
            p.effective_cost_j >= prev.effective_cost_j - tol,
            "point {i}: faster ({} quanta) but cheaper ({} J < {} J)",
            p.quanta,
            p.effective_cost_j,
            prev.effective_cost_j
        );
        let change = p.effective_cost_j - prev.effective_cost_j;
        assert!(
            (change - p.cost_change_j).abs() <= 1e-6 * prev.effective_cost_j.abs().max(1.0) + tol,
            "point {i}: cost_change_j {} but the effective cost changed by {change}",
            p.cost_change_j
        );
        assert!(p.energy_j.is_finite(), "point {i}: energy {}", p.energy_j);
        prev = *p;
    }
}

// ---------------------------------------------------------------------------------------
// DPK
// ---------------------------------------------------------------------------------------

#[derive(Debug, Arbitrary)]
struct TaskIn {
    weight: u8,
    arrival: u8,
    blocks: u8,
    demand: Vec<u8>,
}

#[derive(Debug, Arbitrary)]
struct DpkIn {
    orders: u16,
    blocks: Vec<Vec<u8>>,
    tasks: Vec<TaskIn>,
    scheduler: u8,
    eta: u8,
    count: bool,
    recompute_every: u8,
    single_task_fallback: bool,
    dpf_weighted: bool,
}

const ETAS: [f64; 4] = [0.05, 1e-3, 0.5, 0.7499];

/// Schedules a small extreme workload with every scheduler; checks that the allocated tasks
/// exist, appear once, and that on every block their summed demand fits within
/// `capacity·(1 + FEASIBILITY_RTOL)` at some order whose capacity is positive (the privacy
/// filter's invariant), allowing the rounding of one subtraction per allocated task.
pub fn dpk_schedule(data: &[u8]) {
    let Ok(input) = DpkIn::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let alphas: Vec<f64> = STANDARD_ALPHAS
        .iter()
        .enumerate()
        .filter(|(i, _)| input.orders & (1 << i) != 0)
        .map(|(_, &a)| a)
        .collect();
    let alphas = if alphas.is_empty() { vec![2.0] } else { alphas };
    let na = alphas.len();
    let curve = |codes: &[u8]| -> RdpCurve {
        (0..na)
            .map(|i| magnitude(codes.get(i).copied().unwrap_or(9)))
            .collect()
    };
    let nb = input.blocks.len().clamp(1, 8);
    let blocks: Vec<Block> = (0..nb)
        .map(|j| Block {
            id: j as u64,
            capacity: curve(input.blocks.get(j).map_or(&[][..], |v| &v[..])),
            arrival: 0.0,
        })
        .collect();
    let tasks: Vec<Task> = input
        .tasks
        .iter()
        .take(24)
        .enumerate()
        .map(|(i, t)| {
            let mask = usize::from(t.blocks) % (1 << nb);
            let requested: Vec<u64> = (0..nb)
                .filter(|j| mask & (1 << j) != 0)
                .map(|j| j as u64)
                .collect();
            Task {
                id: i as u64,
                weight: match magnitude(t.weight) {
                    w if w > 0.0 => w,
                    _ => 1.0,
                },
                arrival: f64::from(t.arrival),
                blocks: if requested.is_empty() {
                    vec![0]
                } else {
                    requested
                },
                demand: curve(&t.demand),
            }
        })
        .collect();
    let Ok(workload) = Workload::new(&alphas, blocks, tasks) else {
        return;
    };
    let options = ScheduleOptions {
        scheduler: pick(&Scheduler::ALL, input.scheduler),
        eta: pick(&ETAS, input.eta),
        knapsack: if input.count {
            KnapsackMode::Count
        } else {
            KnapsackMode::Weighted
        },
        recompute_every: usize::from(input.recompute_every % 4),
        single_task_fallback: input.single_task_fallback,
        dpf_weighted: input.dpf_weighted,
        max_nodes: 20_000,
        ..ScheduleOptions::default()
    };
    let allocation = match dpk::schedule(&workload, &options) {
        Ok(a) => a,
        Err(e) => panic!("{:?} failed on a valid workload: {e}", options.scheduler),
    };
    check_allocation(&workload, &allocation.allocated);
}

fn check_allocation(workload: &Workload, allocated: &[u64]) {
    let tasks = workload.tasks();
    let mut seen = std::collections::BTreeSet::new();
    let mut chosen = Vec::new();
    for &id in allocated {
        assert!(seen.insert(id), "task {id} allocated twice");
        let index = tasks.iter().position(|t| t.id == id);
        let Some(index) = index else {
            panic!("allocated task {id} is not in the workload");
        };
        chosen.push(index);
    }
    for (j, block) in workload.blocks().iter().enumerate() {
        let users: Vec<usize> = chosen
            .iter()
            .copied()
            .filter(|&t| workload.task_block_indices(t).contains(&(j as u32)))
            .collect();
        if users.is_empty() {
            continue;
        }
        let rounding = f64::EPSILON * (users.len() as f64 + 1.0);
        let fits_at_some_order = block.capacity.iter().enumerate().any(|(a, &c)| {
            let used: f64 = users.iter().map(|&t| tasks[t].demand[a]).sum();
            c > 0.0 && used <= c * (1.0 + FEASIBILITY_RTOL + rounding)
        });
        assert!(
            fits_at_some_order,
            "block {}: the {} allocated tasks exceed its capacity at every order",
            block.id,
            users.len()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Orloj
// ---------------------------------------------------------------------------------------

#[derive(Debug, Arbitrary)]
enum ExecIn {
    Constant(u8),
    Bimodal(u8, u8, u8),
    Lognormal(u8, u8),
    Samples(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct AppIn {
    share: u8,
    slo: u8,
    exec: ExecIn,
}

#[derive(Debug, Arbitrary)]
struct OrlojIn {
    seed: u64,
    apps: Vec<AppIn>,
    max_batch: u8,
    step: u8,
    load: u8,
    bursty: Option<(u8, u8)>,
    policies: u16,
    bins: u8,
    p_min: u8,
    learn: bool,
    duration: u8,
}

/// Most requests one simulated input may generate (the simulator handles millions; the
/// fuzzer needs many executions per second).
pub const ORLOJ_MAX_EXPECTED_REQUESTS: f64 = 400.0;

/// Seconds from 1 µs to about 2 000 s, by decade and mantissa.
fn seconds(code: u8) -> f64 {
    let decade = i32::from(code % 10) - 6;
    10f64.powi(decade) * (1.0 + f64::from(code / 10) / 26.0)
}

fn exec_spec(e: &ExecIn) -> ExecSpec {
    match e {
        ExecIn::Constant(v) => ExecSpec::Constant {
            value_s: seconds(*v),
        },
        ExecIn::Bimodal(a, b, p) => {
            let (x, y) = (seconds(*a), seconds(*b));
            ExecSpec::Bimodal {
                low_s: x.min(y),
                high_s: x.max(y),
                p_low: f64::from(*p) / 255.0,
            }
        }
        ExecIn::Lognormal(m, cv) => ExecSpec::Lognormal {
            mean_s: seconds(*m),
            cv: f64::from(*cv) / 2.55,
        },
        ExecIn::Samples(v) => ExecSpec::Samples {
            values_s: v.iter().take(64).map(|&c| seconds(c)).collect(),
        },
    }
}

/// Simulates a small extreme workload under the chosen policies; checks conservation: every
/// arrived request is finished, late or dropped, exactly once, and the arrivals are the
/// trace's requests.
pub fn orloj_simulate(data: &[u8]) {
    let Ok(input) = OrlojIn::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let apps_in: Vec<&AppIn> = input.apps.iter().take(4).collect();
    if apps_in.is_empty() {
        return;
    }
    let total: f64 = apps_in.iter().map(|a| 1.0 + f64::from(a.share)).sum();
    let apps: Vec<AppConfig> = apps_in
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let exec = exec_spec(&a.exec);
            AppConfig {
                name: format!("app{i}"),
                share: (1.0 + f64::from(a.share)) / total,
                slo_s: exec.mean_s() * (0.1 + f64::from(a.slo) / 16.0),
                exec,
            }
        })
        .collect();
    // Bits 0 to 9 select the canonical policies, bits 10 and 11 the aliases `clockwork-mean`
    // and `nexus-mean` (the same policies again), as when the regressions were recorded.
    let all = PolicySpec::all();
    let policies: Vec<PolicySpec> = all
        .iter()
        .chain([&all[1], &all[3]])
        .enumerate()
        .filter(|(i, _)| input.policies & (1 << i) != 0)
        .map(|(_, &p)| p)
        .collect();
    let load = 0.05 + f64::from(input.load) / 32.0;
    let mut cfg = SimConfig {
        seed: input.seed,
        duration_s: 1.0,
        apps,
        scale: BatchScale::linear(
            1 + usize::from(input.max_batch % 32),
            f64::from(input.step) / 64.0,
        ),
        arrivals: match input.bursty {
            None => Arrivals::Poisson { load },
            Some((factor, period)) => Arrivals::Bursty {
                load,
                burst_factor: 1.0 + f64::from(factor) / 85.0,
                period_s: seconds(period),
            },
        },
        policies,
        bins: 2 + usize::from(input.bins % 63),
        p_min: f64::from(input.p_min) / 255.0,
        learn: input.learn,
    };
    // Bound the trace: at most ORLOJ_MAX_EXPECTED_REQUESTS requests expected.
    let rate = cfg.capacity_per_s() * load;
    if !(rate.is_finite() && rate > 0.0) {
        return;
    }
    cfg.duration_s = (seconds(input.duration)).min(ORLOJ_MAX_EXPECTED_REQUESTS / rate);
    if cfg.validate().is_err() {
        return;
    }
    let arrived = match sim::trace(&cfg) {
        Ok(t) => t.len() as u64,
        Err(_) => return,
    };
    let results = match sim::simulate(&cfg) {
        Ok(r) => r,
        Err(e) => panic!("simulate failed on a valid config whose trace builds: {e}"),
    };
    assert_eq!(results.len(), cfg.policies.len(), "one result per policy");
    for r in &results {
        assert_eq!(
            r.arrived, arrived,
            "{}: arrivals differ from the trace",
            r.policy
        );
        assert_eq!(
            r.finished + r.late + r.dropped,
            r.arrived,
            "{}: finished {} + late {} + dropped {} != arrived {}",
            r.policy,
            r.finished,
            r.late,
            r.dropped,
            r.arrived
        );
    }
}
