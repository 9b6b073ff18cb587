//! The GPU state file, and [`PersistentGuard`]: a [`StateGuard`] that writes the original value
//! of every setting to that file before it first changes it.
//!
//! A process that changes GPU settings through a [`StateGuard`] puts them back when it ends
//! normally, panics, or (with [`PersistentGuard`]) receives SIGINT or SIGTERM. A process killed
//! with SIGKILL (or by the OOM killer, or a power cut of the host's user session) cannot; the
//! state file is what it leaves behind, and [`restore_from_state_file`] (`ergon gpu restore`)
//! puts every GPU named in it back.
//!
//! # Where the file is
//!
//! `gpu-state.json` ([`STATE_FILE_NAME`]) in the first of:
//!
//! 1. `$ERGON_STATE_DIR` ([`STATE_DIR_ENV`]), if set and not empty;
//! 2. `$XDG_RUNTIME_DIR/ergon`, if `XDG_RUNTIME_DIR` is set and not empty;
//! 3. `/tmp/ergon-$UID` (created with mode 0700; refused unless it is a real directory owned by
//!    the user and closed to others).
//!
//! The directory is created when the first entry is written. Run `ergon gpu restore` as the same
//! user and with the same environment as the process that changed the settings (for example both
//! with `sudo`), so that it finds the same file. Both runtime directories are emptied at reboot,
//! as are the GPU settings themselves (they last until the driver is reloaded).
//!
//! # Format (`ergon-gpu-state/v1`)
//!
//! A JSON object; `entries` lists one object per (GPU, setting), in the order they were first
//! recorded:
//!
//! ```json
//! {
//!   "schema": "ergon-gpu-state/v1",
//!   "entries": [
//!     { "uuid": "GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab", "setting": "gpu_locked_clocks",
//!       "owners": [4242], "recorded_unix_s": 1767225600 },
//!     { "uuid": "GPU-f0000000-5a6b-4c3d-8e9f-0123456789ab", "setting": "power_limit",
//!       "original_mw": 300000, "owners": [4242, 4250], "recorded_unix_s": 1767225601 }
//!   ]
//! }
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `uuid` | the GPU (`GPU-…`); MIG devices are never recorded, since they refuse every command |
//! | `setting` | `gpu_locked_clocks` or `memory_locked_clocks` (restored by resetting the lock: NVML cannot report an existing lock), `power_limit` (with `original_mw`, the limit in mW before the first change), `persistence_mode` (with `original_enabled`, a boolean) |
//! | `owners` | process ids of the processes that changed the setting and have not restored it yet |
//! | `recorded_unix_s` | when the entry was first written (seconds since the Unix epoch) |
//!
//! Readers ignore fields they do not know; a different `schema` is an error.
//!
//! # Merging
//!
//! Every update takes an exclusive lock on `gpu-state.json.lock` beside the file, reads the file,
//! changes it, and replaces it atomically (write `gpu-state.json.tmp.<pid>`, fsync, rename), so
//! several processes and several GPUs share one file safely. A (GPU, setting) pair has at most
//! one entry, and **the first recorded original wins**: a second process that changes a setting
//! already recorded (and so sees the first process's value as "original") only adds its process
//! id to `owners`. A process that restored its settings removes its id; an entry with no owner
//! left is removed; the file is deleted when no entry is left. [`StateFile::restore`] restores
//! every entry whatever its owners, and removes the entries it restored.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::device::Device;
use crate::error::Error;
use crate::guard::{
    Command, Record, RestoreFailure, Setting, StateGuard, UuidCache, recorded_commands,
    report_restore_failures, restore_record,
};
use crate::nvml::Nvml;
use crate::signals;

/// The environment variable that names the directory of the state file.
pub const STATE_DIR_ENV: &str = "ERGON_STATE_DIR";

/// The state file's name inside its directory.
pub const STATE_FILE_NAME: &str = "gpu-state.json";

/// The `schema` value of the state file.
pub const STATE_SCHEMA: &str = "ergon-gpu-state/v1";

/// Errors of the state file and of [`PersistentGuard`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// An NVML call failed.
    #[error(transparent)]
    Nvml(#[from] Error),

    /// Reading or writing the state file (or its directory or lock) failed.
    #[error("GPU state file {}: cannot {action}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done, e.g. "write".
        action: &'static str,
        /// The operating system's error.
        source: io::Error,
    },

    /// The state file exists but is not a valid `ergon-gpu-state/v1` document.
    #[error(
        "GPU state file {} is not a valid {STATE_SCHEMA} file: {reason}; repair it, or delete it \
         once every GPU it names has been checked",
        .path.display()
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The default directory in `/tmp` exists but is not private to this user.
    #[error(
        "refusing to keep the GPU state file in {}: {reason}; remove it, or set {STATE_DIR_ENV} \
         to a private directory",
        .path.display()
    )]
    UnsafeDirectory {
        /// The directory.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },

    /// Installing the SIGINT/SIGTERM handlers failed.
    #[error("cannot install the SIGINT/SIGTERM handlers that restore GPU settings: {0}")]
    Signals(io::Error),
}

/// One entry of the state file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateEntry {
    /// The GPU and the setting with its original value.
    pub record: Record,
    /// Ids of the processes that changed the setting and have not restored it.
    pub owners: Vec<u32>,
    /// When the entry was first written, seconds since the Unix epoch.
    pub recorded_unix_s: u64,
}

/// What [`StateFile::restore`] did.
#[derive(Debug, Default)]
pub struct RestoreReport {
    /// The settings put back (and removed from the file), most recent first.
    pub restored: Vec<Record>,
    /// The settings that could not be put back; they stay in the file.
    pub failed: Vec<RestoreFailure>,
    /// The settings of GPUs that NVML does not know on this machine; they stay in the file.
    pub not_found: Vec<Record>,
    /// Processes that recorded a restored setting and are still running (they may change it
    /// again, or restore it themselves when they end).
    pub running_owners: Vec<u32>,
}

impl RestoreReport {
    /// True when nothing failed (settings of unknown GPUs do not count as failures).
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }
}

/// The key of a setting in the file.
fn setting_name(setting: &Setting) -> &'static str {
    match setting {
        Setting::GpuLockedClocks => "gpu_locked_clocks",
        Setting::MemoryLockedClocks => "memory_locked_clocks",
        Setting::PowerLimit { .. } => "power_limit",
        Setting::PersistenceMode { .. } => "persistence_mode",
    }
}

/// Same GPU and same kind of setting (whatever the original values).
fn same_key(a: &Record, b: &Record) -> bool {
    a.uuid == b.uuid && setting_name(&a.setting) == setting_name(&b.setting)
}

#[derive(Serialize, Deserialize)]
struct Document {
    schema: String,
    #[serde(default)]
    entries: Vec<RawEntry>,
}

#[derive(Serialize, Deserialize)]
struct RawEntry {
    uuid: String,
    setting: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    original_mw: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    original_enabled: Option<bool>,
    #[serde(default)]
    owners: Vec<u32>,
    #[serde(default)]
    recorded_unix_s: u64,
}

impl RawEntry {
    fn from_entry(entry: &StateEntry) -> Self {
        let (original_mw, original_enabled) = match entry.record.setting {
            Setting::PowerLimit { original_mw } => (Some(original_mw), None),
            Setting::PersistenceMode { original } => (None, Some(original)),
            Setting::GpuLockedClocks | Setting::MemoryLockedClocks => (None, None),
        };
        Self {
            uuid: entry.record.uuid.clone(),
            setting: setting_name(&entry.record.setting).to_owned(),
            original_mw,
            original_enabled,
            owners: entry.owners.clone(),
            recorded_unix_s: entry.recorded_unix_s,
        }
    }

    fn into_entry(self, number: usize) -> Result<StateEntry, String> {
        let missing = |field: &str| {
            format!(
                "entry {number} ({} {}) has no {field}",
                self.uuid, self.setting
            )
        };
        let setting = match self.setting.as_str() {
            "gpu_locked_clocks" => Setting::GpuLockedClocks,
            "memory_locked_clocks" => Setting::MemoryLockedClocks,
            "power_limit" => Setting::PowerLimit {
                original_mw: self.original_mw.ok_or_else(|| missing("original_mw"))?,
            },
            "persistence_mode" => Setting::PersistenceMode {
                original: self
                    .original_enabled
                    .ok_or_else(|| missing("original_enabled"))?,
            },
            other => {
                return Err(format!(
                    "entry {number} has an unknown setting {other:?} (expected \
                     gpu_locked_clocks, memory_locked_clocks, power_limit or persistence_mode)"
                ));
            }
        };
        if self.uuid.is_empty() {
            return Err(format!("entry {number} has an empty uuid"));
        }
        Ok(StateEntry {
            record: Record {
                uuid: self.uuid,
                setting,
            },
            owners: self.owners,
            recorded_unix_s: self.recorded_unix_s,
        })
    }
}

/// Parses the text of a state file (empty text is an empty file).
fn parse(path: &Path, text: &str) -> Result<Vec<StateEntry>, StateError> {
    let format = |reason: String| StateError::Format {
        path: path.to_owned(),
        reason,
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let document: Document = serde_json::from_str(text).map_err(|e| format(e.to_string()))?;
    if document.schema != STATE_SCHEMA {
        return Err(format(format!(
            "its schema is {:?}, expected {STATE_SCHEMA:?}",
            document.schema
        )));
    }
    document
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, raw)| raw.into_entry(i + 1).map_err(&format))
        .collect()
}

fn render(entries: &[StateEntry]) -> String {
    let document = Document {
        schema: STATE_SCHEMA.to_owned(),
        entries: entries.iter().map(RawEntry::from_entry).collect(),
    };
    // Serializing plain strings, integers and booleans cannot fail.
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_default();
    text.push('\n');
    text
}

fn now_unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(unix)]
fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

#[cfg(not(unix))]
fn current_uid() -> u32 {
    0
}

/// True if a process with this id exists (it may belong to another user).
#[cfg(unix)]
fn process_is_running(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(not(unix))]
fn process_is_running(_pid: u32) -> bool {
    false
}

/// The directory of the state file from the environment, and whether it is the shared `/tmp`
/// fallback (which must be checked for ownership).
fn dir_from(
    state_dir: Option<OsString>,
    runtime_dir: Option<OsString>,
    uid: u32,
) -> (PathBuf, bool) {
    if let Some(dir) = state_dir.filter(|dir| !dir.is_empty()) {
        return (PathBuf::from(dir), false);
    }
    if let Some(dir) = runtime_dir.filter(|dir| !dir.is_empty()) {
        return (PathBuf::from(dir).join("ergon"), false);
    }
    (PathBuf::from(format!("/tmp/ergon-{uid}")), true)
}

/// The directory of the default state file: `$ERGON_STATE_DIR`, else `$XDG_RUNTIME_DIR/ergon`,
/// else `/tmp/ergon-$UID`.
pub fn default_state_dir() -> PathBuf {
    dir_from(
        std::env::var_os(STATE_DIR_ENV),
        std::env::var_os("XDG_RUNTIME_DIR"),
        current_uid(),
    )
    .0
}

/// A state file at a path (its format and location are described at the top of `hwctl/src/statefile.rs`).
///
/// Cheap to clone; every method opens the file anew, so one value may be shared by threads and
/// the file by processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateFile {
    path: PathBuf,
    /// The directory is the shared `/tmp` fallback: check that it is private before using it.
    check_private_dir: bool,
}

impl StateFile {
    /// The state file at exactly this path.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            check_private_dir: false,
        }
    }

    /// `gpu-state.json` in the default directory ([`default_state_dir`]), as the environment says
    /// now.
    pub fn default_location() -> Self {
        let (dir, check_private_dir) = dir_from(
            std::env::var_os(STATE_DIR_ENV),
            std::env::var_os("XDG_RUNTIME_DIR"),
            current_uid(),
        );
        Self {
            path: dir.join(STATE_FILE_NAME),
            check_private_dir,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io_error(&self, path: &Path, action: &'static str) -> impl FnOnce(io::Error) -> StateError {
        let path = path.to_owned();
        move |source| StateError::Io {
            path,
            action,
            source,
        }
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map(OsString::from)
            .unwrap_or_else(|| OsString::from(STATE_FILE_NAME));
        name.push(suffix);
        self.path.with_file_name(name)
    }

    /// The entries, in the order they were recorded; none if the file does not exist.
    pub fn entries(&self) -> Result<Vec<StateEntry>, StateError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => parse(&self.path, &text),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(error) => Err(self.io_error(&self.path, "read")(error)),
        }
    }

    fn ensure_dir(&self) -> Result<(), StateError> {
        let Some(dir) = self.path.parent().filter(|dir| !dir.as_os_str().is_empty()) else {
            return Ok(());
        };
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(self.io_error(dir, "create the directory"))?;
        #[cfg(unix)]
        if self.check_private_dir {
            use std::os::unix::fs::MetadataExt;
            let meta = fs::symlink_metadata(dir).map_err(self.io_error(dir, "inspect"))?;
            let unsafe_dir = |reason: String| StateError::UnsafeDirectory {
                path: dir.to_owned(),
                reason,
            };
            if !meta.file_type().is_dir() {
                return Err(unsafe_dir(
                    "it is not a directory (a symbolic link?)".into(),
                ));
            }
            if meta.uid() != current_uid() {
                return Err(unsafe_dir(format!(
                    "it belongs to user {}, not to you (user {})",
                    meta.uid(),
                    current_uid()
                )));
            }
            if meta.mode() & 0o022 != 0 {
                return Err(unsafe_dir(format!(
                    "others may write to it (mode {:o})",
                    meta.mode() & 0o7777
                )));
            }
        }
        Ok(())
    }

    /// Reads, changes and atomically rewrites the file under its lock.
    fn update<R>(&self, change: impl FnOnce(&mut Vec<StateEntry>) -> R) -> Result<R, StateError> {
        self.ensure_dir()?;
        let lock_path = self.sibling(".lock");
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let lock = options
            .open(&lock_path)
            .map_err(self.io_error(&lock_path, "open the lock file"))?;
        lock.lock()
            .map_err(self.io_error(&lock_path, "lock the lock file"))?;
        let mut entries = self.entries()?;
        let before = render(&entries);
        let result = change(&mut entries);
        if render(&entries) != before {
            self.write(&entries)?;
        }
        drop(lock);
        Ok(result)
    }

    fn write(&self, entries: &[StateEntry]) -> Result<(), StateError> {
        if entries.is_empty() {
            return match fs::remove_file(&self.path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => {
                    Err(self.io_error(&self.path, "delete")(error))
                }
                _ => Ok(()),
            };
        }
        let temporary = self.sibling(&format!(".tmp.{}", std::process::id()));
        let write = || -> io::Result<()> {
            let mut options = OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&temporary)?;
            file.write_all(render(entries).as_bytes())?;
            file.sync_all()?;
            fs::rename(&temporary, &self.path)?;
            // Make the rename itself durable (best effort).
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
                && let Ok(dir) = File::open(dir)
            {
                let _ = dir.sync_all();
            }
            Ok(())
        };
        write().map_err(|source| {
            let _ = fs::remove_file(&temporary);
            StateError::Io {
                path: self.path.clone(),
                action: "write",
                source,
            }
        })
    }

    /// Records that process `owner` is about to change `record`'s setting. If the (GPU, setting)
    /// pair has no entry yet, one is added with `record`'s original value and the result is
    /// `true`; otherwise the first recorded original is kept, `owner` joins its owners, and the
    /// result is `false`.
    pub fn add(&self, record: &Record, owner: u32) -> Result<bool, StateError> {
        self.update(|entries| {
            if let Some(entry) = entries.iter_mut().find(|e| same_key(&e.record, record)) {
                if !entry.owners.contains(&owner) {
                    entry.owners.push(owner);
                }
                false
            } else {
                entries.push(StateEntry {
                    record: record.clone(),
                    owners: vec![owner],
                    recorded_unix_s: now_unix_s(),
                });
                true
            }
        })
    }

    /// Records that process `owner` restored these settings (matched by GPU and kind of
    /// setting): it leaves their owners, and entries without owners are removed.
    pub fn release(&self, records: &[Record], owner: u32) -> Result<(), StateError> {
        if records.is_empty() {
            return Ok(());
        }
        self.update(|entries| {
            for entry in entries.iter_mut() {
                if records.iter().any(|r| same_key(&entry.record, r)) {
                    entry.owners.retain(|&pid| pid != owner);
                }
            }
            entries.retain(|entry| !entry.owners.is_empty());
        })
    }

    /// Removes the entries equal to these records (same GPU, setting and original value),
    /// whatever their owners: the settings are back to what the entries say.
    pub fn remove(&self, records: &[Record]) -> Result<(), StateError> {
        if records.is_empty() {
            return Ok(());
        }
        self.update(|entries| entries.retain(|entry| !records.contains(&entry.record)))
    }

    /// Puts back every setting the file records (most recent first), initializing NVML only if
    /// there is something to restore, and removes the entries that were restored. Entries that
    /// fail, and entries of GPUs this machine does not have, stay in the file.
    pub fn restore(&self) -> Result<RestoreReport, StateError> {
        if self.entries()?.is_empty() {
            return Ok(RestoreReport::default());
        }
        let nvml = Nvml::init()?;
        self.restore_with(&nvml)
    }

    /// [`StateFile::restore`] with an existing NVML session.
    pub fn restore_with(&self, nvml: &Nvml) -> Result<RestoreReport, StateError> {
        let entries = self.entries()?;
        let mut report = RestoreReport::default();
        for entry in entries.iter().rev() {
            match restore_record(nvml, &entry.record) {
                Ok(()) => {
                    report.restored.push(entry.record.clone());
                    let me = std::process::id();
                    for &pid in &entry.owners {
                        if pid != me
                            && !report.running_owners.contains(&pid)
                            && process_is_running(pid)
                        {
                            report.running_owners.push(pid);
                        }
                    }
                }
                Err(Error::NoSuchDevice { .. }) => report.not_found.push(entry.record.clone()),
                Err(error) => report.failed.push(RestoreFailure {
                    record: entry.record.clone(),
                    error,
                }),
            }
        }
        self.remove(&report.restored)?;
        Ok(report)
    }
}

impl fmt::Display for StateFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())
    }
}

/// Puts back every GPU setting recorded in the default state file
/// ([`StateFile::default_location`]): what `ergon gpu restore` does after a process that changed
/// settings was killed with SIGKILL.
pub fn restore_from_state_file() -> Result<RestoreReport, StateError> {
    StateFile::default_location().restore()
}

// -------------------------------------------------------------------------------------------
// PersistentGuard

/// How a [`PersistentGuard`] keeps its records.
#[derive(Clone, Debug)]
pub struct GuardOptions {
    /// The state file to write the originals to; `None` keeps them in memory only (a plain
    /// [`StateGuard`] with signal handling).
    pub state_file: Option<StateFile>,
    /// Restore this guard's settings on SIGINT and SIGTERM, then end the process
    /// ([`crate::install_signal_handlers`]).
    pub restore_on_signal: bool,
}

impl Default for GuardOptions {
    /// The default state file, and restore on SIGINT/SIGTERM.
    fn default() -> Self {
        Self {
            state_file: Some(StateFile::default_location()),
            restore_on_signal: true,
        }
    }
}

/// The guard's state, shared with the signal watcher thread.
#[derive(Debug)]
pub(crate) struct Shared {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    guard: StateGuard,
    file: Option<StateFile>,
    /// UUIDs of the devices touched so far (the file's own cache: the inner guard keeps one
    /// too, and asks NVML once more itself).
    uuids: UuidCache,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// How many settings the guard would restore.
    pub(crate) fn pending(&self) -> usize {
        self.guard.records().len()
    }

    /// Restores every recorded setting and removes this process from the state file entries of
    /// those it restored.
    pub(crate) fn restore(&mut self) -> Result<(), Vec<RestoreFailure>> {
        let records = self.guard.records();
        let result = self.guard.restore();
        if let Some(file) = &self.file {
            let failed: Vec<&Record> = match &result {
                Ok(()) => Vec::new(),
                Err(failures) => failures.iter().map(|f| &f.record).collect(),
            };
            let restored: Vec<Record> = records
                .into_iter()
                .filter(|record| !failed.contains(&record))
                .collect();
            if let Err(error) = file.release(&restored, std::process::id()) {
                eprintln!("ergon-hwctl: restored the GPU settings, but {error}");
            }
        }
        result
    }

    /// Writes the original of the setting `command` changes to the state file (unless already
    /// recorded), then runs the command through the guard; takes this process's claim back if
    /// the guard recorded nothing (the command provably changed nothing).
    fn change(&mut self, device: &Device, command: Command) -> Result<(), StateError> {
        let Some(file) = self.file.clone() else {
            return Ok(self.guard.change(device, command)?);
        };
        if device.is_mig() {
            // The device refuses the command with the message that says why.
            return Ok(self.guard.change(device, command)?);
        }
        let probe = Record {
            uuid: self.uuids.get(device)?,
            setting: command.setting(),
        };
        if self.guard.records().iter().any(|r| same_key(r, &probe)) {
            return Ok(self.guard.change(device, command)?);
        }
        let record = Record {
            setting: probe.setting.with_original_of(device)?,
            ..probe
        };
        let me = std::process::id();
        file.add(&record, me)?;
        let before = self.guard.records().len();
        let result = self.guard.change(device, command);
        if self.guard.records().len() == before {
            // Best effort: a leftover claim only makes `ergon gpu restore` redo a no-op.
            let _ = file.release(std::slice::from_ref(&record), me);
        }
        Ok(result?)
    }
}

/// A [`StateGuard`] that also survives the process: before it first changes a setting of a GPU,
/// it writes the original value to a [`StateFile`]; it restores every setting on drop, during a
/// panic, and (unless turned off) on SIGINT and SIGTERM, and then removes its entries from the
/// file. After a SIGKILL, the file is left, and [`restore_from_state_file`] (`ergon gpu restore`)
/// puts the GPUs back.
///
/// If the state file cannot be written, the change is not made ([`StateError::Io`]). A command
/// that fails in a way that proves it changed nothing leaves no entry behind.
///
/// ```no_run
/// use ergon_hwctl::{Nvml, PersistentGuard};
///
/// let nvml = Nvml::init()?;
/// let gpu = nvml.device("0")?;
/// let mut guard = PersistentGuard::new()?;
/// guard.lock_gpu_clocks(&gpu, 1410, 1410)?;
/// // ... train; SIGTERM or the end of the scope puts the clocks back ...
/// # Ok::<(), ergon_hwctl::StateError>(())
/// ```
#[derive(Debug)]
pub struct PersistentGuard {
    shared: Arc<Shared>,
    /// The signal registry id, if registered.
    registration: Option<u64>,
}

impl PersistentGuard {
    /// A guard with the default state file ([`StateFile::default_location`]) that restores on
    /// SIGINT and SIGTERM.
    pub fn new() -> Result<Self, StateError> {
        Self::with_options(GuardOptions::default())
    }

    /// A guard with these options.
    pub fn with_options(options: GuardOptions) -> Result<Self, StateError> {
        if options.restore_on_signal {
            signals::install_signal_handlers().map_err(StateError::Signals)?;
        }
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                guard: StateGuard::new(),
                file: options.state_file,
                uuids: UuidCache::default(),
            }),
        });
        let registration = options
            .restore_on_signal
            .then(|| signals::register(&shared));
        Ok(Self {
            shared,
            registration,
        })
    }

    /// The state file, if the guard writes one.
    pub fn state_file(&self) -> Option<StateFile> {
        self.shared.lock().file.clone()
    }

    /// What the guard would restore, in the order the settings were first changed.
    pub fn records(&self) -> Vec<Record> {
        self.shared.lock().guard.records()
    }

    /// Runs `command` through the guard, its original written to the state file first.
    pub(crate) fn change(&mut self, device: &Device, command: Command) -> Result<(), StateError> {
        self.shared.lock().change(device, command)
    }

    recorded_commands!(StateError);

    /// Undoes every recorded setting, most recent first, and removes them from the state file
    /// (those that failed stay there). Every setting is attempted; the failures are returned.
    pub fn restore(&mut self) -> Result<(), Vec<RestoreFailure>> {
        self.shared.lock().restore()
    }

    /// Gives up restoring: the changes stay, and so do their entries in the state file (for a
    /// command whose purpose is to change a setting, such as `ergon gpu lock`; `ergon gpu
    /// restore` undoes it later). Returns the records.
    pub fn keep_changes(self) -> Vec<Record> {
        let mut inner = self.shared.lock();
        std::mem::take(&mut inner.guard).keep_changes()
    }
}

impl Drop for PersistentGuard {
    fn drop(&mut self) {
        let result = self.shared.lock().restore();
        report_restore_failures(result);
        if let Some(id) = self.registration {
            signals::deregister(id);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn guards_and_errors_cross_threads() {
        assert_send_sync::<PersistentGuard>();
        assert_send_sync::<StateFile>();
        assert_send_sync::<StateError>();
    }

    #[test]
    fn directory_follows_the_environment() {
        let dir = |state: Option<&str>, runtime: Option<&str>| {
            dir_from(state.map(OsString::from), runtime.map(OsString::from), 1000)
        };
        assert_eq!(
            dir(Some("/srv/ergon"), Some("/run/user/1000")),
            (PathBuf::from("/srv/ergon"), false)
        );
        assert_eq!(
            dir(Some(""), Some("/run/user/1000")),
            (PathBuf::from("/run/user/1000/ergon"), false)
        );
        assert_eq!(
            dir(None, Some("")),
            (PathBuf::from("/tmp/ergon-1000"), true)
        );
        assert_eq!(dir(None, None), (PathBuf::from("/tmp/ergon-1000"), true));
    }

    #[test]
    fn entries_round_trip_through_the_format() {
        let entries = vec![
            StateEntry {
                record: Record {
                    uuid: "GPU-a".into(),
                    setting: Setting::GpuLockedClocks,
                },
                owners: vec![7],
                recorded_unix_s: 5,
            },
            StateEntry {
                record: Record {
                    uuid: "GPU-a".into(),
                    setting: Setting::PowerLimit {
                        original_mw: 300_000,
                    },
                },
                owners: vec![7, 8],
                recorded_unix_s: 6,
            },
            StateEntry {
                record: Record {
                    uuid: "GPU-b".into(),
                    setting: Setting::PersistenceMode { original: true },
                },
                owners: vec![9],
                recorded_unix_s: 7,
            },
            StateEntry {
                record: Record {
                    uuid: "GPU-b".into(),
                    setting: Setting::MemoryLockedClocks,
                },
                owners: vec![9],
                recorded_unix_s: 8,
            },
        ];
        let text = render(&entries);
        assert!(
            text.contains("\"schema\": \"ergon-gpu-state/v1\""),
            "{text}"
        );
        assert!(text.contains("\"original_mw\": 300000"), "{text}");
        assert!(text.contains("\"original_enabled\": true"), "{text}");
        assert_eq!(parse(Path::new("x"), &text).unwrap(), entries);
    }

    #[test]
    fn bad_documents_name_the_problem() {
        let error = |text: &str| {
            parse(Path::new("/s/gpu-state.json"), text)
                .unwrap_err()
                .to_string()
        };
        assert!(parse(Path::new("x"), " \n").unwrap().is_empty());
        assert!(error("{").contains("/s/gpu-state.json is not a valid ergon-gpu-state/v1"));
        assert!(error(r#"{"schema":"ergon-gpu-state/v9","entries":[]}"#).contains("v9"));
        let message = error(
            r#"{"schema":"ergon-gpu-state/v1","entries":[{"uuid":"GPU-a","setting":"power_limit"}]}"#,
        );
        assert!(
            message.contains("entry 1 (GPU-a power_limit) has no original_mw"),
            "{message}"
        );
        let message = error(
            r#"{"schema":"ergon-gpu-state/v1","entries":[{"uuid":"GPU-a","setting":"fan"}]}"#,
        );
        assert!(message.contains("unknown setting \"fan\""), "{message}");
        // Unknown fields are ignored (forward compatibility).
        let entries = parse(
            Path::new("x"),
            r#"{"schema":"ergon-gpu-state/v1","host":"n1","entries":[{"uuid":"GPU-a",
                "setting":"gpu_locked_clocks","owners":[1],"note":"x"}]}"#,
        )
        .unwrap();
        assert_eq!(entries.len(), 1);
    }
}
