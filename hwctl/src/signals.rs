//! Restoring GPU settings when the process receives SIGINT or SIGTERM.
//!
//! [`install_signal_handlers`] (called by every [`PersistentGuard`] made with
//! `restore_on_signal`) registers handlers through `signal-hook` and starts one watcher thread.
//! The handlers themselves only write the signal number to a socket pair (async-signal-safe: no
//! NVML call, no allocation, no lock inside a signal handler). The watcher thread reads it, locks
//! every live guard, restores its settings and removes them from the state file, and then ends
//! the process the way the signal would have without handlers (so the parent sees "killed by
//! SIGTERM"). It keeps the guards locked until the process is gone, so no other thread can change
//! a setting after it was restored.
//!
//! Details that keep this safe:
//! - A signal that was ignored (`SIG_IGN`) when the handlers were installed, as `nohup` or a
//!   shell's background job does for SIGINT, stays ignored.
//! - A handler that was installed before (Python's SIGINT handler, say) still runs:
//!   `signal-hook` chains it.
//! - A child created by `fork` inherits the handlers but not the watcher thread; there the
//!   handler does not wake the parent's watcher but acts as if hwctl had never handled the
//!   signal (the default action, or the earlier handler).
//!
//! [`PersistentGuard`]: crate::PersistentGuard

#[cfg(unix)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::{fmt, io};

use crate::statefile::Shared;

/// The signals whose arrival restores GPU settings: SIGINT and SIGTERM.
#[cfg(unix)]
pub const RESTORE_SIGNALS: [i32; 2] = [libc::SIGINT, libc::SIGTERM];

/// The signals whose arrival restores GPU settings (none on this platform).
#[cfg(not(unix))]
pub const RESTORE_SIGNALS: [i32; 0] = [];

/// The live guards that restore on a signal, by registration id.
static REGISTRY: Mutex<Vec<(u64, Weak<Shared>)>> = Mutex::new(Vec::new());

#[cfg(unix)]
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Adds a guard to those restored on a signal; returns its id for [`deregister`].
pub(crate) fn register(shared: &Arc<Shared>) -> u64 {
    #[cfg(unix)]
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    #[cfg(not(unix))]
    let id = 0;
    REGISTRY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((id, Arc::downgrade(shared)));
    id
}

/// Removes a guard from those restored on a signal.
pub(crate) fn deregister(id: u64) {
    REGISTRY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|(known, guard)| *known != id && guard.strong_count() > 0);
}

/// Why installing failed, kept to answer every later call the same way.
#[derive(Clone)]
struct InstallError {
    kind: io::ErrorKind,
    message: String,
}

impl fmt::Debug for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Installs the SIGINT/SIGTERM handlers and starts the watcher thread, once per process (later
/// calls return the first call's result). See the notes at the top of `hwctl/src/signals.rs`.
///
/// After this, SIGINT and SIGTERM (unless they were ignored) restore every live
/// [`PersistentGuard`](crate::PersistentGuard) that was made with `restore_on_signal`, and then
/// end the process as the signal's default action would; with no such guard alive, they just end
/// the process. On platforms other than Unix this does nothing.
pub fn install_signal_handlers() -> io::Result<()> {
    static INSTALLED: OnceLock<Result<(), InstallError>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            install().map_err(|error| InstallError {
                kind: error.kind(),
                message: error.to_string(),
            })
        })
        .clone()
        .map_err(|error| io::Error::new(error.kind, error.message))
}

#[cfg(not(unix))]
fn install() -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn install() -> io::Result<()> {
    use std::io::Read;
    use std::os::fd::IntoRawFd;
    use std::os::unix::net::UnixStream;

    let (mut read_end, write_end) = UnixStream::pair()?;
    write_end.set_nonblocking(true)?;
    // Kept open for the life of the process: the handlers write to it.
    let write_fd = write_end.into_raw_fd();
    // SAFETY: getpid has no preconditions.
    let owner = unsafe { libc::getpid() };
    for signal in RESTORE_SIGNALS {
        let Some(previous_default) = disposition(signal)? else {
            continue; // ignored: leave it so
        };
        let byte = u8::try_from(signal).unwrap_or(0);
        let action = move || {
            // Runs inside the signal handler: only async-signal-safe calls.
            // SAFETY: getpid, write, signal and raise are async-signal-safe; `byte` lives on
            // this stack frame; a full or closed socket only makes `write` fail, which is fine
            // (the watcher is already woken).
            unsafe {
                if libc::getpid() == owner {
                    libc::write(write_fd, (&raw const byte).cast(), 1);
                } else if previous_default {
                    // A forked child without the watcher: take the default action, as if hwctl
                    // had never handled the signal. The signal is delivered again when the
                    // handler returns.
                    libc::signal(signal, libc::SIG_DFL);
                    libc::raise(signal);
                }
            }
        };
        // SAFETY: `action` only makes async-signal-safe calls (see above).
        unsafe { signal_hook::low_level::register(signal, action) }?;
    }
    std::thread::Builder::new()
        .name("ergon-hwctl-signals".into())
        .spawn(move || {
            let mut byte = [0u8; 1];
            loop {
                match read_end.read(&mut byte) {
                    Ok(1) => restore_all_and_terminate(i32::from(byte[0])),
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                    // The write end cannot close (it is never dropped); stop watching otherwise.
                    _ => return,
                }
            }
        })?;
    Ok(())
}

/// The current disposition of `signal`: `None` if ignored, else whether it is the default
/// action.
#[cfg(unix)]
fn disposition(signal: i32) -> io::Result<Option<bool>> {
    // SAFETY: an all-zero sigaction is a valid out value; a null new action only queries.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: valid signal number; `current` is a valid out pointer.
    if unsafe { libc::sigaction(signal, std::ptr::null(), &mut current) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(match current.sa_sigaction {
        libc::SIG_IGN => None,
        libc::SIG_DFL => Some(true),
        _ => Some(false),
    })
}

/// Runs on the watcher thread after `signal` arrived: restores every registered guard, keeps
/// them locked, and ends the process.
#[cfg(unix)]
fn restore_all_and_terminate(signal: i32) -> ! {
    use std::io::Write;

    // Held until the process is gone: no guard can be registered (and then change a setting)
    // after this point.
    let registry = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    let live: Vec<Arc<Shared>> = registry.iter().filter_map(|(_, g)| g.upgrade()).collect();
    let mut held = Vec::with_capacity(live.len());
    let (mut restored, mut failed) = (0usize, 0usize);
    for shared in &live {
        let mut inner = shared.lock();
        let pending = inner.pending();
        match inner.restore() {
            Ok(()) => restored += pending,
            Err(failures) => {
                for failure in &failures {
                    eprintln!("ergon-hwctl: could not restore {failure}");
                }
                failed += failures.len();
                restored += pending.saturating_sub(failures.len());
            }
        }
        // Keep the guard locked until the process ends.
        held.push(inner);
    }
    let name = signal_hook::low_level::signal_name(signal).unwrap_or("signal");
    if restored + failed > 0 {
        eprintln!(
            "ergon-hwctl: {name} received: restored {restored} GPU setting(s){}; exiting",
            if failed > 0 {
                format!(", {failed} could not be restored (run `ergon gpu restore`)")
            } else {
                String::new()
            }
        );
    }
    let _ = io::stderr().flush();
    let _ = signal_hook::low_level::emulate_default_handler(signal);
    // Only reached if the default action did not end the process.
    std::process::exit(128 + signal)
}
