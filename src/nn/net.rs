//! The network of PyTorch's CIFAR-10 tutorial and its "save and load across devices" recipe:
//! `conv1 (3→6, k5) → relu → pool 2 → conv2 (6→16, k5) → relu → pool 2 → flatten →
//! fc1 (400→120) → relu → fc2 (120→84) → relu → fc3 (84→10)`.

use crate::error::Result;
use crate::nn::layers::Init;
use crate::nn::{join, Conv2d, Linear, MaxPool2d, Module};
use crate::ops::shape::flatten;
use crate::tensor::Tensor;

/// The recipe's `Net`, with PyTorch's parameter names (`conv1.weight`, ..., `fc3.bias`).
#[derive(Clone, Debug)]
pub struct Net {
    pub conv1: Conv2d,
    pub pool: MaxPool2d,
    pub conv2: Conv2d,
    pub fc1: Linear,
    pub fc2: Linear,
    pub fc3: Linear,
}

impl Net {
    /// A freshly initialised Net (PyTorch's default init distribution, seeded).
    pub fn new(seed: u64) -> Result<Net> {
        let mut init = Init::new(seed);
        let mut conv1 = Conv2d::new(3, 6, 5, &mut init)?;
        let mut conv2 = Conv2d::new(6, 16, 5, &mut init)?;
        // relu(conv(x)) runs in place on the conv output, and relu(fc(x)) in the GEMM epilogue.
        conv1.fused_relu = true;
        conv2.fused_relu = true;
        let mut fc1 = Linear::new(16 * 5 * 5, 120, &mut init)?;
        let mut fc2 = Linear::new(120, 84, &mut init)?;
        fc1.fused_relu = true;
        fc2.fused_relu = true;
        Ok(Net {
            conv1,
            pool: MaxPool2d::new(2),
            conv2,
            fc1,
            fc2,
            fc3: Linear::new(84, 10, &mut init)?,
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

impl Module for Net {
    /// `x`: `[N, 3, 32, 32]` (or `[3, 32, 32]`); returns logits `[N, 10]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.pool.forward(&self.conv1.forward(x)?)?;
        let x = self.pool.forward(&self.conv2.forward(&x)?)?;
        let x = flatten(&x, if x.ndim() == 4 { 1 } else { 0 }, -1)?;
        let x = self.fc2.forward(&self.fc1.forward(&x)?)?;
        self.fc3.forward(&x)
    }
    fn parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        for (name, m) in self.children() {
            m.parameters(&mut |k, t| f(&join(name, k), t));
        }
    }
    fn parameters_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor)) {
        let children: [(&str, &mut dyn Module); 6] = [
            ("conv1", &mut self.conv1),
            ("pool", &mut self.pool),
            ("conv2", &mut self.conv2),
            ("fc1", &mut self.fc1),
            ("fc2", &mut self.fc2),
            ("fc3", &mut self.fc3),
        ];
        for (name, m) in children {
            m.parameters_mut(&mut |k, t| f(&join(name, k), t));
        }
    }
    fn module_paths(&self, f: &mut dyn FnMut(&str)) {
        f("");
        for (name, m) in self.children() {
            m.module_paths(&mut |p| f(&join(name, p)));
        }
    }
}
