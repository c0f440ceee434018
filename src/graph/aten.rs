//! ATen ops as `torch.export` writes them (`torch.ops.aten.<op>.<overload>` with named
//! arguments) turned into [`Op`]s: each argument read by its schema name, with the schema's
//! default when the exporter left it out, and checked. A target not listed in [`SUPPORTED`] is
//! an [`Error::UnsupportedOp`] at load.

use std::collections::HashMap;

use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::graph::ir::{Arith, Op, Other, SizeArg, Unary, ValueId};
use crate::graph::json::{bad, At};
use crate::ops::{AvgPool2dArgs, Conv2dArgs, GeluApproximate, MaxPool2dArgs};

/// Every ATen target the loader turns into an op.
pub(crate) const SUPPORTED: &[&str] = &[
    "aten.conv2d.default",
    "aten.conv2d.padding",
    "aten.linear.default",
    "aten.batch_norm.default",
    "aten.layer_norm.default",
    "aten.relu.default",
    "aten.relu_.default",
    "aten.hardtanh.default",
    "aten.hardtanh_.default",
    "aten.silu.default",
    "aten.silu_.default",
    "aten.sigmoid.default",
    "aten.sigmoid_.default",
    "aten.hardswish.default",
    "aten.hardswish_.default",
    "aten.hardsigmoid.default",
    "aten.hardsigmoid_.default",
    "aten.gelu.default",
    "aten.gelu_.default",
    "aten.add.Tensor",
    "aten.add_.Tensor",
    "aten.add.Scalar",
    "aten.mul.Tensor",
    "aten.mul_.Tensor",
    "aten.mul.Scalar",
    "aten.max_pool2d.default",
    "aten.avg_pool2d.default",
    "aten.adaptive_avg_pool2d.default",
    "aten.mean.dim",
    "aten.cat.default",
    "aten.chunk.default",
    "aten.permute.default",
    "aten.transpose.int",
    "aten.unsqueeze.default",
    "aten.pad.default",
    "aten.constant_pad_nd.default",
    "aten.flatten.using_ints",
    "aten.view.default",
    "aten.reshape.default",
    "aten.softmax.int",
    "aten._softmax.default",
    "aten.dropout.default",
    "aten.dropout_.default",
    "aten.contiguous.default",
    "aten.clone.default",
    "aten.alias.default",
    "aten.detach.default",
];

/// A node's named arguments, resolving tensor names to values.
pub(crate) struct NodeArgs<'a> {
    node: &'a str,
    path: &'a str,
    args: HashMap<&'a str, &'a Json>,
    resolve: &'a dyn Fn(&str, &str) -> Result<ValueId>,
    /// Symbolic ints defined by earlier `sym_size.int` nodes: (tensor, dimension).
    syms: &'a HashMap<String, (ValueId, usize)>,
}

impl<'a> NodeArgs<'a> {
    pub(crate) fn new(
        node: &'a str,
        path: &'a str,
        inputs: &'a [Json],
        resolve: &'a dyn Fn(&str, &str) -> Result<ValueId>,
        syms: &'a HashMap<String, (ValueId, usize)>,
    ) -> Result<NodeArgs<'a>> {
        let mut args = HashMap::with_capacity(inputs.len());
        for (i, a) in inputs.iter().enumerate() {
            let p = format!("{path}.inputs[{i}]");
            let at = At::new(a, &p);
            let (name, np) = at.field("name")?;
            let name = At::new(name, &np).str()?;
            let (arg, _) = at.field("arg")?;
            if args.insert(name, arg).is_some() {
                return Err(bad(&p, format!("argument {name} given twice")));
            }
        }
        Ok(NodeArgs {
            node,
            path,
            args,
            resolve,
            syms,
        })
    }

    fn at(&self, name: &str) -> String {
        format!("{}: argument {name}", self.path)
    }

    /// The union tag and payload of argument `name`, if present and not `as_none`.
    fn get(&self, name: &str) -> Result<Option<(&'a str, &'a Json)>> {
        let Some(v) = self.args.get(name) else {
            return Ok(None);
        };
        let p = self.at(name);
        let (tag, payload) = At::new(v, &p).union()?;
        Ok((tag != "as_none").then_some((tag, payload)))
    }

    fn wrong(&self, name: &str, want: &str, tag: &str) -> Error {
        bad(&self.at(name), format!("expected {want}, found {tag}"))
    }

    /// A required tensor argument.
    pub(crate) fn tensor(&self, name: &str) -> Result<ValueId> {
        self.opt_tensor(name)?
            .ok_or_else(|| bad(&self.at(name), "missing (a tensor is required)"))
    }

    /// An optional tensor argument (`as_tensor`, `as_optional_tensor`, or absent/none).
    pub(crate) fn opt_tensor(&self, name: &str) -> Result<Option<ValueId>> {
        let Some((tag, v)) = self.get(name)? else {
            return Ok(None);
        };
        let p = self.at(name);
        let v = match tag {
            "as_tensor" => v,
            "as_optional_tensor" => match At::new(v, &p).union()? {
                ("as_tensor", t) => t,
                ("as_none", _) => return Ok(None),
                (other, _) => return Err(self.wrong(name, "a tensor", other)),
            },
            other => return Err(self.wrong(name, "a tensor", other)),
        };
        let (n, np) = At::new(v, &p).field("name")?;
        (self.resolve)(At::new(n, &np).str()?, self.node).map(Some)
    }

    /// A list of tensors (`cat`'s `tensors`).
    pub(crate) fn tensors(&self, name: &str) -> Result<Vec<ValueId>> {
        let p = self.at(name);
        match self.get(name)? {
            Some(("as_tensors", v)) => At::new(v, &p)
                .arr()?
                .iter()
                .map(|t| {
                    let (n, np) = At::new(t, &p).field("name")?;
                    (self.resolve)(At::new(n, &np).str()?, self.node)
                })
                .collect(),
            Some((tag, _)) => Err(self.wrong(name, "a list of tensors", tag)),
            None => Err(self.refuse(name, "missing (a list of tensors is required)")),
        }
    }

    /// A tensor or a number (`add`/`mul`'s `other`).
    pub(crate) fn other(&self, name: &str) -> Result<Other> {
        match self.get(name)? {
            Some(("as_tensor", _)) | Some(("as_optional_tensor", _)) => {
                Ok(Other::Tensor(self.tensor(name)?))
            }
            Some(("as_float", _)) | Some(("as_int", _)) => {
                Ok(Other::Scalar(self.float(name, 0.0)?))
            }
            Some((tag, _)) => Err(self.wrong(name, "a tensor or a number", tag)),
            None => Err(self.refuse(name, "missing")),
        }
    }

    /// An int argument, or `default`.
    pub(crate) fn int(&self, name: &str, default: i64) -> Result<i64> {
        match self.get(name)? {
            None => Ok(default),
            Some(("as_int", v)) => At::new(v, &self.at(name)).i64(),
            Some((tag, _)) => Err(self.wrong(name, "an int", tag)),
        }
    }

    /// An int-list argument, or `default`.
    pub(crate) fn ints(&self, name: &str, default: &[i64]) -> Result<Vec<i64>> {
        match self.get(name)? {
            None => Ok(default.to_vec()),
            Some(("as_ints", v)) => {
                let p = self.at(name);
                At::new(v, &p)
                    .arr()?
                    .iter()
                    .map(|x| At::new(x, &p).i64())
                    .collect()
            }
            Some((tag, _)) => Err(self.wrong(name, "a list of ints", tag)),
        }
    }

    /// A size list whose entries may be symbolic ints (`view(x, [sym_size(x, 0), -1])`).
    pub(crate) fn sizes(&self, name: &str) -> Result<Vec<SizeArg>> {
        let p = self.at(name);
        let int = |v: &Json| -> Result<SizeArg> {
            let i = At::new(v, &p).i64()?;
            isize::try_from(i)
                .map(SizeArg::Int)
                .map_err(|_| self.refuse(name, format!("{i} does not fit an index")))
        };
        match self.get(name)? {
            None => Err(self.refuse(name, "missing")),
            Some(("as_ints", v)) => At::new(v, &p).arr()?.iter().map(int).collect(),
            Some(("as_sym_ints", v)) => At::new(v, &p)
                .arr()?
                .iter()
                .map(|x| match At::new(x, &p).union()? {
                    ("as_int", i) => int(i),
                    ("as_name", n) => {
                        let n = At::new(n, &p).str()?;
                        self.syms
                            .get(n)
                            .map(|&(t, d)| SizeArg::DimOf(t, d))
                            .ok_or_else(|| {
                                self.refuse(
                                    name,
                                    format!("symbol {n} is not defined by an earlier node"),
                                )
                            })
                    }
                    (tag, _) => Err(self.wrong(name, "an int or a symbol", tag)),
                })
                .collect(),
            Some((tag, _)) => Err(self.wrong(name, "a list of sizes", tag)),
        }
    }

    pub(crate) fn float(&self, name: &str, default: f64) -> Result<f64> {
        match self.get(name)? {
            None => Ok(default),
            Some(("as_float", v)) => At::new(v, &self.at(name)).f64(),
            Some(("as_int", v)) => At::new(v, &self.at(name)).i64().map(|i| i as f64),
            Some((tag, _)) => Err(self.wrong(name, "a number", tag)),
        }
    }

    pub(crate) fn bool(&self, name: &str, default: bool) -> Result<bool> {
        match self.get(name)? {
            None => Ok(default),
            Some(("as_bool", v)) => At::new(v, &self.at(name)).bool(),
            Some((tag, _)) => Err(self.wrong(name, "a boolean", tag)),
        }
    }

    pub(crate) fn string(&self, name: &str) -> Result<Option<&'a str>> {
        match self.get(name)? {
            None => Ok(None),
            Some(("as_string", v)) => At::new(v, &self.at(name)).str().map(Some),
            Some((tag, _)) => Err(self.wrong(name, "a string", tag)),
        }
    }

    /// An argument the op cannot honour, as an error naming node and value.
    pub(crate) fn refuse(&self, name: &str, reason: impl Into<String>) -> Error {
        bad(&self.at(name), reason)
    }
}

fn unary(a: &NodeArgs<'_>, f: Unary) -> Result<Op> {
    Ok(Op::Unary {
        x: a.tensor("self")?,
        f,
    })
}

/// `n` non-negative ints of a list as `usize` pairs (`[2]` means `[2, 2]`, as torch's
/// `_pair`).
fn pair(a: &NodeArgs<'_>, name: &str, v: &[i64]) -> Result<[usize; 2]> {
    let u = |x: i64| {
        usize::try_from(x).map_err(|_| a.refuse(name, format!("{v:?} has a negative entry")))
    };
    match v {
        [x] => Ok([u(*x)?, u(*x)?]),
        [x, y] => Ok([u(*x)?, u(*y)?]),
        _ => Err(a.refuse(name, format!("expected 1 or 2 values, found {v:?}"))),
    }
}

fn isize_of(a: &NodeArgs<'_>, name: &str, v: i64) -> Result<isize> {
    isize::try_from(v).map_err(|_| a.refuse(name, format!("{v} does not fit an index")))
}

/// The op for ATen `target` with arguments `a`.
pub(crate) fn op(target: &str, a: &NodeArgs<'_>) -> Result<Op> {
    Ok(match target {
        "aten.conv2d.default" | "aten.conv2d.padding" => {
            let stride = pair(a, "stride", &a.ints("stride", &[1, 1])?)?;
            let dilation = pair(a, "dilation", &a.ints("dilation", &[1, 1])?)?;
            let groups =
                usize::try_from(a.int("groups", 1)?).map_err(|_| a.refuse("groups", "negative"))?;
            let padding = if target == "aten.conv2d.padding" {
                match a.string("padding")? {
                    Some("valid") => [0, 0],
                    Some("same") => {
                        // torch pads (dilation * (k - 1)) in total, the odd one on the right;
                        // symmetric padding covers the even totals, which odd kernels have.
                        return Err(a.refuse(
                            "padding",
                            "padding='same' needs the weight's kernel size, known only when \
                             the weights are read; export with an explicit padding",
                        ));
                    }
                    other => {
                        return Err(
                            a.refuse("padding", format!("{other:?} is not 'same' or 'valid'"))
                        )
                    }
                }
            } else {
                pair(a, "padding", &a.ints("padding", &[0, 0])?)?
            };
            Op::Conv2d {
                x: a.tensor("input")?,
                w: a.tensor("weight")?,
                b: a.opt_tensor("bias")?,
                args: Conv2dArgs {
                    stride,
                    padding,
                    dilation,
                    groups,
                },
                residual: None,
                act: None,
            }
        }
        "aten.linear.default" => Op::Linear {
            x: a.tensor("input")?,
            w: a.tensor("weight")?,
            b: a.opt_tensor("bias")?,
            relu: false,
        },
        "aten.batch_norm.default" => {
            if a.bool("training", false)? {
                return Err(a.refuse(
                    "training",
                    "batch norm in training mode; export the model in eval mode (model.eval())",
                ));
            }
            Op::BatchNorm {
                x: a.tensor("input")?,
                w: a.opt_tensor("weight")?,
                b: a.opt_tensor("bias")?,
                mean: a.opt_tensor("running_mean")?.ok_or_else(|| {
                    a.refuse(
                        "running_mean",
                        "missing: inference needs running statistics",
                    )
                })?,
                var: a.opt_tensor("running_var")?.ok_or_else(|| {
                    a.refuse("running_var", "missing: inference needs running statistics")
                })?,
                eps: a.float("eps", 1e-5)?,
            }
        }
        "aten.layer_norm.default" => Op::LayerNorm {
            x: a.tensor("input")?,
            shape: a
                .ints("normalized_shape", &[])?
                .into_iter()
                .map(|d| usize::try_from(d).map_err(|_| a.refuse("normalized_shape", "negative")))
                .collect::<Result<_>>()?,
            w: a.opt_tensor("weight")?,
            b: a.opt_tensor("bias")?,
            eps: a.float("eps", 1e-5)?,
        },
        "aten.relu.default" | "aten.relu_.default" => unary(a, Unary::Relu)?,
        "aten.hardtanh.default" | "aten.hardtanh_.default" => unary(
            a,
            Unary::Hardtanh(a.float("min_val", -1.0)?, a.float("max_val", 1.0)?),
        )?,
        "aten.silu.default" | "aten.silu_.default" => unary(a, Unary::Silu)?,
        "aten.sigmoid.default" | "aten.sigmoid_.default" => unary(a, Unary::Sigmoid)?,
        "aten.hardswish.default" | "aten.hardswish_.default" => unary(a, Unary::Hardswish)?,
        "aten.hardsigmoid.default" | "aten.hardsigmoid_.default" => unary(a, Unary::Hardsigmoid)?,
        "aten.gelu.default" | "aten.gelu_.default" => {
            let approx = GeluApproximate::from_name(a.string("approximate")?.unwrap_or("none"))
                .map_err(|e| a.refuse("approximate", e.to_string()))?;
            unary(a, Unary::Gelu(approx))?
        }
        "aten.max_pool2d.default" => {
            let kernel = pair(a, "kernel_size", &a.ints("kernel_size", &[])?)?;
            let stride = a.ints("stride", &[])?;
            let stride = if stride.is_empty() {
                None
            } else {
                Some(pair(a, "stride", &stride)?)
            };
            Op::MaxPool2d {
                x: a.tensor("self")?,
                args: MaxPool2dArgs {
                    kernel,
                    stride,
                    padding: pair(a, "padding", &a.ints("padding", &[0, 0])?)?,
                    dilation: pair(a, "dilation", &a.ints("dilation", &[1, 1])?)?,
                    ceil_mode: a.bool("ceil_mode", false)?,
                },
            }
        }
        "aten.avg_pool2d.default" => {
            let stride = a.ints("stride", &[])?;
            let divisor = a.int("divisor_override", 0)?;
            Op::AvgPool2d {
                x: a.tensor("self")?,
                args: AvgPool2dArgs {
                    kernel_size: pair(a, "kernel_size", &a.ints("kernel_size", &[])?)?,
                    stride: if stride.is_empty() {
                        None
                    } else {
                        Some(pair(a, "stride", &stride)?)
                    },
                    padding: pair(a, "padding", &a.ints("padding", &[0, 0])?)?,
                    ceil_mode: a.bool("ceil_mode", false)?,
                    count_include_pad: a.bool("count_include_pad", true)?,
                    divisor_override: (divisor != 0).then_some(divisor),
                },
            }
        }
        "aten.adaptive_avg_pool2d.default" => Op::AdaptiveAvgPool2d {
            x: a.tensor("self")?,
            size: pair(a, "output_size", &a.ints("output_size", &[])?)?,
        },
        "aten.mean.dim" => {
            if a.string("dtype")?.is_some() || a.int("dtype", -1)? != -1 {
                return Err(a.refuse("dtype", "mean with a dtype= is not supported"));
            }
            Op::Mean {
                x: a.tensor("self")?,
                dims: a.ints("dim", &[])?,
                keepdim: a.bool("keepdim", false)?,
            }
        }
        "aten.cat.default" => Op::Cat {
            xs: a.tensors("tensors")?,
            dim: a.int("dim", 0)?,
        },
        "aten.chunk.default" => Op::Chunk {
            x: a.tensor("self")?,
            chunks: usize::try_from(a.int("chunks", 1)?)
                .map_err(|_| a.refuse("chunks", "negative"))?,
            dim: a.int("dim", 0)?,
        },
        "aten.permute.default" => Op::Permute {
            x: a.tensor("self")?,
            dims: a.ints("dims", &[])?,
        },
        "aten.transpose.int" => Op::Transpose {
            x: a.tensor("self")?,
            d0: a.int("dim0", 0)?,
            d1: a.int("dim1", 0)?,
        },
        "aten.unsqueeze.default" => Op::Unsqueeze {
            x: a.tensor("self")?,
            dim: a.int("dim", 0)?,
        },
        "aten.pad.default" | "aten.constant_pad_nd.default" => {
            if let Some(mode) = a.string("mode")? {
                if mode != "constant" {
                    return Err(a.refuse(
                        "mode",
                        format!("mode={mode:?}: only constant padding is supported"),
                    ));
                }
            }
            Op::Pad {
                x: a.tensor("self")?,
                pad: a.ints("pad", &[])?,
                value: a.float("value", 0.0)?,
            }
        }
        "aten.flatten.using_ints" => Op::Flatten {
            x: a.tensor("self")?,
            start: isize_of(a, "start_dim", a.int("start_dim", 0)?)?,
            end: isize_of(a, "end_dim", a.int("end_dim", -1)?)?,
        },
        "aten.view.default" | "aten.reshape.default" => Op::Reshape {
            x: a.tensor("self")?,
            shape: a.sizes(if target == "aten.view.default" {
                "size"
            } else {
                "shape"
            })?,
        },
        "aten.add.Tensor" | "aten.add_.Tensor" | "aten.add.Scalar" => Op::Binary {
            a: a.tensor("self")?,
            b: a.other("other")?,
            f: Arith::Add(a.float("alpha", 1.0)?),
            relu: false,
        },
        "aten.mul.Tensor" | "aten.mul_.Tensor" | "aten.mul.Scalar" => Op::Binary {
            a: a.tensor("self")?,
            b: a.other("other")?,
            f: Arith::Mul,
            relu: false,
        },
        "aten.softmax.int" | "aten._softmax.default" => {
            if a.bool("half_to_float", false)? {
                return Err(a.refuse("half_to_float", "half_to_float=True is not supported"));
            }
            Op::Softmax {
                x: a.tensor("self")?,
                dim: isize_of(a, "dim", a.int("dim", -1)?)?,
            }
        }
        "aten.dropout.default" | "aten.dropout_.default" => {
            if a.bool("train", false)? {
                return Err(a.refuse(
                    "train",
                    "dropout in training mode; export the model in eval mode (model.eval())",
                ));
            }
            Op::Identity {
                // dropout(input, p, train); the in-place dropout_(self, p, train).
                x: match a.opt_tensor("input")? {
                    Some(x) => x,
                    None => a.tensor("self")?,
                },
            }
        }
        "aten.contiguous.default" => Op::Contiguous {
            x: a.tensor("self")?,
        },
        // Our values are never written in place, so a clone or alias can share its input.
        "aten.clone.default" | "aten.alias.default" | "aten.detach.default" => Op::Identity {
            x: a.tensor("self")?,
        },
        _ => {
            return Err(Error::UnsupportedOp {
                node: a.node.to_string(),
                target: target.to_string(),
                supported: SUPPORTED.join(", "),
            })
        }
    })
}
