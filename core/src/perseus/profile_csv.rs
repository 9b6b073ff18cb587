//! The zeus profile CSV (formats.md §2) as rows: reading any instruction name, writing, and
//! merging the profiles of several ranks (stages, and replicas of a stage) into the pipeline's.
//!
//! [`parse_profile_csv`](super::formats::parse_profile_csv) reads the file into the solver's
//! [`Profile`]s and accepts only the instruction kinds the solver plans (`forward`,
//! `backward`). A profiler records whatever computations a schedule names, so the functions
//! here keep the instruction as text: [`read_profile_rows`] (the same rules for the header,
//! the cells and the size limit), [`write_profile_csv`] (deterministic text that reads back to
//! the same values) and [`merge_profile_csv`] (one pipeline profile from per-rank ones, replicas
//! of a stage averaged).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use super::formats::{FormatError, MAX_CSV_LINES};
use super::{Num, Profile};

/// The header [`write_profile_csv`] writes (the columns the reader needs, in zeus's order).
pub const PROFILE_CSV_HEADER: &str = "stage,instruction,frequency,time,energy";

/// Longest instruction name in bytes a profile row may carry.
pub const MAX_INSTRUCTION_NAME_LEN: usize = 256;

/// One row of a profile CSV: one computation kind of one stage at one clock, averaged over the
/// profiling iterations.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRow {
    /// The pipeline stage.
    pub stage: u32,
    /// The instruction (computation kind) as the schedule names it, e.g. `forward`.
    pub instruction: String,
    /// The GPU's SM clock, MHz.
    pub freq_mhz: u32,
    /// Mean time of one computation, seconds.
    pub time_s: f64,
    /// Mean GPU energy of one computation, joules.
    pub energy_j: f64,
}

/// Why `name` cannot be an instruction of a profile CSV, if it cannot: it must be 1 to
/// [`MAX_INSTRUCTION_NAME_LEN`] bytes with no comma, quote or control character (the CSV has no
/// quoting) and no surrounding whitespace (the reader trims cells).
pub fn instruction_name_error(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("an instruction name must not be empty")
    } else if name.len() > MAX_INSTRUCTION_NAME_LEN {
        Some("an instruction name must be at most 256 bytes")
    } else if name.chars().any(|c| c == ',' || c == '"' || c.is_control()) {
        Some("an instruction name must not contain a comma, a quote or a control character")
    } else if name.trim() != name {
        Some("an instruction name must not start or end with whitespace")
    } else {
        None
    }
}

/// The cells of one data row, located by the header's columns.
pub(crate) struct RawRow<'a> {
    /// 1-based line number.
    pub line: usize,
    pub stage: u32,
    pub instruction: &'a str,
    pub freq_mhz: u32,
    pub time_s: f64,
    pub energy_j: f64,
}

/// Splits a profile CSV into its data rows: the header must name the five columns (in any
/// order, extra columns ignored), blank lines are skipped, a UTF-8 byte-order mark is ignored,
/// and more than [`MAX_CSV_LINES`] lines are refused before anything is parsed. `row` gets each
/// data row in order; the first error stops the walk.
pub(crate) fn for_each_row<'a>(
    text: &'a str,
    mut row: impl FnMut(RawRow<'a>) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines_total = text.bytes().filter(|&b| b == b'\n').count() + 1;
    if lines_total > MAX_CSV_LINES {
        return Err(FormatError::Csv {
            line: MAX_CSV_LINES + 1,
            message: alloc::format!(
                "the file has {lines_total} lines, more than the limit MAX_CSV_LINES = {MAX_CSV_LINES}"
            ),
        });
    }
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or(FormatError::Csv {
        line: 1,
        message: "the file is empty".into(),
    })?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |name: &str| {
        names.iter().position(|&n| n == name).ok_or_else(|| FormatError::Csv {
            line: 1,
            message: alloc::format!("the header has no `{name}` column (need stage,instruction,frequency,time,energy)"),
        })
    };
    let (c_stage, c_kind, c_freq, c_time, c_energy) = (
        col("stage")?,
        col("instruction")?,
        col("frequency")?,
        col("time")?,
        col("energy")?,
    );
    let mut any = false;
    for (i, line) in lines {
        let line_no = i + 1;
        let cells: Vec<&'a str> = line.split(',').map(str::trim).collect();
        let cell = |c: usize, what: &str| {
            cells.get(c).copied().ok_or_else(|| FormatError::Csv {
                line: line_no,
                message: alloc::format!(
                    "missing `{what}` (expected {} columns, found {})",
                    names.len(),
                    cells.len()
                ),
            })
        };
        let number = |c: usize, what: &str| -> Result<f64, FormatError> {
            let s = cell(c, what)?;
            s.parse::<f64>().map_err(|_| FormatError::Csv {
                line: line_no,
                message: alloc::format!("`{what}` = \"{s}\" is not a number"),
            })
        };
        let stage_s = cell(c_stage, "stage")?;
        let stage: u32 = stage_s.parse().map_err(|_| FormatError::Csv {
            line: line_no,
            message: alloc::format!("`stage` = \"{stage_s}\" is not a stage index"),
        })?;
        let instruction = cell(c_kind, "instruction")?;
        let freq = number(c_freq, "frequency")?;
        if !(freq >= 1.0 && freq <= f64::from(u32::MAX) && libm::trunc(freq) == freq) {
            return Err(FormatError::Csv {
                line: line_no,
                message: alloc::format!(
                    "`frequency` = {} is not a positive whole number of MHz",
                    Num(freq)
                ),
            });
        }
        row(RawRow {
            line: line_no,
            stage,
            instruction,
            freq_mhz: freq as u32,
            time_s: number(c_time, "time")?,
            energy_j: number(c_energy, "energy")?,
        })?;
        any = true;
    }
    if !any {
        return Err(FormatError::Csv {
            line: 2,
            message: "no data rows".into(),
        });
    }
    Ok(())
}

/// Reads a profile CSV into its rows, in file order, keeping any instruction name (a profiler
/// records whatever computations a schedule names); the rules for the header and the cells are
/// those of
/// [`parse_profile_csv`](super::formats::parse_profile_csv). An instruction name that
/// [`instruction_name_error`] refuses is an error naming its line.
pub fn read_profile_rows(text: &str) -> Result<Vec<ProfileRow>, FormatError> {
    let mut rows = Vec::new();
    for_each_row(text, |raw| {
        rows.push(checked_row(&raw)?);
        Ok(())
    })?;
    Ok(rows)
}

/// The row of `raw`, its instruction name checked ([`instruction_name_error`]).
fn checked_row(raw: &RawRow<'_>) -> Result<ProfileRow, FormatError> {
    if let Some(reason) = instruction_name_error(raw.instruction) {
        return Err(FormatError::Csv {
            line: raw.line,
            message: alloc::format!("`instruction` = \"{}\": {reason}", raw.instruction),
        });
    }
    Ok(ProfileRow {
        stage: raw.stage,
        instruction: raw.instruction.into(),
        freq_mhz: raw.freq_mhz,
        time_s: raw.time_s,
        energy_j: raw.energy_j,
    })
}

/// Writes `rows` as a profile CSV: [`PROFILE_CSV_HEADER`], then one line per row in the given
/// order, each ending in `\n`. Numbers are written in their shortest form that reads back to the
/// same `f64` (scientific notation below 1e-5 and from 1e16), so [`read_profile_rows`] and
/// [`parse_profile_csv`](super::formats::parse_profile_csv) give back exactly these values.
///
/// An instruction name [`instruction_name_error`] refuses, or a time or energy that is negative
/// or not finite, is a [`FormatError::Field`] naming the row (0-based) and the field.
pub fn write_profile_csv(rows: &[ProfileRow]) -> Result<String, FormatError> {
    let mut out = String::with_capacity(PROFILE_CSV_HEADER.len() + 1 + rows.len() * 40);
    out.push_str(PROFILE_CSV_HEADER);
    out.push('\n');
    for (i, row) in rows.iter().enumerate() {
        let field = |name: &str, message: String| FormatError::Field {
            record: Some(alloc::format!("row {i}")),
            field: name.into(),
            message,
        };
        if let Some(reason) = instruction_name_error(&row.instruction) {
            return Err(field("instruction", reason.into()));
        }
        for (name, value) in [("time", row.time_s), ("energy", row.energy_j)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(field(
                    name,
                    alloc::format!("{} is not a finite non-negative number", Num(value)),
                ));
            }
        }
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{},{},{},{},{}",
            row.stage,
            row.instruction,
            row.freq_mhz,
            Num(row.time_s),
            Num(row.energy_j)
        );
    }
    Ok(out)
}

/// The rows of the solver's profiles (what [`parse_profile_csv`](super::formats::parse_profile_csv)
/// returns), profile by profile, options in their order.
pub fn profile_rows(profiles: &[Profile]) -> Vec<ProfileRow> {
    profiles
        .iter()
        .flat_map(|p| {
            p.options.iter().map(move |o| ProfileRow {
                stage: p.stage,
                instruction: p.kind.name().into(),
                freq_mhz: o.freq_mhz,
                time_s: o.time_s,
                energy_j: o.energy_j,
            })
        })
        .collect()
}

/// One text's rows of one (stage, instruction): frequency -> (time, energy, line).
type TextRows = BTreeMap<u32, (f64, f64, usize)>;

/// The rows one (stage, instruction) has in the texts being merged.
struct MergeGroup {
    stage: u32,
    instruction: String,
    /// Its frequencies in order of first appearance, and the same as a set (for hostile input
    /// with many frequencies, where a linear search per row would be quadratic).
    freqs: Vec<u32>,
    seen: BTreeSet<u32>,
    /// Per text that has rows of it, in text order: (text, its rows).
    texts: Vec<(usize, TextRows)>,
}

/// The mean of `values` (not empty): exactly the first value when all are equal (so that
/// identical replicas merge to their own numbers bit for bit), else their sum in text order
/// divided by their count.
fn replica_mean(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let mut all = values.clone();
    let first = all.next().unwrap_or(0.0);
    if all.all(|v| v == first) {
        return first;
    }
    let (sum, n) = values.fold((0.0, 0.0), |(s, n), v| (s + v, n + 1.0));
    sum / n
}

/// Merges profile CSVs (one per profiling rank: every pipeline stage, and data-parallel
/// replicas of a stage) into the pipeline's profile, rewritten by [`write_profile_csv`] (the
/// header once, extra columns dropped).
///
/// The rule, per (stage, instruction):
/// - Texts with rows of it are its replicas (they profiled the same computation): the rows of
///   one frequency from different texts become one row whose time and energy are each exactly
///   the first text's value when all texts give the same value, else the mean over the texts.
/// - Only the frequencies that **every** such text lists are kept (replicas whose profilers
///   stopped lowering the clock at different points agree on what they all measured); none in
///   common is a [`FormatError::Field`] naming the (stage, instruction) and the texts.
/// - The same (stage, instruction, frequency) twice in **one** text is a
///   [`FormatError::Field`] naming the three, the text and both lines.
///
/// Rows come out grouped by (stage, instruction) in order of first appearance (text by text,
/// line by line), each group's frequencies in their order of first appearance; so the texts of
/// distinct stages merge to their rows concatenated when each text lists its rows grouped
/// (as [`write_profile_csv`] of a profiler's rows does).
///
/// A text that does not read ([`read_profile_rows`]) is an error naming the text (0-based) and
/// the line; no text at all is an error. The total number of rows over all the texts is bounded
/// like one file's ([`MAX_CSV_LINES`]).
pub fn merge_profile_csv(texts: &[&str]) -> Result<String, FormatError> {
    if texts.is_empty() {
        return Err(FormatError::Field {
            record: None,
            field: String::new(),
            message: "no profile CSV to merge".into(),
        });
    }
    let mut groups: Vec<MergeGroup> = Vec::new();
    let mut index: BTreeMap<(u32, String), usize> = BTreeMap::new();
    let mut rows_total = 0usize;
    for (t, text) in texts.iter().enumerate() {
        let in_text = |e: FormatError| match e {
            FormatError::Csv { line, message } => FormatError::Csv {
                line,
                message: alloc::format!("profile {t}: {message}"),
            },
            other => other,
        };
        for_each_row(text, |raw| {
            checked_row(&raw)?; // the row reader's checks (the instruction name)
            rows_total += 1;
            if rows_total >= MAX_CSV_LINES {
                return Err(FormatError::Csv {
                    line: raw.line,
                    message: alloc::format!(
                        "the merged profiles have more than {} rows",
                        MAX_CSV_LINES - 1
                    ),
                });
            }
            let key = (raw.stage, String::from(raw.instruction));
            let g = match index.get(&key) {
                Some(&g) => g,
                None => {
                    index.insert(key, groups.len());
                    groups.push(MergeGroup {
                        stage: raw.stage,
                        instruction: raw.instruction.into(),
                        freqs: Vec::new(),
                        seen: BTreeSet::new(),
                        texts: Vec::new(),
                    });
                    groups.len() - 1
                }
            };
            let group = &mut groups[g];
            if group.texts.last().map(|(text, _)| *text) != Some(t) {
                group.texts.push((t, BTreeMap::new()));
            }
            let last = group.texts.len() - 1; // at least the text just pushed
            let by_freq = &mut group.texts[last].1;
            if let Some(&(_, _, first_line)) = by_freq.get(&raw.freq_mhz) {
                return Err(FormatError::Field {
                    record: Some(alloc::format!(
                        "stage {} instruction {} frequency {}",
                        raw.stage,
                        raw.instruction,
                        raw.freq_mhz
                    )),
                    field: String::new(),
                    message: alloc::format!(
                        "appears twice in profile {t}: lines {first_line} and {}",
                        raw.line
                    ),
                });
            }
            by_freq.insert(raw.freq_mhz, (raw.time_s, raw.energy_j, raw.line));
            if group.seen.insert(raw.freq_mhz) {
                group.freqs.push(raw.freq_mhz);
            }
            Ok(())
        })
        .map_err(in_text)?;
    }
    let mut rows: Vec<ProfileRow> = Vec::new();
    for group in &groups {
        let before = rows.len();
        for &freq in &group.freqs {
            let values: Option<Vec<(f64, f64)>> = group
                .texts
                .iter()
                .map(|(_, by_freq)| by_freq.get(&freq).map(|&(t, e, _)| (t, e)))
                .collect();
            let Some(values) = values else {
                continue; // not measured by every replica
            };
            rows.push(ProfileRow {
                stage: group.stage,
                instruction: group.instruction.clone(),
                freq_mhz: freq,
                time_s: replica_mean(values.iter().map(|v| v.0)),
                energy_j: replica_mean(values.iter().map(|v| v.1)),
            });
        }
        if rows.len() == before {
            let mut names = String::new();
            for (i, (t, _)) in group.texts.iter().enumerate() {
                let _ = write!(names, "{}{t}", if i == 0 { "" } else { ", " });
            }
            return Err(FormatError::Field {
                record: Some(alloc::format!(
                    "stage {} instruction {}",
                    group.stage,
                    group.instruction
                )),
                field: String::new(),
                message: alloc::format!("profiles {names} list no frequency in common"),
            });
        }
    }
    write_profile_csv(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn row(stage: u32, instruction: &str, freq_mhz: u32, time_s: f64, energy_j: f64) -> ProfileRow {
        ProfileRow {
            stage,
            instruction: instruction.into(),
            freq_mhz,
            time_s,
            energy_j,
        }
    }

    #[test]
    fn rows_are_written_in_order_with_shortest_numbers() {
        let text = write_profile_csv(&[
            row(0, "forward", 1410, 0.1, 25.5),
            row(0, "optimizer", 1395, 1e-7, 3e17),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            text,
            "stage,instruction,frequency,time,energy\n0,forward,1410,0.1,25.5\n\
             0,optimizer,1395,1e-7,3e17\n"
        );
        let back = read_profile_rows(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back[1], row(0, "optimizer", 1395, 1e-7, 3e17));
    }

    #[test]
    fn bad_rows_name_the_row_and_field() {
        let error = write_profile_csv(&[row(0, "a,b", 1410, 0.1, 1.0)]).err();
        assert!(
            matches!(&error, Some(FormatError::Field { record: Some(r), field, .. }) if r == "row 0" && field == "instruction"),
            "{error:?}"
        );
        let error = write_profile_csv(&[
            row(0, "forward", 1410, 0.1, 1.0),
            row(1, "f", 1, f64::NAN, 1.0),
        ])
        .err();
        assert!(
            matches!(&error, Some(FormatError::Field { record: Some(r), field, .. }) if r == "row 1" && field == "time"),
            "{error:?}"
        );
        assert!(instruction_name_error(" forward").is_some());
        assert!(instruction_name_error("").is_some());
        assert!(instruction_name_error("send-activation").is_none());
    }

    #[test]
    fn merging_concatenates_stages_and_names_errors() {
        let s0 = "stage,instruction,frequency,time,energy\n0,forward,1410,0.1,20\n0,backward,1410,0.2,40\n";
        let s1 = "rank,stage,instruction,frequency,time,energy\n3,1,forward,1410,0.11,21\n";
        let merged = merge_profile_csv(&[s0, s1]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            merged,
            "stage,instruction,frequency,time,energy\n0,forward,1410,0.1,20\n\
             0,backward,1410,0.2,40\n1,forward,1410,0.11,21\n"
        );
        // The same key twice in one text names the text and both lines.
        let twice = "stage,instruction,frequency,time,energy\n0,forward,1410,0.1,20\n\n\
                     0,forward,1410,0.1,20\n";
        let error = merge_profile_csv(&[s0, twice]).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some(
                "stage 0 instruction forward frequency 1410: appears twice in profile 1: \
                 lines 2 and 4"
            )
        );
        let error = merge_profile_csv(&[s0, "stage,instruction\n"])
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("profile 1")));
        assert!(merge_profile_csv(&[]).is_err());
    }

    #[test]
    fn merging_averages_replicas_over_their_common_frequencies() {
        // Replicas 0 and 2 of stage 0 (2 did not reach 1110 MHz; 0 lists its clocks from the
        // lowest), stage 1 profiled once.
        let r0 = "stage,instruction,frequency,time,energy\n0,forward,1110,0.5,30\n\
                  0,forward,1410,0.25,40\n0,backward,1410,1,80\n";
        let r1 = "stage,instruction,frequency,time,energy\n1,forward,1410,0.3,41\n";
        let r2 = "stage,instruction,frequency,time,energy\n0,backward,1410,1,80\n\
                  0,forward,1410,0.75,40\n";
        let merged = merge_profile_csv(&[r0, r1, r2]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            merged,
            "stage,instruction,frequency,time,energy\n0,forward,1410,0.5,40\n\
             0,backward,1410,1,80\n1,forward,1410,0.3,41\n"
        );
        // Equal values come back bit for bit, where a sum then a division would not.
        let x = "stage,instruction,frequency,time,energy\n0,forward,1410,0.1,0.7\n";
        let merged = merge_profile_csv(&[x, x, x]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(merged, x);
        assert_ne!((0.1 + 0.1 + 0.1) / 3.0, 0.1);
        // Replicas without a frequency in common are named.
        let low = "stage,instruction,frequency,time,energy\n0,backward,810,2,90\n";
        let error = merge_profile_csv(&[r0, r1, low])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("stage 0 instruction backward: profiles 0, 2 list no frequency in common")
        );
    }
}
