//! Moving a storage between devices: one copy of the whole storage, so every tensor viewing it
//! keeps its offsets and strides. The copies themselves are the CUDA runtime's
//! (`crate::cuda`, which knows nothing of storages); this file wraps their results.

use crate::device::Device;
use crate::error::Result;
use crate::storage::Storage;

impl Storage {
    /// A copy of this storage on `device` (host→GPU, GPU→host, GPU→GPU); the same storage when
    /// it already lives there. A CUDA device that does not exist or cannot be used is
    /// [`Error::CudaUnavailable`](crate::Error::CudaUnavailable): nothing falls back to the CPU.
    pub fn to_device(&self, device: Device) -> Result<Storage> {
        if device == self.device() {
            return Ok(self.clone());
        }
        #[cfg(feature = "cuda")]
        {
            use crate::cuda::{copy_to_device, download, upload, CudaDevice};
            use crate::storage::AlignedBuf;
            match (self.cuda_buf(), device) {
                (None, Device::Cuda(i)) => {
                    let dev = CudaDevice::get(i)?;
                    Ok(Storage::from_cuda(upload(&dev, self.host_bytes()?)?))
                }
                (Some(buf), Device::Cuda(i)) => {
                    let dev = CudaDevice::get(i)?;
                    Ok(Storage::from_cuda(copy_to_device(buf, &dev)?))
                }
                (Some(buf), Device::Cpu) => {
                    let mut host = AlignedBuf::for_overwrite(buf.len())?;
                    download(buf, 0..buf.len(), host.as_mut_slice())?;
                    Ok(Storage::from_buf(host))
                }
                (None, Device::Cpu) => Ok(self.clone()),
            }
        }
        #[cfg(not(feature = "cuda"))]
        {
            Err(crate::error::Error::CudaUnavailable {
                device,
                reason: crate::error::NoCudaReason::NotCompiled,
                saved_location: None,
            })
        }
    }
}
