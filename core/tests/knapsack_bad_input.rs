//! Bad privacy-knapsack input gets an error whose message names the offending task, block or
//! field, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ergon_core::knapsack::formats::{parse_online, parse_workload};
use ergon_core::knapsack::{
    Block, KnapsackError, OnlineConfig, OnlineTask, RdpCurve, ScheduleOptions, Scheduler, Task,
    Unlocking, Workload, rdp, schedule, simulate,
};

fn doc(alphas: &str, blocks: &str, tasks: &str) -> String {
    format!(
        r#"{{"schema": "dpk-workload/v1", "alphas": {alphas}, "blocks": {blocks}, "tasks": {tasks}}}"#
    )
}

const BLOCKS: &str =
    r#"[{"id": 0, "capacity": [1.0, 2.0]}, {"id": 1, "epsilon": 10, "delta": 1e-7}]"#;

#[track_caller]
fn err_of(text: &str) -> String {
    match parse_workload(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
fn mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "message {msg:?} does not mention {p:?}");
    }
}

#[test]
fn valid_document_parses() {
    let w = parse_workload(&doc(
        "[2, 64]",
        BLOCKS,
        r#"[{"id": 7, "blocks": [0, 1], "demand": [0.5, 0.5]},
            {"id": 8, "weight": 3, "blocks": [1], "mechanism": {"kind": "gaussian", "sigma": 2}}]"#,
    ))
    .unwrap();
    assert_eq!(w.tasks().len(), 2);
    assert_eq!(w.tasks()[1].demand.as_slice(), &[0.25, 8.0]);
}

#[test]
fn unknown_schema() {
    let msg = err_of(r#"{"schema": "dpk-workload/v9", "blocks": [], "tasks": []}"#);
    mentions(&msg, &["dpk-workload/v1", "dpk-workload/v9"]);
}

#[test]
fn negative_demand_names_the_task() {
    let msg = err_of(&doc(
        "[2, 64]",
        BLOCKS,
        r#"[{"id": 3, "blocks": [0], "demand": [0.5, -1]}]"#,
    ));
    mentions(&msg, &["task 3", "-1", "alpha = 64"]);
}

#[test]
fn nan_and_infinite_demand_name_the_task() {
    let alphas = [2.0, 64.0];
    for bad in [f64::NAN, f64::INFINITY] {
        let blocks = vec![Block {
            id: 0,
            capacity: RdpCurve::from_slice(&[1.0, 1.0]).unwrap(),
            arrival: 0.0,
        }];
        let tasks = vec![Task {
            id: 5,
            weight: 1.0,
            arrival: 0.0,
            blocks: vec![0],
            demand: RdpCurve::from_slice(&[bad, 0.1]).unwrap(),
        }];
        let msg = Workload::new(&alphas, blocks, tasks)
            .unwrap_err()
            .to_string();
        mentions(&msg, &["task 5", "alpha = 2"]);
    }
}

#[test]
fn missing_block_names_task_and_block() {
    let msg = err_of(&doc(
        "[2, 64]",
        BLOCKS,
        r#"[{"id": 2, "blocks": [0, 9], "demand": [0.5, 0.5]}]"#,
    ));
    mentions(&msg, &["task 2", "block 9"]);
}

#[test]
fn delta_outside_unit_interval_names_the_block() {
    for delta in ["0", "1", "1.5", "-1e-5"] {
        let blocks = format!(r#"[{{"id": 4, "epsilon": 10, "delta": {delta}}}]"#);
        let msg = err_of(&doc("[2, 64]", &blocks, "[]"));
        mentions(&msg, &["block 4", "delta"]);
    }
}

#[test]
fn empty_order_list() {
    let msg = err_of(&doc("[]", BLOCKS, "[]"));
    mentions(&msg, &["alphas", "empty"]);
    assert_eq!(rdp::orders(&[]).unwrap_err(), KnapsackError::EmptyOrders);
}

#[test]
fn invalid_orders() {
    let msg = err_of(&doc("[2, 1]", BLOCKS, "[]"));
    mentions(&msg, &["#1", "greater than 1"]);
    let many: Vec<String> = (2..40).map(|a| a.to_string()).collect();
    let msg = err_of(&doc(&format!("[{}]", many.join(",")), BLOCKS, "[]"));
    mentions(&msg, &["38 RDP orders", "16"]);
}

#[test]
fn demand_length_mismatch_names_the_task() {
    let msg = err_of(&doc(
        "[2, 64]",
        BLOCKS,
        r#"[{"id": 1, "blocks": [0], "demand": [0.5]}]"#,
    ));
    mentions(&msg, &["task 1", "1 entries", "2 orders"]);
}

#[test]
fn capacity_problems_name_the_block() {
    let msg = err_of(&doc("[2, 64]", r#"[{"id": 6, "capacity": [1]}]"#, "[]"));
    mentions(&msg, &["block 6", "capacity"]);
    let msg = err_of(&doc("[2, 64]", r#"[{"id": 6, "capacity": [1, -2]}]"#, "[]"));
    mentions(&msg, &["block 6", "-2"]);
    let msg = err_of(&doc("[2, 64]", r#"[{"id": 6}]"#, "[]"));
    mentions(&msg, &["block 6", "epsilon"]);
    let msg = err_of(&doc(
        "[2, 64]",
        r#"[{"id": 6, "epsilon": -1, "delta": 1e-5}]"#,
        "[]",
    ));
    mentions(&msg, &["block 6", "epsilon"]);
    let msg = err_of(&doc("[2, 64]", "[]", "[]"));
    mentions(&msg, &["no blocks"]);
}

#[test]
fn task_field_problems_name_the_task() {
    let cases = [
        (
            r#"[{"id": 1, "weight": 0, "blocks": [0], "demand": [0.5, 0.5]}]"#,
            "task 1",
        ),
        (
            r#"[{"id": 2, "blocks": [], "demand": [0.5, 0.5]}]"#,
            "task 2",
        ),
        (r#"[{"id": 3, "demand": [0.5, 0.5]}]"#, "task 3"),
        (r#"[{"id": 4, "blocks": [0]}]"#, "task 4"),
        (
            r#"[{"id": 5, "blocks": [0, 0], "demand": [0.5, 0.5]}]"#,
            "task 5",
        ),
        (
            r#"[{"id": 6, "blocks": [0], "mechanism": {"kind": "gaussian", "sigma": -1}}]"#,
            "task 6",
        ),
        (
            r#"[{"id": 7, "blocks": [0], "mechanism": {"kind": "cauchy", "b": 1}}]"#,
            "task 7",
        ),
        (
            r#"[{"id": 8, "blocks": [0], "demand": [1, 1], "mechanism": {"kind": "laplace", "b": 1}}]"#,
            "task 8",
        ),
        (
            r#"[{"id": 9, "blocks": [0], "mechanism": {"kind": "subsampled_gaussian", "q": 2, "sigma": 1, "steps": 1}}]"#,
            "task 9",
        ),
        (
            r#"[{"id": 10, "blocks": [0], "demand": [1, 1]}, {"id": 10, "blocks": [0], "demand": [1, 1]}]"#,
            "task 10",
        ),
    ];
    for (tasks, who) in cases {
        let msg = err_of(&doc("[2, 64]", BLOCKS, tasks));
        mentions(&msg, &[who]);
    }
}

#[test]
fn malformed_json_is_an_error() {
    let msg = err_of(r#"{"schema": "dpk-workload/v1", "blocks": [1, "#);
    mentions(&msg, &["dpk-workload/v1"]);
}

#[test]
fn invalid_options() {
    let w = parse_workload(&doc("[2, 64]", BLOCKS, "[]")).unwrap();
    for eta in [0.0, 0.75, f64::NAN, -1.0] {
        let opts = ScheduleOptions {
            eta,
            ..ScheduleOptions::default()
        };
        mentions(&schedule(&w, &opts).unwrap_err().to_string(), &["eta"]);
    }
}

fn online(tasks: Vec<OnlineTask>) -> OnlineConfig {
    OnlineConfig {
        alphas: RdpCurve::from_slice(&[2.0, 64.0]).unwrap(),
        block_epsilon: 10.0,
        block_delta: 1e-7,
        block_conversion: Default::default(),
        initial_blocks: 1,
        total_blocks: 3,
        scheduling_period: 1.0,
        unlocking: Unlocking::Time {
            period: 1.0,
            steps: 2,
        },
        options: ScheduleOptions::default(),
        tasks,
    }
}

fn otask(id: u64) -> OnlineTask {
    OnlineTask {
        id,
        weight: 1.0,
        arrival: 0.5,
        num_blocks: 1,
        demand: RdpCurve::from_slice(&[0.1, 0.1]).unwrap(),
    }
}

#[test]
fn online_settings_are_checked() {
    let mut c = online(vec![otask(1)]);
    c.initial_blocks = 0;
    mentions(&simulate(&c).unwrap_err().to_string(), &["initial_blocks"]);
    let mut c = online(vec![otask(1)]);
    c.scheduling_period = 0.0;
    mentions(
        &simulate(&c).unwrap_err().to_string(),
        &["scheduling_period"],
    );
    let mut c = online(vec![otask(1)]);
    c.block_delta = 2.0;
    mentions(&simulate(&c).unwrap_err().to_string(), &["delta"]);
    let mut c = online(vec![otask(1)]);
    c.options.scheduler = Scheduler::Optimal;
    mentions(&simulate(&c).unwrap_err().to_string(), &["offline"]);
    let mut t = otask(4);
    t.num_blocks = 0;
    mentions(
        &simulate(&online(vec![t])).unwrap_err().to_string(),
        &["task 4"],
    );
    let mut t = otask(5);
    t.arrival = -1.0;
    mentions(
        &simulate(&online(vec![t])).unwrap_err().to_string(),
        &["task 5"],
    );
    let mut t = otask(6);
    t.demand = RdpCurve::from_slice(&[0.1, f64::NAN]).unwrap();
    mentions(
        &simulate(&online(vec![t])).unwrap_err().to_string(),
        &["task 6"],
    );
    mentions(
        &simulate(&online(vec![otask(7), otask(7)]))
            .unwrap_err()
            .to_string(),
        &["task 7"],
    );
}

#[test]
fn online_document_errors() {
    let head = r#""schema": "dpk-online/v1", "alphas": [2, 64], "initial_blocks": 1, "total_blocks": 2, "scheduling_period": 1, "unlocking": {"kind": "time", "period": 1, "steps": 2}"#;
    let msg = parse_online(&format!(
        r#"{{{head}, "tasks": [{{"id": 3, "demand": [1, 1]}}]}}"#
    ))
    .unwrap_err()
    .to_string();
    mentions(&msg, &["task 3", "num_blocks"]);
    let msg = parse_online(&format!(
        r#"{{{head}, "scheduler": {{"name": "best"}}, "tasks": []}}"#
    ))
    .unwrap_err()
    .to_string();
    mentions(&msg, &["scheduler", "best"]);
    let msg = parse_online(r#"{"schema": "dpk-workload/v1"}"#)
        .unwrap_err()
        .to_string();
    mentions(&msg, &["dpk-online/v1"]);
    let ok = parse_online(&format!(
        r#"{{{head}, "scheduler": {{"name": "dpf", "recompute_every": 5}}, "tasks": [{{"id": 1, "num_blocks": 1, "demand": [0.1, 0.1]}}]}}"#
    ))
    .unwrap();
    assert_eq!(ok.options.scheduler, Scheduler::Dpf);
    assert_eq!(simulate(&ok).unwrap().num_allocated(), 1);
}
