//! The names of the C enumerations, as the bindings ask the library for them
//! (`ergon_<system>_<enum>_name` / `_parse`, `ergon_orloj_policy_name` / `_parse`): every code
//! round-trips through its name, an unknown code or name is `INVALID_ARGUMENT` with a message
//! that lists what is accepted, and outputs are written only on success.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::c_char;
use std::ptr::{null, null_mut};

use common::{check_calls, read_text, read_value, thread_error};
use ergon::*;

mod common;

/// `ergon_<...>_name(code, buf, cap, len)`.
type NameFn = unsafe extern "C" fn(u32, *mut c_char, usize, *mut usize) -> ergon_status;
/// `ergon_<...>_parse(name, name_len, out)`.
type ParseFn = unsafe extern "C" fn(*const c_char, usize, *mut u32) -> ergon_status;

/// One C enumeration: its two calls, every `(code, name)`, and what the messages call it.
struct Enum {
    name: NameFn,
    parse: ParseFn,
    values: &'static [(u32, &'static str)],
    what: &'static str,
}

/// Every enumeration with a name table, with the names files and the command line use.
const ENUMS: [Enum; 8] = [
    Enum {
        name: ergon_dpk_scheduler_name,
        parse: ergon_dpk_scheduler_parse,
        values: &[
            (ERGON_DPK_SCHEDULER_DPK, "dpk"),
            (ERGON_DPK_SCHEDULER_DPF, "dpf"),
            (ERGON_DPK_SCHEDULER_FCFS, "fcfs"),
            (ERGON_DPK_SCHEDULER_AREA, "area"),
            (ERGON_DPK_SCHEDULER_OPTIMAL, "optimal"),
        ],
        what: "scheduler",
    },
    Enum {
        name: ergon_dpk_knapsack_name,
        parse: ergon_dpk_knapsack_parse,
        values: &[
            (ERGON_DPK_KNAPSACK_WEIGHTED, "weighted"),
            (ERGON_DPK_KNAPSACK_COUNT, "count"),
        ],
        what: "knapsack objective",
    },
    Enum {
        name: ergon_dpk_dpf_capacity_name,
        parse: ergon_dpk_dpf_capacity_parse,
        values: &[
            (ERGON_DPK_DPF_CAPACITY_INITIAL, "initial"),
            (ERGON_DPK_DPF_CAPACITY_REMAINING, "remaining"),
        ],
        what: "DPF capacity",
    },
    Enum {
        name: ergon_dpk_conversion_name,
        parse: ergon_dpk_conversion_parse,
        values: &[
            (ERGON_DPK_CONVERSION_CLASSIC, "classic"),
            (ERGON_DPK_CONVERSION_TIGHT, "tight"),
        ],
        what: "conversion",
    },
    Enum {
        name: ergon_orloj_estimate_name,
        parse: ergon_orloj_estimate_parse,
        values: &[
            (ERGON_ORLOJ_ESTIMATE_MEAN, "mean"),
            (ERGON_ORLOJ_ESTIMATE_P99, "p99"),
        ],
        what: "estimate",
    },
    Enum {
        name: ergon_perseus_schedule_name,
        parse: ergon_perseus_schedule_parse,
        values: &[
            (ERGON_PERSEUS_SCHEDULE_1F1B, "1f1b"),
            (ERGON_PERSEUS_SCHEDULE_GPIPE, "gpipe"),
            (ERGON_PERSEUS_SCHEDULE_INTERLEAVED_1F1B, "interleaved_1f1b"),
        ],
        what: "schedule",
    },
    Enum {
        name: ergon_perseus_kind_name,
        parse: ergon_perseus_kind_parse,
        values: &[
            (ERGON_PERSEUS_KIND_FORWARD, "forward"),
            (ERGON_PERSEUS_KIND_BACKWARD, "backward"),
        ],
        what: "kind",
    },
    Enum {
        name: ergon_perseus_effective_energy_name,
        parse: ergon_perseus_effective_energy_parse,
        values: &[
            (ERGON_PERSEUS_EFFECTIVE_ENERGY_AFTER_FILTER, "after_filter"),
            (
                ERGON_PERSEUS_EFFECTIVE_ENERGY_BEFORE_FILTER,
                "before_filter",
            ),
        ],
        what: "effective-energy order",
    },
];

/// The name of `code` ("ask the length, then fill", both calls asserted to succeed).
fn name_of(e: &Enum, code: u32) -> String {
    read_text(|buf, cap, len| unsafe { (e.name)(code, buf, cap, len) })
}

/// The status and output of parsing `name` (the output starts at `u32::MAX`).
fn parse(e: &Enum, name: &str) -> (ergon_status, u32) {
    let mut out = u32::MAX;
    let s = unsafe { (e.parse)(name.as_ptr().cast(), name.len(), &mut out) };
    (s, out)
}

#[test]
fn every_code_round_trips_through_its_name() {
    for e in &ENUMS {
        for &(code, name) in e.values {
            assert_eq!(name_of(e, code), name, "{}", e.what);
            assert_eq!(parse(e, name), (ergon_status::Ok, code), "{name}");
        }
    }
}

#[test]
fn an_unknown_code_or_name_lists_what_is_accepted() {
    for e in &ENUMS {
        let unknown = e.values.len() as u32 + 7;
        let mut len = 123;
        let s = unsafe { (e.name)(unknown, null_mut(), 0, &mut len) };
        assert_eq!(s, ergon_status::InvalidArgument);
        assert_eq!(len, 123, "a failed call wrote its output");
        let message = thread_error();
        assert!(
            message.contains(&format!("unknown {} {unknown}", e.what)),
            "{message}"
        );
        for &(code, name) in e.values {
            assert!(message.contains(&format!("{code} {name}")), "{message}");
        }

        // Names are exact: another case, a prefix or a NUL inside is no name.
        let first = e.values[0].1;
        let with_nul = format!("{first}\0");
        assert_eq!(
            parse(e, &with_nul),
            (ergon_status::InvalidArgument, u32::MAX)
        );
        for bad in [first.to_uppercase(), "x".into()] {
            assert_eq!(parse(e, &bad), (ergon_status::InvalidArgument, u32::MAX));
            let message = thread_error();
            assert!(message.contains(&format!("{bad:?}")), "{message}");
            // Core's message: `(expected a, b or c)`.
            let last = e.values[e.values.len() - 1].1;
            assert!(message.contains(&format!("or {last})")), "{message}");
        }
    }
    let e = &ENUMS[0];
    assert_eq!(parse(e, "x").0, ergon_status::InvalidArgument);
    assert!(
        thread_error().starts_with("ergon_dpk_scheduler_parse: unknown scheduler \"x\" (expected dpk, dpf, fcfs, area or optimal)"),
        "{}",
        thread_error()
    );
    let (s, _) = parse(e, "");
    assert_eq!(s, ergon_status::InvalidArgument);
}

#[test]
fn name_and_parse_check_their_pointers_and_buffers() {
    let mut out = 7u32;
    let mut len = 0usize;
    let mut small = [0 as c_char; 3];
    // The closures write through raw pointers (a `Fn` cannot borrow mutably).
    let (out_p, len_p, small_p) = (&raw mut out, &raw mut len, small.as_mut_ptr());
    check_calls(&[
        // "optimal" and its NUL need 8 bytes: the length is written, the buffer is not.
        (ergon_status::BufferTooSmall, "too small", &|| unsafe {
            ergon_dpk_scheduler_name(ERGON_DPK_SCHEDULER_OPTIMAL, small_p, 3, len_p)
        }),
        (ergon_status::NullPointer, "len", &|| unsafe {
            ergon_dpk_scheduler_name(0, null_mut(), 0, null_mut())
        }),
        (ergon_status::NullPointer, "name", &|| unsafe {
            ergon_dpk_scheduler_parse(null(), 3, out_p)
        }),
        (ergon_status::NullPointer, "out", &|| unsafe {
            ergon_dpk_scheduler_parse("dpk".as_ptr().cast(), 3, null_mut())
        }),
        (ergon_status::Parse, "UTF-8", &|| unsafe {
            ergon_dpk_scheduler_parse([0xffu8, 0xfe].as_ptr().cast(), 2, out_p)
        }),
    ]);
    assert_eq!(len, "optimal".len());
    assert_eq!(small, [0; 3]);
    assert_eq!(out, 7);
    // Only `name_len` bytes are read.
    let name = "fcfs, and more";
    let code = read_value(|out| unsafe { ergon_dpk_scheduler_parse(name.as_ptr().cast(), 4, out) });
    assert_eq!(code, ERGON_DPK_SCHEDULER_FCFS);
}

/// The policy name of `(policy, estimate)`.
fn policy_name(policy: u32, estimate: u32) -> String {
    read_text(|buf, cap, len| unsafe { ergon_orloj_policy_name(policy, estimate, buf, cap, len) })
}

/// The status and `(policy, estimate)` of parsing a policy name (outputs start at `u32::MAX`).
fn policy_parse(name: &str) -> (ergon_status, (u32, u32)) {
    let (mut p, mut e) = (u32::MAX, u32::MAX);
    let s = unsafe { ergon_orloj_policy_parse(name.as_ptr().cast(), name.len(), &mut p, &mut e) };
    (s, (p, e))
}

#[test]
fn policy_names_pair_a_policy_with_its_estimate() {
    use ergon_status::{InvalidArgument, Ok};
    const MEAN: u32 = ERGON_ORLOJ_ESTIMATE_MEAN;
    const P99: u32 = ERGON_ORLOJ_ESTIMATE_P99;
    // (policy, name with the mean, name with p99): Orloj and Clipper take no estimate.
    let policies = [
        (ERGON_ORLOJ_POLICY_ORLOJ, "orloj", "orloj"),
        (ERGON_ORLOJ_POLICY_CLOCKWORK, "clockwork", "clockwork-p99"),
        (ERGON_ORLOJ_POLICY_NEXUS, "nexus", "nexus-p99"),
        (ERGON_ORLOJ_POLICY_CLIPPER, "clipper", "clipper"),
        (ERGON_ORLOJ_POLICY_EDF, "edf", "edf-p99"),
        (ERGON_ORLOJ_POLICY_FIFO, "fifo", "fifo-p99"),
    ];
    for (policy, mean, p99) in policies {
        assert_eq!(policy_name(policy, MEAN), mean);
        assert_eq!(policy_name(policy, P99), p99);
        assert_eq!(policy_parse(mean), (Ok, (policy, MEAN)));
        let estimate = if mean == p99 { MEAN } else { P99 };
        assert_eq!(policy_parse(p99), (Ok, (policy, estimate)));
        // `-mean` is the default, accepted for every policy.
        assert_eq!(policy_parse(&format!("{mean}-mean")), (Ok, (policy, MEAN)));
    }
    for bad in ["sjf", "orloj-p99", "clipper-p99", "edf-p50", "EDF", ""] {
        assert_eq!(policy_parse(bad), (InvalidArgument, (u32::MAX, u32::MAX)));
        let message = thread_error();
        assert!(
            message.contains(&format!("unknown policy {bad:?} (expected orloj, clockwork, nexus, clipper, edf or fifo, baselines optionally with -mean or -p99)")),
            "{message}"
        );
    }
    let mut len = 0;
    let len_p = &raw mut len;
    check_calls(&[
        (InvalidArgument, "policy: unknown policy 6", &|| unsafe {
            ergon_orloj_policy_name(6, MEAN, null_mut(), 0, len_p)
        }),
        (
            InvalidArgument,
            "estimate: unknown estimate 2",
            &|| unsafe { ergon_orloj_policy_name(ERGON_ORLOJ_POLICY_EDF, 2, null_mut(), 0, len_p) },
        ),
        (ergon_status::NullPointer, "estimate", &|| unsafe {
            let mut p = 9;
            let s = ergon_orloj_policy_parse("edf".as_ptr().cast(), 3, &mut p, null_mut());
            assert_eq!(p, 9, "a failed call wrote an output");
            s
        }),
    ]);
}
