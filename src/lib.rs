//! tensorport: run PyTorch models anywhere.
//!
//! A lean tensor runtime ([`Tensor`] over shared host or device [`Storage`]), the ops a CNN is
//! made of on CPU and GPU ([`ops`]), layers with PyTorch's names ([`nn`]), and a reader and
//! writer of `torch.save` checkpoints that never executes anything from the file
//! ([`checkpoint`]).

// The shared test helpers (tests/common, included by path) name the crate `tensorport`.
#[cfg(test)]
extern crate self as tensorport;

pub mod checkpoint;
mod cpu;
pub mod cuda;
mod device;
mod dtype;
mod error;
mod kernels;
pub mod nn;
pub mod ops;
pub mod prelude;
mod storage;
mod tensor;
mod torch_device;

pub use checkpoint::{
    load, save, Checkpoint, Dict, DictKind, Format, MapLocation, StateDict, Value,
};
pub use cpu::{num_threads, set_num_threads};
pub use device::Device;
pub use dtype::{Complex128, Complex64, DType, Element};
pub use error::{CheckpointError, Error, ErrorKind, NoCudaReason, Result};
pub use storage::{clear_host_cache, Storage};
pub use tensor::Tensor;
pub use torch_device::TorchDevice;
