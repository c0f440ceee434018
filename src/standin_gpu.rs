//! TEMPORARY stand-ins for `crate::kernels` (toolchain branch) and `crate::ops::launch` (kernels
//! branch), written from GPU-CONTRACT.md so the cudart branch compiles before those branches land.
//! Delete this file, its `mod` line in lib.rs and the `pub use` in ops/mod.rs when merging main.

pub mod kernels {
    //! Stand-in for `src/kernels.rs`: kernel names and their PTX modules (the PTX is empty here).

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Kernel {
        ReluF32,
        MaxPool2dF32,
        Conv2dF32,
        LinearF32,
    }

    impl Kernel {
        pub const ALL: [Kernel; 4] = [
            Kernel::ReluF32,
            Kernel::MaxPool2dF32,
            Kernel::Conv2dF32,
            Kernel::LinearF32,
        ];
        pub fn name(self) -> &'static str {
            match self {
                Kernel::ReluF32 => "relu_f32",
                Kernel::MaxPool2dF32 => "max_pool2d_f32",
                Kernel::Conv2dF32 => "conv2d_f32",
                Kernel::LinearF32 => "linear_f32",
            }
        }
        pub fn module(self) -> Module {
            match self {
                Kernel::ReluF32 => Module::Relu,
                Kernel::MaxPool2dF32 => Module::MaxPool2d,
                Kernel::Conv2dF32 => Module::Conv2d,
                Kernel::LinearF32 => Module::Linear,
            }
        }
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Module {
        Relu,
        MaxPool2d,
        Conv2d,
        Linear,
    }

    impl Module {
        pub const ALL: [Module; 4] = [
            Module::Relu,
            Module::MaxPool2d,
            Module::Conv2d,
            Module::Linear,
        ];
        pub fn ptx(self) -> &'static str {
            ""
        }
        pub fn name(self) -> &'static str {
            match self {
                Module::Relu => "relu",
                Module::MaxPool2d => "max_pool2d",
                Module::Conv2d => "conv2d",
                Module::Linear => "linear",
            }
        }
    }
}

pub mod launch {
    //! Stand-in for `src/ops/launch.rs`: 1-D grid-stride launch shapes.

    use crate::error::{Error, Result};
    use crate::ops::params::{Conv2dParams, EltwiseParams, LinearParams, Pool2dParams};

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct LaunchShape {
        pub grid: [u32; 3],
        pub block: [u32; 3],
        pub shared_bytes: u32,
    }

    fn grid_stride(op: &'static str, n: i64) -> Result<LaunchShape> {
        let blocks = (n.max(1) + 255) / 256;
        let blocks = u32::try_from(blocks.min(65_535)).map_err(|_| Error::Overflow {
            what: format!("{op} grid"),
        })?;
        Ok(LaunchShape {
            grid: [blocks, 1, 1],
            block: [256, 1, 1],
            shared_bytes: 0,
        })
    }

    pub fn relu_shape(p: &EltwiseParams) -> Result<LaunchShape> {
        grid_stride("relu", p.n)
    }
    pub fn max_pool2d_shape(p: &Pool2dParams) -> Result<LaunchShape> {
        grid_stride("max_pool2d", p.n * p.c * p.h_out * p.w_out)
    }
    pub fn conv2d_shape(p: &Conv2dParams) -> Result<LaunchShape> {
        grid_stride("conv2d", p.n * p.c_out * p.h_out * p.w_out)
    }
    pub fn linear_shape(p: &LinearParams) -> Result<LaunchShape> {
        grid_stride("linear", p.m * p.n)
    }
}
