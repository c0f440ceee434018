//! The ops, as PyTorch's functional API names them. Each validates its inputs (shape, dtype,
//! device) with PyTorch's rules, then runs where its inputs live: on the CPU (`crate::cpu`) or
//! on their CUDA device (`crate::cuda`); operands on different devices are an error, never a
//! silent copy.
//!
//! One file per op holds its arguments, its params struct's constructor (the shape rules the
//! CPU code, the CUDA launch and the kernel share) and its dispatch; `operands.rs` is what
//! every op does with its operands, `geometry.rs` the shape rules several share.

pub(crate) mod activation;
mod add;
mod avg_pool2d;
mod batch_norm;
mod cat;
mod conv2d;
mod conv2d_pool;
pub(crate) mod copy;
mod geometry;
mod linear;
mod max_pool2d;
mod mul;
pub(crate) mod operands;
pub(crate) mod pad;
mod reduce_norm;
mod relu;
mod scalar_arith;
mod shape;
mod softmax;
mod to_dtype;
pub(crate) mod views;

pub use activation::{
    gelu, hardsigmoid, hardswish, hardtanh, relu6, sigmoid, silu, GeluApproximate,
};
pub use add::{add, add_relu, add_scaled};
pub use avg_pool2d::{adaptive_avg_pool2d, avg_pool2d, AvgPool2dArgs};
pub use batch_norm::batch_norm;
pub use cat::cat;
pub(crate) use conv2d::conv2d_fused;
pub use conv2d::{conv2d, conv2d_relu, Conv2dArgs};
pub(crate) use conv2d_pool::{conv2d_pool, is_pool_2x2};
pub use linear::{linear, linear_relu};
pub use max_pool2d::{max_pool2d, MaxPool2dArgs};
pub use mul::mul;
pub use pad::pad;
pub use reduce_norm::{layer_norm, mean_dim};
pub use relu::{relu, relu_, relu_into};
pub use scalar_arith::{add_scalar, mul_scalar};
pub use shape::{flatten, reshape, view};
pub use softmax::{argmax, argmax_with, log_softmax, softmax};
pub use views::{chunk, permute, split, transpose, unsqueeze};
