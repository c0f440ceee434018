//! Where a tensor's data lives, parsed and printed as torch does (`cpu`, `cuda`, `cuda:1`).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A device that tensors can live on in this process.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// Host memory.
    #[default]
    Cpu,
    /// The CUDA GPU with this ordinal. torch's bare `cuda` means the current device, which is
    /// ordinal 0 here: tensorport has no per-thread "current device".
    Cuda(usize),
}

impl Device {
    /// The location tag torch.save writes for storages on this device (`cpu`, `cuda:N`).
    pub fn location_tag(&self) -> String {
        self.to_string()
    }

    /// Whether this is a CUDA device.
    pub fn is_cuda(&self) -> bool {
        matches!(self, Device::Cuda(_))
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// A device name as torch spells it: a type and an optional index (`cuda`, `cuda:1`, `mps`,
/// `meta`, `xpu:0`). Location tags in checkpoints and `torch.device` values use this form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TorchDevice {
    pub kind: String,
    pub index: Option<u64>,
}

impl TorchDevice {
    /// Parses `type[:index]` with torch's rules: the type is lower-case letters, digits and `_`,
    /// the index is a decimal without sign or leading zeros.
    pub fn parse(text: &str) -> Result<TorchDevice> {
        let bad = |reason: &str| Error::DeviceParse {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let (kind, index) = match text.split_once(':') {
            Some((k, i)) => (k, Some(i)),
            None => (text, None),
        };
        if kind.is_empty()
            || !kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(bad("expected a device type such as cpu or cuda"));
        }
        let index = match index {
            None => None,
            Some(i) => {
                if i.is_empty() || !i.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("device index must be a non-negative integer"));
                }
                if i.len() > 1 && i.starts_with('0') {
                    return Err(bad("device index must not have leading zeros"));
                }
                Some(
                    i.parse::<u64>()
                        .map_err(|_| bad("device index too large"))?,
                )
            }
        };
        Ok(TorchDevice {
            kind: kind.to_string(),
            index,
        })
    }

    /// The runtime device this name denotes, if tensorport can hold tensors there.
    pub fn to_device(&self) -> Result<Device> {
        match (self.kind.as_str(), self.index) {
            ("cpu", _) => Ok(Device::Cpu),
            ("cuda", i) => Ok(Device::Cuda(usize::try_from(i.unwrap_or(0)).map_err(
                |_| Error::DeviceParse {
                    text: self.to_string(),
                    reason: "device index too large".into(),
                },
            )?)),
            _ => Err(Error::DeviceUnavailable {
                device: self.to_string(),
                message: format!(
                    "tensorport cannot place tensors on device type '{}' (supported: cpu, cuda)",
                    self.kind
                ),
            }),
        }
    }
}

impl fmt::Display for TorchDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "{}:{i}", self.kind),
            None => f.write_str(&self.kind),
        }
    }
}

impl FromStr for Device {
    type Err = Error;
    fn from_str(s: &str) -> Result<Device> {
        TorchDevice::parse(s)?.to_device()
    }
}

impl From<Device> for TorchDevice {
    fn from(d: Device) -> TorchDevice {
        match d {
            Device::Cpu => TorchDevice {
                kind: "cpu".into(),
                index: None,
            },
            Device::Cuda(i) => TorchDevice {
                kind: "cuda".into(),
                index: Some(i as u64),
            },
        }
    }
}

/// How many CUDA devices this process can use: 0 when there is no driver, no device, or this
/// build has no CUDA runtime (see [`cuda_availability`] for the reason).
pub fn cuda_device_count() -> usize {
    cuda_availability().unwrap_or(0)
}

/// The number of usable CUDA devices, or why none can be used. Never panics; probed once.
pub fn cuda_availability() -> std::result::Result<usize, crate::error::NoCudaReason> {
    #[cfg(feature = "cuda")]
    {
        crate::cuda::availability()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err(crate::error::NoCudaReason::NotCompiled)
    }
}

/// Copies a host storage (a mapped checkpoint window, typically) to CUDA device `ordinal`: one
/// device storage per host storage, so storages shared on the host stay shared on the device.
/// Large storages go through pinned staging buffers straight from the host bytes.
pub(crate) fn to_cuda(
    storage: &crate::storage::Storage,
    ordinal: usize,
) -> Result<crate::storage::Storage> {
    storage.to_device(Device::Cuda(ordinal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_like_torch() {
        for s in ["cpu", "cuda", "cuda:1", "mps", "meta", "xpu:0", "cpu:0"] {
            assert_eq!(TorchDevice::parse(s).unwrap().to_string(), s);
        }
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
        assert_eq!("cuda:3".parse::<Device>().unwrap().to_string(), "cuda:3");
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        for bad in ["", "CUDA", "cuda:", "cuda:-1", "cuda:01", "cuda:x", ":1"] {
            assert!(TorchDevice::parse(bad).is_err(), "{bad}");
        }
        assert!("mps".parse::<Device>().is_err());
    }
}
