//! [`StateGuard`]: change GPU settings and put them back.

use std::fmt;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::nvml::Nvml;

/// A GPU setting as it was before a [`StateGuard`] first changed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Setting {
    /// The graphics clocks were locked (or their lock reset). NVML cannot report an existing
    /// lock, so restoring means removing the lock (`nvmlDeviceResetGpuLockedClocks`).
    GpuLockedClocks,
    /// The memory clocks were locked (or reset); restored by removing the lock.
    MemoryLockedClocks,
    /// The power limit, with its value before the first change.
    PowerLimit {
        /// The limit to restore, mW.
        original_mw: u32,
    },
    /// Persistence mode, with its value before the first change.
    PersistenceMode {
        /// The mode to restore.
        original: bool,
    },
}

impl Setting {
    fn same_kind(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::GpuLockedClocks => f.write_str("locked GPU clocks (restored by a reset)"),
            Self::MemoryLockedClocks => f.write_str("locked memory clocks (restored by a reset)"),
            Self::PowerLimit { original_mw } => {
                write!(f, "power limit (originally {original_mw} mW)")
            }
            Self::PersistenceMode { original } => write!(
                f,
                "persistence mode (originally {})",
                if *original { "on" } else { "off" }
            ),
        }
    }
}

/// One setting of one GPU to restore: what a state file needs to put a GPU back after the
/// process that changed it is gone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    /// The GPU's UUID.
    pub uuid: String,
    /// The setting and its original value.
    pub setting: Setting,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.uuid, self.setting)
    }
}

/// A setting that could not be restored, and why.
#[derive(Debug)]
pub struct RestoreFailure {
    /// What should have been restored.
    pub record: Record,
    /// The error of the last attempt.
    pub error: Error,
}

impl fmt::Display for RestoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.record, self.error)
    }
}

/// Errors that prove a command changed nothing, so there is nothing to restore.
fn left_unchanged(error: &Error) -> bool {
    matches!(
        error,
        Error::NoPermission { .. }
            | Error::NotSupported { .. }
            | Error::FunctionNotFound { .. }
            | Error::MigDevice { .. }
            | Error::InvalidClockRange { .. }
            | Error::PowerLimitOutOfRange { .. }
            | Error::InvalidArgument { .. }
    )
}

fn undo(device: &Device, setting: Setting) -> Result<()> {
    match setting {
        Setting::GpuLockedClocks => device.reset_gpu_clocks(),
        Setting::MemoryLockedClocks => device.reset_memory_clocks(),
        Setting::PowerLimit { original_mw } => device.set_power_limit_mw(original_mw),
        Setting::PersistenceMode { original } => device.set_persistence_mode(original),
    }
}

/// Undoes one setting, retrying once after an error that may be transient.
fn undo_with_retry(device: &Device, setting: Setting) -> Result<()> {
    match undo(device, setting) {
        Err(error) if !left_unchanged(&error) => undo(device, setting),
        other => other,
    }
}

/// Puts one recorded setting back on the GPU with the record's UUID (what `ergon gpu restore`
/// does with a state file). Retries once after an error that may be transient.
pub fn restore_record(nvml: &Nvml, record: &Record) -> Result<()> {
    let device = nvml.device_by_uuid(&record.uuid)?;
    undo_with_retry(&device, record.setting)
}

/// Changes GPU settings and restores them.
///
/// Before the first change of each setting of each GPU, the guard records the setting (reading
/// the current power limit or persistence mode; locked clocks are recorded as "reset to
/// restore", since NVML cannot report an existing lock). [`StateGuard::restore`] (or dropping the
/// guard, including during a panic) undoes every recorded setting, most recent first; a failed
/// undo is retried once. A command that failed in a way that proves it changed nothing
/// (permission, not supported, invalid argument, MIG) records nothing.
///
/// Signal handling and the on-disk state file are not part of the guard: [`StateGuard::records`]
/// gives what a state file must hold, and [`restore_record`] puts one record back.
#[derive(Debug, Default)]
pub struct StateGuard {
    /// Records in the order of first change, with the device to undo them on.
    records: Vec<(Device, Record)>,
    /// UUIDs of the devices touched so far, by handle, to ask NVML only once.
    uuids: Vec<(Device, String)>,
}

impl StateGuard {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// What the guard would restore, in the order the settings were first changed.
    pub fn records(&self) -> Vec<Record> {
        self.records
            .iter()
            .map(|(_, record)| record.clone())
            .collect()
    }

    /// Gives up restoring: the changes stay, and the records are returned (for a command whose
    /// purpose is to change a setting and that writes the originals to a state file).
    pub fn keep_changes(mut self) -> Vec<Record> {
        self.uuids.clear();
        std::mem::take(&mut self.records)
            .into_iter()
            .map(|(_, record)| record)
            .collect()
    }

    fn uuid(&mut self, device: &Device) -> Result<String> {
        if let Some((_, uuid)) = self
            .uuids
            .iter()
            .find(|(known, _)| known.same_handle(device))
        {
            return Ok(uuid.clone());
        }
        let uuid = device.uuid()?;
        self.uuids.push((device.clone(), uuid.clone()));
        Ok(uuid)
    }

    /// Records `kind` (if this is its first change on this GPU), then applies `apply`.
    fn change(
        &mut self,
        device: &Device,
        kind: Setting,
        apply: impl FnOnce(&Device) -> Result<()>,
    ) -> Result<()> {
        if device.is_mig() {
            // The device refuses the command itself, with the message that says why.
            return apply(device);
        }
        let uuid = self.uuid(device)?;
        let recorded = self
            .records
            .iter()
            .any(|(_, record)| record.uuid == uuid && record.setting.same_kind(&kind));
        if recorded {
            return apply(device);
        }
        let setting = match kind {
            Setting::PowerLimit { .. } => Setting::PowerLimit {
                original_mw: device.power_limit_mw()?,
            },
            Setting::PersistenceMode { .. } => Setting::PersistenceMode {
                original: device.persistence_mode()?,
            },
            other => other,
        };
        let result = apply(device);
        match &result {
            Err(error) if left_unchanged(error) => {}
            _ => self
                .records
                .push((device.clone(), Record { uuid, setting })),
        }
        result
    }

    /// [`Device::lock_gpu_clocks`], recorded.
    pub fn lock_gpu_clocks(&mut self, device: &Device, min_mhz: u32, max_mhz: u32) -> Result<()> {
        self.change(device, Setting::GpuLockedClocks, |device| {
            device.lock_gpu_clocks(min_mhz, max_mhz)
        })
    }

    /// [`Device::reset_gpu_clocks`], recorded.
    pub fn reset_gpu_clocks(&mut self, device: &Device) -> Result<()> {
        self.change(device, Setting::GpuLockedClocks, Device::reset_gpu_clocks)
    }

    /// [`Device::lock_memory_clocks`], recorded.
    pub fn lock_memory_clocks(
        &mut self,
        device: &Device,
        min_mhz: u32,
        max_mhz: u32,
    ) -> Result<()> {
        self.change(device, Setting::MemoryLockedClocks, |device| {
            device.lock_memory_clocks(min_mhz, max_mhz)
        })
    }

    /// [`Device::reset_memory_clocks`], recorded.
    pub fn reset_memory_clocks(&mut self, device: &Device) -> Result<()> {
        self.change(
            device,
            Setting::MemoryLockedClocks,
            Device::reset_memory_clocks,
        )
    }

    /// [`Device::set_power_limit_mw`], recorded (the current limit is read first).
    pub fn set_power_limit_mw(&mut self, device: &Device, limit_mw: u32) -> Result<()> {
        self.change(device, Setting::PowerLimit { original_mw: 0 }, |device| {
            device.set_power_limit_mw(limit_mw)
        })
    }

    /// [`Device::set_persistence_mode`], recorded (the current mode is read first).
    pub fn set_persistence_mode(&mut self, device: &Device, enabled: bool) -> Result<()> {
        self.change(
            device,
            Setting::PersistenceMode { original: false },
            |device| device.set_persistence_mode(enabled),
        )
    }

    /// Undoes every recorded setting, most recent first, and forgets them. Every setting is
    /// attempted even if an earlier one fails; the failures are returned.
    pub fn restore(&mut self) -> std::result::Result<(), Vec<RestoreFailure>> {
        let mut failures = Vec::new();
        while let Some((device, record)) = self.records.pop() {
            if let Err(error) = undo_with_retry(&device, record.setting) {
                failures.push(RestoreFailure { record, error });
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            failures.reverse();
            Err(failures)
        }
    }
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        if let Err(failures) = self.restore() {
            for failure in failures {
                eprintln!("ergon-hwctl: could not restore {failure}");
            }
        }
    }
}
