//! Moving a storage between devices: one copy of the whole storage, so every tensor viewing it
//! keeps its offsets and strides. The copies themselves are the CUDA runtime's
//! (`crate::cuda`, which knows nothing of storages); this file wraps their results.

use std::ops::Range;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::storage::{AlignedBuf, Storage};

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

impl Storage {
    /// A new storage on `device` holding bytes `range` of this one (and nothing else: the
    /// rows of a batch a device works on). Host→host copies too.
    pub(crate) fn range_to_device(&self, range: Range<usize>, device: Device) -> Result<Storage> {
        let (start, end) = (range.start, range.end);
        let bad = || Error::Shape {
            op: "Storage::range_to_device",
            expected: format!("a byte range inside {} bytes", self.nbytes()),
            got: format!("{start}..{end}"),
        };
        if range.start > range.end || range.end > self.nbytes() {
            return Err(bad());
        }
        #[cfg(feature = "cuda")]
        if self.cuda_buf().is_some() || device.is_cuda() {
            return self.range_to_device_cuda(range, device, bad);
        }
        if device.is_cuda() {
            return Err(Error::CudaUnavailable {
                device,
                reason: crate::error::NoCudaReason::NotCompiled,
                saved_location: None,
            });
        }
        Storage::from_bytes(self.host_bytes()?.get(range).ok_or_else(bad)?)
    }

    /// [`Storage::range_to_device`] where a GPU is involved.
    #[cfg(feature = "cuda")]
    fn range_to_device_cuda(
        &self,
        range: Range<usize>,
        device: Device,
        bad: impl Fn() -> Error,
    ) -> Result<Storage> {
        use crate::cuda::{copy_range_to_device, download, upload, CudaDevice};
        match (self.cuda_buf(), device) {
            (None, Device::Cuda(i)) => {
                let dev = CudaDevice::get(i)?;
                let bytes = self.host_bytes()?.get(range).ok_or_else(bad)?;
                Ok(Storage::from_cuda(upload(&dev, bytes)?))
            }
            (Some(buf), Device::Cuda(i)) => {
                let dev = CudaDevice::get(i)?;
                Ok(Storage::from_cuda(copy_range_to_device(buf, range, &dev)?))
            }
            (Some(buf), Device::Cpu) => {
                let mut host = AlignedBuf::for_overwrite(range.len())?;
                download(buf, range, host.as_mut_slice())?;
                Ok(Storage::from_buf(host))
            }
            (None, Device::Cpu) => {
                Storage::from_bytes(self.host_bytes()?.get(range).ok_or_else(bad)?)
            }
        }
    }

    /// One new storage on `device`: the byte ranges `parts` of their storages, one after the
    /// other (gathering a batch's rows from the devices that computed them).
    pub(crate) fn concat(parts: &[(&Storage, Range<usize>)], device: Device) -> Result<Storage> {
        let total = parts
            .iter()
            .try_fold(0usize, |a, (_, r)| a.checked_add(r.len()))
            .ok_or_else(|| Error::Overflow {
                what: "concatenated storage size".into(),
            })?;
        for (s, r) in parts {
            if r.start > r.end || r.end > s.nbytes() {
                return Err(Error::Shape {
                    op: "Storage::concat",
                    expected: format!("a byte range inside {} bytes", s.nbytes()),
                    got: format!("{r:?}"),
                });
            }
        }
        match device {
            Device::Cpu => {
                let mut host = AlignedBuf::for_overwrite(total)?;
                let out = host.as_mut_slice();
                let mut at = 0;
                for (s, r) in parts {
                    let dst = &mut out[at..at + r.len()];
                    #[cfg(feature = "cuda")]
                    if let Some(buf) = s.cuda_buf() {
                        crate::cuda::download(buf, r.clone(), dst)?;
                        at += r.len();
                        continue;
                    }
                    dst.copy_from_slice(&s.host_bytes()?[r.clone()]);
                    at += r.len();
                }
                Ok(Storage::from_buf(host))
            }
            #[cfg(feature = "cuda")]
            Device::Cuda(i) => {
                let dev = crate::cuda::CudaDevice::get(i)?;
                let mut buf = crate::cuda::DeviceBuf::alloc(&dev, total)?;
                let mut at = 0;
                for (s, r) in parts {
                    match s.cuda_buf() {
                        None => {
                            crate::cuda::upload_into(&mut buf, at, &s.host_bytes()?[r.clone()])?
                        }
                        Some(src) => crate::cuda::copy_into(src, r.clone(), &mut buf, at)?,
                    }
                    at += r.len();
                }
                Ok(Storage::from_cuda(buf))
            }
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => Err(Error::CudaUnavailable {
                device,
                reason: crate::error::NoCudaReason::NotCompiled,
                saved_location: None,
            }),
        }
    }
}
