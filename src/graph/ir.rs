//! The graph a program runs: values (by index), nodes in execution order, and which values are
//! the program's weights, its inputs and its outputs. Built only by the loader (`pt2.rs`), which
//! checks that every value is defined once, before its first use: a node can only read earlier
//! nodes' outputs, so the graph has no cycles by construction.

use std::collections::HashMap;

use crate::dtype::DType;
use crate::ops::{Conv2dArgs, MaxPool2dArgs};

/// A value of the graph, by index.
pub(crate) type ValueId = usize;

/// One dimension of a declared shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// A size fixed at export.
    Fixed(usize),
    /// A size exported as dynamic (`torch.export.Dim`): any size in the program's range for
    /// this symbol.
    Symbol(String),
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbol(s) => f.write_str(s),
        }
    }
}

/// A tensor the program takes or returns: its name in the graph, dtype and declared shape.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    /// The graph's name for it (the forward's argument name for an input).
    pub name: String,
    /// Its dtype.
    pub dtype: DType,
    /// Its shape, with dynamic dimensions as symbols.
    pub shape: Vec<Dim>,
}

/// One entry of a size list: a number fixed at export, or a dimension of another value read at
/// run time (`aten.sym_size.int` of a dynamic batch).
#[derive(Clone, Copy, Debug)]
pub(crate) enum SizeArg {
    Int(isize),
    DimOf(ValueId, usize),
}

/// What a node computes, with its arguments parsed and checked at load.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Conv2d {
        x: ValueId,
        w: ValueId,
        b: Option<ValueId>,
        args: Conv2dArgs,
        /// A relu fused into the convolution by the planner.
        relu: bool,
    },
    Linear {
        x: ValueId,
        w: ValueId,
        b: Option<ValueId>,
        relu: bool,
    },
    Relu {
        x: ValueId,
    },
    MaxPool2d {
        x: ValueId,
        args: MaxPool2dArgs,
    },
    Flatten {
        x: ValueId,
        start: isize,
        end: isize,
    },
    Reshape {
        x: ValueId,
        shape: Vec<SizeArg>,
    },
    Add {
        a: ValueId,
        b: ValueId,
        relu: bool,
    },
    Softmax {
        x: ValueId,
        dim: isize,
    },
    /// Dropout in eval mode, `contiguous`, `clone`, `alias`, ...: the input itself.
    Identity {
        x: ValueId,
    },
}

impl Op {
    /// The values this op reads.
    pub(crate) fn inputs(&self) -> Vec<ValueId> {
        match self {
            Op::Conv2d { x, w, b, .. } | Op::Linear { x, w, b, .. } => {
                let mut v = vec![*x, *w];
                v.extend(*b);
                v
            }
            Op::Add { a, b, .. } => vec![*a, *b],
            Op::Reshape { x, shape } => {
                let mut v = vec![*x];
                v.extend(shape.iter().filter_map(|s| match s {
                    SizeArg::DimOf(t, _) => Some(*t),
                    SizeArg::Int(_) => None,
                }));
                v
            }
            Op::Relu { x }
            | Op::MaxPool2d { x, .. }
            | Op::Flatten { x, .. }
            | Op::Softmax { x, .. }
            | Op::Identity { x } => vec![*x],
        }
    }

    /// Whether the op has a CUDA kernel (checked at load for a program placed on a GPU, so a
    /// missing kernel is never found halfway through a run).
    pub(crate) fn runs_on_cuda(&self) -> bool {
        !matches!(self, Op::Softmax { .. })
    }

    /// A short name for summaries (`conv2d`, `conv2d+relu`, ...).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Op::Conv2d { relu: false, .. } => "conv2d",
            Op::Conv2d { relu: true, .. } => "conv2d+relu",
            Op::Linear { relu: false, .. } => "linear",
            Op::Linear { relu: true, .. } => "linear+relu",
            Op::Relu { .. } => "relu",
            Op::MaxPool2d { .. } => "max_pool2d",
            Op::Flatten { .. } => "flatten",
            Op::Reshape { .. } => "reshape",
            Op::Add { relu: false, .. } => "add",
            Op::Add { relu: true, .. } => "add+relu",
            Op::Softmax { .. } => "softmax",
            Op::Identity { .. } => "identity",
        }
    }
}

/// One node: its name in the exported graph, the ATen op it came from, what it computes and
/// the value it defines.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) target: String,
    pub(crate) op: Op,
    pub(crate) output: ValueId,
    /// An in-place op (`relu_`, `add_`): the input it mutates. Our ops are functional, so the
    /// executor rebinds that value to the result, and later readers of either see it.
    pub(crate) mutates: Option<ValueId>,
}

/// Where a weight-like input comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Feed {
    Parameter,
    Buffer,
    Constant,
}

/// A whole program's graph.
#[derive(Clone, Debug, Default)]
pub(crate) struct Graph {
    /// Every value's name, by id.
    pub(crate) names: Vec<String>,
    /// Values fed from the archive: id, fully qualified name (`conv1.weight`), kind.
    pub(crate) feeds: Vec<(ValueId, String, Feed)>,
    /// The forward's tensor arguments, in order.
    pub(crate) inputs: Vec<(ValueId, TensorSpec)>,
    pub(crate) nodes: Vec<Node>,
    /// The forward's results, in order.
    pub(crate) outputs: Vec<(ValueId, TensorSpec)>,
    /// Each dynamic symbol's allowed range (`min`, `max`; `None`: unbounded).
    pub(crate) ranges: HashMap<String, (u64, Option<u64>)>,
}
