//! Device names as torch spells them (`cuda`, `cuda:1`, `mps`, `meta`): parsed with torch's
//! rules, and turned into the [`Device`]s tensorport can hold tensors on.

use std::fmt;
use std::str::FromStr;

use crate::device::Device;
use crate::error::{Error, Result};

/// A device name as torch spells it: a type and an optional index (`cuda`, `cuda:1`, `mps`,
/// `meta`, `xpu:0`). Location tags in checkpoints and `torch.device` values use this form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TorchDevice {
    /// The device type (`cpu`, `cuda`, `mps`, ...).
    pub kind: String,
    /// The index after the colon, if any.
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
            _ => Err(Error::UnsupportedDevice {
                device: self.to_string(),
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
