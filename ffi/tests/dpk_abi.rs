//! DPK through the C ABI, called from Rust: the oracles O4 and O5 of dpk-orloj.md from arrays
//! and from `dpk-workload/v1`, the result accessors, the RDP helpers, and the error model call
//! by call (status, a message naming the block or task, outputs untouched on failure).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::CStr;
use std::ptr::{null, null_mut};

use ergon::*;
use common::{read_text, thread_error};

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
        let s = unsafe { ergon_dpk_workload_new(&p, &mut w) };
        if s == ergon_status::Ok {
            Ok(w)
        } else {
            assert!(w.is_null(), "a failed constructor wrote its output");
            Err((s, thread_error()))
        }
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
    if s == ergon_status::Ok {
        Ok(w)
    } else {
        assert!(w.is_null(), "a failed constructor wrote its output");
        Err((s, thread_error()))
    }
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
    unsafe {
        assert_eq!(
            ergon_dpk_workload_schedule(w, o, &mut r),
            ergon_status::Ok,
            "{}",
            workload_error(w)
        );
        let mut info = ergon_dpk_result_info::default();
        assert_eq!(ergon_dpk_result_summary(r, &mut info), ergon_status::Ok);
        let mut len = 0;
        assert_eq!(
            ergon_dpk_result_allocated(r, null_mut(), 0, &mut len),
            ergon_status::Ok
        );
        let mut allocated = vec![0u64; len];
        assert_eq!(
            ergon_dpk_result_allocated(r, allocated.as_mut_ptr(), len, &mut len),
            ergon_status::Ok
        );
        assert_eq!(
            ergon_dpk_result_block_ids(r, null_mut(), 0, &mut len),
            ergon_status::Ok
        );
        let mut block_ids = vec![0u64; len];
        assert_eq!(
            ergon_dpk_result_block_ids(r, block_ids.as_mut_ptr(), len, &mut len),
            ergon_status::Ok
        );
        assert_eq!(
            ergon_dpk_result_remaining(r, null_mut(), 0, &mut len),
            ergon_status::Ok
        );
        let mut remaining = vec![0.0; len];
        assert_eq!(
            ergon_dpk_result_remaining(r, remaining.as_mut_ptr(), len, &mut len),
            ergon_status::Ok
        );
        assert_eq!(
            ergon_dpk_result_to_json(r, null_mut(), 0, &mut len),
            ergon_status::Ok
        );
        let mut buf = vec![0u8; len + 1];
        assert_eq!(
            ergon_dpk_result_to_json(r, buf.as_mut_ptr().cast(), buf.len(), &mut len),
            ergon_status::Ok
        );
        ergon_dpk_result_free(r);
        Outcome {
            allocated,
            info,
            block_ids,
            remaining,
            json: CStr::from_bytes_until_nul(&buf)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned(),
        }
    }
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
        let (mut x, mut y) = (
            ergon_dpk_workload_info::default(),
            ergon_dpk_workload_info::default(),
        );
        unsafe {
            assert_eq!(ergon_dpk_workload_summary(w, &mut x), ergon_status::Ok);
            assert_eq!(ergon_dpk_workload_summary(j, &mut y), ergon_status::Ok);
        }
        assert_eq!(
            (x.num_alphas, x.num_blocks, x.num_tasks),
            (3, num_blocks, 7)
        );
        assert_eq!(
            (x.num_alphas, x.num_blocks, x.num_tasks),
            (y.num_alphas, y.num_blocks, y.num_tasks)
        );
        let text = |w| {
            let mut len = 0;
            unsafe {
                assert_eq!(
                    ergon_dpk_workload_to_json(w, null_mut(), 0, &mut len),
                    ergon_status::Ok
                );
                let mut buf = vec![0u8; len + 1];
                assert_eq!(
                    ergon_dpk_workload_to_json(w, buf.as_mut_ptr().cast(), buf.len(), &mut len),
                    ergon_status::Ok
                );
                buf.truncate(len);
                String::from_utf8(buf).unwrap()
            }
        };
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
    let mut cap = [0.0; 5];
    let mut len = 0;
    unsafe {
        assert_eq!(
            ergon_dpk_block_capacity(
                alphas.as_ptr(),
                5,
                10.0,
                1e-7,
                cap.as_mut_ptr(),
                5,
                &mut len
            ),
            ergon_status::Ok
        );
    }
    assert_eq!(len, 5);
    for (c, a) in cap.iter().zip(alphas) {
        let want = (10.0 - (1e7f64).ln() / (a - 1.0)).max(0.0);
        assert!(close(*c, want, 1e-12), "{cap:?}");
    }
    // The classic conversion inverts the capacity: ε = 10 at the orders with c > 0.
    let (mut eps, mut index) = (0.0, 0);
    unsafe {
        assert_eq!(
            ergon_dpk_curve_dp_epsilon(
                alphas.as_ptr(),
                5,
                cap.as_ptr(),
                5,
                1e-7,
                ERGON_DPK_CONVERSION_CLASSIC,
                &mut eps,
                &mut index
            ),
            ergon_status::Ok
        );
    }
    assert!(close(eps, 10.0, 1e-9), "{eps}");
    assert!(cap[index] > 0.0);
    // The tight bound is never larger.
    let (mut tight, mut tight_index) = (0.0, 0);
    unsafe {
        assert_eq!(
            ergon_dpk_curve_dp_epsilon(
                alphas.as_ptr(),
                5,
                cap.as_ptr(),
                5,
                1e-7,
                ERGON_DPK_CONVERSION_TIGHT,
                &mut tight,
                &mut tight_index
            ),
            ergon_status::Ok
        );
    }
    // (A capacity is 0 at the low orders, so as a "curve" the tight rule's small-divergence
    // shortcut certifies ε = 0 there; a real mechanism's curve is tested below.)
    assert!(tight <= eps && tight >= 0.0, "{tight} {eps}");

    // Gaussian: α / (2σ²); a subsampled Gaussian with q = 1 is the plain one times the steps.
    let mut g = [0.0; 5];
    let mut s = [0.0; 5];
    unsafe {
        assert_eq!(
            ergon_dpk_curve_gaussian(alphas.as_ptr(), 5, 2.0, g.as_mut_ptr(), 5, &mut len),
            ergon_status::Ok
        );
        assert_eq!(
            ergon_dpk_curve_subsampled_gaussian(
                alphas.as_ptr(),
                5,
                1.0,
                2.0,
                3.0,
                s.as_mut_ptr(),
                5,
                &mut len
            ),
            ergon_status::Ok
        );
    }
    for i in 0..5 {
        assert!(close(g[i], alphas[i] / 8.0, 1e-15));
        assert!(close(s[i], 3.0 * g[i], 1e-12));
    }
    // Sampling lowers the cost.
    unsafe {
        assert_eq!(
            ergon_dpk_curve_subsampled_gaussian(
                alphas.as_ptr(),
                5,
                0.01,
                2.0,
                3.0,
                s.as_mut_ptr(),
                5,
                &mut len
            ),
            ergon_status::Ok
        );
    }
    assert!(
        s.iter().zip(&g).all(|(x, y)| *x < 3.0 * y && *x > 0.0),
        "{s:?}"
    );
    let mut sigma = 0.0;
    unsafe {
        assert_eq!(
            ergon_dpk_gaussian_sigma(1.0, 1e-5, &mut sigma),
            ergon_status::Ok
        );
    }
    // The analytic Gaussian mechanism; dp_accounting.get_sigma_gaussian(1, 1e-5) gives
    // 3.7306316348159414 (the classic formula's 4.845 is larger).
    assert!(close(sigma, 3.7306316348159414, 1e-9), "{sigma}");
}

/// A helper's output by "ask the length, then fill": both calls must succeed and agree on the
/// length.
fn items(f: impl Fn(*mut f64, usize, *mut usize) -> ergon_status) -> Vec<f64> {
    let mut len = usize::MAX;
    assert_eq!(
        f(null_mut(), 0, &mut len),
        ergon_status::Ok,
        "{}",
        thread_error()
    );
    let mut out = vec![f64::NAN; len];
    let mut again = usize::MAX;
    assert_eq!(f(out.as_mut_ptr(), len, &mut again), ergon_status::Ok);
    assert_eq!(again, len);
    out
}

/// The RDP curve of Laplace with scale b, `ln(α/(2α−1)·e^{(α−1)/b} + (α−1)/(2α−1)·e^{−α/b})
/// / (α − 1)` (Mironov 2017, Table II), written out directly.
fn laplace_rdp(a: f64, b: f64) -> f64 {
    let w = 2.0 * a - 1.0;
    ((a / w) * ((a - 1.0) / b).exp() + ((a - 1.0) / w) * (-a / b).exp()).ln() / (a - 1.0)
}

/// The DP-SGD job of the dp-accounting oracles: q = 0.01, σ = 1, 10⁴ steps, standard orders.
fn dpsgd_job() -> (Vec<f64>, Vec<f64>) {
    let alphas = items(|b, c, l| unsafe { ergon_dpk_alphas_standard(b, c, l) });
    let curve = items(|b, c, l| unsafe {
        ergon_dpk_curve_subsampled_gaussian(alphas.as_ptr(), alphas.len(), 0.01, 1.0, 1e4, b, c, l)
    });
    (alphas, curve)
}

#[test]
fn accounting_helpers() {
    // dp-accounting's default grid: 156 orders, 1.1 .. 10.9, 11 .. 63, 128 .. 1024.
    let dense = items(|b, c, l| unsafe { ergon_dpk_alphas_dense(b, c, l) });
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
        items(|b, c, l| unsafe {
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
    let plain = items(|b, c, l| unsafe {
        ergon_dpk_block_capacity(dense.as_ptr(), dense.len(), eps, delta, b, c, l)
    });
    assert_eq!(plain, classic);

    // Laplace on a 20-order grid, against the closed form; a subsampled Laplace with q = 1 is
    // the plain one times the steps, and sampling (q = 0.01) costs less.
    let grid: Vec<f64> = (0..20).map(|i| 1.5 + f64::from(i)).collect();
    let b = 2.0;
    let lap = items(|o, c, l| unsafe { ergon_dpk_curve_laplace(grid.as_ptr(), 20, b, o, c, l) });
    assert_eq!(lap.len(), 20);
    for (&a, &v) in grid.iter().zip(&lap) {
        let want = laplace_rdp(a, b);
        assert!(
            close(v, want, 1e-12 * want.max(1.0)),
            "at {a}: {v} vs {want}"
        );
        assert!(v <= 1.0 / b + 1e-15, "RDP of Laplace is at most its pure ε");
    }
    let full = items(|o, c, l| unsafe {
        ergon_dpk_curve_subsampled_laplace(grid.as_ptr(), 20, 1.0, b, 3.0, o, c, l)
    });
    let sampled = items(|o, c, l| unsafe {
        ergon_dpk_curve_subsampled_laplace(grid.as_ptr(), 20, 0.01, b, 3.0, o, c, l)
    });
    for i in 0..20 {
        assert!(close(full[i], 3.0 * lap[i], 1e-12), "{full:?}");
        assert!(sampled[i] > 0.0 && sampled[i] < full[i], "{sampled:?}");
    }

    // Composition: Σ counts[i]·curves[i] order by order; NULL counts = one run of each.
    let gauss =
        items(|o, c, l| unsafe { ergon_dpk_curve_gaussian(grid.as_ptr(), 20, 4.0, o, c, l) });
    let rows: Vec<f64> = lap.iter().chain(&gauss).copied().collect();
    let counts = [2.0, 3.5];
    let composed = items(|o, c, l| unsafe {
        ergon_dpk_curve_compose(rows.as_ptr(), 2, 20, counts.as_ptr(), o, c, l)
    });
    let once =
        items(|o, c, l| unsafe { ergon_dpk_curve_compose(rows.as_ptr(), 2, 20, null(), o, c, l) });
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
        let mut sigma = 0.0;
        assert_eq!(
            unsafe { ergon_dpk_gaussian_sigma(e, d, &mut sigma) },
            ergon_status::Ok
        );
        assert!(
            close(sigma, want, 1e-9 * want),
            "({e}, {d}): {sigma} vs {want}"
        );
        let mut back = 0.0;
        assert_eq!(
            unsafe { ergon_dpk_gaussian_delta(sigma, e, &mut back) },
            ergon_status::Ok
        );
        assert!(
            back <= d * (1.0 + 1e-9) && back >= d * (1.0 - 1e-6),
            "{back} vs {d}"
        );
    }
    let mut sigma = 0.0;
    assert_eq!(
        unsafe { ergon_dpk_gaussian_sigma_classic(0.5, 1e-6, &mut sigma) },
        ergon_status::Ok
    );
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
    let epsilon_of = |d: f64, conversion: u32| {
        let (mut e, mut i) = (f64::NAN, usize::MAX);
        let s = unsafe {
            ergon_dpk_curve_dp_epsilon(
                alphas.as_ptr(),
                12,
                curve.as_ptr(),
                12,
                d,
                conversion,
                &mut e,
                &mut i,
            )
        };
        assert_eq!(s, ergon_status::Ok, "{}", thread_error());
        (e, i)
    };
    let (e, i) = epsilon_of(1e-5, ERGON_DPK_CONVERSION_TIGHT);
    assert!(close(e, 6.7194021179393335, 1e-9), "{e}");
    assert_eq!(alphas[i], 4.0);
    let (e, _) = epsilon_of(1e-5, ERGON_DPK_CONVERSION_CLASSIC);
    assert!(close(e, 7.469182310764411, 1e-9), "{e}");
    let delta_of = |e: f64| {
        let (mut d, mut i) = (f64::NAN, usize::MAX);
        let s = unsafe {
            ergon_dpk_curve_dp_delta(
                alphas.as_ptr(),
                12,
                curve.as_ptr(),
                12,
                e,
                ERGON_DPK_CONVERSION_TIGHT,
                &mut d,
                &mut i,
            )
        };
        assert_eq!(s, ergon_status::Ok, "{}", thread_error());
        (d, i)
    };
    let (d, i) = delta_of(5.0);
    assert!(close(d, 0.0013377167808450215, 1e-12), "{d}");
    assert_eq!(alphas[i], 3.0);
    let (d, i) = delta_of(10.0);
    assert!(close(d, 4.8216374583033133e-11, 1e-20), "{d}");
    assert_eq!(alphas[i], 5.0);

    // The tight rule is clamped at 0: a zero curve at δ = 0.5 certifies ε = 0, not less.
    let zeros = vec![0.0; dense.len()];
    let (mut e, mut i) = (f64::NAN, usize::MAX);
    assert_eq!(
        unsafe {
            ergon_dpk_curve_dp_epsilon(
                dense.as_ptr(),
                dense.len(),
                zeros.as_ptr(),
                zeros.len(),
                0.5,
                ERGON_DPK_CONVERSION_TIGHT,
                &mut e,
                &mut i,
            )
        },
        ergon_status::Ok
    );
    assert_eq!(e, 0.0);
    assert!(i < dense.len());
}

#[test]
fn bad_accounting_arguments() {
    let alphas = [2.0, 4.0];
    let curve = [0.5, 1.0];
    let mut out = [9.0; 2];
    let mut len = 0;
    let (mut d, mut i) = (-1.0, 99);
    unsafe {
        // An unknown conversion.
        assert_eq!(
            ergon_dpk_block_capacity_with(
                alphas.as_ptr(),
                2,
                1.0,
                1e-5,
                7,
                out.as_mut_ptr(),
                2,
                &mut len
            ),
            ergon_status::InvalidArgument
        );
        assert!(
            thread_error().contains("conversion 7"),
            "{}",
            thread_error()
        );
        assert_eq!(
            ergon_dpk_curve_dp_delta(
                alphas.as_ptr(),
                2,
                curve.as_ptr(),
                2,
                1.0,
                7,
                &mut d,
                &mut i
            ),
            ergon_status::InvalidArgument
        );
        assert!(
            thread_error().contains("conversion 7"),
            "{}",
            thread_error()
        );
        // Each entry point names itself, the classic one included.
        assert_eq!(
            ergon_dpk_block_capacity(alphas.as_ptr(), 2, 1.0, 1.5, out.as_mut_ptr(), 2, &mut len),
            ergon_status::InvalidArgument
        );
        let m = thread_error();
        assert!(m.starts_with("ergon_dpk_block_capacity: "), "{m}");
        // NULL pointers.
        assert_eq!(
            ergon_dpk_curve_dp_delta(
                alphas.as_ptr(),
                2,
                curve.as_ptr(),
                2,
                1.0,
                0,
                null_mut(),
                &mut i
            ),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_dpk_curve_dp_delta(alphas.as_ptr(), 2, null(), 2, 1.0, 0, &mut d, &mut i),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_dpk_curve_laplace(null(), 2, 1.0, out.as_mut_ptr(), 2, &mut len),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_dpk_curve_compose(null(), 2, 2, null(), out.as_mut_ptr(), 2, &mut len),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_dpk_gaussian_sigma_classic(0.5, 1e-5, null_mut()),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_dpk_gaussian_delta(1.0, 1.0, null_mut()),
            ergon_status::NullPointer
        );
        // Out of domain.
        assert_eq!(
            ergon_dpk_curve_dp_delta(
                alphas.as_ptr(),
                2,
                curve.as_ptr(),
                2,
                -1.0,
                0,
                &mut d,
                &mut i
            ),
            ergon_status::InvalidArgument
        );
        assert_eq!((d, i), (-1.0, 99));
        assert_eq!(
            ergon_dpk_curve_laplace(alphas.as_ptr(), 2, 0.0, out.as_mut_ptr(), 2, &mut len),
            ergon_status::InvalidArgument
        );
        assert!(thread_error().contains('b'), "{}", thread_error());
        assert_eq!(
            ergon_dpk_curve_subsampled_laplace(
                alphas.as_ptr(),
                2,
                -0.1,
                1.0,
                1.0,
                out.as_mut_ptr(),
                2,
                &mut len
            ),
            ergon_status::InvalidArgument
        );
        let negative = [0.5, -1.0];
        assert_eq!(
            ergon_dpk_curve_compose(
                negative.as_ptr(),
                1,
                2,
                null(),
                out.as_mut_ptr(),
                2,
                &mut len
            ),
            ergon_status::InvalidArgument
        );
        let counts = [1.0, f64::NAN];
        let rows = [0.5, 1.0, 0.5, 1.0];
        assert_eq!(
            ergon_dpk_curve_compose(
                rows.as_ptr(),
                2,
                2,
                counts.as_ptr(),
                out.as_mut_ptr(),
                2,
                &mut len
            ),
            ergon_status::InvalidArgument
        );
        assert_eq!(
            ergon_dpk_curve_compose(rows.as_ptr(), 2, 0, null(), out.as_mut_ptr(), 2, &mut len),
            ergon_status::InvalidArgument
        );
        assert_eq!(
            ergon_dpk_gaussian_delta(0.0, 1.0, &mut d),
            ergon_status::InvalidArgument
        );
        assert_eq!(
            ergon_dpk_gaussian_sigma(-1.0, 1e-5, &mut d),
            ergon_status::InvalidArgument
        );
        assert_eq!(d, -1.0);
        assert_eq!(out, [9.0; 2]);
        // 4096 orders are accepted, 4097 refused.
        let many: Vec<f64> = (0..4097).map(|k| 2.0 + f64::from(k)).collect();
        let mut buf = vec![0.0; 4097];
        assert_eq!(
            ergon_dpk_curve_gaussian(many.as_ptr(), 4096, 1.0, buf.as_mut_ptr(), 4097, &mut len),
            ergon_status::Ok
        );
        assert_eq!(len, 4096);
        assert!(close(buf[4095], many[4095] / 2.0, 1e-12));
        assert_eq!(
            ergon_dpk_curve_gaussian(many.as_ptr(), 4097, 1.0, buf.as_mut_ptr(), 4097, &mut len),
            ergon_status::InvalidArgument
        );
        assert!(thread_error().contains("4096"), "{}", thread_error());
    }
}

// ------------------------------------------------------------------------------ bad input

/// A constructor failure: the status, and a message that names `needles`.
fn fails(
    got: Result<*mut ergon_dpk_workload, (ergon_status, String)>,
    status: ergon_status,
    needles: &[&str],
) {
    let (s, message) = got.map(|_| ()).expect_err("should fail");
    assert_eq!(s, status, "{message}");
    for n in needles {
        assert!(message.contains(n), "{message:?} does not contain {n:?}");
    }
}

#[test]
fn bad_workloads_name_the_task_or_block() {
    // NaN and negative demand.
    let mut a = o4(2);
    a.demands[3][1] = f64::NAN;
    a.relink();
    fails(
        a.workload(),
        ergon_status::InvalidProblem,
        &["task 3", "NaN"],
    );
    fails(
        from_json(&a.json().replace("NaN", "x")),
        ergon_status::Parse,
        &[],
    );
    let mut a = o4(2);
    a.demands[4][0] = -0.1;
    a.relink();
    fails(
        a.workload(),
        ergon_status::InvalidProblem,
        &["task 4", "-0.1"],
    );
    fails(
        from_json(&a.json()),
        ergon_status::InvalidProblem,
        &["task 4", "-0.1"],
    );
    // A missing block.
    let mut a = o4(2);
    a.task_blocks[5] = vec![0, 9];
    a.relink();
    fails(
        a.workload(),
        ergon_status::InvalidProblem,
        &["task 5", "block 9"],
    );
    fails(
        from_json(&a.json()),
        ergon_status::InvalidProblem,
        &["task 5", "block 9"],
    );
    // A block requested twice, a task with no block.
    let mut a = o4(2);
    a.task_blocks[1] = vec![1, 1];
    a.task_blocks[2] = vec![];
    a.relink();
    fails(
        a.workload(),
        ergon_status::InvalidProblem,
        &["task 1", "block 1", "twice"],
    );
    // δ outside (0, 1), ε not positive.
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
        fails(
            a.workload(),
            ergon_status::InvalidProblem,
            &["block 1", needle],
        );
    }
    let json = r#"{"schema": "dpk-workload/v1", "alphas": [2, 3],
        "blocks": [{"id": 7, "epsilon": 1.0, "delta": 2.0}], "tasks": []}"#;
    fails(
        from_json(json),
        ergon_status::InvalidProblem,
        &["block 7", "delta"],
    );
    // Empty and invalid orders.
    let mut a = o4(1);
    a.alphas = vec![];
    a.relink();
    fails(
        a.workload(),
        ergon_status::InvalidProblem,
        &["orders", "empty"],
    );
    let json = r#"{"schema": "dpk-workload/v1", "alphas": [], "blocks": [{"id": 0, "capacity": []}], "tasks": []}"#;
    fails(from_json(json), ergon_status::InvalidProblem, &["empty"]);
    let mut a = o4(1);
    a.alphas = vec![2.0, 1.0, 4.0];
    a.relink();
    fails(a.workload(), ergon_status::InvalidProblem, &["order #1"]);
    // Wrong lengths: an error, not a truncation or an out-of-bounds read.
    let mut a = o4(2);
    a.demands[6] = vec![0.1; 20];
    a.relink();
    fails(
        a.workload(),
        ergon_status::InvalidProblem,
        &["task 6", "20 entries"],
    );
    let mut a = o4(2);
    a.capacities[1] = vec![1.0, 1.0];
    a.relink();
    fails(
        a.workload(),
        ergon_status::InvalidProblem,
        &["block 1", "2 entries"],
    );
    // Duplicate ids, a bad weight.
    let mut a = o4(1);
    a.ids[2] = 1;
    a.relink();
    fails(
        a.workload(),
        ergon_status::InvalidProblem,
        &["task 1", "twice"],
    );
    let mut a = o4(1);
    a.weights[0] = 0.0;
    a.relink();
    fails(
        a.workload(),
        ergon_status::InvalidProblem,
        &["task 0", "weight"],
    );
    // No blocks.
    let mut a = o4(1);
    a.capacities.clear();
    a.task_blocks = vec![vec![]; 7];
    a.relink();
    fails(a.workload(), ergon_status::InvalidProblem, &["no blocks"]);
    // NULL arrays with a length name the array and the task.
    let mut a = o4(1);
    a.relink();
    a.tasks[3].demand = null();
    fails(
        a.workload(),
        ergon_status::NullPointer,
        &["tasks[3] (task 3).demand"],
    );
    let mut a = o4(1);
    a.relink();
    a.blocks[0].capacity = null();
    fails(
        a.workload(),
        ergon_status::NullPointer,
        &["blocks[0] (block 0).capacity"],
    );
    // Documents: syntax, schema, a missing field.
    fails(from_json("{"), ergon_status::Parse, &["dpk-workload/v1"]);
    fails(
        from_json(r#"{"schema": "dpk-result/v1"}"#),
        ergon_status::Schema,
        &["dpk-workload/v1", "dpk-result/v1"],
    );
    let json = r#"{"schema": "dpk-workload/v1", "blocks": [{"id": 0, "epsilon": 1, "delta": 1e-5}],
        "tasks": [{"id": 4, "demand": [1,1,1,1,1,1,1,1,1,1,1,1]}]}"#;
    fails(
        from_json(json),
        ergon_status::InvalidProblem,
        &["task 4", "blocks"],
    );
    let bad_utf8 = [0xffu8, 0xfe];
    let mut w = null_mut();
    unsafe {
        assert_eq!(
            ergon_dpk_workload_from_json(bad_utf8.as_ptr().cast(), 2, &mut w),
            ergon_status::Parse
        );
    }
}

#[test]
fn bad_calls() {
    let a = o4(1);
    let p = a.problem();
    let mut w = null_mut();
    unsafe {
        // NULL problem, NULL out, NULL json.
        assert_eq!(
            ergon_dpk_workload_new(null(), &mut w),
            ergon_status::NullPointer
        );
        assert!(thread_error().contains("`problem`"));
        assert_eq!(
            ergon_dpk_workload_new(&p, null_mut()),
            ergon_status::NullPointer
        );
        assert!(thread_error().contains("`out`"));
        assert_eq!(
            ergon_dpk_workload_from_json(null(), 3, &mut w),
            ergon_status::NullPointer
        );
        assert!(w.is_null());
    }
    let w = a.workload().unwrap();
    let mut r = null_mut();
    unsafe {
        // Unknown constants and η out of range: the workload's message says which.
        for (o, needle) in [
            (options(9), "unknown scheduler 9"),
            (
                ergon_dpk_options {
                    knapsack: 7,
                    ..ergon_dpk_options_default()
                },
                "knapsack",
            ),
            (
                ergon_dpk_options {
                    dpf_capacity: 2,
                    ..ergon_dpk_options_default()
                },
                "dpf_capacity",
            ),
            (
                ergon_dpk_options {
                    eta: f64::NAN,
                    ..ergon_dpk_options_default()
                },
                "eta",
            ),
            (
                ergon_dpk_options {
                    eta: 0.75,
                    ..ergon_dpk_options_default()
                },
                "eta",
            ),
        ] {
            assert_eq!(
                ergon_dpk_workload_schedule(w, &o, &mut r),
                ergon_status::InvalidArgument
            );
            assert!(r.is_null(), "a failed schedule wrote its output");
            let m = workload_error(w);
            assert!(m.contains(needle), "{m}");
            assert!(m.starts_with("ergon_dpk_workload_schedule: "), "{m}");
            assert_eq!(m, thread_error());
        }
        assert_eq!(
            ergon_dpk_workload_schedule(w, null(), null_mut()),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_dpk_workload_schedule(null(), null(), &mut r),
            ergon_status::NullPointer
        );
        assert!(thread_error().contains("DPK workload handle is NULL"));

        // A handle of another type.
        assert_eq!(
            ergon_dpk_workload_schedule(w, null(), &mut r),
            ergon_status::Ok
        );
        let mut info = ergon_dpk_workload_info::default();
        assert_eq!(
            ergon_dpk_workload_summary(r.cast(), &mut info),
            ergon_status::NullPointer
        );
        assert!(thread_error().contains("not a live DPK workload handle"));
        let mut rinfo = ergon_dpk_result_info::default();
        assert_eq!(
            ergon_dpk_result_summary(w.cast(), &mut rinfo),
            ergon_status::NullPointer
        );
        assert!(thread_error().contains("not a live DPK result handle"));

        // Buffers too small: the needed length is written, the buffer is left alone.
        let mut ids = [u64::MAX; 1];
        let mut len = 0;
        assert_eq!(
            ergon_dpk_result_allocated(r, ids.as_mut_ptr(), 1, &mut len),
            ergon_status::BufferTooSmall
        );
        assert_eq!((len, ids[0]), (2, u64::MAX));
        let mut rem = [7.0; 2];
        assert_eq!(
            ergon_dpk_result_remaining(r, rem.as_mut_ptr(), 2, &mut len),
            ergon_status::BufferTooSmall
        );
        assert_eq!((len, rem), (3, [7.0; 2]));
        let mut text = [b'x'; 8];
        assert_eq!(
            ergon_dpk_result_to_json(r, text.as_mut_ptr().cast(), 8, &mut len),
            ergon_status::BufferTooSmall
        );
        assert!(len > 8);
        assert_eq!(text, [b'x'; 8]);
        let mut buf = [0u8; 512];
        let mut mlen = 0;
        assert_eq!(
            ergon_dpk_result_last_error(r, buf.as_mut_ptr().cast(), buf.len(), &mut mlen),
            ergon_status::Ok
        );
        assert!(
            CStr::from_bytes_until_nul(&buf)
                .unwrap()
                .to_str()
                .unwrap()
                .contains("too small")
        );
        // A NULL buffer with a capacity, a NULL length.
        assert_eq!(
            ergon_dpk_result_allocated(r, null_mut(), 4, &mut len),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_dpk_result_allocated(r, ids.as_mut_ptr(), 1, null_mut()),
            ergon_status::NullPointer
        );
        let mut alphas = [0.0; 2];
        assert_eq!(
            ergon_dpk_workload_alphas(w, alphas.as_mut_ptr(), 2, &mut len),
            ergon_status::BufferTooSmall
        );
        assert_eq!((len, alphas), (3, [0.0; 2]));
        ergon_dpk_result_free(r);
        ergon_dpk_workload_free(w);
        // Freeing NULL is a no-op.
        ergon_dpk_workload_free(null_mut());
        ergon_dpk_result_free(null_mut());
    }
}

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
fn bad_rdp_helper_arguments() {
    let alphas = [2.0, 4.0];
    let mut out = [9.0; 2];
    let mut len = 0;
    unsafe {
        for (eps, delta, needle) in [
            (1.0, 0.0, "delta"),
            (1.0, 1.0, "delta"),
            (1.0, f64::NAN, "delta"),
            (0.0, 0.5, "epsilon"),
            (f64::INFINITY, 0.5, "epsilon"),
        ] {
            assert_eq!(
                ergon_dpk_block_capacity(
                    alphas.as_ptr(),
                    2,
                    eps,
                    delta,
                    out.as_mut_ptr(),
                    2,
                    &mut len
                ),
                ergon_status::InvalidArgument
            );
            assert!(thread_error().contains(needle), "{}", thread_error());
        }
        assert_eq!(out, [9.0; 2]);
        assert_eq!(
            ergon_dpk_block_capacity(alphas.as_ptr(), 0, 1.0, 0.5, out.as_mut_ptr(), 2, &mut len),
            ergon_status::InvalidArgument
        );
        assert!(thread_error().contains("empty"));
        assert_eq!(
            ergon_dpk_block_capacity(null(), 2, 1.0, 0.5, out.as_mut_ptr(), 2, &mut len),
            ergon_status::NullPointer
        );
        assert_eq!(
            ergon_dpk_curve_gaussian(alphas.as_ptr(), 2, -1.0, out.as_mut_ptr(), 2, &mut len),
            ergon_status::InvalidArgument
        );
        assert!(thread_error().contains("sigma"));
        assert_eq!(
            ergon_dpk_curve_subsampled_gaussian(
                alphas.as_ptr(),
                2,
                1.5,
                1.0,
                1.0,
                out.as_mut_ptr(),
                2,
                &mut len
            ),
            ergon_status::InvalidArgument
        );
        assert_eq!(
            ergon_dpk_curve_gaussian(alphas.as_ptr(), 2, 1.0, out.as_mut_ptr(), 1, &mut len),
            ergon_status::BufferTooSmall
        );
        assert_eq!(len, 2);
        let (mut eps, mut index) = (-1.0, 99);
        let curve = [0.5, f64::NAN];
        assert_eq!(
            ergon_dpk_curve_dp_epsilon(
                alphas.as_ptr(),
                2,
                curve.as_ptr(),
                2,
                1e-5,
                0,
                &mut eps,
                &mut index
            ),
            ergon_status::InvalidArgument
        );
        assert!(thread_error().contains("alpha = 4"), "{}", thread_error());
        let curve = [0.5, 0.5];
        assert_eq!(
            ergon_dpk_curve_dp_epsilon(
                alphas.as_ptr(),
                2,
                curve.as_ptr(),
                1,
                1e-5,
                0,
                &mut eps,
                &mut index
            ),
            ergon_status::InvalidArgument
        );
        assert_eq!(
            ergon_dpk_curve_dp_epsilon(
                alphas.as_ptr(),
                2,
                curve.as_ptr(),
                2,
                1e-5,
                5,
                &mut eps,
                &mut index
            ),
            ergon_status::InvalidArgument
        );
        assert!(thread_error().contains("conversion 5"));
        assert_eq!(
            ergon_dpk_curve_dp_epsilon(
                alphas.as_ptr(),
                2,
                curve.as_ptr(),
                2,
                2.0,
                0,
                &mut eps,
                &mut index
            ),
            ergon_status::InvalidArgument
        );
        assert_eq!(
            ergon_dpk_curve_dp_epsilon(
                alphas.as_ptr(),
                2,
                curve.as_ptr(),
                2,
                1e-5,
                0,
                &mut eps,
                null_mut()
            ),
            ergon_status::NullPointer
        );
        assert_eq!((eps, index), (-1.0, 99));
        let mut sigma = 5.0;
        assert_eq!(
            ergon_dpk_gaussian_sigma(1.0, 1.0, &mut sigma),
            ergon_status::InvalidArgument
        );
        assert_eq!(sigma, 5.0);
    }
}

// ------------------------------------------------------------------------------ online

fn simulate_json(
    json: &str,
    options: Option<&ergon_dpk_options>,
) -> Result<*mut ergon_dpk_online, (ergon_status, String)> {
    let mut h = null_mut();
    let o = options.map_or(null(), |o| o as *const _);
    let s = unsafe { ergon_dpk_online_run_json(json.as_ptr().cast(), json.len(), o, &mut h) };
    if s == ergon_status::Ok {
        Ok(h)
    } else {
        assert!(h.is_null(), "a failed simulation wrote its output");
        Err((s, thread_error()))
    }
}

fn online_json_text(h: *const ergon_dpk_online) -> String {
    let mut len = 0;
    unsafe {
        assert_eq!(
            ergon_dpk_online_to_json(h, null_mut(), 0, &mut len),
            ergon_status::Ok
        );
        let mut buf = vec![0u8; len + 1];
        assert_eq!(
            ergon_dpk_online_to_json(h, buf.as_mut_ptr().cast(), buf.len(), &mut len),
            ergon_status::Ok
        );
        buf.truncate(len);
        String::from_utf8(buf).unwrap()
    }
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
        simulate_json(&doc(missing, 1.0), None).map(|_| null_mut()),
        ergon_status::InvalidProblem,
        &["task 8", "num_blocks"],
    );
    let nan = r#"{"id": 9, "num_blocks": 1, "demand": [0.1, -2]}"#;
    fails(
        simulate_json(&doc(nan, 1.0), None).map(|_| null_mut()),
        ergon_status::InvalidProblem,
        &["task 9", "-2"],
    );
    fails(
        simulate_json(&doc(good, 0.0), None).map(|_| null_mut()),
        ergon_status::InvalidProblem,
        &["scheduling_period"],
    );
    fails(
        simulate_json(&doc(good, 1.0), Some(&options(ERGON_DPK_SCHEDULER_OPTIMAL)))
            .map(|_| null_mut()),
        ergon_status::InvalidArgument,
        &["offline only"],
    );
    fails(
        simulate_json(&doc(good, 1.0), Some(&options(17))).map(|_| null_mut()),
        ergon_status::InvalidArgument,
        &["unknown scheduler 17"],
    );
    fails(
        simulate_json(r#"{"schema": "dpk-workload/v1"}"#, None).map(|_| null_mut()),
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
    let mut a = o5();
    a.weights[0] = 1e300;
    a.relink();
    fails(
        a.workload(),
        ergon_status::InvalidProblem,
        &["task 0", "MAX_WEIGHT"],
    );
}

/// Order 10³⁰⁸ hung the subsampled series; it is refused by the grid check.
#[test]
fn huge_orders_are_a_status_not_a_hang() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let alphas = [2.0, 1e308];
        let mut out = [0.0; 2];
        let mut len = 0usize;
        let s = unsafe {
            ergon_dpk_curve_subsampled_gaussian(
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
        let t = unsafe {
            ergon_dpk_curve_subsampled_laplace(
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
        let _ = tx.send((s, t, thread_error()));
    });
    let (s, t, msg) = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("order 1e308 was not refused by validation");
    assert_eq!(
        (s, t),
        (ergon_status::InvalidArgument, ergon_status::InvalidArgument)
    );
    assert!(msg.contains("MAX_ALPHA") && msg.contains("#1"), "{msg}");
    let mut a = o5();
    a.alphas = vec![1e308];
    a.relink();
    fails(a.workload(), ergon_status::InvalidProblem, &["MAX_ALPHA"]);
}
