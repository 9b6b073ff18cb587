//! DPK through the C ABI, called from Rust: the oracles O4 and O5 of dpk-orloj.md from arrays
//! and from `dpk-workload/v1`, the result accessors, the RDP helpers, and the error model call
//! by call (status, a message naming the block or task, outputs untouched on failure).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ptr::{null, null_mut};

use common::{check_calls, created, fails, read_items, read_text, read_value, thread_error};
use ergon::*;

mod common;

// ------------------------------------------------------------------------------ helpers

fn workload_error(w: *const ergon_dpk_workload) -> String {
    read_text(|buf, cap, len| unsafe { ergon_dpk_workload_last_error(w, buf, cap, len) })
}

/// A workload given as owned arrays, and the `ergon_dpk_problem` that points into them.
struct Arrays {
    alphas: Vec<f64>,
    blocks: Vec<ergon_dpk_block>,
    task_blocks: Vec<Vec<u64>>,
    demands: Vec<Vec<f64>>,
    capacities: Vec<Vec<f64>>,
    ids: Vec<u64>,
    weights: Vec<f64>,
    tasks: Vec<ergon_dpk_task>,
}

impl Arrays {
    fn new(
        alphas: &[f64],
        capacities: Vec<Vec<f64>>,
        tasks: Vec<(u64, f64, Vec<u64>, Vec<f64>)>,
    ) -> Self {
        let mut a = Arrays {
            alphas: alphas.to_vec(),
            blocks: Vec::new(),
            task_blocks: tasks.iter().map(|t| t.2.clone()).collect(),
            demands: tasks.iter().map(|t| t.3.clone()).collect(),
            capacities,
            ids: tasks.iter().map(|t| t.0).collect(),
            weights: tasks.iter().map(|t| t.1).collect(),
            tasks: Vec::new(),
        };
        a.relink();
        a
    }

    /// Points the structs at the current vectors (after a test changed one).
    fn relink(&mut self) {
        self.blocks = self
            .capacities
            .iter()
            .enumerate()
            .map(|(j, c)| ergon_dpk_block {
                id: j as u64,
                epsilon: 0.0,
                delta: 0.0,
                capacity: c.as_ptr(),
                capacity_len: c.len(),
                arrival: 0.0,
            })
            .collect();
        self.tasks = (0..self.ids.len())
            .map(|i| ergon_dpk_task {
                id: self.ids[i],
                weight: self.weights[i],
                arrival: 0.0,
                blocks: self.task_blocks[i].as_ptr(),
                num_blocks: self.task_blocks[i].len(),
                demand: self.demands[i].as_ptr(),
                demand_len: self.demands[i].len(),
            })
            .collect();
    }

    fn problem(&self) -> ergon_dpk_problem {
        ergon_dpk_problem {
            alphas: self.alphas.as_ptr(),
            num_alphas: self.alphas.len(),
            blocks: self.blocks.as_ptr(),
            num_blocks: self.blocks.len(),
            tasks: self.tasks.as_ptr(),
            num_tasks: self.tasks.len(),
        }
    }

    fn workload(&self) -> Result<*mut ergon_dpk_workload, (ergon_status, String)> {
        let p = self.problem();
        let mut w = null_mut();
        created(unsafe { ergon_dpk_workload_new(&p, &mut w) }, w)
    }

    /// The same workload as a `dpk-workload/v1` document.
    fn json(&self) -> String {
        let blocks: Vec<serde_json::Value> = self
            .capacities
            .iter()
            .enumerate()
            .map(|(j, c)| serde_json::json!({"id": j, "capacity": c}))
            .collect();
        let tasks: Vec<serde_json::Value> = (0..self.ids.len())
            .map(|i| {
                serde_json::json!({
                    "id": self.ids[i],
                    "weight": self.weights[i],
                    "blocks": self.task_blocks[i],
                    "demand": self.demands[i],
                })
            })
            .collect();
        serde_json::json!({
            "schema": "dpk-workload/v1",
            "alphas": self.alphas,
            "blocks": blocks,
            "tasks": tasks,
        })
        .to_string()
    }
}

/// Cohere's 3-order instance (O4) on `num_blocks` identical blocks all requested by every task.
fn o4(num_blocks: usize) -> Arrays {
    let r = [[1.0, 0.4, 0.4], [0.4, 1.0, 0.4], [0.4, 0.4, 1.0]];
    let which = [0, 0, 1, 1, 2, 1, 0];
    Arrays::new(
        &[2.0, 3.0, 4.0],
        vec![vec![1.05, 1.10, 1.15]; num_blocks],
        (0..7u64)
            .map(|id| {
                (
                    id,
                    100.0 + 10.0 * id as f64,
                    (0..num_blocks as u64).collect(),
                    r[which[id as usize]].to_vec(),
                )
            })
            .collect(),
    )
}

/// O5, in the style of the paper's Fig. 1: 5 blocks of capacity 1 at one order; tasks 0 and 1
/// request all 5 blocks at 0.5; tasks 2–6 one distinct block each at 0.6.
fn o5() -> Arrays {
    let mut tasks: Vec<(u64, f64, Vec<u64>, Vec<f64>)> = (0..2)
        .map(|id| (id, 1.0, (0..5).collect(), vec![0.5]))
        .collect();
    tasks.extend((2..7).map(|id| (id, 1.0, vec![id - 2], vec![0.6])));
    Arrays::new(&[2.0], vec![vec![1.0]; 5], tasks)
}

fn from_json(json: &str) -> Result<*mut ergon_dpk_workload, (ergon_status, String)> {
    let mut w = null_mut();
    let s = unsafe { ergon_dpk_workload_from_json(json.as_ptr().cast(), json.len(), &mut w) };
    created(s, w)
}

/// What a schedule says, read through every accessor.
#[derive(Debug)]
struct Outcome {
    allocated: Vec<u64>,
    info: ergon_dpk_result_info,
    block_ids: Vec<u64>,
    remaining: Vec<f64>,
    json: String,
}

fn options(scheduler: u32) -> ergon_dpk_options {
    ergon_dpk_options {
        scheduler,
        ..ergon_dpk_options_default()
    }
}

fn run(w: *const ergon_dpk_workload, o: &ergon_dpk_options) -> Outcome {
    let mut r = null_mut();
    let status = unsafe { ergon_dpk_workload_schedule(w, o, &mut r) };
    assert_eq!(status, ergon_status::Ok, "{}", workload_error(w));
    let mut info = ergon_dpk_result_info::default();
    assert_eq!(
        unsafe { ergon_dpk_result_summary(r, &mut info) },
        ergon_status::Ok
    );
    let outcome = Outcome {
        allocated: read_items(|b, c, l| unsafe { ergon_dpk_result_allocated(r, b, c, l) }),
        info,
        block_ids: read_items(|b, c, l| unsafe { ergon_dpk_result_block_ids(r, b, c, l) }),
        remaining: read_items(|b, c, l| unsafe { ergon_dpk_result_remaining(r, b, c, l) }),
        json: read_text(|b, c, l| unsafe { ergon_dpk_result_to_json(r, b, c, l) }),
    };
    unsafe { ergon_dpk_result_free(r) };
    outcome
}

fn sorted(mut v: Vec<u64>) -> Vec<u64> {
    v.sort_unstable();
    v
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

// ------------------------------------------------------------------------------ oracles

fn check_o4(w: *const ergon_dpk_workload, num_blocks: usize) {
    let dpk = run(w, &ergon_dpk_options_default());
    // Efficiency order 6, 5, 3, 2, 1, 0, 4: 6 goes first.
    assert_eq!(dpk.allocated, vec![6, 5]);
    assert_eq!(dpk.info.num_allocated, 2);
    assert_eq!(dpk.info.total_weight, 310.0);
    assert_eq!(dpk.info.scheduler, ERGON_DPK_SCHEDULER_DPK);
    assert_eq!(dpk.info.num_blocks, num_blocks);
    assert_eq!(dpk.info.num_alphas, 3);
    assert!(dpk.info.upper_bound.is_nan());
    assert!(dpk.info.proven_optimal);
    assert_eq!(dpk.block_ids, (0..num_blocks as u64).collect::<Vec<_>>());
    assert_eq!(dpk.remaining.len(), 3 * num_blocks);
    for row in dpk.remaining.chunks(3) {
        for (got, want) in row.iter().zip([-0.35, -0.30, 0.35]) {
            assert!(close(*got, want, 1e-9), "{row:?}");
        }
    }
    let doc: serde_json::Value = serde_json::from_str(&dpk.json).unwrap();
    assert_eq!(doc["schema"], "dpk-result/v1");
    assert_eq!(doc["scheduler"], "dpk");
    assert_eq!(doc["allocated"], serde_json::json!([6, 5]));
    assert_eq!(doc["num_allocated"], 2);
    assert_eq!(doc["total_weight"], 310.0);
    assert_eq!(doc["remaining"].as_object().unwrap().len(), num_blocks);
    assert!(close(
        doc["remaining"]["0"][0].as_f64().unwrap(),
        -0.35,
        1e-9
    ));
    assert!(doc.get("upper_bound").is_none());

    let fcfs = run(w, &options(ERGON_DPK_SCHEDULER_FCFS));
    assert_eq!(
        (sorted(fcfs.allocated), fcfs.info.total_weight),
        (vec![0, 1], 210.0)
    );
    let dpf = run(w, &options(ERGON_DPK_SCHEDULER_DPF));
    assert_eq!(
        (sorted(dpf.allocated), dpf.info.total_weight),
        (vec![5, 6], 310.0)
    );
    let unweighted = ergon_dpk_options {
        dpf_weighted: false,
        ..options(ERGON_DPK_SCHEDULER_DPF)
    };
    let dpf = run(w, &unweighted);
    assert_eq!(
        (sorted(dpf.allocated), dpf.info.total_weight),
        (vec![2, 4], 260.0)
    );
    let area = run(w, &options(ERGON_DPK_SCHEDULER_AREA));
    assert_eq!(sorted(area.allocated), vec![5, 6]);
    let opt = run(w, &options(ERGON_DPK_SCHEDULER_OPTIMAL));
    assert_eq!(sorted(opt.allocated), vec![5, 6]);
    assert_eq!(opt.info.upper_bound, 310.0);
    assert!(opt.info.proven_optimal);
    let doc: serde_json::Value = serde_json::from_str(&opt.json).unwrap();
    assert_eq!(doc["scheduler"], "optimal");
    assert_eq!(doc["upper_bound"], 310.0);
    assert_eq!(doc["proven_optimal"], true);
}

#[test]
fn o4_from_arrays_and_from_json() {
    for num_blocks in [1, 100] {
        let a = o4(num_blocks);
        let w = a.workload().unwrap();
        check_o4(w, num_blocks);
        let j = from_json(&a.json()).unwrap();
        check_o4(j, num_blocks);
        // Both constructors describe the same workload.
        let x = read_value(|i| unsafe { ergon_dpk_workload_summary(w, i) });
        let y = read_value(|i| unsafe { ergon_dpk_workload_summary(j, i) });
        assert_eq!(
            (x.num_alphas, x.num_blocks, x.num_tasks),
            (3, num_blocks, 7)
        );
        assert_eq!(
            (x.num_alphas, x.num_blocks, x.num_tasks),
            (y.num_alphas, y.num_blocks, y.num_tasks)
        );
        let text = |w| read_text(|b, c, l| unsafe { ergon_dpk_workload_to_json(w, b, c, l) });
        let (tw, tj) = (text(w), text(j));
        assert_eq!(tw, tj);
        // The rendered workload reads back as the same workload.
        let again = from_json(&tw).unwrap();
        assert_eq!(text(again), tw);
        unsafe {
            ergon_dpk_workload_free(again);
            ergon_dpk_workload_free(w);
            ergon_dpk_workload_free(j);
        }
    }
}

#[test]
fn o5_from_arrays_and_from_json() {
    let a = o5();
    for w in [a.workload().unwrap(), from_json(&a.json()).unwrap()] {
        for (scheduler, want) in [
            (ERGON_DPK_SCHEDULER_DPF, vec![0, 1]),
            (ERGON_DPK_SCHEDULER_FCFS, vec![0, 1]),
            (ERGON_DPK_SCHEDULER_DPK, vec![2, 3, 4, 5, 6]),
            (ERGON_DPK_SCHEDULER_AREA, vec![2, 3, 4, 5, 6]),
        ] {
            let got = run(w, &options(scheduler));
            assert_eq!(sorted(got.allocated), want, "scheduler {scheduler}");
            assert_eq!(got.info.num_allocated, want.len());
        }
        let opt = run(w, &options(ERGON_DPK_SCHEDULER_OPTIMAL));
        assert_eq!(opt.info.num_allocated, 5);
        assert!(opt.info.proven_optimal);
        unsafe { ergon_dpk_workload_free(w) };
    }
}

#[test]
fn null_options_mean_the_defaults_and_a_workload_can_be_scheduled_again() {
    let a = o4(1);
    let w = a.workload().unwrap();
    let mut r = null_mut();
    unsafe {
        assert_eq!(
            ergon_dpk_workload_schedule(w, null(), &mut r),
            ergon_status::Ok
        );
        let mut info = ergon_dpk_result_info::default();
        assert_eq!(ergon_dpk_result_summary(r, &mut info), ergon_status::Ok);
        assert_eq!(
            (info.scheduler, info.total_weight),
            (ERGON_DPK_SCHEDULER_DPK, 310.0)
        );
        // The result outlives its workload handle.
        ergon_dpk_workload_free(w);
        let mut len = 0;
        assert_eq!(
            ergon_dpk_result_to_json(r, null_mut(), 0, &mut len),
            ergon_status::Ok
        );
        assert!(len > 0);
        ergon_dpk_result_free(r);
    }
    let d = ergon_dpk_options_default();
    assert_eq!(d.scheduler, ERGON_DPK_SCHEDULER_DPK);
    assert_eq!(d.eta, 0.05);
    assert_eq!(d.knapsack, ERGON_DPK_KNAPSACK_WEIGHTED);
    assert_eq!(d.recompute_every, 0);
    assert!(d.single_task_fallback && d.dpf_weighted);
    assert_eq!(d.dpf_capacity, ERGON_DPK_DPF_CAPACITY_INITIAL);
    assert_eq!(d.max_nodes, 20_000_000);
}

#[test]
fn blocks_from_epsilon_and_delta() {
    // A (10, 1e-7) block at the standard orders: formats.md §5's example capacity.
    let mut a = o4(1);
    let mut alphas = vec![0.0; 12];
    let mut len = 0;
    unsafe {
        assert_eq!(
            ergon_dpk_alphas_standard(alphas.as_mut_ptr(), 12, &mut len),
            ergon_status::Ok
        );
    }
    assert_eq!(len, 12);
    assert_eq!(
        alphas,
        [
            1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 16.0, 32.0, 64.0
        ]
    );
    a.alphas = alphas.clone();
    a.capacities = vec![vec![]];
    a.demands = vec![vec![0.5; 12]; 7];
    a.relink();
    a.blocks[0].epsilon = 10.0;
    a.blocks[0].delta = 1e-7;
    let w = a.workload().unwrap();
    let got = run(w, &options(ERGON_DPK_SCHEDULER_FCFS));
    let want = [
        0.0, 0.0, 0.0, 0.0, 1.94, 4.63, 5.97, 6.78, 7.70, 8.93, 9.48, 9.74,
    ];
    // Capacity minus 7 tasks × 0.5 where they fit (all seven fit at α = 64: 9.74 ≥ 3.5).
    assert_eq!(got.allocated.len(), 7);
    for (r, c) in got.remaining.iter().zip(want) {
        assert!(close(*r, c - 3.5, 0.006), "{:?}", got.remaining);
    }
    unsafe { ergon_dpk_workload_free(w) };
}

// ------------------------------------------------------------------------------ RDP helpers

#[test]
fn rdp_helpers() {
    let alphas = [1.5, 2.0, 4.0, 8.0, 32.0];
    let cap = read_items(|b, c, l| unsafe {
        ergon_dpk_block_capacity(alphas.as_ptr(), 5, 10.0, 1e-7, b, c, l)
    });
    assert_eq!(cap.len(), 5);
    for (c, a) in cap.iter().zip(alphas) {
        let want = (10.0 - (1e7f64).ln() / (a - 1.0)).max(0.0);
        assert!(close(*c, want, 1e-12), "{cap:?}");
    }
    // The classic conversion inverts the capacity: ε = 10 at the orders with c > 0.
    let dp_epsilon =
        |conversion| convert(ergon_dpk_curve_dp_epsilon, &alphas, &cap, 1e-7, conversion);
    let (eps, index) = dp_epsilon(ERGON_DPK_CONVERSION_CLASSIC);
    assert!(close(eps, 10.0, 1e-9), "{eps}");
    assert!(cap[index] > 0.0);
    // The tight bound is never larger. (A capacity is 0 at the low orders, so as a "curve"
    // the tight rule's small-divergence shortcut certifies ε = 0 there; a real mechanism's
    // curve is tested below.)
    let (tight, _) = dp_epsilon(ERGON_DPK_CONVERSION_TIGHT);
    assert!(tight <= eps && tight >= 0.0, "{tight} {eps}");

    // Gaussian: α / (2σ²); a subsampled Gaussian with q = 1 is the plain one times the steps.
    let g =
        read_items(|b, c, l| unsafe { ergon_dpk_curve_gaussian(alphas.as_ptr(), 5, 2.0, b, c, l) });
    let subsampled = |q: f64| {
        read_items(|b, c, l| unsafe {
            ergon_dpk_curve_subsampled_gaussian(alphas.as_ptr(), 5, q, 2.0, 3.0, b, c, l)
        })
    };
    let s = subsampled(1.0);
    for i in 0..5 {
        assert!(close(g[i], alphas[i] / 8.0, 1e-15));
        assert!(close(s[i], 3.0 * g[i], 1e-12));
    }
    // Sampling lowers the cost.
    let s = subsampled(0.01);
    assert!(
        s.iter().zip(&g).all(|(x, y)| *x < 3.0 * y && *x > 0.0),
        "{s:?}"
    );
    let sigma = read_value(|s| unsafe { ergon_dpk_gaussian_sigma(1.0, 1e-5, s) });
    // The analytic Gaussian mechanism; dp_accounting.get_sigma_gaussian(1, 1e-5) gives
    // 3.7306316348159414 (the classic formula's 4.845 is larger).
    assert!(close(sigma, 3.7306316348159414, 1e-9), "{sigma}");
}

/// `ergon_dpk_curve_dp_epsilon` or `ergon_dpk_curve_dp_delta`.
type Conversion = unsafe extern "C" fn(
    *const f64,
    usize,
    *const f64,
    usize,
    f64,
    u32,
    *mut f64,
    *mut usize,
) -> ergon_status;

/// A successful RDP → (ε, δ) conversion: the value and the index of the order attaining it.
fn convert(f: Conversion, alphas: &[f64], curve: &[f64], value: f64, how: u32) -> (f64, usize) {
    let (mut out, mut index) = (f64::NAN, usize::MAX);
    let (a, c) = (alphas.as_ptr(), curve.as_ptr());
    let status = unsafe {
        f(
            a,
            alphas.len(),
            c,
            curve.len(),
            value,
            how,
            &mut out,
            &mut index,
        )
    };
    assert_eq!(status, ergon_status::Ok, "{}", thread_error());
    (out, index)
}

/// The RDP curve of Laplace with scale b, `ln(α/(2α−1)·e^{(α−1)/b} + (α−1)/(2α−1)·e^{−α/b})
/// / (α − 1)` (Mironov 2017, Table II), written out directly.
fn laplace_rdp(a: f64, b: f64) -> f64 {
    let w = 2.0 * a - 1.0;
    ((a / w) * ((a - 1.0) / b).exp() + ((a - 1.0) / w) * (-a / b).exp()).ln() / (a - 1.0)
}

/// The DP-SGD job of the dp-accounting oracles: q = 0.01, σ = 1, 10⁴ steps, standard orders.
fn dpsgd_job() -> (Vec<f64>, Vec<f64>) {
    let alphas = read_items(|b, c, l| unsafe { ergon_dpk_alphas_standard(b, c, l) });
    let curve = read_items(|b, c, l| unsafe {
        ergon_dpk_curve_subsampled_gaussian(alphas.as_ptr(), alphas.len(), 0.01, 1.0, 1e4, b, c, l)
    });
    (alphas, curve)
}

#[test]
fn accounting_helpers() {
    // dp-accounting's default grid: 156 orders, 1.1 .. 10.9, 11 .. 63, 128 .. 1024.
    let dense = read_items(|b, c, l| unsafe { ergon_dpk_alphas_dense(b, c, l) });
    assert_eq!(dense.len(), 156);
    assert!(close(dense[0], 1.1, 1e-12) && close(dense[98], 10.9, 1e-12));
    assert_eq!(&dense[99..101], &[11.0, 12.0]);
    assert_eq!(&dense[151..], &[63.0, 128.0, 256.0, 512.0, 1024.0]);
    assert!(dense.windows(2).all(|w| w[0] < w[1]));
    // Too small a buffer: BUFFER_TOO_SMALL, *len the full length, the buffer untouched.
    let mut small = [7.0; 10];
    let mut len = 0;
    assert_eq!(
        unsafe { ergon_dpk_alphas_dense(small.as_mut_ptr(), 10, &mut len) },
        ergon_status::BufferTooSmall
    );
    assert_eq!((len, small), (156, [7.0; 10]));
    assert!(thread_error().contains("too small"), "{}", thread_error());

    // Capacities on the dense grid (156 orders, more than a workload's 16), by both rules:
    // the closed forms, and tight ≥ classic at every order.
    let (eps, delta) = (3.0, 1e-6);
    let cap = |conversion: u32| {
        read_items(|b, c, l| unsafe {
            ergon_dpk_block_capacity_with(
                dense.as_ptr(),
                dense.len(),
                eps,
                delta,
                conversion,
                b,
                c,
                l,
            )
        })
    };
    let classic = cap(ERGON_DPK_CONVERSION_CLASSIC);
    let tight = cap(ERGON_DPK_CONVERSION_TIGHT);
    assert_eq!((classic.len(), tight.len()), (156, 156));
    for ((&a, &c), &t) in dense.iter().zip(&classic).zip(&tight) {
        let want_c = (eps - (1.0 / delta).ln() / (a - 1.0)).max(0.0);
        let want_t = if a > 1.01 {
            (eps - ((-1.0 / a).ln_1p() - (delta.ln() + a.ln()) / (a - 1.0))).max(0.0)
        } else {
            want_c
        };
        assert!(close(c, want_c, 1e-12), "classic at {a}: {c} vs {want_c}");
        assert!(close(t, want_t, 1e-12), "tight at {a}: {t} vs {want_t}");
        assert!(t >= c, "at {a}: tight {t} < classic {c}");
    }
    assert!(tight.iter().zip(&classic).any(|(t, c)| t > c));
    // ergon_dpk_block_capacity is the classic rule.
    let plain = read_items(|b, c, l| unsafe {
        ergon_dpk_block_capacity(dense.as_ptr(), dense.len(), eps, delta, b, c, l)
    });
    assert_eq!(plain, classic);

    // Laplace on a 20-order grid, against the closed form; a subsampled Laplace with q = 1 is
    // the plain one times the steps, and sampling (q = 0.01) costs less.
    let grid: Vec<f64> = (0..20).map(|i| 1.5 + f64::from(i)).collect();
    let b = 2.0;
    let lap =
        read_items(|o, c, l| unsafe { ergon_dpk_curve_laplace(grid.as_ptr(), 20, b, o, c, l) });
    assert_eq!(lap.len(), 20);
    for (&a, &v) in grid.iter().zip(&lap) {
        let want = laplace_rdp(a, b);
        assert!(
            close(v, want, 1e-12 * want.max(1.0)),
            "at {a}: {v} vs {want}"
        );
        assert!(v <= 1.0 / b + 1e-15, "RDP of Laplace is at most its pure ε");
    }
    let full = read_items(|o, c, l| unsafe {
        ergon_dpk_curve_subsampled_laplace(grid.as_ptr(), 20, 1.0, b, 3.0, o, c, l)
    });
    let sampled = read_items(|o, c, l| unsafe {
        ergon_dpk_curve_subsampled_laplace(grid.as_ptr(), 20, 0.01, b, 3.0, o, c, l)
    });
    for i in 0..20 {
        assert!(close(full[i], 3.0 * lap[i], 1e-12), "{full:?}");
        assert!(sampled[i] > 0.0 && sampled[i] < full[i], "{sampled:?}");
    }

    // Composition: Σ counts[i]·curves[i] order by order; NULL counts = one run of each.
    let gauss =
        read_items(|o, c, l| unsafe { ergon_dpk_curve_gaussian(grid.as_ptr(), 20, 4.0, o, c, l) });
    let rows: Vec<f64> = lap.iter().chain(&gauss).copied().collect();
    let counts = [2.0, 3.5];
    let composed = read_items(|o, c, l| unsafe {
        ergon_dpk_curve_compose(rows.as_ptr(), 2, 20, counts.as_ptr(), o, c, l)
    });
    let once = read_items(|o, c, l| unsafe {
        ergon_dpk_curve_compose(rows.as_ptr(), 2, 20, null(), o, c, l)
    });
    for i in 0..20 {
        assert!(close(composed[i], 2.0 * lap[i] + 3.5 * gauss[i], 1e-12));
        assert!(close(once[i], lap[i] + gauss[i], 1e-12));
    }

    // The analytic Gaussian calibration (dp_accounting.get_sigma_gaussian), and its profile
    // gives δ back; the classic formula only for ε < 1.
    for (e, d, want) in [
        (1.0, 1e-5, 3.7306316348159414),
        (10.0, 1e-5, 0.4998886197090085),
        (0.5, 1e-6, 8.057618480725047),
    ] {
        let sigma = read_value(|s| unsafe { ergon_dpk_gaussian_sigma(e, d, s) });
        assert!(
            close(sigma, want, 1e-9 * want),
            "({e}, {d}): {sigma} vs {want}"
        );
        let back = read_value(|b| unsafe { ergon_dpk_gaussian_delta(sigma, e, b) });
        assert!(
            back <= d * (1.0 + 1e-9) && back >= d * (1.0 - 1e-6),
            "{back} vs {d}"
        );
    }
    let sigma = read_value(|s| unsafe { ergon_dpk_gaussian_sigma_classic(0.5, 1e-6, s) });
    assert!(close(sigma, 10.5976050537, 1e-9), "{sigma}");
    assert!(close(sigma, (2.0 * (1.25e6f64).ln()).sqrt() / 0.5, 1e-12));
    let mut untouched = -3.0;
    assert_eq!(
        unsafe { ergon_dpk_gaussian_sigma_classic(1.0, 1e-5, &mut untouched) },
        ergon_status::InvalidArgument
    );
    assert!(thread_error().contains("epsilon < 1"), "{}", thread_error());
    assert_eq!(untouched, -3.0);

    // dp-accounting's compute_epsilon / compute_delta on the DP-SGD job (tight rule).
    let (alphas, curve) = dpsgd_job();
    let epsilon_of =
        |d, conversion| convert(ergon_dpk_curve_dp_epsilon, &alphas, &curve, d, conversion);
    let (e, i) = epsilon_of(1e-5, ERGON_DPK_CONVERSION_TIGHT);
    assert!(close(e, 6.7194021179393335, 1e-9), "{e}");
    assert_eq!(alphas[i], 4.0);
    let (e, _) = epsilon_of(1e-5, ERGON_DPK_CONVERSION_CLASSIC);
    assert!(close(e, 7.469182310764411, 1e-9), "{e}");
    let delta_of = |e| {
        let tight = ERGON_DPK_CONVERSION_TIGHT;
        convert(ergon_dpk_curve_dp_delta, &alphas, &curve, e, tight)
    };
    let (d, i) = delta_of(5.0);
    assert!(close(d, 0.0013377167808450215, 1e-12), "{d}");
    assert_eq!(alphas[i], 3.0);
    let (d, i) = delta_of(10.0);
    assert!(close(d, 4.8216374583033133e-11, 1e-20), "{d}");
    assert_eq!(alphas[i], 5.0);

    // The tight rule is clamped at 0: a zero curve at δ = 0.5 certifies ε = 0, not less.
    let zeros = vec![0.0; dense.len()];
    let tight = ERGON_DPK_CONVERSION_TIGHT;
    let (e, i) = convert(ergon_dpk_curve_dp_epsilon, &dense, &zeros, 0.5, tight);
    assert_eq!(e, 0.0);
    assert!(i < dense.len());
}

// ------------------------------------------------------------------------------ bad input

#[test]
fn optimal_refuses_too_many_tasks() {
    let n = 1100u64;
    let a = Arrays::new(
        &[2.0],
        vec![vec![1.0]],
        (0..n).map(|id| (id, 1.0, vec![0], vec![0.5])).collect(),
    );
    let w = a.workload().unwrap();
    let mut r = null_mut();
    unsafe {
        assert_eq!(
            ergon_dpk_workload_schedule(w, &options(ERGON_DPK_SCHEDULER_OPTIMAL), &mut r),
            ergon_status::InvalidArgument
        );
        assert!(workload_error(w).contains("1100"), "{}", workload_error(w));
        ergon_dpk_workload_free(w);
    }
}

#[test]
fn bad_accounting_arguments() {
    let alphas = [2.0, 4.0];
    let curve = [0.5, 1.0];
    let mut out = [9.0; 2];
    let mut len = 0;
    let (mut d, mut i) = (-1.0, 99);
    let out_ptr = out.as_mut_ptr();
    let (d_ptr, i_ptr): (*mut f64, *mut usize) = (&mut d, &mut i);
    let len_ptr: *mut usize = &mut len;
    // SAFETY (all calls): the arrays and outputs above, or NULL where a case says so.
    let dp_delta = |curve: *const f64, e: f64, conversion: u32, d: *mut f64| unsafe {
        ergon_dpk_curve_dp_delta(alphas.as_ptr(), 2, curve, 2, e, conversion, d, i_ptr)
    };
    let compose = |rows: *const f64, n: usize, num_alphas: usize, counts: *const f64| unsafe {
        ergon_dpk_curve_compose(rows, n, num_alphas, counts, out_ptr, 2, len_ptr)
    };
    let subsampled_laplace = |q: f64| unsafe {
        ergon_dpk_curve_subsampled_laplace(alphas.as_ptr(), 2, q, 1.0, 1.0, out_ptr, 2, len_ptr)
    };
    let negative = [0.5, -1.0];
    let counts = [1.0, f64::NAN];
    let rows = [0.5, 1.0, 0.5, 1.0];
    let invalid = ergon_status::InvalidArgument;
    let null_pointer = ergon_status::NullPointer;
    check_calls(&[
        // An unknown conversion.
        (invalid, "conversion 7", &|| unsafe {
            ergon_dpk_block_capacity_with(alphas.as_ptr(), 2, 1.0, 1e-5, 7, out_ptr, 2, len_ptr)
        }),
        (invalid, "conversion 7", &|| {
            dp_delta(curve.as_ptr(), 1.0, 7, d_ptr)
        }),
        // Each entry point names itself, the classic one included.
        (invalid, "ergon_dpk_block_capacity: ", &|| unsafe {
            ergon_dpk_block_capacity(alphas.as_ptr(), 2, 1.0, 1.5, out_ptr, 2, len_ptr)
        }),
        // NULL pointers.
        (null_pointer, "delta", &|| {
            dp_delta(curve.as_ptr(), 1.0, 0, null_mut())
        }),
        (null_pointer, "curve", &|| dp_delta(null(), 1.0, 0, d_ptr)),
        (null_pointer, "alphas", &|| unsafe {
            ergon_dpk_curve_laplace(null(), 2, 1.0, out_ptr, 2, len_ptr)
        }),
        (null_pointer, "curves", &|| compose(null(), 2, 2, null())),
        (null_pointer, "sigma", &|| unsafe {
            ergon_dpk_gaussian_sigma_classic(0.5, 1e-5, null_mut())
        }),
        (null_pointer, "delta", &|| unsafe {
            ergon_dpk_gaussian_delta(1.0, 1.0, null_mut())
        }),
        // Out of domain.
        (invalid, "epsilon", &|| {
            dp_delta(curve.as_ptr(), -1.0, 0, d_ptr)
        }),
        (invalid, "b", &|| unsafe {
            ergon_dpk_curve_laplace(alphas.as_ptr(), 2, 0.0, out_ptr, 2, len_ptr)
        }),
        (invalid, "q", &|| subsampled_laplace(-0.1)),
        (invalid, "-1", &|| compose(negative.as_ptr(), 1, 2, null())),
        (invalid, "NaN", &|| {
            compose(rows.as_ptr(), 2, 2, counts.as_ptr())
        }),
        (invalid, "num_alphas = 0", &|| {
            compose(rows.as_ptr(), 2, 0, null())
        }),
        (invalid, "sigma", &|| unsafe {
            ergon_dpk_gaussian_delta(0.0, 1.0, d_ptr)
        }),
        (invalid, "epsilon", &|| unsafe {
            ergon_dpk_gaussian_sigma(-1.0, 1e-5, d_ptr)
        }),
    ]);
    // Nothing was written by the failed calls.
    assert_eq!((d, i), (-1.0, 99));
    assert_eq!(out, [9.0; 2]);
    // 4096 orders are accepted, 4097 refused.
    let many: Vec<f64> = (0..4097).map(|k| 2.0 + f64::from(k)).collect();
    let mut buf = vec![0.0; 4097];
    let gaussian = |n: usize, buf: &mut [f64], len: &mut usize| unsafe {
        ergon_dpk_curve_gaussian(many.as_ptr(), n, 1.0, buf.as_mut_ptr(), buf.len(), len)
    };
    assert_eq!(gaussian(4096, &mut buf, &mut len), ergon_status::Ok);
    assert_eq!(len, 4096);
    assert!(close(buf[4095], many[4095] / 2.0, 1e-12));
    assert_eq!(gaussian(4097, &mut buf, &mut len), invalid);
    assert!(thread_error().contains("4096"), "{}", thread_error());
}

/// Each case breaks one thing of a valid O4 workload; the message names the task or block.
/// `in_json`: the same workload as a document fails the same way.
#[test]
fn bad_workloads_name_the_task_or_block() {
    type Change = fn(&mut Arrays);
    let problem = ergon_status::InvalidProblem;
    let cases: [(Change, ergon_status, &[&str], bool); 13] = [
        // A negative demand.
        (
            |a| a.demands[4][0] = -0.1,
            problem,
            &["task 4", "-0.1"],
            true,
        ),
        // A missing block, a block requested twice, a task with no block.
        (
            |a| a.task_blocks[5] = vec![0, 9],
            problem,
            &["task 5", "block 9"],
            true,
        ),
        (
            |a| {
                a.task_blocks[1] = vec![1, 1];
                a.task_blocks[2] = vec![];
            },
            problem,
            &["task 1", "block 1", "twice"],
            false,
        ),
        // Empty and invalid orders.
        (|a| a.alphas = vec![], problem, &["orders", "empty"], false),
        (
            |a| a.alphas = vec![2.0, 1.0, 4.0],
            problem,
            &["order #1"],
            false,
        ),
        // Wrong lengths: an error, not a truncation or an out-of-bounds read.
        (
            |a| a.demands[6] = vec![0.1; 20],
            problem,
            &["task 6", "20 entries"],
            false,
        ),
        (
            |a| a.capacities[1] = vec![1.0, 1.0],
            problem,
            &["block 1", "2 entries"],
            false,
        ),
        // Duplicate ids, a bad weight, a weight beyond the limit.
        (|a| a.ids[2] = 1, problem, &["task 1", "twice"], false),
        (
            |a| a.weights[0] = 0.0,
            problem,
            &["task 0", "weight"],
            false,
        ),
        (
            |a| a.weights[0] = 1e300,
            problem,
            &["task 0", "MAX_WEIGHT"],
            false,
        ),
        // No blocks.
        (
            |a| {
                a.capacities.clear();
                a.task_blocks = vec![vec![]; 7];
            },
            problem,
            &["no blocks"],
            false,
        ),
        // An order beyond MAX_ALPHA (order 10³⁰⁸ hung the subsampled series once).
        (|a| a.alphas = vec![1e308], problem, &["MAX_ALPHA"], false),
        // A NaN demand (a document cannot hold one: "x" there is a syntax error).
        (
            |a| a.demands[3][1] = f64::NAN,
            problem,
            &["task 3", "NaN"],
            false,
        ),
    ];
    for (change, status, needles, in_json) in cases {
        let mut a = o4(2);
        change(&mut a);
        a.relink();
        fails(a.workload(), status, needles);
        if in_json {
            fails(from_json(&a.json()), status, needles);
        }
    }
    let mut a = o4(2);
    a.demands[3][1] = f64::NAN;
    a.relink();
    fails(
        from_json(&a.json().replace("NaN", "x")),
        ergon_status::Parse,
        &[],
    );
    // δ outside (0, 1), ε not positive, for a block given by its budget.
    for (eps, delta, needle) in [
        (10.0, 1.5, "delta"),
        (10.0, 0.0, "delta"),
        (-1.0, 1e-7, "epsilon"),
    ] {
        let mut a = o4(2);
        a.capacities[1] = vec![];
        a.relink();
        a.blocks[1].epsilon = eps;
        a.blocks[1].delta = delta;
        fails(a.workload(), problem, &["block 1", needle]);
    }
    // NULL arrays with a length name the array and the task.
    let nulls: [(Change, &str); 2] = [
        (|a| a.tasks[3].demand = null(), "tasks[3] (task 3).demand"),
        (
            |a| a.blocks[0].capacity = null(),
            "blocks[0] (block 0).capacity",
        ),
    ];
    for (change, needle) in nulls {
        let mut a = o4(1);
        change(&mut a);
        fails(a.workload(), ergon_status::NullPointer, &[needle]);
    }
    // Documents: syntax, schema, a missing field, values out of domain, not UTF-8.
    let docs: [(&str, ergon_status, &[&str]); 5] = [
        ("{", ergon_status::Parse, &["dpk-workload/v1"]),
        (
            r#"{"schema": "dpk-result/v1"}"#,
            ergon_status::Schema,
            &["dpk-workload/v1", "dpk-result/v1"],
        ),
        (
            r#"{"schema": "dpk-workload/v1", "blocks": [{"id": 0, "epsilon": 1, "delta": 1e-5}],
            "tasks": [{"id": 4, "demand": [1,1,1,1,1,1,1,1,1,1,1,1]}]}"#,
            problem,
            &["task 4", "blocks"],
        ),
        (
            r#"{"schema": "dpk-workload/v1", "alphas": [2, 3],
            "blocks": [{"id": 7, "epsilon": 1.0, "delta": 2.0}], "tasks": []}"#,
            problem,
            &["block 7", "delta"],
        ),
        (
            r#"{"schema": "dpk-workload/v1", "alphas": [], "blocks": [{"id": 0, "capacity": []}], "tasks": []}"#,
            problem,
            &["empty"],
        ),
    ];
    for (doc, status, needles) in docs {
        fails(from_json(doc), status, needles);
    }
    let bad_utf8 = [0xffu8, 0xfe];
    let mut w = null_mut();
    let s = unsafe { ergon_dpk_workload_from_json(bad_utf8.as_ptr().cast(), 2, &mut w) };
    fails(created(s, w), ergon_status::Parse, &["UTF-8"]);
}

#[test]
fn bad_calls() {
    let a = o4(1);
    let p = a.problem();
    let mut w = null_mut();
    let w_ptr: *mut *mut ergon_dpk_workload = &mut w;
    let null_pointer = ergon_status::NullPointer;
    // SAFETY (all calls): the problem above, or NULL where a case says so.
    check_calls(&[
        (null_pointer, "`problem`", &|| unsafe {
            ergon_dpk_workload_new(null(), w_ptr)
        }),
        (null_pointer, "`out`", &|| unsafe {
            ergon_dpk_workload_new(&p, null_mut())
        }),
        (null_pointer, "`json`", &|| unsafe {
            ergon_dpk_workload_from_json(null(), 3, w_ptr)
        }),
    ]);
    assert!(w.is_null());
    let w = a.workload().unwrap();
    let mut r = null_mut();
    // Unknown constants and η out of range: the workload's message says which.
    let default = ergon_dpk_options_default();
    for (o, needle) in [
        (options(9), "unknown scheduler 9"),
        (
            ergon_dpk_options {
                knapsack: 7,
                ..default
            },
            "knapsack",
        ),
        (
            ergon_dpk_options {
                dpf_capacity: 2,
                ..default
            },
            "dpf_capacity",
        ),
        (
            ergon_dpk_options {
                eta: f64::NAN,
                ..default
            },
            "eta",
        ),
        (
            ergon_dpk_options {
                eta: 0.75,
                ..default
            },
            "eta",
        ),
    ] {
        let status = unsafe { ergon_dpk_workload_schedule(w, &o, &mut r) };
        assert_eq!(status, ergon_status::InvalidArgument);
        assert!(r.is_null(), "a failed schedule wrote its output");
        let m = workload_error(w);
        assert!(m.contains(needle), "{m}");
        assert!(m.starts_with("ergon_dpk_workload_schedule: "), "{m}");
        assert_eq!(m, thread_error());
    }
    let r = {
        let mut r = null_mut();
        let status = unsafe { ergon_dpk_workload_schedule(w, null(), &mut r) };
        created(status, r).unwrap()
    };
    let mut info = ergon_dpk_workload_info::default();
    let mut rinfo = ergon_dpk_result_info::default();
    let (info_ptr, rinfo_ptr): (*mut ergon_dpk_workload_info, *mut ergon_dpk_result_info) =
        (&mut info, &mut rinfo);
    let mut ids = [u64::MAX; 1];
    let mut rem = [7.0; 2];
    let mut text = [b'x'; 8];
    let mut alphas = [0.0; 2];
    let (mut len, mut ids_len, mut rem_len, mut text_len) = (0, 0, 0, 0);
    let len_ptr: *mut usize = &mut len;
    let (ids_len_ptr, rem_len_ptr, text_len_ptr): (*mut usize, *mut usize, *mut usize) =
        (&mut ids_len, &mut rem_len, &mut text_len);
    let (ids_ptr, rem_ptr, text_ptr) = (ids.as_mut_ptr(), rem.as_mut_ptr(), text.as_mut_ptr());
    let too_small = ergon_status::BufferTooSmall;
    // SAFETY (all calls): the handles and buffers above, or NULL where a case says so.
    check_calls(&[
        (null_pointer, "`out`", &|| unsafe {
            ergon_dpk_workload_schedule(w, null(), null_mut())
        }),
        (null_pointer, "DPK workload handle is NULL", &|| unsafe {
            ergon_dpk_workload_schedule(null(), null(), null_mut())
        }),
        // Handles of another type.
        (null_pointer, "not a live DPK workload handle", &|| unsafe {
            ergon_dpk_workload_summary(r.cast(), info_ptr)
        }),
        (null_pointer, "not a live DPK result handle", &|| unsafe {
            ergon_dpk_result_summary(w.cast(), rinfo_ptr)
        }),
        // Buffers too small: the needed length is written, the buffer is left alone.
        (too_small, "too small", &|| unsafe {
            ergon_dpk_result_allocated(r, ids_ptr, 1, ids_len_ptr)
        }),
        (too_small, "too small", &|| unsafe {
            ergon_dpk_result_remaining(r, rem_ptr, 2, rem_len_ptr)
        }),
        (too_small, "too small", &|| unsafe {
            ergon_dpk_result_to_json(r, text_ptr.cast(), 8, text_len_ptr)
        }),
    ]);
    assert_eq!((ids, rem, text), ([u64::MAX], [7.0; 2], [b'x'; 8]));
    assert_eq!((ids_len, rem_len), (2, 3));
    assert!(
        text_len > 8,
        "the needed length of the JSON text: {text_len}"
    );
    assert!(
        read_text(|b, c, l| unsafe { ergon_dpk_result_last_error(r, b, c, l) })
            .contains("too small")
    );
    check_calls(&[
        // A NULL buffer with a capacity, a NULL length.
        (null_pointer, "`buf`", &|| unsafe {
            ergon_dpk_result_allocated(r, null_mut(), 4, len_ptr)
        }),
        (null_pointer, "`len`", &|| unsafe {
            ergon_dpk_result_allocated(r, ids_ptr, 1, null_mut())
        }),
    ]);
    let status = unsafe { ergon_dpk_workload_alphas(w, alphas.as_mut_ptr(), 2, &mut len) };
    assert_eq!((status, len, alphas), (too_small, 3, [0.0; 2]));
    unsafe {
        ergon_dpk_result_free(r);
        ergon_dpk_workload_free(w);
        // Freeing NULL is a no-op.
        ergon_dpk_workload_free(null_mut());
        ergon_dpk_result_free(null_mut());
    }
}

#[test]
fn bad_rdp_helper_arguments() {
    let alphas = [2.0, 4.0];
    let mut out = [9.0; 2];
    let mut len = 0;
    let (out_ptr, len_ptr): (*mut f64, *mut usize) = (out.as_mut_ptr(), &mut len);
    let invalid = ergon_status::InvalidArgument;
    // SAFETY (all calls): the arrays and outputs above, or NULL where a case says so.
    let capacity = |alphas: *const f64, n: usize, eps: f64, delta: f64| unsafe {
        ergon_dpk_block_capacity(alphas, n, eps, delta, out_ptr, 2, len_ptr)
    };
    for (eps, delta, needle) in [
        (1.0, 0.0, "delta"),
        (1.0, 1.0, "delta"),
        (1.0, f64::NAN, "delta"),
        (0.0, 0.5, "epsilon"),
        (f64::INFINITY, 0.5, "epsilon"),
    ] {
        check_calls(&[(invalid, needle, &|| {
            capacity(alphas.as_ptr(), 2, eps, delta)
        })]);
    }
    assert_eq!(out, [9.0; 2]);
    let (mut eps, mut index) = (-1.0, 99);
    let (eps_ptr, index_ptr): (*mut f64, *mut usize) = (&mut eps, &mut index);
    let dp_epsilon = |curve: &[f64], n: usize, delta: f64, conversion: u32, index: *mut usize| unsafe {
        ergon_dpk_curve_dp_epsilon(
            alphas.as_ptr(),
            2,
            curve.as_ptr(),
            n,
            delta,
            conversion,
            eps_ptr,
            index,
        )
    };
    let mut sigma = 5.0;
    let sigma_ptr: *mut f64 = &mut sigma;
    check_calls(&[
        (invalid, "empty", &|| capacity(alphas.as_ptr(), 0, 1.0, 0.5)),
        (ergon_status::NullPointer, "alphas", &|| {
            capacity(null(), 2, 1.0, 0.5)
        }),
        (invalid, "sigma", &|| unsafe {
            ergon_dpk_curve_gaussian(alphas.as_ptr(), 2, -1.0, out_ptr, 2, len_ptr)
        }),
        (invalid, "q", &|| unsafe {
            ergon_dpk_curve_subsampled_gaussian(
                alphas.as_ptr(),
                2,
                1.5,
                1.0,
                1.0,
                out_ptr,
                2,
                len_ptr,
            )
        }),
        (ergon_status::BufferTooSmall, "too small", &|| unsafe {
            ergon_dpk_curve_gaussian(alphas.as_ptr(), 2, 1.0, out_ptr, 1, len_ptr)
        }),
    ]);
    assert_eq!(len, 2);
    check_calls(&[
        (invalid, "alpha = 4", &|| {
            dp_epsilon(&[0.5, f64::NAN], 2, 1e-5, 0, index_ptr)
        }),
        (invalid, "1 entries", &|| {
            dp_epsilon(&[0.5, 0.5], 1, 1e-5, 0, index_ptr)
        }),
        (invalid, "conversion 5", &|| {
            dp_epsilon(&[0.5, 0.5], 2, 1e-5, 5, index_ptr)
        }),
        (invalid, "delta", &|| {
            dp_epsilon(&[0.5, 0.5], 2, 2.0, 0, index_ptr)
        }),
        (ergon_status::NullPointer, "alpha_index", &|| {
            dp_epsilon(&[0.5, 0.5], 2, 1e-5, 0, null_mut())
        }),
        (invalid, "delta", &|| unsafe {
            ergon_dpk_gaussian_sigma(1.0, 1.0, sigma_ptr)
        }),
    ]);
    assert_eq!((eps, index, sigma), (-1.0, 99, 5.0));
}

// ------------------------------------------------------------------------------ online

fn simulate_json(
    json: &str,
    options: Option<&ergon_dpk_options>,
) -> Result<*mut ergon_dpk_online, (ergon_status, String)> {
    let mut h = null_mut();
    let o = options.map_or(null(), |o| o as *const _);
    let s = unsafe { ergon_dpk_online_run_json(json.as_ptr().cast(), json.len(), o, &mut h) };
    created(s, h)
}

fn online_json_text(h: *const ergon_dpk_online) -> String {
    read_text(|b, c, l| unsafe { ergon_dpk_online_to_json(h, b, c, l) })
}

#[test]
fn online_simulation_matches_the_core() {
    use ergon_core::dpk::formats::{online_json, online_result_json};
    use ergon_core::dpk::generate::AmazonLike;
    use ergon_core::dpk::{ScheduleOptions, Scheduler, simulate};

    let config = AmazonLike {
        num_tasks: 400,
        tasks_per_block: 40.0,
        weighted: true,
        ..AmazonLike::default()
    }
    .config(ScheduleOptions::default())
    .unwrap();
    let doc = online_json(&config);
    for (scheduler, core) in [
        (None, Scheduler::Dpk),
        (Some(ERGON_DPK_SCHEDULER_DPF), Scheduler::Dpf),
        (Some(ERGON_DPK_SCHEDULER_FCFS), Scheduler::Fcfs),
    ] {
        let o = scheduler.map(options);
        let h = simulate_json(&doc, o.as_ref()).unwrap();
        let mut cfg = config.clone();
        cfg.options = ScheduleOptions::with(core);
        let want = simulate(&cfg).unwrap();
        assert_eq!(online_json_text(h), online_result_json(core, &want));
        let mut info = ergon_dpk_online_info::default();
        let mut ids = vec![0u64; want.num_allocated()];
        let mut len = 0;
        unsafe {
            assert_eq!(ergon_dpk_online_summary(h, &mut info), ergon_status::Ok);
            assert_eq!(
                ergon_dpk_online_allocated(h, ids.as_mut_ptr(), ids.len(), &mut len),
                ergon_status::Ok
            );
            ergon_dpk_online_free(h);
        }
        assert!(want.num_allocated() > 0);
        assert_eq!(
            info.scheduler,
            o.map_or(ERGON_DPK_SCHEDULER_DPK, |o| o.scheduler)
        );
        assert_eq!(info.num_submitted, 400);
        assert_eq!(info.num_allocated, want.num_allocated());
        assert_eq!(info.total_weight, want.total_weight);
        assert_eq!(info.mean_delay, want.mean_delay);
        assert_eq!(info.num_rounds, want.num_rounds);
        let want_ids: Vec<u64> = want.allocations.iter().map(|a| a.id).collect();
        assert_eq!((len, ids), (want_ids.len(), want_ids));
    }
}

#[test]
fn bad_online_input() {
    let doc = |tasks: &str, period: f64| {
        format!(
            r#"{{"schema": "dpk-online/v1", "alphas": [2, 4], "initial_blocks": 1,
            "total_blocks": 3, "scheduling_period": {period},
            "unlocking": {{"kind": "time", "period": 1, "steps": 2}}, "tasks": [{tasks}]}}"#
        )
    };
    let good = r#"{"id": 1, "num_blocks": 1, "demand": [0.1, 0.2]}"#;
    let h = simulate_json(&doc(good, 1.0), None).unwrap();
    let mut info = ergon_dpk_online_info::default();
    unsafe {
        assert_eq!(ergon_dpk_online_summary(h, &mut info), ergon_status::Ok);
        ergon_dpk_online_free(h);
    }
    assert_eq!((info.num_submitted, info.num_allocated), (1, 1));
    let missing = r#"{"id": 8, "demand": [0.1, 0.2]}"#;
    fails(
        simulate_json(&doc(missing, 1.0), None),
        ergon_status::InvalidProblem,
        &["task 8", "num_blocks"],
    );
    let nan = r#"{"id": 9, "num_blocks": 1, "demand": [0.1, -2]}"#;
    fails(
        simulate_json(&doc(nan, 1.0), None),
        ergon_status::InvalidProblem,
        &["task 9", "-2"],
    );
    fails(
        simulate_json(&doc(good, 0.0), None),
        ergon_status::InvalidProblem,
        &["scheduling_period"],
    );
    fails(
        simulate_json(&doc(good, 1.0), Some(&options(ERGON_DPK_SCHEDULER_OPTIMAL))),
        ergon_status::InvalidArgument,
        &["offline only"],
    );
    fails(
        simulate_json(&doc(good, 1.0), Some(&options(17))),
        ergon_status::InvalidArgument,
        &["unknown scheduler 17"],
    );
    fails(
        simulate_json(r#"{"schema": "dpk-workload/v1"}"#, None),
        ergon_status::Schema,
        &["dpk-online/v1"],
    );
    let mut h = null_mut();
    unsafe {
        assert_eq!(
            ergon_dpk_online_run_json(null(), 0, null(), &mut h),
            ergon_status::NullPointer
        );
        let mut info = ergon_dpk_online_info::default();
        assert_eq!(
            ergon_dpk_online_summary(null(), &mut info),
            ergon_status::NullPointer
        );
        ergon_dpk_online_free(null_mut());
    }
}

// ---------------------------------------------------------- issue 12: hostile sizes, orders

/// A 10⁷-task description aborted the host on allocation; the count is now checked against
/// MAX_TASKS before anything is read or allocated (so the one-element array below is never
/// read past its end).
#[test]
fn sizes_over_the_limits_are_a_status() {
    let a = o5();
    for (num_blocks, num_tasks, needle) in [
        (a.blocks.len(), 10_000_000, "MAX_TASKS"),
        (10_000_000, a.tasks.len(), "MAX_BLOCKS"),
        (usize::MAX, usize::MAX, "MAX_BLOCKS"),
    ] {
        let mut p = a.problem();
        p.num_tasks = num_tasks;
        p.num_blocks = num_blocks;
        let mut w = null_mut();
        let s = unsafe { ergon_dpk_workload_new(&p, &mut w) };
        assert_eq!(s, ergon_status::InvalidProblem);
        assert!(w.is_null());
        let msg = thread_error();
        assert!(msg.contains(needle), "{msg}");
    }
}

/// Order 10³⁰⁸ hung the subsampled series; it is refused by the grid check.
#[test]
fn huge_orders_are_a_status_not_a_hang() {
    type Subsampled = unsafe extern "C" fn(
        *const f64,
        usize,
        f64,
        f64,
        f64,
        *mut f64,
        usize,
        *mut usize,
    ) -> ergon_status;
    let mechanisms: [Subsampled; 2] = [
        ergon_dpk_curve_subsampled_gaussian,
        ergon_dpk_curve_subsampled_laplace,
    ];
    for curve in mechanisms {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let alphas = [2.0, 1e308];
            let (mut out, mut len) = ([0.0; 2], 0usize);
            let s = unsafe {
                curve(
                    alphas.as_ptr(),
                    2,
                    0.01,
                    1.0,
                    1.0,
                    out.as_mut_ptr(),
                    2,
                    &mut len,
                )
            };
            let _ = tx.send((s, thread_error()));
        });
        let (s, msg) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("order 1e308 was not refused by validation");
        assert_eq!(s, ergon_status::InvalidArgument);
        assert!(msg.contains("MAX_ALPHA") && msg.contains("#1"), "{msg}");
    }
}
