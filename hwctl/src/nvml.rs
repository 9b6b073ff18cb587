//! Loading NVML at run time and the process-side NVML session ([`Nvml`]).

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString, c_char};
use std::fmt;
use std::ptr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use nvml_wrapper_sys::bindings::{NvmlLib, nvmlDevice_t, nvmlReturn_t};

use crate::device::{Device, DeviceInfo};
use crate::error::{Call, Error, LibraryAttempt, Result, ReturnCode};

/// The environment variable that names the NVML library to load instead of the default search.
///
/// When it is set (and not empty), only that path is tried: a test double or a driver in an
/// unusual place is never silently replaced by another library.
pub const LIBRARY_ENV: &str = "ERGON_NVML_LIBRARY";

/// The library names tried, in order, when [`LIBRARY_ENV`] is not set. The versioned name comes
/// first because container runtimes often mount only `libnvidia-ml.so.1`.
#[cfg(not(windows))]
pub const DEFAULT_LIBRARIES: &[&str] = &["libnvidia-ml.so.1", "libnvidia-ml.so"];

/// The library names tried, in order, when [`LIBRARY_ENV`] is not set.
#[cfg(windows)]
pub const DEFAULT_LIBRARIES: &[&str] = &["nvml.dll"];

/// The libraries [`Nvml::init`] tries, in order: the value of [`LIBRARY_ENV`] alone if it is set
/// and not empty, otherwise [`DEFAULT_LIBRARIES`] (resolved by the dynamic loader, which honours
/// `LD_LIBRARY_PATH`).
pub fn library_candidates() -> Vec<OsString> {
    match std::env::var_os(LIBRARY_ENV) {
        Some(path) if !path.is_empty() => vec![path],
        _ => DEFAULT_LIBRARIES.iter().map(OsString::from).collect(),
    }
}

/// Turns a symbol slot of the generated bindings into the function pointer, or into
/// [`Error::FunctionNotFound`] when the loaded library does not export it. Never panics.
pub(crate) fn symbol<F: Copy, E>(slot: &Result<F, E>, function: &'static str) -> Result<F> {
    slot.as_ref()
        .map(|f| *f)
        .map_err(|_| Error::FunctionNotFound { function })
}

/// Maps an NVML return code to `Ok(())` or the matching [`Error`].
pub(crate) fn check(
    code: nvmlReturn_t,
    function: &'static str,
    device: Option<&str>,
) -> Result<()> {
    let code = ReturnCode(code);
    if code == ReturnCode::SUCCESS {
        Ok(())
    } else {
        Err(Error::from_code(
            code,
            Call {
                function,
                device: device.map(str::to_owned),
            },
        ))
    }
}

/// Resolves an NVML function of a library: evaluates to `(fn pointer, "name")`, or returns
/// [`Error::FunctionNotFound`] from the enclosing function.
macro_rules! nvml_fn {
    ($lib:expr, $function:ident) => {
        (
            $crate::nvml::symbol(&$lib.$function, stringify!($function))?,
            stringify!($function),
        )
    };
}
pub(crate) use nvml_fn;

/// Reads a NUL-terminated C string out of a fixed buffer (lossy UTF-8; no NUL = whole buffer).
pub(crate) fn string_from_buffer(buffer: &[c_char]) -> String {
    let bytes: Vec<u8> = buffer
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

struct Inner {
    lib: &'static NvmlLib,
    path: String,
}

/// Every NVML library this process loaded, by the path given to the loader.
///
/// A library is loaded once and never unloaded: unloading NVML while a driver thread may still
/// run is unsafe, and keeping it for the life of the process is what NVIDIA's own tools do.
/// Loading it once also keeps the cost (and the symbol table with its resolution errors) from
/// growing with every session the C ABI opens.
fn load(candidate: &OsStr) -> std::result::Result<&'static NvmlLib, String> {
    static LOADED: OnceLock<Mutex<HashMap<OsString, &'static NvmlLib>>> = OnceLock::new();
    let mut loaded = LOADED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(&lib) = loaded.get(candidate) {
        return Ok(lib);
    }
    // SAFETY: loading a shared library runs its initializers; the candidates are the NVIDIA
    // management library (or a path the user chose to stand for it).
    let lib = unsafe { NvmlLib::new(candidate) }.map_err(|error| error.to_string())?;
    let lib: &'static NvmlLib = Box::leak(Box::new(lib));
    loaded.insert(candidate.to_owned(), lib);
    Ok(lib)
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(shutdown) = self.lib.nvmlShutdown.as_ref() {
            // SAFETY: nvmlShutdown takes no arguments; it balances the nvmlInit_v2 that created
            // this Inner (NVML reference-counts init/shutdown), and no Device can outlive Inner.
            unsafe { shutdown() };
        }
    }
}

/// An initialized NVML session: the loaded library plus one `nvmlInit_v2` reference.
///
/// Cheap to clone (shared). `nvmlShutdown` runs when the last clone and the last [`Device`] made
/// from it are dropped; the library itself stays loaded for the life of the process.
#[derive(Clone)]
pub struct Nvml {
    inner: Arc<Inner>,
}

impl fmt::Debug for Nvml {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nvml")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Nvml {
    /// Loads NVML from [`library_candidates`] and initializes it with `nvmlInit_v2`.
    ///
    /// On a machine without the NVIDIA driver this returns [`Error::LibraryNotFound`] naming
    /// every path tried; it never panics.
    pub fn init() -> Result<Self> {
        Self::init_from_candidates(&library_candidates())
    }

    /// Loads NVML from exactly `path` (a file path, or a bare name for the dynamic loader to
    /// resolve) and initializes it.
    pub fn init_from(path: impl AsRef<OsStr>) -> Result<Self> {
        Self::init_from_candidates(&[path.as_ref().to_owned()])
    }

    fn init_from_candidates(candidates: &[OsString]) -> Result<Self> {
        let mut tried = Vec::new();
        for candidate in candidates {
            let path = candidate.to_string_lossy().into_owned();
            match load(candidate) {
                Ok(lib) => return Self::start(lib, path),
                Err(error) => tried.push(LibraryAttempt {
                    path,
                    reason: error,
                }),
            }
        }
        Err(Error::LibraryNotFound { tried })
    }

    fn start(lib: &'static NvmlLib, path: String) -> Result<Self> {
        let init = lib
            .nvmlInit_v2
            .as_ref()
            .map_err(|_| Error::NotNvmlLibrary {
                path: path.clone(),
                symbol: "nvmlInit_v2",
            })?;
        if lib.nvmlShutdown.is_err() {
            return Err(Error::NotNvmlLibrary {
                path,
                symbol: "nvmlShutdown",
            });
        }
        // SAFETY: nvmlInit_v2 takes no arguments and may be called from any thread.
        let code = unsafe { init() };
        check(code, "nvmlInit_v2", None)?;
        Ok(Self {
            inner: Arc::new(Inner { lib, path }),
        })
    }

    pub(crate) fn lib(&self) -> &NvmlLib {
        self.inner.lib
    }

    /// The library this session loaded, as given to the dynamic loader.
    pub fn library_path(&self) -> &str {
        &self.inner.path
    }

    /// The driver version string (`nvmlSystemGetDriverVersion`).
    pub fn driver_version(&self) -> Result<String> {
        let (f, name) = nvml_fn!(self.lib(), nvmlSystemGetDriverVersion);
        let mut buffer: [c_char; 96] = [0; 96];
        // SAFETY: the buffer is writable and its length is passed.
        let code = unsafe { f(buffer.as_mut_ptr(), buffer.len() as u32) };
        check(code, name, None)?;
        Ok(string_from_buffer(&buffer))
    }

    /// The number of GPUs NVML sees (`nvmlDeviceGetCount_v2`: includes GPUs this process may not
    /// access, so indices match `nvidia-smi`).
    pub fn device_count(&self) -> Result<u32> {
        let (f, name) = nvml_fn!(self.lib(), nvmlDeviceGetCount_v2);
        let mut count = 0;
        // SAFETY: `count` is a valid out pointer.
        let code = unsafe { f(&mut count) };
        check(code, name, None)?;
        Ok(count)
    }

    /// The GPU at an NVML index (PCI bus order, as `nvidia-smi` numbers them; this is not
    /// necessarily CUDA's order, see [`Nvml::cuda_devices`]).
    pub fn device_by_index(&self, index: u32) -> Result<Device> {
        let label = format!("GPU {index}");
        let (f, name) = nvml_fn!(self.lib(), nvmlDeviceGetHandleByIndex_v2);
        let mut handle: nvmlDevice_t = ptr::null_mut();
        // SAFETY: `handle` is a valid out pointer.
        let code = unsafe { f(index, &mut handle) };
        match check(code, name, Some(&label)) {
            Ok(()) => Ok(Device::new(self.clone(), handle, label, Some(index), false)),
            Err(Error::InvalidArgument { .. }) => Err(Error::NoSuchDevice {
                spec: index.to_string(),
                reason: "no GPU has this NVML index".into(),
            }),
            Err(error) => Err(error),
        }
    }

    /// The GPU or MIG device with this UUID (`GPU-…` or `MIG-…`, as `nvidia-smi -L` prints).
    pub fn device_by_uuid(&self, uuid: &str) -> Result<Device> {
        let c_uuid = CString::new(uuid).map_err(|_| Error::NoSuchDevice {
            spec: uuid.to_owned(),
            reason: "a UUID cannot contain a NUL byte".into(),
        })?;
        let (f, name) = nvml_fn!(self.lib(), nvmlDeviceGetHandleByUUID);
        let mut handle: nvmlDevice_t = ptr::null_mut();
        // SAFETY: `c_uuid` is NUL-terminated and outlives the call; `handle` is an out pointer.
        let code = unsafe { f(c_uuid.as_ptr(), &mut handle) };
        match check(code, name, Some(uuid)) {
            Ok(()) => {}
            Err(Error::NotFound { .. } | Error::InvalidArgument { .. }) => {
                return Err(Error::NoSuchDevice {
                    spec: uuid.to_owned(),
                    reason: "NVML knows no device with this UUID".into(),
                });
            }
            Err(error) => return Err(error),
        }
        let is_mig = if uuid.starts_with("MIG-") {
            true
        } else if uuid.starts_with("GPU-") {
            false
        } else {
            Device::query_is_mig(self, handle, uuid)?
        };
        Ok(Device::new(
            self.clone(),
            handle,
            uuid.to_owned(),
            None,
            is_mig,
        ))
    }

    /// A device named the way users name them: an NVML index (`0`), a full UUID (`GPU-…`,
    /// `MIG-…`), a unique prefix of a GPU UUID (`GPU-8932f937`), as `CUDA_VISIBLE_DEVICES`
    /// accepts, or a CUDA ordinal `cuda:N` as a trainer knows its GPU (`torch.device`,
    /// `local_rank`): the `N`-th device this process's CUDA sees, mapped through
    /// `CUDA_VISIBLE_DEVICES` and `CUDA_DEVICE_ORDER` ([`Nvml::cuda_devices`]).
    pub fn device(&self, spec: &str) -> Result<Device> {
        let spec = spec.trim();
        if let Some(ordinal) = spec.strip_prefix("cuda:") {
            return self.cuda_device(spec, ordinal);
        }
        if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) {
            let index = spec.parse::<u32>().map_err(|_| Error::NoSuchDevice {
                spec: spec.to_owned(),
                reason: "index out of range".into(),
            })?;
            return self.device_by_index(index);
        }
        if spec.starts_with("MIG-") {
            return self.device_by_uuid(spec);
        }
        if spec.starts_with("GPU-") {
            return match self.device_by_uuid(spec) {
                Err(Error::NoSuchDevice { .. }) => self.device_by_uuid_prefix(spec),
                other => other,
            };
        }
        Err(Error::NoSuchDevice {
            spec: spec.to_owned(),
            reason: "expected an NVML index (0, 1, …), a UUID starting with GPU- or MIG-, or a \
                     CUDA ordinal cuda:N"
                .into(),
        })
    }

    /// CUDA device `ordinal` (the text after `cuda:` in `spec`).
    fn cuda_device(&self, spec: &str, ordinal: &str) -> Result<Device> {
        let no_such = |reason: String| Error::NoSuchDevice {
            spec: spec.to_owned(),
            reason,
        };
        let position = match ordinal.parse::<usize>() {
            Ok(n) if ordinal.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return Err(no_such(
                    "expected cuda:N with N a CUDA device ordinal (0, 1, …)".into(),
                ));
            }
        };
        let visible = self.cuda_devices()?;
        let count = visible.devices.len();
        visible.devices.into_iter().nth(position).ok_or_else(|| {
            no_such(format!(
                "this process's CUDA sees {count} device(s) (CUDA_VISIBLE_DEVICES={})",
                std::env::var(crate::cuda::CUDA_VISIBLE_DEVICES)
                    .unwrap_or_else(|_| "<unset>".into())
            ))
        })
    }

    /// The one GPU whose UUID starts with `prefix`.
    pub(crate) fn device_by_uuid_prefix(&self, prefix: &str) -> Result<Device> {
        let mut found = None;
        for device in self.devices()? {
            if device.uuid()?.starts_with(prefix) {
                if found.is_some() {
                    return Err(Error::NoSuchDevice {
                        spec: prefix.to_owned(),
                        reason: "this UUID prefix matches more than one GPU".into(),
                    });
                }
                found = Some(device);
            }
        }
        found.ok_or_else(|| Error::NoSuchDevice {
            spec: prefix.to_owned(),
            reason: "no GPU UUID starts with this".into(),
        })
    }

    /// Every GPU, in NVML index order.
    pub fn devices(&self) -> Result<Vec<Device>> {
        (0..self.device_count()?)
            .map(|index| self.device_by_index(index))
            .collect()
    }

    /// [`DeviceInfo`] for every GPU, in NVML index order.
    pub fn list(&self) -> Result<Vec<DeviceInfo>> {
        self.devices()?.iter().map(Device::info).collect()
    }
}
