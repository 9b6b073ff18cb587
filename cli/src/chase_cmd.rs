//! `ergon chase`: carbon-intensity forecasts over a carbon trace (`forecast`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use ergon_core::chase::formats::forecast_json;
use ergon_core::chase::{
    CarbonTrace, ForecastMethod, REFERENCE_HISTORY, forecast_series, mean_absolute_error,
    parse_carbon_csv,
};

use crate::output;

/// Arguments of `ergon chase`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One-step-ahead forecasts of a carbon trace's `hist` column from a start slot on, each
    /// made only from the slots before it, and their mean absolute error.
    Forecast(ForecastArgs),
}

/// The forecaster's choice on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Method {
    /// ½ persistence + ½ the LS-SVM (the default).
    Ergon,
    /// The previous slot's intensity.
    Persistence,
    /// The reference SVR's features and hyper-parameters as a least-squares SVM.
    SvrLike,
}

impl From<Method> for ForecastMethod {
    fn from(m: Method) -> Self {
        match m {
            Method::Ergon => ForecastMethod::Ergon,
            Method::Persistence => ForecastMethod::Persistence,
            Method::SvrLike => ForecastMethod::SvrLike,
        }
    }
}

/// Where the forecasts come from: the trace, the window, the method.
#[derive(clap::Args)]
struct ForecastSource {
    /// Carbon trace CSV (`location,timestamp,duration,value,hist`, as Chase's carbon_hist.csv).
    #[arg(long, value_name = "CARBON.csv")]
    carbon: PathBuf,
    /// Training window: slots before the start the model is trained on.
    #[arg(long, value_name = "SLOTS", default_value_t = REFERENCE_HISTORY)]
    history: usize,
    /// First slot (0-based row) forecast.
    #[arg(long, value_name = "SLOT", default_value_t = REFERENCE_HISTORY)]
    start: usize,
    /// Forecasting method.
    #[arg(long, value_enum, default_value = "ergon")]
    method: Method,
}

#[derive(clap::Args)]
struct ForecastArgs {
    #[command(flatten)]
    source: ForecastSource,
    /// Print `chase-forecast/v1` JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `ergon chase`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Cmd::Forecast(a) => forecast_cmd(a),
    }
}

/// Reads and parses a carbon trace; errors name the file (and the parser its line and column).
fn read_carbon(path: &Path) -> Result<CarbonTrace> {
    let text = output::read_text(path)?;
    parse_carbon_csv(&text).with_context(|| format!("{}", path.display()))
}

/// The trace, and the forecasts of its rows from `start` on.
fn load_forecasts(s: &ForecastSource) -> Result<(CarbonTrace, Vec<f64>)> {
    let trace = read_carbon(&s.carbon)?;
    let forecasts = forecast_series(
        &trace.hist_g_per_kwh(),
        s.history,
        s.start,
        trace.slots_per_day(),
        s.method.into(),
    )
    .with_context(|| format!("forecasting {}", s.carbon.display()))?;
    Ok((trace, forecasts))
}

fn forecast_cmd(a: ForecastArgs) -> Result<()> {
    let (trace, forecasts) = load_forecasts(&a.source)?;
    let s = &a.source;
    let method: ForecastMethod = s.method.into();
    let mut out = output::stdout();
    if a.json {
        writeln!(
            out,
            "{}",
            forecast_json(&trace, s.history, s.start, method, &forecasts)
        )?;
        return Ok(());
    }
    let hist = trace.hist_g_per_kwh();
    let actual = &hist[s.start..];
    writeln!(
        out,
        "{} slots of {} min from slot {} ({}), method {}, trained on the {} slots before",
        forecasts.len(),
        trace.interval_min(),
        s.start,
        trace.records()[s.start].timestamp,
        method.name(),
        s.history
    )?;
    writeln!(
        out,
        "{:>5}  {:<26} {:>9} {:>9} {:>8}",
        "slot", "timestamp", "forecast", "actual", "error"
    )?;
    for (i, (f, a)) in forecasts.iter().zip(actual).enumerate() {
        writeln!(
            out,
            "{:>5}  {:<26} {:>9.2} {:>9.2} {:>+8.2}",
            s.start + i,
            trace.records()[s.start + i].timestamp,
            f,
            a,
            f - a
        )?;
    }
    writeln!(out, "mean absolute error, gCO2/kWh:")?;
    for m in [
        ForecastMethod::Ergon,
        ForecastMethod::Persistence,
        ForecastMethod::SvrLike,
    ] {
        let f = forecast_series(&hist, s.history, s.start, trace.slots_per_day(), m)?;
        writeln!(
            out,
            "  {:<12} {:.3}{}",
            m.name(),
            mean_absolute_error(&f, actual),
            if m == method { "  (shown above)" } else { "" }
        )?;
    }
    Ok(())
}
