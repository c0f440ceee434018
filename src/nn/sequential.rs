//! `nn.Sequential` with named children: how users declare their own small models.

use crate::error::Result;
use crate::nn::{join, Module};
use crate::tensor::Tensor;

/// Children run in order; parameters are named `<child>.<param>` (children added with
/// [`Sequential::push`] are named `0`, `1`, ... as in PyTorch).
#[derive(Default)]
pub struct Sequential {
    children: Vec<(String, Box<dyn Module>)>,
}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Adds a child under `name` (`model.add("conv1", Conv2d::new(..)?)`).
    pub fn add(mut self, name: &str, m: impl Module + 'static) -> Sequential {
        self.children.push((name.to_string(), Box::new(m)));
        self
    }

    /// Adds a child named by its position, like `nn.Sequential(a, b, c)`.
    pub fn push(self, m: impl Module + 'static) -> Sequential {
        let name = self.children.len().to_string();
        self.add(&name, m)
    }
}

impl Module for Sequential {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        for (_, m) in &self.children {
            y = m.forward(&y)?;
        }
        Ok(y)
    }
    fn parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        for (name, m) in &self.children {
            m.parameters(&mut |k, t| f(&join(name, k), t));
        }
    }
    fn parameters_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor)) {
        for (name, m) in &mut self.children {
            m.parameters_mut(&mut |k, t| f(&join(name, k), t));
        }
    }
    fn module_paths(&self, f: &mut dyn FnMut(&str)) {
        f("");
        for (name, m) in &self.children {
            m.module_paths(&mut |p| f(&join(name, p)));
        }
    }
}
