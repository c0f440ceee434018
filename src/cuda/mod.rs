//! CUDA: finding GPUs, their memory, and launching our kernels on them.
//!
//! The public part is small and always compiled: [`availability`], [`device_count`],
//! [`device_name`], [`synchronize`] and [`empty_cache`]; without the `cuda` feature they report
//! [`NoCudaReason::NotCompiled`]. The rest (feature `cuda`, through cudarc loaded at run time,
//! so a build with it runs on the CPU where no driver exists) is the runtime the storages and
//! ops below use:
//!
//! - `detect.rs`: is there a driver, does it have every entry point we call, how many devices;
//!   never panics, cached.
//! - `device.rs`: per ordinal, the context, its one explicit stream, the memory pool, loaded
//!   PTX modules and kernels, pinned staging buffers.
//! - `buffer.rs`: device buffers (freed on their own context and stream) and host↔device
//!   copies; `peer.rs`: device↔device copies, ordered on both streams with `event.rs` events;
//!   `staging.rs`: the pinned buffers of double-buffered uploads.
//! - `launch.rs`: every kernel launch, checked against the kernel registry (`crate::kernels`);
//!   `graph.rs`: launches captured once into a CUDA graph and replayed with one call;
//!   `side_stream.rs`: a second stream, for copies that overlap the kernels and for captures.
//! - `fault.rs`: driver errors as [`crate::Error::Cuda`] or, when the device is lost,
//!   [`crate::Error::CudaFault`].
//! - `add.rs`, `relu.rs`, `max_pool2d.rs`, `avg_pool2d.rs`, `batch_norm.rs`, `conv2d.rs`,
//!   `linear.rs`, `copy.rs` (strided copies: `contiguous`, `cat`): one launcher per op, over device
//!   buffers (this room knows nothing of tensors or storages; `crate::ops` bridges them).
//!
//! All work for a device goes to that device's one stream, in order; host-visible results
//! (downloads) synchronise. Every driver call binds its device's context first, so which
//! thread makes it does not matter.

#[cfg(feature = "cuda")]
pub(crate) mod activation;
#[cfg(feature = "cuda")]
pub(crate) mod add;
#[cfg(feature = "cuda")]
pub(crate) mod argmax;
#[cfg(feature = "cuda")]
pub(crate) mod avg_pool2d;
#[cfg(feature = "cuda")]
pub(crate) mod batch_norm;
#[cfg(feature = "cuda")]
pub(crate) mod buffer;
#[cfg(feature = "cuda")]
pub(crate) mod conv2d;
#[cfg(feature = "cuda")]
pub(crate) mod convert;
pub(crate) mod copy;
#[cfg(feature = "cuda")]
mod detect;
#[cfg(feature = "cuda")]
mod device;
#[cfg(feature = "cuda")]
pub(crate) mod event;
#[cfg(feature = "cuda")]
mod fault;
#[cfg(feature = "cuda")]
pub(crate) mod graph;
#[cfg(feature = "cuda")]
mod launch;
#[cfg(feature = "cuda")]
pub(crate) mod linear;
#[cfg(feature = "cuda")]
pub(crate) mod max_pool2d;
#[cfg(feature = "cuda")]
pub(crate) mod mul;
#[cfg(feature = "cuda")]
mod peer;
#[cfg(feature = "cuda")]
pub(crate) mod reduce;
#[cfg(feature = "cuda")]
pub(crate) mod relu;
#[cfg(feature = "cuda")]
pub(crate) mod scalar_arith;
#[cfg(feature = "cuda")]
pub(crate) mod side_stream;
pub(crate) mod softmax;
#[cfg(feature = "cuda")]
pub(crate) mod staging;

#[cfg(feature = "cuda")]
pub(crate) use buffer::{download, upload, upload_into, DevView, DevViewMut, DeviceBuf};
#[cfg(feature = "cuda")]
pub(crate) use device::CudaDevice;
#[cfg(feature = "cuda")]
pub(crate) use peer::{copy_into, copy_range_to_device, copy_to_device};

use crate::device::Device;
use crate::error::{NoCudaReason, Result};

/// Uploads of at least this many bytes go through two pinned staging buffers (the DMA engine
/// uploads one chunk while the CPU fills the other); smaller ones go straight from pageable
/// memory.
pub const STAGE_MIN: usize = 16 << 20;

/// The number of usable CUDA devices, or why there are none. Probed once per process; never
/// panics (a missing or broken driver is a reason, not a crash).
pub fn availability() -> std::result::Result<usize, NoCudaReason> {
    #[cfg(feature = "cuda")]
    {
        detect::availability()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err(NoCudaReason::NotCompiled)
    }
}

/// The number of usable CUDA devices: 0 when there is no driver, no device, or this build has
/// no CUDA runtime (see [`availability`] for the reason).
pub fn device_count() -> usize {
    availability().unwrap_or(0)
}

/// The name the driver reports for `cuda:{ordinal}` (e.g. `NVIDIA H200`).
pub fn device_name(ordinal: usize) -> Result<String> {
    #[cfg(feature = "cuda")]
    {
        CudaDevice::get(ordinal)?.name()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err(crate::error::Error::CudaUnavailable {
            device: Device::Cuda(ordinal),
            reason: NoCudaReason::NotCompiled,
            saved_location: None,
        })
    }
}

/// Waits until all work queued on `device` has finished (nothing to wait for on the CPU).
/// Results read back to the host wait by themselves; this is for timing.
pub fn synchronize(device: &Device) -> Result<()> {
    match device {
        Device::Cpu => Ok(()),
        #[cfg(feature = "cuda")]
        Device::Cuda(i) => CudaDevice::get(*i)?.synchronize(),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => Err(crate::error::Error::CudaUnavailable {
            device: *device,
            reason: NoCudaReason::NotCompiled,
            saved_location: None,
        }),
    }
}

/// Frees what tensorport keeps on `device` between uses, like `torch.cuda.empty_cache()`: the
/// pinned staging buffers of large uploads, and the memory pool's free memory (kept, not
/// returned to the OS, so that the next forward pass reuses it). Waits for the device first.
/// Tensors still alive keep their memory. With `Device::Cpu`, frees nothing.
pub fn empty_cache(device: &Device) -> Result<()> {
    match device {
        Device::Cpu => Ok(()),
        #[cfg(feature = "cuda")]
        Device::Cuda(i) => CudaDevice::get(*i)?.empty_cache(),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => Err(crate::error::Error::CudaUnavailable {
            device: *device,
            reason: NoCudaReason::NotCompiled,
            saved_location: None,
        }),
    }
}
