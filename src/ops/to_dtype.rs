//! `Tensor::to_dtype`, torch's `t.to(dtype)` for the float conversions tensorport runs: float32
//! to and from float16, bfloat16 and float64, bit for bit as torch (round to nearest even,
//! infinities, subnormals; NaN stays NaN), on the CPU (`cpu/convert.rs`) and as CUDA kernels
//! on a GPU tensor (`kernels/convert.cu`), never a trip through the host.

use half::{bf16, f16};

use crate::cpu::{self, Convert};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::kernels::EltwiseParams;
use crate::ops::operands::host_elems;
use crate::tensor::Tensor;

const OP: &str = "to_dtype";

/// The conversions [`Tensor::to_dtype`] runs, besides the identity.
const PAIRS: [(DType, DType); 6] = [
    (DType::F32, DType::F16),
    (DType::F16, DType::F32),
    (DType::F32, DType::BF16),
    (DType::BF16, DType::F32),
    (DType::F32, DType::F64),
    (DType::F64, DType::F32),
];

impl Tensor {
    /// `self.to(dtype)`: the values converted to `dtype` as torch converts them, in a new
    /// contiguous tensor on `self`'s device (any layout of `self` on the CPU; contiguous on a
    /// GPU, like every CUDA kernel's operand). The same dtype returns `self` (sharing its
    /// storage), as torch does. Supported: float32 to and from float16, bfloat16 and float64;
    /// any other pair is an [`Error::InvalidArgument`] naming both dtypes.
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        let from = self.dtype();
        if from == dtype {
            return Ok(self.clone());
        }
        if !PAIRS.contains(&(from, dtype)) {
            let list: Vec<String> = PAIRS.iter().map(|(a, b)| format!("{a} -> {b}")).collect();
            return Err(Error::InvalidArgument {
                op: OP,
                name: "dtype",
                reason: format!(
                    "no conversion from {from} to {dtype} (supported: {}, or the same dtype)",
                    list.join(", ")
                ),
            });
        }
        let p = EltwiseParams::of(OP, self)?;
        #[cfg(not(feature = "cuda"))]
        let _ = p;
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            let ins = [("input", self)];
            return crate::ops::operands::cuda::run_as(
                OP,
                ins,
                None,
                dtype,
                self.shape(),
                |dev, [x], _, y| crate::cuda::convert::convert(dev, from, dtype, &p, x, y),
            );
        }
        cpu::install(|| match (from, dtype) {
            (DType::F32, DType::F16) => on_host::<f32, f16>(self),
            (DType::F16, DType::F32) => on_host::<f16, f32>(self),
            (DType::F32, DType::BF16) => on_host::<f32, bf16>(self),
            (DType::BF16, DType::F32) => on_host::<bf16, f32>(self),
            (DType::F32, DType::F64) => on_host::<f32, f64>(self),
            _ => on_host::<f64, f32>(self), // the last of PAIRS
        })
    }
}

fn on_host<S: Element + Convert<D>, D: Element>(t: &Tensor) -> Result<Tensor> {
    let src = host_elems::<S>(t)?;
    let mut out = Tensor::empty(D::DTYPE, t.shape())?;
    cpu::convert::convert(&src, out.as_mut_slice::<D>()?);
    Ok(out)
}
