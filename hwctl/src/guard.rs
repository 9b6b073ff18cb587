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

    /// This kind of setting with its value on `device` now as the original (locked clocks have
    /// no value NVML could report: they are restored by a reset).
    pub(crate) fn with_original_of(self, device: &Device) -> Result<Self> {
        Ok(match self {
            Self::PowerLimit { .. } => Self::PowerLimit {
                original_mw: device.power_limit_mw()?,
            },
            Self::PersistenceMode { .. } => Self::PersistenceMode {
                original: device.persistence_mode()?,
            },
            other => other,
        })
    }
}

/// A settings command of the guards: what it changes (recorded before its first change) and
/// how it runs on a device.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Command {
    LockGpuClocks { min_mhz: u32, max_mhz: u32 },
    ResetGpuClocks,
    LockMemoryClocks { min_mhz: u32, max_mhz: u32 },
    ResetMemoryClocks,
    SetPowerLimit { limit_mw: u32 },
    SetPersistenceMode { enabled: bool },
}

impl Command {
    /// The kind of setting the command changes (its original not read yet).
    pub(crate) fn setting(self) -> Setting {
        match self {
            Self::LockGpuClocks { .. } | Self::ResetGpuClocks => Setting::GpuLockedClocks,
            Self::LockMemoryClocks { .. } | Self::ResetMemoryClocks => Setting::MemoryLockedClocks,
            Self::SetPowerLimit { .. } => Setting::PowerLimit { original_mw: 0 },
            Self::SetPersistenceMode { .. } => Setting::PersistenceMode { original: false },
        }
    }

    /// Runs the command on `device`, unrecorded.
    fn run(self, device: &Device) -> Result<()> {
        match self {
            Self::LockGpuClocks { min_mhz, max_mhz } => device.lock_gpu_clocks(min_mhz, max_mhz),
            Self::ResetGpuClocks => device.reset_gpu_clocks(),
            Self::LockMemoryClocks { min_mhz, max_mhz } => {
                device.lock_memory_clocks(min_mhz, max_mhz)
            }
            Self::ResetMemoryClocks => device.reset_memory_clocks(),
            Self::SetPowerLimit { limit_mw } => device.set_power_limit_mw(limit_mw),
            Self::SetPersistenceMode { enabled } => device.set_persistence_mode(enabled),
        }
    }
}

/// The public commands of a guard, written once for [`StateGuard`] and
/// [`crate::PersistentGuard`]: each row names a [`Device`] command and the [`Command`] it
/// becomes; every method hands its command to the guard's `change`, whose error type is
/// `$error`.
macro_rules! recorded_commands {
    ($error:ty) => {
        recorded_commands! {
            $error;
            /// [`Device::lock_gpu_clocks`], recorded.
            lock_gpu_clocks(min_mhz: u32, max_mhz: u32) => Command::LockGpuClocks { min_mhz, max_mhz };
            /// [`Device::reset_gpu_clocks`], recorded.
            reset_gpu_clocks() => Command::ResetGpuClocks;
            /// [`Device::lock_memory_clocks`], recorded.
            lock_memory_clocks(min_mhz: u32, max_mhz: u32) => Command::LockMemoryClocks { min_mhz, max_mhz };
            /// [`Device::reset_memory_clocks`], recorded.
            reset_memory_clocks() => Command::ResetMemoryClocks;
            /// [`Device::set_power_limit_mw`], recorded (the current limit is read first).
            set_power_limit_mw(limit_mw: u32) => Command::SetPowerLimit { limit_mw };
            /// [`Device::set_persistence_mode`], recorded (the current mode is read first).
            set_persistence_mode(enabled: bool) => Command::SetPersistenceMode { enabled };
        }
    };
    (
        $error:ty;
        $($(#[doc = $doc:literal])+ $name:ident($($arg:ident: $ty:ty),*) => $command:expr;)+
    ) => {
        $(
            $(#[doc = $doc])+
            pub fn $name(
                &mut self,
                device: &Device,
                $($arg: $ty),*
            ) -> std::result::Result<(), $error> {
                self.change(device, $command)
            }
        )+
    };
}
pub(crate) use recorded_commands;

/// UUIDs of the devices a guard touched, by handle, so that NVML is asked once per device.
#[derive(Debug, Default)]
pub(crate) struct UuidCache(Vec<(Device, String)>);

impl UuidCache {
    /// The UUID of `device`, asked of NVML the first time only.
    pub(crate) fn get(&mut self, device: &Device) -> Result<String> {
        if let Some((_, uuid)) = self.0.iter().find(|(known, _)| known.same_handle(device)) {
            return Ok(uuid.clone());
        }
        let uuid = device.uuid()?;
        self.0.push((device.clone(), uuid.clone()));
        Ok(uuid)
    }

    fn clear(&mut self) {
        self.0.clear();
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
#[derive(Debug, thiserror::Error)]
#[error("{record}: {error}")]
pub struct RestoreFailure {
    /// What should have been restored.
    pub record: Record,
    /// The error of the last attempt.
    pub error: Error,
}

/// Tells the user (on stderr) what a restore that has no caller to return to, in a destructor
/// or before returning another error, left unrestored.
pub(crate) fn report_restore_failures(result: std::result::Result<(), Vec<RestoreFailure>>) {
    if let Err(failures) = result {
        for failure in failures {
            eprintln!("ergon-hwctl: could not restore {failure}");
        }
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
    /// UUIDs of the devices touched so far.
    uuids: UuidCache,
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

    /// Records the setting `command` changes (if this is its first change on this GPU), then
    /// runs it.
    pub(crate) fn change(&mut self, device: &Device, command: Command) -> Result<()> {
        if device.is_mig() {
            // The device refuses the command itself, with the message that says why.
            return command.run(device);
        }
        let uuid = self.uuids.get(device)?;
        let kind = command.setting();
        let recorded = self
            .records
            .iter()
            .any(|(_, record)| record.uuid == uuid && record.setting.same_kind(&kind));
        if recorded {
            return command.run(device);
        }
        let setting = kind.with_original_of(device)?;
        let result = command.run(device);
        match &result {
            Err(error) if left_unchanged(error) => {}
            _ => self
                .records
                .push((device.clone(), Record { uuid, setting })),
        }
        result
    }

    recorded_commands!(Error);

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
        report_restore_failures(self.restore());
    }
}
