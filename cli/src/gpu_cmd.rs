//! `ergon gpu`: inspect and control NVIDIA GPUs through NVML (ergon-hwctl).
//!
//! `list`, `show` and `monitor` only read. `lock`, `power-limit` change a setting and keep it
//! after the command exits (that is their purpose), recording the original value in the GPU state
//! file first (`ergon_hwctl::StateFile`); `restore` puts back everything that file records, also
//! after a process that used a state guard was killed with SIGKILL. `reset` removes the clock
//! locks of one GPU.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use ergon_hwctl::{
    ClockType, Device, DeviceInfo, Error, GuardOptions, Nvml, PersistentGuard, Record, Setting,
    StateFile,
};
use serde_json::{Value, json};

use crate::output;

/// Arguments of `ergon gpu`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: GpuCommand,
}

#[derive(Subcommand)]
enum GpuCommand {
    /// List the GPUs NVML sees (index, UUID, name, architecture, PCI bus id, MIG mode).
    List {
        /// Print `ergon-gpu-list/v1` JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one GPU: supported and current clocks, power limit and its range, power draw, energy
    /// counter, clock-event reasons.
    Show {
        /// NVML index (0, 1, …) or UUID (GPU-…, MIG-…; a unique prefix of a GPU UUID works).
        #[arg(value_name = "DEV")]
        device: String,
        /// Print `ergon-gpu-show/v1` JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lock the SM (graphics) clock, and optionally the memory clock, to one frequency. The lock
    /// stays after the command exits; `ergon gpu restore` or `ergon gpu reset` removes it.
    /// Needs CAP_SYS_ADMIN.
    Lock {
        /// NVML index or UUID.
        #[arg(value_name = "DEV")]
        device: String,
        /// SM clock, MHz.
        #[arg(long, value_name = "MHZ")]
        sm: u32,
        /// Memory clock, MHz (Ampere and newer).
        #[arg(long, value_name = "MHZ")]
        mem: Option<u32>,
    },
    /// Remove the SM and memory clock locks of one GPU.
    Reset {
        /// NVML index or UUID.
        #[arg(value_name = "DEV")]
        device: String,
    },
    /// Set the power limit. It stays after the command exits; `ergon gpu restore` puts the
    /// original back. Needs CAP_SYS_ADMIN.
    PowerLimit {
        /// NVML index or UUID.
        #[arg(value_name = "DEV")]
        device: String,
        /// The limit, watts.
        #[arg(value_name = "WATTS")]
        watts: f64,
    },
    /// Put back every GPU setting recorded in the state file (by `lock`, `power-limit`, or a
    /// process that was killed before it could restore its own changes).
    Restore,
    /// Print power draw and energy over time.
    Monitor {
        /// NVML index or UUID (default: every GPU).
        #[arg(value_name = "DEV")]
        device: Option<String>,
        /// How long to watch, seconds.
        #[arg(long, value_name = "N")]
        seconds: f64,
        /// Time between samples, milliseconds.
        #[arg(long, value_name = "M", default_value_t = 500)]
        interval_ms: u64,
    },
}

/// Runs `ergon gpu …`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        GpuCommand::List { json } => list(json),
        GpuCommand::Show { device, json } => show(&device, json),
        GpuCommand::Lock { device, sm, mem } => lock(&device, sm, mem),
        GpuCommand::Reset { device } => reset(&device),
        GpuCommand::PowerLimit { device, watts } => power_limit(&device, watts),
        GpuCommand::Restore => restore(),
        GpuCommand::Monitor {
            device,
            seconds,
            interval_ms,
        } => monitor(device.as_deref(), seconds, interval_ms),
    }
}

/// `Ok(None)` for a read the GPU or driver does not support.
fn optional<T>(result: Result<T, Error>) -> Result<Option<T>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.is_not_supported() => Ok(None),
        Err(error) => Err(error),
    }
}

fn watts(mw: u32) -> String {
    let w = f64::from(mw) / 1000.0;
    if mw.is_multiple_of(1000) {
        format!("{w:.0} W")
    } else {
        format!("{w:.3} W")
    }
}

fn or_na<T>(value: Option<T>, show: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "n/a (not supported)".to_owned(), show)
}

/// "GPU 0 (GPU-…, NVIDIA A100-SXM4-40GB)".
fn describe(device: &Device) -> Result<String> {
    let uuid = device.uuid()?;
    let name = optional(device.name())?.unwrap_or_default();
    Ok(match device.index() {
        Ok(index) if !device.is_mig() => format!("GPU {index} ({uuid}, {name})"),
        _ => format!("{uuid} ({name})"),
    })
}

fn mig_text(info: &DeviceInfo) -> String {
    match (&info.mig_parent, info.mig_mode) {
        (Some(parent), _) => format!("MIG device of GPU {} ({})", parent.index, parent.uuid),
        (None, Some(true)) => "on".into(),
        (None, Some(false)) => "off".into(),
        (None, None) => "n/a".into(),
    }
}

fn info_json(info: &DeviceInfo) -> Value {
    json!({
        "index": info.index,
        "uuid": info.uuid,
        "name": info.name,
        "architecture": info.architecture.name(),
        "pci_bus_id": info.pci_bus_id,
        "mig_mode": info.mig_mode,
        "mig_parent": info.mig_parent.as_ref().map(|p| json!({"index": p.index, "uuid": p.uuid})),
    })
}

/// `println!` through [`output::stdout`], returning its error from the enclosing function (a
/// reader that went away, `ergon gpu monitor | head`, ends the command quietly in `main`).
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(output::stdout(), $($arg)*)?
    };
}

fn print_json(value: &Value) -> Result<()> {
    say!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// list

fn list(as_json: bool) -> Result<()> {
    let nvml = Nvml::init()?;
    let driver = optional(nvml.driver_version())?;
    let infos = nvml.list()?;
    if as_json {
        return print_json(&json!({
            "schema": "ergon-gpu-list/v1",
            "driver_version": driver,
            "devices": infos.iter().map(info_json).collect::<Vec<_>>(),
        }));
    }
    say!(
        "NVIDIA driver {}, {} GPU(s)",
        driver.as_deref().unwrap_or("(version unknown)"),
        infos.len()
    );
    if infos.is_empty() {
        return Ok(());
    }
    let header = ["index", "uuid", "name", "architecture", "pci bus id", "mig"];
    let rows: Vec<[String; 6]> = infos
        .iter()
        .map(|info| {
            [
                info.index.to_string(),
                info.uuid.clone(),
                info.name.clone(),
                info.architecture.to_string(),
                info.pci_bus_id.clone().unwrap_or_else(|| "n/a".into()),
                mig_text(info),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ");
            }
        }
        text
    };
    say!("{}", line(&header.map(String::from)));
    for row in &rows {
        say!("{}", line(row));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// show

/// Graphics clocks supported at one memory clock.
struct ClockTable {
    memory_mhz: u32,
    graphics_mhz: Vec<u32>,
}

struct Reading {
    current_mhz: Option<u32>,
    max_mhz: Option<u32>,
}

fn show(spec: &str, as_json: bool) -> Result<()> {
    let nvml = Nvml::init()?;
    let device = nvml.device(spec)?;
    let info = device.info()?;
    let clock = |clock: ClockType| -> Result<Reading, Error> {
        Ok(Reading {
            current_mhz: optional(device.clock_mhz(clock))?,
            max_mhz: optional(device.max_clock_mhz(clock))?,
        })
    };
    let (graphics, sm, memory) = (
        clock(ClockType::Graphics)?,
        clock(ClockType::Sm)?,
        clock(ClockType::Memory)?,
    );
    let memory_clocks = optional(device.supported_memory_clocks_mhz())?;
    let mut tables = Vec::new();
    for &memory_mhz in memory_clocks.as_deref().unwrap_or_default() {
        if let Some(graphics_mhz) = optional(device.supported_graphics_clocks_mhz(memory_mhz))? {
            tables.push(ClockTable {
                memory_mhz,
                graphics_mhz,
            });
        }
    }
    let limit_mw = optional(device.power_limit_mw())?;
    let default_mw = optional(device.default_power_limit_mw())?;
    let enforced_mw = optional(device.enforced_power_limit_mw())?;
    let range = optional(device.power_limit_constraints())?;
    let power_mw = optional(device.power_usage_mw())?;
    let energy_mj = optional(device.total_energy_mj())?;
    let reasons = optional(device.clock_event_reasons())?;
    let persistence = optional(device.persistence_mode())?;

    if as_json {
        let reading = |r: &Reading| json!({"current_mhz": r.current_mhz, "max_mhz": r.max_mhz});
        let mut value = info_json(&info);
        let extra = json!({
            "schema": "ergon-gpu-show/v1",
            "clocks": {
                "graphics": reading(&graphics),
                "sm": reading(&sm),
                "memory": reading(&memory),
            },
            "supported_clocks": memory_clocks.as_ref().map(|_| tables
                .iter()
                .map(|t| json!({"memory_mhz": t.memory_mhz, "graphics_mhz": t.graphics_mhz}))
                .collect::<Vec<_>>()),
            "power_limit_mw": limit_mw,
            "default_power_limit_mw": default_mw,
            "enforced_power_limit_mw": enforced_mw,
            "power_limit_constraints_mw": range.map(|r| json!({"min": r.min_mw, "max": r.max_mw})),
            "power_draw_mw": power_mw,
            "total_energy_mj": energy_mj,
            "clock_event_reasons": reasons.map(|r| json!({"mask": r.0, "names": r.names()})),
            "persistence_mode": persistence,
        });
        if let (Value::Object(base), Value::Object(extra)) = (&mut value, extra) {
            base.extend(extra);
        }
        return print_json(&value);
    }

    let mhz = |v: u32| format!("{v} MHz");
    let mut out = String::new();
    match &info.mig_parent {
        Some(_) => {
            let _ = writeln!(out, "{}: {}", info.uuid, info.name);
        }
        None => {
            let _ = writeln!(out, "GPU {}: {}", info.index, info.name);
        }
    }
    let _ = writeln!(out, "  uuid                 {}", info.uuid);
    let _ = writeln!(out, "  architecture         {}", info.architecture);
    let _ = writeln!(
        out,
        "  pci bus id           {}",
        info.pci_bus_id.as_deref().unwrap_or("n/a")
    );
    let _ = writeln!(out, "  mig                  {}", mig_text(&info));
    let _ = writeln!(
        out,
        "  persistence mode     {}",
        or_na(persistence, |on| if on { "on" } else { "off" }.into())
    );
    for (name, reading) in [("graphics", &graphics), ("sm", &sm), ("memory", &memory)] {
        let _ = writeln!(
            out,
            "  {name:<8} clock       {} (max {})",
            or_na(reading.current_mhz, mhz),
            or_na(reading.max_mhz, mhz)
        );
    }
    match &memory_clocks {
        None => {
            let _ = writeln!(out, "  supported clocks     n/a (not supported)");
        }
        Some(_) => {
            let _ = writeln!(out, "  supported clocks");
            for table in &tables {
                let (low, high) = (
                    table.graphics_mhz.iter().min().copied().unwrap_or(0),
                    table.graphics_mhz.iter().max().copied().unwrap_or(0),
                );
                let _ = writeln!(
                    out,
                    "    memory {} MHz: graphics {low}–{high} MHz ({} clocks)",
                    table.memory_mhz,
                    table.graphics_mhz.len()
                );
            }
        }
    }
    let _ = writeln!(out, "  power limit          {}", or_na(limit_mw, watts));
    let _ = writeln!(
        out,
        "  allowed range        {}",
        or_na(range, |r| format!(
            "{} – {}",
            watts(r.min_mw),
            watts(r.max_mw)
        ))
    );
    let _ = writeln!(out, "  default limit        {}", or_na(default_mw, watts));
    let _ = writeln!(out, "  enforced limit       {}", or_na(enforced_mw, watts));
    let _ = writeln!(out, "  power draw           {}", or_na(power_mw, watts));
    let _ = writeln!(
        out,
        "  energy counter       {}",
        or_na(energy_mj, |mj| format!("{:.3} J", mj as f64 / 1000.0))
    );
    let _ = writeln!(
        out,
        "  clock-event reasons  {}",
        or_na(reasons, |r| r.to_string())
    );
    say!("{}", out.trim_end());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// lock, power-limit, reset, restore

/// A guard that records in the default state file and restores on SIGINT/SIGTERM while the
/// command runs.
fn command_guard() -> Result<PersistentGuard> {
    Ok(PersistentGuard::with_options(GuardOptions::default())?)
}

fn kept_note(file: &StateFile) -> String {
    format!("The original settings are recorded in {file}; `ergon gpu restore` puts them back.")
}

fn lock(spec: &str, sm_mhz: u32, mem_mhz: Option<u32>) -> Result<()> {
    if sm_mhz == 0 || mem_mhz == Some(0) {
        bail!(
            "a clock of 0 MHz cannot be locked; give the frequency in MHz (see `ergon gpu show`)"
        );
    }
    let nvml = Nvml::init()?;
    let device = nvml.device(spec)?;
    let label = describe(&device)?;
    let mut guard = command_guard()?;
    let file = guard
        .state_file()
        .unwrap_or_else(StateFile::default_location);
    guard.lock_gpu_clocks(&device, sm_mhz, sm_mhz)?;
    if let Some(mem) = mem_mhz {
        // On failure the guard is dropped here and removes the SM lock again: all or nothing.
        guard.lock_memory_clocks(&device, mem, mem)?;
    }
    guard.keep_changes();
    match mem_mhz {
        Some(mem) => {
            say!("{label}: SM clock locked at {sm_mhz} MHz, memory clock at {mem} MHz.")
        }
        None => say!("{label}: SM clock locked at {sm_mhz} MHz."),
    }
    say!("{}", kept_note(&file));
    Ok(())
}

fn power_limit(spec: &str, watts_requested: f64) -> Result<()> {
    let limit_mw = watts_requested * 1000.0;
    if !(limit_mw.is_finite() && limit_mw > 0.0) {
        bail!("power limit {watts_requested} W is not a positive number of watts");
    }
    let nvml = Nvml::init()?;
    let device = nvml.device(spec)?;
    let label = describe(&device)?;
    let limit_mw = match in_mw_range(limit_mw) {
        Some(mw) => mw,
        // Beyond what NVML's unsigned milliwatts can hold: no GPU takes it, so say what the
        // GPU's range is (or, where the GPU cannot tell, the largest number NVML can carry).
        None => {
            let side = if limit_mw < 1.0 {
                "below the minimum"
            } else {
                "above the maximum"
            };
            match optional(device.power_limit_constraints())? {
                Some(range) => bail!(
                    "power limit {watts_requested} W for {label} is {side}: the allowed range \
                     is {}..={} mW ({} – {})",
                    range.min_mw,
                    range.max_mw,
                    watts(range.min_mw),
                    watts(range.max_mw)
                ),
                None => bail!(
                    "power limit {watts_requested} W for {label} is {side} NVML can express \
                     (1 mW to {})",
                    watts(u32::MAX)
                ),
            }
        }
    };
    let mut guard = command_guard()?;
    let file = guard
        .state_file()
        .unwrap_or_else(StateFile::default_location);
    guard.set_power_limit_mw(&device, limit_mw)?;
    let was = guard
        .records()
        .iter()
        .find_map(|record| match record.setting {
            Setting::PowerLimit { original_mw } => Some(original_mw),
            _ => None,
        });
    guard.keep_changes();
    match was {
        Some(was) => say!(
            "{label}: power limit set to {} (was {}).",
            watts(limit_mw),
            watts(was)
        ),
        None => say!("{label}: power limit set to {}.", watts(limit_mw)),
    }
    say!("{}", kept_note(&file));
    Ok(())
}

/// `mw` rounded to NVML's unit when it fits one (1 mW to `u32::MAX` mW).
fn in_mw_range(mw: f64) -> Option<u32> {
    let rounded = mw.round();
    (1.0..=f64::from(u32::MAX))
        .contains(&rounded)
        .then_some(rounded as u32)
}

fn reset(spec: &str) -> Result<()> {
    let nvml = Nvml::init()?;
    let device = nvml.device(spec)?;
    let label = describe(&device)?;
    device.reset_gpu_clocks()?;
    let memory = match device.reset_memory_clocks() {
        Ok(()) => "memory clock lock removed",
        // Nothing to remove where memory clocks cannot be locked.
        Err(error) if error.is_not_supported() => "memory clock locks not supported",
        Err(error) => return Err(error.into()),
    };
    say!("{label}: SM clock lock removed, {memory}.");
    // The clocks are back to what the state file says to restore: drop those entries.
    let uuid = device.uuid()?;
    let done = [Setting::GpuLockedClocks, Setting::MemoryLockedClocks].map(|setting| Record {
        uuid: uuid.clone(),
        setting,
    });
    let file = StateFile::default_location();
    if let Err(error) = file.remove(&done) {
        note!("warning: the clocks are reset, but the state file was not updated: {error}");
    }
    Ok(())
}

fn restore() -> Result<()> {
    let file = StateFile::default_location();
    if file.entries()?.is_empty() {
        say!("Nothing to restore: {file} records no GPU setting.");
        return Ok(());
    }
    let report = file.restore()?;
    for record in &report.restored {
        say!("restored {record}");
    }
    for record in &report.not_found {
        say!("skipped {record}: NVML knows no such GPU here (kept in the state file)");
    }
    for failure in &report.failed {
        say!("FAILED {failure}");
    }
    for pid in &report.running_owners {
        note!(
            "warning: process {pid}, which changed a restored setting, is still running and may \
             change it again"
        );
    }
    if !report.is_complete() {
        bail!(
            "{} GPU setting(s) could not be restored; they stay in {file} (fix the cause and run \
             `ergon gpu restore` again)",
            report.failed.len()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// monitor

/// One GPU being watched.
struct Watched {
    device: Device,
    label: String,
    /// Counter value at the start (mJ), when the GPU has the counter.
    counter_start_mj: Option<u64>,
    /// Energy integrated from power samples (J), for GPUs without the counter.
    integrated_j: f64,
    last_sample: Option<(f64, f64)>,
    /// Energy since the start at the latest sample, J.
    last_energy_j: f64,
}

impl Watched {
    /// Power (W) and energy since the start (J) at time `t_s`.
    fn sample(&mut self, t_s: f64) -> Result<(Option<f64>, f64)> {
        let power_w = optional(self.device.power_usage_mw())?.map(|mw| f64::from(mw) / 1000.0);
        let energy_j = match self.counter_start_mj {
            Some(start) => {
                let now = self.device.total_energy_mj()?;
                now.saturating_sub(start) as f64 / 1000.0
            }
            None => {
                if let Some(power) = power_w {
                    if let Some((t0, p0)) = self.last_sample {
                        self.integrated_j += (t_s - t0) * (p0 + power) / 2.0;
                    }
                    self.last_sample = Some((t_s, power));
                }
                self.integrated_j
            }
        };
        self.last_energy_j = energy_j;
        Ok((power_w, energy_j))
    }
}

fn monitor(spec: Option<&str>, seconds: f64, interval_ms: u64) -> Result<()> {
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 7.0 * 24.0 * 3600.0 {
        bail!("--seconds {seconds} is not a duration between 0 and one week");
    }
    if interval_ms < 10 {
        bail!("--interval-ms {interval_ms} is too short (at least 10 ms)");
    }
    let nvml = Nvml::init()?;
    let devices = match spec {
        Some(spec) => vec![nvml.device(spec)?],
        None => nvml.devices()?,
    };
    if devices.is_empty() {
        bail!("NVML sees no GPU to monitor");
    }
    let mut watched = Vec::new();
    for device in devices {
        let label = match device.index() {
            Ok(index) if !device.is_mig() => format!("GPU {index}"),
            _ => device.uuid()?,
        };
        let has_counter = device.architecture()?.has_energy_counter();
        let counter_start_mj = if has_counter {
            optional(device.total_energy_mj()).context("reading the energy counter")?
        } else {
            None
        };
        let method = if counter_start_mj.is_some() {
            "energy counter"
        } else {
            "power sampling (trapezoid rule)"
        };
        say!("{} — energy from the {method}", describe(&device)?);
        watched.push(Watched {
            device,
            label,
            counter_start_mj,
            integrated_j: 0.0,
            last_sample: None,
            last_energy_j: 0.0,
        });
    }
    let start = Instant::now();
    for gpu in &mut watched {
        // Count from now, not from when the GPU was looked at.
        if gpu.counter_start_mj.is_some() {
            gpu.counter_start_mj = Some(gpu.device.total_energy_mj()?);
        }
        gpu.sample(0.0)?;
    }
    say!(
        "{:>8}  {:<10}  {:>10}  {:>12}",
        "time_s",
        "gpu",
        "power_w",
        "energy_j"
    );
    let interval = Duration::from_millis(interval_ms);
    let total = Duration::from_secs_f64(seconds);
    let mut tick = 1u32;
    let last_t = loop {
        let due = interval.saturating_mul(tick).min(total);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let t_s = start.elapsed().as_secs_f64();
        for gpu in &mut watched {
            let (power, energy) = gpu.sample(t_s)?;
            let power = power.map_or_else(|| "n/a".to_owned(), |p| format!("{p:.1}"));
            say!("{t_s:>8.3}  {:<10}  {power:>10}  {energy:>12.3}", gpu.label);
        }
        if due >= total {
            break t_s;
        }
        tick += 1;
    };
    for gpu in &watched {
        let energy = gpu.last_energy_j;
        let average = if last_t > 0.0 { energy / last_t } else { 0.0 };
        say!(
            "{}: {energy:.3} J in {last_t:.3} s (average {average:.1} W)",
            gpu.label
        );
    }
    Ok(())
}
