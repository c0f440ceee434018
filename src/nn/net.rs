//! The network of PyTorch's CIFAR-10 tutorial and its "save and load across devices" recipe:
//! `conv1 (3→6, k5) → relu → pool 2 → conv2 (6→16, k5) → relu → pool 2 → flatten →
//! fc1 (400→120) → relu → fc2 (120→84) → relu → fc3 (84→10)`.

use crate::error::Result;
use crate::nn::{
    visit_child_modules, visit_children, visit_children_mut, Conv2d, Init, Linear, MaxPool2d,
    Module, TensorKind,
};
use crate::ops::flatten;
use crate::tensor::Tensor;

/// The recipe's `Net`, with PyTorch's parameter names (`conv1.weight`, ..., `fc3.bias`).
#[derive(Clone, Debug)]
pub struct Net {
    /// 3 → 6 channels, 5×5, relu fused.
    pub conv1: Conv2d,
    /// 2×2 max pooling, used after both convolutions.
    pub pool: MaxPool2d,
    /// 6 → 16 channels, 5×5, relu fused.
    pub conv2: Conv2d,
    /// 400 → 120, relu fused.
    pub fc1: Linear,
    /// 120 → 84, relu fused.
    pub fc2: Linear,
    /// 84 → 10: the logits.
    pub fc3: Linear,
}

impl Net {
    /// A freshly initialised Net (PyTorch's default init distribution, seeded).
    pub fn new(seed: u64) -> Result<Net> {
        // One stream for the whole Net, layer after layer. relu(conv(x)) runs as the conv
        // stores its output (on a GPU the 2x2 pool too), and relu(fc(x)) in the GEMM
        // epilogue.
        let init = &mut Init::new(seed);
        Ok(Net {
            conv1: Conv2d::builder(3, 6, 5).relu(true).build_with(init)?,
            pool: MaxPool2d::new(2),
            conv2: Conv2d::builder(6, 16, 5).relu(true).build_with(init)?,
            fc1: Linear::builder(16 * 5 * 5, 120)
                .relu(true)
                .build_with(init)?,
            fc2: Linear::builder(120, 84).relu(true).build_with(init)?,
            fc3: Linear::builder(84, 10).build_with(init)?,
        })
    }

    fn children(&self) -> [(&'static str, &dyn Module); 6] {
        [
            ("conv1", &self.conv1),
            ("pool", &self.pool),
            ("conv2", &self.conv2),
            ("fc1", &self.fc1),
            ("fc2", &self.fc2),
            ("fc3", &self.fc3),
        ]
    }
}

/// Images per task when a CPU batch runs as independent chunks: enough to amortise each
/// layer's fixed costs, few enough that a chunk's activations stay in a core's L2 and that
/// the chunks balance across cores.
const CHUNK_IMAGES: usize = 32;

impl Net {
    /// `pool(conv(x))`: one op, so that a GPU pools as the convolution stores its output.
    fn conv_pool(&self, conv: &Conv2d, x: &Tensor) -> Result<Tensor> {
        let (w, b) = (&conv.weight, conv.bias.as_ref());
        crate::ops::conv2d_pool(x, w, b, &conv.args, conv.fused_relu, &self.pool.args)
    }

    /// The layers in order, on whatever threads the kernels choose.
    fn forward_layers(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.conv_pool(&self.conv1, x)?;
        let x = self.conv_pool(&self.conv2, &x)?;
        let x = flatten(&x, if x.ndim() == 4 { 1 } else { 0 }, -1)?;
        let x = self.fc2.forward(&self.fc1.forward(&x)?)?;
        self.fc3.forward(&x)
    }

    /// A CPU batch as independent chunks of [`CHUNK_IMAGES`] images, one rayon task each with
    /// every layer on that task's thread: one fork/join per batch instead of several per layer,
    /// and each chunk's activations stay in its core's cache. Images do not interact, so this
    /// computes exactly what [`Net::forward_layers`] does. `None` where it does not apply.
    fn forward_chunked(&self, x: &Tensor) -> Option<Result<Tensor>> {
        use rayon::prelude::*;
        let shape = x.shape();
        let n = *shape.first()?;
        if x.ndim() != 4
            || x.device().is_cuda()
            || !x.is_contiguous()
            || n < 2 * CHUNK_IMAGES
            || crate::cpu::pool_threads() < 2
        {
            return None;
        }
        let per_image = x.strides()[0];
        let run = |c0: usize| -> Result<Tensor> {
            let mut sub = shape.to_vec();
            sub[0] = CHUNK_IMAGES.min(n - c0);
            let view = Tensor::from_storage(
                x.storage().clone(),
                x.dtype(),
                x.storage_offset() + c0 * per_image,
                sub,
                x.strides().to_vec(),
            )?;
            crate::cpu::serial(|| self.forward_layers(&view))
        };
        let starts: Vec<usize> = (0..n).step_by(CHUNK_IMAGES).collect();
        let outs = match starts.into_par_iter().map(run).collect::<Result<Vec<_>>>() {
            Ok(o) => o,
            Err(e) => return Some(Err(e)),
        };
        Some(concat_rows(&outs, n))
    }
}

/// Stacks `[n_i, K]` CPU tensors of one dtype into `[Σ n_i = n, K]`.
fn concat_rows(parts: &[Tensor], n: usize) -> Result<Tensor> {
    let mut bytes = Vec::new();
    let (mut dtype, mut k) = (crate::dtype::DType::F32, 0);
    for p in parts {
        dtype = p.dtype();
        k = p.shape().get(1).copied().unwrap_or(1);
        bytes.extend_from_slice(&p.contiguous_bytes()?);
    }
    Tensor::from_raw_bytes(dtype, &[n, k], &bytes)
}

impl Module for Net {
    /// `x`: `[N, 3, 32, 32]` (or `[3, 32, 32]`); returns logits `[N, 10]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        crate::cpu::install(|| match self.forward_chunked(x) {
            Some(r) => r,
            None => self.forward_layers(x),
        })
    }
    fn visit(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor)) {
        visit_children(self.children(), f);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor)) {
        let children: [(&str, &mut dyn Module); 6] = [
            ("conv1", &mut self.conv1),
            ("pool", &mut self.pool),
            ("conv2", &mut self.conv2),
            ("fc1", &mut self.fc1),
            ("fc2", &mut self.fc2),
            ("fc3", &mut self.fc3),
        ];
        visit_children_mut(children, f);
    }
    fn visit_modules(&self, f: &mut dyn FnMut(&str, i64)) {
        visit_child_modules(self.children(), f);
    }
}
