//! `nn.Sequential` with named children: how users declare their own models.

use crate::error::Result;
use crate::nn::{visit_child_modules, visit_children, visit_children_mut, Module, TensorKind};
use crate::tensor::Tensor;

/// Children run in order; their tensors are named `<child>.<name>` (children added with
/// [`Sequential::push`] are named `0`, `1`, ... as in PyTorch).
#[derive(Default)]
pub struct Sequential {
    children: Vec<(String, Box<dyn Module>)>,
}

impl Sequential {
    /// An empty `nn.Sequential()`.
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Adds a child under `name` (`model.add("conv1", Conv2d::new(..)?)`, PyTorch's
    /// `add_module`).
    pub fn add(mut self, name: &str, m: impl Module + 'static) -> Sequential {
        self.children.push((name.to_string(), Box::new(m)));
        self
    }

    /// Adds a child named by its position, like `nn.Sequential(a, b, c)`.
    pub fn push(self, m: impl Module + 'static) -> Sequential {
        let name = self.children.len().to_string();
        self.add(&name, m)
    }

    /// The children in order, with their names.
    pub fn children(&self) -> impl Iterator<Item = (&str, &dyn Module)> {
        self.children.iter().map(|(n, m)| (n.as_str(), &**m))
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
    fn visit(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor)) {
        visit_children(self.children(), f);
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor)) {
        let children = self
            .children
            .iter_mut()
            .map(|(n, m)| (n.as_str(), &mut **m as &mut dyn Module));
        visit_children_mut(children, f);
    }
    fn visit_modules(&self, f: &mut dyn FnMut(&str, i64)) {
        visit_child_modules(self.children(), f);
    }
}
