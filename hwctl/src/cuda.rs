//! Mapping `CUDA_VISIBLE_DEVICES` to NVML devices.
//!
//! CUDA numbers devices fastest first unless `CUDA_DEVICE_ORDER=PCI_BUS_ID`; NVML numbers them in
//! PCI bus order. The two agree when all GPUs are the same model (ties are broken by bus id), so
//! integer entries are mapped to NVML indices directly only then, or when the order is
//! `PCI_BUS_ID`; otherwise the mapping is refused ([`Error::AmbiguousCudaOrder`]). UUID entries
//! (`GPU-…`, unique prefixes of them, `MIG-…`) are always unambiguous.
//!
//! Like CUDA, parsing stops at the first entry that is malformed, names no device, or repeats
//! one: that entry and everything after it are invisible to CUDA, so they are reported in
//! [`CudaDevices::ignored`] instead of being controlled.

use std::collections::HashSet;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::nvml::Nvml;

/// The variable CUDA reads to restrict and reorder devices.
pub const CUDA_VISIBLE_DEVICES: &str = "CUDA_VISIBLE_DEVICES";
/// The variable that picks CUDA's device order (`FASTEST_FIRST` or `PCI_BUS_ID`).
pub const CUDA_DEVICE_ORDER: &str = "CUDA_DEVICE_ORDER";

/// One syntactically valid entry of `CUDA_VISIBLE_DEVICES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CudaEntry {
    /// A CUDA device index.
    Index(u32),
    /// A GPU UUID or a prefix of one, with its `GPU-` prefix.
    GpuUuid(String),
    /// A MIG device UUID (`MIG-…`).
    MigUuid(String),
}

/// An entry of `CUDA_VISIBLE_DEVICES` that CUDA ignores, together with everything after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredEntry {
    /// Position in the list (0-based).
    pub position: usize,
    /// The entry as written.
    pub entry: String,
    /// Why it is invalid.
    pub reason: String,
}

/// The devices a CUDA process sees, as NVML devices, in CUDA order (CUDA device `i` is
/// `devices[i]`).
#[derive(Debug)]
pub struct CudaDevices {
    /// The visible devices, in CUDA order.
    pub devices: Vec<Device>,
    /// The first entry that ended the list early, if any.
    pub ignored: Option<IgnoredEntry>,
}

/// Parses one entry; `Err` holds the reason it is invalid.
pub fn parse_cuda_entry(entry: &str) -> std::result::Result<CudaEntry, String> {
    let entry = entry.trim();
    if entry.is_empty() {
        return Err("empty entry".into());
    }
    if entry.bytes().all(|b| b.is_ascii_digit()) {
        return entry
            .parse()
            .map(CudaEntry::Index)
            .map_err(|_| "index out of range".into());
    }
    if let Some(rest) = entry.strip_prefix("MIG-") {
        if rest.starts_with("GPU-") || rest.contains('/') {
            return Err(
                "the legacy MIG-GPU-<uuid>/<gi>/<ci> form is not supported; use the MIG UUID \
                 that nvidia-smi -L prints"
                    .into(),
            );
        }
        return Ok(CudaEntry::MigUuid(entry.to_owned()));
    }
    if entry.starts_with("GPU-") {
        return Ok(CudaEntry::GpuUuid(entry.to_owned()));
    }
    Err("expected a device index, a GPU-… UUID or a MIG-… UUID".into())
}

impl Nvml {
    /// The devices this process's CUDA sees, read from `CUDA_VISIBLE_DEVICES` and
    /// `CUDA_DEVICE_ORDER`. Unset `CUDA_VISIBLE_DEVICES` means every GPU.
    pub fn cuda_devices(&self) -> Result<CudaDevices> {
        let visible = std::env::var(CUDA_VISIBLE_DEVICES).ok();
        let pci_order = std::env::var(CUDA_DEVICE_ORDER).is_ok_and(|order| order == "PCI_BUS_ID");
        self.cuda_devices_from(visible.as_deref(), pci_order)
    }

    /// Like [`Nvml::cuda_devices`] with explicit values: `visible` is the value of
    /// `CUDA_VISIBLE_DEVICES` (`None` = unset), `pci_bus_id_order` whether
    /// `CUDA_DEVICE_ORDER=PCI_BUS_ID`.
    pub fn cuda_devices_from(
        &self,
        visible: Option<&str>,
        pci_bus_id_order: bool,
    ) -> Result<CudaDevices> {
        let Some(visible) = visible else {
            let devices = self.devices()?;
            if !pci_bus_id_order {
                ensure_same_model(&devices)?;
            }
            return Ok(CudaDevices {
                devices,
                ignored: None,
            });
        };
        if visible.trim().is_empty() {
            return Ok(CudaDevices {
                devices: Vec::new(),
                ignored: None,
            });
        }
        let mut devices = Vec::new();
        let mut seen = HashSet::new();
        let mut ignored = None;
        let mut has_index = false;
        let mut count = None;
        for (position, raw) in visible.split(',').enumerate() {
            let outcome = match parse_cuda_entry(raw) {
                Err(reason) => Err(reason),
                Ok(entry) => {
                    has_index |= matches!(entry, CudaEntry::Index(_));
                    self.resolve_cuda_entry(&entry, &mut count)?
                }
            };
            let outcome = match outcome {
                // The UUID identifies a device whichever way it was named.
                Ok(device) => {
                    if seen.insert(device.uuid()?) {
                        Ok(device)
                    } else {
                        Err("repeats a device listed earlier".to_owned())
                    }
                }
                Err(reason) => Err(reason),
            };
            match outcome {
                Ok(device) => devices.push(device),
                Err(reason) => {
                    ignored = Some(IgnoredEntry {
                        position,
                        entry: raw.trim().to_owned(),
                        reason,
                    });
                    break;
                }
            }
        }
        if has_index && !pci_bus_id_order {
            ensure_same_model(&self.devices()?)?;
        }
        Ok(CudaDevices { devices, ignored })
    }

    /// The device an entry names: `Ok(Err(reason))` when it names none (CUDA ignores it),
    /// `Err` when NVML itself failed.
    fn resolve_cuda_entry(
        &self,
        entry: &CudaEntry,
        count: &mut Option<u32>,
    ) -> Result<std::result::Result<Device, String>> {
        let lookup = match entry {
            CudaEntry::Index(index) => {
                let count = match *count {
                    Some(count) => count,
                    None => *count.insert(self.device_count()?),
                };
                if *index >= count {
                    return Ok(Err(format!("there are only {count} GPUs")));
                }
                self.device_by_index(*index)
            }
            CudaEntry::GpuUuid(uuid) => self.device(uuid),
            CudaEntry::MigUuid(uuid) => self.device_by_uuid(uuid),
        };
        match lookup {
            Ok(device) => Ok(Ok(device)),
            Err(Error::NoSuchDevice { reason, .. }) => Ok(Err(reason)),
            Err(error) => Err(error),
        }
    }
}

fn ensure_same_model(devices: &[Device]) -> Result<()> {
    let mut models: Vec<String> = Vec::new();
    for device in devices {
        let name = device.name()?;
        if !models.contains(&name) {
            models.push(name);
        }
    }
    if models.len() > 1 {
        return Err(Error::AmbiguousCudaOrder {
            models: models.join(", "),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_like_cuda() {
        assert_eq!(parse_cuda_entry(" 3 "), Ok(CudaEntry::Index(3)));
        assert_eq!(
            parse_cuda_entry("GPU-8932f937"),
            Ok(CudaEntry::GpuUuid("GPU-8932f937".into()))
        );
        assert_eq!(
            parse_cuda_entry("MIG-4f3c1b7a-0000-0000-0000-000000000000"),
            Ok(CudaEntry::MigUuid(
                "MIG-4f3c1b7a-0000-0000-0000-000000000000".into()
            ))
        );
        assert!(parse_cuda_entry("-1").is_err());
        assert!(parse_cuda_entry("").is_err());
        assert!(parse_cuda_entry("99999999999").is_err());
        assert!(parse_cuda_entry("MIG-GPU-1234/1/0").is_err());
        assert!(parse_cuda_entry("nvidia0").is_err());
    }
}
