//! `EnergyMonitor` against the fake NVML library (`tests/fake-nvml/fake_nvml.c`), each scenario in
//! a child process (see `support`): windows over the energy counter on an Ampere fake (nested and
//! overlapping), power polling with trapezoid integration on a Pascal fake, the fallback to
//! polling when the counter is not supported, zero counter differences on short windows, window
//! name errors, and MIG refusal.
//!
//! The fake's counter advances with CLOCK_MONOTONIC (the clock of `Instant`) at
//! `FAKE_NVML_POWER_W` in whole milliseconds: exactly `P` mJ per ms. A window's counter difference
//! is therefore `P × (⌊t_end⌋ − ⌊t_begin⌋)` over the instants of its two counter reads, which
//! differs from `P × time_s` by less than `P × (1 ms + the gaps between each timestamp and its
//! read)`. The gaps are a few microseconds (one call into the fake) unless the thread is
//! descheduled in between, so the tests allow `P × 5 ms`: 1 ms of counter granularity plus 4 ms
//! for a busy test machine (1.5 J at 300 W, 2.5 % of a 200 ms window, still far from what a
//! power off by 10 W would give over 200 ms). With constant power, the trapezoid rule is exact, so
//! the polled energy must equal `P × time_s` up to rounding.
//!
//! Needs a C compiler (`$CC`, default `cc`); the fake is built into `CARGO_TARGET_TMPDIR`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::thread::sleep;
use std::time::Duration;

use ergon_hwctl::{
    EnergyError, EnergyMethod, EnergyMonitor, EnergyOptions, Measurement, ZeroDelta,
};
use support::{Scenario, open_gpu, param, report};

/// Counter granularity allowance, seconds of power (see the module documentation).
const COUNTER_SLACK_S: f64 = 0.005;

fn describe(name: &str, m: &Measurement) -> String {
    format!(
        "{name} {} {} {:.9} {:.9}",
        m.method, m.approximated, m.time_s, m.energy_j
    )
}

/// Parses the lines written by [`describe`]: name, method, approximated, time, energy.
fn parse(line: &str) -> (String, String, bool, f64, f64) {
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 5, "{line}");
    (
        fields[0].to_owned(),
        fields[1].to_owned(),
        fields[2] == "true",
        fields[3].parse().unwrap(),
        fields[4].parse().unwrap(),
    )
}

fn log_len() -> usize {
    let path = std::env::var("FAKE_NVML_LOG").unwrap();
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count()
}

/// A monitor of GPU 0 with `options` (child side).
fn monitor_gpu0(options: EnergyOptions) -> EnergyMonitor {
    EnergyMonitor::with_options(&open_gpu("0"), options).unwrap()
}

/// A scenario on one fake GPU of architecture `arch` drawing a constant `power_w`.
fn drawing(name: &'static str, arch: &str, power_w: u32) -> Scenario {
    Scenario::new(name)
        .env("FAKE_NVML_ARCH", arch)
        .env("FAKE_NVML_POWER_W", power_w.to_string())
}

#[test]
fn ampere_counter_windows_match_power_times_time() {
    let name = "ampere_counter_windows_match_power_times_time";
    let run = drawing(name, "ampere", 300).run(|| {
        let mut monitor = monitor_gpu0(EnergyOptions::default());
        assert_eq!(monitor.method(), EnergyMethod::Counter);

        monitor.begin_window("single").unwrap();
        sleep(Duration::from_millis(200));
        let single = monitor.end_window("single").unwrap();
        report(describe("single", &single));

        // Nested ("inner" within "outer") and overlapping ("overlap" ends after "outer").
        monitor.begin_window("outer").unwrap();
        sleep(Duration::from_millis(50));
        monitor.begin_window("inner").unwrap();
        sleep(Duration::from_millis(100));
        monitor.begin_window("overlap").unwrap();
        sleep(Duration::from_millis(50));
        let inner = monitor.end_window("inner").unwrap();
        sleep(Duration::from_millis(50));
        let outer = monitor.end_window("outer").unwrap();
        sleep(Duration::from_millis(50));
        let overlap = monitor.end_window("overlap").unwrap();
        for (name, m) in [("inner", inner), ("outer", outer), ("overlap", overlap)] {
            report(describe(name, &m));
        }
        assert_eq!(monitor.open_windows().count(), 0);
    });
    let report = run.report();
    assert_eq!(report.len(), 4);
    let mut times = Vec::new();
    for line in &report {
        let (name, method, approximated, time_s, energy_j) = parse(line);
        assert_eq!(method, "counter");
        assert!(!approximated, "{line}");
        assert!(
            (energy_j - 300.0 * time_s).abs() <= 300.0 * COUNTER_SLACK_S,
            "{name}: {energy_j} J in {time_s} s is not 300 W: {line}"
        );
        times.push((name, time_s, energy_j));
    }
    // The single 200 ms window at 300 W: at least 60 J (minus the counter's granularity), and no
    // more than 300 W over the time measured.
    let (_, time_s, energy_j) = &times[0];
    assert!((0.2..0.5).contains(time_s), "{times:?}");
    assert!(*energy_j >= 60.0 - 300.0 * COUNTER_SLACK_S, "{times:?}");
    // inner ⊂ outer; overlap starts inside outer and ends after it.
    assert!(
        times[1].1 < times[2].1 && times[1].2 < times[2].2,
        "{times:?}"
    );
    // inner 150 ms, outer 250 ms, overlap 150 ms of sleeps (plus scheduling delays).
    assert!((0.15..0.45).contains(&times[1].1), "{times:?}");
    assert!((0.25..0.55).contains(&times[2].1), "{times:?}");
    assert!((0.15..0.45).contains(&times[3].1), "{times:?}");
    // Two counter reads per window, plus the probe at construction; no power reads.
    let calls = run.calls();
    let counter_reads = calls
        .iter()
        .filter(|c| *c == "nvmlDeviceGetTotalEnergyConsumption")
        .count();
    assert_eq!(counter_reads, 1 + 2 * 4, "{:?}", run.log());
    assert!(!calls.contains(&"nvmlDeviceGetPowerUsage".into()));
}

#[test]
fn pascal_polls_power_and_integrates_with_trapezoids() {
    let name = "pascal_polls_power_and_integrates_with_trapezoids";
    let run = drawing(name, "pascal", 200).run(|| {
        let mut monitor = monitor_gpu0(EnergyOptions {
            poll_interval: Duration::from_millis(20),
            ..EnergyOptions::default()
        });
        assert_eq!(monitor.method(), EnergyMethod::Polling);
        let before = log_len();
        monitor.begin_window("long").unwrap();
        sleep(Duration::from_millis(200));
        // A window shorter than the poll interval: the trapezoid of its two end samples.
        monitor.begin_window("short").unwrap();
        let short = monitor.end_window("short").unwrap();
        let long = monitor.end_window("long").unwrap();
        let during = log_len() - before;
        // No window open: the poller sleeps.
        sleep(Duration::from_millis(100));
        let idle = log_len() - before - during;
        report(describe("long", &long));
        report(describe("short", &short));
        report(format!("reads {during} {idle}"));
        assert!(monitor.take_errors().is_empty());
    });
    let report = run.report();
    for line in &report[..2] {
        let (name, method, approximated, time_s, energy_j) = parse(line);
        assert_eq!(method, "polling");
        assert!(!approximated);
        assert!(
            (energy_j - 200.0 * time_s).abs() <= 1e-6 * (1.0 + energy_j),
            "{name}: {energy_j} J in {time_s} s is not 200 W"
        );
    }
    let (_, _, _, long_s, long_j) = parse(&report[0]);
    assert!((0.2..0.5).contains(&long_s), "{report:?}");
    assert!(long_j >= 40.0, "{report:?}");
    let counts: Vec<usize> = report[2]
        .split(' ')
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    // 4 window-edge samples plus the poller's, every 20 ms over 200 ms (about 10; at least 3 on
    // a busy machine).
    assert!(counts[0] >= 4 + 3, "{report:?}\n{:?}", run.log());
    assert_eq!(counts[1], 0, "the poller kept polling with no window open");
    let calls = run.calls();
    assert!(
        calls
            .iter()
            .all(|c| c != "nvmlDeviceGetTotalEnergyConsumption")
    );
    assert!(calls.iter().all(|c| c == "nvmlInit_v2"
        || c == "nvmlDeviceGetHandleByIndex_v2"
        || c == "nvmlDeviceGetArchitecture"
        || c == "nvmlDeviceGetPowerUsage"
        || c == "nvmlShutdown"));
}

#[test]
fn a_counter_that_is_not_supported_falls_back_to_polling() {
    let name = "a_counter_that_is_not_supported_falls_back_to_polling";
    let run = drawing(name, "volta", 150)
        .env(
            "FAKE_NVML_UNSUPPORTED",
            "nvmlDeviceGetTotalEnergyConsumption",
        )
        .run(|| {
            let mut monitor = monitor_gpu0(EnergyOptions::default());
            report(monitor.method().to_string());
            monitor.begin_window("w").unwrap();
            sleep(Duration::from_millis(30));
            report(describe("w", &monitor.end_window("w").unwrap()));
        });
    assert_eq!(run.report()[0], "polling");
    let (_, method, _, time_s, energy_j) = parse(&run.report()[1]);
    assert_eq!(method, "polling");
    assert!((energy_j - 150.0 * time_s).abs() <= 1e-6 * (1.0 + energy_j));
    assert_eq!(
        run.calls()[..4],
        [
            "nvmlInit_v2",
            "nvmlDeviceGetHandleByIndex_v2",
            "nvmlDeviceGetArchitecture",
            "nvmlDeviceGetTotalEnergyConsumption",
        ]
    );
}

#[test]
fn short_windows_with_a_still_counter_are_approximated() {
    let body = || {
        let zero_delta = match param().as_str() {
            "keep" => ZeroDelta::Keep,
            _ => ZeroDelta::Approximate,
        };
        let mut monitor = monitor_gpu0(EnergyOptions {
            zero_delta,
            ..EnergyOptions::default()
        });
        // The counter moves once every 100 s: a 10 ms window sees no change unless it straddles
        // a step (odds 1e-4); three tries make that negligible.
        for attempt in 0..3 {
            let name = format!("short{attempt}");
            monitor.begin_window(&name).unwrap();
            sleep(Duration::from_millis(10));
            let m = monitor.end_window(&name).unwrap();
            if m.approximated || (zero_delta == ZeroDelta::Keep && m.energy_j == 0.0) {
                report(describe(&name, &m));
                return;
            }
        }
        panic!("three 10 ms windows all saw the 100 s counter step");
    };
    let name = "short_windows_with_a_still_counter_are_approximated";
    // 300 W, and a counter that moves once every 100 s.
    let still_counter = |mode: &str| {
        Scenario::new(name)
            .env("FAKE_NVML_POWER_W", "300")
            .env("FAKE_NVML_ENERGY_PERIOD_MS", "100000")
            .param(mode)
            .run(body)
    };
    let approximate = still_counter("approximate");
    let (window, method, approximated, time_s, energy_j) = parse(&approximate.report()[0]);
    assert_eq!(method, "counter");
    assert!(approximated);
    assert!(time_s >= 0.01);
    // Instant power (300 W) × window time.
    assert!(
        (energy_j - 300.0 * time_s).abs() < 1e-6,
        "{energy_j} {time_s}"
    );
    // The power is read only after a zero difference.
    let log = approximate.log();
    let tail: Vec<&str> = log[log.len() - 4..]
        .iter()
        .map(|line| line.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        tail,
        [
            "nvmlDeviceGetTotalEnergyConsumption",
            "nvmlDeviceGetTotalEnergyConsumption",
            "nvmlDeviceGetPowerUsage",
            "nvmlShutdown"
        ],
        "{window}: {log:?}"
    );

    let keep = still_counter("keep");
    let (_, _, approximated, _, energy_j) = parse(&keep.report()[0]);
    assert!(!approximated);
    assert_eq!(energy_j, 0.0);
    assert!(!keep.calls().contains(&"nvmlDeviceGetPowerUsage".into()));
}

#[test]
fn window_names_are_checked() {
    let run = Scenario::new("window_names_are_checked").run(|| {
        let mut monitor = monitor_gpu0(EnergyOptions::default());
        monitor.begin_window("step").unwrap();
        let calls = log_len();
        let error = monitor.begin_window("step").unwrap_err();
        assert!(matches!(&error, EnergyError::DuplicateWindow { name } if name == "step"));
        report(error.to_string());
        let error = monitor.end_window("epoch").unwrap_err();
        assert!(matches!(&error, EnergyError::UnknownWindow { name } if name == "epoch"));
        report(error.to_string());
        monitor.cancel_window("step").unwrap();
        assert!(!monitor.is_open("step"));
        let error = monitor.end_window("step").unwrap_err();
        assert!(matches!(error, EnergyError::UnknownWindow { .. }));
        // Refusals and cancels make no NVML call.
        assert_eq!(log_len(), calls);
        // A closed name can be opened again.
        monitor.begin_window("step").unwrap();
        monitor.end_window("step").unwrap();
    });
    assert_eq!(
        run.report(),
        [
            "energy window \"step\" is already open",
            "no energy window named \"epoch\" is open",
        ]
    );
}

#[test]
fn energy_of_a_mig_device_is_refused() {
    let mig = "MIG-e0000000-7c6d-4e5f-9a0b-0123456789ab";
    let run = Scenario::new("energy_of_a_mig_device_is_refused")
        .env("FAKE_NVML_MIG", "0:1")
        .run(move || {
            let device = open_gpu(mig);
            let error = EnergyMonitor::new(&device).unwrap_err();
            assert!(matches!(error, EnergyError::MigDevice { .. }), "{error:?}");
            report(error.to_string());
        });
    run.assert_first_report_mentions("is a MIG device");
}
