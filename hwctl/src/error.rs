//! The error type of hwctl and the NVML return codes it maps.

use std::fmt;

/// A result whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An `nvmlReturn_t` value as returned by an NVML function.
///
/// NVML declares the type as a C enum; drivers newer than this crate may return codes it does not
/// know, so the raw value is kept and [`ReturnCode::name`] falls back to `NVML_ERROR_<n>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReturnCode(pub u32);

/// The C name of a return code constant: `NVML_SUCCESS`, else `NVML_ERROR_<NAME>`.
macro_rules! c_name {
    (SUCCESS) => {
        "NVML_SUCCESS"
    };
    ($name:ident) => {
        concat!("NVML_ERROR_", stringify!($name))
    };
}

/// The return codes this crate knows, each written once: its constant (with its docs), value
/// and short description. The constants and the lookup table behind [`ReturnCode::name`] and
/// [`ReturnCode::description`] are both made from these rows, so they cannot disagree.
macro_rules! return_codes {
    ($($(#[doc = $doc:literal])+ $name:ident = $value:literal, $description:literal;)+) => {
        impl ReturnCode {
            $(
                $(#[doc = $doc])+
                pub const $name: Self = Self($value);
            )+

            /// (value, C name, description) of every known code.
            const TABLE: &'static [(u32, &'static str, &'static str)] =
                &[$(($value, c_name!($name), $description)),+];
        }
    };
}

return_codes! {
    /// `NVML_SUCCESS`.
    SUCCESS = 0, "success";
    /// `NVML_ERROR_UNINITIALIZED`: NVML was not initialized.
    UNINITIALIZED = 1, "NVML was not initialized";
    /// `NVML_ERROR_INVALID_ARGUMENT`.
    INVALID_ARGUMENT = 2, "invalid argument";
    /// `NVML_ERROR_NOT_SUPPORTED`: the device or driver does not support the request.
    NOT_SUPPORTED = 3, "not supported by this device";
    /// `NVML_ERROR_NO_PERMISSION`: the caller lacks the privilege (CAP_SYS_ADMIN).
    NO_PERMISSION = 4, "insufficient permissions";
    /// `NVML_ERROR_ALREADY_INITIALIZED` (deprecated).
    ALREADY_INITIALIZED = 5, "already initialized";
    /// `NVML_ERROR_NOT_FOUND`.
    NOT_FOUND = 6, "not found";
    /// `NVML_ERROR_INSUFFICIENT_SIZE`: an output buffer is too small.
    INSUFFICIENT_SIZE = 7, "insufficient buffer size";
    /// `NVML_ERROR_INSUFFICIENT_POWER`.
    INSUFFICIENT_POWER = 8, "insufficient external power";
    /// `NVML_ERROR_DRIVER_NOT_LOADED`.
    DRIVER_NOT_LOADED = 9, "the NVIDIA driver is not loaded";
    /// `NVML_ERROR_TIMEOUT`.
    TIMEOUT = 10, "timeout";
    /// `NVML_ERROR_IRQ_ISSUE`.
    IRQ_ISSUE = 11, "interrupt request issue";
    /// `NVML_ERROR_LIBRARY_NOT_FOUND`.
    LIBRARY_NOT_FOUND = 12, "a library NVML needs was not found";
    /// `NVML_ERROR_FUNCTION_NOT_FOUND`.
    FUNCTION_NOT_FOUND = 13, "function not found";
    /// `NVML_ERROR_CORRUPTED_INFOROM`.
    CORRUPTED_INFOROM = 14, "corrupted inforom";
    /// `NVML_ERROR_GPU_IS_LOST`: the GPU fell off the bus or is otherwise inaccessible.
    GPU_IS_LOST = 15, "the GPU is lost";
    /// `NVML_ERROR_RESET_REQUIRED`.
    RESET_REQUIRED = 16, "the GPU needs a reset";
    /// `NVML_ERROR_OPERATING_SYSTEM`.
    OPERATING_SYSTEM = 17, "the operating system blocked the request";
    /// `NVML_ERROR_LIB_RM_VERSION_MISMATCH`.
    LIB_RM_VERSION_MISMATCH = 18, "NVML and driver versions differ";
    /// `NVML_ERROR_IN_USE`.
    IN_USE = 19, "the GPU is in use";
    /// `NVML_ERROR_MEMORY`.
    MEMORY = 20, "out of memory";
    /// `NVML_ERROR_NO_DATA`.
    NO_DATA = 21, "no data";
    /// `NVML_ERROR_VGPU_ECC_NOT_SUPPORTED`.
    VGPU_ECC_NOT_SUPPORTED = 22, "ECC is enabled (vGPU)";
    /// `NVML_ERROR_INSUFFICIENT_RESOURCES`.
    INSUFFICIENT_RESOURCES = 23, "insufficient resources";
    /// `NVML_ERROR_FREQ_NOT_SUPPORTED`.
    FREQ_NOT_SUPPORTED = 24, "frequency not supported";
    /// `NVML_ERROR_ARGUMENT_VERSION_MISMATCH`.
    ARGUMENT_VERSION_MISMATCH = 25, "argument version mismatch";
    /// `NVML_ERROR_DEPRECATED`.
    DEPRECATED = 26, "deprecated function";
    /// `NVML_ERROR_NOT_READY`.
    NOT_READY = 27, "not ready";
    /// `NVML_ERROR_UNKNOWN`.
    UNKNOWN = 999, "unknown error";
}

impl ReturnCode {
    fn entry(self) -> Option<(&'static str, &'static str)> {
        Self::TABLE
            .iter()
            .find(|(code, _, _)| *code == self.0)
            .map(|(_, name, description)| (*name, *description))
    }

    /// The C name, e.g. `NVML_ERROR_NO_PERMISSION`, or `None` for a code this crate does not
    /// know.
    pub fn name(self) -> Option<&'static str> {
        self.entry().map(|(name, _)| name)
    }

    /// A short description, e.g. "insufficient permissions".
    pub fn description(self) -> Option<&'static str> {
        self.entry().map(|(_, description)| description)
    }
}

impl fmt::Display for ReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry() {
            Some((name, description)) => write!(f, "{name} ({}): {description}", self.0),
            None => write!(f, "NVML error {}", self.0),
        }
    }
}

/// Where an NVML call failed: the function and, for per-device calls, the device as the caller
/// named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The NVML function, e.g. `nvmlDeviceSetGpuLockedClocks`.
    pub function: &'static str,
    /// The device label (e.g. `GPU 0` or a UUID), if the call was about one device.
    pub device: Option<String>,
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.device {
            Some(device) => write!(f, "{} on {device}", self.function),
            None => f.write_str(self.function),
        }
    }
}

/// One place NVML was looked for, and why loading it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryAttempt {
    /// The path or file name given to the dynamic loader.
    pub path: String,
    /// The loader's message.
    pub reason: String,
}

fn format_attempts(tried: &[LibraryAttempt]) -> String {
    tried
        .iter()
        .map(|attempt| format!("{}: {}", attempt.path, attempt.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Extra advice for a NOT_SUPPORTED answer, by NVML function.
fn not_supported_hint(function: &str) -> &'static str {
    match function {
        "nvmlDeviceSetGpuLockedClocks" | "nvmlDeviceResetGpuLockedClocks" => {
            " (locked GPU clocks need a Volta or newer GPU)"
        }
        "nvmlDeviceSetMemoryLockedClocks" | "nvmlDeviceResetMemoryLockedClocks" => {
            " (locked memory clocks need an Ampere or newer GPU)"
        }
        "nvmlDeviceGetTotalEnergyConsumption" => {
            " (the total energy counter needs a Volta or newer GPU; older GPUs are measured by \
             polling power)"
        }
        _ => "",
    }
}

/// Everything that can go wrong in hwctl.
///
/// NVML return codes that a caller may want to act on have their own variants; the rest arrive as
/// [`Error::Nvml`] with the raw [`ReturnCode`]. [`Error::return_code`] gives the code back for
/// every variant that came from NVML.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No NVML shared library could be opened.
    #[error(
        "NVML is unavailable: no NVIDIA management library could be loaded (tried {}). Install \
         the NVIDIA driver, make libnvidia-ml.so.1 visible to the dynamic loader, or set \
         ERGON_NVML_LIBRARY to its path",
        format_attempts(.tried)
    )]
    LibraryNotFound {
        /// Every path tried, in order, with the loader's message.
        tried: Vec<LibraryAttempt>,
    },

    /// A shared library was opened but lacks an entry point every NVML has.
    #[error("{path} is not a usable NVML library: it does not export {symbol}")]
    NotNvmlLibrary {
        /// The library that was opened.
        path: String,
        /// The missing mandatory symbol.
        symbol: &'static str,
    },

    /// The loaded NVML library does not export the function (an older driver), or NVML answered
    /// `NVML_ERROR_FUNCTION_NOT_FOUND`.
    #[error(
        "{function} is not available in the loaded NVML library: not supported by this driver \
         (a newer NVIDIA driver may provide it)"
    )]
    FunctionNotFound {
        /// The NVML function.
        function: &'static str,
    },

    /// `NVML_ERROR_NO_PERMISSION`.
    #[error(
        "{call}: permission denied (NVML_ERROR_NO_PERMISSION). Changing GPU clocks, power limits \
         or persistence mode needs CAP_SYS_ADMIN: run as root (for example with sudo), or grant \
         the capability to the container (docker run --cap-add SYS_ADMIN; in Kubernetes, \
         securityContext.capabilities.add: [\"SYS_ADMIN\"])"
    )]
    NoPermission {
        /// The failed call.
        call: Call,
    },

    /// `NVML_ERROR_NOT_SUPPORTED`.
    #[error(
        "{call}: not supported by this GPU or driver (NVML_ERROR_NOT_SUPPORTED){}",
        not_supported_hint(.call.function)
    )]
    NotSupported {
        /// The failed call.
        call: Call,
    },

    /// `NVML_ERROR_GPU_IS_LOST`.
    #[error(
        "{call}: the GPU is lost (NVML_ERROR_GPU_IS_LOST): it fell off the bus or is otherwise \
         inaccessible; check nvidia-smi and the kernel log, a GPU reset or reboot may be needed"
    )]
    GpuIsLost {
        /// The failed call.
        call: Call,
    },

    /// `NVML_ERROR_UNINITIALIZED`.
    #[error("{call}: NVML is not initialized (NVML_ERROR_UNINITIALIZED)")]
    Uninitialized {
        /// The failed call.
        call: Call,
    },

    /// `NVML_ERROR_INVALID_ARGUMENT`.
    #[error("{call}: invalid argument (NVML_ERROR_INVALID_ARGUMENT)")]
    InvalidArgument {
        /// The failed call.
        call: Call,
    },

    /// `NVML_ERROR_NOT_FOUND`.
    #[error("{call}: not found (NVML_ERROR_NOT_FOUND)")]
    NotFound {
        /// The failed call.
        call: Call,
    },

    /// `NVML_ERROR_DRIVER_NOT_LOADED`.
    #[error(
        "{call}: the NVIDIA kernel driver is not loaded (NVML_ERROR_DRIVER_NOT_LOADED); check \
         that the driver is installed and nvidia-smi works"
    )]
    DriverNotLoaded {
        /// The failed call.
        call: Call,
    },

    /// Any other NVML error code.
    #[error("{call}: {code}")]
    Nvml {
        /// The failed call.
        call: Call,
        /// What NVML returned.
        code: ReturnCode,
    },

    /// A power limit outside the range the GPU accepts.
    #[error(
        "power limit {requested_mw} mW for {device} is outside the allowed range \
         {min_mw}..={max_mw} mW"
    )]
    PowerLimitOutOfRange {
        /// The device label.
        device: String,
        /// The requested limit.
        requested_mw: u32,
        /// The smallest settable limit.
        min_mw: u32,
        /// The largest settable limit.
        max_mw: u32,
    },

    /// A locked-clock range whose minimum exceeds its maximum.
    #[error(
        "invalid clock range for {device}: minimum {min_mhz} MHz exceeds maximum {max_mhz} MHz"
    )]
    InvalidClockRange {
        /// The device label.
        device: String,
        /// Requested minimum.
        min_mhz: u32,
        /// Requested maximum.
        max_mhz: u32,
    },

    /// A clock or power command addressed to a MIG device.
    #[error(
        "{device} is a MIG device: {operation} is refused on MIG instances, because clocks and \
         power limits belong to the whole physical GPU that all its instances share; address \
         the parent GPU if you own every instance on it"
    )]
    MigDevice {
        /// The device label.
        device: String,
        /// What was refused, e.g. "locking GPU clocks".
        operation: &'static str,
    },

    /// A device was named in a way that matches no device.
    #[error("no GPU matches {spec:?}: {reason}")]
    NoSuchDevice {
        /// The device as the caller named it.
        spec: String,
        /// Why it matched nothing.
        reason: String,
    },

    /// `CUDA_VISIBLE_DEVICES` holds integer indices while CUDA orders devices differently from
    /// NVML on this machine.
    #[error(
        "cannot map CUDA device indices to NVML devices: the GPUs differ ({models}) and \
         CUDA_DEVICE_ORDER is not PCI_BUS_ID, so CUDA's index order (fastest first) may differ \
         from NVML's (PCI bus order). Set CUDA_DEVICE_ORDER=PCI_BUS_ID or list GPU UUIDs in \
         CUDA_VISIBLE_DEVICES"
    )]
    AmbiguousCudaOrder {
        /// The distinct GPU models found, comma separated.
        models: String,
    },
}

impl Error {
    /// Builds the error for a non-success NVML return code.
    pub(crate) fn from_code(code: ReturnCode, call: Call) -> Self {
        match code {
            ReturnCode::UNINITIALIZED => Self::Uninitialized { call },
            ReturnCode::INVALID_ARGUMENT => Self::InvalidArgument { call },
            ReturnCode::NOT_SUPPORTED => Self::NotSupported { call },
            ReturnCode::NO_PERMISSION => Self::NoPermission { call },
            ReturnCode::NOT_FOUND => Self::NotFound { call },
            ReturnCode::DRIVER_NOT_LOADED => Self::DriverNotLoaded { call },
            ReturnCode::FUNCTION_NOT_FOUND => Self::FunctionNotFound {
                function: call.function,
            },
            ReturnCode::GPU_IS_LOST => Self::GpuIsLost { call },
            code => Self::Nvml { call, code },
        }
    }

    /// The NVML return code behind this error, if it came from an NVML call.
    pub fn return_code(&self) -> Option<ReturnCode> {
        Some(match self {
            Self::FunctionNotFound { .. } => ReturnCode::FUNCTION_NOT_FOUND,
            Self::NoPermission { .. } => ReturnCode::NO_PERMISSION,
            Self::NotSupported { .. } => ReturnCode::NOT_SUPPORTED,
            Self::GpuIsLost { .. } => ReturnCode::GPU_IS_LOST,
            Self::Uninitialized { .. } => ReturnCode::UNINITIALIZED,
            Self::InvalidArgument { .. } | Self::PowerLimitOutOfRange { .. } => {
                ReturnCode::INVALID_ARGUMENT
            }
            Self::NotFound { .. } => ReturnCode::NOT_FOUND,
            Self::DriverNotLoaded { .. } => ReturnCode::DRIVER_NOT_LOADED,
            Self::Nvml { code, .. } => *code,
            Self::LibraryNotFound { .. }
            | Self::NotNvmlLibrary { .. }
            | Self::InvalidClockRange { .. }
            | Self::MigDevice { .. }
            | Self::NoSuchDevice { .. }
            | Self::AmbiguousCudaOrder { .. } => return None,
        })
    }

    /// True when the GPU or driver cannot do the request at all (`NOT_SUPPORTED`, or the function
    /// is missing from the driver); callers that treat a feature as optional test this.
    pub fn is_not_supported(&self) -> bool {
        matches!(
            self,
            Self::NotSupported { .. } | Self::FunctionNotFound { .. }
        )
    }

    /// The NVML call that failed, if the error came from one.
    pub fn call(&self) -> Option<&Call> {
        match self {
            Self::NoPermission { call }
            | Self::NotSupported { call }
            | Self::GpuIsLost { call }
            | Self::Uninitialized { call }
            | Self::InvalidArgument { call }
            | Self::NotFound { call }
            | Self::DriverNotLoaded { call }
            | Self::Nvml { call, .. } => Some(call),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_their_variants() {
        let call = || Call {
            function: "nvmlDeviceSetGpuLockedClocks",
            device: Some("GPU 0".into()),
        };
        assert!(matches!(
            Error::from_code(ReturnCode::NO_PERMISSION, call()),
            Error::NoPermission { .. }
        ));
        assert!(matches!(
            Error::from_code(ReturnCode::GPU_IS_LOST, call()),
            Error::GpuIsLost { .. }
        ));
        assert!(matches!(
            Error::from_code(ReturnCode::FUNCTION_NOT_FOUND, call()),
            Error::FunctionNotFound {
                function: "nvmlDeviceSetGpuLockedClocks"
            }
        ));
        let other = Error::from_code(ReturnCode(24), call());
        assert_eq!(other.return_code(), Some(ReturnCode::FREQ_NOT_SUPPORTED));
        assert_eq!(
            other.to_string(),
            "nvmlDeviceSetGpuLockedClocks on GPU 0: NVML_ERROR_FREQ_NOT_SUPPORTED (24): \
             frequency not supported"
        );
        assert_eq!(ReturnCode(4242).to_string(), "NVML error 4242");
        for code in 1..=27 {
            let error = Error::from_code(ReturnCode(code), call());
            assert_eq!(error.return_code(), Some(ReturnCode(code)));
            assert!(ReturnCode(code).name().is_some());
        }
    }

    #[test]
    fn messages_explain_what_to_do() {
        let call = Call {
            function: "nvmlDeviceSetPowerManagementLimit",
            device: Some("GPU 1".into()),
        };
        let message = Error::NoPermission { call }.to_string();
        assert!(message.starts_with("nvmlDeviceSetPowerManagementLimit on GPU 1: permission"));
        assert!(message.contains("CAP_SYS_ADMIN"));
        assert!(message.contains("--cap-add SYS_ADMIN"));
        assert!(message.contains("root"));
        let message = Error::NotSupported {
            call: Call {
                function: "nvmlDeviceSetMemoryLockedClocks",
                device: None,
            },
        }
        .to_string();
        assert!(message.contains("Ampere"), "{message}");
    }
}
