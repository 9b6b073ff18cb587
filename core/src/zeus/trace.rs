//! The Zeus NSDI'23 traces and what the simulator derives from them (zeus-simulator.md
//! §1.1–1.4): the train trace (one row per training path: the epoch at which a run of a
//! workload at a batch size reached a target metric) and the power trace (per workload, batch
//! size and power limit: time per epoch and average power), parsed from CSV *text* (core does
//! no I/O); the six paper workloads; their merge into a [`WorkloadTrace`]; and the
//! just-in-time power-limit choice with the expected time, energy and cost per batch size.
//!
//! Nothing here assumes a GPU: batch sizes, power limits and the maximum power come from the
//! traces.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{Eta, ZeusError, epoch_cost, zeus_cost};

/// Most data rows a trace may have (the real ones have a few thousand); checked before the
/// rows are allocated.
pub const MAX_ROWS: usize = 1_000_000;
/// Longest accepted line, in bytes.
pub const MAX_LINE_BYTES: usize = 4096;

/// Why a trace's text was rejected; line and column are 1-based (the header is line 1). The
/// caller adds the file name.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TraceError {
    /// No header line.
    #[error("empty file: no header line")]
    NoHeader,
    /// The header lacks a required column.
    #[error("line 1: the header has no column `{name}` (needs {needed})")]
    MissingColumn {
        /// The missing column.
        name: &'static str,
        /// Every column this trace needs.
        needed: &'static str,
    },
    /// The header names a column twice.
    #[error("line 1, column {column}: column `{name}` appears twice in the header")]
    DuplicateColumn {
        /// The repeated name.
        name: String,
        /// Its second position.
        column: usize,
    },
    /// Only a header.
    #[error("no data rows after the header")]
    NoRows,
    /// More rows than [`MAX_ROWS`].
    #[error("{rows} data rows, more than the limit {limit}")]
    TooManyRows {
        /// Rows found.
        rows: usize,
        /// The limit.
        limit: usize,
    },
    /// A line longer than [`MAX_LINE_BYTES`].
    #[error("line {line}: {bytes} bytes, longer than the limit {limit}")]
    LineTooLong {
        /// The line.
        line: usize,
        /// Its length.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// A row with another number of cells than the header.
    #[error("line {line}: {found} cells, the header has {expected}")]
    CellCount {
        /// The line.
        line: usize,
        /// Cells on it.
        found: usize,
        /// Cells in the header.
        expected: usize,
    },
    /// A cell that is not what its column holds.
    #[error("line {line}, column {column} (`{name}`): {problem}")]
    Cell {
        /// The line.
        line: usize,
        /// The 1-based column.
        column: usize,
        /// The column's name.
        name: &'static str,
        /// What is wrong, quoting the cell.
        problem: String,
    },
    /// Two power rows for the same workload, batch size and power limit.
    #[error("line {line}: a second power row for {key} (the first is on line {first})")]
    DuplicatePowerRow {
        /// The line.
        line: usize,
        /// The first row's line.
        first: usize,
        /// dataset/network/optimizer, batch size, power limit.
        key: String,
    },
}

/// One row of the train trace: a training path.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainRow {
    /// Dataset (the workload's name).
    pub dataset: String,
    /// Network.
    pub network: String,
    /// Optimizer.
    pub optimizer: String,
    /// Batch size.
    pub batch_size: u32,
    /// The target metric this row is about (the simulator only filters on it).
    pub target_metric: f64,
    /// Epochs (1-based count) the run needed to reach it; `None` (empty or NaN cell): never.
    pub target_epoch: Option<f64>,
}

/// One row of the power trace.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerRow {
    /// Dataset.
    pub dataset: String,
    /// Network.
    pub network: String,
    /// Optimizer.
    pub optimizer: String,
    /// Batch size.
    pub batch_size: u32,
    /// GPU power limit, whole watts.
    pub power_limit_w: u32,
    /// Time of one epoch at that limit, seconds.
    pub time_per_epoch_s: f64,
    /// Average power over the epoch, watts.
    pub average_power_w: f64,
}

/// The train trace (`dataset,network,batch_size,optimizer,learning_rate,run,target_metric,
/// target_epoch`; `learning_rate` and `run` are not read, extra columns are allowed).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainTrace {
    /// Rows in file order (the order paths are sampled in).
    pub rows: Vec<TrainRow>,
}

/// The power trace (`dataset,network,batch_size,optimizer,power_limit,time_per_epoch,
/// average_power`).
#[derive(Debug, Clone, PartialEq)]
pub struct PowerTrace {
    /// Rows in file order.
    pub rows: Vec<PowerRow>,
}

const TRAIN_COLUMNS: [&str; 6] = [
    "dataset",
    "network",
    "batch_size",
    "optimizer",
    "target_metric",
    "target_epoch",
];
const TRAIN_NEEDED: &str = "dataset, network, batch_size, optimizer, target_metric, target_epoch";
const POWER_COLUMNS: [&str; 7] = [
    "dataset",
    "network",
    "batch_size",
    "optimizer",
    "power_limit",
    "time_per_epoch",
    "average_power",
];
const POWER_NEEDED: &str =
    "dataset, network, batch_size, optimizer, power_limit, time_per_epoch, average_power";

/// A CSV table of plain cells (no quoting inside cells; surrounding double quotes and spaces
/// are stripped), with the positions of the wanted columns.
struct Table<'a, const N: usize> {
    lines: core::iter::Enumerate<core::str::Lines<'a>>,
    positions: [usize; N],
    width: usize,
    names: [&'static str; N],
}

impl<'a, const N: usize> Table<'a, N> {
    fn open(
        text: &'a str,
        names: [&'static str; N],
        needed: &'static str,
    ) -> Result<(Self, usize), TraceError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // Bound the allocation by the row count before any row is stored.
        let rows = text
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .count();
        if rows > MAX_ROWS {
            return Err(TraceError::TooManyRows {
                rows,
                limit: MAX_ROWS,
            });
        }
        let mut lines = text.lines().enumerate();
        let header = match lines.next() {
            Some((i, l)) if !l.trim().is_empty() => (i, l),
            _ => return Err(TraceError::NoHeader),
        };
        check_length(header.0 + 1, header.1)?;
        let cells: Vec<&str> = header.1.split(',').map(clean).collect();
        for (i, c) in cells.iter().enumerate() {
            if cells[..i].contains(c) {
                return Err(TraceError::DuplicateColumn {
                    name: (*c).to_string(),
                    column: i + 1,
                });
            }
        }
        let mut positions = [0; N];
        for (p, name) in positions.iter_mut().zip(names) {
            *p = cells
                .iter()
                .position(|c| *c == name)
                .ok_or(TraceError::MissingColumn { name, needed })?;
        }
        if rows == 0 {
            return Err(TraceError::NoRows);
        }
        Ok((
            Self {
                lines,
                positions,
                width: cells.len(),
                names,
            },
            rows,
        ))
    }

    /// The next non-blank row: its 1-based line and the wanted cells.
    fn next_row(&mut self) -> Option<Result<(usize, [Cell<'a>; N]), TraceError>> {
        for (i, l) in self.lines.by_ref() {
            if l.trim().is_empty() {
                continue;
            }
            let line = i + 1;
            if let Err(e) = check_length(line, l) {
                return Some(Err(e));
            }
            let cells: Vec<&str> = l.split(',').map(clean).collect();
            if cells.len() != self.width {
                return Some(Err(TraceError::CellCount {
                    line,
                    found: cells.len(),
                    expected: self.width,
                }));
            }
            let out = core::array::from_fn(|k| Cell {
                text: cells[self.positions[k]],
                line,
                column: self.positions[k] + 1,
                name: self.names[k],
            });
            return Some(Ok((line, out)));
        }
        None
    }
}

fn check_length(line: usize, l: &str) -> Result<(), TraceError> {
    if l.len() > MAX_LINE_BYTES {
        return Err(TraceError::LineTooLong {
            line,
            bytes: l.len(),
            limit: MAX_LINE_BYTES,
        });
    }
    Ok(())
}

fn clean(cell: &str) -> &str {
    let c = cell.trim();
    c.strip_prefix('"')
        .and_then(|c| c.strip_suffix('"'))
        .unwrap_or(c)
}

/// One cell with where it is, for error messages.
#[derive(Clone, Copy)]
struct Cell<'a> {
    text: &'a str,
    line: usize,
    column: usize,
    name: &'static str,
}

impl Cell<'_> {
    fn err(&self, problem: String) -> TraceError {
        TraceError::Cell {
            line: self.line,
            column: self.column,
            name: self.name,
            problem,
        }
    }

    fn name_text(&self) -> Result<String, TraceError> {
        if self.text.is_empty() {
            return Err(self.err("empty cell".into()));
        }
        Ok(self.text.to_string())
    }

    fn number(&self) -> Result<f64, TraceError> {
        let v: f64 = self
            .text
            .parse()
            .map_err(|_| self.err(format!("not a number: `{}`", self.text)))?;
        if !v.is_finite() {
            return Err(self.err(format!("not a finite number: `{}`", self.text)));
        }
        Ok(v)
    }

    fn positive(&self) -> Result<f64, TraceError> {
        let v = self.number()?;
        if v <= 0.0 {
            return Err(self.err(format!("must be > 0, got `{}`", self.text)));
        }
        Ok(v)
    }

    /// A whole positive number that fits u32 (`64` or `64.0`).
    fn whole(&self) -> Result<u32, TraceError> {
        let v = self.positive()?;
        if v != libm::trunc(v) || v > f64::from(u32::MAX) {
            return Err(self.err(format!(
                "must be a whole number in 1..={}, got `{}`",
                u32::MAX,
                self.text
            )));
        }
        Ok(v as u32)
    }

    /// An epoch count, or `None` for an empty or NaN cell (never reached).
    fn epoch(&self) -> Result<Option<f64>, TraceError> {
        if self.text.is_empty() || self.text.eq_ignore_ascii_case("nan") {
            return Ok(None);
        }
        let v = self.number()?;
        if v < 0.0 {
            return Err(self.err(format!("must be >= 0 or empty/NaN, got `{}`", self.text)));
        }
        Ok(Some(v))
    }
}

impl TrainTrace {
    /// Parses the train trace's CSV text.
    pub fn parse(text: &str) -> Result<Self, TraceError> {
        let (mut table, n) = Table::open(text, TRAIN_COLUMNS, TRAIN_NEEDED)?;
        let mut rows = Vec::with_capacity(n);
        while let Some(row) = table.next_row() {
            let (
                _,
                [
                    dataset,
                    network,
                    batch_size,
                    optimizer,
                    target_metric,
                    target_epoch,
                ],
            ) = row?;
            rows.push(TrainRow {
                dataset: dataset.name_text()?,
                network: network.name_text()?,
                optimizer: optimizer.name_text()?,
                batch_size: batch_size.whole()?,
                target_metric: target_metric.number()?,
                target_epoch: target_epoch.epoch()?,
            });
        }
        Ok(Self { rows })
    }
}

impl PowerTrace {
    /// Parses the power trace's CSV text. A second row for the same workload, batch size and
    /// power limit is an error (the reference would silently double that limit's paths).
    pub fn parse(text: &str) -> Result<Self, TraceError> {
        let (mut table, n) = Table::open(text, POWER_COLUMNS, POWER_NEEDED)?;
        let mut rows = Vec::with_capacity(n);
        let mut seen: BTreeMap<(String, String, String, u32, u32), usize> = BTreeMap::new();
        while let Some(row) = table.next_row() {
            let (line, [dataset, network, batch_size, optimizer, pl, time, power]) = row?;
            let r = PowerRow {
                dataset: dataset.name_text()?,
                network: network.name_text()?,
                optimizer: optimizer.name_text()?,
                batch_size: batch_size.whole()?,
                power_limit_w: pl.whole()?,
                time_per_epoch_s: time.positive()?,
                average_power_w: power.positive()?,
            };
            let key = (
                r.dataset.clone(),
                r.network.clone(),
                r.optimizer.clone(),
                r.batch_size,
                r.power_limit_w,
            );
            if let Some(&first) = seen.get(&key) {
                return Err(TraceError::DuplicatePowerRow {
                    line,
                    first,
                    key: format!(
                        "{}/{}/{}, batch size {}, {} W",
                        r.dataset, r.network, r.optimizer, r.batch_size, r.power_limit_w
                    ),
                });
            }
            seen.insert(key, line);
            rows.push(r);
        }
        Ok(Self { rows })
    }
}

/// A paper workload: which rows of the traces it is, its target and its defaults
/// (`get_job_with_defaults` of the artifact's `run_alibaba.py`; zeus-simulator.md §1.2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WorkloadSpec {
    /// Dataset, the name the commands take.
    pub dataset: &'static str,
    /// Network.
    pub network: &'static str,
    /// Optimizer.
    pub optimizer: &'static str,
    /// Target metric (the train trace's `target_metric` value to select).
    pub target_metric: f64,
    /// Epoch budget of one run.
    pub max_epochs: u32,
    /// Default batch size before capping at the trace's largest (b0 = min(this, bmax)).
    pub default_batch_size: u32,
}

/// The six NSDI'23 workloads.
pub const WORKLOADS: [WorkloadSpec; 6] = [
    WorkloadSpec {
        dataset: "cifar100",
        network: "shufflenetv2",
        optimizer: "adadelta",
        target_metric: 0.6,
        max_epochs: 100,
        default_batch_size: 1024,
    },
    WorkloadSpec {
        dataset: "imagenet",
        network: "resnet50",
        optimizer: "adadelta",
        target_metric: 0.65,
        max_epochs: 100,
        default_batch_size: 256,
    },
    WorkloadSpec {
        dataset: "squad",
        network: "bert_base_uncased",
        optimizer: "adamw",
        target_metric: 84.0,
        max_epochs: 6,
        default_batch_size: 32,
    },
    WorkloadSpec {
        dataset: "librispeech",
        network: "deepspeech2",
        optimizer: "adamw",
        target_metric: 40.0,
        max_epochs: 16,
        default_batch_size: 256,
    },
    WorkloadSpec {
        dataset: "movielens-1m",
        network: "ncf",
        optimizer: "adam",
        target_metric: 0.41,
        max_epochs: 100,
        default_batch_size: 1024,
    },
    WorkloadSpec {
        dataset: "sentiment140",
        network: "bert_base_uncased",
        optimizer: "adamw",
        target_metric: 0.84,
        max_epochs: 10,
        default_batch_size: 128,
    },
];

/// The workload named `dataset`, or an error listing the known names.
pub fn workload(dataset: &str) -> Result<WorkloadSpec, ZeusError> {
    WORKLOADS
        .iter()
        .find(|w| w.dataset == dataset)
        .copied()
        .ok_or_else(|| ZeusError::UnknownWorkload {
            name: dataset.to_string(),
            known: WORKLOADS
                .iter()
                .map(|w| w.dataset)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Time and power of one epoch at one power limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochProfile {
    /// Seconds per epoch.
    pub time_per_epoch_s: f64,
    /// Average power, watts.
    pub average_power_w: f64,
}

impl EpochProfile {
    /// Energy of one epoch, joules.
    pub fn energy_per_epoch_j(&self) -> f64 {
        self.time_per_epoch_s * self.average_power_w
    }
}

/// One workload's slice of the merged traces (the reference's inner merge on
/// dataset/network/batch size/optimizer, filtered to the workload and its target metric).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadTrace {
    /// The workload.
    pub spec: WorkloadSpec,
    /// b0 = min(spec default, largest batch size of the dataset in the power trace).
    pub default_batch_size: u32,
    /// Batch sizes with training paths for the target and power rows, ascending.
    pub batch_sizes: Vec<u32>,
    /// The workload's power limits, ascending; every batch size has each of them.
    pub power_limits_w: Vec<u32>,
    /// MaxPower of the cost: the largest power limit anywhere in the merged trace (all
    /// workloads), watts.
    pub max_power_w: f64,
    /// Per batch size: the training paths' target epochs in train-trace order (`None`: never
    /// reached).
    pub paths: Vec<Vec<Option<f64>>>,
    /// Per batch size, per power limit (ascending): the epoch's time and power.
    pub profiles: Vec<Vec<EpochProfile>>,
}

/// The power limit the just-in-time optimizer picks for one batch size and what reaching the
/// target costs there (the mean over the training paths that reach it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchSizeChoice {
    /// The batch size.
    pub batch_size: u32,
    /// The chosen power limit, watts.
    pub power_limit_w: u32,
    /// Every training path reaches the target within the epoch budget.
    pub feasible: bool,
    /// Training paths of this batch size.
    pub paths: usize,
    /// Of them, those that reach the target.
    pub reaching_paths: usize,
    /// Mean time to reach the target, seconds (`None`: no path reaches it).
    pub time_s: Option<f64>,
    /// Mean energy to reach it, joules.
    pub energy_j: Option<f64>,
    /// Cost of that mean time and energy, joules.
    pub cost: Option<f64>,
}

impl WorkloadTrace {
    /// Merges the traces for `spec`, checking that what the simulator needs is there.
    pub fn new(
        spec: WorkloadSpec,
        train: &TrainTrace,
        power: &PowerTrace,
    ) -> Result<Self, ZeusError> {
        let is_job = |d: &str, n: &str, o: &str| {
            d == spec.dataset && n == spec.network && o == spec.optimizer
        };
        // MaxPower: the largest power limit of any power row that merges with a train row.
        let mut train_keys: Vec<(&str, &str, &str, u32)> = train
            .rows
            .iter()
            .map(|r| {
                (
                    r.dataset.as_str(),
                    r.network.as_str(),
                    r.optimizer.as_str(),
                    r.batch_size,
                )
            })
            .collect();
        train_keys.sort_unstable();
        train_keys.dedup();
        let max_power_w = power
            .rows
            .iter()
            .filter(|r| {
                train_keys
                    .binary_search(&(
                        r.dataset.as_str(),
                        r.network.as_str(),
                        r.optimizer.as_str(),
                        r.batch_size,
                    ))
                    .is_ok()
            })
            .map(|r| r.power_limit_w)
            .max()
            .unwrap_or(0);
        // bmax: the dataset's largest batch size in the power trace.
        let bmax = power
            .rows
            .iter()
            .filter(|r| r.dataset == spec.dataset)
            .map(|r| r.batch_size)
            .max();
        let mut by_bs: BTreeMap<u32, BTreeMap<u32, EpochProfile>> = BTreeMap::new();
        for r in power
            .rows
            .iter()
            .filter(|r| is_job(&r.dataset, &r.network, &r.optimizer))
        {
            by_bs.entry(r.batch_size).or_default().insert(
                r.power_limit_w,
                EpochProfile {
                    time_per_epoch_s: r.time_per_epoch_s,
                    average_power_w: r.average_power_w,
                },
            );
        }
        let mut paths_by_bs: BTreeMap<u32, Vec<Option<f64>>> = BTreeMap::new();
        for r in train.rows.iter().filter(|r| {
            is_job(&r.dataset, &r.network, &r.optimizer) && r.target_metric == spec.target_metric
        }) {
            if by_bs.contains_key(&r.batch_size) {
                paths_by_bs
                    .entry(r.batch_size)
                    .or_default()
                    .push(r.target_epoch);
            }
        }
        if paths_by_bs.is_empty() {
            return Err(ZeusError::NoBatchSizesInTraces {
                workload: spec.dataset.to_string(),
                target_metric: spec.target_metric,
            });
        }
        let batch_sizes: Vec<u32> = paths_by_bs.keys().copied().collect();
        let mut power_limits_w: Vec<u32> = batch_sizes
            .iter()
            .flat_map(|b| by_bs[b].keys().copied())
            .collect();
        power_limits_w.sort_unstable();
        power_limits_w.dedup();
        let mut profiles = Vec::with_capacity(batch_sizes.len());
        for b in &batch_sizes {
            let have = &by_bs[b];
            let missing_w: Vec<u32> = power_limits_w
                .iter()
                .copied()
                .filter(|p| !have.contains_key(p))
                .collect();
            if !missing_w.is_empty() {
                return Err(ZeusError::MissingPowerLimits {
                    workload: spec.dataset.to_string(),
                    batch_size: *b,
                    missing_w,
                });
            }
            profiles.push(have.values().copied().collect());
        }
        let default_batch_size = spec
            .default_batch_size
            .min(bmax.unwrap_or(spec.default_batch_size));
        if batch_sizes.binary_search(&default_batch_size).is_err() {
            return Err(ZeusError::DefaultNotInTraces {
                workload: spec.dataset.to_string(),
                batch_size: default_batch_size,
                batch_sizes,
            });
        }
        Ok(Self {
            spec,
            default_batch_size,
            paths: paths_by_bs.into_values().collect(),
            batch_sizes,
            power_limits_w,
            max_power_w: f64::from(max_power_w),
            profiles,
        })
    }

    /// Index of `batch_size` in [`batch_sizes`](Self::batch_sizes).
    pub fn index_of(&self, batch_size: u32) -> Option<usize> {
        self.batch_sizes.binary_search(&batch_size).ok()
    }

    /// The workload's largest power limit, watts (the max PL of every batch size's slice).
    pub fn max_power_limit_w(&self) -> u32 {
        self.power_limits_w.last().copied().unwrap_or(0)
    }

    /// The artifact's recurrence count: 2 · |batch sizes| · |power limits|.
    pub fn recurrences(&self) -> u32 {
        let n = 2 * self.batch_sizes.len() * self.power_limits_w.len();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Index (into [`power_limits_w`](Self::power_limits_w)) of the power limit the
    /// just-in-time optimizer picks for batch-size index `b`: the lowest epoch cost
    /// (Equation 7, priced with the slice's largest limit), ties to the higher limit.
    pub fn power_limit_choice(&self, b: usize, eta: Eta) -> usize {
        let max_pl = f64::from(self.max_power_limit_w());
        let mut best: Option<(f64, usize)> = None;
        // High to low with a strict `<`: the first (higher) limit keeps a tie.
        for (i, p) in self.profiles[b].iter().enumerate().rev() {
            let c = epoch_cost(p.average_power_w, p.time_per_epoch_s, eta, max_pl);
            if best.is_none_or(|(bc, _)| c < bc) {
                best = Some((c, i));
            }
        }
        best.map_or(0, |(_, i)| i)
    }

    /// Whether a path with `target_epoch` reaches the target within `max_epochs` epochs.
    pub fn reaches(target_epoch: Option<f64>, max_epochs: f64) -> bool {
        target_epoch.is_some_and(|e| e <= max_epochs)
    }

    /// The just-in-time choice and expected time/energy/cost of batch-size index `b` at `eta`.
    pub fn choice(&self, b: usize, eta: Eta) -> BatchSizeChoice {
        let pl = self.power_limit_choice(b, eta);
        let prof = self.profiles[b][pl];
        let budget = f64::from(self.spec.max_epochs);
        let paths = &self.paths[b];
        let (mut n, mut time, mut energy) = (0usize, 0.0, 0.0);
        for e in paths
            .iter()
            .filter(|e| Self::reaches(**e, budget))
            .flatten()
        {
            let tta = e * prof.time_per_epoch_s;
            n += 1;
            time += tta;
            energy += tta * prof.average_power_w;
        }
        let (time_s, energy_j, cost) = if n == 0 {
            (None, None, None)
        } else {
            let (t, e) = (time / n as f64, energy / n as f64);
            (
                Some(t),
                Some(e),
                Some(zeus_cost(e, t, eta, self.max_power_w)),
            )
        };
        BatchSizeChoice {
            batch_size: self.batch_sizes[b],
            power_limit_w: self.power_limits_w[pl],
            feasible: n == paths.len(),
            paths: paths.len(),
            reaching_paths: n,
            time_s,
            energy_j,
            cost,
        }
    }

    /// [`choice`](Self::choice) for every batch size, ascending.
    pub fn choices(&self, eta: Eta) -> Vec<BatchSizeChoice> {
        (0..self.batch_sizes.len())
            .map(|b| self.choice(b, eta))
            .collect()
    }

    /// The feasible choice of lowest expected cost (the first on a tie), if any is feasible.
    pub fn optimum(choices: &[BatchSizeChoice]) -> Option<BatchSizeChoice> {
        let mut best: Option<(f64, BatchSizeChoice)> = None;
        for c in choices.iter().filter(|c| c.feasible) {
            if let Some(cost) = c.cost
                && best.is_none_or(|(bc, _)| cost < bc)
            {
                best = Some((cost, *c));
            }
        }
        best.map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const TRAIN: &str =
        "dataset,network,batch_size,optimizer,learning_rate,run,target_metric,target_epoch
cifar100,shufflenetv2,64,adadelta,1e-1,1,0.6,10
cifar100,shufflenetv2,64,adadelta,1e-1,2,0.6,12
cifar100,shufflenetv2,64,adadelta,1e-1,1,0.5,3
cifar100,shufflenetv2,128,adadelta,1e-1,1,0.6,
cifar100,shufflenetv2,128,adadelta,1e-1,2,0.6,8
cifar100,shufflenetv2,512,adadelta,1e-1,1,0.6,9
";
    const POWER: &str =
        "dataset,network,batch_size,optimizer,power_limit,time_per_epoch,average_power
cifar100,shufflenetv2,64,adadelta,100,20,90
cifar100,shufflenetv2,64,adadelta,200,10,190
cifar100,shufflenetv2,128,adadelta,100,10,100
cifar100,shufflenetv2,128,adadelta,200,6,150
cifar100,shufflenetv2,128,adam,300,1,1
";

    fn cifar() -> WorkloadTrace {
        WorkloadTrace::new(
            workload("cifar100").unwrap(),
            &TrainTrace::parse(TRAIN).unwrap(),
            &PowerTrace::parse(POWER).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn merge_keeps_batch_sizes_in_both_traces_and_reads_limits_from_them() {
        let t = cifar();
        // 512 has no power rows; the adam row is another workload (its 300 W does not
        // merge: no adam train row), so MaxPower is 200 W.
        assert_eq!(t.batch_sizes, [64, 128]);
        assert_eq!(t.power_limits_w, [100, 200]);
        assert_eq!(t.max_power_w, 200.0);
        // b0 = min(1024, largest cifar100 batch size in the power trace = 128).
        assert_eq!(t.default_batch_size, 128);
        assert_eq!(
            t.paths,
            [vec![Some(10.0), Some(12.0)], vec![None, Some(8.0)]]
        );
        assert_eq!(t.recurrences(), 8);
    }

    #[test]
    fn choice_is_the_lowest_epoch_cost_and_the_mean_over_reaching_paths() {
        let t = cifar();
        let eta = Eta::new(0.5).unwrap();
        // bs 64: 100 W costs (45 + 100)·20 = 2900, 200 W (95 + 100)·10 = 1950 → 200 W;
        // paths 10 and 12 epochs: mean time 110 s, energy 110·190 = 20900 J.
        let c = t.choice(0, eta);
        assert_eq!(
            (c.power_limit_w, c.feasible, c.reaching_paths),
            (200, true, 2)
        );
        assert_eq!(c.time_s, Some(110.0));
        assert_eq!(c.energy_j, Some(20900.0));
        assert_eq!(c.cost, Some(0.5 * 20900.0 + 0.5 * 200.0 * 110.0));
        // bs 128: 100 W (50 + 100)·10 = 1500, 200 W (75 + 100)·6 = 1050 → 200 W; one of two
        // paths reaches: infeasible, and the optimum is 64.
        let c = t.choice(1, eta);
        assert_eq!(
            (c.power_limit_w, c.feasible, c.reaching_paths),
            (200, false, 1)
        );
        assert_eq!(c.time_s, Some(48.0));
        let opt = WorkloadTrace::optimum(&t.choices(eta)).unwrap();
        assert_eq!(opt.batch_size, 64);
        // η = 1 (energy only): 64 at 100 W is 1800 J/epoch vs 1900 → 100 W.
        assert_eq!(t.choice(0, Eta::new(1.0).unwrap()).power_limit_w, 100);
    }

    #[test]
    fn a_tie_goes_to_the_higher_limit() {
        // η = 1: both limits cost 1000 J per epoch.
        let power = "dataset,network,batch_size,optimizer,power_limit,time_per_epoch,average_power
cifar100,shufflenetv2,64,adadelta,100,10,100
cifar100,shufflenetv2,64,adadelta,200,5,200
";
        let t = WorkloadTrace::new(
            workload("cifar100").unwrap(),
            &TrainTrace::parse(TRAIN).unwrap(),
            &PowerTrace::parse(power).unwrap(),
        )
        .unwrap();
        assert_eq!(t.choice(0, Eta::new(1.0).unwrap()).power_limit_w, 200);
    }

    #[test]
    fn errors_name_line_and_column() {
        let bad = TRAIN.replace("0.6,12", "0.6,twelve");
        assert_eq!(
            TrainTrace::parse(&bad).unwrap_err().to_string(),
            "line 3, column 8 (`target_epoch`): not a number: `twelve`"
        );
        let bad = POWER.replace("64,adadelta,200,10", "64,adadelta,2x0,10");
        assert_eq!(
            PowerTrace::parse(&bad).unwrap_err(),
            TraceError::Cell {
                line: 3,
                column: 5,
                name: "power_limit",
                problem: "not a number: `2x0`".into()
            }
        );
        assert_eq!(
            PowerTrace::parse("dataset,network\n").unwrap_err(),
            TraceError::MissingColumn {
                name: "batch_size",
                needed: POWER_NEEDED
            }
        );
        assert_eq!(TrainTrace::parse("").unwrap_err(), TraceError::NoHeader);
        assert_eq!(
            TrainTrace::parse(TRAIN.lines().next().unwrap()).unwrap_err(),
            TraceError::NoRows
        );
        let bad = POWER.replace(",190\n", ",190,7\n");
        assert_eq!(
            PowerTrace::parse(&bad).unwrap_err(),
            TraceError::CellCount {
                line: 3,
                found: 8,
                expected: 7
            }
        );
        let dup = alloc::format!("{POWER}cifar100,shufflenetv2,64,adadelta,100,1,1\n");
        assert!(matches!(
            PowerTrace::parse(&dup).unwrap_err(),
            TraceError::DuplicatePowerRow {
                line: 7,
                first: 2,
                ..
            }
        ));
        let bad = POWER.replace("64,adadelta,200,10,190", "64,adadelta,200,-10,190");
        assert!(PowerTrace::parse(&bad).is_err());
    }

    #[test]
    fn workload_errors() {
        assert!(matches!(
            workload("mnist"),
            Err(ZeusError::UnknownWorkload { .. })
        ));
        let train = TrainTrace::parse(TRAIN).unwrap();
        // bs 128 lacks the 200 W row that 64 has.
        let power =
            PowerTrace::parse(&POWER.replace("cifar100,shufflenetv2,128,adadelta,200,6,150\n", ""))
                .unwrap();
        assert_eq!(
            WorkloadTrace::new(workload("cifar100").unwrap(), &train, &power).unwrap_err(),
            ZeusError::MissingPowerLimits {
                workload: "cifar100".into(),
                batch_size: 128,
                missing_w: alloc::vec![200]
            }
        );
        assert!(matches!(
            WorkloadTrace::new(
                workload("imagenet").unwrap(),
                &train,
                &PowerTrace::parse(POWER).unwrap()
            ),
            Err(ZeusError::NoBatchSizesInTraces { .. })
        ));
    }
}
