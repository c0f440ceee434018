//! The public ops. Each validates its inputs (shape, dtype, device) through its params struct,
//! then dispatches on the device to `crate::cpu` (and, with the CUDA issue, `crate::cuda`).

pub mod conv2d;
pub mod linear;
pub mod max_pool2d;
pub mod params;
pub mod relu;
pub mod shape;
pub mod softmax;
