//! The CUDA runtime (feature `cuda`): everything that talks to the NVIDIA driver, through
//! cudarc loaded at run time, so a build with it runs (on the CPU) where no driver exists.
//!
//! - `detect.rs`: is there a driver, how many devices; never panics, cached ([`availability`]).
//! - `device.rs`: per ordinal, the context, its one stream, loaded PTX modules and kernels,
//!   pinned staging buffers ([`CudaDevice`]).
//! - `storage.rs`: device buffers and host↔device↔device copies (pinned double-buffered uploads).
//! - `launch.rs`: launch shapes → cudarc launch configs; params structs as kernel arguments.
//! - `operands.rs`: checks shared by the op launchers (one device, f32, contiguous) and outputs.
//! - `relu.rs`, `max_pool2d.rs`, `conv2d.rs`, `linear.rs`: one launcher per kernel, called by
//!   the public ops in `crate::ops` when their inputs live on a GPU.
//!
//! All work for a device goes to that device's one stream, in order; host-visible results
//! (downloads) synchronise. [`synchronize`] waits for queued kernels (for timing).
//!
//! Limits: kernels exist for f32 only (other dtypes are `Error::DType`); CUDA operands must be
//! contiguous (a non-contiguous one is `Error::InvalidArgument` naming the fix: copy through
//! the host with `.to(&Device::Cpu)?.contiguous()?.to(&dev)`); `relu_into` stays host-only
//! (`relu_` replaces the sole storage with a fresh result buffer). Operands on different devices are `Error::DeviceMismatch`, never a silent copy.

mod conv2d;
mod detect;
mod device;
mod launch;
mod linear;
mod max_pool2d;
mod operands;
mod relu;
mod storage;

pub(crate) use conv2d::conv2d;
pub use detect::{availability, device_count};
pub use device::CudaDevice;
pub(crate) use linear::linear;
pub(crate) use max_pool2d::max_pool2d;
pub(crate) use relu::{relu, relu_};
pub use storage::{DeviceBuf, STAGE_CHUNK, STAGE_MIN};

use cudarc::driver::DriverError;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::storage::{AlignedBuf, Storage};

/// Maps a driver error to [`Error::Cuda`] for the operation `op`, without calling the driver.
pub(crate) fn driver_err(op: String) -> impl FnOnce(DriverError) -> Error {
    move |e| {
        let (code, detail) = detect::describe(e);
        Error::Cuda { op, code, detail }
    }
}

/// Waits until all work queued on `device` has finished (no-op for the CPU).
pub fn synchronize(device: &Device) -> Result<()> {
    match device {
        Device::Cpu => Ok(()),
        Device::Cuda(i) => CudaDevice::get(*i)?.synchronize(),
    }
}

/// A copy of `storage` on `target`; the same storage when it already lives there. Meta
/// storages have no data to copy and are refused.
pub(crate) fn move_storage(storage: &Storage, target: Device) -> Result<Storage> {
    let from = storage.device();
    if from == target {
        return Ok(storage.clone());
    }
    match (storage.cuda_buf(), target) {
        (None, Device::Cuda(i)) => {
            let dev = CudaDevice::get(i)?;
            Ok(Storage::from_cuda(storage::upload(
                &dev,
                storage.host_bytes()?,
            )?))
        }
        (Some(buf), Device::Cpu) => Ok(Storage::from_buf(to_host_buf(buf)?)),
        (Some(buf), Device::Cuda(i)) => {
            let dev = CudaDevice::get(i)?;
            Ok(Storage::from_cuda(storage::copy_to_device(buf, &dev)?))
        }
        (None, Device::Cpu) => Ok(storage.clone()),
    }
}

/// The whole buffer copied into host memory.
pub(crate) fn to_host_buf(buf: &DeviceBuf) -> Result<AlignedBuf> {
    let mut host = AlignedBuf::for_overwrite(buf.len())?;
    storage::download(buf, 0..buf.len(), host.as_mut_slice())?;
    Ok(host)
}
