//! The names of core's enum values (`FromStr`/`Display` on one table per enum): every value
//! reads back from its name, the tables hold what files and bindings spell, and an unknown
//! name's message names it and lists every accepted one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::{Debug, Display};
use std::str::FromStr;

use ergon_core::dpk::{Conversion, DpfCapacity, KnapsackMode, Scheduler};
use ergon_core::names::UnknownName;
use ergon_core::orloj::{Estimate, PolicyKind, PolicySpec};
use ergon_core::perseus::{EffectiveEnergy, Kind, Schedule};

/// `all` read back from their names, `names` exactly the accepted ones, and the message of an
/// unknown name.
#[track_caller]
fn check<T>(all: &[T], names: &[&str], expected_names: &[&str], message: &str)
where
    T: FromStr<Err = UnknownName> + Display + Copy + PartialEq + Debug,
{
    assert_eq!(names, expected_names);
    assert_eq!(all.len(), names.len());
    for (&value, &name) in all.iter().zip(names) {
        assert_eq!(value.to_string(), name);
        assert_eq!(name.parse::<T>(), Ok(value));
    }
    for bad in [
        "",
        "nope",
        &names[0].to_uppercase(),
        &format!(" {}", names[0]),
    ] {
        let e = bad.parse::<T>().unwrap_err();
        assert_eq!(e.name, bad);
        assert_eq!(e.accepted, names);
        if bad == "nope" {
            assert_eq!(e.to_string(), message);
        }
    }
}

#[test]
fn every_enum_reads_back_from_its_names() {
    check(
        &Scheduler::ALL,
        &Scheduler::NAMES,
        &["dpk", "dpf", "fcfs", "area", "optimal"],
        "unknown scheduler \"nope\" (expected dpk, dpf, fcfs, area or optimal)",
    );
    check(
        &KnapsackMode::ALL,
        &KnapsackMode::NAMES,
        &["weighted", "count"],
        "unknown knapsack objective \"nope\" (expected weighted or count)",
    );
    check(
        &DpfCapacity::ALL,
        &DpfCapacity::NAMES,
        &["initial", "remaining"],
        "unknown DPF capacity \"nope\" (expected initial or remaining)",
    );
    check(
        &Conversion::ALL,
        &Conversion::NAMES,
        &["classic", "tight"],
        "unknown conversion \"nope\" (expected classic or tight)",
    );
    check(
        &Estimate::ALL,
        &Estimate::NAMES,
        &["mean", "p99"],
        "unknown estimate \"nope\" (expected mean or p99)",
    );
    check(
        &PolicyKind::ALL,
        &PolicyKind::NAMES,
        &["orloj", "clockwork", "nexus", "clipper", "edf", "fifo"],
        "unknown policy \"nope\" (expected orloj, clockwork, nexus, clipper, edf or fifo)",
    );
    check(
        &Kind::ALL,
        &Kind::NAMES,
        &["forward", "backward"],
        "unknown computation kind \"nope\" (expected forward or backward)",
    );
    check(
        &EffectiveEnergy::ALL,
        &EffectiveEnergy::NAMES,
        &["after_filter", "before_filter"],
        "unknown effective-energy order \"nope\" (expected after_filter or before_filter)",
    );
}

#[test]
fn policies_are_kinds_with_an_optional_estimate() {
    let names: Vec<String> = PolicySpec::all().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        names.join(" "),
        "orloj clockwork clockwork-p99 nexus nexus-p99 clipper edf edf-p99 fifo fifo-p99"
    );
    for p in PolicySpec::all() {
        assert_eq!(p.name().parse::<PolicySpec>(), Ok(p));
        // The canonical name is the kind's, with the estimate only for a p99 baseline.
        let expected = match p.estimate {
            Estimate::P99 => format!("{}-{}", p.kind, p.estimate),
            Estimate::Mean => p.kind.to_string(),
        };
        assert_eq!(p.name(), expected);
        // `-mean`, the default, is accepted on every kind.
        assert_eq!(
            format!("{}-mean", p.kind).parse(),
            Ok(PolicySpec::new(p.kind, Estimate::Mean))
        );
    }
    // A kind that takes no estimate keeps the mean, so that equal policies compare equal.
    assert_eq!(
        PolicySpec::new(PolicyKind::Clipper, Estimate::P99),
        PolicySpec::new(PolicyKind::Clipper, Estimate::Mean)
    );
    for bad in [
        "orloj-p99",
        "clipper-p99",
        "triton",
        "edf-p50",
        "edf-",
        "-p99",
        "EDF",
    ] {
        let e = bad.parse::<PolicySpec>().unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "unknown policy \"{bad}\" (expected orloj, clockwork, nexus, clipper, edf or fifo, \
                 baselines optionally with -mean or -p99)"
            )
        );
    }
}

#[test]
fn schedules_have_the_names_of_the_formats() {
    assert_eq!(Schedule::NAMES, ["1f1b", "gpipe", "interleaved_1f1b"]);
    for (schedule, name) in [
        (Schedule::OneFOneB, "1f1b"),
        (Schedule::GPipe, "gpipe"),
        (
            Schedule::Interleaved1F1B { virtual_stages: 3 },
            "interleaved_1f1b",
        ),
    ] {
        assert_eq!(schedule.name(), name);
        assert_eq!(schedule.to_string(), name);
    }
}
