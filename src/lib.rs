//! tensorport: run PyTorch models anywhere, on a CPU or any NVIDIA GPU, with no Python.
//!
//! - [`checkpoint`]: reads every file `torch.save` writes (zip and legacy formats) without
//!   executing anything from it, places storages with torch.load's `map_location` semantics,
//!   and writes files `torch.load` reads back bit-identically ([`load`], [`save`]).
//! - [`Tensor`]: a strided view over a shared [`Storage`] in host memory, a mapped file, or on a
//!   GPU; [`Tensor::to`] moves it between devices.
//! - [`ops`]: the ops CNNs are made of, with PyTorch's argument checks, on the CPU and as our
//!   own CUDA kernels, chosen by where the inputs live.
//! - [`nn`]: layers with PyTorch's constructors and parameter names, `state_dict` and
//!   `load_state_dict`.
//! - [`cuda`]: whether and which GPUs this process can use. A build with CUDA (the default
//!   feature) runs everywhere: the driver is loaded at run time, and "no GPU" is one typed
//!   error ([`Error::CudaUnavailable`]), never a silent CPU run.
//! - [`image`] (feature `image`, on by default): PNG/JPEG decoding and torchvision's
//!   `Resize`/`CenterCrop`/`ToTensor`/`Normalize`, bit-exact with torchvision on PIL images.
//! - [`set_num_threads`]: how many threads the CPU kernels use.
//!
//! # Load a checkpoint
//!
//! `torch.load(path, map_location="cpu", weights_only=True)`, then the state dict of a
//! `DataParallel` model with its `module.` prefix removed:
//!
//! ```
//! use tensorport::{load, save, Device, MapLocation, StateDict, Tensor};
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("model.pt");
//! # let mut sd = StateDict::new();
//! # sd.insert("module.fc.weight", Tensor::from_vec(vec![0.5f32; 6], &[2, 3])?);
//! # save(&sd.to_value(), &path)?;
//! let ckpt = load(&path, &MapLocation::To(Device::Cpu))?;
//! let mut sd = ckpt.state_dict()?; // the top level, or under model_state_dict, state_dict, ...
//! sd.strip_prefix("module.")?;
//! let w = sd.get("fc.weight").expect("saved above");
//! assert_eq!((w.dtype(), w.shape()), (tensorport::DType::F32, &[2, 3][..]));
//! assert_eq!(w.to_vec::<f32>()?, [0.5; 6]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Run a model
//!
//! Declare the model as in PyTorch, fill it from a state dict, run it:
//!
//! ```
//! use tensorport::prelude::*;
//!
//! let model = Sequential::new()
//!     .add("conv", Conv2d::builder(3, 8, 3).padding(1).build()?)
//!     .add("relu", ReLU::new())
//!     .add("pool", MaxPool2d::new(2))
//!     .add("flatten", Flatten::default())
//!     .add("fc", Linear::new(8 * 4 * 4, 10)?);
//! let weights = model.state_dict(); // here: its own initial weights; usually a checkpoint's
//! let mut fresh = Sequential::new()
//!     .add("conv", Conv2d::builder(3, 8, 3).padding(1).build()?)
//!     .add("relu", ReLU::new())
//!     .add("pool", MaxPool2d::new(2))
//!     .add("flatten", Flatten::default())
//!     .add("fc", Linear::new(8 * 4 * 4, 10)?);
//! load_state_dict(&mut fresh, "Sequential", &weights, LoadOptions::default())?;
//! let x = Tensor::zeros(DType::F32, &[1, 3, 8, 8])?;
//! let logits = fresh.forward(&x)?; // on a GPU: fresh.to_device(&Device::Cuda(0))? first
//! assert_eq!(logits.shape(), [1, 10]);
//! assert_eq!(logits.to_vec::<f32>()?, model.forward(&x)?.to_vec::<f32>()?);
//! # Ok::<(), tensorport::Error>(())
//! ```
//!
//! # Save
//!
//! `torch.save(model.state_dict(), path)`, atomically (a crash never leaves half a file):
//!
//! ```
//! use tensorport::nn::{Module, Net};
//! use tensorport::{load, save, MapLocation};
//! # let dir = tempfile::tempdir()?;
//! let path = dir.path().join("net.pt");
//! let net = Net::new(0)?; // the recipe's CIFAR-10 Net
//! save(&net.state_dict().to_value(), &path)?;
//! // torch.load reads it back as net.state_dict(); so do we.
//! let again = load(&path, &MapLocation::Keep)?.state_dict()?;
//! assert_eq!(again.keys().collect::<Vec<_>>()[..2], ["conv1.weight", "conv1.bias"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

// The shared test helpers (tests/common, included by path) name the crate `tensorport`.
#[cfg(test)]
extern crate self as tensorport;

pub mod checkpoint;
mod cpu;
pub mod cuda;
mod device;
mod dtype;
mod error;
pub mod graph;
#[cfg(feature = "image")]
pub mod image;
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
pub use cpu::{
    best_cpu_capability, cpu_capability, cpu_capability_from_env, num_threads, set_cpu_capability,
    set_num_threads, CpuCapability,
};
pub use device::Device;
pub use dtype::{Complex128, Complex64, DType, Element};
pub use error::{CheckpointError, Error, ErrorKind, ImageFault, NoCudaReason, Result};
pub use graph::{NodeTime, Program};
pub use storage::{clear_host_cache, Storage};
pub use tensor::Tensor;
pub use torch_device::TorchDevice;
