//! Where a tensor's data lives, printed as torch prints it (`cpu`, `cuda:1`); parsed from
//! torch's spelling in `torch_device.rs`.

use std::fmt;

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
