//! The one place where kernels are launched: the buffers are checked against the kernel's
//! declaration (`crate::kernels`, the same check the emulator tests make), its launch shape
//! becomes the launch's grid and block, and the arguments go to `cuLaunchKernel` in the
//! kernel's parameter order, on the device's own stream with its context current.

use std::ffi::c_void;

use cudarc::driver::result;

use crate::cuda::buffer::{DevView, DevViewMut};
use crate::cuda::device::CudaDevice;
use crate::error::Result;
use crate::kernels::{check_args, ArgInfo, KernelDef};

/// One operand of a launch, in the kernel's parameter order.
pub(crate) enum Arg<'a> {
    /// A buffer the kernel reads.
    In(DevView<'a>),
    /// A buffer the kernel writes.
    Out(DevViewMut<'a>),
    /// No buffer: an optional operand the params leave out (the kernel gets a null pointer).
    Absent,
}

impl Arg<'_> {
    fn info(&self) -> ArgInfo {
        match self {
            Arg::In(v) => ArgInfo {
                writes: false,
                bytes: Some(v.len),
            },
            Arg::Out(v) => ArgInfo {
                writes: true,
                bytes: Some(v.len),
            },
            Arg::Absent => ArgInfo {
                writes: false,
                bytes: None,
            },
        }
    }

    fn address(&self) -> u64 {
        match self {
            Arg::In(v) => v.ptr,
            Arg::Out(v) => v.ptr,
            Arg::Absent => 0,
        }
    }
}

/// Launches kernel `K` with params `p` on `dev`'s stream. Every buffer must live on `dev`.
pub(crate) fn launch<K: KernelDef>(
    dev: &CudaDevice,
    p: &K::Params,
    args: &[Arg<'_>],
) -> Result<()> {
    let infos: Vec<ArgInfo> = args.iter().map(Arg::info).collect();
    let shape = check_args::<K>(p, &infos)?;
    let f = dev.function(K::KERNEL)?;
    // cuLaunchKernel takes a pointer to each argument: the params struct by value, then one
    // device address per operand. The driver copies them before it returns.
    let mut params = *p;
    let mut addresses: Vec<u64> = args.iter().map(Arg::address).collect();
    let mut kernel_params: Vec<*mut c_void> = Vec::with_capacity(1 + addresses.len());
    kernel_params.push((&mut params as *mut K::Params).cast());
    kernel_params.extend(
        addresses
            .iter_mut()
            .map(|a| (a as *mut u64).cast::<c_void>()),
    );
    let [gx, gy, gz] = shape.grid;
    let [bx, by, bz] = shape.block;
    dev.bind()?;
    // SAFETY: check_args proved that there is one buffer per operand of K, writable exactly where
    // K writes, present exactly where p makes K read it, and exactly as long as p implies, so
    // every access K makes under p stays inside its buffer (absent operands are null and never
    // dereferenced under p); every view borrows a live allocation on `dev`, whose stream runs
    // the launch (and whose free is queued after it), and a written view is borrowed
    // exclusively, so it aliases no other operand; p is passed by value as K's first
    // parameter, laid out as its C twin (`#[repr(C)]`, checked against g++ in the kernel tests
    // and against each PTX entry's parameter sizes).
    unsafe {
        result::launch_kernel(
            f.cu_function(),
            (gx, gy, gz),
            (bx, by, bz),
            shape.shared_bytes,
            dev.cu_stream(),
            &mut kernel_params,
        )
    }
    .map_err(dev.err(format!("launching {}", K::KERNEL.entry())))
}
