//! What most programs need, in one import: `use tensorport::prelude::*;`.

pub use crate::checkpoint::{load, save, Checkpoint, MapLocation, StateDict};
pub use crate::nn::{
    load_state_dict, Conv2d, Flatten, Linear, LoadOptions, MaxPool2d, Module, ReLU, Sequential,
};
pub use crate::{DType, Device, Error, Result, Tensor};
