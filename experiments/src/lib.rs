//! `ergon-experiments`: the research harness of the Ergon project, kept out of the `ergon`
//! command — the paper figures of docs/dpk.md and docs/orloj.md and the synthetic workload
//! generators behind them.
//!
//! - [`dpk`]: `generate` writes the microbenchmark (`dpk-workload/v1`) and the Alibaba-like and
//!   Amazon-like online traces (`dpk-online/v1`); `experiment` reproduces Figs. 4a, 4b, 5, 6b,
//!   7 and 9 (a Markdown table and an SVG figure each).
//! - [`orloj`]: `sweep` measures every batching policy's finish rate against the SLO
//!   multiplier and the execution-time variance (tables and one figure).
//!
//! The `ergon-experiments` binary runs them (`ergon-experiments dpk experiment fig4a`). The
//! `ergon` binary keeps its old spellings (`ergon dpk generate`, `ergon dpk experiment`,
//! `ergon orloj sweep`, `ergon dpk simulate --generate`) as hidden aliases that call this
//! library, so that scripts written against them keep working byte for byte. Figures are drawn
//! by `ergon-plot`, files and standard output follow `ergon-cli-support`'s rules.

pub mod dpk;
pub mod orloj;
