//! The graph a program runs: values (by index), nodes in execution order, and which values are
//! the program's weights, its inputs and its outputs. Built only by the loader (`pt2.rs`), which
//! checks that every value is defined once, before its first use: a node can only read earlier
//! nodes' outputs, so the graph has no cycles by construction.

use std::collections::HashMap;

use crate::cpu::epilogue::Act;
use crate::dtype::DType;
use crate::ops::{AvgPool2dArgs, Conv2dArgs, GeluApproximate, MaxPool2dArgs};

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

/// An elementwise function of one tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Unary {
    Relu,
    Hardtanh(f64, f64),
    Silu,
    Sigmoid,
    Hardswish,
    Hardsigmoid,
    Gelu(GeluApproximate),
}

/// The second operand of `add`/`mul`: a tensor or a number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Other {
    Tensor(ValueId),
    Scalar(f64),
}

/// A broadcasting arithmetic op.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Arith {
    /// `a + alpha * b`.
    Add(f64),
    Mul,
}

/// What a node computes, with its arguments parsed and checked at load.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Conv2d {
        x: ValueId,
        w: ValueId,
        b: Option<ValueId>,
        args: Conv2dArgs,
        /// An addition fused into the convolution by the planner: `y = conv + residual`.
        residual: Option<ValueId>,
        /// An activation fused into the convolution by the planner, applied last.
        act: Option<Act>,
    },
    Linear {
        x: ValueId,
        w: ValueId,
        b: Option<ValueId>,
        relu: bool,
    },
    /// Inference batch norm over dimension 1.
    BatchNorm {
        x: ValueId,
        w: Option<ValueId>,
        b: Option<ValueId>,
        mean: ValueId,
        var: ValueId,
        eps: f64,
    },
    LayerNorm {
        x: ValueId,
        shape: Vec<usize>,
        w: Option<ValueId>,
        b: Option<ValueId>,
        eps: f64,
    },
    Unary {
        x: ValueId,
        f: Unary,
    },
    Binary {
        a: ValueId,
        b: Other,
        f: Arith,
        relu: bool,
    },
    MaxPool2d {
        x: ValueId,
        args: MaxPool2dArgs,
    },
    AvgPool2d {
        x: ValueId,
        args: AvgPool2dArgs,
    },
    AdaptiveAvgPool2d {
        x: ValueId,
        size: [usize; 2],
    },
    Mean {
        x: ValueId,
        dims: Vec<i64>,
        keepdim: bool,
    },
    Cat {
        xs: Vec<ValueId>,
        dim: i64,
    },
    /// `chunk`: one output per piece.
    Chunk {
        x: ValueId,
        chunks: usize,
        dim: i64,
    },
    Permute {
        x: ValueId,
        dims: Vec<i64>,
    },
    Transpose {
        x: ValueId,
        d0: i64,
        d1: i64,
    },
    Unsqueeze {
        x: ValueId,
        dim: i64,
    },
    Pad {
        x: ValueId,
        pad: Vec<i64>,
        value: f64,
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
    Softmax {
        x: ValueId,
        dim: isize,
    },
    /// `contiguous`: a contiguous copy when the input is a strided view.
    Contiguous {
        x: ValueId,
    },
    /// Dropout in eval mode, `clone`, `alias`: the input itself.
    Identity {
        x: ValueId,
    },
}

impl Op {
    /// The values this op reads.
    pub(crate) fn inputs(&self) -> Vec<ValueId> {
        let with = |first: &[ValueId], opt: &[Option<ValueId>]| {
            let mut v = first.to_vec();
            v.extend(opt.iter().flatten());
            v
        };
        match self {
            Op::Conv2d {
                x, w, b, residual, ..
            } => with(&[*x, *w], &[*b, *residual]),
            Op::Linear { x, w, b, .. } => with(&[*x, *w], &[*b]),
            Op::BatchNorm {
                x, w, b, mean, var, ..
            } => with(&[*x, *mean, *var], &[*w, *b]),
            Op::LayerNorm { x, w, b, .. } => with(&[*x], &[*w, *b]),
            Op::Binary {
                a,
                b: Other::Tensor(b),
                ..
            } => vec![*a, *b],
            Op::Binary { a, .. } => vec![*a],
            Op::Cat { xs, .. } => xs.clone(),
            Op::Reshape { x, shape } => {
                let mut v = vec![*x];
                v.extend(shape.iter().filter_map(|s| match s {
                    SizeArg::DimOf(t, _) => Some(*t),
                    SizeArg::Int(_) => None,
                }));
                v
            }
            Op::Unary { x, .. }
            | Op::MaxPool2d { x, .. }
            | Op::AvgPool2d { x, .. }
            | Op::AdaptiveAvgPool2d { x, .. }
            | Op::Mean { x, .. }
            | Op::Chunk { x, .. }
            | Op::Permute { x, .. }
            | Op::Transpose { x, .. }
            | Op::Unsqueeze { x, .. }
            | Op::Pad { x, .. }
            | Op::Flatten { x, .. }
            | Op::Softmax { x, .. }
            | Op::Contiguous { x }
            | Op::Identity { x } => vec![*x],
        }
    }

    /// Whether the op only rearranges metadata (its result shares the input's storage, and it
    /// takes any strides).
    pub(crate) fn is_view(&self) -> bool {
        matches!(
            self,
            Op::Chunk { .. }
                | Op::Permute { .. }
                | Op::Transpose { .. }
                | Op::Unsqueeze { .. }
                | Op::Flatten { .. }
                | Op::Reshape { .. }
                | Op::Identity { .. }
                | Op::Contiguous { .. }
        )
    }

    /// A short name for summaries (`conv2d`, `conv2d+relu`, ...).
    pub(crate) fn kind(&self) -> String {
        let plus = |base: &str, relu: bool| {
            if relu {
                format!("{base}+relu")
            } else {
                base.to_string()
            }
        };
        match self {
            Op::Conv2d { residual, act, .. } => {
                let mut s = String::from("conv2d");
                if residual.is_some() {
                    s.push_str("+add");
                }
                match act {
                    None => {}
                    Some(Act::Relu) => s.push_str("+relu"),
                    Some(Act::Other(a)) => {
                        s.push('+');
                        s.push_str(a.op());
                    }
                }
                s
            }
            Op::Linear { relu, .. } => plus("linear", *relu),
            Op::BatchNorm { .. } => "batch_norm".into(),
            Op::LayerNorm { .. } => "layer_norm".into(),
            Op::Unary { f, .. } => match f {
                Unary::Relu => "relu",
                Unary::Hardtanh(..) => "hardtanh",
                Unary::Silu => "silu",
                Unary::Sigmoid => "sigmoid",
                Unary::Hardswish => "hardswish",
                Unary::Hardsigmoid => "hardsigmoid",
                Unary::Gelu(_) => "gelu",
            }
            .into(),
            Op::Binary {
                f: Arith::Add(_),
                relu,
                ..
            } => plus("add", *relu),
            Op::Binary {
                f: Arith::Mul,
                relu,
                ..
            } => plus("mul", *relu),
            Op::MaxPool2d { .. } => "max_pool2d".into(),
            Op::AvgPool2d { .. } => "avg_pool2d".into(),
            Op::AdaptiveAvgPool2d { .. } => "adaptive_avg_pool2d".into(),
            Op::Mean { .. } => "mean".into(),
            Op::Cat { .. } => "cat".into(),
            Op::Chunk { .. } => "chunk".into(),
            Op::Permute { .. } => "permute".into(),
            Op::Transpose { .. } => "transpose".into(),
            Op::Unsqueeze { .. } => "unsqueeze".into(),
            Op::Pad { .. } => "pad".into(),
            Op::Flatten { .. } => "flatten".into(),
            Op::Reshape { .. } => "reshape".into(),
            Op::Softmax { .. } => "softmax".into(),
            Op::Contiguous { .. } => "contiguous".into(),
            Op::Identity { .. } => "identity".into(),
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
    /// The values it defines (one, except for `chunk`).
    pub(crate) outputs: Vec<ValueId>,
    /// Each output's dtype and shape as the exporter recorded them (`tensor_values`).
    pub(crate) declared: Vec<TensorSpec>,
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
