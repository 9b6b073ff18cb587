//! One GPU (or MIG device): identity, reads, and the clock/power commands.

use std::ffi::{c_char, c_uint};
use std::fmt;
use std::ptr;

use nvml_wrapper_sys::bindings::{nvmlDevice_t, nvmlPciInfo_t};

use crate::error::{Error, Result};
use crate::nvml::{Nvml, check, nvml_fn, string_from_buffer};

/// A GPU architecture as NVML reports it (`nvmlDeviceGetArchitecture`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Architecture {
    /// Kepler (2).
    Kepler,
    /// Maxwell (3).
    Maxwell,
    /// Pascal (4).
    Pascal,
    /// Volta (5).
    Volta,
    /// Turing (6).
    Turing,
    /// Ampere (7).
    Ampere,
    /// Ada Lovelace (8).
    Ada,
    /// Hopper (9).
    Hopper,
    /// Blackwell (10).
    Blackwell,
    /// A value this crate does not know (or `NVML_DEVICE_ARCH_UNKNOWN`), or the query is not
    /// supported.
    Unknown(u32),
}

impl Architecture {
    /// From the raw `nvmlDeviceArchitecture_t`.
    pub fn from_raw(raw: u32) -> Self {
        match raw {
            2 => Self::Kepler,
            3 => Self::Maxwell,
            4 => Self::Pascal,
            5 => Self::Volta,
            6 => Self::Turing,
            7 => Self::Ampere,
            8 => Self::Ada,
            9 => Self::Hopper,
            10 => Self::Blackwell,
            other => Self::Unknown(other),
        }
    }

    /// The raw `nvmlDeviceArchitecture_t`.
    pub fn raw(self) -> u32 {
        match self {
            Self::Kepler => 2,
            Self::Maxwell => 3,
            Self::Pascal => 4,
            Self::Volta => 5,
            Self::Turing => 6,
            Self::Ampere => 7,
            Self::Ada => 8,
            Self::Hopper => 9,
            Self::Blackwell => 10,
            Self::Unknown(raw) => raw,
        }
    }

    /// The lower-case name (`"ampere"`), or `"unknown"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kepler => "kepler",
            Self::Maxwell => "maxwell",
            Self::Pascal => "pascal",
            Self::Volta => "volta",
            Self::Turing => "turing",
            Self::Ampere => "ampere",
            Self::Ada => "ada",
            Self::Hopper => "hopper",
            Self::Blackwell => "blackwell",
            Self::Unknown(_) => "unknown",
        }
    }

    fn at_least(self, min: Self) -> bool {
        !matches!(self, Self::Unknown(_)) && self.raw() >= min.raw()
    }

    /// Volta and newer have the total energy counter (`nvmlDeviceGetTotalEnergyConsumption`);
    /// older GPUs must be measured by polling power.
    pub fn has_energy_counter(self) -> bool {
        self.at_least(Self::Volta)
    }

    /// Volta and newer support locked GPU clocks.
    pub fn supports_locked_gpu_clocks(self) -> bool {
        self.at_least(Self::Volta)
    }

    /// Ampere and newer support locked memory clocks.
    pub fn supports_locked_memory_clocks(self) -> bool {
        self.at_least(Self::Ampere)
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(raw) => write!(f, "unknown ({raw})"),
            known => f.write_str(known.name()),
        }
    }
}

/// A clock domain (`nvmlClockType_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClockType {
    /// The graphics clock (what locked GPU clocks pin).
    Graphics = 0,
    /// The SM clock.
    Sm = 1,
    /// The memory clock.
    Memory = 2,
    /// The video encoder/decoder clock.
    Video = 3,
}

/// Why the clocks are held below their maximum (`nvmlDeviceGetCurrentClocksEventReasons`, a
/// bit mask; formerly "throttle reasons").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ClockEventReasons(pub u64);

impl ClockEventReasons {
    /// Nothing is running on the GPU.
    pub const GPU_IDLE: u64 = 0x1;
    /// Application or locked clocks were set.
    pub const APPLICATIONS_CLOCKS_SETTING: u64 = 0x2;
    /// The software power cap (the power limit) holds clocks down.
    pub const SW_POWER_CAP: u64 = 0x4;
    /// Hardware slowdown (temperature, power brake, …).
    pub const HW_SLOWDOWN: u64 = 0x8;
    /// Sync boost.
    pub const SYNC_BOOST: u64 = 0x10;
    /// Software thermal slowdown.
    pub const SW_THERMAL_SLOWDOWN: u64 = 0x20;
    /// Hardware thermal slowdown.
    pub const HW_THERMAL_SLOWDOWN: u64 = 0x40;
    /// Hardware power brake slowdown.
    pub const HW_POWER_BRAKE_SLOWDOWN: u64 = 0x80;
    /// Display clock setting.
    pub const DISPLAY_CLOCK_SETTING: u64 = 0x100;

    const NAMES: [(u64, &'static str); 9] = [
        (Self::GPU_IDLE, "gpu_idle"),
        (
            Self::APPLICATIONS_CLOCKS_SETTING,
            "applications_clocks_setting",
        ),
        (Self::SW_POWER_CAP, "sw_power_cap"),
        (Self::HW_SLOWDOWN, "hw_slowdown"),
        (Self::SYNC_BOOST, "sync_boost"),
        (Self::SW_THERMAL_SLOWDOWN, "sw_thermal_slowdown"),
        (Self::HW_THERMAL_SLOWDOWN, "hw_thermal_slowdown"),
        (Self::HW_POWER_BRAKE_SLOWDOWN, "hw_power_brake_slowdown"),
        (Self::DISPLAY_CLOCK_SETTING, "display_clock_setting"),
    ];

    /// True if every bit of `mask` is set.
    pub fn contains(self, mask: u64) -> bool {
        self.0 & mask == mask
    }

    /// Names of the set bits (unknown bits as `0x…`).
    pub fn names(self) -> Vec<String> {
        let mut names = Vec::new();
        let mut rest = self.0;
        for (bit, name) in Self::NAMES {
            if self.0 & bit != 0 {
                names.push(name.to_owned());
                rest &= !bit;
            }
        }
        if rest != 0 {
            names.push(format!("{rest:#x}"));
        }
        names
    }
}

impl fmt::Display for ClockEventReasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            f.write_str("none")
        } else {
            f.write_str(&self.names().join("|"))
        }
    }
}

/// The range a power limit may be set in (`nvmlDeviceGetPowerManagementLimitConstraints`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PowerLimitConstraints {
    /// Smallest settable limit, mW.
    pub min_mw: u32,
    /// Largest settable limit, mW.
    pub max_mw: u32,
}

/// The physical GPU a MIG device belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigParent {
    /// NVML index of the parent GPU.
    pub index: u32,
    /// UUID of the parent GPU.
    pub uuid: String,
}

/// What `ergon gpu list` shows about a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// NVML index (the parent GPU's for a MIG device).
    pub index: u32,
    /// `GPU-…` or `MIG-…`.
    pub uuid: String,
    /// Product name, e.g. "NVIDIA A100-SXM4-40GB".
    pub name: String,
    /// Architecture.
    pub architecture: Architecture,
    /// PCI bus id (`00000000:07:00.0`), if NVML reports one.
    pub pci_bus_id: Option<String>,
    /// For a MIG device, its parent GPU; `None` for a full GPU.
    pub mig_parent: Option<MigParent>,
    /// For a full GPU, whether MIG mode is enabled (`None` if the GPU has no MIG support).
    pub mig_mode: Option<bool>,
}

/// A handle to one GPU or MIG device of an [`Nvml`] session.
///
/// Made by [`Nvml::device_by_index`], [`Nvml::device_by_uuid`], [`Nvml::device`] or
/// [`Nvml::cuda_devices`]. The label (how the device was named, e.g. `GPU 0`) appears in every
/// error about it. Commands that change settings refuse MIG devices ([`Error::MigDevice`]).
#[derive(Clone)]
pub struct Device {
    nvml: Nvml,
    handle: nvmlDevice_t,
    label: String,
    index: Option<u32>,
    is_mig: bool,
}

// SAFETY: an nvmlDevice_t is an opaque token owned by the NVML library, valid until nvmlShutdown
// (which the Nvml clone inside the Device delays); NVML is documented as thread-safe.
unsafe impl Send for Device {}
// SAFETY: see `Send`: no method mutates Rust-side state through `&self`.
unsafe impl Sync for Device {}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("label", &self.label)
            .field("index", &self.index)
            .field("is_mig", &self.is_mig)
            .finish_non_exhaustive()
    }
}

/// Calls an NVML getter `f(handle, args…, &mut out)` (the arguments are plain integers) and
/// returns `out`.
macro_rules! get_scalar {
    ($self:expr, $function:ident, $ty:ty $(, $arg:expr)*) => {{
        let (f, name) = nvml_fn!($self.nvml.lib(), $function);
        let mut out: $ty = Default::default();
        // SAFETY: the handle is valid for the session's lifetime; the arguments are plain
        // integers; `out` is a valid out pointer.
        let code = unsafe { f($self.handle $(, $arg)*, &mut out) };
        $self.check(code, name).map(|()| out)
    }};
}

/// The clock domains NVML can lock: they share every rule (MIG refusal, range check, one call)
/// and differ only in their NVML functions and in the words of a MIG refusal.
#[derive(Clone, Copy)]
enum LockedClocks {
    Graphics,
    Memory,
}

impl Device {
    pub(crate) fn new(
        nvml: Nvml,
        handle: nvmlDevice_t,
        label: String,
        index: Option<u32>,
        is_mig: bool,
    ) -> Self {
        Self {
            nvml,
            handle,
            label,
            index,
            is_mig,
        }
    }

    pub(crate) fn query_is_mig(nvml: &Nvml, handle: nvmlDevice_t, label: &str) -> Result<bool> {
        let (f, name) = match crate::nvml::symbol(
            &nvml.lib().nvmlDeviceIsMigDeviceHandle,
            "nvmlDeviceIsMigDeviceHandle",
        ) {
            Ok(f) => (f, "nvmlDeviceIsMigDeviceHandle"),
            // A driver without MIG support has no MIG devices.
            Err(_) => return Ok(false),
        };
        let mut is_mig: c_uint = 0;
        // SAFETY: a handle NVML just returned; `is_mig` is a valid out pointer.
        let code = unsafe { f(handle, &mut is_mig) };
        match check(code, name, Some(label)) {
            Ok(()) => Ok(is_mig != 0),
            Err(error) if error.is_not_supported() => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// True if both name the same NVML device handle.
    pub(crate) fn same_handle(&self, other: &Device) -> bool {
        self.handle == other.handle
    }

    fn check(&self, code: u32, function: &'static str) -> Result<()> {
        check(code, function, Some(&self.label))
    }

    fn refuse_mig(&self, operation: &'static str) -> Result<()> {
        if self.is_mig {
            Err(Error::MigDevice {
                device: self.label.clone(),
                operation,
            })
        } else {
            Ok(())
        }
    }

    /// The session this device belongs to.
    pub fn nvml(&self) -> &Nvml {
        &self.nvml
    }

    /// How the device was named (`GPU 0`, a UUID, …); used in error messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// True for a MIG device (a GPU instance slice), false for a full GPU.
    pub fn is_mig(&self) -> bool {
        self.is_mig
    }

    /// The NVML index (the parent GPU's for a MIG device).
    pub fn index(&self) -> Result<u32> {
        if let Some(index) = self.index {
            return Ok(index);
        }
        if let Some(parent) = self.parent()? {
            return parent.index();
        }
        get_scalar!(self, nvmlDeviceGetIndex, c_uint)
    }

    /// The parent GPU of a MIG device (`nvmlDeviceGetDeviceHandleFromMigDeviceHandle`); `None`
    /// for a full GPU.
    pub fn parent(&self) -> Result<Option<Device>> {
        if !self.is_mig {
            return Ok(None);
        }
        let (f, name) = nvml_fn!(
            self.nvml.lib(),
            nvmlDeviceGetDeviceHandleFromMigDeviceHandle
        );
        let mut parent: nvmlDevice_t = ptr::null_mut();
        // SAFETY: valid handle; `parent` is an out pointer.
        let code = unsafe { f(self.handle, &mut parent) };
        self.check(code, name)?;
        Ok(Some(Device::new(
            self.nvml.clone(),
            parent,
            format!("parent GPU of {}", self.label),
            None,
            false,
        )))
    }

    fn string_query(
        &self,
        f: unsafe extern "C" fn(nvmlDevice_t, *mut c_char, c_uint) -> u32,
        name: &'static str,
    ) -> Result<String> {
        let mut buffer: [c_char; 96] = [0; 96];
        // SAFETY: valid handle; the buffer is writable and its length is passed.
        let code = unsafe { f(self.handle, buffer.as_mut_ptr(), buffer.len() as c_uint) };
        self.check(code, name)?;
        Ok(string_from_buffer(&buffer))
    }

    /// The UUID (`GPU-…` or `MIG-…`).
    pub fn uuid(&self) -> Result<String> {
        let (f, name) = nvml_fn!(self.nvml.lib(), nvmlDeviceGetUUID);
        self.string_query(f, name)
    }

    /// The product name.
    pub fn name(&self) -> Result<String> {
        let (f, name) = nvml_fn!(self.nvml.lib(), nvmlDeviceGetName);
        self.string_query(f, name)
    }

    /// The architecture; [`Architecture::Unknown`] if the driver cannot tell.
    pub fn architecture(&self) -> Result<Architecture> {
        match get_scalar!(self, nvmlDeviceGetArchitecture, c_uint) {
            Ok(raw) => Ok(Architecture::from_raw(raw)),
            Err(error) if error.is_not_supported() => Ok(Architecture::Unknown(u32::MAX)),
            Err(error) => Err(error),
        }
    }

    /// The PCI bus id, e.g. `00000000:07:00.0` (`nvmlDeviceGetPciInfo_v3`).
    pub fn pci_bus_id(&self) -> Result<String> {
        let (f, name) = nvml_fn!(self.nvml.lib(), nvmlDeviceGetPciInfo_v3);
        // SAFETY: nvmlPciInfo_t is plain old data (integers and char arrays): all-zero is valid.
        let mut info: nvmlPciInfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid handle; `info` is a valid out pointer of the v3 layout.
        let code = unsafe { f(self.handle, &mut info) };
        self.check(code, name)?;
        Ok(string_from_buffer(&info.busId))
    }

    /// Whether MIG mode is currently enabled on a full GPU (`nvmlDeviceGetMigMode`); `None` if the
    /// GPU or driver has no MIG support.
    pub fn mig_mode(&self) -> Result<Option<bool>> {
        let f = match crate::nvml::symbol(
            &self.nvml.lib().nvmlDeviceGetMigMode,
            "nvmlDeviceGetMigMode",
        ) {
            Ok(f) => f,
            Err(_) => return Ok(None),
        };
        let (mut current, mut pending): (c_uint, c_uint) = (0, 0);
        // SAFETY: valid handle; both are valid out pointers.
        let code = unsafe { f(self.handle, &mut current, &mut pending) };
        match self.check(code, "nvmlDeviceGetMigMode") {
            Ok(()) => Ok(Some(current != 0)),
            Err(error) if error.is_not_supported() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Identity and topology in one value (what `ergon gpu list` prints).
    pub fn info(&self) -> Result<DeviceInfo> {
        let uuid = self.uuid()?;
        let name = self.name()?;
        let (index, physical, mig_parent) = match self.parent()? {
            Some(parent) => {
                let index = parent.index()?;
                let parent_uuid = parent.uuid()?;
                (
                    index,
                    parent,
                    Some(MigParent {
                        index,
                        uuid: parent_uuid,
                    }),
                )
            }
            None => (self.index()?, self.clone(), None),
        };
        let architecture = physical.architecture()?;
        let pci_bus_id = match physical.pci_bus_id() {
            Ok(id) => Some(id),
            Err(error) if error.is_not_supported() => None,
            Err(error) => return Err(error),
        };
        let mig_mode = if mig_parent.is_some() {
            Some(true)
        } else {
            self.mig_mode()?
        };
        Ok(DeviceInfo {
            index,
            uuid,
            name,
            architecture,
            pci_bus_id,
            mig_parent,
            mig_mode,
        })
    }

    // ---------------------------------------------------------------------------------------
    // Reads (all unprivileged)

    fn clock_list(
        &self,
        name: &'static str,
        mut call: impl FnMut(*mut c_uint, *mut c_uint) -> u32,
    ) -> Result<Vec<u32>> {
        let mut buffer: Vec<c_uint> = vec![0; 256];
        for _ in 0..4 {
            let mut count = buffer.len() as c_uint;
            let code = call(&mut count, buffer.as_mut_ptr());
            if code == crate::ReturnCode::INSUFFICIENT_SIZE.0 && count as usize > buffer.len() {
                buffer.resize(count as usize, 0);
                continue;
            }
            self.check(code, name)?;
            buffer.truncate(count as usize);
            return Ok(buffer);
        }
        Err(Error::from_code(
            crate::ReturnCode::INSUFFICIENT_SIZE,
            crate::error::Call {
                function: name,
                device: Some(self.label.clone()),
            },
        ))
    }

    /// The memory clocks the GPU supports, MHz, as NVML lists them (highest first on real
    /// drivers).
    pub fn supported_memory_clocks_mhz(&self) -> Result<Vec<u32>> {
        let (f, name) = nvml_fn!(self.nvml.lib(), nvmlDeviceGetSupportedMemoryClocks);
        let handle = self.handle;
        // SAFETY: valid handle; `count` holds the capacity of `clocks`.
        self.clock_list(name, |count, clocks| unsafe { f(handle, count, clocks) })
    }

    /// The graphics clocks supported at memory clock `memory_mhz`, MHz (`NotFound` if that
    /// memory clock is not supported).
    pub fn supported_graphics_clocks_mhz(&self, memory_mhz: u32) -> Result<Vec<u32>> {
        let (f, name) = nvml_fn!(self.nvml.lib(), nvmlDeviceGetSupportedGraphicsClocks);
        let handle = self.handle;
        // SAFETY: valid handle; `count` holds the capacity of `clocks`.
        self.clock_list(name, |count, clocks| unsafe {
            f(handle, memory_mhz, count, clocks)
        })
    }

    /// The current clock of a domain, MHz (`nvmlDeviceGetClockInfo`).
    pub fn clock_mhz(&self, clock: ClockType) -> Result<u32> {
        get_scalar!(self, nvmlDeviceGetClockInfo, c_uint, clock as c_uint)
    }

    /// The maximum clock of a domain, MHz (`nvmlDeviceGetMaxClockInfo`).
    pub fn max_clock_mhz(&self, clock: ClockType) -> Result<u32> {
        get_scalar!(self, nvmlDeviceGetMaxClockInfo, c_uint, clock as c_uint)
    }

    /// The current power limit, mW.
    pub fn power_limit_mw(&self) -> Result<u32> {
        get_scalar!(self, nvmlDeviceGetPowerManagementLimit, c_uint)
    }

    /// The default power limit, mW.
    pub fn default_power_limit_mw(&self) -> Result<u32> {
        get_scalar!(self, nvmlDeviceGetPowerManagementDefaultLimit, c_uint)
    }

    /// The power limit actually enforced (may be below the set limit), mW.
    pub fn enforced_power_limit_mw(&self) -> Result<u32> {
        get_scalar!(self, nvmlDeviceGetEnforcedPowerLimit, c_uint)
    }

    /// The range the power limit may be set in, mW.
    pub fn power_limit_constraints(&self) -> Result<PowerLimitConstraints> {
        let (f, name) = nvml_fn!(
            self.nvml.lib(),
            nvmlDeviceGetPowerManagementLimitConstraints
        );
        let (mut min_mw, mut max_mw): (c_uint, c_uint) = (0, 0);
        // SAFETY: valid handle; both are valid out pointers.
        let code = unsafe { f(self.handle, &mut min_mw, &mut max_mw) };
        self.check(code, name)?;
        Ok(PowerLimitConstraints { min_mw, max_mw })
    }

    /// The power draw, mW (`nvmlDeviceGetPowerUsage`; a 1-s average on Ampere (except A100) and
    /// newer).
    pub fn power_usage_mw(&self) -> Result<u32> {
        get_scalar!(self, nvmlDeviceGetPowerUsage, c_uint)
    }

    /// The total energy consumed since the driver was loaded, mJ (Volta and newer).
    pub fn total_energy_mj(&self) -> Result<u64> {
        get_scalar!(self, nvmlDeviceGetTotalEnergyConsumption, u64)
    }

    /// Why the clocks are held down. Uses `nvmlDeviceGetCurrentClocksEventReasons`, or the older
    /// `…ThrottleReasons` name on drivers that lack it.
    pub fn clock_event_reasons(&self) -> Result<ClockEventReasons> {
        let lib = self.nvml.lib();
        let (f, name) = match lib.nvmlDeviceGetCurrentClocksEventReasons.as_ref() {
            Ok(f) => (*f, "nvmlDeviceGetCurrentClocksEventReasons"),
            Err(_) => nvml_fn!(lib, nvmlDeviceGetCurrentClocksThrottleReasons),
        };
        let mut reasons: u64 = 0;
        // SAFETY: valid handle; `reasons` is a valid out pointer.
        let code = unsafe { f(self.handle, &mut reasons) };
        self.check(code, name)?;
        Ok(ClockEventReasons(reasons))
    }

    /// Whether persistence mode is on.
    pub fn persistence_mode(&self) -> Result<bool> {
        get_scalar!(self, nvmlDeviceGetPersistenceMode, c_uint).map(|mode| mode != 0)
    }

    // ---------------------------------------------------------------------------------------
    // Commands (need CAP_SYS_ADMIN; refused on MIG devices)

    /// Locks the graphics clock to `[min_mhz, max_mhz]` (`nvmlDeviceSetGpuLockedClocks`;
    /// Volta and newer). `min == max` pins one frequency. The lock stays until
    /// [`Device::reset_gpu_clocks`] or a driver reload.
    pub fn lock_gpu_clocks(&self, min_mhz: u32, max_mhz: u32) -> Result<()> {
        self.lock_clocks(LockedClocks::Graphics, min_mhz, max_mhz)
    }

    /// Removes the graphics clock lock (`nvmlDeviceResetGpuLockedClocks`).
    pub fn reset_gpu_clocks(&self) -> Result<()> {
        self.reset_clocks(LockedClocks::Graphics)
    }

    /// Locks the memory clock to `[min_mhz, max_mhz]` (`nvmlDeviceSetMemoryLockedClocks`;
    /// Ampere and newer).
    pub fn lock_memory_clocks(&self, min_mhz: u32, max_mhz: u32) -> Result<()> {
        self.lock_clocks(LockedClocks::Memory, min_mhz, max_mhz)
    }

    /// Removes the memory clock lock (`nvmlDeviceResetMemoryLockedClocks`).
    pub fn reset_memory_clocks(&self) -> Result<()> {
        self.reset_clocks(LockedClocks::Memory)
    }

    /// Locks one clock domain: refused on MIG, then the range is checked, then one NVML call.
    fn lock_clocks(&self, clocks: LockedClocks, min_mhz: u32, max_mhz: u32) -> Result<()> {
        self.refuse_mig(match clocks {
            LockedClocks::Graphics => "locking GPU clocks",
            LockedClocks::Memory => "locking memory clocks",
        })?;
        self.check_range(min_mhz, max_mhz)?;
        let lib = self.nvml.lib();
        let (f, name) = match clocks {
            LockedClocks::Graphics => nvml_fn!(lib, nvmlDeviceSetGpuLockedClocks),
            LockedClocks::Memory => nvml_fn!(lib, nvmlDeviceSetMemoryLockedClocks),
        };
        // SAFETY: valid handle; plain integer arguments.
        let code = unsafe { f(self.handle, min_mhz, max_mhz) };
        self.check(code, name)
    }

    /// Removes the lock of one clock domain: refused on MIG, else one NVML call.
    fn reset_clocks(&self, clocks: LockedClocks) -> Result<()> {
        self.refuse_mig(match clocks {
            LockedClocks::Graphics => "resetting GPU clocks",
            LockedClocks::Memory => "resetting memory clocks",
        })?;
        let lib = self.nvml.lib();
        let (f, name) = match clocks {
            LockedClocks::Graphics => nvml_fn!(lib, nvmlDeviceResetGpuLockedClocks),
            LockedClocks::Memory => nvml_fn!(lib, nvmlDeviceResetMemoryLockedClocks),
        };
        // SAFETY: valid handle.
        let code = unsafe { f(self.handle) };
        self.check(code, name)
    }

    /// Sets the power limit, mW (`nvmlDeviceSetPowerManagementLimit`). One NVML call on
    /// success; a limit out of range comes back as [`Error::PowerLimitOutOfRange`] with the
    /// allowed range. The limit lasts until changed or the driver reloads.
    pub fn set_power_limit_mw(&self, limit_mw: u32) -> Result<()> {
        self.refuse_mig("setting the power limit")?;
        let (f, name) = nvml_fn!(self.nvml.lib(), nvmlDeviceSetPowerManagementLimit);
        // SAFETY: valid handle; plain integer argument.
        let code = unsafe { f(self.handle, limit_mw) };
        match self.check(code, name) {
            Err(Error::InvalidArgument { call }) => match self.power_limit_constraints() {
                Ok(range) if limit_mw < range.min_mw || limit_mw > range.max_mw => {
                    Err(Error::PowerLimitOutOfRange {
                        device: self.label.clone(),
                        requested_mw: limit_mw,
                        min_mw: range.min_mw,
                        max_mw: range.max_mw,
                    })
                }
                _ => Err(Error::InvalidArgument { call }),
            },
            other => other,
        }
    }

    /// Turns persistence mode on or off (`nvmlDeviceSetPersistenceMode`; Linux only).
    pub fn set_persistence_mode(&self, enabled: bool) -> Result<()> {
        self.refuse_mig("changing persistence mode")?;
        let (f, name) = nvml_fn!(self.nvml.lib(), nvmlDeviceSetPersistenceMode);
        // SAFETY: valid handle; NVML_FEATURE_DISABLED = 0, NVML_FEATURE_ENABLED = 1.
        let code = unsafe { f(self.handle, c_uint::from(enabled)) };
        self.check(code, name)
    }

    fn check_range(&self, min_mhz: u32, max_mhz: u32) -> Result<()> {
        if min_mhz > max_mhz {
            Err(Error::InvalidClockRange {
                device: self.label.clone(),
                min_mhz,
                max_mhz,
            })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architecture_round_trips_and_gates_features() {
        for raw in 2..=10 {
            assert_eq!(Architecture::from_raw(raw).raw(), raw);
        }
        assert_eq!(
            Architecture::from_raw(u32::MAX),
            Architecture::Unknown(u32::MAX)
        );
        assert!(!Architecture::Pascal.has_energy_counter());
        assert!(Architecture::Volta.has_energy_counter());
        assert!(Architecture::Volta.supports_locked_gpu_clocks());
        assert!(!Architecture::Turing.supports_locked_memory_clocks());
        assert!(Architecture::Hopper.supports_locked_memory_clocks());
        assert!(!Architecture::Unknown(42).supports_locked_gpu_clocks());
        assert_eq!(Architecture::Ada.to_string(), "ada");
    }

    #[test]
    fn clock_event_reasons_name_their_bits() {
        let reasons = ClockEventReasons(0x1 | 0x4 | 0x1000);
        assert_eq!(reasons.to_string(), "gpu_idle|sw_power_cap|0x1000");
        assert!(reasons.contains(ClockEventReasons::SW_POWER_CAP));
        assert_eq!(ClockEventReasons(0).to_string(), "none");
    }
}
