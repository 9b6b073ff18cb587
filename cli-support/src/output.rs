//! Everything `ergon` and `ergon-experiments` read from and write to files goes through here,
//! one rule per direction:
//!
//! - **Input files** ([`read_text`]) are refused above [`MAX_INPUT_BYTES`] before any of them
//!   is read, so a huge or endless input is an error, not an allocation of its size.
//! - **Files** ([`write_file`]) are replaced atomically: the bytes go to a temporary file in the
//!   target's directory, which is flushed to disk and only then renamed over the target. A
//!   failure at any step (full disk, file-size limit, a kill) leaves the previous file exactly as
//!   it was and never a truncated one.
//! - **Standard output** ([`stdout`]) returns its write errors ([`StdoutError`]) instead of
//!   panicking as `println!` does; [`run`](crate::run) ends the command with one `error:` line
//!   and status 1, except for a reader that went away ([`BROKEN_PIPE_STATUS`]).
//! - **Notes on standard error** (the [`note!`](crate::note) macro) ignore a failed write: a
//!   closed or full standard error cannot report anything, and the exit status still tells the
//!   outcome.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::{Context, Result};

/// Largest input file a command reads (1 GiB): every reader's own limits (docs/fuzzing.md) are
/// reached long before, so a larger file can only be refused; refusing it first bounds the
/// memory a command takes for its input.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;

/// Reads a UTF-8 input file whole, refusing one larger than [`MAX_INPUT_BYTES`]: a regular file
/// by its size before reading, anything else (a pipe, `/dev/stdin`) once that many bytes came.
/// Errors name `path`.
pub fn read_text(path: &Path) -> Result<String> {
    let too_large = || {
        anyhow::anyhow!(
            "{} is larger than the limit of {MAX_INPUT_BYTES} bytes for an input file \
             (MAX_INPUT_BYTES)",
            path.display()
        )
    };
    let file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > MAX_INPUT_BYTES {
        return Err(too_large());
    }
    let mut text = String::with_capacity(usize::try_from(size).unwrap_or(0));
    let read = file
        .take(MAX_INPUT_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    if read as u64 > MAX_INPUT_BYTES {
        return Err(too_large());
    }
    Ok(text)
}

/// Exit status when standard output is a pipe whose reader has closed it (`ergon … | head`).
///
/// The reader wanted no more output, so this is not worth an error message; Rust ignores
/// SIGPIPE, so without this the process would see `EPIPE` and, through `println!`, panic. The
/// command instead ends quietly with the status a death by SIGPIPE shows in the shell
/// (128 + 13), as `cat` or `yes` would: not 0, which would claim the whole output was delivered
/// (a script with `set -o pipefail` can still tell), and not 1 with a message, which `head`
/// users would see as noise.
pub const BROKEN_PIPE_STATUS: u8 = 141;

/// Writes `bytes` to `path` atomically (see the module documentation); errors name `path`.
///
/// A symbolic link is followed and the file it names replaced; an existing file keeps its
/// permissions. A target that is not a regular file (`/dev/stdout`, `/dev/null`, a FIFO) cannot
/// be replaced by renaming — doing so would destroy it — so it is written in place.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if path.starts_with("/dev") || path.starts_with("/proc") {
        return write_in_place(path, bytes);
    }
    let target = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    };
    let existing = match fs::metadata(&target) {
        Ok(meta) if !meta.is_file() => return write_in_place(&target, bytes),
        Ok(meta) => Some(meta),
        Err(_) => None,
    };
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".ergon-").suffix(".tmp");
    #[cfg(unix)]
    {
        // What `File::create` would give a new file: 0666 less the umask (tempfile's default
        // is 0600).
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    // Removed again when dropped, i.e. on every error below.
    let mut temporary = builder.tempfile_in(dir)?;
    temporary.write_all(bytes)?;
    if let Some(meta) = existing {
        temporary.as_file().set_permissions(meta.permissions())?;
    }
    temporary.as_file().sync_all()?;
    temporary.persist(&target).map_err(|e| e.error)?;
    // Make the rename itself durable (best effort: not every platform can open a directory).
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn write_in_place(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.flush()
}

/// A failed write to standard output.
#[derive(Debug)]
pub struct StdoutError(io::Error);

impl StdoutError {
    /// Whether the reader closed the pipe (see [`BROKEN_PIPE_STATUS`]).
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == io::ErrorKind::BrokenPipe
    }
}

impl fmt::Display for StdoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("writing to standard output")
    }
}

impl std::error::Error for StdoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Whether `error` (or one of its causes) is a write to a closed pipe on standard output.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<StdoutError>()
            .is_some_and(StdoutError::is_broken_pipe)
    })
}

/// Locked standard output whose `write!`/`writeln!` return [`StdoutError`] (use `?`).
pub struct Stdout(io::StdoutLock<'static>);

/// Standard output, locked (the lock is reentrant: several at a time in one thread are fine).
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

impl Stdout {
    /// What `write!` and `writeln!` call.
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
        self.0.write_fmt(args).map_err(StdoutError)
    }

    /// Pushes out anything still buffered (standard output is line-buffered).
    pub fn flush(&mut self) -> Result<(), StdoutError> {
        self.0.flush().map_err(StdoutError)
    }
}

/// One line on standard error; a failed write is ignored (see the module documentation).
pub fn note(args: fmt::Arguments<'_>) {
    let _ = writeln!(io::stderr().lock(), "{args}");
}
