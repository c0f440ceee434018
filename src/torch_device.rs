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

/// The largest device index torch keeps: `c10::DeviceIndex` is 8 bits, so `cuda:300` becomes
/// `cuda:44`, `cuda:255` becomes `cuda` and `cuda:128` a negative index torch refuses.
pub const MAX_DEVICE_INDEX: u64 = 127;

/// Device types whose tags torch's default restore sends through `torch.device(tag)`: the tag
/// is the type alone, or the type followed by `:` or a digit (torch's `re.match`).
const PARSED_BACKENDS: [&str; 5] = ["cuda", "privateuseone", "hpu", "xpu", "mtia"];

/// Where torch's default restore (`torch.load` with `map_location=None`) puts a storage saved
/// with a given location tag, as far as the tag alone decides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Restore {
    /// Exactly `cpu`.
    Cpu,
    /// Exactly `meta`: no data is read.
    Meta,
    /// `cuda` or `cuda:N` (index 0 when absent, as torch's current device defaults to 0).
    Cuda(usize),
    /// A device type torch restores on machines that have it but tensorport cannot hold
    /// tensors on (`mps`, `xpu`, `hpu`, `mtia`).
    Elsewhere(&'static str),
}

/// Torch 2.15's `default_restore_location`, handler by handler in its registry order, for one
/// tag: `Err` carries why torch (or, above index 127, tensorport) refuses it.
pub(crate) fn default_restore(tag: &str) -> std::result::Result<Restore, String> {
    if tag == "cpu" {
        return Ok(Restore::Cpu);
    }
    for backend in PARSED_BACKENDS {
        let Some(rest) = tag.strip_prefix(backend) else {
            continue;
        };
        if !(rest.is_empty()
            || rest.starts_with(':')
            || rest.starts_with(|c: char| c.is_ascii_digit()))
        {
            continue;
        }
        let parsed = TorchDevice::parse(tag).ok().filter(|d| d.kind == backend);
        let Some(dev) = parsed else {
            return Err(format!(
                "it is not a device string torch can parse (torch.load: \"Invalid device string: \
                 '{tag}'\")"
            ));
        };
        let index = dev.index.unwrap_or(0);
        if index > MAX_DEVICE_INDEX {
            return Err(format!(
                "device index {index} is above {MAX_DEVICE_INDEX}, the largest torch's 8-bit device \
                 index holds (torch wraps it modulo 256 and loads onto another device or refuses \
                 it)"
            ));
        }
        return match backend {
            "cuda" => Ok(Restore::Cuda(usize::try_from(index).unwrap_or(0))),
            "privateuseone" => Err("torch restores it only when an extension has registered \
                                    that device module"
                .into()),
            "hpu" => Ok(Restore::Elsewhere("hpu")),
            "xpu" => Ok(Restore::Elsewhere("xpu")),
            _ => Ok(Restore::Elsewhere("mtia")),
        };
    }
    if tag.starts_with("mps") {
        return Ok(Restore::Elsewhere("mps"));
    }
    if tag == "meta" {
        return Ok(Restore::Meta);
    }
    let hint = match tag.split_once(':') {
        Some(("cpu" | "meta", _)) => " (it restores only the exact tags 'cpu' and 'meta')",
        _ => "",
    };
    Err(format!(
        "torch does not know how to restore this location{hint} (torch.load: \"don't know how to \
         restore data location\")"
    ))
}

/// Whether torch's default restore (`torch.load` with `map_location=None`) accepts a storage
/// saved with location tag `tag` on a machine that has that device: `cpu`, `meta`, `cuda[:N]`,
/// `mps`, `xpu[:N]`, `hpu[:N]`, `mtia[:N]` with N at most 127. A file whose tags fail this
/// cannot be loaded by torch without a `map_location`, so `convert` must not write one.
pub fn location_restorable(tag: &str) -> bool {
    default_restore(tag).is_ok()
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

    /// What torch 2.15's `torch.load(map_location=None)` does with each tag, checked by running it.
    #[test]
    fn default_restore_matches_torch() {
        for (tag, want) in [
            ("cpu", Some(Restore::Cpu)),
            ("meta", Some(Restore::Meta)),
            ("cuda", Some(Restore::Cuda(0))),
            ("cuda:0", Some(Restore::Cuda(0))),
            ("cuda:127", Some(Restore::Cuda(127))),
            ("mps", Some(Restore::Elsewhere("mps"))),
            ("mps:0", Some(Restore::Elsewhere("mps"))),
            ("xpu:0", Some(Restore::Elsewhere("xpu"))),
            ("hpu", Some(Restore::Elsewhere("hpu"))),
            ("mtia:1", Some(Restore::Elsewhere("mtia"))),
            // torch: "don't know how to restore data location"
            ("cpu:0", None),
            ("meta:0", None),
            ("foo:0", None),
            ("CUDA:0", None),
            ("cudax", None),
            ("", None),
            // torch: "Invalid device string"
            ("cuda:-1", None),
            ("cuda:01", None),
            ("cuda0", None),
            ("cuda:", None),
            // torch wraps the 8-bit index (128 → refused as negative, 300 → 44): refused here.
            ("cuda:128", None),
            ("cuda:255", None),
            ("cuda:300", None),
            ("cuda:99999999999999999999999", None),
            // torch: "The PRIVATEUSEONE device module is not registered"
            ("privateuseone:0", None),
        ] {
            assert_eq!(default_restore(tag).ok(), want, "{tag}");
            assert_eq!(location_restorable(tag), want.is_some(), "{tag}");
        }
        let why = default_restore("cpu:0").unwrap_err();
        assert!(why.contains("exact tags 'cpu'"), "{why}");
        let why = default_restore("cuda:300").unwrap_err();
        assert!(why.contains("300 is above 127"), "{why}");
    }
}
