//! The kernels' source run on the CPU through the `tensorport-emu` emulator, with the params,
//! launch shapes and operand checks of the real GPU launch (this module's registry), compared
//! with the CPU ops; plus the checks that the declaration, the generated C side and the PTX
//! agree.
//!
//! - `contract.rs`: params layouts (Rust, g++), the emulator's kernel table, the PTX entries and
//!   their parameter lists, the pinned PTX ISA; the emulator's self-tests.
//! - `eltwise.rs`: relu and max_pool2d, bit for bit against the CPU ops.
//! - `gemm.rs`: conv2d and linear within a stated summation-order bound.
//! - `gemm_tiled.rs`: the implicit-GEMM conv2d, the register-tiled linear and the GEMV, within
//!   the same bound, at every tile edge.
//! - `add.rs`: add (and add + relu) with broadcasting, bit for bit against the CPU op.
//! - `activation.rs`: every activation, bit for bit or within a few ulp (libm functions).
//! - `mul.rs`: mul, add with alpha and tensor-with-scalar add/mul, bit for bit.
//! - `norm_pool.rs`: batch_norm, avg pools and the strided copy, bit for bit against the CPU.
//! - `convert.rs`: the dtype conversions, bit for bit (every float16 and bfloat16 value).
//! - `reduce.rs`: softmax/log_softmax (bit for bit), mean and layer_norm (stated bounds), fill.

mod activation;
mod add;
mod contract;
mod conv;
mod conv_cases;
mod convert;
mod eltwise;
mod gemm;
mod gemm_tiled;
mod mul;
mod norm_pool;
mod reduce;

#[path = "../../../tests/common/closeness.rs"]
pub(crate) mod closeness;
#[path = "../../../tests/common/rng.rs"]
pub(crate) mod rng;

use std::ffi::c_void;

use tensorport_emu as emu;

use crate::kernels::{check_args, ArgInfo, KernelDef, LaunchShape};

/// One operand of an emulated launch, in the kernel's parameter order.
pub(crate) enum EmuArg<'a> {
    /// A buffer the kernel reads.
    In(&'a [f32]),
    /// A buffer the kernel writes.
    Out(&'a mut [f32]),
    /// A buffer of another element type the kernel reads, as bytes (a conversion's input).
    InRaw(&'a [u8]),
    /// A buffer of another element type the kernel writes, as bytes.
    OutRaw(&'a mut [u8]),
    /// An optional operand the params leave out (a null pointer).
    Absent,
}

/// The emulator's launch for a registry shape.
pub(crate) fn launch_of(s: LaunchShape) -> emu::Launch {
    emu::Launch {
        grid: s.grid,
        block: s.block,
        shared_bytes: s.shared_bytes,
    }
}

/// Runs `K` in the emulator with `p`, checking the buffers exactly as the CUDA launch does.
/// `grid` overrides the launch shape's grid (to prove the grid-stride loops).
pub(crate) fn run<K: KernelDef>(
    p: &K::Params,
    grid: Option<[u32; 3]>,
    args: &mut [EmuArg<'_>],
) -> Result<(), String> {
    let infos: Vec<ArgInfo> = args
        .iter()
        .map(|a| match a {
            EmuArg::In(s) => ArgInfo {
                writes: false,
                bytes: Some(std::mem::size_of_val(*s)),
            },
            EmuArg::Out(s) => ArgInfo {
                writes: true,
                bytes: Some(std::mem::size_of_val(&**s)),
            },
            EmuArg::InRaw(s) => ArgInfo {
                writes: false,
                bytes: Some(s.len()),
            },
            EmuArg::OutRaw(s) => ArgInfo {
                writes: true,
                bytes: Some(s.len()),
            },
            EmuArg::Absent => ArgInfo {
                writes: false,
                bytes: None,
            },
        })
        .collect();
    let mut l = launch_of(check_args::<K>(p, &infos).map_err(|e| e.to_string())?);
    if let Some(g) = grid {
        l.grid = g;
    }
    let mut ptrs: Vec<*mut c_void> = args
        .iter_mut()
        .map(|a| match a {
            EmuArg::In(s) => s.as_ptr() as *mut c_void,
            EmuArg::Out(s) => s.as_mut_ptr().cast(),
            EmuArg::InRaw(s) => s.as_ptr() as *mut c_void,
            EmuArg::OutRaw(s) => s.as_mut_ptr().cast(),
            EmuArg::Absent => std::ptr::null_mut(),
        })
        .collect();
    let mut argv: Vec<*mut c_void> = vec![(p as *const K::Params).cast_mut().cast()];
    argv.extend(
        ptrs.iter_mut()
            .map(|p| (p as *mut *mut c_void).cast::<c_void>()),
    );
    // SAFETY: argv[0] points to K's params and argv[i] to a pointer per operand, in K's
    // parameter order; check_args proved each buffer is exactly as long as p implies, writable
    // where K writes (an exclusive borrow, so aliasing nothing) and null only where p leaves
    // the operand out. Everything outlives the call, which returns after the kernel finished.
    unsafe { emu::launch(K::KERNEL.entry(), &l, &argv) }.map_err(|e| e.to_string())
}
