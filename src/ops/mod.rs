//! The public ops. Each validates its inputs (shape, dtype, device) through its params struct,
//! then dispatches on the device to `crate::cpu` or `crate::cuda`; what every op does with its
//! operands is `operands.rs`, the shape rules several share `geometry.rs`.

pub mod conv2d;
mod geometry;
pub mod linear;
pub mod max_pool2d;
pub(crate) mod operands;
pub mod relu;
pub mod shape;
pub mod softmax;
