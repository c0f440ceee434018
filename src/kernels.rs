//! The CUDA kernels this crate ships: their names and the PTX modules they live in.
//!
//! Each `kernels/<module>.cu` becomes one PTX module, embedded here. `build.rs` compiles it with
//! NVRTC when available and otherwise copies the committed `kernels/ptx/<module>.ptx`; either
//! way the text is PTX ISA 8.4 for `compute_70`, which drivers R550 and newer JIT-compile for
//! the GPU at hand. `tests/ptx_symbols.rs` checks every [`Kernel`] is an `.entry` of its
//! module's PTX and that no `.entry` is missing from [`Kernel`].

/// One `extern "C" __global__` function in `kernels/*.cu`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// `relu_f32(EltwiseParams p, const float* x, float* y)` in `kernels/relu.cu`.
    ReluF32,
    /// `max_pool2d_f32(Pool2dParams p, const float* x, float* y)` in `kernels/max_pool2d.cu`.
    MaxPool2dF32,
    /// `conv2d_f32(Conv2dParams p, const float* x, const float* w, const float* b, float* y)`
    /// in `kernels/conv2d.cu`.
    Conv2dF32,
    /// `linear_f32(LinearParams p, const float* x, const float* w, const float* b, float* y)`
    /// in `kernels/linear.cu`.
    LinearF32,
}

impl Kernel {
    /// Every kernel, in declaration order.
    pub const ALL: [Kernel; 4] = [
        Kernel::ReluF32,
        Kernel::MaxPool2dF32,
        Kernel::Conv2dF32,
        Kernel::LinearF32,
    ];

    /// The symbol name in the PTX (the `extern "C"` function name).
    pub fn name(self) -> &'static str {
        match self {
            Kernel::ReluF32 => "relu_f32",
            Kernel::MaxPool2dF32 => "max_pool2d_f32",
            Kernel::Conv2dF32 => "conv2d_f32",
            Kernel::LinearF32 => "linear_f32",
        }
    }

    /// The PTX module (`.cu` file) that defines this kernel.
    pub fn module(self) -> Module {
        match self {
            Kernel::ReluF32 => Module::Relu,
            Kernel::MaxPool2dF32 => Module::MaxPool2d,
            Kernel::Conv2dF32 => Module::Conv2d,
            Kernel::LinearF32 => Module::Linear,
        }
    }
}

/// One PTX module: the compiled form of one `kernels/<name>.cu`. Load each once per device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Module {
    /// `kernels/relu.cu`.
    Relu,
    /// `kernels/max_pool2d.cu`.
    MaxPool2d,
    /// `kernels/conv2d.cu`.
    Conv2d,
    /// `kernels/linear.cu`.
    Linear,
}

impl Module {
    /// Every module, in declaration order.
    pub const ALL: [Module; 4] = [
        Module::Relu,
        Module::MaxPool2d,
        Module::Conv2d,
        Module::Linear,
    ];

    /// The PTX text of this module (NUL-free, ready for `Ptx::from_src`).
    pub fn ptx(self) -> &'static str {
        match self {
            Module::Relu => include_str!(concat!(env!("OUT_DIR"), "/relu.ptx")),
            Module::MaxPool2d => include_str!(concat!(env!("OUT_DIR"), "/max_pool2d.ptx")),
            Module::Conv2d => include_str!(concat!(env!("OUT_DIR"), "/conv2d.ptx")),
            Module::Linear => include_str!(concat!(env!("OUT_DIR"), "/linear.ptx")),
        }
    }

    /// The stem of the `.cu` and `.ptx` files: `kernels/<name>.cu`, `kernels/ptx/<name>.ptx`.
    pub fn name(self) -> &'static str {
        match self {
            Module::Relu => "relu",
            Module::MaxPool2d => "max_pool2d",
            Module::Conv2d => "conv2d",
            Module::Linear => "linear",
        }
    }
}
