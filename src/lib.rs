//! tensorport: run PyTorch models anywhere.
//!
//! A lean tensor runtime ([`Tensor`] over shared host or device [`Storage`]), the ops a small
//! CNN needs on CPU and GPU, and a reader and writer of `torch.save` checkpoints that never
//! executes anything from the file.
//!
//! ```no_run
//! use tensorport::{load, save, MapLocation};
//! let ckpt = load("model.pt", &MapLocation::Keep)?;
//! let sd = ckpt.state_dict()?;
//! for (name, t) in sd.iter() {
//!     println!("{name}: {} {:?}", t.dtype(), t.shape());
//! }
//! save(&sd.to_value(), "copy.pt")?;
//! # Ok::<(), tensorport::Error>(())
//! ```

pub mod checkpoint;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod device;
pub mod dtype;
pub mod error;
mod kernels;
pub mod nn;
pub mod ops;
pub mod storage;
pub mod tensor;
mod torch_device;

pub use checkpoint::{
    load, save, Checkpoint, Dict, DictKind, Format, MapLocation, StateDict, Value,
};
pub use device::Device;
pub use dtype::{DType, Element};
pub use error::{CheckpointError, Error, ErrorKind, NoCudaReason, Result};
pub use storage::Storage;
pub use tensor::Tensor;
pub use torch_device::TorchDevice;
