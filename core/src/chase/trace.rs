//! The carbon-intensity trace: Chase's CSV (`location,timestamp,duration,value,hist`) read from
//! text into rows, with errors that name the line and the column.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Most data rows a carbon trace may have (about 60 years of 30-minute slots); a longer file is
/// refused before any row is parsed.
pub const MAX_CARBON_ROWS: usize = 1 << 20;

/// Longest `location` or `timestamp` cell, in bytes.
pub const MAX_CARBON_TEXT_CELL: usize = 256;

/// Largest carbon intensity accepted, gCO2/kWh (about 60 times the dirtiest grids'): bounds
/// every sum the forecaster forms, so its forecasts stay finite.
pub const MAX_INTENSITY_G_PER_KWH: f64 = 1e5;

/// Longest slot accepted, minutes (a year).
pub const MAX_DURATION_MIN: f64 = 525_600.0;

/// The columns the reader needs, in the reference trace's order.
pub const CARBON_CSV_COLUMNS: [&str; 5] = ["location", "timestamp", "duration", "value", "hist"];

/// One row of a carbon trace: one slot of a grid region.
#[derive(Debug, Clone, PartialEq)]
pub struct CarbonRecord {
    /// The grid region, e.g. `MISO_MASON_CITY`.
    pub location: String,
    /// The slot's start as the file writes it (kept as text; the model uses the row order).
    pub timestamp: String,
    /// The slot's length, minutes.
    pub duration_min: f64,
    /// The live carbon-intensity figure, gCO2/kWh.
    pub value_g_per_kwh: f64,
    /// The historical (settled) figure, gCO2/kWh: what Chase trains on, forecasts and charges.
    pub hist_g_per_kwh: f64,
}

/// A carbon-intensity trace: its rows in file order, at least one.
#[derive(Debug, Clone, PartialEq)]
pub struct CarbonTrace {
    records: Vec<CarbonRecord>,
}

/// Why a carbon CSV was rejected. Lines are 1-based and count blank lines; columns are named and
/// numbered (1-based) as the header places them.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CarbonCsvError {
    /// No header, or a header without a data row.
    #[error("carbon CSV: {0}")]
    Empty(&'static str),
    /// More lines than [`MAX_CARBON_ROWS`] + 1.
    #[error("carbon CSV: {lines} lines, more than the limit of {limit} data rows plus a header")]
    TooLong {
        /// Lines in the text.
        lines: usize,
        /// [`MAX_CARBON_ROWS`].
        limit: usize,
    },
    /// The header lacks a column.
    #[error("carbon CSV line {line}: the header has no `{column}` column (need {})", CARBON_CSV_COLUMNS.join(","))]
    MissingColumn {
        /// The header's line.
        line: usize,
        /// The missing column.
        column: &'static str,
    },
    /// A cell could not be used.
    #[error("carbon CSV line {line}, column {column_number} (`{column}`): {message}")]
    Cell {
        /// 1-based line.
        line: usize,
        /// The column's name.
        column: &'static str,
        /// The column's 1-based position in the header.
        column_number: usize,
        /// What is wrong.
        message: String,
    },
    /// The slots are not all of one length, which the forecaster's time of day needs.
    #[error(
        "carbon CSV line {line}: duration {found_min} min differs from the first row's {first_min} min (the trace must have one slot length)"
    )]
    UnevenDuration {
        /// The first line whose duration differs.
        line: usize,
        /// The first row's duration.
        first_min: f64,
        /// This row's.
        found_min: f64,
    },
}

impl CarbonTrace {
    /// The rows, in file order (never empty).
    pub fn records(&self) -> &[CarbonRecord] {
        &self.records
    }

    /// The `hist` column, gCO2/kWh, in row order.
    pub fn hist_g_per_kwh(&self) -> Vec<f64> {
        self.records.iter().map(|r| r.hist_g_per_kwh).collect()
    }

    /// Number of rows (≥ 1).
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Always false: a parsed trace has at least one row (present for the `len` convention).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The slot length in minutes (every row has the same; checked at parse time).
    pub fn interval_min(&self) -> f64 {
        self.records.first().map_or(0.0, |r| r.duration_min)
    }

    /// Slots per day (`1440 / interval_min`, rounded to the nearest integer, at least 1): the
    /// period of the forecaster's time-of-day features.
    pub fn slots_per_day(&self) -> usize {
        let slots = libm::round(1440.0 / self.interval_min());
        if slots >= 1.0 && slots <= MAX_CARBON_ROWS as f64 {
            slots as usize
        } else {
            1
        }
    }
}

/// Reads a carbon trace from CSV text.
///
/// The header must name `location,timestamp,duration,value,hist` (any order; extra columns are
/// ignored); a UTF-8 byte-order mark, blank lines and spaces around cells are ignored; cells are
/// not quoted (the format has no commas inside cells). `duration` must be a positive finite
/// number of minutes, the same on every row; `value` and `hist` finite and ≥ 0; `location` and
/// `timestamp` non-empty and at most [`MAX_CARBON_TEXT_CELL`] bytes.
pub fn parse_carbon_csv(text: &str) -> Result<CarbonTrace, CarbonCsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines_total = text.bytes().filter(|&b| b == b'\n').count() + 1;
    if lines_total > MAX_CARBON_ROWS + 2 {
        // +2: the header and a trailing newline's empty last line.
        return Err(CarbonCsvError::TooLong {
            lines: lines_total,
            limit: MAX_CARBON_ROWS,
        });
    }
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let (header_line, header) = lines.next().ok_or(CarbonCsvError::Empty(
        "the text is empty (expected a header location,timestamp,duration,value,hist)",
    ))?;
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let mut cols = [0usize; 5];
    for (slot, column) in cols.iter_mut().zip(CARBON_CSV_COLUMNS) {
        *slot = names
            .iter()
            .position(|&n| n == column)
            .ok_or(CarbonCsvError::MissingColumn {
                line: header_line,
                column,
            })?;
    }
    let [c_loc, c_ts, c_dur, c_value, c_hist] = cols;

    let mut records = Vec::new();
    for (line, raw) in lines {
        if records.len() == MAX_CARBON_ROWS {
            return Err(CarbonCsvError::TooLong {
                lines: lines_total,
                limit: MAX_CARBON_ROWS,
            });
        }
        let cells: Vec<&str> = raw.split(',').map(str::trim).collect();
        let cell_error = |c: usize, message: String| CarbonCsvError::Cell {
            line,
            column: CARBON_CSV_COLUMNS[cols.iter().position(|&x| x == c).unwrap_or(0)],
            column_number: c + 1,
            message,
        };
        let cell = |c: usize| {
            cells.get(c).copied().ok_or_else(|| {
                cell_error(
                    c,
                    alloc::format!(
                        "missing (the header has {} columns, this line {})",
                        names.len(),
                        cells.len()
                    ),
                )
            })
        };
        let text_cell = |c: usize| -> Result<String, CarbonCsvError> {
            let s = cell(c)?;
            if s.is_empty() {
                Err(cell_error(c, "empty".to_string()))
            } else if s.len() > MAX_CARBON_TEXT_CELL {
                Err(cell_error(
                    c,
                    alloc::format!(
                        "{} bytes, more than the limit of {MAX_CARBON_TEXT_CELL}",
                        s.len()
                    ),
                ))
            } else {
                Ok(s.to_string())
            }
        };
        let number = |c: usize, positive: bool, max: f64| -> Result<f64, CarbonCsvError> {
            let s = cell(c)?;
            let v: f64 = s.parse().map_err(|_| {
                cell_error(
                    c,
                    alloc::format!("not a number: \"{}\"", truncate(s, MAX_CARBON_TEXT_CELL)),
                )
            })?;
            if !v.is_finite() {
                Err(cell_error(c, alloc::format!("{v} is not finite")))
            } else if positive && v <= 0.0 {
                Err(cell_error(c, alloc::format!("{v} must be > 0")))
            } else if v < 0.0 {
                Err(cell_error(c, alloc::format!("{v} must be ≥ 0")))
            } else if v > max {
                Err(cell_error(
                    c,
                    alloc::format!("{v} is above the limit of {max}"),
                ))
            } else {
                Ok(v)
            }
        };
        let record = CarbonRecord {
            location: text_cell(c_loc)?,
            timestamp: text_cell(c_ts)?,
            duration_min: number(c_dur, true, MAX_DURATION_MIN)?,
            value_g_per_kwh: number(c_value, false, MAX_INTENSITY_G_PER_KWH)?,
            hist_g_per_kwh: number(c_hist, false, MAX_INTENSITY_G_PER_KWH)?,
        };
        if let Some(first) = records.first() {
            let first: &CarbonRecord = first;
            if record.duration_min != first.duration_min {
                return Err(CarbonCsvError::UnevenDuration {
                    line,
                    first_min: first.duration_min,
                    found_min: record.duration_min,
                });
            }
        }
        records.push(record);
    }
    if records.is_empty() {
        return Err(CarbonCsvError::Empty("the header has no data row below it"));
    }
    Ok(CarbonTrace { records })
}

/// At most `max` bytes of `s`, cut at a character boundary (for messages that quote input).
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_ROWS: &str = "location,timestamp,duration,value,hist\n\
        MISO_MASON_CITY,2022-10-20T06:20:00+00:00,30,646.8567445847223,619.2291837783333\n\
        MISO_MASON_CITY,2022-10-20T06:50:00+00:00,30,639.6810853079444,618.69999268\n";

    #[test]
    fn reads_the_reference_rows() {
        let trace = parse_carbon_csv(TWO_ROWS).unwrap();
        assert_eq!(trace.len(), 2);
        assert_eq!(trace.records()[1].hist_g_per_kwh, 618.69999268);
        assert_eq!(trace.records()[0].value_g_per_kwh, 646.8567445847223);
        assert_eq!(trace.interval_min(), 30.0);
        assert_eq!(trace.slots_per_day(), 48);
        assert_eq!(trace.records()[0].location, "MISO_MASON_CITY");
    }

    #[test]
    fn columns_in_any_order_extra_ignored() {
        let text = "hist,extra,value,duration,timestamp,location\n\n600,x,610,60,t0,R\n";
        let trace = parse_carbon_csv(text).unwrap();
        assert_eq!(trace.records()[0].hist_g_per_kwh, 600.0);
        assert_eq!(trace.slots_per_day(), 24);
    }

    #[test]
    fn errors_name_line_and_column() {
        let text = "location,timestamp,duration,value,hist\nR,t0,30,1,2\n\nR,t1,30,1,abc\n";
        let err = parse_carbon_csv(text).unwrap_err();
        assert_eq!(
            err,
            CarbonCsvError::Cell {
                line: 4,
                column: "hist",
                column_number: 5,
                message: "not a number: \"abc\"".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "carbon CSV line 4, column 5 (`hist`): not a number: \"abc\""
        );
        let missing = parse_carbon_csv("location,timestamp,value,hist\nR,t,1,2\n").unwrap_err();
        assert_eq!(
            missing,
            CarbonCsvError::MissingColumn {
                line: 1,
                column: "duration"
            }
        );
        assert!(matches!(
            parse_carbon_csv("").unwrap_err(),
            CarbonCsvError::Empty(_)
        ));
        assert!(matches!(
            parse_carbon_csv("location,timestamp,duration,value,hist\n").unwrap_err(),
            CarbonCsvError::Empty(_)
        ));
        let short = parse_carbon_csv("location,timestamp,duration,value,hist\nR,t,30\n");
        assert!(
            matches!(
                short,
                Err(CarbonCsvError::Cell {
                    line: 2,
                    column: "value",
                    ..
                })
            ),
            "{short:?}"
        );
        let negative = parse_carbon_csv("location,timestamp,duration,value,hist\nR,t,0,1,2\n");
        assert!(matches!(
            negative,
            Err(CarbonCsvError::Cell {
                column: "duration",
                ..
            })
        ));
        let huge = parse_carbon_csv("location,timestamp,duration,value,hist\nR,t,30,1,1e300\n");
        assert!(matches!(
            huge,
            Err(CarbonCsvError::Cell { column: "hist", .. })
        ));
        let inf = parse_carbon_csv("location,timestamp,duration,value,hist\nR,t,30,1,inf\n");
        assert!(matches!(
            inf,
            Err(CarbonCsvError::Cell { column: "hist", .. })
        ));
        let uneven =
            parse_carbon_csv("location,timestamp,duration,value,hist\nR,t,30,1,2\nR,u,60,1,2\n");
        assert!(matches!(
            uneven,
            Err(CarbonCsvError::UnevenDuration { line: 3, .. })
        ));
    }

    #[test]
    fn too_many_lines_refused_before_parsing() {
        let mut text = String::from("location,timestamp,duration,value,hist\n");
        text.push_str(&"\n".repeat(MAX_CARBON_ROWS + 2));
        assert!(matches!(
            parse_carbon_csv(&text),
            Err(CarbonCsvError::TooLong { .. })
        ));
    }
}
