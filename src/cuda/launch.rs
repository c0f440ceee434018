//! The one place where kernels are launched: the buffers are checked against the kernel's
//! declaration (`crate::kernels`, the same check the emulator tests make), its launch shape
//! becomes a cudarc launch configuration, and the arguments are pushed in the kernel's
//! parameter order.

use cudarc::driver::{CudaView, CudaViewMut, DeviceRepr, LaunchConfig, PushKernelArg};

use crate::cuda::device::CudaDevice;
use crate::cuda::driver_err;
use crate::error::Result;
use crate::kernels::{check_args, ArgInfo, KernelDef, LaunchShape};

/// One operand of a launch, in the kernel's parameter order.
pub(crate) enum Arg<'a> {
    /// A buffer the kernel reads.
    In(CudaView<'a, u8>),
    /// A buffer the kernel writes.
    Out(CudaViewMut<'a, u8>),
    /// No buffer: an optional operand the params leave out (the kernel gets a null pointer).
    Absent,
}

impl Arg<'_> {
    fn info(&self) -> ArgInfo {
        match self {
            Arg::In(v) => ArgInfo {
                writes: false,
                bytes: Some(v.len()),
            },
            Arg::Out(v) => ArgInfo {
                writes: true,
                bytes: Some(v.len()),
            },
            Arg::Absent => ArgInfo {
                writes: false,
                bytes: None,
            },
        }
    }
}

/// The cudarc launch configuration for a launch shape (already `u32`-checked by its maker).
pub(crate) fn config(shape: LaunchShape) -> LaunchConfig {
    let [gx, gy, gz] = shape.grid;
    let [bx, by, bz] = shape.block;
    LaunchConfig {
        grid_dim: (gx, gy, gz),
        block_dim: (bx, by, bz),
        shared_mem_bytes: shape.shared_bytes,
    }
}

/// Launches kernel `K` with params `p` on `dev`'s stream. Every buffer must live on `dev`.
pub(crate) fn launch<K: KernelDef>(
    dev: &CudaDevice,
    p: &K::Params,
    args: &mut [Arg<'_>],
) -> Result<()>
where
    K::Params: DeviceRepr,
{
    let infos: Vec<ArgInfo> = args.iter().map(Arg::info).collect();
    let shape = check_args::<K>(p, &infos)?;
    let entry = K::KERNEL.entry();
    let f = dev.function(K::KERNEL)?;
    let null: u64 = 0;
    let mut b = dev.stream().launch_builder(&f);
    b.arg(p);
    for a in args.iter_mut() {
        match a {
            Arg::In(v) => b.arg(&*v),
            Arg::Out(v) => b.arg(v),
            Arg::Absent => b.arg(&null),
        };
    }
    // SAFETY: check_args proved that there is one buffer per operand of K, writable exactly where
    // K writes, present exactly where p makes K read it, and exactly as long as p implies, so
    // every access K makes under p stays inside its buffer (absent operands are null and never
    // dereferenced under p); every view borrows a live allocation on `dev`, whose stream runs
    // the launch, and a written `CudaViewMut` is borrowed exclusively, so it aliases no other
    // operand; p is passed by value as K's first parameter, laid out as its C twin.
    unsafe { b.launch(config(shape)) }.map_err(driver_err(format!(
        "launching {entry} on cuda:{}",
        dev.ordinal()
    )))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_copies_every_dimension() {
        let s = LaunchShape {
            grid: [7, 5, 3],
            block: [32, 8, 1],
            shared_bytes: 4096,
        };
        let c = config(s);
        assert_eq!(c.grid_dim, (7, 5, 3));
        assert_eq!(c.block_dim, (32, 8, 1));
        assert_eq!(c.shared_mem_bytes, 4096);
    }
}
