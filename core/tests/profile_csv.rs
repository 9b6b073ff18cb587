//! The profile CSV writer against the readers: whatever it writes reads back to exactly the same
//! values through both the row reader and the solver's `parse_profile_csv`, and a merge of
//! per-stage texts is their concatenation under one header.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ergon_core::perseus::formats::{
    ProfileRow, merge_profile_csv, parse_profile_csv, profile_rows, read_profile_rows,
    write_profile_csv,
};
use proptest::prelude::*;

/// Non-negative finite values across the whole range: tiny, ordinary and huge.
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        0.0..1.0f64,
        0.0..1e4f64,
        (0u64..u64::MAX).prop_map(|bits| f64::from_bits(bits >> 2)), // 0 ..< 2^256-ish, positive
        Just(0.0),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
    ]
    .prop_filter("finite", |v| v.is_finite() && *v >= 0.0)
}

fn row() -> impl Strategy<Value = ProfileRow> {
    (
        0u32..8,
        prop_oneof![Just("forward"), Just("backward")],
        1u32..4000,
        value(),
        value(),
    )
        .prop_map(
            |(stage, instruction, freq_mhz, time_s, energy_j)| ProfileRow {
                stage,
                instruction: instruction.into(),
                freq_mhz,
                time_s,
                energy_j,
            },
        )
}

proptest! {
    #[test]
    fn written_rows_read_back_exactly(rows in prop::collection::vec(row(), 1..40)) {
        let text = write_profile_csv(&rows).unwrap();
        let back = read_profile_rows(&text).unwrap();
        prop_assert_eq!(&back, &rows);
        // The solver's reader sees the same values, grouped by (stage, kind).
        let profiles = parse_profile_csv(&text).unwrap();
        let mut regrouped = profile_rows(&profiles);
        let mut expected = rows.clone();
        let key = |r: &ProfileRow| (r.stage, r.instruction.clone());
        // profile_rows lists profile by profile in order of first appearance: sort both
        // stably by the first appearance of their key.
        let order: Vec<(u32, String)> = {
            let mut seen = Vec::new();
            for r in &rows {
                if !seen.contains(&key(r)) {
                    seen.push(key(r));
                }
            }
            seen
        };
        let rank = |r: &ProfileRow| order.iter().position(|k| *k == key(r)).unwrap();
        expected.sort_by_key(rank);
        regrouped.sort_by_key(rank);
        prop_assert_eq!(regrouped, expected);
        // Writing is deterministic.
        prop_assert_eq!(write_profile_csv(&back).unwrap(), text);
    }

    #[test]
    fn merging_stage_profiles_concatenates_them(
        a in prop::collection::vec(row(), 1..10),
        b in prop::collection::vec(row(), 1..10),
    ) {
        let stage = |rows: &[ProfileRow], stage: u32| -> Vec<ProfileRow> {
            let mut out: Vec<ProfileRow> = Vec::new();
            for r in rows {
                let r = ProfileRow { stage, ..r.clone() };
                if !out.iter().any(|o| o.instruction == r.instruction && o.freq_mhz == r.freq_mhz) {
                    out.push(r);
                }
            }
            out
        };
        let (a, b) = (stage(&a, 0), stage(&b, 1));
        let (ta, tb) = (write_profile_csv(&a).unwrap(), write_profile_csv(&b).unwrap());
        let merged = merge_profile_csv(&[&ta, &tb]).unwrap();
        let all: Vec<ProfileRow> = a.iter().chain(&b).cloned().collect();
        prop_assert_eq!(read_profile_rows(&merged).unwrap(), all);
        // The same stage twice is refused, naming the duplicate.
        let error = merge_profile_csv(&[&ta, &ta]).unwrap_err().to_string();
        prop_assert!(error.contains("appears twice"), "{}", error);
        prop_assert!(error.contains(&format!("frequency {}", a[0].freq_mhz)), "{}", error);
    }
}
